"""A grid search on a Dask cluster (joblib's ``dask`` backend) gives the sequential result."""

import joblib
import numpy as np
import pytest
import torch
from conftest import tiny_net_params
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor, make_synthetic_scene
from hyperspectral_cl.model_selection import SpatialBlockSplit

distributed = pytest.importorskip("distributed")

WINDOW = 7


@pytest.fixture(scope="module")
def data():
    scene = make_synthetic_scene(n_endmembers=3, shape=(24, 10), n_bands=8, smoothness=1.5, random_state=0)
    return scene.windows(WINDOW)  # 72 windows of 7 x 7 x 8


def make_search(n_jobs=None):
    pipe = Pipeline([
        ("patchextractor", PatchExtractor(WINDOW)),
        ("net", ContrastivePatchRegressor("li", **tiny_net_params(batch_size=16))),
    ])
    grid = {"net__alpha": [0.0, 0.5], "patchextractor__patch_size": [5, 7]}
    cv = SpatialBlockSplit(window_size=WINDOW, n_blocks=(2, 1), buffer=0)
    return GridSearchCV(pipe, grid, cv=cv, n_jobs=n_jobs, error_score="raise")


@pytest.fixture(scope="module")
def sequential(data):
    X, y, coords = data
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as during the Dask search below, so that float reductions match
    try:
        return make_search().fit(X, y, groups=coords)
    finally:
        torch.set_num_threads(before)


# processes=False: two worker threads in this process over the in-process transport: no sockets, no child
# processes, so nothing for a CI machine's network or start-up times to break, and the test stays within seconds
# (worker processes take 5-20 s to start and import torch on a busy 2-core machine). Seeded fits take turns in
# threads (see the estimator's Notes), so the result is the sequential one. Pickling the estimator to worker
# processes is exercised by test_search.py (loky) and by examples/dask_search.py (processes=True).
def test_dask_search_matches_the_sequential_one(data, sequential, tmp_path, monkeypatch):
    X, y, coords = data
    monkeypatch.chdir(tmp_path)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with joblib.parallel_config(backend="dask"):
                search = make_search(n_jobs=-1).fit(X, y, groups=coords)
        finally:
            torch.set_num_threads(before)
    assert search.best_params_ == sequential.best_params_
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"],
                               rtol=1e-5, atol=1e-6)
    assert list(tmp_path.iterdir()) == []  # no dask-scratch-space, checkpoint or log file in the working directory


# The scale-out path itself: worker processes behind a TCP scheduler bound to 127.0.0.1, the estimator
# pickled to them, as on a real cluster (slower: each worker imports torch).
def test_dask_search_on_worker_processes_bound_to_localhost(data, sequential, tmp_path, monkeypatch):
    X, y, coords = data
    monkeypatch.chdir(tmp_path)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, local_directory=str(tmp_path / "dask"))
    with cluster, distributed.Client(cluster) as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        with joblib.parallel_config(backend="dask"):
            search = make_search(n_jobs=-1).fit(X, y, groups=coords)
    assert search.best_params_ == sequential.best_params_
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"],
                               rtol=1e-4, atol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] in ([], ["dask"])  # only the scratch folder we asked for
