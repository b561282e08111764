"""Run the reproduction grid: searches, deep runs and classical baselines, cached on disk."""

import hashlib
import json
import os
import platform
import re
import signal
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager, suppress
from functools import partial
from numbers import Real
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GridSearchCV

from .._environment import cpu_name
from .._version import __version__
from ..allocator import release_freed_memory
from ..estimator import ContrastivePatchRegressor, TrainingDivergedError
from .data import SPLITS, load_dataset, make_splits, training_windows, windows_of
from .models import CLASSICAL, classical_search, deep_pipeline, inner_cv, search_grid
from .presets import LITERAL_VARIANTS, VARIANTS, get_preset

__all__ = ["CacheWarning", "default_cache_dir", "run_reproduction"]

#: preset fields only the contrastive variants depend on
SEARCH_FIELDS = ("alphas", "radius_quantiles", "temperatures", "contrastive", "inner_folds")

#: the variant the search tunes on; its alpha, radius and temperature serve all three contrastive variants
SEARCH_VARIANT = "spectral+spatial"


def default_cache_dir():
    """``$XDG_CACHE_HOME/hyperspectral_cl/reproduce`` (``~/.cache/...`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hyperspectral_cl" / "reproduce"


def _key(spec):
    return hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


class CacheWarning(UserWarning):
    """A cache file of :func:`run_reproduction` could not be used; its task is run again.

    Issued (instead of an error) for a file that cannot be read, that is not
    the JSON the runner writes (a file cut short or edited by hand), or that
    belongs to another task: the task is computed again and the file replaced.
    """


def _is_number(value):
    # bool is an int to Python but never a score; NaN is a number (a diverged run's R^2)
    return isinstance(value, Real) and not isinstance(value, bool)


def _result_problem(kind, result):
    """What is wrong with a cached result (None when the runner can use it)."""
    if not isinstance(result, dict):
        return f"'result' is {type(result).__name__}, not an object"
    if kind == "classical" and "skipped" in result:
        return None if isinstance(result["skipped"], str) else "'skipped' is not a string"
    if kind == "search":
        best, table = result.get("best"), result.get("table")
        if not (isinstance(best, dict) and all(_is_number(best.get(k)) for k in ("alpha", "radius", "temperature"))):
            return "'best' is not an object with numeric 'alpha', 'radius' and 'temperature'"
        if not (isinstance(table, list) and table and all(
                isinstance(row, dict) and isinstance(row.get("params"), dict)
                and _is_number(row.get("mean_r2")) and _is_number(row.get("std_r2")) for row in table)):
            return "'table' is not a non-empty list of {'params', 'mean_r2', 'std_r2'} rows"
        return None if _is_number(result.get("lr")) else "'lr' is not a number"
    bad = [k for k in ("r2", "mae", "seconds") if not _is_number(result.get(k))]
    if bad:
        return "; ".join(f"'{k}' is {'missing' if k not in result else repr(result[k])}, not a number" for k in bad)
    return None if isinstance(result.get("device"), str) else "'device' is missing or not a string"


def _canonical(value):
    return json.dumps(value, sort_keys=True, default=str)


def _shorten(value, width=60):
    text = json.dumps(value, default=str)
    return text if len(text) <= width else text[:width - 3] + "..."


_EXPECTED = {
    "search": "{'spec': ..., 'result': {'best': {...}, 'table': [...], 'lr': number, ...}}",
    "deep": "{'spec': ..., 'result': {'r2': number, 'mae': number, 'seconds': number, 'device': str, ...}}",
    "classical": "{'spec': ..., 'result': {'r2': number, 'mae': number, ...} or {'skipped': str}}",
}


class _Cache:
    """One JSON file per finished task; a task whose file exists (and is usable) is skipped."""

    def __init__(self, folder):
        self.folder = None if folder is None else Path(folder)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, kind, spec):
        return self.folder / f"{kind}-{_key(spec)}.json"

    def get(self, kind, spec):
        if self.folder is None:
            return None
        path = self._path(kind, spec)
        if not path.exists():
            return None
        try:
            entry = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # a file cut short, or not a file
            problem = f"it cannot be read as JSON ({type(exc).__name__}: {exc})"
        else:
            if not isinstance(entry, dict) or "result" not in entry:
                problem = f"it holds {type(entry).__name__} {_shorten(entry)} without a 'result' entry"
            elif _canonical(entry.get("spec")) != _canonical(spec):
                problem = "its 'spec' is missing or not the task's (a file renamed or copied from another cache?)"
            else:
                problem = _result_problem(kind, entry["result"])
                if problem is None:
                    return entry["result"]
        warnings.warn(f"ignoring the cache file {path}: {problem}; expected {_EXPECTED[kind]}. The task is run "
                      "again and the file replaced", CacheWarning, stacklevel=3)
        return None

    def put(self, kind, spec, result):
        if self.folder is None:
            return
        path = self._path(kind, spec)
        # a unique temporary name in the same folder, then an atomic rename: runners sharing the cache never
        # write to each other's temporary file, and a reader sees the old entry or the whole new one
        tmp = tempfile.NamedTemporaryFile("w", dir=self.folder, prefix=f".{path.stem}-", suffix=".tmp",
                                          delete=False)
        try:
            with tmp:
                tmp.write(json.dumps({"spec": spec, "result": result}, default=str))
            os.replace(tmp.name, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp.name)
            raise


@contextmanager
def _interrupt_guard():
    """Yield a function telling whether Ctrl-C was pressed inside the block.

    skorch ends training quietly on KeyboardInterrupt and returns a half-trained
    model; the runner must not cache (or report) it as a finished run. The
    SIGINT handler in place is kept and called; only the main thread can watch
    signals, elsewhere the function always says False.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield lambda: False
        return
    pressed = []

    def handler(signum, frame):
        pressed.append(signum)
        previous(signum, frame)

    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)


