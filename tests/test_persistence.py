"""Pickles record the package version, load across processes, and refuse other versions clearly.

Weights-only files (save_weights / load_weights) rebuild the same model without unpickling code.
"""

import copy
import io
import json
import os
import pathlib
import pickle
import re
import subprocess
import sys
import textwrap
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import skops.io
import torch
from conftest import tiny_net_params
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
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
from hyperspectral_cl.kernel_ridge import MAX_SUPPORT
from hyperspectral_cl.persistence import FORMAT, FORMAT_VERSION, WeightsFileError, _digest


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


def read_raw(path):
    """A weights file's payload, read with its format's own reader: safetensors (format 3), torch.load (1, 2)."""
    try:
        with safe_open(path, framework="pt") as f:
            payload = {**f.metadata(), "tensors": {k: f.get_tensor(k).clone() for k in f.keys()}}  # no view of the file
    except SafetensorError:
        return torch.load(path, weights_only=True)
    if payload["format_version"].isdigit():
        payload["format_version"] = int(payload["format_version"])
    return payload


def is_safetensors(path):
    try:
        with safe_open(path, framework="pt"):
            return True
    except SafetensorError:
        return False


def write_raw(payload, path, *, as_safetensors=True):
    """Write a payload as safetensors (format 3's layout) or with torch.save (that of formats 1 and 2)."""
    if not as_safetensors:
        torch.save(payload, path)
    else:  # safetensors metadata holds strings only
        header = {k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items() if k != "tensors"}
        save_file(payload["tensors"], path, metadata=header)


def reseal(payload):
    payload["digest"] = _digest(payload["metadata"], payload["tensors"], payload["format_version"])


def rewrite(path, *, reseal=True, **changes):
    """Load a weights file, change entries of its metadata and write it back.

    ``reseal``: recompute the digest, as someone editing the file on purpose would; the file then
    passes the integrity check and what is tested is load_weights' consistency checks.
    """
    as_safetensors = is_safetensors(path)
    payload = read_raw(path)
    metadata = json.loads(payload["metadata"])
    metadata.update(changes.pop("metadata", {}))
    payload.update(changes)
    payload["metadata"] = json.dumps(metadata)
    if reseal:
        globals()["reseal"](payload)
    write_raw(payload, path, as_safetensors=as_safetensors)


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


def test_the_file_is_safetensors_with_json_metadata(fitted, tmp_path):
    path = tmp_path / "model.safetensors"
    returned = save_weights(fitted, path)
    with safe_open(path, framework="pt") as f:  # safetensors' own reader: no pickle anywhere
        payload = {**f.metadata(), "tensors": {k: f.get_tensor(k).clone() for k in f.keys()}}  # no view of the file
    assert set(payload) == {"format", "format_version", "metadata", "digest", "tensors"}
    assert payload["format"] == FORMAT and payload["format_version"] == str(FORMAT_VERSION) == "3"
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


#: what fit leaves on a regressor that predicting does not read (skorch's components and bookkeeping, the
#: training split), or that load_weights rebuilds (module_ from the stored weights)
NOT_STORED = {"module_", "optimizer_", "criterion_", "contrastive_", "augment_", "callbacks_", "history_",
              "initialized_", "prefixes_", "cuda_dependent_attributes_", "init_context_", "virtual_params_",
              "grad_scaler_", "training_indices_", "validation_indices_"}


@pytest.mark.parametrize("fit_kwargs", [{}, {"groups": "coords"}], ids=["random-holdout", "spatial-holdout"])
def test_every_fitted_attribute_is_stored_or_known_not_to_matter(scene, fit_kwargs):
    """The file stores ContrastivePatchRegressor._fitted_state: a new fitted attribute must be classified."""
    X, y, coords = scene.windows(5)
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1))
    net.fit(PatchExtractor(5).fit_transform(X), y, **{k: coords for k in fit_kwargs})
    public = {k for k in vars(net) if k.endswith("_") and not k.startswith("_")}
    assert public - NOT_STORED == set(ContrastivePatchRegressor._fitted_state)


