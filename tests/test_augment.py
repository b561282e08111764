"""Augmentations on batches of hyperspectral patches (N, 1, B, S, S)."""

import pickle

import numpy as np
import pytest
import torch
from conftest import gen, random_patches
from sklearn.base import BaseEstimator, clone

from hyperspectral_cl.augment import (
    AUGMENTATION_GROUPS,
    AUGMENTATIONS,
    BandErasure,
    Compose,
    RandomChoice,
    RandomFlip,
    Transform,
    make_augmentation,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
NAMES = sorted(AUGMENTATIONS)
SPECTRAL_NAMES = [
    "spectral_shift",
    "spectral_flip",
    "hapke",
    "atmospheric",
    "elastic_distortion",
    "band_erasure",
    "band_permutation",
    "nn_mixing",
]
SPATIAL_NAMES = ["rotation", "elastic_deformation", "flip", "translation"]
# transforms whose default draws nothing that changes the output (the paper's spectral flip always flips)
DETERMINISTIC_BY_DEFAULT = {"spectral_flip"}


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
class AddOne(Transform):
    def apply(self, x, generator):
        return x + 1


class AddTwo(Transform):
    def apply(self, x, generator):
        return x + 2


class Double(Transform):
    def apply(self, x, generator):
        return x * 2


patches = random_patches


def erased_bands(out, fill):
    """(N, B) bool: bands equal to ``fill`` in every pixel of the sample."""
    return (out == fill).all(dim=-1).all(dim=-1)[:, 0]


# --------------------------------------------------------------------------- #
# 1. generic properties of every registered transform
# --------------------------------------------------------------------------- #
def test_registry_contents():
    assert AUGMENTATION_GROUPS["spectral"] == SPECTRAL_NAMES  # the paper's order
    assert AUGMENTATION_GROUPS["spatial"] == SPATIAL_NAMES
    assert set(AUGMENTATIONS) == set(SPECTRAL_NAMES) | set(SPATIAL_NAMES)
    assert AUGMENTATIONS["band_erasure"] is BandErasure
    assert AUGMENTATIONS["flip"] is RandomFlip
    assert "band_erasure" in AUGMENTATION_GROUPS["spectral"]
    assert "flip" in AUGMENTATION_GROUPS["spatial"]
    for group, names in AUGMENTATION_GROUPS.items():
        assert group in ("spectral", "spatial")
        for name in names:
            assert name in AUGMENTATIONS


@pytest.mark.parametrize("name", NAMES + ["spectral-spatial"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_transform_generic_properties(name, dtype, device):
    t = make_augmentation(name)
    x = patches(16, dtype=dtype, device=device)
    x_before = x.clone()
    out = t(x, generator=gen(0, device))
    assert out.shape == x.shape
    assert out.dtype == dtype
    assert out.device == x.device
    assert torch.isfinite(out).all()
    assert torch.equal(x, x_before), "input was modified"
    assert out.data_ptr() != x.data_ptr()
    assert not torch.equal(out, x), "a random batch of 16 should be changed"
    # same seed, same output; different seed, different output
    assert torch.equal(t(x, generator=gen(0, device)), out)
    if name not in DETERMINISTIC_BY_DEFAULT:
        assert not torch.equal(t(x, generator=gen(1, device)), out)
    assert torch.equal(x, x_before)


@pytest.mark.parametrize("name", NAMES)
def test_global_generator_reproducible(name):
    t = AUGMENTATIONS[name]()
    x = patches(16)
    torch.manual_seed(123)
    a = t(x)
    torch.manual_seed(123)
    b = t(x)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_output_is_new_tensor_even_when_unchanged(name):
    # a flip with p=0 and an erasure writing the value already there leave values unchanged
    t = RandomFlip(p=0.0) if name == "flip" else AUGMENTATIONS[name]()
    x = patches(4)
    out = t(x, generator=gen(0))
    out.add_(1.0)  # writing into the output must not touch the input
    assert torch.equal(x, patches(4))


# --------------------------------------------------------------------------- #
# 2. RandomFlip
# --------------------------------------------------------------------------- #
def test_flip_horizontal_only():
    x = patches(8, s=5)
    out = RandomFlip(p=1.0, horizontal=True, vertical=False)(x, generator=gen(0))
    assert torch.equal(out, x.flip(-1))


def test_flip_vertical_only():
    x = patches(8, s=5)
    out = RandomFlip(p=1.0, horizontal=False, vertical=True)(x, generator=gen(0))
    assert torch.equal(out, x.flip(-2))


def test_flip_both_twice_is_identity():
    x = patches(8, s=4)
    t = RandomFlip(p=1.0)
    once = t(x, generator=gen(0))
    assert torch.equal(once, x.flip(-1).flip(-2))
    assert torch.equal(t(once, generator=gen(1)), x)


def test_flip_disabled_or_p_zero_is_identity():
    x = patches(8)
    assert torch.equal(RandomFlip(p=0.0)(x, generator=gen(0)), x)
    assert torch.equal(RandomFlip(p=1.0, horizontal=False, vertical=False)(x, generator=gen(0)), x)


def test_flip_each_sample_is_one_of_four_flips_and_all_occur():
    x = patches(200, b=3, s=4)
    out = RandomFlip(p=0.5)(x, generator=gen(3))
    candidates = [x, x.flip(-1), x.flip(-2), x.flip(-1).flip(-2)]
    seen = set()
    for i in range(x.shape[0]):
        matches = [k for k, c in enumerate(candidates) if torch.equal(out[i], c[i])]
        assert matches, f"sample {i} is not a flip of its input"
        seen.add(matches[0])
    assert seen == {0, 1, 2, 3}


def test_flip_preserves_patch_means():
    # integer-valued floats: every sum is exact whatever the order
    g = gen(0)
    x = torch.randint(-50, 50, (64, 1, 6, 5, 5), generator=g).to(torch.float64)
    out = RandomFlip(p=0.5)(x, generator=gen(1))
    assert not torch.equal(out, x)
    assert torch.equal(out.mean(dim=(1, 2, 3, 4)), x.mean(dim=(1, 2, 3, 4)))
    # and per band: the same multiset of pixel values
    a = out.reshape(64, 6, -1).sort(dim=-1).values
    b = x.reshape(64, 6, -1).sort(dim=-1).values
    assert torch.equal(a, b)


def test_flip_odd_size_keeps_centre_pixel():
    x = patches(32, s=5)
    out = RandomFlip(p=0.5)(x, generator=gen(0))
    assert torch.equal(out[..., 2, 2], x[..., 2, 2])


def test_flip_disabled_axis_keeps_random_stream():
    # the draw for a disabled axis still happens: the vertical decisions are the same
    x = patches(64, s=4)
    both = RandomFlip(p=0.5)(x, generator=gen(5))
    vert = RandomFlip(p=0.5, horizontal=False)(x, generator=gen(5))
    for i in range(64):
        v_flipped = torch.equal(vert[i], x[i].flip(-2)) and not torch.equal(x[i], x[i].flip(-2))
        if v_flipped:
            assert torch.equal(both[i], x[i].flip(-2)) or torch.equal(both[i], x[i].flip(-1).flip(-2))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_flip_bad_p(p):
    with pytest.raises(ValueError, match="p"):
        RandomFlip(p=p)(patches(2), generator=gen(0))


# --------------------------------------------------------------------------- #
# 3. BandErasure
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("min_fraction", "max_fraction", "fill", "b"),
    [(0.05, 0.25, 0.0, 40), (0.1, 0.3, -1.0, 23), (0.0, 0.0, 0.0, 10), (0.0, 0.1, 0.5, 7), (1.0, 1.0, 0.0, 6)],
)
def test_band_erasure_single_contiguous_run(min_fraction, max_fraction, fill, b):
    x = patches(300, b=b, s=3) + 1.0  # values in [1, 2): none equals fill
    t = BandErasure(min_fraction=min_fraction, max_fraction=max_fraction, fill=fill)
    out = t(x, generator=gen(0))
    erased = erased_bands(out, fill)
    lo = max(1, round(min_fraction * b))
    hi = max(1, round(max_fraction * b))
    for i in range(x.shape[0]):
        idx = erased[i].nonzero()[:, 0].tolist()
        assert idx, f"sample {i}: no band erased"
        assert idx == list(range(idx[0], idx[-1] + 1)), f"sample {i}: run not contiguous {idx}"
        assert lo <= len(idx) <= hi
        # every pixel of an erased band is fill; every other band untouched
        assert (out[i, :, idx] == fill).all()
        keep = ~erased[i]
        assert torch.equal(out[i, :, keep], x[i, :, keep])


def test_band_erasure_fixed_fraction():
    x = patches(500, b=40, s=2) + 1.0
    out = BandErasure(min_fraction=0.25, max_fraction=0.25)(x, generator=gen(0))
    erased = erased_bands(out, 0.0)
    assert (erased.sum(dim=1) == 10).all()
    # the start is uniform over all 31 positions: both extremes occur
    starts = erased.float().argmax(dim=1)
    assert int(starts.min()) == 0
    assert int(starts.max()) == 30
    assert len(set(starts.tolist())) == 31


def test_band_erasure_mean_fraction():
    x = patches(2000, b=100, s=1) + 1.0
    out = BandErasure(min_fraction=0.1, max_fraction=0.3)(x, generator=gen(0))
    frac = erased_bands(out, 0.0).double().mean(dim=1)
    assert abs(frac.mean().item() - 0.2) < 0.01
    assert frac.min().item() >= 0.1 and frac.max().item() <= 0.3


def test_band_erasure_covers_every_band():
    x = patches(500, b=12, s=2) + 1.0
    out = BandErasure(min_fraction=0.1, max_fraction=0.2)(x, generator=gen(0))
    assert erased_bands(out, 0.0).any(dim=0).all()


def test_band_erasure_single_band():
    x = patches(5, b=1, s=3) + 1.0
    out = BandErasure()(x, generator=gen(0))
    assert (out == 0.0).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_fraction": -0.1},
        {"min_fraction": 0.5, "max_fraction": 0.2},
        {"max_fraction": 1.5},
        {"fill": float("nan")},
    ],
)
def test_band_erasure_bad_params(kwargs):
    with pytest.raises(ValueError):
        BandErasure(**kwargs)(patches(2), generator=gen(0))


