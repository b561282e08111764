"""Luo et al. (2018), HSI-CNN: a spectral 3-D convolution whose responses are stacked into an image.

Luo Y., Zou J., Yao C., Zhao X., Li T., Bai G., "HSI-CNN: a novel convolution neural
network for hyperspectral image", ICALIP 2018 (arXiv:1802.10478).
"""

from torch import nn

from .base import Backbone, check_positive_int, conv_out, init_relu_convs, register_backbone

__all__ = ["Luo"]

#: Spectral extent and stride of the first convolution (the paper's values).
SPECTRAL_KERNEL, SPECTRAL_STRIDE = 24, 9


@register_backbone("luo", aliases=("hsi-cnn",))
class Luo(Backbone):
    """Luo et al. (2018) HSI-CNN.

    1. ``Conv3d(1, n_kernels, (24, 3, 3), stride (9, 1, 1))`` -> ReLU: each of the
       ``n_kernels`` kernels slides down the spectrum of every 3 x 3
       neighbourhood, giving ``h1 = (B - 24) // 9 + 1`` responses per kernel.
    2. The paper's reshape: the responses of one neighbourhood are stacked into
       an ``h1 x n_kernels`` image (rows = spectral positions, columns =
       kernels). Public versions use ``view`` on channel-major memory instead,
       which interleaves kernels, bands and pixels; here the axes are permuted
       explicitly. The paper works on one 3 x 3 neighbourhood; for larger
       patches the ``(S - 2)^2`` neighbourhoods become the channels of that
       image, so the network reduces exactly to the paper's at ``S = 3``.
    3. ``Conv2d(., n_maps, 3 x 3, padding 1)`` -> ReLU (padding keeps bands
       down to 24 usable; the paper's unpadded version needs ``B >= 42``).
    4. Flatten -> ``Linear(., n_hidden)`` -> ReLU (the paper's FC1) -> the
       regression head (FC2).

    The features the contrastive loss compares are the ``n_hidden`` FC1
    activations. No pooling, BatchNorm or dropout, as in the paper.

    Parameters
    ----------
    n_bands : int
        Number of bands, ``>= 24``.
    patch_size : int
        Patch side, ``>= 3``.
    n_targets : int
        Number of outputs.
    n_kernels : int, default=8
        Kernels of the spectral convolution (columns of the stacked image).
        The seed authors' value; the paper's 90 with FC1 = 1024 gives billions
        of parameters at ``S = 10``.
    n_maps : int, default=16
        Output maps of the 2-D convolution.
    n_hidden : int, default=128
        Width of FC1, the feature layer.
    head, projection_dim, projection_hidden
        See :class:`~hyperspectral_cl.backbones.Backbone`.
    """

    name = "luo"
    min_bands = SPECTRAL_KERNEL
    min_patch_size = 3

    def __init__(
        self,
        n_bands,
        patch_size,
        n_targets,
        n_kernels=8,
        n_maps=16,
        n_hidden=128,
        head="linear",
        projection_dim=None,
        projection_hidden=256,
    ):
        super().__init__(n_bands, patch_size, n_targets, head, projection_dim, projection_hidden)
        for value, pname in ((n_kernels, "n_kernels"), (n_maps, "n_maps"), (n_hidden, "n_hidden")):
            check_positive_int(value, pname)
        self.n_rows = conv_out(n_bands, SPECTRAL_KERNEL, SPECTRAL_STRIDE)
        self.n_neighbourhoods = (patch_size - 2) ** 2
        self.conv1 = nn.Conv3d(1, n_kernels, (SPECTRAL_KERNEL, 3, 3), stride=(SPECTRAL_STRIDE, 1, 1))
        self.conv2 = nn.Conv2d(self.n_neighbourhoods, n_maps, 3, padding=1)
        self.fc1 = nn.Linear(n_maps * self.n_rows * n_kernels, n_hidden)
        self.act = nn.ReLU()
        self.build_head(n_hidden)
        self.reset_parameters()

    def reset_parameters(self, generator=None):
        """He initialisation of the layers followed by a ReLU (zero biases), drawn from ``generator``."""
        init_relu_convs(self.conv1, self.conv2, self.fc1, generator=generator)

    def features(self, x):
        r = self.act(self.conv1(x))  # (N, kernels, h1, S-2, S-2)
        # rows = spectral positions, columns = kernels, one image per neighbourhood
        image = r.flatten(3).permute(0, 3, 2, 1)  # (N, (S-2)^2, h1, kernels)
        m = self.act(self.conv2(image))
        return self.act(self.fc1(m.flatten(1)))
