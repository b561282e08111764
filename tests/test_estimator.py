import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from conftest import gen, tiny_net_params
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from skorch.callbacks import Callback
from skorch.dataset import ValidSplit

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor, TrainingDivergedError
from hyperspectral_cl._torch_utils import frozen_batchnorm_stats
from hyperspectral_cl.augment import (
    AUGMENTATIONS,
    AtmosphericCompensation,
    HapkeScattering,
    RandomFlip,
    RandomRotation,
    SpectralShift,
    make_augmentation,
)
from hyperspectral_cl.backbones import Backbone
from hyperspectral_cl.estimator import OverlappingValidationWarning
from hyperspectral_cl.losses import ContrastiveCriterion, supcon_contrastive_loss
from hyperspectral_cl.model_selection import spatial_holdout, test_overlap_fraction


def make_model(patch=5, **kw):
    return Pipeline(
        [("patchextractor", PatchExtractor(patch)), ("net", ContrastivePatchRegressor("li", **tiny_net_params(**kw)))]
    )


@pytest.fixture(scope="module")
def patches(windows):
    X, y = windows
    return PatchExtractor(5).fit_transform(X), np.array(y)


def test_pipeline_fit_predict_score(windows):
    X, y = windows
    model = make_model().fit(X, y)
    pred = model.predict(X)
    assert pred.shape == y.shape and pred.dtype == np.float32 and np.isfinite(pred).all()
    assert isinstance(model.score(X, y), float)
    net = model[-1]
    assert (net.n_bands_in_, net.patch_size_, net.n_targets_) == (16, 5, 3)


def test_1d_targets_give_1d_predictions(windows):
    X, y = windows
    model = make_model().fit(X, y[:, 0])
    assert model.predict(X).shape == (len(X),)


