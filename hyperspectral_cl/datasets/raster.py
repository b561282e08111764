"""Georeferenced rasters through rasterio (GDAL): read a scene, write a map.

:func:`load_raster` reads a GeoTIFF, or any raster GDAL reads, into a
:class:`Scene` with its coordinate reference system, affine transform, nodata
value and band wavelengths; ``window=`` reads part of a scene larger than
memory. :func:`save_raster` and :class:`RasterWriter` write a map as a tiled,
compressed GeoTIFF, row block by row block, so that a map computed block by
block (``predict_map(..., out=path)``) never sits whole in memory.

rasterio is an optional dependency (``pip install hyperspectral-cl[io]``),
imported inside the functions.
"""

import math
import os
import warnings
from numbers import Integral
from pathlib import Path

import numpy as np

from ..windows import check_nodata
from ._georef import as_crs, as_transform, import_rasterio
from .envi import _find_data_file, read_envi_header, to_nanometres
from .scene import Scene

__all__ = ["RasterWriter", "load_raster", "save_raster"]

#: Data files of ENVI headers that load_raster opens when given a ``.hdr``
_ENVI_DATA_EXTENSIONS = (".img", ".dat", ".raw", ".bsq", ".bil", ".bip")
#: Values read per block when a scene is read (bounds the temporary band-first copy: 16 MiB of float32)
_READ_BLOCK_VALUES = 1 << 22
#: GDAL's block cache (MB) while a scene is read or a map written: each block is read or written once, so
#: GDAL's default cache (5 % of the RAM) would only hold a second copy of the data
_GDAL_CACHE_MB = 64


def _check_window(window, height, width, path):
    """A ``rasterio.windows.Window`` with integer offsets and sizes, wholly inside the raster."""
    from rasterio.windows import Window

    if not isinstance(window, Window):
        try:
            rows, cols = window
            window = Window.from_slices(rows, cols, height=height, width=width)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"window must be a rasterio.windows.Window or ((row_start, row_stop), (col_start, col_stop)), "
                f"got {window!r} ({exc})"
            ) from None
    parts = (window.row_off, window.col_off, window.height, window.width)
    if not all(float(v).is_integer() for v in parts):
        raise ValueError(f"window must have whole-pixel offsets and sizes, got {window!r}")
    row, col, h, w = (int(v) for v in parts)
    if h < 1 or w < 1 or row < 0 or col < 0 or row + h > height or col + w > width:
        raise ValueError(
            f"window rows {row}..{row + h - 1}, columns {col}..{col + w - 1} is not inside {path}, which has "
            f"{height} rows and {width} columns"
        )
    return Window(col, row, w, h)


def _check_bands(bands, count, path):
    """0-based band positions as a list of ints."""
    if bands is None:
        return list(range(count))
    if isinstance(bands, slice):
        picked = list(range(count))[bands]
    else:
        picked = np.atleast_1d(np.asarray(bands))
        if picked.ndim != 1 or not (np.issubdtype(picked.dtype, np.integer) or picked.size == 0):
            raise TypeError(f"bands must be a slice or a sequence of 0-based band positions (ints), got {bands!r}")
        picked = [int(b) for b in picked]
    bad = [b for b in picked if not 0 <= b < count]
    if not picked or bad:
        raise ValueError(
            f"bands must select 0-based band positions 0..{count - 1} of {path} ({count} bands; rasterio's band 1 is "
            f"band 0 here), got {bands!r}"
        )
    return picked


def _parse_list(value):
    """A GDAL/ENVI list value (``'{1, 2, 3}'``) as a list of strings."""
    return [v.strip() for v in str(value).strip().strip("{}").split(",") if v.strip()]


