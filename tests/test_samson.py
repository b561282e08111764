"""load_samson: the public copies of Samson, the .mat layouts they use, malformed files.

Real files under ../shared/data are used when present (skipped otherwise); small
files written here cover the layouts and the malformed cases.
"""

import numpy as np
import pytest
from conftest import SHARED_DATA
from scipy.io import savemat

from hyperspectral_cl.datasets import load_mat_cube, load_samson

SAMSON = SHARED_DATA / "samson"
needs_samson = pytest.mark.skipif(not (SAMSON / "samson_1.mat").is_file(), reason="needs ../shared/data/samson")


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


# ------------------------------------------------------------------------------------ Samson layouts
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
