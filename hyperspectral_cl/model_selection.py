"""Spatially honest cross-validation for overlapping windows.

Windows cut at stride 1 overlap: a window and its neighbour share all but one
row or column of pixels. A random split (``KFold(shuffle=True)``,
``train_test_split``) then puts almost every test window next to training
windows that contain most of its pixels, and the test score measures
memorisation of the scene, not generalisation. :class:`SpatialBlockSplit`
cuts the scene into blocks, tests on whole blocks, and drops from training
every window that comes within ``buffer`` pixels of a test window, so no test
window shares a pixel with a training window.

The splitter needs each window's position. It takes them through the
``groups`` argument that scikit-learn already routes to splitters:
``groups=coords``, the ``(n_windows, 2)`` top-left corners returned by
:meth:`Scene.windows <hyperspectral_cl.datasets.Scene.windows>`. Positions
travel with the samples, so they stay aligned when GridSearchCV, a Pipeline or
skorch takes subsets.
"""

from numbers import Integral

import numpy as np
from sklearn.model_selection import BaseCrossValidator

# scikit-learn's own group splitters (GroupKFold...) inherit this mixin, which it does not export publicly: it
# makes splitters request ``groups``, so that searches route ``groups`` to them under enable_metadata_routing
from sklearn.model_selection._split import GroupsConsumerMixin
from sklearn.utils import check_random_state

from ._validation import check_scalar

__all__ = [
    "SemiSupervisedSplit",
    "SpatialBlockSplit",
    "leakage_report",
    "near_windows",
    "spatial_holdout",
    "test_overlap_fraction",
]


def _check_coords(groups, n_samples=None, name="groups"):
    if groups is None:
        raise ValueError(
            "SpatialBlockSplit needs the windows' positions: pass groups=coords, the (n_windows, 2) array of "
            "top-left corners returned by Scene.windows / extract_windows, e.g. cross_val_score(model, X, y, "
            "groups=coords, cv=cv), GridSearchCV(...).fit(X, y, groups=coords), or net.fit(X, y, groups=coords) "
            "with skorch's ValidSplit(cv)"
        )
    coords = np.asarray(groups)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(
            f"{name} must be the (n_windows, 2) array of window top-left corners (row, column), "
            f"got shape {coords.shape}"
        )
    if not np.issubdtype(coords.dtype, np.integer):
        if not (np.issubdtype(coords.dtype, np.number) and np.all(np.isfinite(coords))
                and np.all(coords == np.round(coords))):
            raise TypeError(f"{name} must hold integer pixel coordinates, got dtype {coords.dtype}")
    if n_samples is not None and len(coords) != n_samples:
        raise ValueError(f"{name} has {len(coords)} rows for {n_samples} samples: pass one position per window")
    if len(coords) == 0:
        raise ValueError(f"{name} is empty")
    return coords.astype(np.int64)


def _footprint_mask(coords, size, origin, shape, grow=0):
    """Boolean image of the pixels covered by windows at ``coords`` (grown by ``grow`` on each side).

    A 2-D difference array marks each rectangle's corners; cumulative sums fill them,
    so the cost is O(n_windows + area) whatever the overlap.
    """
    diff = np.zeros((shape[0] + 1, shape[1] + 1), dtype=np.int64)
    top = np.clip(coords[:, 0] - grow - origin[0], 0, shape[0])
    left = np.clip(coords[:, 1] - grow - origin[1], 0, shape[1])
    bottom = np.clip(coords[:, 0] + size + grow - origin[0], 0, shape[0])
    right = np.clip(coords[:, 1] + size + grow - origin[1], 0, shape[1])
    np.add.at(diff, (top, left), 1)
    np.add.at(diff, (top, right), -1)
    np.add.at(diff, (bottom, left), -1)
    np.add.at(diff, (bottom, right), 1)
    return np.cumsum(np.cumsum(diff, axis=0), axis=1)[: shape[0], : shape[1]] > 0


def _windows_touching(mask, coords, size, origin):
    """For each window, whether its footprint contains a True pixel of ``mask`` (summed-area table)."""
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    table[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0), axis=1)
    r0 = coords[:, 0] - origin[0]
    c0 = coords[:, 1] - origin[1]
    r1, c1 = r0 + size, c0 + size
    return (table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]) > 0


