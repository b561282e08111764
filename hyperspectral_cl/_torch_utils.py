"""Small torch helpers shared by the estimator."""

from contextlib import contextmanager

from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["frozen_batchnorm_stats"]


@contextmanager
def frozen_batchnorm_stats(module):
    """Run forward passes in train mode without updating BatchNorm running statistics.

    Batch statistics still normalise the batch (train-mode behaviour), but the
    running mean and variance stay as they were: momentum is set to 0 for the
    duration and the batch counter restored afterwards. Used for the augmented
    view, so running statistics describe real data seen once per step.
    """
    saved = []
    for m in module.modules():
        if isinstance(m, _BatchNorm) and m.track_running_stats and m.training:
            counter = m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None
            saved.append((m, m.momentum, counter))
            m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, counter in saved:
            m.momentum = momentum
            if counter is not None:
                m.num_batches_tracked.copy_(counter)
