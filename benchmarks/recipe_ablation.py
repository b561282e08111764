"""Which parts of the default recipe matter? One change at a time, on the reproduction's `cpu` windows.

    python benchmarks/recipe_ablation.py                  # li and hamida, both datasets, 3 seeds (~20 min on 2 cores)
    python benchmarks/recipe_ablation.py --quick          # one seed, li, synthetic

Same data as the `cpu` reproduction preset (5 x 5 windows, about 56 bands, 384 training windows drawn
from the spatial split's training region per seed, 1024 fixed test windows) and the same per-pixel L2
normalisation. Every row is the default pipeline without the contrastive term (``alpha=0``, so that
only the recipe varies), fitted with ``net__groups=coords``, with one setting changed. Beside them:
ridge regression (RidgeCV on the mean of the L2-normalised pixels, all training windows) and the
kernel ridge of the reproduction, as the bar. Writes benchmarks/results/recipe_ablation.md (and .csv).
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
from _common import mean_std, windows_or_none, write_csv
from sklearn.metrics import r2_score
from sklearn.pipeline import Pipeline

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor
from hyperspectral_cl._environment import measured_on
from hyperspectral_cl.reproduce import get_preset
from hyperspectral_cl.reproduce.data import training_windows
from hyperspectral_cl.reproduce.models import classical_search, paper_recipe

RESULTS = Path(__file__).resolve().parent / "results"


def settings(backbone):
    """name -> estimator parameters changed from the defaults (alpha=0 throughout)."""
    return {
        "default recipe (ridge blend)": {},
        "ridge='residual' (starts at ridge, learns what it misses)": {"ridge": "residual"},
        "ridge=None (the backbone alone)": {"ridge": None},
        "lr 1e-3 (instead of 3e-3)": {"lr": 1e-3},
        "no early stopping (100 epochs, blend weight 1)": {"early_stopping": False},
        # at 5 x 5 the last maps of li and hamida are 1 x 1: pooling changes nothing there (see --window 10)
        "flattened maps (module__pooling=None)": {"module__pooling": None} if backbone in ("li", "hamida", "atik")
        else None,
        "precision='bf16' (autocast)": {"precision": "bf16"},
        "paper recipe (SGD, lr 3e-3, batch 64, 30 epochs, flattened, no ridge)":
            {**paper_recipe(backbone, lr=3e-3), "batch_size": 64, "max_epochs": 30},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=["synthetic", "samson"])
    parser.add_argument("--backbones", nargs="*", default=["li", "hamida"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--window", type=int, default=None, help="window side (default: the cpu preset's, 5)")
    parser.add_argument("--bands", type=int, default=None, help="approximate band count; 0: every band")
    parser.add_argument("--settings", nargs="*", default=None, help="names (prefixes) of the settings to run")
    parser.add_argument("--classical", nargs="*", default=["ridge, mean of L2-normalised pixels",
                                                           "kernel ridge (RBF), mean spectrum",
                                                           "kernel ridge (RBF), mean of L2-normalised pixels"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "recipe_ablation"))
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.backbones, args.seeds = ["synthetic"], ["li"], 1
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    preset = get_preset("cpu", window=args.window)
    if args.bands is not None:
        preset = replace(preset, bands=args.bands or None)
    rows = []
    for dataset in args.datasets:
        data = windows_or_none(dataset, preset)
        if data is None:
            continue
        X, y, coords, pool, test = (data[k] for k in ("X", "y", "coords", "pool", "test"))
        for seed in range(args.seeds):
            train = training_windows(pool, preset, seed)
            for name in args.classical:
                gs = classical_search(name, X[train], "spatial", preset, coords[train]).fit(X[train], y[train])
                rows.append({"dataset": dataset, "backbone": "classical", "setting": name, "seed": seed,
                             "r2": r2_score(y[test], gs.predict(X[test])), "seconds": np.nan})
            for backbone in args.backbones:
                for name, params in settings(backbone).items():
                    if params is None or (args.settings and not name.startswith(tuple(args.settings))):
                        continue
                    # alpha=0 and L2 spectra throughout, also over paper_recipe's alpha=1 and raw spectra
                    net = ContrastivePatchRegressor(backbone, random_state=seed, **{
                        **params, "alpha": 0.0, "augment": None, "spectrum_norm": "l2"})
                    model = Pipeline([("patches", PatchExtractor(preset.window)), ("net", net)])
                    start = time.perf_counter()
                    model.fit(X[train], y[train], net__groups=coords[train])
                    r2 = r2_score(y[test], model.predict(X[test]))
                    rows.append({"dataset": dataset, "backbone": backbone, "setting": name, "seed": seed, "r2": r2,
                                 "seconds": time.perf_counter() - start, "epochs": len(net.history_),
                                 "best_epoch": net.best_epoch_})
                    print(f"{dataset} {backbone} seed {seed} {name}: R2 {r2:.4f}", flush=True)
    df = pd.DataFrame(rows)
    out = write_csv(df, args.out)
    lines = [f"## Recipe ablation: one change at a time ({preset.window} x {preset.window} windows, spatial split, "
             "alpha=0)", "",
             measured_on(args.threads),
             f"{preset.window} x {preset.window} windows, {'every band' if preset.bands is None else f'about {preset.bands} bands'}, "
             f"{preset.n_train} training windows per seed, {preset.n_test} test "
             f"windows, per-pixel L2 normalisation; R² on the test windows, mean ± std over {args.seeds} seeds "
             "(the same training windows for every row of a seed).", ""]
    for dataset, g in df.groupby("dataset", sort=False):
        backbones = [b for b in dict.fromkeys(g.backbone) if b != "classical"]
        lines += [f"### {dataset}", "", "| setting | " + " | ".join(backbones) + " |",
                  "|---|" + "---:|" * len(backbones)]
        for name in dict.fromkeys(g[g.backbone != "classical"].setting):
            cells = []
            for b in backbones:
                r = g[(g.backbone == b) & (g.setting == name)].r2
                cells.append(mean_std(r))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        for name, r in g[g.backbone == "classical"].groupby("setting", sort=False).r2:
            lines.append(f"| *classical: {name}* | " + " | ".join(
                [mean_std(r)] * len(backbones)) + " |")
        lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
