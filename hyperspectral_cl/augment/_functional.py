"""Batched building blocks shared by the transforms (random draws, gathers, smoothing).

Random numbers are drawn on the generator's device (the input's device when no
generator is given) in float32 and then moved to the input: a CPU generator
then works for CUDA input, and float32 and float64 input see the same draws.
"""

import math
from numbers import Real

import numpy as np
import torch

from .._validation import check_scalar

__all__ = [
    "BLOCK_ELEMENTS",
    "apply_band_factor",
    "band_stats_for",
    "blockwise",
    "check_band_stats",
    "check_fill",
    "gather_bands",
    "gather_pixels",
    "gaussian_kernel",
    "nonzero_randint",
    "randint",
    "randn",
    "register_band_stats",
    "smooth_noise",
    "uniform",
]


#: On CPU with one intra-op thread, transforms that chain several element-wise passes work
#: through the batch in blocks of about this many elements (2 MiB of float32): the temporaries
#: then stay in cache instead of streaming every pass through main memory (2-4x faster on a
#: 256 x 224 x 10 x 10 batch).
BLOCK_ELEMENTS = 2**19


def blockwise(fn, x, *per_sample):
    """``fn(x[s], *(a[s] for a in per_sample))`` over blocks ``s`` of the batch axis, concatenated.

    A loop over a handful of cache-sized blocks, not over samples. One block (no loop) on
    GPUs, for small batches, and when torch runs several intra-op threads: each operation is
    then a parallel region, and on a machine shared with other processes every region can
    wait a scheduler tick for a descheduled thread, so many small regions cost far more than
    the cache saves (measured: 20x slower on 2 busy cores). ``fn`` maps a block to a tensor of
    the block's shape.
    """
    n = x.shape[0]
    blocked = x.device.type == "cpu" and torch.get_num_threads() == 1
    step = max(1, BLOCK_ELEMENTS // max(1, x[0].numel())) if blocked else n
    if step >= n:
        return fn(x, *per_sample)
    out = torch.empty_like(x)
    for start in range(0, n, step):
        sl = slice(start, start + step)
        out[sl] = fn(x[sl], *(a[sl] for a in per_sample))
    return out


def _gen_device(x, generator):
    return generator.device if generator is not None else x.device


def uniform(shape, x, generator, low=0.0, high=1.0, *, cast=True):
    """Uniform draws in ``[low, high)`` of ``shape``, on ``x``'s device.

    ``cast=True`` gives them ``x``'s dtype; ``cast=False`` keeps torch's default
    floating dtype (float32), so that a probability test or a drawn index is the
    same for float32 and float64 input.
    """
    r = torch.rand(shape, generator=generator, device=_gen_device(x, generator))
    r = r.to(device=x.device, dtype=x.dtype) if cast else r.to(x.device)
    return low + (high - low) * r  # low == high gives exactly low; 0 + 1 * r is exactly r


def randn(shape, x, generator):
    """Standard normal draws of ``shape``, in ``x``'s dtype and device."""
    r = torch.randn(shape, generator=generator, device=_gen_device(x, generator))
    return r.to(device=x.device, dtype=x.dtype)


def randint(low, high, shape, x, generator):
    """Integers uniform in ``[low, high)`` (int64, on ``x``'s device)."""
    r = torch.randint(low, high, shape, generator=generator, device=_gen_device(x, generator))
    return r.to(x.device)


def nonzero_randint(m, shape, x, generator):
    """Integers uniform over ``{-m, ..., m} \\ {0}`` (zeros when ``m == 0``).

    Excluding 0 makes every drawn shift an actual change.
    """
    if m == 0:
        return torch.zeros(shape, dtype=torch.long, device=x.device)
    u = randint(0, 2 * m, shape, x, generator)
    return u - m + (u >= m).long()


def gaussian_kernel(sigma, dtype, device):
    """Normalised (sum 1) 1-D Gaussian kernel of radius ``ceil(3 sigma)``; ``[1]`` for sigma 0."""
    radius = int(math.ceil(3.0 * sigma))
    if radius == 0:
        return torch.ones(1, dtype=dtype, device=device)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return torch.as_tensor(k / k.sum(), dtype=dtype, device=device)


def _smoothing_matrix(size, sigma, x):
    """(size, size + 2r) banded matrix: row i is the Gaussian kernel centred on input i + r."""
    k = gaussian_kernel(sigma, x.dtype, x.device)
    r = (k.numel() - 1) // 2
    m = torch.zeros(size, size + 2 * r, dtype=x.dtype, device=x.device)
    for i in range(k.numel()):  # a loop over kernel taps (<= 6 sigma + 1), not over data
        m.diagonal(i).fill_(k[i])
    return m / torch.linalg.vector_norm(k), r


def smooth_noise(lead, sizes, sigma, x, generator):
    """Smooth random fields of unit standard deviation, shape ``(*lead, *sizes)``.

    White Gaussian noise on a grid larger by the kernel radius ``r = ceil(3 sigma)``
    on every side is filtered with a Gaussian of std ``sigma`` (grid steps) in
    'valid' mode, so the field is stationary up to its edges (no padding
    artefacts, any size works). The filter is applied as a banded matrix
    product per axis (cheaper than a convolution call on such small grids);
    dividing the kernel by its L2 norm restores unit variance.
    """
    mats = [_smoothing_matrix(s, sigma, x) for s in sizes]
    noise = randn((*lead, *(s + 2 * r for s, (_, r) in zip(sizes, mats, strict=True))), x, generator)
    if len(sizes) == 1:
        return noise @ mats[0][0].T
    (mh, _), (mw, _) = mats
    return mh @ noise @ mw.T


def gather_bands(x, order):
    """``out[n, 0, j] = x[n, 0, order[n, j]]`` for ``x`` (N, 1, B, H, W), ``order`` (N, B) int64.

    A row gather on the ``(N * B, H * W)`` view: whole band images are copied,
    far faster than an element-wise gather with an expanded index.
    """
    n, _, b, h, w = x.shape
    flat = (order + torch.arange(n, device=x.device)[:, None] * b).reshape(-1)
    return x.reshape(n * b, h * w).index_select(0, flat).view(n, 1, b, h, w)


def gather_pixels(x, index):
    """``out[n, 0, :, p] = x[n, 0, :, index[n, p]]`` with pixels flattened row-major.

    ``index`` is (N, H * W) int64 into the flattened source image; the same
    source pixel is used in every band.
    """
    n, _, b, h, w = x.shape
    flat = x.reshape(n, b, h * w)
    out = flat.gather(2, index[:, None, :].expand(n, b, h * w))
    return out.view(n, 1, b, h, w)


def check_fill(fill, name="fill", modes=("edge", "reflect")):
    """A fill is one of ``modes`` or a finite real number."""
    if isinstance(fill, str):
        if fill not in modes:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, modes))} or a number, got {fill!r}")
        return fill
    check_scalar(fill, name, kind=Real)
    return float(fill)


