"""Contrastive losses checked against naive per-element reference implementations.

The references below loop over anchors, positives and negatives one scalar at a
time (torch scalar ops, so autograd gives reference gradients too), following
the docstrings of :mod:`hyperspectral_cl.losses` literally rather than the
vectorised masks of the package.
"""

import math

import numpy as np
import pytest
import torch

from hyperspectral_cl.losses import (
    CONTRASTIVE_LOSSES,
    ContrastiveCriterion,
    bce_contrastive_loss,
    get_contrastive_loss,
    paper_contrastive_loss,
    radius_positive_mask,
    semi_supervised_positive_mask,
    supcon_contrastive_loss,
)

LOSS_NAMES = ["paper", "paper-mean", "supcon", "bce"]
RTOL = 1e-9
ATOL = 1e-12


# --------------------------------------------------------------------------- #
# naive references
# --------------------------------------------------------------------------- #
def _rows(targets):
    t = targets.detach().reshape(targets.shape[0], -1)
    return [[float(v) for v in row] for row in t]


def naive_distance(targets, i, j):
    rows = _rows(targets)
    return math.sqrt(sum((a - b) ** 2 for a, b in zip(rows[i], rows[j], strict=True)))


def naive_positive(targets, i, j, radius):
    return i != j and naive_distance(targets, i, j) <= radius


def naive_similarities(features, temperature, eps=0.0):
    """s_ij = <f_i, f_j> / (||f_i|| ||f_j|| tau) from scalar torch ops.

    ``eps`` clamps the norms from below (only used for all-zero rows).
    """
    f = features.reshape(features.shape[0], -1)
    m, d = f.shape
    norms = []
    for i in range(m):
        sq = f[i, 0] * f[i, 0]
        for a in range(1, d):
            sq = sq + f[i, a] * f[i, a]
        n = torch.sqrt(sq)
        if eps and float(n.detach()) < eps:
            n = torch.as_tensor(eps, dtype=f.dtype)
        norms.append(n)
    s = [[None] * m for _ in range(m)]
    for i in range(m):
        for j in range(m):
            dot = f[i, 0] * f[j, 0]
            for a in range(1, d):
                dot = dot + f[i, a] * f[j, a]
            s[i][j] = dot / (norms[i] * norms[j] * temperature)
    return s


def naive_logsumexp(values):
    """log sum exp over a list of scalar tensors, shifted by a constant for stability."""
    c = max(float(v.detach()) for v in values)
    total = None
    for v in values:
        e = torch.exp(v - c)
        total = e if total is None else total + e
    return c + torch.log(total)


def naive_paper(features, targets, *, radius, temperature, positive_reduction="sum", eps=0.0):
    m = features.shape[0]
    total = features.sum() * 0.0
    if m < 2:
        return total
    s = naive_similarities(features, temperature, eps)
    for i in range(m):
        pos = [j for j in range(m) if naive_positive(targets, i, j, radius)]
        neg = [k for k in range(m) if k != i and k not in pos]
        if not pos or not neg:
            continue  # empty sum over positives, or log of an empty denominator: 0
        log_denom = naive_logsumexp([s[i][k] for k in neg])
        anchor = 0.0
        for j in pos:
            anchor = anchor - (s[i][j] - log_denom)
        if positive_reduction == "mean":
            anchor = anchor / len(pos)
        total = total + anchor
    return total / m


def naive_supcon(features, targets, *, radius, temperature, eps=0.0):
    m = features.shape[0]
    zero = features.sum() * 0.0
    if m < 2:
        return zero
    s = naive_similarities(features, temperature, eps)
    per_anchor = []
    for i in range(m):
        pos = [j for j in range(m) if naive_positive(targets, i, j, radius)]
        if not pos:
            continue
        log_denom = naive_logsumexp([s[i][k] for k in range(m) if k != i])
        acc = 0.0
        for p in pos:
            acc = acc + (s[i][p] - log_denom)
        per_anchor.append(-acc / len(pos))
    if not per_anchor:
        return zero
    total = zero
    for v in per_anchor:
        total = total + v
    return total / len(per_anchor)


def naive_bce_term(x, t):
    """Exact BCE with logits: max(x, 0) - x t + log(1 + exp(-|x|))."""
    return torch.clamp(x, min=0.0) - x * t + torch.log(1.0 + torch.exp(-torch.abs(x)))


