"""Point labels: field or lab samples at locations, from CSV or GeoJSON, placed on a scene's pixels.

:func:`read_points` reads the samples (no geopandas: the ``csv`` and ``json``
modules), :func:`points_to_pixels` places them on a :class:`Scene`'s pixel
grid through its transform, and :func:`windows_at_points` cuts the training
windows centred on them (with :meth:`Scene.labeled_windows`), in the
package's data contract ``(X, y, coords)``.

Duplicate samples: several samples falling in one pixel would give the same
window several times with different labels; by default (``duplicates='mean'``)
their values are averaged into one sample per pixel, with a warning giving
the count, as replicate measurements are usually treated.
"""

import csv
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..windows import nodata_pixels
from ._georef import import_rasterio

__all__ = ["PointSamples", "points_to_pixels", "read_points", "windows_at_points"]

#: Column names recognised by ``read_points`` (compared case-insensitively)
X_COLUMNS = ("x", "easting", "east", "lon", "long", "longitude")
Y_COLUMNS = ("y", "northing", "north", "lat", "latitude")
ROW_COLUMNS = ("row", "line")
COL_COLUMNS = ("col", "column", "sample")
_LONLAT_COLUMNS = {"lon", "long", "longitude", "lat", "latitude"}
#: Samples named in an error message (the count gives the rest)
_SHOWN = 5
#: CRS of GeoJSON files without a 'crs' member (RFC 7946: WGS 84 longitude, latitude) and of lon/lat columns
LONLAT_CRS = "EPSG:4326"


@dataclass
class PointSamples:
    """Samples measured at locations.

    Parameters
    ----------
    positions : ndarray of shape (n_samples, 2)
        ``(x, y)`` map coordinates (``kind='map'``) or ``(row, col)`` pixels
        (``kind='pixel'``, integers).
    values : ndarray of shape (n_samples, n_targets)
        The measured values, float64.
    target_names : list of str
        One name per column of ``values``.
    kind : {'map', 'pixel'}
        What ``positions`` holds.
    crs : str or None
        CRS of map coordinates; None: the scene's.
    labels : list of str
        Where each sample was read (``'samples.csv line 4'``), for messages.
    source : str
        The file.
    """

    positions: np.ndarray
    values: np.ndarray
    target_names: list
    kind: str = "map"
    crs: object = None
    labels: list = field(default_factory=list)
    source: str = ""

    def __post_init__(self):
        self.positions = np.asarray(self.positions, dtype=np.float64)
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.values.ndim == 1:
            self.values = self.values[:, None]
        n = len(self.positions)
        if self.positions.shape != (n, 2) or self.values.ndim != 2 or len(self.values) != n:
            raise ValueError(f"positions {self.positions.shape} and values {self.values.shape} must have shapes "
                             f"(n, 2) and (n, n_targets)")
        if self.kind not in ("map", "pixel"):
            raise ValueError(f"kind must be 'map' or 'pixel', got {self.kind!r}")
        self.target_names = [str(t) for t in self.target_names] or [f"target_{i + 1}" for i in
                                                                    range(self.values.shape[1])]
        if len(self.target_names) != self.values.shape[1]:
            raise ValueError(f"{len(self.target_names)} target_names for {self.values.shape[1]} targets")
        self.labels = list(self.labels) or [f"sample {i}" for i in range(n)]
        if len(self.labels) != n:
            raise ValueError(f"{len(self.labels)} labels for {n} samples")

    def __len__(self):
        return len(self.positions)


def _find(columns, candidates):
    """The first column whose lower-cased name is among ``candidates``, or None."""
    lower = {c.lower(): c for c in columns}
    return next((lower[c] for c in candidates if c in lower), None)


