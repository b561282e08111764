"""Li, Zhang and Shen (2017): a two-layer 3-D CNN for spectral-spatial classification.

Li Y., Zhang H., Shen Q., "Spectral-spatial classification of hyperspectral imagery
with 3D convolutional neural network", Remote Sensing 9(1):67, 2017.
"""

from torch import nn

from .base import MapBackbone, check_positive_int, init_relu_convs, register_backbone

__all__ = ["Li"]


@register_backbone("li")
class Li(MapBackbone):
    """Li et al. (2017) 3-D CNN.

    ``Conv3d(1, n, (7, 3, 3), pad (1, 0, 0))`` -> ReLU ->
    ``Conv3d(n, 2n, (3, 3, 3), pad (1, 0, 0))`` -> ReLU -> features -> linear head.
    The convolutions shrink the spectral axis by 4 and each spatial axis by 4:
    the maps are ``2n x (B - 4) x (S - 4)^2``. The features (what the contrastive
    loss compares) are their average over pixels, ``2n (B - 4)`` values, or with
    ``pooling=None`` the flattened maps, ``2n (B - 4) (S - 4)^2`` values (the
    paper's). Unlike a public version of this network, both convolutions are
    followed by their ReLU (without them it is a linear model).

    Parameters
    ----------
    n_bands : int
        Number of bands, ``>= 5``.
    patch_size : int
        Patch side, ``>= 5``.
    n_targets : int
        Number of outputs.
    n_planes : int, default=16
        Filters of the first convolution (the second has twice as many); 16 is
        the configuration of the paper's experiments.
    pooling : {'avg', None}, default='avg'
        See :class:`~hyperspectral_cl.backbones.MapBackbone`.
    head, projection_dim, projection_hidden
        See :class:`~hyperspectral_cl.backbones.Backbone`.
    """

    name = "li"
    min_bands = 5
    min_patch_size = 5

    def __init__(
        self, n_bands, patch_size, n_targets, n_planes=16, pooling="avg", head="linear", projection_dim=None,
        projection_hidden=256,
    ):
        super().__init__(n_bands, patch_size, n_targets, pooling=pooling, head=head, projection_dim=projection_dim,
                         projection_hidden=projection_hidden)
        check_positive_int(n_planes, "n_planes")
        self.conv1 = nn.Conv3d(1, n_planes, (7, 3, 3), padding=(1, 0, 0))
        self.conv2 = nn.Conv3d(n_planes, 2 * n_planes, (3, 3, 3), padding=(1, 0, 0))
        self.act = nn.ReLU()
        self.build_map_head(2 * n_planes, n_bands - 4, patch_size - 4)
        self.reset_parameters()

    def reset_parameters(self, generator=None):
        """He initialisation of the layers followed by a ReLU (zero biases), drawn from ``generator``."""
        init_relu_convs(self.conv1, self.conv2, generator=generator)

    def feature_maps(self, x):
        return self.act(self.conv2(self.act(self.conv1(x))))
