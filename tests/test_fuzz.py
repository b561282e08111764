"""Hypothesis fuzzing of input validation: random shapes, dtypes and parameters.

Each test computes, from the drawn input, every rule it breaks (an "oracle" of (error type, message
substring) pairs). The call must then either work and give output of the right shape, finite, without
touching the input, or raise one of the predicted errors, with our message. Never a torch
RuntimeError, an IndexError or a numpy message.
"""

import re
from numbers import Integral, Real

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hyperspectral_cl import ContrastivePatchRegressor, MeanSpectrum, PatchExtractor
from hyperspectral_cl.backbones import Backbone
from hyperspectral_cl.losses import CONTRASTIVE_LOSSES

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FLOATS = (np.float16, np.float32, np.float64)
DTYPES = FLOATS + (np.int8, np.uint8, np.int32, np.bool_, np.complex64)


def make_array(shape, dtype, special, seed):
    """Random values of ``dtype``; ``special`` plants a NaN, an inf or a value beyond float32 (float64 only)."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=shape) * 3
    if dtype is np.bool_:
        arr = values > 0
    elif np.issubdtype(dtype, np.integer):
        arr = np.clip(np.round(values), np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)
    else:
        arr = values.astype(dtype)
    if special and arr.size and np.issubdtype(arr.dtype, np.floating):
        flat = arr.reshape(-1)
        i = int(rng.integers(arr.size))
        if special == "nan":
            flat[i] = np.nan
        elif special == "inf":
            flat[i] = -np.inf
        elif special == "huge" and arr.dtype == np.float64:
            flat[i] = 1e300
    return arr


def has_special(arr, special):
    """What the planted value turned into: 'nonfinite', 'huge' (finite float64 beyond float32) or None."""
    if not special or not arr.size or not np.issubdtype(arr.dtype, np.floating):
        return None
    if not np.isfinite(arr).all():
        return "nonfinite"
    if arr.dtype == np.float64 and np.abs(arr).max() > np.finfo(np.float32).max:
        return "huge"
    return None


def array_violations(arr, special, ndim):
    """The errors our check_float_array may raise for ``arr``."""
    out = []
    if np.iscomplexobj(arr):
        out.append((TypeError, "X must hold real numbers"))
    if arr.ndim != ndim:
        out.append((ValueError, f"X must be {ndim}-dimensional"))
    if arr.ndim and arr.shape[0] == 0:
        out.append((ValueError, "X is empty"))
    if arr.ndim > 2 and 0 in arr.shape[1:]:
        out.append((ValueError, "X has a zero-length axis"))
    kind = has_special(arr, special)
    if kind == "nonfinite":
        out.append((ValueError, "X contains NaN or infinity"))
    elif kind == "huge":
        out.append((ValueError, "X contains values too large for float32"))
    return out


def assert_raises_one_of(call, violations):
    assert violations, "the oracle predicts success"
    with pytest.raises((ValueError, TypeError)) as excinfo:
        call()
    message = str(excinfo.value)
    assert any(excinfo.type is exc and text in message for exc, text in violations), (
        f"{excinfo.type.__name__}: {message!r} is none of the predicted errors {violations}"
    )


# --------------------------------------------------------------------------- PatchExtractor
@st.composite
def window_cases(draw):
    # each rule is broken now and then, so that about half the cases are valid
    ndim = draw(st.sampled_from([4] * 8 + [3, 5]))
    shape = tuple(draw(st.sampled_from([1, 2, 3, 4, 5] * 5 + [0])) for _ in range(ndim))
    dtype = draw(st.sampled_from(DTYPES))
    special = draw(st.sampled_from([None] * 8 + ["nan", "inf", "huge"]))
    X = make_array(shape, dtype, special, draw(st.integers(0, 2**16)))
    patch_size = draw(st.one_of(st.integers(1, 3), st.integers(1, 3), st.integers(-1, 6),
                                st.sampled_from([2.0, 2.5, "3", None, True, np.int64(2)])))
    spectrum_norm = draw(st.sampled_from([None, "l2"] * 4 + ["l1"]))
    standardize = draw(st.sampled_from([True, False, np.bool_(True)] * 3 + ["yes", 1]))
    return X, special, patch_size, spectrum_norm, standardize


@FUZZ
@given(case=window_cases())
def test_patch_extractor_fuzz(case):
    X, special, patch_size, spectrum_norm, standardize = case
    X.setflags(write=False)  # proves the input is never written into
    before = X.copy()
    violations = array_violations(X, special, ndim=4)
    if not isinstance(standardize, (bool, np.bool_)):
        violations.append((TypeError, "standardize must be True or False"))
    if spectrum_norm not in (None, "l2"):
        violations.append((ValueError, "spectrum_norm must be None or 'l2'"))
    if isinstance(patch_size, bool) or not isinstance(patch_size, Integral):
        violations.append((TypeError, "patch_size must be an integer"))
    elif patch_size < 1:
        violations.append((ValueError, "patch_size must be >= 1"))
    elif X.ndim == 4 and (patch_size > X.shape[1] or patch_size > X.shape[2]):
        violations.append((ValueError, f"patch_size={patch_size} is larger than the windows"))
    pe = PatchExtractor(patch_size, spectrum_norm=spectrum_norm, standardize=standardize)
    event("error" if violations else "works")  # hypothesis --hypothesis-show-statistics shows the mix
    if violations:
        assert_raises_one_of(lambda: pe.fit_transform(X), violations)
    else:
        out = pe.fit_transform(X)
        n, _, _, b = X.shape
        assert out.shape == (n, 1, b, patch_size, patch_size) and out.dtype == np.float32
        assert np.isfinite(out).all()
    np.testing.assert_array_equal(X, before)


@FUZZ
@given(case=window_cases(), normalize=st.sampled_from([False, True, np.bool_(False)] * 3 + ["yes", None]))
def test_mean_spectrum_fuzz(case, normalize):
    X, special = case[:2]
    X.setflags(write=False)
    violations = array_violations(X, special, ndim=4)
    if has_special(X, special) == "huge":  # MeanSpectrum works in float64: 1e300 is a valid value there
        violations.remove((ValueError, "X contains values too large for float32"))
    if not isinstance(normalize, (bool, np.bool_)):
        violations.append((TypeError, "normalize must be True or False"))
    ms = MeanSpectrum(normalize=normalize)
    event("error" if violations else "works")
    if violations:
        assert_raises_one_of(lambda: ms.fit_transform(X), violations)
    else:
        out = ms.fit_transform(X)
        assert out.shape == (X.shape[0], X.shape[3]) and out.dtype == np.float64 and np.isfinite(out).all()


# --------------------------------------------------------------------------- losses
LOSS_NAMES = sorted(CONTRASTIVE_LOSSES)


def scalar_violations(value, name, strict):
    if isinstance(value, bool) or not isinstance(value, Real):
        return [(TypeError, f"{name} must be a real number")]
    if not np.isfinite(value):
        return [(ValueError, f"{name} must be finite")]
    if value < 0 or (strict and value == 0):
        return [(ValueError, f"{name} must be {'>' if strict else '>='} 0")]
    return []


@FUZZ
@given(
    name=st.sampled_from(LOSS_NAMES),
    m=st.integers(0, 7),
    d=st.integers(1, 5),
    features_kind=st.sampled_from(["float"] * 12 + ["1d", "int", "numpy"]),
    targets_kind=st.sampled_from(["1d", "2d"] * 6 + ["0d", "mismatch"]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    scale=st.sampled_from([0.0, 1e-6, 1.0, 1e6]),
    radius=st.one_of(*[st.floats(0.0, 3.0)] * 6, st.sampled_from([-0.5, 0.0, float("nan"), float("inf"), True,
                                                                  "0.1", np.float32(0.2)])),
    temperature=st.one_of(*[st.floats(1e-3, 1e3)] * 6, st.sampled_from([0.0, -0.1, float("nan"), float("inf"),
                                                                        None])),
    seed=st.integers(0, 2**16),
)
def test_losses_fuzz(name, m, d, features_kind, targets_kind, dtype, scale, radius, temperature, seed):
    g = torch.Generator().manual_seed(seed)
    features = (torch.randn(m, d, generator=g, dtype=torch.float64) * scale).to(dtype)
    if m > 1:
        features[0] = 0.0  # an all-zero row: normalised through the eps clamp
    # targets rounded to a coarse grid, so that some pairs are positives for most radii
    targets = torch.round(torch.rand(m, 2, generator=g, dtype=torch.float64) * 4) / 4
    targets = {"1d": targets[:, 0], "2d": targets, "0d": torch.tensor(0.5),
               "mismatch": torch.rand(m + 1, 2, generator=g)}[targets_kind].to(dtype)
    violations = scalar_violations(radius, "radius", strict=False) + scalar_violations(
        temperature, "temperature", strict=True)
    if features_kind == "numpy":
        features = features.numpy()
        violations.append((TypeError, "features must be a torch.Tensor"))
    elif features_kind == "int":
        features = features.round().long()
        violations.append((TypeError, "features must be a floating-point tensor"))
    elif features_kind == "1d":
        features = features[:, 0]
        violations.append((ValueError, "features must have shape (M, d)"))
    if targets_kind == "0d":
        violations.append((ValueError, "targets must have shape (M,) or (M, n_targets)"))
    elif targets_kind == "mismatch":
        violations.append((ValueError, "features and targets disagree on the batch size"))
    loss_fn = CONTRASTIVE_LOSSES[name]
    event("error" if violations else "works")
    if violations:
        assert_raises_one_of(lambda: loss_fn(features, targets, radius=radius, temperature=temperature), violations)
        return
    features.requires_grad_(True)
    loss = loss_fn(features, targets, radius=radius, temperature=temperature)
    assert loss.ndim == 0 and torch.isfinite(loss), loss
    loss.backward()
    assert features.grad is not None and torch.isfinite(features.grad).all()


# --------------------------------------------------------------------------- the estimator
class TinyBackbone(Backbone):
    """Accepts any band count and patch size, so the fuzz reaches past the backbone's minimum sizes."""

    def __init__(self, n_bands, patch_size, n_targets, head="linear"):
        super().__init__(n_bands, patch_size, n_targets, head=head)
        self.proj = torch.nn.Linear(n_bands, 4)
        self.build_head(4)

    def features(self, x):
        return torch.relu(self.proj(x.mean(dim=(1, 3, 4))))


