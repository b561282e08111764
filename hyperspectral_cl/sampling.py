"""Mini-batches that mix labeled windows with a bounded number of unlabeled ones, and pools to draw them from.

A scene holds far more unlabeled windows than labeled ones. An epoch of
:class:`LabeledUnlabeledBatchSampler` is one pass over the *labeled* windows,
in shuffled batches of ``batch_size``; each batch also gets
``unlabeled_batch_size`` unlabeled windows drawn at random (with replacement
across batches). The cost of an epoch therefore follows the labels, not the
size of the unlabeled pool, and every batch carries a regression signal.

:class:`UnlabeledPatches` is such a pool when the unlabeled windows are a whole
scene: it cuts the patches it draws from a strided view of the cube, so memory
stays at the cube plus a batch.
"""

import math
from numbers import Integral

import numpy as np
import torch
from torch.utils.data import Sampler

from ._validation import check_scalar

__all__ = ["LabeledUnlabeledBatchSampler", "UnlabeledPatches"]


class LabeledUnlabeledBatchSampler(Sampler):
    """Batches of labeled indices plus a few unlabeled ones; an epoch is one pass over the labeled.

    A ``batch_sampler`` for :class:`torch.utils.data.DataLoader`.

    Parameters
    ----------
    labeled : array-like of int
        Indices of the labeled samples.
    unlabeled : array-like of int
        Indices of the unlabeled samples.
    batch_size : int
        Labeled samples per batch (the last batch of an epoch may hold fewer).
    unlabeled_batch_size : int
        Unlabeled samples drawn uniformly from ``unlabeled`` for every batch
        (a draw repeated within a batch is kept once, so a batch may hold a
        few fewer); 0 adds none. Drawing costs ``O(unlabeled_batch_size)``
        whatever the size of the pool.
    generator : torch.Generator or None, default=None
        Source of the shuffles and draws (torch's global generator when None).

    Examples
    --------
    >>> sampler = LabeledUnlabeledBatchSampler([0, 1, 2, 3, 4], [5, 6, 7], batch_size=2, unlabeled_batch_size=1)
    >>> len(sampler)
    3
    >>> [len(batch) for batch in sampler]
    [3, 3, 2]
    >>> sorted(set(i for batch in sampler for i in batch if i < 5))
    [0, 1, 2, 3, 4]
    """

    def __init__(self, labeled, unlabeled, batch_size, unlabeled_batch_size, generator=None):
        self.labeled = np.asarray(labeled, dtype=np.int64)
        self.unlabeled = np.asarray(unlabeled, dtype=np.int64)
        self.batch_size = int(check_scalar(batch_size, "batch_size", kind=Integral, min_val=1))
        self.unlabeled_batch_size = int(check_scalar(unlabeled_batch_size, "unlabeled_batch_size", kind=Integral,
                                                     min_val=0))
        if self.labeled.size == 0:
            raise ValueError("LabeledUnlabeledBatchSampler needs at least one labeled index")
        self.generator = generator

    def __len__(self):
        return math.ceil(len(self.labeled) / self.batch_size)

    def __iter__(self):
        order = self.labeled[torch.randperm(len(self.labeled), generator=self.generator).numpy()]
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            if self.unlabeled_batch_size and len(self.unlabeled):
                draw = torch.randint(len(self.unlabeled), (self.unlabeled_batch_size,), generator=self.generator)
                # a window twice in one batch would be its own negative in the contrastive term
                batch = np.concatenate([batch, self.unlabeled[np.unique(draw.numpy())]])
            yield batch.tolist()


