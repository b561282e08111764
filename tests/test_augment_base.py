"""augment/base.py: Transform, Compose, RandomChoice, the name registry, make_augmentation, augment_array.

Also the contract every registered transform keeps (shape, dtype, device, a new
tensor, seeded draws), checked over all of them.
"""

import pickle

import numpy as np
import pytest
import torch
from conftest import erased_bands, gen, random_patches
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import BaseEstimator, clone

from hyperspectral_cl.augment import (
    AUGMENTATION_GROUPS,
    AUGMENTATIONS,
    AtmosphericCompensation,
    BandErasure,
    Compose,
    HapkeScattering,
    RandomChoice,
    RandomFlip,
    RandomRotation,
    SpectralShift,
    Transform,
    augment_array,
    make_augmentation,
    parametric_illumination,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
NAMES = sorted(AUGMENTATIONS)
GROUPS = ["spectral", "spatial", "spectral-spatial"]
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
    def transform(self, x, params):
        return x + 1


class AddTwo(Transform):
    def transform(self, x, params):
        return x + 2


class Double(Transform):
    def transform(self, x, params):
        return x * 2


patches = random_patches


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
# hypothesis: finite output of the right shape for any shape and values
# --------------------------------------------------------------------------- #
@st.composite
def batches(draw):
    n = draw(st.integers(1, 4))
    b = draw(st.integers(1, 12))
    s = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    elements = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, width=32)
    values = draw(arrays(dtype, (n, 1, b, s, s), elements=elements))
    return torch.from_numpy(values), draw(st.integers(0, 2**31 - 1))


@pytest.mark.parametrize("name", NAMES + GROUPS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=batches())
def test_every_transform_finite_on_random_input(name, batch):
    x, seed = batch
    before = x.clone()
    out = make_augmentation(name)(x, generator=gen(seed))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()
    assert torch.equal(x, before)


@settings(max_examples=20, deadline=None)
@given(batch=batches(), angle=st.floats(-720, 720), shift=st.integers(0, 8))
def test_strength_parameters_finite_on_random_input(batch, angle, shift):
    x, seed = batch
    for t in (
        RandomRotation(min_angle=min(angle, 0.0), max_angle=max(angle, 0.0), fill=1.5),
        SpectralShift(max_shift=shift),
        HapkeScattering(incidence=0.0, emission=89.0, max_angle=89.0),
        AtmosphericCompensation(max_angle=90.0, band_mean=0.3, band_scale=0.1),
    ):
        assert torch.isfinite(t(x, generator=gen(seed))).all()


# --------------------------------------------------------------------------- #
# 2. make_augmentation
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
# make_augmentation's shared options
# --------------------------------------------------------------------------- #
def test_make_augmentation_shares_wavelengths_and_band_stats():
    wl = np.linspace(400, 900, 10)
    mean, scale = np.zeros(10), np.ones(10)
    t = make_augmentation("spectral-spatial", wavelengths=wl, band_mean=mean, band_scale=scale)
    leaves = [leaf for group in t.transforms for leaf in group.transforms]
    atmo = next(leaf for leaf in leaves if isinstance(leaf, AtmosphericCompensation))
    hapke = next(leaf for leaf in leaves if isinstance(leaf, HapkeScattering))
    assert atmo.wavelengths is wl and atmo.band_mean is mean and hapke.band_scale is scale
    assert not hasattr(hapke, "wavelengths")


def test_make_augmentation_options_do_not_touch_callers_transform():
    user = Compose([RandomChoice([AtmosphericCompensation()])])
    t = make_augmentation(user, wavelengths=np.linspace(400, 900, 8))
    assert t is not user
    assert user.transforms[0].transforms[0].wavelengths is None
    assert t.transforms[0].transforms[0].wavelengths is not None
    assert make_augmentation(user) is user  # no options: returned as is


# --------------------------------------------------------------------------- #
# 3. RandomChoice and Compose
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
# 4. bad inputs
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
# 5. scikit-learn style objects
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


def test_pickle_and_clone_with_array_and_illumination_params():
    t = AtmosphericCompensation(
        illumination=parametric_illumination(aod550=0.4), wavelengths=np.linspace(400, 900, 10), band_mean=np.ones(10)
    )
    x = torch.rand(8, 1, 10, 3, 3, generator=gen(0))
    out = t(x, generator=gen(1))
    for copy in (pickle.loads(pickle.dumps(t)), clone(t)):
        assert torch.equal(copy(x, generator=gen(1)), out)


