"""The two datasets of the paper, binned to a preset's size, and the two ways of splitting them."""

import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..datasets import Scene, get_data_home, load_samson, load_usgs_library, make_synthetic_scene
from ..datasets.fetch import DATA_HOME_ENV
from ..model_selection import SpatialBlockSplit

__all__ = ["DATASETS", "SPLITS", "bin_bands", "find_data_dir", "load_dataset", "make_splits", "split_windows"]

DATASETS = ("synthetic", "samson")
SPLITS = ("random", "spatial")


def find_data_dir(data_dir=None):
    """The folder holding ``samson/`` and ``usgs_library/``, or None.

    Looked up in order: ``data_dir``, the ``HYPERSPECTRAL_CL_DATA`` environment
    variable, ``../shared/data`` from the working directory and from the
    package's source tree, then the data home of
    :func:`~hyperspectral_cl.datasets.fetch_samson` (``~/hyperspectral_cl_data``).
    """
    candidates = [data_dir, os.environ.get(DATA_HOME_ENV)]
    candidates += [Path.cwd().parent / "shared" / "data", Path(__file__).resolve().parents[3] / "shared" / "data"]
    candidates.append(get_data_home())  # where fetch_samson and fetch_usgs_library put their files
    for c in candidates:
        if c is not None and Path(c).is_dir():
            return Path(c)
    return None


def bin_bands(scene, bands):
    """Average adjacent bands in groups so that about ``bands`` remain.

    Groups hold ``ceil(n_bands / bands)`` bands; a shorter last group is
    dropped. Wavelengths become the group means. ``bands=None`` returns the
    scene unchanged.
    """
    if bands is None:
        return scene
    n = scene.cube.shape[2]
    step = max(1, math.ceil(n / bands))
    if step == 1:
        return scene
    keep = (n // step) * step
    cube = np.asarray(scene.cube[:, :, :keep], dtype=np.float32)
    cube = cube.reshape(*cube.shape[:2], keep // step, step).mean(axis=-1)
    wl = None if scene.wavelengths is None else scene.wavelengths[:keep].reshape(-1, step).mean(axis=1)
    meta = dict(scene.metadata, band_binning=step)
    return replace(scene, cube=cube, wavelengths=wl, endmembers=None, bad_bands=None, metadata=meta)


def _samson_error(where):
    return FileNotFoundError(
        f"Samson data not found ({where}). Point the runner at it with "
        "`hyperspectral-cl reproduce --dataset samson --samson PATH` (a Samson .mat file with ground truth, "
        "or a folder holding one, e.g. samson_1.mat with Samson_GT_sunning.mat), or set "
        f"{DATA_HOME_ENV} to a folder with a samson/ subfolder, or download it once with "
        "`python -c 'from hyperspectral_cl.datasets import fetch_samson; fetch_samson()'`."
    )


def load_dataset(name, preset, *, data_dir=None, samson=None, usgs=None):
    """The scene of a dataset, binned to the preset's band count.

    Parameters
    ----------
    name : {'synthetic', 'samson'}
    preset : Preset
    data_dir : path-like or None
        Folder with ``samson/`` and ``usgs_library/`` (see :func:`find_data_dir`).
    samson : path-like or None
        Samson file or folder (overrides ``data_dir``).
    usgs : path-like or None
        USGS library file for the synthetic endmembers (overrides ``data_dir``).

    Returns
    -------
    scene : Scene
    description : dict
        What the scene is (source, shape, bands, endmember names).
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    root = find_data_dir(data_dir)
    if name == "synthetic":
        library_path = Path(usgs) if usgs is not None else (
            None if root is None else root / "usgs_library" / "USGS_1995_Library.mat")
        library = load_usgs_library(library_path) if library_path is not None and library_path.is_file() else None
        # 4 endmembers drawn with seed 0 (the paper: "drawn at random from the USGS library")
        scene = make_synthetic_scene(4, shape=tuple(preset.synthetic_shape), endmembers=library, random_state=0)
        source = f"USGS library {library_path.name}" if library is not None else "built-in generator"
    else:
        path = Path(samson) if samson is not None else (None if root is None else root / "samson")
        if path is None:
            raise _samson_error("no data folder given and none found")
        if not path.exists():
            raise _samson_error(f"{path} does not exist")
        scene = load_samson(path)
        if scene.targets is None:
            raise _samson_error(f"{path} holds no ground-truth abundances")
        source = f"Samson ({path.name})"
    n_bands = scene.cube.shape[2]
    scene = bin_bands(scene, preset.bands)
    description = {
        "dataset": name,
        "source": source,
        "shape": list(scene.cube.shape[:2]),
        "bands": int(scene.cube.shape[2]),
        "original_bands": int(n_bands),
        "targets": list(scene.target_names),
    }
    return scene, description


def make_splits(coords, shape, preset, split):
    """The training pool and the fixed test windows of a split.

    ``'random'``: a seeded permutation of all windows, ``test_fraction`` of them
    in the test pool (overlapping windows then share pixels across the split,
    as in the paper's apparent protocol). ``'spatial'``: the first of the four
    blocks of :class:`SpatialBlockSplit` (2 x 2 grid, buffer of half a window):
    no training window comes near a test window.

    Returns
    -------
    pool : ndarray of int
        Windows seeds draw their training windows from.
    test : ndarray of int
        The test windows (at most ``n_test``, drawn with seed 0), the same for every seed.
    """
    rng = np.random.default_rng(0)
    n = len(coords)
    if split == "random":
        order = rng.permutation(n)
        n_test_pool = int(round(preset.test_fraction * n))
        test, pool = np.sort(order[:n_test_pool]), np.sort(order[n_test_pool:])
    elif split == "spatial":
        pool, test = next(SpatialBlockSplit(preset.window, n_blocks=(2, 2)).split(coords, groups=coords))
    else:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if preset.n_test is not None and len(test) > preset.n_test:
        test = np.sort(rng.choice(test, preset.n_test, replace=False))
    if len(pool) < preset.n_train:
        raise ValueError(
            f"the {split} split of a {shape[0]} x {shape[1]} scene leaves {len(pool)} training windows, "
            f"fewer than n_train={preset.n_train}"
        )
    return pool, test


def training_windows(pool, preset, seed):
    """The training windows of one seed: ``n_train`` drawn from the pool."""
    return np.sort(np.random.default_rng(1000 + seed).choice(pool, preset.n_train, replace=False))


def windows_of(scene: Scene, preset):
    """All stride-1 windows of the scene, labelled with their mean abundances."""
    return scene.windows(preset.window, stride=1, label="mean")


def split_windows(dataset, preset, split="spatial", **data_locations):
    """A dataset's windows and one of its splits, as the benchmarks use them.

    Parameters
    ----------
    dataset : {'synthetic', 'samson'}
    preset : Preset
        Its ``window``, ``bands``, ``n_train`` and ``n_test`` apply.
    split : {'random', 'spatial'}, default='spatial'
    **data_locations
        ``data_dir``, ``samson``, ``usgs`` (see :func:`load_dataset`).

    Returns
    -------
    dict
        ``scene``, ``description``, ``X``, ``y``, ``coords`` (every stride-1
        window, labelled with its mean targets), ``pool`` (the training region)
        and ``test`` (the fixed test windows).

    Raises
    ------
    FileNotFoundError
        When the dataset's files are missing.
    """
    scene, description = load_dataset(dataset, preset, **data_locations)
    X, y, coords = windows_of(scene, preset)
    pool, test = make_splits(coords, scene.cube.shape, preset, split)
    return {"scene": scene, "description": description, "X": X, "y": y, "coords": coords, "pool": pool,
            "test": test}