def naive_bce(features, targets, *, radius, temperature, eps=0.0):
    m = features.shape[0]
    total = features.sum() * 0.0
    if m < 2:
        return total
    s = naive_similarities(features, temperature, eps)
    n_pairs = 0
    for i in range(m):
        for j in range(i + 1, m):
            label = 1.0 if naive_positive(targets, i, j, radius) else 0.0
            total = total + naive_bce_term(s[i][j], label)
            n_pairs += 1
    return total / n_pairs


def naive_published_bce(features, targets, *, radius, temperature):
    """The public code: lower triangle and diagonal of logits and labels zeroed, mean over M^2."""
    m = features.shape[0]
    s = naive_similarities(features, temperature)
    total = features.sum() * 0.0
    for i in range(m):
        for j in range(m):
            if j > i:
                x = s[i][j]
                t = 1.0 if naive_positive(targets, i, j, radius) else 0.0
            else:
                x = features.sum() * 0.0
                t = 0.0
            total = total + naive_bce_term(x, t)
    return total / (m * m)


def _naive_paper_mean(features, targets, *, radius, temperature, eps=0.0):
    return naive_paper(features, targets, radius=radius, temperature=temperature, positive_reduction="mean", eps=eps)


NAIVE = {
    "paper": naive_paper,
    "paper-mean": _naive_paper_mean,
    "supcon": naive_supcon,
    "bce": naive_bce,
}


def naive_mask(targets, radius):
    m = targets.shape[0]
    return [[naive_positive(targets, i, j, radius) for j in range(m)] for i in range(m)]


# --------------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------------- #
def make_batch(m, d, s, seed, *, force_mix=True):
    """Float64 features and integer-valued targets in {0, 1, 2}^s (so ties and duplicates occur).

    With ``force_mix`` and ``m >= 3``, sample 1 shares sample 0's target (a positive
    for every radius) and the last sample is far from everyone (a negative).
    """
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(m, d, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 3, (m, s), generator=g).to(torch.float64)
    if force_mix and m >= 3:
        targets[1] = targets[0]
        targets[-1] = 10.0
    return features, targets


def _assert_close(actual, expected, rtol=RTOL, atol=ATOL):
    torch.testing.assert_close(actual.detach(), expected.detach().to(actual.dtype), rtol=rtol, atol=atol)


SHAPES = [(m, d, s) for m in (2, 3, 5, 8) for d in (1, 3, 7) for s in (1, 2)]


# --------------------------------------------------------------------------- #
# 1. values against the naive reference
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize(("m", "d", "s"), SHAPES)
def test_values_match_naive_reference(name, m, d, s):
    loss_fn = CONTRASTIVE_LOSSES[name]
    for seed in range(2):
        features, targets = make_batch(m, d, s, seed=1000 * m + 10 * d + s + seed)
        for radius in (0.5, 1.0, 1.5):
            if m >= 3:
                mask = naive_mask(targets, radius)
                off = [mask[i][j] for i in range(m) for j in range(m) if i != j]
                assert any(off) and not all(off), "batch must mix positives and negatives"
            for temperature in (0.1, 0.5, 1.0):
                got = loss_fn(features, targets, radius=radius, temperature=temperature)
                want = NAIVE[name](features, targets, radius=radius, temperature=temperature)
                assert got.ndim == 0 and got.dtype == torch.float64
                _assert_close(got, want)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_1d_and_column_targets_agree(name):
    features, targets = make_batch(6, 4, 1, seed=3)
    loss_fn = CONTRASTIVE_LOSSES[name]
    a = loss_fn(features, targets, radius=1.0, temperature=0.5)
    b = loss_fn(features, targets[:, 0], radius=1.0, temperature=0.5)
    _assert_close(a, b)
    _assert_close(a, NAIVE[name](features, targets[:, 0], radius=1.0, temperature=0.5))


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_float32_close_to_float64(name):
    features, targets = make_batch(8, 5, 2, seed=11)
    loss_fn = CONTRASTIVE_LOSSES[name]
    got = loss_fn(features.float(), targets.float(), radius=1.0, temperature=0.5)
    want = loss_fn(features, targets, radius=1.0, temperature=0.5)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- #
# 2. gradients
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize(("m", "d", "s"), [(3, 2, 1), (5, 3, 2), (8, 7, 1), (8, 1, 2)])
def test_gradients_match_naive_reference(name, m, d, s):
    features, targets = make_batch(m, d, s, seed=7 * m + d)
    for radius, temperature in ((1.0, 0.5), (1.5, 0.2)):
        f1 = features.clone().requires_grad_(True)
        f2 = features.clone().requires_grad_(True)
        got = CONTRASTIVE_LOSSES[name](f1, targets, radius=radius, temperature=temperature)
        want = NAIVE[name](f2, targets, radius=radius, temperature=temperature)
        (g1,) = torch.autograd.grad(got, f1)
        (g2,) = torch.autograd.grad(want, f2)
        assert torch.isfinite(g1).all()
        assert g1.abs().max() > 0
        torch.testing.assert_close(g1, g2, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_gradcheck_vectorised(name):
    features, targets = make_batch(6, 3, 2, seed=5)
    features.requires_grad_(True)
    loss_fn = CONTRASTIVE_LOSSES[name]
    assert torch.autograd.gradcheck(
        lambda f: loss_fn(f, targets, radius=1.0, temperature=0.3), (features,), eps=1e-6, atol=1e-6
    )


# --------------------------------------------------------------------------- #
# 3. edge cases
# --------------------------------------------------------------------------- #
def _value_and_grad(name, features, targets, **kw):
    f = features.clone().requires_grad_(True)
    loss = CONTRASTIVE_LOSSES[name](f, targets, **kw)
    loss.backward()
    assert torch.isfinite(loss), (name, loss)
    assert f.grad is not None and torch.isfinite(f.grad).all(), (name, f.grad)
    return loss.detach(), f.grad


@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize("target_shape", [(1,), (1, 2)])
def test_batch_of_one_is_zero(name, target_shape):
    features = torch.randn(1, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    targets = torch.zeros(target_shape, dtype=torch.float64)
    loss, grad = _value_and_grad(name, features, targets, radius=1.0, temperature=0.5)
    assert loss.item() == 0.0
    assert torch.equal(grad, torch.zeros_like(grad))


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_all_targets_equal(name):
    features, _ = make_batch(6, 3, 1, seed=21)
    targets = torch.full((6, 2), 1.5, dtype=torch.float64)
    loss, _ = _value_and_grad(name, features, targets, radius=0.5, temperature=0.5)
    want = NAIVE[name](features, targets, radius=0.5, temperature=0.5)
    _assert_close(loss, want)
    if name in ("paper", "paper-mean"):
        # every anchor has no negatives: empty denominator, contributes 0
        assert loss.item() == 0.0
    if name == "supcon":
        assert loss.item() > 0.0
    if name == "bce":
        # every pair is labelled positive
        assert loss.item() > 0.0


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_no_target_within_radius(name):
    features, _ = make_batch(5, 3, 1, seed=22)
    targets = torch.arange(5, dtype=torch.float64)  # distinct targets, radius 0
    loss, _ = _value_and_grad(name, features, targets, radius=0.0, temperature=0.5)
    _assert_close(loss, NAIVE[name](features, targets, radius=0.0, temperature=0.5))
    if name in ("paper", "paper-mean", "supcon"):
        assert loss.item() == 0.0
    else:
        assert loss.item() > 0.0


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_radius_zero_keeps_exact_duplicates(name):
    # radius 0: only exactly equal targets are positives (distance 0 <= 0)
    features, _ = make_batch(4, 3, 1, seed=23)
    targets = torch.tensor([0.0, 0.0, 1.0, 2.0], dtype=torch.float64)
    mask = radius_positive_mask(targets, 0.0)
    assert mask[0, 1] and mask[1, 0] and int(mask.sum()) == 2
    loss, _ = _value_and_grad(name, features, targets, radius=0.0, temperature=0.5)
    _assert_close(loss, NAIVE[name](features, targets, radius=0.0, temperature=0.5))
    assert loss.item() != 0.0


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_duplicated_samples(name):
    features, targets = make_batch(4, 3, 2, seed=24)
    # stack [anchor views; identical views] with [y; y] as the estimator does
    features = torch.cat([features, features])
    targets = torch.cat([targets, targets])
    loss, _ = _value_and_grad(name, features, targets, radius=1.0, temperature=0.5)
    _assert_close(loss, NAIVE[name](features, targets, radius=1.0, temperature=0.5))


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_large_temperature(name):
    features, targets = make_batch(6, 3, 1, seed=25)
    loss, _ = _value_and_grad(name, features, targets, radius=1.0, temperature=1e6)
    _assert_close(loss, NAIVE[name](features, targets, radius=1.0, temperature=1e6))
    # all logits ~ 0: the losses tend to their uniform-logit values
    m = 6
    mask = naive_mask(targets, 1.0)
    n_pos = [sum(row) for row in mask]
    n_neg = [m - 1 - p for p in n_pos]
    if name == "paper":
        limit = sum(p * math.log(n) for p, n in zip(n_pos, n_neg, strict=True) if p and n) / m
    elif name == "paper-mean":
        limit = sum(math.log(n) for p, n in zip(n_pos, n_neg, strict=True) if p and n) / m
    elif name == "supcon":
        limit = math.log(m - 1)
    else:
        limit = math.log(2.0)
    assert loss.item() == pytest.approx(limit, abs=1e-5)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_tiny_temperature(name):
    features, targets = make_batch(6, 3, 1, seed=26)
    loss, _ = _value_and_grad(name, features, targets, radius=1.0, temperature=1e-4)
    want = NAIVE[name](features, targets, radius=1.0, temperature=1e-4)
    # logits are ~1e4 in size: compare relative to that scale
    _assert_close(loss, want, rtol=1e-9, atol=1e-7)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_all_zero_feature_row(name):
    features, targets = make_batch(5, 3, 1, seed=27)
    features[2] = 0.0
    loss, _ = _value_and_grad(name, features, targets, radius=1.0, temperature=0.5)
    # the zero row is normalised to the zero vector (norm clamped at eps): its logits are 0
    _assert_close(loss, NAIVE[name](features, targets, radius=1.0, temperature=0.5, eps=1e-8))


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_all_zero_features(name):
    features = torch.zeros(4, 3, dtype=torch.float64)
    targets = torch.tensor([0.0, 0.0, 1.0, 5.0], dtype=torch.float64)
    loss, _ = _value_and_grad(name, features, targets, radius=1.0, temperature=0.5)
    _assert_close(loss, NAIVE[name](features, targets, radius=1.0, temperature=0.5, eps=1e-8))


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_multi_dimensional_features_are_flattened(name):
    features, targets = make_batch(5, 6, 1, seed=28)
    loss_fn = CONTRASTIVE_LOSSES[name]
    a = loss_fn(features.reshape(5, 2, 3), targets, radius=1.0, temperature=0.5)
    b = loss_fn(features, targets, radius=1.0, temperature=0.5)
    _assert_close(a, b)


# --------------------------------------------------------------------------- #
# 4. hand-computed values
# --------------------------------------------------------------------------- #
def _hand_case():
    # targets 0, 0, 1 with radius 0.5: P(0) = {1}, P(1) = {0}, P(2) = {}
    # features (1,0), (1,0), (0,1), temperature 1: s01 = 1, s02 = s12 = 0
    features = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    targets = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    return features, targets


def test_hand_computed_paper():
    features, targets = _hand_case()
    # anchor 0: N(0) = {2}: -(s01 - log exp(s02)) = -(1 - 0) = -1; anchor 1 likewise;
    # anchor 2 has no positive: 0.  Total (-1 - 1 + 0) / 3 = -2/3
    for reduction in ("sum", "mean"):
        loss = paper_contrastive_loss(features, targets, radius=0.5, temperature=1.0, positive_reduction=reduction)
        assert loss.item() == pytest.approx(-2.0 / 3.0, rel=1e-12)


def test_hand_computed_paper_two_positives():
    # targets 0, 0, 0, 1 (radius 0.5); features e1, e1, e1, e2; temperature 1
    # s_ij = 1 among samples 0..2, s_i3 = 0.  Anchors 0, 1, 2 each have the other two
    # as positives and N = {3}, so log-denominator = log e^0 = 0:
    #   sum:  each -[(1 - 0) + (1 - 0)] = -2; anchor 3 has no positive: 0 -> -6/4 = -1.5
    #   mean: each -2/2 = -1                                              -> -3/4 = -0.75
    features = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    targets = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    s = paper_contrastive_loss(features, targets, radius=0.5, temperature=1.0)
    mn = paper_contrastive_loss(features, targets, radius=0.5, temperature=1.0, positive_reduction="mean")
    assert s.item() == pytest.approx(-1.5, rel=1e-12)
    assert mn.item() == pytest.approx(-0.75, rel=1e-12)


def test_hand_computed_supcon():
    features, targets = _hand_case()
    # anchors 0 and 1: -(s01 - log(e^{s01} + e^{s02})) = log(1 + e) - 1; anchor 2 not counted
    loss = supcon_contrastive_loss(features, targets, radius=0.5, temperature=1.0)
    assert loss.item() == pytest.approx(math.log(1.0 + math.e) - 1.0, rel=1e-12)


def test_hand_computed_supcon_two_positives():
    # features e1, e1, e2 with targets 0, 0, 0 (radius 0.5), temperature 1:
    # anchor 0: P = {1, 2}, denominator log(e^1 + e^0) = log(1 + e)
    #   -1/2 [(1 - log(1+e)) + (0 - log(1+e))] = log(1 + e) - 1/2; anchor 1 likewise
    # anchor 2: P = {0, 1}, s20 = s21 = 0, denominator log 2: -1/2 [(0 - log 2) * 2] = log 2
    # mean: (2 (log(1+e) - 1/2) + log 2) / 3
    features = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    targets = torch.zeros(3, dtype=torch.float64)
    loss = supcon_contrastive_loss(features, targets, radius=0.5, temperature=1.0)
    want = (2 * (math.log(1 + math.e) - 0.5) + math.log(2)) / 3
    assert loss.item() == pytest.approx(want, rel=1e-12)


def test_hand_computed_bce():
    features, targets = _hand_case()
    # pair (0,1): logit 1, label 1: log(1 + e^-1); pairs (0,2), (1,2): logit 0, label 0: log 2
    loss = bce_contrastive_loss(features, targets, radius=0.5, temperature=1.0)
    want = (math.log(1 + math.exp(-1)) + 2 * math.log(2)) / 3
    assert loss.item() == pytest.approx(want, rel=1e-12)


def test_orthogonal_identical_targets_two_samples():
    # M = 2, identical targets, orthogonal features, tau = 1: s01 = 0
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    targets = torch.zeros(2, dtype=torch.float64)
    # supcon: each anchor -(0 - log e^0) = 0
    assert supcon_contrastive_loss(features, targets, radius=0.0, temperature=1.0).item() == 0.0
    # paper: no negatives -> 0
    assert paper_contrastive_loss(features, targets, radius=0.0, temperature=1.0).item() == 0.0
    # bce: one pair, logit 0 label 1: log 2
    assert bce_contrastive_loss(features, targets, radius=0.0, temperature=1.0).item() == pytest.approx(
        math.log(2), rel=1e-12
    )


# --------------------------------------------------------------------------- #
# 5. registry
# --------------------------------------------------------------------------- #
def test_registry_names():
    assert set(CONTRASTIVE_LOSSES) == set(LOSS_NAMES)
    assert CONTRASTIVE_LOSSES["paper"] is paper_contrastive_loss
    assert CONTRASTIVE_LOSSES["supcon"] is supcon_contrastive_loss
    assert CONTRASTIVE_LOSSES["bce"] is bce_contrastive_loss


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_get_contrastive_loss_by_name(name):
    assert get_contrastive_loss(name) is CONTRASTIVE_LOSSES[name]


def test_paper_mean_registry_entry_is_mean_reduction():
    features, targets = make_batch(6, 3, 1, seed=31)
    a = get_contrastive_loss("paper-mean")(features, targets, radius=1.0, temperature=0.5)
    b = paper_contrastive_loss(features, targets, radius=1.0, temperature=0.5, positive_reduction="mean")
    assert torch.equal(a, b)


def test_get_contrastive_loss_callable_unchanged():
    def my_loss(features, targets, *, radius, temperature):
        return features.sum() * 0.0

    assert get_contrastive_loss(my_loss) is my_loss
    assert get_contrastive_loss(paper_contrastive_loss) is paper_contrastive_loss


def test_get_contrastive_loss_unknown_name():
    with pytest.raises(ValueError, match="nope") as excinfo:
        get_contrastive_loss("nope")
    for name in LOSS_NAMES:
        assert name in str(excinfo.value)


@pytest.mark.parametrize("bad", [3, 1.5, None, ["paper"]])
def test_get_contrastive_loss_type_error(bad):
    with pytest.raises(TypeError):
        get_contrastive_loss(bad)


# --------------------------------------------------------------------------- #
# 6. parameter validation
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_negative_radius(name):
    features, targets = make_batch(4, 3, 1, seed=0)
    with pytest.raises(ValueError, match="radius"):
        CONTRASTIVE_LOSSES[name](features, targets, radius=-0.1, temperature=0.5)


@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_temperature(name, temperature):
    features, targets = make_batch(4, 3, 1, seed=0)
    with pytest.raises(ValueError, match="temperature"):
        CONTRASTIVE_LOSSES[name](features, targets, radius=1.0, temperature=temperature)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_batch_size_mismatch_and_bad_feature_shape(name):
    features, targets = make_batch(4, 3, 1, seed=0)
    with pytest.raises(ValueError, match="batch size"):
        CONTRASTIVE_LOSSES[name](features, targets[:3], radius=1.0, temperature=0.5)
    with pytest.raises(ValueError, match=r"\(M, d\)"):
        CONTRASTIVE_LOSSES[name](features[:, 0], targets, radius=1.0, temperature=0.5)


def test_bad_positive_reduction():
    features, targets = make_batch(4, 3, 1, seed=0)
    with pytest.raises(ValueError, match="positive_reduction"):
        paper_contrastive_loss(features, targets, radius=1.0, temperature=0.5, positive_reduction="max")


# --------------------------------------------------------------------------- #
# 7. radius_positive_mask
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("m", "s"), [(1, 1), (2, 1), (5, 1), (8, 2), (7, 3), (9, 6)])
@pytest.mark.parametrize("radius", [0.0, 0.5, 1.0, 1.5, 10.0])
def test_radius_positive_mask(m, s, radius):
    _, targets = make_batch(m, 1, s, seed=40 + m + s, force_mix=False)
    mask = radius_positive_mask(targets, radius)
    assert mask.dtype == torch.bool and mask.shape == (m, m)
    assert not mask.diagonal().any()
    assert torch.equal(mask, mask.T)
    assert mask.tolist() == naive_mask(targets, radius)
    if s == 1:
        assert torch.equal(radius_positive_mask(targets[:, 0], radius), mask)


def test_radius_positive_mask_boundary_is_inclusive():
    targets = torch.tensor([[0.0, 0.0], [3.0, 4.0], [3.0, 4.5]], dtype=torch.float64)
    mask = radius_positive_mask(targets, 5.0)  # |(3, 4)| = 5 exactly
    assert mask[0, 1] and mask[1, 0]
    assert not mask[0, 2]
    assert mask[1, 2]


# --------------------------------------------------------------------------- #
# 8. the published-code relation of bce
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("m", "d", "s"), [(2, 3, 1), (3, 2, 2), (5, 4, 1), (8, 7, 2)])
@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_bce_published_relation(m, d, s, temperature):
    features, targets = make_batch(m, d, s, seed=50 + m)
    ours = bce_contrastive_loss(features, targets, radius=1.0, temperature=temperature)
    published = naive_published_bce(features, targets, radius=1.0, temperature=temperature)
    p = m * (m - 1) / 2
    frac = p / (m * m)
    _assert_close(published, frac * ours + (1 - frac) * math.log(2))


