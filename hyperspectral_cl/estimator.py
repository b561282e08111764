"""ContrastivePatchRegressor: a skorch regressor trained with MSE + alpha x a contrastive loss."""

import threading
from contextlib import contextmanager, nullcontext
from numbers import Integral

import numpy as np
import torch
from scipy.spatial.distance import pdist
from sklearn.exceptions import NotFittedError
from skorch import NeuralNetRegressor
from skorch.callbacks import EpochTimer, PassthroughScoring, PrintLog
from skorch.utils import to_tensor
from torch.utils.data import DataLoader

from ._torch_utils import frozen_batchnorm_stats, seeded_torch_rng
from ._validation import as_float_array, check_scalar, check_targets
from ._version import __version__
from .augment import make_augmentation
from .backbones import get_backbone
from .callbacks import EpochProgressBar
from .losses import get_contrastive_loss

__all__ = ["ContrastivePatchRegressor", "IncompatibleModelError", "TrainingDivergedError", "check_saved_version"]


class TrainingDivergedError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


class IncompatibleModelError(ValueError):
    """Raised when a pickled model was saved by an incompatible version of hyperspectral_cl."""


#: Key under which a pickled estimator records the package version that saved it.
_VERSION_KEY = "_hyperspectral_cl_version"

#: Held by every fit with a fixed seed: such a fit seeds torch's *global* generator (weight init,
#: shuffling, augmentations), which threads share. Without the lock, two seeded fits running in
#: threads of one process (joblib's threading backend, an in-process Dask cluster) draw from each
#: other's stream and a grid search stops being reproducible. Process-based workers (loky, Dask
#: worker processes) never contend for it.
_SEEDED_FIT_LOCK = threading.RLock()


@contextmanager
def _seeded_training(seed, device):
    """Seed torch's global generators for a training call, one seeded call per process at a time."""
    with _SEEDED_FIT_LOCK if seed is not None else nullcontext(), seeded_torch_rng(seed, device):
        yield


def check_saved_version(saved, current=__version__):
    """Refuse a model pickled by another minor series of the package (or by one that recorded none).

    Models load within one ``major.minor`` series: the network code, parameter
    names and fitted attributes may change between series.
    """
    if saved is None:
        raise IncompatibleModelError(
            "this model was saved by a version of hyperspectral_cl that records no version (older than 0.1.0); "
            f"this is {current}. Retrain it, or load it with the version that saved it."
        )
    if str(saved).split(".")[:2] != str(current).split(".")[:2]:
        series = ".".join(str(current).split(".")[:2])
        raise IncompatibleModelError(
            f"this model was saved by hyperspectral_cl {saved}; this is {current}, which loads models from "
            f"{series}.x only. Install hyperspectral-cl=={saved} to load it, or retrain it."
        )


