"""Input and parameter checks shared by the estimators and transformers.

Every check raises ``ValueError`` or ``TypeError`` with a message that names the
parameter and the expected form, so that bad input never reaches torch.
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse
import torch
from sklearn.utils import check_scalar as sklearn_check_scalar


def check_float_array(X, name, *, ndim, dtype=np.float32, allow_nan=False, hints=None):
    """Return ``X`` as a numpy array of ``dtype`` without modifying the caller's data.

    Parameters
    ----------
    X : array-like or torch.Tensor
        The input. The masked entries of a numpy masked array are read as NaN
        (no-data), never as the values stored under the mask.
    name : str
        Name used in error messages (``'X'``, ``'y'``...).
    ndim : int or tuple of int
        Accepted numbers of dimensions.
    dtype : numpy dtype, default=np.float32
        Output dtype.
    allow_nan : bool, default=False
        Whether NaN and inf are accepted.
    hints : dict or None, default=None
        Text appended to the error for a wrong number of dimensions, keyed by
        the number ``X`` has: how to fix the common mix-ups (a cube given
        where windows are expected, and so on).

    Returns
    -------
    ndarray
        A view or a copy of ``X``; callers must not write into it.

    Raises
    ------
    TypeError
        For sparse matrices, non-numeric or complex data.
    ValueError
        For a wrong number of dimensions, no sample, a zero-length axis in a
        sample (arrays of 3 or more dimensions: no pixel or no band), NaN or
        infinity, or values beyond the range of ``dtype``.
    """
    if scipy.sparse.issparse(X):
        raise TypeError(
            f"{name} is a scipy sparse {type(X).__name__}; sparse input is not supported: "
            f"pass a dense numpy array (e.g. {name}.toarray())"
        )
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    elif isinstance(X, np.ma.MaskedArray):
        X = masked_as_nan(X)
    elif hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):  # pandas
        X = X.to_numpy()
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like of numbers, got {type(X).__name__}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must hold real numbers, got complex dtype {arr.dtype}")
    ndims = (ndim,) if isinstance(ndim, Integral) else tuple(ndim)
    if arr.ndim not in ndims:
        expected = " or ".join(str(d) for d in ndims)
        hint = (hints or {}).get(arr.ndim)
        raise ValueError(f"{name} must be {expected}-dimensional, got shape {arr.shape}" + (f"; {hint}" if hint else ""))
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}): at least one sample is required")
    if arr.ndim > 2 and 0 in arr.shape[1:]:
        raise ValueError(
            f"{name} has a zero-length axis (shape {arr.shape}): every sample needs at least one pixel and one band"
        )
    original = arr
    with np.errstate(over="ignore"):  # an overflowing cast is reported below, by name
        arr = arr.astype(dtype, copy=False)
    if not allow_nan and not np.isfinite(arr).all():
        if arr is not original and np.isfinite(original).all():
            raise ValueError(
                f"{name} contains values too large for {np.dtype(dtype).name} (largest magnitude "
                f"{float(np.max(np.abs(original))):.3g}, the maximum is {float(np.finfo(dtype).max):.3g}); rescale it"
            )
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def masked_as_nan(X):
    """A plain array with NaN where the masked array ``X`` is masked (its data otherwise).

    The mask marks no-data: the values stored under it (often a fill value
    such as -9999) are never read. Without a masked entry this is ``X``'s data
    (a view); otherwise a new float array (``X``'s float dtype, at least
    float32 for integers), so the caller's array is never modified.
    """
    mask = np.ma.getmaskarray(X)
    data = np.ma.getdata(X)
    if not mask.any():
        return data
    if not (np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.bool_)) or np.iscomplexobj(data):
        return data  # not real numbers: the caller's dtype check reports it
    return np.where(mask, np.nan, data.astype(np.result_type(data.dtype, np.float32), copy=False))


def check_targets(y, n_samples, unlabeled_rows=False):
    """Validate regression targets and return them as float32 of shape ``(n, s)``.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
    n_samples : int
        Number of samples in ``X``.
    unlabeled_rows : bool, default=False
        Accept rows whose targets are all NaN (unlabeled samples); a row with
        only some NaN targets, infinity, or no labeled row at all is still an
        error. Without it any NaN is an error that mentions the option.

    Returns
    -------
    y2d : ndarray of shape (n_samples, n_targets)
    was_1d : bool
        True when ``y`` was given as ``(n_samples,)``.
    """
    if y is None:
        raise ValueError("y is required: regression targets of shape (n_samples,) or (n_samples, n_targets)")
    try:
        arr = check_float_array(y, "y", ndim=(1, 2), allow_nan=unlabeled_rows)
    except ValueError as exc:
        if "NaN" in str(exc) and not unlabeled_rows:
            raise ValueError(f"{exc}; to train on unlabeled windows, mark them with rows of NaN targets and pass "
                             "semi_supervised=True") from None
        raise
    if unlabeled_rows:
        rows = np.isnan(arr).reshape(len(arr), -1)
        if np.isinf(arr).any():
            raise ValueError("y contains infinity")
        partial = np.flatnonzero(rows.any(axis=1) & ~rows.all(axis=1))
        if partial.size:
            raise ValueError(
                f"y has NaN in some but not all targets of {partial.size} rows (first: row {partial[0]}); a row is "
                "either labeled (every target finite) or unlabeled (every target NaN)"
            )
        if rows.all():
            raise ValueError("every row of y is NaN (unlabeled): semi-supervised training needs labeled windows too")
    if arr.shape[0] != n_samples:
        raise ValueError(
            f"X and y have different numbers of samples: X has {n_samples}, y has {arr.shape[0]}"
        )
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError("y has no target columns (shape (n, 0))")
    was_1d = arr.ndim == 1
    return (arr[:, None] if was_1d else arr), was_1d


def check_sample_weight(sample_weight, n_samples, labeled):
    """Validate per-window weights: ``(n_samples,)``, finite, >= 0, positive on some labeled row.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,)
    n_samples : int
    labeled : bool ndarray of shape (n_samples,)
        Rows with targets; weights of the other rows are not used.

    Returns
    -------
    ndarray of float64, shape (n_samples,)
    """
    w = check_float_array(sample_weight, "sample_weight", ndim=1, dtype=np.float64)
    if w.shape[0] != n_samples:
        raise ValueError(f"sample_weight must have one weight per window, shape ({n_samples},); got {w.shape}")
    if (w < 0).any():
        raise ValueError(f"sample_weight must be >= 0; row {int(np.flatnonzero(w < 0)[0])} has "
                         f"{float(w[w < 0][0])!r}")
    if not w[labeled].sum() > 0:
        raise ValueError("sample_weight is 0 on every labeled window: nothing to learn from")
    return w


def check_scalar(value, name, *, kind=Real, min_val=None, max_val=None, include_min=True, include_max=True):
    """:func:`sklearn.utils.check_scalar`, also refusing booleans and non-finite values, with our messages.

    scikit-learn accepts ``True`` as an integer and lets NaN through its range
    checks; a hyper-parameter of either kind is a mistake here. Its messages are
    rephrased as ``'<name> must be <expected>, got <value>'``, the form every
    other error of the package takes.
    """
    expected = "an integer" if kind is Integral else "a real number"
    if isinstance(value, bool):
        raise TypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")
    if isinstance(value, kind) and not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    # an absent bound counts as excluded: scikit-learn refuses 'left' without min_val, 'right' without max_val
    closed = (include_min and min_val is not None, include_max and max_val is not None)
    boundaries = {(True, True): "both", (True, False): "left", (False, True): "right", (False, False): "neither"}[closed]
    try:
        return sklearn_check_scalar(value, name, kind, min_val=min_val, max_val=max_val,
                                    include_boundaries=boundaries)
    except TypeError:
        raise TypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})") from None
    except ValueError:
        below = min_val is not None and (value < min_val or (value == min_val and not include_min))
        bound, op = (min_val, ">=" if include_min else ">") if below else (max_val, "<=" if include_max else "<")
        raise ValueError(f"{name} must be {op} {bound}, got {value!r}") from None


def unknown_name_error(kind, name, known):
    """A ValueError for an unknown registry name that lists the valid ones."""
    return ValueError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(known))}")