# ----------------------------------------------------------------------------- unlabeled samples (NaN targets)
def naive_semi_supervised_supcon(features, targets, radius, temperature):
    """Loop version: labeled anchors' positives are labeled rows within radius plus their own other view;
    an unlabeled anchor's only positive is its own other view (two stacked views of n samples)."""
    f = torch.nn.functional.normalize(features.double(), dim=1)
    m, n = len(f), len(f) // 2
    labeled = [not bool(torch.isnan(t).all()) for t in targets]
    total, anchors = 0.0, 0
    for i in range(m):
        positives = []
        for j in range(m):
            if j == i:
                continue
            same_sample = j % n == i % n
            close = labeled[i] and labeled[j] and float(torch.linalg.norm(targets[i] - targets[j])) <= radius
            if same_sample or close:
                positives.append(j)
        denominator = sum(math.exp(float(f[i] @ f[k]) / temperature) for k in range(m) if k != i)
        terms = [-(float(f[i] @ f[j]) / temperature - math.log(denominator)) for j in positives]
        total += sum(terms) / len(terms)
        anchors += 1
    return total / anchors


def test_semi_supervised_supcon_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    n = 6
    features = torch.randn(2 * n, 5, generator=g, dtype=torch.float64)
    y = torch.rand(n, 2, generator=g, dtype=torch.float64)
    y[[1, 4]] = float("nan")  # two unlabeled samples
    targets = torch.cat([y, y])
    criterion = ContrastiveCriterion("supcon", radius=0.4, temperature=0.5)
    got = criterion(features, targets)
    np.testing.assert_allclose(got.item(), naive_semi_supervised_supcon(features, targets, 0.4, 0.5), rtol=1e-10)
    assert torch.isfinite(got)


