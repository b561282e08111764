"""skorch callbacks used by the estimator: a progress bar and the training recipe's schedule and early stopping."""

import math
import sys

import torch
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from tqdm.auto import tqdm

__all__ = ["EpochProgressBar", "RestoreBestValidation", "StopTraining", "WarmupCosineLR", "raised_by_callback"]


class StopTraining(KeyboardInterrupt):  # noqa: N818 (skorch's convention: the loop ends on KeyboardInterrupt)
    """Raised by a callback to end training early.

    skorch ends its training loop when a callback raises KeyboardInterrupt (its
    ``EarlyStopping`` does); this subclass tells such a deliberate stop apart
    from the user pressing Ctrl-C, which the estimator does not swallow.
    """


def raised_by_callback(exc):
    """Whether a KeyboardInterrupt was a callback's deliberate stop rather than the user's Ctrl-C.

    True for :class:`StopTraining`, and for a plain KeyboardInterrupt raised
    directly in a skorch callback's hook (skorch's own ``EarlyStopping``).

    Parameters
    ----------
    exc : KeyboardInterrupt

    Returns
    -------
    bool
    """
    if isinstance(exc, StopTraining):
        return True
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    frame = tb.tb_frame
    return isinstance(frame.f_locals.get("self"), Callback) and frame.f_code.co_name.startswith("on_")


class EpochProgressBar(Callback):
    """A progress bar over the epochs of one fit, showing the latest losses.

    skorch's own ``ProgressBar`` tracks batches within an epoch; for the short
    epochs of patch regression a bar over the whole fit is more useful.

    Parameters
    ----------
    keys : tuple of str, default=('train_loss', 'valid_loss', 'train_contrastive')
        History keys shown beside the bar when present.
    file : file-like, default=None
        Where to draw (``sys.stderr`` when None).
    """

    def __init__(self, keys=("train_loss", "valid_loss", "train_contrastive"), file=None):
        self.keys = keys
        self.file = file

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.bar_ = tqdm(
            total=net.max_epochs, desc=type(net).__name__, unit="epoch", leave=False,
            file=self.file if self.file is not None else sys.stderr, dynamic_ncols=True,
        )

    def on_epoch_end(self, net, **kwargs):
        bar = getattr(self, "bar_", None)
        if bar is None:
            return
        row = net.history[-1]
        bar.set_postfix({k: f"{row[k]:.4g}" for k in self.keys if k in row}, refresh=False)
        bar.update(1)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        bar = getattr(self, "bar_", None)
        if bar is not None:
            bar.close()
            self.bar_ = None

    def __getstate__(self):
        # tqdm objects hold a file handle and a lock: not picklable
        state = self.__dict__.copy()
        state.pop("bar_", None)
        return state