def check_band_stats(band_mean, band_scale):
    """The standardisation ``z = (r - band_mean) / band_scale`` as float64 tensors, or None.

    Each of ``band_mean`` and ``band_scale`` is None (0 or 1), a number, or one
    value per band; returns ``(mean, scale)`` of shape (K,) (K = 1 for numbers),
    or None when both are None. The number of bands is checked against the
    data by :func:`band_stats_for`.
    """
    if band_mean is None and band_scale is None:
        return None
    out = []
    for value, name, default in ((band_mean, "band_mean", 0.0), (band_scale, "band_scale", 1.0)):
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        try:
            arr = np.asarray(default if value is None else value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be None, a number or an array of one value per band") from exc
        if arr.ndim > 1 or arr.size == 0:
            raise ValueError(f"{name} must be a number or a 1-D array of one value per band, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite")
        out.append(torch.tensor(arr.reshape(-1)))  # a copy: the caller's array is never shared
    if (out[1] <= 0).any():
        raise ValueError("band_scale must be positive in every band")
    return out[0], out[1]


def register_band_stats(module, band_mean, band_scale):
    """Check ``band_mean``/``band_scale`` and keep them on ``module`` as buffers (moved by ``.to``, not saved)."""
    device = module._buffer_device()
    stats = [None if t is None else t.to(device) for t in check_band_stats(band_mean, band_scale) or (None, None)]
    module.register_buffer("_band_mean", stats[0], persistent=False)
    module.register_buffer("_band_scale", stats[1], persistent=False)


def band_stats_for(module, x):
    """``module``'s band statistics as (1, 1, B, 1, 1)-broadcastable tensors in ``x``'s dtype, or None."""
    if module._band_mean is None:
        return None
    b = x.shape[2]
    out = []
    for value, name in ((module._band_mean, "band_mean"), (module._band_scale, "band_scale")):
        if value.shape[0] not in (1, b):
            raise ValueError(f"{name} must be a scalar or hold one value per band ({b}), got shape {tuple(value.shape)}")
        out.append(value.to(x).view(1, 1, -1, 1, 1))
    return out[0], out[1]


def apply_band_factor(x, factor, stats):
    """Multiply the reflectance behind ``x`` by ``factor`` and return it in ``x``'s units.

    With ``r = z s + m`` and ``r' = r f``: ``z' = z f + (m / s) (f - 1)``. Written
    this way a factor of exactly 1 returns ``z`` exactly (no round trip through
    reflectance).
    """
    out = x * factor
    if stats is not None:
        out.addcmul_(factor - 1, stats[0] / stats[1])
    return out