def test_all_unlabeled_is_nt_xent():
    g = torch.Generator().manual_seed(1)
    n, tau = 5, 0.2
    features = torch.randn(2 * n, 4, generator=g, dtype=torch.float64)
    targets = torch.full((2 * n, 1), float("nan"), dtype=torch.float64)
    got = ContrastiveCriterion("supcon", radius=10.0, temperature=tau)(features, targets)
    # NT-Xent (SimCLR): -log softmax of the other view among the 2n - 1 other rows, averaged over rows
    z = torch.nn.functional.normalize(features, dim=1)
    sim = z @ z.T / tau
    sim.fill_diagonal_(float("-inf"))
    partner = (torch.arange(2 * n) + n) % (2 * n)
    expected = -(sim[torch.arange(2 * n), partner] - torch.logsumexp(sim, dim=1)).mean()
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("name", ["paper", "paper-mean", "supcon", "bce"])
def test_semi_supervised_mask_on_labeled_batches_changes_nothing(name):
    g = torch.Generator().manual_seed(2)
    features = torch.randn(12, 4, generator=g)
    y = torch.rand(6, 2, generator=g)
    targets = torch.cat([y, y])
    mask = semi_supervised_positive_mask(targets, 0.3)
    assert torch.equal(mask, radius_positive_mask(targets, 0.3))
    loss = CONTRASTIVE_LOSSES[name]
    torch.testing.assert_close(loss(features, targets, radius=0.3, temperature=0.5, positives=mask),
                               loss(features, targets, radius=0.3, temperature=0.5))
    assert torch.isfinite(ContrastiveCriterion(name, radius=0.3)(features, targets.masked_fill(
        torch.arange(12)[:, None] % 6 == 0, float("nan"))))


