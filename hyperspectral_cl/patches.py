"""Windows in, network-ready patches out.

The data contract of the package: one row of ``X`` is one sample, a spatial window
of a hyperspectral image around one location, channels-last as hyperspectral files
store cubes: ``X`` has shape ``(n_samples, height, width, n_bands)``; ``y`` has
shape ``(n_samples,)`` or ``(n_samples, n_targets)``.
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._validation import check_float_array
from .network import SPECTRUM_NORMS
from .windows import _check_patch_size, extract_windows, nodata_pixels, reflect_index

# windows are cut in .windows; extract_windows, nodata_pixels and reflect_index stay importable from here
__all__ = ["MeanSpectrum", "PatchExtractor", "extract_windows", "nodata_pixels", "reflect_index"]


#: How to fix the common mix-ups, by the number of dimensions the X given has
WINDOW_HINTS = {
    3: "this looks like one image cube (height, width, n_bands): cut it into windows (n_samples, height, width, "
       "n_bands) first, with extract_windows(cube, targets, size) or Scene.windows(size)",
    5: "this looks like patches (n_samples, 1, n_bands, S, S), the output of PatchExtractor: pass the windows "
       "(n_samples, height, width, n_bands) instead",
}


def _as_windows(X, dtype=np.float32):
    """``X`` as 4-D windows of ``dtype``; NaN (no-data, masked entries) or inf are refused, naming the rows."""
    try:
        return check_float_array(X, "X", ndim=4, dtype=dtype, hints=WINDOW_HINTS)
    except ValueError as exc:
        if not str(exc).startswith("X contains NaN or infinity"):
            raise
    arr = check_float_array(X, "X", ndim=4, dtype=dtype, allow_nan=True, hints=WINDOW_HINTS)  # a masked array comes back with NaN
    bad = np.flatnonzero(~np.isfinite(arr).reshape(len(arr), -1).all(axis=1))
    rows = ", ".join(str(i) for i in bad[:5]) + (", ..." if bad.size > 5 else "")
    raise ValueError(
        f"X contains NaN or infinity in {bad.size} of {len(arr)} windows (rows {rows}); NaN marks no-data "
        f"(so do a masked array's masked entries) and a window touching no-data cannot be used: drop those "
        f"rows (Scene.windows and extract_windows leave such windows out; predict_map gives NaN for them)"
    ) from None


class PatchExtractor(TransformerMixin, BaseEstimator):
    """Centre-crop windows to square patches laid out for 3-D networks.

    A sample-preserving transformer: each input row is one window
    ``(height, width, n_bands)``; each output row is its centre
    ``patch_size x patch_size`` crop as a float32 ``(1, n_bands, patch_size, patch_size)``
    volume, the layout of ``torch.nn.Conv3d`` (one input channel, bands as depth).
    Because windows may be larger than the patch, ``patch_size`` can be tuned in a
    grid search (``patchextractor__patch_size``) on one set of windows.

    This is not :class:`sklearn.feature_extraction.image.PatchExtractor`, which
    extracts *all* patches of each image and so changes the number of samples
    (impossible inside a Pipeline with targets). This one keeps one sample per
    row and the targets aligned.

    No-data: windows must hold none. NaN marks a no-data pixel, and so does a
    masked entry of a numpy masked array (read as NaN, never as the value
    stored under the mask); :meth:`fit` and :meth:`transform` refuse windows
    holding NaN or inf with an error naming their rows. Cut windows with
    :meth:`Scene.windows <hyperspectral_cl.datasets.Scene.windows>` or
    :func:`extract_windows`, which leave out the windows touching no-data, and
    map scenes with :func:`~hyperspectral_cl.mapping.predict_map`, which gives
    NaN there: the statistics learned in :meth:`fit` then come from valid
    pixels only.

    Parameters
    ----------
    patch_size : int, default=10
        Side of the square patch, in pixels. Must not exceed the windows' height
        or width. The crop starts at offset ``(height - patch_size) // 2`` (and
        likewise for width), so odd windows and odd patches share their centre
        pixel.
    spectrum_norm : {None, 'l2'}, default=None
        ``'l2'`` scales every pixel's spectrum to unit L2 norm before
        standardisation, which removes multiplicative illumination effects
        (shading, a spatial illumination pattern); None keeps reflectance levels.
    standardize : bool, default=False
        Whether to standardise each band to zero mean and unit variance with
        statistics learned in :meth:`fit` over the training patches (so
        cross-validation does not leak test statistics). Bands with zero variance
        are only centred. Off by default: :class:`~hyperspectral_cl.ContrastivePatchRegressor`
        standardises inside its network, *after* its augmentations, so that
        physical transforms (Hapke, atmospheric) see the values you passed;
        turn it on to feed standardised patches to your own model.

    Attributes
    ----------
    n_bands_in_ : int
        Number of bands seen in :meth:`fit`.
    window_shape_ : tuple of int
        ``(height, width)`` of the windows seen in :meth:`fit`.
    mean_ : ndarray of shape (n_bands,) or None
        Per-band mean of the training patches (None when ``standardize=False``).
    scale_ : ndarray of shape (n_bands,) or None
        Per-band standard deviation used for scaling (1 where it is 0).

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspectral_cl import PatchExtractor
    >>> X = np.random.default_rng(0).random((4, 12, 12, 30))
    >>> PatchExtractor(patch_size=10).fit_transform(X).shape
    (4, 1, 30, 10, 10)
    """

    #: fitted attributes every weights file of this step holds (hyperspectral_cl.persistence)
    _fitted_state = ("n_bands_in_", "window_shape_", "mean_", "scale_")

    def __init__(self, patch_size=10, spectrum_norm=None, standardize=False):
        self.patch_size = patch_size
        self.spectrum_norm = spectrum_norm
        self.standardize = standardize

    def _crop(self, X):
        """Validate ``X`` and return the (read-only) centre-crop view."""
        if self.spectrum_norm not in SPECTRUM_NORMS:
            raise ValueError(f"spectrum_norm must be None or 'l2', got {self.spectrum_norm!r}")
        X = _as_windows(X)
        size = _check_patch_size(self.patch_size)
        h, w = X.shape[1:3]
        if size > h or size > w:
            raise ValueError(
                f"patch_size={size} is larger than the windows in X ({h} x {w}); X must have shape "
                f"(n_samples, height, width, n_bands) with height and width >= patch_size"
            )
        top, left = (h - size) // 2, (w - size) // 2
        crop = X[:, top : top + size, left : left + size, :]
        if self.spectrum_norm == "l2":  # a new array: the caller's data stays untouched
            # divide by the largest magnitude first: squares overflow near 1e20 and underflow for denormals
            tiny = np.finfo(np.float32).tiny
            crop = crop / np.maximum(np.abs(crop).max(axis=-1, keepdims=True), tiny)
            crop = crop / np.maximum(np.linalg.norm(crop, axis=-1, keepdims=True), tiny)
        return crop

    def fit(self, X, y=None):
        """Learn the band count, window shape and per-band statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, n_bands)
            Windows, channels-last, free of no-data (NaN or masked entries
            raise an error naming the windows).
        y : None
            Ignored.

        Returns
        -------
        self : PatchExtractor
        """
        if not isinstance(self.standardize, (bool, np.bool_)):
            raise TypeError(f"standardize must be True or False, got {self.standardize!r}")
        crop = self._crop(X)
        self.n_bands_in_ = crop.shape[-1]
        self.window_shape_ = tuple(np.shape(X)[1:3])
        if self.standardize:
            flat = crop.reshape(-1, crop.shape[-1])
            mean = flat.mean(axis=0, dtype=np.float64)
            std = flat.std(axis=0, dtype=np.float64)
            std[std < 10 * np.finfo(np.float32).eps * np.maximum(np.abs(mean), 1.0)] = 1.0
            self.mean_, self.scale_ = mean.astype(np.float32), std.astype(np.float32)
        else:
            self.mean_ = self.scale_ = None
        return self

    def transform(self, X):
        """Crop, standardise and lay out windows for a 3-D network.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, n_bands)
            Windows, channels-last, with the band count seen in :meth:`fit`
            and height and width >= ``patch_size``, free of no-data (NaN or
            masked entries raise an error naming the windows).

        Returns
        -------
        patches : ndarray of shape (n_samples, 1, n_bands, patch_size, patch_size)
            A new float32 array.
        """
        check_is_fitted(self, "n_bands_in_")
        crop = self._crop(X)
        if crop.shape[-1] != self.n_bands_in_:
            raise ValueError(
                f"X has {crop.shape[-1]} bands but PatchExtractor was fitted on {self.n_bands_in_}"
            )
        out = np.ascontiguousarray(crop.transpose(0, 3, 1, 2)[:, None], dtype=np.float32)
        if out is crop or np.shares_memory(out, crop):  # never hand back the caller's memory
            out = out.copy()
        if self.mean_ is not None:
            out -= self.mean_[None, None, :, None, None]
            out /= self.scale_[None, None, :, None, None]
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = False
        tags.requires_fit = True
        tags.transformer_tags.preserves_dtype = ["float32"]  # the output is float32 whatever the input
        return tags


class MeanSpectrum(TransformerMixin, BaseEstimator):
    """Average each window over its pixels: the feature classical regressors use.

    ``(n_samples, height, width, n_bands) -> (n_samples, n_bands)``, optionally
    with each spectrum scaled to unit L2 norm, which removes a multiplicative
    illumination factor. Put ridge or PLS regression after it to get the
    baseline a practitioner would try first.

    Parameters
    ----------
    normalize : bool, default=False
        Whether to divide each mean spectrum by its L2 norm.

    No-data: windows must hold none; NaN (a no-data pixel; a masked array's
    masked entries count as NaN, their stored values are never read) or inf
    raise an error naming the windows, in :meth:`fit` and :meth:`transform`.
    :meth:`Scene.windows <hyperspectral_cl.datasets.Scene.windows>` leaves out
    the windows touching no-data; :func:`~hyperspectral_cl.mapping.predict_map`
    gives NaN there.

    Attributes
    ----------
    n_bands_in_ : int
        Number of bands seen in fit.

    Notes
    -----
    The output columns are named ``band0``, ``band1``, ... (see
    :meth:`get_feature_names_out`), so ``set_output(transform="pandas")`` works,
    alone or in a :class:`~sklearn.pipeline.Pipeline`.
    """

    #: fitted attributes every weights file of this step holds (hyperspectral_cl.persistence)
    _fitted_state = ("n_bands_in_",)

    def __init__(self, normalize=False):
        self.normalize = normalize

    def fit(self, X, y=None):
        """Record the band count.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, n_bands)
            Windows free of no-data (NaN or masked entries raise an error).
        y : None
            Ignored.

        Returns
        -------
        self : MeanSpectrum
        """
        self._check_normalize()
        # float64 as in transform, so fit accepts every array transform accepts
        self.n_bands_in_ = _as_windows(X, np.float64).shape[-1]
        return self

    def _check_normalize(self):
        if not isinstance(self.normalize, (bool, np.bool_)):
            raise TypeError(f"normalize must be True or False, got {self.normalize!r}")

    def transform(self, X):
        """Mean spectrum of each window.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, n_bands)
            Windows free of no-data (NaN or masked entries raise an error).

        Returns
        -------
        spectra : ndarray of shape (n_samples, n_bands), float64
        """
        check_is_fitted(self, "n_bands_in_")
        self._check_normalize()
        X = _as_windows(X, np.float64)
        if X.shape[-1] != self.n_bands_in_:
            raise ValueError(f"X has {X.shape[-1]} bands but MeanSpectrum was fitted on {self.n_bands_in_}")
        spectra = X.mean(axis=(1, 2))
        if self.normalize:
            spectra /= np.maximum(np.linalg.norm(spectra, axis=1, keepdims=True), np.finfo(np.float64).tiny)
        return spectra

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns: ``band0``, ``band1``, ..., one per band.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only its length is checked (one name per band): the input, 4-D
            windows, has no column names to carry over.

        Returns
        -------
        feature_names_out : ndarray of str objects of shape (n_bands,)
        """
        check_is_fitted(self, "n_bands_in_")
        if input_features is not None and len(input_features) != self.n_bands_in_:
            raise ValueError(
                f"input_features should have length equal to the number of bands seen in fit, "
                f"{self.n_bands_in_}; got {len(input_features)}"
            )
        return np.asarray([f"band{i}" for i in range(self.n_bands_in_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags
