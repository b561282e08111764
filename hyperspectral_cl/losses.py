"""Contrastive losses for regression: positives are samples with close targets.

All losses take the features of every view stacked on the batch axis and the
matching targets (the caller stacks ``[anchor views; augmented views]`` with
``[y; y]``), so the other view of a sample is a positive by construction
(target distance 0). A precomputed boolean ``positives`` mask may replace the
radius mask: :class:`ContrastiveCriterion` uses it for unlabeled samples (NaN
targets), whose only positive is their own other view (NT-Xent, as in SimCLR). Everything is vectorised over the batch (one ``M x M``
similarity matrix, no Python loop over samples) and numerically stable
(``logsumexp``); no loss returns NaN or inf for finite features.

Similarity is cosine similarity over a temperature ``tau``:
``s_ij = <f_i, f_j> / (||f_i|| ||f_j|| tau)``. Positives of anchor ``i`` are the
``j != i`` with ``||y_i - y_j||_2 <= radius``.
"""

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.distance import pdist
from torch import nn

from ._registry import Registry
from ._validation import check_scalar

__all__ = [
    "CONTRASTIVE_LOSSES",
    "ContrastiveCriterion",
    "bce_contrastive_loss",
    "get_contrastive_loss",
    "paper_contrastive_loss",
    "radius_from_quantile",
    "radius_positive_mask",
    "semi_supervised_positive_mask",
    "supcon_contrastive_loss",
]


#: Pairwise target distances are taken over at most this many targets (a fixed subsample beyond).
RADIUS_SUBSAMPLE = 2000


def radius_from_quantile(targets, q):
    """Radius (or radii) at quantile(s) ``q`` of the pairwise Euclidean distances between targets.

    The data-driven radius (``q`` the share of pairs that are positives). Beyond
    ``RADIUS_SUBSAMPLE`` targets, the distances are those of a fixed subsample
    (seed 0): bounded cost, deterministic.

    Parameters
    ----------
    targets : array-like of shape (n, n_targets), n >= 2
    q : float or array-like of float in [0, 1]

    Returns
    -------
    float64 scalar or ndarray, as ``numpy.quantile``
    """
    y = np.asarray(targets, dtype=np.float64)
    if len(y) > RADIUS_SUBSAMPLE:
        y = y[np.random.default_rng(0).choice(len(y), RADIUS_SUBSAMPLE, replace=False)]
    return np.quantile(pdist(y), q)  # condensed i < j distances, no n x n x s array


def radius_positive_mask(targets, radius):
    """Pairs whose targets lie within ``radius`` (Euclidean), self-pairs excluded.

    Parameters
    ----------
    targets : Tensor of shape (M,) or (M, n_targets)
    radius : float
        Non-negative radius in target units.

    Returns
    -------
    mask : bool Tensor of shape (M, M)
    """
    t = targets.reshape(targets.shape[0], -1)
    # explicit differences, not the matmul form of cdist: exact for equal targets; in float64 (where the
    # device has it), because squared float32 distances overflow for targets beyond about 1e19
    if t.device.type != "mps":
        t = t.double()
    # one (M, M) square per target column, summed in place: the (M, M, n_targets) difference tensor and its
    # reduction over a short last axis cost 3-6x as much (the contrastive term's largest fixed cost per step)
    d2 = torch.zeros(t.shape[0], t.shape[0], dtype=t.dtype, device=t.device)
    for column in t.T:
        diff = column[:, None] - column[None, :]
        d2.addcmul_(diff, diff)
    eye = torch.eye(t.shape[0], dtype=torch.bool, device=t.device)
    return (d2 <= float(radius) ** 2) & ~eye


