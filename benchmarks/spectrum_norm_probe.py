"""Does the default backbone need the per-pixel L2 normalisation? ``spectrum_norm=None`` against ``'l2'``.

    python benchmarks/spectrum_norm_probe.py                      # both datasets (about 5 minutes on 2 CPU cores)
    python benchmarks/spectrum_norm_probe.py --datasets synthetic

On the spatial split of the reproduction, at the two input sizes of the benchmarks (the ``cpu`` preset's
5 x 5 windows with binned bands, and the paper's 10 x 10 windows with every band), three seeds fit

    Pipeline([PatchExtractor(S), ContrastivePatchRegressor(random_state=seed, spectrum_norm=norm)])

(every other setting at its default: ``pixel-mlp``, no contrastive term) with ``net__groups=coords``, and
score R² on the fixed test windows. The classical bar for the same windows is in the reproduction tables
and ``paper_size_probe_pixel_mlp.md``. Writes benchmarks/results/spectrum_norm_probe.md (and .csv).
"""

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch
from _common import windows_or_none, write_csv
from sklearn.metrics import r2_score
from sklearn.pipeline import Pipeline

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor
from hyperspectral_cl._environment import measured_on
from hyperspectral_cl.reproduce import get_preset
from hyperspectral_cl.reproduce.data import training_windows

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = {"cpu preset (5 x 5, binned bands)": {}, "paper size (10 x 10, every band)": {"window": 10}}


def run(args):
    rows = []
    for dataset in args.datasets:
        for size, overrides in SIZES.items():
            preset = get_preset("cpu", n_train=args.n_train, n_test=args.n_test, seeds=args.seeds, **overrides)
            if overrides:
                preset = replace(preset, bands=None)
            data = windows_or_none(dataset, preset)
            if data is None:
                break
            X, y, coords, pool, test = (data[k] for k in ("X", "y", "coords", "pool", "test"))
            for seed in range(args.seeds):
                train = training_windows(pool, preset, seed)
                for norm in (None, "l2"):
                    start = time.perf_counter()
                    model = Pipeline([("patches", PatchExtractor(preset.window)),
                                      ("net", ContrastivePatchRegressor(spectrum_norm=norm, random_state=seed))])
                    model.fit(X[train], y[train], net__groups=coords[train])
                    r2 = r2_score(y[test], model.predict(X[test]))
                    rows.append({"dataset": dataset, "size": size, "bands": data["description"]["bands"],
                                 "seed": seed, "spectrum_norm": str(norm), "r2": r2,
                                 "seconds": time.perf_counter() - start})
                    print(f"{dataset} {size} seed {seed} spectrum_norm={norm}: R2 {r2:.4f}", flush=True)
    return pd.DataFrame(rows)


def report(df, args):
    out = write_csv(df, args.out)
    lines = [
        "## The default backbone with and without the per-pixel L2 normalisation", "",
        measured_on(args.threads),
        f"Spatial split of the reproduction; {args.n_train} training windows per seed, {args.n_test} fixed test "
        f"windows; {args.seeds} seeds. `Pipeline([PatchExtractor(S), ContrastivePatchRegressor(spectrum_norm=...)])` "
        "with `net__groups=coords`, every other setting at its default (`pixel-mlp`, no contrastive term). "
        "R² on the test windows, mean ± std over seeds.", "",
        "| dataset | input | spectrum_norm=None | spectrum_norm='l2' |", "|---|---|---:|---:|",
    ]
    for (dataset, size), g in df.groupby(["dataset", "size"], sort=False):
        cells = [f"{r.mean():.3f} ± {r.std():.3f}" for _, r in
                 (("None", g[g.spectrum_norm == "None"].r2), ("l2", g[g.spectrum_norm == "l2"].r2))]
        lines.append(f"| {dataset} | {size} | " + " | ".join(cells) + " |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=["synthetic", "samson"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=384)
    parser.add_argument("--n-test", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS / "spectrum_norm_probe"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    report(run(args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
