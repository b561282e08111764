"""Transform base class, composition, and the name registry behind ``augment=``.

Transforms act on a batch of patches ``(N, 1, B, S, S)`` on any device, draw
independent random parameters per sample, and take an optional
``torch.Generator`` for reproducibility (without one they use torch's global
generator, which the estimator seeds from ``random_state``). They are
scikit-learn-style objects (``get_params``/``set_params``, picklable), so their
strength parameters can be tuned by a grid search.
"""

import torch
from sklearn.base import BaseEstimator

from .._validation import unknown_name_error

__all__ = [
    "AUGMENTATIONS",
    "AUGMENTATION_GROUPS",
    "Compose",
    "RandomChoice",
    "Transform",
    "make_augmentation",
    "register_augmentation",
]

#: name -> Transform class
AUGMENTATIONS = {}
#: group name ('spectral', 'spatial') -> names of its transforms
AUGMENTATION_GROUPS = {"spectral": [], "spatial": []}


def register_augmentation(name, group):
    """Class decorator registering a transform under ``name`` in ``group``."""
    if group not in AUGMENTATION_GROUPS:
        raise unknown_name_error("augmentation group", group, AUGMENTATION_GROUPS)

    def decorator(cls):
        if name in AUGMENTATIONS or name in AUGMENTATION_GROUPS or name == "spectral-spatial":
            raise ValueError(f"augmentation name {name!r} is already taken")
        AUGMENTATIONS[name] = cls
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

    Subclasses implement :meth:`apply`; ``__call__`` validates the input and
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


def _rand(n, x, generator):
    """Uniform [0, 1) draws, one per sample, on ``x``'s device."""
    return torch.rand(n, generator=generator, device=x.device)


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
        choice = torch.randint(len(self.transforms), (x.shape[0],), generator=generator, device=x.device)
        out = torch.empty_like(x)
        for i, t in enumerate(self.transforms):
            idx = (choice == i).nonzero(as_tuple=True)[0]
            if idx.numel():
                out[idx] = t(x[idx], generator=generator)
        return out


def _from_group(group):
    return RandomChoice([AUGMENTATIONS[n]() for n in AUGMENTATION_GROUPS[group]])


def make_augmentation(spec):
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

    Returns
    -------
    Transform or None
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec in AUGMENTATION_GROUPS:
            return _from_group(spec)
        if spec == "spectral-spatial":
            return Compose([_from_group("spatial"), _from_group("spectral")])
        if spec in AUGMENTATIONS:
            return AUGMENTATIONS[spec]()
        raise unknown_name_error(
            "augmentation", spec, [*AUGMENTATIONS, *AUGMENTATION_GROUPS, "spectral-spatial"]
        )
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError("augment must not be an empty list; use None for no augmentation")
        return RandomChoice([make_augmentation(s) for s in spec])
    if callable(spec):
        return spec
    raise TypeError(
        "augment must be None, a name, a list of names or a Transform; "
        f"got {type(spec).__name__}"
    )
