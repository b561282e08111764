"""Point labels: CSV and GeoJSON samples placed on a scene's pixels, errors that name the sample, duplicates."""

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")

from geo_files import (  # noqa: E402
    CRS,
    NODATA,
    NODATA_PIXELS,
    geo_transform,
    make_cube,
    pixel_centres,
    write_csv,
    write_geojson,
)
from rasterio.warp import transform as reproject  # noqa: E402

from hyperspectral_cl.datasets import Scene  # noqa: E402
from hyperspectral_cl.datasets.points import (  # noqa: E402
    PointSamples,
    points_to_pixels,
    read_points,
    windows_at_points,
)
from hyperspectral_cl.model_selection import SpatialBlockSplit  # noqa: E402

PIXELS = [(0, 0), (5, 7), (23, 29), (12, 0), (20, 14), (9, 22)]


@pytest.fixture(scope="module")
def scene():
    cube, wavelengths = make_cube()
    return Scene(cube, wavelengths=wavelengths, nodata=NODATA, crs=CRS, transform=geo_transform())


def carbon(pixels):
    return [round(1.5 + 0.25 * i, 2) for i in range(len(pixels))]


def test_csv_in_map_coordinates(tmp_path, scene):
    # pixel centres, and points just inside a pixel's corners: the pixel whose area holds the point
    xy = pixel_centres(scene.transform, PIXELS)
    xy[1] += (4.9, 4.9)  # 0.49 pixel right, 0.49 pixel up: still pixel (5, 7)
    xy[2] += (-4.99, 4.99)
    rows = [[f"S{i}", x, y, v] for i, ((x, y), v) in enumerate(zip(xy, carbon(PIXELS), strict=True))]
    path = write_csv(tmp_path / "samples.csv", ["id", "Easting", "Northing", "carbon"], rows)
    points = read_points(path, targets="carbon")
    assert points.kind == "map" and points.crs is None and points.target_names == ["carbon"]
    assert points.labels[0] == f"{path} line 2"
    np.testing.assert_array_equal(points.values[:, 0], carbon(PIXELS))
    assert points_to_pixels(points, scene).tolist() == [list(p) for p in PIXELS]


def test_csv_in_pixels_and_tsv(tmp_path, scene):
    rows = [[r, c, v] for (r, c), v in zip(PIXELS, carbon(PIXELS), strict=True)]
    path = write_csv(tmp_path / "samples.csv", ["row", "col", "carbon"], rows)
    points = read_points(path)  # one numeric column besides the coordinates: the target
    assert points.kind == "pixel" and points.target_names == ["carbon"]
    assert points_to_pixels(points, scene).tolist() == [list(p) for p in PIXELS]
    tsv = tmp_path / "samples.tsv"
    tsv.write_text("\ufeffline\tsample\tcarbon\tnitrogen\n3\t4\t1.0\t0.1\n\n5\t6\t2.0\t0.2\n")  # BOM, blank line
    points = read_points(tsv, targets=["nitrogen", "carbon"], row="line", col="sample")
    assert points.positions.tolist() == [[3, 4], [5, 6]] and points.values.tolist() == [[0.1, 1.0], [0.2, 2.0]]
    assert points.labels == [f"{tsv} line 2", f"{tsv} line 4"]


def test_geojson_in_lonlat_is_reprojected(tmp_path, scene):
    xy = pixel_centres(scene.transform, PIXELS)
    lon, lat = reproject(CRS, "EPSG:4326", xy[:, 0], xy[:, 1])
    assert 2.9 < min(lon) and max(lat) < 45.1  # really longitude/latitude
    path = write_geojson(tmp_path / "samples.geojson", zip(lon, lat, strict=True),
                         [{"carbon": v, "site": f"plot {i}"} for i, v in enumerate(carbon(PIXELS))])
    points = read_points(path)  # 'site' is text: not a target
    assert points.crs == "EPSG:4326" and points.target_names == ["carbon"]
    assert points.labels[3] == f"{path} features[3] (id 'P3')"
    assert points_to_pixels(points, scene).tolist() == [list(p) for p in PIXELS]


