"""Pickles record the package version, load across processes, and refuse other versions clearly.

Weights-only files (save_weights / load_weights) rebuild the same model without unpickling code.
"""

import copy
import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import joblib
import numpy as np
import pytest
import torch
from conftest import tiny_net_params
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from skorch.callbacks import GradientNormClipping
from skorch.exceptions import DeviceWarning

import hyperspectral_cl
from hyperspectral_cl import (
    ContrastivePatchRegressor,
    IncompatibleModelError,
    MeanSpectrum,
    PatchExtractor,
    load_weights,
    save_weights,
)
from hyperspectral_cl.augment import SpectralShift
from hyperspectral_cl.backbones import Backbone
from hyperspectral_cl.estimator import _VERSION_KEY, check_saved_version
from hyperspectral_cl.persistence import FORMAT, FORMAT_VERSION


@pytest.fixture(scope="module")
def fitted(windows):
    X, y = windows
    return make_pipeline(PatchExtractor(5), ContrastivePatchRegressor("li", **tiny_net_params())).fit(X, y)


def test_state_records_the_version(fitted):
    state = fitted[-1].__getstate__()
    assert state[_VERSION_KEY] == hyperspectral_cl.__version__


def test_pickle_round_trip_predicts_the_same(fitted, windows):
    X, _ = windows
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone.predict(X), fitted.predict(X))


def test_joblib_model_predicts_the_same_in_a_new_process(fitted, windows, tmp_path):
    X, _ = windows
    model_path, x_path, out_path = tmp_path / "model.joblib", tmp_path / "X.npy", tmp_path / "pred.npy"
    joblib.dump(fitted, model_path)
    np.save(x_path, X)
    code = textwrap.dedent(f"""
        import joblib, numpy as np
        model = joblib.load({str(model_path)!r})
        np.save({str(out_path)!r}, model.predict(np.load({str(x_path)!r})))
    """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    np.testing.assert_array_equal(np.load(out_path), fitted.predict(X))


@pytest.mark.parametrize("saved", ["0.0.9", "1.1.0", "9.0"])
def test_a_model_from_another_minor_series_is_refused_with_the_versions_named(fitted, saved):
    state = fitted[-1].__getstate__()
    state[_VERSION_KEY] = saved
    blank = ContrastivePatchRegressor.__new__(ContrastivePatchRegressor)
    with pytest.raises(IncompatibleModelError, match=f"saved by hyperspectral_cl {saved}; this is "):
        blank.__setstate__(state)


def test_a_model_without_a_version_is_refused(fitted):
    state = fitted[-1].__getstate__()
    del state[_VERSION_KEY]
    with pytest.raises(IncompatibleModelError, match="records no version"):
        ContrastivePatchRegressor.__new__(ContrastivePatchRegressor).__setstate__(state)


def test_patch_releases_of_the_same_series_load():
    check_saved_version("0.1.7", current="0.1.0")
    with pytest.raises(IncompatibleModelError, match="0.2.x only"):
        check_saved_version("0.1.0", current="0.2.3")


# ---------------------------------------------------------------- weights-only files (save_weights / load_weights)


class MeanBackbone(Backbone):
    """A backbone outside the registry: the mean spectrum of the patch, then the linear head."""

    def __init__(self, n_bands, patch_size, n_targets, **options):
        super().__init__(n_bands, patch_size, n_targets, **options)
        self.build_head(n_bands)

    def features(self, x):
        return x.mean(dim=(1, 3, 4))


def rewrite(path, **changes):
    """Load a weights file, change entries of its metadata and write it back."""
    payload = torch.load(path, weights_only=True)
    metadata = json.loads(payload["metadata"])
    metadata.update(changes.pop("metadata", {}))
    payload.update(changes)
    payload["metadata"] = json.dumps(metadata)
    torch.save(payload, path)


def test_weights_round_trip_of_a_pipeline_predicts_identically(fitted, windows, tmp_path):
    X, _ = windows
    path = tmp_path / "model.pt"
    save_weights(fitted, path)
    rng_before = torch.get_rng_state()
    loaded = load_weights(path)
    assert torch.equal(torch.get_rng_state(), rng_before)  # rebuilding the network leaves torch's RNG alone
    assert isinstance(loaded, Pipeline) and [n for n, _ in loaded.steps] == [n for n, _ in fitted.steps]
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(loaded[0].mean_, fitted[0].mean_)
    assert loaded[0].window_shape_ == fitted[0].window_shape_ and loaded[-1].radius_ == fitted[-1].radius_
    original, rebuilt = fitted[-1].get_params(deep=False), loaded[-1].get_params(deep=False)
    assert {k: repr(v) for k, v in rebuilt.items()} == {k: repr(v) for k, v in original.items()}


def test_weights_round_trip_of_a_bare_regressor_predicts_identically_and_trains_on(fitted, windows, tmp_path):
    X, y = windows
    patches = fitted[0].transform(X)
    net = fitted[-1]
    save_weights(net, tmp_path / "net.pt")
    loaded = load_weights(tmp_path / "net.pt", device="cpu")
    assert type(loaded) is ContrastivePatchRegressor and loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.predict(patches), net.predict(patches))
    np.testing.assert_array_equal(loaded.embed(patches), net.embed(patches))
    loaded.set_params(max_epochs=1).partial_fit(patches, y)  # a fresh optimiser on the saved weights
    assert len(loaded.history_) == 1


