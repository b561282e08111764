"""Spectral augmentations: transforms that act along the band axis.

None of them moves a pixel: every pixel keeps its place in the patch. The eight
transforms of the paper (section 3.3), in its order: spectral shift, spectral
flip, Hapke scattering, atmospheric compensation, elastic distortion, band
erasure, band permutation and nearest-neighbour mixing.

Hapke scattering and atmospheric compensation are physical models of
reflectance. They take ``band_mean`` and ``band_scale``: when the input was
standardised per band (``z = (r - band_mean) / band_scale``, what
:class:`~hyperspectral_cl.PatchExtractor` does by default, whose ``mean_`` and
``scale_`` are the values to pass), the transform works on the reflectance
behind ``z`` and returns standardised values. Without them the input is taken
as reflectance (use ``PatchExtractor(standardize=False)`` for that).
"""

from functools import partial
from numbers import Integral, Real

import numpy as np
import torch

from .._spectra import check_wavelengths
from .._validation import check_scalar
from ._functional import (
    apply_band_factor,
    band_stats_for,
    blockwise,
    gather_bands,
    nonzero_randint,
    register_band_stats,
    smooth_noise,
    uniform,
)
from .base import Transform, register_augmentation
from .illumination import resolve_illumination

__all__ = [
    "AtmosphericCompensation",
    "BandErasure",
    "BandPermutation",
    "ElasticDistortion",
    "HapkeScattering",
    "NeighbourMixing",
    "SpectralFlip",
    "SpectralShift",
    "hapke_albedo",
    "hapke_reflectance",
]


@register_augmentation("spectral_shift", group="spectral")
class SpectralShift(Transform):
    """Displace each spectrum by a whole number of bands, extrapolating the exposed end.

    Each sample draws a shift ``k`` uniformly from ``{-max_shift, ..., max_shift}``
    without 0; ``out[b] = x[b - k]`` (positive ``k`` moves features to longer
    wavelengths), the same for every pixel of the patch. The ``|k|`` bands that
    have no source are extrapolated from the spectrum's own end.

    Label preservation: moves no pixel; it models a calibration shift of the
    sensor, not a change of material, so patch-mean and centre-pixel labels are
    kept.

    Parameters
    ----------
    max_shift : int, default=5
        Largest displacement in bands, ``>= 0`` (0 gives the identity).
    extrapolation : {'linear', 'edge'}, default='linear'
        ``'linear'`` continues the straight line through the end band and the
        band 3 positions in (``min(3, B - 1)``; a less noisy slope than the
        last two bands); ``'edge'`` repeats the end band.
    """

    def __init__(self, max_shift=5, extrapolation="linear"):
        super().__init__()
        self.max_shift = max_shift
        self.extrapolation = extrapolation
        self.validate()

    def _check_params(self):
        check_scalar(self.max_shift, "max_shift", kind=Integral, min_val=0)
        if self.extrapolation not in ("linear", "edge"):
            raise ValueError(f"extrapolation must be 'linear' or 'edge', got {self.extrapolation!r}")

    def make_params(self, x, generator=None):
        """``'shift'``: the displacement of each sample in bands (int64, shape (N,))."""
        return {"shift": nonzero_randint(int(self.max_shift), (x.shape[0],), x, generator)}

    def transform(self, x, params):
        shift = params["shift"]
        b = x.shape[2]
        src = torch.arange(b, device=x.device)[None, :] - shift[:, None]
        idx = src.clamp(0, b - 1)
        out = gather_bands(x, idx)  # a new tensor: corrected in place below
        if self.extrapolation == "linear" and b > 1:
            q = min(3, b - 1)
            excess = (src - idx).to(x.dtype)  # < 0 before band 0, > 0 past band B-1, else 0
            m = min(int(shift.abs().max()), b)  # only the first / last m bands can be exposed
            if m:
                lo = ((x[:, :, q] - x[:, :, 0]) / q)[:, :, None]
                hi = ((x[:, :, b - 1] - x[:, :, b - 1 - q]) / q)[:, :, None]
                out[:, :, :m] += excess[:, None, :m, None, None].clamp(max=0) * lo
                out[:, :, b - m :] += excess[:, None, b - m :, None, None].clamp(min=0) * hi
        return out


@register_augmentation("spectral_flip", group="spectral")
class SpectralFlip(Transform):
    """Reverse the band order (not physical: a robustness trick of the paper).

    Label preservation: moves no pixel, but the spectra are no longer physical;
    the labels are kept by convention (the paper's use).

    Parameters
    ----------
    p : float, default=1.0
        Probability, per sample, of reversing its spectra, in [0, 1].
    """

    def __init__(self, p=1.0):
        super().__init__()
        self.p = p
        self.validate()

    def _check_params(self):
        check_scalar(self.p, "p", min_val=0.0, max_val=1.0)

    def make_params(self, x, generator=None):
        """``'flip'``: whether each sample is reversed (bool, shape (N,))."""
        return {"flip": uniform((x.shape[0],), x, generator, cast=False) < self.p}

    def transform(self, x, params):
        b = x.shape[2]
        bands = torch.arange(b, device=x.device)
        order = torch.where(params["flip"][:, None], (b - 1) - bands, bands)
        return gather_bands(x, order)


def _hapke_terms(mu0, mu):
    """``mu0 + mu`` and ``(1 + 2 mu0)(1 + 2 mu)``: the reflectance factor is
    ``w / (4 (mu0 + mu)) H(mu0) H(mu)`` with ``H(x) = (1 + 2x) / (1 + 2x sqrt(1 - w))``."""
    return mu0 + mu, (1 + 2 * mu0) * (1 + 2 * mu)


def _hapke_gamma(rho, a, b):
    """``gamma = sqrt(1 - w)`` from ``rho = r / C`` in [0, 1] (closed form).

    ``rho = (1 - gamma^2) / ((1 + 2 mu0 gamma)(1 + 2 mu gamma))`` is a quadratic in
    gamma; its root in [0, 1] is written in the conjugate form
    ``(1 - rho) / (S + rho a)`` with ``S^2 = rho^2 a^2 + (1 + 4 mu0 mu rho)(1 - rho)``,
    which has no cancellation and a denominator >= min(1, 2a) > 0.
    ``a = mu0 + mu``, ``b = mu0 * mu``.
    """
    s = torch.sqrt(rho * rho * a * a + (1 + 4 * b * rho) * (1 - rho))
    return (1 - rho) / (s + rho * a)


def hapke_albedo(reflectance, incidence=30.0, emission=30.0):
    """Single-scattering albedo ``w`` of a reflectance factor (Hapke 1981, isotropic).

    Inverse of :func:`hapke_reflectance` (closed form); reflectance outside the
    model's range ``[0, (1 + 2 mu0)(1 + 2 mu) / (4 (mu0 + mu))]`` is clamped to it.

    Parameters
    ----------
    reflectance : Tensor
    incidence, emission : float or Tensor
        Angles in degrees (broadcast against ``reflectance``).

    Returns
    -------
    Tensor
        ``w`` in [0, 1].
    """
    r = torch.as_tensor(reflectance)
    mu0 = torch.cos(torch.deg2rad(torch.as_tensor(incidence, dtype=r.dtype, device=r.device)))
    mu = torch.cos(torch.deg2rad(torch.as_tensor(emission, dtype=r.dtype, device=r.device)))
    a, p = _hapke_terms(mu0, mu)
    rho = (r * (4 * a) / p).clamp(0.0, 1.0)
    gamma = _hapke_gamma(rho, a, mu0 * mu)
    return 1 - gamma * gamma


def hapke_reflectance(albedo, incidence=30.0, emission=30.0):
    """Hapke (1981) isotropic reflectance factor ``w / (4 (mu0 + mu)) H(mu0) H(mu)``.

    No opposition effect, isotropic phase function, ``H(x) = (1 + 2x) / (1 + 2x sqrt(1 - w))``.

    Parameters
    ----------
    albedo : Tensor
        Single-scattering albedo in [0, 1].
    incidence, emission : float or Tensor
        Angles in degrees.
    """
    w = torch.as_tensor(albedo)
    mu0 = torch.cos(torch.deg2rad(torch.as_tensor(incidence, dtype=w.dtype, device=w.device)))
    mu = torch.cos(torch.deg2rad(torch.as_tensor(emission, dtype=w.dtype, device=w.device)))
    gamma = torch.sqrt((1 - w).clamp(min=0))
    h0 = (1 + 2 * mu0) / (1 + 2 * mu0 * gamma)
    h = (1 + 2 * mu) / (1 + 2 * mu * gamma)
    return w / (4 * (mu0 + mu)) * h0 * h


def _check_angle(value, name, max_val=89.0):
    return check_scalar(value, name, min_val=0.0, max_val=max_val)


def _length(values):
    """``len(values)``, or None where it has none (then :func:`check_wavelengths` says what is wrong)."""
    try:
        return len(values)
    except TypeError:
        return None


@register_augmentation("hapke", group="spectral")
class HapkeScattering(Transform):
    """Change the illumination/viewing geometry with Hapke's (1981) scattering model.

    Each reflectance value ``r`` is inverted to the single-scattering albedo
    ``w`` of an isotropic Hapke surface seen at the reference geometry
    (``incidence``, ``emission``), in closed form; the reflectance factor is then
    recomputed at a new incidence and a new emission angle, drawn
    independently per sample, uniformly in ``[min_angle, max_angle]`` (as in
    Borsoi et al.'s generator; a public port used one angle for both). The
    model is ``r = w / (4 (mu0 + mu)) H(mu0) H(mu)``,
    ``H(x) = (1 + 2x) / (1 + 2x sqrt(1 - w))``, ``mu0``/``mu`` the cosines.

    The result is computed as ``r * F(w)`` with ``F`` a ratio of the two
    geometries' terms, so at the reference geometry ``F`` is exactly 1 and
    the input comes back exactly.

    Domain: the inversion needs ``0 <= r <= C`` with ``C = (1 + 2 mu0)(1 + 2 mu) /
    (4 (mu0 + mu))`` (about 1.08 at 30/30 degrees). Values outside are clamped to
    it *for computing w only* (negative values get the factor of a black
    surface, values above ``C`` that of a white one) and then scaled by that
    finite factor, so the output is finite for any finite input and no
    epsilon is needed. For the physics to hold, pass reflectance, or
    standardised data with ``band_mean``/``band_scale``.

    Label preservation: moves no pixel; geometry changes brightness, not the
    materials, so patch-mean and centre-pixel abundance labels are kept.

    Parameters
    ----------
    incidence : float, default=30.0
        Reference incidence angle of the data, degrees in [0, 89].
    emission : float, default=30.0
        Reference emission (viewing) angle of the data, degrees in [0, 89].
    min_angle : float, default=0.0
        Smallest new incidence/emission angle, degrees.
    max_angle : float, default=60.0
        Largest new incidence/emission angle, degrees in [min_angle, 89].
    band_mean, band_scale : None, float or array-like of shape (n_bands,), default=None
        The per-band standardisation the input went through (e.g.
        ``PatchExtractor.mean_`` and ``scale_``); None: the input is reflectance.
    """

    def __init__(self, incidence=30.0, emission=30.0, min_angle=0.0, max_angle=60.0, band_mean=None, band_scale=None):
        super().__init__()
        self.incidence = incidence
        self.emission = emission
        self.min_angle = min_angle
        self.max_angle = max_angle
        self.band_mean = band_mean
        self.band_scale = band_scale
        self.validate()

    def _check_params(self):
        _check_angle(self.incidence, "incidence")
        _check_angle(self.emission, "emission")
        _check_angle(self.min_angle, "min_angle")
        check_scalar(self.max_angle, "max_angle", min_val=self.min_angle, max_val=89.0)
        register_band_stats(self, self.band_mean, self.band_scale)

    def make_params(self, x, generator=None):
        """``'incidence'`` and ``'emission'``: each sample's new angles in degrees (shape (N,))."""
        angles = uniform((x.shape[0], 2), x, generator, float(self.min_angle), float(self.max_angle))
        return {"incidence": angles[:, 0], "emission": angles[:, 1]}

    def transform(self, x, params):
        stats = band_stats_for(self, x)
        return blockwise(partial(self._block, stats=stats), x, params["incidence"], params["emission"])

    def _block(self, x, incidence, emission, stats):
        n = x.shape[0]
        ref = torch.tensor([float(self.incidence), float(self.emission)], dtype=x.dtype, device=x.device)
        # one cos over reference and new angles: equal angles give bit-identical cosines
        deg = torch.cat([ref.expand(n, 2), torch.stack([incidence, emission], dim=1)], dim=1)
        mu0, mu, mu0n, mun = torch.cos(torch.deg2rad(deg)).view(n, 4, 1, 1, 1, 1).unbind(1)
        a, p = _hapke_terms(mu0, mu)
        an, pn = _hapke_terms(mu0n, mun)
        b, bn = mu0 * mu, mu0n * mun
        # three buffers of the block's size, updated in place: a fresh tensor per operation
        # would cost more in allocation and memory traffic than the arithmetic itself
        rho = x * (4 * a / p) if stats is None else torch.addcmul(stats[0], x, stats[1]).mul_(4 * a / p)
        gamma, spare = _hapke_gamma_(rho.clamp_(0.0, 1.0), a, b)  # rho's buffer becomes gamma
        # r' / r = [C' / C] * D(gamma) / D'(gamma), D = (1 + 2 mu0 g)(1 + 2 mu g) = 1 + g (2a + 4b g);
        # D and D' run the same operations, so at the reference geometry the factor is exactly 1
        d = torch.mul(gamma, 4 * b, out=spare).add_(2 * a).mul_(gamma).add_(1)
        dn = torch.mul(gamma, 4 * bn).add_(2 * an).mul_(gamma).add_(1)
        factor = d.div_(dn).mul_((a / an) * (pn / p))
        out = torch.mul(x, factor, out=dn)
        if stats is not None:  # z' = z f + (m / s)(f - 1), see apply_band_factor
            out.addcmul_(factor.sub_(1), stats[0] / stats[1])
        return out


def _hapke_gamma_(rho, a, b):
    """In-place :func:`_hapke_gamma`: ``rho`` becomes gamma; returns it and a spare buffer.

    ``S^2 = rho^2 a^2 + (1 + 4 b rho)(1 - rho) = 1 + rho (4b - 1) + rho^2 (mu0 - mu)^2``
    (since ``a^2 - 4b = (mu0 - mu)^2``), evaluated by Horner's rule.
    """
    s = torch.mul(rho, a * a - 4 * b).add_(4 * b - 1).mul_(rho).add_(1).clamp_(min=0.0).sqrt_()
    s.addcmul_(rho, a)  # S + rho a
    return rho.neg_().add_(1).div_(s), s


@register_augmentation("atmospheric", group="spectral")
class AtmosphericCompensation(Transform):
    """Re-illuminate spectra with a random solar angle, direct and diffuse light apart.

    ``out = r * (E_sun(l) cos(a) + E_sky(l)) / (E_sun(l) + E_sky(l))`` per band,
    with ``a`` drawn per sample uniformly in ``[min_angle, max_angle]`` (degrees;
    Borsoi et al. use up to 0.9 * 90 = 81): the direct beam dims with the
    incidence angle while the diffuse sky light does not, which changes the
    spectral shape (blue bands, rich in skylight, dim least). ``a = 0`` returns
    the input exactly.

    Label preservation: moves no pixel; illumination is not a material
    change, so patch-mean and centre-pixel labels are kept.

    Parameters
    ----------
    min_angle : float, default=0.0
        Smallest solar angle, degrees in [0, 90].
    max_angle : float, default=81.0
        Largest solar angle, degrees in [min_angle, 90].
    illumination : 'parametric', path or Illumination, default='parametric'
        The direct and diffuse spectra: the built-in clear-sky model (see
        :func:`~hyperspectral_cl.augment.illumination.parametric_illumination`),
        a measured table (``.mat`` or ``.csv``, see
        :func:`~hyperspectral_cl.augment.illumination.load_illumination`), or an
        :class:`~hyperspectral_cl.augment.illumination.Illumination`.
    wavelengths : None or array-like of shape (n_bands,), default=None
        Band centres of the data in nm. None assumes ``n_bands`` evenly spaced
        centres over 400-2500 nm (the AVIRIS range, as
        :func:`hyperspectral_cl.datasets.synthetic.default_wavelengths`).
    band_mean, band_scale : None, float or array-like of shape (n_bands,), default=None
        The per-band standardisation the input went through; None: the input
        is reflectance. The transform is a per-band factor, so on standardised
        data without them it still scales deviations from the band mean.
    """

    def __init__(
        self,
        min_angle=0.0,
        max_angle=81.0,
        illumination="parametric",
        wavelengths=None,
        band_mean=None,
        band_scale=None,
    ):
        super().__init__()
        self.min_angle = min_angle
        self.max_angle = max_angle
        self.illumination = illumination
        self.wavelengths = wavelengths
        self.band_mean = band_mean
        self.band_scale = band_scale
        self.validate()

    def _check_params(self):
        _check_angle(self.min_angle, "min_angle", 90.0)
        check_scalar(self.max_angle, "max_angle", min_val=self.min_angle, max_val=90.0)
        register_band_stats(self, self.band_mean, self.band_scale)
        self._illumination = resolve_illumination(self.illumination)  # reads and checks a table once
        wl = None if self.wavelengths is None else check_wavelengths(self.wavelengths, _length(self.wavelengths))
        self._set_spectra(wl, self._buffer_device())

    def _set_spectra(self, wavelengths, device):
        """Direct and diffuse light at ``wavelengths`` as buffers (None: drawn up at the first batch)."""
        if wavelengths is None:
            sun = sky = None
        else:
            e_sun, e_sky = self._illumination.at(wavelengths)
            # a tiny floor keeps fully absorbed bands (E_sun + E_sky = 0) finite
            e_sky = e_sky + 1e-9 * float(np.max(e_sun + e_sky))
            sun, sky = (torch.as_tensor(e, device=device) for e in (e_sun, e_sky))
        self.register_buffer("_sun", sun, persistent=False)
        self.register_buffer("_sky", sky, persistent=False)

    def spectra(self, n_bands):
        """``(E_sun, E_sky)`` at the data's band centres (float64 arrays of length ``n_bands``)."""
        return self._illumination.at(check_wavelengths(self.wavelengths, n_bands))

    def make_params(self, x, generator=None):
        """``'angle'``: each sample's solar angle in degrees (shape (N,))."""
        return {"angle": uniform((x.shape[0],), x, generator, float(self.min_angle), float(self.max_angle))}

    def transform(self, x, params):
        b = x.shape[2]
        if self._sun is None or self._sun.shape[0] != b:
            # the band centres follow the data (default_wavelengths(B)) unless given; checked against them here
            self._set_spectra(check_wavelengths(self.wavelengths, b), x.device)
        sun, sky = self._sun.to(x), self._sky.to(x)
        cos = torch.cos(torch.deg2rad(params["angle"]))[:, None]  # cos(0) is exactly 1: factor exactly 1
        factor = (sun * cos + sky) / (sun + sky)
        return apply_band_factor(x, factor[:, None, :, None, None], band_stats_for(self, x))


