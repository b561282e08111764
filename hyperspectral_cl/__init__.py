"""Spectral-spatial contrastive learning for regression on hyperspectral patches.

Dhaini, Honeine, Berar and Van Exem, "Spectral-spatial contrastive learning
framework for regression on hyperspectral data", packaged as scikit-learn
estimators.
"""

from .estimator import ContrastivePatchRegressor, TrainingDivergedError
from .patches import MeanSpectrum, PatchExtractor, extract_windows

__version__ = "0.1.0"

__all__ = [
    "ContrastivePatchRegressor",
    "MeanSpectrum",
    "PatchExtractor",
    "TrainingDivergedError",
    "__version__",
    "extract_windows",
]