def test_a_gpu_saved_file_loads_on_the_cpu(fitted, windows, tmp_path):
    """Simulated: the file records device 'cuda' (tensors are always written on the CPU)."""
    X, _ = windows
    on_gpu = copy.deepcopy(fitted)
    on_gpu[-1].device = "cuda"
    path = tmp_path / "model.pt"
    assert save_weights(on_gpu, path)["steps"][1]["params"]["device"] == "cuda"
    assert read_raw(path)["tensors"]
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


class Doubler(TransformerMixin, BaseEstimator):
    """A scikit-learn step from outside scikit-learn (skops does not trust it by default)."""

    def fit(self, X, y=None):
        self.factor_ = 2.0
        return self

    def transform(self, X):
        return X * self.factor_


def test_other_scikit_learn_steps_are_stored_with_skops_and_rebuilt(fitted, windows, tmp_path):
    X, y = windows
    model = make_pipeline(MeanSpectrum(), StandardScaler(), RidgeCV(alphas=(0.1, 1.0))).fit(X, y)
    path = tmp_path / "m.safetensors"
    entry = save_weights(model, path)["steps"][1]
    assert entry == {"name": "standardscaler", "class": "sklearn.preprocessing._data.StandardScaler",
                     "skops": "steps.1.skops"}
    loaded = load_weights(path)
    assert [type(s) for _, s in loaded.steps] == [MeanSpectrum, StandardScaler, RidgeCV]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded[1].mean_, model[1].mean_)
    # beside the package's own steps, with the digest covering the skops bytes too
    mixed = Pipeline([("patches", fitted[0]), ("scale", "passthrough"), ("net", fitted[-1])])
    save_weights(mixed, path)
    np.testing.assert_array_equal(load_weights(path).predict(X), fitted.predict(X))


def test_a_foreign_step_of_an_untrusted_class_loads_only_when_allowed(windows, tmp_path):
    X, y = windows
    model = make_pipeline(MeanSpectrum(), Doubler(), Ridge()).fit(X, y)
    path = tmp_path / "m.safetensors"
    save_weights(model, path)
    with pytest.raises(TypeError, match=r"step 'doubler' holds types outside skops' trusted defaults and the "
                                        r"allow-list: 'test_persistence.Doubler'"):
        load_weights(path)
    np.testing.assert_array_equal(load_weights(path, allow=[Doubler]).predict(X), model.predict(X))


def test_a_foreign_step_needs_skops_and_says_how_to_install_it(windows, tmp_path, monkeypatch):
    X, y = windows
    model = make_pipeline(MeanSpectrum(), Ridge()).fit(X, y)
    monkeypatch.setitem(sys.modules, "skops.io", None)  # as if skops were not installed
    monkeypatch.setitem(sys.modules, "skops", None)
    with pytest.raises(ImportError, match=r"step 'ridge' is not one of hyperspectral_cl's steps.*"
                                          r'pip install "hyperspectral-cl\[skops\]"'):
        save_weights(model, tmp_path / "m.pt")


