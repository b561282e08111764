"""load_envi: ENVI images in every interleave, what their headers declare, and the errors."""

import sys

import numpy as np
import pytest
from envi_files import write_envi_image, write_envi_library

from hyperspectral_cl.datasets import Scene, load_envi


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
