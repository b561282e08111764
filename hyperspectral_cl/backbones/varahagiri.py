"""Varahagiri et al. (2024), 3D-ConvSST: 3-D convolution, HetConv and guided transformer blocks.

Varahagiri S., Sinha A., Dubey S. R., Singh S. K., "3D-Convolution guided spectral-spatial
transformer for hyperspectral image classification", IEEE CAI 2024 (arXiv:2404.13252).
"""

import torch
from torch import nn

from .base import Backbone, check_positive_int, register_backbone
from .layers import TransformerBlock

__all__ = ["Varahagiri"]


class HetConv(nn.Module):
    """Heterogeneous convolution: a grouped 3 x 3 conv plus a pointwise conv, summed."""

    def __init__(self, in_channels, out_channels, groups):
        super().__init__()
        self.grouped = nn.Conv2d(in_channels, out_channels, 3, padding=1, groups=groups)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x):
        return self.grouped(x) + self.pointwise(x)


@register_backbone("varahagiri", aliases=("3d-convsst", "convsst"))
class Varahagiri(Backbone):
    """Varahagiri et al. (2024) 3D-ConvSST.

    1. ``Conv3d(1, 8, (9, 3, 3), pad (0, 1, 1))`` -> BatchNorm3d -> ReLU; the 8
       maps of ``B - 8`` bands are folded into ``8 (B - 8)`` channels of ``S x S``.
    2. HetConv (grouped 3 x 3 conv with 8 groups + 1 x 1 conv, summed) to
       ``dim`` channels -> BatchNorm2d -> ReLU.
    3. The ``S^2`` pixels become tokens of width ``dim`` plus a learned
       positional embedding.
    4. ``depth`` pre-LayerNorm transformer blocks (``heads`` heads, MLP ``4 dim``,
       GELU). After each block a 3-D-convolution guided residual: block input
       and output, as ``S x S`` maps, are stacked on a depth-2 axis and
       ``Conv3d(dim, dim, (2, 3, 3), pad (0, 1, 1))`` merges them into the next
       block's input (one such convolution shared by all blocks, as in the
       public code, unless ``share_guide_conv=False``).
    5. LayerNorm -> mean over tokens -> head.

    The features the contrastive loss compares are the ``dim``-wide pooled
    tokens of step 5. Every size is derived from ``(B, S)``, so any ``S >= 3``
    works (the public code hard-codes 11 x 11).

    Speed: tokens and the stacked maps of the guided residual are laid out so
    that no copy is needed between attention and convolution, and on CPU the
    HetConv runs on channels-last maps (set ``channels_last_on_cpu = False`` on
    an instance to compare; the output does not change).

    BatchNorm: the estimator runs the augmented view with the running
    statistics frozen (a private helper, ``frozen_batchnorm_stats``),
    so they track the real data only; in ``eval`` mode both views use them.

    Parameters
    ----------
    n_bands : int
        Number of bands, ``>= 9``.
    patch_size : int
        Patch side, ``>= 3``.
    n_targets : int
        Number of outputs.
    dim : int, default=64
        Token width (a multiple of ``heads`` and of 8).
    depth : int, default=2
        Number of transformer blocks.
    heads : int, default=8
        Attention heads.
    dropout : float, default=0.0
        Dropout inside the transformer blocks.
    share_guide_conv : bool, default=True
        One guided-residual convolution for all blocks (the public code) or one
        per block.
    head, projection_dim, projection_hidden
        See :class:`~hyperspectral_cl.backbones.Backbone`.
    """

    name = "varahagiri"
    min_bands = 9
    min_patch_size = 3
    channels_last_on_cpu = True

    def __init__(
        self,
        n_bands,
        patch_size,
        n_targets,
        dim=64,
        depth=2,
        heads=8,
        dropout=0.0,
        share_guide_conv=True,
        head="linear",
        projection_dim=None,
        projection_hidden=256,
    ):
        super().__init__(n_bands, patch_size, n_targets, head, projection_dim, projection_hidden)
        for value, pname in ((dim, "dim"), (depth, "depth"), (heads, "heads")):
            check_positive_int(value, pname)
        if dim % heads or dim % 8:
            raise ValueError(f"dim must be a multiple of heads ({heads}) and of 8, got {dim}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.conv3d = nn.Sequential(
            nn.Conv3d(1, 8, (9, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(8), nn.ReLU()
        )
        self.hetconv = nn.Sequential(HetConv(8 * (n_bands - 8), dim, groups=8), nn.BatchNorm2d(dim), nn.ReLU())
        self.pos_embedding = nn.Parameter(torch.empty(1, patch_size * patch_size, dim))
        # pre-norm GELU encoder layers whose dropouts draw from the fit's generator
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, float(dropout)) for _ in range(depth))
        n_guides = 1 if share_guide_conv else depth
        self.guides = nn.ModuleList(nn.Conv3d(dim, dim, (2, 3, 3), padding=(0, 1, 1)) for _ in range(n_guides))
        self.norm = nn.LayerNorm(dim)
        self.build_head(dim)
        self.reset_parameters()

    def reset_parameters(self, generator=None):
        """Initialise the positional embedding (truncated normal, std 0.02) from ``generator``."""
        nn.init.trunc_normal_(self.pos_embedding, std=0.02, generator=generator)

    def features(self, x):
        n, s = x.shape[0], x.shape[-1]
        m = self.conv3d(x).flatten(1, 2)  # (N, 8 (B-8), S, S)
        m = self.hetconv(self.cpu_channels_last(m))  # (N, dim, S, S); NHWC HetConv is ~1.5x faster on CPU
        tokens = m.flatten(2).transpose(1, 2) + self.pos_embedding  # (N, S*S, dim)
        for i, block in enumerate(self.blocks):
            out = block(tokens)
            # (N, 2, S*S, dim) viewed as a channels-last (N, dim, 2, S, S) volume: no copy before the conv
            pair = torch.stack([tokens, out], dim=1).view(n, 2, s, s, -1).permute(0, 4, 1, 2, 3)
            guide = self.guides[min(i, len(self.guides) - 1)]
            tokens = guide(pair).flatten(2).transpose(1, 2)  # (N, S*S, dim)
        return self.norm(tokens).mean(dim=1)
