"""Scenes and data sources. Never imports the estimator."""

from .scene import Scene
from .synthetic import default_wavelengths, make_endmembers, make_synthetic_scene

__all__ = ["Scene", "default_wavelengths", "make_endmembers", "make_synthetic_scene"]
