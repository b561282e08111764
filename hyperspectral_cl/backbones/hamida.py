"""Ben Hamida et al. (2018): a deep 3-D CNN with learned strided spectral "pooling".

Ben Hamida A., Benoit A., Lambert P., Ben Amar C., "3-D deep learning approach for
remote sensing image classification", IEEE TGRS 56(8):4420-4434, 2018.
"""

from torch import nn

from .base import MapBackbone, conv_out, init_relu_convs, register_backbone

__all__ = ["Hamida"]


@register_backbone("hamida")
class Hamida(MapBackbone):
    """Ben Hamida et al. (2018) 3-D CNN.

    ``conv1 Conv3d(1, 20, 3x3x3)`` -> ReLU -> ``pool1 Conv3d(20, 20, (3,1,1),
    stride (2,1,1), pad (1,0,0))`` -> ``conv2 Conv3d(20, 35, 3x3x3, pad (1,0,0))``
    -> ReLU -> ``pool2 Conv3d(35, 35, (3,1,1), stride (2,1,1), pad (1,0,0))`` ->
    ``conv3 Conv3d(35, 35, (3,1,1), pad (1,0,0))`` -> ReLU -> ``conv4
    Conv3d(35, 35, (2,1,1), stride (2,1,1), pad (1,0,0))`` -> ReLU -> features ->
    head. The "pooling" layers are learned strided convolutions without an
    activation, as in the paper.

    The features the contrastive loss compares are the conv4 maps averaged over
    pixels (``35 * d`` values, ``d`` the remaining spectral length; 1,015 at
    ``B = 224``), or with ``pooling=None`` the flattened maps (``35 * d * (S - 4)^2``
    values, the paper's; 36,540 at ``B = 224, S = 10``). For ``S = 3`` and ``S = 4`` conv1 is padded
    spatially by one pixel (as the authors do for 3 x 3 patches) so the
    spatial extent survives conv2.

    Speed: on CPU the maps after conv1 are laid out channels-last
    (``torch.channels_last_3d``), which oneDNN runs about 1.7x faster for this
    network's training step (``benchmarks/backbones.py``); the output does not
    change. Set ``channels_last_on_cpu = False`` on an instance to compare.

    Parameters
    ----------
    n_bands : int
        Number of bands, ``>= 3``.
    patch_size : int
        Patch side, ``>= 3``.
    n_targets : int
        Number of outputs.
    pooling : {'avg', None}, default='avg'
        See :class:`~hyperspectral_cl.backbones.MapBackbone`.
    head, projection_dim, projection_hidden
        See :class:`~hyperspectral_cl.backbones.Backbone`.
    """

    name = "hamida"
    min_bands = 3
    min_patch_size = 3
    channels_last_on_cpu = True

    def __init__(
        self, n_bands, patch_size, n_targets, pooling="avg", head="linear", projection_dim=None, projection_hidden=256
    ):
        super().__init__(n_bands, patch_size, n_targets, pooling=pooling, head=head, projection_dim=projection_dim,
                         projection_hidden=projection_hidden)
        pad = 1 if patch_size < 5 else 0
        self.conv1 = nn.Conv3d(1, 20, 3, padding=(0, pad, pad))
        self.pool1 = nn.Conv3d(20, 20, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
        self.conv2 = nn.Conv3d(20, 35, 3, padding=(1, 0, 0))
        self.pool2 = nn.Conv3d(35, 35, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
        self.conv3 = nn.Conv3d(35, 35, (3, 1, 1), padding=(1, 0, 0))
        self.conv4 = nn.Conv3d(35, 35, (2, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
        self.act = nn.ReLU()
        d = conv_out(n_bands, 3)
        d = conv_out(d, 3, 2, 1)  # pool1; conv2 keeps d
        d = conv_out(d, 3, 2, 1)  # pool2; conv3 keeps d
        d = conv_out(d, 2, 2, 1)  # conv4
        side = patch_size + 2 * pad - 4
        self.build_map_head(35, d, side)
        self.reset_parameters()

    def reset_parameters(self, generator=None):
        """He initialisation of the layers followed by a ReLU (zero biases), drawn from ``generator``."""
        init_relu_convs(self.conv1, self.conv2, self.conv3, self.conv4, generator=generator)

    def feature_maps(self, x):
        x = self.pool1(self.cpu_channels_last(self.act(self.conv1(x))))
        x = self.pool2(self.act(self.conv2(x)))
        x = self.act(self.conv3(x))
        return self.act(self.conv4(x))
