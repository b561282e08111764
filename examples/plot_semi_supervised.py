"""
Few labels, many unlabeled pixels: semi-supervised training against ridge
=========================================================================

A synthetic scene stands in for a field campaign: a few dozen labeled pixels (the "samples") in the left two
thirds of the scene, every other pixel unlabeled. Three models are scored on the right third, which none of
them saw labels from: ridge regression on mean spectra, the network trained on the labeled windows only, and
the network trained semi-supervised, with unlabeled patches drawn from the left two thirds only (the
inductive setting: the test region's pixels stay out of training).

With a few dozen labels the networks' held-out windows rarely favour them over their built-in ridge map, and
the blend then falls back to that ridge (network share 0): the honest outcome, printed so that it is not
mistaken for a network result.

Run it with ``python examples/plot_semi_supervised.py [--labels 60] [--epochs 100]``: about 10 s on 2 CPU
cores.
"""

# %%
# Settings
# --------
# The options only matter when the file is run as a script; the documentation build runs it with none.
import argparse
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hyperspectral_cl import ContrastivePatchRegressor, MeanSpectrum, PatchExtractor
from hyperspectral_cl.datasets import make_synthetic_scene

parser = argparse.ArgumentParser(description="Semi-supervised training against ridge regression.")
parser.add_argument("--labels", type=int, default=60, help="labeled pixels (default 60)")
parser.add_argument("--epochs", type=int, default=100, help="epoch budget of the networks (default 100)")
args, _ = parser.parse_known_args()

# %%
# A field campaign on a synthetic scene
# -------------------------------------
# 60 x 60 pixels, 48 bands, 3 spatially smooth endmembers. Columns 0-39 are the campaign area: the labeled
# pixels are drawn there, and :meth:`Scene.labeled_windows <hyperspectral_cl.Scene.labeled_windows>` cuts a
# 5 x 5 window around each, labelled with its centre pixel. The test windows lie in columns 45-59, one
# window width away from the campaign area, so that no test window shares a pixel with a labeled one.
size = 5
scene = make_synthetic_scene(n_endmembers=3, shape=(60, 60), n_bands=48, smoothness=2.0, random_state=0)
rng = np.random.default_rng(0)
cut = 40  # columns [0, 40) are the campaign area, [40 + size, 60) the test area
pixels = np.stack([rng.integers(0, 60, args.labels), rng.integers(0, cut - size // 2 - 1, args.labels)], axis=1)
X, y, coords = scene.labeled_windows(pixels, size=size)

test_corners = np.stack(np.meshgrid(np.arange(0, 60 - size + 1), np.arange(cut + size, 60 - size + 1),
                                    indexing="ij"), axis=-1).reshape(-1, 2)
X_test, y_test, _ = scene.windows(size, positions=test_corners, label="center")

# %%
# The unlabeled pool
# ------------------
# :meth:`Scene.unlabeled_patches <hyperspectral_cl.Scene.unlabeled_patches>` serves every window of the
# campaign area, cut on demand (memory: the cube plus a batch); ``exclude`` masks the window corners of the
# test side.
exclude = np.zeros((60 - size + 1, 60 - size + 1), dtype=bool)
exclude[:, cut - size + 1:] = True
pool = scene.unlabeled_patches(size, exclude=exclude)
print(f"{args.labels} labeled windows, {len(pool)} unlabeled ones in the same area, "
      f"{len(X_test)} test windows in the held-out area")

# %%
# Three models, one test area
# ---------------------------
# The networks get the labeled windows' positions (``groups=coords``) so that their early stopping holds
# out a spatial region; the semi-supervised one also gets the pool (``unlabeled=pool``).
#
# "network share" is the blend weight w of ``ridge + w (network - ridge)``, chosen per target on the
# network's held-out windows (``blend_``): 0 means the network did not beat its ridge there, and the model
# is that ridge.


def net(**params):
    return make_pipeline(PatchExtractor(size), ContrastivePatchRegressor(
        "li", spectrum_norm="l2", max_epochs=args.epochs, random_state=0, **params))


models = {
    "ridge on L2-normalised mean spectra": (make_pipeline(
        MeanSpectrum(normalize=True), StandardScaler(), RidgeCV(alphas=np.logspace(-6, 6, 25))), {}),
    "network, labeled windows only": (net(), {"contrastivepatchregressor__groups": coords}),
    "network, semi-supervised (unlabeled pool)": (
        net(semi_supervised=True),
        {"contrastivepatchregressor__groups": coords, "contrastivepatchregressor__unlabeled": pool}),
}
scores = {}
print(f"\n{'model':<44} {'R^2':>6}  {'time (s)':>8}  network share")
for name, (model, fit_params) in models.items():
    start = time.perf_counter()
    model.fit(X, y, **fit_params)
    scores[name] = r2_score(y_test, model.predict(X_test))
    blend = getattr(model[-1], "blend_", None)
    share = "" if blend is None else " ".join(f"{w:.2f}" for w in blend)
    print(f"{name:<44} {scores[name]:6.3f}  {time.perf_counter() - start:8.1f}  {share}")

# %%
# Where the labels are, and the scores
# ------------------------------------
# Left: the first abundance map with the labeled pixels (white) and the test area (dashed). Right: the test
# R^2 of each model.
fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True, width_ratios=[1, 1.2])
axes[0].imshow(scene.targets[..., 0], cmap="viridis", interpolation="nearest")
axes[0].scatter(pixels[:, 1], pixels[:, 0], s=12, c="w", edgecolors="k", linewidths=0.5)
axes[0].add_patch(plt.Rectangle((cut + size - 0.5, -0.5), 60 - cut - size, 60, fill=False, ec="w", ls="--"))
axes[0].set_title(f"{args.labels} labeled pixels (white), test area (dashed)", fontsize=10)
axes[0].set_xlabel(f"true abundance of {scene.target_names[0]}", fontsize=9)
axes[0].set_xticks([])
axes[0].set_yticks([])
axes[1].barh(list(scores)[::-1], list(scores.values())[::-1], color=["C2", "C1", "C0"])
axes[1].set_xlabel("$R^2$ on the test area")
axes[1].tick_params(axis="y", labelsize=8)
plt.show()
