"""The demo: the default network and its contrastive variant against ridge and kernel ridge on a synthetic scene.

Everything is built in memory (no download, no data files) and sized to finish in
a few minutes on 2 CPU cores.
"""

import time

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.pipeline import make_pipeline

from .datasets import make_synthetic_scene
from .estimator import ContrastivePatchRegressor
from .patches import MeanSpectrum, PatchExtractor
from .reproduce import get_preset
from .reproduce.models import classical_search

__all__ = ["run_demo", "spatial_half_split"]


def spatial_half_split(coords, window, width):
    """Train on windows wholly in the left half of the scene, test on the right half.

    Windows that straddle the middle are dropped, so no test window shares a pixel
    with a training window (random splits of overlapping windows leak).

    Returns
    -------
    train, test : ndarray of int
        Indices into the windows.
    """
    half = width // 2
    cols = coords[:, 1]
    return np.flatnonzero(cols + window <= half), np.flatnonzero(cols >= half)


def _kernel_ridge_search(name, X, coords):
    """The reproduction's kernel ridge search: spatial inner folds, random ones on a scene too small for them."""
    preset = get_preset("cpu")
    try:
        return classical_search(name, X, "spatial", preset, coords)
    except ValueError:
        return classical_search(name, X, "random", preset)


def run_demo(
    shape=(64, 64),
    n_bands=64,
    window=9,
    patch_size=None,
    epochs=100,
    backbone="pixel-mlp",
    random_state=0,
    device="cpu",
    verbose=1,
    out=print,
):
    """Train and compare four models on one synthetic scene; print and return the scores.

    Parameters
    ----------
    shape : tuple of int, default=(64, 64)
        Scene size in pixels.
    n_bands : int, default=64
        Number of bands.
    window : int, default=9
        Side of the windows cut from the scene.
    patch_size : int or None, default=None
        Side of the patches the networks see (centre crop of each window);
        None: the whole window, which the classical models see and the labels
        average over.
    epochs : int, default=100
        Epoch budget of each network (early stopping usually ends sooner).
    backbone : str, default='pixel-mlp'
        Backbone of both networks.
    random_state : int, default=0
        Seed of the scene and of the networks.
    device : str, default='cpu'
        Torch device.
    verbose : int, default=1
        1 shows a progress bar per network.
    out : callable, default=print
        Where the report lines go.

    Returns
    -------
    results : dict
        ``{model name: {'r2': float, 'mae': float, 'seconds': float}}``.
    """
    scene = make_synthetic_scene(
        n_endmembers=4, shape=shape, n_bands=n_bands, smoothness=2.0, random_state=random_state
    )
    X, y, coords = scene.windows(window, stride=1, label="mean")
    patch_size = window if patch_size is None else patch_size
    train, test = spatial_half_split(coords, window, shape[1])
    out(
        f"Synthetic scene {shape[0]} x {shape[1]} pixels, {n_bands} bands, 4 endmembers (PPNM mixing, "
        f"SNR 20 dB, Gaussian illumination pattern); {window} x {window} windows labelled with their "
        f"mean abundances; {len(train)} training windows (left half), {len(test)} test windows (right half). "
        + ("Every model sees the whole window." if patch_size == window else
           f"The networks see its centre {patch_size} x {patch_size} pixels, the classical models all of it.")
    )

    def net(**params):
        return ContrastivePatchRegressor(
            backbone, max_epochs=epochs, random_state=random_state, device=device, verbose=verbose, **params
        )

    # the bar: the best linear and nonlinear regressors a practitioner would fit first, tuned by
    # spatial inner folds as the networks' early stopping holds out a spatial region
    krr = "kernel ridge (RBF), mean of L2-normalised pixels"
    default_name, contrastive_name = f"{backbone}, defaults", f"{backbone}, contrastive term (alpha=1, spatial views)"
    models = {
        "ridge on L2-normalised mean spectra": make_pipeline(
            MeanSpectrum(normalize=True), RidgeCV(alphas=np.logspace(-8, 2, 21))
        ),
        krr: _kernel_ridge_search(krr, X[train], coords[train]),
        default_name: make_pipeline(PatchExtractor(patch_size), net()),
        contrastive_name: make_pipeline(PatchExtractor(patch_size), net(alpha=1.0)),
    }
    network_names = {default_name, contrastive_name}
    results = {}
    for name, model in models.items():
        start = time.perf_counter()
        # the networks get the windows' positions: early stopping then holds out a spatial region
        fit_params = {"contrastivepatchregressor__groups": coords[train]} if name in network_names else {}
        model.fit(X[train], y[train], **fit_params)
        pred = model.predict(X[test])
        results[name] = {
            "r2": float(r2_score(y[test], pred)),
            "mae": float(mean_absolute_error(y[test], pred)),
            "seconds": time.perf_counter() - start,
        }
    width = max(len(n) for n in results)
    out("")
    out(f"{'model':<{width}}  {'R^2':>7}  {'MAE':>8}  {'time (s)':>8}")
    for name, r in results.items():
        out(f"{name:<{width}}  {r['r2']:7.3f}  {r['mae']:8.4f}  {r['seconds']:8.1f}")
    networks = {n: r for n, r in results.items() if n in network_names}
    classical = {n: r for n, r in results.items() if n not in network_names}
    best_net = max(networks, key=lambda n: networks[n]["r2"])
    best_classical = max(classical, key=lambda n: classical[n]["r2"])
    gap = networks[best_net]["r2"] - classical[best_classical]["r2"]
    verdict = "above" if gap > 0.005 else "below" if gap < -0.005 else "level with"
    out("")
    out(f"Best network: {best_net} (R^2 {networks[best_net]['r2']:.3f}), {verdict} the best classical model: "
        f"{best_classical} (R^2 {classical[best_classical]['r2']:.3f}). One scene and one seed: compare on your "
        "own data, with a spatial split, before trusting either.")
    return results
