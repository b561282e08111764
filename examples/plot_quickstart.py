"""
Quick start: windows, a Pipeline and a grid search
==================================================

Cut overlapping windows from a scene, chain :class:`~hyperspectral_cl.PatchExtractor` and
:class:`~hyperspectral_cl.ContrastivePatchRegressor` in a scikit-learn ``Pipeline``, and search the
contrastive weight ``alpha`` and the label radius ``radius`` with ``GridSearchCV`` on folds that are kept
apart in space. Ridge regression on mean spectra is scored on the same folds, so the network's score can be
read against the baseline a practitioner would try first.

Run it with ``python examples/plot_quickstart.py``: about 20 s on 2 CPU cores.
"""

# %%
# A small synthetic scene
# -----------------------
# :func:`~hyperspectral_cl.make_synthetic_scene` mixes 3 endmember spectra into a 40 x 40 pixel scene
# with 32 bands and known abundances (the targets). :meth:`Scene.windows <hyperspectral_cl.Scene.windows>`
# cuts every 9 x 9 window (stride 1) and labels it with the mean abundances under it; ``coords`` holds
# each window's top-left corner, which the spatial splits below need.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline

from hyperspectral_cl import ContrastivePatchRegressor, MeanSpectrum, PatchExtractor
from hyperspectral_cl.datasets import make_synthetic_scene

scene = make_synthetic_scene(n_endmembers=3, shape=(40, 40), n_bands=32, smoothness=2.0, random_state=0)
X, y, coords = scene.windows(size=9, stride=1)  # X: (n, 9, 9, 32), y: (n, 3) mean abundances
print(f"{len(X)} windows of {X.shape[1:]}, targets {y.shape[1]}")

# %%
# The model: a Pipeline
# ---------------------
# :class:`~hyperspectral_cl.PatchExtractor` crops the central 7 x 7 patch of each window (a grid search
# can tune the patch size); :class:`~hyperspectral_cl.ContrastivePatchRegressor` is a scikit-learn
# regressor around a small network (by default ``'pixel-mlp'``: an MLP on every pixel's spectrum, averaged
# over the patch, after scaling each spectrum to unit norm, which removes a multiplicative illumination
# factor), trained with MSE plus ``alpha`` times a contrastive loss in which windows whose labels lie within
# ``radius`` of each other count as positives. Its default ``alpha='auto'`` leaves the contrastive term out
# when every window is labeled; the grid below tries it both ways. The epoch budget (30) is kept small so
# that the example runs in seconds.
EPOCHS = 30

model = Pipeline([
    ("patchextractor", PatchExtractor(patch_size=7)),
    ("net", ContrastivePatchRegressor(max_epochs=EPOCHS, random_state=0)),
])

# %%
# A grid search on spatial folds
# ------------------------------
# Overlapping windows leak across random folds: a test window shares most of its pixels with its
# training neighbours. Grouping the windows by vertical strips of the scene (``groups``) keeps the folds
# apart. The windows' positions also reach the network (``net__groups=coords``): its early stopping
# then holds out a spatial region rather than random windows.
groups = coords[:, 1] // 10
cv = GroupKFold(2)
search = GridSearchCV(model, {"net__alpha": [0.0, 1.0], "net__radius": [0.01, 0.03]}, cv=cv)
search.fit(X, y, groups=groups, net__groups=coords)
print(f"best parameters: {search.best_params_}, cross-validated R^2: {search.best_score_:.3f}")
print("predictions for 3 windows:\n", np.round(search.predict(X[:3]), 3))

# %%
# The classical baseline on the same folds
# ----------------------------------------
# Ridge regression on each window's mean spectrum (:class:`~hyperspectral_cl.MeanSpectrum`, L2-normalised)
# is scored on exactly the same folds. On a scene this small the network is not expected to beat it: the
# fitted network blends its output with a ridge map of its own, and ``blend_`` says how much of the network
# was kept per target (0 means the network did not beat its ridge on the held-out windows, and the model
# is that ridge).
ridge = make_pipeline(MeanSpectrum(normalize=True), RidgeCV(alphas=np.logspace(-6, 6, 25)))
ridge_scores = cross_val_score(ridge, X, y, groups=groups, cv=cv)
print(f"network (best of the grid): cross-validated R^2 {search.best_score_:.3f}")
print(f"ridge on L2-normalised mean spectra, same folds: R^2 {ridge_scores.mean():.3f}")
blend = getattr(search.best_estimator_[-1], "blend_", None)
if blend is not None:
    print("network share of the refitted model, per target:", np.round(blend, 2))

# %%
# The grid at a glance
# --------------------
# Mean cross-validated R^2 of each grid point, with the ridge baseline as a dashed line.
results = search.cv_results_
labels = [f"alpha={p['net__alpha']:g}\nradius={p['net__radius']:g}" for p in results["params"]]
fig, ax = plt.subplots(figsize=(7, 3.5), constrained_layout=True)
ax.bar(labels, results["mean_test_score"], yerr=results["std_test_score"], color="C0", capsize=4,
       label="network (mean of 2 folds)")
ax.axhline(ridge_scores.mean(), color="k", ls="--", label="ridge on mean spectra")
ax.set_ylabel("cross-validated $R^2$")
ax.set_title(f"Grid search, {EPOCHS} epochs per fit, 2 spatial folds")
ax.legend(loc="lower right", fontsize=8)
plt.show()
