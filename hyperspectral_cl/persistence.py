"""Save and load fitted models as weights and plain data, without pickling code.

A pickle (``joblib.dump``, ``pickle.dump``) can run any code when it is loaded,
so it must come from a trusted source. :func:`save_weights` writes what a fitted
:class:`~hyperspectral_cl.ContrastivePatchRegressor`, or a Pipeline, needs to
predict, as a safetensors file (tensors and JSON, the format the deep-learning
ecosystem uses for safe weight files); :func:`load_weights` reads it with
safetensors, which parses a JSON header and raw tensor bytes and nothing else,
and rebuilds the model from an allow-list of classes. It never imports a module
named in the file. Steps from other libraries (a ``StandardScaler``, a
``RidgeCV``) are stored with skops.io, scikit-learn's secure format (the
``skops`` extra), whose loader likewise rebuilds only trusted types.

File format (``format_version`` 3)
----------------------------------
One safetensors file: its tensors (all on the CPU) under string keys, and its
header's ``__metadata__`` (safetensors keeps strings only)::

    {
        "format": "hyperspectral_cl.weights",
        "format_version": "3",
        "metadata": "<a JSON document>",
        "digest": "sha256:<64 hex digits>",
    }

Files of ``format_version`` 1 and 2 (hyperspectral_cl 0.2, written by
:func:`torch.save` as a dict of these entries plus ``"tensors"``) still load,
with ``torch.load(path, weights_only=True)``. The JSON document holds

* ``hyperspectral_cl_version`` (the package version that saved the file; other
  ``major.minor`` series are refused with
  :class:`~hyperspectral_cl.IncompatibleModelError`), ``torch_version``, ``kind``
  (``"estimator"`` or ``"pipeline"``), ``pipeline_params`` and ``dropped_params``;
* ``steps``: one entry per step (one for a bare estimator) with its ``name``,
  ``class`` (``"module.QualifiedName"``), constructor ``params`` (its
  ``get_params(deep=False)``), ``fitted`` attributes (for the regressor, those
  its ``_fitted_state`` names) and, for a regressor, ``module_state``: the
  tensor keys of the network's ``state_dict`` in order. A step from another
  library holds ``name``, ``class`` and ``skops``: the key of a uint8 tensor
  with the bytes of ``skops.io.dumps(step)``.

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
``load_weights(..., allow=[cls])``. Steps from other libraries are rebuilt by
``skops.io.loads`` with its default trusted types (scikit-learn's estimators,
numpy and scipy data) and the classes passed as ``allow=``; any other type they
hold is refused with a ``TypeError`` naming it. skorch nets and the package's
steps are never trusted inside skops data (skorch's ``__setstate__`` unpickles),
and :func:`save_weights` refuses them nested in another library's step.

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
``DeviceWarning``); ``device=`` chooses, and a device this machine lacks
(``device='cuda'`` without CUDA) is refused with a ``ValueError`` before the file
is read.

Integrity and consistency
-------------------------
``digest`` is the SHA-256 of the format name and version, the metadata string,
and every tensor's key, dtype, shape and bytes (in key order, each part
length-prefixed). :func:`load_weights` recomputes it before it uses anything in
the file: a flipped bit in a weight or an edited metadata string is refused
instead of loading as a model that predicts something else (or NaN).

The digest is not a signature: whoever can write the file can recompute it. So
:func:`load_weights` also checks, before it builds anything, that the file's
parts agree with each other, and refuses a file whose metadata was edited into
a different model where an edit leaves a trace:

* the header's metadata (the saved dict, for older files), the JSON metadata
  and each step entry have exactly the expected entries, of the expected
  types; every stored tensor is referred to;
* every fitted attribute has the type and shape the step's recorded sizes
  imply: ``y_mean_``, ``y_scale_`` and ``blend_`` one finite value per target
  (``n_targets_``), ``y_scale_`` positive, ``n_targets_`` 1 when ``y_ndim_`` is 1,
  ``PatchExtractor``'s ``mean_``/``scale_`` one per band, ``window_shape_`` no
  smaller than ``patch_size``;
* the parameters pass the estimator's own checks and agree with what was
  fitted: ``y_mean_``/``y_scale_`` are 0 and 1 where the parameters leave
  targets unscaled (``module__head='simplex'`` with
  ``standardize_targets='auto'``); ``blend_`` is set exactly when the resolved
  ``ridge`` is ``'blend'``, and equals the network's ``blend`` buffer; the network
  holds no fitted band statistics or ridge map where ``standardize_inputs=False``
  or ``ridge=None`` would have left none;
* the network built from the parameters has exactly the stored weights' keys
  and shapes, and the weights are finite;
* in a Pipeline, a ``PatchExtractor`` and the regressor after it agree on the
  band count and the patch size.

An edit that leaves no such trace (``spectrum_norm``, which changes no shape
and no fitted statistic) cannot be told from a genuine file: load weights
files only from sources you trust to have written them, as any model file.

Every damaged or contradictory file raises :class:`WeightsFileError` (a
``ValueError``) naming the file and what is wrong. Other errors are reserved
for other causes: ``IncompatibleModelError`` for another package series or a
newer format, ``TypeError`` for a class outside the allow-list (see above),
``OSError`` when the file cannot be opened, ``ImportError`` when a step from
another library needs skops and it is not installed.

**Older files.** Files of ``format_version`` 2 (``torch.save`` files with a
digest) load as they did. Files of ``format_version`` 1 (hyperspectral_cl 0.2.0
before the digest) hold no ``digest`` entry: they load after the same
consistency checks, with a ``UserWarning`` saying that damage to them cannot be
detected; saving the model again writes a safetensors file with a digest.
"""

import hashlib
import inspect
import io
import json
import math
import os
import re
import warnings
from contextlib import nullcontext
from itertools import pairwise

import numpy as np
import safetensors.torch
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.dataset import Dataset
from skorch.exceptions import DeviceWarning
from skorch.utils import get_map_location
from torch.utils.data import DataLoader

