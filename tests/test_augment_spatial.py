"""augment/spatial.py: invariants and agreement with per-sample scipy/numpy references."""

from functools import partial

import numpy as np
import pytest
import torch
from conftest import gen, int_patches, random_patches
from scipy import ndimage

from hyperspectral_cl.augment import ElasticDeformation, RandomFlip, RandomRotation, RandomTranslation

patches = partial(random_patches, b=6, dtype=torch.float64)
int_patches = partial(int_patches, b=6)


def centre(x):
    s = x.shape[-1]
    return x[..., s // 2, s // 2]


# scipy modes equal to our fills for order-1 interpolation
SCIPY_MODE = {"edge": "nearest", "reflect": "reflect"}


# --------------------------------------------------------------------------- #
# naive references: scipy.ndimage per sample and per band
# --------------------------------------------------------------------------- #
def ref_rotate(x, angles, fill):
    x = x.numpy()
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        for b in range(x.shape[2]):
            if isinstance(fill, str):
                out[i, 0, b] = ndimage.rotate(x[i, 0, b], angles[i], reshape=False, order=1, mode=SCIPY_MODE[fill])
            else:
                out[i, 0, b] = ndimage.rotate(x[i, 0, b], angles[i], reshape=False, order=1, mode="grid-constant", cval=fill)
    return out


def ref_warp(x, displacement, fill):
    """out[p] = x[p + d(p)] with d = (dx, dy), bilinear, per band with map_coordinates."""
    x, d = x.numpy(), displacement.numpy()
    out = np.empty_like(x)
    n, _, b, h, w = x.shape
    ii, jj = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    for i in range(n):
        coords = [ii + d[i, 1], jj + d[i, 0]]
        for band in range(b):
            if isinstance(fill, str):
                out[i, 0, band] = ndimage.map_coordinates(x[i, 0, band], coords, order=1, mode=SCIPY_MODE[fill])
            else:
                out[i, 0, band] = ndimage.map_coordinates(x[i, 0, band], coords, order=1, mode="grid-constant", cval=fill)
    return out


def ref_translate(x, dy, dx, fill):
    x = x.numpy()
    out = np.empty_like(x)
    n, _, b, h, w = x.shape
    m = int(max(np.abs(dy).max(), np.abs(dx).max()))
    for i in range(n):
        img = x[i, 0]
        pad = ((0, 0), (m, m), (m, m))
        if fill == "edge":
            big = np.pad(img, pad, mode="edge")
        elif fill == "reflect":
            big = np.pad(img, pad, mode="symmetric")
        elif fill == "wrap":
            big = np.pad(img, pad, mode="wrap")
        else:
            big = np.pad(img, pad, mode="constant", constant_values=fill)
        out[i, 0] = big[:, m - dy[i] : m - dy[i] + h, m - dx[i] : m - dx[i] + w]
    return out


# --------------------------------------------------------------------------- #
# RandomRotation
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("fill", ["edge", "reflect", 0.25])
@pytest.mark.parametrize("s", [5, 6, 9])
def test_rotation_matches_scipy_rotate(fill, s):
    x = patches(6, b=3, s=s)
    angles = torch.tensor([-170.0, -45.0, 12.5, 30.0, 90.0, 135.0], dtype=torch.float64)
    out = RandomRotation(fill=fill).replay(x, {"angle": angles})
    np.testing.assert_allclose(out.numpy(), ref_rotate(x, angles.numpy(), fill), atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rotation_by_zero_is_identity(dtype):
    x = patches(8, s=6, dtype=dtype)
    out = RandomRotation(min_angle=0.0, max_angle=0.0)(x, generator=gen(0))
    torch.testing.assert_close(out, x, rtol=0, atol=1e-6)


@pytest.mark.parametrize("s", [4, 5, 10])
def test_rotation_by_90_via_grid_sample_matches_rot90(s):
    x = patches(8, s=s, dtype=torch.float32)
    for k, angle in [(1, 90.0), (2, 180.0), (3, 270.0), (3, -90.0)]:
        out = RandomRotation(min_angle=angle, max_angle=angle)(x, generator=gen(0))
        torch.testing.assert_close(out, torch.rot90(x, k, dims=(-2, -1)), rtol=0, atol=1e-5)


def test_rot90_mode_exact_and_keeps_patch_mean():
    x = int_patches(300, s=5)
    out = RandomRotation(mode="rot90")(x, generator=gen(0))
    ks = set()
    for i in range(300):
        k = next(k for k in (1, 2, 3) if torch.equal(out[i], torch.rot90(x[i], k, dims=(-2, -1))))
        ks.add(k)
    assert ks == {1, 2, 3}
    assert torch.equal(out.mean(dim=(1, 2, 3, 4)), x.mean(dim=(1, 2, 3, 4)))
    assert torch.equal(centre(out), centre(x))


def test_rot90_mode_keeps_patch_mean_float32():
    x = patches(64, b=20, s=10, dtype=torch.float32)
    out = RandomRotation(mode="rot90")(x, generator=gen(0))
    # the same values, only moved: per-band sorted pixels are identical
    assert torch.equal(out.reshape(64, 20, -1).sort(dim=-1).values, x.reshape(64, 20, -1).sort(dim=-1).values)


def test_rotation_keeps_centre_pixel_exactly_for_odd_sizes():
    x = patches(32, s=7, dtype=torch.float32)
    out = RandomRotation()(x, generator=gen(0))
    assert not torch.equal(out, x)
    assert torch.equal(centre(out), centre(x))


def test_rotation_constant_fill_enters_corners():
    x = patches(1, b=2, s=9) + 10.0
    out = RandomRotation(fill=-3.0).replay(x, {"angle": torch.tensor([45.0], dtype=torch.float64)})
    torch.testing.assert_close(out[0, 0, :, 0, 0], torch.full((2,), -3.0, dtype=torch.float64))


def test_rotation_same_for_every_band():
    x = patches(8, b=1, s=6).repeat(1, 1, 5, 1, 1)
    out = RandomRotation()(x, generator=gen(0))
    assert torch.equal(out, out[:, :, :1].expand_as(out))


def test_rotation_non_square():
    x = patches(4, s=5)[..., :3]  # 5 x 3
    out = RandomRotation()(x, generator=gen(0))
    assert out.shape == x.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="square"):
        RandomRotation(mode="rot90")(x, generator=gen(0))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"mode": "rot45"}, "mode"),
        ({"min_angle": 10.0, "max_angle": 0.0}, "max_angle"),
        ({"fill": "wrap"}, "fill"),
        ({"fill": float("nan")}, "fill"),
        ({"interpolation": "bicubic"}, "interpolation"),
    ],
)
def test_rotation_bad_params(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RandomRotation(**kwargs)(patches(2), generator=gen(0))


# --------------------------------------------------------------------------- #
# ElasticDeformation
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("fill", ["edge", "reflect", -1.0])
def test_elastic_deformation_matches_map_coordinates(fill):
    x = patches(5, b=3, s=6)
    d = 1.5 * torch.randn(5, 2, 6, 6, generator=gen(1), dtype=torch.float64)
    out = ElasticDeformation(fill=fill).replay(x, {"displacement": d})
    np.testing.assert_allclose(out.numpy(), ref_warp(x, d, fill), atol=1e-10)


def test_elastic_deformation_zero_strength_is_identity():
    for dtype in (torch.float32, torch.float64):
        x = patches(8, dtype=dtype)
        assert torch.equal(ElasticDeformation(alpha=0.0)(x, generator=gen(0)), x)


def test_elastic_deformation_is_a_geometric_warp():
    # a warp moves values, it does not add noise: constant images stay constant, values stay in range,
    # and every band moves the same way
    x = patches(16, b=1, s=8).repeat(1, 1, 4, 1, 1)
    x[3] = 0.5
    out = ElasticDeformation(alpha=2.0)(x, generator=gen(0))
    assert not torch.equal(out, x)
    torch.testing.assert_close(out[3], x[3], rtol=0, atol=1e-15)
    assert out.min() >= x.min() - 1e-15 and out.max() <= x.max() + 1e-15
    assert torch.equal(out, out[:, :, :1].expand_as(out))


def test_elastic_deformation_displacement_size():
    # on a horizontal ramp (x = column) the output minus the input is the x displacement (away from borders)
    s = 40
    ramp = torch.arange(s, dtype=torch.float64).view(1, 1, 1, 1, s).expand(200, 1, 1, s, s).contiguous()
    out = ElasticDeformation(alpha=1.5, sigma=3.0)(ramp, generator=gen(0))
    dx = (out - ramp)[..., 8:-8, 8:-8]
    assert abs(dx.std().item() - 1.5) < 0.15


@pytest.mark.parametrize("s", [5, 7])
def test_elastic_deformation_keep_center(s):
    x = patches(32, s=s)
    out = ElasticDeformation(alpha=2.0, keep_center=True)(x, generator=gen(0))
    assert not torch.equal(out, x)
    assert torch.equal(centre(out), centre(x))


def test_elastic_deformation_keep_center_even_size_keeps_central_block():
    x = patches(16, s=6)
    out = ElasticDeformation(alpha=2.0, keep_center=True)(x, generator=gen(0))
    assert torch.equal(out[..., 2:4, 2:4], x[..., 2:4, 2:4])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"alpha": -1.0}, "alpha"), ({"sigma": -2.0}, "sigma"), ({"fill": "wrap"}, "fill"), ({"keep_center": 1}, "keep_center")],
)
def test_elastic_deformation_bad_params(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        ElasticDeformation(**kwargs)(patches(2), generator=gen(0))


# --------------------------------------------------------------------------- #
# RandomTranslation
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("fill", ["edge", "reflect", "wrap", 2.5])
@pytest.mark.parametrize("s", [4, 5])
def test_translation_matches_numpy_reference(fill, s):
    x = patches(9, b=3, s=s)
    dy = torch.tensor([-3, -2, -1, 0, 1, 2, 3, 7, -6])
    dx = torch.tensor([1, 0, -2, 3, -3, 2, 0, -1, 9])
    out = RandomTranslation(fill=fill).replay(x, {"dy": dy, "dx": dx})
    np.testing.assert_array_equal(out.numpy(), ref_translate(x, dy.numpy(), dx.numpy(), fill))


def test_translation_draws_all_nonzero_shifts():
    x = int_patches(800, b=1, s=9)
    out = RandomTranslation(max_shift=2, fill="wrap")(x, generator=gen(0))
    seen = set()
    for i in range(800):
        match = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(out[i], torch.roll(x[i], shifts=(dy, dx), dims=(-2, -1)))
        ]
        assert match, f"sample {i} is not a shift within 2 pixels"
        seen.add(match[0])
    assert (0, 0) not in seen and len(seen) == 24


