"""Save and load fitted models as weights and plain data, without pickling code.

A pickle (``joblib.dump``, ``pickle.dump``) can run any code when it is loaded,
so it must come from a trusted source. :func:`save_weights` writes what a fitted
:class:`~hyperspectral_cl.ContrastivePatchRegressor`, or a Pipeline of the
package's steps, needs to predict, as tensors and JSON; :func:`load_weights`
reads it with ``torch.load(..., weights_only=True)``, which refuses anything but
tensors and plain containers, and rebuilds the model from an allow-list of
classes. It never imports a module named in the file.

File format (``format_version`` 1)
----------------------------------
One file written by :func:`torch.save`, holding a dict::

    {
        "format": "hyperspectral_cl.weights",
        "format_version": 1,
        "metadata": "<a JSON document, as a str>",
        "tensors": {"<key>": torch.Tensor, ...},   # all on the CPU
    }

It loads with ``torch.load(path, weights_only=True)``. The JSON document holds

* ``hyperspectral_cl_version`` (the package version that saved the file; other
  ``major.minor`` series are refused with
  :class:`~hyperspectral_cl.IncompatibleModelError`), ``torch_version``, ``kind``
  (``"estimator"`` or ``"pipeline"``), ``pipeline_params`` and ``dropped_params``;
* ``steps``: one entry per step (one for a bare estimator) with its ``name``,
  ``class`` (``"module.QualifiedName"``), constructor ``params``, ``fitted``
  attributes and, for a regressor, ``module_state``: the tensor keys of the
  network's ``state_dict`` in order.

Values are encoded as JSON where they are plain (``None``, bools, numbers,
strings, lists and dicts of them); otherwise as ``{"__tuple__": [...]}``,
``{"__tensor__": key}`` (numpy arrays, stored as tensors of the same dtype),
``{"__class__": "module.QualifiedName"}`` (classes and functions, such as
``criterion=torch.nn.MSELoss``, ``optimizer=torch.optim.SGD`` or a registered
backbone) or ``{"__estimator__": "module.QualifiedName", "params": {...}}``
(augmentation objects).

**What is rebuilt.** Classes and functions named in the file are looked up, never
imported, among: ``torch.nn`` modules (losses, layers), ``torch.optim``
optimisers, ``torch.utils.data.DataLoader``, ``skorch.dataset.Dataset``, the
package's registered backbones, contrastive losses and augmentations, and its
steps (``PatchExtractor``, ``MeanSpectrum``, ``ContrastivePatchRegressor``);
pass others you trust (a custom backbone, a subclass of the regressor) as
``load_weights(..., allow=[cls])``.

**What is not stored.** The optimiser's state and the training history: a
loaded model predicts exactly as the saved one and can be trained further
(``partial_fit`` starts a fresh optimiser from the saved weights). Parameters
that only shape training (``callbacks``, ``train_split``, an augmentation or a
loss that is not one of the package's, a ``RandomState``...) and cannot be
written as data are left out with a warning and take their defaults on load
(listed in the metadata's ``dropped_params``); a parameter that changes
predictions and cannot be stored (an ``nn.Module`` object as a ``module__``
option, say) makes :func:`save_weights` raise a ``TypeError`` naming it.

A regressor with skorch's ``AccelerateMixin`` (multi-GPU or mixed-precision training) is saved as
a plain ``ContrastivePatchRegressor`` with the same weights: its ``accelerator`` only drives
training.

**Devices.** Tensors are written on the CPU, so a file saved from a GPU loads on
any machine. ``load_weights(path)`` puts the model on the device it was saved
from when that device exists here, and on the CPU otherwise (with skorch's
``DeviceWarning``); ``device=`` chooses.
"""

import json
import os
import re
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from skorch.dataset import Dataset
from skorch.utils import get_map_location
from torch.utils.data import DataLoader

from ._torch_utils import seeded_torch_rng
from ._version import __version__
from .augment import AUGMENTATIONS, Compose, RandomChoice
from .backbones import BACKBONES
from .estimator import ContrastivePatchRegressor, IncompatibleModelError, check_saved_version
from .losses import CONTRASTIVE_LOSSES
from .patches import MeanSpectrum, PatchExtractor

__all__ = ["FORMAT", "FORMAT_VERSION", "load_weights", "save_weights"]

