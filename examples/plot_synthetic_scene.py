"""
Why random splits of overlapping windows leak
=============================================

The synthetic scene of the paper's section 4.1, cut into overlapping windows, cross-validated twice:
with random folds and with :class:`~hyperspectral_cl.SpatialBlockSplit`. For ridge regression on mean
spectra (raw and L2-normalised) the script prints, for each splitter, the share of test windows that share
pixels with training windows, the share of windows left unused in the buffer between training and test
blocks, and R^2 / MAE. The Samson scene gets the same table when its files are found.

Run it with ``python examples/plot_synthetic_scene.py [--usgs PATH] [--samson PATH] [--window 10]
[--out endmembers.png]``: about 15 s on 2 CPU cores at the paper's settings (100 x 100 pixels, 224 bands,
10 x 10 windows), the Samson table included; it needs about 1.5 GB of memory.

Data: the endmembers are drawn from the USGS library (``usgs_library/USGS_1995_Library.mat``) and Samson
is read from ``samson/``, both looked up first in the folder named by the ``HYPERSPECTRAL_CL_DATA`` environment
variable, then in ``../shared/data`` beside the repository. Without them the built-in spectra generator
is used and the Samson table is skipped.
"""

# %%
# Settings and data
# -----------------
# The options only matter when the file is run as a script; the documentation build runs it with none.
import argparse
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold, cross_validate

from hyperspectral_cl import MeanSpectrum, SpatialBlockSplit
from hyperspectral_cl.datasets import load_samson, load_usgs_library, make_synthetic_scene
from hyperspectral_cl.model_selection import leakage_report
from hyperspectral_cl.plotting import plot_spectra

try:
    REPO = Path(__file__).resolve().parents[1]
except NameError:  # sphinx-gallery runs the file without __file__, from the examples folder
    REPO = Path.cwd().resolve().parent
DATA_DIRS = [Path(d) for d in [os.environ.get("HYPERSPECTRAL_CL_DATA")] if d] + [REPO.parent / "shared" / "data"]


def find(relative):
    """The first existing ``folder / relative`` among the data folders, else None."""
    return next((d / relative for d in DATA_DIRS if (d / relative).exists()), None)


parser = argparse.ArgumentParser(description="Random vs spatial cross-validation of overlapping windows.")
parser.add_argument("--usgs", default=None, help="USGS_1995_Library.mat (default: looked up, see above)")
parser.add_argument("--samson", default=None, help="Samson .mat file or folder (default: looked up)")
parser.add_argument("--window", type=int, default=10, help="window side in pixels (default 10, the paper's)")
parser.add_argument("--out", default=None, help="also save the endmember figure there")
args, _ = parser.parse_known_args()

usgs = Path(args.usgs) if args.usgs else find("usgs_library/USGS_1995_Library.mat")
samson = Path(args.samson) if args.samson else find("samson")
window = args.window

# %%
# The paper's synthetic scene
# ---------------------------
# 100 x 100 pixels, 224 bands, 4 endmembers mixed with the polynomial post-nonlinear model (PPNM), 20 dB
# noise and a Gaussian illumination pattern (:func:`~hyperspectral_cl.make_synthetic_scene`). The
# abundances are independent from pixel to pixel, as in the paper.
endmembers = load_usgs_library(usgs) if usgs is not None and usgs.is_file() else None
scene = make_synthetic_scene(4, shape=(100, 100), n_bands=224, endmembers=endmembers, random_state=0)
source = f"USGS spectra from {usgs.name}" if endmembers is not None else "built-in spectra generator"
print(f"synthetic scene, {source}: {', '.join(scene.target_names)}")

fig = plot_spectra(scene, title=f"synthetic scene endmembers ({source})")
if args.out:
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100, bbox_inches="tight")
    print(f"wrote {args.out}")
plt.show()

# %%
# Windows, features and the two splitters
# ---------------------------------------
# Every 10 x 10 window (stride 1) is cut and labelled with the mean abundances under it, the paper's
# protocol. The classical feature is each window's mean spectrum (:class:`~hyperspectral_cl.MeanSpectrum`).
# MeanSpectrum has nothing to learn (its ``fit`` only records the band count), so it is applied once here,
# in chunks to keep memory low, instead of inside every fold: the scores are the same as those of
# ``make_pipeline(MeanSpectrum(), RidgeCV(...))`` cross-validated on the windows.
#
# ``leakage_report`` counts, fold by fold, the test windows that share a pixel with a training window.
# With random folds nearly all do: the neighbours of a test window, shifted by a pixel or two, are in
# training. :class:`~hyperspectral_cl.SpatialBlockSplit` cuts the scene into blocks, tests on one block and
# leaves the windows straddling the block edge (the buffer) unused, so that no test window shares a pixel
# with training.


