"""ContrastivePatchRegressor trained through Hugging Face accelerate (mixed precision, several GPUs).

skorch's ``AccelerateMixin`` replaces ``train_step_single`` with one that runs
``infer`` and ``get_loss`` under the accelerator. The contrastive step of
:class:`~hyperspectral_cl.ContrastivePatchRegressor` lives in
``train_step_single``, so this class puts it back, inside the accelerator's
autocast and backward. Needs the ``accelerate`` package (>= 0.21).
"""

from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.hf import AccelerateMixin

from .estimator import ContrastivePatchRegressor

__all__ = ["AcceleratedContrastivePatchRegressor", "AcceleratorGradientNormClipping"]


class AcceleratorGradientNormClipping(Callback):
    """Gradient-norm clipping through the accelerator, which unscales mixed-precision gradients first.

    skorch's ``GradientNormClipping`` would clip the *scaled* fp16 gradients (by
    the loss scale, e.g. 65536), shrinking every step by that factor.

    Parameters
    ----------
    max_norm : float, default=1.0
    """

    def __init__(self, max_norm=1.0):
        self.max_norm = max_norm

    def on_grad_computed(self, net, named_parameters, **kwargs):
        net.accelerator.clip_grad_norm_([p for _, p in named_parameters], self.max_norm)


class AcceleratedContrastivePatchRegressor(AccelerateMixin, ContrastivePatchRegressor):
    """:class:`~hyperspectral_cl.ContrastivePatchRegressor` whose training runs through an ``accelerate.Accelerator``.

    Parameters
    ----------
    accelerator : accelerate.Accelerator
        Drives training: device placement, mixed precision, several processes
        (``accelerate launch``). Leave ``device=None``.
    *args, **kwargs
        Those of :class:`~hyperspectral_cl.ContrastivePatchRegressor` and skorch's
        ``AccelerateMixin`` (``unwrap_after_train``).

    Notes
    -----
    With several processes each one draws its own batches and computes the
    contrastive term over **its own** batch (features are not gathered across
    devices): the effective batch is ``batch_size x n_processes``. Gradient
    clipping goes through the accelerator (:class:`AcceleratorGradientNormClipping`),
    so mixed-precision gradients are unscaled before they are clipped.

    Examples
    --------
    >>> from accelerate import Accelerator                                   # doctest: +SKIP
    >>> net = AcceleratedContrastivePatchRegressor("li", accelerator=Accelerator(), device=None)  # doctest: +SKIP
    """

    def _check_params(self):
        super()._check_params()
        if self.precision != "fp32":
            raise ValueError(
                f"precision={self.precision!r} is not used with an accelerator, which has its own mixed precision: "
                "leave precision='fp32' and pass Accelerator(mixed_precision='bf16') (or 'fp16')"
            )

    @property
    def _default_callbacks(self):
        # the recipe's clipping, done by the accelerator (see AcceleratorGradientNormClipping)
        return [(name, AcceleratorGradientNormClipping(1.0) if name == "gradient_clipping" else cb)
                for name, cb in super()._default_callbacks]

    def train_step_single(self, batch, **fit_params):
        """The contrastive training step under the accelerator's autocast, with its backward."""
        Xi, yi = self.with_unlabeled_draw(*unpack_data(batch))
        with self.accelerator.autocast():
            loss, y_pred = self.get_training_loss(Xi, yi)
            self.accelerator.backward(loss)
        return {"loss": loss, "y_pred": y_pred}

    train_step_single.contrastive_step = True
