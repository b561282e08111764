"""augment/_functional.py: smooth noise fields, cache blocking, random draws on the generator's device."""

import pytest
import torch
from conftest import gen, random_patches

from hyperspectral_cl.augment import AUGMENTATIONS, make_augmentation
from hyperspectral_cl.augment._functional import smooth_noise

NAMES = sorted(AUGMENTATIONS)
patches = random_patches


# --------------------------------------------------------------------------- #
# smooth noise fields (the displacements of the elastic transforms)
# --------------------------------------------------------------------------- #
def test_elastic_distortion_field_statistics():
    # the displacement field has std alpha and is smooth at the scale sigma
    x = torch.zeros(1, dtype=torch.float64)
    d = 3.0 * smooth_noise((4000,), (60,), 5.0, x, gen(0))
    assert abs(d.std().item() - 3.0) < 0.1
    assert abs(d.mean().item()) < 0.1
    lag1 = torch.corrcoef(torch.stack([d[:, :-1].reshape(-1), d[:, 1:].reshape(-1)]))[0, 1].item()
    assert lag1 > 0.95  # neighbouring bands move together
    far = torch.corrcoef(torch.stack([d[:, :-30].reshape(-1), d[:, 30:].reshape(-1)]))[0, 1].item()
    assert abs(far) < 0.05


# --------------------------------------------------------------------------- #
# cache blocking on CPU gives the same result as one block
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", ["hapke", "elastic_distortion", "nn_mixing"])
def test_blockwise_processing_matches_single_block(name, monkeypatch):
    import hyperspectral_cl.augment._functional as functional

    x = patches(37, b=9, s=4, dtype=torch.float64)
    t = make_augmentation(name)
    whole = t(x, generator=gen(0))
    monkeypatch.setattr(functional, "BLOCK_ELEMENTS", 5 * 9 * 16)  # blocks of 5 samples, a ragged last one
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)  # blocks are used single-threaded only
    blocked = t(x, generator=gen(0))
    torch.testing.assert_close(blocked, whole, rtol=1e-12, atol=1e-12)
    assert not torch.equal(blocked, x)


# --------------------------------------------------------------------------- #
# parameters are drawn on the generator's device
# --------------------------------------------------------------------------- #
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", NAMES + ["spectral-spatial"])
def test_cpu_generator_with_cuda_input_matches_cpu(name):
    # parameters are drawn on the generator's device: the same draws, so (nearly) the same output
    t = make_augmentation(name)
    x = patches(16, dtype=torch.float64)
    on_cpu = t(x, generator=gen(0))
    on_gpu = t(x.cuda(), generator=gen(0))
    assert on_gpu.is_cuda
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-6, atol=1e-6)
