"""predict_map: equal to a per-pixel loop, bounded batches, window size discovery, errors."""

import numpy as np
import pytest
from conftest import NODATA_KINDS, naive_touching, nodata_scene
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import make_pipeline

from hyperspectral_cl import MeanSpectrum, PatchExtractor
from hyperspectral_cl.datasets import Scene, make_synthetic_scene
from hyperspectral_cl.mapping import predict_map


class WindowProbe(RegressorMixin, BaseEstimator):
    """Deterministic and position-sensitive: a weighted sum over the window; records batch sizes."""

    def __init__(self, n_outputs=2):
        self.n_outputs = n_outputs

    def fit(self, X, y=None):
        X = np.asarray(X)
        rng = np.random.default_rng(0)
        self.weights_ = rng.normal(size=(X[0].size, self.n_outputs))
        self.window_shape_ = X.shape[1:3]
        self.calls_ = []
        return self

    def predict(self, X):
        X = np.asarray(X)
        self.calls_.append(X.shape)
        out = X.reshape(len(X), -1) @ self.weights_
        return out[:, 0] if self.n_outputs == 1 else out


def naive_map(model, cube, size, border):
    h, w, _ = cube.shape
    c = size // 2
    padded = np.pad(cube, ((c, size - 1 - c), (c, size - 1 - c), (0, 0)), mode="symmetric")
    out = None
    for i in range(h):
        for j in range(w):
            if border == "valid" and not (c <= i <= h - size + c and c <= j <= w - size + c):
                continue
            pred = np.asarray(model.predict(padded[None, i : i + size, j : j + size]))[0]
            if out is None:
                out = np.full((h, w) + np.shape(pred), np.nan)
            out[i, j] = pred
    return out


@pytest.fixture(scope="module")
def scene():
    return make_synthetic_scene(n_endmembers=3, shape=(13, 17), n_bands=5, smoothness=1.0, random_state=0)


@pytest.mark.parametrize("size", [1, 3, 4, 5])
@pytest.mark.parametrize("border", ["reflect", "valid"])
@pytest.mark.parametrize("batch_size", [1, 7, 40, 4096])
def test_equals_a_per_pixel_loop(scene, size, border, batch_size):
    X, _, _ = scene.windows(size)
    probe = WindowProbe().fit(X)
    got = predict_map(probe, scene, window_size=size, batch_size=batch_size, border=border)
    calls = list(probe.calls_)
    want = naive_map(probe, scene.cube, size, border)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert max(shape[0] for shape in calls) <= batch_size  # never more than batch_size windows
    assert all(shape[1:] == (size, size, 5) for shape in calls)
    n_pixels = 13 * 17 if border == "reflect" else (13 - size + 1) * (17 - size + 1)
    assert sum(shape[0] for shape in calls) == n_pixels  # every window predicted once


def test_mean_spectrum_linear_regression_pipeline(scene):
    X, y, _ = scene.windows(5, label="center", border="reflect")
    model = make_pipeline(MeanSpectrum(), LinearRegression()).fit(X, y)
    got = predict_map(model, scene.cube, window_size=5)
    np.testing.assert_allclose(got, naive_map(model, scene.cube, 5, "reflect"), rtol=1e-6, atol=1e-8)
    # reflect windows cut by Scene.windows are exactly the ones predict_map feeds
    np.testing.assert_allclose(got.reshape(-1, 3), model.predict(X), rtol=1e-6, atol=1e-8)
    assert got.shape == (13, 17, 3) and np.isfinite(got).all()


def test_valid_border_leaves_nan_outside(scene):
    X, _, coords = scene.windows(4)
    model = make_pipeline(MeanSpectrum(), Ridge()).fit(X, np.arange(len(X), dtype=float))
    got = predict_map(model, scene, window_size=4, border="valid")
    assert got.shape == (13, 17)  # 1-D predictions give a 2-D map
    c = 4 // 2
    inside = np.zeros((13, 17), dtype=bool)
    inside[coords[:, 0] + c, coords[:, 1] + c] = True
    assert np.isfinite(got[inside]).all() and np.isnan(got[~inside]).all()
    assert np.isnan(got[:2]).all() and np.isnan(got[-1:]).all()  # size // 2 rows on top, size - 1 - size // 2 below


