"""augment/spectral.py: invariants and agreement with naive per-sample numpy references.

Hapke scattering and atmospheric compensation are also checked against
independent numpy models of the physics.
"""

from functools import partial

import numpy as np
import pytest
import torch
from conftest import ASTM_TABLE, MAT_TABLE, erased_bands, gen, int_patches, needs_tables, random_patches
from scipy.io import loadmat
from scipy.optimize import brentq
from scipy.spatial import cKDTree

from hyperspectral_cl._spectra import default_wavelengths
from hyperspectral_cl.augment import (
    AtmosphericCompensation,
    BandErasure,
    BandPermutation,
    ElasticDistortion,
    HapkeScattering,
    NeighbourMixing,
    SpectralFlip,
    SpectralShift,
    hapke_albedo,
    hapke_reflectance,
    load_illumination,
    parametric_illumination,
)

patches = partial(random_patches, b=12, dtype=torch.float64)
int_patches = partial(int_patches, b=12)


# --------------------------------------------------------------------------- #
# naive references: one sample (and one spectrum) at a time, numpy only
# --------------------------------------------------------------------------- #
def ref_shift(x, shifts, extrapolation):
    """Shift every spectrum of sample n by shifts[n] bands, extrapolating the ends."""
    x = x.numpy()
    out = np.empty_like(x)
    n, _, b, h, w = x.shape
    for i in range(n):
        k = int(shifts[i])
        for r in range(h):
            for c in range(w):
                spec = x[i, 0, :, r, c]
                q = min(3, b - 1)
                for band in range(b):
                    j = band - k
                    if 0 <= j < b:
                        out[i, 0, band, r, c] = spec[j]
                    elif extrapolation == "edge" or b == 1:
                        out[i, 0, band, r, c] = spec[0] if j < 0 else spec[-1]
                    elif j < 0:  # the line through bands 0 and q, continued below 0
                        out[i, 0, band, r, c] = spec[0] + j * (spec[q] - spec[0]) / q
                    else:
                        out[i, 0, band, r, c] = spec[-1] + (j - (b - 1)) * (spec[-1] - spec[-1 - q]) / q
    return out


def ref_elastic(x, displacement):
    """out[b] = x[b + d(b)], linear interpolation, clamped to the end bands (np.interp)."""
    x = x.numpy()
    d = displacement.numpy()
    out = np.empty_like(x)
    n, _, b, h, w = x.shape
    grid = np.arange(b, dtype=np.float64)
    for i in range(n):
        pos = np.clip(grid + d[i], 0, b - 1)
        for r in range(h):
            for c in range(w):
                out[i, 0, :, r, c] = np.interp(pos, grid, x[i, 0, :, r, c])
    return out


def ref_mixing_patch(x, k, lam):
    """Per sample: mean of each pixel's k nearest spectra in the patch (itself included), by a KD-tree."""
    x = x.numpy()
    n, _, b, h, w = x.shape
    out = np.empty_like(x)
    for i in range(n):
        spectra = x[i, 0].reshape(b, h * w).T  # (P, B)
        k_eff = min(k, h * w)
        _, idx = cKDTree(spectra).query(spectra, k=k_eff)
        idx = np.asarray(idx).reshape(h * w, k_eff)
        mixed = spectra[idx].mean(axis=1)  # (P, B)
        res = spectra + lam[i] * (mixed - spectra)
        out[i, 0] = res.T.reshape(b, h, w)
    return out


def ref_mixing_batch(x, k, lam):
    """Per sample: mean of the k patches (itself included) with the nearest mean spectra."""
    x = x.numpy()
    n = x.shape[0]
    means = x.mean(axis=(1, 3, 4))
    out = np.empty_like(x)
    for i in range(n):
        dist = np.linalg.norm(means - means[i], axis=1)
        dist[i] = -1.0
        nearest = np.argsort(dist, kind="stable")[: min(k, n)]
        out[i] = x[i] + lam[i] * (x[nearest].mean(axis=0) - x[i])
    return out


