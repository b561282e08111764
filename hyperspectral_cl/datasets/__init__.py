"""Scenes and data sources: synthetic scenes, Samson, USGS libraries, ENVI and .mat files.

Never imports the estimator.
"""

from .envi import load_envi, read_envi_header, to_nanometres
from .matfile import load_mat_cube, unflatten_pixels
from .samson import SAMSON_TARGET_NAMES, load_samson
from .scene import Scene
from .synthetic import default_wavelengths, make_endmembers, make_synthetic_scene
from .usgs import SpectralLibrary, load_usgs_library

__all__ = [
    "SAMSON_TARGET_NAMES",
    "Scene",
    "SpectralLibrary",
    "default_wavelengths",
    "load_envi",
    "load_mat_cube",
    "load_samson",
    "load_usgs_library",
    "make_endmembers",
    "make_synthetic_scene",
    "read_envi_header",
    "to_nanometres",
    "unflatten_pixels",
]
