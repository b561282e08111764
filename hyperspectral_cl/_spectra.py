"""Small spectral helpers shared across subpackages (no dependency on datasets or augment)."""

import numpy as np

__all__ = ["check_wavelengths", "default_wavelengths"]

#: Range of the default band grid, in nm (the AVIRIS range).
DEFAULT_RANGE_NM = (400.0, 2500.0)


def default_wavelengths(n_bands=224):
    """An AVIRIS-like grid: ``n_bands`` band centres evenly spaced over 400-2500 nm.

    Public as :func:`hyperspectral_cl.datasets.default_wavelengths` (the grid of
    synthetic scenes); the transforms use it when no wavelengths are given.
    """
    return np.linspace(*DEFAULT_RANGE_NM, int(n_bands))


def check_wavelengths(wavelengths, n_bands, name="wavelengths"):
    """Return band centres in nm as a float64 array of length ``n_bands``.

    ``None`` gives :func:`default_wavelengths`. Values must be finite and
    positive; the order is free (interpolation does not need sorted bands).
    """
    if wavelengths is None:
        return default_wavelengths(n_bands)
    try:
        wl = np.asarray(wavelengths, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 1-D array of band centres in nm, got {type(wavelengths).__name__}") from exc
    if wl.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional (band centres in nm), got shape {wl.shape}")
    if wl.shape[0] != n_bands:
        raise ValueError(f"{name} has {wl.shape[0]} values but the data have {n_bands} bands")
    if not np.isfinite(wl).all() or (wl <= 0).any():
        raise ValueError(f"{name} must hold finite, positive band centres in nm")
    return wl
