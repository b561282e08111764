"""The Samson scene (95 x 95 pixels, 156 bands over ~400-900 nm; soil, tree and water).

Samson circulates as several ``.mat`` files with different variable names, all
MATLAB ``bands x pixels`` matrices in column-major pixel order:

============================  =========================================================
file (as commonly named)      variables
============================  =========================================================
``samson_1.mat``              ``V`` (156 x 9025) data, ``nRow``, ``nCol``, ``nBand``; no
                              ground truth: pair it with a ground-truth file
``Samson.mat`` (hu_autoenc.)  ``Y`` data, ``S_GT`` (95 x 95 x 3) abundance image,
                              ``GT`` (3 x 156) endmembers, ``lines``, ``cols``
``samson_dataset.mat``        ``Y`` data, ``A`` (3 x 9025) abundances, ``M`` (156 x 3)
                              endmembers, ``M1`` (an initialisation, ignored)
``Samson_GT.mat``             ``M`` (156 x 3) endmembers, ``XT`` (3 x 9025) abundances
============================  =========================================================

Endmember order is soil (rock), tree, water in all of them.
"""

from pathlib import Path

import numpy as np

from .envi import to_nanometres
from .matfile import describe, image_shape_from, loadmat, unflatten_pixels
from .scene import Scene

__all__ = ["SAMSON_TARGET_NAMES", "load_samson"]

SAMSON_TARGET_NAMES = ("soil", "tree", "water")
DATA_KEYS = ("Y", "V")  # bands x pixels
ABUNDANCE_KEYS = ("S_GT", "A", "XT")  # S_GT: (rows, cols, p) image; A, XT: p x pixels
ENDMEMBER_KEYS = ("M", "GT")  # M: bands x p; GT: p x bands ("M1" is an initialisation, not ground truth)


def _first(variables, keys):
    for key in keys:
        if key in variables:
            return key
    return None


def _first_in_files(files, keys):
    """``(file, key, float64 array)`` of the first file holding one of ``keys``, or None."""
    for f, variables in files:
        key = _first(variables, keys)
        if key is not None:
            return f, key, np.asarray(variables[key], dtype=np.float64)
    return None


def _read_wavelength_file(path, n_bands):
    """Wavelengths from a CSV (last column) or a .mat variable with ``n_bands`` values, else None."""
    path = Path(path)
    if path.suffix.lower() == ".mat":
        variables = loadmat(path)
        found = [(k, np.ravel(v)) for k, v in variables.items()
                 if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.number) and v.size == n_bands]
        found.sort(key=lambda kv: "samson" not in kv[0].lower())  # a Samson-specific variable first
        return (found[0][1].astype(np.float64), f"{path.name}:{found[0][0]}") if found else None
    try:
        table = np.genfromtxt(path, delimiter=",", dtype=np.float64)
    except ValueError:
        return None
    table = np.atleast_2d(table)
    table = table[~np.isnan(table).all(axis=1)]  # header lines
    values = table[:, -1] if table.shape[0] > 1 else table.ravel()
    values = values[~np.isnan(values)]
    return (values, path.name) if values.size == n_bands else None


def _resolve_wavelengths(wavelengths, n_bands, variable_sets, folder):
    if wavelengths is None:
        return None, None
    if isinstance(wavelengths, str) and wavelengths == "auto":
        for variables in variable_sets:
            for key, v in variables.items():
                if ("wavelength" in key.lower() or "lambda" in key.lower()) and np.size(v) == n_bands:
                    return to_nanometres(np.ravel(v), None), key
        if folder is not None:
            # the sensor's values (ENVI header) before generic grids
            for pattern in ("*avelength*.csv", "*avelength*.mat"):
                for candidate in sorted(folder.glob(pattern)):
                    found = _read_wavelength_file(candidate, n_bands)
                    if found is not None:
                        return to_nanometres(found[0], None), found[1]
        return None, None
    if isinstance(wavelengths, (str, Path)):
        found = _read_wavelength_file(wavelengths, n_bands)
        if found is None:
            raise ValueError(f"no {n_bands} wavelengths found in {wavelengths}")
        return to_nanometres(found[0], None), found[1]
    wl = np.asarray(wavelengths, dtype=np.float64).ravel()
    if wl.size != n_bands:
        raise ValueError(f"wavelengths has {wl.size} values for {n_bands} bands")
    return wl, "argument"


