"""SpatialBlockSplit: no test window shares a pixel with a training window; sklearn and skorch integration."""

import numpy as np
import pytest
from conftest import tiny_net_params
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline

from hyperspectral_cl import ContrastivePatchRegressor, MeanSpectrum, PatchExtractor
from hyperspectral_cl.datasets import make_synthetic_scene
from hyperspectral_cl.model_selection import (
    SemiSupervisedSplit,
    SpatialBlockSplit,
    leakage_report,
    near_windows,
    spatial_holdout,
    test_overlap_fraction,
)


def pixel_sets(coords, size, h, w, border):
    """The set of image pixels each window reads (reflected pixels map back inside the image)."""
    out = []
    for r, c in coords:
        rows = np.arange(r, r + size)
        cols = np.arange(c, c + size)
        if border == "reflect":
            rows = np.where(rows < 0, -rows - 1, np.where(rows >= h, 2 * h - 1 - rows, rows))
            cols = np.where(cols < 0, -cols - 1, np.where(cols >= w, 2 * w - 1 - cols, cols))
        out.append({(int(i), int(j)) for i in rows for j in cols})
    return out


@pytest.fixture(scope="module")
def scene():
    return make_synthetic_scene(n_endmembers=3, shape=(30, 36), n_bands=6, smoothness=2.0, random_state=0)


@pytest.mark.parametrize(
    "size,stride,border,n_blocks,n_splits,buffer",
    [
        (5, 1, "valid", (2, 2), None, 0),
        (5, 1, "valid", (1, 3), None, None),
        (4, 1, "reflect", (3, 1), None, 0),
        (7, 2, "valid", (3, 3), 3, 1),
        (3, 1, "reflect", 2, None, None),
    ],
)
def test_no_test_window_shares_a_pixel_with_a_training_window(scene, size, stride, border, n_blocks, n_splits, buffer):
    X, y, coords = scene.windows(size, stride=stride, border=border)
    h, w = scene.shape[:2]
    cv = SpatialBlockSplit(size, n_blocks=n_blocks, n_splits=n_splits, buffer=buffer)
    pixels = pixel_sets(coords, size, h, w, border)
    tested = np.zeros(len(X), dtype=int)
    gap = size // 2 if buffer is None else buffer
    for train, test in cv.split(X, y, groups=coords):
        assert len(train) and len(test) and not set(train) & set(test)
        tested[test] += 1
        train_pixels = set().union(*(pixels[i] for i in train))
        test_pixels = set().union(*(pixels[i] for i in test))
        assert not train_pixels & test_pixels  # the property, on the windows' actual pixels
        # and the buffer: Chebyshev distance between the pixel sets exceeds it
        tr = np.array(sorted(train_pixels))
        te = np.array(sorted(test_pixels))
        dist = np.abs(tr[:, None, :] - te[None, :, :]).max(-1).min()
        assert dist > gap
        assert test_overlap_fraction(train, test, coords, size) == 0.0
    np.testing.assert_array_equal(tested, 1)  # every window is tested exactly once
    assert cv.get_n_splits() == (n_splits or int(np.prod(np.broadcast_to(n_blocks, 2))))


def test_random_kfold_overlaps_and_spatial_does_not(scene):
    X, y, coords = scene.windows(5)
    random = leakage_report(KFold(5, shuffle=True, random_state=0), coords, 5)
    spatial = leakage_report(SpatialBlockSplit(5, n_blocks=(1, 5)), coords, 5)
    assert min(f["test_overlap"] for f in random) > 0.99  # nearly every random test window leaks
    assert all(f["test_overlap"] == 0.0 for f in spatial)
    assert all(f["n_unused"] > 0 for f in spatial) and all(f["n_unused"] == 0 for f in random)
    # and the leak shows in the score: random CV is optimistic
    model = make_pipeline(MeanSpectrum(), Ridge(alpha=1e-6))
    r2_random = cross_val_score(model, X, y, cv=KFold(5, shuffle=True, random_state=0)).mean()
    r2_spatial = cross_val_score(model, X, y, groups=coords, cv=SpatialBlockSplit(5, n_blocks=(1, 5))).mean()
    assert r2_random > r2_spatial


