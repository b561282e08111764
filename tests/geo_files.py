"""Small georeferenced files written by the real libraries (rasterio, csv, json) for the geo tests."""

import json

import numpy as np

from hyperspectral_cl.datasets import make_synthetic_scene

CRS = "EPSG:32631"  # WGS 84 / UTM zone 31N
NODATA = -9999.0
#: pixels set to NODATA in every band of the test scene
NODATA_PIXELS = [(2, 3), (17, 25)]


def geo_transform():
    """10 m pixels, origin at a UTM easting/northing in zone 31N (around 3 E, 45 N)."""
    from affine import Affine

    return Affine(10.0, 0.0, 499_950.0, 0.0, -10.0, 4_983_010.0)


def make_cube(shape=(24, 30), n_bands=8, seed=0):
    """A synthetic cube (float32) with NODATA pixels, and its wavelengths in nm."""
    scene = make_synthetic_scene(n_endmembers=3, shape=shape, n_bands=n_bands, smoothness=1.5, random_state=seed)
    cube = np.array(scene.cube, dtype=np.float32)
    for r, c in NODATA_PIXELS:
        cube[r, c] = NODATA
    return cube, scene.wavelengths


def write_geotiff(path, cube, wavelengths=None, *, crs=CRS, transform=None, nodata=NODATA, tags="um"):
    """Write ``cube`` (h, w, b) as a GeoTIFF with rasterio; wavelengths as band metadata (micrometres) or not."""
    import rasterio

    h, w, b = cube.shape
    transform = geo_transform() if transform is None else transform
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=b, dtype=cube.dtype.name, crs=crs,
                       transform=transform, nodata=nodata) as dst:
        dst.write(np.ascontiguousarray(cube.transpose(2, 0, 1)))
        if wavelengths is not None and tags == "um":
            for i, wl in enumerate(wavelengths, start=1):
                dst.update_tags(i, wavelength=repr(float(wl) / 1000.0), wavelength_units="Micrometers")
        elif wavelengths is not None and tags == "imagery":
            for i, wl in enumerate(wavelengths, start=1):
                dst.update_tags(i, ns="IMAGERY", CENTRAL_WAVELENGTH_UM=repr(float(wl) / 1000.0))
    return path


def pixel_centres(transform, pixels):
    """Map coordinates (x, y) of the centres of ``(row, col)`` pixels."""
    from rasterio.transform import xy

    rows, cols = zip(*pixels, strict=True)
    return np.column_stack(xy(transform, list(rows), list(cols), offset="center"))


def write_csv(path, header, rows):
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_geojson(path, xy, properties, crs=None):
    features = [
        {"type": "Feature", "id": f"P{i}", "geometry": {"type": "Point", "coordinates": [float(x), float(y)]},
         "properties": props}
        for i, ((x, y), props) in enumerate(zip(xy, properties, strict=True))
    ]
    document = {"type": "FeatureCollection", "features": features}
    if crs is not None:
        document["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(document))
    return path