def _extent(coords, size, grow=0):
    origin = coords.min(axis=0) - grow
    shape = coords.max(axis=0) + size + grow - origin
    return origin, (int(shape[0]), int(shape[1]))


class SpatialBlockSplit(GroupsConsumerMixin, BaseCrossValidator):
    """K-fold over spatial blocks of a scene, with a buffer so that no test window touches training windows.

    Each window is assigned to the block of a regular ``n_blocks`` grid that
    contains its centre pixel (``coords + window_size // 2``); a fold tests on
    all the windows of its blocks. Its training set is every other window
    whose footprint stays more than ``buffer`` pixels away from every test
    window's footprint (the windows in between are used for neither). Every
    window is in exactly one test fold.

    Parameters
    ----------
    window_size : int
        Side of the windows, in pixels (the ``size`` given to
        :meth:`Scene.windows`).
    n_blocks : int or tuple of int, default=(2, 2)
        Grid of blocks ``(n_block_rows, n_block_cols)`` over the extent of the
        window centres; an int ``k`` means ``(k, k)``. ``(1, k)`` gives vertical
        strips, ``(k, 1)`` horizontal ones.
    n_splits : int or None, default=None
        Number of folds. None: one fold per block. Otherwise the blocks (in
        row-major order, shuffled with ``shuffle=True``) are dealt to the folds
        in turn, so several blocks can share a fold.
    buffer : int or None, default=None
        Minimum gap, in pixels, between any pixel of a training window and
        any pixel of a test window. 0 only forbids shared pixels; the default
        ``None`` uses the window radius ``window_size // 2``, as neighbouring
        pixels are themselves correlated.
    shuffle : bool, default=False
        Whether to shuffle the blocks before dealing them to folds (only
        matters with ``n_splits`` fewer than the blocks).
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffle.

    Notes
    -----
    **How positions are passed.** ``split(X, y, groups)`` takes
    ``groups=coords``, the ``(n_windows, 2)`` top-left corners returned with
    the windows. scikit-learn passes ``groups`` to the splitter in
    ``cross_val_score(..., groups=coords)``, ``cross_validate``,
    ``GridSearchCV.fit(X, y, groups=coords)`` and ``learning_curve``; skorch's
    ``ValidSplit(cv=SpatialBlockSplit(...))`` uses the first fold of
    ``cv.split(np.arange(n), groups=groups)`` with ``groups`` given to
    ``net.fit(X, y, groups=coords)`` (in a Pipeline:
    ``pipe.fit(X, y, <step>__groups=coords)``). Storing positions in the
    splitter instead would break as soon as a search or a Pipeline passes it
    a subset of the windows. With scikit-learn's metadata routing enabled
    (``sklearn.set_config(enable_metadata_routing=True)``) the splitter
    requests ``groups`` by default, as ``GroupKFold`` does, so the same calls
    work unchanged.

    Coordinates are the windows' top-left corners in scene pixels (negative
    near the border for ``border='reflect'`` windows, whose reflected pixels
    lie inside their clipped footprint, so the guarantee holds for them too).

    Examples
    --------
    >>> from sklearn.model_selection import cross_val_score
    >>> from hyperspectral_cl.datasets import make_synthetic_scene
    >>> scene = make_synthetic_scene(shape=(30, 30), n_bands=8, random_state=0)
    >>> X, y, coords = scene.windows(5)
    >>> cv = SpatialBlockSplit(window_size=5, n_blocks=(2, 2))
    >>> [len(test) for _, test in cv.split(X, y, groups=coords)]
    [169, 169, 169, 169]
    """

    def __init__(self, window_size, n_blocks=(2, 2), n_splits=None, buffer=None, shuffle=False, random_state=None):
        self.window_size = window_size
        self.n_blocks = n_blocks
        self.n_splits = n_splits
        self.buffer = buffer
        self.shuffle = shuffle
        self.random_state = random_state

    def _grid(self):
        nb = self.n_blocks
        if isinstance(nb, Integral) and not isinstance(nb, bool):
            nb = (nb, nb)
        try:
            rows, cols = nb
        except (TypeError, ValueError):
            raise TypeError(f"n_blocks must be an int or a pair of ints (rows, cols), got {self.n_blocks!r}") from None
        check_scalar(rows, "n_blocks[0]", kind=Integral, min_val=1)
        check_scalar(cols, "n_blocks[1]", kind=Integral, min_val=1)
        if rows * cols < 2:
            raise ValueError(f"n_blocks must give at least 2 blocks, got {self.n_blocks!r}")
        return int(rows), int(cols)

    def _params(self):
        size = int(check_scalar(self.window_size, "window_size", kind=Integral, min_val=1))
        rows, cols = self._grid()
        n_folds = rows * cols
        if self.n_splits is not None:
            check_scalar(self.n_splits, "n_splits", kind=Integral, min_val=2, max_val=n_folds)
            n_folds = int(self.n_splits)
        buffer = size // 2 if self.buffer is None else int(check_scalar(self.buffer, "buffer", kind=Integral,
                                                                         min_val=0))
        if not isinstance(self.shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False, got {self.shuffle!r}")
        return size, (rows, cols), n_folds, buffer

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of folds: ``n_splits``, or the number of blocks.

        Parameters
        ----------
        X, y, groups : ignored
            Present for scikit-learn compatibility.

        Returns
        -------
        int
        """
        return self._params()[2]

    def block_labels(self, groups):
        """The block index (row-major) of each window's centre.

        Parameters
        ----------
        groups : array-like of shape (n_windows, 2)
            Window top-left corners.

        Returns
        -------
        ndarray of int of shape (n_windows,)
        """
        size, (rows, cols), _, _ = self._params()
        centres = _check_coords(groups) + size // 2
        labels = []
        for axis, k in ((0, rows), (1, cols)):
            lo, hi = centres[:, axis].min(), centres[:, axis].max() + 1
            edges = np.linspace(lo, hi, k + 1)
            labels.append(np.clip(np.searchsorted(edges, centres[:, axis], side="right") - 1, 0, k - 1))
        return labels[0] * cols + labels[1]

    def fold_labels(self, groups):
        """The test fold of each window (every window is tested exactly once).

        Returns
        -------
        ndarray of int of shape (n_windows,)
        """
        _, (rows, cols), n_folds, _ = self._params()
        blocks = self.block_labels(groups)
        order = np.arange(rows * cols)
        if self.shuffle:
            check_random_state(self.random_state).shuffle(order)
        fold_of_block = np.empty(rows * cols, dtype=int)
        fold_of_block[order] = np.arange(rows * cols) % n_folds
        return fold_of_block[blocks]

    def split(self, X=None, y=None, groups=None):
        """Generate train and test indices.

        Parameters
        ----------
        X : array-like of shape (n_windows, ...) or None
            Only its length is used (checked against ``groups``).
        y : ignored
        groups : array-like of shape (n_windows, 2)
            The windows' top-left corners (``coords`` from :meth:`Scene.windows`).

        Yields
        ------
        train, test : ndarray of int
            Indices of the training and test windows of each fold.

        Raises
        ------
        ValueError
            Without ``groups``, for a fold whose blocks hold no window, or whose
            buffer leaves no training window.
        """
        size, _, n_folds, buffer = self._params()
        n = None if X is None else (X.shape[0] if hasattr(X, "shape") else len(X))
        coords = _check_coords(groups, n)
        folds = self.fold_labels(coords)
        origin, shape = _extent(coords, size, grow=buffer)
        for k in range(n_folds):
            test = np.flatnonzero(folds == k)
            if test.size == 0:
                raise ValueError(
                    f"fold {k} has no test window: its blocks hold no window centre; use fewer blocks "
                    f"(n_blocks={self.n_blocks!r})"
                )
            near_test = _footprint_mask(coords[test], size, origin, shape, grow=buffer)
            train = np.flatnonzero((folds != k) & ~_windows_touching(near_test, coords, size, origin))
            if train.size == 0:
                raise ValueError(
                    f"fold {k} has no training window left once windows within buffer={buffer} pixels of its "
                    f"test windows are removed; use more blocks, a smaller buffer or a larger scene"
                )
            yield train, test


#: A candidate hold-out is representative when, for every target, the training windows it leaves keep at
#: least this share of the targets' spread (standard deviation over all windows).
REPRESENTATIVE_SPREAD = 0.5

#: Random block draws among the candidates of ``layout='auto'``.
_BLOCK_DRAWS = 8


def spatial_holdout(coords, window_size, *, test_size=0.15, layout="auto", n_blocks=(3, 3), buffer=None, y=None,
                    random_state=None):
    """Hold out one region of the windows, with a buffer: a single train/test split of overlapping windows.

    Candidate regions:

    - a *strip*: the band of windows along one edge of their extent (top,
      bottom, left or right) holding at least ``test_size`` of them;
    - *blocks*: the windows' centres binned into an ``n_blocks`` grid (as
      :class:`SpatialBlockSplit` does), blocks drawn at random without
      replacement until they hold at least ``test_size`` of the windows.

    The training set is every other window whose footprint stays more than
    ``buffer`` pixels away from every test window. ``layout='auto'`` weighs
    the four strips and eight block draws and keeps the one that leaves the
    most training windows, among those that leave a representative training
    set when ``y`` is given: for every target, the training windows keep at
    least half of its standard deviation over all windows (else the most
    representative candidate). Both criteria come from failures: on windows
    that cover an area densely (every window of a labelled area, stride 1),
    random blocks and their buffers left a network 100 to 600 of 1,344
    windows to train on (the demo's scene), and a strip on the edge of
    Samson where the water lies took nearly all the water out of training
    (standard deviation 0.01 left of 0.30), so the network never learnt it.

    The held-out region is large on purpose: a held-out window surrounded by
    training windows a few pixels away is easier to predict than a new region,
    and a hold-out made of many small blocks then favours models that
    interpolate well and extrapolate badly (measured in the package's
    small-label experiments: with 60 labeled windows, a 5 x 5 grid let an
    over-fitted network pass for better than ridge regression, a 3 x 3 grid
    did not).

    Parameters
    ----------
    coords : array-like of shape (n_windows, 2)
        Window top-left corners (``coords`` from :meth:`Scene.windows`).
    window_size : int
        Side of the windows (or of the centre patches a model sees), in pixels.
    test_size : float, default=0.15
        Smallest share of the windows to hold out, in (0, 1).
    layout : {'auto', 'strip', 'blocks'}, default='auto'
        ``'strip'``: the best of the four strips; ``'blocks'``: one random
        block draw (the former hold-out of the estimator); ``'auto'``: see above.
    n_blocks : int or tuple of int, default=(3, 3)
        Block grid over the extent of the window centres.
    buffer : int or None, default=None
        Gap, in pixels, between training and test footprints; None: ``window_size // 2``.
    y : array-like of shape (n_windows,) or (n_windows, n_targets), default=None
        Targets of the windows, for the representativeness check (finite).
    random_state : int, RandomState instance or None, default=None
        Seeds the block draws and the choice among equally good candidates.

    Returns
    -------
    train, test : ndarray of int
        Sorted indices into ``coords``.

    Raises
    ------
    ValueError
        When the windows cannot be split in two regions (all at one
        position, or, for ``'blocks'``, all in one block), or the buffer
        leaves no training window.

    Examples
    --------
    >>> import numpy as np
    >>> rows, cols = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    >>> coords = np.stack([rows.ravel(), cols.ravel()], axis=1)
    >>> train, test = spatial_holdout(coords, 5, test_size=0.2, random_state=0)
    >>> test_overlap_fraction(train, test, coords, 5)
    0.0
    >>> len(test) / len(coords) >= 0.2
    True
    """
    check_scalar(test_size, "test_size", min_val=0.0, max_val=1.0, include_min=False, include_max=False)
    if layout not in ("auto", "strip", "blocks"):
        raise ValueError(f"layout must be 'auto', 'strip' or 'blocks', got {layout!r}")
    coords = _check_coords(coords, name="coords")
    if y is not None:
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2) or len(y) != len(coords) or not np.isfinite(y).all():
            raise ValueError(
                f"y must hold finite targets, one row per window: shape ({len(coords)},) or ({len(coords)}, "
                f"n_targets); got shape {y.shape}" + ("" if np.isfinite(y).all() else " with non-finite values")
            )
        y = y.reshape(len(coords), -1)
    splitter = SpatialBlockSplit(window_size, n_blocks=n_blocks, buffer=buffer)
    size, _, _, gap = splitter._params()
    rng = check_random_state(random_state)
    origin, shape = _extent(coords, size, grow=gap)
    n_test = int(np.ceil(test_size * len(coords)))  # the fewest windows a hold-out holds
    candidates = []  # boolean test masks
    if layout in ("auto", "strip"):
        for axis in (0, 1):
            position = coords[:, axis]
            for sign in (1, -1):  # the low edge, then the high edge
                # every window up to the n_test-th position from this edge (windows level with it included)
                is_test = sign * position <= np.sort(sign * position)[n_test - 1]
                if not is_test.all():
                    candidates.append(is_test)
    if layout in ("auto", "blocks"):
        blocks = splitter.block_labels(coords)
        occupied = np.unique(blocks)
        if occupied.size >= 2:
            counts = np.bincount(blocks)
            for _ in range(1 if layout == "blocks" else _BLOCK_DRAWS):
                order = rng.permutation(occupied)
                # the fewest blocks holding test_size of the windows, always leaving one block for training
                n_blocks_out = min(int(np.searchsorted(np.cumsum(counts[order]), n_test)) + 1, occupied.size - 1)
                candidates.append(np.isin(blocks, order[:n_blocks_out]))
        elif layout == "blocks":
            raise ValueError(
                f"the {len(coords)} windows fall in {occupied.size} block of the {n_blocks!r} grid; a spatial "
                "hold-out needs windows in at least two blocks"
            )
    if not candidates:
        raise ValueError(
            f"the {len(coords)} windows all have the same position; a spatial hold-out needs windows at two "
            "positions at least"
        )
    # a candidate must hold out test_size of the windows (a block draw capped to leave one block may not);
    # the others are a last resort
    large_enough = [c for c in candidates if c.sum() >= n_test]
    scored = []
    for is_test in large_enough or candidates:
        near_test = _footprint_mask(coords[is_test], size, origin, shape, grow=gap)
        train = np.flatnonzero(~is_test & ~_windows_touching(near_test, coords, size, origin))
        if train.size:
            scored.append((_kept_spread(y, train), train, is_test))
    if not scored:
        raise ValueError(
            f"no training window is left once the windows within buffer={gap} pixels of the held-out region are "
            "removed; use a smaller test_size or a smaller buffer"
        )
    representative = [c for c in scored if c[0] >= REPRESENTATIVE_SPREAD]
    if representative:
        most = max(len(c[1]) for c in representative)
        best = [c for c in representative if len(c[1]) == most]
    else:
        spread = max(c[0] for c in scored)
        best = [c for c in scored if c[0] == spread]
    _, train, is_test = best[rng.randint(len(best))] if len(best) > 1 else best[0]
    return train, np.flatnonzero(is_test)


def _kept_spread(y, train):
    """The smallest share of a target's standard deviation that the training rows keep (1 without targets)."""
    if y is None:
        return 1.0
    full = y.std(axis=0)
    varying = full > 0
    if not varying.any():
        return 1.0
    return float(np.min(y[train][:, varying].std(axis=0) / full[varying]))


def near_windows(coords, reference, window_size, buffer=0, reference_size=None):
    """Which windows come within ``buffer`` pixels of (or overlap) any reference window.

    Parameters
    ----------
    coords : array-like of shape (n_windows, 2)
        Top-left corners of the windows to test.
    reference : array-like of shape (n_reference, 2)
        Top-left corners of the reference windows (e.g. a test set).
    window_size : int
        Side of the windows to test, in pixels.
    buffer : int, default=0
        Gap, in pixels, that still counts as near; 0 flags only windows sharing a pixel.
    reference_size : int or None, default=None
        Side of the reference windows (None: ``window_size``).

    Returns
    -------
    ndarray of bool of shape (n_windows,)
    """
    size = int(check_scalar(window_size, "window_size", kind=Integral, min_val=1))
    ref_size = size if reference_size is None else int(
        check_scalar(reference_size, "reference_size", kind=Integral, min_val=1))
    gap = int(check_scalar(buffer, "buffer", kind=Integral, min_val=0))
    coords = _check_coords(coords, name="coords")
    reference = np.asarray(reference)
    if reference.size == 0:
        return np.zeros(len(coords), dtype=bool)
    reference = _check_coords(reference, name="reference")
    origin = np.minimum(coords.min(axis=0), reference.min(axis=0) - gap)
    far = np.maximum(coords.max(axis=0) + size, reference.max(axis=0) + ref_size + gap)
    shape = tuple(int(v) for v in far - origin)
    return _windows_touching(_footprint_mask(reference, ref_size, origin, shape, grow=gap), coords, size, origin)


def _labeled_rows(y):
    """Rows of ``y`` that are labeled (not all NaN)."""
    arr = np.asarray(y, dtype=np.float64)
    return ~np.isnan(arr.reshape(len(arr), -1)).all(axis=1)


class SemiSupervisedSplit(GroupsConsumerMixin):
    """Cross-validate on the labeled windows; give the unlabeled ones to every training fold.

    Wraps a splitter (``SpatialBlockSplit``, ``KFold``...) for data whose
    unlabeled windows are rows of NaN targets (``ContrastivePatchRegressor(
    semi_supervised=True)``). The wrapped splitter splits the labeled windows
    only, so **no unlabeled window is ever in a test fold or scored**; every
    training fold also gets the unlabeled windows, except (``transductive=False``)
    those that come within ``buffer`` pixels of a test window, so the model never
    sees the pixels it is scored on.

    Parameters
    ----------
    cv : cross-validation splitter
        Splits the labeled windows; receives their ``groups`` (positions).
    transductive : bool, default=False
        ``True`` keeps every unlabeled window in every training fold, the test
        region's included. That is legitimate when the model will map the same
        scene it is trained on (its pixels are available at training time), and
        should be reported as such; it is not an estimate of performance on a new
        scene.
    window_size : int or None, default=None
        Window side for the proximity test (``transductive=False``); None takes
        ``cv.window_size`` (a :class:`SpatialBlockSplit`).
    buffer : int or None, default=None
        Gap in pixels; None takes ``cv.buffer`` when it has one, else half a window.

    Notes
    -----
    Like :class:`SpatialBlockSplit`, it requests ``groups`` under scikit-learn's
    metadata routing, so ``GridSearchCV(..., cv=SemiSupervisedSplit(...)).fit(X,
    y, groups=coords)`` works with routing on or off.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspectral_cl.model_selection import SemiSupervisedSplit, SpatialBlockSplit
    >>> rows, cols = np.meshgrid(np.arange(20), np.arange(20), indexing="ij")
    >>> coords = np.stack([rows.ravel(), cols.ravel()], axis=1)
    >>> y = np.full(len(coords), np.nan)
    >>> y[::7] = 1.0                                   # one window in seven is labeled
    >>> cv = SemiSupervisedSplit(SpatialBlockSplit(3, n_blocks=(2, 1)))
    >>> [bool(np.isnan(y[test]).any()) for _, test in cv.split(coords, y, groups=coords)]
    [False, False]
    """

    def __init__(self, cv, transductive=False, window_size=None, buffer=None):
        self.cv = cv
        self.transductive = transductive
        self.window_size = window_size
        self.buffer = buffer

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of folds of the wrapped splitter (on the labeled windows).

        Returns
        -------
        int
        """
        if y is None:
            return self.cv.get_n_splits(X, y, groups)
        labeled = _labeled_rows(y)
        g = None if groups is None else np.asarray(groups)[labeled]
        return self.cv.get_n_splits(None if X is None else np.asarray(X)[labeled], np.asarray(y)[labeled], g)

    def split(self, X, y, groups=None):
        """Generate train and test indices.

        Parameters
        ----------
        X : array-like of shape (n_windows, ...)
        y : array-like of shape (n_windows,) or (n_windows, n_targets)
            Rows of NaN mark unlabeled windows.
        groups : array-like of shape (n_windows, 2) or None
            Window positions: passed (labeled rows) to the wrapped splitter, and
            needed unless ``transductive=True``.

        Yields
        ------
        train, test : ndarray of int
        """
        if y is None:
            raise ValueError("SemiSupervisedSplit needs y: its rows of NaN mark the unlabeled windows")
        labeled_mask = _labeled_rows(y)
        labeled, unlabeled = np.flatnonzero(labeled_mask), np.flatnonzero(~labeled_mask)
        coords = None if groups is None else _check_coords(groups, len(labeled_mask))
        if not self.transductive:
            if coords is None:
                raise ValueError(
                    "SemiSupervisedSplit(transductive=False) needs the windows' positions (groups=coords) to keep "
                    "unlabeled windows of the test region out of training; pass them, or transductive=True"
                )
            size = self.window_size if self.window_size is not None else getattr(self.cv, "window_size", None)
            if size is None:
                raise ValueError("window_size is needed (the wrapped splitter has none)")
            buffer = self.buffer if self.buffer is not None else getattr(self.cv, "buffer", None)
            gap = int(size) // 2 if buffer is None else int(buffer)
        X_labeled = np.asarray(X)[labeled] if X is not None else labeled
        y_labeled = np.asarray(y)[labeled]
        groups_labeled = None if coords is None else coords[labeled]
        for train, test in self.cv.split(X_labeled, y_labeled, groups_labeled):
            test = labeled[test]
            extra = unlabeled
            if not self.transductive and unlabeled.size:
                extra = unlabeled[~near_windows(coords[unlabeled], coords[test], size, gap)]
            yield np.sort(np.concatenate([labeled[train], extra])), test


def test_overlap_fraction(train, test, coords, window_size):
    """Share of test windows that share at least one pixel with a training window.

    Parameters
    ----------
    train, test : array-like of int
        Indices into ``coords``.
    coords : array-like of shape (n_windows, 2)
        Window top-left corners.
    window_size : int

    Returns
    -------
    float
        0 for an honest split; close to 1 for a random split of stride-1 windows.
    """
    size = int(check_scalar(window_size, "window_size", kind=Integral, min_val=1))
    coords = _check_coords(coords, name="coords")
    train, test = np.asarray(train, dtype=int), np.asarray(test, dtype=int)
    if test.size == 0:
        return 0.0
    if train.size == 0:
        return 0.0
    origin, shape = _extent(coords, size)
    covered = _footprint_mask(coords[train], size, origin, shape)
    return float(_windows_touching(covered, coords[test], size, origin).mean())


# pytest would collect test_overlap_fraction as a test when imported into a test module
test_overlap_fraction.__test__ = False


def leakage_report(cv, coords, window_size, y=None):
    """How much each fold of a splitter leaks: test windows sharing pixels with training windows.

    Parameters
    ----------
    cv : cross-validation splitter
        Any object with ``split(X, y)`` (``KFold``, ``ShuffleSplit``, ...);
        a :class:`SpatialBlockSplit` also receives ``groups=coords``.
    coords : array-like of shape (n_windows, 2)
        Window top-left corners.
    window_size : int
    y : array-like, default=None
        Passed to ``split`` (for splitters that need it).

    Returns
    -------
    report : list of dict
        One dict per fold: ``n_train``, ``n_test``, ``n_unused`` (windows in the
        buffer) and ``test_overlap`` (share of test windows sharing a pixel with
        a training window).
    """
    coords = _check_coords(coords, name="coords")
    n = len(coords)
    placeholder = np.zeros((n, 1))
    report = []
    if isinstance(cv, SpatialBlockSplit):
        splits = cv.split(placeholder, y, groups=coords)
    else:  # most splitters ignore groups, and some warn when given them
        splits = cv.split(placeholder, y)
    for train, test in splits:
        report.append({
            "n_train": len(train),
            "n_test": len(test),
            "n_unused": n - len(train) - len(test),
            "test_overlap": test_overlap_fraction(train, test, coords, window_size),
        })
    return report