def _pick_files(path, ground_truth):
    """``[(path, variables)]`` for the data file then, if separate, the ground-truth file."""
    if path.is_dir():
        loaded = [(f, loadmat(f)) for f in sorted(path.glob("*.mat"))]
        with_data = [(f, v) for f, v in loaded if _first(v, DATA_KEYS)]
        if not with_data:
            raise ValueError(
                f"no Samson data file in {path}: expected a .mat file with a variable "
                f"{' or '.join(DATA_KEYS)} (bands x pixels); found {[f.name for f, _ in loaded] or 'no .mat file'}"
            )
        complete = [(f, v) for f, v in with_data if _first(v, ABUNDANCE_KEYS)]
        data = complete[0] if complete else with_data[0]
        files = [data]
        if ground_truth is not None:
            files.append((Path(ground_truth), loadmat(ground_truth)))
        elif not complete:
            gt = [(f, v) for f, v in loaded if _first(v, ABUNDANCE_KEYS)]
            if gt:
                files.append(gt[0])
        return files
    files = [(path, loadmat(path))]
    if ground_truth is not None:
        files.append((Path(ground_truth), loadmat(ground_truth)))
    return files


def load_samson(path, ground_truth=None, *, wavelengths="auto", shape=None, order="F", dtype=np.float32):
    """Load the Samson scene from its common ``.mat`` layouts.

    Parameters
    ----------
    path : str or path-like
        A ``.mat`` file holding the data (``Y`` or ``V``, bands x pixels), or a
        folder: then the first ``.mat`` file (in name order) holding data and
        abundances is used, or else the first with data plus the first with
        abundances.
    ground_truth : str or path-like, default=None
        A separate file with the abundances (``S_GT``, ``A`` or ``XT``) and
        endmembers (``M`` or ``GT``), e.g. ``Samson_GT.mat`` beside
        ``samson_1.mat``. Without one, and without abundances in ``path``, the
        Scene has no targets.
    wavelengths : 'auto', None, array-like or path, default='auto'
        ``'auto'``: a variable named like ``wavelength``/``lambda`` with one
        value per band in the files read, else (folder mode) a
        ``*avelength*.csv`` (last column) then a ``*avelength*.mat`` file in the
        folder; none found leaves them unset. A path reads such a file; values
        below 100 are taken as micrometres and converted to nm.
    shape : tuple of int, default=None
        ``(rows, cols)``; None reads it from the files (``nRow``/``nCol``,
        ``lines``/``cols``, the ``S_GT`` image) or, failing that, takes the
        square root of the pixel count (Samson is 95 x 95).
    order : {'F', 'C'}, default='F'
        Pixel order of the ``bands x pixels`` matrices: MATLAB column-major
        (``'F'``, all public copies) or row-major.
    dtype : numpy dtype, default=np.float32
        dtype of the cube and targets (endmembers stay float64).

    Returns
    -------
    scene : Scene
        ``cube`` (95, 95, 156) with values as stored (globally max-normalised to
        [0, 1] in the public copies), ``targets`` (95, 95, 3) abundances,
        ``target_names`` ``['soil', 'tree', 'water']``, ``endmembers``
        (156, 3), ``wavelengths`` in nm when found, and ``metadata`` naming the
        files and variables used.

    Raises
    ------
    ValueError
        When a file lacks the data variable, or sizes disagree (the message
        names the variables and their shapes).

    Examples
    --------
    >>> scene = load_samson("data/samson")  # doctest: +SKIP
    >>> scene = load_samson("samson_1.mat", ground_truth="Samson_GT.mat")  # doctest: +SKIP
    >>> X, y, coords = scene.windows(10)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Samson data not found: {path}")
    if order not in ("F", "C"):
        raise ValueError(f"order must be 'F' (MATLAB column-major) or 'C' (row-major), got {order!r}")
    files = _pick_files(path, ground_truth)
    data_path, data_vars = files[0]
    data_key = _first(data_vars, DATA_KEYS)
    if data_key is None:
        raise ValueError(
            f"{data_path} holds no Samson data: expected a variable {' or '.join(DATA_KEYS)} "
            f"(bands x pixels); it holds: {describe(data_vars)}"
        )
    Y = np.asarray(data_vars[data_key])
    if Y.ndim != 2:
        raise ValueError(f"{data_path}: {data_key} must be a bands x pixels matrix, got shape {Y.shape}")
    all_vars = [v for _, v in files]

    if shape is None:
        shape = image_shape_from(data_vars)
    if shape is None:
        for variables in all_vars:
            if np.ndim(variables.get("S_GT")) == 3:
                shape = variables["S_GT"].shape[:2]
                break
    if shape is None:
        side = int(round(np.sqrt(max(Y.shape))))
        if side * side not in Y.shape:
            raise ValueError(f"{data_path}: pass shape=(rows, cols): {data_key} {Y.shape} is not a square image")
        shape = (side, side)
    shape = (int(shape[0]), int(shape[1]))
    n_pixels = shape[0] * shape[1]
    if Y.shape[1] != n_pixels and Y.shape[0] == n_pixels:
        Y = Y.T
    if Y.shape[1] != n_pixels:
        raise ValueError(
            f"{data_path}: {data_key} has shape {Y.shape} but the image is {shape[0]} x {shape[1]} = {n_pixels} "
            f"pixels (expected bands x {n_pixels})"
        )
    n_bands = Y.shape[0]
    cube = np.ascontiguousarray(unflatten_pixels(Y, shape, order=order), dtype=dtype)
    metadata = {"source": [str(f) for f, _ in files], "data": f"{data_path.name}:{data_key}", "order": order}

    endmembers = None
    found = _first_in_files(files, ENDMEMBER_KEYS)
    if found is not None:
        f, key, E = found
        if E.ndim != 2 or n_bands not in E.shape:
            raise ValueError(f"{f}: endmembers {key} have shape {E.shape}; expected ({n_bands}, p) or (p, {n_bands})")
        endmembers = E if E.shape[0] == n_bands else E.T
        metadata["endmembers"] = f"{f.name}:{key}"

    targets = None
    found = _first_in_files(files, ABUNDANCE_KEYS)
    if found is not None:
        f, key, A = found
        if A.ndim == 3:
            if A.shape[:2] != shape:
                raise ValueError(f"{f}: abundance image {key} has shape {A.shape}, expected {shape + (A.shape[2],)}")
            targets = A
        elif A.ndim == 2 and n_pixels in A.shape:
            targets = unflatten_pixels(A if A.shape[1] == n_pixels else A.T, shape, order=order)
        else:
            raise ValueError(
                f"{f}: abundances {key} have shape {A.shape}; expected (p, {n_pixels}) for the "
                f"{shape[0]} x {shape[1]} image of {data_path.name}"
            )
        targets = np.ascontiguousarray(targets, dtype=dtype)
        metadata["abundances"] = f"{f.name}:{key}"
    if targets is not None and endmembers is not None and endmembers.shape[1] != targets.shape[2]:
        raise ValueError(
            f"{endmembers.shape[1]} endmembers ({metadata['endmembers']}) for {targets.shape[2]} abundance maps "
            f"({metadata['abundances']})"
        )
    if ground_truth is not None and targets is None:
        raise ValueError(
            f"{ground_truth} holds no abundances: expected a variable {', '.join(ABUNDANCE_KEYS)}; "
            f"it holds: {describe(files[-1][1])}"
        )

    wl, wl_source = _resolve_wavelengths(wavelengths, n_bands, all_vars, path if path.is_dir() else None)
    if wl_source is not None:
        metadata["wavelengths"] = wl_source
    n_targets = None if targets is None else targets.shape[2]
    n_named = n_targets if n_targets is not None else (None if endmembers is None else endmembers.shape[1])
    names = list(SAMSON_TARGET_NAMES) if n_named == 3 else [f"endmember_{k}" for k in range(n_named or 0)]
    return Scene(cube=cube, targets=targets, wavelengths=wl, target_names=names if n_targets else [],
                 endmembers=endmembers, metadata=metadata)