def test_training_reduces_loss_and_beats_the_mean(windows):
    X, y = windows
    model = make_model(max_epochs=60, alpha=0.0, augment=None, lr=1e-2).fit(X, y)
    losses = model[-1].history[:, "train_loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert model.score(X, y) > 0.5  # training fit, standardised targets: clearly better than the mean


def test_same_random_state_same_predictions_and_global_rng_untouched(windows):
    X, y = windows
    state = torch.random.get_rng_state()
    p1 = make_model(random_state=3).fit(X, y).predict(X)
    assert torch.equal(state, torch.random.get_rng_state())
    p2 = make_model(random_state=3).fit(X, y).predict(X)
    p3 = make_model(random_state=4).fit(X, y).predict(X)
    np.testing.assert_array_equal(p1, p2)
    assert not np.allclose(p1, p3)


def _fit_predict(X, y, backbone="li", **kw):
    params = tiny_net_params(**kw)
    if backbone != "li":
        del params["module__n_planes"]
    net = ContrastivePatchRegressor(backbone, **params)
    return Pipeline([("patchextractor", PatchExtractor(5)), ("net", net)]).fit(X, y).predict(X)


THREADED = {
    "li, contrastive": dict(augment=["flip", "band_erasure"]),
    "varahagiri, dropout": dict(backbone="varahagiri", module__dim=8, module__heads=2, module__depth=1,
                                module__dropout=0.3, augment="flip"),
}


@pytest.mark.filterwarnings("ignore::hyperspectral_cl.estimator.OverlappingValidationWarning")
@pytest.mark.parametrize("config", list(THREADED))
def test_seeded_fits_in_threads_beside_unseeded_ones_match_sequential_fits(windows, config):
    import threading

    X, y = windows
    kw = THREADED[config]
    expected = {seed: _fit_predict(X, y, **kw, random_state=seed) for seed in (1, 2)}
    results, errors = {}, []

    def run(target):
        try:
            target()
        except BaseException as exc:  # reported below: a thread's exception would otherwise pass silently
            errors.append(exc)

    def seeded(seed):
        results[seed] = _fit_predict(X, y, **kw, random_state=seed)

    def unseeded():  # fits and draws of other code on torch's global generator, at the same time
        for _ in range(2):
            _fit_predict(X, y, **kw, random_state=None)
            torch.rand(1000)

    threads = [threading.Thread(target=run, args=(lambda s=s: seeded(s),)) for s in (1, 2)]
    threads += [threading.Thread(target=run, args=(unseeded,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for seed in (1, 2):
        np.testing.assert_array_equal(results[seed], expected[seed])


@pytest.mark.filterwarnings("ignore::hyperspectral_cl.estimator.OverlappingValidationWarning")
def test_builds_overlapping_in_threads_leave_the_global_generator_as_it_was(patches):
    # torch's layers draw when created, so a build seeds the global generator and restores it: two builds at
    # once must not restore each other's saved state
    import threading
    import time

    class SlowBuild(Backbone):
        def __init__(self, n_bands, patch_size, n_targets):
            super().__init__(n_bands, patch_size, n_targets)
            time.sleep(0.3)  # long enough for the other thread's build to start
            self.body = torch.nn.Linear(n_bands, 4)
            self.build_head(4)

        def features(self, x):
            return self.body(x.mean(dim=(1, 3, 4)))

    P, y = patches
    params = {**tiny_net_params(max_epochs=1), "random_state": None}
    del params["module__n_planes"]
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    torch.randint(0, 2**62, ())  # what the two unseeded fits draw as their seeds
    torch.randint(0, 2**62, ())
    after_seeds = torch.random.get_rng_state()
    torch.random.set_rng_state(state)
    threads = [threading.Thread(target=lambda: ContrastivePatchRegressor(SlowBuild, **params).fit(P, y))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert torch.equal(torch.random.get_rng_state(), after_seeds)


class RecordTargets(Callback):
    """Records the targets of every training batch, in order."""

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.seen.append(np.asarray(batch[1]).copy())

    def initialize(self):
        self.seen = []
        return self


@pytest.mark.filterwarnings("ignore::hyperspectral_cl.estimator.OverlappingValidationWarning")
def test_one_random_state_gives_ablations_the_same_start_and_batch_order(patches):
    # the contrastive term draws augmentations from its own stream: turning it on changes neither the
    # initial weights nor the order of the batches, so a comparison with and without it is paired
    P, y = patches
    fits = []
    for alpha in (0.0, 1.0):
        record = RecordTargets()
        net = ContrastivePatchRegressor("li", **tiny_net_params(alpha=alpha, max_epochs=3, callbacks=[record],
                                                               early_stopping=False))
        start = ContrastivePatchRegressor("li", **tiny_net_params(alpha=alpha, max_epochs=0)).fit(P, y)
        fits.append((net.fit(P, y), record.seen, start.module_.state_dict()))
    (a, seen_a, start_a), (b, seen_b, start_b) = fits
    assert len(seen_a) == len(seen_b) > 3
    for ya, yb in zip(seen_a, seen_b, strict=True):
        np.testing.assert_array_equal(ya, yb)
    for key in start_a:
        torch.testing.assert_close(start_a[key], start_b[key], rtol=0, atol=0, msg=key)
    assert not torch.allclose(a.module_.backbone.conv1.weight, b.module_.backbone.conv1.weight)  # the term acted


@pytest.mark.filterwarnings("ignore::hyperspectral_cl.estimator.OverlappingValidationWarning")
def test_a_generator_given_for_the_training_loader_is_used(patches):
    P, y = patches

    def batches(**kw):
        record = RecordTargets()
        ContrastivePatchRegressor("li", **tiny_net_params(alpha=0.0, max_epochs=1, callbacks=[record], **kw)).fit(P, y)
        return np.concatenate(record.seen)

    own = batches()
    np.testing.assert_array_equal(own, batches())
    given = batches(iterator_train__generator=torch.Generator().manual_seed(123))
    np.testing.assert_array_equal(given, batches(iterator_train__generator=torch.Generator().manual_seed(123)))
    assert not np.array_equal(own, given)


@pytest.mark.filterwarnings("ignore::hyperspectral_cl.estimator.OverlappingValidationWarning")
def test_unseeded_fit_follows_torch_manual_seed(patches):
    P, y = patches

    def weights(seed):
        torch.manual_seed(seed)
        np.random.seed(5)  # noqa: NPY002 (the hold-out of an unseeded fit comes from numpy's global state)
        net = ContrastivePatchRegressor("li", **tiny_net_params(random_state=None)).fit(P, y)
        return net.module_.backbone.conv1.weight.detach()

    assert torch.equal(weights(5), weights(5))
    assert not torch.allclose(weights(5), weights(6))


@pytest.mark.filterwarnings("ignore::hyperspectral_cl.estimator.OverlappingValidationWarning")
def test_custom_backbone_with_its_own_parameter_is_reproducible(patches):
    class Gain(Backbone):
        def __init__(self, n_bands, patch_size, n_targets):
            super().__init__(n_bands, patch_size, n_targets)
            self.gain = torch.nn.Parameter(torch.randn(n_bands))  # a layer torch does not define
            self.build_head(n_bands)

        def features(self, x):
            return x.mean(dim=(1, 3, 4)) * self.gain

    P, y = patches
    params = tiny_net_params()
    del params["module__n_planes"]
    torch.manual_seed(0)
    a = ContrastivePatchRegressor(Gain, **params).fit(P, y)
    torch.manual_seed(1)
    b = ContrastivePatchRegressor(Gain, **params).fit(P, y)
    np.testing.assert_array_equal(a.predict(P), b.predict(P))


def test_grid_search_over_alpha_and_radius(windows):
    X, y = windows
    grid = GridSearchCV(
        make_model(max_epochs=1),
        {"net__alpha": [0.0, 0.1], "net__radius": [0.01, 0.05], "patchextractor__patch_size": [5, 7]},
        cv=2,
    ).fit(X, y)
    assert set(grid.best_params_) == {"net__alpha", "net__radius", "patchextractor__patch_size"}
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()


def test_cross_val_score(windows):
    X, y = windows
    scores = cross_val_score(make_model(max_epochs=1), X, y, cv=KFold(3))
    assert scores.shape == (3,) and np.isfinite(scores).all()


def test_clone_and_params_round_trip():
    net = ContrastivePatchRegressor("li", alpha=0.3, radius=0.2, temperature=0.5, module__n_planes=4,
                                    optimizer__weight_decay=1e-4, augment=["flip", "band_erasure"])
    params = net.get_params(deep=False)
    assert params["backbone"] == "li" and params["module__n_planes"] == 4 and "module" not in params
    cloned = clone(net)
    for key in ("backbone", "alpha", "radius", "temperature", "module__n_planes", "optimizer__weight_decay",
                "augment", "iterator_train__shuffle"):
        assert getattr(cloned, key) == getattr(net, key)
    cloned.set_params(alpha=0.7, module__n_planes=8)
    assert cloned.alpha == 0.7 and cloned.module__n_planes == 8 and net.alpha == 0.3


def test_fit_does_not_change_params(windows):
    X, y = windows
    net = ContrastivePatchRegressor("li", **tiny_net_params())
    before = {k: v for k, v in net.get_params(deep=False).items() if k != "_params_to_validate"}
    make_pipeline(PatchExtractor(5), net).fit(X, y)
    after = {k: v for k, v in net.get_params(deep=False).items() if k != "_params_to_validate"}
    assert before == after


def test_joblib_round_trip_gives_identical_predictions(windows, tmp_path):
    X, y = windows
    model = make_model().fit(X, y)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))


def test_inputs_never_modified(windows):
    X, y = windows  # read-only arrays: any in-place write would raise
    Xc, yc = np.array(X), np.array(y)
    model = make_model().fit(Xc, yc)
    model.predict(Xc)
    np.testing.assert_array_equal(Xc, X)
    np.testing.assert_array_equal(yc, y)
    make_model().fit(X, y).predict(X)


def test_history_reports_both_terms_and_validates_on_the_regression_loss_alone(patches):
    X, y = patches
    net = ContrastivePatchRegressor("li", **tiny_net_params(train_split=ValidSplit(4), alpha=0.5, ridge=None,
                                                            early_stopping=False)).fit(X, y)
    row = net.history[-1]
    for key in ("train_loss", "train_mse", "train_contrastive", "valid_loss"):
        assert np.isfinite(row[key]), key
    assert "valid_contrastive" not in row and "valid_mse" not in row
    np.testing.assert_allclose(row["train_loss"], row["train_mse"] + 0.5 * row["train_contrastive"], rtol=1e-4)
    # valid_loss is the MSE (standardised targets) of the final network on ValidSplit(4)'s rows, the first
    # quarter: no augmentation, no contrastive term, the same number every time it is computed
    valid = np.arange(len(X) // 4)
    net.module_.eval()
    with torch.no_grad():
        pred = net.module_(torch.as_tensor(X[valid]))[0].numpy()
    expected = np.mean((pred - (y[valid] - net.y_mean_) / net.y_scale_) ** 2)
    np.testing.assert_allclose(row["valid_loss"], expected, rtol=1e-5)


class CountingLi(Backbone):
    """A minimal backbone that counts forward calls."""

    min_patch_size = 1
    calls = 0

    def __init__(self, n_bands, patch_size, n_targets, head="linear"):
        super().__init__(n_bands, patch_size, n_targets, head=head)
        self.proj = torch.nn.Linear(n_bands, 4)
        self.build_head(4)

    def features(self, x):
        type(self).calls += self.training  # training passes only (fit also checks the trained network once)
        return torch.relu(self.proj(x.mean(dim=(1, 3, 4))))


@pytest.mark.parametrize("alpha,augment,passes", [(0.0, "flip", 1), (0.5, None, 1), (0.5, "flip", 2)])
def test_baseline_runs_a_single_pass(patches, alpha, augment, passes):
    X, y = patches
    CountingLi.calls = 0
    ContrastivePatchRegressor(CountingLi, alpha=alpha, augment=augment, max_epochs=1, batch_size=len(X),
                              random_state=0, early_stopping=False).fit(X, y)
    assert CountingLi.calls == passes


def test_loss_equals_mse_plus_alpha_contrastive(patches):
    X, y = patches
    X, y = X[:32], y[:32]
    net = ContrastivePatchRegressor("li", **tiny_net_params(alpha=0.3, temperature=0.2, radius=0.02,
                                                            augment=RandomFlip(p=1.0), max_epochs=1)).fit(X, y)
    Xt = torch.as_tensor(X)
    yt = torch.as_tensor((y - net.y_mean_) / net.y_scale_)
    with torch.no_grad():
        pred, f = net.module_(Xt)
        _, f_aug = net.module_(Xt.flip(-1).flip(-2))
        mse = torch.mean((pred - yt) ** 2)
        # the radius is in raw target units: the criterion rescales the standardised targets
        expected = mse + 0.3 * supcon_contrastive_loss(
            torch.cat([f, f_aug]), torch.cat([torch.as_tensor(y)] * 2), radius=0.02, temperature=0.2)
        got, _ = net.get_training_loss(Xt, yt)
        np.testing.assert_allclose(got.item(), expected.item(), rtol=1e-5)
        # validation: the regression loss alone
        np.testing.assert_allclose(net.get_loss(net.module_(Xt), yt, training=False).item(), mse.item(), rtol=1e-6)


def _gradients(net, loss):
    net.module_.zero_grad(set_to_none=True)
    loss.backward()
    return {k: p.grad.clone() for k, p in net.module_.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("detach", [False, True])
def test_detach_augmented_stops_the_gradient_of_the_augmented_view_only(patches, detach):
    X, y = patches
    X, y = X[:32], y[:32]
    net = ContrastivePatchRegressor("li", **tiny_net_params(alpha=0.3, temperature=0.2, radius=0.02, max_epochs=1,
                                                            augment=RandomFlip(p=1.0), detach_augmented=detach,
                                                            early_stopping=False))
    net.fit(X, y)
    Xt = torch.as_tensor(X)
    yt = torch.as_tensor((y - net.y_mean_) / net.y_scale_)

    def reference(stop):
        pred, f = net.module_(Xt)
        _, f_aug = net.module_(Xt.flip(-1).flip(-2))
        f_aug = f_aug.detach() if stop else f_aug
        return torch.mean((pred - yt) ** 2) + 0.3 * supcon_contrastive_loss(
            torch.cat([f, f_aug]), torch.cat([torch.as_tensor(y)] * 2), radius=0.02, temperature=0.2)

    got, _ = net.get_training_loss(Xt, yt)
    expected, other = reference(detach), reference(not detach)
    np.testing.assert_allclose(got.item(), expected.item(), rtol=1e-5)  # the loss value is the same either way
    np.testing.assert_allclose(got.item(), other.item(), rtol=1e-5)
    got, expected, other = _gradients(net, got), _gradients(net, expected), _gradients(net, other)
    assert got.keys() == expected.keys() and len(got) > 2
    for k in got:
        torch.testing.assert_close(got[k], expected[k], rtol=1e-4, atol=1e-7)
    # the two gradients differ, so the test tells them apart
    assert any(not torch.allclose(got[k], other[k], rtol=1e-3, atol=1e-6) for k in got)


def test_detach_augmented_keeps_no_graph_of_the_augmented_view(patches):
    X, y = patches
    X, y = X[:32], y[:32]
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x, generator=None):
            return x.flip(-1)

    def record(module, args, out):
        seen.append(out[1].requires_grad)

    for detach in (False, True):
        seen.clear()
        net = ContrastivePatchRegressor("li", **tiny_net_params(alpha=1.0, augment=Spy(), detach_augmented=detach,
                                                                max_epochs=1, early_stopping=False))
        net.fit(X, y)
        handle = net.module_.backbone.register_forward_hook(record)  # both views pass through it
        seen.clear()
        net.get_training_loss(torch.as_tensor(X), torch.as_tensor((y - net.y_mean_) / net.y_scale_))
        handle.remove()
        assert seen == [True, not detach]  # the patches' pass, then the augmented view's


@pytest.mark.parametrize("options", [dict(precision="bf16"), dict(precision="fp16"),
                                     dict(pretrain_epochs=1, max_epochs=3)])
def test_detach_augmented_with_reduced_precision_and_a_warm_up(patches, options):
    X, y = patches
    net = ContrastivePatchRegressor("li", **tiny_net_params(**{"alpha": 1.0, "detach_augmented": True,
                                                               "early_stopping": False, **options})).fit(X, y)
    assert np.isfinite(net.history[:, "train_loss"]).all() and np.isfinite(net.predict(X)).all()
    assert len(net.history) == options.get("max_epochs", 2)


def test_detach_augmented_is_deterministic_and_refuses_non_booleans(patches):
    X, y = patches
    a = ContrastivePatchRegressor("li", **tiny_net_params(alpha=1.0, detach_augmented=True, early_stopping=False)).fit(X, y)
    b = ContrastivePatchRegressor("li", **tiny_net_params(alpha=1.0, detach_augmented=True, early_stopping=False)).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    with pytest.raises(TypeError, match="detach_augmented must be True or False, got 'yes'"):
        ContrastivePatchRegressor("li", detach_augmented="yes").fit(X, y)


def test_default_radius_hits_the_positive_fraction(windows):
    X, y = windows
    net = make_model(positive_fraction=0.1, max_epochs=1).fit(X, y)[-1]
    d = np.sqrt(((y[:, None] - y[None]) ** 2).sum(-1))[np.triu_indices(len(y), 1)]
    assert abs(np.mean(d <= net.radius_) - 0.1) < 0.01


def test_target_standardisation_and_simplex_head(windows):
    X, y = windows
    net = make_model(max_epochs=1).fit(X, y)[-1]
    # from the training part only: the windows held out for early stopping and the blend take no part
    train = net.training_indices_
    assert len(train) < len(y)
    np.testing.assert_allclose(net.y_mean_, y[train].mean(0), rtol=1e-5)
    np.testing.assert_allclose(net.y_scale_, y[train].std(0), rtol=1e-4)
    assert not np.allclose(net.y_mean_, y.mean(0), rtol=1e-5)
    everything = make_model(max_epochs=1, early_stopping=False).fit(X, y)[-1]
    np.testing.assert_allclose(everything.y_mean_, y.mean(0), rtol=1e-5)
    simplex = make_model(max_epochs=1, module__head="simplex").fit(X, y)
    pred = simplex.predict(X)
    assert simplex[-1].y_scale_.tolist() == [1.0, 1.0, 1.0]
    assert (pred >= 0).all()
    np.testing.assert_allclose(pred.sum(1), 1.0, rtol=1e-5)


def test_frozen_batchnorm_keeps_running_statistics():
    bn = torch.nn.Sequential(torch.nn.BatchNorm1d(3)).train()
    bn(torch.randn(16, 3))
    mean, var, count = bn[0].running_mean.clone(), bn[0].running_var.clone(), bn[0].num_batches_tracked.clone()
    with frozen_batchnorm_stats(bn):
        out = bn(torch.randn(16, 3) * 5 + 2)
    assert torch.equal(mean, bn[0].running_mean) and torch.equal(var, bn[0].running_var)
    assert torch.equal(count, bn[0].num_batches_tracked) and bn[0].momentum == 0.1
    np.testing.assert_allclose(out.mean(0).detach(), 0, atol=1e-5)  # still normalised by batch statistics


def test_custom_module_class(patches):
    X, y = patches
    net = ContrastivePatchRegressor(CountingLi, max_epochs=2, random_state=0).fit(X, y)
    assert net.predict(X).shape == y.shape
    assert net.embed(X).shape == (len(X), 4)


def test_predict_independent_of_batch_size(patches):
    X, y = patches
    net = ContrastivePatchRegressor("li", **tiny_net_params()).fit(X, y)
    p1 = net.predict(X)
    net.set_params(batch_size=7)
    np.testing.assert_allclose(net.predict(X), p1, rtol=1e-5, atol=1e-6)


def test_divergence_raises_clear_error(patches):
    X, y = patches
    with pytest.raises(TrainingDivergedError, match="learning rate"):
        ContrastivePatchRegressor("li", **tiny_net_params(lr=1e12, max_epochs=5)).fit(X, y)


def test_predict_before_fit():
    with pytest.raises(NotFittedError):
        ContrastivePatchRegressor().predict(np.zeros((2, 1, 8, 5, 5), np.float32))
    with pytest.raises(NotFittedError):
        make_model().predict(np.zeros((2, 7, 7, 16)))


@pytest.mark.parametrize(
    "params,match,exc",
    [
        (dict(alpha=-1.0), "alpha must be >= 0", ValueError),
        (dict(radius=-0.1), "radius must be >= 0", ValueError),
        (dict(temperature=0.0), "temperature must be > 0", ValueError),
        (dict(temperature=-1.0), "temperature must be > 0", ValueError),
        (dict(backbone="resnet"), "unknown backbone 'resnet'", ValueError),
        (dict(augment="rotate-by-magic"), "unknown augmentation 'rotate-by-magic'", ValueError),
        (dict(contrastive="triplet"), "unknown contrastive loss 'triplet'", ValueError),
        (dict(backbone=torch.nn.Linear(3, 3)), "nn.Module \\*class\\*", TypeError),
        (dict(alpha="big"), "alpha must be a real number", TypeError),
        (dict(random_state="seed"), "random_state", TypeError),
        (dict(standardize_targets="yes"), "standardize_targets", ValueError),
    ],
)
def test_bad_parameters(patches, params, match, exc):
    X, y = patches
    backbone = params.pop("backbone", "li")
    with pytest.raises(exc, match=match):
        ContrastivePatchRegressor(backbone, **tiny_net_params(**params)).fit(X, y)


def test_bad_data(patches):
    X, y = patches
    net = ContrastivePatchRegressor("li", **tiny_net_params())
    cases = [
        (X[:, 0], y, ValueError, "X must be 5-dimensional"),
        (X.reshape(len(X), 2, 8, 5, 5), y, ValueError, "n_samples, 1, n_bands, S, S"),
        (X[..., :4], y, ValueError, "n_samples, 1, n_bands, S, S"),
        (X[:, :, :, :4, :4], y, ValueError, "backbone 'li' needs patches of at least 5 x 5"),
        (X[:, :, :4], y, ValueError, "backbone 'li' needs at least 5 bands"),
        (np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), y, ValueError, "X contains NaN"),
        (X, np.where(np.arange(y.size).reshape(y.shape) == 5, np.inf, y), ValueError, "y contains NaN"),
        (X, y[:-1], ValueError, "different numbers of samples"),
        (X, y[:, :, None], ValueError, "y must be 1 or 2-dimensional"),
        (X, None, ValueError, "y is required"),
        (X[:0], y[:0], ValueError, "empty"),
        (X.astype(np.complex64), y, TypeError, "real numbers"),
    ]
    for Xb, yb, exc, match in cases:
        with pytest.raises(exc, match=match):
            net.fit(Xb, yb)


def test_predict_rejects_mismatched_shapes(patches, windows):
    X, y = patches
    net = ContrastivePatchRegressor("li", **tiny_net_params()).fit(X, y)
    with pytest.raises(ValueError, match="X has 15 bands but the model was fitted on 16"):
        net.predict(X[:, :, :15])
    with pytest.raises(ValueError, match="fitted on 5 x 5"):
        net.predict(PatchExtractor(7).fit_transform(windows[0]))
    model = make_model().fit(*windows)
    with pytest.raises(ValueError, match="X has 15 bands but PatchExtractor was fitted on 16"):
        model.predict(windows[0][..., :15])


def test_partial_fit_continues_and_checks_shapes(patches):
    X, y = patches
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1))
    net.partial_fit(X, y).partial_fit(X, y)
    assert len(net.history) == 2
    with pytest.raises(ValueError, match="does not match the fitted network"):
        net.partial_fit(X[:, :, :12], y)
    net.fit(X[:, :, :12], y)  # fit starts again with the new shape
    assert net.n_bands_in_ == 12 and len(net.history) == 1


def test_initialize_without_data_is_a_clear_error():
    with pytest.raises(NotFittedError, match="call fit"):
        ContrastivePatchRegressor().initialize()


def test_tags():
    tags = ContrastivePatchRegressor(random_state=0).__sklearn_tags__()
    assert tags.target_tags.multi_output and not tags.input_tags.two_d_array and not tags.non_deterministic
    assert ContrastivePatchRegressor().__sklearn_tags__().non_deterministic


# ----------------------------------------------------------------------------- the default recipe
def test_default_recipe_components():
    net = ContrastivePatchRegressor()
    assert net.optimizer is torch.optim.AdamW and net.lr == 3e-3 and net.batch_size == 64 and net.max_epochs == 100
    names = dict(net.get_default_callbacks())
    assert {"lr_schedule", "gradient_clipping", "early_stopping"} <= set(names)
    assert "early_stopping" not in dict(ContrastivePatchRegressor(early_stopping=False).get_default_callbacks())


def test_early_stopping_holds_out_a_spatial_region_given_positions(scene):
    X, y, coords = scene.windows(5)
    P = PatchExtractor(5).fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OverlappingValidationWarning)
        net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1)).fit(P, y, groups=coords)
    valid = net.validation_indices_
    assert len(valid) >= 0.15 * len(P)
    # the hold-out is spatial_holdout's, whose training windows share no pixel with a validation window
    seed = np.random.SeedSequence([0, 1]).generate_state(1)[0]
    kept, held = spatial_holdout(coords, 5, y=y, random_state=np.random.RandomState(seed))
    np.testing.assert_array_equal(valid, held)
    assert test_overlap_fraction(kept, held, coords, 5) == 0.0
    # the same through a Pipeline, with positions routed to the net
    model = make_model(max_epochs=1).fit(X, y, net__groups=coords)
    np.testing.assert_array_equal(model[-1].validation_indices_, valid)


