"""The training recipe's callbacks: the warm-up/cosine schedule and early stopping that restores the best epoch."""

import math
import warnings

import numpy as np
import pytest
import torch
from conftest import tiny_net_params
from skorch.callbacks import Callback

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor
from hyperspectral_cl.callbacks import RestoreBestValidation, WarmupCosineLR


@pytest.fixture(scope="module")
def data(scene):
    X, y, coords = scene.windows(5)
    return PatchExtractor(5).fit_transform(X), y, coords


# ----------------------------------------------------------------------------- WarmupCosineLR
def test_schedule_values_by_hand():
    cb = WarmupCosineLR(warmup=0.2, final_factor=0.1).initialize()
    # 10 steps: 2 of warm-up (1/3, 2/3), then half a cosine from 1 to 0.1 over steps 2..9
    got = [cb.factor(step, 10) for step in range(10)]
    expected = [1 / 3, 2 / 3] + [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k / 7)) for k in range(8)]
    np.testing.assert_allclose(got, expected)
    assert got[2] == pytest.approx(1.0) and got[-1] == pytest.approx(0.1)
    no_warmup = WarmupCosineLR(warmup=0.0).initialize()
    assert no_warmup.factor(0, 5) == 1.0 and no_warmup.factor(4, 5) == pytest.approx(0.0)


@pytest.mark.parametrize("kwargs,match", [(dict(warmup=1.0), "warmup must be in"),
                                          (dict(final_factor=-0.1), "final_factor must be in")])
def test_schedule_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WarmupCosineLR(**kwargs).initialize()


class RecordLR(Callback):
    def initialize(self):
        self.lrs = []
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.lrs.append(net.optimizer_.param_groups[0]["lr"])


def test_schedule_drives_the_optimiser_per_batch(data):
    P, y, _ = data
    rec = RecordLR()
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=4, batch_size=64, lr=0.01, callbacks=[rec],
                                                            early_stopping=False)).fit(P, y)
    steps = 4 * math.ceil(len(P) / 64)
    cb = WarmupCosineLR().initialize()
    np.testing.assert_allclose(rec.lrs, [0.01 * cb.factor(k, steps) for k in range(steps)], rtol=1e-12)
    assert net.optimizer_.param_groups[0]["lr"] == 0.01  # left at the base rate for a later partial_fit
    assert len(net.history[:, "lr"]) == 4
    # switched off the skorch way: a constant rate
    rec2 = RecordLR()
    ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=2, lr=0.01, callbacks=[rec2], early_stopping=False,
                                                      callbacks__lr_schedule=None)).fit(P, y)
    assert set(rec2.lrs) == {0.01}


# ----------------------------------------------------------------------------- RestoreBestValidation
class Sabotage(Callback):
    """Make every training step ruin the network's output layer (a training run that only gets worse)."""

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            with torch.no_grad():
                net.module_.backbone.regressor.bias.add_(5.0)


def test_a_run_that_only_gets_worse_keeps_the_initial_ridge_model(data):
    P, y, coords = data
    params = tiny_net_params(max_epochs=12, early_stopping=True, n_iter_no_change=3, ridge="residual")
    ridge = ContrastivePatchRegressor("li", **{**params, "max_epochs": 0}).fit(P, y, groups=coords)
    net = ContrastivePatchRegressor("li", callbacks=[Sabotage()], **params).fit(P, y, groups=coords)
    assert net.best_epoch_ == 0
    assert len(net.history) == 3  # stopped after the patience
    np.testing.assert_allclose(net.predict(P), ridge.predict(P), rtol=1e-5, atol=1e-6)
    cb = dict(net.callbacks_)["early_stopping"]
    assert cb.best_score_ == cb.initial_score_ < net.history[-1, "valid_loss"]


def test_the_best_epoch_is_restored(data):
    P, y, coords = data
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=8, early_stopping=True, lr=3e-3, ridge=None,
                                                            n_iter_no_change=20)).fit(P, y, groups=coords)
    losses = list(net.history[:, "valid_loss"])
    cb = dict(net.callbacks_)["early_stopping"]
    scores = [cb.initial_score_] + losses
    best = int(np.argmin(scores))
    assert net.best_epoch_ == best and cb.best_score_ == pytest.approx(scores[best])
    # the kept network's validation loss is the recorded best
    valid = net.validation_indices_
    with torch.no_grad():
        pred = net.module_.eval()(torch.as_tensor(P[valid]))[0].numpy()
    mse = np.mean((pred - (y[valid] - net.y_mean_) / net.y_scale_) ** 2)
    assert mse == pytest.approx(scores[best], rel=1e-5)


def test_without_validation_data_early_stopping_does_nothing(data):
    P, y, _ = data
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=3, early_stopping=False)).fit(P, y)
    assert net.best_epoch_ is None and len(net.history) == 3 and net.validation_indices_ is None
    cb = RestoreBestValidation().initialize()
    assert cb.best_epoch_ is None


def test_early_stopping_callback_pickles_without_its_weight_copy(data):
    import pickle

    P, y, coords = data
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=2, early_stopping=True)).fit(
        P, y, groups=coords)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clone = pickle.loads(pickle.dumps(net))
    assert "best_state_" not in vars(dict(clone.callbacks_)["early_stopping"])
    np.testing.assert_array_equal(clone.predict(P), net.predict(P))
