"""RBF kernel ridge regression in closed form, its hyper-parameters chosen on held-out rows.

The nonlinear classical partner a network's prediction can fall back on
(:class:`~hyperspectral_cl.network.PatchNetwork`): the same model as
scikit-learn's :class:`~sklearn.kernel_ridge.KernelRidge` with an RBF kernel on
standardised features and centred targets, written out so that

* every (``gamma``, ``alpha``) pair of a grid is scored on held-out rows from
  one eigendecomposition of the training kernel per ``gamma`` (the penalty only
  shifts the eigenvalues), not one solve per pair;
* the fitted model is a handful of arrays a network keeps as buffers and
  evaluates in torch, on the network's device.

All arithmetic is in float64: with small penalties the dual coefficients are
large, and float32 kernels would lose the digits that cancel between them.
"""

import numpy as np
import torch
from scipy import linalg

__all__ = ["RBF_ALPHAS", "RBF_GAMMAS", "MAX_SUPPORT", "fit_rbf_ridge", "rbf_ridge_predict", "score_rbf_ridge",
           "squared_distances", "support_rows"]

#: RBF kernel widths, as multiples of ``1 / n_features`` (the natural scale of standardised features).
RBF_GAMMAS = np.logspace(-3, 1, 5)
#: Ridge penalties of the kernel model, added to the eigenvalues of the (weighted) kernel matrix; row
#: weights are scaled to mean 1 first, so a penalty means the same whatever the weights' scale.
RBF_ALPHAS = np.logspace(-5, 0, 6)
#: Most training rows the kernel model keeps: its cost grows with their cube when fitted and linearly
#: per prediction; beyond this, an evenly spaced subset of the rows is kept.
MAX_SUPPORT = 2048
#: Held-out rows whose kernel against the support is formed at once.
_CHUNK = 4096


def support_rows(n_rows, max_support=MAX_SUPPORT):
    """Indices of the rows a kernel model keeps: all of them, or ``max_support`` evenly spaced ones.

    Evenly spaced in the given order, so that windows listed in scan order
    leave a subset spread over the whole scene (and no random draw is needed).

    Parameters
    ----------
    n_rows : int
        Number of candidate rows.
    max_support : int, default=MAX_SUPPORT
        Most rows kept.

    Returns
    -------
    ndarray of int
        Increasing row indices, the first and last rows included.
    """
    if n_rows <= max_support:
        return np.arange(n_rows)
    return np.unique(np.linspace(0, n_rows - 1, max_support).round().astype(np.intp))


def squared_distances(a, b):
    """Pairwise squared Euclidean distances, clipped at 0 (round-off can make them slightly negative).

    Parameters
    ----------
    a : ndarray or Tensor of shape (n, d)
    b : ndarray or Tensor of shape (m, d)
        Of the same kind as ``a``.

    Returns
    -------
    ndarray or Tensor of shape (n, m)
    """
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)  # the same in numpy and torch
    return d.clamp_min(0.0) if torch.is_tensor(d) else np.maximum(d, 0.0)


def _weighted(X, y, sample_weight):
    """Drop rows of weight 0; return rows, targets, sqrt-weights (of weights scaled to mean 1), weighted mean
    and the mask of the rows kept.

    Scaling the weights to mean 1 keeps the penalty's meaning: multiplying every
    weight by ``c`` would otherwise divide the penalty by ``c``.
    """
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64).reshape(len(X), -1)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    keep = w > 0
    X, y, w = X[keep], y[keep], w[keep]
    w = w / w.mean()
    return X, y, np.sqrt(w), (w[:, None] * y).sum(0) / w.sum(), keep