from ._rng import seeded_build
from ._version import __version__
from .augment import AUGMENTATIONS, Compose, RandomChoice
from .backbones import BACKBONES
from .estimator import ContrastivePatchRegressor, IncompatibleModelError, check_saved_version
from .kernel_ridge import MAX_SUPPORT
from .losses import CONTRASTIVE_LOSSES
from .network import KERNEL_BUFFERS, KERNEL_ROWS
from .patches import MeanSpectrum, PatchExtractor

__all__ = ["FORMAT", "FORMAT_VERSION", "WeightsFileError", "load_weights", "save_weights"]

#: Value of the file's ``"format"`` entry.
FORMAT = "hyperspectral_cl.weights"
#: Version of the layout written by :func:`save_weights` (3: a safetensors file; 2 and 1, written by
#: ``torch.save`` with and without a ``digest``, still load).
FORMAT_VERSION = 3

#: Entries of the saved dict (versions 1 and 2) or of the safetensors header's metadata (3, without
#: ``tensors``: those are the file's tensors), per format version.
_PAYLOAD_KEYS = {
    1: ("format", "format_version", "metadata", "tensors"),
    2: ("format", "format_version", "metadata", "tensors", "digest"),
    3: ("format", "format_version", "metadata", "digest"),
}
#: Entries of the JSON metadata and their types.
_METADATA_TYPES = {
    "hyperspectral_cl_version": str,
    "torch_version": str,
    "kind": str,
    "pipeline_params": (dict, type(None)),
    "steps": list,
    "dropped_params": list,
}

_STEP_CLASSES = (PatchExtractor, MeanSpectrum, ContrastivePatchRegressor)
_FITTED_NAME = re.compile(r"[a-z][a-z0-9_]*_")
#: The encoded forms of values that are not plain JSON: marker -> (required keys, optional keys).
_ENCODED_FORMS = {
    "__tensor__": ({"__tensor__"}, {"torch"}),
    "__tuple__": ({"__tuple__"}, set()),
    "__class__": ({"__class__"}, set()),
    "__estimator__": ({"__estimator__", "params"}, set()),
}


class WeightsFileError(ValueError):
    """A weights file that is damaged, was edited, or was not written by :func:`save_weights`.

    Raised by :func:`load_weights`, with a message that names the file and what
    is wrong with it: its bytes no longer match the SHA-256 digest recorded when
    it was saved, ``torch.load`` cannot read it (truncated, random bytes, a
    pickle), or its parts contradict each other (a fitted attribute of the
    wrong shape, a parameter the network cannot be built with, weights that do
    not fit the network the parameters describe). A ``ValueError``.
    """


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
    cls = step if isinstance(step, type) else type(step)
    if issubclass(cls, ContrastivePatchRegressor):  # the estimator says which of its parameters these are
        return name in cls._training_only or name.startswith(cls._training_only_prefixes)
    return False


