"""Does the default recipe train every backbone, at every input size, without diverging or collapsing?

    python benchmarks/recipe_stability.py                    # the whole grid (about an hour on 2 CPU cores)
    python benchmarks/recipe_stability.py --quick            # one seed, 5 x 5 windows: a smoke run

For each dataset (the synthetic scene of the paper, 224 bands, and Samson, 156 bands; Samson is
skipped when ../shared is absent), window size (5 and 10), band count (all, and binned to about 56)
and backbone, five seeds each fit the documented default pipeline

    Pipeline([PatchExtractor(S), ContrastivePatchRegressor(backbone, random_state=seed)])

on a few hundred windows of the spatial split's training region (with ``net__groups=coords``), for a
few epochs only: divergence and collapse show in the first epochs. Beside it, the same fits with the
recipe this package had before 0.2 (``paper_recipe``: SGD with momentum at lr 1e-3, batch 256, the
contrastive term at weight 1, flattened maps, raw spectra, no ridge skip, no early stopping), which is
what users met, and the default recipe with the contrastive term switched on (``alpha=1``, the paper's
weight; the default ``alpha='auto'`` is 0 without unlabeled windows), whose second, augmented pass is a
second chance to diverge. These two run fewer seeds (``--old-seeds``).

A fit counts as

* **diverged** when it raises ``TrainingDivergedError`` or predicts NaN/inf;
* **collapsed** when its test predictions barely vary: their standard deviation is below 10 % of the
  test targets' (averaged over targets), i.e. it predicts (about) a constant.

The R^2 on the spatial split's test windows is reported beside ridge regression (RidgeCV on the mean
spectrum of the same training windows), as a sanity check only: accuracy is measured by the
reproduction (``hyperspectral-cl reproduce``) and ``benchmarks/paper_size_probe.py``.
Writes benchmarks/results/recipe_stability.md (and .csv).
"""

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _common import windows_or_none, write_csv
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.pipeline import Pipeline

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor, TrainingDivergedError
from hyperspectral_cl._environment import measured_on
from hyperspectral_cl.reproduce import get_preset
from hyperspectral_cl.reproduce.models import paper_recipe
from hyperspectral_cl.reproduce.presets import BACKBONES

RESULTS = Path(__file__).resolve().parent / "results"
RECIPES = ("default", "default, alpha=1", "before 0.2")


def ridge_r2(X_train, y_train, X_test, y_test):
    m_train, m_test = X_train.mean(axis=(1, 2)), X_test.mean(axis=(1, 2))
    mu, sd = m_train.mean(0), m_train.std(0) + 1e-12
    ridge = RidgeCV(alphas=np.logspace(-6, 6, 25), alpha_per_target=True).fit((m_train - mu) / sd, y_train)
    return r2_score(y_test, ridge.predict((m_test - mu) / sd))