def test_window_size_from_the_fitted_pipeline(scene):
    X, y, _ = scene.windows(7, stride=2)
    model = make_pipeline(PatchExtractor(5), MeanSpectrumOfPatches(), Ridge()).fit(X, y)
    a = predict_map(model, scene, batch_size=50)  # PatchExtractor.window_shape_ == (7, 7)
    b = predict_map(model, scene, window_size=7, batch_size=50)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="pass window_size"):
        predict_map(make_pipeline(MeanSpectrum(), Ridge()).fit(X, y), scene)


class MeanSpectrumOfPatches(BaseEstimator):
    """(n, 1, B, S, S) -> (n, B), to put a linear model after PatchExtractor."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X).mean(axis=(1, 3, 4))


def test_patches_layout_and_memmap(tmp_path, scene):
    class PatchProbe(BaseEstimator):
        patch_size_ = 3

        def predict(self, X):
            assert X.ndim == 5 and X.shape[1] == 1 and X.shape[2] == 5 and X.shape[3:] == (3, 3)
            return X[:, 0, :, 1, 1]  # the centre pixel's spectrum

    path = tmp_path / "cube.npy"
    np.save(path, scene.cube)
    cube = np.load(path, mmap_mode="r")
    got = predict_map(PatchProbe(), cube, input_layout="patches", batch_size=30)
    np.testing.assert_array_equal(got, scene.cube)


def test_input_is_not_modified_and_integer_cube(scene):
    cube = scene.cube.copy()
    cube.setflags(write=False)
    X, _, _ = scene.windows(3)
    probe = WindowProbe().fit(X)
    predict_map(probe, cube, 3)
    np.testing.assert_array_equal(cube, scene.cube)
    ints = (scene.cube * 1000).astype(np.int16)
    out = predict_map(WindowProbe().fit(X), Scene(ints), 3)
    assert out.dtype == np.float64 and np.isfinite(out).all()


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(window_size=20), ValueError, "larger than the cube"),
        (dict(window_size=0), ValueError, "window_size"),
        (dict(window_size=3, batch_size=0), ValueError, "batch_size"),
        (dict(window_size=3, border="wrap"), ValueError, "border"),
        (dict(window_size=3, input_layout="bsq"), ValueError, "input_layout"),
    ],
)
def test_bad_arguments(scene, kwargs, exc, match):
    X, _, _ = scene.windows(3)
    with pytest.raises(exc, match=match):
        predict_map(WindowProbe().fit(X), scene, **kwargs)


def test_bad_inputs(scene):
    X, _, _ = scene.windows(3)
    probe = WindowProbe().fit(X)
    with pytest.raises(TypeError, match="predict"):
        predict_map(object(), scene, 3)
    with pytest.raises(ValueError, match="3-dimensional"):
        predict_map(probe, scene.cube[0], 3)
    cube = scene.cube.copy()
    cube[9, 4, 2] = np.inf  # not a no-data marker (NaN is: tested below)
    with pytest.raises(ValueError, match=r"infinity in rows 0-12 \(first at pixel \(9, 4\)\); infinity is not a no-data"):
        predict_map(probe, cube, 3)

    class Wrong(BaseEstimator):
        def predict(self, X):
            return np.zeros(len(X) + 1)

    with pytest.raises(ValueError, match="returned shape"):
        predict_map(Wrong(), scene, 3)


def test_a_bare_network_takes_patches(scene):
    from conftest import tiny_net_params

    from hyperspectral_cl import ContrastivePatchRegressor

    X, y, _ = scene.windows(5, border="reflect")
    patches = PatchExtractor(5, standardize=False).fit_transform(X)
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1)).fit(patches, y)
    got = predict_map(net, scene, input_layout="patches", batch_size=100)  # window size from net.patch_size_
    np.testing.assert_allclose(got.reshape(-1, 3), net.predict(patches), rtol=1e-5, atol=1e-6)
    pipe = make_pipeline(PatchExtractor(5), ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=1)))
    pipe.fit(X, y)
    np.testing.assert_allclose(predict_map(pipe, scene).reshape(-1, 3), pipe.predict(X), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- no-data
def expected_nan(bad, size, border):
    """NaN pixels of a map, by loops: the window centred there touches no-data, or (valid) crosses the border."""
    h, w = bad.shape
    c = size // 2
    corners = np.argwhere(np.ones((h, w), dtype=bool)) - c
    out = naive_touching(bad, size, corners).reshape(h, w)
    if border == "valid":
        inside = np.zeros((h, w), dtype=bool)
        inside[c : h - size + 1 + c, c : w - size + 1 + c] = True
        out |= ~inside
    return out


@pytest.mark.parametrize("kind", NODATA_KINDS)
@pytest.mark.parametrize("border", ["reflect", "valid"])
@pytest.mark.parametrize("batch_size", [1, 7, 4096])
def test_nan_exactly_where_a_window_touches_nodata(kind, border, batch_size):
    scene, clean, bad = nodata_scene(kind)
    X, y, _ = scene.windows(3)  # trained on the valid windows only
    model = make_pipeline(MeanSpectrum(), Ridge()).fit(X, y)
    got = predict_map(model, scene, window_size=3, batch_size=batch_size, border=border)
    want = predict_map(model, clean, window_size=3, batch_size=batch_size, border=border)
    nan = expected_nan(bad, 3, border)
    assert got.shape == (12, 14, 2) and 0 < nan.sum() < nan.size
    np.testing.assert_array_equal(np.isnan(got), np.repeat(nan[..., None], 2, axis=-1))  # every target
    np.testing.assert_allclose(got[~nan], want[~nan], rtol=1e-12, atol=1e-14)  # as on the clean scene
    assert np.isnan(got[bad]).all()  # no-data pixels' own outputs
    # only the windows free of no-data reach predict, in batches of at most batch_size
    probe = WindowProbe().fit(X)
    mapped = predict_map(probe, scene, window_size=3, batch_size=batch_size, border=border)
    assert sum(shape[0] for shape in probe.calls_) == (~nan).sum()
    assert max(shape[0] for shape in probe.calls_) <= batch_size
    np.testing.assert_allclose(mapped[~nan], naive_map(probe, clean, 3, border)[~nan], rtol=1e-10)


@pytest.mark.parametrize("kind", NODATA_KINDS)
def test_values_under_nodata_never_matter(kind):
    maps = []
    for fill in (-9999.0, 1e30):
        scene, _, _ = nodata_scene(kind, fill=fill)
        X, y, _ = scene.windows(3)
        model = make_pipeline(MeanSpectrum(), Ridge()).fit(X, y)
        maps.append(predict_map(model, scene, window_size=3, batch_size=30))
    np.testing.assert_array_equal(maps[0], maps[1])


def test_bare_masked_or_filled_cubes_read_only():
    scene, clean, bad = nodata_scene("nan")
    X, y, _ = scene.windows(3)
    model = make_pipeline(MeanSpectrum(), Ridge()).fit(X, y)
    want = predict_map(model, scene, window_size=3, batch_size=20)
    entries = np.broadcast_to(bad[..., None], clean.shape)
    data = np.where(entries, -9999.0, clean).astype(np.float32)
    mask = entries.copy()
    data.setflags(write=False)
    mask.setflags(write=False)
    before = data.copy()
    masked = predict_map(model, np.ma.masked_array(data, mask=mask), window_size=3, batch_size=20)
    filled = predict_map(model, data, window_size=3, batch_size=20, nodata=-9999)
    declared = predict_map(model, Scene(data, nodata=-9999), window_size=3, batch_size=20)
    overridden = predict_map(model, Scene(data, nodata=0), window_size=3, batch_size=20, nodata=-9999)
    for got in (masked, filled, declared, overridden):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)  # float32 cube
    np.testing.assert_array_equal(data, before)
    # the patches layout: a probe returning the centre pixel gives the cube back where windows are valid
    class PatchProbe(BaseEstimator):
        patch_size_ = 3

        def predict(self, X):
            assert X.ndim == 5 and X.shape[1:3] == (1, 4) and np.isfinite(X).all()
            return X[:, 0, :, 1, 1]

    got = predict_map(PatchProbe(), np.ma.masked_array(data, mask=mask), input_layout="patches", batch_size=9)
    nan = expected_nan(bad, 3, "reflect")
    np.testing.assert_array_equal(got[~nan], data[~nan])
    assert np.isnan(got[nan]).all()


def test_every_window_touching_nodata_is_an_error():
    X, y, _ = make_synthetic_scene(n_endmembers=2, shape=(6, 6), n_bands=3, random_state=0).windows(3)
    model = make_pipeline(MeanSpectrum(), Ridge()).fit(X, y)
    cube = np.random.default_rng(0).random((6, 6, 3))
    cube[::2, ::2, 0] = np.nan  # every 3 x 3 window holds one
    with pytest.raises(ValueError, match=r"every window of the 6 x 6 scene touches no-data"):
        predict_map(model, cube, window_size=3)
    with pytest.raises(TypeError, match="nodata must be None or a real number"):
        predict_map(model, cube, window_size=3, nodata="-9999")
