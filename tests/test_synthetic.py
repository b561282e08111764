import numpy as np
import pytest
from conftest import SHARED_DATA

from hyperspectral_cl.datasets import Scene, SpectralLibrary, load_usgs_library, make_endmembers, make_synthetic_scene


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


# ---------------------------------------------------------------- endmember sources, large scenes
USGS_MAT = SHARED_DATA / "usgs_library" / "USGS_1995_Library.mat"


def toy_library(n=6, n_bands=30):
    wl = np.linspace(400, 2500, n_bands)
    return SpectralLibrary(wl, make_endmembers(n, wl, random_state=1).T, [f"mineral {k}" for k in range(n)])


def test_endmembers_drawn_from_a_library_are_named_and_seeded():
    lib = toy_library()
    a = make_synthetic_scene(3, shape=(6, 5), endmembers=lib, random_state=4)
    b = make_synthetic_scene(3, shape=(6, 5), endmembers=lib, random_state=4)
    assert a.target_names == b.target_names and len(set(a.target_names)) == 3
    assert set(a.target_names) <= set(lib.names)
    idx = [lib.names.index(n) for n in a.target_names]
    np.testing.assert_array_equal(a.endmembers, lib.spectra[idx].T)
    np.testing.assert_array_equal(a.wavelengths, lib.wavelengths)
    assert a.metadata["endmember_source"] == "library"
    draws = {tuple(make_synthetic_scene(3, shape=(2, 2), endmembers=lib, random_state=s).target_names)
             for s in range(8)}
    assert len(draws) > 1  # the seed changes the draw


def test_library_selection_fixes_the_endmembers_and_resampling():
    lib = toy_library()
    chosen = lib.select(["mineral 4", "mineral 1"])
    s = make_synthetic_scene(2, shape=(4, 4), endmembers=chosen, random_state=0)
    assert s.target_names == ["mineral 4", "mineral 1"]
    wl = np.linspace(450, 2400, 12)
    r = make_synthetic_scene(2, shape=(4, 4), endmembers=chosen, wavelengths=wl, random_state=0)
    assert r.cube.shape == (4, 4, 12)
    np.testing.assert_allclose(r.endmembers[:, 0], np.interp(wl, lib.wavelengths, lib.spectra[4]))
    with pytest.raises(ValueError, match="cannot draw 7"):
        make_synthetic_scene(7, endmembers=lib)
    with pytest.raises(ValueError, match="outside the library"):
        make_synthetic_scene(2, endmembers=lib, wavelengths=np.linspace(300, 900, 5))


def test_block_wise_generation_equals_the_whole_cube_formula():
    # 300 bands x 256 columns: the generator works in blocks of 54 rows here
    M = make_endmembers(3, np.linspace(400, 2500, 300), random_state=0)
    s = make_synthetic_scene(shape=(120, 256), endmembers=M, snr_db=None, random_state=0)
    lin = s.targets.astype(np.float64) @ M.T
    r = (np.arange(120) - 59.5)[:, None]
    c = (np.arange(256) - 127.5)[None, :]
    pattern = np.exp(-(r**2 + c**2) / (2 * (0.5 * 256) ** 2))[:, :, None]
    np.testing.assert_allclose(s.cube, (lin + lin * lin) * pattern, rtol=2e-5)
    noisy = make_synthetic_scene(shape=(120, 256), endmembers=M, snr_db=15.0, spatial_pattern=None, random_state=0)
    clean = make_synthetic_scene(shape=(120, 256), endmembers=M, snr_db=None, spatial_pattern=None, random_state=0)
    noise = noisy.cube.astype(float) - clean.cube
    assert abs(10 * np.log10(np.mean(clean.cube.astype(float) ** 2) / np.mean(noise**2)) - 15.0) < 0.05
    assert abs(noise[:60].std() / noise[60:].std() - 1) < 0.02  # the same noise level in every block


def test_non_finite_endmember_matrix_is_refused():
    M = np.ones((5, 2))
    M[1, 1] = np.nan
    with pytest.raises(ValueError, match="endmembers contain NaN"):
        make_synthetic_scene(shape=(3, 3), endmembers=M)


@pytest.mark.shared_data
@pytest.mark.skipif(not USGS_MAT.is_file(), reason="needs ../shared/data/usgs_library")
def test_paper_protocol_with_usgs_spectra():
    lib = load_usgs_library(USGS_MAT)
    s = make_synthetic_scene(4, shape=(20, 20), endmembers=lib, random_state=0)
    assert s.cube.shape == (20, 20, 224) and len(s.target_names) == 4
    assert all(name in lib.names for name in s.target_names)
    assert 380 < s.wavelengths[0] < s.wavelengths[-1] < 2510 and np.all(np.diff(s.wavelengths) > 0)
