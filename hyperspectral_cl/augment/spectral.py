"""Spectral augmentations: transforms that act along the band axis."""

from numbers import Real

import torch

from .._validation import check_scalar
from .base import Transform, _rand, register_augmentation

__all__ = ["BandErasure"]


@register_augmentation("band_erasure", group="spectral")
class BandErasure(Transform):
    """Replace a random contiguous run of bands by a constant, per sample.

    Each sample draws a width ``round(f * B)`` (at least 1) with ``f`` uniform in
    ``[min_fraction, max_fraction]`` and a uniformly placed start; the run is set
    to ``fill`` in every pixel of the patch.

    Label preservation: keeps neither a patch-mean nor a centre-pixel label
    exactly in the physical sense (information is removed), but moves no pixel.

    Parameters
    ----------
    min_fraction : float, default=0.05
        Smallest erased share of the bands, in [0, 1].
    max_fraction : float, default=0.25
        Largest erased share of the bands, in [min_fraction, 1].
    fill : float, default=0.0
        Value written into erased bands (0 is the band mean after
        :class:`~hyperspectral_cl.PatchExtractor` standardisation).
    """

    def __init__(self, min_fraction=0.05, max_fraction=0.25, fill=0.0):
        self.min_fraction = min_fraction
        self.max_fraction = max_fraction
        self.fill = fill

    def apply(self, x, generator):
        check_scalar(self.min_fraction, "min_fraction", min_val=0.0, max_val=1.0)
        check_scalar(self.max_fraction, "max_fraction", min_val=self.min_fraction, max_val=1.0)
        check_scalar(self.fill, "fill", kind=Real)
        n, b = x.shape[0], x.shape[2]
        frac = self.min_fraction + (self.max_fraction - self.min_fraction) * _rand(n, x, generator)
        width = torch.clamp(torch.round(frac * b), min=1, max=b).long()
        start = torch.floor(_rand(n, x, generator) * (b - width + 1)).long()
        bands = torch.arange(b, device=x.device)
        mask = (bands[None, :] >= start[:, None]) & (bands[None, :] < (start + width)[:, None])
        return x.masked_fill(mask[:, None, :, None, None], float(self.fill))
