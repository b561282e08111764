"""Raster I/O through rasterio: GeoTIFF round trips, windowed reads, ENVI map info, map writing and predict_map(out=)."""

import math
import sys

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")

# rasterio's own, when a test reads back a map written without georeferencing
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

from affine import Affine  # noqa: E402  (after the skip: affine comes with rasterio)
from geo_files import (  # noqa: E402
    CRS,
    NODATA,
    NODATA_PIXELS,
    geo_transform,
    make_cube,
    write_geotiff,
)
from rasterio.windows import Window  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from hyperspectral_cl import MeanSpectrum  # noqa: E402
from hyperspectral_cl.datasets import Scene, envi_georeference, load_envi, read_envi_header  # noqa: E402
from hyperspectral_cl.datasets.raster import RasterWriter, load_raster, save_raster  # noqa: E402
from hyperspectral_cl.mapping import predict_map  # noqa: E402


@pytest.fixture(scope="module")
def cube_and_wavelengths():
    return make_cube()


@pytest.fixture
def geotiff(tmp_path, cube_and_wavelengths):
    cube, wavelengths = cube_and_wavelengths
    return write_geotiff(tmp_path / "scene.tif", cube, wavelengths)


def read_map(path):
    """Bands of a written map as (h, w, count) with nodata as NaN, and the dataset's profile and descriptions."""
    with rasterio.open(path) as src:
        data = src.read(masked=True).astype(np.float64).filled(np.nan).transpose(1, 2, 0)
        return data, src.profile, src.descriptions, src.crs, src.transform, src.nodata


# ------------------------------------------------------------------- reading


def test_load_raster_round_trip(geotiff, cube_and_wavelengths):
    cube, wavelengths = cube_and_wavelengths
    scene = load_raster(geotiff)
    assert scene.cube.shape == cube.shape and scene.cube.dtype == np.float32
    np.testing.assert_array_equal(scene.cube, cube)
    assert scene.crs == CRS and scene.crs.to_epsg() == 32631
    assert scene.transform == geo_transform()
    assert scene.nodata == NODATA
    np.testing.assert_allclose(scene.wavelengths, wavelengths, rtol=1e-12)  # written in micrometres
    assert scene.metadata["wavelengths_from"] == "band metadata 'wavelength'"
    assert scene.metadata["window"] is None and scene.metadata["source"] == str(geotiff)
    assert sorted(map(tuple, np.argwhere(scene.nodata_mask()).tolist())) == NODATA_PIXELS


@pytest.mark.parametrize(
    "window, bands",
    [
        (((3, 11), (5, 29)), None),
        (Window(col_off=0, row_off=20, width=30, height=4), [0, 5, 2]),
        ((slice(0, 24), slice(7, 8)), slice(1, 8, 3)),
        (None, [7]),
    ],
)
def test_windowed_read_equals_the_slice_of_a_full_read(geotiff, window, bands, monkeypatch):
    import hyperspectral_cl.datasets.raster as raster

    monkeypatch.setattr(raster, "_READ_BLOCK_VALUES", 50)  # several row blocks even for this small scene
    full = load_raster(geotiff)
    part = load_raster(geotiff, bands=bands, window=window)
    if window is None:
        rows, cols = slice(None), slice(None)
    elif isinstance(window, Window):
        rows, cols = window.toslices()
    else:
        rows, cols = (slice(*w) if isinstance(w, tuple) else w for w in window)
    band_index = slice(None) if bands is None else bands
    expected = full.cube[rows, cols][:, :, band_index]
    np.testing.assert_array_equal(part.cube, expected)
    cropped = full.crop(rows, cols)
    assert part.transform == cropped.transform  # the window's map position, as a crop of the full scene
    np.testing.assert_array_equal(part.wavelengths, full.wavelengths[band_index])
    assert part.crs == full.crs and part.nodata == full.nodata


def test_crop_shifts_the_transform_so_pixels_keep_their_map_coordinates(geotiff):
    scene = load_raster(geotiff)
    for rows, cols in [(slice(3, 10), slice(5, None)), (slice(-4, None), slice(None, 7)), (slice(None), slice(2, 3))]:
        sub = scene.crop(rows, cols)
        r0, c0 = rows.indices(scene.shape[0])[0], cols.indices(scene.shape[1])[0]
        assert rasterio.transform.xy(sub.transform, 0, 0) == rasterio.transform.xy(scene.transform, r0, c0)
        assert sub.crs == scene.crs
    assert scene.drop_bad_bands().transform == scene.transform


def test_scene_transform_validation():
    cube = np.zeros((4, 5, 2))
    scene = Scene(cube, crs="EPSG:32631", transform=(10, 0, 100, 0, -10, 200))
    assert isinstance(scene.transform, Affine) and scene.transform.c == 100
    assert Scene(cube, transform=(10, 0, 100, 0, -10, 200, 0, 0, 1)).transform == scene.transform
    with pytest.raises(ValueError, match="invertible"):
        Scene(cube, transform=(0, 0, 100, 0, -10, 200))
    with pytest.raises(ValueError, match="6 numbers"):
        Scene(cube, transform=(10, 0, 100))
    with pytest.raises(TypeError, match="transform must be an affine.Affine"):
        Scene(cube, transform="north up")
    with pytest.raises(TypeError, match="crs must be None, a string"):
        Scene(cube, crs=32631)
    assert Scene(cube).crop(slice(1, 3)).transform is None


@pytest.mark.parametrize("source", ["imagery", "envi-header", "none"])
def test_wavelength_sources(tmp_path, cube_and_wavelengths, source):
    cube, wavelengths = cube_and_wavelengths
    path = write_geotiff(tmp_path / "scene.tif", cube, wavelengths, tags=source)
    if source == "envi-header":  # ENVI writes a header beside its GeoTIFFs
        listed = ", ".join(f"{w / 1000:.6f}" for w in wavelengths)
        (tmp_path / "scene.hdr").write_text(
            f"ENVI\nsamples = 30\nlines = 24\nbands = 8\nwavelength units = Micrometers\nwavelength = {{{listed}}}\n"
            "bbl = {1, 1, 0, 1, 1, 1, 1, 0}\n"
        )
    scene = load_raster(path, bands=[0, 2, 7])
    if source == "none":
        assert scene.wavelengths is None and scene.metadata["wavelengths_from"] is None
    else:
        np.testing.assert_allclose(scene.wavelengths, np.asarray(wavelengths)[[0, 2, 7]], atol=1e-3)
    if source == "envi-header":
        assert scene.bad_bands.tolist() == [False, True, True]
        assert scene.metadata["wavelengths_from"].startswith("ENVI header")


def test_ungeoreferenced_raster_has_no_transform(tmp_path):
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", height=4, width=5, count=2, dtype="uint16") as dst:
        dst.write(np.arange(40, dtype=np.uint16).reshape(2, 4, 5))
    scene = load_raster(path)
    assert scene.transform is None and scene.crs is None and scene.nodata is None
    assert scene.cube.dtype == np.uint16 and scene.cube[1, 2].tolist() == [7, 27]


def test_load_raster_errors(tmp_path, geotiff):
    with pytest.raises(FileNotFoundError, match="missing.tif"):
        load_raster(tmp_path / "missing.tif")
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    with pytest.raises(ValueError, match=r"cannot read .*notes\.tif as a raster"):
        load_raster(text)
    with pytest.raises(ValueError, match=r"window rows 20\.\.29, columns 0\.\.4 is not inside .*24 rows and 30"):
        load_raster(geotiff, window=((20, 30), (0, 5)))
    with pytest.raises(ValueError, match="window rows"):
        load_raster(geotiff, window=Window(-1, 0, 3, 3))
    with pytest.raises(ValueError, match="whole-pixel"):
        load_raster(geotiff, window=Window(0.5, 0, 3, 3))
    with pytest.raises(ValueError, match=r"0-based band positions 0\.\.7 .*8 bands; rasterio's band 1 is band 0"):
        load_raster(geotiff, bands=[8])
    with pytest.raises(ValueError, match="0-based band positions"):
        load_raster(geotiff, bands=[])
    with pytest.raises(TypeError, match="bands must be"):
        load_raster(geotiff, bands=[1.5])


def test_different_nodata_per_band_is_refused(tmp_path):
    # a GeoTIFF has one nodata value; a VRT (any GDAL raster is read) has one per band
    with rasterio.open(tmp_path / "data.tif", "w", driver="GTiff", height=4, width=4, count=2,
                       dtype="float32") as dst:
        dst.write(np.arange(32, dtype=np.float32).reshape(2, 4, 4))
    bands = "".join(
        f'<VRTRasterBand dataType="Float32" band="{b}"><NoDataValue>{-b}</NoDataValue><SimpleSource>'
        f'<SourceFilename relativeToVRT="1">data.tif</SourceFilename><SourceBand>{b}</SourceBand></SimpleSource>'
        f"</VRTRasterBand>"
        for b in (1, 2)
    )
    (tmp_path / "mixed.vrt").write_text(f'<VRTDataset rasterXSize="4" rasterYSize="4">{bands}</VRTDataset>')
    with pytest.raises(ValueError, match=r"bands of .*mixed\.vrt have different nodata values"):
        load_raster(tmp_path / "mixed.vrt")
    one = load_raster(tmp_path / "mixed.vrt", bands=[1])
    assert one.nodata == -2.0 and one.cube[:, :, 0].tolist() == np.arange(16, 32).reshape(4, 4).tolist()


def test_missing_rasterio_says_which_extra_installs_it(monkeypatch, geotiff):
    monkeypatch.setitem(sys.modules, "rasterio", None)
    with pytest.raises(ImportError, match=r"pip install hyperspectral-cl\[io\]"):
        load_raster(geotiff)
    with pytest.raises(ImportError, match=r"pip install hyperspectral-cl\[io\]"):
        save_raster("x.tif", np.zeros((2, 2)))


# ------------------------------------------------------------------- ENVI map info


ENVI_MAP_INFOS = [
    "{UTM, 1.000, 1.000, 500000.000, 4983010.000, 10.000, 10.000, 31, North, WGS-84, units=Meters}",
    "{UTM, 2.5, 3.5, 500000.000, 4000000.000, 30.000, 20.000, 31, South, WGS-84, units=Meters}",
    "{UTM, 3.0, 2.0, 500000.000, 4983010.000, 10.000, 10.000, 31, North, WGS-84, units=Meters, rotation=30.0}",
    "{Geographic Lat/Lon, 1.0, 1.0, 2.5, 45.0, 0.001, 0.001, WGS-84, units=Degrees}",
]


@pytest.mark.parametrize("map_info", ENVI_MAP_INFOS)
def test_envi_written_by_spectral_keeps_its_map_info(tmp_path, map_info):
    """load_envi reads map info as GDAL does (checked against GDAL reading the same file)."""
    envi = pytest.importorskip("spectral.io.envi")
    cube = np.arange(4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)
    metadata = {"map info": map_info, "wavelength": [0.45, 0.55, 0.65], "wavelength units": "Micrometers"}
    envi.save_image(str(tmp_path / "img.hdr"), cube, metadata=metadata, interleave="bil", ext=".img")
    scene = load_envi(tmp_path / "img.hdr")
    with rasterio.open(tmp_path / "img.img") as src:
        gdal_transform, gdal_crs = src.transform, src.crs
    assert scene.transform.almost_equals(gdal_transform, precision=1e-6)
    assert rasterio.crs.CRS.from_user_input(scene.crs) == gdal_crs
    # the same file through GDAL: same georeferencing, wavelengths from GDAL's ENVI metadata
    through_gdal = load_raster(tmp_path / "img.hdr")
    np.testing.assert_array_equal(through_gdal.cube, scene.cube)
    np.testing.assert_allclose(through_gdal.wavelengths, [450, 550, 650])
    assert through_gdal.transform.almost_equals(scene.transform, precision=1e-6)
    with rasterio.open(tmp_path / "img.img") as src:
        window_transform = src.window_transform(Window(2, 1, 2, 2))
    assert scene.crop(slice(1, 3), slice(2, 4)).transform.almost_equals(window_transform, precision=1e-6)


def test_envi_coordinate_system_string_and_unknown_projection(tmp_path):
    wkt = rasterio.crs.CRS.from_epsg(32631).to_wkt()
    header = {"map info": ["UTM", "1", "1", "500000", "4983010", "10", "10", "31", "North", "WGS-84"],
              "coordinate system string": wkt.split(",")}
    crs, transform = envi_georeference(header)
    assert rasterio.crs.CRS.from_user_input(crs) == "EPSG:32631"
    assert transform == Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 4_983_010.0)
    with pytest.warns(UserWarning, match="not one this reader knows"):
        crs, transform = envi_georeference({"map info": ["Lambert Conformal Conic", "1", "1", "0", "0", "5", "5",
                                                         "North America 1983"]}, "lcc.hdr")
    assert crs is None and transform == Affine(5, 0, 0, 0, -5, 0)
    with pytest.raises(ValueError, match="map info"):
        envi_georeference({"map info": ["UTM", "1", "x"]})
    with pytest.raises(ValueError, match=r"rotation=degrees\]\} with numbers"):
        envi_georeference({"map info": ["UTM", "1", "1", "0", "0", "5", "5", "31", "North", "WGS-84", "rotation=x"]})
    assert envi_georeference({"map info": ["Arbitrary", "1", "1", "0", "0", "1", "1", "0", "North"]}) == (None, None)
    hdr = tmp_path / "h.hdr"
    hdr.write_text("ENVI\nmap info = {UTM, 1, 1, 500000, 4983010, 10, 10, 31, North, WGS-84}\n")
    assert envi_georeference(read_envi_header(hdr))[0] == "EPSG:32631"