@register_augmentation("elastic_distortion", group="spectral")
class ElasticDistortion(Transform):
    """Smoothly warp the wavelength axis: ``out[b] = x[b + d(b)]``, linear interpolation.

    The displacement ``d`` (in bands) is Gaussian white noise filtered by a
    Gaussian of std ``sigma`` bands and scaled so that its standard deviation
    is ``alpha`` bands; one field per sample, shared by the patch's pixels.
    Positions past the ends are clamped to the end bands. ``alpha=0`` is the
    identity.

    Label preservation: moves no pixel; a smooth spectral distortion, patch-mean
    and centre-pixel labels are kept by convention.

    Parameters
    ----------
    alpha : float, default=2.0
        Standard deviation of the displacement, in bands, ``>= 0``.
    sigma : float, default=5.0
        Smoothness: std of the Gaussian filter, in bands, ``>= 0``.
    """

    def __init__(self, alpha=2.0, sigma=5.0):
        super().__init__()
        self.alpha = alpha
        self.sigma = sigma
        self.validate()

    def _check_params(self):
        check_scalar(self.alpha, "alpha", min_val=0.0)
        check_scalar(self.sigma, "sigma", min_val=0.0)

    def make_params(self, x, generator=None):
        """``'displacement'``: each sample's warp of the band axis, in bands (shape (N, B))."""
        return {"displacement": float(self.alpha) * smooth_noise((x.shape[0],), (x.shape[2],), float(self.sigma), x,
                                                                 generator)}

    def transform(self, x, params):
        displacement = params["displacement"]
        if displacement.shape[1:] != x.shape[2:3]:
            raise ValueError(f"params['displacement'] holds {displacement.shape[1]} bands' shifts; the batch has "
                             f"{x.shape[2]} bands")
        return blockwise(self._block, x, displacement)

    @staticmethod
    def _block(x, displacement):
        b = x.shape[2]
        pos = (torch.arange(b, device=x.device, dtype=x.dtype) + displacement).clamp(0, b - 1)
        i0 = pos.floor().long().clamp(0, b - 1)
        i1 = (i0 + 1).clamp(max=b - 1)
        w = (pos - i0.to(x.dtype))[:, None, :, None, None]
        # lerp computes x0 + w (x1 - x0) for w < 0.5: w = 0 gives x0 exactly
        return gather_bands(x, i0).lerp_(gather_bands(x, i1), w)


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
        super().__init__()
        self.min_fraction = min_fraction
        self.max_fraction = max_fraction
        self.fill = fill
        self.validate()

    def _check_params(self):
        check_scalar(self.min_fraction, "min_fraction", min_val=0.0, max_val=1.0)
        check_scalar(self.max_fraction, "max_fraction", min_val=self.min_fraction, max_val=1.0)
        check_scalar(self.fill, "fill", kind=Real)

    def make_params(self, x, generator=None):
        """``'start'`` and ``'width'``: each sample's erased run of bands (int64, shape (N,))."""
        n, b = x.shape[0], x.shape[2]
        frac = uniform((n,), x, generator, self.min_fraction, self.max_fraction, cast=False)
        width = torch.clamp(torch.round(frac * b), min=1, max=b).long()
        start = torch.floor(uniform((n,), x, generator, cast=False) * (b - width + 1)).long()
        return {"start": start, "width": width}

    def transform(self, x, params):
        start, width = params["start"], params["width"]
        bands = torch.arange(x.shape[2], device=x.device)
        mask = (bands[None, :] >= start[:, None]) & (bands[None, :] < (start + width)[:, None])
        mask = mask[:, None, :, None, None].to(x.dtype)
        # x * keep + fill * erased: one pass with a per-band factor, faster on CPU than masked_fill
        # with a broadcast mask; x * 0 + fill is exactly fill and x * 1 + 0 exactly x
        return (x * (1 - mask)).add_(mask * float(self.fill))