def _init_params(cls):
    return {name for name, p in inspect.signature(cls.__init__).parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _accelerate_params(cls, where):
    """The parameters skorch.hf.AccelerateMixin adds to ContrastivePatchRegressor's (they only drive training).

    A subclass adding parameters of its own cannot be saved as a plain regressor: refused, naming them.
    """
    from skorch.hf import AccelerateMixin  # imported already: the step is an instance of it

    own = _init_params(ContrastivePatchRegressor)
    mixin = _init_params(AccelerateMixin) - own
    others = set()
    for klass in cls.__mro__[: cls.__mro__.index(ContrastivePatchRegressor)]:
        if "__init__" in vars(klass) and klass is not AccelerateMixin:
            others |= _init_params(klass)
    extra = others - own - mixin
    if extra:
        raise TypeError(
            f"save_weights saves {where}, a {cls.__name__}, as a plain ContrastivePatchRegressor (accelerate only "
            f"drives training), but its class adds parameter(s) {_names(extra)}, which a plain regressor lacks. "
            "Save it with joblib instead (a pickle: load only files you trust)."
        )
    return mixin


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


def _skops_io(where):
    """skops.io, imported on first use (an optional dependency: only other libraries' steps need it)."""
    try:
        import skops.io
    except ImportError:
        raise ImportError(
            f"{where} is not one of hyperspectral_cl's steps: weights files store such scikit-learn steps with "
            'skops, which is not installed. Install it with: pip install "hyperspectral-cl[skops]"'
        ) from None
    return skops.io


def _skops_safe(obj):
    """Whether skops may build ``obj``: never a skorch net (its __setstate__ unpickles) nor one of our steps."""
    return not (isinstance(obj, type) and issubclass(obj, (NeuralNet, *_STEP_CLASSES)))


def _encode_foreign_step(step, prefix, name, tensors, where):
    """Another library's step (a StandardScaler, a RidgeCV...), stored with skops.io as one uint8 tensor."""
    sio = _skops_io(where)
    try:
        check_is_fitted(step)
    except TypeError:  # not an estimator scikit-learn knows how to check: skops says whether it can store it
        pass
    except NotFittedError:
        raise NotFittedError(f"{where} is not fitted: call fit before save_weights") from None
    inner = [v for v in step.get_params(deep=True).values() if not _skops_safe(type(v))]
    if not _skops_safe(type(step)) or inner:
        raise TypeError(
            f"{where} holds a {type((inner or [step])[0]).__name__} inside another library's step; weights files "
            "store the package's steps and skorch nets only as Pipeline steps of their own"
        )
    try:
        data = sio.dumps(step)
    except Exception as exc:
        raise TypeError(f"save_weights cannot store {where}, a {type(step).__name__}, with skops ({exc})") from None
    tensors[f"{prefix}.skops"] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    return {"name": name, "class": _path(type(step)), "skops": f"{prefix}.skops"}


def _encode_step(step, index, name, tensors, dropped):
    where = f"step {name!r}" if name is not None else type(step).__name__
    prefix = f"steps.{index}"
    if not isinstance(step, _STEP_CLASSES):
        if not isinstance(step, BaseEstimator):
            raise TypeError(f"save_weights stores scikit-learn estimators; {where} is a {type(step).__name__}")
        return _encode_foreign_step(step, prefix, name, tensors, where)
    cls, params = type(step), step.get_params(deep=False)
    if isinstance(step, ContrastivePatchRegressor) and "accelerator" in params:
        # skorch.hf.AccelerateMixin: the weights are a plain regressor's; the accelerator only drives training
        cls, added = ContrastivePatchRegressor, _accelerate_params(type(step), where)
        dropped.extend(f"{where}: {k} (saved as a ContrastivePatchRegressor)" for k in sorted(added) if k in params)
        params = {k: v for k, v in params.items() if k not in added}
    entry = {"name": name, "class": _path(cls)}
    entry["params"] = _encode_params(step, params, tensors, f"{prefix}.params", dropped, where)
    if isinstance(step, ContrastivePatchRegressor):
        if not getattr(step, "initialized_", False) or not all(hasattr(step, a) for a in cls._fitted_state):
            raise NotFittedError(f"{where} is not fitted: call fit before save_weights")
        names = list(cls._fitted_state)
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


def _digest(metadata, tensors, version=FORMAT_VERSION):
    """``'sha256:<hex>'`` of the format, the metadata string and every tensor's key, dtype, shape and bytes."""
    sha = hashlib.sha256()

    def part(data):
        data = memoryview(data)
        # length-prefixed, so that no two different files concatenate to the same stream
        sha.update(data.nbytes.to_bytes(8, "little"))
        sha.update(data)

    part(f"{FORMAT}/{version}".encode())
    part(metadata.encode("utf-8", "surrogatepass"))
    for key in sorted(tensors):
        tensor = tensors[key].detach().cpu().contiguous().reshape(-1)
        part(key.encode("utf-8", "surrogatepass"))
        part(f"{tensor.dtype}{tuple(tensors[key].shape)}".encode())
        part(memoryview(tensor.view(torch.uint8).numpy()))  # the raw bytes, whatever the dtype (bfloat16 too)
    return f"sha256:{sha.hexdigest()}"


def save_weights(estimator, path):
    """Save a fitted model as weights and plain data (no pickled code).

    The file records a SHA-256 digest of its metadata and tensors, which
    :func:`load_weights` checks before it uses anything in the file.

    Parameters
    ----------
    estimator : ContrastivePatchRegressor, PatchExtractor, MeanSpectrum or Pipeline
        A fitted estimator, or a fitted Pipeline (``'passthrough'`` steps are
        kept; steps from other libraries, such as scikit-learn's own, are
        stored with skops, the ``skops`` extra).
    path : str, os.PathLike or binary file object
        Where to write. The ``.safetensors`` suffix is customary (``.pt`` works too).

    Returns
    -------
    metadata : dict
        The JSON metadata written in the file (see the module documentation).

    Raises
    ------
    TypeError
        For a step skops cannot store, or a parameter that changes predictions
        and cannot be stored as data.
    ImportError
        For a step from another library when skops is not installed.
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
    text = json.dumps(metadata)
    header = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "metadata": text, "digest": _digest(text, tensors)}
    try:
        data = safetensors.torch.save(tensors, metadata=header)
    except Exception as exc:  # a dtype safetensors has no code for (complex numbers)
        raise TypeError(f"save_weights cannot store these tensors as safetensors ({exc})") from None
    if isinstance(path, (str, os.PathLike)):
        with open(path, "wb") as f:
            f.write(data)
    else:
        path.write(data)
    return metadata


# ------------------------------------------------------------------- decoding
class _Refused(TypeError):
    pass


class _Invalid(ValueError):
    """What is wrong with a file's contents; load_weights raises it as a WeightsFileError naming the file."""


def _is_plain_tensor(value):
    """A dense tensor, as save_weights writes (sparse, quantized or nested ones have no plain bytes to hash)."""
    return (isinstance(value, torch.Tensor) and value.layout == torch.strided and not value.is_quantized
            and not value.is_nested)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_one_of(value, options):
    """``value in options`` for values decoded from a file (an array would make ``in`` raise)."""
    return any(value is option or (type(value) is type(option) and value == option) for option in options)


def _is_builder(value):
    """A class or function skorch may call to build a loader, a dataset or a nonlinearity."""
    if isinstance(value, type):
        return not issubclass(value, (torch.nn.Module, torch.optim.Optimizer, BaseEstimator))
    return callable(value) and not isinstance(value, (torch.nn.Module, BaseEstimator))


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _names(keys):
    return ", ".join(repr(k) for k in sorted(keys, key=repr))


def _check_entries(mapping, required, where, optional=()):
    """``mapping`` must be a dict with every ``required`` key and no key outside ``required`` and ``optional``."""
    if not isinstance(mapping, dict):
        raise _Invalid(f"{where} must be a dict, got {type(mapping).__name__}")
    missing = set(required) - set(mapping)
    if missing:
        raise _Invalid(f"{where} has no {_names(missing)} entry")
    unknown = set(mapping) - set(required) - set(optional)
    if unknown:
        raise _Invalid(f"{where} has unexpected entries {_names(unknown)}; expected {_names(set(required) | set(optional))}")


def _decode(value, tensors, allowed, where):
    """Rebuild an encoded value; ``allowed=None`` accepts data only (no class, no object)."""
    if isinstance(value, list):
        return [_decode(v, tensors, allowed, where) for v in value]
    if not isinstance(value, dict):
        return value
    markers = [k for k in value if k.startswith("__") and k.endswith("__")]
    if not markers:
        return {k: _decode(v, tensors, allowed, where) for k, v in value.items()}
    form = markers[0]
    required, optional = _ENCODED_FORMS.get(form, (None, None))
    if len(markers) > 1 or required is None or not required <= set(value) <= required | optional:
        raise _Invalid(f"{where} holds a malformed value {_short(value)}")
    marker = value[form]
    if form == "__tensor__":
        if not isinstance(marker, str) or value.get("torch", True) is not True:
            raise _Invalid(f"{where} holds a malformed tensor reference {_short(value)}")
        if marker not in tensors:
            raise _Invalid(f"{where} refers to tensor {marker!r}, which the file does not hold")
        t = tensors[marker]
        if value.get("torch"):
            return t
        try:
            return t.detach().cpu().numpy()
        except (TypeError, RuntimeError) as exc:  # a dtype numpy lacks: save_weights never writes one there
            raise _Invalid(f"{where} refers to tensor {marker!r} of dtype {t.dtype}, not an array ({exc})") from None
    if form == "__tuple__":
        if not isinstance(marker, list):
            raise _Invalid(f"{where} holds a malformed tuple {_short(value)}")
        return tuple(_decode(v, tensors, allowed, where) for v in marker)
    if not isinstance(marker, str):
        raise _Invalid(f"{where} holds a malformed class name {_short(value)}")
    if allowed is None:
        raise _Invalid(f"{where} names {marker!r}; fitted attributes hold data only")
    cls = _lookup(marker, allowed, where)
    if form == "__class__":
        return cls
    if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)) or not isinstance(value["params"], dict):
        raise _Invalid(f"{where} holds {_short(value)}, which does not describe an estimator object")
    params = _decode(value["params"], tensors, allowed, where)
    try:
        return cls(**params)
    except Exception as exc:  # the parameters come from the file
        raise _Invalid(f"{where}: {marker} cannot be built from the file's parameters ({exc})") from None


