"""Georeferencing helpers shared by Scene, the loaders and point labels.

Only the small ``affine`` package is needed here (it comes with rasterio, in the
``io`` extra); rasterio itself is imported by the modules that read and write
files, inside their functions.
"""

import math

__all__ = ["as_crs", "as_transform", "import_rasterio", "shift_transform"]

_IO_HINT = "install it with `pip install hyperspectral-cl[io]`"


def import_rasterio(what):
    """The ``rasterio`` module, or an ImportError saying which extra installs it."""
    try:
        import rasterio
    except ImportError as exc:
        raise ImportError(
            f"{what} needs rasterio (GDAL's Python bindings); {_IO_HINT} (or `pip install rasterio`)"
        ) from exc
    return rasterio


def _import_affine(what):
    try:
        from affine import Affine
    except ImportError as exc:
        raise ImportError(f"{what} needs the 'affine' package (installed with rasterio); {_IO_HINT}") from exc
    return Affine


def as_transform(transform, name="transform"):
    """Validate an affine pixel-to-map transform.

    Parameters
    ----------
    transform : affine.Affine, sequence of 6 (or 9) numbers, or None
        In ``affine.Affine`` order ``(a, b, c, d, e, f)``: ``x = a * col + b *
        row + c``, ``y = d * col + e * row + f`` for the pixel corner ``(row,
        col)`` (GDAL's geotransform order differs: use ``Affine.from_gdal``).
    name : str
        The parameter's name, for messages.

    Returns
    -------
    affine.Affine or None
    """
    if transform is None:
        return None
    Affine = _import_affine(f"{name}=")
    try:
        values = tuple(float(v) for v in transform)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be an affine.Affine or 6 numbers (a, b, c, d, e, f), got {transform!r}"
        ) from None
    if len(values) == 9 and values[6:] == (0.0, 0.0, 1.0):
        values = values[:6]
    if len(values) != 6:
        raise ValueError(f"{name} must hold 6 numbers (a, b, c, d, e, f), got {len(values)}: {transform!r}")
    a, b, _, d, e, _ = values
    if not all(math.isfinite(v) for v in values) or a * e - b * d == 0:
        raise ValueError(f"{name} must be finite and invertible (pixels of non-zero area), got {values}")
    return transform if isinstance(transform, Affine) else Affine(*values)


def shift_transform(transform, row, col):
    """The transform of a sub-grid whose pixel ``(0, 0)`` is pixel ``(row, col)`` of ``transform``'s grid."""
    if transform is None or (row == 0 and col == 0):
        return transform
    a, b, c, d, e, f = tuple(transform)[:6]
    # written out: Affine composition changed operators across affine versions (`*`, then `@`)
    return type(transform)(a, b, a * col + b * row + c, d, e, d * col + e * row + f)


def as_crs(crs, name="crs"):
    """Validate a coordinate reference system: None, a string (``'EPSG:32631'``, WKT) or a CRS object."""
    if crs is None or isinstance(crs, str) or callable(getattr(crs, "to_wkt", None)):
        if isinstance(crs, str) and not crs.strip():
            raise ValueError(f"{name} must not be an empty string")
        return crs
    raise TypeError(
        f"{name} must be None, a string such as 'EPSG:32631' or WKT, or a CRS object (rasterio, pyproj), "
        f"got {crs!r} ({type(crs).__name__})"
    )