def _pick_coordinates(columns, x, y, row, col, path):
    """``(kind, first column, second column)`` from explicit names or the recognised ones."""
    explicit_map, explicit_pixel = x is not None or y is not None, row is not None or col is not None
    if explicit_map and explicit_pixel:
        raise ValueError("give either x= and y= (map coordinates) or row= and col= (pixels), not both")
    if explicit_map or explicit_pixel:
        pair = (x, y) if explicit_map else (row, col)
        names = ("x", "y") if explicit_map else ("row", "col")
        for name, value in zip(names, pair, strict=True):
            if value is None:
                raise ValueError(f"{names[0]}= and {names[1]}= go together: {name}= is missing")
            if value not in columns:
                raise ValueError(f"{path} has no column {value!r} ({name}=); its columns: {', '.join(columns)}")
        return ("map" if explicit_map else "pixel"), pair[0], pair[1]
    found_map = (_find(columns, X_COLUMNS), _find(columns, Y_COLUMNS))
    found_pixel = (_find(columns, ROW_COLUMNS), _find(columns, COL_COLUMNS))
    has_map, has_pixel = all(found_map), all(found_pixel)
    if has_map and has_pixel:
        raise ValueError(
            f"{path} has both map coordinates ({found_map[0]}, {found_map[1]}) and pixel positions "
            f"({found_pixel[0]}, {found_pixel[1]}): say which to use with x=/y= or row=/col= (--xy or --rowcol on "
            f"the command line)"
        )
    if has_map:
        return "map", found_map[0], found_map[1]
    if has_pixel:
        return "pixel", found_pixel[0], found_pixel[1]
    raise ValueError(
        f"{path} has no coordinate columns: expected x and y (or easting/northing, lon/lat) for map coordinates, "
        f"or row and col for pixels (name others with x=/y= or row=/col=, --xy or --rowcol on the command line); "
        f"its columns: {', '.join(columns)}"
    )


def _number(text, where, what):
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        value = None
    if value is None or not math.isfinite(value):
        shown = "an empty value" if text is None or not str(text).strip() else repr(text)
        raise ValueError(f"{where}: {what} must be a finite number, got {shown}")
    return value


def _is_number(text):
    try:
        return math.isfinite(float(str(text).strip()))
    except (TypeError, ValueError):
        return False


def _pick_targets(targets, candidates, rows, path, kind, is_number):
    """Names of the target columns (or properties): given, or every one that is a number in every sample."""
    plural = {"column": "columns", "property": "properties"}[kind]
    if targets is None:
        names = [c for c in candidates if all(is_number(r.get(c)) for r in rows)]
        if len(names) != 1:  # an id column is numeric too: guessing among several would be a trap
            found = f"{len(names)} are ({', '.join(names)})" if names else "none is"
            raise ValueError(f"{path}: the target must be a {kind} besides the coordinates that is a number in every "
                             f"sample, and {found}: name the target(s) with targets= (--target on the command line); its {plural}: "
                             f"{', '.join(candidates) or 'none'}")
        return names
    names = [targets] if isinstance(targets, str) else list(targets)
    missing = [t for t in names if t not in candidates]
    if missing or not names:
        raise ValueError(f"{path} has no {kind} {', '.join(map(repr, missing)) or '(none asked)'} (targets=); "
                         f"its {plural}: {', '.join(candidates) or 'none'}")
    return names


def _read_csv(path, targets, x, y, row, col, delimiter):
    with open(path, newline="", encoding="utf-8-sig") as handle:  # utf-8-sig: spreadsheets write a BOM
        reader = csv.DictReader(handle, delimiter=delimiter)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if not columns:
            raise ValueError(f"{path} is empty: expected a header line naming the columns")
        reader.fieldnames = columns
        rows, lines = [], []
        try:
            for record in reader:
                if None in record:
                    raise ValueError(f"{path} line {reader.line_num}: more fields than the {len(columns)} columns "
                                     f"of the header (delimiter {delimiter!r})")
                if all(v is None or not str(v).strip() for v in record.values()):
                    continue  # blank lines between records
                rows.append(record)
                lines.append(reader.line_num)
        except csv.Error as exc:
            raise ValueError(f"{path} line {reader.line_num}: {exc}") from None
    if not rows:
        raise ValueError(f"{path} holds no samples (only a header)")
    kind, first, second = _pick_coordinates(columns, x, y, row, col, path)
    names = _pick_targets(targets, [c for c in columns if c not in (first, second)], rows, path, "column", _is_number)
    labels = [f"{path} line {n}" for n in lines]
    positions = np.array([[_number(r[first], w, f"column {first!r}"), _number(r[second], w, f"column {second!r}")]
                          for r, w in zip(rows, labels, strict=True)])
    values = np.array([[_number(r[t], w, f"column {t!r}") for t in names] for r, w in zip(rows, labels, strict=True)])
    lonlat = kind == "map" and {first.lower(), second.lower()} <= _LONLAT_COLUMNS
    return kind, positions, values, names, labels, (LONLAT_CRS if lonlat else None)


