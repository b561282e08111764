"""Hyperspectral augmentations on batches of patches ``(N, 1, B, S, S)``.

Spectral (act along the bands, move no pixel): :class:`SpectralShift`,
:class:`SpectralFlip`, :class:`HapkeScattering`,
:class:`AtmosphericCompensation`, :class:`ElasticDistortion`,
:class:`BandErasure`, :class:`BandPermutation`, :class:`NeighbourMixing`.
Spatial (move pixels, the same in every band): :class:`RandomRotation`,
:class:`ElasticDeformation`, :class:`RandomFlip`, :class:`RandomTranslation`.
:func:`make_augmentation` builds them from names (``'spectral'``,
``'spatial'``, ``'spectral-spatial'``...), :func:`augment_array` applies one to
numpy spectra or cubes.
"""

from .base import (
    AUGMENTATION_GROUPS,
    AUGMENTATIONS,
    Compose,
    RandomChoice,
    Transform,
    augment_array,
    make_augmentation,
    register_augmentation,
)
from .illumination import Illumination, load_illumination, parametric_illumination
from .spatial import ElasticDeformation, RandomFlip, RandomRotation, RandomTranslation
from .spectral import (
    AtmosphericCompensation,
    BandErasure,
    BandPermutation,
    ElasticDistortion,
    HapkeScattering,
    NeighbourMixing,
    SpectralFlip,
    SpectralShift,
    hapke_albedo,
    hapke_reflectance,
)

__all__ = [
    "AUGMENTATIONS",
    "AUGMENTATION_GROUPS",
    "AtmosphericCompensation",
    "BandErasure",
    "BandPermutation",
    "Compose",
    "ElasticDeformation",
    "ElasticDistortion",
    "HapkeScattering",
    "Illumination",
    "NeighbourMixing",
    "RandomChoice",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "SpectralFlip",
    "SpectralShift",
    "Transform",
    "augment_array",
    "hapke_albedo",
    "hapke_reflectance",
    "load_illumination",
    "make_augmentation",
    "parametric_illumination",
    "register_augmentation",
]
