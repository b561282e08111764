"""load_usgs_library and SpectralLibrary: USGS libraries as .mat files and as ENVI spectral libraries (.sli).

Real files under ../shared/data are used when present (skipped otherwise); small
files written here cover the layouts and the malformed cases.
"""

import numpy as np
import pytest
from conftest import SHARED_DATA
from envi_files import write_envi_library
from scipy.io import savemat

from hyperspectral_cl.datasets import load_usgs_library, read_envi_header

USGS = SHARED_DATA / "usgs_library"
needs_usgs = pytest.mark.skipif(not (USGS / "USGS_1995_Library.mat").is_file(),
                                reason="needs ../shared/data/usgs_library")


# ------------------------------------------------------------------------------------------ real files
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


# ------------------------------------------------------------------------------------- ENVI libraries
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


# ------------------------------------------------------------------------------------------- USGS .mat
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