#: Value of the file's ``"format"`` entry.
FORMAT = "hyperspectral_cl.weights"
#: Version of the layout written by :func:`save_weights`.
FORMAT_VERSION = 1

#: Fitted attributes a regressor needs to predict (besides its network's weights).
_REGRESSOR_FITTED = ("n_bands_in_", "patch_size_", "n_targets_", "y_ndim_", "y_mean_", "y_scale_", "radius_", "blend_")

#: Regressor parameters that only shape training: when they cannot be stored they are dropped (with a warning).
_TRAINING_ONLY = {
    "augment", "alpha", "radius", "positive_fraction", "temperature", "contrastive", "random_state", "criterion",
    "optimizer", "lr", "max_epochs", "train_split", "callbacks", "iterator_train", "warm_start", "verbose",
    "use_caching", "torch_load_kwargs",
}
_TRAINING_ONLY_PREFIXES = ("optimizer__", "criterion__", "callbacks__", "iterator_train__")
#: Parameters added by skorch.hf.AccelerateMixin; such a model is saved as a plain ContrastivePatchRegressor.
_ACCELERATE_PARAMS = ("accelerator", "unwrap_after_train", "callbacks__print_log__sink")

_STEP_CLASSES = (PatchExtractor, MeanSpectrum, ContrastivePatchRegressor)
_FITTED_NAME = re.compile(r"[a-z][a-z0-9_]*_")


class _Unstorable(TypeError):
    """A value that cannot be written as data."""


