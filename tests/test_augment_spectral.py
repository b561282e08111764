"""Spectral augmentations: invariants and agreement with naive per-sample numpy references."""

from functools import partial

import numpy as np
import pytest
import torch
from conftest import gen, int_patches, random_patches
from scipy.spatial import cKDTree

from hyperspectral_cl.augment import (
    BandPermutation,
    ElasticDistortion,
    NeighbourMixing,
    SpectralFlip,
    SpectralShift,
)
from hyperspectral_cl.augment._functional import smooth_noise

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
    out = SpectralShift(extrapolation=extrapolation)._transform(x, shifts)
    np.testing.assert_allclose(out.numpy(), ref_shift(x, shifts, extrapolation), rtol=1e-12, atol=1e-12)


def test_shift_moves_features_to_longer_wavelengths():
    x = torch.zeros(1, 1, 10, 1, 1, dtype=torch.float64)
    x[0, 0, 3] = 1.0
    out = SpectralShift(extrapolation="edge")._transform(x, torch.tensor([2]))
    assert out[0, 0, :, 0, 0].argmax().item() == 5


def test_shift_linear_extrapolation_continues_a_line():
    ramp = torch.arange(20, dtype=torch.float64).view(1, 1, 20, 1, 1) * 0.5 + 1.0
    for k in (-4, 3):
        out = SpectralShift(extrapolation="linear")._transform(ramp, torch.tensor([k]))
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
    out = ElasticDistortion()._transform(x, d)
    np.testing.assert_allclose(out.numpy(), ref_elastic(x, d), rtol=1e-12, atol=1e-12)


def test_elastic_distortion_field_statistics():
    # the displacement field has std alpha and is smooth at the scale sigma
    x = torch.zeros(1, dtype=torch.float64)
    d = 3.0 * smooth_noise((4000,), (60,), 5.0, x, gen(0))
    assert abs(d.std().item() - 3.0) < 0.1
    assert abs(d.mean().item()) < 0.1
    lag1 = torch.corrcoef(torch.stack([d[:, :-1].reshape(-1), d[:, 1:].reshape(-1)]))[0, 1].item()
    assert lag1 > 0.95  # neighbouring bands move together
    far = torch.corrcoef(torch.stack([d[:, :-30].reshape(-1), d[:, 30:].reshape(-1)]))[0, 1].item()
    assert abs(far) < 0.05


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
    out = NeighbourMixing(k=k)._transform(x, lam)
    np.testing.assert_allclose(out.numpy(), ref_mixing_patch(x, k, lam.numpy()), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k", [1, 2, 4, 50])
def test_mixing_batch_matches_reference(k):
    x = patches(12, b=6, s=3)
    lam = torch.linspace(0.2, 1, 12, dtype=torch.float64)
    out = NeighbourMixing(k=k, scope="batch")._transform(x, lam)
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