def test_the_file_is_tensors_and_json_readable_with_weights_only(fitted, tmp_path):
    path = tmp_path / "model.pt"
    returned = save_weights(fitted, path)
    payload = torch.load(path, weights_only=True, map_location="cpu")
    assert payload["format"] == FORMAT and payload["format_version"] == FORMAT_VERSION
    metadata = json.loads(payload["metadata"])
    assert metadata == json.loads(json.dumps(returned))
    assert metadata["hyperspectral_cl_version"] == hyperspectral_cl.__version__ and metadata["kind"] == "pipeline"
    net_entry = metadata["steps"][1]
    assert net_entry["class"] == "hyperspectral_cl.estimator.ContrastivePatchRegressor"
    assert net_entry["params"]["criterion"] == {"__class__": "torch.nn.modules.loss.MSELoss"}
    assert {"n_bands_in_", "patch_size_", "n_targets_", "y_mean_", "y_scale_", "radius_", "y_ndim_"} <= set(
        net_entry["fitted"])
    assert all(isinstance(t, torch.Tensor) and t.device.type == "cpu" for t in payload["tensors"].values())
    state = fitted[-1].module_.state_dict()
    for key, tensor_key in net_entry["module_state"]:
        assert torch.equal(payload["tensors"][tensor_key], state[key])