# --------------------------------------------------------------------------- #
# SpectralShift
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("extrapolation", ["linear", "edge"])
@pytest.mark.parametrize("b", [1, 2, 6, 12])
def test_shift_matches_reference(extrapolation, b):
    x = patches(9, b=b, s=3)
    shifts = torch.tensor([-7, -5, -3, -1, 0, 1, 2, 5, 13])
    out = SpectralShift(extrapolation=extrapolation).replay(x, {"shift": shifts})
    np.testing.assert_allclose(out.numpy(), ref_shift(x, shifts, extrapolation), rtol=1e-12, atol=1e-12)


def test_shift_moves_features_to_longer_wavelengths():
    x = torch.zeros(1, 1, 10, 1, 1, dtype=torch.float64)
    x[0, 0, 3] = 1.0
    out = SpectralShift(extrapolation="edge").replay(x, {"shift": torch.tensor([2])})
    assert out[0, 0, :, 0, 0].argmax().item() == 5


def test_shift_linear_extrapolation_continues_a_line():
    ramp = torch.arange(20, dtype=torch.float64).view(1, 1, 20, 1, 1) * 0.5 + 1.0
    for k in (-4, 3):
        out = SpectralShift(extrapolation="linear").replay(ramp, {"shift": torch.tensor([k])})
        assert torch.allclose(out, ramp - 0.5 * k)  # a straight line shifted stays a line


def test_shift_draws_every_nonzero_shift_in_range():
    t = SpectralShift(max_shift=3)
    x = int_patches(600, b=20, s=1)
    out = t(x, generator=gen(0))
    # identify each sample's shift from its unchanged interior band
    found = set()
    for i in range(600):
        for k in range(-3, 4):
            if torch.equal(out[i, 0, 5:15], x[i, 0, 5 - k : 15 - k]):
                found.add(k)
                break
        else:
            raise AssertionError(f"sample {i} is not a shift within 3 bands")
    assert found == {-3, -2, -1, 1, 2, 3}


def test_shift_zero_max_is_identity():
    x = patches(4)
    assert torch.equal(SpectralShift(max_shift=0)(x, generator=gen(0)), x)


def test_shift_same_for_all_pixels_of_a_sample():
    x = patches(8, b=12, s=4)
    same = x[:, :, :, :1, :1].expand_as(x).contiguous()
    out = SpectralShift()(same, generator=gen(0))
    assert torch.equal(out, out[:, :, :, :1, :1].expand_as(out))


@pytest.mark.parametrize("kwargs", [{"max_shift": -1}, {"max_shift": 2.5}, {"extrapolation": "cubic"}])
def test_shift_bad_params(kwargs):
    with pytest.raises((ValueError, TypeError), match=next(iter(kwargs))):
        SpectralShift(**kwargs)(patches(2), generator=gen(0))


# --------------------------------------------------------------------------- #
# SpectralFlip
# --------------------------------------------------------------------------- #
def test_spectral_flip_reverses_bands_and_twice_is_identity():
    x = patches(8)
    t = SpectralFlip()
    once = t(x, generator=gen(0))
    assert torch.equal(once, x.flip(2))
    assert torch.equal(t(once, generator=gen(1)), x)


def test_spectral_flip_p():
    x = patches(400, b=6, s=2)
    assert torch.equal(SpectralFlip(p=0.0)(x, generator=gen(0)), x)
    out = SpectralFlip(p=0.5)(x, generator=gen(0))
    flipped = torch.tensor([torch.equal(out[i], x[i].flip(1)) for i in range(400)])
    kept = torch.tensor([torch.equal(out[i], x[i]) for i in range(400)])
    assert (flipped ^ kept).all()
    assert 150 < int(flipped.sum()) < 250


# --------------------------------------------------------------------------- #
# ElasticDistortion
# --------------------------------------------------------------------------- #
def test_elastic_distortion_zero_strength_is_identity():
    for dtype in (torch.float32, torch.float64):
        x = patches(8, dtype=dtype)
        assert torch.equal(ElasticDistortion(alpha=0.0)(x, generator=gen(0)), x)


