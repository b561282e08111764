"""A per-pixel spectral network averaged over the patch: the model of a window-mean label.

Not from the paper: the package's own baseline architecture. When a window is
labelled with the mean of its pixels' abundances (or concentrations), the
natural model is one nonlinear inversion per pixel, averaged: what the label
is. A mean-spectrum regressor (ridge, kernel ridge) averages first and inverts
second, which is exact only for a linear inversion; the 3-D backbones can learn
the per-pixel inversion too, but also the spatial layout of the training
region, which does not carry over to a new one.
"""

import torch
from torch import nn

from .base import Backbone, check_positive_int, register_backbone

__all__ = ["PixelMLP"]


@register_backbone("pixel-mlp", aliases=("pixel",))
class PixelMLP(Backbone):
    """A multilayer perceptron on each pixel's spectrum, averaged over the patch.

    1. Each pixel's spectrum ``(B,)`` goes through ``n_layers`` blocks of
       ``Linear -> GELU`` of width ``n_hidden`` (the same weights for every
       pixel: a stack of 1 x 1 convolutions).
    2. The features are the average of the last block over the ``S x S``
       pixels. With the linear head, the prediction is therefore the average
       of per-pixel predictions, which is what a window-mean label is; the
       network is blind to the pixels' arrangement (permuting them changes
       nothing).

    The features the contrastive loss compares are the ``n_hidden`` averaged
    activations. It is the fastest backbone by far (no convolution over
    bands or pixels) and, at 10 x 10 windows, the one measured to beat
    kernel ridge regression on a new region of a scene (see the paper-size
    probe in the benchmarks).

    Parameters
    ----------
    n_bands : int
        Number of bands, ``>= 1``.
    patch_size : int
        Patch side, ``>= 1``.
    n_targets : int
        Number of outputs.
    n_hidden : int, default=64
        Width of every block, and of the features.
    n_layers : int, default=2
        Number of ``Linear -> GELU`` blocks.
    head, projection_dim, projection_hidden
        See :class:`~hyperspectral_cl.backbones.Backbone`.

    Examples
    --------
    >>> import torch
    >>> net = PixelMLP(n_bands=30, patch_size=5, n_targets=3)
    >>> pred, features = net(torch.randn(8, 1, 30, 5, 5))
    >>> tuple(pred.shape), tuple(features.shape)
    ((8, 3), (8, 64))
    """

    name = "pixel-mlp"
    min_bands = 1
    min_patch_size = 1

    def __init__(self, n_bands, patch_size, n_targets, n_hidden=64, n_layers=2, head="linear", projection_dim=None,
                 projection_hidden=256):
        super().__init__(n_bands, patch_size, n_targets, head, projection_dim, projection_hidden)
        check_positive_int(n_hidden, "n_hidden")
        check_positive_int(n_layers, "n_layers")
        widths = [n_bands] + [n_hidden] * n_layers
        # GELU rather than ReLU: with few labels a ReLU unit that dies early stays dead for the whole fit
        self.body = nn.Sequential(*[layer for a, b in zip(widths[:-1], widths[1:], strict=True)
                                    for layer in (nn.Linear(a, b), nn.GELU())])
        self.build_head(n_hidden)

    def features(self, x):
        """Average over the pixels of the per-pixel blocks: ``(N, 1, B, S, S) -> (N, n_hidden)``."""
        pixels = torch.movedim(x[:, 0], 1, -1)  # (N, S, S, B): one spectrum per pixel, bands last for Linear
        return self.body(pixels).mean(dim=(1, 2))
