"""Mini-batches that mix labeled windows with a bounded number of unlabeled ones.

A scene holds far more unlabeled windows than labeled ones. An epoch of
:class:`LabeledUnlabeledBatchSampler` is one pass over the *labeled* windows,
in shuffled batches of ``batch_size``; each batch also gets
``unlabeled_batch_size`` unlabeled windows drawn at random (with replacement
across batches). The cost of an epoch therefore follows the labels, not the
size of the unlabeled pool, and every batch carries a regression signal.
"""

import math
from numbers import Integral

import numpy as np
import torch
from torch.utils.data import Sampler

from ._validation import check_scalar

__all__ = ["LabeledUnlabeledBatchSampler"]


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
