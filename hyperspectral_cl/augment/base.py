"""Transform base class, composition, and the name registry behind ``augment=``.

Transforms act on a batch of patches ``(N, 1, B, S, S)`` on any device, draw
independent random parameters per sample, and take an optional
``torch.Generator`` for reproducibility (without one they use torch's global
generator; the estimator passes its fit's own, seeded from ``random_state``).
As in ``torchvision.transforms.v2`` and ``kornia.augmentation``, drawing the
parameters (``make_params``) is apart from applying them (``transform``), so a
draw can be replayed (``replay``). They are ``torch.nn.Module`` objects and
scikit-learn-style objects (``get_params``/``set_params``, picklable), so their
strength parameters can be tuned by a grid search.
"""

from collections import ChainMap
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from torch import nn

from .._registry import Registry
from .._validation import unknown_name_error
from ._functional import randint

__all__ = [
    "AUGMENTATIONS",
    "AUGMENTATION_GROUPS",
    "Compose",
    "RandomChoice",
    "Transform",
    "augment_array",
    "make_augmentation",
    "register_augmentation",
]

#: group name ('spectral', 'spatial') -> names of its transforms
AUGMENTATION_GROUPS = {"spectral": [], "spatial": []}
#: a random spatial transform, then a random spectral one (the paper's combination)
_COMBINED = "spectral-spatial"
# the group names and the combination are names too, resolved by make_augmentation
_REGISTRY = Registry("augmentation", reserved=ChainMap(AUGMENTATION_GROUPS, {_COMBINED: None}),
                     taken="{kind} name {name!r} is already taken")
#: name -> Transform class
AUGMENTATIONS = _REGISTRY.entries


def register_augmentation(name, group):
    """Class decorator registering a transform under ``name`` in ``group``."""
    if group not in AUGMENTATION_GROUPS:
        raise unknown_name_error("augmentation group", group, AUGMENTATION_GROUPS)

    def decorator(cls):
        _REGISTRY.register(name, cls)
        AUGMENTATION_GROUPS[group].append(name)
        return cls

    return decorator