def test_geojson_with_a_crs_member_and_csv_with_crs(tmp_path, scene):
    xy = pixel_centres(scene.transform, PIXELS)
    path = write_geojson(tmp_path / "utm.geojson", xy, [{"carbon": v} for v in carbon(PIXELS)],
                         crs="urn:ogc:def:crs:EPSG::32631")
    points = read_points(path)
    assert points_to_pixels(points, scene).tolist() == [list(p) for p in PIXELS]
    lon, lat = reproject(CRS, "EPSG:4326", xy[:, 0], xy[:, 1])
    rows = [[x, y, v] for x, y, v in zip(lon, lat, carbon(PIXELS), strict=True)]
    csv_lonlat = write_csv(tmp_path / "lonlat.csv", ["lon", "lat", "carbon"], rows)
    assert read_points(csv_lonlat).crs == "EPSG:4326"  # lon/lat columns are WGS 84 degrees
    assert points_to_pixels(read_points(csv_lonlat), scene).tolist() == [list(p) for p in PIXELS]
    csv_xy = write_csv(tmp_path / "xy.csv", ["x", "y", "carbon"], rows)
    assert points_to_pixels(read_points(csv_xy, crs="EPSG:4326"), scene).tolist() == [list(p) for p in PIXELS]


def test_points_outside_the_scene_are_named(tmp_path, scene):
    xy = pixel_centres(scene.transform, PIXELS)
    xy[2] += (10.0, 0.0)  # one pixel beyond the last column
    xy[4] -= (0.0, 2000.0)  # far below the scene
    rows = [[x, y, v] for (x, y), v in zip(xy, carbon(PIXELS), strict=True)]
    path = write_csv(tmp_path / "samples.csv", ["x", "y", "carbon"], rows)
    with pytest.raises(ValueError) as excinfo:
        points_to_pixels(read_points(path), scene)
    message = str(excinfo.value)
    assert message.startswith("2 of 6 samples lie outside the 24 x 30 scene, map bounds x 499950..500250")
    assert f"{path} line 4 (x=500255, y=4982775) falls on pixel (23, 30)" in message
    assert f"{path} line 6" in message and "line 2 " not in message
    pixel_path = write_csv(tmp_path / "pixels.csv", ["row", "col", "carbon"], [[24, 0, 1.0], [0, -1, 2.0]])
    with pytest.raises(ValueError, match=r"2 of 2 samples lie outside the 24 x 30 scene \(rows 0\.\.23, columns 0\.\.29\): "
                                         r".*line 2 \(row 24, col 0\); .*line 3 \(row 0, col -1\)\. Check"):
        points_to_pixels(read_points(pixel_path), scene)


def test_points_on_nodata_are_named(tmp_path, scene):
    pixels = PIXELS + NODATA_PIXELS[::-1]
    rows = [[r, c, 1.0] for r, c in pixels]
    path = write_csv(tmp_path / "samples.csv", ["row", "col", "carbon"], rows)
    with pytest.raises(ValueError) as excinfo:
        points_to_pixels(read_points(path), scene)
    message = str(excinfo.value)
    assert message.startswith("2 of 8 samples lie on no-data pixels of the scene (NaN or the nodata value -9999")
    assert f"{path} line 8 (row 17, col 25) at pixel (17, 25)" in message and f"{path} line 9" in message


def test_map_coordinates_need_a_georeferenced_scene(tmp_path, scene):
    path = write_csv(tmp_path / "samples.csv", ["x", "y", "carbon"], [[500000, 4983000, 1.0]])
    with pytest.raises(ValueError, match="map coordinates, but the scene has no transform"):
        points_to_pixels(read_points(path), Scene(scene.cube))
    with pytest.raises(ValueError, match="in EPSG:32631, but the scene has no CRS"):
        points_to_pixels(read_points(path, crs="EPSG:32631"), Scene(scene.cube, transform=scene.transform))


