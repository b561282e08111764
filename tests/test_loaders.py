"""Loaders: Samson .mat layouts, USGS libraries (.mat, ENVI .sli), ENVI images, generic .mat cubes.

Real files under ../shared/data are used when present (skipped otherwise); small
files written here cover the layouts and the malformed cases.
"""

import sys

import numpy as np
import pytest
from conftest import SHARED_DATA
from scipy.io import savemat

from hyperspectral_cl.datasets import (
    Scene,
    load_envi,
    load_mat_cube,
    load_samson,
    load_usgs_library,
    read_envi_header,
    unflatten_pixels,
)

SAMSON = SHARED_DATA / "samson"
USGS = SHARED_DATA / "usgs_library"
needs_samson = pytest.mark.skipif(not (SAMSON / "samson_1.mat").is_file(), reason="needs ../shared/data/samson")
needs_usgs = pytest.mark.skipif(not (USGS / "USGS_1995_Library.mat").is_file(),
                                reason="needs ../shared/data/usgs_library")


# ------------------------------------------------------------------------------------------ real files
@pytest.mark.shared_data
@needs_samson
def test_three_samson_copies_agree():
    palsson = load_samson(SAMSON / "Samson_palsson_hu_autoencoders.mat")  # Y, S_GT image, GT (3 x 156)
    cycunet = load_samson(SAMSON / "samson_dataset_cycunet.mat")  # Y, A (3 x 9025), M
    paired = load_samson(SAMSON / "samson_1.mat", ground_truth=SAMSON / "Samson_GT_sunning.mat")  # V + XT, M
    for other in (cycunet, paired):
        np.testing.assert_array_equal(other.cube, palsson.cube)
        np.testing.assert_array_equal(other.targets, palsson.targets)
        np.testing.assert_array_equal(other.endmembers, palsson.endmembers)
    assert palsson.shape == (95, 95, 156) and palsson.targets.shape == (95, 95, 3)
    assert palsson.target_names == ["soil", "tree", "water"] and palsson.endmembers.shape == (156, 3)
    np.testing.assert_allclose(palsson.targets.sum(-1), 1.0, atol=1e-5)
    assert paired.metadata["abundances"] == "Samson_GT_sunning.mat:XT"