def test_early_stopping_without_positions_warns_about_overlap(patches):
    X, y = patches
    with pytest.warns(OverlappingValidationWarning, match="groups=coords"):
        net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1)).fit(X, y)
    assert len(net.validation_indices_) == round(0.15 * len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error", OverlappingValidationWarning)
        off = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1, early_stopping=False)).fit(X, y)
        small = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1)).fit(X[:19], y[:19])  # 'auto'
        given = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1, train_split=ValidSplit(4))).fit(X, y)
    assert off.validation_indices_ is None and small.validation_indices_ is None
    np.testing.assert_array_equal(given.validation_indices_, np.arange(len(X) // 4))  # ValidSplit's rows
    assert np.isfinite(given.history[-1, "valid_loss"])


def test_early_stopping_is_deterministic_under_random_state(scene):
    X, y, coords = scene.windows(5)
    P = PatchExtractor(5).fit_transform(X)
    fit = lambda: ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=3)).fit(P, y, groups=coords)  # noqa: E731
    a, b = fit(), fit()
    np.testing.assert_array_equal(a.validation_indices_, b.validation_indices_)
    np.testing.assert_array_equal(a.predict(P), b.predict(P))
    assert a.history[:, "valid_loss"] == b.history[:, "valid_loss"]


def test_bad_groups_for_early_stopping(patches):
    X, y = patches
    with pytest.raises(ValueError, match="shape \\(196, 2\\).*got shape \\(3, 2\\)"):
        ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1)).fit(X, y, groups=np.zeros((3, 2)))