def _geojson_crs(document, path):
    """The legacy (2008) ``crs`` member as a string rasterio reads, or None."""
    member = document.get("crs")
    if member is None:
        return None
    name = (member.get("properties") or {}).get("name") if isinstance(member, dict) else None
    if not isinstance(name, str):
        raise ValueError(f"{path}: its 'crs' member must be {{'type': 'name', 'properties': {{'name': ...}}}}, "
                         f"got {member!r}")
    # rasterio reads 'EPSG:32631' and 'urn:ogc:def:crs:EPSG::32631'; CRS84 is WGS 84 in lon/lat order, as
    # rasterio's (traditional GIS order) EPSG:4326
    return LONLAT_CRS if "CRS84" in name.upper() else name


def _read_geojson(path, targets):
    try:
        with open(path, encoding="utf-8-sig") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("type") not in ("FeatureCollection", "Feature"):
        raise ValueError(f"{path} must hold a GeoJSON FeatureCollection (or Feature) of Point features, got "
                         f"type {document.get('type') if isinstance(document, dict) else type(document).__name__!r}")
    features = document.get("features") if document["type"] == "FeatureCollection" else [document]
    if not isinstance(features, list) or not features:
        raise ValueError(f"{path} holds no features")
    positions, records, labels = [], [], []
    for i, feature in enumerate(features):
        fid = feature.get("id") if isinstance(feature, dict) else None
        where = f"{path} features[{i}]" + ("" if fid is None else f" (id {fid!r})")
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(geometry, dict) or geometry.get("type") != "Point":
            kind = geometry.get("type") if isinstance(geometry, dict) else geometry
            raise ValueError(f"{where}: expected a Point geometry, got {kind!r} (one sample is one point)")
        coords = geometry.get("coordinates")
        if not isinstance(coords, list) or len(coords) < 2:
            raise ValueError(f"{where}: a Point's coordinates must be [x, y], got {coords!r}")
        positions.append([_number(coords[0], where, "x"), _number(coords[1], where, "y")])
        properties = feature.get("properties") or {}
        records.append({k: v for k, v in properties.items() if not isinstance(v, bool)})
        labels.append(where)
    keys = list(dict.fromkeys(k for r in records for k in r))
    # JSON numbers only: a property holding text ("12") is a label, not a measurement
    names = _pick_targets(targets, keys, records, path, "property",
                          lambda v: isinstance(v, (int, float)) and _is_number(v))
    values = np.array([[_number(r.get(t), w, f"property {t!r}") for t in names]
                       for r, w in zip(records, labels, strict=True)])
    return "map", np.array(positions), values, names, labels, _geojson_crs(document, path) or LONLAT_CRS


