"""Spatial augmentations: transforms that move pixels, identically in every band."""

import torch

from .._validation import check_scalar
from .base import Transform, _rand, register_augmentation

__all__ = ["RandomFlip"]


@register_augmentation("flip", group="spatial")
class RandomFlip(Transform):
    """Mirror patches left-right and/or up-down, independently per sample.

    Label preservation: a patch-mean label is kept exactly (the same pixels);
    a centre-pixel label is kept for odd patch sizes (the centre stays in place)
    but not for even ones.

    Parameters
    ----------
    p : float, default=0.5
        Probability of each flip, drawn independently per sample and axis.
    horizontal : bool, default=True
        Whether left-right flips may happen.
    vertical : bool, default=True
        Whether up-down flips may happen.
    """

    def __init__(self, p=0.5, horizontal=True, vertical=True):
        self.p = p
        self.horizontal = horizontal
        self.vertical = vertical

    def apply(self, x, generator):
        check_scalar(self.p, "p", min_val=0.0, max_val=1.0)
        n = x.shape[0]
        out = x
        for enabled, dim in ((self.horizontal, -1), (self.vertical, -2)):
            flip = _rand(n, x, generator) < self.p  # drawn even when disabled: same stream either way
            if enabled:
                out = torch.where(flip[:, None, None, None, None], out.flip(dim), out)
        return out if out is not x else x.clone()
