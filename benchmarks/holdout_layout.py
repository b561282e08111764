"""What the early-stopping hold-out's layout costs the default network on densely labelled windows.

    python benchmarks/holdout_layout.py              # the demo's scene, seeds 0-4 (about 5 min on 2 cores)
    python benchmarks/holdout_layout.py --seeds 2    # fewer seeds

The demo's setting: a 64 x 64 synthetic scene (64 bands, 4 endmembers), every 9 x 9 window of the left
half labelled with its mean abundances (1,344 overlapping windows, stride 1), tested on the right half. The
default network (``ContrastivePatchRegressor()`` on whole windows, positions given) holds out part of its
training windows for early stopping and the ridge blend, and drops the windows within a half-patch buffer of
them. Rows: the hold-out the estimator uses now (``spatial_holdout(layout='auto')``: of four edge strips and
eight block draws, the one that leaves the most training windows while keeping every target's spread), an
edge strip alone (``'strip'``) and the former hold-out (one random draw of blocks of a 3 x 3 grid,
``'blocks'``), beside ridge and an RBF kernel ridge on the mean of L2-normalised pixels (the demo's classical
rows, tuned by spatial inner folds). Also: how many windows the network trained on.

Writes benchmarks/results/holdout_layout.md (and .csv).
"""

import argparse
import functools
import sys
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline

import hyperspectral_cl.estimator as estimator_module
from hyperspectral_cl import ContrastivePatchRegressor, MeanSpectrum, PatchExtractor, make_synthetic_scene
from hyperspectral_cl._environment import measured_on
from hyperspectral_cl.demo import _kernel_ridge_search, spatial_half_split
from hyperspectral_cl.model_selection import spatial_holdout

RESULTS = Path(__file__).resolve().parent / "results"
KRR = "kernel ridge (RBF), mean of L2-normalised pixels"


def default_network(layout, X, y, coords, seed):
    """The default network fitted with the given hold-out layout; returns (model, training windows)."""
    model = make_pipeline(PatchExtractor(X.shape[1]), ContrastivePatchRegressor(random_state=seed))
    holdout = functools.partial(spatial_holdout, layout=layout)
    # the estimator calls spatial_holdout with its default layout; the others are patched in for comparison
    with mock.patch.object(estimator_module, "spatial_holdout", holdout):
        model.fit(X, y, contrastivepatchregressor__groups=coords)
    return model, len(model[-1].training_indices_)


def run(seed, window=9, shape=(64, 64)):
    scene = make_synthetic_scene(n_endmembers=4, shape=shape, n_bands=64, smoothness=2.0, random_state=seed)
    X, y, coords = scene.windows(window, stride=1, label="mean")
    train, test = spatial_half_split(coords, window, shape[1])
    rows = []
    ridge = make_pipeline(MeanSpectrum(normalize=True), RidgeCV(alphas=np.logspace(-8, 2, 21)))
    krr = _kernel_ridge_search(KRR, X[train], coords[train])
    for name, model in (("ridge on L2-normalised mean spectra", ridge), (KRR, krr)):
        model.fit(X[train], y[train])
        rows.append({"seed": seed, "model": name, "r2": r2_score(y[test], model.predict(X[test])),
                     "trained_on": len(train)})
    for layout in ("auto", "strip", "blocks"):
        model, n_fit = default_network(layout, X[train], y[train], coords[train], seed)
        rows.append({"seed": seed, "model": f"default network, hold-out '{layout}'",
                     "r2": r2_score(y[test], model.predict(X[test])), "trained_on": n_fit})
    return rows


def report(df, seeds):
    pivot = df.pivot(index="model", columns="seed", values="r2")
    order = list(dict.fromkeys(df["model"]))
    pivot = pivot.loc[order]
    n_fit = df.pivot(index="model", columns="seed", values="trained_on").loc[order]
    lines = [
        "## The early-stopping hold-out's layout on densely labelled windows",
        "",
        f"{measured_on(torch.get_num_threads())} The demo's scene (64 x 64 "
        "pixels, 64 bands, 4 endmembers), seeds "
        f"{', '.join(map(str, seeds))} (a seed draws the scene and seeds the network); every 9 x 9 window of the "
        "left half trains (1,344, stride 1), the right half tests (1,344). Test R² per seed; in brackets the "
        "windows the model trained on (the network's others were held out or fell in the buffer).",
        "",
        "| model | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
        "|---|" + "---:|" * (len(seeds) + 1),
    ]
    for model in order:
        cells = [f"{pivot.loc[model, s]:.3f} ({n_fit.loc[model, s]})" for s in seeds]
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {pivot.loc[model].mean():.3f} |")
    best_classical = pivot.iloc[:2].max(axis=0)
    default = pivot.loc["default network, hold-out 'auto'"]
    above = int((default > best_classical + 0.005).sum())
    below = int((default < best_classical - 0.005).sum())
    lines += ["", f"Default network (hold-out 'auto') against the better classical row per seed: above on {above}, "
              f"below on {below}, level on {len(seeds) - above - below} of {len(seeds)} seeds; mean "
              f"{default.mean():.3f} against {best_classical.mean():.3f}."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "holdout_layout"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    seeds = list(range(args.seeds))
    rows = []
    for seed in seeds:
        rows += run(seed)
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out.with_suffix(".csv"), index=False)
    text = report(df, seeds)
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
