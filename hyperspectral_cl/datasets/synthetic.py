"""Synthetic hyperspectral scenes following the paper's section 4.1.

Abundances from a Dirichlet distribution, polynomial post-nonlinear mixing
``x = M a + (M a) * (M a) + n`` (element-wise product), Gaussian noise at a given
SNR, then a multiplicative 2-D Gaussian illumination pattern.

Choices the paper leaves open, and the defaults taken here (each is a parameter):

* Dirichlet concentration: 1 (uniform on the simplex), ``dirichlet_alpha``.
* Width and placement of the Gaussian pattern: centred, standard deviation half
  the scene's larger side, maximum 1 (corners at ~0.37), ``pattern_width``.
* Which USGS spectra: drawn uniformly without replacement from the complete
  spectra of the library passed as ``endmembers`` (seeded by ``random_state``;
  names kept in ``target_names``); without a library, the built-in generator
  :func:`make_endmembers` so that no data file is needed.
* The noise power is relative to the mean power of the noiseless mixed cube,
  before the illumination pattern (so the pattern also scales the noise, as a
  sensor-side multiplicative effect would).
* Spatial structure: none by default (independent pixels as in the paper);
  ``smoothness`` smooths the abundance maps as real scenes are.
* The PPNM nonlinearity has unit coefficient, ``x = y + y * y`` with ``y = M a``.
"""

from numbers import Integral

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d
from sklearn.utils import check_random_state

from .._spectra import default_wavelengths
from .._validation import check_scalar
from .scene import Scene

__all__ = ["default_wavelengths", "make_endmembers", "make_synthetic_scene"]


def make_endmembers(n_endmembers, wavelengths, random_state=None):
    """Random but realistic reflectance spectra (no data files needed).

    Each spectrum is a smooth continuum (a random low-frequency curve with an
    optional vegetation-like red edge near 700 nm) carrying a few Gaussian
    absorption features of random position, depth and width, clipped to
    ``[0.01, 0.95]``.

    Parameters
    ----------
    n_endmembers : int
    wavelengths : array-like of shape (n_bands,)
        Band centres in nanometres.
    random_state : int, RandomState instance or None

    Returns
    -------
    endmembers : ndarray of shape (n_bands, n_endmembers)
    """
    rng = check_random_state(random_state)
    wl = np.asarray(wavelengths, dtype=np.float64)
    n_bands = wl.size
    u = (wl - wl.min()) / max(np.ptp(wl), 1e-12)
    out = np.empty((n_bands, n_endmembers))
    for k in range(n_endmembers):
        # continuum: a level plus heavily smoothed noise (a few broad undulations)
        walk = gaussian_filter1d(rng.standard_normal(n_bands), sigma=max(n_bands / 12, 1), mode="nearest")
        walk /= np.abs(walk).max() + 1e-12
        spec = rng.uniform(0.15, 0.6) + rng.uniform(-0.2, 0.2) * u + 0.12 * walk
        if rng.rand() < 0.5:  # vegetation-like red edge
            spec += rng.uniform(0.1, 0.35) / (1 + np.exp(-(wl - 715.0) / 15.0))
        for _ in range(rng.randint(2, 6)):  # absorption features
            centre = rng.uniform(wl.min(), wl.max())
            width = rng.uniform(0.01, 0.05) * np.ptp(wl)
            spec *= 1 - rng.uniform(0.05, 0.4) * np.exp(-0.5 * ((wl - centre) / width) ** 2)
        out[:, k] = np.clip(spec, 0.01, 0.95)
    return out


