"""Wall time of a small grid search with n_jobs=1 against n_jobs=2 (joblib's loky backend).

Run: python benchmarks/search_parallel.py [--backbone li] [--windows 324] [--bands 32] [--epochs 3]
         [--rounds 3] [--threads N] [--device cpu] [--out benchmarks/results/search_parallel.md]
     python benchmarks/search_parallel.py --tiny     # a seconds-long check that the script works (prints only)

The search: ``GridSearchCV(Pipeline([PatchExtractor, ContrastivePatchRegressor(backbone)]))`` over
``net__alpha`` in {0, 0.01} x ``patchextractor__patch_size`` in {5, 7} (4 candidates) with
``SpatialBlockSplit(window_size=7, n_blocks=(2, 1))`` (2 folds): 8 fits, then a refit on all windows.
The windows (7 x 7, ``--bands`` bands, 3 mean-abundance targets) are cut at stride 5 from a
synthetic scene just large enough to give about ``--windows`` of them (stride 5 keeps the split's
buffer from eating most of the training windows).

``n_jobs=1`` trains in this process with ``--threads`` torch threads (default: every CPU joblib
sees); ``n_jobs=2`` trains in two loky worker processes, each started with
``OMP_NUM_THREADS = cpu_count // 2`` (joblib's default), which torch obeys: both configurations
use all the cores. Each worker's torch thread count is read from inside its fits (a callback
records ``torch.get_num_threads()``) and reported.

One untimed warm-up of each configuration comes first (it starts the loky workers and imports
torch there; its time is reported separately), then ``--rounds`` rounds alternate the two
(1, 2 then 2, 1, ...), so that drifts in machine load hit both. The table gives every round,
the medians and the speed-up ``median(n_jobs=1) / median(n_jobs=2)``. The search is seeded
(``random_state=0``): the script also checks that both give the same ``best_params_`` and scores.
"""

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from hyperspectral_cl._environment import cpu_name, versions

HERE = Path(__file__).resolve().parent


def record_threads_callback():
    from skorch.callbacks import Callback

    class RecordTorchThreads(Callback):
        """Records the torch thread count and the process id from inside fit."""

        def on_epoch_end(self, net, **kwargs):
            import torch

            net.history.record("torch_threads", torch.get_num_threads())
            net.history.record("pid", os.getpid())

    return RecordTorchThreads()


def threads_scorer(estimator, X, y):
    return float(estimator[-1].history[-1, "torch_threads"])


def pid_scorer(estimator, X, y):
    return float(estimator[-1].history[-1, "pid"])


def make_data(n_windows, n_bands, window=7, stride=5, seed=0):
    """About ``n_windows`` windows on a square grid with ``stride``: the spatial split's buffer
    (window + buffer pixels at each fold boundary) then costs a few rows of windows, not most of them."""
    from hyperspectral_cl import make_synthetic_scene

    per_axis = int(np.ceil(np.sqrt(n_windows)))
    side = (per_axis - 1) * stride + window
    scene = make_synthetic_scene(n_endmembers=3, shape=(side, side), n_bands=n_bands, smoothness=1.5,
                                 random_state=seed)
    return scene.windows(window, stride=stride)


def make_search(args, n_jobs):
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor
    from hyperspectral_cl.model_selection import SpatialBlockSplit

    options = {"module__n_planes": 2} if args.tiny and args.backbone == "li" else {}
    net = ContrastivePatchRegressor(args.backbone, max_epochs=args.epochs, batch_size=args.batch_size,
                                    random_state=0, device=args.device,
                                    callbacks=[("threads", record_threads_callback())], **options)
    pipe = Pipeline([("patchextractor", PatchExtractor(7)), ("net", net)])
    grid = {"net__alpha": [0.0, 0.01], "patchextractor__patch_size": [5, 7]}
    cv = SpatialBlockSplit(window_size=7, n_blocks=(2, 1))
    scoring = {"r2": "r2", "threads": threads_scorer, "pid": pid_scorer}
    return GridSearchCV(pipe, grid, cv=cv, scoring=scoring, refit="r2", n_jobs=n_jobs, error_score="raise")


def run_once(args, n_jobs, data):
    import joblib

    X, y, coords = data
    search = make_search(args, n_jobs)
    start = time.perf_counter()
    with joblib.parallel_config(backend="loky"):
        search.fit(X, y, groups=coords)
    elapsed = time.perf_counter() - start
    res = search.cv_results_
    threads = sorted({int(t) for k in ("split0_test_threads", "split1_test_threads") for t in res[k]})
    pids = {int(p) for k in ("split0_test_pid", "split1_test_pid") for p in res[k]}
    return {"time": elapsed, "best_params": search.best_params_, "scores": res["mean_test_r2"],
            "threads": threads, "n_processes": len(pids), "in_parent": os.getpid() in pids}