# ------------------------------------------------------------------- writing


def test_save_raster_round_trip(tmp_path, geotiff):
    scene = load_raster(geotiff)
    rng = np.random.default_rng(0)
    values = rng.random((24, 30, 3)).astype(np.float32)
    values[5, 6] = np.nan
    values.setflags(write=False)  # save_raster must not write into the caller's map
    before = values.copy()
    path = save_raster(tmp_path / "map.tif", values, like=scene, names=["soil", "tree", "water"], tile_size=16)
    np.testing.assert_array_equal(values, before)
    data, profile, descriptions, crs, transform, nodata = read_map(path)
    assert crs == scene.crs and transform == scene.transform and nodata == NODATA  # the scene's nodata
    assert descriptions == ("soil", "tree", "water")
    assert profile["tiled"] and (profile["blockxsize"], profile["blockysize"]) == (16, 16)
    assert profile["compress"] == "deflate" and profile["dtype"] == "float32"
    np.testing.assert_array_equal(data, before)  # NaN written as the nodata value and read back as NaN
    with rasterio.open(path) as src:
        assert src.read(1)[5, 6] == NODATA


def test_save_raster_2d_map_defaults_and_errors(tmp_path, geotiff):
    scene = load_raster(geotiff)
    plain = Scene(np.zeros((24, 30, 2)))
    path = save_raster(tmp_path / "one.tif", np.ones((24, 30)), like=plain, nodata=None)
    data, profile, descriptions, crs, transform, nodata = read_map(path)
    assert data.shape == (24, 30, 1) and descriptions == ("target_1",) and crs is None and math.isnan(nodata)
    assert profile["dtype"] == "float64"
    with pytest.raises(ValueError, match=r"the map is 20 x 30 pixels but like= is a 24 x 30 scene"):
        save_raster(tmp_path / "bad.tif", np.ones((20, 30)), like=scene)
    with pytest.raises(ValueError, match="names holds 1 names for 2 bands"):
        save_raster(tmp_path / "bad.tif", np.ones((24, 30, 2)), like=scene, names=["a"])
    with pytest.raises(ValueError, match="tile_size must be a multiple of 16"):
        save_raster(tmp_path / "bad.tif", np.ones((24, 30)), tile_size=20)
    with pytest.raises(ValueError, match="map must have shape"):
        save_raster(tmp_path / "bad.tif", np.ones(5))
    assert not list(tmp_path.glob("bad.tif*"))


def test_raster_writer_streams_rows_in_tile_blocks(tmp_path):
    rng = np.random.default_rng(1)
    values = rng.random((50, 20, 2)).astype(np.float32)
    with RasterWriter(tmp_path / "m.tif", 50, 20, 2, tile_size=16, crs=CRS, transform=geo_transform()) as writer:
        assert writer.block_rows == 16
        for r in range(0, 50, 7):  # blocks that do not line up with the tiles
            writer.write(values[r : r + 7])
            assert writer.rows_written % 16 == 0 or writer.rows_written == 50  # only whole tile rows reach GDAL
    assert writer.blocks_written == 4  # 16 + 16 + 16 + 2 rows
    data, *_ = read_map(tmp_path / "m.tif")
    np.testing.assert_array_equal(data, values)


def test_raster_writer_leaves_no_partial_file(tmp_path):
    target = tmp_path / "m.tif"
    target.write_bytes(b"previous map")
    writer = RasterWriter(target, 10, 4, 1)
    writer.write(np.zeros((6, 4)))
    with pytest.raises(ValueError, match="only 6 of the map's 10 rows were written"):
        writer.close()
    with pytest.raises(RuntimeError), RasterWriter(target, 10, 4, 1) as writer:
        writer.write(np.zeros((3, 4)))
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"previous map" and sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]
    with pytest.raises(ValueError, match=r"rows must have shape \(n_rows, 4, 1\)"), RasterWriter(target, 10, 4, 1) as w:
        w.write(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="past the map's 10 rows"), RasterWriter(target, 10, 4, 1) as w:
        w.write(np.zeros((11, 4)))


