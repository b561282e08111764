"""Augmentations end to end: random inputs (hypothesis), the estimator, numpy use, shared options."""

import pickle

import numpy as np
import pytest
import torch
from conftest import gen
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor
from hyperspectral_cl.augment import (
    AUGMENTATIONS,
    AtmosphericCompensation,
    Compose,
    HapkeScattering,
    RandomChoice,
    RandomRotation,
    SpectralShift,
    augment_array,
    make_augmentation,
    parametric_illumination,
)

NAMES = sorted(AUGMENTATIONS)
GROUPS = ["spectral", "spatial", "spectral-spatial"]




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
# through the estimator
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 1, 16, 5, 5)).astype(np.float32)
    y = rng.random((64, 2)).astype(np.float32)
    return X, y


def small_net(augment, **kw):
    return ContrastivePatchRegressor(
        "li", augment=augment, max_epochs=1, batch_size=32, random_state=0, module__n_planes=2, **kw
    )


@pytest.mark.parametrize("augment", NAMES + GROUPS + [["rotation", "hapke"]])
def test_each_augmentation_trains_the_estimator(data, augment):
    X, y = data
    net = small_net(augment).fit(X, y)
    hist = net.history_[-1]
    assert np.isfinite(hist["train_loss"]) and np.isfinite(hist["train_contrastive"])
    assert np.isfinite(net.predict(X[:5])).all()
    # the same seed gives the same model
    again = small_net(augment).fit(X, y)
    np.testing.assert_array_equal(again.predict(X[:5]), net.predict(X[:5]))


def test_transform_object_and_grid_search_over_it(data):
    X, y = data
    net = small_net(SpectralShift(max_shift=5))
    assert net.get_params()["augment__max_shift"] == 5
    search = GridSearchCV(net, {"augment": [SpectralShift(max_shift=1), SpectralShift(max_shift=8)]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["augment"].max_shift in (1, 8)


def test_grid_search_over_nested_augment_parameter(data):
    X, y = data
    net = small_net(SpectralShift(max_shift=5)).set_params(augment__max_shift=2, alpha=0.3)
    assert net.augment.max_shift == 2 and net.alpha == 0.3 and "augment__max_shift" not in vars(net)
    assert net.get_params()["augment__max_shift"] == 2
    search = GridSearchCV(small_net(SpectralShift()), {"augment__max_shift": [1, 3]}, cv=2, error_score="raise")
    search.fit(X, y)
    assert search.best_estimator_.augment.max_shift == search.best_params_["augment__max_shift"]
    fitted = small_net(SpectralShift(max_shift=5)).fit(X, y).set_params(augment__max_shift=1)
    assert fitted.augment_.max_shift == 1  # the live transform follows


def test_nested_augment_parameter_needs_a_transform_object(data):
    with pytest.raises(ValueError, match="augment__ parameters \\(max_shift\\) need augment to be a transform"):
        small_net("spectral").set_params(augment__max_shift=2)


def test_physical_transforms_with_patch_extractor_statistics():
    rng = np.random.default_rng(0)
    windows = rng.uniform(0.05, 0.6, (48, 7, 7, 16)).astype(np.float32)
    y = rng.random((48, 2)).astype(np.float32)
    pe = PatchExtractor(5, standardize=True).fit(windows)
    X = pe.transform(windows)
    aug = make_augmentation(["hapke", "atmospheric"], band_mean=pe.mean_, band_scale=pe.scale_)
    assert all(np.array_equal(t.band_mean, pe.mean_) for t in aug.transforms)
    net = small_net(aug).fit(X, y)
    assert np.isfinite(net.predict(X)).all()
    # standardised in, standardised out: the same as augmenting the reflectance and standardising it
    z = torch.from_numpy(X)
    r = torch.from_numpy(np.ascontiguousarray(PatchExtractor(5, standardize=False).fit_transform(windows)))
    mean, scale = (torch.from_numpy(a).view(1, 1, -1, 1, 1) for a in (pe.mean_, pe.scale_))
    for t_z, t_r in [(aug.transforms[0], HapkeScattering()), (aug.transforms[1], AtmosphericCompensation())]:
        out_z = t_z(z, generator=gen(0))
        out_r = t_r(r, generator=gen(0))
        torch.testing.assert_close(out_z * scale + mean, out_r, rtol=1e-4, atol=1e-5)


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
# numpy helper
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
# pickling and cloning with array and object parameters
# --------------------------------------------------------------------------- #
def test_pickle_and_clone_with_array_and_illumination_params():
    t = AtmosphericCompensation(
        illumination=parametric_illumination(aod550=0.4), wavelengths=np.linspace(400, 900, 10), band_mean=np.ones(10)
    )
    x = torch.rand(8, 1, 10, 3, 3, generator=gen(0))
    out = t(x, generator=gen(1))
    for copy in (pickle.loads(pickle.dumps(t)), clone(t)):
        assert torch.equal(copy(x, generator=gen(1)), out)