def _tensor_refs(value, found):
    """Add to ``found`` every tensor key an encoded value refers to."""
    if isinstance(value, list):
        for v in value:
            _tensor_refs(v, found)
    elif isinstance(value, dict):
        if isinstance(value.get("__tensor__"), str):
            found.add(value["__tensor__"])
        for v in value.values():
            _tensor_refs(v, found)
    return found


def _lookup(path, allowed, where):
    try:
        return allowed[path]
    except KeyError:
        raise _Refused(
            f"the file names {path!r} for {where}; load_weights only builds classes and functions from torch.nn, "
            "torch.optim and hyperspectral_cl's registries. If you trust the file and this object, pass it as "
            f"load_weights(..., allow=[{path.rsplit('.', 1)[-1]}])"
        ) from None


def _check_device(device):
    """``device`` as a str once this machine is known to have it (None stays None: the file's device decides)."""
    if device is None:
        return None
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(
            f"device must be None, 'cpu', 'cuda', 'cuda:<index>' or a torch.device, got {device!r} ({exc})"
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            # torch.load would say "Attempting to deserialize object on a CUDA device" and advise map_location
            raise ValueError(
                f"load_weights got device={device!r}, but CUDA is not available on this machine "
                "(torch.cuda.is_available() is False). Weights files hold CPU tensors and load anywhere: pass "
                "device='cpu', or device=None to use the saved device where it exists and the CPU otherwise."
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(
                f"load_weights got device={device!r}, but this machine has {count} CUDA device(s), "
                f"cuda:0 to cuda:{count - 1}; pass one of those, or device='cpu'"
            )
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"load_weights got device={device!r}, but MPS is not available on this machine; "
                         "pass device='cpu'")
    return str(device)


def _resolve_device(device, saved):
    if device is not None:
        return device
    if isinstance(saved, str) and saved.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(saved).index
        if index is not None and index >= torch.cuda.device_count():  # saved on a machine with more GPUs
            warnings.warn(f"the model was saved on {saved}, which this machine lacks; loading it on cuda:0",
                          DeviceWarning, stacklevel=3)
            return "cuda:0"
    return str(get_map_location(saved or "cpu"))  # CUDA without a GPU: the CPU, with skorch's DeviceWarning


# -------------------------------------------------------- consistency checks
def _check_count(value, name, where):
    if not _is_int(value) or value < 1:
        raise _Invalid(f"fitted attribute {name!r} of {where} must be a positive int, got {_short(value)}")


def _check_vector(value, name, where, length, meaning, *, allow_none=False):
    """``value`` must be a finite float array of shape ``(length,)`` (or None with ``allow_none``)."""
    if value is None and allow_none:
        return
    if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
        kind = f"an array of dtype {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
        raise _Invalid(f"fitted attribute {name!r} of {where} must be a float array, got {kind}")
    if value.shape != (length,):
        raise _Invalid(f"fitted attribute {name!r} of {where} has shape {value.shape}; expected ({length},), {meaning}")
    if not np.isfinite(value).all():
        raise _Invalid(f"fitted attribute {name!r} of {where} holds NaN or infinite values")


def _check_transformer(step, where):
    _check_count(step.n_bands_in_, "n_bands_in_", where)
    if isinstance(step, MeanSpectrum):
        if not isinstance(step.normalize, bool):
            raise _Invalid(f"parameter 'normalize' of {where} must be True or False, got {_short(step.normalize)}")
        return
    if not isinstance(step, PatchExtractor):
        return
    if not _is_one_of(step.spectrum_norm, (None, "l2")) or not isinstance(step.standardize, bool):
        raise _Invalid(f"parameters of {where} must be spectrum_norm None or 'l2' and standardize True or False, "
                       f"got {step.spectrum_norm!r} and {step.standardize!r}")
    size, window = step.patch_size, step.window_shape_
    if not _is_int(size) or size < 1:
        raise _Invalid(f"parameter 'patch_size' of {where} must be a positive int, got {_short(size)}")
    if not (isinstance(window, tuple) and len(window) == 2 and all(_is_int(w) and w >= size for w in window)):
        raise _Invalid(f"fitted attribute 'window_shape_' of {where} must be (height, width), both >= "
                       f"patch_size={size}, got {_short(window)}")
    if (step.mean_ is None) != (step.scale_ is None):
        raise _Invalid(f"fitted attributes 'mean_' and 'scale_' of {where} must both be None or both arrays")
    meaning = f"one value per band (n_bands_in_={step.n_bands_in_})"
    _check_vector(step.mean_, "mean_", where, step.n_bands_in_, meaning, allow_none=True)
    _check_vector(step.scale_, "scale_", where, step.n_bands_in_, meaning, allow_none=True)
    if step.scale_ is not None and not (step.scale_ > 0).all():
        raise _Invalid(f"fitted attribute 'scale_' of {where} must be positive")


def _check_regressor(step, where):
    """The fitted attributes against each other and against the parameters, before the network is built."""
    for name in ("n_bands_in_", "patch_size_", "n_targets_"):
        _check_count(getattr(step, name), name, where)
    n_targets = step.n_targets_
    if not (_is_int(step.y_ndim_) and step.y_ndim_ in (1, 2)):
        raise _Invalid(f"fitted attribute 'y_ndim_' of {where} must be 1 or 2, got {_short(step.y_ndim_)}")
    if step.y_ndim_ == 1 and n_targets != 1:
        raise _Invalid(f"fitted attribute 'y_ndim_' of {where} is 1 (a 1-D target) but n_targets_ is {n_targets}")
    meaning = f"one value per target (n_targets_={n_targets})"
    _check_vector(step.y_mean_, "y_mean_", where, n_targets, meaning)
    _check_vector(step.y_scale_, "y_scale_", where, n_targets, meaning)
    if not (step.y_scale_ > 0).all():
        raise _Invalid(f"fitted attribute 'y_scale_' of {where} must be positive, got {step.y_scale_}")
    radius = step.radius_
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not math.isfinite(radius) or radius < 0:
        raise _Invalid(f"fitted attribute 'radius_' of {where} must be a finite number >= 0, got {_short(radius)}")
    _check_vector(step.blend_, "blend_", where, n_targets, meaning, allow_none=True)
    if step.blend_ is not None and not ((step.blend_ >= 0) & (step.blend_ <= 1)).all():
        raise _Invalid(f"fitted attribute 'blend_' of {where} must lie in [0, 1], got {step.blend_}")
    # what skorch only checks when predict runs
    if not (_is_one_of(step.predict_nonlinearity, ("auto", None)) or _is_builder(step.predict_nonlinearity)):
        raise _Invalid(f"parameter 'predict_nonlinearity' of {where} must be 'auto', None or a function, "
                       f"got {_short(step.predict_nonlinearity)}")
    for name in ("iterator_valid", "dataset"):
        if not _is_builder(getattr(step, name)):
            raise _Invalid(f"parameter {name!r} of {where} must be a class such as DataLoader or Dataset, "
                           f"got {_short(getattr(step, name))}")
    try:
        step._check_params()  # the estimator's own rules (fit applied them to these values)
        ridge, scaled, head = step._ridge_mode(), step._uses_target_scaling(), step._head()
    except Exception as exc:  # the parameters come from the file
        raise _Invalid(f"the parameters of {where} are invalid: {exc}") from None
    if not scaled and not ((step.y_mean_ == 0).all() and (step.y_scale_ == 1).all()):
        raise _Invalid(
            f"{where} has module__head={head!r} and standardize_targets={step.standardize_targets!r}, which leave "
            f"targets unscaled, but its fitted y_mean_={step.y_mean_} and y_scale_={step.y_scale_} scale them: "
            "the parameters are not those the model was fitted with"
        )
    if (step.blend_ is not None) != (ridge == "blend"):
        raise _Invalid(
            f"{where} has ridge={step.ridge!r} and module__head={head!r}, so its network "
            f"{'blends' if ridge == 'blend' else 'does not blend'} ridge regression in, but its fitted blend_ is "
            f"{step.blend_}: the parameters are not those the model was fitted with"
        )


def _load_module_state(step, module_state, tensors, where):
    """Check the stored weights against the network the parameters build, then load them."""
    expected = step.module_.state_dict()
    if not isinstance(module_state, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(k, str) for k in pair) for pair in module_state
    ):
        raise _Invalid(f"'module_state' of {where} must be a list of [weight name, tensor key] pairs")
    keys = [key for key, _ in module_state]
    missing, unknown = set(expected) - set(keys), set(keys) - set(expected)
    if missing == set(KERNEL_BUFFERS):
        missing = set()  # saved before the kernel partner existed: the network loads without one
    if missing or unknown or len(keys) != len(set(keys)):
        raise _Invalid(
            f"the weights of {where} do not fit the network its parameters build (backbone={step.backbone!r}, "
            f"module options {step.get_params_for('module')}): missing {_names(missing) or 'none'}, unexpected "
            f"{_names(unknown) or 'none'}" + (", some listed twice" if len(keys) != len(set(keys)) else "")
        )
    state = {}
    for key, tkey in module_state:
        if tkey not in tensors:
            raise _Invalid(f"weight {key!r} of {where} (tensor {tkey!r}) is missing")
        tensor, reference = tensors[tkey], expected[key]
        # the kernel partner keeps as many rows as it was fitted on (at most MAX_SUPPORT)
        rows_vary = key in KERNEL_ROWS and tensor.ndim == 2 and tensor.shape[0] <= MAX_SUPPORT
        if tensor.shape != reference.shape and not (rows_vary and tensor.shape[1:] == reference.shape[1:]):
            raise _Invalid(
                f"weight {key!r} of {where} has shape {tuple(tensor.shape)}; the network its parameters build "
                f"(n_bands_in_={step.n_bands_in_}, patch_size_={step.patch_size_}, n_targets_={step.n_targets_}) "
                f"expects {tuple(reference.shape)}"
            )
        if tensor.is_floating_point() != reference.is_floating_point() or tensor.is_complex():
            raise _Invalid(f"weight {key!r} of {where} has dtype {tensor.dtype}; expected {reference.dtype}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise _Invalid(f"weight {key!r} of {where} holds NaN or infinite values; a trained network has none")
        state[key] = tensor
    step.module_.load_state_dict(state, strict=True)
    network = step._network()
    # what fit leaves untouched when these are off: nonzero values mean the parameters were changed since
    if not network.standardize and not (bool((network.band_mean == 0).all()) and bool((network.band_scale == 1).all())):
        raise _Invalid(f"{where} has standardize_inputs=False, but its network holds fitted band statistics: the "
                       "parameters are not those the model was fitted with")
    if network.ridge is None and (bool(network.skip_weight.any()) or bool(network.skip_bias.any())):
        raise _Invalid(f"{where} has ridge={step.ridge!r}, which leaves ridge regression out, but its network holds "
                       "a fitted ridge map: the parameters are not those the model was fitted with")
    if network.ridge != "blend" and bool((network.kernel_gamma != 0).any()):
        raise _Invalid(f"{where} has ridge={step.ridge!r}, which has no kernel partner, but its network holds "
                       "one: the parameters are not those the model was fitted with")
    if len(network.kernel_support) != len(network.kernel_coef):
        raise _Invalid(f"the kernel partner of {where} has {len(network.kernel_support)} support rows but "
                       f"{len(network.kernel_coef)} rows of coefficients")
    blend = network.blend.detach().cpu().numpy()
    if step.blend_ is not None and not np.array_equal(step.blend_.astype(blend.dtype), blend):
        raise _Invalid(f"fitted attribute 'blend_' of {where} is {step.blend_}, but its network's blend weights "
                       f"are {blend}")


def _build_foreign_step(entry, tensors, allowed, where):
    """A step stored with skops: rebuilt by skops.io, trusting its defaults and the classes ``allow`` names.

    ``allowed`` holds only the caller's ``allow=`` classes (never the package's built-in list, which names
    classes whose ``__setstate__`` unpickles: skorch's nets).
    """
    _check_entries(entry, ("name", "class", "skops"), f"the entry of {where}")
    key = entry["skops"]
    if not isinstance(key, str) or key not in tensors:
        raise _Invalid(f"{where} refers to tensor {_short(key)}, which the file does not hold")
    tensor = tensors[key]
    if tensor.dtype != torch.uint8 or tensor.ndim != 1:
        raise _Invalid(f"the skops data of {where} must be a 1-D uint8 tensor, got {tensor.dtype} {tuple(tensor.shape)}")
    sio = _skops_io(where)
    data = tensor.numpy().tobytes()
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise _Invalid(f"skops cannot read the data of {where} ({type(exc).__name__}: {exc})") from None
    refused = [t for t in untrusted if t not in allowed or not _skops_safe(allowed[t])]
    if refused:
        raise TypeError(
            f"{where} holds types outside skops' trusted defaults and the allow-list: {_names(refused)}. If you "
            "trust the file and these classes, pass them as load_weights(..., allow=[...])"
        )
    try:
        step = sio.loads(data, trusted=list(untrusted))
    except Exception as exc:
        raise _Invalid(f"skops cannot rebuild {where} ({type(exc).__name__}: {exc})") from None
    if _path(type(step)) != entry["class"]:
        raise _Invalid(f"{where} is recorded as {entry['class']!r} but its skops data holds a {_path(type(step))}")
    return step


def _build_step(entry, tensors, allowed, device, dropped, pipeline, allowed_by_caller):
    name = entry.get("name") if isinstance(entry, dict) else None
    where = f"step {name!r}" if pipeline else "the estimator"
    if isinstance(entry, dict) and "skops" in entry:
        return _build_foreign_step(entry, tensors, allowed_by_caller, where)
    _check_entries(entry, ("name", "class", "params", "fitted"), f"the entry of {where}", optional=("module_state",))
    if not isinstance(entry["class"], str):
        raise _Invalid(f"the class of {where} must be a str, got {_short(entry['class'])}")
    cls = _lookup(entry["class"], allowed, f"{where} (its class)")
    if not (isinstance(cls, type) and issubclass(cls, _STEP_CLASSES)):
        raise _Invalid(f"{where} names {entry['class']!r}, which is not a PatchExtractor, MeanSpectrum or "
                       "ContrastivePatchRegressor class")
    is_regressor = issubclass(cls, ContrastivePatchRegressor)
    if is_regressor != ("module_state" in entry):
        raise _Invalid(f"the entry of {where} ({cls.__name__}) {'lacks' if is_regressor else 'has'} 'module_state'")
    for part in ("params", "fitted"):
        if not isinstance(entry[part], dict):
            raise _Invalid(f"{part!r} of {where} must be a dict, got {type(entry[part]).__name__}")
    params = {}
    for pname, encoded in entry["params"].items():
        try:
            params[pname] = _decode(encoded, tensors, allowed, f"parameter {pname!r} of {where}")
        except _Refused:
            if not _is_training_only(cls, pname):
                raise
            dropped.append(f"{where}: {pname}")
    try:
        if is_regressor:
            params["device"] = _resolve_device(device, params.get("device"))
        step = cls(**params)
    except Exception as exc:  # the parameters come from the file
        raise _Invalid(f"the parameters of {where} do not build a {cls.__name__} ({type(exc).__name__}: {exc})") from None

    fitted = entry["fitted"]
    required = cls._fitted_state
    missing = [attr for attr in required if attr not in fitted]
    if missing:
        raise _Invalid(f"{where} lacks fitted attribute(s) {_names(missing)}")
    for attr, encoded in fitted.items():
        # only data, and only under fitted-attribute names: a file cannot replace a method
        expected = attr in required if is_regressor else _FITTED_NAME.fullmatch(attr) is not None
        if not expected or hasattr(type(step), attr):
            raise _Invalid(f"{attr!r} is not a fitted attribute of {where}")
        setattr(step, attr, _decode(encoded, tensors, None, f"fitted attribute {attr!r} of {where}"))
    if not is_regressor:
        _check_transformer(step, where)
        return step
    _check_regressor(step, where)
    try:
        with seeded_build(0):  # the initial weights are overwritten; leave the global RNG alone
            step.initialize()
    except Exception as exc:  # e.g. a module__ option the backbone does not take
        raise _Invalid(
            f"the network of {where} cannot be built from its parameters ({type(exc).__name__}: {exc})"
        ) from None
    _load_module_state(step, entry["module_state"], tensors, where)
    step.module_.eval()
    return step


def _check_pipeline(steps):
    """Steps of a Pipeline must be able to feed each other as they did when the model was saved."""
    fitted = [(name, step) for name, step in steps if isinstance(step, BaseEstimator)]
    for (name, step), (next_name, following) in pairwise(fitted):
        if isinstance(step, ContrastivePatchRegressor):
            raise _Invalid(f"step {name!r} is a regressor, but it is followed by step {next_name!r}")
        if isinstance(step, PatchExtractor) and isinstance(following, ContrastivePatchRegressor):
            given = (step.n_bands_in_, step.patch_size)
            if given != (following.n_bands_in_, following.patch_size_):
                raise _Invalid(
                    f"step {name!r} makes patches of {given[0]} bands and {given[1]} x {given[1]} pixels, but step "
                    f"{next_name!r} was fitted on {following.n_bands_in_} bands and {following.patch_size_} x "
                    f"{following.patch_size_} pixels"
                )


def _file_label(path):
    if isinstance(path, (str, os.PathLike)):
        return repr(os.fspath(path))
    name = getattr(path, "name", None)
    return repr(name) if isinstance(name, str) else f"<{type(path).__name__} object>"


def _load_failure(exc):
    """torch.load's reason, without its advice to retry with weights_only=False (which would run the file's code)."""
    text = str(exc).strip()
    found = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n\n|$)", text, re.S)
    if found:
        reason = found.group(1)
    else:
        reason = text.splitlines()[0] if text else "the file ended early" if isinstance(exc, EOFError) else "no reason"
    return f"{type(exc).__name__}: {reason}"


