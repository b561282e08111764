"""Every bad (and every unusual but valid) input we try, with the outcome it must get.

One list serves twice: ``tests/test_bad_inputs.py`` runs every case and checks the error type and
message prefix (or, for inputs that are fine, a finite output of the stated shape and dtype), and
``python tests/bad_input_cases.py`` writes the table ``docs/bad_inputs.md`` from it; a test checks
that the file matches, so the table cannot go stale.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

from hyperspectral_cl import ContrastivePatchRegressor, MeanSpectrum, PatchExtractor, Scene, TrainingDivergedError
from hyperspectral_cl.augment import RandomRotation, SpectralShift
from hyperspectral_cl.losses import get_contrastive_loss, supcon_contrastive_loss

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md"

N, WIN, B, S, T = 16, 7, 12, 5, 2  # samples, window side, bands, patch side, targets


@dataclass(frozen=True)
class Case:
    topic: str
    call: str  # the call, as a user writes it
    given: str  # what is unusual about the input
    inputs: Callable[[], dict]  # the user's inputs (the test makes arrays read-only and checks them after)
    run: Callable[..., Any]  # run(**inputs) -> output
    error: type | None = None  # None: the input is fine and must work
    prefix: str = ""  # start of the error message
    shape: tuple = ()  # output shape when it works
    dtype: str = "float32"  # output dtype when it works

    @property
    def id(self):
        return f"{self.call} | {self.given}"


# --------------------------------------------------------------------------- data and fitted models
def windows(n=N, win=WIN, bands=B, seed=0):
    return np.random.default_rng(seed).random((n, win, win, bands)).astype(np.float32)


def targets(n=N, t=T, seed=1):
    return np.random.default_rng(seed).random((n, t)).astype(np.float32)


def patches(n=N, size=S, bands=B, seed=0):
    return PatchExtractor(size).fit_transform(windows(n, max(WIN, size), bands, seed))


def with_value(a, value, index=3):
    a = np.array(a)
    a.reshape(-1)[index] = value
    return a


def net(**kw):
    params = dict(max_epochs=1, batch_size=8, random_state=0, module__n_planes=2, augment="flip")
    params.update(kw)
    backbone = params.pop("backbone", "li")
    return ContrastivePatchRegressor(backbone, **params)


def pipe(**kw):
    return make_pipeline(PatchExtractor(S), net(**kw))


@cache
def fitted_net():
    return net().fit(patches(), targets())


@cache
def fitted_pe():
    return PatchExtractor(S).fit(windows())


@cache
def fitted_ms():
    return MeanSpectrum().fit(windows())


@cache
def fitted_pipe():
    return pipe().fit(windows(), targets())


def fit_predict(model, X, y):
    return model.fit(X, y).predict(X)


def loss(**kw):
    g = torch.Generator().manual_seed(0)
    return supcon_contrastive_loss(torch.randn(8, 4, generator=g), torch.rand(8, generator=g), **kw)


# --------------------------------------------------------------------------- the cases
Xw = lambda **kw: dict(X=windows(**kw))  # noqa: E731
Xp = lambda **kw: dict(X=patches(**kw))  # noqa: E731
XY = lambda: dict(X=patches(), y=targets())  # noqa: E731

NDIM, MISMATCH, SMALL, NONFINITE, NAMES, NUMBERS, EMPTY, DTYPES, LAYOUT, CONTAINERS, STATE, FITPARAMS = (
    "Wrong number of dimensions",
    "Shapes that disagree (fit vs predict, X vs y)",
    "Window smaller than the patch, data smaller than the backbone",
    "NaN, infinity and out-of-range values",
    "Unknown names",
    "Numeric hyper-parameters out of range or of the wrong type",
    "Empty, one-sample and constant data",
    "dtypes",
    "Memory layout: non-contiguous, read-only",
    "Containers: lists, tensors, pandas, sparse",
    "Calls out of order",
    "Fit parameters, window weights and training that goes wrong",
)

CASES = [
    # ---- wrong ndim
    Case(NDIM, "PatchExtractor(5).fit(X)", "one window without the sample axis, shape (7, 7, 12)",
         lambda: dict(X=windows()[0]), lambda X: PatchExtractor(S).fit(X),
         ValueError, "X must be 4-dimensional, got shape (7, 7, 12)"),
    Case(NDIM, "MeanSpectrum().fit(X)", "patches (16, 1, 12, 5, 5) instead of windows",
         Xp, lambda X: MeanSpectrum().fit(X), ValueError, "X must be 4-dimensional, got shape (16, 1, 12, 5, 5)"),
    Case(NDIM, "net.fit(X, y)", "windows (16, 7, 7, 12): the PatchExtractor is missing",
         lambda: dict(X=windows(), y=targets()), lambda X, y: net().fit(X, y),
         ValueError, "X must be 5-dimensional, got shape (16, 7, 7, 12)"),
    Case(NDIM, "net.fit(X, y)", "patches without the channel axis, (16, 12, 5, 5)",
         lambda: dict(X=patches()[:, 0], y=targets()), lambda X, y: net().fit(X, y),
         ValueError, "X must be 5-dimensional, got shape (16, 12, 5, 5)"),
    Case(NDIM, "net.fit(X, y)", "non-square patches (16, 1, 12, 5, 4)",
         lambda: dict(X=patches()[..., :4], y=targets()), lambda X, y: net().fit(X, y),
         ValueError, "X must have shape (n_samples, 1, n_bands, S, S), the output of PatchExtractor; "
                     "got (16, 1, 12, 5, 4)"),
    Case(NDIM, "net.fit(X, y)", "y of shape (16, 2, 1)",
         lambda: dict(X=patches(), y=targets()[:, :, None]), lambda X, y: net().fit(X, y),
         ValueError, "y must be 1 or 2-dimensional, got shape (16, 2, 1)"),
    Case(NDIM, "net.fit(X, y)", "a scalar y",
         lambda: dict(X=patches(), y=np.float32(0.5)), lambda X, y: net().fit(X, y),
         ValueError, "y must be 1 or 2-dimensional, got shape ()"),
    Case(NDIM, "pipeline.predict(X)", "one window without the sample axis",
         lambda: dict(X=windows()[0]), lambda X: fitted_pipe().predict(X),
         ValueError, "X must be 4-dimensional, got shape (7, 7, 12)"),
    # ---- mismatches
    Case(MISMATCH, "RandomRotation().replay(x, params)", "params drawn for 3 samples, a batch of 4",
         dict, lambda: RandomRotation().replay(torch.rand(4, 1, B, S, S), {"angle": torch.zeros(3)}),
         ValueError, "params['angle'] has shape (3,), which does not match a batch of 4 samples"),
    Case(MISMATCH, "PatchExtractor.transform(X)", "10 bands, fitted on 12",
         lambda: Xw(bands=10), lambda X: fitted_pe().transform(X),
         ValueError, "X has 10 bands but PatchExtractor was fitted on 12"),
    Case(MISMATCH, "MeanSpectrum.transform(X)", "10 bands, fitted on 12",
         lambda: Xw(bands=10), lambda X: fitted_ms().transform(X),
         ValueError, "X has 10 bands but MeanSpectrum was fitted on 12"),
    Case(MISMATCH, "net.predict(X)", "10 bands, fitted on 12",
         lambda: Xp(bands=10), lambda X: fitted_net().predict(X),
         ValueError, "X has 10 bands but the model was fitted on 12"),
    Case(MISMATCH, "net.predict(X)", "7 x 7 patches, fitted on 5 x 5",
         lambda: Xp(size=7), lambda X: fitted_net().predict(X),
         ValueError, "X has 7 x 7 patches but the model was fitted on 5 x 5"),
    Case(MISMATCH, "net.embed(X)", "10 bands, fitted on 12",
         lambda: Xp(bands=10), lambda X: fitted_net().embed(X),
         ValueError, "X has 10 bands but the model was fitted on 12"),
    Case(MISMATCH, "pipeline.predict(X)", "10 bands, fitted on 12",
         lambda: Xw(bands=10), lambda X: fitted_pipe().predict(X),
         ValueError, "X has 10 bands but PatchExtractor was fitted on 12"),
    Case(MISMATCH, "net.fit(X, y)", "y with 15 rows for 16 samples",
         lambda: dict(X=patches(), y=targets()[:15]), lambda X, y: net().fit(X, y),
         ValueError, "X and y have different numbers of samples: X has 16, y has 15"),
    Case(MISMATCH, "net.partial_fit(X, y)", "10 bands after a fit on 12",
         lambda: dict(X=patches(bands=10), y=targets()),
         lambda X, y: net().fit(patches(), targets()).partial_fit(X, y),
         ValueError, "data of shape (bands=10, patch=5, targets=2) does not match the fitted network "
                     "(bands=12, patch=5, targets=2)"),
    # ---- too small
    Case(SMALL, "PatchExtractor(9).fit(X)", "7 x 7 windows",
         Xw, lambda X: PatchExtractor(9).fit(X),
         ValueError, "patch_size=9 is larger than the windows in X (7 x 7)"),
    Case(SMALL, "PatchExtractor(5).transform(X)", "3 x 3 windows after a fit on 7 x 7",
         lambda: Xw(win=3), lambda X: fitted_pe().transform(X),
         ValueError, "patch_size=5 is larger than the windows in X (3 x 3)"),
    Case(SMALL, "PatchExtractor(5).fit(X)", "7 x 4 windows (too narrow)",
         lambda: dict(X=windows()[:, :, :4]), lambda X: PatchExtractor(S).fit(X),
         ValueError, "patch_size=5 is larger than the windows in X (7 x 4)"),
    Case(SMALL, "PatchExtractor(5).fit_transform(X)", "non-square 7 x 9 windows (centre crop)",
         lambda: dict(X=np.random.default_rng(0).random((N, 7, 9, B))), lambda X: PatchExtractor(S).fit_transform(X),
         shape=(N, 1, B, S, S)),
    Case(SMALL, "ContrastivePatchRegressor('li').fit(X, y)", "3 x 3 patches",
         lambda: dict(X=patches(size=3), y=targets()), lambda X, y: net().fit(X, y),
         ValueError, "backbone 'li' needs patches of at least 5 x 5 pixels, got 3 x 3"),
    Case(SMALL, "ContrastivePatchRegressor('li').fit(X, y)", "4 bands",
         lambda: dict(X=patches(bands=4), y=targets()), lambda X, y: net().fit(X, y),
         ValueError, "backbone 'li' needs at least 5 bands, got 4"),
    # ---- NaN / inf
    Case(NONFINITE, "PatchExtractor(5).fit(X)", "a NaN in X",
         lambda: dict(X=with_value(windows(), np.nan)), lambda X: PatchExtractor(S).fit(X),
         ValueError, "X contains NaN or infinity"),
    Case(NONFINITE, "PatchExtractor.transform(X)", "an inf in X",
         lambda: dict(X=with_value(windows(), np.inf)), lambda X: fitted_pe().transform(X),
         ValueError, "X contains NaN or infinity"),
    Case(NONFINITE, "MeanSpectrum().fit(X)", "a NaN in X",
         lambda: dict(X=with_value(windows(), np.nan)), lambda X: MeanSpectrum().fit(X),
         ValueError, "X contains NaN or infinity"),
    Case(NONFINITE, "net.fit(X, y)", "a NaN in X",
         lambda: dict(X=with_value(patches(), np.nan), y=targets()), lambda X, y: net().fit(X, y),
         ValueError, "X contains NaN or infinity"),
    Case(NONFINITE, "net.predict(X)", "an inf in X",
         lambda: dict(X=with_value(patches(), -np.inf)), lambda X: fitted_net().predict(X),
         ValueError, "X contains NaN or infinity"),
    Case(NONFINITE, "pipeline.fit(X, y)", "a NaN in X",
         lambda: dict(X=with_value(windows(), np.nan), y=targets()), lambda X, y: pipe().fit(X, y),
         ValueError, "X contains NaN or infinity"),
    Case(NONFINITE, "PatchExtractor(5).fit(X)", "float64 X holding 1e300 (finite, beyond float32)",
         lambda: dict(X=with_value(windows().astype(np.float64), 1e300)), lambda X: PatchExtractor(S).fit(X),
         ValueError, "X contains values too large for float32 (largest magnitude 1e+300"),
    Case(NONFINITE, "MeanSpectrum().fit_transform(X)", "float64 X holding 1e300 (MeanSpectrum works in float64)",
         lambda: dict(X=with_value(windows().astype(np.float64), 1e300)), lambda X: MeanSpectrum().fit_transform(X),
         shape=(N, B), dtype="float64"),
    Case(NONFINITE, "net.fit(X, y).predict(X)", "finite but huge X (patches x 1e30): the network standardises it",
         lambda: dict(X=patches() * np.float32(1e30), y=targets()), lambda X, y: net().fit(X, y).predict(X),
         shape=(N, T)),
    Case(NONFINITE, "ContrastivePatchRegressor(lr=1e12).fit(X, y)", "a learning rate that blows the loss up",
         XY, lambda X, y: net(lr=1e12, max_epochs=3).fit(X, y),
         TrainingDivergedError, "the training loss became "),
    Case(NONFINITE, "net.fit(X, y)", "a NaN in y",
         lambda: dict(X=patches(), y=with_value(targets(), np.nan)), lambda X, y: net().fit(X, y),
         ValueError, "y contains NaN or infinity"),
    Case(NONFINITE, "net.fit(X, y)", "an inf in y",
         lambda: dict(X=patches(), y=with_value(targets(), np.inf)), lambda X, y: net().fit(X, y),
         ValueError, "y contains NaN or infinity"),
    Case(NONFINITE, "net.fit(X, y)", "y a nullable pandas Series holding pd.NA",
         lambda: dict(X=patches(), y=pd.Series([None] + list(targets()[1:, 0]), dtype="Float64")),
         lambda X, y: net().fit(X, y), ValueError, "y contains NaN or infinity"),
    # ---- names
    Case(NAMES, "ContrastivePatchRegressor('resnet').fit(X, y)", "unknown backbone",
         XY, lambda X, y: net(backbone="resnet").fit(X, y),
         ValueError, "unknown backbone 'resnet'; choose one of: "),
    Case(NAMES, "ContrastivePatchRegressor(backbone=nn.Linear(3, 3))", "a module instance, not a class",
         XY, lambda X, y: net(backbone=torch.nn.Linear(3, 3)).fit(X, y),
         TypeError, "backbone must be a registered name or an nn.Module *class*"),
    Case(NAMES, "ContrastivePatchRegressor(augment='rotate-by-magic')", "unknown augmentation",
         XY, lambda X, y: net(augment="rotate-by-magic").fit(X, y),
         ValueError, "unknown augmentation 'rotate-by-magic'; choose one of: "),
    Case(NAMES, "ContrastivePatchRegressor(augment=['flip', 'bogus'])", "an unknown name in a list",
         XY, lambda X, y: net(augment=["flip", "bogus"]).fit(X, y),
         ValueError, "unknown augmentation 'bogus'; choose one of: "),
    Case(NAMES, "ContrastivePatchRegressor(contrastive='triplet')", "unknown contrastive loss",
         XY, lambda X, y: net(contrastive="triplet").fit(X, y),
         ValueError, "unknown contrastive loss 'triplet'; choose one of: "),
    Case(NAMES, "get_contrastive_loss('triplet')", "unknown contrastive loss",
         dict, lambda: get_contrastive_loss("triplet"),
         ValueError, "unknown contrastive loss 'triplet'; choose one of: "),
    Case(NAMES, "PatchExtractor(5, spectrum_norm='l1')", "unknown spectrum norm",
         Xw, lambda X: PatchExtractor(S, spectrum_norm="l1").fit(X),
         ValueError, "spectrum_norm must be None or 'l2', got 'l1'"),
    Case(NAMES, "ContrastivePatchRegressor(standardize_targets='yes')", "not True, False or 'auto'",
         XY, lambda X, y: net(standardize_targets="yes").fit(X, y),
         ValueError, "standardize_targets must be True, False or 'auto', got 'yes'"),
    Case(NAMES, "ContrastivePatchRegressor(detach_augmented='yes')", "not True or False",
         XY, lambda X, y: net(detach_augmented="yes").fit(X, y),
         TypeError, "detach_augmented must be True or False, got 'yes'"),
    Case(NAMES, "ContrastivePatchRegressor(ridge_kernel='poly')", "unknown blend partner",
         XY, lambda X, y: net(ridge_kernel="poly").fit(X, y),
         ValueError, "ridge_kernel must be 'auto' or 'linear', got 'poly'"),
    Case(NAMES, "ContrastivePatchRegressor(bogus=1).fit(X, y)", "unknown keyword (skorch checks it at fit)",
         XY, lambda X, y: net(bogus=1).fit(X, y),
         ValueError, "__init__() got unexpected argument(s) bogus"),
    Case(NAMES, "ContrastivePatchRegressor(module__bogus=1).fit(X, y)", "unknown backbone option",
         XY, lambda X, y: net(module__bogus=1).fit(X, y),
         TypeError, "Li.__init__() got an unexpected keyword argument 'bogus'"),
    # ---- numbers
    Case(NUMBERS, "SpectralShift(max_shift=-1)", "a negative strength, at construction",
         dict, lambda: SpectralShift(max_shift=-1),
         ValueError, "max_shift must be >= 0, got -1"),
    Case(NUMBERS, "ContrastivePatchRegressor(augment=RandomRotation()).set_params(augment__max_angle=-200).fit(X, y)",
         "a strength set later, below min_angle", XY,
         lambda X, y: net(augment=RandomRotation()).set_params(augment__max_angle=-200.0).fit(X, y),
         ValueError, "max_angle must be >= -180.0, got -200.0"),
    Case(NUMBERS, "ContrastivePatchRegressor(radius=-1.0)", "negative radius",
         XY, lambda X, y: net(radius=-1.0).fit(X, y), ValueError, "radius must be >= 0.0, got -1.0"),
    Case(NUMBERS, "ContrastivePatchRegressor(alpha=-1.0)", "negative alpha",
         XY, lambda X, y: net(alpha=-1.0).fit(X, y), ValueError, "alpha must be >= 0.0, got -1.0"),
    Case(NUMBERS, "ContrastivePatchRegressor(alpha='big')", "a string alpha",
         XY, lambda X, y: net(alpha="big").fit(X, y), TypeError, "alpha must be a real number >= 0 or 'auto', got 'big' (str)"),
    Case(NUMBERS, "ContrastivePatchRegressor(temperature=0.0)", "zero temperature",
         XY, lambda X, y: net(temperature=0.0).fit(X, y), ValueError, "temperature must be > 0.0, got 0.0"),
    Case(NUMBERS, "ContrastivePatchRegressor(temperature=nan)", "NaN temperature",
         XY, lambda X, y: net(temperature=float("nan")).fit(X, y), ValueError, "temperature must be finite, got nan"),
    Case(NUMBERS, "ContrastivePatchRegressor(positive_fraction=0.0)", "zero positive fraction",
         XY, lambda X, y: net(positive_fraction=0.0).fit(X, y), ValueError, "positive_fraction must be > 0.0, got 0.0"),
    Case(NUMBERS, "ContrastivePatchRegressor(lr=0)", "zero learning rate",
         XY, lambda X, y: net(lr=0).fit(X, y), ValueError, "lr must be > 0.0, got 0"),
    Case(NUMBERS, "ContrastivePatchRegressor(batch_size=0)", "zero batch size",
         XY, lambda X, y: net(batch_size=0).fit(X, y),
         ValueError, "batch_size must be >= 1 (or -1 for the whole data), got 0"),
    Case(NUMBERS, "ContrastivePatchRegressor(batch_size=-1)", "-1: the whole data in one batch",
         XY, lambda X, y: fit_predict(net(batch_size=-1), X, y), shape=(N, T)),
    Case(NUMBERS, "ContrastivePatchRegressor(max_epochs=-1)", "negative epoch count",
         XY, lambda X, y: net(max_epochs=-1).fit(X, y), ValueError, "max_epochs must be >= 0, got -1"),
    Case(NUMBERS, "ContrastivePatchRegressor(max_epochs=0)", "no training: the initialised network predicts",
         XY, lambda X, y: fit_predict(net(max_epochs=0), X, y), shape=(N, T)),
    Case(NUMBERS, "ContrastivePatchRegressor(module__n_planes=0)", "a zero-width backbone",
         XY, lambda X, y: net(module__n_planes=0).fit(X, y), ValueError, "n_planes must be a positive integer, got 0"),
    Case(NUMBERS, "ContrastivePatchRegressor(random_state='seed')", "a string seed",
         XY, lambda X, y: net(random_state="seed").fit(X, y),
         TypeError, "random_state must be None, an int or a numpy RandomState, got 'seed'"),
    Case(NUMBERS, "supcon_contrastive_loss(f, y, radius=-1.0, ...)", "negative radius",
         dict, lambda: loss(radius=-1.0, temperature=0.1), ValueError, "radius must be >= 0.0, got -1.0"),
    Case(NUMBERS, "supcon_contrastive_loss(f, y, temperature=0.0, ...)", "zero temperature",
         dict, lambda: loss(radius=0.1, temperature=0.0), ValueError, "temperature must be > 0.0, got 0.0"),
    Case(NUMBERS, "supcon_contrastive_loss(f.numpy(), y, ...)", "numpy features",
         dict, lambda: supcon_contrastive_loss(np.ones((4, 3)), torch.zeros(4), radius=0.1, temperature=0.1),
         TypeError, "features must be a torch.Tensor, got ndarray"),
    Case(NUMBERS, "PatchExtractor(0)", "zero patch size",
         Xw, lambda X: PatchExtractor(0).fit(X), ValueError, "patch_size must be >= 1, got 0"),
    Case(NUMBERS, "PatchExtractor(2.5)", "a float patch size",
         Xw, lambda X: PatchExtractor(2.5).fit(X), TypeError, "patch_size must be an integer, got 2.5 (float)"),
    Case(NUMBERS, "PatchExtractor(5, standardize='yes')", "not a bool",
         Xw, lambda X: PatchExtractor(S, standardize="yes").fit(X),
         TypeError, "standardize must be True or False, got 'yes'"),
    Case(NUMBERS, "MeanSpectrum(normalize='yes')", "not a bool",
         Xw, lambda X: MeanSpectrum(normalize="yes").fit(X), TypeError, "normalize must be True or False, got 'yes'"),
    # ---- empty / one sample / constant
    Case(EMPTY, "PatchExtractor(5).fit(X)", "no window, (0, 7, 7, 12)",
         lambda: Xw(n=0), lambda X: PatchExtractor(S).fit(X),
         ValueError, "X is empty (shape (0, 7, 7, 12)): at least one sample is required"),
    Case(EMPTY, "MeanSpectrum().fit(X)", "no window, (0, 7, 7, 12)",
         lambda: Xw(n=0), lambda X: MeanSpectrum().fit(X),
         ValueError, "X is empty (shape (0, 7, 7, 12)): at least one sample is required"),
    Case(EMPTY, "net.fit(X, y)", "no sample, (0, 1, 12, 5, 5) and (0, 2)",
         lambda: dict(X=patches()[:0], y=targets()[:0]), lambda X, y: net().fit(X, y),
         ValueError, "X is empty (shape (0, 1, 12, 5, 5)): at least one sample is required"),
    Case(EMPTY, "net.predict(X)", "no sample",
         lambda: dict(X=patches()[:0]), lambda X: fitted_net().predict(X),
         ValueError, "X is empty (shape (0, 1, 12, 5, 5)): at least one sample is required"),
    Case(EMPTY, "PatchExtractor(5).fit(X)", "windows with no band, (16, 7, 7, 0)",
         lambda: Xw(bands=0), lambda X: PatchExtractor(S).fit(X),
         ValueError, "X has a zero-length axis (shape (16, 7, 7, 0)): every sample needs at least one pixel and one band"),
    Case(EMPTY, "MeanSpectrum().fit(X)", "windows with no pixel, (16, 0, 7, 12)",
         lambda: dict(X=windows()[:, :0]), lambda X: MeanSpectrum().fit(X),
         ValueError, "X has a zero-length axis (shape (16, 0, 7, 12))"),
    Case(EMPTY, "net.fit(X, y)", "y with no column, (16, 0)",
         lambda: dict(X=patches(), y=targets()[:, :0]), lambda X, y: net().fit(X, y),
         ValueError, "y has no target columns (shape (n, 0))"),
    Case(EMPTY, "net.fit(X, None)", "no y",
         lambda: dict(X=patches()), lambda X: net().fit(X, None), ValueError, "y is required"),
    Case(EMPTY, "net.fit(X, y)", "one sample (fits; the default radius is 0)",
         lambda: dict(X=patches()[:1], y=targets()[:1]), lambda X, y: fit_predict(net(), X, y), shape=(1, T)),
    Case(EMPTY, "pipeline.fit(X, y)", "one window",
         lambda: dict(X=windows()[:1], y=targets()[:1]), lambda X, y: fit_predict(pipe(), X, y), shape=(1, T)),
    Case(EMPTY, "net.predict(X)", "one sample",
         lambda: dict(X=patches()[:1]), lambda X: fitted_net().predict(X), shape=(1, T)),
    Case(EMPTY, "PatchExtractor(5).fit_transform(X)", "one window",
         lambda: Xw(n=1), lambda X: PatchExtractor(S).fit_transform(X), shape=(1, 1, B, S, S)),
    Case(EMPTY, "net.fit(X, y)", "constant 1-D y",
         lambda: dict(X=patches(), y=np.full(N, 0.3, np.float32)), lambda X, y: fit_predict(net(), X, y),
         shape=(N,)),
    Case(EMPTY, "net.fit(X, y)", "one constant target column among two",
         lambda: dict(X=patches(), y=np.column_stack([targets()[:, 0], np.full(N, 0.3, np.float32)])),
         lambda X, y: fit_predict(net(), X, y), shape=(N, T)),
    Case(EMPTY, "PatchExtractor(5).fit_transform(X)", "a constant band (centred, not divided by 0)",
         lambda: dict(X=np.concatenate([windows()[..., :-1], np.full((N, WIN, WIN, 1), 2.0, np.float32)], -1)),
         lambda X: PatchExtractor(S).fit_transform(X), shape=(N, 1, B, S, S)),
    # ---- dtypes
    Case(DTYPES, "net.fit(X, y)", "float64 X and y",
         lambda: dict(X=patches().astype(np.float64), y=targets().astype(np.float64)),
         lambda X, y: fit_predict(net(), X, y), shape=(N, T)),
    Case(DTYPES, "net.fit(X, y)", "float16 X",
         lambda: dict(X=patches().astype(np.float16), y=targets()), lambda X, y: fit_predict(net(), X, y),
         shape=(N, T)),
    Case(DTYPES, "net.fit(X, y)", "int16 X and int64 y",
         lambda: dict(X=np.round(patches() * 10).astype(np.int16), y=np.arange(N)),
         lambda X, y: fit_predict(net(), X, y), shape=(N,)),
    Case(DTYPES, "pipeline.fit(X, y)", "uint16 windows (raw digital numbers)",
         lambda: dict(X=(windows() * 4000).astype(np.uint16), y=targets()), lambda X, y: fit_predict(pipe(), X, y),
         shape=(N, T)),
    Case(DTYPES, "PatchExtractor(5).fit_transform(X)", "float64 X",
         lambda: dict(X=windows().astype(np.float64)), lambda X: PatchExtractor(S).fit_transform(X),
         shape=(N, 1, B, S, S)),
    Case(DTYPES, "PatchExtractor(5).fit_transform(X)", "float16 X",
         lambda: dict(X=windows().astype(np.float16)), lambda X: PatchExtractor(S).fit_transform(X),
         shape=(N, 1, B, S, S)),
    Case(DTYPES, "PatchExtractor(5).fit_transform(X)", "bool X",
         lambda: dict(X=windows() > 0.5), lambda X: PatchExtractor(S).fit_transform(X), shape=(N, 1, B, S, S)),
    Case(DTYPES, "MeanSpectrum().fit_transform(X)", "int32 X",
         lambda: dict(X=(windows() * 100).astype(np.int32)), lambda X: MeanSpectrum().fit_transform(X),
         shape=(N, B), dtype="float64"),
    Case(DTYPES, "PatchExtractor(5).fit(X)", "complex64 X",
         lambda: dict(X=windows().astype(np.complex64)), lambda X: PatchExtractor(S).fit(X),
         TypeError, "X must hold real numbers, got complex dtype complex64"),
    Case(DTYPES, "PatchExtractor(5).fit(X)", "object X (numbers in an object array)",
         lambda: dict(X=windows().astype(object)), lambda X: PatchExtractor(S).fit(X),
         TypeError, "X must hold real numbers, got dtype object"),
    Case(DTYPES, "net.fit(X, y)", "string y",
         lambda: dict(X=patches(), y=np.full(N, "a")), lambda X, y: net().fit(X, y),
         TypeError, "y must hold real numbers, got dtype <U1"),
    # ---- layout
    Case(LAYOUT, "net.fit(X, y)", "Fortran-ordered X",
         lambda: dict(X=np.asfortranarray(patches()), y=targets()), lambda X, y: fit_predict(net(), X, y),
         shape=(N, T)),
    Case(LAYOUT, "net.fit(X, y)", "a strided view X[::2] of 32 samples",
         lambda: dict(X=patches(n=2 * N)[::2], y=targets()), lambda X, y: fit_predict(net(), X, y), shape=(N, T)),
    Case(LAYOUT, "pipeline.fit(X, y)", "reversed-band view X[..., ::-1], y[:, ::-1]",
         lambda: dict(X=windows()[..., ::-1], y=targets()[:, ::-1]), lambda X, y: fit_predict(pipe(), X, y),
         shape=(N, T)),
    Case(LAYOUT, "MeanSpectrum().fit_transform(X)", "a transposed view (windows stored as (n, w, h, b))",
         lambda: dict(X=windows().transpose(0, 2, 1, 3)), lambda X: MeanSpectrum().fit_transform(X),
         shape=(N, B), dtype="float64"),
    Case(LAYOUT, "pipeline.fit(X, y).predict(X)", "read-only X and y (as every row here: the test makes "
         "all inputs read-only and checks them afterwards)",
         lambda: dict(X=windows(), y=targets()), lambda X, y: fit_predict(pipe(), X, y), shape=(N, T)),
    # ---- containers
    Case(CONTAINERS, "pipeline.fit(X, y)", "nested lists",
         lambda: dict(X=windows().tolist(), y=targets().tolist()), lambda X, y: fit_predict(pipe(), X, y),
         shape=(N, T)),
    Case(CONTAINERS, "MeanSpectrum().fit(X)", "a ragged list of windows",
         lambda: dict(X=[windows()[0], windows()[1, :5]]), lambda X: MeanSpectrum().fit(X),
         TypeError, "X must be array-like of numbers, got list"),
    Case(CONTAINERS, "net.fit(X, y)", "torch tensors",
         lambda: dict(X=torch.from_numpy(patches()), y=torch.from_numpy(targets())),
         lambda X, y: fit_predict(net(), X, y), shape=(N, T)),
    Case(CONTAINERS, "net.fit(X, y)", "y a pandas Series",
         lambda: dict(X=patches(), y=pd.Series(targets()[:, 0])), lambda X, y: fit_predict(net(), X, y),
         shape=(N,)),
    Case(CONTAINERS, "net.fit(X, y)", "y a pandas DataFrame",
         lambda: dict(X=patches(), y=pd.DataFrame(targets(), columns=["soil", "tree"])),
         lambda X, y: fit_predict(net(), X, y), shape=(N, T)),
    Case(CONTAINERS, "net.fit(X, y)", "y a nullable Float64 Series without missing values",
         lambda: dict(X=patches(), y=pd.Series(targets()[:, 0], dtype="Float64")),
         lambda X, y: fit_predict(net(), X, y), shape=(N,)),
    Case(CONTAINERS, "make_pipeline(MeanSpectrum(), Ridge()).fit(X, y)", "y a pandas DataFrame",
         lambda: dict(X=windows(), y=pd.DataFrame(targets(), columns=["soil", "tree"])),
         lambda X, y: fit_predict(make_pipeline(MeanSpectrum(), Ridge()), X, y), shape=(N, T), dtype="float64"),
    Case(CONTAINERS, "PatchExtractor(5).fit(X)", "a DataFrame of flattened windows (16, 588)",
         lambda: dict(X=pd.DataFrame(windows().reshape(N, -1))), lambda X: PatchExtractor(S).fit(X),
         ValueError, "X must be 4-dimensional, got shape (16, 588)"),
    Case(CONTAINERS, "MeanSpectrum().fit(X)", "a scipy sparse matrix",
         lambda: dict(X=scipy.sparse.csr_matrix(windows().reshape(N, -1))), lambda X: MeanSpectrum().fit(X),
         TypeError, "X is a scipy sparse csr_matrix; sparse input is not supported"),
    # ---- order of calls
    Case(STATE, "net.predict(X)", "before fit",
         Xp, lambda X: net().predict(X), NotFittedError, "This ContrastivePatchRegressor instance is not fitted yet"),
    Case(STATE, "PatchExtractor(5).transform(X)", "before fit",
         Xw, lambda X: PatchExtractor(S).transform(X), NotFittedError, "This PatchExtractor instance is not fitted yet"),
    Case(STATE, "ContrastivePatchRegressor().initialize()", "no data to size the network",
         dict, lambda: ContrastivePatchRegressor().initialize(),
         NotFittedError, "ContrastivePatchRegressor builds its network from the data: call fit(X, y)"),
    # ---- no-data
    Case(NONFINITE, "PatchExtractor(5).fit(X)", "a masked array, -9999 under the mask of one pixel of window 3",
         lambda: dict(X=np.ma.masked_equal(with_value(windows(), -9999.0, index=3 * WIN * WIN * B + 5), -9999.0)),
         lambda X: PatchExtractor(S).fit(X), ValueError, "X contains NaN or infinity in 1 of 16 windows (rows 3)"),
    Case(NONFINITE, "Scene(cube, nodata=-9999).windows(5)", "a fill value in one pixel: windows touching it left out",
         lambda: dict(cube=with_value(windows()[0], -9999.0, index=0)),
         lambda cube: Scene(cube, nodata=-9999.0).windows(S, skip_nodata=True)[0], shape=(8, S, S, B)),
    Case(NONFINITE, "Scene(cube, nodata=-9999).windows(5, skip_nodata=False)", "a fill value in one pixel",
         lambda: dict(cube=with_value(windows()[0], -9999.0, index=0)),
         lambda cube: Scene(cube, nodata=-9999.0).windows(S, skip_nodata=False),
         ValueError, "the window with top-left corner (0, 0) touches no-data"),
    # ---- fit parameters, weights, divergence
    Case(FITPARAMS, "net.fit(X, y, max_epochs=20)", "a hyper-parameter passed to fit",
         XY, lambda X, y: net().fit(X, y, max_epochs=20),
         TypeError, "max_epochs passed to fit: hyper-parameters are set on the estimator"),
    Case(FITPARAMS, "net.fit(X, y, weights=w)", "a fit parameter nothing uses",
         XY, lambda X, y: net().fit(X, y, weights=np.ones(N)),
         TypeError, "ContrastivePatchRegressor.fit got unexpected fit parameters (weights)"),
    Case(FITPARAMS, "net.fit(X, y, sample_weight=w)", "non-negative weights, one per window",
         lambda: dict(X=patches(), y=targets(), w=np.linspace(0, 2, N)),
         lambda X, y, w: net().fit(X, y, sample_weight=w).predict(X), shape=(N, T)),
    Case(FITPARAMS, "net.fit(X, y, sample_weight=w)", "a negative weight",
         lambda: dict(X=patches(), y=targets(), w=with_value(np.ones(N), -1.0)),
         lambda X, y, w: net().fit(X, y, sample_weight=w), ValueError, "sample_weight must be >= 0; row 3 has -1.0"),
    Case(FITPARAMS, "net.fit(X, y, sample_weight=w)", "every weight 0",
         lambda: dict(X=patches(), y=targets(), w=np.zeros(N)),
         lambda X, y, w: net().fit(X, y, sample_weight=w), ValueError, "sample_weight is 0 on every labeled window"),
    Case(FITPARAMS, "net.fit(X, y, sample_weight=w)", "8 weights for 16 windows",
         lambda: dict(X=patches(), y=targets(), w=np.ones(8)),
         lambda X, y, w: net().fit(X, y, sample_weight=w), ValueError,
         "sample_weight must have one weight per window, shape (16,); got (8,)"),
    Case(FITPARAMS, "net(module__head='simplex').fit(X, y)", "targets that are not fractions summing to one",
         XY, lambda X, y: net(module__head="simplex").fit(X, y),
         ValueError, "module__head='simplex' predicts fractions (>= 0, summing to 1), but"),
    Case(FITPARAMS, "net(lr=1e30, batch_size=-1, max_epochs=1, ...).fit(X, y)",
         "one optimiser step that blows the weights up (no clipping, no early stopping)",
         XY, lambda X, y: net(lr=1e30, batch_size=-1, alpha=0, ridge=None, early_stopping=False,
                              callbacks__gradient_clipping=None, callbacks__lr_schedule=None).fit(X, y),
         TrainingDivergedError, "after its last optimiser step the network has non-finite"),
]


# --------------------------------------------------------------------------- the table
def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def render():
    lines = [
        "# Bad inputs and what they get",
        "",
        "Generated by `python tests/bad_input_cases.py` from the list of cases that",
        "`tests/test_bad_inputs.py` runs (each error type and message prefix below is asserted, and each",
        "\"works\" row must give a finite output of the stated shape and dtype; every input is passed",
        "read-only and compared afterwards, so no row writes into the caller's arrays). Data: 16 windows",
        "of 7 x 7 pixels with 12 bands, 5 x 5 patches, 2 targets; `net` is",
        "`ContrastivePatchRegressor('li', module__n_planes=2, ...)`, `pipeline` is",
        "`make_pipeline(PatchExtractor(5), net)`.",
        "",
    ]
    for topic in dict.fromkeys(c.topic for c in CASES):
        lines += [f"## {topic}", "", "| call | input | outcome |", "|---|---|---|"]
        for c in (c for c in CASES if c.topic == topic):
            if c.error is None:
                outcome = f"works: `{c.shape}` {c.dtype}, finite"
            else:
                outcome = f"`{c.error.__name__}`: `{_cell(c.prefix)}`"
            lines.append(f"| `{_cell(c.call)}` | {_cell(c.given)} | {outcome} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    DOC.write_text(render())
    print(f"wrote {DOC} ({len(CASES)} cases)")