@pytest.mark.parametrize("params,match,exc", [
    (dict(early_stopping="yes"), "early_stopping must be True, False or 'auto'", ValueError),
    (dict(validation_fraction=1.0), "validation_fraction must be < 1", ValueError),
    (dict(n_iter_no_change=0), "n_iter_no_change must be >= 1", ValueError),
    (dict(spectrum_norm="max"), "spectrum_norm must be None or 'l2'", ValueError),
    (dict(standardize_inputs="yes"), "standardize_inputs must be True or False", TypeError),
])
def test_bad_recipe_parameters(patches, params, match, exc):
    X, y = patches
    with pytest.raises(exc, match=match):
        ContrastivePatchRegressor("li", **tiny_net_params(**params)).fit(X, y)


# ----------------------------------------------------------------------------- the contrastive criterion
def test_contrastive_criterion_is_built_once_and_routed(patches):
    X, y = patches
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1, temperature=0.3, radius=0.05,
                                                            early_stopping=False)).fit(X, y)
    assert isinstance(net.contrastive_, ContrastiveCriterion)
    assert (net.contrastive_.temperature, net.contrastive_.radius) == (0.3, 0.05)
    torch.testing.assert_close(net.contrastive_.target_scale, torch.as_tensor(net.y_scale_))
    routed = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1, contrastive="paper",
                                                               contrastive__temperature=0.7,
                                                               early_stopping=False)).fit(X, y)
    assert routed.contrastive_.temperature == 0.7 and routed.contrastive_.loss == "paper"
    routed.set_params(contrastive__radius=0.2)  # skorch re-initialises the criterion
    assert routed.contrastive_.radius == 0.2
    assert clone(routed).get_params()["contrastive__temperature"] == 0.7


def test_a_users_contrastive_criterion_class(patches):
    X, y = patches

    class Recording(ContrastiveCriterion):
        calls = []

        def __init__(self, margin=1.0, **kwargs):
            super().__init__(**kwargs)
            self.margin = margin

        def forward(self, features, targets):
            type(self).calls.append((features.shape, self.margin))
            return super().forward(features, targets)

    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1, contrastive=Recording,
                                                            contrastive__margin=0.5, batch_size=len(X),
                                                            early_stopping=False)).fit(X, y)
    assert Recording.calls and Recording.calls[0][1] == 0.5
    assert Recording.calls[0][0][0] == 2 * len(X)  # both views
    assert isinstance(net.contrastive_, Recording)


