"""Hyperspectral augmentations on batches of patches ``(N, 1, B, S, S)``."""

from .base import (
    AUGMENTATION_GROUPS,
    AUGMENTATIONS,
    Compose,
    RandomChoice,
    Transform,
    make_augmentation,
    register_augmentation,
)
from .spatial import RandomFlip
from .spectral import BandErasure

__all__ = [
    "AUGMENTATIONS",
    "AUGMENTATION_GROUPS",
    "BandErasure",
    "Compose",
    "RandomChoice",
    "RandomFlip",
    "Transform",
    "make_augmentation",
    "register_augmentation",
]