def test_what_cannot_be_saved_is_refused_by_name(windows, tmp_path):
    X, y = windows
    with pytest.raises(NotFittedError, match="step 'ridge' is not fitted"):
        save_weights(Pipeline([("mean", MeanSpectrum().fit(X)), ("ridge", Ridge())]), tmp_path / "m.pt")
    with pytest.raises(NotFittedError, match="step 'patchextractor' is not fitted"):
        save_weights(make_pipeline(PatchExtractor(5), ContrastivePatchRegressor()), tmp_path / "m.pt")
    with pytest.raises(NotFittedError, match="ContrastivePatchRegressor is not fitted"):
        save_weights(ContrastivePatchRegressor(), tmp_path / "m.pt")
    with pytest.raises(TypeError, match="parameter 'module__head' of ContrastivePatchRegressor"):
        save_weights(ContrastivePatchRegressor(**tiny_net_params(module__head=object())), tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


# ------------------------------------------------ integrity and consistency of weights files (issue 15)

NET = "steps.1"  # tensor keys of the pipeline's regressor, step 'contrastivepatchregressor'


def tamper(path, edit_metadata=None, edit_payload=None, *, reseal=True):
    """Edit a saved file's metadata (a dict) and/or payload; ``reseal`` recomputes the digest, as a deliberate edit would."""
    as_safetensors = is_safetensors(path)
    payload = read_raw(path)
    if edit_metadata is not None:
        metadata = json.loads(payload["metadata"])
        edit_metadata(metadata)
        payload["metadata"] = json.dumps(metadata)
    if edit_payload is not None:
        edit_payload(payload)
    if reseal:
        globals()["reseal"](payload)
    write_raw(payload, path, as_safetensors=as_safetensors)


def on_metadata(edit, reseal=True):
    return lambda path: tamper(path, edit_metadata=edit, reseal=reseal)


def on_payload(edit, reseal=True):
    return lambda path: tamper(path, edit_payload=edit, reseal=reseal)


def on_format_2(edit):
    """Rewrite the file as format 2 (torch.save, as save_weights wrote before safetensors), then edit its dict."""

    def damage(path):
        payload = read_raw(path)
        payload["format_version"] = 2
        reseal(payload)
        edit(payload)
        write_raw(payload, path, as_safetensors=False)

    return damage


def on_bytes(edit):
    return lambda path: path.write_bytes(edit(path.read_bytes()))


def net(metadata):
    return metadata["steps"][1]


def test_one_flipped_bit_in_a_stored_weight_is_refused(fitted, windows, tmp_path):
    path = tmp_path / "m.pt"
    save_weights(fitted, path)
    key = f"{NET}.module.skip_weight"  # the ridge map: part of every prediction
    stored = read_raw(path)["tensors"][key]
    offset = path.read_bytes().find(stored.numpy().tobytes())
    assert offset > 0
    data = bytearray(path.read_bytes())
    data[offset + 3] ^= 0x40  # the top exponent bit of the first float32 (little-endian)
    path.write_bytes(bytes(data))
    damaged = read_raw(path)["tensors"][key]  # safetensors reads it without complaint
    assert damaged.flatten()[0] != stored.flatten()[0] and torch.equal(damaged.flatten()[1:], stored.flatten()[1:])
    with pytest.raises(WeightsFileError, match=rf"^damaged weights file {re.escape(repr(str(path)))}: its contents "
                                               "do not match the SHA-256 digest recorded by save_weights"):
        load_weights(path)
    # a whole tensor overwritten with NaN bit patterns (all-NaN predictions before the check) likewise
    data[offset:offset + stored.numel() * 4] = b"\xff" * (stored.numel() * 4)
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsFileError, match="do not match the SHA-256 digest"):
        load_weights(path)


def test_edited_metadata_is_refused_by_the_digest(fitted, tmp_path):
    path = tmp_path / "m.pt"
    save_weights(fitted, path)
    data = path.read_bytes()
    # the regressor's spectrum_norm, edited in place (JSON inside the header's JSON, so its quotes are escaped):
    # the same length, no shape changes, so only the digest can tell
    old, new = b'\\"spectrum_norm\\": null', b'\\"spectrum_norm\\": true'
    at = data.rfind(old)
    path.write_bytes(data[:at] + new + data[at + len(old):])
    assert json.loads(read_raw(path)["metadata"])["steps"][1]["params"]["spectrum_norm"] is True
    with pytest.raises(WeightsFileError, match="its contents do not match the SHA-256 digest"):
        load_weights(path)
    save_weights(fitted, path)
    rewrite(path, reseal=False, metadata={"torch_version": "0.0"})  # a valid file, re-saved without a new digest
    with pytest.raises(WeightsFileError, match="its contents do not match the SHA-256 digest"):
        load_weights(path)