# --------------------------------------------------------------------------- #
# 6. augment_array: the numpy helper
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("shape", [(20, 30), (6, 7, 30), (3, 6, 6, 30), (3, 1, 30, 6, 6)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_augment_array_layouts(shape, dtype):
    arr = np.random.default_rng(0).random(shape).astype(dtype)
    arr.setflags(write=False)
    out = augment_array("spectral_shift", arr, random_state=0)
    assert out.shape == arr.shape and out.dtype == dtype
    assert not np.array_equal(out, arr)
    np.testing.assert_array_equal(augment_array(SpectralShift(), arr, random_state=0), out)
    assert not np.array_equal(augment_array(SpectralShift(), arr, random_state=1), out)


def test_augment_array_cube_is_one_patch():
    cube = np.random.default_rng(0).random((5, 5, 12))
    out = augment_array(RandomRotation(mode="rot90"), cube, random_state=0)
    matches = [k for k in (1, 2, 3) if np.array_equal(out, np.rot90(cube, k, axes=(0, 1)))]
    assert len(matches) == 1
    # spectra: one 1 x 1 patch each, so spatial transforms leave them alone
    spectra = cube.reshape(-1, 12)
    np.testing.assert_array_equal(augment_array("flip", spectra, random_state=0), spectra)


def test_augment_array_matches_torch_call():
    windows = np.random.default_rng(0).random((4, 5, 5, 9)).astype(np.float32)
    t = make_augmentation("spectral-spatial")
    out = augment_array(t, windows, random_state=7)
    x = torch.from_numpy(windows).permute(0, 3, 1, 2)[:, None].contiguous()
    expected = t(x, generator=gen(7))[:, 0].permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(out, expected)


def test_augment_array_integer_input_and_errors():
    ints = np.arange(40).reshape(4, 10)
    assert augment_array("band_erasure", ints, random_state=0).dtype == np.float64
    with pytest.raises(ValueError, match="shape"):
        augment_array("flip", np.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        augment_array("flip", np.full((2, 3), np.nan))
    with pytest.raises(TypeError, match="real numbers"):
        augment_array("flip", np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment_array("rotate", np.zeros((2, 3)))


# --------------------------------------------------------------------------- #
# 7. drawing apart from applying: make_params, transform, replay
# --------------------------------------------------------------------------- #
ALL_SPECS = NAMES + GROUPS


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_call_is_make_params_then_replay(spec):
    t = make_augmentation(spec)
    x = patches(32, dtype=torch.float64)
    params = t.make_params(x, gen(5))
    assert torch.equal(t.replay(x, params), t(x, generator=gen(5)))
    assert torch.equal(t.replay(x, params), t.replay(x, params))  # replay draws nothing


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_draws_depend_on_the_batch_shape_only(spec):
    # the contract that lets Compose draw every member's parameters before applying any
    t = make_augmentation(spec)
    x = patches(32)

    def flat(p):
        if isinstance(p, dict):
            return [v for value in p.values() for v in flat(value)]
        if isinstance(p, list):
            return [v for value in p for v in flat(value)]
        return [] if p is None else [p]

    a, b = flat(t.make_params(x, gen(3))), flat(t.make_params(x * -7.0 + 2.0, gen(3)))
    assert len(a) == len(b) and all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


@pytest.mark.parametrize("name", SPATIAL_NAMES)
def test_replay_moves_a_label_map_as_it_moved_the_patches(name):
    # spatial parameters do not depend on the bands: a label map (N, 1, K, S, S) moves with its patches,
    # exactly as if it had been extra bands of them
    t = AUGMENTATIONS[name]()
    x, labels = patches(24, b=8, dtype=torch.float64), patches(24, b=3, dtype=torch.float64, seed=1)
    params = t.make_params(x, gen(0))
    both = t.replay(torch.cat([x, labels], dim=2), params)
    assert torch.equal(t.replay(x, params), both[:, :, :8])
    assert torch.equal(t.replay(labels, params), both[:, :, 8:])
    assert not torch.equal(both[:, :, 8:], labels)


def test_replay_converts_params_to_the_batch_and_checks_them():
    t = RandomRotation()
    params = t.make_params(patches(6), gen(0))  # float32 angles
    x64 = patches(6, dtype=torch.float64)
    out = t.replay(x64, params)
    assert out.dtype == torch.float64
    assert torch.equal(out, t.replay(x64, {"angle": params["angle"].double()}))
    with pytest.raises(ValueError, match=r"params\['angle'\] has shape \(6,\).*batch of 4"):
        t.replay(patches(4), params)
    with pytest.raises(TypeError, match="dict make_params returned"):
        t.replay(x64, [params["angle"]])
    choice = make_augmentation("spatial")
    with pytest.raises(ValueError, match="batch of"):
        choice.replay(patches(5), choice.make_params(patches(6), gen(0)))
    pair = make_augmentation("spectral-spatial")
    with pytest.raises(ValueError, match="one dict per transform"):
        pair.replay(patches(6), {"transforms": []})


def test_compose_and_random_choice_replay_their_members():
    x = patches(40, dtype=torch.float64)
    flip, erase = RandomFlip(p=0.5), BandErasure()
    params = Compose([flip, erase]).make_params(x, gen(0))
    expected = erase.replay(flip.replay(x, params["transforms"][0]), params["transforms"][1])
    assert torch.equal(Compose([flip, erase]).replay(x, params), expected)
    choice = RandomChoice([flip, erase])
    params = choice.make_params(x, gen(1))
    out = choice.replay(x, params)
    for i, t in enumerate((flip, erase)):
        idx = params["choice"] == i
        assert torch.equal(out[idx], t.replay(x[idx], params["transforms"][i]))


# --------------------------------------------------------------------------- #
# 8. hyper-parameters checked once, at construction and by set_params
# --------------------------------------------------------------------------- #
BAD_HYPERPARAMETERS = [
    ("spectral_shift", {"max_shift": -1}), ("spectral_flip", {"p": 2.0}), ("hapke", {"max_angle": 95.0}),
    ("hapke", {"band_scale": 0.0}), ("atmospheric", {"min_angle": -5.0}), ("atmospheric", {"wavelengths": [[400.0]]}),
    ("elastic_distortion", {"sigma": -1.0}), ("band_erasure", {"fill": "zero"}), ("band_permutation", {"n_groups": 0}),
    ("nn_mixing", {"scope": "image"}), ("rotation", {"mode": "rot45"}), ("elastic_deformation", {"keep_center": 1}),
    ("flip", {"p": -0.5}), ("translation", {"fill": "mirror"}),
]


@pytest.mark.parametrize(("name", "bad"), BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_fail_at_construction_and_at_the_call_after_set_params(name, bad):
    cls = AUGMENTATIONS[name]
    key = next(iter(bad))
    with pytest.raises((ValueError, TypeError), match=key):
        cls(**bad)
    t = cls()
    t.set_params(**bad)  # as scikit-learn's estimators: stored here, checked when used (a grid search scores NaN)
    x = patches(8)
    with pytest.raises((ValueError, TypeError), match=key):
        t(x, generator=gen(0))
    with pytest.raises((ValueError, TypeError), match=key):
        t.validate()
    t.set_params(**cls().get_params())
    assert torch.equal(t(x, generator=gen(0)), cls()(x, generator=gen(0)))


def test_values_are_checked_together_and_changes_reach_the_derived_tensors():
    t = HapkeScattering()
    t.set_params(min_angle=70.0, max_angle=80.0)  # valid together, not one at a time
    assert t.validate() is t
    t.set_params(max_angle=60.0)
    with pytest.raises(ValueError, match="max_angle"):
        t.validate()
    x, mean = patches(8, b=6, dtype=torch.float64), np.linspace(0.1, 0.3, 6)
    expected = HapkeScattering(band_mean=mean)(x, generator=gen(0))
    for change in (lambda h: h.set_params(band_mean=mean), lambda h: setattr(h, "band_mean", mean)):
        h = HapkeScattering()
        h(x, generator=gen(0))
        change(h)  # set_params or plain assignment: the band statistics are rebuilt before the next batch
        assert torch.equal(h(x, generator=gen(0)), expected)


def test_a_compose_follows_its_list_edited_in_place():
    x = patches(6)
    c = Compose([RandomFlip(p=0.0)])
    assert torch.equal(c(x, generator=gen(0)), x)
    c.transforms.append(AddOne())
    assert torch.equal(c(x, generator=gen(0)), x + 1)
    assert any(isinstance(m, AddOne) for m in c.modules())
    c.transforms = [AddTwo()]
    assert torch.equal(c(x, generator=gen(0)), x + 2)
    c.transforms.append(lambda x, generator=None: x)
    with pytest.raises(TypeError, match="list of Transform"):
        c(x, generator=gen(0))


def test_a_transform_pickled_before_transforms_were_modules_loads():
    # hyperspectral_cl 0.2.0 pickled a transform as its parameters alone: no nn.Module state, no buffers
    for t in (make_augmentation("spectral-spatial"), HapkeScattering(band_mean=0.2, band_scale=0.1)):
        x = patches(8)
        expected = t(x, generator=gen(0))

        def old_state(obj):
            return {k: ([old_copy(m) for m in v] if k == "transforms" else v)
                    for k, v in obj.get_params(deep=False).items()}

        def old_copy(obj):
            new = type(obj).__new__(type(obj))
            new.__setstate__(old_state(obj))
            return new

        restored = pickle.loads(pickle.dumps(old_copy(t)))
        assert torch.equal(restored(x, generator=gen(0)), expected)


def test_compose_members_must_be_transforms():
    with pytest.raises(TypeError, match="list of Transform"):
        Compose([lambda x, generator=None: x])
    with pytest.raises(TypeError, match="list of Transform"):
        RandomChoice(RandomFlip())
    with pytest.raises(ValueError, match="at least one"):
        RandomChoice([])


def test_a_subclass_with_the_old_apply_gets_a_clear_error():
    with pytest.raises(TypeError, match="make_params"):
        class Old(Transform):  # noqa: F841 - defining it is the test
            def apply(self, x, generator):
                return x


# --------------------------------------------------------------------------- #
# 9. transforms are nn.Modules
# --------------------------------------------------------------------------- #
def test_transforms_are_modules_with_their_members_registered():
    t = make_augmentation("spectral-spatial")
    assert isinstance(t, torch.nn.Module)
    kinds = {type(m) for m in t.modules()}
    assert {RandomRotation, HapkeScattering, AtmosphericCompensation} <= kinds
    assert t.state_dict() == {}  # nothing to save beyond get_params
    wl = np.linspace(400, 900, 10)
    atmo = AtmosphericCompensation(wavelengths=wl, band_mean=0.3, band_scale=0.1)
    names = {name for name, _ in atmo.named_buffers()}
    assert {"_sun", "_sky", "_band_mean", "_band_scale"} <= names
    before = [b.clone() for b in atmo.buffers()]
    atmo.set_params(max_angle=60.0).validate()  # rebuilt from the same values
    assert all(torch.equal(a, b) for a, b in zip(before, atmo.buffers(), strict=True))
    mean = np.full(10, 0.3)
    atmo.set_params(band_mean=mean).validate()
    mean[:] = 7.0  # the caller's array is copied, never shared
    assert torch.equal(atmo._band_mean, torch.full((10,), 0.3, dtype=torch.float64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_to_device_moves_derived_tensors():
    atmo = AtmosphericCompensation(wavelengths=np.linspace(400, 900, 10), band_mean=0.3, band_scale=0.1)
    moved = clone(atmo).to("cuda")
    assert all(b.device.type == "cuda" for b in moved.buffers())
    x = torch.rand(8, 1, 10, 3, 3, dtype=torch.float64)
    params = atmo.make_params(x, gen(0))
    torch.testing.assert_close(moved.replay(x.cuda(), params).cpu(), atmo.replay(x, params))


@pytest.mark.parametrize(("name", "other", "what"), [
    ("elastic_distortion", patches(4, b=5), "bands"), ("band_permutation", patches(4, b=2), "bands"),
    ("elastic_deformation", patches(4, s=3), "field"),
])
def test_replaying_params_drawn_for_another_shape_is_refused_clearly(name, other, what):
    t = AUGMENTATIONS[name]()
    with pytest.raises(ValueError, match=what):
        t.replay(other, t.make_params(patches(4, b=8, s=5), gen(0)))


def test_a_transform_pickled_with_an_unchecked_value_loads_and_reports_it_when_used():
    t = RandomFlip().set_params(p=3.0)  # as a grid search's invalid cell: stored, not yet checked
    restored = pickle.loads(pickle.dumps(t))
    assert restored.p == 3.0
    with pytest.raises(ValueError, match="p"):
        restored(patches(4), generator=gen(0))
