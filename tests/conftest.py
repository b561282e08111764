"""Shared fixtures: tiny scenes and windows that keep the suite fast on 2 CPU cores."""

from pathlib import Path

import numpy as np
import pytest
import torch

from hyperspectral_cl.datasets import make_synthetic_scene

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    # CI machines have 2 cores; more threads than that only adds contention
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def scene():
    return make_synthetic_scene(n_endmembers=3, shape=(20, 20), n_bands=16, smoothness=1.5, random_state=0)


@pytest.fixture(scope="session")
def windows(scene):
    """(X, y): 7 x 7 windows (n=196) with 3 mean-abundance targets; read-only so no test can change them."""
    X, y, _ = scene.windows(7, stride=1)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def tiny_net_params(**overrides):
    """Parameters of a fast ContrastivePatchRegressor for tests."""
    params = dict(max_epochs=2, batch_size=64, random_state=0, module__n_planes=2)
    params.update(overrides)
    return params


def gen(seed, device="cpu"):
    """A seeded torch generator (what transforms take as ``generator``)."""
    return torch.Generator(device=device).manual_seed(seed)


def random_patches(n=16, b=8, s=5, *, dtype=torch.float32, device="cpu", seed=0):
    """Uniform [0, 1) patches (n, 1, b, s, s), drawn in float64 on CPU so every dtype/device sees the same values."""
    return torch.rand(n, 1, b, s, s, generator=gen(seed), dtype=torch.float64).to(dtype=dtype, device=device)


def int_patches(n=16, b=8, s=5, seed=0):
    """Integer-valued float64 patches: sums are exact in any order, values mostly distinct."""
    return torch.randint(-1000, 1000, (n, 1, b, s, s), generator=gen(seed)).to(torch.float64)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