def main(argv=None):
    import joblib

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backbone", default="li", help="backbone name (li or hamida are the intended ones)")
    parser.add_argument("--windows", type=int, default=324, help="about this many 7 x 7 windows")
    parser.add_argument("--bands", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds, each running both configurations")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the n_jobs=1 run (default: joblib.cpu_count())")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="markdown report (default: benchmarks/results/"
                        "search_parallel.md; with --tiny nothing is written unless given)")
    parser.add_argument("--tiny", action="store_true",
                        help="seconds-long check: 40 windows, 8 bands, 1 epoch, li with 2 planes, 1 round")
    args = parser.parse_args(argv)
    if args.tiny:
        args.windows, args.bands, args.epochs, args.rounds, args.batch_size = 40, 8, 1, 1, 16
    out = Path(args.out) if args.out else (None if args.tiny else HERE / "results" / "search_parallel.md")

    import torch

    cpus = joblib.cpu_count()
    threads = args.threads or cpus
    torch.set_num_threads(threads)
    data = make_data(args.windows, args.bands)
    print(f"{len(data[0])} windows of {data[0].shape[1:]}, {cpus} CPUs, torch threads (n_jobs=1) {threads}",
          flush=True)

    warm = {nj: run_once(args, nj, data) for nj in (1, 2)}
    print(f"warm-up: n_jobs=1 {warm[1]['time']:.1f} s, n_jobs=2 {warm[2]['time']:.1f} s", flush=True)
    runs = {1: [], 2: []}
    for r in range(args.rounds):
        for nj in ((1, 2) if r % 2 == 0 else (2, 1)):
            res = run_once(args, nj, data)
            runs[nj].append(res)
            print(f"round {r + 1}: n_jobs={nj} {res['time']:.1f} s", flush=True)

    all_runs = [*warm.values(), *runs[1], *runs[2]]
    same_best = all(r["best_params"] == all_runs[0]["best_params"] for r in all_runs)
    max_diff = max(float(np.max(np.abs(r["scores"] - all_runs[0]["scores"]))) for r in all_runs)
    med = {nj: statistics.median(r["time"] for r in runs[nj]) for nj in (1, 2)}
    worker_threads = sorted({t for r in runs[2] + [warm[2]] for t in r["threads"]})
    parent_threads = sorted({t for r in runs[1] + [warm[1]] for t in r["threads"]})
    speedup = med[1] / med[2]

    command = "python benchmarks/search_parallel.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# search_parallel: GridSearchCV with n_jobs=1 vs n_jobs=2",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- device: {cpu_name()}, {cpus} CPUs for joblib, {os.cpu_count()} logical CPUs visible; "
        f"torch device {args.device}",
        f"- versions: {versions('joblib')}",
        f"- data: {len(data[0])} windows of 7 x 7 x {args.bands} at stride 5, 3 targets (synthetic scene)",
        f"- search: Pipeline(PatchExtractor, ContrastivePatchRegressor('{args.backbone}', max_epochs={args.epochs}, "
        f"batch_size={args.batch_size}, random_state=0)); grid net__alpha {{0, 0.01}} x patch_size {{5, 7}}, "
        "SpatialBlockSplit(7, n_blocks=(2, 1)): 4 candidates x 2 folds = 8 fits + refit",
        f"- threads: n_jobs=1 trains in this process with torch threads {parent_threads}; n_jobs=2 trains in "
        f"{max(r['n_processes'] for r in runs[2] + [warm[2]])} loky worker processes with torch threads "
        f"{worker_threads} each (OMP_NUM_THREADS in workers: cpu_count // n_jobs = {max(cpus // 2, 1)}"
        f"{', inherited from the parent' if 'OMP_NUM_THREADS' in os.environ else ''}); the refit runs in this process",
        f"- command: `{command.strip()}`",
        "",
        "| round | n_jobs=1 (s) | n_jobs=2 (s) |",
        "|---|---:|---:|",
        f"| warm-up (not in the medians; n_jobs=2 starts the workers) | {warm[1]['time']:.2f} | "
        f"{warm[2]['time']:.2f} |",
    ]
    for r in range(args.rounds):
        lines.append(f"| {r + 1} | {runs[1][r]['time']:.2f} | {runs[2][r]['time']:.2f} |")
    lines += [
        f"| **median** | **{med[1]:.2f}** | **{med[2]:.2f}** |",
        "",
        f"Speed-up of n_jobs=2 over n_jobs=1 (median times): **{speedup:.2f}x**.",
        "",
        f"Same best_params_ in every run: {'yes' if same_best else 'NO'} ({all_runs[0]['best_params']}); "
        f"largest difference of a mean test R^2 between runs: {max_diff:.2g}.",
        "",
        f"The load average when the run ended was {', '.join(f'{v:.2f}' for v in os.getloadavg())}.",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
        print(f"written to {out}")
    if not same_best:
        sys.exit("n_jobs=1 and n_jobs=2 chose different parameters: the search is not deterministic")


if __name__ == "__main__":
    main()