def read_points(path, targets=None, *, x=None, y=None, row=None, col=None, crs=None, delimiter=None):
    """Read samples at locations from a CSV or GeoJSON file.

    **CSV** (``.csv``, ``.tsv``, ``.txt``): a header line, then one sample per
    line. The location is ``x``/``y`` map coordinates (columns named x/y,
    easting/northing or lon/lat, any case; lon/lat mean WGS 84 degrees unless
    ``crs`` says otherwise) or ``row``/``col`` pixel positions (0-based, the
    scene's ``cube[row, col]``); ``x=``/``y=`` or ``row=``/``col=`` name the
    columns when they are called otherwise (or when a file has both).
    **GeoJSON** (``.geojson``, ``.json``): a FeatureCollection of Point
    features whose ``properties`` hold the values. Its coordinates are WGS 84
    longitude/latitude (RFC 7946) unless the file has a (2008-style) ``crs``
    member or ``crs=`` is given; they are transformed to the scene's CRS by
    :func:`points_to_pixels`.

    Parameters
    ----------
    path : str or path-like
    targets : str or sequence of str, default=None
        The columns (properties) holding the values to learn. None: the one
        column other than the coordinates whose every value is a number (an
        error when there are several: an id column is numeric too).
    x, y : str, default=None
        Names of the map-coordinate columns (CSV).
    row, col : str, default=None
        Names of the pixel-position columns (CSV).
    crs : str or CRS object, default=None
        CRS of the map coordinates, when it is not the scene's (CSV) or not
        WGS 84 / the file's ``crs`` member (GeoJSON).
    delimiter : str, default=None
        CSV field separator; None: tab for ``.tsv``, else comma.

    Returns
    -------
    PointSamples

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        For an unknown file type, a file without samples, missing or
        ambiguous coordinate columns, unknown targets, or a value that is not
        a finite number; the message names the file and the line (CSV) or
        feature (GeoJSON).

    Examples
    --------
    >>> points = read_points("samples.csv", targets="carbon")    # doctest: +SKIP
    >>> points.positions[:2], points.values[:2, 0]               # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"samples file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        sep = delimiter if delimiter is not None else ("\t" if suffix == ".tsv" else ",")
        kind, positions, values, names, labels, file_crs = _read_csv(path, targets, x, y, row, col, sep)
    elif suffix in (".geojson", ".json"):
        if any(v is not None for v in (x, y, row, col)):
            raise ValueError("x=, y=, row= and col= name CSV columns; a GeoJSON file's points are its geometries")
        kind, positions, values, names, labels, file_crs = _read_geojson(path, targets)
    else:
        raise ValueError(f"{path}: unknown samples file type {path.suffix!r}; expected .csv, .tsv, .txt, "
                         f".geojson or .json")
    if kind == "pixel":
        if crs is not None:
            raise ValueError(f"crs= applies to map coordinates, but {path} gives pixel positions (row/col)")
        bad = [i for i, p in enumerate(positions) if not (float(p[0]).is_integer() and float(p[1]).is_integer())]
        if bad:
            raise ValueError(f"{labels[bad[0]]}: pixel positions must be whole numbers, got row {positions[bad[0], 0]}, "
                             f"col {positions[bad[0], 1]}")
    elif crs is not None:
        file_crs = crs
    if kind == "map" and file_crs == LONLAT_CRS:
        _check_lonlat(positions, labels, path)
    return PointSamples(positions, values, names, kind=kind, crs=file_crs, labels=labels, source=str(path))


def _check_lonlat(positions, labels, path):
    bad = np.flatnonzero((np.abs(positions[:, 0]) > 180) | (np.abs(positions[:, 1]) > 90))
    if bad.size:
        i = bad[0]
        raise ValueError(
            f"{labels[i]}: ({positions[i, 0]:g}, {positions[i, 1]:g}) is not a longitude/latitude, but {path} is read "
            f"as WGS 84 degrees (GeoJSON without a 'crs' member, per RFC 7946, or lon/lat columns): give the CRS "
            f"of its coordinates with crs= (e.g. crs='EPSG:32631'; --labels-crs on the command line)"
        )


def _same_crs(a, b):
    rasterio = import_rasterio("placing points given in another CRS")
    from_user = rasterio.crs.CRS.from_user_input
    return from_user(a) == from_user(b)


def _listed(index, describe):
    shown = "; ".join(describe(i) for i in index[:_SHOWN])
    more = f"; and {len(index) - _SHOWN} more" if len(index) > _SHOWN else ""
    return shown + more


def points_to_pixels(points, scene):
    """The pixel ``(row, col)`` of each sample on a scene's grid.

    Map coordinates go through the scene's ``transform`` (with
    ``rasterio.transform.rowcol``: the pixel whose area holds the point),
    after reprojection to the scene's CRS when the samples are in another
    (``rasterio.warp.transform``).

    Parameters
    ----------
    points : PointSamples
        From :func:`read_points`.
    scene : Scene
        Georeferenced (``transform``, and ``crs`` for samples in another CRS)
        when the samples are map coordinates.

    Returns
    -------
    pixels : ndarray of int of shape (n_samples, 2)
        ``(row, col)`` in the scene (``scene.cube[row, col]``).

    Raises
    ------
    ValueError
        For samples outside the scene or on a no-data pixel (the message
        names each sample's file and line or feature, up to 5, and the
        count), and for map coordinates on a scene without a transform (or
        in a CRS other than a scene without one).
    """
    h, w = scene.shape[:2]
    if points.kind == "pixel":
        pixels = points.positions.astype(np.int64)
    else:
        if scene.transform is None:
            raise ValueError(
                f"the samples of {points.source} are map coordinates, but the scene has no transform (it is not "
                f"georeferenced): give the samples as row/col pixel positions, or load a georeferenced image"
            )
        xs, ys = points.positions[:, 0], points.positions[:, 1]
        rasterio = import_rasterio("placing samples given in map coordinates")
        if points.crs is not None:
            if scene.crs is None:
                raise ValueError(f"the samples of {points.source} are in {points.crs}, but the scene has no CRS: "
                                 f"cannot place them")
            if not _same_crs(points.crs, scene.crs):
                from rasterio.warp import transform as reproject

                xs, ys = (np.asarray(v) for v in reproject(points.crs, scene.crs, xs, ys))
        rows, cols = rasterio.transform.rowcol(scene.transform, xs, ys)
        pixels = np.stack([np.asarray(rows), np.asarray(cols)], axis=1).astype(np.int64).reshape(-1, 2)

    where = _where(points)
    outside = np.flatnonzero((pixels[:, 0] < 0) | (pixels[:, 0] >= h) | (pixels[:, 1] < 0) | (pixels[:, 1] >= w))
    if outside.size:
        if points.kind == "map":
            extent = f", map bounds {_bounds(scene)}"
            listed = _listed(outside, lambda i: f"{where(i)} falls on pixel {tuple(map(int, pixels[i]))}")
        else:
            extent, listed = f" (rows 0..{h - 1}, columns 0..{w - 1})", _listed(outside, where)
        raise ValueError(
            f"{outside.size} of {len(points)} samples lie outside the {h} x {w} scene{extent}: {listed}. "
            f"Check the coordinates and their CRS, or remove these samples"
        )
    on_nodata = np.flatnonzero(nodata_pixels(np.asarray(scene.cube[pixels[:, 0], pixels[:, 1]])[None],
                                             scene.nodata)[0])
    if on_nodata.size:
        declared = "" if scene.nodata is None else f" or the nodata value {scene.nodata:g}"
        listed = _listed(on_nodata, lambda i: f"{where(i)} at pixel {tuple(map(int, pixels[i]))}")
        raise ValueError(
            f"{on_nodata.size} of {len(points)} samples lie on no-data pixels of the scene (NaN{declared} in some "
            f"band): {listed}. Remove these samples, or check the image's nodata value"
        )
    return pixels


def _where(points):
    def describe(i):
        a, b = points.positions[i]
        coords = f"row {int(a)}, col {int(b)}" if points.kind == "pixel" else f"x={a:.10g}, y={b:.10g}"
        return f"{points.labels[i]} ({coords})"
    return describe


def _bounds(scene):
    from rasterio.transform import xy

    h, w = scene.shape[:2]
    xs, ys = xy(scene.transform, [0, 0, h, h], [0, w, 0, w], offset="ul")  # the four outer corners
    return f"x {min(xs):.10g}..{max(xs):.10g}, y {min(ys):.10g}..{max(ys):.10g}"


DUPLICATES = ("mean", "keep", "raise")


def windows_at_points(scene, points, size, *, duplicates="mean"):
    """Training windows centred on the samples' pixels, labelled with their values.

    Parameters
    ----------
    scene : Scene
        The image the samples were taken on.
    points : PointSamples
        From :func:`read_points`.
    size : int
        Window side; windows near the border are completed by reflection
        (as :meth:`Scene.labeled_windows`).
    duplicates : {'mean', 'keep', 'raise'}, default='mean'
        Samples falling in the same pixel: ``'mean'`` averages their values
        into one sample per pixel (with a warning giving the count); ``'keep'``
        cuts one window per sample (the same window with each value);
        ``'raise'`` refuses them.

    Returns
    -------
    X : ndarray of shape (n_windows, size, size, n_bands)
    y : ndarray of shape (n_windows, n_targets), float32
    coords : ndarray of shape (n_windows, 2)
        Top-left corners (the sample's pixel minus ``size // 2``), in the
        order of the samples' first appearance; pass them as ``groups=`` to
        :class:`~hyperspectral_cl.model_selection.SpatialBlockSplit` and to
        the estimator's early stopping.

    Raises
    ------
    ValueError
        As :func:`points_to_pixels`; for duplicates with ``'raise'``; when
        every window touches no-data.

    Warns
    -----
    UserWarning
        When duplicates are averaged, and when windows touching no-data
        (around samples near a no-data area) are left out, naming them.

    Examples
    --------
    >>> points = read_points("samples.csv", targets="carbon")          # doctest: +SKIP
    >>> X, y, coords = windows_at_points(scene, points, size=9)         # doctest: +SKIP
    """
    if duplicates not in DUPLICATES:
        raise ValueError(f"duplicates must be one of {', '.join(map(repr, DUPLICATES))}, got {duplicates!r}")
    pixels = points_to_pixels(points, scene)
    values, labels = points.values, points.labels
    _, first, inverse, counts = np.unique(pixels, axis=0, return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    shared = np.flatnonzero(counts > 1)
    if shared.size and duplicates != "keep":
        groups = [np.flatnonzero(inverse == g) for g in shared]
        example = "; ".join(" and ".join(labels[i] for i in g[:3]) + f" (pixel {tuple(map(int, pixels[g[0]]))})"
                            for g in groups[:3])
        if duplicates == "raise":
            raise ValueError(f"{shared.size} pixels hold more than one sample ({int(counts[shared].sum())} samples), "
                             f"e.g. {example}; duplicates='mean' averages them")
        warnings.warn(
            f"{shared.size} pixels hold more than one sample ({int(counts[shared].sum())} samples), e.g. {example}: "
            f"their values were averaged, one window per pixel (duplicates='mean')",
            UserWarning,
            stacklevel=2,
        )
        order = np.argsort(first, kind="stable")  # unique pixels in the order of their first sample
        sums = np.zeros((len(first), values.shape[1]))
        np.add.at(sums, inverse, values)
        values = (sums / counts[:, None])[order]
        labels = [labels[i] for i in first[order]]
        pixels = pixels[first[order]]
    X, y, coords = scene.labeled_windows(pixels, size, values=values)
    if len(coords) < len(pixels):
        kept = {tuple(c) for c in (coords + int(size) // 2).tolist()}
        lost = [i for i, p in enumerate(pixels.tolist()) if tuple(p) not in kept]
        warnings.warn(
            f"{len(lost)} of {len(pixels)} samples were left out: their {size} x {size} window touches no-data "
            f"({', '.join(labels[i] for i in lost[:_SHOWN])}{', ...' if len(lost) > _SHOWN else ''})",
            UserWarning,
            stacklevel=2,
        )
    return X, y, coords
