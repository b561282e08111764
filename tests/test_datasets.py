"""Scene.windows (borders, positions, coords convention, validation), sparse labels, crop and bad bands."""

import numpy as np
import pytest
from conftest import NODATA_KINDS, naive_touching, nodata_scene

from hyperspectral_cl import extract_windows
from hyperspectral_cl.datasets import Scene, make_synthetic_scene


def naive_reflect_windows(cube, targets, size, stride, label):
    """Windows centred on every stride-th pixel of a symmetric-padded image, by loops."""
    c = size // 2
    pc = np.pad(cube, ((c, size - 1 - c), (c, size - 1 - c), (0, 0)), mode="symmetric")
    pt = np.pad(targets, ((c, size - 1 - c), (c, size - 1 - c), (0, 0)), mode="symmetric")
    X, y, coords = [], [], []
    for i in range(0, cube.shape[0], stride):
        for j in range(0, cube.shape[1], stride):
            X.append(pc[i : i + size, j : j + size])
            t = pt[i : i + size, j : j + size]
            y.append(t.reshape(-1, t.shape[-1]).mean(0) if label == "mean" else targets[i, j])
            coords.append((i - c, j - c))
    return np.array(X), np.array(y), np.array(coords)


@pytest.fixture
def small(rng):
    return Scene(cube=rng.random((9, 11, 4)), targets=rng.random((9, 11, 2)), wavelengths=np.linspace(400, 900, 4))


@pytest.mark.parametrize("size,stride,label", [(3, 1, "mean"), (4, 1, "center"), (5, 2, "mean"), (2, 3, "center"),
                                               (9, 1, "mean")])
def test_reflect_windows_match_naive_loops(small, size, stride, label):
    X, y, coords = small.windows(size, stride=stride, label=label, border="reflect")
    Xn, yn, cn = naive_reflect_windows(small.cube, small.targets, size, stride, label)
    np.testing.assert_array_equal(X, Xn)
    np.testing.assert_allclose(y, yn, rtol=1e-6)
    np.testing.assert_array_equal(coords, cn)
    if stride == 1:
        assert len(X) == 9 * 11  # one window per pixel
    # the centre pixel of each window is coords + size // 2, inside the image
    c = size // 2
    centre = coords + c
    np.testing.assert_array_equal(X[:, c, c], small.cube[centre[:, 0], centre[:, 1]])


@pytest.mark.parametrize("border", ["valid", "reflect"])
@pytest.mark.parametrize("label", ["mean", "center"])
def test_positions_round_trip_with_the_grid(small, border, label):
    X, y, coords = small.windows(4, label=label, border=border)
    pick = np.array([0, 5, len(coords) - 1, 17])
    Xp, yp, cp = small.windows(4, label=label, border=border, positions=coords[pick])
    np.testing.assert_array_equal(Xp, X[pick])
    np.testing.assert_allclose(yp, y[pick], rtol=1e-6)
    np.testing.assert_array_equal(cp, coords[pick])


def test_valid_border_keeps_existing_behaviour(small):
    a = small.windows(3, stride=2)
    b = extract_windows(small.cube, small.targets, size=3, stride=2)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert a[2].min() == 0  # top-left corners, never negative with 'valid'