def test_a_gpu_saved_file_loads_on_the_cpu(fitted, windows, tmp_path):
    """Simulated: the file records device 'cuda' (tensors are always written on the CPU)."""
    X, _ = windows
    on_gpu = copy.deepcopy(fitted)
    on_gpu[-1].device = "cuda"
    path = tmp_path / "model.pt"
    assert save_weights(on_gpu, path)["steps"][1]["params"]["device"] == "cuda"
    assert torch.load(path, weights_only=True, map_location="cpu")["tensors"]
    loaded = load_weights(path, device="cpu")
    assert loaded[-1].device == "cpu" and next(loaded[-1].module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    if not torch.cuda.is_available():
        with pytest.warns(DeviceWarning, match="no CUDA devices"):
            fallback = load_weights(path)  # device=None: the saved device if there is one, else the CPU
        assert fallback[-1].device == "cpu"
        np.testing.assert_array_equal(fallback.predict(X), fitted.predict(X))


def test_an_augmentation_object_and_a_passthrough_step_survive(windows, tmp_path):
    X, y = windows
    net = ContrastivePatchRegressor("li", **tiny_net_params(augment=SpectralShift(max_shift=2), max_epochs=1))
    model = Pipeline([("nothing", "passthrough"), ("patches", PatchExtractor(5)), ("net", net)]).fit(X, y)
    save_weights(model, tmp_path / "m.pt")
    loaded = load_weights(tmp_path / "m.pt")
    assert loaded.steps[0] == ("nothing", "passthrough")
    assert isinstance(loaded[-1].augment, SpectralShift) and loaded[-1].augment.max_shift == 2
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_training_only_parameters_that_are_objects_are_dropped_with_a_warning(windows, tmp_path):
    X, y = windows
    callbacks = [("clip", GradientNormClipping(1.0))]
    model = make_pipeline(PatchExtractor(5), ContrastivePatchRegressor(
        "li", **tiny_net_params(callbacks=callbacks, max_epochs=1))).fit(X, y)
    with pytest.warns(UserWarning, match="callbacks"):
        metadata = save_weights(model, tmp_path / "m.pt")
    assert metadata["dropped_params"] == ["step 'contrastivepatchregressor': callbacks"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_weights(tmp_path / "m.pt")
    assert loaded[-1].callbacks is None
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_class_outside_the_allow_list_is_refused_unless_allowed(windows, tmp_path):
    X, y = windows
    net = ContrastivePatchRegressor(MeanBackbone, **{k: v for k, v in tiny_net_params(max_epochs=1).items()
                                                    if not k.startswith("module__")})
    model = make_pipeline(PatchExtractor(5), net).fit(X, y)
    save_weights(model, tmp_path / "m.pt")
    with pytest.raises(TypeError, match=r"MeanBackbone.*for parameter 'backbone'.*allow=\[MeanBackbone\]"):
        load_weights(tmp_path / "m.pt")
    loaded = load_weights(tmp_path / "m.pt", allow=[MeanBackbone])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_class_the_file_names_is_never_imported(fitted, tmp_path):
    path = tmp_path / "m.pt"
    metadata = save_weights(fitted, path)
    metadata["steps"][0]["class"] = "os.system"
    rewrite(path, metadata=metadata)
    with pytest.raises(TypeError, match="'os.system' for step 'patchextractor'"):
        load_weights(path)


def test_a_file_cannot_replace_methods_or_build_objects_as_fitted_attributes(fitted, tmp_path):
    path = tmp_path / "m.pt"
    for attr, value in [("predict", 1), ("mean_", {"__class__": "torch.nn.modules.linear.Linear"})]:
        metadata = save_weights(fitted, path)
        metadata["steps"][0]["fitted"][attr] = value
        rewrite(path, metadata=metadata)
        with pytest.raises((ValueError, TypeError), match="predict' is not a fitted attribute|Linear"):
            load_weights(path)


@pytest.mark.parametrize("saved", ["0.0.9", "1.1.0"])
def test_a_weights_file_from_another_minor_series_is_refused(fitted, saved, tmp_path):
    path = tmp_path / "m.pt"
    save_weights(fitted, path)
    rewrite(path, metadata={"hyperspectral_cl_version": saved})
    with pytest.raises(IncompatibleModelError, match=f"saved by hyperspectral_cl {saved}; this is "):
        load_weights(path)


def test_a_newer_file_format_is_refused(fitted, tmp_path):
    path = tmp_path / "m.pt"
    save_weights(fitted, path)
    rewrite(path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(IncompatibleModelError, match="format version"):
        load_weights(path)


def test_a_pickle_is_not_a_weights_file(fitted, tmp_path):
    joblib.dump(fitted, tmp_path / "m.joblib")
    with pytest.raises(ValueError, match="not a weights file written by hyperspectral_cl.save_weights"):
        load_weights(tmp_path / "m.joblib")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not written by hyperspectral_cl.save_weights"):
        load_weights(tmp_path / "other.pt")


def test_what_cannot_be_saved_is_refused_by_name(windows, tmp_path):
    X, y = windows
    with pytest.raises(TypeError, match="step 'ridge' is a Ridge"):
        save_weights(make_pipeline(MeanSpectrum(), Ridge()).fit(X, y), tmp_path / "m.pt")
    with pytest.raises(NotFittedError, match="step 'patchextractor' is not fitted"):
        save_weights(make_pipeline(PatchExtractor(5), ContrastivePatchRegressor()), tmp_path / "m.pt")
    with pytest.raises(NotFittedError, match="ContrastivePatchRegressor is not fitted"):
        save_weights(ContrastivePatchRegressor(), tmp_path / "m.pt")
    with pytest.raises(TypeError, match="parameter 'module__head' of ContrastivePatchRegressor"):
        save_weights(ContrastivePatchRegressor(**tiny_net_params(module__head=object())), tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a machine without CUDA")
def test_a_pickled_gpu_model_loads_on_a_cpu_only_machine(fitted, windows, tmp_path):
    """Simulated: the pickle records device 'cuda'; skorch maps its tensors to the CPU and says so."""
    X, _ = windows
    on_gpu = copy.deepcopy(fitted)
    on_gpu[-1].device = "cuda"
    data = pickle.dumps(on_gpu)
    with pytest.warns(DeviceWarning) as caught:
        loaded = pickle.loads(data)  # our __setstate__ checks the version, then skorch's maps the device
    assert any("no CUDA devices" in str(w.message) for w in caught)
    assert str(loaded[-1].device) == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    save_weights(loaded, tmp_path / "m.pt")  # skorch left a torch.device in the parameters: stored as a str
    np.testing.assert_array_equal(load_weights(tmp_path / "m.pt").predict(X), fitted.predict(X))


CUDA_SCRIPT = """
import sys, warnings, joblib, numpy as np, torch
from hyperspectral_cl import load_weights
assert not torch.cuda.is_available()
X = np.load(sys.argv[1])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    pickled = joblib.load(sys.argv[2])          # skorch maps the CUDA tensors to the CPU
    weights = load_weights(sys.argv[3])          # the saved device is unavailable: the CPU
assert any("no CUDA devices" in str(w.message) for w in caught), [str(w.message) for w in caught]
assert str(pickled[-1].device) == "cpu" and weights[-1].device == "cpu"
np.save(sys.argv[4], np.stack([pickled.predict(X), weights.predict(X)]))
"""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_model_trained_on_cuda_predicts_on_a_cpu_only_machine(windows, tmp_path):
    X, y = windows
    model = make_pipeline(PatchExtractor(5), ContrastivePatchRegressor("li", **tiny_net_params(device="cuda")))
    model.fit(X, y)
    on_gpu = model.predict(X)
    joblib.dump(model, tmp_path / "m.joblib")
    save_weights(model, tmp_path / "m.pt")
    np.testing.assert_allclose(load_weights(tmp_path / "m.pt", device="cpu").predict(X), on_gpu, rtol=1e-4, atol=1e-5)
    back = load_weights(tmp_path / "m.pt")  # device=None: the saved one, available here
    assert back[-1].device == "cuda"
    np.testing.assert_allclose(back.predict(X), on_gpu, rtol=1e-5, atol=1e-6)
    np.save(tmp_path / "X.npy", X)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", CUDA_SCRIPT, str(tmp_path / "X.npy"), str(tmp_path / "m.joblib"),
                    str(tmp_path / "m.pt"), str(tmp_path / "pred.npy")], check=True, cwd=tmp_path, env=env)
    from_pickle, from_weights = np.load(tmp_path / "pred.npy")
    np.testing.assert_allclose(from_pickle, on_gpu, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(from_weights, from_pickle)
