"""3-D backbones behind one interface, looked up by name.

Every backbone is built as ``cls(n_bands, patch_size, n_targets, **options)``,
takes patches ``(N, 1, B, S, S)`` and returns ``(prediction, features)``.

==============  ============================================  =================
name            paper                                         class
==============  ============================================  =================
``luo``         Luo et al. 2018, HSI-CNN                      :class:`Luo`
``hamida``      Ben Hamida et al. 2018                        :class:`Hamida`
``li``          Li, Zhang and Shen 2017                       :class:`Li`
``atik``        Atik 2024, dual-stream 3-D CNN                :class:`Atik`
``varahagiri``  Varahagiri et al. 2024, 3D-ConvSST            :class:`Varahagiri`
``pixel-mlp``   this package: a per-pixel MLP, averaged       :class:`PixelMLP`
==============  ============================================  =================
"""

from .atik import Atik
from .base import BACKBONES, Backbone, MapBackbone, get_backbone, list_backbones, register_backbone
from .hamida import Hamida
from .li import Li
from .luo import Luo
from .pixel import PixelMLP
from .varahagiri import Varahagiri

__all__ = [
    "BACKBONES",
    "Atik",
    "Backbone",
    "Hamida",
    "Li",
    "Luo",
    "MapBackbone",
    "PixelMLP",
    "Varahagiri",
    "get_backbone",
    "list_backbones",
    "register_backbone",
]
