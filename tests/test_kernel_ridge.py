"""kernel_ridge: closed-form RBF kernel ridge regression, checked against scikit-learn's KernelRidge."""

import numpy as np
import pytest
import torch
from sklearn.kernel_ridge import KernelRidge

from hyperspectral_cl.kernel_ridge import (
    MAX_SUPPORT,
    fit_rbf_ridge,
    rbf_ridge_predict,
    score_rbf_ridge,
    squared_distances,
    support_rows,
)


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = np.stack([np.sin(X[:, 0]) + X[:, 1] ** 2, X[:, 2] * X[:, 3]], axis=1) + 3.0
    return X, y, rng.normal(size=(17, 5)), rng.uniform(0, 2, len(X))


def reference(X, y, X_test, gamma, alpha, sample_weight=None):
    """scikit-learn's KernelRidge (no intercept) on targets centred on their weighted mean, weights of mean 1."""
    w = np.ones(len(X)) if sample_weight is None else sample_weight / sample_weight[sample_weight > 0].mean()
    mean = (w[:, None] * y).sum(0) / w.sum()
    model = KernelRidge(alpha=alpha, kernel="rbf", gamma=gamma).fit(X, y - mean, sample_weight=w)
    return model.predict(X_test) + mean


@pytest.mark.parametrize("weighted", [False, True])
def test_grid_scores_equal_kernel_ridge_for_every_pair(problem, weighted):
    X, y, X_test, w = problem
    w = w.copy() if weighted else None
    if weighted:
        w[:4] = 0.0  # rows of weight 0 take no part
    gammas, alphas = [0.01, 0.3], [1e-3, 0.1, 2.0]
    out = score_rbf_ridge(X, y, X_test, gammas, alphas, w)
    assert out.shape == (2, 3, len(X_test), 2)
    for i, g in enumerate(gammas):
        for j, a in enumerate(alphas):
            np.testing.assert_allclose(out[i, j], reference(X, y, X_test, g, a, w), rtol=1e-7, atol=1e-8)


def test_the_scale_of_the_weights_does_not_matter(problem):
    X, y, X_test, w = problem
    np.testing.assert_allclose(score_rbf_ridge(X, y, X_test, [0.1], [1e-3], w * 1e-3),
                               score_rbf_ridge(X, y, X_test, [0.1], [1e-3], w), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(fit_rbf_ridge(X, y, 0.1, 1e-3, w * 1e3)[0], fit_rbf_ridge(X, y, [0.1], [1e-3], w)[0],
                               rtol=1e-8, atol=1e-9)  # scalar width and penalty: every target


def test_held_out_rows_are_scored_in_slices(problem, monkeypatch):
    import hyperspectral_cl.kernel_ridge as kernel_ridge

    X, y, X_test, w = problem
    whole = score_rbf_ridge(X, y, X_test, [0.05, 0.3], [1e-3, 0.1], w)
    monkeypatch.setattr(kernel_ridge, "_CHUNK", 5)  # 17 held-out rows: slices of 5, 5, 5 and 2
    np.testing.assert_allclose(score_rbf_ridge(X, y, X_test, [0.05, 0.3], [1e-3, 0.1], w), whole, rtol=1e-12)


def test_weight_zero_rows_are_ignored(problem):
    X, y, X_test, _ = problem
    w = np.r_[np.zeros(10), np.ones(len(X) - 10)]
    y_noise = y.copy()
    y_noise[:10] = 1e6  # what the ignored rows hold must not matter
    np.testing.assert_allclose(score_rbf_ridge(X, y_noise, X_test, [0.1], [0.01], w),
                               score_rbf_ridge(X[10:], y[10:], X_test, [0.1], [0.01]), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
def test_fit_and_torch_predict_equal_kernel_ridge_per_target(problem, weighted):
    X, y, X_test, w = problem
    w = w if weighted else None
    gamma, alpha = np.array([0.05, 0.4]), np.array([0.01, 0.5])  # each target its own model
    coef, intercept = fit_rbf_ridge(X, y, gamma, alpha, w)
    pred = rbf_ridge_predict(torch.from_numpy(X_test), torch.from_numpy(X), torch.from_numpy(coef),
                             torch.from_numpy(intercept), torch.from_numpy(gamma))
    assert pred.dtype == torch.float64
    for k in range(2):
        np.testing.assert_allclose(pred[:, k].numpy(), reference(X, y, X_test, gamma[k], alpha[k], w)[:, k],
                                   rtol=1e-7, atol=1e-8)
    # targets sharing a width share one kernel and still get their own penalties
    coef2, _ = fit_rbf_ridge(X, y, np.array([0.1, 0.1]), alpha, w)
    for k in range(2):
        expected = reference(X, y, X_test, 0.1, alpha[k], w)[:, k]
        got = rbf_ridge_predict(torch.from_numpy(X_test), torch.from_numpy(X), torch.from_numpy(coef2),
                                torch.from_numpy(intercept), torch.tensor([0.1, 0.1], dtype=torch.float64))
        np.testing.assert_allclose(got[:, k].numpy(), expected, rtol=1e-7, atol=1e-8)


def test_fit_agrees_with_the_grid_scores(problem):
    X, y, X_test, w = problem
    coef, intercept = fit_rbf_ridge(X, y, np.array([0.2, 0.2]), np.array([0.03, 0.03]), w)
    pred = rbf_ridge_predict(*(torch.from_numpy(a) for a in (X_test, X, coef, intercept, np.array([0.2, 0.2]))))
    np.testing.assert_allclose(pred.numpy(), score_rbf_ridge(X, y, X_test, [0.2], [0.03], w)[0, 0], rtol=1e-8)


def test_squared_distances_numpy_and_torch():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(7, 4)), rng.normal(size=(5, 4))
    naive = np.array([[((u - v) ** 2).sum() for v in b] for u in a])
    np.testing.assert_allclose(squared_distances(a, b), naive, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(squared_distances(torch.from_numpy(a), torch.from_numpy(b)).numpy(), naive,
                               rtol=1e-12, atol=1e-12)
    assert (squared_distances(a, a) >= 0).all()  # round-off on the diagonal is clipped


def test_support_rows():
    np.testing.assert_array_equal(support_rows(10), np.arange(10))
    rows = support_rows(10_000)
    assert len(rows) == MAX_SUPPORT and rows[0] == 0 and rows[-1] == 9_999
    assert (np.diff(rows) > 0).all() and np.ptp(np.diff(rows)) <= 1  # evenly spaced, no repeats
    np.testing.assert_array_equal(support_rows(7, max_support=3), [0, 3, 6])
