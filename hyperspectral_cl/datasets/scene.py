"""A hyperspectral scene: a cube, optional per-pixel targets and their metadata."""

from dataclasses import dataclass, field, replace

import numpy as np

from ..patches import extract_windows
from ..sampling import UnlabeledPatches

__all__ = ["Scene"]


@dataclass
class Scene:
    """A hyperspectral image with optional per-pixel targets.

    The way from a file to samples: a loader (or :func:`make_synthetic_scene`)
    returns a Scene, and :meth:`windows` cuts it into the package's data contract
    ``(X, y, coords)``.

    Parameters
    ----------
    cube : ndarray of shape (height, width, n_bands)
        The image, channels-last. May be a read-only numpy memmap (see
        :func:`load_envi`); it is never copied or modified by the Scene.
    targets : ndarray of shape (height, width, n_targets) or None
        Per-pixel targets (e.g. abundances); 2-D targets become ``(h, w, 1)``.
    wavelengths : ndarray of shape (n_bands,) or None
        Band centres in nanometres.
    target_names : list of str
        One name per target (may be empty).
    endmembers : ndarray of shape (n_bands, n_endmembers) or None
        Endmember spectra, when known, one column per endmember.
    bad_bands : ndarray of bool of shape (n_bands,) or None
        True for bands flagged as bad (water absorption, noisy detectors), e.g.
        from an ENVI header's ``bbl`` (where 0 marks a bad band). None: unknown.
    metadata : dict
        Free-form provenance: source files, header fields, generator settings.
    """

    cube: np.ndarray
    targets: np.ndarray = None
    wavelengths: np.ndarray = None
    target_names: list = field(default_factory=list)
    endmembers: np.ndarray = None
    bad_bands: np.ndarray = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        if np.ndim(self.cube) != 3:
            raise ValueError(f"cube must have shape (height, width, n_bands), got {np.shape(self.cube)}")
        n_bands = self.cube.shape[2]
        if self.targets is not None:
            t = np.asarray(self.targets)
            if t.ndim == 2:
                t = t[:, :, None]
            if t.ndim != 3 or t.shape[:2] != self.cube.shape[:2]:
                raise ValueError(f"targets {t.shape} do not match the cube's spatial shape {self.cube.shape[:2]}")
            self.targets = t
        if self.wavelengths is not None:
            self.wavelengths = np.asarray(self.wavelengths, dtype=np.float64)
            if self.wavelengths.shape != (n_bands,):
                raise ValueError(f"{self.wavelengths.size} wavelengths for {n_bands} bands")
        self.target_names = list(self.target_names)
        if self.target_names and self.targets is not None and len(self.target_names) != self.targets.shape[2]:
            raise ValueError(f"{len(self.target_names)} target_names for {self.targets.shape[2]} targets")
        if self.endmembers is not None:
            self.endmembers = np.asarray(self.endmembers)
            if self.endmembers.ndim != 2 or self.endmembers.shape[0] != n_bands:
                raise ValueError(
                    f"endmembers must have shape (n_bands={n_bands}, n_endmembers), got {self.endmembers.shape}"
                )
        if self.bad_bands is not None:
            self.bad_bands = np.asarray(self.bad_bands, dtype=bool)
            if self.bad_bands.shape != (n_bands,):
                raise ValueError(f"bad_bands must have shape ({n_bands},), got {self.bad_bands.shape}")
        self.metadata = dict(self.metadata)

    @property
    def shape(self):
        """``(height, width, n_bands)``."""
        return self.cube.shape

    @property
    def n_bands(self):
        """Number of bands."""
        return self.cube.shape[2]

    @property
    def n_targets(self):
        """Number of targets (0 without targets)."""
        return 0 if self.targets is None else self.targets.shape[2]

    def windows(self, size, stride=1, label="mean", positions=None, border="valid"):
        """Square windows and their labels, in the package's data contract.

        Parameters
        ----------
        size : int
            Window side in pixels (at most the scene's height and width).
        stride : int, default=1
            Step between windows of the regular grid (must be 1 with ``positions``).
        label : {'mean', 'center'}, default='mean'
            Label of a window: the mean of its targets (the paper's patch-average
            abundances) or the target of its centre pixel (offset ``size // 2``).
        positions : array-like of int of shape (n_windows, 2), default=None
            Top-left corners to cut, in the convention of the returned ``coords``
            (pass ``pixels - size // 2`` for windows centred on given pixels).
        border : {'valid', 'reflect'}, default='valid'
            ``'valid'``: windows wholly inside the scene. ``'reflect'``: a window
            centred on every pixel, the scene extended by symmetric reflection.

        Returns
        -------
        X : ndarray of shape (n_windows, size, size, n_bands)
            A new array; for the regular grid it is built from a strided view
            so that nothing else of that size is allocated.
        y : ndarray of shape (n_windows, n_targets) or None
            float32 labels; None when the scene has no targets.
        coords : ndarray of shape (n_windows, 2)
            Top-left corner ``(row, column)`` of each window in scene coordinates
            (negative near the border with ``'reflect'``); the centre pixel is
            ``coords + size // 2``. Pass them as ``groups`` to
            :class:`hyperspectral_cl.model_selection.SpatialBlockSplit`.

        Raises
        ------
        ValueError
            For NaN or inf in the windows, a size larger than the scene, a
            stride < 1, an unknown ``label`` or ``border``, or out-of-range positions.

        See Also
        --------
        hyperspectral_cl.extract_windows : the same on a bare cube.
        """
        return extract_windows(
            self.cube, self.targets, size=size, stride=stride, label=label, positions=positions, border=border
        )

    def labeled_windows(self, pixels, size, values=None, label="center"):
        """Windows centred on labeled pixels (sparse labels: field samples, lab measurements).

        Together with :meth:`unlabeled_patches` this is the training set of
        semi-supervised training (``ContrastivePatchRegressor(semi_supervised=True)``):
        the few labeled windows as arrays, the rest of the scene as a pool.

        Parameters
        ----------
        pixels : array-like of int of shape (n, 2)
            ``(row, column)`` of each labeled pixel. Repeated pixels give
            repeated windows (each sample keeps its own value).
        size : int
            Window side; windows near the border are completed by reflection.
        values : array-like of shape (n,) or (n, n_targets), default=None
            The labels. None reads them from the scene's targets.
        label : {'center', 'mean'}, default='center'
            With ``values=None``: the target of the pixel itself, or the mean of
            the targets over its window.

        Returns
        -------
        X : ndarray of shape (n, size, size, n_bands)
        y : ndarray of shape (n, n_targets), float32
        coords : ndarray of shape (n, 2)
            Top-left corners (``pixels - size // 2``), for ``groups=``.

        Examples
        --------
        >>> from hyperspectral_cl.datasets import make_synthetic_scene
        >>> scene = make_synthetic_scene(shape=(40, 40), n_bands=10, random_state=0)
        >>> X, y, coords = scene.labeled_windows([[3, 4], [20, 30]], size=5)
        >>> X.shape, y.shape, coords.tolist()
        ((2, 5, 5, 10), (2, 4), [[1, 2], [18, 28]])
        """
        pixels = np.asarray(pixels)
        if pixels.ndim != 2 or pixels.shape[1] != 2:
            raise ValueError(f"pixels must have shape (n, 2) (row, column), got {pixels.shape}")
        corners = pixels - int(size) // 2
        X, y, coords = extract_windows(self.cube, self.targets if values is None else None, size=size,
                                       label=label, positions=corners, border="reflect")
        if values is not None:
            y = np.asarray(values, dtype=np.float32)
            y = y[:, None] if y.ndim == 1 else y
            if y.shape[0] != len(pixels):
                raise ValueError(f"values has {y.shape[0]} rows for {len(pixels)} pixels")
        elif y is None:
            raise ValueError("the scene has no targets: pass values=")
        return X, y, coords

    def unlabeled_patches(self, size, exclude=None):
        """Every window of the scene as a pool of unlabeled patches, cut on demand.

        Parameters
        ----------
        size : int
            Patch side (the one the network is trained on).
        exclude : array-like of bool of shape (height - size + 1, width - size + 1), default=None
            Top-left corners never to draw (no-data regions, a test region).

        Returns
        -------
        UnlabeledPatches
            Pass it as ``fit(..., unlabeled=pool)`` (in a Pipeline
            ``net__unlabeled=pool``); memory stays at the cube plus a batch.
        """
        return UnlabeledPatches(self.cube, size, exclude=exclude)

    def crop(self, rows=slice(None), cols=slice(None)):
        """A sub-scene (views of the arrays, no copy).

        Parameters
        ----------
        rows, cols : slice
            Rows and columns to keep (steps other than 1 are refused: they would
            change the pixel spacing that windows rely on).

        Returns
        -------
        Scene
        """
        for name, s in (("rows", rows), ("cols", cols)):
            if not isinstance(s, slice) or s.step not in (None, 1):
                raise ValueError(f"{name} must be a slice with step 1, got {s!r}")
        targets = None if self.targets is None else self.targets[rows, cols]
        cube = self.cube[rows, cols]
        if 0 in cube.shape[:2]:
            raise ValueError(f"the crop rows={rows}, cols={cols} of a {self.shape[:2]} scene is empty")
        return replace(self, cube=cube, targets=targets)

    def drop_bad_bands(self):
        """A Scene without the bands flagged in ``bad_bands`` (a copy of the kept bands).

        Returns
        -------
        Scene
            ``self`` when no band is flagged (or ``bad_bands`` is None).
        """
        if self.bad_bands is None or not self.bad_bands.any():
            return self
        keep = ~self.bad_bands
        return replace(
            self,
            cube=np.ascontiguousarray(self.cube[:, :, keep]),
            wavelengths=None if self.wavelengths is None else self.wavelengths[keep],
            endmembers=None if self.endmembers is None else self.endmembers[keep],
            bad_bands=np.zeros(int(keep.sum()), dtype=bool),
        )
