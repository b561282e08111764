"""3-D backbones behind one interface, looked up by name.

Every backbone is built as ``cls(n_bands, patch_size, n_targets, **options)``,
takes patches ``(N, 1, B, S, S)`` and returns ``(prediction, features)``.
"""

from .base import BACKBONES, Backbone, get_backbone, list_backbones, register_backbone
from .li import Li

__all__ = ["BACKBONES", "Backbone", "Li", "get_backbone", "list_backbones", "register_backbone"]
