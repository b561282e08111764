"""Grid searches over the Pipeline: the same results in parallel, no oversubscription, no files written."""

import os
from contextlib import contextmanager

import joblib
import numpy as np
import pytest
import torch
from conftest import tiny_net_params
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor, make_synthetic_scene
from hyperspectral_cl.model_selection import SpatialBlockSplit

WINDOW = 7
GRID = {"net__alpha": [0.0, 0.5], "net__radius": [None, 0.05], "patchextractor__patch_size": [5, 7]}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS", "NUMEXPR_NUM_THREADS")


class RecordTorchThreads(Callback):
    """Records, from inside fit, how many intra-op threads torch uses (and the process that trains)."""

    def on_epoch_end(self, net, **kwargs):
        net.history.record("torch_threads", torch.get_num_threads())
        net.history.record("pid", os.getpid())


def torch_threads_during_fit(estimator, X, y):
    """A scorer that reports what RecordTorchThreads saw during the fit that it scores."""
    return float(estimator[-1].history[-1, "torch_threads"])


def fit_pid(estimator, X, y):
    return float(estimator[-1].history[-1, "pid"])


@pytest.fixture(scope="module")
def data():
    """72 windows of 7 x 7 x 8 with 3 targets and their positions."""
    scene = make_synthetic_scene(n_endmembers=3, shape=(24, 10), n_bands=8, smoothness=1.5, random_state=0)
    return scene.windows(WINDOW)


def make_search(n_jobs, **net_params):
    net_params.setdefault("callbacks", [("threads", RecordTorchThreads())])
    pipe = Pipeline([
        ("patchextractor", PatchExtractor(WINDOW)),
        ("net", ContrastivePatchRegressor("li", **tiny_net_params(batch_size=16, **net_params))),
    ])
    cv = SpatialBlockSplit(window_size=WINDOW, n_blocks=(2, 1), buffer=0)
    scoring = {"r2": "r2", "threads": torch_threads_during_fit, "pid": fit_pid}
    return GridSearchCV(pipe, GRID, cv=cv, scoring=scoring, refit="r2", n_jobs=n_jobs, error_score="raise")


def worker_threads(n_jobs):
    """The thread limit joblib's loky backend gives each of ``n_jobs`` workers (see _prepare_worker_env)."""
    return int(os.environ.get("OMP_NUM_THREADS", max(joblib.cpu_count() // n_jobs, 1)))


@contextmanager
def torch_threads(n):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sequential(data):
    X, y, coords = data
    with torch_threads(worker_threads(2)):  # what each worker gets, so that float reductions match theirs
        return make_search(1).fit(X, y, groups=coords)


def test_parallel_search_matches_the_sequential_one_and_writes_no_file(data, sequential, tmp_path, monkeypatch):
    X, y, coords = data
    monkeypatch.chdir(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with joblib.parallel_config(backend="loky"):
        parallel = make_search(2).fit(X, y, groups=coords)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before  # no checkpoint, params or history file from skorch, no joblib scratch folder

    assert parallel.best_params_ == sequential.best_params_
    np.testing.assert_allclose(parallel.cv_results_["mean_test_r2"], sequential.cv_results_["mean_test_r2"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(parallel.cv_results_["split0_test_r2"], sequential.cv_results_["split0_test_r2"],
                               rtol=1e-5, atol=1e-6)
    # the fits really ran in other processes
    assert os.getpid() not in set(parallel.cv_results_["split0_test_pid"].astype(int))
    np.testing.assert_allclose(parallel.predict(X), sequential.predict(X), rtol=1e-5, atol=1e-6)


def test_the_search_is_reproducible_and_the_grid_matters(data, sequential):
    X, y, coords = data
    with torch_threads(worker_threads(2)):
        again = make_search(1).fit(X, y, groups=coords)
    np.testing.assert_array_equal(again.cv_results_["mean_test_r2"], sequential.cv_results_["mean_test_r2"])
    # with alpha=0 the radius is unused (identical scores); otherwise every parameter changes the score
    scores = dict(zip(map(str, sequential.cv_results_["params"]), sequential.cv_results_["mean_test_r2"], strict=True))
    assert len(set(np.round(list(scores.values()), 10))) >= 5


def test_torch_in_loky_workers_is_limited_to_its_share_of_the_cores(data, monkeypatch):
    """joblib's loky backend starts workers with OMP_NUM_THREADS=cpu_count // n_jobs; torch reads it."""
    X, y, coords = data
    for var in THREAD_VARS:  # the default path: joblib picks the limit (a parent's setting would be inherited)
        monkeypatch.delenv(var, raising=False)
    search = make_search(2, max_epochs=1)
    search.set_params(param_grid={"net__alpha": [0.0, 0.5]})
    with joblib.parallel_config(backend="loky"):
        search.fit(X, y, groups=coords)
    threads = search.cv_results_["split0_test_threads"].tolist() + search.cv_results_["split1_test_threads"].tolist()
    assert os.getpid() not in set(search.cv_results_["split0_test_pid"].astype(int))
    assert max(threads) <= max(joblib.cpu_count() // 2, 1), threads


def test_thread_workers_give_the_sequential_results(data, sequential):
    """Each fit draws from its own generators: seeded fits running side by side in threads give the same scores."""
    X, y, coords = data
    with torch_threads(worker_threads(2)), joblib.parallel_config(backend="threading"):
        threaded = make_search(2).fit(X, y, groups=coords)
    assert threaded.best_params_ == sequential.best_params_
    np.testing.assert_allclose(threaded.cv_results_["mean_test_r2"], sequential.cv_results_["mean_test_r2"],
                               rtol=1e-5, atol=1e-6)