def test_elastic_distortion_matches_reference():
    x = patches(6, b=15, s=3)
    d = torch.linspace(-4, 4, 6 * 15, dtype=torch.float64).view(6, 15) * torch.randn(6, 15, generator=gen(1), dtype=torch.float64)
    out = ElasticDistortion().replay(x, {"displacement": d})
    np.testing.assert_allclose(out.numpy(), ref_elastic(x, d), rtol=1e-12, atol=1e-12)


def test_elastic_distortion_is_a_warp():
    # on a ramp x[b] = b the output is the (clamped) sampling position itself: b + d(b)
    ramp = torch.arange(30, dtype=torch.float64).view(1, 1, 30, 1, 1).repeat(50, 1, 1, 2, 2)
    out = ElasticDistortion(alpha=1.0, sigma=6.0)(ramp, generator=gen(0))
    d = out - ramp
    assert d.abs().max() > 0.5
    assert torch.equal(out, out[..., :1, :1].expand_as(out))  # one warp per sample, all pixels
    assert out.min() >= 0 and out.max() <= 29
    # a gentle smooth field keeps the band order (no folds)
    assert (out.diff(dim=2) >= -1e-12).all()


# --------------------------------------------------------------------------- #
# BandPermutation
# --------------------------------------------------------------------------- #
def test_band_permutation_keeps_multiset_per_spectrum():
    x = patches(64, b=23, s=4)
    out = BandPermutation(n_groups=5)(x, generator=gen(0))
    assert not torch.equal(out, x)
    assert torch.equal(out.sort(dim=2).values, x.sort(dim=2).values)


