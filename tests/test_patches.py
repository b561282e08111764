import numpy as np
import pytest
from conftest import NODATA_KINDS, nodata_scene
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from hyperspectral_cl import MeanSpectrum, PatchExtractor


def test_patch_extractor_crops_centre_and_lays_out_for_conv3d(rng):
    X = rng.random((5, 9, 8, 6))
    out = PatchExtractor(patch_size=4, standardize=False).fit_transform(X)
    assert out.shape == (5, 1, 6, 4, 4) and out.dtype == np.float32
    # offset (9-4)//2 = 2 rows, (8-4)//2 = 2 cols; out[n, 0, b, i, j] == X[n, 2+i, 2+j, b]
    np.testing.assert_allclose(out[3, 0, 1, 0, 3], X[3, 2, 5, 1], rtol=1e-6)
    np.testing.assert_allclose(out[:, 0], X[:, 2:6, 2:6, :].transpose(0, 3, 1, 2), rtol=1e-6)


def test_odd_window_and_patch_share_centre(rng):
    X = rng.random((2, 11, 11, 3))
    out = PatchExtractor(patch_size=5, standardize=False).fit_transform(X)
    np.testing.assert_allclose(out[:, 0, :, 2, 2], X[:, 5, 5, :], rtol=1e-6)


def test_standardisation_uses_fit_statistics_only(rng):
    Xtr = rng.normal(3.0, 2.0, size=(50, 6, 6, 4))
    Xte = rng.normal(10.0, 5.0, size=(10, 6, 6, 4))
    pe = PatchExtractor(patch_size=4, standardize=True).fit(Xtr)
    crop = Xtr[:, 1:5, 1:5, :].reshape(-1, 4)
    np.testing.assert_allclose(pe.mean_, crop.mean(0), rtol=1e-5)
    np.testing.assert_allclose(pe.scale_, crop.std(0), rtol=1e-5)
    out_tr = pe.transform(Xtr)
    np.testing.assert_allclose(out_tr.mean(axis=(0, 1, 3, 4)), 0, atol=1e-5)
    np.testing.assert_allclose(out_tr.std(axis=(0, 1, 3, 4)), 1, atol=1e-4)
    # test data is scaled with the training statistics, not its own
    expected = (Xte[:, 1:5, 1:5, :] - crop.mean(0)) / crop.std(0)
    np.testing.assert_allclose(pe.transform(Xte)[:, 0], expected.transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-4)


def test_constant_band_is_centred_not_divided_by_zero(rng):
    X = rng.random((8, 5, 5, 3))
    X[..., 1] = 7.0
    out = PatchExtractor(patch_size=5, standardize=True).fit_transform(X)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[:, 0, 1], 0.0, atol=1e-6)


def test_spectrum_norm_l2(rng):
    X = rng.random((4, 5, 5, 6)) + 0.1
    out = PatchExtractor(patch_size=3, spectrum_norm="l2", standardize=False).fit_transform(X)
    np.testing.assert_allclose(np.linalg.norm(out, axis=2), 1.0, rtol=1e-5)
    # a multiplicative illumination factor per pixel disappears
    scaled = X * rng.uniform(0.2, 5.0, size=(4, 5, 5, 1))
    pe = PatchExtractor(patch_size=3, spectrum_norm="l2").fit(X)
    np.testing.assert_allclose(pe.transform(scaled), pe.transform(X), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="spectrum_norm"):
        PatchExtractor(spectrum_norm="l1").fit(X)


def test_input_not_modified_and_output_is_a_copy(rng):
    X = rng.random((4, 6, 6, 3)).astype(np.float32)
    before = X.copy()
    pe = PatchExtractor(patch_size=6, standardize=False).fit(X)
    out = pe.transform(X)
    out += 100
    np.testing.assert_array_equal(X, before)
    PatchExtractor(patch_size=4, spectrum_norm="l2").fit_transform(X)
    np.testing.assert_array_equal(X, before)