def semi_supervised_positive_mask(targets, radius, n_views=2):
    """Positives when some samples are unlabeled: the radius mask among labeled rows, plus every view pair.

    Rows are ``n_views`` stacked blocks of the same ``M / n_views`` samples (row
    ``i`` and row ``i + k M / n_views`` are views of one sample). A row whose
    targets are all NaN is unlabeled: its positives are the other views of its
    own sample only. Labeled rows keep their radius positives (which include
    their own other views, at target distance 0), so on a fully labeled batch
    this equals :func:`radius_positive_mask`.

    Parameters
    ----------
    targets : Tensor of shape (M,) or (M, n_targets)
        NaN rows mark unlabeled samples.
    radius : float
    n_views : int, default=2

    Returns
    -------
    mask : bool Tensor of shape (M, M)
    """
    m = targets.shape[0]
    if m % n_views:
        raise ValueError(f"{m} rows cannot be {n_views} stacked views of the same samples")
    sample = torch.arange(m, device=targets.device) % (m // n_views)
    same = (sample[:, None] == sample[None, :]) & ~torch.eye(m, dtype=torch.bool, device=targets.device)
    return radius_positive_mask(targets, radius) | same  # NaN distances compare False: no radius positive


def _cosine_logits(features, temperature):
    z = F.normalize(features.reshape(features.shape[0], -1), dim=1, eps=1e-8)
    return z @ z.T / temperature


def _check(features, targets, radius, temperature):
    """Raise a ValueError or TypeError naming the argument, before torch sees bad input."""
    check_scalar(radius, "radius", min_val=0.0)
    check_scalar(temperature, "temperature", min_val=0.0, include_min=False)
    for name, value in (("features", features), ("targets", targets)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not features.is_floating_point():
        raise TypeError(f"features must be a floating-point tensor, got dtype {features.dtype}")
    if targets.ndim == 0:
        raise ValueError("targets must have shape (M,) or (M, n_targets), got a 0-dimensional tensor")
    if features.ndim < 2:
        raise ValueError(f"features must have shape (M, d), got {tuple(features.shape)}")
    if targets.shape[0] != features.shape[0]:
        raise ValueError(
            f"features and targets disagree on the batch size: {features.shape[0]} vs {targets.shape[0]}"
        )


def _masked_logsumexp(logits, mask):
    """Row-wise logsumexp over ``mask``; rows with an empty mask give 0 (and zero gradient).

    Filling empty rows with zeros before the reduction keeps both the value and the
    gradient finite (a row of -inf has a NaN softmax gradient even when discarded).
    """
    has_any = mask.any(dim=1)
    masked = logits.masked_fill(~mask, float("-inf"))
    masked = torch.where(has_any[:, None], masked, torch.zeros_like(masked))
    return torch.logsumexp(masked, dim=1), has_any


def _logits_and_masks(features, targets, radius, temperature, positives=None):
    """Cosine logits, the positive mask (the radius mask unless given) and the self mask of a batch."""
    logits = _cosine_logits(features, temperature)
    pos = radius_positive_mask(targets, radius) if positives is None else _check_positives(positives, features)
    eye = torch.eye(features.shape[0], dtype=torch.bool, device=features.device)
    return logits, pos, eye


def _check_positives(positives, features):
    m = features.shape[0]
    if not isinstance(positives, torch.Tensor) or positives.dtype != torch.bool or positives.shape != (m, m):
        raise ValueError(f"positives must be a boolean tensor of shape ({m}, {m})")
    return positives & ~torch.eye(m, dtype=torch.bool, device=positives.device)


def _zero_loss(features):
    # a zero that stays attached to the graph, so backward() works uniformly
    return features.sum() * 0.0


def paper_contrastive_loss(features, targets, *, radius, temperature, positive_reduction="sum", positives=None):
    """The paper's contrastive loss (Eq. 2), with negatives-only denominators.

    ``L = -1/M sum_i sum_{j in P(i)} log( exp(s_ij) / sum_{k in N(i)} exp(s_ik) )``
    where ``P(i)`` are the positives of anchor ``i`` and ``N(i)`` the other samples
    (``k != i``, ``k`` not in ``P(i)``).

    Parameters
    ----------
    features : Tensor of shape (M, d)
        Features of all views stacked on the batch axis.
    targets : Tensor of shape (M,) or (M, n_targets)
        Targets matching ``features`` row by row.
    radius : float
        Positives are pairs with target distance ``<= radius``.
    temperature : float
        Positive temperature ``tau``.
    positive_reduction : {'sum', 'mean'}, default='sum'
        ``'sum'`` is Eq. 2 as printed (anchors with many positives weigh more);
        ``'mean'`` averages over each anchor's positives.
    positives : bool Tensor of shape (M, M) or None, default=None
        Positive pairs, replacing the radius mask (e.g.
        :func:`semi_supervised_positive_mask`); the diagonal is ignored.

    Returns
    -------
    loss : scalar Tensor

    Notes
    -----
    Normalisation: the sum over anchors is divided by ``M``, the number of rows.
    An anchor with no negatives (every other target within ``radius``) has an empty
    denominator (``log 0``); it contributes 0 instead. An anchor with no positives
    contributes 0, as the empty sum in Eq. 2 does. Because the denominator holds no
    positives, the loss is not bounded below by 0. With ``M == 1`` the loss is 0.
    """
    _check(features, targets, radius, temperature)
    if positive_reduction not in ("sum", "mean"):
        raise ValueError(f"positive_reduction must be 'sum' or 'mean', got {positive_reduction!r}")
    m = features.shape[0]
    if m < 2:
        return _zero_loss(features)
    logits, pos, eye = _logits_and_masks(features, targets, radius, temperature, positives)
    neg = ~pos & ~eye
    log_denom, has_neg = _masked_logsumexp(logits, neg)
    log_prob = logits - log_denom[:, None]
    n_pos = pos.sum(dim=1)
    per_anchor = -(log_prob * pos).sum(dim=1)
    if positive_reduction == "mean":
        per_anchor = per_anchor / n_pos.clamp(min=1)
    valid = has_neg & (n_pos > 0)
    return (per_anchor * valid).sum() / m


def supcon_contrastive_loss(features, targets, *, radius, temperature, positives=None):
    """Supervised contrastive loss (Khosla et al., 2020) with a target-radius mask.

    ``L = 1/|A| sum_{i in A} -1/|P(i)| sum_{p in P(i)} log( exp(s_ip) / sum_{k != i} exp(s_ik) )``
    over the anchors ``A`` that have at least one positive.

    Parameters
    ----------
    features : Tensor of shape (M, d)
    targets : Tensor of shape (M,) or (M, n_targets)
    radius : float
    temperature : float
    positives : bool Tensor of shape (M, M) or None, default=None
        Positive pairs, replacing the radius mask; the diagonal is ignored.

    Returns
    -------
    loss : scalar Tensor
        Non-negative; 0 when no anchor has a positive or ``M == 1``. With
        :func:`semi_supervised_positive_mask` on a batch whose samples are all
        unlabeled this is NT-Xent (SimCLR).
    """
    _check(features, targets, radius, temperature)
    m = features.shape[0]
    if m < 2:
        return _zero_loss(features)
    logits, pos, eye = _logits_and_masks(features, targets, radius, temperature, positives)
    log_denom, _ = _masked_logsumexp(logits, ~eye)
    log_prob = logits - log_denom[:, None]
    n_pos = pos.sum(dim=1)
    valid = n_pos > 0
    if not bool(valid.any()):
        return _zero_loss(features)
    per_anchor = -(log_prob * pos).sum(dim=1) / n_pos.clamp(min=1)
    return per_anchor[valid].mean()


def bce_contrastive_loss(features, targets, *, radius, temperature, positives=None):
    """Pairwise binary cross-entropy form of the authors' public ICASSP 2024 code.

    Each unordered pair ``i < j`` is a binary problem: logit ``s_ij`` (cosine over
    temperature), label 1 when the targets lie within ``radius``. Returns the mean
    BCE-with-logits over the ``M (M - 1) / 2`` pairs.

    Parameters
    ----------
    features : Tensor of shape (M, d)
    targets : Tensor of shape (M,) or (M, n_targets)
    radius : float
    temperature : float
        The public code uses 1.0 (logits stay in [-1, 1]).
    positives : bool Tensor of shape (M, M) or None, default=None
        Positive pairs (labels 1), replacing the radius mask.

    Returns
    -------
    loss : scalar Tensor

    Notes
    -----
    The public code zeroes the lower triangle and the diagonal of the ``M x M``
    logit and label matrices and averages the BCE over all ``M^2`` entries; each
    zeroed entry contributes the constant ``log 2``. Its value is therefore
    ``(P / M^2) * L + (1 - P / M^2) * log 2`` with ``P = M (M - 1) / 2``: the same
    gradient direction, scaled by ``P / M^2``. Here only the real pairs count.
    """
    _check(features, targets, radius, temperature)
    m = features.shape[0]
    if m < 2:
        return _zero_loss(features)
    logits, pos, _ = _logits_and_masks(features, targets, radius, temperature, positives)
    iu = torch.triu_indices(m, m, offset=1, device=features.device)
    return F.binary_cross_entropy_with_logits(logits[iu[0], iu[1]], pos[iu[0], iu[1]].to(logits.dtype))


def _paper_mean(features, targets, *, radius, temperature, positives=None):
    return paper_contrastive_loss(
        features, targets, radius=radius, temperature=temperature, positive_reduction="mean", positives=positives
    )


_paper_mean.__doc__ = "The paper's loss with positives averaged per anchor (``positive_reduction='mean'``)."

_REGISTRY = Registry("contrastive loss", {
    "paper": paper_contrastive_loss,
    "paper-mean": _paper_mean,
    "supcon": supcon_contrastive_loss,
    "bce": bce_contrastive_loss,
})
#: Registry of contrastive losses by name; each is ``f(features, targets, *, radius, temperature)``.
CONTRASTIVE_LOSSES = _REGISTRY.entries


def get_contrastive_loss(name_or_callable):
    """Resolve a contrastive loss from its registry name or return a callable unchanged.

    Parameters
    ----------
    name_or_callable : str or callable
        One of ``CONTRASTIVE_LOSSES`` or a function
        ``f(features, targets, *, radius, temperature) -> scalar Tensor``.

    Returns
    -------
    callable
    """
    if callable(name_or_callable):
        return name_or_callable
    if isinstance(name_or_callable, str):
        return _REGISTRY.get(name_or_callable)
    raise TypeError(
        f"contrastive must be a name ({', '.join(CONTRASTIVE_LOSSES)}) or a callable, "
        f"got {type(name_or_callable).__name__}"
    )


class ContrastiveCriterion(nn.Module):
    """A contrastive loss as a criterion module: built once, moved with the network, its options routed.

    ``ContrastivePatchRegressor`` builds one in ``initialize_criterion`` from its
    ``contrastive``, ``radius`` (or the fitted ``radius_``) and ``temperature``
    parameters; ``contrastive__<option>`` parameters reach the constructor
    through skorch's routing (they override the top-level ones).

    Parameters
    ----------
    loss : str or callable, default='supcon'
        A name from :data:`CONTRASTIVE_LOSSES` or a function
        ``f(features, targets, *, radius, temperature) -> scalar Tensor``.
    radius : float, default=0.0
        Positive pairs have targets within this Euclidean distance, in the units
        of ``targets * target_scale`` (``>= 0``).
    temperature : float, default=0.1
        Temperature of the cosine similarities (``> 0``).
    target_scale : array-like of shape (n_targets,) or None, default=None
        Multiplies the targets before distances are taken. The estimator trains
        on standardised targets and passes their standard deviations here, so
        that ``radius`` stays in the user's target units. Stored as a buffer,
        so it follows the criterion to the network's device (no copy per batch).

    Examples
    --------
    >>> import torch
    >>> from hyperspectral_cl.losses import ContrastiveCriterion
    >>> criterion = ContrastiveCriterion("supcon", radius=0.1, temperature=0.5)
    >>> features, targets = torch.randn(8, 4), torch.rand(8, 2)
    >>> loss = criterion(features, targets)
    >>> loss.ndim
    0
    """

    def __init__(self, loss="supcon", radius=0.0, temperature=0.1, target_scale=None):
        super().__init__()
        self.loss = loss
        self.loss_fn = get_contrastive_loss(loss)
        self.radius = float(check_scalar(radius, "radius", min_val=0.0))
        self.temperature = float(check_scalar(temperature, "temperature", min_val=0.0, include_min=False))
        scale = torch.ones(1) if target_scale is None else torch.as_tensor(
            np.asarray(target_scale, dtype=np.float32)).reshape(-1)
        if not bool(torch.isfinite(scale).all()) or bool((scale <= 0).any()):
            raise ValueError(f"target_scale must be positive and finite, got {target_scale!r}")
        self.register_buffer("target_scale", scale)

    def forward(self, features, targets, n_views=2):
        """Loss of ``n_views`` stacked views: ``features`` (M, d), ``targets`` (M,) or (M, n_targets).

        Rows whose targets are all NaN are unlabeled samples: their only
        positives are their own other views (:func:`semi_supervised_positive_mask`).
        """
        if targets.ndim == 1:
            targets = targets[:, None]
        targets = targets * self.target_scale
        unlabeled = torch.isnan(targets).all(dim=1)
        if not bool(unlabeled.any()):
            return self.loss_fn(features, targets, radius=self.radius, temperature=self.temperature)
        if self.loss_fn not in CONTRASTIVE_LOSSES.values():
            raise ValueError(
                "unlabeled samples (NaN targets) need one of the built-in contrastive losses "
                f"({', '.join(CONTRASTIVE_LOSSES)}), which take the semi-supervised positive mask; got {self.loss!r}"
            )
        positives = semi_supervised_positive_mask(targets, self.radius, n_views)
        return self.loss_fn(features, targets, radius=self.radius, temperature=self.temperature, positives=positives)

    def extra_repr(self):
        name = self.loss if isinstance(self.loss, str) else getattr(self.loss, "__name__", repr(self.loss))
        return f"loss={name!r}, radius={self.radius:.4g}, temperature={self.temperature:.4g}"
