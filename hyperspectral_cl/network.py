"""The network a regressor trains: fitted input normalisation, a backbone, and ridge regression beside it.

:class:`PatchNetwork` wraps any backbone (a registered one or a user's class)
with the pieces every backbone needs and none should re-implement:

* **Input normalisation fitted on the training patches**, applied *inside* the
  network, so the augmentations of a contrastive step see the values the user
  passed (reflectance, radiance...), as physical transforms need, and
  standardisation happens after them: optional per-pixel L2 normalisation of
  the spectrum, then per-band standardisation with the training patches'
  statistics.
* **Ridge regression on the mean spectrum**, the closed-form
  :class:`~sklearn.linear_model.RidgeCV` solution on the training patches
  (penalty chosen per target by efficient leave-one-out), kept fixed, and
  combined with the backbone in one of two ways (``ridge``):

  - ``'blend'``: the backbone is trained on its own; the prediction is
    ``ridge + w * (backbone - ridge)``, with one weight ``w`` in [0, 1] per
    target chosen on held-out windows after training (:meth:`fit_blend`). The
    model is then never worse than ridge on those windows, and a backbone that
    learns what ridge cannot takes over. (The estimator then refits the ridge
    map on every training window, held-out ones included: :meth:`fit_ridge`.)
    The partner of the blend can also be RBF kernel ridge regression on the
    same mean spectrum (:meth:`choose_kernel`), per target, where
    cross-validation prefers it to the linear map: the network then falls back
    on the better of the two classical models rather than on the linear one.
  - ``'residual'``: the prediction is ridge plus the backbone's output, whose
    output layer starts at zero: before the first epoch the network *is*
    ridge regression, and training learns what ridge misses.

Everything fitted is a buffer: it travels with the weights (``state_dict``,
devices, :func:`~hyperspectral_cl.save_weights`) and is never touched by the
optimiser.
"""

import numpy as np
import torch
from sklearn.linear_model import RidgeCV
from torch import nn

from .kernel_ridge import RBF_ALPHAS, RBF_GAMMAS, fit_rbf_ridge, rbf_ridge_predict, score_rbf_ridge, support_rows

__all__ = ["KERNEL_BUFFERS", "KERNEL_ROWS", "RIDGE_ALPHAS", "RIDGE_MODES", "PatchNetwork", "SPECTRUM_NORMS"]

#: The buffers of the kernel partner (:meth:`PatchNetwork.choose_kernel`), in the order they are registered.
KERNEL_BUFFERS = ("kernel_gamma", "kernel_alpha", "kernel_support", "kernel_coef", "kernel_intercept", "kernel_mean",
                  "kernel_scale")
#: Those of them whose number of rows is set by the data (the kernel models' support), at most MAX_SUPPORT.
KERNEL_ROWS = ("kernel_support", "kernel_coef")
#: Penalties :class:`~sklearn.linear_model.RidgeCV` chooses from (per target, by efficient leave-one-out).
RIDGE_ALPHAS = np.logspace(-6, 6, 25)
#: Accepted per-pixel spectrum normalisations.
SPECTRUM_NORMS = (None, "l2")
#: How ridge regression takes part in the prediction (None: not at all).
RIDGE_MODES = ("blend", "residual", None)
_TINY = torch.finfo(torch.float32).tiny