def test_read_points_errors(tmp_path):
    def csv(name, text):
        path = tmp_path / name
        path.write_text(text)
        return path

    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_points(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match=r"unknown samples file type '\.xlsx'"):
        read_points(csv("s.xlsx", ""))
    with pytest.raises(ValueError, match=r"s1\.csv line 3: column 'carbon' must be a finite number, got 'n/a'"):
        read_points(csv("s1.csv", "x,y,carbon\n1,2,3\n1,2,n/a\n"), targets="carbon")
    with pytest.raises(ValueError, match=r"s2\.csv line 2: column 'y' must be a finite number, got an empty value"):
        read_points(csv("s2.csv", "x,y,carbon\n1,,3\n"))
    with pytest.raises(ValueError, match=r"and 2 are \(id, carbon\): name the target\(s\) with targets="):
        read_points(csv("s3.csv", "id,x,y,carbon\n1,1,2,3\n"))
    with pytest.raises(ValueError, match=r"s4\.csv has no column 'nitrogen' \(targets=\); its columns: id, carbon"):
        read_points(csv("s4.csv", "id,x,y,carbon\n1,1,2,3\n"), targets="nitrogen")
    with pytest.raises(ValueError, match=r"has both map coordinates \(x, y\) and pixel positions \(row, col\)"):
        read_points(csv("s5.csv", "x,y,row,col,carbon\n1,2,3,4,5\n"))
    assert read_points(tmp_path / "s5.csv", row="row", col="col", targets="carbon").kind == "pixel"
    with pytest.raises(ValueError, match=r"has no coordinate columns.*its columns: a, b, carbon"):
        read_points(csv("s6.csv", "a,b,carbon\n1,2,3\n"))
    with pytest.raises(ValueError, match=r"s7\.csv holds no samples"):
        read_points(csv("s7.csv", "x,y,carbon\n"))
    with pytest.raises(ValueError, match=r"s8\.csv line 2: pixel positions must be whole numbers"):
        read_points(csv("s8.csv", "row,col,carbon\n1.5,2,3\n"))
    with pytest.raises(ValueError, match=r"s9\.csv line 3: more fields than the 3 columns"):
        read_points(csv("s9.csv", "x,y,carbon\n1,2,3\n1,2,3,4\n"))
    with pytest.raises(ValueError, match="x= and y= go together: y= is missing"):
        read_points(tmp_path / "s1.csv", x="x")


def test_read_geojson_errors(tmp_path):
    def geojson(name, text):
        path = tmp_path / name
        path.write_text(text)
        return path

    with pytest.raises(ValueError, match=r"g1\.geojson is not valid JSON"):
        read_points(geojson("g1.geojson", "{"))
    with pytest.raises(ValueError, match="must hold a GeoJSON FeatureCollection"):
        read_points(geojson("g2.geojson", '{"type": "Polygon"}'))
    line = ('{"type": "FeatureCollection", "features": [{"type": "Feature", "id": 7, "geometry": {"type": '
            '"LineString", "coordinates": [[1, 2], [3, 4]]}, "properties": {"c": 1}}]}')
    with pytest.raises(ValueError, match=r"g3\.geojson features\[0\] \(id 7\): expected a Point geometry, got "
                                         r"'LineString'"):
        read_points(geojson("g3.geojson", line))
    utm = geojson("g4.geojson", '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [500000, '
                                '4983000]}, "properties": {"c": 1.5}}')
    with pytest.raises(ValueError, match=r"is not a longitude/latitude.*give the CRS of its coordinates with crs="):
        read_points(utm)
    assert read_points(utm, crs=CRS).positions.tolist() == [[500000, 4983000]]
    with pytest.raises(ValueError, match=r"features\[0\]: property 'c' must be a finite number, got an empty"):
        read_points(geojson("g5.geojson", '{"type": "Feature", "geometry": {"type": "Point", "coordinates": '
                                          '[3, 45]}, "properties": {"c": null}}'), targets="c")


