"""Transform base class, composition, and the name registry behind ``augment=``.

Transforms act on a batch of patches ``(N, 1, B, S, S)`` on any device, draw
independent random parameters per sample, and take an optional
``torch.Generator`` for reproducibility (without one they use torch's global
generator; the estimator passes its fit's own, seeded from ``random_state``). They are
scikit-learn-style objects (``get_params``/``set_params``, picklable), so their
strength parameters can be tuned by a grid search.
"""

from collections import ChainMap
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state

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


class Transform(BaseEstimator):
    """Base class: a random transform of a batch of patches.

    Subclasses implement ``apply``; ``__call__`` validates the input and
    returns a new tensor (the input is never modified).
    """

    def __call__(self, x, generator=None):
        """Transform ``x`` of shape (N, 1, B, S, S); returns a new tensor of the same shape and dtype."""
        check_patches(x)
        if x.shape[0] == 0:
            return x.clone()
        return self.apply(x, generator)

    def apply(self, x, generator):  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} does not define apply(x, generator)")


class Compose(Transform):
    """Apply transforms one after the other (e.g. spatial then spectral).

    Parameters
    ----------
    transforms : list of Transform
    """

    def __init__(self, transforms):
        self.transforms = transforms

    def apply(self, x, generator):
        for t in self.transforms:
            x = t(x, generator=generator)
        return x


class RandomChoice(Transform):
    """Apply to each sample one transform drawn uniformly from ``transforms``.

    The batch is partitioned by the drawn index and each transform runs once on
    its share (a loop over transforms, never over samples).

    Parameters
    ----------
    transforms : list of Transform
    """

    def __init__(self, transforms):
        self.transforms = transforms

    def apply(self, x, generator):
        if len(self.transforms) == 1:
            return self.transforms[0](x, generator=generator)
        choice = randint(0, len(self.transforms), (x.shape[0],), x, generator)
        out = torch.empty_like(x)
        for i, t in enumerate(self.transforms):
            idx = (choice == i).nonzero(as_tuple=True)[0]
            if idx.numel():
                out[idx] = t(x[idx], generator=generator)
        return out


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