# every message our validation gives names its subject first
OUR_MESSAGE = re.compile(r"^(X |y |backbone |data of shape)")


@st.composite
def patch_arrays(draw, n):
    if draw(st.sampled_from([True] * 5 + [False])):  # mostly near the valid layout (n, 1, B, S, S)
        s = draw(st.sampled_from([5] * 6 + [0, 1, 3]))
        shape = (n, draw(st.sampled_from([1] * 8 + [2])), draw(st.sampled_from([5, 6] * 4 + [0, 1])), s,
                 draw(st.sampled_from([s] * 8 + [s + 1])))
    else:
        shape = tuple(draw(st.integers(0, 4)) for _ in range(draw(st.integers(0, 6))))
    dtype = draw(st.sampled_from(DTYPES))
    special = draw(st.sampled_from([None] * 8 + ["nan", "huge"]))
    return make_array(shape, dtype, special, draw(st.integers(0, 2**16)))


@st.composite
def target_arrays(draw, n):
    shape = draw(st.sampled_from([(n,), (n, 1), (n, 2)] * 4 + [(n, 0), (n + 1,), (n, 1, 1), ()]))
    kind = draw(st.sampled_from(["float", "int"] * 6 + ["nan", "str", "none"]))
    if kind == "none":
        return None
    if kind == "str":
        return np.full(shape, "a")
    y = make_array(shape, np.float32 if kind != "int" else np.int32, "nan" if kind == "nan" else None,
                   draw(st.integers(0, 2**16)))
    return y


