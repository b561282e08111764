"""From a GeoTIFF and a file of field samples to a georeferenced map, shown over the scene.

Run: python examples/geotiff_to_map.py [--folder DIR] [--epochs 30]   (needs the io and plot extras;
about a minute on 2 CPU cores)

A synthetic scene stands in for a survey: it is written as a GeoTIFF in UTM zone 31N (10 m pixels, a
no-data border), and 80 "field samples" of one abundance are written as a CSV of map coordinates, as a
field campaign would deliver them. The script then does what a user does with their own files: read the
image and the samples, cut windows around the samples, fit the default pipeline, predict the whole scene
into a GeoTIFF, read the map back and draw it beside a false-colour view of the scene with the samples on
top (``geotiff_to_map.png`` in the folder).
"""

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline

from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor
from hyperspectral_cl.datasets import load_raster, make_synthetic_scene, read_points, save_raster, windows_at_points
from hyperspectral_cl.mapping import predict_map


def write_survey(folder, n_samples=80, seed=0):
    """A synthetic GeoTIFF (with a no-data border) and a CSV of samples in map coordinates; the true map."""
    import rasterio
    from rasterio.transform import from_origin

    scene = make_synthetic_scene(n_endmembers=3, shape=(80, 80), n_bands=40, smoothness=2.0, random_state=seed)
    cube = scene.cube.copy()
    cube[:3] = cube[:, :3] = -9999.0  # a no-data border, as a mosaic's edge would have
    transform = from_origin(430_000.0, 4_920_000.0, 10.0, 10.0)  # UTM 31N, 10 m pixels
    image = folder / "scene.tif"
    save_raster(image, cube, crs="EPSG:32631", transform=transform, nodata=-9999.0,
                names=[f"band {i + 1}" for i in range(cube.shape[2])])
    rng = np.random.default_rng(seed)
    rows, cols = np.divmod(rng.choice(64 * 64, n_samples, replace=False), 64)  # distinct pixels, off the border
    rows, cols = rows + 8, cols + 8
    samples = folder / "samples.csv"
    with open(samples, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["x", "y", "cover"])
        for r, c in zip(rows, cols, strict=True):
            x, y = rasterio.transform.xy(transform, r, c)  # the pixel's centre, in metres
            out.writerow([f"{x:.1f}", f"{y:.1f}", f"{scene.targets[r, c, 0]:.4f}"])
    return image, samples, scene.targets[..., 0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=None, help="where the files go (default: a temporary folder)")
    parser.add_argument("--epochs", type=int, default=30, help="epoch budget of the network (default 30)")
    args = parser.parse_args()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="geotiff_to_map_"))
    folder.mkdir(parents=True, exist_ok=True)
    image, samples, truth = write_survey(folder)

    # what a user does with their own files
    scene = load_raster(image)                                   # CRS, transform, nodata, band names
    points = read_points(samples, targets="cover")               # x, y in the image's CRS
    X, y, coords = windows_at_points(scene, points, size=7)
    print(f"{scene.cube.shape[0]} x {scene.cube.shape[1]} pixels, {scene.cube.shape[2]} bands, CRS {scene.crs}; "
          f"{len(points.values)} samples -> {len(X)} training windows")
    model = make_pipeline(PatchExtractor(7), ContrastivePatchRegressor(
        "li", spectrum_norm="l2", max_epochs=args.epochs, random_state=0))
    model.fit(X, y, contrastivepatchregressor__groups=coords)
    out = predict_map(model, scene, out=folder / "cover.tif", out_options={"names": ["cover"]})

    import rasterio

    with rasterio.open(out) as src:  # the map as a GIS sees it
        cover = src.read(1, masked=True)
        print(f"wrote {out}: {src.width} x {src.height}, {src.crs}, pixel {src.res[0]:g} m, "
              f"band '{src.descriptions[0]}', nodata {src.nodata}")
    valid = ~np.ma.getmaskarray(cover)
    print(f"R^2 of the map against the true cover on the {int(valid.sum())} mapped pixels: "
          f"{r2_score(truth[valid], cover.data[valid]):.3f}")
    try:
        draw(scene, cover, points, folder / "geotiff_to_map.png")
    except ImportError:
        print("matplotlib is not installed: no figure")


def draw(scene, cover, points, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cube = np.where(scene.nodata_mask()[..., None], np.nan, scene.cube)
    bands = [int(len(scene.wavelengths) * f) for f in (0.8, 0.5, 0.2)] if scene.wavelengths is not None else [30, 20, 8]
    rgb = cube[..., bands]
    rgb = (rgb - np.nanpercentile(rgb, 2)) / (np.nanpercentile(rgb, 98) - np.nanpercentile(rgb, 2))
    left, bottom = scene.transform * (0, scene.cube.shape[0])  # corners of the image, in map units
    right, top = scene.transform * (scene.cube.shape[1], 0)
    extent = (left, right, bottom, top)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharex=True, sharey=True)
    axes[0].imshow(np.nan_to_num(np.clip(rgb, 0, 1)), extent=extent)
    axes[0].set_title("scene (false colour), samples")
    low, high = np.percentile(cover.compressed(), [1, 99])
    im = axes[1].imshow(cover, extent=extent, cmap="viridis", vmin=low, vmax=high)
    axes[1].set_title("predicted cover (GeoTIFF read back)")
    km = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:.1f}")
    for ax in axes:
        ax.scatter(points.positions[:, 0], points.positions[:, 1], s=8, c="w", edgecolors="k", linewidths=0.5)
        ax.set_xlabel("easting (km, UTM 31N)")
        ax.xaxis.set_major_formatter(km)
        ax.yaxis.set_major_formatter(km)
    axes[0].set_ylabel("northing (km)")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