def make_synthetic_scene(
    n_endmembers=4,
    shape=(100, 100),
    n_bands=224,
    *,
    snr_db=20.0,
    mixing="ppnm",
    spatial_pattern="gaussian",
    pattern_width=0.5,
    dirichlet_alpha=1.0,
    smoothness=0.0,
    endmembers=None,
    wavelengths=None,
    random_state=None,
):
    """Generate a synthetic scene with known abundances (the paper's protocol).

    Parameters
    ----------
    n_endmembers : int, default=4
        Number of endmembers (ignored when ``endmembers`` is given).
    shape : tuple of int, default=(100, 100)
        ``(height, width)`` in pixels.
    n_bands : int, default=224
        Number of bands (ignored when ``endmembers`` is given).
    snr_db : float or None, default=20.0
        Signal-to-noise ratio of the additive white Gaussian noise, in dB, relative
        to the mean power of the noiseless mixed signal; None adds no noise.
    mixing : {'ppnm', 'linear'}, default='ppnm'
        ``'ppnm'``: ``x = M a + (M a) * (M a)`` (the paper's polynomial
        post-nonlinear model with unit coefficient); ``'linear'``: ``x = M a``.
    spatial_pattern : {'gaussian', None}, default='gaussian'
        Multiplies the noisy cube by a 2-D Gaussian centred on the scene (spatial
        illumination variability), maximum 1.
    pattern_width : float, default=0.5
        Standard deviation of the Gaussian pattern as a fraction of the scene's
        larger side (0.5 on a square scene leaves exp(-1) ~ 0.37 at the corners).
        The paper does not state it.
    dirichlet_alpha : float or array-like of shape (n_endmembers,), default=1.0
        Dirichlet concentration (1.0: uniform on the simplex). Not stated in the paper.
    smoothness : float, default=0.0
        Standard deviation, in pixels, of a Gaussian filter applied to the
        abundance maps (they still sum to one). 0 gives independent pixels as in the
        paper; real scenes have spatially smooth abundances.
    endmembers : array-like of shape (n_bands, n_endmembers), SpectralLibrary or None, default=None
        Endmember spectra. A matrix is used as given (``n_endmembers`` and
        ``n_bands`` are then ignored). A :class:`SpectralLibrary` (e.g. from
        :func:`load_usgs_library`, the paper's source) gives ``n_endmembers``
        spectra drawn at random without replacement with ``random_state`` (all
        of them, in order, when the library holds exactly ``n_endmembers``:
        use ``library.select(names)`` to fix them); their names become
        ``target_names`` and the library's wavelengths the scene's, unless
        ``wavelengths`` is given, onto which the spectra are interpolated
        (``n_bands`` is ignored). None draws spectra with :func:`make_endmembers`.
    wavelengths : array-like of shape (n_bands,), default=None
        Band centres in nm; default :func:`default_wavelengths` (or the
        library's).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    scene : Scene
        ``cube`` float32 ``(height, width, n_bands)``, ``targets`` the float32
        abundances ``(height, width, n_endmembers)``, ``endmembers``,
        ``wavelengths``, ``target_names`` and the settings in ``metadata``.

    Notes
    -----
    The cube is generated in blocks of rows, so the peak memory is about the
    float32 cube plus the float64 abundances and a block of a few tens of MB
    (a 1000 x 1000 x 224 scene needs ~1 GB), with the same values as a
    whole-cube computation.
    """
    rng = check_random_state(random_state)
    if len(shape) != 2:
        raise ValueError(f"shape must be (height, width), got {shape!r}")
    h, w = (check_scalar(s, "shape", kind=Integral, min_val=1) for s in shape)
    if mixing not in ("ppnm", "linear"):
        raise ValueError(f"mixing must be 'ppnm' or 'linear', got {mixing!r}")
    if spatial_pattern not in ("gaussian", None):
        raise ValueError(f"spatial_pattern must be 'gaussian' or None, got {spatial_pattern!r}")
    check_scalar(smoothness, "smoothness", min_val=0.0)
    check_scalar(pattern_width, "pattern_width", min_val=0.0, include_min=False)
    names = None
    if endmembers is None:
        check_scalar(n_bands, "n_bands", kind=Integral, min_val=1)
        check_scalar(n_endmembers, "n_endmembers", kind=Integral, min_val=1)
        wl = default_wavelengths(n_bands) if wavelengths is None else np.asarray(wavelengths, dtype=float)
        M = make_endmembers(n_endmembers, wl, rng)
    elif hasattr(endmembers, "spectra") and hasattr(endmembers, "names") and hasattr(endmembers, "draw"):
        # a SpectralLibrary (duck-typed): random spectra, recorded by name
        library = endmembers
        if wavelengths is not None:
            library = library.resample(wavelengths)
        if np.isnan(library.spectra).any():
            raise ValueError("the library holds spectra with deleted channels (NaN): load it with keep_incomplete=False")
        drawn = library.draw(n_endmembers, rng)
        M, wl, names = drawn.spectra.T.copy(), drawn.wavelengths, list(drawn.names)
        n_bands = M.shape[0]
    else:
        M = np.asarray(endmembers, dtype=np.float64)
        if M.ndim != 2:
            raise ValueError(f"endmembers must have shape (n_bands, n_endmembers), got {M.shape}")
        if not np.all(np.isfinite(M)):
            raise ValueError("endmembers contain NaN or infinity")
        n_bands, n_endmembers = M.shape
        wl = default_wavelengths(n_bands) if wavelengths is None else np.asarray(wavelengths, dtype=float)
    if wl.shape != (n_bands,):
        raise ValueError(f"wavelengths must have shape ({n_bands},), got {wl.shape}")
    n_endmembers = M.shape[1]

    alpha = np.broadcast_to(np.asarray(dirichlet_alpha, dtype=np.float64), (n_endmembers,))
    if np.any(alpha <= 0) or not np.all(np.isfinite(alpha)):
        raise ValueError(f"dirichlet_alpha must be positive, got {dirichlet_alpha!r}")
    A = rng.dirichlet(alpha, size=(h, w))  # (h, w, p)
    if smoothness > 0:
        # a normalised linear filter keeps each pixel on the simplex
        A = gaussian_filter(A, sigma=(smoothness, smoothness, 0), mode="reflect")
        A /= A.sum(axis=-1, keepdims=True)

    def mixed(rows):
        X = A[rows] @ M.T  # (rows, w, B)
        if mixing == "ppnm":
            X += X * X
        return X

    # blocks of rows bound the float64 temporaries (a full 1000 x 1000 x 224 cube in float64 is 1.8 GB)
    step = max(1, (1 << 22) // max(1, w * n_bands))
    blocks = [slice(r, min(r + step, h)) for r in range(0, h, step)]
    noise_std = None
    if snr_db is not None:
        check_scalar(snr_db, "snr_db")
        power = sum(float(np.sum(mixed(b) ** 2)) for b in blocks) / (h * w * n_bands)
        noise_std = np.sqrt(power / 10 ** (snr_db / 10))
    pattern = None
    if spatial_pattern == "gaussian":
        sigma = pattern_width * max(h, w)
        r = (np.arange(h) - (h - 1) / 2)[:, None]
        c = (np.arange(w) - (w - 1) / 2)[None, :]
        pattern = np.exp(-(r**2 + c**2) / (2 * sigma**2))[:, :, None]
    cube = np.empty((h, w, n_bands), dtype=np.float32)
    for b in blocks:
        X = mixed(b)
        if noise_std is not None:
            # drawn block after block in C order: the same stream as one whole-cube draw
            X += rng.standard_normal(X.shape) * noise_std
        if pattern is not None:
            X *= pattern[b]
        cube[b] = X

    return Scene(
        cube=cube,
        targets=A.astype(np.float32),
        wavelengths=wl,
        target_names=names or [f"endmember_{k}" for k in range(n_endmembers)],
        endmembers=M,
        metadata={
            "generator": "make_synthetic_scene", "mixing": mixing, "snr_db": snr_db,
            "spatial_pattern": spatial_pattern, "pattern_width": pattern_width,
            "dirichlet_alpha": dirichlet_alpha, "smoothness": smoothness,
            "endmember_source": "generator" if endmembers is None else ("library" if names else "matrix"),
        },
    )