def fit_one(recipe, backbone, window, seed, epochs, X_train, y_train, c_train, X_test, y_test):
    params = dict(random_state=seed, max_epochs=epochs)
    if recipe == "default, alpha=1":
        params["alpha"] = 1.0
    elif recipe != "default":
        params.update(paper_recipe(backbone))
    model = Pipeline([("patchextractor", PatchExtractor(window)),
                      ("net", ContrastivePatchRegressor(backbone, **params))])
    start = time.perf_counter()
    try:
        model.fit(X_train, y_train, net__groups=c_train)
        pred = model.predict(X_test)
    except TrainingDivergedError:
        return {"status": "diverged", "r2": np.nan, "seconds": time.perf_counter() - start}
    seconds = time.perf_counter() - start
    if not np.isfinite(pred).all():
        return {"status": "diverged", "r2": np.nan, "seconds": seconds}
    spread = float(np.mean(pred.std(axis=0) / np.maximum(y_test.std(axis=0), 1e-12)))
    status = "collapsed" if spread < 0.1 else "ok"
    return {"status": status, "r2": float(r2_score(y_test, pred)), "spread": spread, "seconds": seconds,
            "best_epoch": model[-1].best_epoch_}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=["synthetic", "samson"])
    parser.add_argument("--windows", nargs="*", type=int, default=[5, 10])
    parser.add_argument("--bands", nargs="*", default=["all", "56"], help="'all' or an approximate band count")
    parser.add_argument("--backbones", nargs="*", default=["pixel-mlp", *BACKBONES])
    parser.add_argument("--recipes", nargs="*", default=list(RECIPES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--old-seeds", type=int, default=2,
                        help="seeds for the pre-0.2 recipe and the alpha=1 one (for contrast only)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--n-train", type=int, default=300)
    parser.add_argument("--n-test", type=int, default=600)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one seed, 5 x 5 windows, binned bands")
    parser.add_argument("--out", default=str(RESULTS / "recipe_stability"))
    parser.add_argument("--note", default=None, help="a sentence added to the report's description (e.g. which "
                                                     "rows a --merge took from an earlier run)")
    parser.add_argument("--merge", nargs="+", metavar="CSV",
                        help="write the report from the CSVs of runs split across processes (e.g. one per dataset) "
                             "instead of fitting")
    args = parser.parse_args(argv)
    if args.merge:
        write_report(pd.concat([pd.read_csv(f) for f in args.merge], ignore_index=True), args)
        return 0
    if args.quick:
        args.seeds, args.old_seeds, args.windows, args.bands = 1, 1, [5], ["56"]
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    rows = []
    for dataset in args.datasets:
        for bands in args.bands:
            for window in args.windows:
                preset = get_preset("cpu", window=window, n_train=args.n_train, n_test=args.n_test)
                preset = replace(preset, bands=None if bands == "all" else int(bands))
                data = windows_or_none(dataset, preset)
                if data is None:
                    break
                desc, X, y, coords, pool, test = (data[k] for k in ("description", "X", "y", "coords", "pool", "test"))
                for seed in range(args.seeds):
                    train = np.sort(np.random.default_rng(1000 + seed).choice(pool, args.n_train, replace=False))
                    data = (X[train], y[train], coords[train], X[test], y[test])
                    ridge = ridge_r2(X[train], y[train], X[test], y[test])
                    for backbone in args.backbones:
                        for recipe in args.recipes:
                            if recipe != "default" and seed >= args.old_seeds:  # contrast only: fewer seeds
                                continue
                            out = fit_one(recipe, backbone, window, seed, args.epochs, *data)
                            row = {"dataset": dataset, "bands": desc["bands"], "window": window, "backbone": backbone,
                                   "recipe": recipe, "seed": seed, "ridge_r2": ridge, **out}
                            rows.append(row)
                            print(f"{dataset} B={desc['bands']} S={window} {backbone:10s} {recipe:10s} seed {seed}: "
                                  f"{out['status']:9s} R2 {out['r2']:.3f} (ridge {ridge:.3f}) "
                                  f"{out['seconds']:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    write_report(df, args)
    return 0


def write_report(df, args):
    out = write_csv(df, args.out)
    lines = [
        "## Recipe stability: divergences and collapses over short fits",
        "",
        measured_on(args.threads),
        f"Spatial split of each scene; {args.n_train} training windows drawn from its training region per seed, "
        f"{args.n_test} test windows; {args.epochs} epochs (at most); {args.seeds} seeds ({args.old_seeds} for the "
        "other recipes); default "
        "pipeline `Pipeline([PatchExtractor(S), ContrastivePatchRegressor(backbone, random_state=seed)])` fitted "
        "with `net__groups=coords`, beside the same with `alpha=1` (the contrastive term on) and the recipe of "
        "versions before 0.2 (`paper_recipe`: SGD + momentum "
        "0.9, lr 1e-3, batch 256, the contrastive term at weight 1, flattened maps, raw spectra, no ridge skip, no early "
        "stopping). Diverged: "
        "`TrainingDivergedError` or non-finite predictions. Collapsed: test predictions' spread below 10 % of "
        "the targets'. R² (mean over seeds, ok fits only) is a sanity check, beside RidgeCV on the mean spectrum."
        + (f" {args.note}" if getattr(args, "note", None) else ""),
        "",
    ]
    summary = df.groupby("recipe")["status"].value_counts().unstack(fill_value=0)
    negative = df[df["status"] == "ok"].groupby("recipe")["r2"].apply(lambda r: int((r < 0).sum()))
    below = df[df["status"] == "ok"].groupby("recipe").apply(
        lambda g: int((g["r2"] < g["ridge_r2"] - 0.05).sum()), include_groups=False)
    lines += ["| recipe | fits | trained | diverged | collapsed | trained, R² < 0 | trained, R² < ridge − 0.05 |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for recipe, counts in summary.iterrows():
        lines.append(f"| {recipe} | {int(counts.sum())} | {int(counts.get('ok', 0))} | "
                     f"{int(counts.get('diverged', 0))} | {int(counts.get('collapsed', 0))} | "
                     f"{negative.get(recipe, 0)} | {below.get(recipe, 0)} |")
    lines += ["", f"Per setting: diverged / collapsed out of the seeds ({args.seeds} for the default recipe, "
              f"{args.old_seeds} for the others), and mean R² of the fits that trained.", ""]
    backbones = list(dict.fromkeys(df["backbone"]))
    header = "| dataset | bands | window | recipe | " + " | ".join(backbones) + " | ridge R² |"
    lines += [header, "|" + "---|" * (5 + len(backbones))]
    for (dataset, bands, window, recipe), g in df.groupby(["dataset", "bands", "window", "recipe"], sort=False):
        cells = []
        for b in backbones:
            gb = g[g["backbone"] == b]
            d, c = int((gb["status"] == "diverged").sum()), int((gb["status"] == "collapsed").sum())
            ok = gb[gb["status"] == "ok"]["r2"]
            r2 = f"{ok.mean():.3f}" if len(ok) else "–"
            cells.append(f"{d}/{c}, {r2}")
        lines.append(f"| {dataset} | {bands} | {window} | {recipe} | " + " | ".join(cells)
                     + f" | {g['ridge_r2'].mean():.3f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out.with_suffix('.md')}")


if __name__ == "__main__":
    sys.exit(main())