# ------------------------------------------------------------------- predict_map(out=)


@pytest.fixture(scope="module")
def ridge_model(cube_and_wavelengths):
    cube, _ = cube_and_wavelengths
    scene = Scene(cube, nodata=NODATA)
    X, _, _ = scene.windows(5)
    y = np.c_[X.mean(axis=(1, 2, 3)), X[:, 2, 2, 0]]
    return make_pipeline(MeanSpectrum(), Ridge(alpha=1e-3)).fit(X, y)


@pytest.mark.parametrize("batch_size, border", [(7, "reflect"), (3, "valid"), (31, "valid"), (4096, "reflect")])
def test_predict_map_out_equals_the_in_memory_map(tmp_path, geotiff, ridge_model, batch_size, border):
    scene = load_raster(geotiff)
    expected = predict_map(ridge_model, scene, window_size=5, batch_size=batch_size, border=border)
    path = predict_map(ridge_model, scene, window_size=5, batch_size=batch_size, border=border,
                       out=tmp_path / "map.tif", out_options={"tile_size": 16, "names": ["mean", "band0"]})
    assert path == tmp_path / "map.tif"
    data, profile, descriptions, crs, transform, nodata = read_map(path)
    np.testing.assert_array_equal(data, expected)  # bit for bit, NaN where the window touches no-data
    assert np.isnan(expected).any()
    assert crs == scene.crs and transform == scene.transform and nodata == NODATA
    assert descriptions == ("mean", "band0") and profile["dtype"] == expected.dtype.name


def test_predict_map_out_writes_block_by_block(tmp_path, geotiff, ridge_model, monkeypatch):
    scene = load_raster(geotiff)
    expected = predict_map(ridge_model, scene, window_size=5, batch_size=60)  # 2 rows of 30 pixels per batch
    written = []
    original = RasterWriter.write

    def spy(self, rows):
        written.append(len(rows))
        return original(self, rows)

    monkeypatch.setattr(RasterWriter, "write", spy)
    monkeypatch.setattr("hyperspectral_cl.mapping._MapArray",
                        lambda *a: pytest.fail("the whole map was allocated with out="))
    predict_map(ridge_model, scene, window_size=5, batch_size=60, out=tmp_path / "map.tif",
                out_options={"tile_size": 16})
    assert written == [2] * 12  # every block of rows handed over as soon as it is predicted
    data, *_ = read_map(tmp_path / "map.tif")
    np.testing.assert_array_equal(data, expected)


def test_predict_map_out_without_predictions_at_the_top(tmp_path, ridge_model, cube_and_wavelengths):
    cube, _ = cube_and_wavelengths
    cube = cube.copy()
    cube[:9] = NODATA  # the first batches have nothing to predict: their rows are written as nodata later
    scene = Scene(cube, nodata=NODATA, target_names=["mean", "band0"])
    expected = predict_map(ridge_model, scene, window_size=5, batch_size=30)
    predict_map(ridge_model, scene, window_size=5, batch_size=30, out=tmp_path / "map.tif")
    data, _, descriptions, crs, transform, _ = read_map(tmp_path / "map.tif")
    np.testing.assert_array_equal(data, expected)
    assert np.isnan(data[:11]).all() and descriptions == ("mean", "band0") and crs is None


def test_predict_map_out_failure_leaves_no_file(tmp_path, geotiff, ridge_model):
    class Failing:
        calls = 0

        def predict(self, X):
            Failing.calls += 1
            if Failing.calls == 3:
                raise RuntimeError("out of memory")
            return ridge_model.predict(X)

    with pytest.raises(RuntimeError, match="out of memory"):
        predict_map(Failing(), load_raster(geotiff), window_size=5, batch_size=30, out=tmp_path / "map.tif",
                    out_options={"tile_size": 16})
    assert list(tmp_path.iterdir()) == [tmp_path / "scene.tif"]
    with pytest.raises(ValueError, match="out_options applies to the file written with out="):
        predict_map(ridge_model, load_raster(geotiff), window_size=5, out_options={"tile_size": 16})