def test_band_permutation_moves_contiguous_groups():
    b, g = 23, 5
    x = torch.arange(b, dtype=torch.float64).view(1, 1, b, 1, 1).repeat(1500, 1, 1, 2, 2)
    out = BandPermutation(n_groups=g)(x, generator=gen(0))
    groups = [[band for band in range(b) if band * g // b == j] for j in range(g)]  # the documented split
    orders = set()
    for i in range(1500):
        bands = out[i, 0, :, 0, 0].long().tolist()
        assert torch.equal(out[i], out[i, :, :, :1, :1].expand_as(out[i]))  # same for every pixel
        # the output is the groups, each intact and in its own order, concatenated
        pieces, pos = [], 0
        while pos < b:
            grp = next(gr for gr in groups if gr[0] == bands[pos])
            assert bands[pos : pos + len(grp)] == grp
            pieces.append(groups.index(grp))
            pos += len(grp)
        orders.add(tuple(pieces))
    assert len(orders) == 120  # all 5! orders occur


def test_band_permutation_one_group_is_identity():
    x = patches(4)
    assert torch.equal(BandPermutation(n_groups=1)(x, generator=gen(0)), x)


def test_band_permutation_more_groups_than_bands():
    x = patches(50, b=3)
    out = BandPermutation(n_groups=10)(x, generator=gen(0))
    assert torch.equal(out.sort(dim=2).values, x.sort(dim=2).values)


# --------------------------------------------------------------------------- #
# NeighbourMixing
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("k", [1, 3, 5, 30])
@pytest.mark.parametrize("s", [1, 3, 5])
def test_mixing_patch_matches_kdtree_reference(k, s):
    x = patches(10, b=7, s=s)
    lam = torch.linspace(0, 1, 10, dtype=torch.float64)
    out = NeighbourMixing(k=k).replay(x, {"weight": lam})
    np.testing.assert_allclose(out.numpy(), ref_mixing_patch(x, k, lam.numpy()), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k", [1, 2, 4, 50])
def test_mixing_batch_matches_reference(k):
    x = patches(12, b=6, s=3)
    lam = torch.linspace(0.2, 1, 12, dtype=torch.float64)
    out = NeighbourMixing(k=k, scope="batch").replay(x, {"weight": lam})
    np.testing.assert_allclose(out.numpy(), ref_mixing_batch(x, k, lam.numpy()), rtol=1e-10, atol=1e-10)


def test_mixing_weight_range_and_identities():
    x = patches(8)
    assert torch.equal(NeighbourMixing(k=1)(x, generator=gen(0)), x)
    assert torch.equal(NeighbourMixing(min_weight=0.0, max_weight=0.0)(x, generator=gen(0)), x)
    full = NeighbourMixing(min_weight=1.0, max_weight=1.0)(x, generator=gen(0))
    np.testing.assert_allclose(full.numpy(), ref_mixing_patch(x, 5, np.ones(8)), atol=1e-12)


def test_mixing_patch_keeps_samples_apart():
    # patch scope never mixes samples: an all-constant sample stays constant
    x = patches(6)
    x[2] = 0.7
    out = NeighbourMixing()(x, generator=gen(0))
    assert torch.equal(out[2], x[2])


@pytest.mark.parametrize(
    "kwargs",
    [{"k": 0}, {"k": 2.0}, {"scope": "image"}, {"min_weight": -0.1}, {"max_weight": 1.5}, {"min_weight": 0.8, "max_weight": 0.5}],
)
def test_mixing_bad_params(kwargs):
    with pytest.raises((ValueError, TypeError), match=next(iter(kwargs)).replace("min_", "")):
        NeighbourMixing(**kwargs)(patches(2), generator=gen(0))


@pytest.mark.parametrize("kwargs", [{"n_groups": 0}, {"n_groups": 1.5}])
def test_permutation_bad_params(kwargs):
    with pytest.raises((ValueError, TypeError), match="n_groups"):
        BandPermutation(**kwargs)(patches(2), generator=gen(0))


@pytest.mark.parametrize("kwargs", [{"alpha": -1.0}, {"sigma": float("inf")}, {"alpha": "big"}])
def test_elastic_distortion_bad_params(kwargs):
    with pytest.raises((ValueError, TypeError), match=next(iter(kwargs))):
        ElasticDistortion(**kwargs)(patches(2), generator=gen(0))


def test_spectral_flip_bad_p():
    with pytest.raises(ValueError, match="p"):
        SpectralFlip(p=2.0)(patches(2), generator=gen(0))


# --------------------------------------------------------------------------- #
# BandErasure
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("min_fraction", "max_fraction", "fill", "b"),
    [(0.05, 0.25, 0.0, 40), (0.1, 0.3, -1.0, 23), (0.0, 0.0, 0.0, 10), (0.0, 0.1, 0.5, 7), (1.0, 1.0, 0.0, 6)],
)
def test_band_erasure_single_contiguous_run(min_fraction, max_fraction, fill, b):
    x = random_patches(300, b=b, s=3) + 1.0  # values in [1, 2): none equals fill
    t = BandErasure(min_fraction=min_fraction, max_fraction=max_fraction, fill=fill)
    out = t(x, generator=gen(0))
    erased = erased_bands(out, fill)
    lo = max(1, round(min_fraction * b))
    hi = max(1, round(max_fraction * b))
    for i in range(x.shape[0]):
        idx = erased[i].nonzero()[:, 0].tolist()
        assert idx, f"sample {i}: no band erased"
        assert idx == list(range(idx[0], idx[-1] + 1)), f"sample {i}: run not contiguous {idx}"
        assert lo <= len(idx) <= hi
        # every pixel of an erased band is fill; every other band untouched
        assert (out[i, :, idx] == fill).all()
        keep = ~erased[i]
        assert torch.equal(out[i, :, keep], x[i, :, keep])


def test_band_erasure_fixed_fraction():
    x = random_patches(500, b=40, s=2) + 1.0
    out = BandErasure(min_fraction=0.25, max_fraction=0.25)(x, generator=gen(0))
    erased = erased_bands(out, 0.0)
    assert (erased.sum(dim=1) == 10).all()
    # the start is uniform over all 31 positions: both extremes occur
    starts = erased.float().argmax(dim=1)
    assert int(starts.min()) == 0
    assert int(starts.max()) == 30
    assert len(set(starts.tolist())) == 31


def test_band_erasure_mean_fraction():
    x = random_patches(2000, b=100, s=1) + 1.0
    out = BandErasure(min_fraction=0.1, max_fraction=0.3)(x, generator=gen(0))
    frac = erased_bands(out, 0.0).double().mean(dim=1)
    assert abs(frac.mean().item() - 0.2) < 0.01
    assert frac.min().item() >= 0.1 and frac.max().item() <= 0.3


def test_band_erasure_covers_every_band():
    x = random_patches(500, b=12, s=2) + 1.0
    out = BandErasure(min_fraction=0.1, max_fraction=0.2)(x, generator=gen(0))
    assert erased_bands(out, 0.0).any(dim=0).all()


def test_band_erasure_single_band():
    x = random_patches(5, b=1, s=3) + 1.0
    out = BandErasure()(x, generator=gen(0))
    assert (out == 0.0).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_fraction": -0.1},
        {"min_fraction": 0.5, "max_fraction": 0.2},
        {"max_fraction": 1.5},
        {"fill": float("nan")},
    ],
)
def test_band_erasure_bad_params(kwargs):
    with pytest.raises(ValueError):
        BandErasure(**kwargs)(random_patches(2), generator=gen(0))


