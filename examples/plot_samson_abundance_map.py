"""
From the Samson scene to an abundance map, with an honest spatial hold-out
==========================================================================

Load the Samson scene (95 x 95 pixels, 156 bands over 401-889 nm; soil, tree and water), cut one 5 x 5
window per pixel, hold out the bottom quarter of the scene with :class:`~hyperspectral_cl.SpatialBlockSplit`,
train a small ``'li'`` network with a simplex head, map the whole scene with
:func:`~hyperspectral_cl.predict_map`, and score the held-out strip next to ridge regression on the same
split (and, for contrast, ridge on a leaky random split).

Run it with ``python examples/plot_samson_abundance_map.py [PATH] [--epochs 10] [--out FILE]``: about 25 s on
2 CPU cores at the default 10 epochs. The figure in the README (``docs/samson_abundance_map.png``) uses
these same default settings, on the real Samson files; it is written with::

    python examples/plot_samson_abundance_map.py --out docs/samson_abundance_map.png

Data: ``PATH`` is a Samson ``.mat`` file or a folder holding one (see
:func:`~hyperspectral_cl.datasets.load_samson` for the layouts). Without it, ``samson/`` is looked up in the
folder named by the ``HYPERSPECTRAL_CL_DATA`` environment variable, then in ``../shared/data`` beside the repository.
When neither holds it (a fresh install, or the machine that builds this documentation), a **synthetic scene
of the same size** stands in for Samson, and the printed output and the figure title say so.
"""

# %%
# Settings
# --------
# The options only matter when the file is run as a script; the documentation build runs it with none.
import argparse
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from hyperspectral_cl import ContrastivePatchRegressor, MeanSpectrum, PatchExtractor, SpatialBlockSplit, predict_map
from hyperspectral_cl.datasets import load_samson, make_synthetic_scene
from hyperspectral_cl.model_selection import test_overlap_fraction
from hyperspectral_cl.plotting import plot_abundance_maps

try:
    REPO = Path(__file__).resolve().parents[1]
except NameError:  # sphinx-gallery runs the file without __file__, from the examples folder
    REPO = Path.cwd().resolve().parent

parser = argparse.ArgumentParser(description="Samson: a predicted abundance map with a spatial hold-out.")
parser.add_argument("path", nargs="?", default=None, help="Samson .mat file or folder (default: looked up)")
parser.add_argument("--epochs", type=int, default=10, help="epoch budget (default 10)")
parser.add_argument("--window", type=int, default=5, help="window side in pixels (default 5)")
parser.add_argument("--out", default=None, help="also save the figure there (e.g. docs/samson_abundance_map.png)")
parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
args, _ = parser.parse_known_args()
torch.set_num_threads(args.threads)

# %%
# The scene
# ---------
# :func:`~hyperspectral_cl.datasets.load_samson` reads the common ``.mat`` layouts into a
# :class:`~hyperspectral_cl.Scene` with the cube, the ground-truth abundances and the wavelengths. If the
# files are not found, a synthetic scene of Samson's size (3 spatially smooth endmembers, 156 bands over
# 401-889 nm) takes its place, so that the example runs anywhere; its numbers say nothing about Samson.
if args.path is not None:
    path = Path(args.path)
    if not path.exists():
        raise SystemExit(f"Samson data not found at {path}: pass a Samson .mat file or a folder holding one")
else:
    folders = [Path(d) for d in [os.environ.get("HYPERSPECTRAL_CL_DATA")] if d] + [REPO.parent / "shared" / "data"]
    path = next((d / "samson" for d in folders if (d / "samson").exists()), None)

scene = load_samson(path) if path is not None else None
if scene is not None and scene.targets is None:
    if args.path is not None:
        raise SystemExit(f"{path} has no ground-truth abundances; use a file or folder that holds them")
    print(f"{path} holds no ground-truth abundances: using a synthetic scene instead")
    scene = None
if scene is not None:
    name = "Samson"
else:
    name = "synthetic stand-in for Samson (Samson files not found)"
    print("Samson files not found (pass PATH, or set HYPERSPECTRAL_CL_DATA to a folder holding samson/): "
          "using a SYNTHETIC scene of the same size instead; the scores below are not Samson's")
    scene = make_synthetic_scene(n_endmembers=3, shape=(95, 95), n_bands=156, smoothness=2.0,
                                 wavelengths=np.linspace(401.0, 889.0, 156), random_state=0)
h, w, n_bands = scene.shape
print(f"{name}: {h} x {w} pixels, {n_bands} bands, targets {scene.target_names}")

