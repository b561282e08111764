"""ENVI files: header parsing (numpy only) and image cubes (through the ``spectral`` package).

An ENVI dataset is a plain-text header (``.hdr``: ``key = value`` lines, ``{...}``
for lists that may span lines) beside a raw binary file. Spectral libraries
(``file type = ENVI Spectral Library``) are read by :func:`load_usgs_library`
with numpy alone; image cubes are opened by :func:`load_envi` with the field's
``spectral`` package (an optional extra: ``pip install hyperspectral-cl[io]``).
"""

import math
import re
import warnings
from pathlib import Path

import numpy as np

from .scene import Scene

__all__ = ["envi_georeference", "load_envi", "read_envi_header", "to_nanometres"]

# ENVI "data type" codes -> numpy kinds (byte order added from "byte order")
ENVI_DTYPES = {
    "1": "u1", "2": "i2", "3": "i4", "4": "f4", "5": "f8",
    "12": "u2", "13": "u4", "14": "i8", "15": "u8",
}

_UNIT_FACTORS = {
    "micrometers": 1000.0, "micrometer": 1000.0, "microns": 1000.0, "micron": 1000.0, "um": 1000.0,
    "nanometers": 1.0, "nanometer": 1.0, "nm": 1.0, "millimeters": 1e6, "mm": 1e6,
    "wavenumber": None, "ghz": None, "mhz": None, "index": None, "unknown": None,
}