def test_windows_dtype_memory_and_no_modification(rng):
    cube = rng.random((12, 12, 5)).astype(np.float32)
    cube.setflags(write=False)
    scene = Scene(cube=cube)
    X, y, coords = scene.windows(4)
    assert y is None and X.dtype == np.float32 and X.flags.writeable and X.flags.c_contiguous
    assert not np.shares_memory(X, cube)
    X[:] = 0
    assert cube.any()
    Xi, _, _ = Scene(cube=(cube * 10).astype(np.int16)).windows(3)
    assert Xi.dtype == np.float32


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(size=12), ValueError, "larger than the cube"),
        (dict(size=3, stride=0), ValueError, "stride"),
        (dict(size=3, stride=-1), ValueError, "stride"),
        (dict(size=2.5), TypeError, "size"),
        (dict(size=3, label="median"), ValueError, "label"),
        (dict(size=3, border="wrap"), ValueError, "border"),
        (dict(size=3, positions=[[0, 0]], stride=2), ValueError, "either positions or stride"),
        (dict(size=3, positions=[[0, 9]]), ValueError, r"positions\[0\] = \(0, 9\) is out of range"),
        (dict(size=3, positions=[[-1, 0]]), ValueError, "border='reflect' allows"),
        (dict(size=3, positions=[[-2, 0]], border="reflect"), ValueError, "centre pixel"),
        (dict(size=3, positions=[[0.5, 0]]), TypeError, "integer"),
        (dict(size=3, positions=[0, 0]), ValueError, r"shape \(n_windows, 2\)"),
    ],
)
def test_windows_errors_name_the_problem(small, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        small.windows(**kwargs)


def test_reflect_positions_may_reach_outside(small):
    X, _, coords = small.windows(3, positions=[[-1, -1], [7, 9]], border="reflect")
    np.testing.assert_array_equal(coords, [[-1, -1], [7, 9]])
    # the first window's corner pixel is the reflection of pixel (0, 0)
    np.testing.assert_array_equal(X[0, 0, 0], small.cube[0, 0])
    np.testing.assert_array_equal(X[1, 2, 2], small.cube[8, 10])  # symmetric: index 9 -> 8, 11 -> 10


def test_infinity_and_nan_targets_are_refused_nan_in_the_cube_is_no_data(rng):
    cube = rng.random((8, 8, 3))
    cube[5, 6, 1] = np.inf
    with pytest.raises(ValueError, match=r"NaN or infinity.*top-left corner \(3, 4\).*not a no-data marker"):
        Scene(cube=cube).windows(3)
    # windows that avoid the bad pixel are fine
    X, _, _ = Scene(cube=cube).windows(3, positions=[[0, 0]])
    assert np.isfinite(X).all()
    cube[5, 6, 1] = np.nan  # no-data: its 3 x 2 windows are left out, or refused on demand
    assert len(Scene(cube=cube).windows(3)[0]) == 36 - 6
    with pytest.raises(ValueError, match=r"corner \(3, 4\) touches no-data \(6 of 36 windows.*skip_nodata=True"):
        Scene(cube=cube).windows(3, skip_nodata=False)
    t = rng.random((8, 8))
    t[0, 0] = np.nan
    with pytest.raises(ValueError, match="targets contain NaN"):
        Scene(cube=rng.random((8, 8, 3)), targets=t).windows(3)


def test_scene_validation(rng):
    with pytest.raises(ValueError, match="cube must have shape"):
        Scene(cube=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="wavelengths"):
        Scene(cube=np.zeros((3, 3, 2)), wavelengths=[1, 2, 3])
    with pytest.raises(ValueError, match="target_names"):
        Scene(cube=np.zeros((3, 3, 2)), targets=np.zeros((3, 3, 2)), target_names=["a"])
    with pytest.raises(ValueError, match="endmembers"):
        Scene(cube=np.zeros((3, 3, 2)), endmembers=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="bad_bands"):
        Scene(cube=np.zeros((3, 3, 2)), bad_bands=[True])
    s = Scene(cube=np.zeros((3, 3, 2)), targets=np.zeros((3, 3)))
    assert s.targets.shape == (3, 3, 1) and s.n_targets == 1 and s.n_bands == 2


def test_crop_and_drop_bad_bands(rng):
    s = Scene(cube=rng.random((10, 12, 5)), targets=rng.random((10, 12, 2)), wavelengths=np.arange(5.0),
              endmembers=rng.random((5, 2)), bad_bands=[False, True, False, False, True], target_names=["a", "b"])
    c = s.crop(slice(2, 7), slice(3, 12))
    assert c.shape == (5, 9, 5) and np.shares_memory(c.cube, s.cube)
    np.testing.assert_array_equal(c.targets, s.targets[2:7, 3:12])
    with pytest.raises(ValueError, match="step 1"):
        s.crop(slice(0, 10, 2))
    with pytest.raises(ValueError, match="empty"):
        s.crop(slice(5, 5))
    d = s.drop_bad_bands()
    assert d.shape == (10, 12, 3) and d.endmembers.shape == (3, 2) and not d.bad_bands.any()
    np.testing.assert_array_equal(d.wavelengths, [0, 2, 3])
    np.testing.assert_array_equal(d.cube, s.cube[:, :, [0, 2, 3]])
    assert s.cube.shape == (10, 12, 5)  # the original is untouched
    assert d.drop_bad_bands() is d


# ----------------------------------------------------------------------------- sparse labels
def test_labeled_windows_centre_on_the_pixels_and_read_their_labels():
    scene = make_synthetic_scene(n_endmembers=3, shape=(30, 30), n_bands=6, random_state=0)
    pixels = np.array([[0, 0], [10, 17], [29, 5], [10, 17]])  # a corner, a repeat
    X, y, coords = scene.labeled_windows(pixels, size=5)
    np.testing.assert_array_equal(coords, pixels - 2)
    np.testing.assert_allclose(y, scene.targets[pixels[:, 0], pixels[:, 1]], rtol=1e-6)
    np.testing.assert_array_equal(X[1], scene.cube[8:13, 15:20])  # inside: the window itself
    np.testing.assert_array_equal(X[0, 2, 2], scene.cube[0, 0])  # at the corner: centred, reflected around
    np.testing.assert_array_equal(X[0, 1, 1], scene.cube[0, 0])  # (half-sample symmetric: -1 -> 0)
    _, y_mean, _ = scene.labeled_windows(pixels[1:2], size=5, label="mean")
    np.testing.assert_allclose(y_mean[0], scene.targets[8:13, 15:20].mean(axis=(0, 1)), rtol=1e-5)
    _, y_given, _ = scene.labeled_windows(pixels, size=3, values=[1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(y_given[:, 0], [1, 2, 3, 4])


def test_labeled_windows_errors_and_the_unlabeled_pool():
    scene = make_synthetic_scene(n_endmembers=2, shape=(12, 12), n_bands=4, random_state=0)
    with pytest.raises(ValueError, match="pixels must have shape \\(n, 2\\)"):
        scene.labeled_windows([1, 2], 3)
    with pytest.raises(ValueError, match="values has 1 rows for 2 pixels"):
        scene.labeled_windows([[1, 2], [3, 4]], 3, values=[1.0])
    bare = Scene(scene.cube)
    with pytest.raises(ValueError, match="no targets: pass values="):
        bare.labeled_windows([[1, 2]], 3)
    pool = scene.unlabeled_patches(3)
    assert len(pool) == 100 and pool.n_bands == 4 and pool.patch_size == 3


# ----------------------------------------------------------------------------- no-data
@pytest.mark.parametrize("kind", NODATA_KINDS)
@pytest.mark.parametrize("size,stride,border", [(3, 1, "valid"), (4, 2, "valid"), (3, 1, "reflect"), (2, 3, "reflect")])
def test_windows_leave_out_exactly_the_windows_touching_nodata(kind, size, stride, border):
    scene, clean, bad = nodata_scene(kind)
    X, y, coords = scene.windows(size, stride=stride, border=border)
    # the reference: every window of the clean scene, and a loop deciding which touch no-data
    if border == "valid":
        Xc, yc, cc = extract_windows(clean, scene.targets, size=size, stride=stride)
    else:
        Xc, yc, cc = naive_reflect_windows(clean, scene.targets, size, stride, "mean")
    keep = ~naive_touching(bad, size, cc)
    assert 0 < keep.sum() < len(keep)
    np.testing.assert_array_equal(coords, cc[keep])
    np.testing.assert_array_equal(X, Xc[keep])  # the values present, never a fill value or NaN
    np.testing.assert_allclose(y, yc[keep], rtol=1e-6)
    # the same windows, cut at given positions (kept in order; the others left out)
    Xp, yp, cp = scene.windows(size, positions=cc[::-1], border=border)
    np.testing.assert_array_equal(cp, cc[::-1][keep[::-1]])
    np.testing.assert_array_equal(Xp, Xc[::-1][keep[::-1]])
    with pytest.raises(ValueError, match=r"touches no-data \(\d+ of \d+ windows do.*skip_nodata=True"):
        scene.windows(size, stride=stride, border=border, skip_nodata=False)
    np.testing.assert_array_equal(scene.nodata_mask(), bad)


@pytest.mark.parametrize("kind", NODATA_KINDS)
def test_values_under_nodata_never_matter_and_inputs_are_untouched(kind):
    results = []
    for fill in (-9999.0, 1e30):
        scene, _, _ = nodata_scene(kind, fill=fill)
        results.append((scene.windows(3), scene.windows(3, border="reflect"),
                        scene.labeled_windows([[0, 0], [5, 5], [11, 0], [4, 4]], 3, values=[1.0, 2.0, 3.0, 4.0])))
    for a, b in zip(results[0], results[1], strict=True):
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)
    # the user's arrays (read-only here) are never written into, and the mask stays the user's
    _, clean, bad = nodata_scene(kind)
    data = np.where(bad[..., None], -9999.0, clean)
    data.setflags(write=False)
    mask = np.broadcast_to(bad[..., None], data.shape).copy()
    mask.setflags(write=False)
    cube = np.ma.masked_array(data, mask=mask) if kind == "masked" else data
    scene = Scene(cube, nodata=None if kind == "masked" else -9999)
    scene.windows(3)
    assert (data[bad] == -9999).all() and mask.sum() == bad.sum() * 4
    np.testing.assert_array_equal(scene.nodata_mask(), bad)


def test_labeled_windows_and_the_unlabeled_pool_skip_nodata():
    scene, clean, bad = nodata_scene("fill")
    pixels = np.array([[0, 0], [5, 5], [11, 0], [4, 4], [5, 5], [9, 9]])  # (0, 0): border; (5, 5): next to a hole
    X, y, coords = scene.labeled_windows(pixels, 3, values=np.arange(6.0))
    keep = ~naive_touching(bad, 3, pixels - 1)
    np.testing.assert_array_equal(keep, [False, False, True, True, False, True])
    np.testing.assert_array_equal(coords, pixels[keep] - 1)
    np.testing.assert_array_equal(y[:, 0], np.arange(6.0)[keep])  # each value stays with its window
    np.testing.assert_array_equal(X[0], clean[[10, 11, 11]][:, [0, 0, 1]])  # pixel (11, 0): reflected rows, cols
    _, y_t, _ = scene.labeled_windows(pixels, 3)  # labels read from the targets: aligned too
    np.testing.assert_allclose(y_t, scene.targets[pixels[keep, 0], pixels[keep, 1]], rtol=1e-6)
    with pytest.raises(ValueError, match=r"corner \(-1, -1\) touches no-data.*nodata=-9999"):
        scene.labeled_windows(pixels, 3, skip_nodata=False)
    with pytest.raises(ValueError, match="every window touches no-data"):
        scene.labeled_windows([[0, 0]], 3)

    pool = scene.unlabeled_patches(3)
    corners = np.stack(np.meshgrid(np.arange(10), np.arange(12), indexing="ij"), axis=-1).reshape(-1, 2)
    assert len(pool) == (~naive_touching(bad, 3, corners)).sum()
    import torch

    patches, drawn = pool.draw(200, generator=torch.Generator().manual_seed(0))
    assert np.isfinite(patches.numpy()).all() and not naive_touching(bad, 3, drawn).any()
    test_region = np.zeros((10, 12), dtype=bool)
    test_region[:, 6:] = True
    assert len(scene.unlabeled_patches(3, exclude=test_region)) == (
        ~naive_touching(bad, 3, corners) & ~test_region.ravel()).sum()


def test_nodata_errors():
    scene, _, _ = nodata_scene("nan")
    with pytest.raises(TypeError, match="nodata must be None or a real number.*got '-9999'"):
        Scene(scene.cube, nodata="-9999")
    with pytest.raises(TypeError, match="skip_nodata must be True or False"):
        scene.windows(3, skip_nodata="yes")
    with pytest.raises(ValueError, match=r"every window touches no-data.*168 pixels are no-data"):
        Scene(np.full((12, 14, 2), -1.0), nodata=-1).windows(3)
    crop = scene.crop(slice(1, 12), slice(0, 13))  # the no-data border cropped away: the holes remain
    assert crop.nodata_mask().sum() == scene.nodata_mask().sum() - 12 - 14 + 1
    fill, _, _ = nodata_scene("fill")
    assert fill.crop(slice(1, 12)).nodata == -9999 and fill.drop_bad_bands().nodata == -9999
    # masked targets are NaN: an error where a window is kept, never a value read under the mask
    targets = np.ma.masked_array(np.ones((12, 14)), mask=np.zeros((12, 14), dtype=bool))
    targets[5, 5] = np.ma.masked
    with pytest.raises(ValueError, match="targets contain NaN"):
        Scene(scene.cube, targets=targets).windows(3)
    assert Scene(scene.cube, targets=targets).windows(3, positions=[[1, 1]])[1][0, 0] == 1