def test_windows_at_points_are_the_labeled_windows_of_their_pixels(tmp_path, scene):
    xy = pixel_centres(scene.transform, PIXELS)
    rows = [[x, y, v, 2 * v] for (x, y), v in zip(xy, carbon(PIXELS), strict=True)]
    points = read_points(write_csv(tmp_path / "s.csv", ["x", "y", "carbon", "n"], rows), targets=["carbon", "n"])
    values_before = points.values.copy()
    X, y, coords = windows_at_points(scene, points, 5)
    X_ref, y_ref, coords_ref = scene.labeled_windows(PIXELS, 5, values=points.values)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(coords + 2, PIXELS)  # top-left corners: the pixel minus size // 2
    assert y.dtype == np.float32 and y.shape == (6, 2)
    np.testing.assert_array_equal(points.values, values_before)
    # the positions drive the spatial splitter: every sample is tested once
    folds = list(SpatialBlockSplit(window_size=5, n_blocks=(1, 2), buffer=0).split(X, y, groups=coords))
    assert sorted(np.concatenate([test for _, test in folds]).tolist()) == list(range(6))


def test_duplicates_policy(tmp_path, scene):
    pixels = [(5, 7), (9, 22), (5, 7), (20, 14), (9, 22), (5, 7)]
    values = [1.0, 10.0, 2.0, 4.0, 20.0, 6.0]
    rows = [[r, c, v] for (r, c), v in zip(pixels, values, strict=True)]
    points = read_points(write_csv(tmp_path / "s.csv", ["row", "col", "carbon"], rows))
    with pytest.warns(UserWarning, match=r"^2 pixels hold more than one sample \(5 samples\), e\.g\. .*line 2 and "
                                         r".*line 4 and .*line 7 \(pixel \(5, 7\)\).*their values were averaged"):
        X, y, coords = windows_at_points(scene, points, 3)
    assert (coords + 1).tolist() == [[5, 7], [9, 22], [20, 14]]  # in the order of first appearance
    np.testing.assert_allclose(y[:, 0], [3.0, 15.0, 4.0])
    assert len(X) == 3
    X_keep, y_keep, coords_keep = windows_at_points(scene, points, 3, duplicates="keep")
    assert len(X_keep) == 6 and y_keep[:, 0].tolist() == values
    with pytest.raises(ValueError, match=r"2 pixels hold more than one sample \(5 samples\)"):
        windows_at_points(scene, points, 3, duplicates="raise")
    with pytest.raises(ValueError, match="duplicates must be one of 'mean', 'keep', 'raise', got 'first'"):
        windows_at_points(scene, points, 3, duplicates="first")


def test_samples_whose_window_touches_nodata_are_left_out_with_a_warning(tmp_path, scene):
    pixels = [(4, 4), (3, 4), (10, 10), (18, 26)]  # (3, 4) and (18, 26) are next to no-data pixels
    rows = [[r, c, i] for i, (r, c) in enumerate(pixels)]
    points = read_points(write_csv(tmp_path / "s.csv", ["row", "col", "carbon"], rows))
    with pytest.warns(UserWarning, match=r"2 of 4 samples were left out: their 3 x 3 window touches no-data "
                                         r"\(.*line 3, .*line 5\)"):
        X, y, coords = windows_at_points(scene, points, 3)
    assert (coords + 1).tolist() == [[4, 4], [10, 10]] and y[:, 0].tolist() == [0.0, 2.0]


def test_point_samples_validation():
    with pytest.raises(ValueError, match="kind must be 'map' or 'pixel'"):
        PointSamples(np.zeros((2, 2)), np.zeros(2), ["c"], kind="lonlat")
    with pytest.raises(ValueError, match=r"positions \(2, 3\) and values \(2, 1\) must have shapes"):
        PointSamples(np.zeros((2, 3)), np.zeros(2), ["c"])
    samples = PointSamples(np.zeros((2, 2)), np.zeros((2, 2)), [])
    assert samples.target_names == ["target_1", "target_2"] and len(samples) == 2