def test_fit_records_shape_and_rejects_band_mismatch(rng):
    pe = PatchExtractor(patch_size=3).fit(rng.random((4, 5, 6, 7)))
    assert pe.n_bands_in_ == 7 and pe.window_shape_ == (5, 6)
    with pytest.raises(ValueError, match="X has 8 bands but PatchExtractor was fitted on 7"):
        pe.transform(rng.random((4, 5, 6, 8)))


@pytest.mark.parametrize(
    "X,match",
    [
        (np.zeros((4, 5, 5)), "X must be 4-dimensional"),
        (np.zeros((4, 1, 5, 5, 5)), "X must be 4-dimensional"),
        (np.zeros((4, 3, 3, 2)), "patch_size=4 is larger than the windows"),
        (np.zeros((0, 5, 5, 2)), "empty"),
        (np.full((2, 5, 5, 2), np.nan), "NaN or infinity"),
        (np.full((2, 5, 5, 2), np.inf), "NaN or infinity"),
    ],
)
def test_bad_input_errors(X, match):
    with pytest.raises(ValueError, match=match):
        PatchExtractor(patch_size=4).fit(X)


@pytest.mark.parametrize("size,exc", [(0, ValueError), (-3, ValueError), (2.5, TypeError), ("4", TypeError)])
def test_bad_patch_size(size, exc):
    with pytest.raises(exc, match="patch_size"):
        PatchExtractor(patch_size=size).fit(np.zeros((2, 5, 5, 2)))


def test_not_fitted_and_clone():
    pe = PatchExtractor(patch_size=3, spectrum_norm="l2", standardize=False)
    with pytest.raises(NotFittedError):
        pe.transform(np.zeros((1, 3, 3, 2)))
    c = clone(pe)
    assert c.get_params() == pe.get_params()


def test_mean_spectrum(rng):
    X = rng.random((6, 4, 5, 3))
    np.testing.assert_allclose(MeanSpectrum().fit_transform(X), X.mean(axis=(1, 2)))
    normed = MeanSpectrum(normalize=True).fit_transform(X)
    np.testing.assert_allclose(np.linalg.norm(normed, axis=1), 1.0)
    with pytest.raises(ValueError, match="bands"):
        MeanSpectrum().fit(X).transform(rng.random((6, 4, 5, 4)))


def test_mean_spectrum_feature_names_and_pandas_output(rng):
    X = rng.random((6, 3, 3, 4))
    with pytest.raises(NotFittedError):
        MeanSpectrum().get_feature_names_out()
    ms = MeanSpectrum(normalize=True).fit(X)
    names = ms.get_feature_names_out()
    assert names.dtype == object and list(names) == ["band0", "band1", "band2", "band3"]
    assert list(ms.get_feature_names_out([f"f{i}" for i in range(4)])) == list(names)  # only the length counts
    with pytest.raises(ValueError, match="input_features should have length equal"):
        ms.get_feature_names_out(["a", "b"])
    df = clone(ms).set_output(transform="pandas").fit_transform(X)
    assert list(df.columns) == list(names)
    np.testing.assert_allclose(df.to_numpy(), ms.transform(X))
    assert isinstance(ms.transform(X), np.ndarray)  # the default output is unchanged


# ----------------------------------------------------------------------------- no-data
def valid_crops(clean, bad, size, patch_size):
    """Centre crops of every window free of no-data, by loops: the pixels statistics must come from."""
    top = (size - patch_size) // 2
    crops = [clean[r + top : r + top + patch_size, c + top : c + top + patch_size]
             for r in range(clean.shape[0] - size + 1) for c in range(clean.shape[1] - size + 1)
             if not bad[r : r + size, c : c + size].any()]
    return np.array(crops)


