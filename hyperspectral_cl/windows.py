"""Cutting windows from a hyperspectral cube, and the no-data policy windows, scenes and maps share.

:func:`extract_windows` cuts the package's samples: ``X`` of shape ``(n_windows,
height, width, n_bands)``, channels-last, with window labels and coordinates.
The scene, field-sample and mapping code build on it and on the no-data
helpers here, without importing the transformers of :mod:`hyperspectral_cl.patches`.
"""

from numbers import Integral, Real

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._validation import check_scalar, masked_as_nan

__all__ = ["extract_windows", "nodata_pixels", "reflect_index"]

# The no-data policy, one definition for windows, scenes and maps: a pixel is no-data when any of its
# bands is NaN, is masked (a masked array's mask is read as NaN at entry) or equals the declared fill
# value ``nodata``. Windows touching no-data are skipped when cut, NaN in maps, refused by transformers.
NODATA_MARKERS = "NaN in a band, a masked entry, or a value equal to nodata"


def _check_patch_size(patch_size, name="patch_size"):
    check_scalar(patch_size, name, kind=Integral, min_val=1)
    return int(patch_size)


BORDERS = ("valid", "reflect")


def reflect_index(index, n):
    """Map pixel indices outside ``[0, n)`` back inside by half-sample symmetric reflection.

    ``-1 -> 0``, ``-2 -> 1``, ``n -> n - 1`` (numpy's ``'symmetric'`` padding,
    scipy.ndimage's ``'reflect'``). Valid for indices in ``[-n, 2n)``.

    Parameters
    ----------
    index : ndarray of int
    n : int
        Length of the axis.

    Returns
    -------
    ndarray of int
    """
    index = np.where(index < 0, -index - 1, index)
    return np.where(index >= n, 2 * n - 1 - index, index)


def _check_positions(positions, size, shape, border):
    """Validate window top-left corners; return them as an ``(n, 2)`` intp array."""
    pos = np.asarray(positions)
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"positions must have shape (n_windows, 2) (row, column), got shape {pos.shape}")
    if pos.size and not np.issubdtype(pos.dtype, np.integer):
        if not (np.issubdtype(pos.dtype, np.floating) and np.all(np.isfinite(pos)) and np.all(pos == np.round(pos))):
            raise TypeError(f"positions must hold integer pixel coordinates, got dtype {pos.dtype}")
    pos = pos.astype(np.intp)
    c = size // 2
    h, w = shape
    if border == "valid":  # the whole window inside the image
        lo, hi = np.array([0, 0]), np.array([h - size, w - size])
        what = "the whole window must lie inside the image; border='reflect' allows windows centred near the edge"
    else:  # the centre pixel (offset size // 2) inside the image
        lo, hi = np.array([-c, -c]), np.array([h - 1 - c, w - 1 - c])
        what = "the window's centre pixel (offset size // 2) must lie inside the image"
    bad = np.flatnonzero(np.any((pos < lo) | (pos > hi), axis=1))
    if bad.size:
        i = bad[0]
        raise ValueError(
            f"positions[{i}] = {tuple(int(v) for v in pos[i])} is out of range for size={size} windows on a "
            f"{h} x {w} image with border={border!r} ({bad.size} such positions): top-left rows must lie in "
            f"[{lo[0]}, {hi[0]}] and columns in [{lo[1]}, {hi[1]}]; {what}"
        )
    return pos


def check_nodata(nodata):
    """Validate a declared no-data fill value: None or a real number, returned as a Python float.

    A Python float compares with the cube in the cube's own dtype (NumPy's weak scalars), so a
    value read from a header as text (``-3.4028235e+38``) matches the float32 values it denotes.
    """
    if nodata is None:
        return None
    if isinstance(nodata, (bool, np.bool_)) or not isinstance(nodata, Real):
        raise TypeError(
            f"nodata must be None or a real number (the fill value marking no-data pixels, e.g. -9999), "
            f"got {nodata!r} ({type(nodata).__name__})"
        )
    return float(nodata)


def _nodata_flags(block, nodata):
    """Per-pixel no-data flags of ``block`` (..., n_bands): NaN in some band, or some band equal to ``nodata``."""
    flags = np.zeros(block.shape[:-1], dtype=bool)
    if np.issubdtype(block.dtype, np.floating):  # integer cubes hold no NaN
        flags |= np.isnan(block).any(axis=-1)
    if nodata is not None and not np.isnan(nodata):
        with np.errstate(over="ignore"):  # a fill value beyond the dtype's range matches nothing
            flags |= (block == nodata).any(axis=-1)
    return flags


