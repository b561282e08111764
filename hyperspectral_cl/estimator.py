"""ContrastivePatchRegressor: a skorch regressor trained with MSE + alpha x a contrastive loss."""

import copy
import warnings
from contextlib import nullcontext
from numbers import Integral

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import KFold
from sklearn.utils import check_random_state
from skorch import NeuralNetRegressor
from skorch.callbacks import EpochTimer, GradientNormClipping, PassthroughScoring, PrintLog
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator, to_tensor
from torch import nn
from torch.utils.data import DataLoader, Subset

from ._rng import (
    RandomStreams,
    active_streams,
    current_generator,
    current_streams,
    draw_seed,
    init_parameters,
    seeded_build,
)
from ._torch_utils import frozen_batchnorm_stats
from ._validation import check_float_array, check_sample_weight, check_scalar, check_targets
from ._version import __version__
from .augment import Transform, make_augmentation
from .backbones import get_backbone
from .callbacks import EpochProgressBar, RestoreBestValidation, WarmupCosineLR, raised_by_callback
from .losses import ContrastiveCriterion, get_contrastive_loss, radius_from_quantile
from .model_selection import SpatialBlockSplit, near_windows, spatial_holdout
from .network import RIDGE_MODES, SPECTRUM_NORMS, PatchNetwork
from .sampling import LabeledUnlabeledBatchSampler

__all__ = [
    "ContrastivePatchRegressor",
    "IncompatibleModelError",
    "OverlappingValidationWarning",
    "TrainingDivergedError",
    "check_saved_version",
]

