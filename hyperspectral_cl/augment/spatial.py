"""Spatial augmentations: transforms that move pixels, identically in every band.

The paper's four (section 3.3): rotation, elastic deformation, flip and
translation. Sub-pixel warps use ``torch.nn.functional.grid_sample`` with the
bands as channels (one sampling grid per sample, shared by all bands); whole
pixel moves (quarter turns, translations) are index gathers, which copy values
exactly.

``fill`` says what enters where a warp reaches outside the patch: ``'edge'``
repeats the border pixels, ``'reflect'`` mirrors the patch about its border
(the border pixel repeated, as ``numpy.pad(mode='symmetric')``), a number
writes that constant (0 is the band mean of standardised patches).

The centre pixel(s) of an ``H x W`` patch are rows ``(H - 1) // 2 .. H // 2``
and columns ``(W - 1) // 2 .. W // 2``: one pixel for odd sizes (the centre
pixel of :class:`~hyperspectral_cl.PatchExtractor` patches), a 2 x 2 block for
even ones.
"""

from numbers import Integral

import torch
import torch.nn.functional as F

from .._validation import check_scalar
from ._functional import check_fill, gather_pixels, nonzero_randint, randint, smooth_noise, uniform
from .base import Transform, register_augmentation

__all__ = ["ElasticDeformation", "RandomFlip", "RandomRotation", "RandomTranslation"]

_PADDING = {"edge": "border", "reflect": "reflection"}