def test_band_erasure_non_numeric_fill():
    with pytest.raises(TypeError, match="fill"):
        BandErasure(fill="zero")(random_patches(2), generator=gen(0))


# --------------------------------------------------------------------------- #
# Hapke scattering and atmospheric compensation: reflectance in, physical models out
# --------------------------------------------------------------------------- #
def reflectance(n=8, b=10, s=3, *, dtype=torch.float64, seed=0, low=0.01, high=0.95):
    g = torch.Generator().manual_seed(seed)
    return (low + (high - low) * torch.rand(n, 1, b, s, s, generator=g, dtype=torch.float64)).to(dtype)


def wild(n=8, b=10, s=3, *, dtype=torch.float64, seed=0):
    """Values far outside reflectance: negative, zero, above 1, large."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, b, s, s, generator=g, dtype=torch.float64) * 3
    x.view(-1)[:5] = torch.tensor([0.0, -1e6, 1e6, 1.0, 2.0], dtype=torch.float64)
    return x.to(dtype)


class Recorder:
    """Wrap a transform's make_params to record the per-sample parameters it drew (in their order)."""

    def __init__(self, transform):
        self.calls = []
        original = transform.make_params

        def spy(x, generator=None):
            params = original(x, generator)
            self.calls.append(tuple(params.values()))
            return params

        transform.make_params = spy


# --------------------------------------------------------------------------- #
# Hapke: an independent numpy version (H-function form, numeric inversion)
# --------------------------------------------------------------------------- #
def np_hapke(w, inc_deg, emi_deg):
    mu0, mu = np.cos(np.deg2rad(inc_deg)), np.cos(np.deg2rad(emi_deg))

    def h(xx):
        return (1 + 2 * xx) / (1 + 2 * xx * np.sqrt(1 - w))

    return w / (4 * (mu0 + mu)) * h(mu0) * h(mu)


def np_albedo(r, inc_deg, emi_deg):
    top = np_hapke(1.0, inc_deg, emi_deg)
    if r <= 0:
        return 0.0
    if r >= top:
        return 1.0
    return brentq(lambda w: np_hapke(w, inc_deg, emi_deg) - r, 0.0, 1.0, xtol=1e-15, rtol=1e-15)


def test_hapke_closed_form_matches_numeric_inversion():
    r = torch.linspace(0.0, 1.05, 43, dtype=torch.float64)
    for inc, emi in [(30, 30), (0, 60), (75, 10)]:
        w = hapke_albedo(r, inc, emi)
        expected = np.array([np_albedo(v, inc, emi) for v in r.numpy()])
        np.testing.assert_allclose(w.numpy(), expected, atol=1e-10)
        # a round trip inside the model's range; above it, the brightest (w = 1) surface
        top = np_hapke(1.0, inc, emi)
        np.testing.assert_allclose(hapke_reflectance(w, inc, emi).numpy(), np.minimum(r.numpy(), top), atol=1e-12)