def read_envi_header(path):
    """Parse an ENVI header into a dict of strings and lists of strings.

    Keys are lower-cased; ``{a, b, c}`` values become lists of stripped strings
    (braced text fields such as ``description`` stay one string).

    Parameters
    ----------
    path : str or path-like
        The ``.hdr`` file.

    Returns
    -------
    header : dict
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ENVI header not found: {path}")
    text = path.read_text(encoding="latin-1")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "ENVI":
        raise ValueError(f"{path} is not an ENVI header: its first line must be 'ENVI'")
    header = {}
    i = 1
    while i < len(lines):
        line = lines[i]
        i += 1
        if "=" not in line or line.lstrip().startswith(";"):
            continue
        key, value = line.split("=", 1)
        key, value = key.strip().lower(), value.strip()
        if value.startswith("{"):
            # a braced value may span lines: gather until the closing brace
            while "}" not in value and i < len(lines):
                value += "\n" + lines[i]
                i += 1
            if "}" not in value:
                raise ValueError(f"{path}: unterminated '{{' in the value of {key!r}")
            inner = value[1 : value.rindex("}")]
            if key in ("description",):
                header[key] = " ".join(inner.split())
            else:
                header[key] = [item.strip() for item in inner.split(",")]
                if header[key] == [""]:
                    header[key] = []
        else:
            header[key] = value
    return header


def to_nanometres(values, unit):
    """Convert wavelengths to nanometres.

    Parameters
    ----------
    values : array-like of float
    unit : str or None
        An ENVI ``wavelength units`` value (``'Micrometers'``, ``'Nanometers'``,
        ...). None or an unknown unit falls back on the magnitude: values all
        below 100 are taken as micrometres (no sensor of interest here works
        beyond 100 um or below 100 nm).

    Returns
    -------
    ndarray of float64
    """
    values = np.asarray(values, dtype=np.float64)
    factor = _UNIT_FACTORS.get(str(unit).strip().lower()) if unit is not None else None
    if factor is None:
        factor = 1000.0 if values.size and np.nanmax(values) < 100 else 1.0
    return values * factor


def _data_dtype(header, path):
    code = str(header.get("data type", "")).strip()
    if code not in ENVI_DTYPES:
        raise ValueError(
            f"{path}: unsupported or missing 'data type' {code!r}; supported codes: {', '.join(ENVI_DTYPES)}"
        )
    order = str(header.get("byte order", "0")).strip()
    if order not in ("0", "1"):
        raise ValueError(f"{path}: 'byte order' must be 0 (little-endian) or 1 (big-endian), got {order!r}")
    return np.dtype(("<" if order == "0" else ">") + ENVI_DTYPES[code])


def _header_int(header, key, path):
    try:
        return int(header[key])
    except KeyError:
        raise ValueError(f"{path}: the header has no {key!r} field") from None
    except ValueError:
        raise ValueError(f"{path}: {key!r} must be an integer, got {header[key]!r}") from None


def _find_data_file(hdr_path, extensions):
    """The binary file beside a header: same stem with one of ``extensions`` (or no extension)."""
    hdr_path = Path(hdr_path)
    stem = hdr_path.with_suffix("")
    for ext in extensions:
        for candidate in (stem.with_name(stem.name + ext), stem.with_name(stem.name + ext.upper())):
            if candidate.is_file():
                return candidate
    if stem.is_file():
        return stem
    tried = ", ".join(stem.name + e for e in extensions)
    raise FileNotFoundError(f"no data file found beside {hdr_path} (tried {tried} and {stem.name})")


def _read_envi_library_arrays(hdr_path, data_path=None):
    """Header and ``(lines, samples)`` array of an ENVI spectral library, with numpy only."""
    hdr_path = Path(hdr_path)
    header = read_envi_header(hdr_path)
    file_type = str(header.get("file type", "")).strip().lower()
    if file_type and file_type != "envi spectral library":
        raise ValueError(f"{hdr_path} is not an ENVI spectral library (file type = {header['file type']!r})")
    data_path = _find_data_file(hdr_path, (".sli", ".lib", ".dat")) if data_path is None else Path(data_path)
    n_bands = _header_int(header, "samples", hdr_path)
    n_spectra = _header_int(header, "lines", hdr_path)
    offset = int(header.get("header offset", 0) or 0)
    dtype = _data_dtype(header, hdr_path)
    expected = offset + n_bands * n_spectra * dtype.itemsize
    actual = data_path.stat().st_size
    if actual < expected:
        raise ValueError(
            f"{data_path} holds {actual} bytes but the header describes {n_spectra} spectra x {n_bands} bands "
            f"of {dtype} after a {offset}-byte offset ({expected} bytes): wrong file or truncated data"
        )
    data = np.fromfile(data_path, dtype=dtype, count=n_bands * n_spectra, offset=offset)
    return header, data.reshape(n_spectra, n_bands).astype(np.float64), data_path


def _import_spectral():
    try:
        import spectral.io.envi as envi
    except ImportError as exc:
        raise ImportError(
            "load_envi needs the 'spectral' package (Spectral Python) to read ENVI image cubes; install it "
            "with `pip install hyperspectral-cl[io]` (or `pip install spectral`). ENVI spectral libraries "
            "(.hdr/.sli) need only numpy: use load_usgs_library."
        ) from exc
    return envi


def _is_wgs84(datum):
    return re.sub(r"[-_\s]", "", datum).upper() == "WGS84"


def _utm_epsg(zone, hemisphere, datum):
    """EPSG code of a WGS 84 UTM zone, or None for another datum or an unreadable zone."""
    if not _is_wgs84(datum):
        return None
    try:
        zone = int(float(zone))
    except ValueError:
        return None
    if not 1 <= zone <= 60 or hemisphere.lower() not in ("north", "south"):
        return None
    return (32600 if hemisphere.lower() == "north" else 32700) + zone


def envi_georeference(header, path="the header"):
    """Coordinate reference system and affine transform of an ENVI header's ``map info``.

    Follows GDAL's reading of ENVI headers, so that a map lands where GIS
    software shows the image: the reference pixel ``(x, y)`` of ``map info``
    is 1-based (``1, 1`` is the top-left corner of the top-left pixel);
    ``rotation=`` rotates the pixel axes (on a rotated grid GDAL, and this
    function, offset the origin from the reference pixel by the unrotated
    pixel sizes). The CRS is the
    ``coordinate system string`` (WKT) when present; otherwise it is read from
    ``map info`` for WGS 84 UTM zones (``'EPSG:326zz'``/``'EPSG:327zz'``) and
    WGS 84 latitude/longitude (``'EPSG:4326'``); other projections give None
    with a warning (:func:`load_raster` reads them through GDAL). An
    ``Arbitrary`` map (ENVI's pixel grid) is no georeferencing: ``(None, None)``.

    Parameters
    ----------
    header : dict
        A header from :func:`read_envi_header`.
    path : str or path-like
        The header's file, for messages.

    Returns
    -------
    crs : str or None
    transform : affine.Affine or None
        None without ``map info``, or when the ``affine`` package is missing
        (then with a warning saying how to install it).
    """
    info = header.get("map info")
    if not info:
        return None, None
    fields = [f.strip() for f in (info if isinstance(info, list) else str(info).strip("{}").split(","))]
    if fields[0].lower() == "arbitrary":  # ENVI's "map" of an image without georeferencing: pixel coordinates
        return None, None
    options = dict(f.split("=", 1) for f in fields[7:] if "=" in f)
    options = {k.strip().lower(): v.strip() for k, v in options.items()}
    try:
        ref_x, ref_y, easting, northing, size_x, size_y = (float(v) for v in fields[1:7])
        rotation = math.radians(float(options.get("rotation", 0.0)))
    except (ValueError, IndexError):
        raise ValueError(
            f"{path}: 'map info' must be {{projection, reference pixel x, y, easting, northing, pixel size x, y, "
            f"...[, rotation=degrees]}} with numbers, got {{{', '.join(fields)}}}"
        ) from None
    cos, sin = math.cos(rotation), math.sin(rotation)
    a, b, d, e = cos * size_x, sin * size_y, sin * size_x, -cos * size_y
    # the reference pixel is 1-based: (1, 1) is the top-left corner of the grid. GDAL offsets the origin by
    # the unrotated pixel sizes even on a rotated grid; doing the same puts maps where GIS software (which
    # reads ENVI files through GDAL) shows the image
    c = easting - (ref_x - 1) * size_x
    f = northing + (ref_y - 1) * size_y

    crs = None
    wkt = header.get("coordinate system string")
    if wkt:
        # the header parser split the braced WKT on commas (and stripped the pieces): join them back
        crs = (",".join(wkt) if isinstance(wkt, list) else str(wkt)).strip()
    projection = fields[0].lower()
    plain = [v for v in fields[7:] if "=" not in v]
    if crs is None and projection == "utm" and len(plain) >= 3:
        epsg = _utm_epsg(plain[0], plain[1], plain[2])
        crs = None if epsg is None else f"EPSG:{epsg}"
    elif crs is None and projection.startswith("geographic") and plain and _is_wgs84(plain[0]):
        crs = "EPSG:4326"
    if crs is None:
        warnings.warn(
            f"{path}: the coordinate system of 'map info' ({', '.join(fields[:1] + plain)}) is not one this reader "
            f"knows (WGS 84 UTM or latitude/longitude, or a 'coordinate system string'): the scene's crs is None; "
            f"load_raster reads the file through GDAL, which knows more",
            UserWarning,
            stacklevel=3,
        )
    try:
        from affine import Affine
    except ImportError:
        warnings.warn(
            f"{path} has 'map info', but the 'affine' package is missing: the scene's transform is None; "
            f"install it with `pip install hyperspectral-cl[io]`",
            UserWarning,
            stacklevel=3,
        )
        return crs, None
    return crs, Affine(a, b, c, d, e, f)


def load_envi(hdr_path, image=None, *, memmap=True, target_names=None):
    """Open an ENVI image cube as a :class:`Scene`.

    Uses the ``spectral`` package (optional extra ``io``). The header's
    ``wavelength`` (converted to nm with ``wavelength units``), ``bbl`` (bad
    band list, 0 = bad) and ``data ignore value`` fill ``Scene.wavelengths``,
    ``Scene.bad_bands`` and ``Scene.nodata`` (windows touching those
    pixels are left out, maps are NaN there); the whole header goes to
    ``Scene.metadata['header']``.

    Parameters
    ----------
    hdr_path : str or path-like
        The ``.hdr`` file.
    image : str or path-like, default=None
        The binary file, when it is not found beside the header (``.img``,
        ``.dat``, ``.raw``, ... or no extension).
    memmap : bool, default=True
        Return the cube as a read-only ``numpy.memmap`` in ``(rows, cols, bands)``
        order (a transposed view for BSQ/BIL files): nothing is read until
        windows are cut, so scenes larger than memory work. False reads the
        whole cube into memory.
    target_names : list of str, default=None
        Stored in the Scene (an image file holds no targets).

    Returns
    -------
    scene : Scene
        ``cube`` in the file's dtype and values: the ``reflectance scale
        factor`` is not applied but recorded in ``metadata`` (a memmap cannot
        be rescaled without reading it); the ``data ignore value`` is
        recorded there too, and is the Scene's ``nodata``.

    Raises
    ------
    ImportError
        When ``spectral`` is not installed.
    ValueError
        For a spectral library (use :func:`load_usgs_library`) or an
        inconsistent header.
    """
    hdr_path = Path(hdr_path)
    if not hdr_path.is_file():
        raise FileNotFoundError(f"ENVI header not found: {hdr_path}")
    header = read_envi_header(hdr_path)  # our own checks and messages first
    if str(header.get("file type", "")).strip().lower() == "envi spectral library":
        raise ValueError(f"{hdr_path} is an ENVI spectral library, not an image: use load_usgs_library")
    for key in ("samples", "lines", "bands"):
        _header_int(header, key, hdr_path)
    _data_dtype(header, hdr_path)
    envi = _import_spectral()
    img = envi.open(str(hdr_path), None if image is None else str(image))
    cube = img.open_memmap(interleave="bip", writable=False) if memmap else None
    if cube is None:  # memmap refused (e.g. a file beyond the address space): read it
        cube = np.asarray(img.load(scale=False))
    n_bands = cube.shape[2]
    wavelengths = None
    if "wavelength" in header and len(header["wavelength"]) == n_bands:
        wavelengths = to_nanometres([float(v) for v in header["wavelength"]], header.get("wavelength units"))
    bad_bands = None
    if "bbl" in header:
        bbl = np.array([float(v) for v in header["bbl"]])
        if bbl.shape != (n_bands,):
            raise ValueError(f"{hdr_path}: 'bbl' lists {bbl.size} bands for {n_bands} bands")
        bad_bands = bbl == 0
    metadata = {"source": str(hdr_path), "header": header}
    for key in ("reflectance scale factor", "data ignore value"):
        if key in header:
            metadata[key] = float(header[key])
    crs, transform = envi_georeference(header, hdr_path)
    return Scene(
        cube=cube,
        wavelengths=wavelengths,
        target_names=list(target_names or []),
        bad_bands=bad_bands,
        metadata=metadata,
        nodata=metadata.get("data ignore value"),
        crs=crs,
        transform=transform,
    )
