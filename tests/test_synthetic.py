import numpy as np
import pytest

from hyperspectral_cl.datasets import Scene, make_endmembers, make_synthetic_scene


def test_scene_is_reproducible_and_abundances_on_simplex():
    a = make_synthetic_scene(shape=(12, 10), n_bands=20, random_state=1)
    b = make_synthetic_scene(shape=(12, 10), n_bands=20, random_state=1)
    np.testing.assert_array_equal(a.cube, b.cube)
    assert a.cube.shape == (12, 10, 20) and a.targets.shape == (12, 10, 4)
    assert (a.targets >= 0).all()
    np.testing.assert_allclose(a.targets.sum(-1), 1.0, rtol=1e-5)


def test_linear_noiseless_mixing_is_exact():
    M = np.abs(np.random.default_rng(0).random((8, 3)))
    s = make_synthetic_scene(shape=(5, 6), endmembers=M, mixing="linear", snr_db=None, spatial_pattern=None,
                             random_state=0)
    np.testing.assert_allclose(s.cube, s.targets @ M.T, rtol=1e-5)
    ppnm = make_synthetic_scene(shape=(5, 6), endmembers=M, mixing="ppnm", snr_db=None, spatial_pattern=None,
                                random_state=0)
    lin = ppnm.targets @ M.T
    np.testing.assert_allclose(ppnm.cube, lin + lin * lin, rtol=1e-5)


def test_snr_is_as_requested():
    M = np.random.default_rng(0).random((50, 3))
    clean = make_synthetic_scene(shape=(30, 30), endmembers=M, snr_db=None, spatial_pattern=None, random_state=0)
    noisy = make_synthetic_scene(shape=(30, 30), endmembers=M, snr_db=10.0, spatial_pattern=None, random_state=0)
    noise = noisy.cube - clean.cube
    snr = 10 * np.log10(np.mean(clean.cube.astype(float) ** 2) / np.mean(noise.astype(float) ** 2))
    assert abs(snr - 10.0) < 0.2


def test_smoothness_keeps_simplex_and_reduces_variation():
    rough = make_synthetic_scene(shape=(30, 30), n_bands=5, random_state=0)
    smooth = make_synthetic_scene(shape=(30, 30), n_bands=5, smoothness=3.0, random_state=0)
    np.testing.assert_allclose(smooth.targets.sum(-1), 1.0, rtol=1e-5)
    assert np.abs(np.diff(smooth.targets, axis=0)).mean() < 0.5 * np.abs(np.diff(rough.targets, axis=0)).mean()


def test_endmembers_are_plausible_reflectances():
    M = make_endmembers(6, np.linspace(400, 2500, 100), random_state=0)
    assert M.shape == (100, 6) and (M >= 0.01).all() and (M <= 0.95).all()
    assert np.abs(np.diff(M, axis=0)).max() < 0.2  # smooth spectra


def test_bad_arguments():
    with pytest.raises(ValueError, match="mixing"):
        make_synthetic_scene(mixing="bilinear")
    with pytest.raises(ValueError, match="dirichlet_alpha"):
        make_synthetic_scene(shape=(4, 4), n_bands=3, dirichlet_alpha=0)
    with pytest.raises(ValueError, match="cube must have shape"):
        Scene(cube=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="targets"):
        Scene(cube=np.zeros((3, 3, 2)), targets=np.zeros((2, 3, 1)))