def test_a_resealed_file_whose_parameters_contradict_its_fitted_attributes_is_refused(fitted, windows, tmp_path):
    """Edited consistently (digest recomputed): the head made a softmax, the target scale cut to one value."""
    X, _ = windows
    path = tmp_path / "m.pt"
    save_weights(fitted, path)
    tamper(path)  # resealing alone changes nothing
    np.testing.assert_array_equal(load_weights(path).predict(X), fitted.predict(X))
    tamper(path, lambda m: net(m)["params"].update(module__head="simplex"))
    with pytest.raises(WeightsFileError, match=r"module__head='simplex' and standardize_targets='auto', which leave "
                                               r"targets unscaled, but its fitted y_mean_="):
        load_weights(path)
    bare = tmp_path / "net.pt"
    save_weights(fitted[-1], bare)
    tamper(bare, edit_payload=lambda p: p["tensors"].update({"steps.0.fitted.y_scale_": torch.ones(1)}))
    with pytest.raises(WeightsFileError, match=r"fitted attribute 'y_scale_' of the estimator has shape \(1,\); "
                                               r"expected \(3,\), one value per target \(n_targets_=3\)"):
        load_weights(bare)


def test_a_file_saved_before_the_kernel_partner_loads_without_one(windows, tmp_path):
    """Files written before the blend's kernel partner existed hold none of its buffers: no partner, same ridge."""
    X, y = windows
    model = make_pipeline(PatchExtractor(5), ContrastivePatchRegressor(
        "li", **tiny_net_params(ridge_kernel="linear")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    path = tmp_path / "old.pt"
    save_weights(model, path)

    def drop_kernel(payload):
        metadata = json.loads(payload["metadata"])
        state = net(metadata)["module_state"]
        dropped = [tkey for key, tkey in state if key.startswith("kernel_")]
        net(metadata)["module_state"] = [pair for pair in state if not pair[0].startswith("kernel_")]
        net(metadata)["params"].pop("ridge_kernel")
        payload["metadata"] = json.dumps(metadata)
        for tkey in dropped:
            payload["tensors"].pop(tkey)

    tamper(path, edit_payload=drop_kernel)
    loaded = load_weights(path)
    np.testing.assert_array_equal(loaded[-1].partner_, ["linear"] * 3)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


DAMAGES = [
    pytest.param(on_bytes(lambda b: b[: len(b) // 2]), "cannot read weights file", id="truncated"),
    pytest.param(on_bytes(lambda b: b""), "cannot read weights file", id="empty"),
    pytest.param(on_bytes(lambda b: np.random.default_rng(0).bytes(len(b))), "cannot read weights file", id="random-bytes"),
    pytest.param(lambda path: torch.save([1, 2], path), "not a weights file", id="a-list"),
    pytest.param(on_metadata(lambda m: m.update(torch_version="0.0"), reseal=False), "SHA-256 digest", id="not-resealed"),
    pytest.param(on_payload(lambda p: p.pop("digest"), reseal=False), "has no 'digest' entry", id="no-digest"),
    pytest.param(on_format_2(lambda p: p.pop("tensors")), "has no 'tensors' entry", id="no-tensors"),
    pytest.param(on_payload(lambda p: p.update(comment="hi")), "unexpected entries 'comment'", id="extra-entry"),
    pytest.param(on_payload(lambda p: p.update(format_version="three")), "'format_version' must be a positive int",
                 id="format-version-not-a-number"),
    pytest.param(on_payload(lambda p: p.update(format_version="03"), reseal=False),
                 "'format_version' must be a positive int", id="format-version-edited-to-03"),
    pytest.param(on_format_2(lambda p: p.update(format_version="2")), "'format_version' must be a positive int",
                 id="format-version-a-str"),
    pytest.param(on_payload(lambda p: p.update(format_version=2)), "a safetensors weights file has format_version 3",
                 id="safetensors-claiming-format-2"),
    pytest.param(on_format_2(lambda p: p.update(format_version=3)), "claiming format_version 3",
                 id="torch-save-claiming-format-3"),
    pytest.param(lambda path: save_file({"w": torch.zeros(2)}, path), "a safetensors file, but not one written by",
                 id="foreign-safetensors"),
    pytest.param(on_format_2(lambda p: p.update(metadata=5)), "'metadata' entry must be a JSON str",
                 id="metadata-an-int"),
    pytest.param(on_format_2(lambda p: p["tensors"].update(x="y")), "dict of str keys to dense tensors",
                 id="tensor-a-str"),
    pytest.param(on_payload(lambda p: p.update(metadata="{steps")), "metadata is not valid JSON", id="not-json"),
    pytest.param(on_payload(lambda p: p.update(metadata="[]")), "metadata must be a JSON object", id="json-list"),
    pytest.param(on_payload(lambda p: p["tensors"].update(extra=torch.zeros(2))),
                 "tensors that nothing in its metadata refers to: 'extra'", id="stray-tensor"),
    pytest.param(on_metadata(lambda m: m.pop("hyperspectral_cl_version")), "must record 'hyperspectral_cl_version'",
                 id="no-version"),
    pytest.param(on_metadata(lambda m: m.pop("steps")), "has no 'steps' entry", id="no-steps"),
    pytest.param(on_metadata(lambda m: m.update(steps={})), "'steps' has type dict", id="steps-a-dict"),
    pytest.param(on_metadata(lambda m: m.update(kind="ensemble")), "'kind' must be 'estimator' or 'pipeline'",
                 id="unknown-kind"),
    pytest.param(on_metadata(lambda m: m["steps"][0].update(name=net(m)["name"])), "distinct names", id="same-names"),
    pytest.param(on_metadata(lambda m: m["steps"].reverse()), "is a regressor, but it is followed by",
                 id="regressor-first"),
    pytest.param(on_metadata(lambda m: net(m).pop("params")), "has no 'params' entry", id="no-params"),
    pytest.param(on_metadata(lambda m: net(m).update(params=[])),
                 "'params' of step 'contrastivepatchregressor' must be a dict", id="params-a-list"),
    pytest.param(on_metadata(lambda m: net(m).update({"class": "torch.nn.modules.linear.Linear"})),
                 "not a PatchExtractor, MeanSpectrum or ContrastivePatchRegressor class", id="class-not-a-step"),
    pytest.param(on_metadata(lambda m: m["steps"][0]["params"].update(colour=1)),
                 "the parameters of step 'patchextractor' do not build a PatchExtractor", id="unknown-parameter"),
    pytest.param(on_metadata(lambda m: net(m)["params"].update(module__colour="red")),
                 "the network of step 'contrastivepatchregressor' cannot be built", id="unknown-backbone-option"),
    pytest.param(on_metadata(lambda m: net(m)["params"].update(module__n_planes=3)),
                 "weight 'backbone.conv1.weight' of step 'contrastivepatchregressor' has shape (2, 1, 7, 3, 3)",
                 id="backbone-option-changed"),
    pytest.param(on_metadata(lambda m: net(m)["params"].update(alpha=-1.0)), "the parameters of step "
                 "'contrastivepatchregressor' are invalid: alpha", id="invalid-parameter"),
    pytest.param(on_metadata(lambda m: net(m)["params"].update(criterion={"__class__": 5})), "malformed class name",
                 id="malformed-class"),
    pytest.param(on_metadata(lambda m: net(m)["params"].update(criterion={"__lambda__": "x"})), "malformed value",
                 id="unknown-encoding"),
    pytest.param(on_metadata(lambda m: net(m)["fitted"].pop("y_mean_")), "lacks fitted attribute(s) 'y_mean_'",
                 id="no-y_mean_"),
    pytest.param(on_metadata(lambda m: net(m)["fitted"].update(
        y_mean_={"__class__": "torch.nn.modules.linear.Linear"})), "fitted attributes hold data only", id="class-as-data"),
    pytest.param(on_payload(lambda p: p["tensors"].pop(f"{NET}.fitted.y_mean_")),
                 "refers to tensor 'steps.1.fitted.y_mean_', which the file does not hold", id="missing-tensor"),
    pytest.param(on_payload(lambda p: p["tensors"].pop(f"{NET}.module.backbone.conv1.weight")),
                 "weight 'backbone.conv1.weight' of step 'contrastivepatchregressor' (tensor", id="missing-weight"),
    pytest.param(on_payload(lambda p: p["tensors"].update({f"{NET}.module.backbone.conv1.weight": torch.zeros(3)})),
                 "has shape (3,); the network its parameters build", id="weight-shape"),
    pytest.param(on_metadata(lambda m: net(m)["module_state"].pop()), "do not fit the network its parameters build",
                 id="weight-unlisted"),
    pytest.param(on_payload(lambda p: p["tensors"][f"{NET}.module.skip_weight"].fill_(float("nan"))),
                 "weight 'skip_weight' of step 'contrastivepatchregressor' holds NaN", id="nan-weight"),
    pytest.param(on_payload(lambda p: p["tensors"].update({f"{NET}.fitted.y_scale_": torch.ones(1)})),
                 "'y_scale_' of step 'contrastivepatchregressor' has shape (1,); expected (3,)", id="y_scale_-broadcasts"),
    pytest.param(on_payload(lambda p: p["tensors"][f"{NET}.fitted.y_scale_"].neg_()),
                 "'y_scale_' of step 'contrastivepatchregressor' must be positive", id="y_scale_-negative"),
    pytest.param(on_metadata(lambda m: net(m)["fitted"].update(y_ndim_=1)),
                 "'y_ndim_' of step 'contrastivepatchregressor' is 1 (a 1-D target) but n_targets_ is 3", id="y_ndim_"),
    pytest.param(on_metadata(lambda m: net(m)["fitted"].update(n_targets_=2)),
                 "'y_mean_' of step 'contrastivepatchregressor' has shape (3,); expected (2,)", id="n_targets_"),
    pytest.param(on_metadata(lambda m: net(m)["fitted"].update(radius_=-1.0)), "'radius_' of step", id="radius_"),
    pytest.param(on_metadata(lambda m: net(m)["params"].update(module__head="simplex")), "module__head='simplex'",
                 id="head-simplex"),
    pytest.param(on_metadata(lambda m: net(m)["params"].update(ridge=None)), "has ridge=None", id="ridge-off"),
    pytest.param(on_payload(lambda p: p["tensors"][f"{NET}.fitted.blend_"].fill_(0.5)), "network's blend weights",
                 id="blend_"),
    pytest.param(on_metadata(lambda m: (net(m)["params"].update(ridge=None), net(m)["fitted"].update(blend_=None))),
                 "has ridge=None, which leaves ridge regression out, but its network holds a fitted ridge map",
                 id="ridge-off-blend_-dropped"),
    pytest.param(on_payload(lambda p: p["tensors"].update({f"{NET}.module.kernel_support": torch.zeros(3, 16,
                                                                                                   dtype=torch.float64)})),
                 "the kernel partner of step 'contrastivepatchregressor' has 3 support rows but", id="kernel-rows"),
    pytest.param(on_payload(lambda p: p["tensors"].update({f"{NET}.module.kernel_support": torch.zeros(
        MAX_SUPPORT + 1, 16, dtype=torch.float64)})), "weight 'kernel_support' of step 'contrastivepatchregressor' "
                 f"has shape ({MAX_SUPPORT + 1}, 16)", id="kernel-support-too-large"),
    pytest.param(on_metadata(lambda m: net(m)["params"].update(standardize_inputs=False)),
                 "has standardize_inputs=False, but its network holds fitted band statistics", id="standardize-off"),
    pytest.param(on_metadata(lambda m: net(m)["fitted"].update(patch_size_=7)),
                 "step 'patchextractor' makes patches of 16 bands and 5 x 5 pixels, but step "
                 "'contrastivepatchregressor' was fitted on 16 bands and 7 x 7 pixels", id="patch-size"),
    pytest.param(on_metadata(lambda m: m["steps"][0]["fitted"].update(window_shape_={"__tuple__": [3, 3]})),
                 "'window_shape_' of step 'patchextractor' must be (height, width), both >= patch_size=5",
                 id="window-smaller-than-patch"),
]


@pytest.mark.parametrize("damage, what", DAMAGES)
def test_every_damaged_or_edited_file_raises_weights_file_error_naming_the_file(fitted, tmp_path, damage, what):
    path = tmp_path / "model.pt"
    save_weights(fitted, path)
    damage(path)
    with pytest.raises(WeightsFileError) as caught:
        load_weights(path)
    message = str(caught.value)
    assert repr(str(path)) in message and what in message, message


def test_random_bit_flips_are_refused_or_change_nothing(fitted, windows, tmp_path):
    """A flipped bit anywhere: WeightsFileError, or (zip bookkeeping torch ignores) the very same model."""
    X, _ = windows
    path = tmp_path / "m.pt"
    save_weights(fitted, path)
    original, expected = path.read_bytes(), fitted.predict(X)
    rng = np.random.default_rng(0)
    for offset, bit in zip(rng.integers(len(original), size=40), rng.integers(8, size=40), strict=True):
        data = bytearray(original)
        data[offset] ^= 1 << int(bit)
        path.write_bytes(bytes(data))
        try:
            loaded = load_weights(path)
        except WeightsFileError:
            continue
        np.testing.assert_array_equal(loaded.predict(X), expected, err_msg=f"bit {bit} of byte {offset}")


def test_a_file_of_format_version_1_loads_with_a_warning_and_the_same_checks(fitted, windows, tmp_path):
    """Files written before the digest (format_version 1) still load; their contents are still checked."""
    X, _ = windows
    path = tmp_path / "old.pt"
    save_weights(fitted, path)
    payload = read_raw(path)
    del payload["digest"]
    payload["format_version"] = 1
    torch.save(payload, path)
    with pytest.warns(UserWarning, match="has format_version 1, which records no digest"):
        loaded = load_weights(path)
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    payload["tensors"][f"{NET}.fitted.y_scale_"] = torch.ones(1)
    torch.save(payload, path)
    with pytest.raises(WeightsFileError, match="'y_scale_' of step 'contrastivepatchregressor' has shape"):
        load_weights(path)
    payload["digest"] = "sha256:0"
    torch.save(payload, path)
    with pytest.raises(WeightsFileError, match="unexpected entries 'digest'"):
        load_weights(path)


def test_a_missing_file_is_an_os_error_not_a_damaged_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_weights(tmp_path / "nowhere.pt")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_loading_on_cuda_without_cuda_says_so_and_how_to_load_on_the_cpu(fitted, windows, tmp_path, device):
    X, _ = windows
    path = tmp_path / "m.pt"
    save_weights(fitted, path)
    with pytest.raises(ValueError, match=r"CUDA is not available on this machine \(torch.cuda.is_available\(\) is "
                                         r"False\).*pass device='cpu'") as caught:
        load_weights(path, device=device)
    assert not isinstance(caught.value, WeightsFileError) and "map_location" not in str(caught.value)
    np.testing.assert_array_equal(load_weights(path, device="cpu").predict(X), fitted.predict(X))


def test_an_unknown_device_is_refused_by_name(fitted, tmp_path):
    path = tmp_path / "m.pt"
    save_weights(fitted, path)
    with pytest.raises(ValueError, match="device must be None, 'cpu', 'cuda', 'cuda:<index>' or a torch.device, got 'gpu'"):
        load_weights(path, device="gpu")


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


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_weights_file_keeps_the_precision(windows, tmp_path, precision):
    X, y = windows
    model = make_pipeline(PatchExtractor(5), ContrastivePatchRegressor(
        "li", precision=precision, **tiny_net_params(max_epochs=1))).fit(X, y)
    save_weights(model, tmp_path / "m.pt")
    loaded = load_weights(tmp_path / "m.pt")
    assert loaded[-1].precision == precision
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


FOREIGN_DAMAGES = [
    pytest.param(on_payload(lambda p: p["tensors"].update({"steps.1.skops": p["tensors"]["steps.1.skops"][:-40]})),
                 "skops cannot read the data of step 'standardscaler'", id="skops-truncated"),
    pytest.param(on_payload(lambda p: p["tensors"].update({"steps.1.skops": p["tensors"]["steps.1.skops"].float()})),
                 "must be a 1-D uint8 tensor", id="skops-not-bytes"),
    pytest.param(on_metadata(lambda m: m["steps"][1].update({"class": "sklearn.linear_model._ridge.Ridge"})),
                 "is recorded as 'sklearn.linear_model._ridge.Ridge' but its skops data holds", id="skops-class"),
    pytest.param(on_metadata(lambda m: m["steps"][1].update(skops="steps.9.skops")),
                 "refers to tensor 'steps.9.skops', which the file does not hold", id="skops-key"),
]


@pytest.mark.parametrize("damage, what", FOREIGN_DAMAGES)
def test_a_damaged_foreign_step_raises_weights_file_error(windows, tmp_path, damage, what):
    X, y = windows
    path = tmp_path / "m.safetensors"
    save_weights(make_pipeline(MeanSpectrum(), StandardScaler(), Ridge()).fit(X, y), path)
    damage(path)
    with pytest.raises(WeightsFileError, match=re.escape(what)):
        load_weights(path)


class _Marker:
    """Unpickling it writes a file: proof that a load ran code from the file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def test_skops_data_naming_a_skorch_net_cannot_run_code(windows, tmp_path):
    """A crafted step: skops data whose class is the regressor, whose __setstate__ (skorch's) unpickles a blob."""
    X, y = windows
    path, marker = tmp_path / "m.safetensors", tmp_path / "ran"
    save_weights(make_pipeline(MeanSpectrum(), StandardScaler(), Ridge()).fit(X, y), path)
    fake = Doubler()
    fake.__dict__ = {"device": "cpu", "__cuda_dependent_attributes__": pickle.dumps({"x": _Marker(marker)}),
                     _VERSION_KEY: hyperspectral_cl.__version__}
    zin = zipfile.ZipFile(io.BytesIO(skops.io.dumps(fake)))
    schema = json.loads(zin.read("schema.json"))
    schema.update({"__module__": "hyperspectral_cl.estimator", "__class__": "ContrastivePatchRegressor"})
    crafted = io.BytesIO()
    with zipfile.ZipFile(crafted, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, json.dumps(schema) if name == "schema.json" else zin.read(name))

    def inject(payload):
        payload["tensors"]["steps.1.skops"] = torch.frombuffer(bytearray(crafted.getvalue()), dtype=torch.uint8)

    tamper(path, edit_payload=inject)
    for allow in ((), [ContrastivePatchRegressor]):  # not even when the caller trusts the class for other uses
        with pytest.raises(TypeError, match="ContrastivePatchRegressor"):
            load_weights(path, allow=allow)
    assert not marker.exists()


def test_a_package_step_inside_a_foreign_step_is_refused_at_save(fitted, windows, tmp_path):
    X, y = windows
    nested = make_pipeline(make_pipeline(fitted[0], fitted[-1]))
    with pytest.raises(TypeError, match="step 'pipeline' holds a PatchExtractor inside another library's step"):
        save_weights(nested, tmp_path / "m.safetensors")