def _chunk(n_items, item_size):
    """Items per chunk so that a temporary stays near 16 M elements."""
    return max(1, (1 << 24) // max(1, item_size)) if n_items else 1


def nodata_pixels(cube, nodata=None):
    """Which pixels of a cube are no-data.

    A pixel is no-data when any of its bands is NaN (a numpy masked array's
    masked entries count as NaN) or equals the fill value ``nodata``.

    Parameters
    ----------
    cube : array-like of shape (height, width, n_bands)
        The image; a numpy memmap is read in blocks of rows.
    nodata : float, default=None
        Declared fill value (e.g. -9999, an ENVI header's ``data ignore
        value``, a GeoTIFF's nodata). None: only NaN and masked entries.

    Returns
    -------
    mask : ndarray of bool of shape (height, width)
        True for no-data pixels.
    """
    nodata = check_nodata(nodata)
    mask = np.ma.getmask(cube)
    cube = np.ma.getdata(cube)
    if cube.ndim != 3:
        raise ValueError(f"cube must be 3-dimensional (height, width, n_bands), got shape {np.shape(cube)}")
    h, w, b = cube.shape
    out = np.empty((h, w), dtype=bool)
    step = _chunk(h, w * b)  # bounded temporaries, whatever the scene's size
    for r in range(0, h, step):
        out[r : r + step] = _nodata_flags(np.asarray(cube[r : r + step]), nodata)
        if mask is not np.ma.nomask:
            out[r : r + step] |= np.asarray(mask[r : r + step]).any(axis=-1)
    return out


def windows_touching(mask, size):
    """Whether each ``size x size`` window of a 2-D bool mask holds a True (top-left corners, stride 1).

    Parameters
    ----------
    mask : ndarray of bool of shape (height, width)
    size : int

    Returns
    -------
    ndarray of bool of shape (height - size + 1, width - size + 1)
    """
    # separable: any over the rows of each window, then over its columns; O(height * width * size)
    rows = sliding_window_view(mask, size, axis=0).any(axis=-1)
    return sliding_window_view(rows, size, axis=1).any(axis=-1)


def _windows_with_nodata(X, nodata):
    """Per-window flags for cut windows ``(n, h, w, n_bands)``: whether the window holds a no-data pixel."""
    out = np.zeros(len(X), dtype=bool)
    step = _chunk(len(X), X[0].size if len(X) else 0)
    for start in range(0, len(X), step):
        flags = _nodata_flags(X[start : start + step], nodata)
        out[start : start + step] = flags.reshape(len(flags), -1).any(axis=1)
    return out


def _gather(arr, pos, size, border):
    """Windows of ``arr`` at top-left corners ``pos``: ``(n, size, size, k)``, via fancy indexing."""
    offsets = np.arange(size)
    rows = pos[:, 0, None] + offsets  # (n, size)
    cols = pos[:, 1, None] + offsets
    if border == "reflect":
        rows, cols = reflect_index(rows, arr.shape[0]), reflect_index(cols, arr.shape[1])
    return arr[rows[:, :, None], cols[:, None, :]]


def _check_finite_windows(X, coords, name):
    """Raise if any window holds inf (NaN is no-data, dealt with before); chunked to bound the temporary mask."""
    step = _chunk(len(X), X[0].size if len(X) else 0)
    for start in range(0, len(X), step):
        finite = np.isfinite(X[start : start + step]).reshape(min(step, len(X) - start), -1).all(axis=1)
        if not finite.all():
            i = start + int(np.argmin(finite))
            raise ValueError(
                f"{name} contains NaN or infinity (first in the window with top-left corner "
                f"{tuple(int(v) for v in coords[i])}); infinity is not a no-data marker: replace it by NaN "
                f"(no-data, skipped) or by a value, or declare a fill value with nodata="
            )


def _nodata_error(what, n_touching, n_windows, nodata, hint):
    declared = "" if nodata is None else f"={nodata:g}"
    return ValueError(
        f"{what} touches no-data ({n_touching} of {n_windows} windows do; a pixel is no-data when it has "
        f"{NODATA_MARKERS}{declared}); {hint}"
    )


def _drop_nodata_windows(touch, coords, skip_nodata, nodata, n_nodata_pixels=None):
    """Keep flags for windows given their touch flags: raise when none is kept, or any touches and not skipping."""
    if not touch.any():
        return None
    i = int(np.argmax(touch))
    if not skip_nodata:
        raise _nodata_error(f"the window with top-left corner {tuple(int(v) for v in coords[i])}",
                            int(touch.sum()), len(touch), nodata, "skip_nodata=True leaves such windows out")
    if touch.all():
        pixels = "" if n_nodata_pixels is None else f"{n_nodata_pixels} pixels are no-data; "
        raise _nodata_error("every window", len(touch), len(touch), nodata,
                            f"{pixels}check the nodata value, crop the scene to its data, or drop bands "
                            f"that are NaN everywhere (Scene.drop_bad_bands)")
    return ~touch


def extract_windows(cube, targets=None, size=10, stride=1, label="mean", *, positions=None, border="valid",
                    nodata=None, skip_nodata=True):
    """Cut square windows from a hyperspectral cube, in the package's data contract.

    No-data: a pixel is no-data when any of its bands is NaN, is masked (a
    numpy masked array's mask, read as NaN: the values under it are never
    read) or equals ``nodata``. Windows touching a no-data pixel are left out
    (``skip_nodata=True``), so that neither windows nor labels hold no-data.

    Parameters
    ----------
    cube : array-like of shape (height, width, n_bands)
        The image, channels-last. A numpy memmap is read only where windows
        are cut (the regular grid also reads it once to find no-data pixels).
        A masked array is copied, with NaN at its masked entries.
    targets : array-like of shape (height, width) or (height, width, n_targets), default=None
        Per-pixel targets (e.g. abundances). When None, ``y`` is None. Masked
        entries are NaN, an error in a window that is kept.
    size : int, default=10
        Window side in pixels.
    stride : int, default=1
        Step between consecutive windows, in pixels, along both axes. Must be 1
        when ``positions`` is given.
    label : {'mean', 'center'}, default='mean'
        How a window is labelled: the mean of its targets (the paper's
        patch-average abundances) or the target of its centre pixel, at offset
        ``size // 2`` from the window's first row and column (the exact centre
        for odd sizes).
    positions : array-like of int of shape (n_windows, 2), default=None
        Top-left corners ``(row, column)`` of the windows to cut, in the same
        convention as the returned ``coords`` (so ``coords[train]`` can be fed
        back). To cut windows centred on given pixels, pass
        ``pixels - size // 2``. None cuts the regular grid given by ``stride``.
    border : {'valid', 'reflect'}, default='valid'
        ``'valid'``: only windows wholly inside the image (an ``H x W`` image gives
        ``(H - size + 1) x (W - size + 1)`` windows at stride 1). ``'reflect'``:
        one window centred on every pixel (``H x W`` windows at stride 1), the
        image being extended by half-sample symmetric reflection
        (``... c b a | a b c ...``, numpy's ``'symmetric'`` mode); labels are
        computed on the reflected targets. Reflection repeats pixels of the window
        itself, so a reflected window still only contains pixels of its footprint
        clipped to the image (what the spatial splitter relies on).
    nodata : float, default=None
        Fill value marking no-data pixels (e.g. -9999, as GDAL/rasterio and
        ENVI headers declare one), compared in the cube's dtype. None: only
        NaN and masked entries mark no-data.
    skip_nodata : bool, default=True
        True: windows touching a no-data pixel are left out of ``X``, ``y``
        and ``coords`` (the windows kept are still in grid or ``positions``
        order; the number left out is the grid size, or ``len(positions)``,
        minus ``len(coords)``). False: such a window raises an error.

    Returns
    -------
    X : ndarray of shape (n_windows, size, size, n_bands)
        A new array (the cube is never modified), in the dtype of ``cube``
        if floating, float32 otherwise. Only windows free of no-data.
    y : ndarray of shape (n_windows, n_targets) or None
        Window labels, float32; 1-D targets give ``n_targets = 1``.
    coords : ndarray of shape (n_windows, 2)
        Row and column of each window's first (upper-left) pixel, in image
        coordinates, for both borders: with ``'reflect'`` they range from
        ``-(size // 2)``, and the window's centre pixel is ``coords + size // 2``.
        The window covers rows ``coords[:, 0] ... coords[:, 0] + size - 1``.

    Raises
    ------
    ValueError
        For infinity in a window kept (it is not a no-data marker), NaN in
        the targets of a window kept, every window touching no-data, a window
        touching no-data with ``skip_nodata=False``, and bad parameters.

    Notes
    -----
    The regular grid is built from a strided view (``sliding_window_view``), so
    only the returned array is allocated (plus, with ``'reflect'``, a padded copy
    of the cube, ``size ** 2`` times smaller than ``X``). ``positions``, and the
    grid of a scene with no-data, are cut by fancy indexing.
    """
    if isinstance(cube, np.ma.MaskedArray):
        cube = masked_as_nan(cube)
    cube = np.asarray(cube)
    if cube.ndim != 3:
        raise ValueError(f"cube must be 3-dimensional (height, width, n_bands), got shape {cube.shape}")
    if not (np.issubdtype(cube.dtype, np.number) or np.issubdtype(cube.dtype, np.bool_)) or np.iscomplexobj(cube):
        raise TypeError(f"cube must hold real numbers, got dtype {cube.dtype}")
    size = _check_patch_size(size, "size")
    stride = _check_patch_size(stride, "stride")
    h, w, _ = cube.shape
    if size > h or size > w:
        raise ValueError(f"size={size} is larger than the cube's spatial shape {(h, w)}")
    if label not in ("mean", "center"):
        raise ValueError(f"label must be 'mean' or 'center', got {label!r}")
    if border not in BORDERS:
        raise ValueError(f"border must be 'valid' or 'reflect', got {border!r}")
    if positions is not None and stride != 1:
        raise ValueError(f"give either positions or stride (got stride={stride} with positions)")
    nodata = check_nodata(nodata)
    if not isinstance(skip_nodata, (bool, np.bool_)):
        raise TypeError(f"skip_nodata must be True or False, got {skip_nodata!r}")
    dtype = cube.dtype if np.issubdtype(cube.dtype, np.floating) else np.float32
    c = size // 2
    before, after = c, size - 1 - c  # reflect padding so that a window is centred on every pixel

    t = None
    if targets is not None:
        t = np.asarray(masked_as_nan(targets) if isinstance(targets, np.ma.MaskedArray) else targets)
        if t.ndim == 2:
            t = t[:, :, None]
        if t.ndim != 3 or t.shape[:2] != (h, w):
            raise ValueError(
                f"targets must have shape (height, width) or (height, width, n_targets) matching "
                f"the cube's {(h, w)}, got {np.shape(targets)}"
            )
        t = t.astype(np.float64, copy=False)

    if positions is not None:
        coords = _check_positions(positions, size, (h, w), border)
        X = _gather(cube, coords, size, border)  # compared with nodata in the cube's dtype, then cast
        keep = _drop_nodata_windows(_windows_with_nodata(X, nodata), coords, skip_nodata, nodata)
        if keep is not None:
            X, coords = X[keep], coords[keep]
        X = X.astype(dtype, copy=False)
    else:
        X, coords, keep = _cut_grid(cube, size, stride, border, dtype, nodata, skip_nodata)
    _check_finite_windows(X, coords, "cube")

    y = None
    if t is not None:
        if label == "center":
            y = t[coords[:, 0] + c, coords[:, 1] + c]
        elif positions is not None:
            y = _gather(t, coords, size, border).mean(axis=(1, 2))
        else:
            src = t if border == "valid" else np.pad(t, ((before, after), (before, after), (0, 0)), mode="symmetric")
            tv = sliding_window_view(src, (size, size), axis=(0, 1))[::stride, ::stride]
            y = tv.mean(axis=(-2, -1)).reshape(tv.shape[0] * tv.shape[1], -1)
            y = y if keep is None else y[keep]  # labels of the windows kept
        y = y.astype(np.float32)
        if not np.isfinite(y).all():
            raise ValueError("targets contain NaN or infinity in the windows cut")
    return X, y, coords


def _cut_grid(cube, size, stride, border, dtype, nodata, skip_nodata):
    """The regular grid of windows without those touching no-data: ``X``, ``coords``, and the grid's keep flags.

    The flags are None when every window is kept.
    """
    h, w, n_bands = cube.shape
    before, after = size // 2, size - 1 - size // 2
    offset = -before if border == "reflect" else 0
    n_rows = (h - (size if border == "valid" else 1)) // stride + 1
    n_cols = (w - (size if border == "valid" else 1)) // stride + 1
    rows, cols = np.meshgrid(np.arange(n_rows) * stride + offset, np.arange(n_cols) * stride + offset, indexing="ij")
    coords = np.stack([rows.ravel(), cols.ravel()], axis=1)

    pixels = nodata_pixels(cube, nodata)
    n_nodata = int(pixels.sum())
    if border == "reflect":
        pixels = np.pad(pixels, ((before, after), (before, after)), mode="symmetric")
    touch = windows_touching(pixels, size)[::stride, ::stride].ravel()
    keep = _drop_nodata_windows(touch, coords, skip_nodata, nodata, n_nodata)
    if keep is not None:  # only the windows kept are cut (fancy indexing allocates only them)
        coords = coords[keep]
        return _gather(cube, coords, size, border).astype(dtype, copy=False), coords, keep

    src = cube
    if border == "reflect":
        src = np.pad(cube, ((before, after), (before, after), (0, 0)), mode="symmetric")
    # view shape: (n_rows, n_cols, n_bands, size, size)
    view = sliding_window_view(src, (size, size), axis=(0, 1))[::stride, ::stride]
    X = np.empty((n_rows * n_cols, size, size, n_bands), dtype=dtype)
    X.reshape(n_rows, n_cols, size, size, -1)[...] = view.transpose(0, 1, 3, 4, 2)
    return X, coords, None
