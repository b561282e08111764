"""skorch's AccelerateMixin (Hugging Face accelerate) on top of ContrastivePatchRegressor, on the CPU."""

import warnings

import numpy as np
import pytest
from conftest import tiny_net_params
from sklearn.base import clone

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor, load_weights, save_weights

accelerate = pytest.importorskip("accelerate")
from skorch.hf import AccelerateMixin  # noqa: E402

from hyperspectral_cl.accelerate import AcceleratedContrastivePatchRegressor as AcceleratedRegressor  # noqa: E402


class NaivelyAccelerated(AccelerateMixin, ContrastivePatchRegressor):
    """The mixin alone replaces the contrastive training step."""


@pytest.fixture(scope="module")
def patches(windows):
    X, y = windows
    return PatchExtractor(5).fit_transform(X[:40]), y[:40]


def accelerated(**overrides):
    # device=None: the accelerator places the model (skorch refuses a device with device_placement)
    return AcceleratedRegressor("li", accelerator=accelerate.Accelerator(cpu=True),
                                **tiny_net_params(alpha=0.5, batch_size=16, **overrides))


def test_the_contrastive_term_runs_and_training_matches_the_plain_regressor(patches):
    P, y = patches
    net = accelerated().fit(P, y)
    assert net.augment_ is not None and "train_contrastive" in net.history[-1]
    plain = ContrastivePatchRegressor("li", **tiny_net_params(alpha=0.5, batch_size=16)).fit(P, y)
    # one process: the same seeded batches, augmentations and steps as without accelerate
    np.testing.assert_allclose(net.history[:, "train_loss"], plain.history[:, "train_loss"], rtol=1e-6)
    np.testing.assert_allclose(net.predict(P), plain.predict(P), rtol=1e-5, atol=1e-6)
    again = clone(net).fit(P, y)  # GridSearchCV clones it
    np.testing.assert_array_equal(again.predict(P), net.predict(P))


def test_an_accelerated_model_is_saved_as_a_plain_regressor(patches, tmp_path):
    P, y = patches
    net = accelerated(max_epochs=1).fit(P, y)
    with pytest.warns(UserWarning, match="accelerator"):
        save_weights(net, tmp_path / "net.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_weights(tmp_path / "net.pt", device="cpu")
    assert type(loaded) is ContrastivePatchRegressor
    np.testing.assert_array_equal(loaded.predict(P), net.predict(P))


def test_mixing_accelerate_in_directly_is_refused_instead_of_dropping_the_contrastive_term(patches):
    P, y = patches
    net = NaivelyAccelerated("li", accelerator=accelerate.Accelerator(cpu=True),
                             **tiny_net_params(alpha=0.5, batch_size=16))
    with pytest.raises(TypeError, match="AcceleratedContrastivePatchRegressor"):
        net.fit(P, y)
    # without the contrastive term there is nothing to drop
    NaivelyAccelerated("li", accelerator=accelerate.Accelerator(cpu=True),
                       **tiny_net_params(alpha=0.0, batch_size=16)).fit(P, y)


def test_precision_is_left_to_the_accelerator(patches):
    X, y = patches
    with pytest.raises(ValueError, match="precision='bf16' is not used with an accelerator"):
        accelerated(precision="bf16").fit(X, y)


def test_an_accelerated_subclass_with_parameters_of_its_own_is_refused_by_save_weights(windows, tmp_path):
    """Saved as a plain regressor, a subclass would lose a parameter that may change predictions: refused."""

    class Scaled(AcceleratedRegressor):
        def __init__(self, *args, out_scale=1.0, **kwargs):
            super().__init__(*args, **kwargs)
            self.out_scale = out_scale

    X, y = windows
    net = Scaled("li", accelerator=accelerate.Accelerator(cpu=True), **tiny_net_params(max_epochs=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(PatchExtractor(5).fit_transform(X), y)
    with pytest.raises(TypeError, match=r"adds parameter\(s\) 'out_scale', which a plain regressor lacks"):
        save_weights(net, tmp_path / "m.safetensors")