def _is_safetensors(data):
    """Whether ``data`` starts as a safetensors file does: an 8-byte header length, then a JSON object."""
    if len(data) < 9:
        return False
    size = int.from_bytes(data[:8], "little")
    return 2 <= size <= len(data) - 8 and data[8:9] == b"{"


def _read_safetensors(data, label):
    """The payload of a format-3 file: its header's metadata, with the file's tensors as ``'tensors'``."""
    try:
        tensors = safetensors.torch.load(data)
        # the header is plain JSON, already parsed and checked by safetensors above
        header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    except Exception as exc:
        raise WeightsFileError(
            f"cannot read weights file {label}: it starts like a safetensors file but safetensors cannot read it "
            f"({type(exc).__name__}: {exc}); the file is truncated or damaged"
        ) from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise WeightsFileError(
            f"not a weights file: {label} is a safetensors file, but not one written by "
            f"hyperspectral_cl.save_weights (its metadata has no 'format': {FORMAT!r})"
        )
    version = metadata.get("format_version")
    # safetensors metadata holds strings only: the version is written as one
    if isinstance(version, str) and version.isascii() and version.isdigit() and str(int(version)) == version:
        version = int(version)
        if version < 3:
            raise _Invalid(f"a safetensors weights file has format_version 3 or later, got {version}")
    return {**metadata, "format_version": version, "tensors": tensors}


