"""The models compared: the five backbones x four variants, and the classical regressors beside them."""

import numpy as np
import torch
from sklearn.cross_decomposition import PLSRegression
from sklearn.ensemble import RandomForestRegressor
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ..augment import make_augmentation
from ..backbones import MapBackbone, get_backbone
from ..estimator import ContrastivePatchRegressor
from ..losses import radius_from_quantile
from ..model_selection import SpatialBlockSplit
from ..patches import MeanSpectrum, PatchExtractor
from .presets import LITERAL_VARIANTS, VARIANTS

__all__ = [
    "CLASSICAL",
    "classical_search",
    "deep_pipeline",
    "inner_cv",
    "mean_of_normalised_pixels",
    "paper_recipe",
    "radius_grid",
    "search_grid",
]

RIDGE_ALPHAS = np.logspace(-6, 3, 10)
MAX_PLS_COMPONENTS = 20


def flatten_windows(X):
    """``(n, h, w, bands) -> (n, h * w * bands)``: the flattened-patch feature."""
    X = np.asarray(X)
    return X.reshape(len(X), -1)


def mean_of_normalised_pixels(X):
    """``(n, h, w, bands) -> (n, bands)``: the mean of the windows' pixel spectra, each scaled to unit L2 norm.

    What the networks' ridge part sees with ``spectrum_norm='l2'`` (before its
    band standardisation): averaging after normalising weighs every pixel
    equally, where the L2-normalised mean spectrum weighs bright pixels more.
    """
    X = np.asarray(X, dtype=np.float64)
    norm = np.linalg.norm(X, axis=-1, keepdims=True)
    return (X / np.maximum(norm, np.finfo(np.float64).tiny)).mean(axis=(1, 2))


def _features(kind):
    if kind == "mean":
        return MeanSpectrum(normalize=False)
    if kind == "l2":
        return MeanSpectrum(normalize=True)
    if kind == "pixel-l2":
        return FunctionTransformer(mean_of_normalised_pixels)
    return FunctionTransformer(flatten_windows)


#: name -> (feature kind, regressor). Features: 'mean' spectrum, 'l2' the L2-normalised mean spectrum,
#: 'pixel-l2' the mean of L2-normalised pixel spectra, 'flat' the flattened window.
CLASSICAL = {
    "ridge, mean spectrum": ("mean", "ridge"),
    "ridge, L2-normalised mean spectrum": ("l2", "ridge"),
    "ridge, mean of L2-normalised pixels": ("pixel-l2", "ridge"),
    "ridge, flattened window": ("flat", "ridge"),
    "PLS, mean spectrum": ("mean", "pls"),
    "PLS, L2-normalised mean spectrum": ("l2", "pls"),
    "PLS, flattened window": ("flat", "pls"),
    "kernel ridge (RBF), mean spectrum": ("mean", "krr"),
    "kernel ridge (RBF), L2-normalised mean spectrum": ("l2", "krr"),
    "kernel ridge (RBF), mean of L2-normalised pixels": ("pixel-l2", "krr"),
    "random forest, mean spectrum": ("mean", "forest"),
    "random forest, L2-normalised mean spectrum": ("l2", "forest"),
}

#: RBF kernel widths, as multiples of 1 / n_features (the standardised features' natural scale)
KRR_GAMMAS = np.logspace(-3, 1, 5)
KRR_ALPHAS = np.logspace(-5, 0, 6)


def paper_recipe(backbone, lr=1e-3):
    """The training recipe of the paper (and of this package before 0.2): estimator parameters.

    The contrastive term at weight 1, SGD with momentum 0.9 at a fixed rate, batch
    256, the published architectures (flattened maps, no pooling), no per-pixel
    spectrum normalisation, no ridge skip connection, no early stopping, no
    learning-rate schedule and no gradient clipping. Inputs are still standardised
    per band (as ``PatchExtractor(standardize=True)`` did before 0.2).

    Parameters
    ----------
    backbone : str or class
        The backbone (``pooling`` is only set on those that have it).
    lr : float, default=1e-3
        The fixed learning rate (the package's former default).

    Returns
    -------
    dict
        Keyword arguments of :class:`~hyperspectral_cl.ContrastivePatchRegressor`.
    """
    params = dict(alpha=1.0, spectrum_norm=None, optimizer=torch.optim.SGD, optimizer__momentum=0.9, lr=lr,
                  batch_size=256, ridge=None, early_stopping=False, callbacks__lr_schedule=None,
                  callbacks__gradient_clipping=None)
    if issubclass(get_backbone(backbone), MapBackbone):
        params["module__pooling"] = None
    return params