class WarmupCosineLR(Callback):
    """Learning rate warm-up then cosine decay, stepped every training batch.

    The rate of every parameter group rises linearly from ``lr / warmup_steps``
    to its base ``lr`` over the first ``warmup`` share of the fit's optimiser
    steps, then follows half a cosine down to ``final_factor * lr`` at the last
    step. The number of steps is ``max_epochs x batches per epoch``, counted
    from the training set of each fit call (``partial_fit`` restarts the
    schedule). The rate in use is recorded as ``lr`` in the history.

    A warm-up keeps an adaptive optimiser's first, badly-estimated steps small
    (its second-moment estimates start from a handful of batches); the decay
    lets the weights settle instead of oscillating at the final rate.

    Parameters
    ----------
    warmup : float, default=0.1
        Share of the steps spent warming up, in [0, 1).
    final_factor : float, default=0.0
        Rate at the last step, as a fraction of the base rate, in [0, 1].
    """

    def __init__(self, warmup=0.1, final_factor=0.0):
        self.warmup = warmup
        self.final_factor = final_factor

    def initialize(self):
        if not 0.0 <= float(self.warmup) < 1.0:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup!r}")
        if not 0.0 <= float(self.final_factor) <= 1.0:
            raise ValueError(f"final_factor must be in [0, 1], got {self.final_factor!r}")
        self.step_, self.total_steps_, self.written_lrs_, self.base_lrs_ = 0, None, None, None
        return self

    def factor(self, step, total_steps):
        """Multiplier of the base rate at optimiser step ``step`` (0-based) of ``total_steps``."""
        warm = int(self.warmup * total_steps)
        if step < warm:
            return (step + 1) / (warm + 1)
        progress = min(1.0, (step - warm) / max(1, total_steps - warm - 1))
        return self.final_factor + (1.0 - self.final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.step_, self.total_steps_ = 0, None
        groups = net.optimizer_.param_groups
        written, bases = getattr(self, "written_lrs_", None), getattr(self, "base_lrs_", None)
        if written is not None and len(written) == len(groups):
            # a call that ended in an exception never reached on_train_end: a group still at the rate this
            # schedule wrote last gets its base back (a rate changed since, e.g. by set_params, is the new base)
            self.base_lrs_ = [b if g["lr"] == w else g["lr"] for g, w, b in zip(groups, written, bases, strict=True)]
        else:
            self.base_lrs_ = [g["lr"] for g in groups]

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.total_steps_ is None and dataset_train is not None:
            # the net's own training loader knows its length (batch size, drop_last, a batch sampler)
            self.total_steps_ = max(1, len(net.get_iterator(dataset_train, training=True))) * net.max_epochs

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training or self.total_steps_ is None:
            return
        f = self.factor(self.step_, self.total_steps_)
        for group, base in zip(net.optimizer_.param_groups, self.base_lrs_, strict=True):
            group["lr"] = base * f
        self.written_lrs_ = [group["lr"] for group in net.optimizer_.param_groups]
        self.step_ += 1

    def on_epoch_end(self, net, **kwargs):
        net.history.record("lr", net.optimizer_.param_groups[0]["lr"])

    def on_train_end(self, net, X=None, y=None, **kwargs):
        # leave the optimiser at its base rates: a later partial_fit starts its own schedule from them
        for group, base in zip(net.optimizer_.param_groups, getattr(self, "base_lrs_", []), strict=False):
            group["lr"] = base
        self.written_lrs_ = None


class RestoreBestValidation(Callback):
    """Early stopping on the validation loss, restoring the best weights, the initial ones included.

    Before the first epoch (the first after a warm-up whose history rows are
    flagged ``pretraining``) the validation loss of the network is recorded as
    its starting point ("epoch 0") (with the ridge skip connection of
    :class:`~hyperspectral_cl.network.PatchNetwork`, that is ridge regression's
    loss). Training stops after ``patience`` epochs without a relative
    improvement of ``threshold``, and at the end of training (also after an
    interruption) the weights of the best epoch are put back. Without
    validation data it does nothing.

    The network's weights are copied in memory (no checkpoint file), so it is
    safe in parallel searches.

    Parameters
    ----------
    patience : int, default=10
        Epochs without improvement before training stops.
    threshold : float, default=1e-4
        Relative improvement of the validation loss that counts as one.
    monitor : str, default='valid_loss'
        History key to minimise.

    Attributes
    ----------
    best_epoch_ : int
        Epoch whose weights were kept (0: the network as initialised).
    best_score_ : float
        Its validation loss.
    initial_score_ : float
        The validation loss of the network before the first epoch of the fit.
    """

    def __init__(self, patience=10, threshold=1e-4, monitor="valid_loss"):
        self.patience = patience
        self.threshold = threshold
        self.monitor = monitor

    def initialize(self):
        self.best_epoch_, self.best_score_, self.best_state_, self.misses_ = None, None, None, 0
        self.initial_score_ = None
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.initialize()

    def on_epoch_begin(self, net, dataset_valid=None, **kwargs):
        if self.best_score_ is not None or dataset_valid is None or net.history[-1].get("pretraining", False):
            return
        # epoch 0 of this fit: the loss of the network before any step
        total, count = 0.0, 0
        net.module_.eval()
        for batch in net.get_iterator(dataset_valid, training=False):
            Xi, yi = unpack_data(batch)
            with torch.no_grad():  # infer, not evaluation_step: under accelerate the latter gathers across processes
                loss = net.get_loss(net.infer(Xi), yi, X=Xi, training=False)
            n = len(yi)
            total, count = total + float(loss) * n, count + n
        self.initial_score_ = total / max(count, 1)
        self._keep(net, self.initial_score_, len(net.history) - 1)  # the epoch before the one starting

    def _keep(self, net, score, epoch):
        self.best_score_, self.best_epoch_, self.misses_ = score, epoch, 0
        self.best_state_ = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}

    def on_epoch_end(self, net, **kwargs):
        if self.best_score_ is None or self.monitor not in net.history[-1]:
            return  # no validation data, or still in a warm-up flagged ``pretraining`` in the history
        score = net.history[-1, self.monitor]
        if math.isfinite(score) and score < self.best_score_ * (1.0 - self.threshold):
            self._keep(net, score, len(net.history))
        else:
            self.misses_ += 1
        if self.misses_ >= self.patience:
            if net.verbose:
                print(f"Stopping: no improvement of {self.monitor} for {self.patience} epochs; "
                      f"keeping epoch {self.best_epoch_}.")
            raise StopTraining  # skorch's way to end fit_loop cleanly (its EarlyStopping raises KeyboardInterrupt)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
            self.best_state_ = None  # the kept weights now live in the network; free the copy

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("best_state_", None)  # a training-time copy of the weights: never pickled
        return state