def _floats(values):
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _read_wavelengths(src, indexes, path):
    """Band centres (nm) of the selected bands, where they were found, and an ENVI header found beside the file.

    Sources in order: per-band ``wavelength`` metadata (with ``wavelength_units``,
    as GDAL's ENVI driver and ``gdal_translate`` from ENVI write it), per-band
    ``CENTRAL_WAVELENGTH_UM`` of the ``IMAGERY`` domain (GDAL >= 3.10), the
    ``ENVI`` domain's ``wavelength`` list, an ENVI header beside the file.
    """
    units = src.tags().get("wavelength_units")
    per_band = [src.tags(i) for i in range(1, src.count + 1)]
    if all("wavelength" in t for t in per_band):
        values = _floats(t["wavelength"] for t in per_band)
        if values is not None:
            unit = per_band[0].get("wavelength_units", units)
            return to_nanometres(values, unit)[np.array(indexes) - 1], "band metadata 'wavelength'", None
    imagery = [src.tags(i, ns="IMAGERY") if "IMAGERY" in src.tag_namespaces(i) else {} for i in
               range(1, src.count + 1)]
    if all("CENTRAL_WAVELENGTH_UM" in t for t in imagery):
        values = _floats(t["CENTRAL_WAVELENGTH_UM"] for t in imagery)
        if values is not None:
            return values[np.array(indexes) - 1] * 1000.0, "band metadata 'CENTRAL_WAVELENGTH_UM'", None
    envi = src.tags(ns="ENVI") if "ENVI" in src.tag_namespaces() else {}
    if "wavelength" in envi:
        values = _floats(_parse_list(envi["wavelength"]))
        if values is not None and values.size == src.count:
            unit = envi.get("wavelength_units")
            return to_nanometres(values, unit)[np.array(indexes) - 1], "ENVI metadata 'wavelength'", None
    for header_path in (path.with_suffix(".hdr"), path.with_name(path.name + ".hdr")):
        if header_path.is_file() and header_path != path:
            try:
                header = read_envi_header(header_path)
            except ValueError:  # a .hdr of another format (not ENVI): not ours to read
                continue
            values = _floats(header.get("wavelength", []))
            if values is not None and values.size == src.count:
                units = header.get("wavelength units")
                return to_nanometres(values, units)[np.array(indexes) - 1], f"ENVI header {header_path}", header
            return None, None, header
    return None, None, None


def _bad_bands(src, header, indexes):
    """Bad-band flags from an ENVI ``bbl`` (0 marks a bad band), or None."""
    envi = src.tags(ns="ENVI") if "ENVI" in src.tag_namespaces() else {}
    bbl = envi.get("bbl")
    values = _floats(_parse_list(bbl)) if bbl else None
    if (values is None or values.size != src.count) and header is not None and "bbl" in header:
        values = _floats(header["bbl"])
    if values is None or values.size != src.count:
        return None
    return (values == 0)[np.array(indexes) - 1]


def _common_nodata(values, path):
    """The one nodata value of the selected bands (None when none is set)."""
    found = {("nan" if isinstance(v, float) and math.isnan(v) else v) for v in values if v is not None}
    if len(found) > 1:
        raise ValueError(
            f"the selected bands of {path} have different nodata values ({sorted(map(str, found))}); a Scene has "
            f"one: select bands that share one (bands=)"
        )
    if not found:
        return None
    value = found.pop()
    return math.nan if value == "nan" else value