def check_patches(x, name="x"):
    """Check a transform input is a floating tensor of shape (N, 1, B, S, S)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 1, B, S, S), got {type(x).__name__}")
    if x.ndim != 5 or x.shape[1] != 1:
        raise ValueError(f"{name} must have shape (N, 1, B, S, S), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")


class Transform(BaseEstimator, nn.Module):
    """Base class: a random transform of a batch of patches ``(N, 1, B, S, S)``.

    Built the way ``torchvision.transforms.v2`` and ``kornia.augmentation``
    build theirs: a call ``t(x, generator)`` first draws the batch's random
    parameters (:meth:`make_params`), then applies them (:meth:`transform`).
    :meth:`replay` applies parameters drawn before, e.g. the same flips and
    rotations to a batch of patches and to their label maps, or one draw again
    while debugging.

    Transforms are ``torch.nn.Module`` objects (``.to(device)`` moves the
    tensors they derive from their hyper-parameters) and scikit-learn-style
    objects (``get_params``/``set_params``, ``clone``, pickling), so a grid
    search can tune their strengths. Hyper-parameters are checked when the
    transform is built, and values changed since (by ``set_params``, as
    scikit-learn's estimators do, or by assignment) at the next call or
    :meth:`validate`, not on every batch; what depends on the data (a number
    of bands, square patches) is checked when a batch comes.

    A subclass calls ``super().__init__()``, stores each constructor argument
    under its own name and ends its ``__init__`` with ``self.validate()``; it
    overrides ``_check_params`` to check them (and build the tensors derived
    from them), :meth:`make_params` to draw and :meth:`transform` to apply.
    """

    def __init__(self):
        super().__init__()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "apply" in cls.__dict__:  # the API of hyperspectral_cl 0.2.0: nn.Module.apply(fn) must keep its meaning
            raise TypeError(
                f"{cls.__name__} defines apply(x, generator); transforms now split it into "
                "make_params(x, generator), which draws a dict of per-sample tensors, and transform(x, params), "
                "which applies them"
            )

    def _check_params(self):
        """Check the hyper-parameters and build the tensors derived from them (the hook :meth:`validate` runs)."""

    def _changed(self):
        """Whether a hyper-parameter changed since it was checked (compared by identity: cheap, and exact)."""
        checked = self.__dict__.get("_checked")
        return checked is None or any(self.__dict__.get(k, checked) is not v for k, v in checked.items())

    def validate(self):
        """Check the hyper-parameters that changed since they were last checked, and rebuild what derives from them.

        Runs at construction and at the first call after ``set_params`` (or an
        assignment); call it to have a bad value reported at once.

        Returns
        -------
        self

        Raises
        ------
        ValueError or TypeError
            Naming the hyper-parameter, its value and the expected form.
        """
        if self._changed():
            self._check_params()
            self._checked = self.get_params(deep=False)
        return self

    def __setstate__(self, state):
        old = "_modules" not in state  # pickled before transforms were nn.Modules (hyperspectral_cl 0.2.0)
        if old:
            nn.Module.__init__(self)
        super().__setstate__(state)
        if old:  # build what derives from the parameters; a current pickle holds it (and its check state)
            self.validate()

    def _buffer_device(self):
        """Where derived tensors go: beside those already built (after ``.to(device)``), else the CPU."""
        return next(self.buffers(), torch.empty(0)).device

    def forward(self, x, generator=None):
        """Transform ``x`` of shape (N, 1, B, S, S) with freshly drawn parameters.

        Parameters
        ----------
        x : Tensor of shape (N, 1, B, S, S)
            Floating-point patches, on any device; not modified.
        generator : torch.Generator, optional
            The source of the draws (torch's global generator without one).

        Returns
        -------
        Tensor
            A new tensor of ``x``'s shape, dtype and device.
        """
        check_patches(x)
        self.validate()
        if x.shape[0] == 0:
            return x.clone()
        return self.transform(x, self.make_params(x, generator))

    def replay(self, x, params):
        """Apply parameters drawn before (by :meth:`make_params`) to ``x``.

        Parameters
        ----------
        x : Tensor of shape (N, 1, B', S, S)
            The batch the parameters were drawn for, or another one with as
            many samples: a spatial transform's parameters do not depend on
            the bands, so they move label maps ``(N, 1, K, S, S)`` as they
            moved the patches.
        params : dict
            What ``make_params`` returned; tensors are moved to ``x``'s device
            and floating ones to its dtype.

        Returns
        -------
        Tensor
            A new tensor of ``x``'s shape, dtype and device.

        Examples
        --------
        >>> import torch
        >>> from hyperspectral_cl.augment import RandomRotation
        >>> rotate = RandomRotation()
        >>> patches, labels = torch.rand(4, 1, 30, 5, 5), torch.rand(4, 1, 3, 5, 5)
        >>> params = rotate.make_params(patches, torch.Generator().manual_seed(0))
        >>> moved_patches, moved_labels = rotate.replay(patches, params), rotate.replay(labels, params)
        >>> torch.equal(moved_patches, rotate(patches, torch.Generator().manual_seed(0)))
        True
        """
        check_patches(x)
        self.validate()
        params = _params_like(params, x)
        self._check_batch(params, x.shape[0])
        if x.shape[0] == 0:
            return x.clone()
        return self.transform(x, params)

    def make_params(self, x, generator=None):
        """Draw the random parameters of a batch: a dict of per-sample tensors (first axis N).

        Only ``x``'s shape, dtype and device may matter, not its values (as
        kornia's ``generate_parameters`` sees only the batch shape): that is
        what lets :class:`Compose` draw all its parameters before applying any.
        The base class draws nothing.
        """
        return {}

    def transform(self, x, params):  # pragma: no cover - abstract
        """Apply ``params`` (from :meth:`make_params`) to ``x``; returns a new tensor."""
        raise NotImplementedError(f"{type(self).__name__} does not define transform(x, params)")

    def _check_batch(self, params, n):
        """Raise unless ``params`` is a dict whose tensors hold one row per sample of a batch of ``n``."""
        if not isinstance(params, dict):
            raise TypeError(f"params must be the dict make_params returned, got {type(params).__name__}")
        for key, value in params.items():
            if isinstance(value, torch.Tensor) and (value.ndim == 0 or value.shape[0] != n):
                raise ValueError(
                    f"params[{key!r}] has shape {tuple(value.shape)}, which does not match a batch of {n} samples"
                )


def _params_like(params, x):
    """``params`` with its tensors on ``x``'s device, floating ones in ``x``'s dtype (lists and dicts recursed)."""
    if isinstance(params, torch.Tensor):
        return params.to(device=x.device, dtype=x.dtype if params.is_floating_point() else params.dtype)
    if isinstance(params, dict):
        return {k: _params_like(v, x) for k, v in params.items()}
    if isinstance(params, list):
        return [_params_like(v, x) for v in params]
    return params


def _members_changed(self):
    """Also an edit of the list in place (``transforms.append``): the members registered are no longer it."""
    if Transform._changed(self):
        return True
    members = self._members
    return len(members) != len(self.transforms) or any(a is not b for a, b in zip(members, self.transforms, strict=False))


def _validate_members(self):
    Transform.validate(self)
    for t in self._members:
        t.validate()
    return self


def _check_members(transforms, owner):
    if not isinstance(transforms, (list, tuple)) or not all(isinstance(t, Transform) for t in transforms):
        raise TypeError(
            f"{owner} takes a list of Transform objects (their parameters are drawn before any is applied), got "
            f"{transforms!r}"
        )
    return nn.ModuleList(transforms)


class Compose(Transform):
    """Apply transforms one after the other (e.g. spatial then spectral).

    Its parameters are the list of its members' parameters, all drawn before
    any is applied (in the members' order, as calling them in turn would).

    Parameters
    ----------
    transforms : list of Transform
    """

    def __init__(self, transforms):
        super().__init__()
        self.transforms = transforms
        self.validate()

    def _check_params(self):
        # registered as submodules so that .to(device) moves them; `transforms` stays the caller's list
        self._members = _check_members(self.transforms, "Compose")

    _changed = _members_changed
    validate = _validate_members

    def make_params(self, x, generator=None):
        return {"transforms": [t.make_params(x, generator) for t in self._members]}

    def transform(self, x, params):
        for t, p in zip(self._members, params["transforms"], strict=True):
            x = t.transform(x, p)
        return x.clone() if not len(self._members) else x

    def _check_batch(self, params, n):
        super()._check_batch(params, n)
        sub = params.get("transforms")
        if not isinstance(sub, list) or len(sub) != len(self._members):
            raise ValueError(f"params['transforms'] must hold one dict per transform ({len(self._members)})")
        for t, p in zip(self._members, sub, strict=True):
            t._check_batch(p, n)


class RandomChoice(Transform):
    """Apply to each sample one transform drawn uniformly from ``transforms``.

    The batch is partitioned by the drawn index and each transform runs once on
    its share (a loop over transforms, never over samples). Its parameters are
    the drawn index per sample (``'choice'``) and each transform's parameters
    for its share (``'transforms'``, None where the share is empty).

    Parameters
    ----------
    transforms : list of Transform
    """

    def __init__(self, transforms):
        super().__init__()
        self.transforms = transforms
        self.validate()

    def _check_params(self):
        self._members = _check_members(self.transforms, "RandomChoice")
        if not len(self._members):
            raise ValueError("RandomChoice needs at least one transform")

    _changed = _members_changed
    validate = _validate_members

    def make_params(self, x, generator=None):
        n = x.shape[0]
        if len(self._members) == 1:  # nothing to choose: no draw
            choice = torch.zeros(n, dtype=torch.long, device=x.device)
        else:
            choice = randint(0, len(self._members), (n,), x, generator)
        counts = torch.bincount(choice, minlength=len(self._members)).tolist()
        # each member draws for its share from a view of the share's shape (draws depend on the shape only):
        # gathering the share's values here would copy the batch once more for nothing
        return {"choice": choice,
                "transforms": [t.make_params(x[:1].expand(k, *x.shape[1:]), generator) if k else None
                               for t, k in zip(self._members, counts, strict=True)]}

    def transform(self, x, params):
        if len(self._members) == 1:
            return self._members[0].transform(x, params["transforms"][0])
        out = torch.empty_like(x)
        for i, (t, p) in enumerate(zip(self._members, params["transforms"], strict=True)):
            idx = (params["choice"] == i).nonzero(as_tuple=True)[0]
            if idx.numel():
                out[idx] = t.transform(x[idx], p)
        return out

    def _check_batch(self, params, n):
        super()._check_batch(params, n)
        choice, sub = params.get("choice"), params.get("transforms")
        if not isinstance(choice, torch.Tensor) or not isinstance(sub, list) or len(sub) != len(self._members):
            raise ValueError(f"params must hold 'choice' and one entry per transform ({len(self._members)}) in 'transforms'")
        for i, (t, p) in enumerate(zip(self._members, sub, strict=True)):
            count = int((choice == i).sum())
            if count:
                t._check_batch(p, count)


def _from_group(group):
    return RandomChoice([AUGMENTATIONS[n]() for n in AUGMENTATION_GROUPS[group]])


#: parameters that ``make_augmentation`` can hand to every transform that has them
SHARED_PARAMETERS = ("wavelengths", "band_mean", "band_scale")


def make_augmentation(spec, *, wavelengths=None, band_mean=None, band_scale=None):
    """Build the augmentation a user specified.

    Parameters
    ----------
    spec : None, str, list of str, or Transform
        - None: no augmentation (the paper's baseline).
        - ``'spectral'`` / ``'spatial'``: per sample, one random transform of
          that group.
        - ``'spectral-spatial'``: a random spatial transform followed by a
          random spectral one, as in the paper.
        - the name of one transform (see ``AUGMENTATIONS``).
        - a list of names: per sample, one of them at random.
        - a :class:`Transform` (or any callable ``f(x, generator=None)``).
    wavelengths : array-like of shape (n_bands,), optional
        Band centres in nm, given to every transform with a ``wavelengths``
        parameter (atmospheric compensation).
    band_mean, band_scale : array-like of shape (n_bands,), optional
        The per-band standardisation of the input (e.g. a fitted
        :class:`~hyperspectral_cl.PatchExtractor`'s ``mean_`` and ``scale_``),
        given to every transform with these parameters (Hapke scattering,
        atmospheric compensation) so that they work on reflectance.

    Returns
    -------
    Transform or None
        With any of the keyword options, a Transform given as ``spec`` is
        cloned first (the caller's object is left as it was).

    Examples
    --------
    >>> from hyperspectral_cl.augment import make_augmentation
    >>> aug = make_augmentation("spectral-spatial")  # a random spatial, then a random spectral transform
    >>> [type(t).__name__ for t in aug.transforms]
    ['RandomChoice', 'RandomChoice']
    >>> make_augmentation("spectral_shift").set_params(max_shift=3)
    SpectralShift(max_shift=3)
    """
    t = _make(spec)
    options = {k: v for k, v in zip(SHARED_PARAMETERS, (wavelengths, band_mean, band_scale), strict=True) if v is not None}
    if options and t is not None:
        if t is spec and isinstance(t, BaseEstimator):
            t = clone(t)
        _set_shared(t, options)
    return t


def _set_shared(t, options):
    """Set ``options`` on every transform in the tree ``t`` that has such parameters."""
    if isinstance(t, (Compose, RandomChoice)):
        for sub in t.transforms:
            _set_shared(sub, options)
    elif isinstance(t, BaseEstimator):
        own = t.get_params(deep=False)
        t.set_params(**{k: v for k, v in options.items() if k in own})


def _make(spec):
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec in AUGMENTATION_GROUPS:
            return _from_group(spec)
        if spec == _COMBINED:
            return Compose([_from_group("spatial"), _from_group("spectral")])
        return _REGISTRY.get(spec)()
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError("augment must not be an empty list; use None for no augmentation")
        return RandomChoice([_make(s) for s in spec])
    if callable(spec):
        return spec
    raise TypeError(
        "augment must be None, a name, a list of names or a Transform; "
        f"got {type(spec).__name__}"
    )


def augment_array(transform, array, random_state=None):
    """Apply a transform to numpy data outside the estimator.

    Parameters
    ----------
    transform : Transform, str or list
        A transform or anything :func:`make_augmentation` accepts.
    array : array-like
        One of: spectra ``(n, B)`` (each a 1 x 1 patch), a cube ``(H, W, B)``
        (one patch), windows ``(n, H, W, B)`` or patches ``(n, 1, B, H, W)``.
        Not modified.
    random_state : int, RandomState instance or None, default=None
        Seeds a private ``torch.Generator`` (an int gives the same result on
        every call); torch's global random state is not used.

    Returns
    -------
    ndarray
        Same shape as ``array``; float32 and float64 input keep their dtype,
        other input becomes float64.

    Examples
    --------
    >>> import numpy as np
    >>> from hyperspectral_cl.augment import augment_array
    >>> spectra = np.random.default_rng(0).random((5, 50))
    >>> augment_array("spectral_shift", spectra, random_state=0).shape
    (5, 50)
    """
    t = transform if isinstance(transform, Transform) else make_augmentation(transform)
    if t is None:
        raise ValueError("transform must not be None")
    arr = np.asarray(array)
    if not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)) or np.iscomplexobj(arr):
        raise TypeError(f"array must hold real numbers, got dtype {arr.dtype}")
    dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    data = torch.as_tensor(np.array(arr, dtype=dtype))  # a private copy
    if arr.ndim == 2:
        x = data[:, None, :, None, None]
    elif arr.ndim == 3:
        x = data.permute(2, 0, 1)[None, None]
    elif arr.ndim == 4:
        x = data.permute(0, 3, 1, 2)[:, None]
    elif arr.ndim == 5:
        x = data
    else:
        raise ValueError(
            "array must be spectra (n, B), a cube (H, W, B), windows (n, H, W, B) or patches (n, 1, B, H, W); "
            f"got shape {arr.shape}"
        )
    if not torch.isfinite(x).all():
        raise ValueError("array contains NaN or infinity")
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        seed = int(random_state)
    else:
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    out = t(x.contiguous(), generator=torch.Generator().manual_seed(seed))
    if arr.ndim == 2:
        out = out[:, 0, :, 0, 0]
    elif arr.ndim == 3:
        out = out[0, 0].permute(1, 2, 0)
    elif arr.ndim == 4:
        out = out[:, 0].permute(0, 2, 3, 1)
    return np.ascontiguousarray(out.numpy())