def test_the_contrastive_term_lives_in_the_training_step_only(patches):
    X, y = patches
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1, early_stopping=False)).fit(X, y)
    Xt, yt = torch.as_tensor(X[:16]), torch.as_tensor((y[:16] - net.y_mean_) / net.y_scale_)
    with torch.no_grad():
        pred = net.module_(Xt)
        assert net.get_loss(pred, yt, X=Xt, training=True) == torch.mean((pred[0] - yt) ** 2)
        train_loss, _ = net.get_training_loss(Xt, yt)
    assert train_loss > net.get_loss(pred, yt)  # alpha x a positive contrastive term on top


class RecordingHapke(HapkeScattering):
    """Hapke scattering that records what it is applied to."""

    seen = []

    def transform(self, x, params):
        type(self).seen.append(x.detach().clone())
        return super().transform(x, params)


def test_augment_set_on_a_fitted_net_and_the_callers_transforms_left_alone():
    rng = np.random.default_rng(0)
    P, y = rng.random((40, 1, 6, 5, 5), dtype=np.float32), rng.random((40, 2), dtype=np.float32)
    user = RandomRotation(mode="rot90")
    net = ContrastivePatchRegressor("li", augment=[user, "flip"], **tiny_net_params(max_epochs=1)).fit(P, y)
    members = list(net.augment_.modules())
    assert user not in members and any(isinstance(m, RandomRotation) for m in members)  # a copy, never moved
    net.set_params(augment="spectral_shift")  # a plain parameter, on a fitted net too
    assert net.augment == "spectral_shift" and type(net.augment_).__name__ == "SpectralShift"
    net.set_params(augment=user).partial_fit(P, y)
    assert net.augment is user and net.augment_ is not user
    with pytest.raises(TypeError, match=r"unexpected argument\(s\) augment__max_shift: a transform's parameters"):
        ContrastivePatchRegressor("li", augment=SpectralShift(), augment__max_shift=7,
                                  **tiny_net_params(max_epochs=1)).fit(P, y)