def test_translation_wrap_keeps_patch_mean():
    x = int_patches(64)
    out = RandomTranslation(fill="wrap")(x, generator=gen(0))
    assert torch.equal(out.mean(dim=(1, 2, 3, 4)), x.mean(dim=(1, 2, 3, 4)))


@pytest.mark.parametrize("fill", ["edge", "reflect", "wrap", 0.0])
def test_translation_keep_center(fill):
    x = patches(64, s=5)
    out = RandomTranslation(fill=fill, keep_center=True)(x, generator=gen(0))
    assert torch.equal(centre(out), centre(x))
    # the context did move
    assert not torch.equal(out, x)
    moved = RandomTranslation(fill=fill, keep_center=False)(x, generator=gen(0))
    mask = torch.ones(5, 5, dtype=torch.bool)
    mask[2, 2] = False
    assert torch.equal(out[..., mask], moved[..., mask])
    assert not torch.equal(centre(moved), centre(x))


def test_translation_zero_shift_is_identity():
    x = patches(4)
    assert torch.equal(RandomTranslation(max_shift=0)(x, generator=gen(0)), x)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"max_shift": -1}, "max_shift"), ({"max_shift": 1.5}, "max_shift"), ({"fill": "mirror"}, "fill"), ({"keep_center": "yes"}, "keep_center")],
)
def test_translation_bad_params(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        RandomTranslation(**kwargs)(patches(2), generator=gen(0))


# --------------------------------------------------------------------------- #
# RandomFlip
# --------------------------------------------------------------------------- #
def test_flip_horizontal_only():
    x = random_patches(8, s=5)
    out = RandomFlip(p=1.0, horizontal=True, vertical=False)(x, generator=gen(0))
    assert torch.equal(out, x.flip(-1))


def test_flip_vertical_only():
    x = random_patches(8, s=5)
    out = RandomFlip(p=1.0, horizontal=False, vertical=True)(x, generator=gen(0))
    assert torch.equal(out, x.flip(-2))


def test_flip_both_twice_is_identity():
    x = random_patches(8, s=4)
    t = RandomFlip(p=1.0)
    once = t(x, generator=gen(0))
    assert torch.equal(once, x.flip(-1).flip(-2))
    assert torch.equal(t(once, generator=gen(1)), x)


def test_flip_disabled_or_p_zero_is_identity():
    x = random_patches(8)
    assert torch.equal(RandomFlip(p=0.0)(x, generator=gen(0)), x)
    assert torch.equal(RandomFlip(p=1.0, horizontal=False, vertical=False)(x, generator=gen(0)), x)


def test_flip_each_sample_is_one_of_four_flips_and_all_occur():
    x = random_patches(200, b=3, s=4)
    out = RandomFlip(p=0.5)(x, generator=gen(3))
    candidates = [x, x.flip(-1), x.flip(-2), x.flip(-1).flip(-2)]
    seen = set()
    for i in range(x.shape[0]):
        matches = [k for k, c in enumerate(candidates) if torch.equal(out[i], c[i])]
        assert matches, f"sample {i} is not a flip of its input"
        seen.add(matches[0])
    assert seen == {0, 1, 2, 3}


def test_flip_preserves_patch_means():
    # integer-valued floats: every sum is exact whatever the order
    g = gen(0)
    x = torch.randint(-50, 50, (64, 1, 6, 5, 5), generator=g).to(torch.float64)
    out = RandomFlip(p=0.5)(x, generator=gen(1))
    assert not torch.equal(out, x)
    assert torch.equal(out.mean(dim=(1, 2, 3, 4)), x.mean(dim=(1, 2, 3, 4)))
    # and per band: the same multiset of pixel values
    a = out.reshape(64, 6, -1).sort(dim=-1).values
    b = x.reshape(64, 6, -1).sort(dim=-1).values
    assert torch.equal(a, b)


def test_flip_odd_size_keeps_centre_pixel():
    x = random_patches(32, s=5)
    out = RandomFlip(p=0.5)(x, generator=gen(0))
    assert torch.equal(out[..., 2, 2], x[..., 2, 2])


def test_flip_disabled_axis_keeps_random_stream():
    # the draw for a disabled axis still happens: the vertical decisions are the same
    x = random_patches(64, s=4)
    both = RandomFlip(p=0.5)(x, generator=gen(5))
    vert = RandomFlip(p=0.5, horizontal=False)(x, generator=gen(5))
    for i in range(64):
        v_flipped = torch.equal(vert[i], x[i].flip(-2)) and not torch.equal(x[i], x[i].flip(-2))
        if v_flipped:
            assert torch.equal(both[i], x[i].flip(-2)) or torch.equal(both[i], x[i].flip(-1).flip(-2))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_flip_bad_p(p):
    with pytest.raises(ValueError, match="p"):
        RandomFlip(p=p)(random_patches(2), generator=gen(0))