def test_band_erasure_non_numeric_fill():
    with pytest.raises(TypeError, match="fill"):
        BandErasure(fill="zero")(patches(2), generator=gen(0))


# --------------------------------------------------------------------------- #
# 4. make_augmentation
# --------------------------------------------------------------------------- #
def test_make_augmentation_none():
    assert make_augmentation(None) is None


@pytest.mark.parametrize("group", ["spectral", "spatial"])
def test_make_augmentation_group(group):
    t = make_augmentation(group)
    assert isinstance(t, RandomChoice)
    assert [type(s) for s in t.transforms] == [AUGMENTATIONS[n] for n in AUGMENTATION_GROUPS[group]]


def test_make_augmentation_spectral_spatial():
    t = make_augmentation("spectral-spatial")
    assert isinstance(t, Compose)
    assert len(t.transforms) == 2
    spatial, spectral = t.transforms
    assert isinstance(spatial, RandomChoice) and isinstance(spectral, RandomChoice)
    assert [type(s) for s in spatial.transforms] == [AUGMENTATIONS[n] for n in AUGMENTATION_GROUPS["spatial"]]
    assert [type(s) for s in spectral.transforms] == [AUGMENTATIONS[n] for n in AUGMENTATION_GROUPS["spectral"]]


@pytest.mark.parametrize("name", NAMES)
def test_make_augmentation_name(name):
    t = make_augmentation(name)
    assert type(t) is AUGMENTATIONS[name]
    assert make_augmentation(name) is not t  # a fresh instance each time