def score_rbf_ridge(X, y, X_valid, gammas, alphas, sample_weight=None):
    """Predictions on held-out rows of every RBF kernel ridge model of a grid.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Standardised training features.
    y : ndarray of shape (n_samples, n_targets)
        Training targets (centred here on their weighted mean).
    X_valid : ndarray of shape (n_valid, n_features)
        Held-out features, standardised as ``X``.
    gammas, alphas : sequence of float
        Kernel widths (absolute, ``exp(-gamma * ||a - b||^2)``) and penalties.
    sample_weight : ndarray of shape (n_samples,) or None, default=None
        Non-negative weights of the training rows (those of weight 0 take no
        part; the others are scaled to mean 1).

    Returns
    -------
    ndarray of shape (len(gammas), len(alphas), n_valid, n_targets)
        The predictions of the model fitted with each ``(gamma, alpha)``.
    """
    X, y, sw, mean, _ = _weighted(X, y, sample_weight)
    X_valid = np.asarray(X_valid, np.float64)
    d_train = squared_distances(X, X)
    n_targets = y.shape[1]
    out = np.empty((len(gammas), len(alphas), len(X_valid), n_targets))
    for i, gamma in enumerate(gammas):
        # weighted kernel ridge: (S K S + alpha I) c' = S (y - mean), c = S c', with S = diag(sqrt(w))
        lam, Q = linalg.eigh(sw[:, None] * np.exp(-gamma * d_train) * sw[None, :])
        lam = np.maximum(lam, 0.0)  # a kernel matrix is positive semi-definite; round-off is not
        Qty = Q.T @ (sw[:, None] * (y - mean))
        # the dual coefficients of every penalty side by side (m, n_alphas * n_targets): one product with the
        # held-out kernel then serves them all
        coef = sw[:, None] * (Q @ np.concatenate([Qty / (lam + alpha)[:, None] for alpha in alphas], axis=1))
        for start in range(0, len(X_valid), _CHUNK):  # the held-out kernel in slices: bounded memory
            rows = slice(start, start + _CHUNK)
            pred = np.exp(-gamma * squared_distances(X_valid[rows], X)) @ coef
            out[i, :, rows] = pred.reshape(-1, len(alphas), n_targets).transpose(1, 0, 2) + mean
    return out


def fit_rbf_ridge(X, y, gamma, alpha, sample_weight=None):
    """Dual coefficients of RBF kernel ridge regression, one ``(gamma, alpha)`` per target.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Standardised features (the support rows of the model).
    y : ndarray of shape (n_samples, n_targets)
        Targets.
    gamma, alpha : float or ndarray of shape (n_targets,)
        Kernel width and penalty of each target's model.
    sample_weight : ndarray of shape (n_samples,) or None, default=None
        Non-negative row weights (scaled to mean 1 over the rows of positive weight).

    Returns
    -------
    coef : ndarray of shape (n_samples, n_targets)
        Dual coefficients (0 for rows of weight 0).
    intercept : ndarray of shape (n_targets,)
        The weighted target mean the model is centred on.
    """
    X = np.asarray(X, np.float64)
    y = np.asarray(y, np.float64).reshape(len(X), -1)
    gamma, alpha = (np.broadcast_to(np.atleast_1d(np.asarray(v, np.float64)), y.shape[1:]) for v in (gamma, alpha))
    Xk, yk, sw, mean, keep = _weighted(X, y, sample_weight)
    d = squared_distances(Xk, Xk)
    coef = np.zeros(y.shape)
    for g in np.unique(gamma):  # one eigendecomposition per distinct width, as in score_rbf_ridge
        # (S K S + alpha I)^-1 through the eigenvalues: stable where a solve warns of ill-conditioning
        lam, Q = linalg.eigh(sw[:, None] * np.exp(-g * d) * sw[None, :])
        lam = np.maximum(lam, 0.0)
        cols = np.flatnonzero(gamma == g)
        Qty = Q.T @ (sw[:, None] * (yk[:, cols] - mean[cols]))
        coef[np.ix_(keep, cols)] = sw[:, None] * (Q @ (Qty / (lam[:, None] + alpha[cols][None, :])))
    return coef, mean


def rbf_ridge_predict(features, support, coef, intercept, gamma):
    """Evaluate fitted RBF kernel ridge models in torch (float64).

    Parameters
    ----------
    features : Tensor of shape (n, n_features)
        Standardised features.
    support : Tensor of shape (m, n_features)
    coef : Tensor of shape (m, n_targets)
    intercept, gamma : Tensor of shape (n_targets,)

    Returns
    -------
    Tensor of shape (n, n_targets), float64
    """
    d = squared_distances(features.double(), support.double())
    out = intercept.double().expand(len(features), -1).clone()
    for g in torch.unique(gamma):  # one kernel per distinct width; targets that share one share it
        cols = torch.nonzero(gamma == g).flatten()
        out[:, cols] += torch.exp(-g.double() * d) @ coef[:, cols].double()
    return out
