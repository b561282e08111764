"""Scenes and data sources: synthetic scenes, Samson and USGS libraries (read or fetched), ENVI, .mat and GDAL rasters, point samples.

Never imports the estimator (nor rasterio, which the raster and point functions import when called).
"""

from .envi import envi_georeference, load_envi, read_envi_header, to_nanometres
from .fetch import fetch_samson, fetch_usgs_library, get_data_home
from .matfile import load_mat_cube, unflatten_pixels
from .points import PointSamples, points_to_pixels, read_points, windows_at_points
from .raster import RasterWriter, load_raster, save_raster
from .samson import SAMSON_TARGET_NAMES, load_samson
from .scene import Scene
from .synthetic import default_wavelengths, make_endmembers, make_synthetic_scene
from .usgs import SpectralLibrary, load_usgs_library

__all__ = [
    "SAMSON_TARGET_NAMES",
    "PointSamples",
    "RasterWriter",
    "Scene",
    "SpectralLibrary",
    "default_wavelengths",
    "envi_georeference",
    "fetch_samson",
    "fetch_usgs_library",
    "get_data_home",
    "load_envi",
    "load_mat_cube",
    "load_raster",
    "load_samson",
    "load_usgs_library",
    "make_endmembers",
    "make_synthetic_scene",
    "points_to_pixels",
    "read_envi_header",
    "read_points",
    "save_raster",
    "to_nanometres",
    "unflatten_pixels",
    "windows_at_points",
]