@st.composite
def estimator_cases(draw):
    n = draw(st.sampled_from([1, 2, 3, 5, 6] * 3 + [0]))
    return draw(st.sampled_from(["li", TinyBackbone])), draw(patch_arrays(n)), draw(target_arrays(n)), \
        draw(patch_arrays(n))


@FUZZ
@given(case=estimator_cases())
def test_estimator_validation_fuzz(case):
    backbone, X, y, X_new = case
    net = ContrastivePatchRegressor(backbone, max_epochs=1, batch_size=4, random_state=0, augment="flip",
                                    alpha=0.1, **({"module__n_planes": 2} if backbone == "li" else {}))
    for arr in (X, y, X_new):
        if isinstance(arr, np.ndarray):
            arr.setflags(write=False)
    try:
        net.fit(X, y)
    except (ValueError, TypeError) as exc:  # anything else (RuntimeError, IndexError...) fails the test
        assert OUR_MESSAGE.match(str(exc)), f"{type(exc).__name__} not from our validation: {exc}"
        event("fit refused")
        return
    event("fit works")
    pred = net.predict(X)
    assert pred.shape == np.shape(y) and np.isfinite(pred).all()
    try:  # a second, random array at predict time
        out = net.predict(X_new)
    except (ValueError, TypeError) as exc:
        assert OUR_MESSAGE.match(str(exc)), f"{type(exc).__name__} not from our validation: {exc}"
    else:
        assert out.shape[0] == len(X_new) and X_new.shape[1:] == X.shape[1:]