def test_hapke_reflectance_known_values():
    # w = 1 at normal incidence and emission: (1/8) * 3 * 3 = 9/8; w = 0 reflects nothing
    assert hapke_reflectance(torch.tensor(1.0, dtype=torch.float64), 0.0, 0.0).item() == pytest.approx(9 / 8)
    assert hapke_reflectance(torch.tensor(0.0, dtype=torch.float64), 40.0, 20.0).item() == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("make", [reflectance, wild])
def test_hapke_at_reference_geometry_returns_input_exactly(dtype, make):
    x = make(dtype=dtype)
    for ref in [(30.0, 30.0), (0.0, 45.0), (70.0, 5.0)]:
        t = HapkeScattering(incidence=ref[0], emission=ref[1], min_angle=0.0, max_angle=80.0)
        n = x.shape[0]
        out = t.replay(x, {"incidence": torch.full((n,), ref[0], dtype=dtype), "emission": torch.full((n,), ref[1], dtype=dtype)})
        assert torch.equal(out, x)
    # and through the random path: both angles drawn in [30, 30]
    assert torch.equal(HapkeScattering(min_angle=30.0, max_angle=30.0)(x, generator=gen(0)), x)


def test_hapke_at_reference_geometry_with_band_stats_returns_input_exactly():
    x = wild()
    mean, scale = np.linspace(0.1, 0.5, 10), np.linspace(0.05, 0.2, 10)
    t = HapkeScattering(min_angle=30.0, max_angle=30.0, band_mean=mean, band_scale=scale)
    assert torch.equal(t(x, generator=gen(0)), x)


def test_hapke_matches_independent_numpy_model():
    x = reflectance(4, b=5, s=2, low=0.0, high=1.0)
    rec = HapkeScattering(incidence=25.0, emission=35.0, max_angle=70.0)
    spy = Recorder(rec)
    out = rec(x, generator=gen(3))
    inc, emi = (a.numpy() for a in spy.calls[0][:2])
    expected = np.empty(x.shape)
    for i in range(4):
        for idx in np.ndindex(x.shape[1:]):
            w = np_albedo(float(x[(i, *idx)]), 25.0, 35.0)
            expected[(i, *idx)] = np_hapke(w, inc[i], emi[i])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_hapke_draws_incidence_and_emission_independently():
    t = HapkeScattering(min_angle=10.0, max_angle=50.0)
    spy = Recorder(t)
    t(reflectance(2000, b=2, s=1), generator=gen(0))
    inc, emi = (a.numpy() for a in spy.calls[0][:2])
    assert inc.min() >= 10 and inc.max() <= 50 and emi.min() >= 10 and emi.max() <= 50
    assert abs(np.corrcoef(inc, emi)[0, 1]) < 0.1
    assert np.mean(np.abs(inc - emi)) > 5


def test_hapke_brightens_dark_surfaces_more_at_grazing_geometry():
    # the multiple-scattering term: the relative change depends on the albedo
    x = torch.tensor([0.02, 0.2, 0.6], dtype=torch.float64).view(1, 1, 3, 1, 1)
    out = HapkeScattering().replay(x, {"incidence": torch.tensor([60.0], dtype=torch.float64), "emission": torch.tensor([60.0], dtype=torch.float64)})
    ratio = (out / x).flatten()
    assert (ratio > 1).all()
    assert ratio[0] > ratio[1] > ratio[2]