@pytest.mark.shared_data
@needs_samson
def test_samson_orientation_is_matlab_column_major():
    from scipy.io import loadmat

    raw = loadmat(SAMSON / "samson_1.mat")["V"]
    scene = load_samson(SAMSON / "samson_1.mat", ground_truth=SAMSON / "Samson_GT_sunning.mat",
                        wavelengths=SAMSON / "samson_wavelengths_nm_envi_header.csv")
    # pixel k of V is (row k % 95, column k // 95)
    for k in (0, 1, 95, 4000, 9024):
        np.testing.assert_allclose(scene.cube[k % 95, k // 95], raw[:, k], rtol=1e-6)
    s_gt = loadmat(SAMSON / "Samson_palsson_hu_autoencoders.mat")["S_GT"]
    np.testing.assert_allclose(scene.targets, s_gt, rtol=1e-6)
    # the purest water pixel is dark in the near infrared, the purest tree pixel bright (red edge)
    water = np.unravel_index(np.argmax(scene.targets[:, :, 2]), (95, 95))
    tree = np.unravel_index(np.argmax(scene.targets[:, :, 1]), (95, 95))
    nir = scene.wavelengths > 800
    assert scene.cube[water][nir].mean() < 0.3 * scene.cube[tree][nir].mean()
    np.testing.assert_array_equal(load_mat_cube(SAMSON / "samson_1.mat", "V"), scene.cube)


@pytest.mark.shared_data
@needs_samson
def test_samson_folder_and_wavelengths():
    scene = load_samson(SAMSON)
    assert scene.targets is not None and scene.shape == (95, 95, 156)
    assert scene.metadata["wavelengths"] == "samson_wavelengths_nm_envi_header.csv"
    assert 400 < scene.wavelengths[0] < 402 and 898 < scene.wavelengths[-1] < 900  # ENVI header values
    alone = load_samson(SAMSON / "samson_1.mat")  # no ground truth in that file
    assert alone.targets is None and alone.wavelengths is None
    uniform = load_samson(SAMSON / "samson_1.mat", wavelengths=SAMSON / "Wavelengths_deeptrans_hsu.mat")
    np.testing.assert_allclose(uniform.wavelengths, np.linspace(401, 889, 156), atol=1e-6)


@pytest.mark.shared_data
@needs_usgs
def test_usgs_1995_mat_is_sorted_and_complete():
    from scipy.io import loadmat

    lib = load_usgs_library(USGS / "USGS_1995_Library.mat")
    assert lib.spectra.shape == (498, 224) and len(lib.names) == 498
    assert np.all(np.diff(lib.wavelengths) > 0) and 383 < lib.wavelengths[0] < 384
    assert lib.names[0] == "Acmite NMNH133746" and lib.fwhm.shape == (224,)
    datalib = loadmat(USGS / "USGS_1995_Library.mat")["datalib"]
    order = np.argsort(datalib[:, 0])  # what the MATLAB demos do
    np.testing.assert_array_equal(lib.spectra, datalib[order, 3:].T)
    assert 0.004 < lib.spectra.min() and lib.spectra.max() < 1.02


@pytest.mark.shared_data
@needs_usgs
def test_envi_libraries_skip_deleted_channels_and_auxiliary_records():
    s06 = load_usgs_library(USGS / "s06av95a_envi.hdr")
    s07 = load_usgs_library(USGS / "s07_AV95_envi.sli")
    lib95 = load_usgs_library(USGS / "USGS_1995_Library.mat")
    assert len(s06) == 591 and s06.metadata["n_incomplete"] == 774
    assert len(s07) == 560 and s07.metadata["n_auxiliary"] == 682  # wavelength + FWHM + 680 error bars
    assert not any("error bars" in n.lower() for n in s07.names)
    for lib in (s06, s07):
        assert np.isfinite(lib.spectra).all() and lib.spectra.min() > 0
        np.testing.assert_allclose(lib.wavelengths, lib95.wavelengths, atol=1e-3)
    for key in ("Alunite GDS84", "Kaolinite CM9", "Calcite WS272"):
        a = lib95.spectra[lib95.find(key)[0]]
        b = s06.spectra[s06.find(key)[0]]
        assert np.abs(a - b).max() < 0.02
    full = load_usgs_library(USGS / "s06av95a_envi.hdr", keep_incomplete=True)
    assert len(full) == 1365 and np.isnan(full.spectra).any(axis=1).sum() == 774


# ------------------------------------------------------------------------------------ Samson layouts
@pytest.fixture
def tiny_truth(rng):
    cube = rng.random((4, 6, 5))  # non-square on purpose: a C/F mix-up cannot pass
    A = rng.dirichlet(np.ones(3), size=(4, 6))
    M = rng.random((5, 3))
    Y = cube.reshape(24, 5, order="F").T  # MATLAB bands x pixels, column-major
    return cube, A, M, Y, A.reshape(24, 3, order="F").T


def test_samson_layout_Y_A_M_with_dims(tmp_path, tiny_truth):
    cube, A, M, Y, A_flat = tiny_truth
    savemat(tmp_path / "s.mat", {"Y": Y, "A": A_flat, "M": M, "nRow": 4, "nCol": 6, "M1": M * 0})
    scene = load_samson(tmp_path / "s.mat")
    np.testing.assert_allclose(scene.cube, cube, rtol=1e-6)
    np.testing.assert_allclose(scene.targets, A, rtol=1e-6)
    np.testing.assert_array_equal(scene.endmembers, M)  # M, not the initialisation M1
    assert scene.cube.dtype == np.float32 and scene.cube.flags.c_contiguous
    assert scene.target_names == ["soil", "tree", "water"]


def test_samson_layout_image_ground_truth_and_pairs(tmp_path, tiny_truth):
    cube, A, M, Y, A_flat = tiny_truth
    savemat(tmp_path / "pal.mat", {"Y": Y, "S_GT": A, "GT": M.T})  # dims from the S_GT image
    np.testing.assert_allclose(load_samson(tmp_path / "pal.mat").cube, cube, rtol=1e-6)
    savemat(tmp_path / "data.mat", {"V": Y, "nRow": 4, "nCol": 6})
    savemat(tmp_path / "gt.mat", {"XT": A_flat, "M": M})
    paired = load_samson(tmp_path / "data.mat", ground_truth=tmp_path / "gt.mat")
    np.testing.assert_allclose(paired.targets, A, rtol=1e-6)
    np.testing.assert_allclose(paired.endmembers, M)
    # a folder: the file with data and abundances wins
    scene = load_samson(tmp_path, wavelengths=np.arange(5.0))
    assert scene.metadata["data"].startswith("pal.mat") and scene.wavelengths.tolist() == [0, 1, 2, 3, 4]
    # row-major files
    savemat(tmp_path / "c.mat", {"Y": cube.reshape(24, 5).T, "A": A.reshape(24, 3).T, "lines": 4, "cols": 6})
    np.testing.assert_allclose(load_samson(tmp_path / "c.mat", order="C").targets, A, rtol=1e-6)


def test_samson_folder_pairs_data_and_ground_truth_files(tmp_path, tiny_truth):
    cube, A, M, Y, A_flat = tiny_truth
    savemat(tmp_path / "a_gt.mat", {"XT": A_flat, "M": M})
    savemat(tmp_path / "b_data.mat", {"V": Y, "nRow": 4, "nCol": 6})
    np.savetxt(tmp_path / "my_wavelengths.csv", np.c_[np.arange(5), np.linspace(0.4, 0.9, 5)], delimiter=",",
               header="band,wavelength_um", comments="")
    scene = load_samson(tmp_path)
    np.testing.assert_allclose(scene.targets, A, rtol=1e-6)
    np.testing.assert_allclose(scene.wavelengths, np.linspace(400, 900, 5))  # um -> nm


@pytest.mark.parametrize(
    "variables,match",
    [
        ({"X": np.zeros((5, 24))}, r"expected a variable Y or V .* it holds: X \(5, 24\)"),
        ({"Y": np.zeros((5, 24)), "nRow": 4, "nCol": 5}, r"Y has shape \(5, 24\) but the image is 4 x 5"),
        ({"Y": np.zeros((5, 24))}, "pass shape"),
        ({"Y": np.zeros((5, 24)), "nRow": 4, "nCol": 6, "A": np.zeros((3, 20))}, r"abundances A have shape \(3, 20\)"),
        ({"Y": np.zeros((5, 24)), "nRow": 4, "nCol": 6, "M": np.zeros((7, 3))}, r"endmembers M have shape \(7, 3\)"),
        ({"Y": np.zeros((5, 24)), "S_GT": np.zeros((4, 5, 3)), "nRow": 4, "nCol": 6}, "abundance image S_GT"),
        ({"Y": np.zeros((5, 24)), "nRow": 4, "nCol": 6, "A": np.zeros((3, 24)), "M": np.zeros((5, 2))},
         "2 endmembers"),
        ({"Y": np.zeros((2, 3, 4))}, "bands x pixels matrix"),
    ],
)
def test_malformed_samson_files(tmp_path, variables, match):
    savemat(tmp_path / "bad.mat", variables)
    with pytest.raises(ValueError, match=match):
        load_samson(tmp_path / "bad.mat")


def test_samson_file_errors(tmp_path, tiny_truth):
    _, _, _, Y, _ = tiny_truth
    with pytest.raises(FileNotFoundError, match="not found"):
        load_samson(tmp_path / "nope.mat")
    (tmp_path / "junk.mat").write_bytes(b"this is not a MAT file at all" * 10)
    with pytest.raises(ValueError, match="could not be read as a MATLAB"):
        load_samson(tmp_path / "junk.mat")
    savemat(tmp_path / "d.mat", {"Y": Y, "nRow": 4, "nCol": 6})
    savemat(tmp_path / "gt.mat", {"Q": np.zeros(3)})
    with pytest.raises(ValueError, match="holds no abundances"):
        load_samson(tmp_path / "d.mat", ground_truth=tmp_path / "gt.mat")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no Samson data file"):
        load_samson(empty)


# ---------------------------------------------------------------------------------- generic .mat cube
def test_load_mat_cube_layouts_and_errors(tmp_path, tiny_truth):
    cube, _, _, Y, _ = tiny_truth
    savemat(tmp_path / "one.mat", {"data": Y, "nrow": 4, "ncol": 6})
    np.testing.assert_allclose(load_mat_cube(tmp_path / "one.mat"), cube, rtol=1e-6)  # the only candidate
    np.testing.assert_allclose(load_mat_cube(tmp_path / "one.mat", "data", dtype=np.float64), cube)
    savemat(tmp_path / "pxb.mat", {"Y": Y.T})  # pixels x bands
    np.testing.assert_allclose(load_mat_cube(tmp_path / "pxb.mat", "Y", shape=(4, 6)), cube, rtol=1e-6)
    savemat(tmp_path / "img.mat", {"img": cube, "other": np.ones((3, 3))})  # a 3-D (rows, cols, bands) array
    np.testing.assert_allclose(load_mat_cube(tmp_path / "img.mat", "img"), cube, rtol=1e-6)
    with pytest.raises(ValueError, match=r"pass key= .*\['img', 'other'\]"):
        load_mat_cube(tmp_path / "img.mat")
    with pytest.raises(KeyError, match=r"no variable 'Z'.*img \(4, 6, 5\)"):
        load_mat_cube(tmp_path / "img.mat", "Z")
    with pytest.raises(ValueError, match="pass shape"):
        load_mat_cube(tmp_path / "pxb.mat", "Y")
    with pytest.raises(ValueError, match=r"has shape \(24, 5\), but shape=\(5, 5\) means 25 pixels"):
        load_mat_cube(tmp_path / "pxb.mat", "Y", shape=(5, 5))
    with pytest.raises(ValueError, match="not"):
        load_mat_cube(tmp_path / "img.mat", "img", shape=(6, 4))


def test_unflatten_pixels_orders():
    M = np.arange(12).reshape(2, 6)  # 2 "bands", 6 pixels of a 2 x 3 image
    f = unflatten_pixels(M, (2, 3))
    c = unflatten_pixels(M, (2, 3), order="C")
    assert f[1, 0, 0] == 1 and f[0, 1, 0] == 2  # column-major: down the first column first
    assert c[0, 1, 0] == 1 and c[1, 0, 0] == 3
    with pytest.raises(ValueError, match="order"):
        unflatten_pixels(M, (2, 3), order="A")


# ------------------------------------------------------------------------------------- ENVI libraries
def write_envi_library(folder, spectra, names, wavelengths_um, *, dtype=">f4", byte_order=1, extra="", stem="lib"):
    hdr = (
        "ENVI\ndescription = {\n  a test library, with commas, {and braces]}\n"
        f"samples = {spectra.shape[1]}\nlines   = {spectra.shape[0]}\nbands   = 1\nheader offset = 0\n"
        "file type = ENVI Spectral Library\n"
        f"data type = {4 if dtype.endswith('f4') else 5}\ninterleave = bsq\nbyte order = {byte_order}\n"
        "wavelength units = Micrometers\n"
        "spectra names = {\n " + ",\n ".join(names) + "}\n"
        "wavelength = {\n " + ", ".join(f"{w:.6f}" for w in wavelengths_um) + "}\n" + extra
    )
    (folder / f"{stem}.hdr").write_text(hdr)
    spectra.astype(dtype).tofile(folder / f"{stem}.sli")
    return folder / f"{stem}.hdr"


def test_envi_library_written_by_hand(tmp_path, rng):
    wl = np.array([0.5, 0.4, 0.6, 0.7])  # not sorted: the loader sorts
    fwhm = np.full(4, 0.01)
    good = rng.uniform(0.1, 0.9, size=(3, 4))
    deleted = good[0].copy()
    deleted[2] = -1.23e34
    records = np.vstack([wl, fwhm, good[0], good[1] * 0.01, deleted, good[2]])
    names = ["Wavelengths in microns", "Resolution in microns", "Alpha GDS1", " error bars to preceding",
             "Beta X2", "Gamma Y3"]
    hdr = write_envi_library(tmp_path, records, names, wl,
                             extra="fwhm = {" + ", ".join(map(str, fwhm)) + "}\ndata ignore value = -1.23e34\n")
    header = read_envi_header(hdr)
    assert header["samples"] == "4" and header["description"].startswith("a test library")
    lib = load_usgs_library(hdr)
    assert lib.names == ("Alpha GDS1", "Gamma Y3")
    np.testing.assert_allclose(lib.wavelengths, [400, 500, 600, 700])
    np.testing.assert_allclose(lib.spectra, good[[0, 2]][:, [1, 0, 2, 3]], rtol=1e-6)
    np.testing.assert_allclose(lib.fwhm, 10.0, rtol=1e-6)
    assert lib.metadata["n_auxiliary"] == 3 and lib.metadata["n_incomplete"] == 1
    kept = load_usgs_library(tmp_path / "lib.sli", keep_incomplete=True)
    assert kept.names == ("Alpha GDS1", "Beta X2", "Gamma Y3") and np.isnan(kept.spectra[1, 2])
    assert lib.select(["Gamma Y3"]).names == ("Gamma Y3",) and lib.find("gds").tolist() == [0]
    with pytest.raises(KeyError, match="no spectrum named"):
        lib.select(["Delta"])


def test_malformed_envi_libraries(tmp_path, rng):
    spectra = rng.random((2, 3))
    hdr = write_envi_library(tmp_path, spectra, ["a", "b", "c"], [0.4, 0.5, 0.6], stem="names")
    with pytest.raises(ValueError, match=r"3 spectra names for 2 records"):
        load_usgs_library(hdr)
    hdr = write_envi_library(tmp_path, spectra, ["a", "b"], [0.4, 0.5, 0.6], stem="short")
    (tmp_path / "short.sli").write_bytes((tmp_path / "short.sli").read_bytes()[:10])
    with pytest.raises(ValueError, match="holds 10 bytes but the header describes 2 spectra x 3 bands"):
        load_usgs_library(hdr)
    hdr = write_envi_library(tmp_path, spectra, ["a", "b"], [0.4, 0.5], stem="wl")
    with pytest.raises(ValueError, match="2 wavelengths for 3 bands"):
        load_usgs_library(hdr)
    (tmp_path / "nosli.hdr").write_text((tmp_path / "wl.hdr").read_text())
    with pytest.raises(FileNotFoundError, match="no data file found beside"):
        load_usgs_library(tmp_path / "nosli.hdr")
    (tmp_path / "x.hdr").write_text("not envi\nsamples = 3\n")
    with pytest.raises(ValueError, match="not an ENVI header"):
        load_usgs_library(tmp_path / "x.hdr")
    (tmp_path / "lib.txt").write_text("0.4, 0.1")
    with pytest.raises(ValueError, match="unknown spectral library format '.txt'"):
        load_usgs_library(tmp_path / "lib.txt")


def test_usgs_mat_layout_and_errors(tmp_path, rng):
    wl = np.array([0.4, 0.6, 0.5])
    datalib = np.c_[wl, np.full(3, 0.01), [1, 2, 3], rng.random((3, 2))]
    names = np.array([list(n.ljust(12)) for n in ["Wavelengths", "Resolution", "Channel", "Alpha", "Beta"]])
    savemat(tmp_path / "lib.mat", {"datalib": datalib, "names": names})
    lib = load_usgs_library(tmp_path / "lib.mat")
    assert lib.names == ("Alpha", "Beta")
    np.testing.assert_allclose(lib.wavelengths, [400, 500, 600])
    np.testing.assert_allclose(lib.spectra, datalib[[0, 2, 1], 3:].T)
    savemat(tmp_path / "bad.mat", {"datalib": datalib})
    with pytest.raises(ValueError, match=r"missing variable\(s\) names"):
        load_usgs_library(tmp_path / "bad.mat")
    savemat(tmp_path / "bad2.mat", {"datalib": datalib, "names": names[:4]})
    with pytest.raises(ValueError, match="4 names for the 5 columns"):
        load_usgs_library(tmp_path / "bad2.mat")


# ---------------------------------------------------------------------------------------- ENVI images
def write_envi_image(folder, cube, interleave, extra=""):
    rows, cols, bands = cube.shape
    layout = {"bsq": (2, 0, 1), "bil": (0, 2, 1), "bip": (0, 1, 2)}[interleave]
    cube.transpose(layout).astype("<f4").tofile(folder / f"img_{interleave}.img")
    (folder / f"img_{interleave}.hdr").write_text(
        f"ENVI\nsamples = {cols}\nlines = {rows}\nbands = {bands}\nheader offset = 0\nfile type = ENVI Standard\n"
        f"data type = 4\ninterleave = {interleave}\nbyte order = 0\nwavelength units = Micrometers\n"
        "wavelength = {" + ", ".join(f"{0.4 + 0.1 * b:.2f}" for b in range(bands)) + "}\n" + extra
    )
    return folder / f"img_{interleave}.hdr"


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
def test_load_envi_image(tmp_path, rng, interleave):
    pytest.importorskip("spectral")
    cube = rng.random((5, 7, 4)).astype(np.float32)
    hdr = write_envi_image(tmp_path, cube, interleave, extra="bbl = {1, 0, 1, 1}\nreflectance scale factor = 1000\n")
    scene = load_envi(hdr)
    assert isinstance(scene, Scene) and isinstance(scene.cube, np.memmap) and not scene.cube.flags.writeable
    np.testing.assert_array_equal(scene.cube, cube)
    np.testing.assert_allclose(scene.wavelengths, [400, 500, 600, 700])
    assert scene.bad_bands.tolist() == [False, True, False, False]
    assert scene.metadata["reflectance scale factor"] == 1000
    X, _, _ = scene.windows(3)
    np.testing.assert_array_equal(X[0], cube[:3, :3])
    loaded = load_envi(hdr, memmap=False)
    assert not isinstance(loaded.cube, np.memmap)
    np.testing.assert_array_equal(loaded.cube, cube)
    assert loaded.drop_bad_bands().shape == (5, 7, 3)


def test_load_envi_data_ignore_value_is_the_scenes_nodata(tmp_path, rng):
    pytest.importorskip("spectral")
    cube = rng.random((6, 7, 3)).astype(np.float32)
    cube[0] = -9999  # a no-data border row
    scene = load_envi(write_envi_image(tmp_path, cube, "bil", extra="data ignore value = -9999\n"))
    assert scene.nodata == -9999 and scene.metadata["data ignore value"] == -9999
    assert scene.nodata_mask().sum() == 7 and scene.nodata_mask()[0].all()
    X, _, coords = scene.windows(3)
    assert (coords[:, 0] >= 1).all() and len(X) == 3 * 5 and (X > -9999).all()


def test_load_envi_errors(tmp_path, rng, monkeypatch):
    hdr = write_envi_library(tmp_path, rng.random((2, 3)), ["a", "b"], [0.4, 0.5, 0.6])
    with pytest.raises(ValueError, match="use load_usgs_library"):
        load_envi(hdr)
    with pytest.raises(FileNotFoundError):
        load_envi(tmp_path / "missing.hdr")
    img = write_envi_image(tmp_path, rng.random((3, 3, 2)), "bsq")
    (tmp_path / "bad.hdr").write_text(img.read_text().replace("data type = 4", "data type = 99"))
    with pytest.raises(ValueError, match="unsupported or missing 'data type'"):
        load_envi(tmp_path / "bad.hdr")
    # without the optional dependency: a clear message naming the extra
    monkeypatch.setitem(sys.modules, "spectral", None)
    monkeypatch.setitem(sys.modules, "spectral.io", None)
    monkeypatch.setitem(sys.modules, "spectral.io.envi", None)
    with pytest.raises(ImportError, match=r"pip install hyperspectral-cl\[io\]"):
        load_envi(img)