class PatchNetwork(nn.Module):
    """Normalise patches, run a backbone, combine it with ridge regression on the mean spectrum.

    Parameters
    ----------
    backbone : nn.Module
        Maps normalised patches ``(N, 1, B, S, S)`` to ``(prediction, embedding)``
        (or to the prediction alone, when no contrastive term is wanted).
        With ``ridge='residual'`` it must have its output layer as an
        ``nn.Linear`` attribute named ``regressor`` (every registered backbone
        does), which is set to zero so the network starts at the ridge solution.
    n_bands : int
        Number of bands ``B``.
    n_targets : int
        Number of outputs.
    spectrum_norm : {None, 'l2'}, default=None
        ``'l2'`` scales every pixel's spectrum to unit L2 norm before
        standardisation (removes multiplicative illumination: shading, a
        spatial illumination pattern).
    standardize : bool, default=True
        Per-band standardisation with statistics fitted by :meth:`fit_inputs`.
    ridge : {'blend', 'residual', None}, default='blend'
        How the ridge map of the mean spectrum enters the prediction (see the
        module documentation).

    Attributes
    ----------
    band_mean, band_scale : Tensor of shape (n_bands,)
        Standardisation statistics (0 and 1 until fitted or without
        standardisation).
    skip_weight : Tensor of shape (n_bands, n_targets)
        The ridge map (zeros until fitted or with ``ridge=None``).
    skip_bias : Tensor of shape (n_targets,)
    ridge_alpha : Tensor of shape (n_targets,)
        The penalty RidgeCV chose for each target (0 until fitted).
    blend : Tensor of shape (n_targets,)
        The backbone's weight ``w`` with ``ridge='blend'`` (1 while training:
        the backbone is trained on its own).
    kernel_gamma, kernel_alpha : Tensor of shape (n_targets,), float64
        Width and penalty of each target's RBF kernel ridge partner; a width of
        0 means the target's partner is the linear ridge map.
    kernel_support : Tensor of shape (m, n_bands), float64
        The standardised mean spectra the kernel models are expanded on (no
        rows when no target has a kernel partner).
    kernel_coef : Tensor of shape (m, n_targets), float64
    kernel_intercept : Tensor of shape (n_targets,), float64
    kernel_mean, kernel_scale : Tensor of shape (n_bands,), float64
        Standardisation of the mean spectra the kernel sees.
    inputs_fitted : bool Tensor
        Whether :meth:`fit_inputs` ran (saved with the weights, so a reloaded or
        warm-started network is never re-fitted).
    """

    def __init__(self, backbone, n_bands, n_targets, spectrum_norm=None, standardize=True, ridge="blend"):
        super().__init__()
        if spectrum_norm not in SPECTRUM_NORMS:
            raise ValueError(f"spectrum_norm must be None or 'l2', got {spectrum_norm!r}")
        if ridge not in RIDGE_MODES:
            raise ValueError(f"ridge must be 'blend', 'residual' or None, got {ridge!r}")
        self.backbone = backbone
        self.spectrum_norm, self.standardize, self.ridge = spectrum_norm, bool(standardize), ridge
        self.register_buffer("band_mean", torch.zeros(n_bands))
        self.register_buffer("band_scale", torch.ones(n_bands))
        self.register_buffer("skip_weight", torch.zeros(n_bands, n_targets))
        self.register_buffer("skip_bias", torch.zeros(n_targets))
        self.register_buffer("ridge_alpha", torch.zeros(n_targets))
        self.register_buffer("blend", torch.ones(n_targets))
        self.register_buffer("inputs_fitted", torch.tensor(False))
        self._register_kernel(n_bands, n_targets, self.skip_weight.device)
        # the kernel model keeps as many rows as it was fitted on: a saved state may hold any number
        self.register_load_state_dict_pre_hook(_load_kernel_rows)
        if ridge == "residual":
            head = getattr(backbone, "regressor", None)
            if not isinstance(head, nn.Linear):
                raise TypeError(
                    f"ridge='residual' needs the backbone's output layer as an nn.Linear attribute named "
                    f"'regressor' (it starts at zero, so that the network starts at the ridge solution); "
                    f"{type(backbone).__name__} has none. Add one, or use ridge='blend' or None."
                )
        self.reset_parameters()

    def reset_parameters(self, generator=None):
        """Start the backbone's output layer at zero with ``ridge='residual'`` (nothing to draw)."""
        if self.ridge == "residual":
            nn.init.zeros_(self.backbone.regressor.weight)
            if self.backbone.regressor.bias is not None:
                nn.init.zeros_(self.backbone.regressor.bias)

    def normalize_spectra(self, x):
        """Only the per-pixel spectrum normalisation (what the band statistics are computed on)."""
        if self.spectrum_norm == "l2":
            # divide by the largest magnitude first: squares of float32 values near 1e20 overflow
            x = x / x.abs().amax(dim=2, keepdim=True).clamp_min(_TINY)
            x = x / torch.linalg.vector_norm(x, dim=2, keepdim=True).clamp_min(_TINY)
        return x

    def normalize(self, x):
        """The backbone's input: ``x`` with each spectrum normalised, then each band standardised."""
        x = self.normalize_spectra(x)
        if self.standardize:
            x = (x - self.band_mean[:, None, None]) / self.band_scale[:, None, None]
        return x

    def skip(self, z):
        """The ridge map of the mean spectrum of normalised patches ``z``: ``(N, n_targets)``, in float32.

        Outside autocast: a closed-form linear model in bfloat16 would lose the
        digits that make it the baseline to beat.
        """
        with torch.autocast(z.device.type, enabled=False):
            return z.float().mean(dim=(1, 3, 4)) @ self.skip_weight + self.skip_bias

    def kernel_features(self, z):
        """The kernel partner's input: the standardised mean spectrum of normalised patches ``z`` (float64)."""
        return (z.double().mean(dim=(1, 3, 4)) - self.kernel_mean) / self.kernel_scale

    def partner(self, z):
        """The classical model the blend falls back on, per target: the ridge map or its kernel partner."""
        ridge = self.skip(z)
        use = self.kernel_gamma > 0
        if not bool(use.any()):
            return ridge
        with torch.autocast(z.device.type, enabled=False):
            kernel = rbf_ridge_predict(self.kernel_features(z), self.kernel_support, self.kernel_coef,
                                       self.kernel_intercept, self.kernel_gamma)
        return torch.where(use, kernel.to(ridge.dtype), ridge)

    def forward(self, x, **fit_params):
        """``(N, 1, B, S, S)`` patches -> ``(prediction (N, n_targets), embedding (N, d))``.

        A backbone that returns its prediction alone gives the prediction alone.

        skorch hands fit parameters to ``forward``; those of this package's fit
        (``groups``) are for the validation split, so they are ignored here and
        never reach the backbone.
        """
        z = self.normalize(x)
        out = self.backbone(z)
        # a backbone may return its prediction alone (no embedding: then no contrastive term)
        pred, embedding = out if isinstance(out, (tuple, list)) else (out, None)
        pred = pred.float()  # under autocast the backbone's output is in its reduced dtype
        if self.ridge == "residual":
            pred = pred + self.skip(z)
        elif self.ridge == "blend" and bool((self.blend != 1).any()):
            ridge = self.partner(z)
            pred = ridge + self.blend * (pred - ridge)
        return pred if embedding is None else (pred, embedding)

    def embed(self, x):
        """The embedding alone of ``(N, 1, B, S, S)`` patches: ``forward(x)[1]`` without the prediction's
        classical partner (the contrastive term's second view needs no prediction).

        Raises
        ------
        TypeError
            When the backbone returns its prediction alone (it has no embedding).
        """
        out = self.backbone(self.normalize(x))
        if not isinstance(out, (tuple, list)):
            raise TypeError(f"{type(self.backbone).__name__} returns its prediction alone: it has no embedding")
        return out[1]

    @torch.no_grad()
    def fit_inputs(self, batches, targets=None, sample_weight=None):
        """Fit the normalisation (and the ridge map) on training patches.

        Parameters
        ----------
        batches : list of Tensor
            The training patches, in batches of shape ``(n, 1, B, S, S)``.
        targets : ndarray of shape (n_samples, n_targets) or None
            Training targets (as the network regresses them), in the order of
            the patches; required unless ``ridge=None``.
        sample_weight : ndarray of shape (n_samples,) or None, default=None
            Weights of the patches in the ridge fit (the input statistics are
            unweighted: they describe the inputs, not the loss).

        Returns
        -------
        self
        """
        if self.standardize:
            count, total, total_sq = 0, 0.0, 0.0
            for x in batches:  # float64 sums: exact enough for millions of pixels
                x = self.normalize_spectra(x).double()
                count += x.shape[0] * x.shape[3] * x.shape[4]
                total = total + x.sum(dim=(0, 1, 3, 4))
                total_sq = total_sq + x.pow(2).sum(dim=(0, 1, 3, 4))
            mean = total / count
            std = (total_sq / count - mean.pow(2)).clamp_min(0).sqrt()
            # bands that barely vary are only centred (as PatchExtractor does)
            std = torch.where(std < 10 * torch.finfo(torch.float32).eps * mean.abs().clamp_min(1.0), 1.0, std)
            self.band_mean.copy_(mean)
            self.band_scale.copy_(std)
        if self.ridge is not None:
            if targets is None:
                raise ValueError("fit_inputs needs the training targets to fit the ridge map")
            self.fit_ridge(batches, targets, sample_weight)
        self.inputs_fitted.fill_(True)
        return self

    @torch.no_grad()
    def fit_ridge(self, batches, targets, sample_weight=None):
        """Fit the ridge map: RidgeCV on the mean normalised spectra of ``batches``.

        Parameters
        ----------
        batches : list of Tensor
            Patches, in batches of shape ``(n, 1, B, S, S)``.
        targets : ndarray of shape (n_samples, n_targets)
            Their targets, as the network regresses them; rows of NaN
            (unlabeled windows) are left out.
        sample_weight : ndarray of shape (n_samples,) or None, default=None
            Weights of the patches (RidgeCV's ``sample_weight``).

        Returns
        -------
        self
        """
        spectra = torch.cat([self.normalize(x).mean(dim=(1, 3, 4)).double() for x in batches]).cpu().numpy()
        targets = np.asarray(targets, dtype=np.float64).reshape(len(spectra), -1)
        labeled = ~np.isnan(targets).any(axis=1)  # unlabeled rows (NaN targets) take no part
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[labeled]
        ridge = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(spectra[labeled], targets[labeled],
                                                                        sample_weight=weights)
        self.skip_weight.copy_(torch.from_numpy(np.atleast_2d(ridge.coef_).T.copy()))
        self.skip_bias.copy_(torch.from_numpy(np.atleast_1d(ridge.intercept_).copy()))
        self.ridge_alpha.copy_(torch.as_tensor(np.broadcast_to(ridge.alpha_, self.ridge_alpha.shape).copy()))
        return self

    def _mean_spectra(self, batches):
        """The mean normalised spectrum of every patch, as a float64 array."""
        return torch.cat([self.normalize(x).double().mean(dim=(1, 3, 4)) for x in batches]).cpu().numpy()

    @torch.no_grad()
    def choose_kernel(self, batches, targets, folds, sample_weight=None):
        """Give each target an RBF kernel ridge partner where cross-validation prefers it to the ridge map.

        The candidates are the ridge map (:class:`~sklearn.linear_model.RidgeCV`
        on the mean spectra, as :meth:`fit_ridge` fits it) and RBF kernel ridge
        regression on the standardised mean spectra for every width in
        ``RBF_GAMMAS / n_bands`` and penalty in ``RBF_ALPHAS``; per target, the
        one with the smallest out-of-fold squared error over ``folds`` becomes
        the blend's partner (the ridge map on a tie), as a grid search over
        both models would choose. A chosen kernel model is fitted on all the
        given windows (at most :data:`~hyperspectral_cl.kernel_ridge.MAX_SUPPORT`);
        :meth:`fit_kernel` refits it on others.

        Parameters
        ----------
        batches : list of Tensor
            Labeled patches, in batches of shape ``(n, 1, B, S, S)``.
        targets : ndarray of shape (n, n_targets)
            Their targets, as the network regresses them.
        folds : iterable of (train, test) index arrays
            Cross-validation folds over the ``n`` patches (e.g. spatial blocks);
            folds with fewer than 2 training or no test patches are skipped.
        sample_weight : ndarray of shape (n,) or None, default=None
            Weights of the patches (in the fits and in the out-of-fold errors).

        Returns
        -------
        self
        """
        self.clear_kernel()
        spectra = self._mean_spectra(batches)
        y = np.asarray(targets, dtype=np.float64).reshape(len(spectra), -1)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        gammas = RBF_GAMMAS / spectra.shape[1]
        errors = np.zeros((1 + len(gammas) * len(RBF_ALPHAS), y.shape[1]))  # row 0: the ridge map
        scored = False
        for train, test in folds:
            train = train[w[train] > 0]
            if len(train) < 2 or len(test) == 0:
                continue
            linear = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(spectra[train], y[train],
                                                                              sample_weight=w[train])
            rows = train[support_rows(len(train))]
            mean, scale = _standardizer(spectra[rows])
            kernel = score_rbf_ridge((spectra[rows] - mean) / scale, y[rows], (spectra[test] - mean) / scale,
                                     gammas, RBF_ALPHAS, w[rows])
            preds = np.concatenate([linear.predict(spectra[test]).reshape(1, len(test), -1),
                                    kernel.reshape(-1, len(test), y.shape[1])])
            errors += np.einsum("n,cnt->ct", w[test], (preds - y[test]) ** 2)
            scored = True
        best = errors.argmin(axis=0)  # the first minimum: the ridge map on a tie
        if not scored or not (best > 0).any():
            return self
        g, a = np.unravel_index(np.maximum(best - 1, 0), (len(gammas), len(RBF_ALPHAS)))
        self.kernel_gamma.copy_(torch.from_numpy(np.where(best > 0, gammas[g], 0.0)))
        self.kernel_alpha.copy_(torch.from_numpy(np.where(best > 0, RBF_ALPHAS[a], 0.0)))
        return self._fit_kernel_spectra(spectra, y, w)

    def _register_kernel(self, n_bands, n_targets, device):
        """The kernel partner's buffers, holding no partner (float64: see :mod:`~hyperspectral_cl.kernel_ridge`)."""
        for name, shape in zip(KERNEL_BUFFERS, ((n_targets,), (n_targets,), (0, n_bands), (0, n_targets),
                                                (n_targets,), (n_bands,), (n_bands,)), strict=True):
            self.register_buffer(name, torch.zeros(shape, dtype=torch.float64, device=device))
        self.clear_kernel()

    def __setstate__(self, state):
        super().__setstate__(state)
        if "kernel_gamma" not in self._buffers:  # pickled before the kernel partner existed: no partner
            self._register_kernel(*self.skip_weight.shape, self.skip_weight.device)

    @torch.no_grad()
    def clear_kernel(self):
        """Drop the kernel partners: every target falls back on the ridge map; the support keeps no rows.

        Returns
        -------
        self
        """
        for name in ("kernel_gamma", "kernel_alpha", "kernel_intercept", "kernel_mean"):
            getattr(self, name).zero_()
        self.kernel_scale.fill_(1.0)
        for name in KERNEL_ROWS:
            setattr(self, name, getattr(self, name).new_zeros((0, getattr(self, name).shape[1])))
        return self

    @torch.no_grad()
    def fit_kernel(self, batches, targets, sample_weight=None):
        """Refit the chosen kernel partners (widths and penalties kept) on ``batches``; no-op without one.

        Parameters
        ----------
        batches : list of Tensor
            Patches, in batches of shape ``(n, 1, B, S, S)``.
        targets : ndarray of shape (n_samples, n_targets)
            Their targets, as the network regresses them (NaN rows left out).
        sample_weight : ndarray of shape (n_samples,) or None, default=None

        Returns
        -------
        self
        """
        if not bool((self.kernel_gamma > 0).any()):
            return self
        spectra = self._mean_spectra(batches)
        y = np.asarray(targets, dtype=np.float64).reshape(len(spectra), -1)
        keep = ~np.isnan(y).any(axis=1)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        keep &= w > 0
        return self._fit_kernel_spectra(spectra[keep], y[keep], w[keep])

    def _fit_kernel_spectra(self, spectra, y, w):
        """Fit the chosen kernel models on (at most MAX_SUPPORT of) these mean spectra; keep them as buffers."""
        rows = support_rows(len(spectra))
        mean, scale = _standardizer(spectra[rows])
        gamma, alpha = self.kernel_gamma.cpu().numpy(), self.kernel_alpha.cpu().numpy()
        # targets with a linear partner get a placeholder model (their coefficients are never used)
        coef, intercept = fit_rbf_ridge((spectra[rows] - mean) / scale, y[rows], np.where(gamma > 0, gamma, 1.0),
                                        np.where(gamma > 0, alpha, 1.0), w[rows])
        coef[:, gamma == 0] = 0.0
        device = self.kernel_gamma.device
        self.kernel_mean.copy_(torch.from_numpy(mean))
        self.kernel_scale.copy_(torch.from_numpy(scale))
        self.kernel_support = torch.from_numpy((spectra[rows] - mean) / scale).to(device)
        self.kernel_coef = torch.from_numpy(coef).to(device)
        self.kernel_intercept.copy_(torch.from_numpy(intercept))
        return self

    @torch.no_grad()
    def parts(self, batches):
        """The two parts of the prediction, in evaluation mode: the classical partner's and the backbone's.

        The partner is the ridge map, or per target its kernel partner
        (:meth:`choose_kernel`) with ``ridge='blend'``.

        Parameters
        ----------
        batches : list of Tensor
            Patches, in batches of shape ``(n, 1, B, S, S)``.

        Returns
        -------
        ridge, backbone : ndarray of float64, shape (n_samples, n_targets)
        """
        was_training = self.training
        self.eval()
        ridge, net = [], []
        for x in batches:
            z = self.normalize(x)
            ridge.append(self.partner(z).double())  # the ridge map unless a kernel partner was chosen (blend)
            out = self.backbone(z)
            net.append((out[0] if isinstance(out, (tuple, list)) else out).double())
        self.train(was_training)
        return torch.cat(ridge).cpu().numpy(), torch.cat(net).cpu().numpy()

    @torch.no_grad()
    def fit_blend(self, batches, targets, sample_weight=None, clusters=None):
        """Choose the backbone's weight ``w`` per target on held-out patches (``ridge='blend'``).

        ``w`` minimises the squared error of ``ridge + w * (backbone - ridge)``
        on the given patches, clipped to [0, 1] (closed form: a one-variable
        least-squares problem per target). The blend is kept only where it
        beats ridge by more than one standard error of the per-window
        improvement (the "one-standard-error rule" of model selection, which
        prefers the simpler model when the evidence is thin); elsewhere
        ``w = 0``, ridge alone. On a few held-out windows a backbone that
        happens to fit them is otherwise taken for a better model.

        Overlapping windows are not independent: neighbours share most of their
        pixels, so the spread of their gains understates the uncertainty of the
        mean gain. Given ``clusters`` (e.g. the spatial cells the held-out
        windows fall in), the standard error is taken over the clusters' mean
        gains instead, each cluster one unit of evidence, as a cluster-robust
        standard error counts them (clusters whose windows all weigh 0 take no
        part); with fewer than two clusters there is no evidence of a gain, and
        ``w = 0``.

        Parameters
        ----------
        batches : list of Tensor
            Held-out patches, in batches of shape ``(n, 1, B, S, S)``.
        targets : ndarray of shape (n_samples, n_targets)
            Their targets, as the network regresses them.
        sample_weight : ndarray of shape (n_samples,) or None, default=None
            Weights of the held-out patches: ``w`` minimises the weighted
            squared error, and the rule compares the weighted mean gain with
            the standard error of the weighted gains.
        clusters : array-like of shape (n_samples,) or None, default=None
            A label per held-out patch; patches with one label count as one
            unit of evidence for the standard error. None: every patch is one.

        Returns
        -------
        self
        """
        ridge, net = self.parts(batches)
        y = np.asarray(targets, dtype=np.float64).reshape(ridge.shape)
        labeled = ~np.isnan(y).any(axis=1)  # unlabeled rows cannot judge anything
        ridge, net, y = ridge[labeled], net[labeled], y[labeled]
        v = np.ones((len(y), 1)) if sample_weight is None else np.asarray(sample_weight, np.float64)[labeled][:, None]
        v = v / max(v.mean(), np.finfo(np.float64).tiny)
        d = net - ridge
        w = np.clip((v * (y - ridge) * d).sum(axis=0) / np.maximum((v * d * d).sum(axis=0), np.finfo(np.float64).tiny),
                    0, 1)
        gain = v * ((y - ridge) ** 2 - (y - ridge - w * d) ** 2)  # per window and target: what the blend saves
        w = np.where(_beyond_one_se(gain, v[:, 0], None if clusters is None else np.asarray(clusters)[labeled]),
                     w, 0.0)
        self.blend.copy_(torch.from_numpy(w))
        return self