def _read_payload(path, label):
    """The file's payload, its metadata parsed, after the digest check; the file's format version."""
    # OSError from open (a missing file, no permission) is not damage: it propagates as it is
    opened = open(path, "rb") if isinstance(path, (str, os.PathLike)) else nullcontext(path)
    with opened as f:
        data = f.read()
    if _is_safetensors(data):
        payload = _read_safetensors(data, label)
    else:  # format versions 1 and 2: a torch.save file
        try:
            with warnings.catch_warnings():  # torch's note on the pickle protocol of files it did not write
                warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
                # always to the CPU: the tensors were written there, and the digest is computed there
                payload = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
        except Exception as exc:
            # weights_only refuses pickled objects: a joblib/pickle file or a foreign checkpoint lands here
            raise WeightsFileError(
                f"cannot read weights file {label}: it is neither a safetensors file nor one torch.load"
                f"(weights_only=True) can read ({_load_failure(exc)}). The file is truncated or damaged, or it is "
                "not a weights file written by hyperspectral_cl.save_weights (a joblib or pickle file loads with "
                "joblib.load, only from a source you trust)."
            ) from exc
        if isinstance(payload, dict) and payload.get("format_version") == 3:
            raise _Invalid("it is a torch.save file claiming format_version 3, which is written as safetensors")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        what = f"a dict with keys {_names(payload)}" if isinstance(payload, dict) else f"a {type(payload).__name__}"
        raise WeightsFileError(
            f"not a weights file: {label} was not written by hyperspectral_cl.save_weights; it holds {what}, "
            f"not a dict with 'format': {FORMAT!r}"
        )
    version = payload.get("format_version")
    if not _is_int(version) or version < 1:
        raise _Invalid(f"its 'format_version' must be a positive int, got {_short(version)}")
    if version > FORMAT_VERSION:
        raise IncompatibleModelError(
            f"weights file {label} has format version {version}; hyperspectral_cl {__version__} reads versions "
            f"up to {FORMAT_VERSION}. Install the version of hyperspectral-cl that wrote it."
        )
    if version == 3:
        _check_entries({k: v for k, v in payload.items() if k != "tensors"}, _PAYLOAD_KEYS[3],
                       "the safetensors metadata")
    else:
        _check_entries(payload, _PAYLOAD_KEYS[version], "the saved dict")
    text, tensors = payload["metadata"], payload["tensors"]
    if not isinstance(text, str):
        raise _Invalid(f"its 'metadata' entry must be a JSON str, got {type(text).__name__}")
    if not isinstance(tensors, dict) or not all(isinstance(k, str) and _is_plain_tensor(t) for k, t in tensors.items()):
        raise _Invalid("its 'tensors' entry must be a dict of str keys to dense tensors")
    if version >= 2:
        recorded = payload["digest"]
        try:
            computed = _digest(text, tensors, version)
        except (RuntimeError, TypeError, ValueError, UnicodeError) as exc:
            raise _Invalid(f"its contents cannot be hashed to check the digest ({exc})") from None
        if recorded != computed:
            raise _Invalid(
                f"its contents do not match the SHA-256 digest recorded by save_weights ("
                f"{recorded[:21] + '...' if isinstance(recorded, str) else _short(recorded)} recorded, "
                f"{computed[:21]}... computed): the file was damaged or edited after it was written. "
                "Restore it from a good copy, or save the model again."
            )
    try:
        metadata = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _Invalid(f"its metadata is not valid JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise _Invalid(f"its metadata must be a JSON object, got {type(metadata).__name__}")
    return metadata, tensors, version


def _check_metadata(metadata, label):
    saved = metadata.get("hyperspectral_cl_version")
    if not isinstance(saved, str):
        raise _Invalid(f"its metadata must record 'hyperspectral_cl_version' as a str, got {_short(saved)}")
    try:  # another series may lay the metadata out differently: say so before anything else
        check_saved_version(saved)
    except IncompatibleModelError as exc:
        raise IncompatibleModelError(f"weights file {label}: {exc}") from None
    _check_entries(metadata, _METADATA_TYPES, "its metadata")
    for key, types in _METADATA_TYPES.items():
        if not isinstance(metadata[key], types):
            raise _Invalid(f"metadata entry {key!r} has type {type(metadata[key]).__name__}")
    kind, steps = metadata["kind"], metadata["steps"]
    if kind not in ("estimator", "pipeline"):
        raise _Invalid(f"metadata entry 'kind' must be 'estimator' or 'pipeline', got {kind!r}")
    if (kind == "pipeline") != isinstance(metadata["pipeline_params"], dict):
        raise _Invalid(f"metadata entry 'pipeline_params' must be {'a dict' if kind == 'pipeline' else 'null'} "
                       f"for kind {kind!r}")
    if not steps or (kind == "estimator" and len(steps) != 1):
        raise _Invalid(f"metadata entry 'steps' must hold {'one step' if kind == 'estimator' else 'the steps'}, "
                       f"got {len(steps)}")
    names = [entry.get("name") if isinstance(entry, dict) else None for entry in steps]
    if kind == "pipeline" and not all(isinstance(n, str) and n and "__" not in n for n in names):
        raise _Invalid(f"the steps of a Pipeline must have non-empty names without '__', got {_short(names)}")
    if kind == "pipeline" and len(set(names)) != len(names):
        raise _Invalid(f"the steps of a Pipeline must have distinct names, got {_short(names)}")
    if kind == "estimator" and names != [None]:
        raise _Invalid(f"the step of a bare estimator has no name, got {_short(names[0])}")
    if not all(isinstance(item, str) for item in metadata["dropped_params"]):
        raise _Invalid("metadata entry 'dropped_params' must be a list of str")


def load_weights(path, device=None, *, allow=()):
    """Rebuild a model saved by :func:`save_weights`, ready to predict.

    The file is read with safetensors (files of ``format_version`` 1 and 2 with
    ``torch.load(path, weights_only=True, map_location='cpu')``): only tensors
    and plain data are read, and no module named in the file is imported. Before anything is built, the
    file's SHA-256 digest is checked and its parts are checked against each
    other (see the module documentation, "Integrity and consistency").

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        A file written by :func:`save_weights`.
    device : str, torch.device or None, default=None
        Device of the rebuilt network (``'cpu'``, ``'cuda'``, ``'cuda:1'``);
        it must exist on this machine. None: the device it was saved from
        when it is available, else the CPU (with skorch's ``DeviceWarning``).
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
    WeightsFileError
        When the file is not a hyperspectral_cl weights file, is damaged (its
        bytes do not match its digest, it cannot be read) or its
        parts contradict each other. A ``ValueError``; the message names the
        file and what is wrong.
    hyperspectral_cl.IncompatibleModelError
        When the file was written by another ``major.minor`` series of the
        package, or by a newer file format.
    ValueError
        When ``device`` is not a device this machine has (``'cuda'`` without
        CUDA).
    TypeError
        When the file names a class outside the allow-list for something that
        changes predictions (parameters that only affect training fall back to
        their defaults with a warning).
    OSError
        When the file cannot be opened (``FileNotFoundError``...).

    Warns
    -----
    UserWarning
        For a file of ``format_version`` 1, which has no digest; and when
        training-only parameters name classes outside the allow-list.
    """
    device = _check_device(device)
    allow = tuple(allow)  # read twice below: a generator would be empty the second time
    allowed = _allowed_objects(allow)
    label = _file_label(path)
    try:
        metadata, tensors, version = _read_payload(path, label)
        _check_metadata(metadata, label)
        dropped = []
        pipeline = metadata["kind"] == "pipeline"
        steps = []
        for entry in metadata["steps"]:
            if isinstance(entry, dict) and "passthrough" in entry:
                _check_entries(entry, ("name", "passthrough"), f"the entry of step {entry.get('name')!r}")
                if entry["passthrough"] not in (None, "passthrough") or not pipeline:
                    raise _Invalid(f"step {entry['name']!r} must be a fitted step, 'passthrough' or None")
                steps.append((entry["name"], entry["passthrough"]))
            else:
                steps.append((entry.get("name") if isinstance(entry, dict) else None,
                              _build_step(entry, tensors, allowed, device, dropped, pipeline,
                                          {_path(obj): obj for obj in allow})))
        if pipeline:
            _check_pipeline(steps)
            params = {}
            for pname, encoded in metadata["pipeline_params"].items():
                try:
                    params[pname] = _decode(encoded, tensors, allowed, f"parameter {pname!r} of the Pipeline")
                except _Refused:
                    dropped.append(f"the Pipeline: {pname}")
            try:
                model = Pipeline(steps, **params)
            except Exception as exc:  # the parameters come from the file
                raise _Invalid(f"the Pipeline's parameters are invalid ({type(exc).__name__}: {exc})") from None
        else:
            model = steps[0][1]
        used = _tensor_refs([metadata["steps"], metadata["pipeline_params"]], set())
        used.update(entry["skops"] for entry in metadata["steps"] if "skops" in entry)
        used.update(tkey for entry in metadata["steps"] for _, tkey in entry.get("module_state", ()))
        unused = set(tensors) - used
        if unused:
            names = _names(unused)
            raise _Invalid(f"it holds tensors that nothing in its metadata refers to: "
                           f"{names if len(names) <= 200 else names[:197] + '...'}")
    except _Invalid as exc:
        raise WeightsFileError(f"damaged weights file {label}: {exc}") from None
    except RecursionError:  # metadata nested deeper than any save_weights writes
        raise WeightsFileError(f"damaged weights file {label}: its metadata is nested too deeply") from None
    if version < 2:
        warnings.warn(
            f"weights file {label} has format_version {version}, which records no digest: damage to its weights "
            "cannot be detected (its structure and shapes were checked). Save the model again with save_weights "
            "to write a file with a digest.",
            UserWarning,
            stacklevel=2,
        )
    if dropped:
        warnings.warn(
            "load_weights left out parameters that only affect training and name classes outside the allow-list ("
            + "; ".join(dropped) + "); they take their default values. Pass the classes as allow=[...] if you "
            "trust them.",
            UserWarning,
            stacklevel=2,
        )
    return model