def load_raster(path, bands=None, window=None):
    """Read a georeferenced raster (GeoTIFF, ENVI, any GDAL format) as a :class:`Scene`.

    Needs rasterio (``pip install hyperspectral-cl[io]``). The cube is read in
    blocks of rows straight into the channels-last array, so reading takes the
    returned cube plus a bounded buffer; for a scene larger than memory read
    it piece by piece with ``window=``.

    Parameters
    ----------
    path : str or path-like
        A raster file GDAL can open. An ENVI ``.hdr`` is accepted: its data
        file beside it is opened.
    bands : sequence of int or slice, default=None
        The bands to read, as **0-based** positions (``scene.cube[..., i]``;
        rasterio's and GDAL's band 1 is band 0 here). None: every band.
    window : rasterio.windows.Window or ((row_start, row_stop), (col_start, col_stop)), default=None
        The part of the raster to read, in pixels; it must lie inside the
        raster. The Scene's transform is the window's, so map coordinates
        stay right. None: the whole raster.

    Returns
    -------
    scene : Scene
        ``cube`` ``(rows, cols, bands)`` in the file's dtype and values
        (scales and offsets recorded in ``metadata``, not applied);
        ``crs`` (a ``rasterio.crs.CRS``, None when the file has none),
        ``transform`` (an ``affine.Affine``; None when the file has no
        georeferencing), ``nodata`` (the bands' nodata value), ``wavelengths``
        in nm when the file records them (see Notes), ``bad_bands`` from an
        ENVI ``bbl``. ``metadata`` holds ``source``, ``driver``, ``window``
        ``(row, col, height, width)`` or None, ``bands`` (0-based), the file's
        ``tags``, the bands' ``descriptions``, ``scales``, ``offsets`` and
        ``units``, and ``wavelengths_from``.

    Raises
    ------
    ImportError
        Without rasterio.
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When GDAL cannot read the file (the message names it), for a window
        not inside the raster, bands out of range, or selected bands with
        different nodata values.

    Notes
    -----
    Wavelengths are looked for, in this order: the bands' ``wavelength``
    metadata with ``wavelength_units`` (what GDAL's ENVI driver reports and
    ``gdal_translate`` copies into a GeoTIFF), the bands' ``IMAGERY``
    ``CENTRAL_WAVELENGTH_UM``, the ``ENVI`` metadata domain's ``wavelength``,
    and an ENVI header beside the file (``scene.hdr`` or ``scene.tif.hdr``,
    as ENVI writes for its GeoTIFFs). Units other than nm are converted.

    Examples
    --------
    >>> scene = load_raster("scene.tif")                              # doctest: +SKIP
    >>> part = load_raster("scene.tif", window=((0, 512), (0, 512)))  # doctest: +SKIP
    >>> part.transform == scene.crop(slice(0, 512), slice(0, 512)).transform  # doctest: +SKIP
    True
    """
    rasterio = import_rasterio("load_raster")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"raster not found: {path}")
    source = _find_data_file(path, _ENVI_DATA_EXTENSIONS) if path.suffix.lower() == ".hdr" else path
    with rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_MB), warnings.catch_warnings():
        # a file without georeferencing is read with transform=None, not warned about
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        try:
            src = rasterio.open(source)
        except rasterio.errors.RasterioIOError as exc:
            raise ValueError(f"cannot read {path} as a raster: {exc}") from None
        return _read_scene(src, path, bands, window)