def mean_spectra(X, normalize):
    """MeanSpectrum(normalize) of every window, 1024 windows at a time."""
    transform = MeanSpectrum(normalize=normalize).fit(X[:1])
    return np.concatenate([transform.transform(X[i:i + 1024]) for i in range(0, len(X), 1024)])


def compare(name, scene, window, n_blocks):
    """Print the random-vs-spatial table of one scene; return its scores and one fold of each splitter."""
    X, y, coords = scene.windows(window, stride=1, label="mean")
    features = {"ridge": mean_spectra(X, False), "L2 ridge": mean_spectra(X, True)}
    del X
    splitters = {
        "random 5-fold": KFold(5, shuffle=True, random_state=0),
        f"spatial {n_blocks[0]} x {n_blocks[1]} blocks": SpatialBlockSplit(window, n_blocks=n_blocks),
    }
    print(f"\n{name}: {len(y)} windows of {window} x {window}, patch-mean labels")
    print(f"{'split':<22} {'leaking test windows':>21} {'unused':>7} {'ridge R^2':>10} {'ridge MAE':>10} "
          f"{'L2 ridge R^2':>13} {'L2 ridge MAE':>13}")
    scores, folds = {}, {}
    for split_name, cv in splitters.items():
        report = leakage_report(cv, coords, window)
        leak = np.mean([f["test_overlap"] for f in report])
        unused = np.mean([f["n_unused"] for f in report]) / len(y)
        groups = coords if isinstance(cv, SpatialBlockSplit) else None  # KFold warns when given groups
        row = []
        for model_name, F in features.items():
            res = cross_validate(RidgeCV(alphas=np.logspace(-8, 2, 21)), F, y, groups=groups, cv=cv,
                                 scoring=("r2", "neg_mean_absolute_error"))
            row += [res["test_r2"].mean(), -res["test_neg_mean_absolute_error"].mean()]
            scores[split_name, model_name] = res["test_r2"].mean()
        folds[split_name] = next(iter(cv.split(y, y, groups=groups)))
        print(f"{split_name:<22} {leak:>21.0%} {unused:>7.0%} {row[0]:>10.3f} {row[1]:>10.4f} {row[2]:>13.3f} "
              f"{row[3]:>13.4f}")
    return scores, folds, coords


results = {"synthetic": compare("synthetic (paper section 4.1)", scene, window, (2, 2))}

# %%
# Samson, when its files are found
# ---------------------------------
# Horizontal strips: water lies along one side of Samson, so a vertical strip or a quadrant can hold almost
# none, and R^2 averaged over the targets is then dominated by that near-constant target.
if samson is not None and samson.exists():
    results["Samson"] = compare("Samson", load_samson(samson), window, (4, 1))
else:
    print("\nSamson files not found (set HYPERSPECTRAL_CL_DATA to a folder holding samson/): Samson table skipped")

# %%
# One fold of each splitter
# -------------------------
# Where the first fold's training and test windows lie (each window drawn at its top-left corner). The
# random fold scatters test windows among training windows; the spatial fold tests on one block and leaves
# a buffer unused.
scores, folds, coords = results["synthetic"]
n_rows, n_cols = coords.max(axis=0) + 1
fig, axes = plt.subplots(1, len(folds), figsize=(8, 4), constrained_layout=True)
for ax, (split_name, (train, test)) in zip(axes, folds.items(), strict=True):
    roles = np.full((n_rows, n_cols), np.nan)  # NaN: unused (the buffer)
    roles[coords[train, 0], coords[train, 1]] = 0
    roles[coords[test, 0], coords[test, 1]] = 1
    ax.imshow(roles, cmap="coolwarm", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(f"{split_name}, fold 1\nblue: training, red: test, white: unused", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()

# %%
# The scores side by side
# -----------------------
# The random folds' R^2 is the optimistic one: it rewards recognising a test window's overlapping
# neighbours, not predicting a new region.
fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 3.5), constrained_layout=True,
                         squeeze=False)
for ax, (name, (scores, _, _)) in zip(axes[0], results.items(), strict=True):
    split_names = list(dict.fromkeys(s for s, _ in scores))
    for k, model_name in enumerate(["ridge", "L2 ridge"]):
        ax.bar(np.arange(len(split_names)) + 0.4 * k - 0.2, [scores[s, model_name] for s in split_names], 0.4,
               label=model_name)
    ax.set_xticks(range(len(split_names)), split_names, fontsize=8)
    ax.set_ylabel("cross-validated $R^2$")
    ax.set_title(name)
    ax.set_ylim(0, 1.1)
    ax.legend(fontsize=8, loc="upper right", ncols=2)
plt.show()