def test_a_grid_search_scores_an_invalid_augmentation_cell_as_nan():
    rng = np.random.default_rng(0)
    P, y = rng.random((40, 1, 6, 5, 5), dtype=np.float32), rng.random(40, dtype=np.float32)
    grid = GridSearchCV(ContrastivePatchRegressor("li", augment=RandomRotation(), **tiny_net_params(max_epochs=1)),
                        {"augment__min_angle": [0.0, 50.0], "augment__max_angle": [40.0]}, cv=2, error_score=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's FitFailedWarning for the invalid cell, overlap warnings
        grid.fit(P, y)
    scores = grid.cv_results_["mean_test_score"]
    assert np.isfinite(scores[0]) and np.isnan(scores[1])  # min_angle 50 > max_angle 40: that cell only


def test_physical_augmentations_see_reflectance_in_a_default_pipeline_inside_cross_validation():
    rng = np.random.default_rng(0)
    windows = rng.uniform(0.05, 0.6, (60, 5, 5, 12)).astype(np.float32)
    y = rng.random((60, 2)).astype(np.float32)
    RecordingHapke.seen.clear()
    model = make_pipeline(PatchExtractor(5), ContrastivePatchRegressor(
        "li", augment=RecordingHapke(), **tiny_net_params(max_epochs=1, batch_size=20)))
    scores = cross_val_score(model, windows, y, cv=KFold(3))
    assert np.isfinite(scores).all() and len(RecordingHapke.seen) == 3 * 2  # 3 folds x 2 batches
    raw = windows.transpose(0, 3, 1, 2).reshape(60, -1)
    for x in RecordingHapke.seen:  # every augmented batch is made of the user's reflectance windows
        rows = x.reshape(len(x), -1).numpy()
        assert all((np.abs(raw - r).max(axis=1) == 0).any() for r in rows)
    # the Hapke identity holds through the pipeline: at the reference geometry the view is the patch itself
    x = RecordingHapke.seen[0]
    torch.testing.assert_close(HapkeScattering(min_angle=30.0, max_angle=30.0)(x), x)
    torch.testing.assert_close(AtmosphericCompensation(max_angle=0.0)(x), x)


# ----------------------------------------------------------------------------- unlabeled windows
@pytest.fixture(scope="module")
def semi(scene):
    """Patches of every 5 x 5 window of the scene, a quarter of them labeled, and their positions."""
    X, y, coords = scene.windows(5)
    P = PatchExtractor(5).fit_transform(X)
    labeled = np.random.default_rng(0).random(len(P)) < 0.25
    y_semi = np.where(labeled[:, None], y, np.nan).astype(np.float32)
    return P, y_semi, y, coords, labeled


class RecordSplit(Callback):
    """Record the training rows and the batches of each fit."""

    def initialize(self):
        self.train_rows, self.batches = None, []
        return self

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.train_rows is None:
            self.train_rows = np.asarray(dataset_train.indices)

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.batches.append(np.isnan(np.asarray(batch[1])).all(axis=1))


@pytest.mark.filterwarnings("ignore::hyperspectral_cl.estimator.OverlappingValidationWarning")
def test_a_generator_given_for_the_training_loader_shuffles_semi_supervised_batches(semi):
    P, y_semi, *_ = semi

    def batches(seed):
        record = RecordTargets()
        ContrastivePatchRegressor("li", semi_supervised=True, **tiny_net_params(
            max_epochs=1, callbacks=[record], iterator_train__generator=torch.Generator().manual_seed(seed))
        ).fit(P, y_semi)
        return np.concatenate([np.nan_to_num(b, nan=-1.0) for b in record.seen])

    np.testing.assert_array_equal(batches(1), batches(1))
    assert not np.array_equal(batches(1), batches(2))


def test_nan_targets_need_semi_supervised(semi):
    P, y_semi, *_ = semi
    with pytest.raises(ValueError, match="semi_supervised=True"):
        ContrastivePatchRegressor("li", **tiny_net_params()).fit(P, y_semi)
    partial = np.array(y_semi)
    partial[np.flatnonzero(~np.isnan(partial).any(axis=1))[0], 0] = np.nan
    with pytest.raises(ValueError, match="NaN in some but not all targets"):
        ContrastivePatchRegressor("li", semi_supervised=True, **tiny_net_params()).fit(P, partial)
    with pytest.raises(ValueError, match="every row of y is NaN"):
        ContrastivePatchRegressor("li", semi_supervised=True, **tiny_net_params()).fit(P, np.full_like(y_semi, np.nan))
    with pytest.raises(ValueError, match="contrastive term, which is off"):
        ContrastivePatchRegressor("li", semi_supervised=True, **tiny_net_params(alpha=0.0)).fit(P, y_semi)


def test_unlabeled_rows_take_no_part_in_statistics_validation_or_the_regression_loss(semi):
    P, y_semi, y, coords, labeled = semi
    rec = RecordSplit()
    net = ContrastivePatchRegressor("li", semi_supervised=True, **tiny_net_params(
        max_epochs=2, batch_size=16, unlabeled_batch_size=8, callbacks=[rec], early_stopping=True)).fit(
        P, y_semi, groups=coords)
    fit_rows = np.intersect1d(np.flatnonzero(labeled), net.training_indices_)  # not the held-out block
    np.testing.assert_allclose(net.y_mean_, y[fit_rows].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(net.y_scale_, y[fit_rows].std(axis=0), rtol=1e-4)
    assert labeled[net.validation_indices_].all()  # only labeled windows are held out
    train = rec.train_rows
    assert not np.isin(net.validation_indices_, train).any()
    # unlabeled windows of the held-out region stay out of training
    unlabeled_train = train[~labeled[train]]
    assert test_overlap_fraction(unlabeled_train, net.validation_indices_, coords, 5) == 0.0
    assert len(unlabeled_train) > 0
    # every batch: at most 16 labeled rows and 8 unlabeled ones; an epoch is one pass over the labeled
    n_labeled_train = int(labeled[train].sum())
    per_epoch = int(np.ceil(n_labeled_train / 16))
    assert len(rec.batches) == 2 * per_epoch
    for unl in rec.batches:
        assert (~unl).sum() <= 16 and 1 <= unl.sum() <= 8
    assert sum((~unl).sum() for unl in rec.batches[:per_epoch]) == n_labeled_train
    # the regression loss ignores unlabeled rows
    Xt = torch.as_tensor(P[:40])
    yt = torch.as_tensor((y_semi[:40] - net.y_mean_) / net.y_scale_)
    keep = ~torch.isnan(yt).any(dim=1)
    with torch.no_grad():
        pred = net.module_(Xt)
        torch.testing.assert_close(net.get_loss(pred, yt), torch.mean((pred[0][keep] - yt[keep]) ** 2))
    assert np.isfinite(net.predict(P)).all()


def test_unlabeled_windows_change_what_is_learned(semi):
    P, y_semi, _, _, labeled = semi
    params = tiny_net_params(max_epochs=3, batch_size=16, early_stopping=False)
    with_unlabeled = ContrastivePatchRegressor("li", semi_supervised=True, **params).fit(P, y_semi)
    without = ContrastivePatchRegressor("li", semi_supervised=True, **params).fit(P[labeled], y_semi[labeled])
    assert not np.allclose(with_unlabeled.predict(P), without.predict(P))
    # and semi_supervised=True on fully labeled data is plain supervised training
    plain = ContrastivePatchRegressor("li", **params).fit(P[labeled], y_semi[labeled])
    np.testing.assert_allclose(without.predict(P), plain.predict(P), rtol=1e-6, atol=1e-7)


def test_alpha_auto_is_off_with_labels_alone_and_on_with_unlabeled_windows(semi):
    P, y_semi, _, _, labeled = semi
    params = tiny_net_params(max_epochs=2, batch_size=32, early_stopping=False)
    params.pop("alpha")
    supervised = ContrastivePatchRegressor("li", **params).fit(P[labeled], y_semi[labeled])
    assert supervised.alpha == "auto" and "train_contrastive" not in supervised.history_[-1]
    off = ContrastivePatchRegressor("li", alpha=0.0, **params).fit(P[labeled], y_semi[labeled])
    np.testing.assert_array_equal(supervised.predict(P), off.predict(P))
    with_pool = ContrastivePatchRegressor("li", semi_supervised=True, **params).fit(P, y_semi)
    assert np.isfinite(with_pool.history_[-1]["train_contrastive"])
    on = ContrastivePatchRegressor("li", semi_supervised=True, alpha=1.0, **params).fit(P, y_semi)
    np.testing.assert_array_equal(with_pool.predict(P), on.predict(P))
    # a warm-up on the contrastive term alone switches it on too
    pretrained = ContrastivePatchRegressor("li", pretrain_epochs=1, **params).fit(P[labeled], y_semi[labeled])
    assert any(np.isfinite(h.get("train_contrastive", np.nan)) for h in pretrained.history_)


def test_the_defaults_are_the_measured_recipe():
    net = ContrastivePatchRegressor()
    assert (net.backbone, net.alpha, net.spectrum_norm, net.ridge) == ("pixel-mlp", "auto", "l2", "auto")


def test_a_pipeline_transforms_labeled_and_unlabeled_windows(scene):
    X, y, coords = scene.windows(5)
    y = np.array(y)
    y[::3] = np.nan
    model = make_pipeline(PatchExtractor(5), ContrastivePatchRegressor("li", semi_supervised=True,
                                                                       **tiny_net_params(max_epochs=1)))
    model.fit(X, y, contrastivepatchregressor__groups=coords)
    assert model.predict(X).shape == y.shape


def test_self_supervised_warm_up(semi):
    P, y_semi, y, coords, _ = semi
    net = ContrastivePatchRegressor("li", semi_supervised=True, pretrain_epochs=2, **tiny_net_params(
        max_epochs=5, batch_size=32, early_stopping=True, n_iter_no_change=1)).fit(P, y_semi, groups=coords)
    flags = net.history[:, "pretraining"]
    assert flags[:2] == [True, True] and not any(flags[2:])
    # the warm-up trains on the contrastive term alone, and early stopping starts watching after it
    np.testing.assert_allclose(net.history[:2, "train_loss"], net.history[:2, "train_contrastive"], rtol=1e-6)
    assert net.best_epoch_ >= 2 and len(net.history) >= 3
    with pytest.raises(ValueError, match="pretrain_epochs=2 needs the contrastive term"):
        ContrastivePatchRegressor("li", pretrain_epochs=2, **tiny_net_params(alpha=0.0, max_epochs=5)).fit(
            P[:20], y[:20])
    with pytest.raises(ValueError, match="pretrain_epochs=2 leaves no epoch of the joint phase"):
        ContrastivePatchRegressor("li", pretrain_epochs=2, **tiny_net_params(max_epochs=2)).fit(P[:20], y[:20])


def test_a_scene_as_an_unlabeled_pool_through_a_pipeline():
    from hyperspectral_cl.datasets import make_synthetic_scene

    scene = make_synthetic_scene(n_endmembers=3, shape=(40, 40), n_bands=12, smoothness=1.5, random_state=0)
    pixels = np.random.default_rng(0).integers(0, 40, (120, 2))
    X, y, coords = scene.labeled_windows(pixels, size=5)
    pool = scene.unlabeled_patches(5)
    draws = []

    class Spy(Callback):
        def on_batch_begin(self, net, batch=None, training=False, **kwargs):
            if training:
                draws.append(len(batch[0]))

    model = make_pipeline(PatchExtractor(5), ContrastivePatchRegressor("li", semi_supervised=True, **tiny_net_params(
        max_epochs=2, batch_size=16, unlabeled_batch_size=24, callbacks=[Spy()], early_stopping=True)))
    model.fit(X, y, contrastivepatchregressor__groups=coords, contrastivepatchregressor__unlabeled=pool)
    net = model[-1]
    assert not hasattr(net, "_unlabeled_pool")  # the pool (a whole cube) is not kept after fit
    assert np.isfinite(model.predict(X)).all() and all(n <= 16 for n in draws)
    # the pool changes what the network learns (24 unlabeled patches join each batch of at most 16 labeled
    # ones); compared without the ridge blend and early stopping, which may keep ridge or the initial network
    learned = []
    for extra in ({}, {"contrastivepatchregressor__unlabeled": pool}):
        alone = make_pipeline(PatchExtractor(5), ContrastivePatchRegressor("li", semi_supervised=True, ridge=None,
                                                                           **tiny_net_params(
            max_epochs=2, batch_size=16, unlabeled_batch_size=24, early_stopping=False)))
        learned.append(alone.fit(X, y, contrastivepatchregressor__groups=coords, **extra).predict(X))
    assert not np.allclose(*learned)
    # draws avoid the early-stopping hold-out: spy on the pool the step draws from
    seen = []
    original = type(pool).draw

    def spy_draw(self, n, generator=None):
        patches, corners = original(self, n, generator)
        seen.append(corners)
        return patches, corners

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(pool), "draw", spy_draw)
        model.fit(X, y, contrastivepatchregressor__groups=coords, contrastivepatchregressor__unlabeled=pool)
    valid = coords[model[-1].validation_indices_]
    from hyperspectral_cl.model_selection import near_windows

    assert not near_windows(np.concatenate(seen), valid, 5, 2).any()


def test_bad_unlabeled_pools(patches):
    from hyperspectral_cl.sampling import UnlabeledPatches

    X, y = patches
    pool = UnlabeledPatches(np.zeros((20, 20, X.shape[2]), np.float32), 5)
    with pytest.raises(ValueError, match="needs semi_supervised=True"):
        ContrastivePatchRegressor("li", **tiny_net_params()).fit(X, y, unlabeled=pool)
    with pytest.raises(ValueError, match="cuts 5 x 5 patches of 9 bands"):
        ContrastivePatchRegressor("li", semi_supervised=True, **tiny_net_params()).fit(
            X, y, unlabeled=UnlabeledPatches(np.zeros((20, 20, 9), np.float32), 5))
    with pytest.raises(TypeError, match="UnlabeledPatches pool"):
        ContrastivePatchRegressor("li", semi_supervised=True, **tiny_net_params()).fit(X, y, unlabeled=np.zeros(3))
    with pytest.raises(ValueError, match="contrastive term, which is off"):
        ContrastivePatchRegressor("li", semi_supervised=True, **tiny_net_params(alpha=0.0)).fit(X, y, unlabeled=pool)


# ----------------------------------------------------------------------------- found in review
def test_fitting_twice_equals_fitting_a_clone(patches):
    X, y = patches
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=2, early_stopping=False))
    first = net.fit(X, y).predict(X)
    again = net.fit(X, y).predict(X)
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(clone(net).fit(X, y).predict(X), first)


