"""LabeledUnlabeledBatchSampler: epochs over the labeled windows, a bounded number of unlabeled ones per batch."""

import numpy as np
import pytest
import torch

from hyperspectral_cl.sampling import LabeledUnlabeledBatchSampler


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