def test_works_in_grid_search_and_cross_validate(scene):
    X, y, coords = scene.windows(5)
    cv = SpatialBlockSplit(5, n_blocks=(2, 2))
    search = GridSearchCV(make_pipeline(MeanSpectrum(), Ridge()), {"ridge__alpha": [1e-4, 1e-1]}, cv=cv)
    search.fit(X, y, groups=coords)
    assert len(search.cv_results_["split3_test_score"]) == 2
    res = cross_validate(make_pipeline(MeanSpectrum(), Ridge()), X, y, groups=coords, cv=cv,
                         return_indices=True)
    for train, test in zip(res["indices"]["train"], res["indices"]["test"], strict=True):
        assert test_overlap_fraction(train, test, coords, 5) == 0.0
    assert "SpatialBlockSplit(" in repr(cv) and "window_size=5" in repr(cv)


def test_as_skorch_internal_validation_split(scene):
    from skorch.dataset import Dataset, ValidSplit

    X, y, coords = scene.windows(5)
    cv = SpatialBlockSplit(5, n_blocks=(1, 4))
    train_ds, valid_ds = ValidSplit(cv)(Dataset(X, y), y, groups=coords)
    train, valid = next(cv.split(X, groups=coords))  # skorch uses the first fold
    np.testing.assert_array_equal(train_ds.indices, train)
    np.testing.assert_array_equal(valid_ds.indices, valid)
    assert test_overlap_fraction(train_ds.indices, valid_ds.indices, coords, 5) == 0.0


def test_contrastive_regressor_with_spatial_valid_split(scene):
    """End to end: groups reach skorch's train_split through a Pipeline."""
    from conftest import tiny_net_params
    from skorch.dataset import ValidSplit

    from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor

    X, y, coords = scene.windows(5, stride=2)
    net = ContrastivePatchRegressor(
        "li", train_split=ValidSplit(SpatialBlockSplit(5, n_blocks=(1, 3))), **tiny_net_params(max_epochs=1)
    )
    pipe = make_pipeline(PatchExtractor(5), net)
    pipe.fit(X, y, contrastivepatchregressor__groups=coords)
    assert "valid_loss" in net.history_[-1]
    assert pipe.predict(X[:3]).shape == (3, 3)


def test_subsets_keep_positions_aligned(scene):
    # a subset of windows with its own coords: the guarantee holds on the subset
    X, y, coords = scene.windows(5)
    keep = np.random.default_rng(0).permutation(len(X))[:300]
    cv = SpatialBlockSplit(5, n_blocks=(2, 2), buffer=0)
    for train, test in cv.split(X[keep], groups=coords[keep]):
        assert test_overlap_fraction(train, test, coords[keep], 5) == 0.0


def test_fold_assignment_and_shuffle(scene):
    _, _, coords = scene.windows(3)
    cv = SpatialBlockSplit(3, n_blocks=(2, 4), n_splits=4)
    blocks = cv.block_labels(coords)
    assert set(np.unique(blocks)) == set(range(8))
    folds = cv.fold_labels(coords)
    assert set(np.unique(folds)) == set(range(4))
    a = SpatialBlockSplit(3, n_blocks=(2, 4), n_splits=4, shuffle=True, random_state=1).fold_labels(coords)
    b = SpatialBlockSplit(3, n_blocks=(2, 4), n_splits=4, shuffle=True, random_state=1).fold_labels(coords)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs,groups,exc,match",
    [
        ({}, None, ValueError, "pass groups=coords"),
        ({}, np.zeros(10), ValueError, r"\(n_windows, 2\)"),
        ({}, np.full((10, 2), 0.5), TypeError, "integer"),
        ({"n_blocks": 1}, "coords", ValueError, "at least 2 blocks"),
        ({"n_blocks": (2, "a")}, "coords", TypeError, r"n_blocks\[1\]"),
        ({"n_splits": 9}, "coords", ValueError, "n_splits must be <= 4"),
        ({"buffer": -1}, "coords", ValueError, "buffer"),
        ({"n_blocks": (1, 2), "buffer": 40}, "coords", ValueError, "no training window left"),
    ],
)
def test_errors(scene, kwargs, groups, exc, match):
    X, _, coords = scene.windows(5)
    groups = coords if isinstance(groups, str) else groups
    with pytest.raises(exc, match=match):
        list(SpatialBlockSplit(5, **kwargs).split(X, groups=groups))