@pytest.mark.parametrize("spec", [["flip", "band_erasure"], ("flip", "band_erasure")])
def test_make_augmentation_list(spec):
    t = make_augmentation(spec)
    assert isinstance(t, RandomChoice)
    assert [type(s) for s in t.transforms] == [RandomFlip, BandErasure]


def test_make_augmentation_nested_list():
    t = make_augmentation(["flip", "spectral"])
    assert isinstance(t, RandomChoice)
    assert isinstance(t.transforms[0], RandomFlip)
    assert isinstance(t.transforms[1], RandomChoice)


def test_make_augmentation_transform_returned_as_is():
    t = BandErasure(min_fraction=0.3, max_fraction=0.4)
    assert make_augmentation(t) is t
    c = Compose([AddOne()])
    assert make_augmentation(c) is c


def test_make_augmentation_unknown_name():
    with pytest.raises(ValueError, match="rotate") as excinfo:
        make_augmentation("rotate")
    msg = str(excinfo.value)
    for valid in [*AUGMENTATIONS, "spectral", "spatial", "spectral-spatial"]:
        assert valid in msg


def test_make_augmentation_unknown_name_in_list():
    with pytest.raises(ValueError, match="rotate"):
        make_augmentation(["flip", "rotate"])


def test_make_augmentation_empty_list():
    with pytest.raises(ValueError, match="empty"):
        make_augmentation([])