class ContrastivePatchRegressor(NeuralNetRegressor):
    """Deep regression on hyperspectral patches with spectral-spatial contrastive learning.

    Trains a 3-D backbone with ``MSE(prediction, y) + alpha * contrastive``, where
    the contrastive term (Dhaini et al., Eq. 1-4) pulls together the features of
    samples whose targets lie within ``radius`` of each other, comparing each
    patch with the others and with an augmented view of every patch. With
    ``alpha=0`` or ``augment=None`` this is the plain regression baseline and no
    second forward pass runs.

    A skorch ``NeuralNetRegressor``: every skorch parameter works (``lr``,
    ``max_epochs``, ``callbacks``, ``optimizer__weight_decay``,
    ``module__<backbone option>``, ...). The network is built at fit time from the
    data's band count, patch size and number of targets.

    Parameters
    ----------
    backbone : str or nn.Module class, default='li'
        A registered name: ``'luo'``, ``'hamida'``, ``'li'``, ``'atik'`` or
        ``'varahagiri'`` (alias ``'3d-convsst'``), see
        :func:`hyperspectral_cl.backbones.list_backbones`; or a module class
        built as ``cls(n_bands, patch_size, n_targets, **module__options)``
        whose ``forward(x)`` maps ``(N, 1, B, S, S)`` to ``(prediction, features)``.
        Backbone options are given as ``module__<name>=value``.
    augment : None, str, list of str or Transform, default='spatial'
        How the second view is made (see
        :func:`hyperspectral_cl.augment.make_augmentation`): ``'spectral'``,
        ``'spatial'``, ``'spectral-spatial'`` (a spatial transform then a spectral
        one, the paper's headline variant), a transform name, a list of names
        (one drawn per sample), a transform object, or None (baseline). The
        default is the variant that helped most in the package's reproduction
        of the paper (README, "Does contrastive learning help?").
    alpha : float, default=1.0
        Weight of the contrastive term, ``>= 0``. 1.0 was the best value of
        {0.01, 0.1, 1.0} in the reproduction; tune it (e.g. GridSearchCV over
        ``alpha`` and ``radius``) on your data.
    radius : float or None, default=None
        Positive pairs have targets within this Euclidean distance, in target
        units (the paper's ``r``), ``>= 0``. None picks it from the training
        targets: the distance within which ``positive_fraction`` of the pairs
        lie (stored in ``radius_``), which adapts to the spread of the targets.
    positive_fraction : float, default=0.05
        Share of training pairs that are positives when ``radius=None``, in (0, 1].
    temperature : float, default=0.1
        Temperature of the cosine similarities, ``> 0``.
    contrastive : str or callable, default='supcon'
        The contrastive loss: ``'paper'`` (Eq. 2 exactly), ``'paper-mean'``,
        ``'supcon'`` (SupCon form with the radius mask) or ``'bce'`` (the authors'
        public code), see :mod:`hyperspectral_cl.losses`; or a function
        ``f(features, targets, *, radius, temperature)``.
    standardize_targets : bool or 'auto', default='auto'
        Whether the network regresses standardised targets (zero mean, unit
        variance per target; predictions are mapped back). Patch-mean abundances
        often vary by a few hundredths, which a network trained on raw values
        barely fits. ``'auto'`` standardises unless the backbone's head is
        ``'simplex'`` (whose outputs must stay on the simplex). The contrastive
        radius always refers to raw targets.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batch shuffling and augmentations. With an
        int, CPU training is reproducible; torch's global random state is left
        untouched.
    criterion : torch loss class, default=torch.nn.MSELoss
        Regression loss.
    optimizer : torch optimizer class, default=torch.optim.SGD
        The paper's optimiser; with SGD, ``optimizer__momentum`` defaults to 0.9.
    lr : float, default=0.001
        Learning rate (with the flattened features of 3-D backbones, larger SGD
        steps diverge).
    max_epochs : int, default=50
        Fixed epoch budget. For early stopping, pass
        ``train_split=skorch.dataset.ValidSplit(0.1)`` and
        ``callbacks=[skorch.callbacks.EarlyStopping(load_best=True)]``.
    batch_size : int, default=256
        Mini-batch size (the paper's).
    train_split : callable or None, default=None
        skorch's internal validation split; None trains on all data (what a
        grid search or a cross-validation wants).
    callbacks : list or None, default=None
        Extra skorch callbacks.
    verbose : int, default=0
        0: silent; 1: a progress bar over epochs; 2: a table of losses per epoch.
    device : str, default='cpu'
        Torch device, e.g. ``'cuda'``.
    **kwargs
        Other skorch parameters (``iterator_train__shuffle`` defaults to True).

    Attributes
    ----------
    module_ : torch.nn.Module
        The fitted backbone.
    n_bands_in_ : int
        Number of bands seen in fit.
    patch_size_ : int
        Patch side seen in fit.
    n_targets_ : int
        Number of targets.
    y_ndim_ : int
        Number of dimensions of ``y`` in fit (1 or 2); :meth:`predict` returns the same.
    radius_ : float
        The radius used (``radius``, or the one derived from the targets).
    y_mean_, y_scale_ : ndarray of shape (n_targets,)
        Target standardisation (0 and 1 when it is off).
    augment_ : Transform or None
        The resolved augmentation.
    history_ : skorch.History
        Per-epoch ``train_loss`` and, when the contrastive term is active,
        ``train_mse`` and ``train_contrastive`` (``valid_*`` with a train_split).

    Notes
    -----
    Input is the output of :class:`~hyperspectral_cl.PatchExtractor`: float
    patches of shape ``(n_samples, 1, n_bands, S, S)``; ``y`` of shape
    ``(n_samples,)`` or ``(n_samples, n_targets)``. :meth:`predict` returns the
    same shape as ``y`` had in fit; :meth:`score` is R^2 averaged over targets.

    For backbones with BatchNorm, the augmented view is normalised with its own
    batch statistics but does not update the running statistics.

    **Parallel searches.** With an int ``random_state`` a grid search gives the
    same scores with ``n_jobs=1`` and ``n_jobs>1`` (tested). Process workers
    (joblib's default loky backend) start with ``OMP_NUM_THREADS`` and the other
    thread-count variables set to ``cpu_count // n_jobs`` (unless the parent
    process set them), and torch reads them at start-up, so workers do not
    oversubscribe the cores; Dask worker processes start with
    ``OMP_NUM_THREADS=1``. Seeded fits seed torch's global generator, which
    the threads of one process share: in thread workers (joblib's threading
    backend, a Dask cluster with ``processes=False``) they run one at a time,
    so results stay reproducible (unseeded fits are not serialised).

    **Accelerate.** ``class AcceleratedRegressor(skorch.hf.AccelerateMixin,
    ContrastivePatchRegressor)`` trains through an ``accelerate.Accelerator``
    (mixed precision, several GPUs); leave ``device=None`` so that the
    accelerator places the model. With several processes, each computes the
    contrastive term over its own share of the batch.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from hyperspectral_cl import PatchExtractor, ContrastivePatchRegressor
    >>> model = make_pipeline(PatchExtractor(10), ContrastivePatchRegressor("li", random_state=0))
    """

    def __init__(
        self,
        backbone="li",
        *,
        augment="spatial",
        alpha=1.0,
        radius=None,
        positive_fraction=0.05,
        temperature=0.1,
        contrastive="supcon",
        standardize_targets="auto",
        random_state=None,
        criterion=torch.nn.MSELoss,
        optimizer=torch.optim.SGD,
        lr=0.001,
        max_epochs=50,
        batch_size=256,
        train_split=None,
        callbacks=None,
        verbose=0,
        device="cpu",
        **kwargs,
    ):
        # set before skorch's __init__: afterwards skorch refuses nn.Module values on public
        # attributes, and a module instance passed as backbone must reach fit's clear error
        self.backbone = backbone
        self.augment = augment
        self.alpha = alpha
        self.radius = radius
        self.positive_fraction = positive_fraction
        self.temperature = temperature
        self.contrastive = contrastive
        self.standardize_targets = standardize_targets
        self.random_state = random_state
        kwargs.setdefault("iterator_train__shuffle", True)
        if optimizer is torch.optim.SGD:
            kwargs.setdefault("optimizer__momentum", 0.9)
        super().__init__(
            module=backbone,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            callbacks=callbacks,
            verbose=verbose,
            device=device,
            **kwargs,
        )

    # skorch calls the network parameter ``module``; here it is ``backbone``. The alias
    # keeps a single public parameter (so clone/get_params see only ``backbone``).
    @property
    def module(self):
        return self.backbone

    @module.setter
    def module(self, value):
        self.backbone = value

    # ------------------------------------------------------------------ set-up
    @property
    def _default_callbacks(self):
        callbacks = [("epoch_timer", EpochTimer())]
        for name in ("loss", "mse", "contrastive"):
            callbacks.append((f"train_{name}", PassthroughScoring(name=f"train_{name}", on_train=True)))
            callbacks.append((f"valid_{name}", PassthroughScoring(name=f"valid_{name}")))
        if self.verbose >= 2:
            callbacks.append(("print_log", PrintLog()))
        elif self.verbose == 1:
            callbacks.append(("progress_bar", EpochProgressBar()))
        return callbacks

    def _check_params(self):
        """Validate hyper-parameters at fit time (``__init__`` only stores them)."""
        check_scalar(self.alpha, "alpha", min_val=0.0)
        if self.radius is not None:
            check_scalar(self.radius, "radius", min_val=0.0)
        check_scalar(self.positive_fraction, "positive_fraction", min_val=0.0, max_val=1.0, include_min=False)
        if self.standardize_targets not in (True, False, "auto"):
            raise ValueError(f"standardize_targets must be True, False or 'auto', got {self.standardize_targets!r}")
        check_scalar(self.temperature, "temperature", min_val=0.0, include_min=False)
        check_scalar(self.lr, "lr", min_val=0.0, include_min=False)
        check_scalar(self.max_epochs, "max_epochs", kind=Integral, min_val=0)
        check_scalar(self.batch_size, "batch_size", kind=Integral)
        if self.batch_size < 1 and self.batch_size != -1:
            raise ValueError(f"batch_size must be >= 1 (or -1 for the whole data), got {self.batch_size}")
        get_contrastive_loss(self.contrastive)
        rs = self.random_state
        if not (rs is None or isinstance(rs, np.random.RandomState) or (isinstance(rs, Integral) and not isinstance(rs, bool))):
            raise TypeError(f"random_state must be None, an int or a numpy RandomState, got {rs!r}")

    def _validate_X(self, X):
        X = as_float_array(X, "X", ndim=5)
        if X.shape[1] != 1 or X.shape[3] != X.shape[4]:
            raise ValueError(
                "X must have shape (n_samples, 1, n_bands, S, S), the output of PatchExtractor; "
                f"got {X.shape}. Put a PatchExtractor before this estimator to go from windows "
                "(n_samples, height, width, n_bands) to patches."
            )
        return X

    def _prepare_fit_data(self, X, y, reset, caller="partial_fit"):
        """Check inputs and hyper-parameters; record the data's shape when ``reset``.

        ``caller`` (``'fit'`` or ``'partial_fit'``) picks the advice given when the
        data's shape does not match the fitted network.
        """
        self._check_params()
        X = self._validate_X(X)
        y, was_1d = check_targets(y, X.shape[0])
        n_bands, size, n_targets = X.shape[2], X.shape[3], y.shape[1]
        if reset:
            check_shape = getattr(get_backbone(self.backbone), "check_input_shape", None)
            if check_shape is not None:  # minimum sizes, before torch raises a shape error
                check_shape(n_bands, size)
            make_augmentation(self.augment)  # fail early on unknown names
            self.n_bands_in_, self.patch_size_, self.n_targets_ = n_bands, size, n_targets
            self.y_ndim_ = 1 if was_1d else 2
            self._learn_target_statistics(y)
        elif (n_bands, size, n_targets) != (self.n_bands_in_, self.patch_size_, self.n_targets_):
            advice = (
                "warm_start=True makes fit continue training the fitted network: set warm_start=False "
                "(or fit a clone) to start again with data of a new shape"
                if caller == "fit"
                else "call fit instead of partial_fit to start again"
            )
            raise ValueError(
                f"data of shape (bands={n_bands}, patch={size}, targets={n_targets}) does not match the "
                f"fitted network (bands={self.n_bands_in_}, patch={self.patch_size_}, "
                f"targets={self.n_targets_}); {advice}"
            )
        return X, ((y - self.y_mean_) / self.y_scale_).astype(np.float32)

    def _uses_target_scaling(self):
        if self.standardize_targets == "auto":
            return self.get_params_for("module").get("head", "linear") != "simplex"
        return bool(self.standardize_targets)

    def _learn_target_statistics(self, y):
        """Target mean/scale for standardisation and the data-driven radius."""
        n_targets = y.shape[1]
        if self._uses_target_scaling():
            std = y.std(axis=0, dtype=np.float64)
            std[std == 0] = 1.0  # constant targets: only centre them
            self.y_mean_, self.y_scale_ = y.mean(axis=0, dtype=np.float64).astype(np.float32), std.astype(np.float32)
        else:
            self.y_mean_, self.y_scale_ = np.zeros(n_targets, np.float32), np.ones(n_targets, np.float32)
        if self.radius is not None:
            self.radius_ = float(self.radius)
        else:
            # quantile of pairwise distances on a fixed subsample (bounded cost, deterministic)
            sub = y if len(y) <= 2000 else y[np.random.default_rng(0).choice(len(y), 2000, replace=False)]
            pairs = pdist(sub.astype(np.float64))  # condensed i < j distances, no n x n x s array
            self.radius_ = float(np.quantile(pairs, self.positive_fraction)) if pairs.size else 0.0

    def initialize_module(self):
        """Build the backbone from the data's shape recorded by fit."""
        if not hasattr(self, "n_bands_in_"):
            raise NotFittedError(
                f"{type(self).__name__} builds its network from the data: call fit(X, y) rather than initialize()"
            )
        cls = get_backbone(self.backbone)
        self.module_ = cls(self.n_bands_in_, self.patch_size_, self.n_targets_, **self.get_params_for("module"))
        # the augmented view belongs with the network: set here too, because mixins that replace
        # initialize() (skorch.hf.AccelerateMixin) still build the module through this method
        self.augment_ = make_augmentation(self.augment)
        return self

    #: Components skorch builds afresh at every fit/predict call: nothing to re-initialise when
    #: their parameters change (skorch 1.4's set_params raises "Something went wrong" for them
    #: on an initialised net, because it looks for a module or criterion to rebuild).
    _REBUILT_PREFIXES = ("iterator_train__", "iterator_valid__", "dataset__")

    def set_params(self, **params):
        """Set parameters, including those of a transform given as ``augment`` (``augment__<name>``).

        skorch would store ``augment__max_shift`` as an attribute of the net;
        here it is set on the ``augment`` object, as scikit-learn does for
        nested estimators, so ``GridSearchCV`` can tune augmentation strengths.
        ``iterator_train__*``, ``iterator_valid__*`` and ``dataset__*`` can be set
        on a fitted net too (e.g. ``iterator_valid__batch_size`` before predicting
        on a large scene); they apply from the next call.

        Returns
        -------
        self
        """
        nested = {k.split("__", 1)[1]: v for k, v in params.items() if k.startswith("augment__")}
        rebuilt = {k: v for k, v in params.items() if k.startswith(self._REBUILT_PREFIXES)}
        super().set_params(
            **{k: v for k, v in params.items() if not k.startswith("augment__") and k not in rebuilt}
        )
        for key, value in rebuilt.items():  # what skorch does for them before initialisation
            setattr(self, key, value)
            self._params_to_validate.add(key)
        if rebuilt and getattr(self, "initialized_", False):
            self._validate_params()  # skorch's own checks (e.g. its iterator_valid__shuffle warning)
        if nested:
            if not hasattr(self.augment, "set_params"):
                raise ValueError(
                    f"augment__ parameters ({', '.join(sorted(nested))}) need augment to be a transform object, "
                    f"e.g. augment=SpectralShift(); got augment={self.augment!r}"
                )
            self.augment.set_params(**nested)
            if getattr(self, "initialized_", False):
                self.augment_ = make_augmentation(self.augment)
        return self

    def _rng_device(self):
        """Device whose generator a seeded fit forks: ``device``, or the accelerator's when ``device=None``."""
        if self.device is not None:
            return self.device
        return getattr(getattr(self, "accelerator", None), "device", None) or "cpu"

    def _seed_for_call(self):
        """Seed for this fit call: fixed by random_state, advanced by epochs already run."""
        if self.random_state is None:
            return None
        if isinstance(self.random_state, np.random.RandomState):
            return int(self.random_state.randint(np.iinfo(np.int32).max))
        done = len(self.history_) if self.initialized_ and self.history_ is not None else 0
        return int(np.random.SeedSequence([int(self.random_state), done]).generate_state(1)[0])

    # ---------------------------------------------------------------- training
    def fit(self, X, y, **fit_params):
        """Build the network for the data's shape and train it.

        Parameters
        ----------
        X : array-like of shape (n_samples, 1, n_bands, S, S)
            Patches, e.g. from :class:`~hyperspectral_cl.PatchExtractor`.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        **fit_params : dict
            Passed to skorch's ``train_split`` (e.g. ``groups``).

        Returns
        -------
        self : ContrastivePatchRegressor
        """
        reset = not (self.warm_start and self.initialized_)
        X, y = self._prepare_fit_data(X, y, reset=reset, caller="fit")
        with _seeded_training(self._seed_for_call(), self._rng_device()):
            if reset:
                self.initialize()
            # NeuralNet.partial_fit: the training loop, stopping cleanly on KeyboardInterrupt
            super().partial_fit(X, y, _routing_method="fit", **fit_params)
        return self

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs without re-initialising the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, 1, n_bands, S, S)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        classes : None
            Ignored.
        **fit_params : dict

        Returns
        -------
        self : ContrastivePatchRegressor
        """
        X, y = self._prepare_fit_data(X, y, reset=not self.initialized_)
        with _seeded_training(self._seed_for_call(), self._rng_device()):
            if not self.initialized_:
                self.initialize()
            super().partial_fit(X, y, **fit_params)
        return self

    def get_iterator(self, dataset, training=False):
        """skorch's iterator; inference loaders get a private generator.

        A DataLoader draws a base seed from torch's global generator even when it
        does not shuffle; a private generator keeps predict from changing the
        caller's global random state.
        """
        if training or self.iterator_valid is not DataLoader:
            return super().get_iterator(dataset, training=training)
        kwargs = self.get_params_for("iterator_valid")
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        kwargs.setdefault("generator", torch.Generator())
        return self.iterator_valid(dataset, **kwargs)

    def infer(self, x, **fit_params):
        # fit params such as ``groups`` are meant for train_split, not for the backbone
        return super().infer(x)

    def _contrastive_active(self):
        return self.alpha > 0 and getattr(self, "augment_", None) is not None

    def _record(self, key, value):
        if self.history_ is not None and len(self.history_) and self.history_[-1]["batches"]:
            self.history_.record_batch(key, float(value))

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """MSE on the prediction plus ``alpha`` times the contrastive loss of both views.

        Parameters
        ----------
        y_pred : tuple of Tensor or Tensor
            ``(prediction, features)`` from the backbone (a bare prediction is
            accepted when the contrastive term is inactive).
        y_true : Tensor
            Targets of the batch.
        X : Tensor
            The batch of patches (needed for the augmented view).
        training : bool
            Whether this is a training step.

        Returns
        -------
        loss : scalar Tensor
        """
        pred, features = (y_pred[0], y_pred[1]) if isinstance(y_pred, (tuple, list)) else (y_pred, None)
        y_true = to_tensor(y_true, device=self.device)
        if y_true.ndim == 1:
            y_true = y_true[:, None]
        mse = self.criterion_(pred, y_true)  # in standardised target units when scaling is on
        prefix = "train" if training else "valid"
        loss = mse
        if self._contrastive_active() and X is not None:
            if features is None:
                raise TypeError("the backbone must return (prediction, features) for contrastive training")
            x = to_tensor(X, device=self.device)
            x_aug = self.augment_(x)
            with frozen_batchnorm_stats(self.module_):
                _, features_aug = self.module_(x_aug)
            # positives are defined on raw targets, where the radius lives
            scale = torch.as_tensor(self.y_scale_, device=y_true.device)
            mean = torch.as_tensor(self.y_mean_, device=y_true.device)
            y_raw = y_true * scale + mean
            con = get_contrastive_loss(self.contrastive)(
                torch.cat([features, features_aug]),
                torch.cat([y_raw, y_raw]),
                radius=self.radius_,
                temperature=self.temperature,
            )
            loss = mse + self.alpha * con
            self._record(f"{prefix}_mse", mse.item())
            self._record(f"{prefix}_contrastive", con.item())
        if training and not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"the training loss became {loss.item()} at epoch {len(self.history_)}: training diverged. "
                f"The usual cause is a learning rate too large for the data (lr={self.lr}); lower lr, "
                "standardise the inputs (PatchExtractor(standardize=True)) or lower alpha."
            )
        return loss

    # --------------------------------------------------------------- inference
    def _check_fitted_input(self, X):
        if not getattr(self, "initialized_", False) or not hasattr(self, "n_bands_in_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )
        X = self._validate_X(X)
        if X.shape[2] != self.n_bands_in_:
            raise ValueError(f"X has {X.shape[2]} bands but the model was fitted on {self.n_bands_in_}")
        if X.shape[3] != self.patch_size_:
            raise ValueError(
                f"X has {X.shape[3]} x {X.shape[4]} patches but the model was fitted on "
                f"{self.patch_size_} x {self.patch_size_}"
            )
        return X

    def predict(self, X):
        """Predict targets for patches.

        Parameters
        ----------
        X : array-like of shape (n_samples, 1, n_bands, S, S)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Same layout as the ``y`` given to fit.
        """
        X = self._check_fitted_input(X)
        pred = super().predict(X) * self.y_scale_ + self.y_mean_
        return pred.ravel() if self.y_ndim_ == 1 else pred

    def embed(self, X):
        """Return the backbone's features (the contrastive embedding) for ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, 1, n_bands, S, S)

        Returns
        -------
        features : ndarray of shape (n_samples, n_features)
        """
        X = self._check_fitted_input(X)
        feats = [f.numpy() for _, f in self.forward_iter(X, training=False, device="cpu")]
        return np.concatenate(feats, axis=0)

    # ------------------------------------------------------------- persistence
    def __getstate__(self):
        state = super().__getstate__()
        state[_VERSION_KEY] = __version__
        return state

    def __setstate__(self, state):
        # pickles execute code when loaded: load only files you trust
        check_saved_version(state.pop(_VERSION_KEY, None))
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.two_d_array = False
        tags.non_deterministic = self.random_state is None or str(self.device).startswith("cuda")
        return tags