class UnlabeledPatches:
    """A pool of unlabeled patches cut on demand from a cube: a whole scene at the memory cost of a batch.

    Every window of ``patch_size x patch_size`` pixels wholly inside the cube is
    a candidate (except those ``exclude`` marks); :meth:`draw` picks some at
    random and cuts only them, through a strided view of the cube (a numpy
    memmap is read only where patches are cut). Patches come out in the
    network's layout, exactly as ``PatchExtractor(patch_size)`` (its defaults)
    would lay out those windows.

    Pass it to :meth:`ContrastivePatchRegressor.fit
    <hyperspectral_cl.ContrastivePatchRegressor.fit>` as ``unlabeled=`` (in a
    Pipeline ``net__unlabeled=``) with ``semi_supervised=True``: each training
    batch then draws ``unlabeled_batch_size`` patches from it.

    Parameters
    ----------
    cube : array-like of shape (height, width, n_bands)
        The scene, channels-last (a memmap is fine); never copied or modified.
    patch_size : int
        Side of the patches (the one the network is trained on).
    exclude : array-like of bool of shape (height - patch_size + 1, width - patch_size + 1), default=None
        True for top-left corners never to draw.

    Attributes
    ----------
    n_candidates : int
        Number of corners that can be drawn.

    Examples
    --------
    >>> import numpy as np, torch
    >>> pool = UnlabeledPatches(np.random.default_rng(0).random((50, 60, 8)), patch_size=5)
    >>> patches, coords = pool.draw(3, generator=torch.Generator().manual_seed(0))
    >>> patches.shape, coords.shape
    (torch.Size([3, 1, 8, 5, 5]), (3, 2))
    """

    def __init__(self, cube, patch_size, exclude=None):
        cube = np.asarray(cube) if not isinstance(cube, np.memmap) else cube
        if cube.ndim != 3:
            raise ValueError(f"cube must have shape (height, width, n_bands), got {cube.shape}")
        self.cube = cube
        self.patch_size = int(check_scalar(patch_size, "patch_size", kind=Integral, min_val=1))
        grid = (cube.shape[0] - self.patch_size + 1, cube.shape[1] - self.patch_size + 1)
        if min(grid) < 1:
            raise ValueError(f"patch_size={self.patch_size} is larger than the cube's {cube.shape[:2]}")
        if exclude is not None:
            exclude = np.asarray(exclude, dtype=bool)
            if exclude.shape != grid:
                raise ValueError(f"exclude must have shape {grid} (one flag per top-left corner), got {exclude.shape}")
        self.exclude = exclude
        self._allowed = None if exclude is None else np.flatnonzero(~exclude)
        self.n_candidates = grid[0] * grid[1] if exclude is None else len(self._allowed)
        if self.n_candidates == 0:
            raise ValueError("every window of the cube is excluded: nothing to draw")
        self._grid = grid

    @property
    def n_bands(self):
        """Number of bands."""
        return self.cube.shape[2]

    def __len__(self):
        return self.n_candidates

    def draw(self, n, generator=None):
        """Cut ``n`` patches at random corners (with replacement).

        Parameters
        ----------
        n : int
        generator : torch.Generator or None
            Source of the draw (torch's global generator when None).

        Returns
        -------
        patches : Tensor of shape (n, 1, n_bands, patch_size, patch_size), float32
        coords : ndarray of shape (n, 2)
            Top-left corners ``(row, column)`` of the patches.
        """
        flat = torch.randint(self.n_candidates, (int(n),), generator=generator).numpy()
        if self._allowed is not None:
            flat = self._allowed[flat]
        rows, cols = np.divmod(flat, self._grid[1])
        view = np.lib.stride_tricks.sliding_window_view(self.cube, (self.patch_size, self.patch_size), axis=(0, 1))
        patches = np.asarray(view[rows, cols], dtype=np.float32)[:, None]  # (n, 1, B, S, S): only these are copied
        if not np.isfinite(patches).all():
            bad = int(np.flatnonzero(~np.isfinite(patches).reshape(len(patches), -1).all(axis=1))[0])
            raise ValueError(
                f"the unlabeled patch at top-left corner {(int(rows[bad]), int(cols[bad]))} holds NaN or infinity; "
                "exclude no-data regions from the pool (exclude=...)"
            )
        return torch.from_numpy(patches), np.stack([rows, cols], axis=1)

    def without_near(self, coords, window_size, buffer=0):
        """A pool that also excludes the corners of patches near the given windows.

        Parameters
        ----------
        coords : array-like of shape (n, 2)
            Top-left corners of windows (e.g. a test or validation set).
        window_size : int
            Their side.
        buffer : int, default=0
            Gap in pixels that still counts as near.

        Returns
        -------
        UnlabeledPatches
        """
        from .model_selection import near_windows  # model_selection stays free of torch samplers

        corners = np.stack(np.meshgrid(np.arange(self._grid[0]), np.arange(self._grid[1]), indexing="ij"), axis=-1)
        near = near_windows(corners.reshape(-1, 2), coords, self.patch_size, buffer, reference_size=window_size)
        exclude = near.reshape(self._grid) | (False if self.exclude is None else self.exclude)
        return UnlabeledPatches(self.cube, self.patch_size, exclude=exclude)

    def __repr__(self):
        return (f"UnlabeledPatches(cube {self.cube.shape[0]} x {self.cube.shape[1]} x {self.n_bands}, "
                f"patch_size={self.patch_size}, {self.n_candidates} candidates)")