@pytest.mark.parametrize("kind", NODATA_KINDS)
def test_statistics_come_from_valid_pixels_only(kind):
    fitted = []
    for fill in (-9999.0, 1e30):  # the values under no-data change: nothing else may
        scene, clean, bad = nodata_scene(kind, fill=fill)
        X, y, _ = scene.windows(5)
        pe = PatchExtractor(3, standardize=True).fit(X)
        pe_l2 = PatchExtractor(3, spectrum_norm="l2", standardize=True).fit(X)
        ms = MeanSpectrum(normalize=True).fit(X)
        fitted.append((pe.mean_, pe.scale_, pe_l2.mean_, pe_l2.scale_, pe.transform(X), ms.transform(X)))
    crops = valid_crops(clean, bad, 5, 3)
    assert 0 < len(crops) < (12 - 5 + 1) * (14 - 5 + 1)
    pixels = crops.reshape(-1, 4)
    np.testing.assert_allclose(fitted[0][0], pixels.mean(0), rtol=1e-5)
    np.testing.assert_allclose(fitted[0][1], pixels.std(0), rtol=1e-5)
    unit = pixels / np.linalg.norm(pixels, axis=1, keepdims=True)
    np.testing.assert_allclose(fitted[0][2], unit.mean(0), rtol=1e-5)
    np.testing.assert_allclose(fitted[0][3], unit.std(0), rtol=1e-5)
    windows = valid_crops(clean, bad, 5, 5)
    means = windows.mean(axis=(1, 2))
    np.testing.assert_allclose(fitted[0][5], means / np.linalg.norm(means, axis=1, keepdims=True), rtol=1e-10)
    for a, b in zip(*fitted, strict=True):
        np.testing.assert_array_equal(a, b)


def test_masked_or_nan_windows_are_refused_naming_the_rows(rng):
    data = rng.random((6, 5, 5, 3))
    data[1, 0, 0] = data[4, 2, 3, 1] = -9999.0  # fill values under the mask, one outside the 3 x 3 crop
    mask = data == -9999.0
    data.setflags(write=False)
    mask.setflags(write=False)
    masked = np.ma.masked_array(data, mask=mask)
    message = r"X contains NaN or infinity in 2 of 6 windows \(rows 1, 4\); NaN marks no-data \(so do a masked"
    for call in (lambda X: PatchExtractor(3, standardize=True).fit(X), lambda X: MeanSpectrum().fit(X),
                 lambda X: PatchExtractor(3).fit(data).transform(X), lambda X: MeanSpectrum().fit(data).transform(X)):
        for X in (masked, np.where(mask, np.nan, data)):
            with pytest.raises(ValueError, match=message):
                call(X)
    assert (data[mask] == -9999.0).all() and mask.sum() == 4  # the inputs are untouched
    # a masked array without masked entries is its data
    clear = np.ma.masked_array(data, mask=np.zeros_like(mask))
    np.testing.assert_array_equal(PatchExtractor(3, standardize=True).fit_transform(clear),
                                  PatchExtractor(3, standardize=True).fit_transform(data))
    np.testing.assert_array_equal(MeanSpectrum().fit_transform(clear), data.mean(axis=(1, 2)))


@pytest.mark.parametrize("value", [1e20, 3e38, 1e-40, 1e-3])
def test_l2_spectra_have_unit_norm_at_any_scale(value):
    # squares of float32 values near 1e20 overflow and those of denormals underflow: every non-zero
    # spectrum must still come out with norm 1
    X = np.full((2, 5, 5, 8), value, np.float32)
    P = PatchExtractor(5, spectrum_norm="l2").fit_transform(X)
    np.testing.assert_allclose(np.linalg.norm(P[:, 0].astype(np.float64), axis=1), 1.0, rtol=1e-5)


def test_common_mix_ups_say_how_to_fix_them(scene):
    X, y, _ = scene.windows(5)
    with pytest.raises(ValueError, match=r"got shape \(20, 20, 16\); this looks like one image cube .*extract_windows"):
        PatchExtractor(5).fit(scene.cube)
    patches = PatchExtractor(5).fit_transform(X)
    with pytest.raises(ValueError, match=r"this looks like patches .*pass the windows"):
        PatchExtractor(5).fit(patches)
