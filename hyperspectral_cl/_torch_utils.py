"""Small torch helpers shared by the estimator."""

from contextlib import contextmanager

import torch
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["frozen_batchnorm_stats", "seeded_torch_rng"]


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


@contextmanager
def seeded_torch_rng(seed, device="cpu"):
    """Seed torch's global generators for a block, restoring their state afterwards.

    With ``seed=None`` this does nothing. The CUDA generator of ``device`` is
    forked and seeded too when it is a CUDA device.
    """
    if seed is None:
        yield
        return
    dev = torch.device(device)
    devices = []
    if dev.type == "cuda" and torch.cuda.is_available():
        devices = [dev.index if dev.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        # seed only what was forked (torch.manual_seed would also reseed other GPUs for good)
        torch.default_generator.manual_seed(int(seed))
        for index in devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(int(seed))
        yield