def test_empty_block_and_length_mismatch():
    coords = np.array([[0, 0], [0, 1], [0, 30], [0, 31]])  # nothing in the middle block
    with pytest.raises(ValueError, match="fold 1 has no test window"):
        list(SpatialBlockSplit(2, n_blocks=(1, 3), buffer=0).split(groups=coords))
    with pytest.raises(ValueError, match="4 rows for 5 samples"):
        list(SpatialBlockSplit(2, n_blocks=(1, 2)).split(np.zeros((5, 1)), groups=coords))


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(1, 6),
    n_rows=st.integers(1, 3),
    n_cols=st.integers(1, 3),
    buffer=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_no_overlap_for_arbitrary_window_positions(size, n_rows, n_cols, buffer, seed):
    """Irregular positions (sampled pixels, reflect corners): brute-force pixel check."""
    if n_rows * n_cols < 2:
        n_cols = 2
    rng = np.random.default_rng(seed)
    coords = rng.integers(-(size // 2), 25, size=(60, 2))
    cv = SpatialBlockSplit(size, n_blocks=(n_rows, n_cols), buffer=buffer)
    try:
        splits = list(cv.split(groups=coords))
    except ValueError as exc:  # an empty block or a buffer that eats the training set is reported, not hidden
        assert "no test window" in str(exc) or "no training window" in str(exc)
        return
    tested = np.zeros(len(coords), dtype=int)
    for train, test in splits:
        tested[test] += 1
        tr, te = coords[train], coords[test]
        # footprints [r, r + size) grown by the buffer must not meet
        gap_r = np.maximum(tr[:, None, 0] - te[None, :, 0], te[None, :, 0] - tr[:, None, 0]) - size
        gap_c = np.maximum(tr[:, None, 1] - te[None, :, 1], te[None, :, 1] - tr[:, None, 1]) - size
        assert (np.maximum(gap_r, gap_c) >= buffer).all()
    np.testing.assert_array_equal(tested, 1)


# ----------------------------------------------------------------------------- spatial_holdout, near_windows
def grid_coords(n):
    rows, cols = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return np.stack([rows.ravel(), cols.ravel()], axis=1)


@pytest.mark.parametrize("size,test_size,seed", [(3, 0.15, 0), (5, 0.3, 1), (7, 0.1, 2)])
@pytest.mark.parametrize("layout", ["auto", "strip", "blocks"])
def test_spatial_holdout_is_disjoint_buffered_and_large_enough(size, test_size, seed, layout):
    coords = grid_coords(40)
    train, test = spatial_holdout(coords, size, test_size=test_size, layout=layout, random_state=seed)
    assert len(test) >= test_size * len(coords) and len(np.intersect1d(train, test)) == 0
    assert test_overlap_fraction(train, test, coords, size) == 0.0
    # naive check of the buffer: every training window is more than size // 2 pixels from every test window
    gap = size // 2
    for i in train[::37]:
        d = np.maximum(np.abs(coords[test] - coords[i]) - size + 1, 0).max(axis=1)
        assert d.min() > gap
    again = spatial_holdout(coords, size, test_size=test_size, layout=layout, random_state=seed)
    np.testing.assert_array_equal(again[1], test)


def test_spatial_holdout_strip_by_hand():
    # a 10 x 4 grid of 1 x 1 windows, 25% held out, buffer 1: a row strip (rows 0-2 or 7-9, 12 windows) leaves
    # rows 4-9 or 0-5 (24 windows); a column strip (column 0 or 3, 10 windows) only 20, its neighbour column lost
    rows, cols = np.meshgrid(np.arange(10), np.arange(4), indexing="ij")
    coords = np.stack([rows.ravel(), cols.ravel()], axis=1)
    seen = set()
    for seed in range(8):
        train, test = spatial_holdout(coords, 1, test_size=0.25, layout="strip", buffer=1, random_state=seed)
        held = tuple(sorted(set(coords[test, 0].tolist())))
        assert held in {(0, 1, 2), (7, 8, 9)} and len(test) == 12 and len(train) == 24
        kept = set(coords[train, 0].tolist())
        assert kept == ({4, 5, 6, 7, 8, 9} if held == (0, 1, 2) else {0, 1, 2, 3, 4, 5})
        seen.add(held)
    assert len(seen) == 2  # the two equally good sides are both drawn
    # without a buffer, a column strip (10 windows, 30 left) beats a row strip (12 windows, 28 left)
    train, test = spatial_holdout(coords, 1, test_size=0.25, layout="strip", buffer=0, random_state=0)
    assert len(test) == 10 and len(set(coords[test, 1].tolist())) == 1 and len(train) == 30


def test_spatial_holdout_auto_keeps_the_most_training_windows():
    # every window of a labelled area: random blocks leave a network little to train on, a strip more
    rows, cols = np.meshgrid(np.arange(56), np.arange(24), indexing="ij")
    coords = np.stack([rows.ravel(), cols.ravel()], axis=1)
    train, test = spatial_holdout(coords, 7, layout="strip", random_state=0)
    assert len(train) == 912 and len(test) == 216 and test_overlap_fraction(train, test, coords, 7) == 0.0
    kept = [len(spatial_holdout(coords, 7, layout="blocks", random_state=s)[0]) for s in range(6)]
    assert max(kept) < len(train) and min(kept) < 0.2 * len(coords)  # 216 to 456 of 1,344
    for seed in range(3):
        auto_train, auto_test = spatial_holdout(coords, 7, random_state=seed)
        assert len(auto_train) == 912 and test_overlap_fraction(auto_train, auto_test, coords, 7) == 0.0


def test_spatial_holdout_keeps_every_target_in_training():
    # one target ('water') only varies along the bottom edge: the bottom strip would take nearly all of it
    rows, cols = np.meshgrid(np.arange(56), np.arange(24), indexing="ij")
    coords = np.stack([rows.ravel(), cols.ravel()], axis=1)
    r, c = coords[:, 0], coords[:, 1]
    y = np.column_stack([c / 23.0, np.where(r >= 46, (r - 45) / 10.0, 0.0)])
    for seed in range(4):
        train, test = spatial_holdout(coords, 7, y=y, random_state=seed)
        kept = y[train].std(axis=0) / y.std(axis=0)
        assert kept.min() >= 0.5 and test_overlap_fraction(train, test, coords, 7) == 0.0
        assert not (coords[test, 0] >= 46).all()  # not the water strip
    # no candidate keeps half the spread: the most representative one is taken
    lone = np.zeros(len(coords))
    lone[0] = 1.0
    train, test = spatial_holdout(coords, 7, y=lone, random_state=0)
    assert 0 in train


def test_spatial_holdout_holds_out_test_size_when_one_block_holds_most_windows():
    # a dense area and three windows far away: a block draw capped to leave one block holds out only the three
    coords = np.concatenate([grid_coords(12), [[80, 80], [80, 95], [95, 80]]])
    for seed in range(4):
        train, test = spatial_holdout(coords, 5, test_size=0.15, random_state=seed)
        assert len(test) >= 0.15 * len(coords) and test_overlap_fraction(train, test, coords, 5) == 0.0


def test_spatial_holdout_refuses_bad_targets():
    coords = grid_coords(10)
    with pytest.raises(ValueError, match=r"y must hold finite targets, one row per window: shape \(100,\)"):
        spatial_holdout(coords, 3, y=np.zeros(99))
    with pytest.raises(ValueError, match="non-finite values"):
        spatial_holdout(coords, 3, y=np.full(100, np.nan))


def test_spatial_holdout_errors():
    with pytest.raises(ValueError, match="at least two blocks"):
        spatial_holdout(np.zeros((5, 2), int), 3, layout="blocks")
    with pytest.raises(ValueError, match="same position"):
        spatial_holdout(np.zeros((5, 2), int), 3)
    with pytest.raises(ValueError, match="layout must be 'auto', 'strip' or 'blocks', got 'grid'"):
        spatial_holdout(grid_coords(10), 3, layout="grid")
    with pytest.raises(ValueError, match="test_size must be < 1"):
        spatial_holdout(grid_coords(10), 3, test_size=1.0)


def test_near_windows_matches_a_loop():
    rng = np.random.default_rng(0)
    coords, reference = rng.integers(0, 30, (200, 2)), rng.integers(0, 30, (5, 2))
    for size, buffer in ((3, 0), (5, 2)):
        got = near_windows(coords, reference, size, buffer)
        # windows [c, c + size) grown by buffer overlap when the gap along both axes is at most buffer
        gap = np.maximum(np.abs(coords[:, None, :] - reference[None, :, :]) - size + 1, 0).max(axis=2)
        np.testing.assert_array_equal(got, (gap <= buffer).any(axis=1))
    assert not near_windows(coords, np.zeros((0, 2), int), 3).any()


# ----------------------------------------------------------------------------- SemiSupervisedSplit
def semi_data(n=24, every=5):
    coords = grid_coords(n)
    y = np.full((len(coords), 2), np.nan)
    y[::every] = np.random.default_rng(0).random((len(y[::every]), 2))
    return coords, y


@pytest.mark.parametrize("transductive", [False, True])
def test_semi_supervised_split_tests_and_scores_only_labeled_windows(transductive):
    coords, y = semi_data()
    labeled = ~np.isnan(y).any(axis=1)
    inner = SpatialBlockSplit(3, n_blocks=(2, 2))
    cv = SemiSupervisedSplit(inner, transductive=transductive)
    folds = list(cv.split(coords, y, groups=coords))
    assert len(folds) == cv.get_n_splits(coords, y, coords) == 4
    inner_folds = list(inner.split(coords[labeled], groups=coords[labeled]))
    for (train, test), (itrain, itest) in zip(folds, inner_folds, strict=True):
        np.testing.assert_array_equal(test, np.flatnonzero(labeled)[itest])  # the inner split of the labeled rows
        assert labeled[test].all()
        np.testing.assert_array_equal(train[labeled[train]], np.flatnonzero(labeled)[itrain])
        unlabeled_train = train[~labeled[train]]
        if transductive:
            np.testing.assert_array_equal(unlabeled_train, np.flatnonzero(~labeled))
        else:  # no unlabeled window within half a window of a test window
            assert not near_windows(coords[unlabeled_train], coords[test], 3, 1).any()
            assert 0 < len(unlabeled_train) < (~labeled).sum()


def test_semi_supervised_split_needs_positions_unless_transductive():
    coords, y = semi_data()
    with pytest.raises(ValueError, match="needs the windows' positions"):
        next(SemiSupervisedSplit(SpatialBlockSplit(3)).split(coords, y))
    with pytest.raises(ValueError, match="needs y"):
        next(SemiSupervisedSplit(SpatialBlockSplit(3)).split(coords, None, groups=coords))
    with pytest.raises(ValueError, match="window_size is needed"):
        next(SemiSupervisedSplit(KFold(2)).split(coords, y, groups=coords))
    train, test = next(SemiSupervisedSplit(KFold(2), transductive=True).split(coords, y))
    assert (~np.isnan(y[test])).all()


def test_cross_validation_of_a_semi_supervised_pipeline_scores_labeled_windows_only(scene):
    X, y, coords = scene.windows(5)
    y = np.array(y)
    y[np.random.default_rng(1).random(len(y)) > 0.4] = np.nan
    model = make_pipeline(PatchExtractor(5), ContrastivePatchRegressor(
        "li", semi_supervised=True, **tiny_net_params(max_epochs=1)))
    cv = SemiSupervisedSplit(SpatialBlockSplit(5, n_blocks=(2, 1)))
    scores = cross_val_score(model, X, y, groups=coords, cv=cv,
                             params={"contrastivepatchregressor__groups": coords})
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_semi_supervised_split_takes_the_wrapped_splitters_buffer():
    coords, y = semi_data(n=30)
    labeled = ~np.isnan(y).any(axis=1)
    cv = SemiSupervisedSplit(SpatialBlockSplit(3, n_blocks=(2, 2), buffer=6))
    for train, test in cv.split(coords, y, groups=coords):
        unlabeled_train = train[~labeled[train]]
        assert not near_windows(coords[unlabeled_train], coords[test], 3, 6).any()
        assert near_windows(coords[~labeled], coords[test], 3, 6).any()  # (there were some to drop)


def test_every_splitter_that_reads_positions_requests_groups_for_metadata_routing():
    import inspect

    from sklearn.model_selection._split import GroupsConsumerMixin

    import hyperspectral_cl.model_selection as ms

    splitters = [getattr(ms, name) for name in ms.__all__
                 if inspect.isclass(getattr(ms, name)) and hasattr(getattr(ms, name), "split")]
    assert {cls.__name__ for cls in splitters} >= {"SpatialBlockSplit", "SemiSupervisedSplit"}
    for cls in splitters:
        assert "groups" in inspect.signature(cls.split).parameters
        assert issubclass(cls, GroupsConsumerMixin), cls


@pytest.mark.parametrize("make_cv", [
    lambda: SpatialBlockSplit(5, n_blocks=(2, 2)),
    lambda: SpatialBlockSplit(5, n_blocks=(3, 2), n_splits=3, shuffle=True, random_state=0),
    lambda: SemiSupervisedSplit(SpatialBlockSplit(5, n_blocks=(2, 2))),
    lambda: SemiSupervisedSplit(SpatialBlockSplit(5, n_blocks=(1, 3)), transductive=True),
], ids=["spatial", "spatial-shuffled", "semi-supervised", "semi-supervised-transductive"])
def test_groups_reach_the_splitter_with_metadata_routing_enabled(scene, make_cv):
    import sklearn

    X, y, coords = scene.windows(5)
    cv = make_cv()
    expected = list(cv.split(X, y, groups=coords))
    model = make_pipeline(MeanSpectrum(), Ridge())
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(model, {"ridge__alpha": [1e-4, 1e-1]}, cv=cv).fit(X, y, groups=coords)
        # (with routing on, cross_validate takes groups through params)
        res = cross_validate(model, X, y, params={"groups": coords}, cv=cv, return_indices=True)
    assert len(search.cv_results_["mean_test_score"]) == 2 and np.isfinite(search.best_score_)
    folds = list(zip(res["indices"]["train"], res["indices"]["test"], strict=True))
    assert len(folds) == len(expected)
    for (train, test), (expected_train, expected_test) in zip(folds, expected, strict=True):
        np.testing.assert_array_equal(train, expected_train)
        np.testing.assert_array_equal(test, expected_test)
        assert test_overlap_fraction(train, test, coords, 5) == 0.0