def test_a_backbone_returning_its_prediction_alone():
    class PredictionOnly(torch.nn.Module):
        def __init__(self, n_bands, patch_size, n_targets):
            super().__init__()
            self.out = torch.nn.Linear(n_bands, n_targets)

        def forward(self, x):
            return self.out(x.mean(dim=(1, 3, 4)))

    rng = np.random.default_rng(0)
    X, y = rng.random((40, 1, 6, 3, 3)).astype(np.float32), rng.random((40, 3)).astype(np.float32)
    net = ContrastivePatchRegressor(PredictionOnly, alpha=0.0, max_epochs=2, batch_size=2, random_state=0).fit(X, y)
    assert net.predict(X).shape == (40, 3)
    with pytest.raises(TypeError, match="no embedding"):
        net.embed(X)
    with pytest.raises(TypeError, match="returned a prediction alone"):
        ContrastivePatchRegressor(PredictionOnly, alpha=1.0, max_epochs=1, random_state=0).fit(X, y)


def test_semi_supervised_with_a_split_that_holds_out_unlabeled_rows_is_refused(semi):
    P, y_semi, *_ = semi
    with pytest.raises(ValueError, match="unlabeled windows \\(NaN targets\\) in the validation part"):
        ContrastivePatchRegressor("li", semi_supervised=True, **tiny_net_params(
            train_split=ValidSplit(0.2, random_state=0))).fit(P, y_semi)


class RecordRates(Callback):
    def initialize(self):
        self.rates = []
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.rates.append(net.optimizer_.param_groups[0]["lr"])


def test_the_schedule_survives_a_failed_call(patches):
    X, y = patches
    rec = RecordRates()
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=3, early_stopping=False, callbacks=[rec]))
    net.fit(X, y)
    original = ContrastivePatchRegressor.get_training_loss
    calls = []

    def failing(self, X, y):  # a call that fails in its third step (an out-of-memory error, say)
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError("out of memory")
        return original(self, X, y)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ContrastivePatchRegressor, "get_training_loss", failing)
        with pytest.raises(RuntimeError):
            net.partial_fit(X, y)
    assert net.optimizer_.param_groups[0]["lr"] != net.lr  # left mid-schedule by the failure
    rec.rates.clear()
    net.partial_fit(X, y)
    assert max(rec.rates) == pytest.approx(net.lr)  # the next call's schedule starts again from the base rate


def test_early_stopping_with_two_labeled_windows_keeps_one_for_training():
    rng = np.random.default_rng(0)
    X, y = rng.random((2, 1, 6, 5, 5)).astype(np.float32), rng.random(2).astype(np.float32)
    with pytest.warns(OverlappingValidationWarning):
        net = ContrastivePatchRegressor("li", **tiny_net_params(early_stopping=True, validation_fraction=0.9)).fit(X, y)
    assert len(net.validation_indices_) == 1 and len(net.training_indices_) == 1
    with pytest.raises(ValueError, match="at least 2 labeled windows"):
        ContrastivePatchRegressor("li", **tiny_net_params(early_stopping=True)).fit(X[:1], y[:1])


def test_a_pickle_taken_during_fit_leaves_the_pool_out(patches):
    from hyperspectral_cl.sampling import UnlabeledPatches

    X, y = patches
    pool = UnlabeledPatches(np.zeros((20, 20, X.shape[2]), np.float32), 5)
    snapshot = Snapshot()
    ContrastivePatchRegressor("li", semi_supervised=True, **tiny_net_params(
        max_epochs=1, early_stopping=False, callbacks=[snapshot])).fit(X, y, unlabeled=pool)
    assert snapshot.pickles and not hasattr(pickle.loads(snapshot.pickles[0]), "_unlabeled_pool")


class Snapshot(Callback):
    """Pickle the net at the end of each epoch, as a checkpoint would."""

    def initialize(self):
        self.pickles = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.pickles.append(pickle.dumps(net))


# --------------------------------------------------------------- no silent wrong answers (issue 15)
class InterruptingLi(CountingLi):
    """Raises KeyboardInterrupt, as Ctrl-C would, in the forward pass of the third training epoch."""

    interrupt_at = 0

    def features(self, x):
        if self.training:
            type(self).calls += 1
            if type(self).calls == type(self).interrupt_at:
                raise KeyboardInterrupt
        return torch.relu(self.proj(x.mean(dim=(1, 3, 4))))


def interrupting_net(X, **params):
    InterruptingLi.calls, InterruptingLi.interrupt_at = 0, 3  # one batch per epoch: the third epoch
    return ContrastivePatchRegressor(InterruptingLi, alpha=0, batch_size=len(X), max_epochs=10, random_state=0,
                                     early_stopping=False, **params)


def test_ctrl_c_is_raised_and_keeps_the_model_trained_so_far(patches):
    X, y = patches
    net = interrupting_net(X)
    with pytest.raises(KeyboardInterrupt, match="interrupted after 3 epochs"):
        net.fit(X, y)
    assert len(net.history_) == 3 and np.isfinite(net.predict(X)).all()  # skorch's stop-and-keep, then raised


def test_ctrl_c_stops_a_cross_validation_instead_of_scoring_a_cut_short_model(patches):
    X, y = patches
    with pytest.raises(KeyboardInterrupt):
        cross_val_score(interrupting_net(X), X, y, cv=KFold(2))
    assert InterruptingLi.calls == 3  # the second fold never started


def test_callbacks_still_end_training_quietly_with_skorchs_convention(patches):
    from skorch.callbacks import EarlyStopping

    X, y = patches
    net = ContrastivePatchRegressor(CountingLi, alpha=0, max_epochs=50, random_state=0, early_stopping=False,
                                    train_split=ValidSplit(4), callbacks=[("es", EarlyStopping(patience=1))])
    net.fit(X, y)  # skorch's EarlyStopping raises a plain KeyboardInterrupt inside its hook
    assert len(net.history_) < 50


@pytest.mark.parametrize("params,match", [
    ({"max_epochs": 20}, r"max_epochs passed to fit: hyper-parameters are set on the estimator"),
    ({"epochs": 3}, r"unexpected fit parameters \(epochs\)"),
])
def test_fit_parameters_nothing_uses_are_refused(patches, params, match):
    X, y = patches
    with pytest.raises(TypeError, match=match):
        ContrastivePatchRegressor("li", **tiny_net_params()).fit(X[:64], y[:64], **params)


def test_fit_parameters_are_refused_through_a_pipeline(windows):
    X, y = windows
    with pytest.raises(TypeError, match=r"unexpected fit parameters \(weights\)"):
        make_model().fit(X, y, net__weights=np.ones(len(X)))


def test_sample_weight_weighs_the_regression_loss(patches):
    X, y = patches
    X, y = X[:32], y[:32]
    w = np.linspace(0.0, 3.0, 32)
    net = ContrastivePatchRegressor("li", **tiny_net_params(alpha=0.0, max_epochs=1, early_stopping=False))
    net.fit(X, y, sample_weight=w)
    yt = (y - net.y_mean_) / net.y_scale_
    with torch.no_grad():
        pred = net.module_(torch.as_tensor(X))[0].numpy()
    expected = np.mean((w / w.mean()) * ((pred - yt) ** 2).mean(axis=1))  # weights averaging 1
    net._weight_scale = w.mean()  # as during fit: the targets carry the weights as a last column
    try:
        got = net.get_loss(torch.as_tensor(pred), torch.as_tensor(np.column_stack([yt, w])))
    finally:
        del net._weight_scale
    np.testing.assert_allclose(got.item(), expected, rtol=1e-5)
    # the target statistics are weighted, as StandardScaler's: the first window (weight 0) takes no part
    np.testing.assert_allclose(net.y_mean_, np.average(y, axis=0, weights=w), rtol=1e-5)
    np.testing.assert_allclose(net.y_mean_, y[1:].astype(np.float64).T @ w[1:] / w.sum(), rtol=1e-5)