# %%
# Windows and a spatial hold-out
# ------------------------------
# One 5 x 5 window per pixel (reflected at the border), labelled with its centre pixel's abundances. The
# scene is cut into 4 horizontal strips and the bottom one is held out: every strip of Samson holds all
# three materials (vertical ones do not: water is on one side). Windows within the buffer of the held-out
# strip are used for neither training nor testing, so no test window shares a pixel with a training window.
size = args.window
X, y, coords = scene.windows(size, label="center", border="reflect")
cv = SpatialBlockSplit(size, n_blocks=(4, 1))
train, test = list(cv.split(X, y, groups=coords))[-1]  # the bottom strip
assert test_overlap_fraction(train, test, coords, size) == 0.0
print(f"{len(X)} windows {size} x {size}; held-out bottom strip: {len(test)} test windows, "
      f"{len(train)} training windows, {len(X) - len(train) - len(test)} unused in the buffer")

# %%
# The network
# -----------
# A small ``'li'`` network (4 feature planes) with a simplex head, so that the predicted abundances stay
# non-negative and sum to one; spectra are L2-normalised per pixel and no augmentation is used. The
# windows' positions (``groups``) make its early stopping hold out a spatial region of the training area.
start = time.perf_counter()
model = make_pipeline(
    PatchExtractor(size),
    ContrastivePatchRegressor("li", module__n_planes=4, module__head="simplex", spectrum_norm="l2", augment=None,
                              batch_size=128, max_epochs=args.epochs, random_state=0),
)
model.fit(X[train], y[train], contrastivepatchregressor__groups=coords[train])
fit_seconds = time.perf_counter() - start

# %%
# A map of the whole scene
# ------------------------
# :func:`~hyperspectral_cl.predict_map` predicts one window per pixel in bounded memory (the window size
# comes from the PatchExtractor); the held-out strip's scores are read off the map at the test windows'
# centres.
start = time.perf_counter()
abundance_map = predict_map(model, scene, batch_size=2048)
map_seconds = time.perf_counter() - start
rows = coords[test, 0] + size // 2
cols = coords[test, 1] + size // 2
r2 = r2_score(y[test], abundance_map[rows, cols])
mae = mean_absolute_error(y[test], abundance_map[rows, cols])

# %%
# The classical baseline, on the same split
# -----------------------------------------
# Ridge regression on L2-normalised mean spectra, trained and tested on exactly the same windows. For
# contrast, the same ridge on a random 75/25 split of the windows: its test windows share pixels with its
# training windows, and its score is optimistic.
ridge = make_pipeline(MeanSpectrum(normalize=True), RidgeCV(alphas=np.logspace(-8, 2, 21)))
ridge_pred = ridge.fit(X[train], y[train]).predict(X[test])
tr, te = train_test_split(np.arange(len(X)), test_size=0.25, random_state=0)
leaky = ridge.fit(X[tr], y[tr]).predict(X[te])
leak = test_overlap_fraction(tr, te, coords, size)

print(f"\n{name}")
print(f"{'model (held-out strip)':<48} {'R^2':>6} {'MAE':>7}")
print(f"{'li network, simplex head, ' + str(args.epochs) + ' epochs':<48} {r2:6.3f} {mae:7.4f}"
      f"   (fit {fit_seconds:.0f} s, full map {map_seconds:.1f} s)")
print(f"{'ridge on L2-normalised mean spectra':<48} {r2_score(y[test], ridge_pred):6.3f} "
      f"{mean_absolute_error(y[test], ridge_pred):7.4f}")
print(f"{'ridge, random 75/25 split (leaky, for contrast)':<48} {r2_score(y[te], leaky):6.3f} "
      f"{mean_absolute_error(y[te], leaky):7.4f}   ({leak:.0%} of its test windows share pixels with training)")

# %%
# Truth, prediction and error
# ---------------------------
# One row per material; the dashed rectangle is the held-out strip. Truth and prediction share one colour
# scale, the absolute errors another.
top = int(rows.min())
fig = plot_abundance_maps(
    scene, abundance_map, highlight=(top, 0, h - top, w),
    title=f"{name}\nheld-out strip (dashed): li network ({args.epochs} epochs) R^2 = {r2:.3f}, MAE = {mae:.3f}; "
          f"ridge R^2 = {r2_score(y[test], ridge_pred):.3f}, MAE = {mean_absolute_error(y[test], ridge_pred):.3f}",
)
if args.out:
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110, bbox_inches="tight")
    print(f"\nwrote {args.out}")
plt.show()