@register_augmentation("band_permutation", group="spectral")
class BandPermutation(Transform):
    """Cut the spectrum into contiguous groups of bands and shuffle the groups.

    The ``B`` bands are split into ``min(n_groups, B)`` contiguous groups of
    near-equal size (band ``b`` is in group ``floor(b * G / B)``); each sample
    puts its groups in a random order (uniform over the ``G!`` orders, so the
    identity has probability ``1 / G!``), keeping the band order inside a group.
    Every spectrum keeps its multiset of values.

    Label preservation: moves no pixel; the spectra are no longer physical,
    labels are kept by convention.

    Parameters
    ----------
    n_groups : int, default=4
        Number of groups, ``>= 1`` (1 gives the identity).
    """

    def __init__(self, n_groups=4):
        super().__init__()
        self.n_groups = n_groups
        self.validate()

    def _check_params(self):
        check_scalar(self.n_groups, "n_groups", kind=Integral, min_val=1)

    def make_params(self, x, generator=None):
        """``'rank'``: sort key of each group per sample, a permutation of ``range(G)`` (int64, shape (N, G))."""
        n, b = x.shape[0], x.shape[2]
        g = min(int(self.n_groups), b)
        return {"rank": torch.argsort(uniform((n, g), x, generator), dim=1)}  # a random order of the groups

    def transform(self, x, params):
        rank = params["rank"]
        b, g = x.shape[2], rank.shape[1]
        if g > b:
            raise ValueError(f"params['rank'] orders {g} groups of bands; the batch has {b} bands")
        bands = torch.arange(b, device=x.device)
        group = bands * g // b
        # sort by (group key, band): groups move as blocks, bands keep their order inside
        order = torch.argsort(rank[:, group] * b + bands[None, :], dim=1)
        return gather_bands(x, order)


