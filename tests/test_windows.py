"""windows.py: extract_windows against naive loops, its errors, and no-data on a bare cube."""

import numpy as np
import pytest
from conftest import NODATA_KINDS, nodata_scene

from hyperspectral_cl import extract_windows


def naive_windows(cube, targets, size, stride, label):
    X, y, coords = [], [], []
    for r in range(0, cube.shape[0] - size + 1, stride):
        for c in range(0, cube.shape[1] - size + 1, stride):
            X.append(cube[r : r + size, c : c + size])
            t = targets[r : r + size, c : c + size]
            y.append(t.reshape(-1, t.shape[-1]).mean(0) if label == "mean" else targets[r + size // 2, c + size // 2])
            coords.append((r, c))
    return np.array(X), np.array(y), np.array(coords)


@pytest.mark.parametrize("size,stride,label", [(3, 1, "mean"), (4, 2, "center"), (5, 3, "mean"), (2, 1, "center")])
def test_extract_windows_matches_naive_loops(rng, size, stride, label):
    cube = rng.random((9, 11, 4))
    targets = rng.random((9, 11, 2))
    X, y, coords = extract_windows(cube, targets, size=size, stride=stride, label=label)
    Xn, yn, cn = naive_windows(cube, targets, size, stride, label)
    np.testing.assert_array_equal(X, Xn)
    np.testing.assert_allclose(y, yn, rtol=1e-6)
    np.testing.assert_array_equal(coords, cn)


def test_extract_windows_2d_targets_and_errors(rng):
    cube = rng.random((6, 6, 3))
    _, y, _ = extract_windows(cube, rng.random((6, 6)), size=3)
    assert y.shape == (16, 1)
    X, y, _ = extract_windows(cube, None, size=6)
    assert X.shape == (1, 6, 6, 3) and y is None
    with pytest.raises(ValueError, match="larger than the cube"):
        extract_windows(cube, size=7)
    with pytest.raises(ValueError, match="cube must be 3-dimensional"):
        extract_windows(cube[0], size=2)
    with pytest.raises(ValueError, match="targets must have shape"):
        extract_windows(cube, rng.random((5, 6)), size=2)
    with pytest.raises(ValueError, match="label"):
        extract_windows(cube, rng.random((6, 6)), size=2, label="median")


# ----------------------------------------------------------------------------- no-data
@pytest.mark.parametrize("kind", NODATA_KINDS)
def test_extract_windows_on_a_bare_cube_follows_the_scene(kind):
    from hyperspectral_cl.windows import nodata_pixels

    scene, clean, bad = nodata_scene(kind)
    entries = np.broadcast_to(bad[..., None], clean.shape)
    filled = np.where(entries, -9999.0, clean)
    cube = {"nan": np.where(entries, np.nan, clean), "masked": np.ma.masked_array(filled, entries),
            "fill": filled}[kind]
    nodata = -9999 if kind == "fill" else None
    np.testing.assert_array_equal(nodata_pixels(cube, nodata), bad)
    for border in ("valid", "reflect"):
        got = extract_windows(cube, scene.targets, size=4, stride=2, border=border, nodata=nodata)
        want = scene.windows(4, stride=2, border=border)
        for u, v in zip(got, want, strict=True):
            np.testing.assert_array_equal(u, v)
