"""MATLAB ``.mat`` files in the unmixing community's layout.

Hyperspectral ``.mat`` files usually hold a ``bands x pixels`` matrix whose
pixels are in MATLAB's **column-major** order (down the first column of the
image, then the next column). In Python the image is
``Y.T.reshape(rows, cols, bands, order="F")``, the equivalent of MATLAB's
``reshape(Y', rows, cols, bands)``; a C-order reshape silently transposes and
scrambles the scene. :func:`unflatten_pixels` does this for any
``(k, pixels)`` matrix (data or abundances).
"""

from pathlib import Path

import numpy as np

__all__ = ["load_mat_cube", "unflatten_pixels"]

# scalar variables that give the image size, as (rows, cols) name pairs
SHAPE_KEYS = (("nRow", "nCol"), ("nrow", "ncol"), ("lines", "cols"), ("nr", "nc"), ("rows", "cols"),
              ("height", "width"), ("H", "W"))


def loadmat(path):
    """``scipy.io.loadmat`` with clear errors; returns the user variables only.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    variables : dict of ndarray
    """
    from scipy.io import loadmat as _loadmat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MATLAB file not found: {path}")
    try:
        raw = _loadmat(path)
    except NotImplementedError as exc:  # scipy's message for v7.3 files
        raise ValueError(
            f"{path} is a MATLAB v7.3 (HDF5) file, which scipy cannot read; re-save it in MATLAB with "
            f"save(..., '-v7') or read the arrays with h5py (they are stored transposed)"
        ) from exc
    except (ValueError, TypeError, OSError) as exc:
        raise ValueError(f"{path} could not be read as a MATLAB .mat file: {exc}") from exc
    return {k: v for k, v in raw.items() if not k.startswith("__")}


def describe(variables):
    """``'Y (156, 9025), nRow (1, 1)'``: the variables of a file, for error messages."""
    return ", ".join(f"{k} {getattr(v, 'shape', '?')}" for k, v in variables.items()) or "no variables"


def image_shape_from(variables):
    """``(rows, cols)`` from scalar variables such as ``nRow``/``nCol``, or None."""
    for r, c in SHAPE_KEYS:
        if r in variables and c in variables:
            try:
                return int(np.asarray(variables[r]).item()), int(np.asarray(variables[c]).item())
            except (ValueError, TypeError):
                continue
    return None


def unflatten_pixels(matrix, shape, order="F"):
    """Turn a ``(k, n_pixels)`` matrix into a ``(rows, cols, k)`` image.

    Parameters
    ----------
    matrix : array-like of shape (k, rows * cols)
        One column per pixel (bands x pixels data, endmembers x pixels
        abundances).
    shape : tuple of int
        ``(rows, cols)`` of the image.
    order : {'F', 'C'}, default='F'
        Pixel order of the columns: ``'F'`` column-major (files written by
        MATLAB), ``'C'`` row-major (files written from numpy).

    Returns
    -------
    image : ndarray of shape (rows, cols, k)
        A view when the memory layout allows, else a copy; ``matrix`` is not modified.
    """
    matrix = np.asarray(matrix)
    if order not in ("F", "C"):
        raise ValueError(f"order must be 'F' (MATLAB column-major) or 'C' (row-major), got {order!r}")
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-dimensional (k, n_pixels), got shape {matrix.shape}")
    rows, cols = (int(s) for s in shape)
    if rows * cols != matrix.shape[1]:
        raise ValueError(
            f"shape=({rows}, {cols}) gives {rows * cols} pixels but the matrix has {matrix.shape[1]} columns "
            f"(shape {matrix.shape}, expected (k, n_pixels))"
        )
    return matrix.T.reshape(rows, cols, matrix.shape[0], order=order)


def load_mat_cube(path, key=None, shape=None, *, order="F", dtype=np.float32):
    """Read a hyperspectral cube from a ``.mat`` file.

    Parameters
    ----------
    path : str or path-like
        A MATLAB v5/v7 file (v7.3 HDF5 files are refused with a hint).
    key : str, default=None
        The variable holding the data. None takes the only 2-D or 3-D numeric
        variable of the file (an error lists the candidates when there are several).
    shape : tuple of int, default=None
        ``(rows, cols)`` of the image, needed for a 2-D matrix. None reads it from
        scalar variables in the file (``nRow``/``nCol``, ``lines``/``cols``, ...).
    order : {'F', 'C'}, default='F'
        Pixel order of a 2-D matrix: ``'F'`` MATLAB column-major, ``'C'`` row-major.
    dtype : numpy dtype, default=np.float32
        dtype of the returned cube.

    Returns
    -------
    cube : ndarray of shape (rows, cols, n_bands)
        A new C-contiguous array. A 2-D variable is taken as ``bands x pixels`` (or ``pixels x bands``,
        recognised by which side equals ``rows * cols``) and unflattened in
        ``order``; a 3-D variable is taken as ``(rows, cols, bands)`` as it is
        (scipy already returns N-D MATLAB arrays in their natural index order).

    Examples
    --------
    Samson's ``samson_1.mat`` holds ``V`` (156 x 9025) and ``nRow = nCol = 95``:

    >>> cube = load_mat_cube("samson_1.mat", "V")  # doctest: +SKIP
    >>> cube.shape  # doctest: +SKIP
    (95, 95, 156)
    """
    variables = loadmat(path)
    if key is None:
        candidates = [k for k, v in variables.items()
                      if isinstance(v, np.ndarray) and v.ndim in (2, 3) and min(v.shape) > 1
                      and np.issubdtype(v.dtype, np.number)]
        if len(candidates) != 1:
            raise ValueError(
                f"{path}: pass key= to choose the data variable among {candidates or 'none'} "
                f"(file holds: {describe(variables)})"
            )
        key = candidates[0]
    if key not in variables:
        raise KeyError(f"{path} has no variable {key!r}; it holds: {describe(variables)}")
    data = np.asarray(variables[key])
    if not np.issubdtype(data.dtype, np.number):
        raise TypeError(f"{path}: variable {key!r} is not numeric (dtype {data.dtype})")
    if data.ndim == 3:
        if shape is not None and tuple(data.shape[:2]) != tuple(shape):
            raise ValueError(f"{path}: variable {key!r} has shape {data.shape}, not (rows, cols) = {tuple(shape)}")
        return np.ascontiguousarray(data, dtype=dtype)
    if data.ndim != 2:
        raise ValueError(f"{path}: variable {key!r} must be 2-D (bands x pixels) or 3-D, got shape {data.shape}")
    if shape is None:
        shape = image_shape_from(variables)
        if shape is None:
            raise ValueError(
                f"{path}: the image size is not in the file (no nRow/nCol, lines/cols, ...): pass "
                f"shape=(rows, cols) for {key!r} of shape {data.shape}"
            )
    n_pixels = int(shape[0]) * int(shape[1])
    if data.shape[1] != n_pixels and data.shape[0] == n_pixels:
        data = data.T  # stored pixels x bands
    elif data.shape[1] != n_pixels:
        raise ValueError(
            f"{path}: variable {key!r} has shape {data.shape}, but shape=({shape[0]}, {shape[1]}) means "
            f"{n_pixels} pixels; expected (bands, {n_pixels}) or ({n_pixels}, bands)"
        )
    # C order: a pixel's spectrum contiguous, as windows and networks read it
    return np.ascontiguousarray(unflatten_pixels(data, shape, order=order), dtype=dtype)