def _read_scene(src, path, bands, window):
    from rasterio.windows import Window

    with src:
        indexes = [b + 1 for b in _check_bands(bands, src.count, path)]
        full = window is None
        win = Window(0, 0, src.width, src.height) if full else _check_window(window, src.height, src.width, path)
        height, width = int(win.height), int(win.width)
        dtypes = {src.dtypes[i - 1] for i in indexes}
        dtype = np.result_type(*dtypes)
        cube = np.empty((height, width, len(indexes)), dtype=dtype)
        step = max(1, _READ_BLOCK_VALUES // max(1, width * len(indexes)))
        for r in range(0, height, step):
            n = min(step, height - r)
            block = src.read(indexes, window=Window(win.col_off, win.row_off + r, width, n), out_dtype=dtype)
            cube[r : r + n] = block.transpose(1, 2, 0)  # band-first -> channels-last, one block at a time
            del block

        georeferenced = src.crs is not None or not src.transform.is_identity
        transform = (src.window_transform(win) if not full else src.transform) if georeferenced else None
        wavelengths, wavelengths_from, header = _read_wavelengths(src, indexes, path)
        metadata = {
            "source": str(path),
            "driver": src.driver,
            "window": None if full else (int(win.row_off), int(win.col_off), height, width),
            "bands": None if bands is None else [i - 1 for i in indexes],
            "tags": src.tags(),
            "descriptions": [src.descriptions[i - 1] for i in indexes],
            "scales": [src.scales[i - 1] for i in indexes],
            "offsets": [src.offsets[i - 1] for i in indexes],
            "units": [src.units[i - 1] for i in indexes],
            "wavelengths_from": wavelengths_from,
        }
        if header is not None:
            metadata["header"] = header
        if not georeferenced and src.gcps[0]:
            metadata["gcps"] = len(src.gcps[0])
        return Scene(
            cube=cube,
            wavelengths=wavelengths,
            bad_bands=_bad_bands(src, header, indexes),
            metadata=metadata,
            nodata=_common_nodata([src.nodatavals[i - 1] for i in indexes], path),
            crs=src.crs,
            transform=transform,
        )


def _check_tile_size(tile_size):
    if isinstance(tile_size, bool) or not isinstance(tile_size, Integral) or tile_size < 16 or tile_size % 16:
        raise ValueError(f"tile_size must be a multiple of 16 (GeoTIFF tiles), at least 16, got {tile_size!r}")
    return int(tile_size)


class RasterWriter:
    """Write a map to a tiled, compressed GeoTIFF, one block of rows after another.

    Rows are appended in order with :meth:`write`; they are gathered into a
    buffer one tile high and written a row of tiles at a time, so memory
    stays at the buffer (``tile_size x width x count`` values) whatever the
    map's size, and every tile is compressed once. The file is written under
    a temporary name (``<path>.part``) and renamed when every row has been
    written: an interrupted run leaves no half-written map, and does not
    destroy an existing file at ``path``.

    Parameters
    ----------
    path : str or path-like
        The GeoTIFF to write (replaced if it exists).
    height, width : int
        Size of the map in pixels.
    count : int
        Number of bands (one per target).
    dtype : str or numpy dtype, default='float32'
        Data type of the file.
    like : Scene, default=None
        Source of ``crs``, ``transform``, ``nodata`` and band names (its
        ``target_names``) not given explicitly; its spatial shape must be
        ``(height, width)``.
    crs : str or CRS object, default=None
        Coordinate reference system (anything rasterio accepts).
    transform : affine.Affine or sequence of 6 numbers, default=None
        Pixel-to-map transform.
    nodata : float, default=None
        Value written in place of NaN and declared as the file's nodata. None:
        ``like.nodata`` when set (and representable in ``dtype``), else NaN
        for a float ``dtype``.
    names : sequence of str, default=None
        One band description per band. None: ``like.target_names`` when they
        match ``count``, else ``'target_1'``, ``'target_2'``...
    tile_size : int, default=256
        Side of the square tiles (a multiple of 16); the buffer is one tile high.
    compress : str, default='deflate'
        GDAL compression (``'deflate'``, ``'lzw'``, ``'zstd'``, ``'none'``...);
        with the floating-point predictor for float data.

    Examples
    --------
    >>> with RasterWriter("map.tif", 100, 80, 2, like=scene) as writer:   # doctest: +SKIP
    ...     for block in blocks:                    # (rows, 80, 2) arrays, top to bottom
    ...         writer.write(block)
    """

    def __init__(self, path, height, width, count, dtype="float32", *, like=None, crs=None, transform=None,
                 nodata=None, names=None, tile_size=256, compress="deflate"):
        rasterio = import_rasterio("RasterWriter")
        for name, value in (("height", height), ("width", width), ("count", count)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.path = Path(path)
        self.height, self.width, self.count = int(height), int(width), int(count)
        self.dtype = np.dtype(dtype)
        tile = _check_tile_size(tile_size)
        if like is not None and tuple(like.shape[:2]) != (self.height, self.width):
            raise ValueError(f"the map is {self.height} x {self.width} pixels but like= is a "
                             f"{like.shape[0]} x {like.shape[1]} scene")
        crs = as_crs(crs if crs is not None else getattr(like, "crs", None))
        transform = as_transform(transform if transform is not None else getattr(like, "transform", None))
        self.nodata = self._nodata(nodata, like)
        self.names = self._names(names, like)
        profile = {
            "driver": "GTiff", "height": self.height, "width": self.width, "count": self.count,
            "dtype": self.dtype.name, "nodata": self.nodata, "tiled": True, "blockxsize": tile,
            "blockysize": tile, "compress": compress, "BIGTIFF": "IF_SAFER",
        }
        if str(compress).lower() != "none":
            profile["predictor"] = 3 if self.dtype.kind == "f" else 2  # deltas compress better than values
        if crs is not None:
            profile["crs"] = crs
        if transform is not None:
            profile["transform"] = transform
        self._part = self.path.with_name(self.path.name + ".part")
        # a small block cache until the file is closed: tiles then reach the file as they are written, instead
        # of waiting in GDAL's cache (by default 5 % of the RAM: a whole map could wait there)
        self._env = rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_MB)
        self._env.__enter__()
        try:
            with warnings.catch_warnings():  # a map of a bare cube has no georeferencing: not worth a warning
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                self._dst = rasterio.open(self._part, "w", **profile)
        except (rasterio.errors.RasterioError, OSError) as exc:
            self._env.__exit__(None, None, None)
            raise OSError(f"cannot write {self.path}: {exc}") from None
        for i, name in enumerate(self.names, start=1):
            self._dst.set_band_description(i, name)
        #: rows gathered before a write: one row of tiles
        self.block_rows = min(tile, self.height)
        self._buffer = np.empty((self.block_rows, self.width, self.count), dtype=self.dtype)
        self._filled = 0  # rows of the buffer holding data
        self.rows_written = 0  # rows handed to GDAL
        self.blocks_written = 0

    def _nodata(self, nodata, like):
        if nodata is not None:
            value = check_nodata(nodata)
        else:
            value = check_nodata(getattr(like, "nodata", None))
        if value is not None and not math.isnan(value):
            info = np.finfo(self.dtype) if self.dtype.kind == "f" else np.iinfo(self.dtype)
            if not info.min <= value <= info.max or (self.dtype.kind != "f" and not float(value).is_integer()):
                if nodata is not None:
                    raise ValueError(f"nodata={nodata!r} cannot be stored as {self.dtype}")
                value = None  # like's fill value does not fit this map: fall back below
        if value is None and self.dtype.kind == "f":
            value = math.nan
        return value

    def _names(self, names, like):
        if names is None:
            names = getattr(like, "target_names", None) or []
            if len(names) != self.count:
                names = [f"target_{i}" for i in range(1, self.count + 1)]
        names = [str(n) for n in names]
        if len(names) != self.count:
            raise ValueError(f"names holds {len(names)} names for {self.count} bands")
        return names

    def write(self, rows):
        """Append rows below those written so far.

        Parameters
        ----------
        rows : array-like of shape (n_rows, width, count), or (n_rows, width) when ``count`` is 1
            Values for the next ``n_rows`` rows; NaN becomes the file's nodata.
            Copied into the writer's buffer: the array is not modified.
        """
        rows = np.asarray(rows)
        if rows.ndim == 2 and self.count == 1:
            rows = rows[:, :, None]
        if rows.ndim != 3 or rows.shape[1:] != (self.width, self.count):
            raise ValueError(
                f"rows must have shape (n_rows, {self.width}, {self.count}), got {rows.shape}"
            )
        if self.rows_written + self._filled + len(rows) > self.height:
            raise ValueError(f"{len(rows)} more rows would go past the map's {self.height} rows")
        start = 0
        while start < len(rows):
            n = min(len(rows) - start, len(self._buffer) - self._filled)
            self._buffer[self._filled : self._filled + n] = rows[start : start + n]
            self._filled += n
            start += n
            if self._filled == len(self._buffer) or self.rows_written + self._filled == self.height:
                self._flush()

    def _flush(self):
        from rasterio.windows import Window

        block = self._buffer[: self._filled]
        if self.dtype.kind == "f" and not math.isnan(self.nodata):
            block[np.isnan(block)] = self.nodata  # the buffer is ours: replace in place
        self._dst.write(block.transpose(2, 0, 1), window=Window(0, self.rows_written, self.width, self._filled))
        self.rows_written += self._filled
        self.blocks_written += 1
        self._filled = 0

    def close(self):
        """Finish the file: check that every row was written, then move it to ``path``.

        Raises
        ------
        ValueError
            When fewer rows than ``height`` were written (the partial file is removed).
        """
        if self._dst.closed:
            return
        self._dst.close()
        self._env.__exit__(None, None, None)
        if self.rows_written != self.height:
            self._part.unlink(missing_ok=True)
            given = self.rows_written + self._filled
            raise ValueError(f"only {given} of the map's {self.height} rows were written to {self.path}: the file "
                             f"was not created")
        os.replace(self._part, self.path)

    def abort(self):
        """Close and remove the partial file (``path`` is left as it was)."""
        if not self._dst.closed:
            self._dst.close()
            self._env.__exit__(None, None, None)
        self._part.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def save_raster(path, map, like=None, *, crs=None, transform=None, nodata=None, names=None, dtype=None,
                tile_size=256, compress="deflate"):
    """Write a map as a tiled, compressed GeoTIFF with a scene's georeferencing.

    One band per target, with its name as band description; the map is
    copied and written one row of tiles at a time (a memmap map is read the
    same way). Needs rasterio (``pip install hyperspectral-cl[io]``).

    Parameters
    ----------
    path : str or path-like
        The GeoTIFF to write (replaced if it exists, once the new one is complete).
    map : array-like of shape (height, width, n_targets) or (height, width)
        E.g. the output of :func:`~hyperspectral_cl.mapping.predict_map`; NaN
        marks pixels without a prediction. Not modified.
    like : Scene, default=None
        The scene the map was predicted from: its ``crs``, ``transform``,
        ``nodata`` and ``target_names`` are used unless given below; its
        spatial shape must equal the map's.
    crs, transform : default=None
        Override ``like``'s (see :class:`RasterWriter`).
    nodata : float, default=None
        Written where the map is NaN, and declared as the file's nodata.
        None: ``like.nodata`` when set, else NaN.
    names : sequence of str, default=None
        Band descriptions, one per target. None: ``like.target_names`` when
        they match, else ``'target_1'``...
    dtype : str or numpy dtype, default=None
        None: the map's dtype when it is a float dtype, else float32.
    tile_size : int, default=256
        Tile side (a multiple of 16).
    compress : str, default='deflate'
        GDAL compression.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> scene = load_raster("scene.tif")                           # doctest: +SKIP
    >>> save_raster("map.tif", predict_map(model, scene), like=scene)  # doctest: +SKIP
    """
    arr = map if hasattr(map, "shape") and hasattr(map, "dtype") else np.asarray(map)
    if arr.ndim not in (2, 3):
        raise ValueError(f"map must have shape (height, width) or (height, width, n_targets), got {arr.shape}")
    if dtype is None:
        dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float32
    count = 1 if arr.ndim == 2 else arr.shape[2]
    with RasterWriter(path, arr.shape[0], arr.shape[1], count, dtype, like=like, crs=crs, transform=transform,
                      nodata=nodata, names=names, tile_size=tile_size, compress=compress) as writer:
        step = writer.block_rows
        for r in range(0, arr.shape[0], step):
            writer.write(np.asarray(arr[r : r + step]))
    return Path(path)