def test_hapke_out_of_domain_values_are_scaled_by_finite_factors():
    x = torch.tensor([-5.0, -0.1, 0.0, 3.0, 1e6], dtype=torch.float64).view(1, 1, 5, 1, 1)
    t = HapkeScattering()
    inc, emi = torch.tensor([10.0], dtype=torch.float64), torch.tensor([50.0], dtype=torch.float64)
    out = t.replay(x, {"incidence": inc, "emission": emi}).flatten()
    assert torch.isfinite(out).all()
    mu = np.cos(np.deg2rad([30.0, 30.0, 10.0, 50.0]))
    black = (mu[0] + mu[1]) / (mu[2] + mu[3])  # w = 0: Lommel-Seeliger ratio
    white = float(hapke_reflectance(torch.tensor(1.0, dtype=torch.float64), 10.0, 50.0) / hapke_reflectance(torch.tensor(1.0, dtype=torch.float64)))
    np.testing.assert_allclose(out[:2].numpy(), np.array([-5.0, -0.1]) * black, rtol=1e-12)
    assert out[2].item() == 0.0
    np.testing.assert_allclose(out[3:].numpy(), np.array([3.0, 1e6]) * white, rtol=1e-12)


def test_hapke_with_band_stats_works_on_reflectance():
    r = reflectance(6, b=10)
    mean = r.mean(dim=(0, 1, 3, 4)).numpy()
    scale = r.std(dim=(0, 1, 3, 4)).numpy()
    z = (r - torch.as_tensor(mean).view(1, 1, -1, 1, 1)) / torch.as_tensor(scale).view(1, 1, -1, 1, 1)
    out_r = HapkeScattering()(r, generator=gen(0))
    out_z = HapkeScattering(band_mean=mean, band_scale=scale)(z, generator=gen(0))
    back = out_z * torch.as_tensor(scale).view(1, 1, -1, 1, 1) + torch.as_tensor(mean).view(1, 1, -1, 1, 1)
    np.testing.assert_allclose(back.numpy(), out_r.numpy(), atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"incidence": -1.0}, "incidence"),
        ({"emission": 95.0}, "emission"),
        ({"max_angle": 90.0}, "max_angle"),
        ({"min_angle": 40.0, "max_angle": 20.0}, "max_angle"),
        ({"band_mean": [0.0, 1.0]}, "band_mean"),
        ({"band_scale": 0.0}, "band_scale"),
        ({"band_scale": np.full(10, np.nan)}, "band_scale"),
    ],
)
def test_hapke_bad_params(kwargs, name):
    with pytest.raises(ValueError, match=name):
        HapkeScattering(**kwargs)(reflectance(2), generator=gen(0))


# --------------------------------------------------------------------------- #
# atmospheric compensation
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("make", [reflectance, wild])
def test_atmospheric_angle_zero_returns_input_exactly(dtype, make):
    x = make(dtype=dtype)
    assert torch.equal(AtmosphericCompensation(max_angle=0.0)(x, generator=gen(0)), x)
    stats = {"band_mean": np.linspace(0.1, 0.5, 10), "band_scale": np.linspace(0.05, 0.2, 10)}
    assert torch.equal(AtmosphericCompensation(max_angle=0.0, **stats)(x, generator=gen(0)), x)


def expected_atmospheric(x, angles, e_sun, e_sky):
    e_sky = e_sky + 1e-9 * np.max(e_sun + e_sky)
    factor = (e_sun[None] * np.cos(np.deg2rad(angles))[:, None] + e_sky[None]) / (e_sun + e_sky)[None]
    return x.numpy() * factor[:, None, :, None, None]


def test_atmospheric_matches_formula_with_parametric_model():
    x = reflectance(16, b=30)
    t = AtmosphericCompensation()
    spy = Recorder(t)
    out = t(x, generator=gen(0))
    angles = spy.calls[0][0].numpy()
    assert angles.min() >= 0 and angles.max() <= 81 and angles.std() > 10
    e_sun, e_sky = parametric_illumination().at(default_wavelengths(30))
    np.testing.assert_allclose(out.numpy(), expected_atmospheric(x, angles, e_sun, e_sky), rtol=1e-12)


