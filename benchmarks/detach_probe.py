"""Detaching the augmented view (``detach_augmented=True``): accuracy and time per fit beside the paper's gradient.

    python benchmarks/detach_probe.py                 # pixel-mlp and li; both datasets; 3 seeds (~1 h, 1 core)
    python benchmarks/detach_probe.py --quick         # synthetic, pixel-mlp, one seed

The contrastive term normally back-propagates through both views (the paper's gradient); detached, the
augmented view's features are fixed points and its backward pass is skipped. This script measures what
that costs in accuracy where the term is switched on: the default recipe with ``alpha=1`` (supervised
contrastive), the backbone alone (``ridge=None``, where the network's features carry the prediction)
and semi-supervised training with few labels (``semi_supervised=True``, an unlabeled pool of every
window of the training region, the setting the term is for), with and without the ridge map. Each
setting is fitted with the paper's gradient and detached on the same training windows and seed, side
by side, and timed; the best classical regressors of the reproduction on the same windows are the bar.

Data: the ``cpu`` reproduction preset's windows and spatial split (as benchmarks/recipe_ablation.py).
Writes benchmarks/results/detach_probe.md (and .csv).
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _common import mean_std, windows_or_none, write_csv
from learning_curves import pools
from sklearn.metrics import r2_score
from sklearn.pipeline import Pipeline

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor
from hyperspectral_cl._environment import measured_on
from hyperspectral_cl.reproduce import get_preset
from hyperspectral_cl.reproduce.data import training_windows
from hyperspectral_cl.reproduce.models import classical_search

RESULTS = Path(__file__).resolve().parent / "results"
CLASSICAL = ("ridge, mean of L2-normalised pixels", "kernel ridge (RBF), mean of L2-normalised pixels")
#: setting -> (estimator parameters, labeled windows: None for the preset's n_train)
SETTINGS = {
    "supervised contrastive (alpha=1)": ({"alpha": 1.0}, None),
    "backbone alone (alpha=1, ridge=None)": ({"alpha": 1.0, "ridge": None}, None),
    "semi-supervised, 100 labels": ({"semi_supervised": True, "unlabeled_batch_size": 64}, 100),
    "semi-supervised, 100 labels, ridge=None": ({"semi_supervised": True, "unlabeled_batch_size": 64,
                                                 "ridge": None}, 100),
}


def run(args):
    preset = get_preset("cpu")
    rows = []
    for dataset in args.datasets:
        data = windows_or_none(dataset, preset)
        if data is None:
            continue
        scene, X, y, coords, region, test = (data[k] for k in ("scene", "X", "y", "coords", "pool", "test"))
        unlabeled = pools(scene, coords, test, preset.window)["inductive"]
        for seed in range(args.seeds):
            full = training_windows(region, preset, seed)
            few = np.sort(np.random.default_rng(1000 + seed).choice(full, 100, replace=False))
            for n_labels, train in ((len(full), full), (len(few), few)):
                for name in CLASSICAL:
                    gs = classical_search(name, X[train], "spatial", preset, coords[train])
                    start = time.perf_counter()
                    gs.fit(X[train], y[train])
                    rows.append({"dataset": dataset, "backbone": "classical", "setting": name, "n_labels": n_labels,
                                 "seed": seed, "detached": None, "r2": r2_score(y[test], gs.predict(X[test])),
                                 "seconds": time.perf_counter() - start})
            for backbone in args.backbones:
                for name, (params, n_labels) in SETTINGS.items():
                    train = full if n_labels is None else few
                    fit_params = {"net__groups": coords[train]}
                    if params.get("semi_supervised"):
                        fit_params["net__unlabeled"] = unlabeled
                    for detached in (False, True):
                        net = ContrastivePatchRegressor(backbone, random_state=seed, detach_augmented=detached,
                                                        **params)
                        model = Pipeline([("patches", PatchExtractor(preset.window)), ("net", net)])
                        start = time.perf_counter()
                        model.fit(X[train], y[train], **fit_params)
                        seconds = time.perf_counter() - start
                        r2 = r2_score(y[test], model.predict(X[test]))
                        rows.append({"dataset": dataset, "backbone": backbone, "setting": name,
                                     "n_labels": len(train), "seed": seed, "detached": detached, "r2": r2,
                                     "seconds": seconds, "epochs": len(net.history_),
                                     "s_per_epoch": seconds / max(len(net.history_), 1),
                                     # the network's share of the prediction (0: the ridge map alone)
                                     "blend": np.nan if net.blend_ is None else float(np.mean(net.blend_))})
                        print(f"{dataset} {backbone} seed {seed} {name} detached={detached}: R2 {r2:.4f} "
                              f"({seconds:.0f} s, {len(net.history_)} epochs)", flush=True)
    return pd.DataFrame(rows), preset


def report(df, preset, args):
    out = write_csv(df, args.out)
    lines = ["## Detaching the augmented view: accuracy and time, side by side", "",
             measured_on(args.threads),
             f"`cpu` preset windows ({preset.window} x {preset.window}, about {preset.bands} bands), spatial split, "
             f"{preset.n_test} test windows; {preset.n_train} labeled training windows per seed, or 100 drawn from "
             "them for the semi-supervised rows (unlabeled pool: every window of the training region, none near the "
             "test region, 64 per batch). Every other setting at its default (`augment='spatial'`, "
             f"`spectrum_norm='l2'`, early stopping on a spatial hold-out). R² mean ± std over {args.seeds} seeds; "
             "'paired diff' is the mean over seeds of (detached − paper's gradient) on the same seed ± its std; "
             "'s/epoch' the mean seconds per epoch (paper's → detached); 'blend weight' the network's mean share of the "
             "prediction beside the ridge map (chosen on the hold-out; 0: the ridge map alone, where detaching "
             "cannot change the result; NaN: no ridge map).", ""]
    nets = df[df.backbone != "classical"]
    for dataset, g in df.groupby("dataset", sort=False):
        lines += [f"### {dataset}", "",
                  "| backbone | setting | paper's gradient | detached | paired diff | s/epoch: paper's → detached "
                  "| blend weight: paper's, detached |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        gn = nets[nets.dataset == dataset]
        for (backbone, setting), gs in gn.groupby(["backbone", "setting"], sort=False):
            both = gs[~gs.detached.astype(bool)].set_index("seed")
            det = gs[gs.detached.astype(bool)].set_index("seed")
            diff = (det.r2 - both.r2).dropna()
            lines.append(f"| {backbone} | {setting} | {mean_std(both.r2)} | {mean_std(det.r2)} | "
                         f"{diff.mean():+.3f} ± {np.nan_to_num(diff.std()):.3f} | "
                         f"{both.s_per_epoch.mean():.2f} → {det.s_per_epoch.mean():.2f} "
                         f"| {both.blend.mean():.2f}, {det.blend.mean():.2f} |")
        for (name, n), gc in g[g.backbone == "classical"].groupby(["setting", "n_labels"], sort=False):
            lines.append(f"| *classical* | *{name}, {n} labels* | {mean_std(gc.r2)} | | | | |")
        lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=["synthetic", "samson"])
    parser.add_argument("--backbones", nargs="*", default=["pixel-mlp", "li"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "detach_probe"))
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.backbones, args.seeds = ["synthetic"], ["pixel-mlp"], 1
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    df, preset = run(args)
    report(df, preset, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