def inner_cv(split, preset):
    """The inner cross-validation of a split: shuffled KFold, or spatial blocks for the spatial split.

    Returns
    -------
    cv : cross-validator
        Called with ``groups=coords`` (ignored by KFold).
    """
    if split == "spatial":
        return SpatialBlockSplit(preset.window, n_blocks=(2, 2), n_splits=preset.inner_folds, shuffle=True,
                                 random_state=0)
    return KFold(preset.inner_folds, shuffle=True, random_state=0)


def classical_search(name, X, split, preset, coords=None):
    """A GridSearchCV of a classical baseline, tuned by the split's inner CV.

    Ridge: ``alpha``; PLS: the number of components; kernel ridge (RBF):
    ``alpha`` and ``gamma``; random forest (200 trees): ``max_features`` and
    ``min_samples_leaf``. The inner folds are computed here (``coords`` for the
    spatial split), so that the PLS component grid stops at the smallest inner
    training fold. Returns None when the flattened window exceeds
    ``preset.max_flat_features``.
    """
    kind, regressor = CLASSICAL[name]
    n_features = int(np.prod(X.shape[1:])) if kind == "flat" else X.shape[-1]
    if kind == "flat" and n_features > preset.max_flat_features:
        return None
    folds = list(inner_cv(split, preset).split(X, groups=coords if split == "spatial" else None))
    steps = [("features", _features(kind)), ("scale", StandardScaler())]
    if regressor == "ridge":
        steps.append(("model", Ridge()))
        grid = {"model__alpha": RIDGE_ALPHAS}
    elif regressor == "pls":
        most = min(MAX_PLS_COMPONENTS, n_features, min(len(tr) for tr, _ in folds) - 1)
        steps.append(("model", PLSRegression(scale=False)))
        grid = {"model__n_components": list(range(1, max(1, most) + 1))}
    elif regressor == "krr":
        steps.append(("model", KernelRidge(kernel="rbf")))
        grid = {"model__alpha": KRR_ALPHAS, "model__gamma": KRR_GAMMAS / n_features}
    else:
        steps.append(("model", RandomForestRegressor(n_estimators=200, random_state=0, n_jobs=1)))
        grid = {"model__max_features": [0.33, 1.0], "model__min_samples_leaf": [1, 5]}
    return GridSearchCV(Pipeline(steps), grid, cv=folds, scoring="r2", n_jobs=1)


def radius_grid(y, quantiles):
    """Radii at given quantiles of the pairwise Euclidean distances between targets."""
    return [float(r) for r in radius_from_quantile(y, quantiles)]


def search_grid(preset, y):
    """The GridSearchCV grid of a deep pipeline over alpha, radius and temperature."""
    return {
        "net__alpha": list(preset.alphas),
        "net__radius": radius_grid(y, preset.radius_quantiles),
        "net__temperature": list(preset.temperatures),
    }


def deep_pipeline(backbone, variant, preset, *, seed, wavelengths, device="cpu", spectrum_norm=None, lr=None,
                  **net_params):
    """PatchExtractor + ContrastivePatchRegressor for one backbone and variant.

    Default-recipe variants use the estimator's defaults (``max_epochs`` from
    the preset when it sets one; fit them with ``net__groups=coords`` for a
    spatial early-stopping hold-out); the paper-recipe variants use
    :func:`paper_recipe` with the preset's SGD rate, batch size and epochs. The
    networks normalise their patches themselves (after augmentation), so the
    physical augmentations see reflectance.
    """
    augment = VARIANTS[variant]
    if augment is not None:
        augment = make_augmentation(augment, wavelengths=wavelengths)
    if variant in LITERAL_VARIANTS:
        params = paper_recipe(backbone, lr=preset.lr if lr is None else lr)
        params.update(batch_size=preset.batch_size, max_epochs=preset.epochs)
    else:
        params = {} if lr is None else {"lr": lr}
        if preset.max_epochs is not None:
            params["max_epochs"] = preset.max_epochs
    params.update(net_params)
    alpha = params.pop("alpha", 1.0)
    params.pop("spectrum_norm", None)  # the run's own choice (an argument) applies to every row
    net = ContrastivePatchRegressor(
        backbone,
        augment=augment,
        alpha=0.0 if augment is None else alpha,
        contrastive=params.pop("contrastive", preset.contrastive),
        spectrum_norm=spectrum_norm,
        random_state=seed,
        device=device,
        **params,
    )
    return Pipeline([("patches", PatchExtractor(preset.window)), ("net", net)])