def _environment(device, threads):
    cpu = f"cpu ({cpu_name()}, {threads} thread{'s' if threads > 1 else ''})"
    return {
        "device": cpu if device == "cpu" else str(device),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "hyperspectral_cl": __version__,
        "python": platform.python_version(),
    }


def _groups(split, coords):
    # only the spatial splitter reads positions (KFold warns when given groups)
    return {"groups": coords} if split == "spatial" else {}


def _fit(model, X, y, **fit_params):
    # every model of the grid is trained here: one place to watch (tests make it fail or stop)
    return model.fit(X, y, **fit_params)


def _recorded(compute):
    """``(result, warnings)``: run one task, keeping the warnings it raises as ``(category, message)`` pairs.

    Printed as they come, a task's warnings would break the progress bar (a
    grid raises dozens, e.g. scikit-learn's ill-conditioning warnings for the
    smallest ridge penalties of the inner searches); the run summarises them
    once it is done (:func:`_summarise`).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compute()
    return result, [(w.category, str(w.message)) for w in caught]


def _call(index, compute, threads):
    """Run one task in a worker process: ``(index, (result, warnings))``, with ``threads`` torch threads."""
    if threads:
        torch.set_num_threads(threads)
    try:
        return index, _recorded(compute)
    finally:
        # what the task's steps kept for reuse (keep_freed_memory) goes back: loky would take it for a leak
        # and restart the worker
        release_freed_memory()


def _summarise(caught):
    """Warn once per kind of message among the tasks' warnings, with how often it came.

    Messages that differ only in their numbers (an ``rcond``, a fold's score)
    count as one kind; the first of them is shown.
    """
    kinds = {}
    for category, message in caught:
        key = (category, re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", message))
        kinds.setdefault(key, []).append(message)
    for (category, _), messages in kinds.items():
        times = "once" if len(messages) == 1 else f"{len(messages)} times"
        varying = ", numbers varying" if len(set(messages)) > 1 else ""
        warnings.warn(f"{messages[0]} [{times} during the run{varying}]", category, stacklevel=3)


def _computed(computes, n_jobs, threads):
    """Yield ``(index, (result, warnings))`` for each callable as it finishes: in this process, or in ``n_jobs`` workers.

    Workers are processes (joblib's loky backend), each single-threaded unless
    ``threads`` says otherwise: small convolutions gain little from a second
    thread, and threads that wait for a busy core spin and burn CPU time, so
    one process per core is both faster and steadier under load.
    """
    if n_jobs == 1 or not computes:
        for index, compute in enumerate(computes):
            yield index, _recorded(compute)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    yield from parallel(delayed(_call)(i, compute, threads or 1) for i, compute in enumerate(computes))


def _scores(y_true, y_pred):
    return float(r2_score(y_true, y_pred)), float(mean_absolute_error(y_true, y_pred))


def _unprefix(params):
    return {k.split("__", 1)[1]: v for k, v in params.items()}


def _learning_rates(variant, preset):
    # a run whose loss blows up is restarted with a smaller step (recorded with the result): one SGD rate
    # does not suit every backbone on every dataset (atik diverged on Samson at 3e-3 with the paper's recipe)
    base = preset.lr if variant in LITERAL_VARIANTS else ContrastivePatchRegressor().lr
    return [base / 3**k for k in range(3)]


def _search(backbone, data, train, *, preset, split, device, spectrum_norm, env):
    """GridSearchCV of alpha, radius and temperature on one training set (the spectral+spatial variant)."""
    start = time.perf_counter()
    X, y = data["X"][train], data["y"][train]
    grid = search_grid(preset, y)
    coords = data["coords"][train]
    for lr in _learning_rates(SEARCH_VARIANT, preset):
        pipe = deep_pipeline(backbone, SEARCH_VARIANT, preset, seed=0, wavelengths=data["wavelengths"],
                             device=device, spectrum_norm=spectrum_norm, lr=lr)
        gs = GridSearchCV(pipe, grid, cv=inner_cv(split, preset), scoring="r2", n_jobs=1, refit=False,
                          error_score=np.nan)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FitFailedWarning)  # diverged candidates score NaN and are reported
                warnings.filterwarnings("ignore", message="One or more of the test scores are non-finite")
                # positions go to the splitter (spatial split) and to the nets' early-stopping hold-out
                _fit(gs, X, y, **_groups(split, coords), net__groups=coords)
        except ValueError as exc:  # sklearn raises when every candidate failed (here: all diverged)
            if "fits failed" not in str(exc):
                raise
            continue
        if np.isfinite(gs.cv_results_["mean_test_score"]).any():  # else every candidate failed on some fold
            break
    else:
        raise TrainingDivergedError(
            f"every candidate of the {backbone} search diverged, down to lr={lr:g}; lower the preset's lr"
        )
    cv = gs.cv_results_
    table = [{"params": _unprefix(p), "mean_r2": float(m), "std_r2": float(s)}
             for p, m, s in zip(cv["params"], cv["mean_test_score"], cv["std_test_score"], strict=True)]
    return {"best": _unprefix(gs.best_params_), "table": table, "lr": lr, "seconds": time.perf_counter() - start}


def _fit_deep(backbone, variant, params, seed, data, train, *, preset, split, device, spectrum_norm, env):
    """Train one backbone x variant on one seed's training windows; score it on the test windows."""
    start = time.perf_counter()
    X, y = data["X"][train], data["y"][train]
    for lr in _learning_rates(variant, preset):
        pipe = deep_pipeline(backbone, variant, preset, seed=seed, wavelengths=data["wavelengths"],
                             device=device, spectrum_norm=spectrum_norm, lr=lr, **params)
        try:
            _fit(pipe, X, y, net__groups=data["coords"][train])
        except TrainingDivergedError:
            continue
        pred = pipe.predict(data["X"][data["test"]])
        if np.isfinite(pred).all():  # a finite but exploding loss can still overflow the predictions
            break
    else:
        return {"r2": float("nan"), "mae": float("nan"), "seconds": time.perf_counter() - start, "epochs": None,
                "diverged": True, "lr": lr, **env}
    r2, mae = _scores(data["y"][data["test"]], pred)
    net = pipe.named_steps["net"]
    blend = None if net.blend_ is None else [float(w) for w in net.blend_]
    return {"r2": r2, "mae": mae, "seconds": time.perf_counter() - start, "epochs": len(net.history_),
            "best_epoch": net.best_epoch_, "blend": blend,
            "partner": None if net.partner_ is None else net.partner_.tolist(), "radius": net.radius_, "lr": lr, **env}


def _fit_classical(name, data, train, *, preset, split, device, spectrum_norm, env):
    """Tune (inner CV) and fit one classical baseline on one seed's training windows; score it."""
    start = time.perf_counter()
    X, y = data["X"][train], data["y"][train]
    gs = classical_search(name, X, split, preset, data["coords"][train])
    if gs is None:
        return {"skipped": f"flattened windows exceed max_flat_features={preset.max_flat_features}"}
    _fit(gs, X, y)
    r2, mae = _scores(data["y"][data["test"]], gs.predict(data["X"][data["test"]]))
    return {"r2": r2, "mae": mae, "seconds": time.perf_counter() - start, "epochs": None,
            "params": {k: float(v) for k, v in _unprefix(gs.best_params_).items()}, **env}


def run_reproduction(
    dataset="synthetic",
    preset="quick",
    *,
    backbones=None,
    variants=None,
    splits=SPLITS,
    classical=tuple(CLASSICAL),
    seeds=None,
    spectrum_norm="l2",
    cache_dir="default",
    data_dir=None,
    samson=None,
    usgs=None,
    device="cpu",
    progress=True,
    n_jobs=None,
    threads=None,
    **preset_overrides,
):
    """Train and evaluate every backbone x variant and the classical baselines on the same splits.

    For each split (``'random'``, ``'spatial'``): per backbone, alpha, radius
    and temperature are chosen by GridSearchCV (inner CV on the seed-0
    training windows only, the spectral+spatial variant, R^2); then every
    backbone x variant is trained on each seed's training windows and
    scored on the split's test windows, next to ridge and PLS regressions
    (tuned by the same inner CV) on the same windows. Finished tasks are
    cached on disk and skipped when the call is repeated.

    Parameters
    ----------
    dataset : {'synthetic', 'samson'}, default='synthetic'
    preset : {'quick', 'cpu', 'paper-cpu', 'full'} or Preset, default='quick'
        Sizes and search space, see :data:`~hyperspectral_cl.reproduce.PRESETS`.
    backbones : sequence of str or None, default=None
        None: the preset's (the five backbones; ``li`` and ``hamida`` for ``'paper-cpu'``).
    variants : sequence of str or None, default=None
        Keys of :data:`~hyperspectral_cl.reproduce.VARIANTS`; None: the preset's (every variant: baseline,
        spectral, spatial, spectral+spatial with the default recipe, and the paper-recipe rows;
        ``'paper-cpu'`` leaves out the spectral-only and spatial-only rows, which the paper's tables do not have).
    splits : sequence of str, default=('random', 'spatial')
    classical : sequence of str, default: every classical baseline
        Names from :data:`~hyperspectral_cl.reproduce.CLASSICAL` (empty: none).
    seeds : int or None
        Overrides the preset's number of seeds.
    spectrum_norm : {'l2', None}, default='l2'
        Per-spectrum normalisation inside the networks (``spectrum_norm`` of the estimator).
        L2 removes the multiplicative illumination pattern; without it the
        networks' baseline R^2 dropped by 0.15-0.3 in our tests.
    cache_dir : path-like, 'default' or None, default='default'
        Where finished tasks are stored (:func:`default_cache_dir` / ``<dataset>-<preset>``
        for 'default'); None caches nothing. A task is cached only once it
        has finished: one that raises or is interrupted (Ctrl-C) leaves no
        entry. Entries are written under a temporary name and renamed, so
        several runners can share a folder; an entry that cannot be used
        (unreadable, cut short, of the wrong form) is recomputed with a
        :class:`CacheWarning` naming the file.
    data_dir, samson, usgs : path-like or None
        Data locations, see :func:`~hyperspectral_cl.reproduce.load_dataset`.
    device : str, default='cpu'
        Torch device of the networks.
    progress : bool, default=True
        Show a progress bar over the whole grid (on stderr).
    n_jobs : int or None, default=None
        Worker processes for the tasks of a phase (the searches of a split,
        then its runs); None or 1: this process, one task after the other;
        -1: one per CPU core. Results do not depend on it (each task seeds its
        own fits), up to floating-point summation order.
    threads : int or None, default=None
        Torch threads of each worker process (None: 1). Without workers, the
        caller's setting (``torch.set_num_threads``) applies.
    **preset_overrides
        Preset fields to change (``epochs=2``, ``n_train=64``, ...).

    Returns
    -------
    results : dict
        ``'runs'``: one dict per (model, split, seed) with ``r2``, ``mae``,
        ``seconds``, ``epochs`` and the environment; ``'searches'``: the chosen
        parameters and the search's table per (split, backbone); ``'dataset'``
        and ``'preset'``: what was run.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C during a task, even when the training loop swallowed it
        (skorch does): the half-trained model is neither cached nor returned.

    Warns
    -----
    Warning
        The warnings the tasks raised, once per kind of message with how
        often it came, after the progress bar closes (in tasks they would
        break it); tasks read from the cache raise none.
    """
    from tqdm.auto import tqdm

    # the preset checks the backbone and variant lists; None keeps its own
    preset = get_preset(preset, seeds=seeds, backbones=backbones, variants=variants, **preset_overrides)
    backbones, variants = preset.backbones, preset.variants
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    unknown = [c for c in classical if c not in CLASSICAL]
    if unknown:
        raise ValueError(f"unknown classical baselines {unknown}; known: {list(CLASSICAL)}")
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown splits {unknown}; known: {list(SPLITS)}")
    n_jobs = 1 if n_jobs is None else (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be None, -1 or a positive integer, got {n_jobs!r}")
    scene, description = load_dataset(dataset, preset, data_dir=data_dir, samson=samson, usgs=usgs)
    if cache_dir == "default":
        cache_dir = default_cache_dir() / f"{dataset}-{preset.name}"
    cache = _Cache(cache_dir)
    # the threads the fits run with: this process's, or each worker's
    env = _environment(device, torch.get_num_threads() if n_jobs == 1 else threads or 1)
    X, y, coords = windows_of(scene, preset)
    # the backbone and variant sets are left out of the key: each task records its own backbone and variant
    described = {k: v for k, v in preset.as_dict().items() if k not in ("backbones", "variants")}
    base_spec = {"dataset": description, "preset": described, "spectrum_norm": spectrum_norm,
                 "hyperspectral_cl": __version__}
    # runs that never see the contrastive settings keep their cache entries when the search space changes
    plain_spec = dict(base_spec, preset={k: v for k, v in described.items() if k not in SEARCH_FIELDS})
    contrastive = [v for v in variants if VARIANTS[v] is not None]
    n_tasks = len(splits) * (
        (len(backbones) if contrastive else 0)
        + preset.seeds * (len(backbones) * len(variants) + len(classical))
    )
    bar = tqdm(total=n_tasks, desc=f"reproduce {dataset} ({preset.name})", disable=not progress, unit="task")
    runs, searches, caught = [], [], []

    def phase(tasks):
        """Results of ``tasks`` (``(kind, spec, compute)``), in order: cached ones read, the others computed.

        A result is cached as soon as its task finishes; an exception (KeyboardInterrupt included) leaves the
        unfinished tasks uncached, and so does a Ctrl-C that a fit swallowed, since its model is half-trained.
        """
        results = [cache.get(kind, spec) for kind, spec, _ in tasks]
        bar.update(sum(r is not None for r in results))
        missing = [i for i, r in enumerate(results) if r is None]
        with _interrupt_guard() as interrupted:
            for j, (result, raised) in _computed([tasks[i][2] for i in missing], n_jobs, threads):
                caught.extend(raised)
                kind, spec, _ = tasks[missing[j]]
                if interrupted():
                    raise KeyboardInterrupt(f"{kind} task interrupted: its result is not cached")
                cache.put(kind, spec, result)
                results[missing[j]] = result
                bar.update()
        return results

    try:
        for split in splits:
            pool, test = make_splits(coords, scene.cube.shape, preset, split)
            data = {"X": X, "y": y, "coords": coords, "test": test, "wavelengths": scene.wavelengths}
            common = {"preset": preset, "split": split, "device": device, "spectrum_norm": spectrum_norm, "env": env}
            train0 = training_windows(pool, preset, 0)
            searched = list(backbones) if contrastive else []
            found = phase([("search", dict(base_spec, split=split, backbone=backbone, task="search"),
                            partial(_search, backbone, data, train0, **common)) for backbone in searched])
            tuned = {}
            for backbone, result in zip(searched, found, strict=True):
                tuned[backbone] = result["best"]
                searches.append({"split": split, "backbone": backbone, **result})
            tasks, rows = [], []
            for seed in range(preset.seeds):
                train = training_windows(pool, preset, seed)
                for backbone in backbones:
                    for variant in variants:
                        params = tuned.get(backbone, {}) if VARIANTS[variant] is not None else {}
                        spec = dict(base_spec if VARIANTS[variant] else plain_spec, split=split, seed=seed,
                                    backbone=backbone, variant=variant,
                                    params=params, task="deep")
                        tasks.append(("deep", spec, partial(_fit_deep, backbone, variant, params, seed, data, train,
                                                            **common)))
                        rows.append({"split": split, "seed": seed, "model": backbone, "variant": variant,
                                     "kind": "deep", "params": params, "n_train": len(train), "n_test": len(test)})
                for name in classical:
                    spec = dict(plain_spec, split=split, seed=seed, model=name, task="classical")
                    tasks.append(("classical", spec, partial(_fit_classical, name, data, train, **common)))
                    rows.append({"split": split, "seed": seed, "model": name, "variant": "classical",
                                 "kind": "classical", "n_train": len(train), "n_test": len(test)})
            for row, result in zip(rows, phase(tasks), strict=True):
                if "skipped" not in result:
                    runs.append({**row, **result})
    finally:  # on an error or Ctrl-C too: the message then starts on a fresh line
        bar.close()
    _summarise(caught)
    return {"dataset": description, "preset": preset.as_dict(), "spectrum_norm": spectrum_norm, "runs": runs,
            "searches": searches}