def _beyond_one_se(gain, weights, clusters=None):
    """Per target, whether the mean gain exceeds one standard error of its units of evidence.

    ``gain`` (n, n_targets) holds weighted per-window gains, ``weights`` (n,)
    the windows' weights (mean 1). Units are windows, or with ``clusters`` the
    clusters' weighted mean gains (clusters of weight 0 take no part); with
    fewer than two units there is no evidence of a gain.
    """
    units = gain
    if clusters is not None:
        _, label = np.unique(clusters, return_inverse=True)
        weight = np.bincount(label, weights=weights)
        sums = np.stack([np.bincount(label, weights=g) for g in gain.T], axis=1)
        keep = weight > 0
        units = sums[keep] / weight[keep, None]
    n = len(units)
    se = units.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(gain.shape[1], np.inf)
    return gain.mean(axis=0) > se


def _standardizer(X):
    """Column means and standard deviations of ``X`` (constant columns: scale 1)."""
    scale = X.std(axis=0)
    return X.mean(axis=0), np.where(scale > 0, scale, 1.0)


def _load_kernel_rows(module, state_dict, prefix, *args):
    """Before a state dict loads: give the kernel buffers the number of rows it holds.

    A state saved before the kernel partner existed holds none of its buffers:
    it loads as a network without a partner.
    """
    names = [prefix + name for name in KERNEL_BUFFERS]
    if not any(name in state_dict for name in names):
        module.clear_kernel()
        state_dict.update({prefix + name: getattr(module, name) for name in KERNEL_BUFFERS})
    for name in KERNEL_ROWS:
        saved = state_dict.get(prefix + name)
        current = getattr(module, name)
        if saved is not None and saved.ndim == 2 and saved.shape[1:] == current.shape[1:]:
            setattr(module, name, current.new_zeros(saved.shape))