def test_atmospheric_factor_between_cos_and_one_and_bluer_bands_dim_least():
    wl = np.array([420.0, 480.0, 550.0, 650.0, 860.0, 1050.0, 1650.0, 2200.0])
    x = torch.ones(50, 1, wl.size, 1, 1, dtype=torch.float64)
    t = AtmosphericCompensation(min_angle=20.0, max_angle=80.0, wavelengths=wl)
    spy = Recorder(t)
    out = t(x, generator=gen(0))[:, 0, :, 0, 0]
    cos = torch.cos(torch.deg2rad(spy.calls[0][0]))[:, None]
    assert ((out >= cos - 1e-12) & (out < 1)).all()
    # skylight is relatively strongest in the blue: the factor falls from 420 to 1050 nm
    assert (out[:, :6].diff(dim=1) < 0).all()


def test_atmospheric_with_band_stats_works_on_reflectance():
    r = reflectance(6, b=10)
    mean, scale = np.linspace(0.2, 0.6, 10), np.linspace(0.1, 0.3, 10)
    z = (r - torch.as_tensor(mean).view(1, 1, -1, 1, 1)) / torch.as_tensor(scale).view(1, 1, -1, 1, 1)
    out_r = AtmosphericCompensation()(r, generator=gen(0))
    out_z = AtmosphericCompensation(band_mean=mean, band_scale=scale)(z, generator=gen(0))
    back = out_z * torch.as_tensor(scale).view(1, 1, -1, 1, 1) + torch.as_tensor(mean).view(1, 1, -1, 1, 1)
    np.testing.assert_allclose(back.numpy(), out_r.numpy(), atol=1e-12)


@pytest.mark.shared_data
@needs_tables
@pytest.mark.parametrize("table", [MAT_TABLE, ASTM_TABLE], ids=["borsoi_mat", "astm_g173"])
def test_atmospheric_with_measured_tables(table):
    wl = np.linspace(401.0, 889.0, 20)  # Samson's grid, inside both tables
    x = reflectance(12, b=20)
    t = AtmosphericCompensation(illumination=str(table), wavelengths=wl)
    spy = Recorder(t)
    out = t(x, generator=gen(0))
    if table.suffix == ".mat":
        m = loadmat(table)
        grid = m["wavelength_nm"].ravel().astype(float)
        e_sun = np.interp(wl, grid, m["Esun_direct_light"].ravel())
        e_sky = np.interp(wl, grid, m["Esky_diffuse_light"].ravel())
    else:
        data = np.loadtxt(table, delimiter=",", skiprows=2)
        e_sun = np.interp(wl, data[:, 0], data[:, 3])
        e_sky = np.interp(wl, data[:, 0], np.clip(data[:, 2] - data[:, 3] * np.cos(np.deg2rad(48.19 - 37.0)), 0, None))
    np.testing.assert_allclose(out.numpy(), expected_atmospheric(x, spy.calls[0][0].numpy(), e_sun, e_sky), rtol=1e-12)
    assert torch.equal(AtmosphericCompensation(max_angle=0.0, illumination=table, wavelengths=wl)(x, generator=gen(0)), x)


def test_atmospheric_bad_params(tmp_path):
    x = reflectance(2, b=10)
    with pytest.raises(ValueError, match="wavelengths has 5 values"):
        AtmosphericCompensation(wavelengths=np.linspace(400, 900, 5))(x, generator=gen(0))
    with pytest.raises(ValueError, match="wavelengths"):
        AtmosphericCompensation(wavelengths=-np.ones(10))(x, generator=gen(0))
    with pytest.raises(ValueError, match="max_angle"):
        AtmosphericCompensation(max_angle=91.0)(x, generator=gen(0))
    with pytest.raises(TypeError, match="illumination"):
        AtmosphericCompensation(illumination=3)(x, generator=gen(0))
    with pytest.raises(FileNotFoundError, match="illumination"):
        AtmosphericCompensation(illumination=str(tmp_path / "missing.mat"))(x, generator=gen(0))
    bad = tmp_path / "table.txt"
    bad.write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"\.mat or \.csv"):
        AtmosphericCompensation(illumination=bad)(x, generator=gen(0))
    csv = tmp_path / "table.csv"
    csv.write_text("wavelength,sun,sky\n400,1,1\n500,1,1\n")
    with pytest.raises(ValueError, match="direct, diffuse"):
        load_illumination(csv)
