"""LabeledUnlabeledBatchSampler (epochs over the labeled windows, a bounded number of unlabeled ones per batch) and
UnlabeledPatches (a scene as a pool of patches cut on demand)."""

import numpy as np
import pytest
import torch

from hyperspectral_cl.sampling import LabeledUnlabeledBatchSampler, UnlabeledPatches


def batches(sampler):
    return [np.asarray(b) for b in sampler]


def test_an_epoch_is_one_pass_over_the_labeled_indices():
    labeled, unlabeled = np.arange(0, 23), np.arange(100, 1100)
    sampler = LabeledUnlabeledBatchSampler(labeled, unlabeled, batch_size=5, unlabeled_batch_size=7,
                                           generator=torch.Generator().manual_seed(0))
    out = batches(sampler)
    assert len(out) == len(sampler) == 5
    seen = np.concatenate([b[b < 100] for b in out])
    np.testing.assert_array_equal(np.sort(seen), labeled)  # each labeled index exactly once
    for b in out:
        extra = b[b >= 100]
        assert 1 <= len(extra) <= 7 and len(np.unique(extra)) == len(extra) and np.isin(extra, unlabeled).all()
        assert len(b[b < 100]) <= 5


def test_cost_does_not_depend_on_the_pool_and_draws_cover_it():
    pool = np.arange(10, 10_000_010)  # a scene-sized pool: drawing must not touch all of it
    sampler = LabeledUnlabeledBatchSampler([0, 1, 2, 3], pool, batch_size=2, unlabeled_batch_size=64,
                                           generator=torch.Generator().manual_seed(1))
    out = batches(sampler)
    assert len(out) == 2 and all(len(b) <= 2 + 64 for b in out)
    small = LabeledUnlabeledBatchSampler(np.arange(200), np.arange(200, 210), batch_size=10, unlabeled_batch_size=3,
                                         generator=torch.Generator().manual_seed(2))
    drawn = np.concatenate([b[b >= 200] for b in batches(small)])
    assert set(drawn) == set(range(200, 210))  # every unlabeled index gets drawn eventually


def test_seeded_and_zero_unlabeled():
    make = lambda: LabeledUnlabeledBatchSampler(range(9), range(9, 30), 4, 3,  # noqa: E731
                                                generator=torch.Generator().manual_seed(5))
    assert [b.tolist() for b in batches(make())] == [b.tolist() for b in batches(make())]
    none = LabeledUnlabeledBatchSampler(range(9), range(9, 30), 4, 0)
    assert all((b < 9).all() for b in batches(none))
    empty_pool = LabeledUnlabeledBatchSampler(range(3), [], 2, 5)
    assert [len(b) for b in batches(empty_pool)] == [2, 1]


@pytest.mark.parametrize("kwargs,match", [
    (dict(labeled=[], unlabeled=[1], batch_size=2, unlabeled_batch_size=1), "at least one labeled"),
    (dict(labeled=[0], unlabeled=[1], batch_size=0, unlabeled_batch_size=1), "batch_size must be >= 1"),
    (dict(labeled=[0], unlabeled=[1], batch_size=2, unlabeled_batch_size=-1), "unlabeled_batch_size must be >= 0"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LabeledUnlabeledBatchSampler(**kwargs)


# ----------------------------------------------------------------------------- UnlabeledPatches
def test_patches_are_the_windows_patch_extractor_would_give():
    from hyperspectral_cl import PatchExtractor, extract_windows

    cube = np.random.default_rng(0).random((30, 25, 6)).astype(np.float32)
    pool = UnlabeledPatches(cube, 5)
    patches, coords = pool.draw(20, generator=torch.Generator().manual_seed(0))
    windows, _, _ = extract_windows(cube, size=5, positions=coords)
    np.testing.assert_array_equal(patches.numpy(), PatchExtractor(5).fit_transform(windows))
    assert len(pool) == 26 * 21 and (coords >= 0).all() and (coords[:, 0] <= 25).all() and (coords[:, 1] <= 20).all()


def test_excluded_corners_are_never_drawn_and_without_near_excludes_the_neighbourhood():
    cube = np.zeros((20, 20, 3), np.float32)
    exclude = np.zeros((16, 16), bool)
    exclude[:8] = True
    pool = UnlabeledPatches(cube, 5, exclude=exclude)
    _, coords = pool.draw(500, generator=torch.Generator().manual_seed(0))
    assert (coords[:, 0] >= 8).all() and len(pool) == 8 * 16
    test = np.array([[12, 12]])  # a 7 x 7 window
    narrowed = pool.without_near(test, window_size=7, buffer=2)
    _, drawn = narrowed.draw(2000, generator=torch.Generator().manual_seed(1))
    from hyperspectral_cl.model_selection import near_windows

    assert not near_windows(drawn, test, 5, 2, reference_size=7).any()
    assert (drawn[:, 0] >= 8).all() and len(narrowed) < len(pool)


def test_memory_stays_at_a_batch_for_a_large_memmap_cube(tmp_path):
    import tracemalloc

    cube = np.lib.format.open_memmap(tmp_path / "cube.npy", mode="w+", dtype=np.float32, shape=(1000, 1000, 24))
    cube[::50, ::50] = 1.0
    cube.flush()
    cube = np.load(tmp_path / "cube.npy", mmap_mode="r")  # 96 MB on disk
    pool = UnlabeledPatches(cube, 9)
    tracemalloc.start()
    patches, _ = pool.draw(64, generator=torch.Generator().manual_seed(0))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    batch = patches.numel() * 4
    assert peak < 4 * batch + 2**20, (peak, batch)  # a few copies of the batch, nothing of the cube's size


def test_bad_pools():
    with pytest.raises(ValueError, match="shape \\(height, width, n_bands\\)"):
        UnlabeledPatches(np.zeros((5, 5)), 3)
    with pytest.raises(ValueError, match="larger than the cube"):
        UnlabeledPatches(np.zeros((5, 5, 2)), 6)
    with pytest.raises(ValueError, match="exclude must have shape \\(3, 3\\)"):
        UnlabeledPatches(np.zeros((5, 5, 2)), 3, exclude=np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match="every window of the cube is excluded"):
        UnlabeledPatches(np.zeros((5, 5, 2)), 3, exclude=np.ones((3, 3), bool))
    cube = np.zeros((6, 6, 2))
    cube[:] = np.nan
    with pytest.raises(ValueError, match="holds NaN or infinity"):
        UnlabeledPatches(cube, 3).draw(2)