@pytest.mark.parametrize("spec", [3, 2.5, {"flip": 1}])
def test_make_augmentation_type_error(spec):
    with pytest.raises(TypeError):
        make_augmentation(spec)


# --------------------------------------------------------------------------- #
# 5. RandomChoice and Compose
# --------------------------------------------------------------------------- #
def test_random_choice_partition():
    x = patches(200, b=3, s=2, dtype=torch.float64)
    t = RandomChoice([AddOne(), AddTwo()])
    out = t(x, generator=gen(0))
    # each sample got exactly one of the transforms, applied to its own values
    got_one = torch.tensor([torch.equal(out[i], x[i] + 1) for i in range(200)])
    got_two = torch.tensor([torch.equal(out[i], x[i] + 2) for i in range(200)])
    assert (got_one ^ got_two).all()
    assert got_one.any() and got_two.any()
    n_one = int(got_one.sum())
    assert 60 <= n_one <= 140
    assert torch.equal(t(x, generator=gen(0)), out)
    assert not torch.equal(t(x, generator=gen(1)), out)


def test_random_choice_single_transform():
    x = patches(10)
    assert torch.equal(RandomChoice([AddTwo()])(x, generator=gen(0)), x + 2)


def test_random_choice_of_spatial_and_spectral():
    x = patches(64) + 1.0
    out = RandomChoice([RandomFlip(p=1.0), BandErasure()])(x, generator=gen(0))
    erased = erased_bands(out, 0.0).any(dim=1)
    flipped = torch.tensor([torch.equal(out[i], x[i].flip(-1).flip(-2)) for i in range(64)])
    assert torch.equal(erased, ~flipped)
    assert erased.any() and flipped.any()


def test_compose_order():
    x = patches(6)
    assert torch.equal(Compose([AddOne(), Double()])(x, generator=gen(0)), (x + 1) * 2)
    assert torch.equal(Compose([Double(), AddOne()])(x, generator=gen(0)), x * 2 + 1)
    assert torch.equal(Compose([])(x, generator=gen(0)), x)


# --------------------------------------------------------------------------- #
# 6. bad inputs
# --------------------------------------------------------------------------- #
def _factory(name):
    def make():
        return make_augmentation(name)

    return make


ALL_TRANSFORMS = [
    *(pytest.param(_factory(name), id=name) for name in NAMES),
    pytest.param(lambda: make_augmentation("spectral-spatial"), id="spectral-spatial"),
    pytest.param(lambda: RandomChoice([AddOne(), AddTwo()]), id="choice"),
]


