"""load_mat_cube and unflatten_pixels: generic MATLAB .mat cubes, in MATLAB's column-major pixel order."""

import numpy as np
import pytest
from scipy.io import savemat

from hyperspectral_cl.datasets import load_mat_cube, unflatten_pixels


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
