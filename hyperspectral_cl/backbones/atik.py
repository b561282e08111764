"""Atik (2024): a dual-stream 3-D CNN with two spectral kernel lengths.

Atik S. O., "Dual-stream spectral-spatial convolutional neural network for
hyperspectral image classification and optimal band selection", Advances in
Space Research 74(5), 2024.
"""

import torch
from torch import nn

from .base import MapBackbone, check_positive_int, init_relu_convs, register_backbone

__all__ = ["Atik"]


@register_backbone("atik", aliases=("ds-3dcnn",))
class Atik(MapBackbone):
    """Atik (2024) dual-stream 3-D CNN.

    Two streams read the same patch: ``Conv3d(1, n_filters, (5, 4, 4))`` -> ReLU
    and ``Conv3d(1, n_filters, (3, 4, 4))`` -> ReLU; their maps are concatenated
    along the spectral axis. The features the contrastive loss compares are the
    concatenated maps averaged over pixels (``n_filters (2B - 6)`` values; 7,072
    at ``B = 224``), or with ``pooling=None`` flattened (``n_filters (2B - 6)
    (S - 3)^2`` values, the paper's; 346,528 at ``B = 224, S = 10``). Both streams are He-initialised
    (the public code defines an initialiser but never applies it).

    Parameters
    ----------
    n_bands : int
        Number of bands, ``>= 5``.
    patch_size : int
        Patch side, ``>= 4``.
    n_targets : int
        Number of outputs.
    n_filters : int, default=16
        Filters per stream.
    pooling : {'avg', None}, default='avg'
        See :class:`~hyperspectral_cl.backbones.MapBackbone`.
    head, projection_dim, projection_hidden
        See :class:`~hyperspectral_cl.backbones.Backbone`.
    """

    name = "atik"
    min_bands = 5
    min_patch_size = 4

    def __init__(
        self, n_bands, patch_size, n_targets, n_filters=16, pooling="avg", head="linear", projection_dim=None,
        projection_hidden=256,
    ):
        super().__init__(n_bands, patch_size, n_targets, pooling=pooling, head=head, projection_dim=projection_dim,
                         projection_hidden=projection_hidden)
        check_positive_int(n_filters, "n_filters")
        self.stream5 = nn.Conv3d(1, n_filters, (5, 4, 4))
        self.stream3 = nn.Conv3d(1, n_filters, (3, 4, 4))
        self.act = nn.ReLU()
        self.build_map_head(n_filters, 2 * n_bands - 6, patch_size - 3)
        self.reset_parameters()

    def reset_parameters(self, generator=None):
        """He initialisation of the layers followed by a ReLU (zero biases), drawn from ``generator``."""
        init_relu_convs(self.stream5, self.stream3, generator=generator)

    def feature_maps(self, x):
        return torch.cat([self.act(self.stream5(x)), self.act(self.stream3(x))], dim=2)