def _centre_slices(h, w):
    return slice((h - 1) // 2, h // 2 + 1), slice((w - 1) // 2, w // 2 + 1)


def _keep_centre(out, x):
    """Write ``x``'s centre pixel(s) into ``out`` (a new tensor) and return it."""
    rows, cols = _centre_slices(x.shape[3], x.shape[4])
    out[..., rows, cols] = x[..., rows, cols]
    return out


def _warp(x, grid, fill, interpolation):
    """Sample every band of ``x`` (N, 1, B, H, W) at ``grid`` (N, H, W, 2) (normalised, align_corners=False)."""
    n, _, b, h, w = x.shape
    img = x.reshape(n, b, h, w)
    if isinstance(fill, str):
        out = F.grid_sample(img, grid, mode=interpolation, padding_mode=_PADDING[fill], align_corners=False)
    else:  # zeros padding around x - fill is a constant fill around x
        out = F.grid_sample(img - fill, grid, mode=interpolation, padding_mode="zeros", align_corners=False) + fill
    return out.view(n, 1, b, h, w)


def _check_interpolation(value):
    if value not in ("bilinear", "nearest"):
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {value!r}")


def _check_bool(value, name):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")


@register_augmentation("rotation", group="spatial")
class RandomRotation(Transform):
    """Rotate patches about their centre, by any angle or by quarter turns.

    ``mode='any'``: each sample draws an angle uniformly in ``[min_angle,
    max_angle]`` degrees (counter-clockwise as displayed, row 0 at the top)
    and is resampled by ``grid_sample`` on the pixel grid (square pixels for
    any ``H x W``); the corners that come from outside the patch get ``fill``.
    ``mode='rot90'``: each sample is turned by 90, 180 or 270 degrees
    (uniformly, ignoring the angle range) by an exact index permutation, the
    same as ``torch.rot90`` (square patches only).

    Label preservation: ``'rot90'`` keeps a patch-mean label exactly (the same
    pixel values) and a centre-pixel label for odd sizes. ``'any'`` keeps a
    centre-pixel label for odd sizes exactly (the centre maps onto itself and
    its value is kept bit for bit) and a patch-mean label only approximately
    (interpolation, filled corners).

    Parameters
    ----------
    min_angle : float, default=-180.0
        Smallest angle, degrees.
    max_angle : float, default=180.0
        Largest angle, degrees, ``>= min_angle``.
    mode : {'any', 'rot90'}, default='any'
    fill : {'edge', 'reflect'} or float, default='edge'
        What enters the corners (``mode='any'``).
    interpolation : {'bilinear', 'nearest'}, default='bilinear'
    """

    def __init__(self, min_angle=-180.0, max_angle=180.0, mode="any", fill="edge", interpolation="bilinear"):
        super().__init__()
        self.min_angle = min_angle
        self.max_angle = max_angle
        self.mode = mode
        self.fill = fill
        self.interpolation = interpolation
        self.validate()

    def _check_params(self):
        if self.mode not in ("any", "rot90"):
            raise ValueError(f"mode must be 'any' or 'rot90', got {self.mode!r}")
        check_scalar(self.min_angle, "min_angle")
        check_scalar(self.max_angle, "max_angle", min_val=self.min_angle)
        check_fill(self.fill)
        _check_interpolation(self.interpolation)

    def make_params(self, x, generator=None):
        """``mode='any'``: ``'angle'`` per sample in degrees; ``'rot90'``: ``'quarter_turns'`` (int64); shape (N,)."""
        if self.mode == "rot90":
            return {"quarter_turns": randint(1, 4, (x.shape[0],), x, generator)}
        return {"angle": uniform((x.shape[0],), x, generator, float(self.min_angle), float(self.max_angle))}

    def transform(self, x, params):
        if self.mode == "rot90":
            return self._rot90(x, params["quarter_turns"])
        return self._rotate(x, params["angle"])

    @staticmethod
    def _rot90(x, k):
        """Turn sample ``n`` by ``k[n]`` quarter turns counter-clockwise (int64 (N,))."""
        if x.shape[3] != x.shape[4]:
            raise ValueError(f"mode='rot90' needs square patches, got {x.shape[3]} x {x.shape[4]}")
        s = x.shape[3]
        i = torch.arange(s, device=x.device)[:, None].expand(s, s)
        j = torch.arange(s, device=x.device)[None, :].expand(s, s)
        last = s - 1
        # source pixel of output (i, j) for k = 0, 1, 2, 3 (k = 1: out[i, j] = x[j, S-1-i], like rot90)
        src = torch.stack([i * s + j, j * s + (last - i), (last - i) * s + (last - j), (last - j) * s + i])
        return gather_pixels(x, src.view(4, s * s)[k % 4])

    def _rotate(self, x, angle):
        """Rotate sample ``n`` by ``angle[n]`` degrees (float tensor (N,))."""
        n, _, b, h, w = x.shape
        t = torch.deg2rad(angle)
        c, s = torch.cos(t), torch.sin(t)
        zero = torch.zeros_like(c)
        # output -> source map in pixel units is [[c, -s], [s, c]]; in normalised units the axes
        # are scaled by W/2 and H/2, hence the aspect factors off the diagonal
        theta = torch.stack([torch.stack([c, -s * (h / w), zero], 1), torch.stack([s * (w / h), c, zero], 1)], 1)
        grid = F.affine_grid(theta, (n, b, h, w), align_corners=False)
        out = _warp(x, grid, check_fill(self.fill), self.interpolation)
        if h % 2 and w % 2:  # the centre maps onto itself: keep it bit for bit
            out = _keep_centre(out, x)
        return out


@register_augmentation("elastic_deformation", group="spatial")
class ElasticDeformation(Transform):
    """Warp patches by a smooth random displacement field, the same in every band.

    A displacement ``(dx, dy)`` per pixel is Gaussian white noise filtered by a
    Gaussian of std ``sigma`` pixels, scaled to a standard deviation of ``alpha``
    pixels; the output at pixel ``p`` is the input sampled at ``p + d(p)``
    (``grid_sample``, ``fill`` outside). A geometric deformation, unlike adding
    smoothed noise to the values. ``alpha=0`` is the identity.

    Label preservation: a patch-mean label is kept approximately (pixels are
    moved by about ``alpha``, a few enter from the border); a centre-pixel label
    only with ``keep_center=True``.

    Parameters
    ----------
    alpha : float, default=1.0
        Standard deviation of the displacement, in pixels, ``>= 0``.
    sigma : float, default=2.0
        Smoothness: std of the Gaussian filter, in pixels, ``>= 0``.
    fill : {'edge', 'reflect'} or float, default='edge'
    keep_center : bool, default=False
        Remove the field's mean over the centre pixel(s) (no displacement there
        for odd sizes) and keep their values exactly.
    interpolation : {'bilinear', 'nearest'}, default='bilinear'
    """

    def __init__(self, alpha=1.0, sigma=2.0, fill="edge", keep_center=False, interpolation="bilinear"):
        super().__init__()
        self.alpha = alpha
        self.sigma = sigma
        self.fill = fill
        self.keep_center = keep_center
        self.interpolation = interpolation
        self.validate()

    def _check_params(self):
        check_scalar(self.alpha, "alpha", min_val=0.0)
        check_scalar(self.sigma, "sigma", min_val=0.0)
        check_fill(self.fill)
        _check_interpolation(self.interpolation)
        _check_bool(self.keep_center, "keep_center")

    def make_params(self, x, generator=None):
        """``'displacement'``: each sample's field ``(dx, dy)`` in pixels (shape (N, 2, H, W))."""
        n, _, _, h, w = x.shape
        return {"displacement": float(self.alpha) * smooth_noise((n, 2), (h, w), float(self.sigma), x, generator)}

    def transform(self, x, params):
        displacement = params["displacement"]
        if displacement.shape[2:] != x.shape[3:]:
            raise ValueError(f"params['displacement'] is a {tuple(displacement.shape[2:])} field; the batch's patches "
                             f"are {tuple(x.shape[3:])}")
        if self.alpha == 0:
            return x.clone()
        n, _, b, h, w = x.shape
        if self.keep_center:
            rows, cols = _centre_slices(h, w)
            displacement = displacement - displacement[:, :, rows, cols].mean(dim=(2, 3), keepdim=True)
        eye = torch.eye(2, 3, dtype=x.dtype, device=x.device).expand(n, 2, 3)
        grid = F.affine_grid(eye, (n, b, h, w), align_corners=False)
        # pixels -> normalised units: a pixel is 2 / W wide in x, 2 / H in y
        step = torch.tensor([2.0 / w, 2.0 / h], dtype=x.dtype, device=x.device)
        grid = grid + displacement.permute(0, 2, 3, 1) * step
        out = _warp(x, grid, check_fill(self.fill), self.interpolation)
        return _keep_centre(out, x) if self.keep_center else out


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
        super().__init__()
        self.p = p
        self.horizontal = horizontal
        self.vertical = vertical
        self.validate()

    def _check_params(self):
        check_scalar(self.p, "p", min_val=0.0, max_val=1.0)
        _check_bool(self.horizontal, "horizontal")
        _check_bool(self.vertical, "vertical")

    def make_params(self, x, generator=None):
        """``'horizontal'`` and ``'vertical'``: whether each sample is mirrored on that axis (bool, shape (N,))."""
        n = x.shape[0]
        # both draws happen even when an axis is disabled: the same random stream either way
        flip_h = (uniform((n,), x, generator, cast=False) < self.p) & bool(self.horizontal)
        flip_v = (uniform((n,), x, generator, cast=False) < self.p) & bool(self.vertical)
        return {"horizontal": flip_h, "vertical": flip_v}

    def transform(self, x, params):
        flip_h, flip_v = params["horizontal"], params["vertical"]
        n, h, w = x.shape[0], x.shape[3], x.shape[4]
        i = torch.arange(h, device=x.device)[None, :, None]
        j = torch.arange(w, device=x.device)[None, None, :]
        # one exact index gather instead of two flips and two selections
        src_i = torch.where(flip_v[:, None, None], h - 1 - i, i)
        src_j = torch.where(flip_h[:, None, None], w - 1 - j, j)
        return gather_pixels(x, (src_i * w + src_j).reshape(n, h * w))


@register_augmentation("translation", group="spatial")
class RandomTranslation(Transform):
    """Shift patches by whole pixels, filling what enters from outside.

    Each sample draws ``(dy, dx)`` uniformly among the ``(2 m + 1)^2 - 1``
    non-zero shifts with ``|dy|, |dx| <= m = max_shift``; ``out[i, j] =
    x[i - dy, j - dx]`` (positive ``dx`` moves content right, ``dy`` down).
    Values are copied exactly (an index gather). Pixels coming from outside
    get ``fill``: ``'edge'``, ``'reflect'``, ``'wrap'`` (periodic, like
    ``numpy.roll``) or a number.

    ``keep_center=True`` pins the centre pixel(s): the context is translated
    around them and their original values are written back, so the centre
    pixel's value stays at the centre (the label of a centre-pixel task stays
    valid) while its neighbourhood moves.

    Label preservation: a centre-pixel label only with ``keep_center=True``;
    a patch-mean label approximately (rows/columns leave, fill enters), except
    ``fill='wrap'``, which keeps it exactly (a cyclic permutation of pixels).

    Parameters
    ----------
    max_shift : int, default=2
        Largest shift per axis, in pixels, ``>= 0`` (0 gives the identity).
    fill : {'edge', 'reflect', 'wrap'} or float, default='edge'
    keep_center : bool, default=False
    """

    def __init__(self, max_shift=2, fill="edge", keep_center=False):
        super().__init__()
        self.max_shift = max_shift
        self.fill = fill
        self.keep_center = keep_center
        self.validate()

    def _check_params(self):
        check_scalar(self.max_shift, "max_shift", kind=Integral, min_val=0)
        check_fill(self.fill, modes=("edge", "reflect", "wrap"))
        _check_bool(self.keep_center, "keep_center")

    def make_params(self, x, generator=None):
        """``'dy'`` and ``'dx'``: each sample's shift in rows and columns (int64, shape (N,))."""
        m, n = int(self.max_shift), x.shape[0]
        if m == 0:
            zero = torch.zeros(n, dtype=torch.long, device=x.device)
            return {"dy": zero, "dx": zero}
        # one draw over the non-zero pairs: index u of the (2m+1)^2 grid with its centre skipped
        side = 2 * m + 1
        u = nonzero_randint((side * side - 1) // 2, (n,), x, generator) + (side * side - 1) // 2
        return {"dy": torch.div(u, side, rounding_mode="floor") - m, "dx": u % side - m}

    def transform(self, x, params):
        dy, dx = params["dy"], params["dx"]
        n, _, b, h, w = x.shape
        fill = check_fill(self.fill, modes=("edge", "reflect", "wrap"))
        src_i = torch.arange(h, device=x.device)[None, :] - dy[:, None]  # (N, H)
        src_j = torch.arange(w, device=x.device)[None, :] - dx[:, None]  # (N, W)
        inside = None
        if fill == "wrap":
            src_i, src_j = src_i % h, src_j % w
        elif fill == "reflect":
            src_i, src_j = _symmetric(src_i, h), _symmetric(src_j, w)
        else:
            if not isinstance(fill, str):
                inside = ((src_i >= 0) & (src_i < h))[:, :, None] & ((src_j >= 0) & (src_j < w))[:, None, :]
            src_i, src_j = src_i.clamp(0, h - 1), src_j.clamp(0, w - 1)
        index = (src_i[:, :, None] * w + src_j[:, None, :]).reshape(n, h * w)
        out = gather_pixels(x, index)
        if inside is not None:
            out = out.masked_fill(~inside[:, None, None], fill)
        return _keep_centre(out, x) if self.keep_center else out


def _symmetric(i, size):
    """Mirror indices about the borders with the border repeated (period 2 * size)."""
    t = i % (2 * size)
    return torch.where(t >= size, 2 * size - 1 - t, t)