def test_a_window_of_weight_zero_takes_no_part(patches):
    X, y = patches
    X, y = X[:64], np.array(y[:64])
    y[7] += 5.0  # a gross error in one label, which the user down-weights to 0
    w = np.ones(64)
    w[7] = 0.0
    params = tiny_net_params(alpha=0.0, max_epochs=20, early_stopping=False)
    weighted = ContrastivePatchRegressor("li", **params).fit(X, y, sample_weight=w)
    plain = ContrastivePatchRegressor("li", **params).fit(X, y)
    clean = np.arange(64) != 7
    np.testing.assert_allclose(weighted.y_mean_, y[clean].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(weighted.y_scale_, y[clean].std(axis=0), rtol=1e-4)
    error = np.abs(weighted.predict(X[clean]) - y[clean]).mean()
    assert error < 0.5 * np.abs(plain.predict(X[clean]) - y[clean]).mean()


def test_sample_weight_through_a_pipeline_changes_the_model(windows):
    X, y = windows
    w = np.r_[np.full(len(X) // 2, 5.0), np.full(len(X) - len(X) // 2, 0.2)]
    weighted = make_model(alpha=0.0).fit(X, y, net__sample_weight=w)
    plain = make_model(alpha=0.0).fit(X, y)
    assert not np.allclose(weighted.predict(X), plain.predict(X))
    train = weighted[-1].training_indices_  # the held-out windows take no part in the statistics
    np.testing.assert_allclose(weighted[-1].y_mean_, np.average(y[train], axis=0, weights=w[train]), rtol=1e-5)


@pytest.mark.parametrize("w,match", [
    (-np.ones(64), "sample_weight must be >= 0; row 0 has -1.0"),
    (np.ones(63), r"one weight per window, shape \(64,\); got \(63,\)"),
    (np.zeros(64), "0 on every labeled window"),
    (np.full(64, np.nan), "sample_weight contains NaN"),
])
def test_bad_sample_weight(patches, w, match):
    X, y = patches
    with pytest.raises(ValueError, match=match):
        ContrastivePatchRegressor("li", **tiny_net_params()).fit(X[:64], y[:64], sample_weight=w)


@pytest.mark.parametrize("lr,epochs", [(10.0, 3), (1e30, 1)])
def test_divergence_in_the_last_step_is_caught(patches, lr, epochs):
    X, y = patches  # one full batch per epoch: the loss is finite before the last step, the model is not after it
    net = ContrastivePatchRegressor("hamida", lr=lr, batch_size=-1, max_epochs=epochs, alpha=0, ridge=None,
                                    early_stopping=False, random_state=0,
                                    callbacks__gradient_clipping=None, callbacks__lr_schedule=None)
    with pytest.raises(TrainingDivergedError, match="after its last optimiser step"):
        net.fit(X, y)


def test_predictions_are_never_silently_non_finite(patches):
    X, y = patches
    net = ContrastivePatchRegressor("li", **tiny_net_params()).fit(X, y)
    X_far = np.full_like(X[:4], 3e38)
    X_far[1:] = X[1:4]
    with pytest.raises(FloatingPointError, match="not finite for 1 of 4 windows"):
        net.predict(X_far)


def test_simplex_head_refuses_targets_off_the_simplex(patches):
    X, y = patches
    net = ContrastivePatchRegressor("li", **tiny_net_params(module__head="simplex"))
    net.fit(X, y)  # mean abundances: on the simplex
    off = np.array(y, dtype=np.float32)
    off[[3, 7]] *= 0.5
    with pytest.raises(ValueError, match=r"2 labeled rows of y are not \(rows 3, 7;"):
        clone(net).fit(X, off)
    with pytest.raises(ValueError, match="module__head='simplex'"):
        clone(net).fit(X, off * 0 - 1 + 2 * np.eye(3)[np.arange(len(y)) % 3])  # sums to one, negative entries


def test_init_adds_no_optimizer_defaults(patches):
    X, y = patches
    net = ContrastivePatchRegressor("li", optimizer=torch.optim.SGD, **tiny_net_params(max_epochs=1))
    assert not any(k.startswith("optimizer__") for k in net.get_params())
    clone(net).set_params(optimizer=torch.optim.Adam).fit(X[:32], y[:32])  # no stray momentum for Adam


@pytest.mark.parametrize("y_of", [
    lambda rng, n: np.where(rng.random((n, 2)) > 0.5, 3e38, -3e38),  # centring would overflow float32
    lambda rng, n: rng.random((n, 2)) * 3e38,
])
def test_targets_at_the_float32_limit_train_and_predict_finite(windows, y_of):
    X, _ = windows
    y = y_of(np.random.default_rng(0), len(X))
    pred = make_model(alpha=0.0).fit(X, y).predict(X)
    assert np.isfinite(pred).all() and np.abs(pred).max() <= 3.4e38


# --------------------------------------------------------------- reduced precision
def test_reduced_precision_trains_and_predicts_float32(patches):
    X, y = patches
    params = tiny_net_params(max_epochs=3, early_stopping=False)
    full = ContrastivePatchRegressor("li", **params).fit(X, y)
    for precision in ("bf16", "fp16"):
        net = ContrastivePatchRegressor("li", precision=precision, **params).fit(X, y)
        pred = net.predict(X)
        assert pred.dtype == np.float32 and np.isfinite(pred).all()
        assert net.embed(X).dtype == np.float32
        np.testing.assert_allclose(pred, full.predict(X), atol=0.05)  # the same model, to reduced precision
        assert (net.grad_scaler_ is not None) == (precision == "fp16")
    assert full.grad_scaler_ is None


def test_reduced_precision_keeps_the_ridge_map_in_float32(patches):
    X, y = patches
    ridge = ContrastivePatchRegressor("li", max_epochs=0, early_stopping=False, module__n_planes=2).fit(X, y)
    bf16 = ContrastivePatchRegressor("li", max_epochs=0, early_stopping=False, module__n_planes=2,
                                     precision="bf16").fit(X, y)
    np.testing.assert_allclose(bf16.predict(X), ridge.predict(X), rtol=1e-6, atol=1e-7)  # ridge alone: no bf16


def test_fp32_is_the_default_and_unchanged_by_the_option(patches):
    X, y = patches
    a = ContrastivePatchRegressor("li", **tiny_net_params()).fit(X, y)
    b = ContrastivePatchRegressor("li", precision="fp32", **tiny_net_params()).fit(X, y)
    assert a.precision == "fp32"
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_unknown_precision_is_refused(patches):
    X, y = patches
    with pytest.raises(ValueError, match="precision must be one of 'fp32', 'bf16', 'fp16', got 'half'"):
        ContrastivePatchRegressor("li", precision="half").fit(X, y)


# ----------------------------------------------------------------------------- augmentations through the estimator
AUGMENT_NAMES = sorted(AUGMENTATIONS)
AUGMENT_GROUPS = ["spectral", "spatial", "spectral-spatial"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 1, 16, 5, 5)).astype(np.float32)
    y = rng.random((64, 2)).astype(np.float32)
    return X, y


def small_net(augment, **kw):
    return ContrastivePatchRegressor(
        "li", augment=augment, alpha=1.0, max_epochs=1, batch_size=32, random_state=0, module__n_planes=2, **kw
    )


@pytest.mark.parametrize("augment", AUGMENT_NAMES + AUGMENT_GROUPS + [["rotation", "hapke"]])
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


def test_windows_given_to_the_estimator_point_to_patch_extractor(scene):
    X, y, _ = scene.windows(5)
    with pytest.raises(ValueError, match=r"this looks like windows .*put a PatchExtractor first"):
        ContrastivePatchRegressor("li", max_epochs=1).fit(X, y)