@register_augmentation("nn_mixing", group="spectral")
class NeighbourMixing(Transform):
    """Pull each spectrum towards the mean of its k nearest neighbours.

    ``out = x + lam * (mean_kNN(x) - x)`` with ``lam`` drawn per sample in
    ``[min_weight, max_weight]`` (``lam = 1``: the spectrum is replaced by the
    mean, as in the paper). Neighbours are by Euclidean distance between
    spectra and include the spectrum itself (as ``NearestNeighbors.kneighbors``
    on training data does), so ``k=1`` is the identity.

    ``scope='patch'`` (default) looks for the neighbours of each pixel among the
    ``S * S`` pixels of its own patch: a denoising-like smoothing that keeps
    every sample's own content. ``scope='batch'`` compares whole patches by
    their mean spectrum and averages each patch with its ``k - 1`` nearest
    patches of the batch (pixel by pixel), which mixes samples (and their labels).

    Label preservation: ``'patch'``: the patch keeps its own pixels' spectra
    mixed together, so a patch-mean label is kept approximately and a
    centre-pixel label is not (the centre absorbs its neighbours). ``'batch'``:
    neither (other samples are mixed in).

    Parameters
    ----------
    k : int, default=5
        Number of neighbours averaged, itself included, ``>= 1`` (capped at the
        number of candidates).
    scope : {'patch', 'batch'}, default='patch'
        Where neighbours are searched.
    min_weight : float, default=0.5
        Smallest mixing weight ``lam``, in [0, 1].
    max_weight : float, default=1.0
        Largest mixing weight, in [min_weight, 1].
    """

    def __init__(self, k=5, scope="patch", min_weight=0.5, max_weight=1.0):
        super().__init__()
        self.k = k
        self.scope = scope
        self.min_weight = min_weight
        self.max_weight = max_weight
        self.validate()

    def _check_params(self):
        check_scalar(self.k, "k", kind=Integral, min_val=1)
        if self.scope not in ("patch", "batch"):
            raise ValueError(f"scope must be 'patch' or 'batch', got {self.scope!r}")
        check_scalar(self.min_weight, "min_weight", min_val=0.0, max_val=1.0)
        check_scalar(self.max_weight, "max_weight", min_val=self.min_weight, max_val=1.0)

    def make_params(self, x, generator=None):
        """``'weight'``: each sample's mixing weight ``lam`` (shape (N,))."""
        return {"weight": uniform((x.shape[0],), x, generator, float(self.min_weight), float(self.max_weight))}

    def transform(self, x, params):
        lam = params["weight"]
        if self.scope == "patch":  # samples are independent: work in cache-sized blocks
            return blockwise(self._patch_block, x, lam)
        n, b = x.shape[0], x.shape[2]
        weights = _knn_mean_weights(x.mean(dim=(3, 4)).reshape(1, n, b), int(self.k))[0]  # (N, N)
        mixed = (weights @ x.reshape(n, -1)).view_as(x)
        return mixed.sub_(x).mul_(lam.view(n, 1, 1, 1, 1)).add_(x)  # x + lam (mixed - x), in place

    def _patch_block(self, x, lam):
        n, _, b, h, w = x.shape
        v = x.reshape(n, b, h * w)  # columns are the pixels' spectra
        weights = _knn_mean_weights(v.transpose(1, 2), int(self.k))  # (N, P, P)
        mixed = torch.bmm(v, weights.transpose(1, 2)).view_as(x)
        return mixed.sub_(x).mul_(lam.view(n, 1, 1, 1, 1)).add_(x)


def _knn_mean_weights(points, k):
    """(M, P, P) matrices averaging, for each of P points, its k nearest (itself first).

    ``points`` is (M, P, D); distances by the Gram form ``|a|^2 + |b|^2 - 2 a.b``
    in one batched matmul, self-distance forced to -inf so the point itself is
    always one of its neighbours whatever the rounding.
    """
    m, p, _ = points.shape
    k = min(k, p)
    sq = (points * points).sum(dim=2)
    d2 = torch.baddbmm(sq[:, :, None] + sq[:, None, :], points, points.transpose(1, 2), alpha=-2.0)
    weights = torch.zeros(m, p, p, dtype=points.dtype, device=points.device)
    weights.diagonal(dim1=1, dim2=2).fill_(1.0 / k)  # the point itself
    d2.diagonal(dim1=1, dim2=2).fill_(float("inf"))
    # k - 1 argmin passes (k is small): cheaper than topk on CPU for rows of a few dozen points
    for _ in range(k - 1):
        idx = d2.argmin(dim=2, keepdim=True)
        weights.scatter_(2, idx, 1.0 / k)
        d2.scatter_(2, idx, float("inf"))
    return weights