#: Accepted ``precision`` values and the dtype autocast runs in (None: float32, no autocast).
PRECISIONS = ("fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: Fewest labeled windows with which ``early_stopping='auto'`` holds some out for validation (the held-out
#: windows also choose the ridge blend, which is worth a few noisy windows even on small label sets).
EARLY_STOPPING_MIN_SAMPLES = 20


class TrainingDivergedError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


class OverlappingValidationWarning(UserWarning):
    """Early stopping validates on random windows, which overlap training windows (pass ``groups=coords``)."""


class IncompatibleModelError(ValueError):
    """Raised when a pickled model was saved by an incompatible version of hyperspectral_cl."""


#: Key under which a pickled estimator records the package version that saved it.
_VERSION_KEY = "_hyperspectral_cl_version"

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
    second forward pass runs. By default (``alpha='auto'``) the term is on when
    unlabeled windows take part (``semi_supervised=True``), where it is the
    only thing that learns from them, and off otherwise.

    The default training recipe is built to train on data nobody tuned it on
    (user guide, "The training recipe and what it achieves"): the network normalises its input with
    statistics of the training patches *after* augmentation (so physical
    transforms see the values you passed); it trains with AdamW, a
    learning-rate warm-up and cosine decay and gradient-norm clipping; it stops
    early on a spatially disjoint validation split, keeping the best epoch; and
    its prediction is blended with a classical model of the mean spectrum,
    ridge regression or, where cross-validation prefers it, RBF kernel ridge
    (``ridge_kernel``), with the blend chosen on the validation windows
    (``ridge``), so it does not fall below the models a practitioner would fit
    first.

    A skorch ``NeuralNetRegressor``: every skorch parameter works (``lr``,
    ``max_epochs``, ``callbacks``, ``optimizer__weight_decay``,
    ``module__<backbone option>``, ``callbacks__<name>__<option>``...). The network
    is built at fit time from the data's band count, patch size and number of
    targets.

    Parameters
    ----------
    backbone : str or nn.Module class, default='pixel-mlp'
        A registered name: ``'pixel-mlp'`` (alias ``'pixel'``), ``'luo'``,
        ``'hamida'``, ``'li'``, ``'atik'`` or ``'varahagiri'`` (alias
        ``'3d-convsst'``), see
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
        augmentation sees the patches as given to fit (before the network's
        normalisation), so physical transforms (Hapke, atmospheric) see
        reflectance when the patches hold reflectance.
    alpha : float or 'auto', default='auto'
        Weight of the contrastive term, ``>= 0`` (the paper uses 1). ``'auto'``
        is 1 when unlabeled windows take part (``semi_supervised=True`` or
        ``pretrain_epochs > 0``: the term is what learns from them) and 0
        otherwise: with a label on every training window the term brought no
        reliable gain in this package's benchmarks and lowered the default
        backbone (user guide, "The training recipe and what it achieves").
        Set it, or tune it with a grid search, to train as the paper does.
    radius : float or None, default=None
        Positive pairs have targets within this Euclidean distance, in target
        units (the paper's ``r``), ``>= 0``. None picks it from the training
        targets (not those held out for early stopping): the distance within
        which ``positive_fraction`` of the pairs lie (stored in ``radius_``),
        which adapts to the spread of the targets.
    positive_fraction : float, default=0.05
        Share of training pairs that are positives when ``radius=None``, in (0, 1].
    temperature : float, default=0.1
        Temperature of the cosine similarities, ``> 0``.
    contrastive : str, callable or nn.Module class, default='supcon'
        The contrastive loss: ``'paper'`` (Eq. 2 exactly), ``'paper-mean'``,
        ``'supcon'`` (SupCon form with the radius mask) or ``'bce'`` (the authors'
        public code), see :mod:`hyperspectral_cl.losses`; a function
        ``f(features, targets, *, radius, temperature)``; or a criterion class
        (e.g. a :class:`~hyperspectral_cl.losses.ContrastiveCriterion`
        subclass) built as ``cls(radius=, temperature=, target_scale=,
        **contrastive__options)`` and called as ``criterion(features, targets)``.
        It is built once per fit as the criterion ``contrastive_``;
        ``contrastive__<option>`` parameters reach its constructor (and override
        ``radius`` and ``temperature``).
    spectrum_norm : {'l2', None}, default='l2'
        Per-pixel spectrum normalisation inside the network, before the band
        standardisation: ``'l2'`` scales each pixel's spectrum to unit norm,
        which removes multiplicative illumination (shading, a spatial
        illumination pattern) at the cost of absolute brightness. Use None
        when the target depends on overall brightness (an albedo, say); on
        the benchmarks' abundance targets ``'l2'`` was better for every
        backbone and input size measured.
    standardize_inputs : bool, default=True
        Standardise each band inside the network with the mean and standard
        deviation of the training patches (fitted at the start of fit, on the
        training part of the split only).
    ridge : {'auto', 'blend', 'residual', None}, default='auto'
        How ridge regression on the patch's mean (normalised) spectrum takes
        part. Its map is the closed-form :class:`~sklearn.linear_model.RidgeCV`
        solution on the training patches (fitted before the first epoch, then
        fixed), see :class:`~hyperspectral_cl.network.PatchNetwork`.
        ``'blend'``: the backbone trains on its own, and the prediction is
        ``ridge + w * (backbone - ridge)`` with ``w`` in [0, 1] per target
        chosen on the validation windows after training (``blend_`` holds
        it), after which the ridge map is refitted on all the windows; without
        validation windows ``w = 1`` (the backbone alone), and with
        ``max_epochs=0`` ``w = 0`` (ridge alone). ``'residual'``: the
        prediction is the ridge map plus the backbone, whose output layer
        starts at zero, so training starts at the ridge solution and learns
        what ridge misses. None: the backbone alone (the paper's networks).
        ``'auto'``: ``'blend'``, or None with ``module__head='simplex'`` (a
        linear map would leave the simplex). The blend was the most accurate
        of the three in the package's measurements: a backbone trained from a
        fixed ridge start stayed near it where a backbone trained on its own
        went well beyond (user guide, "The training recipe and what it achieves").
    ridge_kernel : {'auto', 'linear'}, default='auto'
        The classical model the blend (``ridge='blend'``) falls back on.
        ``'linear'``: the ridge map. ``'auto'``: per target, RBF kernel ridge
        regression on the same (standardised) mean spectrum replaces the ridge
        map where cross-validation on the training part of the split prefers
        it (spatial blocks when fit is given window positions, and none, so a
        linear partner, where their buffers leave too few windows to train on;
        else four shuffled folds; widths and penalties from a grid, see
        :meth:`PatchNetwork.choose_kernel
        <hyperspectral_cl.network.PatchNetwork.choose_kernel>`); it is then
        refitted on all the windows (at most
        :data:`~hyperspectral_cl.kernel_ridge.MAX_SUPPORT` of them, evenly
        spaced). A backbone that learns nothing beyond a nonlinear function of
        the mean spectrum then leaves a model as good as kernel ridge, the
        nonlinear classical bar. Without validation windows the partner is
        linear. The choice is in ``partner_``.
    standardize_targets : bool or 'auto', default='auto'
        Whether the network regresses standardised targets (zero mean, unit
        variance per target; predictions are mapped back). ``'auto'``
        standardises unless the backbone's head is ``'simplex'``. The
        contrastive radius always refers to raw targets.
    early_stopping : bool or 'auto', default='auto'
        Hold out part of the training windows, stop when their loss has not
        improved for ``n_iter_no_change`` epochs, and keep the weights of the
        best epoch (the initial network counts as epoch 0). With window
        positions (``fit(X, y, groups=coords)``; in a Pipeline
        ``net__groups=coords``) one spatial region is held out, with the
        buffer of :class:`~hyperspectral_cl.SpatialBlockSplit`: an edge strip
        or blocks, whichever leaves the most training windows while keeping
        each target's spread in training
        (:func:`~hyperspectral_cl.model_selection.spatial_holdout`); without
        them a random share, with an :class:`OverlappingValidationWarning`
        (overlapping windows make that validation loss optimistic).
        ``'auto'``: on when fit gets at least 20 labeled windows and no
        ``train_split``.
        A ``train_split`` you pass replaces the hold-out.
    validation_fraction : float, default=0.15
        Share of the windows held out for early stopping, in (0, 1).
    n_iter_no_change : int, default=20
        Patience of early stopping, in epochs.
    semi_supervised : bool, default=False
        Accept unlabeled windows: rows of ``y`` whose targets are all NaN
        (as scikit-learn's semi-supervised estimators mark unlabeled rows).
        They take no part in the regression loss, the target statistics, the
        data-driven radius, the ridge map or the validation windows; in the
        contrastive term their only positive is their own augmented view
        (NT-Xent, as SimCLR), while labeled pairs keep the radius mask (see
        :func:`~hyperspectral_cl.losses.semi_supervised_positive_mask`). They
        do count in the network's input normalisation. Needs the contrastive
        term (``alpha > 0`` and an ``augment``). Without it, a NaN in ``y`` is
        an error.
    unlabeled_batch_size : int or None, default=None
        With unlabeled windows, each training batch holds ``batch_size``
        labeled windows plus this many unlabeled ones drawn at random, and an
        epoch is one pass over the labeled windows
        (:class:`~hyperspectral_cl.sampling.LabeledUnlabeledBatchSampler`), so
        the cost of an epoch does not grow with the unlabeled pool. None: as
        many as ``batch_size``.
    pretrain_epochs : int, default=0
        Epochs of self-supervised warm-up before the joint phase: the network
        is trained on the contrastive term alone (no regression loss), then on
        the full loss for the remaining epochs (``max_epochs`` counts both).
        Early stopping starts watching after the warm-up.
    detach_augmented : bool, default=False
        Whether the contrastive term back-propagates through the patches only,
        the augmented view's features serving as fixed points (a
        stop-gradient, as MoCo's keys and SimSiam's targets are). The augmented
        view then costs one forward pass without a backward pass or a stored
        graph: on the five paper backbones a contrastive step took 1.15-1.5
        baseline steps instead of 1.96-2.24 (``benchmarks/training_step.py``;
        little gain on ``'pixel-mlp'``, whose cost is outside the network).
        The gradient is not the paper's (which trains through both views): with
        the ridge blend on, accuracy was the same within the seed spread, but
        without it (``ridge=None``) results moved both ways, once far down
        (``benchmarks/detach_probe.py``; documentation, "Benchmarks"). Check
        it on a validation split before relying on it.
    precision : {'fp32', 'bf16', 'fp16'}, default='fp32'
        Arithmetic of the network's convolutions and matrix products:
        ``'bf16'`` and ``'fp16'`` run them under ``torch.autocast`` (training
        and prediction alike), ``'fp16'`` with a gradient scaler. The losses,
        the ridge map, the blend and the input normalisation stay in float32,
        and predictions are float32. ``'bf16'`` pays on CPUs with native
        bfloat16 (AVX512-BF16 or AMX: Intel Cooper Lake, Sapphire Rapids and
        later, AMD Zen 4 and later) and on NVIDIA GPUs from Ampere on;
        ``'fp16'`` on CUDA GPUs. Measured speed: ``benchmarks/training_step.py``;
        accuracy: ``benchmarks/recipe_ablation.py`` (documentation, "Benchmarks").
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batch shuffling, unlabeled draws,
        augmentations, dropout and the validation hold-out, each from a stream
        of its own (see Notes). With an int, CPU training is reproducible, also
        in threads; torch's global random state is left untouched.
    criterion : torch loss class, default=torch.nn.MSELoss
        Regression loss (also the validation loss).
    optimizer : torch optimizer class, default=torch.optim.AdamW
        Its options go as ``optimizer__<name>`` (AdamW's default weight decay,
        0.01, applies to the network's weights; the ridge map is not a
        parameter). The paper's recipe is SGD: see Notes.
    lr : float, default=0.003
        Peak learning rate (reached after the warm-up).
    max_epochs : int, default=100
        Epoch budget (early stopping usually ends training sooner).
    batch_size : int, default=64
        Mini-batch size. Label sets are often a few hundred windows: 64 gives
        AdamW enough steps (the paper used 256).
    train_split : callable or None, default=None
        skorch's internal validation split; None lets ``early_stopping``
        decide.
    callbacks : list or None, default=None
        Extra skorch callbacks. The recipe's own are named ``'lr_schedule'``
        (:class:`~hyperspectral_cl.callbacks.WarmupCosineLR`),
        ``'gradient_clipping'`` (skorch's ``GradientNormClipping(1.0)``) and
        ``'early_stopping'``
        (:class:`~hyperspectral_cl.callbacks.RestoreBestValidation`); set
        ``callbacks__<name>=None`` to switch one off, or
        ``callbacks__<name>__<option>=value`` to change it.
    verbose : int, default=0
        0: silent; 1: a progress bar over epochs; 2: a table of losses per epoch.
    device : str, default='cpu'
        Torch device, e.g. ``'cuda'``.
    **kwargs
        Other skorch parameters (``iterator_train__shuffle`` defaults to True).

    Attributes
    ----------
    module_ : PatchNetwork
        The fitted network: input normalisation, the backbone (``module_.backbone``)
        and the ridge skip connection, see :class:`~hyperspectral_cl.network.PatchNetwork`.
    contrastive_ : nn.Module
        The contrastive criterion.
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
    validation_indices_ : ndarray of int or None
        Rows of the last fit's ``X`` held out for validation (early stopping and
        the ridge blend), by ``early_stopping`` or by a ``train_split`` that
        returns subsets of the data (skorch's ``ValidSplit``); None when
        nothing was held out.
    training_indices_ : ndarray of int or None
        Rows the last fit trained on (without the held-out ones and, for a
        spatial hold-out, without the windows in its buffer); None when all
        rows trained or the ``train_split`` returns other datasets.
    best_epoch_ : int or None
        Epoch whose weights were kept by early stopping (0: the initial network,
        i.e. ridge alone with ``ridge='residual'``); None without early stopping.
    blend_ : ndarray of shape (n_targets,) or None
        The backbone's weight ``w`` in the prediction with ``ridge='blend'``
        (0: the classical partner alone, 1: the backbone alone); None otherwise.
    partner_ : ndarray of str, shape (n_targets,) or None
        The blend's classical partner per target: ``'linear'`` (the ridge map)
        or ``'rbf'`` (RBF kernel ridge; see ``ridge_kernel``); None unless
        ``ridge='blend'``.
    grad_scaler_ : torch.amp.GradScaler or None
        The loss scaler of ``precision='fp16'``; None otherwise.
    history_ : skorch.History
        Per-epoch ``train_loss``, ``valid_loss`` (the regression loss on the
        held-out windows, deterministic for a given network), ``lr`` and, when
        the contrastive term is active, ``train_mse`` and ``train_contrastive``.

    Notes
    -----
    Input is the output of :class:`~hyperspectral_cl.PatchExtractor`: float
    patches of shape ``(n_samples, 1, n_bands, S, S)``; ``y`` of shape
    ``(n_samples,)`` or ``(n_samples, n_targets)``. :meth:`predict` returns the
    same shape as ``y`` had in fit; ``score`` is R^2 averaged over targets.

    **One training step** (:meth:`train_step_single`, skorch's extension point):
    the batch and its augmented view go through the network (for backbones with
    BatchNorm, the view is normalised with its own batch statistics but does not
    update the running ones); the loss is the regression criterion on the batch
    plus ``alpha`` times ``contrastive_`` on the features of both views. The
    validation loss is the regression criterion alone, with no augmentation.

    **The paper's recipe** (what the reproduction's "literal" rows use):
    ``optimizer=torch.optim.SGD, optimizer__momentum=0.9, lr=1e-3,
    batch_size=256, module__pooling=None, ridge=None, early_stopping=False,
    callbacks__lr_schedule=None, callbacks__gradient_clipping=None``.

    **Parallel searches.** With an int ``random_state`` a grid search gives the
    same scores with ``n_jobs=1`` and ``n_jobs>1`` (tested). Process workers
    (joblib's default loky backend) start with ``OMP_NUM_THREADS`` and the other
    thread-count variables set to ``cpu_count // n_jobs`` (unless the parent
    process set them), and torch reads them at start-up, so workers do not
    oversubscribe the cores; Dask worker processes start with
    ``OMP_NUM_THREADS=1``. Every fit draws from its own generators (weight
    initialisation, batch order, unlabeled draws, augmentations and dropout:
    separate streams derived from ``random_state``), not from torch's
    global one, so seeded fits give the same model in thread workers
    (joblib's threading backend, a Dask cluster with ``processes=False``),
    running side by side, as in sequence. (Building the network is the one
    step that touches the global generator, as torch's layers draw when
    created: it is seeded and restored around the build, which takes
    milliseconds and which fits in other threads wait for; the values are
    then drawn again from the fit's generator.) Without ``random_state`` the seed
    is drawn from torch's global generator (and the early-stopping hold-out
    from numpy's, as scikit-learn draws it), so ``torch.manual_seed`` and
    ``np.random.seed`` make such a fit repeatable. A custom backbone holding
    parameters of its own (not in torch's layers) keeps their values from
    the seeded build; re-drawing them in a ``reset_parameters(generator=None)``
    method makes them independent of other code drawing from the global
    generator at the same time too.

    **Accelerate.** Use
    :class:`hyperspectral_cl.accelerate.AcceleratedContrastivePatchRegressor`:
    skorch's ``AccelerateMixin`` replaces ``train_step_single``, so mixing it
    into this class directly would drop the contrastive term (refused with an
    error).

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from hyperspectral_cl import PatchExtractor, ContrastivePatchRegressor
    >>> model = make_pipeline(PatchExtractor(10), ContrastivePatchRegressor("li", random_state=0))
    """

    def __init__(
        self,
        backbone="pixel-mlp",
        *,
        augment="spatial",
        alpha="auto",
        radius=None,
        positive_fraction=0.05,
        temperature=0.1,
        contrastive="supcon",
        spectrum_norm="l2",
        standardize_inputs=True,
        ridge="auto",
        ridge_kernel="auto",
        standardize_targets="auto",
        early_stopping="auto",
        validation_fraction=0.15,
        n_iter_no_change=20,
        semi_supervised=False,
        unlabeled_batch_size=None,
        pretrain_epochs=0,
        detach_augmented=False,
        precision="fp32",
        random_state=None,
        criterion=torch.nn.MSELoss,
        optimizer=torch.optim.AdamW,
        lr=0.003,
        max_epochs=100,
        batch_size=64,
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
        self.spectrum_norm = spectrum_norm
        self.standardize_inputs = standardize_inputs
        self.ridge = ridge
        self.ridge_kernel = ridge_kernel
        self.standardize_targets = standardize_targets
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.semi_supervised = semi_supervised
        self.unlabeled_batch_size = unlabeled_batch_size
        self.pretrain_epochs = pretrain_epochs
        self.detach_augmented = detach_augmented
        self.precision = precision
        self.random_state = random_state
        kwargs.setdefault("iterator_train__shuffle", True)
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
        # skorch's get_default_callbacks() returns this property and its get_params() reads it directly,
        # so this is the one place to define them (skorch's own NeuralNetClassifier overrides it too).
        # Timing, loss records, the recipe's schedule, clipping and early stopping; each can be changed
        # with callbacks__<name>__<option>=value or switched off with callbacks__<name>=None.
        callbacks = [("epoch_timer", EpochTimer())]
        for name in ("train_loss", "valid_loss", "train_mse", "train_contrastive"):
            callbacks.append((name, PassthroughScoring(name=name, on_train=name.startswith("train"))))
        callbacks.append(("lr_schedule", WarmupCosineLR()))
        callbacks.append(("gradient_clipping", GradientNormClipping(gradient_clip_value=1.0)))
        if self.early_stopping is not False:  # it only acts when there is validation data
            callbacks.append(("early_stopping", RestoreBestValidation(patience=self.n_iter_no_change)))
        if self.verbose >= 2:
            callbacks.append(("print_log", PrintLog()))
        elif self.verbose == 1:
            callbacks.append(("progress_bar", EpochProgressBar()))
        return callbacks

    def _check_params(self):
        """Validate hyper-parameters at fit time (``__init__`` only stores them)."""
        stray = sorted(k for k in vars(self) if k.startswith("augment__"))
        if stray:  # skorch keeps prefixed constructor arguments as attributes; nothing would read these
            raise TypeError(
                f"__init__() got unexpected argument(s) {', '.join(stray)}: a transform's parameters go to the "
                "transform (augment=SpectralShift(max_shift=3)) or through set_params(augment__max_shift=3)"
            )
        if isinstance(self.alpha, str):
            if self.alpha != "auto":
                raise TypeError(f"alpha must be a real number >= 0 or 'auto', got {self.alpha!r} (str)")
        else:
            check_scalar(self.alpha, "alpha", min_val=0.0)
        if self.radius is not None:
            check_scalar(self.radius, "radius", min_val=0.0)
        check_scalar(self.positive_fraction, "positive_fraction", min_val=0.0, max_val=1.0, include_min=False)
        if self.standardize_targets not in (True, False, "auto"):
            raise ValueError(f"standardize_targets must be True, False or 'auto', got {self.standardize_targets!r}")
        check_scalar(self.temperature, "temperature", min_val=0.0, include_min=False)
        if self.spectrum_norm not in SPECTRUM_NORMS:
            raise ValueError(f"spectrum_norm must be None or 'l2', got {self.spectrum_norm!r}")
        if not isinstance(self.standardize_inputs, (bool, np.bool_)):
            raise TypeError(f"standardize_inputs must be True or False, got {self.standardize_inputs!r}")
        if self.ridge not in ("auto", *RIDGE_MODES):
            raise ValueError(f"ridge must be 'auto', 'blend', 'residual' or None, got {self.ridge!r}")
        if self.ridge_kernel not in ("auto", "linear"):
            raise ValueError(f"ridge_kernel must be 'auto' or 'linear', got {self.ridge_kernel!r}")
        if self.early_stopping not in (True, False, "auto"):
            raise ValueError(f"early_stopping must be True, False or 'auto', got {self.early_stopping!r}")
        check_scalar(self.validation_fraction, "validation_fraction", min_val=0.0, max_val=1.0, include_min=False,
                     include_max=False)
        check_scalar(self.n_iter_no_change, "n_iter_no_change", kind=Integral, min_val=1)
        if not isinstance(self.semi_supervised, (bool, np.bool_)):
            raise TypeError(f"semi_supervised must be True or False, got {self.semi_supervised!r}")
        if self.unlabeled_batch_size is not None:
            check_scalar(self.unlabeled_batch_size, "unlabeled_batch_size", kind=Integral, min_val=0)
        check_scalar(self.pretrain_epochs, "pretrain_epochs", kind=Integral, min_val=0)
        if self.pretrain_epochs and self.pretrain_epochs >= self.max_epochs:
            raise ValueError(
                f"pretrain_epochs={self.pretrain_epochs} leaves no epoch of the joint phase within "
                f"max_epochs={self.max_epochs}: the regression head would never be trained; raise max_epochs"
            )
        if not isinstance(self.detach_augmented, (bool, np.bool_)):
            raise TypeError(f"detach_augmented must be True or False, got {self.detach_augmented!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {self.precision!r}")
        check_scalar(self.lr, "lr", min_val=0.0, include_min=False)
        check_scalar(self.max_epochs, "max_epochs", kind=Integral, min_val=0)
        check_scalar(self.batch_size, "batch_size", kind=Integral)
        if self.batch_size < 1 and self.batch_size != -1:
            raise ValueError(f"batch_size must be >= 1 (or -1 for the whole data), got {self.batch_size}")
        contrastive = self.contrastive
        if not (isinstance(contrastive, type) and issubclass(contrastive, nn.Module)):
            get_contrastive_loss(contrastive)
        rs = self.random_state
        if not (rs is None or isinstance(rs, np.random.RandomState) or (isinstance(rs, Integral) and not isinstance(rs, bool))):
            raise TypeError(f"random_state must be None, an int or a numpy RandomState, got {rs!r}")

    def _validate_X(self, X):
        X = check_float_array(X, "X", ndim=5, hints={
            4: "this looks like windows (n_samples, height, width, n_bands): put a PatchExtractor first, e.g. "
               "Pipeline([('patches', PatchExtractor(size)), ('net', ContrastivePatchRegressor(...))])",
            3: "this looks like one image cube (height, width, n_bands): cut it into windows with "
               "extract_windows or Scene.windows, then put a PatchExtractor before this estimator",
        })
        if X.shape[1] != 1 or X.shape[3] != X.shape[4]:
            raise ValueError(
                "X must have shape (n_samples, 1, n_bands, S, S), the output of PatchExtractor; "
                f"got {X.shape}. Put a PatchExtractor before this estimator to go from windows "
                "(n_samples, height, width, n_bands) to patches."
            )
        return X

    def _prepare_fit_data(self, X, y, reset, caller="partial_fit", sample_weight=None, groups=None):
        """Check inputs and hyper-parameters; record the data's shape when ``reset``.

        ``caller`` (``'fit'`` or ``'partial_fit'``) picks the advice given when the
        data's shape does not match the fitted network. Returns the patches, the
        standardised targets and the normalised weights (None without
        ``sample_weight``; NaN on unlabeled rows).
        """
        self._check_params()
        X = self._validate_X(X)
        y, was_1d = check_targets(y, X.shape[0], unlabeled_rows=self.semi_supervised)
        labeled = ~np.isnan(y).any(axis=1)
        weights = None
        if sample_weight is not None:
            weights = np.where(labeled, check_sample_weight(sample_weight, X.shape[0], labeled), np.nan)
        contrastive = self._alpha() > 0 and self.augment is not None
        if not labeled.all() and not contrastive:
            raise ValueError(
                f"{int((~labeled).sum())} unlabeled windows (NaN targets) can only be learned from through the "
                f"contrastive term, which is off (alpha={self.alpha!r}, augment={self.augment!r})"
            )
        if self.pretrain_epochs and not contrastive:
            raise ValueError(f"pretrain_epochs={self.pretrain_epochs} needs the contrastive term (alpha > 0 and an "
                             "augment): the warm-up trains on it alone")
        n_bands, size, n_targets = X.shape[2], X.shape[3], y.shape[1]
        if self._head() == "simplex":
            self._check_simplex_targets(y[labeled])
        if reset:
            check_shape = getattr(get_backbone(self.backbone), "check_input_shape", None)
            if check_shape is not None:  # minimum sizes, before torch raises a shape error
                check_shape(n_bands, size)
            make_augmentation(self.augment)  # fail early on unknown names
            self.n_bands_in_, self.patch_size_, self.n_targets_ = n_bands, size, n_targets
            self.y_ndim_ = 1 if was_1d else 2
            fit_rows = labeled
            if self._early_stopping_holdout(int(labeled.sum())):
                # the split is drawn here, once, so that the windows held out for early stopping and the blend
                # take no part in the target statistics and the radius either; get_split_datasets reuses it
                self._planned_holdout_ = self._holdout(y, groups)
                if self._planned_holdout_[1] is not None:
                    fit_rows = labeled & np.isin(np.arange(len(y)), self._planned_holdout_[0])
            self._learn_target_statistics(y[fit_rows], None if weights is None else weights[fit_rows])
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
        # in float64: targets near the float32 limit overflow when centred in float32
        return X, ((y.astype(np.float64) - self.y_mean_) / self.y_scale_).astype(np.float32), weights

    @staticmethod
    def _check_simplex_targets(y, tol=1e-3):
        """The simplex head predicts fractions that are >= 0 and sum to 1: refuse targets that are not."""
        off = np.flatnonzero((y < -tol).any(axis=1) | (np.abs(y.sum(axis=1) - 1) > tol))
        if off.size:
            rows = ", ".join(str(i) for i in off[:5]) + (", ..." if off.size > 5 else "")
            raise ValueError(
                f"module__head='simplex' predicts fractions (>= 0, summing to 1), but {off.size} labeled rows of y "
                f"are not (rows {rows}; first: {np.round(y[off[0]].astype(np.float64), 4).tolist()}). Use the default linear head, "
                "or give abundances that sum to one."
            )

    def _head(self):
        return self.get_params_for("module").get("head", "linear")

    def _uses_target_scaling(self):
        if self.standardize_targets == "auto":
            return self._head() != "simplex"
        return bool(self.standardize_targets)

    def _ridge_mode(self):
        """The resolved ``ridge``: 'blend', 'residual' or None."""
        if self.ridge == "auto":
            return None if self._head() == "simplex" else "blend"
        if self.ridge is not None and self._head() == "simplex":
            raise ValueError(
                f"ridge={self.ridge!r} cannot be combined with module__head='simplex': mixing a linear map into "
                "softmax outputs would leave the simplex; use ridge=None (or 'auto')"
            )
        return self.ridge

    def _learn_target_statistics(self, y, weights=None):
        """Target mean/scale for standardisation and the data-driven radius (weighted, as StandardScaler is)."""
        n_targets = y.shape[1]
        if weights is not None:  # windows of weight 0 take no part, the radius included
            y, weights = y[weights > 0], weights[weights > 0]
        if self._uses_target_scaling():
            mean = np.average(y.astype(np.float64), axis=0, weights=weights)
            std = np.sqrt(np.average((y - mean) ** 2, axis=0, weights=weights))
            std[std == 0] = 1.0  # constant targets: only centre them
            self.y_mean_, self.y_scale_ = mean.astype(np.float32), std.astype(np.float32)
        else:
            self.y_mean_, self.y_scale_ = np.zeros(n_targets, np.float32), np.ones(n_targets, np.float32)
        if self.radius is not None:
            self.radius_ = float(self.radius)
        else:  # a quantile of the pairwise target distances (0 without a pair)
            self.radius_ = float(radius_from_quantile(y, self.positive_fraction)) if len(y) > 1 else 0.0

    def _random_streams(self):
        """The running fit's random streams; outside a fit, fresh ones seeded as a new fit would be."""
        return current_streams() or RandomStreams(self._seed_for_call(True))

    def _check_fit_data_known(self):
        if not hasattr(self, "n_bands_in_"):
            raise NotFittedError(
                f"{type(self).__name__} builds its network from the data: call fit(X, y) rather than initialize()"
            )

    def initialize_module(self):
        """Build the network (normalisation, backbone, ridge skip) from the data's shape recorded by fit."""
        self._check_fit_data_known()
        cls = get_backbone(self.backbone)
        streams = self._random_streams()
        # torch's layers draw their first values from the global generator when created: seeded from the
        # fit's and restored after. A layer the package does not know keeps these values; every other is
        # drawn again from the fit's own generator below, which no other thread touches
        with seeded_build(streams.seed_for("construct")):
            backbone = cls(self.n_bands_in_, self.patch_size_, self.n_targets_, **self.get_params_for("module"))
            self.module_ = PatchNetwork(backbone, self.n_bands_in_, self.n_targets_, spectrum_norm=self.spectrum_norm,
                                        standardize=self.standardize_inputs, ridge=self._ridge_mode())
        init_parameters(self.module_, streams.generator("init"))
        # the augmented view belongs with the network: set here too, because mixins that replace
        # initialize() (skorch.hf.AccelerateMixin) still build the module through this method
        self.augment_ = self._build_augment()
        return self

    def _build_augment(self):
        """The fit's own augmentation, on the net's device (a caller's transforms are copied, never moved)."""
        augment = make_augmentation(self.augment)
        if isinstance(augment, nn.Module):
            augment = copy.deepcopy(augment)  # a list of names can hold the caller's transforms too
            if isinstance(augment, Transform):
                augment.validate()  # values set since construction: reported before training starts
            if self.device is not None:
                augment = augment.to(self.device)
        return augment

    def initialize_criterion(self):
        """The regression criterion (skorch's ``criterion``) and the contrastive one, ``contrastive_``.

        Setting ``contrastive_`` here registers it with skorch as a second criterion:
        it moves to the device with the network and ``contrastive__<option>``
        parameters are routed to its constructor.
        """
        super().initialize_criterion()
        self._check_fit_data_known()
        kwargs = {"radius": self.radius_, "temperature": self.temperature, "target_scale": self.y_scale_}
        if isinstance(self.contrastive, type) and issubclass(self.contrastive, nn.Module):
            cls = self.contrastive
        else:
            cls, kwargs["loss"] = ContrastiveCriterion, self.contrastive
        kwargs.update(self.get_params_for("contrastive"))
        self.contrastive_ = cls(**kwargs)
        return self

    #: Fitted attributes that predicting reads besides the network's weights: what a weights file
    #: stores (``hyperspectral_cl.persistence``); tests/test_persistence.py fails on one left out.
    _fitted_state = ("n_bands_in_", "patch_size_", "n_targets_", "y_ndim_", "y_mean_", "y_scale_", "radius_", "blend_")
    #: Parameters (and prefixes of nested ones) that only shape training: a weights file that cannot store
    #: one as data leaves it out, with a warning, instead of refusing the model.
    _training_only = frozenset({
        "augment", "alpha", "detach_augmented", "radius", "positive_fraction", "temperature", "contrastive",
        "random_state", "criterion", "optimizer", "lr", "max_epochs", "train_split", "callbacks", "iterator_train",
        "warm_start", "verbose", "use_caching", "torch_load_kwargs",
    })
    _training_only_prefixes = ("optimizer__", "criterion__", "callbacks__", "iterator_train__")

    #: skorch's documented list of parameter prefixes, with ``augment``: a transform is an ``nn.Module`` that the
    #: user passes (and ``set_params`` replaces), which skorch would otherwise refuse to set outside initialisation
    prefixes_ = [*NeuralNetRegressor.prefixes_, "augment"]
    #: skorch's documented list of attributes it pickles so that they load on a machine without the device they
    #: were on: the augmentation's derived tensors follow the network to its device
    cuda_dependent_attributes_ = [*NeuralNetRegressor.cuda_dependent_attributes_, "augment_"]

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
            **{k: v for k, v in params.items() if not k.startswith("augment") and k not in rebuilt}
        )
        if "augment" in params:  # a plain parameter for scikit-learn; skorch would look for a component to rebuild
            self.augment = params["augment"]
            if getattr(self, "initialized_", False):
                self.augment_ = self._build_augment()
        # what skorch's set_params does for them before initialisation; no documented hook does it after
        for key, value in rebuilt.items():
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
                self.augment_ = self._build_augment()
        return self

    def _seed_for_call(self, reset):
        """Seed for this fit call: fixed by random_state, advanced by the epochs a continued fit has run.

        Without a random_state it is drawn from torch's global generator, so ``torch.manual_seed`` before
        fit still governs an unseeded fit, as skorch documents.
        """
        if self.random_state is None:
            return draw_seed()
        if isinstance(self.random_state, np.random.RandomState):
            return int(self.random_state.randint(np.iinfo(np.int32).max))
        # a fresh fit must not depend on what an earlier fit of the same object did (fit twice == clone().fit)
        done = 0 if reset or not self.initialized_ or self.history_ is None else len(self.history_)
        return int(np.random.SeedSequence([int(self.random_state), done]).generate_state(1)[0])

    # ---------------------------------------------------------------- training
    def fit(self, X, y, groups=None, unlabeled=None, sample_weight=None, **fit_params):
        """Build the network for the data's shape and train it.

        Parameters
        ----------
        X : array-like of shape (n_samples, 1, n_bands, S, S)
            Patches, e.g. from :class:`~hyperspectral_cl.PatchExtractor`.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        groups : array-like of shape (n_samples, 2) or None, default=None
            The windows' top-left corners (``coords`` from
            :meth:`Scene.windows <hyperspectral_cl.datasets.Scene.windows>`):
            early stopping then holds out a spatial region. Also passed to
            a ``train_split`` you give (e.g. skorch's
            ``ValidSplit(SpatialBlockSplit(...))``). In a Pipeline:
            ``pipe.fit(X, y, net__groups=coords)``.
        unlabeled : UnlabeledPatches or None, default=None
            A pool of unlabeled patches (``semi_supervised=True``), e.g. a whole
            scene (:meth:`Scene.unlabeled_patches
            <hyperspectral_cl.datasets.Scene.unlabeled_patches>`): every training
            batch draws ``unlabeled_batch_size`` patches from it, so memory stays
            at the pool's cube plus a batch. With a spatial hold-out (``groups``
            given, ``train_split=None``), patches near the held-out windows are
            not drawn; the positions are then taken as the top-left corners of
            the *patches* (with windows larger than the patch, pass ``coords +
            (window - patch) // 2``).
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Non-negative weights of the windows (e.g. by measurement quality),
            as scikit-learn regressors take them: they weigh the regression loss
            (training and validation), the target standardisation and the ridge
            map and blend; windows of weight 0 take no part in them. The
            contrastive term treats windows alike. Weights of unlabeled rows are
            not used.
        **fit_params : dict
            Passed to a ``train_split`` you give (skorch's convention); without
            one, any other fit parameter is a TypeError.

        Returns
        -------
        self : ContrastivePatchRegressor
        """
        self._check_fit_params(fit_params)
        self._forget_call_state()
        reset = not (self.warm_start and self.initialized_)
        X, y, weights = self._prepare_fit_data(X, y, reset=reset, caller="fit", sample_weight=sample_weight,
                                               groups=groups)
        self._check_unlabeled_pool(unlabeled, X)
        if groups is not None:
            fit_params["groups"] = groups
        self._check_training_step()
        try:
            self._unlabeled_pool = unlabeled  # for this call only: the split may restrict it
            with active_streams(RandomStreams(self._seed_for_call(reset))):
                if reset:
                    self.initialize()
                self._network().blend.fill_(1.0)  # the backbone trains on its own; the blend is chosen after
                # NeuralNet.partial_fit is the training loop; the private _routing_method tells skorch's
                # metadata routing that this call came from fit
                super().partial_fit(X, self._with_weights(y, weights), _routing_method="fit", **fit_params)
        finally:
            del self._unlabeled_pool  # never kept: it holds a whole cube
            self.__dict__.pop("_weight_scale", None)  # per call; skorch would list the attribute as a parameter
        self._finish_training(X, y, weights)
        return self

    def partial_fit(self, X, y, classes=None, groups=None, unlabeled=None, sample_weight=None, **fit_params):
        """Train for ``max_epochs`` more epochs without re-initialising the network.

        The input normalisation and the ridge map are fitted by the first call
        only; the learning-rate schedule and early stopping restart with each call.

        Parameters
        ----------
        X : array-like of shape (n_samples, 1, n_bands, S, S)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        classes : None
            Ignored.
        groups : array-like of shape (n_samples, 2) or None, default=None
            Window positions, as for :meth:`fit`.
        unlabeled : UnlabeledPatches or None, default=None
            A pool of unlabeled patches, as for :meth:`fit`.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Window weights, as for :meth:`fit` (the target standardisation and
            the ridge map are fitted by the first call only).
        **fit_params : dict

        Returns
        -------
        self : ContrastivePatchRegressor
        """
        self._check_fit_params(fit_params)
        self._forget_call_state()
        X, y, weights = self._prepare_fit_data(X, y, reset=not self.initialized_, sample_weight=sample_weight,
                                               groups=groups)
        self._check_unlabeled_pool(unlabeled, X)
        if groups is not None:
            fit_params["groups"] = groups
        self._check_training_step()
        try:
            self._unlabeled_pool = unlabeled
            with active_streams(RandomStreams(self._seed_for_call(not self.initialized_))):
                if not self.initialized_:
                    self.initialize()
                self._network().blend.fill_(1.0)
                super().partial_fit(X, self._with_weights(y, weights), **fit_params)
        finally:
            del self._unlabeled_pool
            self.__dict__.pop("_weight_scale", None)  # per call; skorch would list the attribute as a parameter
        self._finish_training(X, y, weights)
        return self

    def _forget_call_state(self):
        """Drop what an earlier, failed call left for its own later steps (the planned split, the cells).

        Their names end in ``_`` so that ``get_params`` (and ``clone``) never see them, as skorch lists
        every other attribute as a parameter.
        """
        self.__dict__.pop("_planned_holdout_", None)
        self.__dict__.pop("_validation_coords_", None)
        self.__dict__.pop("_split_coords_", None)

    #: The mean weight of the labeled windows when the targets of the current training call carry a last
    #: column of window weights (``sample_weight``), else None.
    _weight_scale = None

    def _with_weights(self, y, weights):
        """The training call's targets: ``y``, with the weights as a last column when there are weights.

        Carrying them with the targets keeps each window's weight with it
        through skorch's datasets, splits and batches; :meth:`split_weights`
        takes it off again wherever the targets are used.
        """
        if weights is None:
            return y
        self._weight_scale = float(np.nanmean(weights))
        return np.column_stack([y, weights]).astype(np.float32)

    def split_weights(self, y):
        """Targets and window weights of a training batch: ``(y, None)`` unless fit got ``sample_weight``.

        Parameters
        ----------
        y : Tensor or ndarray of shape (n, n_targets [+ 1])
            Targets as the training call holds them.

        Returns
        -------
        targets : Tensor or ndarray of shape (n, n_targets)
        weights : Tensor or ndarray of shape (n,) or None
        """
        if self._weight_scale is None:
            return y, None
        return y[:, :-1], y[:, -1]

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's training loop, except that a KeyboardInterrupt is not swallowed.

        skorch's ``partial_fit`` catches KeyboardInterrupt to stop training and
        keep the model. Then a grid search, ``cross_val_score`` or a script
        scores (and may cache) a model cut short as if it had finished; here the
        interrupt is recorded and raised again once skorch has ended training
        (callbacks' ``on_train_end`` ran: the best epoch is restored), so an
        interactive user still keeps the model trained so far.

        Returns
        -------
        self
        """
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt as exc:
            # callbacks end training with KeyboardInterrupt (skorch's convention); only Ctrl-C is re-raised
            self._interrupted = not raised_by_callback(exc)
            raise

    def _finish_training(self, X, y, weights=None):
        """After the training loop: re-raise an interrupt, refuse a diverged network, choose the blend."""
        if self.__dict__.pop("_interrupted", False):
            self._fit_blend(X, y, weights)  # leave a consistent model to the user who interrupted
            raise KeyboardInterrupt(f"{type(self).__name__}.fit was interrupted after {len(self.history_)} "
                                    "epochs; the model trained so far is kept")
        self._check_trained(X, y)
        self._fit_blend(X, y, weights)

    def _check_fit_params(self, fit_params):
        """Refuse fit parameters that nothing would use (silently ignoring one gives a different model)."""
        if not fit_params:
            return
        names = ", ".join(sorted(fit_params))
        own = set(fit_params) & set(self.get_params(deep=False))
        if own:
            raise TypeError(
                f"{', '.join(sorted(own))} passed to fit: hyper-parameters are set on the estimator, e.g. "
                f"set_params({sorted(own)[0]}=...) (in a Pipeline: set_params(<step>__{sorted(own)[0]}=...))"
            )
        if self.train_split is None:
            raise TypeError(
                f"{type(self).__name__}.fit got unexpected fit parameters ({names}): it takes groups and unlabeled "
                "(other fit parameters go to a train_split you give, and there is none)"
            )

    def _check_trained(self, X, y):
        """Refuse a network whose last optimiser steps diverged (the loss is checked before each step only).

        The training loss is finite before each step, so a step that blows the
        weights up shows only here: non-finite weights or predictions, or a
        regression loss on the training windows 10^4 times that of predicting
        the mean (the targets are standardised, so the mean's loss is about 1).
        Unweighted: a window of weight 0 must not be predicted absurdly either.
        """
        if self.history_ is None or not len(self.history_):
            return
        network = self._network()
        finite = all(bool(torch.isfinite(p).all()) for p in network.parameters())
        loss = float("nan")
        if finite:
            rows = getattr(self, "training_indices_", None)
            rows = np.arange(len(y)) if rows is None else rows
            labeled = rows[~np.isnan(y[rows]).any(axis=1)]
            with self.autocast():
                _, pred = network.parts(self._batches(X, labeled))
            target = y[labeled].astype(np.float64)
            scale = np.maximum(target.var(axis=0), 1e-12) if not self._uses_target_scaling() else 1.0
            with np.errstate(over="ignore", invalid="ignore"):
                loss = float(np.mean((pred - target) ** 2 / scale))
        if not finite or not np.isfinite(loss) or loss > 1e4:
            what = ("non-finite weights" if not finite else "non-finite predictions" if not np.isfinite(loss)
                    else f"a training loss of {loss:.3g} (predicting the mean: about 1)")
            raise TrainingDivergedError(
                f"after its last optimiser step the network has {what}: training diverged. The usual cause is "
                f"a learning rate too large for the data (lr={self.lr}); lower lr, or keep gradient clipping "
                "(callbacks__gradient_clipping) and the default early stopping."
            )

    def _check_unlabeled_pool(self, pool, X):
        if pool is None:
            return
        if not self.semi_supervised:
            raise ValueError("an unlabeled pool (unlabeled=...) needs semi_supervised=True")
        if not callable(getattr(pool, "draw", None)):
            raise TypeError(f"unlabeled must be an UnlabeledPatches pool (with a draw method), got {type(pool).__name__}")
        if (pool.n_bands, pool.patch_size) != (X.shape[2], X.shape[3]):
            raise ValueError(
                f"the unlabeled pool cuts {pool.patch_size} x {pool.patch_size} patches of {pool.n_bands} bands; "
                f"X holds {X.shape[3]} x {X.shape[3]} patches of {X.shape[2]} bands"
            )
        if self._alpha() == 0 or self.augment is None:
            raise ValueError("an unlabeled pool is only learned from through the contrastive term, which is off "
                             f"(alpha={self.alpha!r}, augment={self.augment!r})")

    def _network(self):
        """The fitted PatchNetwork, unwrapped from a distributed wrapper (DDP) when there is one."""
        network = self.module_
        return getattr(network, "module", network) if not isinstance(network, PatchNetwork) else network

    def _batches(self, X, rows=None):
        # on the network's own device: under accelerate ``device`` is None and the accelerator placed it
        device = next(self._network().buffers()).device
        rows = np.arange(len(X)) if rows is None else rows
        step = self.batch_size if self.batch_size > 0 else len(rows)
        return [to_tensor(X[rows[i:i + step]], device=device) for i in range(0, len(rows), step)]

    def _fit_blend(self, X, y, weights=None):
        """After training, weigh the backbone against its classical partner on the validation windows.

        With ``ridge='blend'``: the partner (the ridge map, or per target RBF
        kernel ridge with ``ridge_kernel='auto'``) is chosen and fitted on the
        training part, the blend weight judged on the validation windows; then
        the partner is refitted on every window of the call: the held-out
        windows only had to be kept from it while they judged the blend, and with
        ``w`` near 0 the model would otherwise be a classical model fitted on less
        data.
        """
        network = self._network()
        coords = self.__dict__.pop("_split_coords_", None)
        cells = self._validation_cells()
        if network.ridge != "blend":
            self.blend_ = None
            return
        valid, train = self.validation_indices_, self.training_indices_
        held_out = valid is not None and len(valid) > 0
        w_train, w_valid = (None, None) if weights is None else (weights[train], weights[valid])
        network.clear_kernel()  # chosen afresh on each call's split, never inherited from an earlier fit
        if held_out:
            # judged against classical models that, like the backbone, have not seen the held-out windows (an
            # earlier call of partial_fit may have refitted them on every window)
            network.fit_ridge(self._batches(X, train), y[train], w_train)
            if self.ridge_kernel == "auto":
                rows = train[~np.isnan(y[train]).any(axis=1)]
                network.choose_kernel(self._batches(X, rows), y[rows], self._kernel_folds(rows, coords),
                                      None if weights is None else weights[rows])
        if self.history_ is None or len(self.history_) == 0:
            network.blend.zero_()  # an untrained backbone: the classical partner alone
        elif held_out:
            with self.autocast():  # judged as predict will run it
                network.fit_blend(self._batches(X, valid), y[valid], w_valid, clusters=cells)
        if held_out:
            batches = self._batches(X)
            network.fit_ridge(batches, y, weights)
            network.fit_kernel(batches, y, weights)
        self.blend_ = network.blend.detach().cpu().numpy().copy()

    def _kernel_folds(self, rows, coords):
        """Folds over ``rows`` that choose the kernel partner: spatial blocks with positions, else KFold.

        The same spatial honesty as the hold-out: a kernel width that only
        interpolates between overlapping neighbours would win random folds. Where
        the blocks' buffers leave less than a quarter of the windows to train on,
        spatial cross-validation cannot tell the models apart and no folds are
        returned: the partner stays linear, the model that needs no evidence.
        """
        n = len(rows)
        if n < 4:
            return []
        if coords is None:
            return list(KFold(4, shuffle=True, random_state=0).split(np.zeros(n)))
        try:
            folds = list(SpatialBlockSplit(self.patch_size_, n_blocks=(2, 2)).split(np.zeros(n), groups=coords[rows]))
        except ValueError:  # too few windows for the blocks and their buffers
            return []
        folds = [(train, test) for train, test in folds if len(train) >= max(n // 4, 2) and len(test) > 0]
        return folds if len(folds) >= 2 else []

    def _validation_cells(self):
        """Spatial cells (patch-sized squares) of the held-out windows, or None without their positions.

        The blend's evidence is counted per cell, because overlapping windows of one cell are not
        independent evidence (see :meth:`PatchNetwork.fit_blend`). The positions are kept by
        ``get_split_datasets`` for this one use.
        """
        coords = self.__dict__.pop("_validation_coords_", None)
        if coords is None:
            return None
        cells = coords // self.patch_size_
        return cells[:, 0] * (int(cells[:, 1].max()) + 1) + cells[:, 1]

    def _early_stopping_holdout(self, n_samples):
        """Whether this fit holds out windows for early stopping (without a user ``train_split``).

        ``n_samples`` counts the labeled windows.
        """
        if self.train_split is not None or self.early_stopping is False:
            return False
        return self.early_stopping is True or n_samples >= EARLY_STOPPING_MIN_SAMPLES

    def _holdout(self, y, groups):
        """Training and validation rows for early stopping: a spatial region with positions, else random rows.

        Only labeled rows are held out; unlabeled rows (NaN targets) train, except
        those that come near the held-out windows (positions given).
        """
        n_samples = len(y)
        y = np.asarray(y, dtype=np.float64).reshape(n_samples, -1)
        labeled_mask = ~np.isnan(y).any(axis=1)
        labeled, unlabeled = np.flatnonzero(labeled_mask), np.flatnonzero(~labeled_mask)
        rs = self.random_state
        if isinstance(rs, np.random.RandomState):  # equally seeded instances give equal hold-outs
            rs = int(rs.randint(np.iinfo(np.int32).max))
        rng = check_random_state(None if rs is None else np.random.SeedSequence([int(rs), 1]).generate_state(1)[0])
        if groups is not None:
            coords = np.asarray(groups)
            if coords.shape != (n_samples, 2):
                raise ValueError(
                    f"groups must hold one position (row, column) per window, shape ({n_samples}, 2), e.g. the "
                    f"coords returned by Scene.windows; got shape {coords.shape}"
                )
            # the targets keep the hold-out from taking all of one material out of training
            targets = self.split_weights(y)[0][labeled]
            try:
                train, valid = spatial_holdout(coords[labeled], self.patch_size_, test_size=self.validation_fraction,
                                               y=targets, random_state=rng)
            except ValueError as exc:
                if self.early_stopping is True:
                    raise ValueError(f"early stopping could not hold out a spatial region: {exc}") from None
                warnings.warn(f"early stopping is off for this fit: {exc}", UserWarning, stacklevel=4)
                return np.arange(n_samples), None
            train, valid = labeled[train], labeled[valid]
            if unlabeled.size:  # the held-out region's pixels stay out of training
                near = near_windows(coords[unlabeled], coords[valid], self.patch_size_, self.patch_size_ // 2)
                train = np.sort(np.concatenate([train, unlabeled[~near]]))
            return train, valid
        warnings.warn(
            f"early stopping validates on a random {self.validation_fraction:.0%} of the windows because fit got "
            "no window positions; windows that overlap training windows make that validation loss optimistic. "
            "Pass groups=coords (in a Pipeline: net__groups=coords) to hold out a whole spatial region, or set "
            "early_stopping=False.",
            OverlappingValidationWarning,
            stacklevel=4,
        )
        if len(labeled) < 2:
            raise ValueError(f"early stopping needs at least 2 labeled windows to hold one out, got {len(labeled)}")
        order = labeled[rng.permutation(len(labeled))]
        n_valid = min(len(labeled) - 1, max(1, int(round(self.validation_fraction * len(labeled)))))
        return np.sort(np.concatenate([order[n_valid:], unlabeled])), np.sort(order[:n_valid])

    def get_split_datasets(self, X, y=None, **fit_params):
        """Split off the validation windows, and fit the network's input layers on the training part.

        skorch's documented place for the split. Without a ``train_split``,
        ``early_stopping`` decides (see the class docstring). The first time a
        network is trained, its input normalisation and ridge map
        (:meth:`PatchNetwork.fit_inputs <hyperspectral_cl.network.PatchNetwork.fit_inputs>`)
        are fitted here, because this is where the training part is known and it
        runs before the first epoch (also with ``max_epochs=0``).

        Returns
        -------
        dataset_train, dataset_valid : Dataset
            ``dataset_valid`` is None when nothing is held out.
        """
        groups = fit_params.get("groups")
        labeled = ~np.isnan(np.asarray(y).reshape(len(y), -1)).any(axis=1)
        if self._early_stopping_holdout(int(labeled.sum())):
            dataset = self.get_dataset(X, y)
            planned = self.__dict__.pop("_planned_holdout_", None)  # drawn by the first call's data checks
            train, valid = planned if planned is not None else self._holdout(y, groups)
            self.training_indices_, self.validation_indices_ = train, valid
            self._validation_coords_ = None if groups is None or valid is None else np.asarray(groups)[valid]
            self._split_coords_ = None if groups is None else np.asarray(groups)
            dataset_train = Subset(dataset, train)
            dataset_valid = None if valid is None else Subset(dataset, valid)
            pool = getattr(self, "_unlabeled_pool", None)
            if pool is not None and valid is not None and groups is not None:
                # the held-out region's pixels stay out of the unlabeled draws too
                self._unlabeled_pool = pool.without_near(np.asarray(groups)[valid], self.patch_size_,
                                                         self.patch_size_ // 2)
        else:
            # only what a train_split takes (skorch's ValidSplit takes groups): not the unlabeled pool
            self._validation_coords_ = None
            # the positions still make the partner's folds spatial (validation_indices_ index into them)
            self._split_coords_ = None if groups is None else np.asarray(groups)
            split_params = {k: v for k, v in fit_params.items() if k != "unlabeled"}
            dataset_train, dataset_valid = super().get_split_datasets(X, y, **split_params)
            # a train_split like skorch's ValidSplit returns Subsets of the data: their rows serve the blend
            whole = all(isinstance(d, Subset) and len(d.dataset) == len(X) for d in (dataset_train, dataset_valid))
            self.training_indices_ = np.asarray(dataset_train.indices) if whole else None
            self.validation_indices_ = np.asarray(dataset_valid.indices) if whole else None
            if whole and not labeled[self.validation_indices_].all():
                raise ValueError(
                    f"the train_split put {int((~labeled[self.validation_indices_]).sum())} unlabeled windows (NaN "
                    "targets) in the validation part, which cannot score them; leave train_split=None (early "
                    "stopping then holds out labeled windows only) or split the labeled windows yourself"
                )
        if not bool(self._network().inputs_fitted):
            self._fit_network_inputs(dataset_train)
        return dataset_train, dataset_valid

    def _fit_network_inputs(self, dataset):
        # a plain loader, in order: the net's own iterator may be sharded across processes (accelerate)
        device = next(self._network().buffers()).device
        xs, ys = [], []
        # a private generator: even an unshuffled DataLoader draws a base seed from the global one
        for Xi, yi in DataLoader(dataset, batch_size=1024, shuffle=False, generator=torch.Generator()):
            xs.append(to_tensor(Xi, device=device))
            ys.append(yi.detach().cpu().numpy() if torch.is_tensor(yi) else np.asarray(yi))
        targets, weights = self.split_weights(np.concatenate(ys).reshape(len(dataset), -1))
        self._network().fit_inputs(xs, targets, sample_weight=weights)

    @property
    def partner_(self):
        """The classical model the blend falls back on, per target: ``'linear'`` (the ridge map) or ``'rbf'``.

        None unless the network blends (``ridge='blend'``); see ``ridge_kernel``.
        """
        if not getattr(self, "initialized_", False):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet.")
        network = self._network()
        if network.ridge != "blend":
            return None
        return np.where(network.kernel_gamma.cpu().numpy() > 0, "rbf", "linear")

    @property
    def best_epoch_(self):
        cb = dict(self.callbacks_).get("early_stopping") if getattr(self, "callbacks_", None) else None
        return None if cb is None else getattr(cb, "best_epoch_", None)

    def _check_training_step(self):
        """Refuse a subclass whose training step would silently drop the contrastive term."""
        if getattr(type(self).train_step_single, "contrastive_step", False) or self._alpha() == 0 or self.augment is None:
            return
        raise TypeError(
            f"{type(self).__name__}.train_step_single is not a contrastive training step (a mixin such as "
            "skorch.hf.AccelerateMixin replaced it), so the contrastive term would be silently dropped. Use "
            "hyperspectral_cl.accelerate.AcceleratedContrastivePatchRegressor, or set alpha=0."
        )

    def get_iterator(self, dataset, training=False):
        """skorch's iterator, with three changes.

        Training loaders shuffle with the fit's own generator (its ``'shuffle'``
        stream), unless ``iterator_train__generator`` is given. Training data
        holding unlabeled rows (``semi_supervised=True``) are batched by
        :class:`~hyperspectral_cl.sampling.LabeledUnlabeledBatchSampler`.
        Inference loaders get a private generator: a DataLoader draws a base seed
        from torch's global generator even when it does not shuffle, and predict
        must not change the caller's global random state.
        """
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        if kwargs.get("generator") is None:  # the fit's shuffle stream; a private one for inference
            kwargs["generator"] = self._random_streams().generator("shuffle") if training else torch.Generator()
        sampler = self._mixed_batch_sampler(dataset, kwargs["generator"]) if training else None
        if sampler is not None:
            kwargs = {k: v for k, v in kwargs.items() if k not in ("batch_size", "shuffle", "sampler", "drop_last")}
            return DataLoader(dataset, batch_sampler=sampler, **kwargs)
        if getattr(self, prefix) is not DataLoader:
            return super().get_iterator(dataset, training=training)
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        return DataLoader(dataset, **kwargs)

    def _mixed_batch_sampler(self, dataset, generator=None):
        """The labeled/unlabeled batch sampler when the training data hold unlabeled rows, else None."""
        if not self.semi_supervised:
            return None
        base, rows = (dataset.dataset, np.asarray(dataset.indices)) if isinstance(dataset, Subset) else (dataset, None)
        y = getattr(base, "y", None)
        if y is None:
            return None
        y = np.asarray(y)
        y = y if rows is None else y[rows]
        unlabeled = np.isnan(self.split_weights(y.reshape(len(y), -1))[0]).all(axis=1)
        if not unlabeled.any():
            return None
        batch_size = len(y) if self.batch_size == -1 else self.batch_size
        n_unlabeled = batch_size if self.unlabeled_batch_size is None else self.unlabeled_batch_size
        return LabeledUnlabeledBatchSampler(np.flatnonzero(~unlabeled), np.flatnonzero(unlabeled), batch_size,
                                            n_unlabeled, generator=generator)

    def _alpha(self):
        """The resolved ``alpha``: 'auto' is 1 (the paper's weight) where unlabeled windows need the term, else 0."""
        if isinstance(self.alpha, str) and self.alpha == "auto":
            return 1.0 if (self.semi_supervised or self.pretrain_epochs) else 0.0
        return float(self.alpha)

    def _contrastive_active(self):
        return self._alpha() > 0 and getattr(self, "augment_", None) is not None

    def _pretraining(self):
        """Whether the current epoch is part of the self-supervised warm-up."""
        return bool(self.history_) and self.history_[-1].get("pretraining", False)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """skorch's hook (it opens the epoch's history row); also flags the warm-up epochs as ``pretraining``."""
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        self.history.record("pretraining", len(self.history) <= self.pretrain_epochs)

    def _record(self, key, value):
        if self.history_ is not None and len(self.history_) and self.history_[-1]["batches"]:
            self.history_.record_batch(key, float(value))

    def autocast(self):
        """The ``torch.autocast`` context of ``precision`` on the network's device (a no-op for ``'fp32'``).

        Returns
        -------
        context manager
        """
        dtype = _AUTOCAST_DTYPES[self.precision]
        device_type = next(self._network().buffers()).device.type
        return torch.autocast(device_type, dtype=dtype) if dtype is not None else nullcontext()

    @staticmethod
    def _as_float32(out):
        """Network outputs as float32 (autocast leaves them in its reduced dtype)."""
        if isinstance(out, (tuple, list)):
            return type(out)(o.float() for o in out)
        return out.float()

    def infer(self, x, **fit_params):
        """skorch's inference step (validation, predict, embed), under :meth:`autocast`; float32 outputs."""
        with self.autocast():
            out = super().infer(x, **fit_params)
        return self._as_float32(out)

    def initialize_optimizer(self, *args, **kwargs):
        """skorch's optimizer, and the gradient scaler ``grad_scaler_`` of ``precision='fp16'`` (else None).

        Returns
        -------
        self
        """
        super().initialize_optimizer(*args, **kwargs)
        self.grad_scaler_ = None
        if self.precision == "fp16":
            self.grad_scaler_ = torch.amp.GradScaler(next(self._network().buffers()).device.type)
        return self

    def train_step(self, batch, **fit_params):
        """One optimisation step; with ``precision='fp16'``, through the gradient scaler.

        float16 gradients underflow without loss scaling: the scaled loss is
        back-propagated, the gradients are unscaled before the callbacks see
        them (gradient clipping acts on the true gradients), and the scaler
        skips a step whose gradients overflowed. Other precisions use skorch's
        step unchanged.

        Returns
        -------
        step : dict
        """
        scaler = getattr(self, "grad_scaler_", None)
        if scaler is None:
            return super().train_step(batch, **fit_params)
        accumulator = self.get_train_step_accumulator()
        self.optimizer_.zero_grad(set_to_none=True)
        step = self.train_step_single(batch, **fit_params)
        accumulator.store_step(step)
        scaler.unscale_(self.optimizer_)
        self.notify("on_grad_computed", named_parameters=TeeGenerator(self.get_all_learnable_params()), batch=batch,
                    training=True)
        scaler.step(self.optimizer_)
        scaler.update()
        return accumulator.get_step()

    def _backward(self, loss):
        scaler = getattr(self, "grad_scaler_", None)
        (loss if scaler is None else scaler.scale(loss)).backward()

    def get_training_loss(self, X, y):
        """The training loss of one batch: regression loss plus ``alpha`` x contrastive loss of both views.

        Puts the networks in training mode, records ``train_mse`` and
        ``train_contrastive`` when the contrastive term is active, and raises
        :class:`TrainingDivergedError` for a non-finite loss. During the
        ``pretrain_epochs`` warm-up the loss is the contrastive term alone.

        Parameters
        ----------
        X : array-like or Tensor of shape (n, 1, n_bands, S, S)
            The batch of patches.
        y : array-like or Tensor of shape (n,) or (n, n_targets)
            Its (standardised) targets.

        Returns
        -------
        loss : scalar Tensor
            Attached to the graph (call ``backward`` on it).
        y_pred : tuple of Tensor
            ``(prediction, embedding)`` of the batch.
        """
        for component in (self.module_, self.criterion_, self.contrastive_):
            component.train()
        x = to_tensor(X, device=self.device)
        y = to_tensor(y, device=self.device)
        with self.autocast():
            y_pred = self._as_float32(self.module_(x))
        mse = self.get_loss(y_pred, y, X=x, training=True)
        pretraining = self._pretraining()
        loss = mse
        if self._contrastive_active():
            if not isinstance(y_pred, (tuple, list)):
                raise TypeError(
                    "the backbone returned a prediction alone; contrastive training (alpha > 0 with an augment) "
                    "needs forward(x) to return (prediction, features). Return both, or set alpha=0."
                )
            x_aug = self.augment_(x, generator=current_generator("augment", x.device))
            # detached: no graph is kept for the second view, so its backward pass (2/3 of its cost) is saved
            grad = torch.no_grad() if self.detach_augmented else nullcontext()
            # the embedding alone: the second view's prediction (and its classical partner) would be discarded.
            # A wrapper (FSDP, torch.compile) or a subclass runs its own forward
            embed = self.module_.embed if type(self.module_) is PatchNetwork else (lambda x: self.module_(x)[1])
            with frozen_batchnorm_stats(self.module_), self.autocast(), grad:
                features_aug = embed(x_aug).float()
            targets = self.split_weights(y[:, None] if y.ndim == 1 else y)[0]
            con = self.contrastive_(torch.cat([y_pred[1], features_aug]), torch.cat([targets, targets]))
            loss = con if pretraining else mse + self._alpha() * con
            self._record("train_mse", mse.item())
            self._record("train_contrastive", con.item())
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"the training loss became {loss.item()} at epoch {len(self.history_)}: training diverged. "
                f"The usual cause is a learning rate too large for the data (lr={self.lr}); lower lr, "
                "keep the inputs standardised (standardize_inputs=True) or lower alpha."
            )
        return loss, y_pred

    def with_unlabeled_draw(self, X, y):
        """The batch, plus patches drawn from the fit's unlabeled pool (with NaN targets) when there is one.

        Parameters
        ----------
        X, y : Tensor or ndarray
            A training batch.

        Returns
        -------
        X, y : Tensor
        """
        pool = getattr(self, "_unlabeled_pool", None)
        if pool is None:
            return X, y
        X, y = to_tensor(X, device=self.device), to_tensor(y, device=self.device)
        n = self.unlabeled_batch_size if self.unlabeled_batch_size is not None else len(X)
        if n == 0:
            return X, y
        patches, _ = pool.draw(n, generator=current_generator("unlabeled"))
        nan = torch.full((n, *y.shape[1:]), float("nan"), dtype=y.dtype, device=y.device)
        return torch.cat([X, patches.to(device=X.device, dtype=X.dtype)]), torch.cat([y, nan])

    def train_step_single(self, batch, **fit_params):
        """Forward and backward passes of one training batch (skorch's extension point for a custom step).

        Parameters
        ----------
        batch : tuple
            ``(X, y)`` from the training DataLoader.
        **fit_params : dict
            Ignored (``groups`` is for the split, ``unlabeled`` drawn from by
            :meth:`with_unlabeled_draw`).

        Returns
        -------
        step : dict
            ``{'loss': loss, 'y_pred': (prediction, embedding)}``.
        """
        Xi, yi = self.with_unlabeled_draw(*unpack_data(batch))
        loss, y_pred = self.get_training_loss(Xi, yi)
        self._backward(loss)
        return {"loss": loss, "y_pred": y_pred}

    train_step_single.contrastive_step = True

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The regression loss (``criterion_``) of a prediction, in standardised target units.

        Used for training (inside :meth:`get_training_loss`) and validation;
        the contrastive term is not part of it, so ``valid_loss`` is
        deterministic for a fixed network. Unlabeled rows (NaN targets, with
        ``semi_supervised=True``) are left out.

        Parameters
        ----------
        y_pred : tuple of Tensor or Tensor
            ``(prediction, features)`` from the network, or a bare prediction.
        y_true : Tensor
            Targets of the batch.
        X : Tensor, optional
            Ignored.
        training : bool
            Whether this is a training step.

        Returns
        -------
        loss : scalar Tensor
        """
        pred = y_pred[0] if isinstance(y_pred, (tuple, list)) else y_pred
        y_true = to_tensor(y_true, device=self.device)
        if y_true.ndim == 1:
            y_true = y_true[:, None]
        y_true, weights = self.split_weights(y_true)
        if self.semi_supervised:  # unlabeled rows (NaN targets) take no part in the regression loss
            labeled = ~torch.isnan(y_true).any(dim=1)
            if not bool(labeled.all()):
                if not bool(labeled.any()):
                    return pred.sum() * 0.0
                pred, y_true = pred[labeled], y_true[labeled]
                weights = None if weights is None else weights[labeled]
        if weights is None:
            return self.criterion_(pred, y_true)
        return self._weighted_loss(pred, y_true, weights)

    def _weighted_loss(self, pred, y_true, weights):
        """``mean_i(w_i * loss_i) / mean(w)``: the criterion per window, weighted; ``mean(w)`` over the call's
        labeled windows, so that the loss keeps the scale of the unweighted one (and constant weights give it)."""
        if not hasattr(self.criterion_, "reduction"):
            raise TypeError(f"sample_weight needs a criterion with a 'reduction' attribute (as torch's losses "
                            f"have), to get one loss per window; {type(self.criterion_).__name__} has none")
        reduction, self.criterion_.reduction = self.criterion_.reduction, "none"
        try:
            per_element = self.criterion_(pred, y_true)
        finally:
            self.criterion_.reduction = reduction
        per_window = per_element.reshape(len(pred), -1).mean(dim=1)
        return (per_window * weights.to(per_window.dtype)).mean() / self._weight_scale

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
        bad = ~np.isfinite(pred).all(axis=1)
        if bad.any():  # a fitted model never returns NaN or inf for finite input without saying so
            raise FloatingPointError(
                f"the network's predictions are not finite for {int(bad.sum())} of {len(bad)} windows (first: row "
                f"{int(np.flatnonzero(bad)[0])}): their values lie far outside the training data's range "
                "(float32 overflow)"
            )
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
        feats = []
        for out in self.forward_iter(X, training=False, device="cpu"):
            if not isinstance(out, (tuple, list)):
                raise TypeError("the backbone returns its prediction alone: there is no embedding to return")
            feats.append(out[1].numpy())
        return np.concatenate(feats, axis=0)

    # ------------------------------------------------------------- persistence
    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_unlabeled_pool", None)  # a pickle taken during fit (a checkpoint) must not copy a whole cube
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
