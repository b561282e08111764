"""The command line from files to files: `hyperspectral-cl fit` on a GeoTIFF and samples, `predict` to a GeoTIFF."""

import json
import subprocess
import sys

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")

from geo_files import CRS, NODATA, make_cube, pixel_centres, write_csv, write_geotiff  # noqa: E402

from hyperspectral_cl.cli import _blocks, build_parser, main  # noqa: E402
from hyperspectral_cl.datasets.raster import load_raster  # noqa: E402
from hyperspectral_cl.mapping import predict_map  # noqa: E402
from hyperspectral_cl.persistence import load_weights  # noqa: E402

FAST = ["--epochs", "2", "--window", "5", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A GeoTIFF and a CSV of 40 samples in map coordinates (one on a pixel shared with another)."""
    folder = tmp_path_factory.mktemp("geo")
    cube, wavelengths = make_cube()
    image = write_geotiff(folder / "scene.tif", cube, wavelengths)
    rng = np.random.default_rng(0)
    pixels = [(int(r), int(c)) for r, c in zip(rng.integers(4, 20, 40), rng.integers(4, 26, 40), strict=True)]
    xy = pixel_centres(rasterio.open(image).transform, pixels)
    rows = [[f"S{i}", x, y, round(float(cube[r, c, :3].mean()), 5)] for i, ((x, y), (r, c)) in
            enumerate(zip(xy, pixels, strict=True))]
    labels = write_csv(folder / "samples.csv", ["id", "x", "y", "carbon"], rows)
    return folder, image, labels


@pytest.fixture(scope="module")
def fitted(files):
    folder, image, labels = files
    model = folder / "model.pt"
    code = main(["fit", "--image", str(image), "--labels", str(labels), "--target", "carbon", "--backbone", "li",
                 "--out", str(model), *FAST])
    assert code == 0
    return model


def test_fit_then_predict_writes_a_map_on_the_image_grid(files, fitted, tmp_path, capsys):
    folder, image, _ = files
    sidecar = json.loads(fitted.with_name("model.pt.json").read_text())
    assert sidecar["target_names"] == ["carbon"] and sidecar["window"] == 5 and sidecar["n_bands"] == 8
    assert set(sidecar["cross_validation"]["scores"]["carbon"]) == {"r2", "mae", "rmse"}
    out = tmp_path / "map.tif"
    assert main(["predict", "--model", str(fitted), "--image", str(image), "--out", str(out), "--threads", "1"]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.out and "row" in captured.err  # the progress bar
    with rasterio.open(image) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs == CRS and dst.transform == src.transform
        assert dst.count == 1 and dst.descriptions == ("carbon",) and dst.nodata == NODATA
        assert dst.profile["tiled"] and dst.compression.name.lower() == "deflate"
        written = dst.read(1, masked=True).filled(np.nan)
    expected = predict_map(load_weights(fitted), load_raster(image))
    np.testing.assert_allclose(written, expected[:, :, 0], rtol=1e-6, atol=1e-6)
    assert np.isnan(written).any() and np.isfinite(written).mean() > 0.8  # nodata around the no-data pixels only


def test_fit_prints_a_spatial_cross_validation_score(files, tmp_path, capsys):
    _, image, labels = files
    model = tmp_path / "m.pt"
    assert main(["fit", "--image", str(image), "--labels", str(labels), "--target", "carbon", "--cv-blocks", "1x3",
                 "--out", str(model), *FAST]) == 0
    out = capsys.readouterr().out
    assert "spatial cross-validation: 3 folds (1 x 3 blocks of the samples' extent, buffer 2 px)" in out
    assert "fold 3/3:" in out and "carbon: R^2 " in out and f"wrote {model}" in out
    assert json.loads((tmp_path / "m.pt.json").read_text())["cross_validation"]["blocks"] == [1, 3]
    assert main(["fit", "--image", str(image), "--labels", str(labels), "--target", "carbon", "--cv-blocks", "0",
                 "--out", str(model), *FAST]) == 0
    assert "cross-validation" not in capsys.readouterr().out


def run_error(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    return err


def test_bad_files_name_the_file_and_the_problem(files, fitted, tmp_path, capsys):
    _, image, labels = files
    model = str(tmp_path / "m.pt")
    fit = ["fit", "--labels", str(labels), "--target", "carbon", "--out", model, *FAST]
    err = run_error(["fit", "--image", str(tmp_path / "nope.tif"), *fit[1:]], capsys)
    assert f"hyperspectral-cl fit: error: {tmp_path / 'nope.tif'}: no such file (--image)" in err
    notes = tmp_path / "notes.tif"
    notes.write_text("not an image")
    assert f"cannot read {notes} as a raster" in run_error(["fit", "--image", str(notes), *fit[1:]], capsys)

    bad = write_csv(tmp_path / "bad.csv", ["x", "y", "carbon"], [[500000, 4983000, 1.0], [500010, 4983000, "n/a"]])
    err = run_error(["fit", "--image", str(image), "--labels", str(bad), "--target", "carbon", "--out", model, *FAST],
                    capsys)
    assert f"{bad} line 3: column 'carbon' must be a finite number, got 'n/a'" in err
    far = write_csv(tmp_path / "far.csv", ["x", "y", "carbon"], [[500000, 4983000, 1.0], [0, 0, 2.0]])
    err = run_error(["fit", "--image", str(image), "--labels", str(far), "--out", model, *FAST], capsys)
    assert "1 of 2 samples lie outside the 24 x 30 scene" in err and f"{far} line 3 (x=0, y=0)" in err
    ids = write_csv(tmp_path / "ids.csv", ["id", "x", "y", "carbon"], [[1, 500000, 4983000, 1.0]])
    err = run_error(["fit", "--image", str(image), "--labels", str(ids), "--out", model, *FAST], capsys)
    assert "2 are (id, carbon): name the target(s) with targets= (--target on the command line)" in err
    err = run_error(["fit", "--image", str(image), "--labels", str(labels), "--target", "carbon", "--cv-blocks",
                     "9x9", "--out", model, *FAST], capsys)
    assert "cannot cross-validate on 9 x 9 blocks" in err and "--cv-blocks" in err

    err = run_error(["fit", "--image", str(image), "--labels", str(labels), "--target", "carbon", "--out",
                     str(tmp_path / "no" / "m.pt"), *FAST], capsys)
    assert f"{tmp_path / 'no' / 'm.pt'}: the folder {tmp_path / 'no'} does not exist (--out)" in err

    not_a_model = tmp_path / "model.pt"
    not_a_model.write_text("weights")
    err = run_error(["predict", "--model", str(not_a_model), "--image", str(image), "--out", str(tmp_path / "o.tif")],
                    capsys)
    assert "hyperspectral-cl predict: error:" in err and str(not_a_model) in err
    four_bands = write_geotiff(tmp_path / "four.tif", make_cube(n_bands=4)[0])
    err = run_error(["predict", "--model", str(fitted), "--image", str(four_bands), "--out", str(tmp_path / "o.tif")],
                    capsys)
    assert f"{four_bands} has 4 bands, but {fitted} was trained on 8" in err
    assert not (tmp_path / "o.tif").exists() and not (tmp_path / "m.pt").exists()


def test_help_shows_examples(capsys):
    for command in ("fit", "predict"):
        with pytest.raises(SystemExit) as excinfo:
            build_parser().parse_args([command, "--help"])
        assert excinfo.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out and f"hyperspectral-cl {command} --" in out
    with pytest.raises(SystemExit) as excinfo:
        build_parser().parse_args(["fit", "--image", "a", "--labels", "b", "--out", "c", "--cv-blocks", "1x1"])
    assert excinfo.value.code == 2 and "expected ROWSxCOLS blocks" in capsys.readouterr().err


def test_blocks_argument():
    assert _blocks("2x2") == (2, 2) and _blocks("4X1") == (4, 1) and _blocks("3") == (3, 3) and _blocks("0") is None
    for text in ("1", "1x1", "2x0", "two", "2x2x2"):
        with pytest.raises(Exception, match="expected ROWSxCOLS"):
            _blocks(text)


def test_console_exit_status_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "hyperspectral_cl.cli", "predict", "--model", str(tmp_path / "missing.pt"), "--image",
         "scene.tif", "--out", str(tmp_path / "map.tif")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"hyperspectral-cl predict: error: {tmp_path / 'missing.pt'}: no such file (--model)"