def test_semi_supervised_mask_by_hand():
    nan = float("nan")
    targets = torch.tensor([[0.0], [0.1], [nan], [0.0], [0.1], [nan]])  # 3 samples x 2 views
    mask = semi_supervised_positive_mask(targets, radius=0.15)
    expected = torch.tensor([
        [0, 1, 0, 1, 1, 0],
        [1, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 1],
        [1, 1, 0, 0, 1, 0],
        [1, 1, 0, 1, 0, 0],
        [0, 0, 1, 0, 0, 0],
    ], dtype=torch.bool)
    assert torch.equal(mask, expected)
    with pytest.raises(ValueError, match="cannot be 2 stacked views"):
        semi_supervised_positive_mask(targets[:5], 0.1)


def test_unlabeled_rows_need_a_builtin_loss():
    criterion = ContrastiveCriterion(lambda f, t, *, radius, temperature: f.sum() * 0, radius=0.1)
    targets = torch.tensor([[0.0], [float("nan")], [0.0], [float("nan")]])
    with pytest.raises(ValueError, match="need one of the built-in contrastive losses"):
        criterion(torch.randn(4, 3), targets)


def test_positives_must_be_a_square_boolean_mask():
    with pytest.raises(ValueError, match="boolean tensor of shape \\(4, 4\\)"):
        supcon_contrastive_loss(torch.randn(4, 3), torch.rand(4), radius=0.1, temperature=0.5,
                                positives=torch.ones(4, 3, dtype=torch.bool))


def test_radius_mask_does_not_overflow_for_huge_targets():
    # squared float32 distances overflow beyond about 1e19: every pair would compare inf <= r^2, False
    t = torch.tensor([[0.0], [1e20], [1.5e20], [4e20]], dtype=torch.float32)
    mask = radius_positive_mask(t, radius=6e19)
    expected = torch.tensor([[0, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(mask, expected)
    assert torch.equal(radius_positive_mask(t / 1e20, radius=0.6), expected)  # same answer at unit scale
