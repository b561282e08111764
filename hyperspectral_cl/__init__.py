"""Spectral-spatial contrastive learning for regression on hyperspectral patches.

Dhaini, Honeine, Berar and Van Exem, "Spectral-spatial contrastive learning
framework for regression on hyperspectral data", packaged as scikit-learn
estimators.
"""

from ._version import __version__
from .datasets import Scene, make_synthetic_scene
from .estimator import ContrastivePatchRegressor, IncompatibleModelError, TrainingDivergedError
from .mapping import predict_map
from .model_selection import SpatialBlockSplit
from .patches import MeanSpectrum, PatchExtractor
from .persistence import WeightsFileError, load_weights, save_weights
from .windows import extract_windows

__all__ = [
    "ContrastivePatchRegressor",
    "IncompatibleModelError",
    "MeanSpectrum",
    "PatchExtractor",
    "Scene",
    "SpatialBlockSplit",
    "TrainingDivergedError",
    "WeightsFileError",
    "__version__",
    "extract_windows",
    "load_weights",
    "make_synthetic_scene",
    "predict_map",
    "save_weights",
]