@pytest.mark.parametrize("factory", ALL_TRANSFORMS)
def test_bad_inputs(factory):
    t = factory()
    with pytest.raises(ValueError, match=r"\(N, 1, B, S, S\)"):
        t(torch.rand(4, 8, 5, 5), generator=gen(0))
    with pytest.raises(ValueError, match=r"\(N, 1, B, S, S\)"):
        t(torch.rand(4, 2, 8, 5, 5), generator=gen(0))
    with pytest.raises(TypeError):
        t(np.random.default_rng(0).random((4, 1, 8, 5, 5)), generator=gen(0))
    with pytest.raises(TypeError):
        t(torch.ones(4, 1, 8, 5, 5, dtype=torch.int64), generator=gen(0))


@pytest.mark.parametrize("factory", ALL_TRANSFORMS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_empty_batch(factory, dtype):
    x = torch.empty(0, 1, 8, 5, 5, dtype=dtype)
    out = factory()(x, generator=gen(0))
    assert out.shape == x.shape and out.dtype == dtype


# --------------------------------------------------------------------------- #
# 7. scikit-learn style objects
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("factory", ALL_TRANSFORMS)
def test_pickle_round_trip(factory):
    t = factory()
    t2 = pickle.loads(pickle.dumps(t))
    assert type(t2) is type(t)
    assert repr(t2) == repr(t)
    x = patches(16)
    assert torch.equal(t2(x, generator=gen(4)), t(x, generator=gen(4)))


def test_get_set_params():
    t = BandErasure(min_fraction=0.1, max_fraction=0.2, fill=-1.0)
    assert isinstance(t, BaseEstimator)
    assert t.get_params() == {"min_fraction": 0.1, "max_fraction": 0.2, "fill": -1.0}
    assert t.set_params(fill=3.0) is t
    assert t.fill == 3.0
    f = RandomFlip()
    assert f.get_params() == {"p": 0.5, "horizontal": True, "vertical": True}
    f.set_params(p=1.0, vertical=False)
    x = patches(4)
    assert torch.equal(f(x, generator=gen(0)), x.flip(-1))
    with pytest.raises(ValueError):
        f.set_params(q=1)


def test_nested_params():
    t = Compose([RandomFlip(p=0.3), BandErasure()])
    params = t.get_params()
    assert "transforms" in params
    assert params["transforms"][0].p == 0.3


@pytest.mark.parametrize("factory", ALL_TRANSFORMS)
def test_sklearn_clone(factory):
    t = factory()
    c = clone(t)
    assert c is not t
    assert type(c) is type(t)
    assert repr(c) == repr(t)
    x = patches(16)
    assert torch.equal(c(x, generator=gen(2)), t(x, generator=gen(2)))


def test_clone_keeps_params():
    t = BandErasure(min_fraction=0.2, max_fraction=0.3, fill=1.0)
    c = clone(t)
    assert c.get_params() == t.get_params()
    c.set_params(fill=2.0)
    assert t.fill == 1.0


def test_make_augmentation_plain_callable_returned_as_is():
    def f(x, generator=None):
        return x

    assert make_augmentation(f) is f


def test_register_augmentation_rejects_taken_names_and_bad_groups():
    from hyperspectral_cl.augment import register_augmentation

    before = (dict(AUGMENTATIONS), {k: list(v) for k, v in AUGMENTATION_GROUPS.items()})
    for taken in ["flip", "band_erasure", "spectral", "spatial", "spectral-spatial"]:
        with pytest.raises(ValueError, match="already taken"):
            register_augmentation(taken, "spatial")(AddOne)
    with pytest.raises(ValueError, match="augmentation group"):
        register_augmentation("new_one", "temporal")
    assert (dict(AUGMENTATIONS), {k: list(v) for k, v in AUGMENTATION_GROUPS.items()}) == before


# --------------------------------------------------------------------------- #
# 8. cache blocking on CPU gives the same result as one block
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