def _path(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def _allowed_objects(extra=()):
    """Classes and functions load_weights may use, by import path (nothing is imported here)."""
    allowed = {}
    for namespace, base in ((vars(torch.nn), torch.nn.Module), (vars(torch.optim), torch.optim.Optimizer)):
        for obj in namespace.values():
            if isinstance(obj, type) and issubclass(obj, base):
                allowed[_path(obj)] = obj
    for obj in (DataLoader, Dataset, Compose, RandomChoice, *_STEP_CLASSES, *BACKBONES.values(),
                *AUGMENTATIONS.values(), *CONTRASTIVE_LOSSES.values()):
        allowed[_path(obj)] = obj
    for obj in extra:
        if not (isinstance(obj, type) or callable(obj)) or not hasattr(obj, "__qualname__"):
            raise TypeError(f"allow must hold classes or functions, got {obj!r}")
        allowed[_path(obj)] = obj
    return allowed


# ------------------------------------------------------------------- encoding
def _encode(value, tensors, key):
    """Encode ``value`` as JSON-able data; arrays go to ``tensors`` under keys derived from ``key``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, torch.device):  # skorch sets one when it maps a CUDA pickle to the CPU
        return str(value)
    if isinstance(value, np.ndarray):
        if value.dtype == object or not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
            raise _Unstorable(f"an array of dtype {value.dtype}")
        tensors[key] = torch.from_numpy(np.array(value, copy=True, order="C"))
        return {"__tensor__": key}
    if isinstance(value, torch.Tensor):
        tensors[key] = value.detach().cpu().clone()
        return {"__tensor__": key, "torch": True}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{key}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, tensors, f"{key}.{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise _Unstorable("a dict with non-string keys")
        if any(k.startswith("__") and k.endswith("__") for k in value):
            raise _Unstorable("a dict with dunder keys")
        return {k: _encode(v, tensors, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, type) or (callable(value) and not isinstance(value, BaseEstimator)
                                   and hasattr(value, "__qualname__")):  # a class or a function
        if "<" in value.__qualname__ or getattr(value, "__module__", None) in (None, "__main__"):
            raise _Unstorable(f"{value!r}, which cannot be found again by its import path")
        return {"__class__": _path(value)}
    if type(value) in (Compose, RandomChoice, *AUGMENTATIONS.values()):  # the package's augmentations
        return {"__estimator__": _path(type(value)),
                "params": _encode(value.get_params(deep=False), tensors, f"{key}.params")}
    raise _Unstorable(f"a {type(value).__name__} object")


def _is_training_only(step, name):
    if isinstance(step, Pipeline):  # memory, verbose, transform_input: none changes predictions
        return True
    if isinstance(step, ContrastivePatchRegressor):
        return name in _TRAINING_ONLY or name.startswith(_TRAINING_ONLY_PREFIXES)
    return False


def _encode_params(step, params, tensors, prefix, dropped, where):
    out = {}
    for name, value in params.items():
        if name.startswith("_"):  # skorch's private bookkeeping (_params_to_validate)
            continue
        try:
            out[name] = _encode(value, tensors, f"{prefix}.{name}")
        except _Unstorable as exc:
            for k in [k for k in tensors if k.startswith(f"{prefix}.{name}.") or k == f"{prefix}.{name}"]:
                del tensors[k]
            if not _is_training_only(step, name):
                raise TypeError(
                    f"save_weights cannot store parameter {name!r} of {where} ({exc}): it changes predictions, "
                    "so the model could not be rebuilt without it. Use a registered name or a class importable "
                    "by path, or save the model with joblib (a pickle: load only files you trust)."
                ) from None
            dropped.append(f"{where}: {name}")
    return out


def _encode_step(step, index, name, tensors, dropped):
    where = f"step {name!r}" if name is not None else type(step).__name__
    if not isinstance(step, _STEP_CLASSES):
        raise TypeError(
            f"save_weights stores ContrastivePatchRegressor, PatchExtractor and MeanSpectrum (alone or in a "
            f"Pipeline); {where} is a {type(step).__name__}. Save such a model with joblib instead (a pickle: "
            "load only files you trust)."
        )
    prefix = f"steps.{index}"
    cls, params = type(step), step.get_params(deep=False)
    if isinstance(step, ContrastivePatchRegressor) and "accelerator" in params:
        # skorch.hf.AccelerateMixin: the weights are a plain regressor's; the accelerator only drives training
        cls = ContrastivePatchRegressor
        dropped.extend(f"{where}: {k} (saved as a ContrastivePatchRegressor)" for k in _ACCELERATE_PARAMS if k in params)
        params = {k: v for k, v in params.items() if k not in _ACCELERATE_PARAMS}
    entry = {"name": name, "class": _path(cls)}
    entry["params"] = _encode_params(step, params, tensors, f"{prefix}.params", dropped, where)
    if isinstance(step, ContrastivePatchRegressor):
        if not getattr(step, "initialized_", False) or not all(hasattr(step, a) for a in _REGRESSOR_FITTED):
            raise NotFittedError(f"{where} is not fitted: call fit before save_weights")
        names = list(_REGRESSOR_FITTED)
        entry["module_state"] = []
        for k, v in step.module_.state_dict().items():
            tkey = f"{prefix}.module.{k}"
            tensors[tkey] = v.detach().cpu().clone()
            entry["module_state"].append([k, tkey])
    else:
        names = sorted(k for k in vars(step) if k.endswith("_") and not k.startswith("_"))
        if not names:
            raise NotFittedError(f"{where} is not fitted: call fit before save_weights")
    try:
        entry["fitted"] = {a: _encode(getattr(step, a), tensors, f"{prefix}.fitted.{a}") for a in names}
    except _Unstorable as exc:
        raise TypeError(f"save_weights cannot store a fitted attribute of {where}: {exc}") from None
    return entry


def save_weights(estimator, path):
    """Save a fitted model as weights and plain data (no pickled code).

    Parameters
    ----------
    estimator : ContrastivePatchRegressor, PatchExtractor, MeanSpectrum or Pipeline
        A fitted estimator, or a fitted Pipeline whose steps are the package's
        (``'passthrough'`` steps are kept).
    path : str, os.PathLike or binary file object
        Where to write (``torch.save``'s ``f``). The ``.pt`` suffix is customary.

    Returns
    -------
    metadata : dict
        The JSON metadata written in the file (see the module documentation).

    Raises
    ------
    TypeError
        For a step that is not one of the package's, or a parameter that changes
        predictions and cannot be stored as data.
    sklearn.exceptions.NotFittedError
        For an unfitted estimator or step.

    Warns
    -----
    UserWarning
        When parameters that only affect training (``callbacks``,
        ``train_split``...) cannot be stored: they are left out and take their
        defaults on load.

    Examples
    --------
    >>> from hyperspectral_cl.persistence import load_weights, save_weights
    >>> save_weights(model, "model.pt")               # doctest: +SKIP
    >>> model = load_weights("model.pt", device="cpu")  # doctest: +SKIP
    """
    tensors, dropped = {}, []
    if isinstance(estimator, Pipeline):
        kind = "pipeline"
        steps = []
        for i, (name, step) in enumerate(estimator.steps):
            if step is None or step == "passthrough":
                steps.append({"name": name, "passthrough": step})
            else:
                steps.append(_encode_step(step, i, name, tensors, dropped))
        params = {k: v for k, v in estimator.get_params(deep=False).items() if k != "steps"}
        pipeline_params = _encode_params(estimator, params, tensors, "pipeline", dropped, "the Pipeline")
    elif isinstance(estimator, BaseEstimator):
        kind, pipeline_params = "estimator", None
        steps = [_encode_step(estimator, 0, None, tensors, dropped)]
    else:
        raise TypeError(f"estimator must be a fitted estimator or Pipeline, got {type(estimator).__name__}")
    if dropped:
        warnings.warn(
            "save_weights left out parameters that only affect training and cannot be stored as data ("
            + "; ".join(dropped) + "); they take their default values when the file is loaded",
            UserWarning,
            stacklevel=2,
        )
    metadata = {
        "hyperspectral_cl_version": __version__,
        "torch_version": torch.__version__,
        "kind": kind,
        "pipeline_params": pipeline_params,
        "steps": steps,
        "dropped_params": dropped,
    }
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "metadata": json.dumps(metadata),
        "tensors": tensors,
    }
    torch.save(payload, path)
    return metadata


# ------------------------------------------------------------------- decoding
class _Refused(TypeError):
    pass


def _decode(value, tensors, allowed, where):
    if isinstance(value, list):
        return [_decode(v, tensors, allowed, where) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        try:
            t = tensors[value["__tensor__"]]
        except KeyError:
            raise ValueError(f"the file is damaged: tensor {value['__tensor__']!r} ({where}) is missing") from None
        return t if value.get("torch") else t.detach().cpu().numpy()
    if "__tuple__" in value:
        return tuple(_decode(v, tensors, allowed, where) for v in value["__tuple__"])
    if "__class__" in value:
        return _lookup(value["__class__"], allowed, where)
    if "__estimator__" in value:
        cls = _lookup(value["__estimator__"], allowed, where)
        if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
            raise _Refused(f"{value['__estimator__']!r} ({where}) is not an estimator class")
        return cls(**_decode(value["params"], tensors, allowed, where))
    return {k: _decode(v, tensors, allowed, where) for k, v in value.items()}


def _lookup(path, allowed, where):
    try:
        return allowed[path]
    except KeyError:
        raise _Refused(
            f"the file names {path!r} for {where}; load_weights only builds classes and functions from torch.nn, "
            "torch.optim and hyperspectral_cl's registries. If you trust the file and this object, pass it as "
            f"load_weights(..., allow=[{path.rsplit('.', 1)[-1]}])"
        ) from None


def _resolve_device(device, saved):
    if device is not None:
        return str(device)
    return str(get_map_location(saved or "cpu"))  # CUDA without a GPU: the CPU, with skorch's DeviceWarning


def _build_step(entry, tensors, allowed, device, dropped):
    name = entry.get("name")
    where = f"step {name!r}" if name is not None else "the estimator"
    cls = _lookup(entry["class"], allowed, f"{where} (its class)")
    if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
        raise _Refused(f"{entry['class']!r} ({where}) is not an estimator class")
    is_regressor = issubclass(cls, ContrastivePatchRegressor)
    params = {}
    for pname, encoded in entry["params"].items():
        try:
            params[pname] = _decode(encoded, tensors, allowed, f"parameter {pname!r} of {where}")
        except _Refused:
            if not (is_regressor and (pname in _TRAINING_ONLY or pname.startswith(_TRAINING_ONLY_PREFIXES))):
                raise
            dropped.append(f"{where}: {pname}")
    if is_regressor:
        params["device"] = _resolve_device(device, params.get("device"))
    step = cls(**params)
    for attr, encoded in entry["fitted"].items():
        # only data, and only under fitted-attribute names: a file cannot replace a method
        expected = attr in _REGRESSOR_FITTED if is_regressor else _FITTED_NAME.fullmatch(attr) is not None
        if not expected or hasattr(type(step), attr):
            raise ValueError(f"the file is damaged: {attr!r} is not a fitted attribute of {where}")
        setattr(step, attr, _decode(encoded, tensors, {}, f"fitted attribute {attr!r} of {where}"))
    if is_regressor:
        with seeded_torch_rng(0, "cpu"):  # the initial weights are overwritten; leave the global RNG alone
            step.initialize()
        state = {}
        for key, tkey in entry["module_state"]:
            if tkey not in tensors:
                raise ValueError(f"the file is damaged: weight {key!r} of {where} is missing")
            state[key] = tensors[tkey]
        step.module_.load_state_dict(state, strict=True)
        step.module_.eval()
    return step


def load_weights(path, device=None, *, allow=()):
    """Rebuild a model saved by :func:`save_weights`, ready to predict.

    The file is read with ``torch.load(path, weights_only=True,
    map_location=device)`` (``'cpu'`` when ``device`` is None): only tensors and
    plain data are unpickled, and no module named in the file is imported.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        A file written by :func:`save_weights`.
    device : str, torch.device or None, default=None
        Device of the rebuilt network (``'cpu'``, ``'cuda'``, ``'cuda:1'``).
        None: the device it was saved from when it is available, else the CPU
        (with skorch's ``DeviceWarning``).
    allow : iterable of classes or functions, default=()
        Further classes or functions you trust, beyond ``torch.nn``,
        ``torch.optim`` and the package's registries: a custom backbone class,
        a subclass of ``ContrastivePatchRegressor``, a custom contrastive loss.

    Returns
    -------
    estimator : ContrastivePatchRegressor, PatchExtractor, MeanSpectrum or Pipeline
        What was saved, fitted, predicting as the saved model did (on the same
        device). The optimiser state and training history are not restored.

    Raises
    ------
    hyperspectral_cl.IncompatibleModelError
        When the file was written by another ``major.minor`` series of the
        package, or by a newer file format.
    ValueError
        When the file is not a hyperspectral_cl weights file, or is damaged.
    TypeError
        When the file names a class outside the allow-list for something that
        changes predictions (parameters that only affect training fall back to
        their defaults with a warning).
    """
    map_location = None if device is None else torch.device(device)
    try:
        with warnings.catch_warnings():  # torch's note on the pickle protocol of files it did not write
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            payload = torch.load(path, weights_only=True, map_location=map_location or "cpu")
    except Exception as exc:
        # weights_only refuses pickled objects: a joblib/pickle file or a foreign checkpoint lands here
        raise ValueError(
            f"{os.fspath(path) if isinstance(path, (str, os.PathLike)) else 'the file'} is not a weights file "
            f"written by hyperspectral_cl.save_weights (torch.load(weights_only=True) failed: {exc}). "
            "A joblib or pickle file loads with joblib.load (only from a source you trust)."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError("this file was not written by hyperspectral_cl.save_weights (no 'format' entry)")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise IncompatibleModelError(
            f"this weights file has format version {version!r}; hyperspectral_cl {__version__} reads versions "
            f"up to {FORMAT_VERSION}. Install the version of hyperspectral-cl that wrote it."
        )
    metadata = json.loads(payload["metadata"])
    check_saved_version(metadata.get("hyperspectral_cl_version"))
    tensors = payload["tensors"]
    allowed = _allowed_objects(allow)
    dropped = []

    steps = []
    for entry in metadata["steps"]:
        if "passthrough" in entry:
            steps.append((entry["name"], entry["passthrough"]))
        else:
            steps.append((entry["name"], _build_step(entry, tensors, allowed, device, dropped)))
    if metadata["kind"] == "pipeline":
        params = {}
        for pname, encoded in (metadata.get("pipeline_params") or {}).items():
            try:
                params[pname] = _decode(encoded, tensors, allowed, f"parameter {pname!r} of the Pipeline")
            except _Refused:
                dropped.append(f"the Pipeline: {pname}")
        model = Pipeline(steps, **params)
    else:
        model = steps[0][1]
    if dropped:
        warnings.warn(
            "load_weights left out parameters that only affect training and name classes outside the allow-list ("
            + "; ".join(dropped) + "); they take their default values. Pass the classes as allow=[...] if you "
            "trust them.",
            UserWarning,
            stacklevel=2,
        )
    return model
