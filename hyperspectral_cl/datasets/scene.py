"""A hyperspectral scene: a cube, optional per-pixel targets and their metadata."""

from dataclasses import dataclass, field

import numpy as np

from ..patches import extract_windows

__all__ = ["Scene"]


@dataclass
class Scene:
    """A hyperspectral image with optional per-pixel targets.

    Parameters
    ----------
    cube : ndarray of shape (height, width, n_bands)
        The image, channels-last.
    targets : ndarray of shape (height, width, n_targets) or None
        Per-pixel targets (e.g. abundances).
    wavelengths : ndarray of shape (n_bands,) or None
        Band centres in nanometres.
    target_names : list of str
        One name per target.
    endmembers : ndarray of shape (n_bands, n_endmembers) or None
        Endmember spectra, when known.
    """

    cube: np.ndarray
    targets: np.ndarray = None
    wavelengths: np.ndarray = None
    target_names: list = field(default_factory=list)
    endmembers: np.ndarray = None

    def __post_init__(self):
        if np.ndim(self.cube) != 3:
            raise ValueError(f"cube must have shape (height, width, n_bands), got {np.shape(self.cube)}")
        if self.targets is not None:
            t = np.asarray(self.targets)
            if t.ndim == 2:
                t = t[:, :, None]
            if t.shape[:2] != self.cube.shape[:2]:
                raise ValueError(f"targets {t.shape} do not match the cube's spatial shape {self.cube.shape[:2]}")
            self.targets = t
        if self.wavelengths is not None and len(self.wavelengths) != self.cube.shape[2]:
            raise ValueError(f"{len(self.wavelengths)} wavelengths for {self.cube.shape[2]} bands")

    @property
    def shape(self):
        """``(height, width, n_bands)``."""
        return self.cube.shape

    def windows(self, size, stride=1, label="mean"):
        """Square windows and their labels; see :func:`hyperspectral_cl.extract_windows`.

        Returns
        -------
        X : ndarray of shape (n_windows, size, size, n_bands)
        y : ndarray of shape (n_windows, n_targets) or None
        coords : ndarray of shape (n_windows, 2)
        """
        return extract_windows(self.cube, self.targets, size=size, stride=stride, label=label)
