"""
A grid search spread over a Dask cluster
========================================

A grid search whose fits run on a Dask cluster, through joblib's ``dask`` backend. This example is shown
here without being run (it starts a local Dask cluster); run it yourself (needs
``pip install "hyperspectral-cl[distributed]"``)::

    python examples/dask_search.py                              # a LocalCluster on this machine
    python examples/dask_search.py --scheduler tcp://host:8786  # an existing cluster
    python examples/dask_search.py --workers 4 --epochs 10      # bigger

About 15 s on 2 CPU cores with the defaults (2 worker processes, 3 epochs), the sequential check included.

scikit-learn runs a search's fits through joblib; inside ``joblib.parallel_config(backend="dask")`` every fit
becomes a task of the Dask client that is current, so the same ``GridSearchCV`` code runs on one machine or on
a cluster. Workers need the same environment as the client (hyperspectral-cl, torch, the same versions): the
estimator is pickled to them. Each fit is seeded (``random_state``), so the result does not depend on where
it ran: the script checks it against ``n_jobs=1`` (``--no-check`` skips that sequential run).

Threads: Dask's worker processes start with ``OMP_NUM_THREADS=1`` (Dask's ``nanny.pre-spawn-environ``
setting), which torch obeys, so ``--workers`` single-threaded processes share the machine without
oversubscribing it. With ``--threads-per-worker N`` a worker runs N fits at once in threads (each fit draws
from its own generators, so the results are the same), but the threads contend for the cores: prefer more
worker processes.
"""

# %%
# The search
# ----------
# A Pipeline of :class:`~hyperspectral_cl.PatchExtractor` and an ``'li'``
# :class:`~hyperspectral_cl.ContrastivePatchRegressor`, searched over ``alpha`` and the patch size on 2
# spatial folds (:class:`~hyperspectral_cl.SpatialBlockSplit`: no test window shares a pixel with a
# training window). The windows' positions reach both the splitter (``groups=coords``) and the
# network (``net__groups=coords``), whose early stopping then holds out a spatial region too.
import argparse
import time

import joblib
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor, make_synthetic_scene
from hyperspectral_cl.model_selection import SpatialBlockSplit


def make_search(epochs, n_jobs=None):
    """Pipeline(PatchExtractor, li regressor) searched over alpha x patch size on 2 spatial folds."""
    model = Pipeline([
        ("patchextractor", PatchExtractor(7)),
        ("net", ContrastivePatchRegressor("li", max_epochs=epochs, batch_size=64, random_state=0)),
    ])
    grid = {"net__alpha": [0.0, 0.01], "patchextractor__patch_size": [5, 7]}
    cv = SpatialBlockSplit(window_size=7, n_blocks=(2, 1))  # no test window shares a pixel with training
    return GridSearchCV(model, grid, cv=cv, n_jobs=n_jobs)


# %%
# On the cluster, then in this process
# ------------------------------------
# The cluster is either an existing scheduler (``--scheduler``) or a ``LocalCluster`` of worker processes
# on this machine. The same search then runs with ``n_jobs=1``, and the two must choose the same parameters.


def main():
    parser = argparse.ArgumentParser(description="A grid search spread over a Dask cluster.")
    parser.add_argument("--scheduler", default=None,
                        help="address of an existing scheduler (tcp://host:8786); default: start a LocalCluster")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--no-check", action="store_true", help="skip the n_jobs=1 comparison")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    scene = make_synthetic_scene(n_endmembers=3, shape=(60, 60), n_bands=32, smoothness=1.5, random_state=0)
    X, y, coords = scene.windows(7, stride=3)  # 18 x 18 windows of 7 x 7 x 32, mean abundances
    print(f"{len(X)} windows of {X.shape[1:]}")

    if args.scheduler:
        cluster, client = None, Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                               processes=True, host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
    try:
        print(f"cluster: {client.scheduler.address}, {len(client.scheduler_info()['workers'])} workers")
        start = time.perf_counter()
        with joblib.parallel_config(backend="dask"):
            search = make_search(args.epochs, n_jobs=-1).fit(X, y, groups=coords, net__groups=coords)
        print(f"on Dask: {time.perf_counter() - start:.1f} s, best {search.best_params_}, "
              f"R^2 {search.best_score_:.3f}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    if not args.no_check:
        start = time.perf_counter()
        sequential = make_search(args.epochs).fit(X, y, groups=coords, net__groups=coords)
        print(f"n_jobs=1: {time.perf_counter() - start:.1f} s, best {sequential.best_params_}, "
              f"R^2 {sequential.best_score_:.3f}")
        if sequential.best_params_ != search.best_params_:
            raise SystemExit("the Dask search chose other parameters than the sequential one")
        print("same best parameters on Dask and in this process")


# %%
# The ``__main__`` guard matters here: Dask starts its worker processes with ``spawn``, which imports this
# file again in each of them.
if __name__ == "__main__":
    main()
