"""
From a GeoTIFF and field samples to a georeferenced map
=======================================================

A synthetic scene stands in for a survey: it is written as a GeoTIFF in UTM zone 31N (10 m pixels, a
no-data border), and 80 "field samples" of one abundance are written as a CSV of map coordinates, as a field
campaign would deliver them. The example then does what a user does with their own files: read the image and
the samples, cut windows around the samples, fit the default pipeline, predict the whole scene into a
GeoTIFF, read the map back and draw it beside a false-colour view of the scene, with the samples on top. The
map is scored against the true cover, next to ridge regression on the same 80 samples.

Run it with ``python examples/plot_geotiff_to_map.py [--folder DIR] [--epochs 30]``: about 10 s on 2 CPU
cores. Needs the ``io`` and ``plot`` extras (rasterio, matplotlib). The files (``scene.tif``,
``samples.csv``, ``cover.tif``, ``geotiff_to_map.png``) go to ``--folder``, by default a new temporary
folder.
"""

# %%
# Settings
# --------
# The options only matter when the file is run as a script; the documentation build runs it with none.
import argparse
import csv
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import rasterio
from matplotlib.ticker import FuncFormatter
from rasterio.transform import from_origin
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline

from hyperspectral_cl import ContrastivePatchRegressor, MeanSpectrum, PatchExtractor, predict_map
from hyperspectral_cl.datasets import load_raster, make_synthetic_scene, read_points, save_raster, windows_at_points

parser = argparse.ArgumentParser(description="From a GeoTIFF and field samples to a georeferenced map.")
parser.add_argument("--folder", default=None, help="where the files go (default: a temporary folder)")
parser.add_argument("--epochs", type=int, default=30, help="epoch budget of the network (default 30)")
args, _ = parser.parse_known_args()
folder = Path(args.folder or tempfile.mkdtemp(prefix="geotiff_to_map_"))
folder.mkdir(parents=True, exist_ok=True)

# %%
# A synthetic survey
# ------------------
# An 80 x 80 pixel scene with 40 bands, written with :func:`~hyperspectral_cl.datasets.save_raster` as a
# GeoTIFF with a coordinate reference system, a transform (10 m pixels) and a no-data border of 3 pixels,
# as a mosaic's edge would have. 80 distinct pixels away from the border become the field samples: their
# map coordinates (pixel centres, in metres) and the first abundance ("cover") go to a CSV file.
seed = 0
n_samples = 80
synthetic = make_synthetic_scene(n_endmembers=3, shape=(80, 80), n_bands=40, smoothness=2.0, random_state=seed)
truth = synthetic.targets[..., 0]
cube = synthetic.cube.copy()
cube[:3] = cube[:, :3] = -9999.0  # a no-data border
transform = from_origin(430_000.0, 4_920_000.0, 10.0, 10.0)  # UTM 31N, 10 m pixels
image = folder / "scene.tif"
save_raster(image, cube, crs="EPSG:32631", transform=transform, nodata=-9999.0,
            names=[f"band {i + 1}" for i in range(cube.shape[2])])
rng = np.random.default_rng(seed)
sample_rows, sample_cols = np.divmod(rng.choice(64 * 64, n_samples, replace=False), 64)  # distinct pixels
sample_rows, sample_cols = sample_rows + 8, sample_cols + 8  # off the border
samples = folder / "samples.csv"
with open(samples, "w", newline="") as fh:
    writer = csv.writer(fh)
    writer.writerow(["x", "y", "cover"])
    for r, c in zip(sample_rows, sample_cols, strict=True):
        x, y = rasterio.transform.xy(transform, r, c)  # the pixel's centre, in metres
        writer.writerow([f"{x:.1f}", f"{y:.1f}", f"{truth[r, c]:.4f}"])

# %%
# Reading the files, as with your own
# ------------------------------------
# :func:`~hyperspectral_cl.datasets.load_raster` reads the image with its CRS, transform, no-data value and
# band names; :func:`~hyperspectral_cl.datasets.read_points` reads the samples' map coordinates and values;
# :func:`~hyperspectral_cl.datasets.windows_at_points` cuts a 7 x 7 window around each sample and returns
# the windows' positions (``coords``) for the spatial early stopping.
scene = load_raster(image)
points = read_points(samples, targets="cover")
X, y, coords = windows_at_points(scene, points, size=7)
print(f"{scene.cube.shape[0]} x {scene.cube.shape[1]} pixels, {scene.cube.shape[2]} bands, CRS {scene.crs}; "
      f"{len(points.values)} samples -> {len(X)} training windows")

# %%
# Fit, then map the scene into a GeoTIFF
# --------------------------------------
# :func:`~hyperspectral_cl.predict_map` predicts one window per pixel and, with ``out``, writes the map as a
# GeoTIFF with the scene's georeference; pixels whose window touches no-data are no-data in the map.
model = make_pipeline(PatchExtractor(7), ContrastivePatchRegressor(
    "li", spectrum_norm="l2", max_epochs=args.epochs, random_state=0))
model.fit(X, y, contrastivepatchregressor__groups=coords)
out = predict_map(model, scene, out=folder / "cover.tif", out_options={"names": ["cover"]})

with rasterio.open(out) as src:  # the map as a GIS sees it
    cover = src.read(1, masked=True)
    print(f"wrote {out}: {src.width} x {src.height}, {src.crs}, pixel {src.res[0]:g} m, "
          f"band '{src.descriptions[0]}', nodata {src.nodata}")

# %%
# The map against the truth, beside ridge
# ---------------------------------------
# The synthetic survey has a true cover everywhere, so the map can be scored on every mapped pixel. Ridge
# regression on L2-normalised mean spectra, trained on the same 80 windows, is mapped and scored the same way.
valid = ~np.ma.getmaskarray(cover)
ridge = make_pipeline(MeanSpectrum(normalize=True), RidgeCV(alphas=np.logspace(-6, 6, 25))).fit(X, y)
ridge_map = predict_map(ridge, scene, window_size=7).reshape(truth.shape)  # one target
fitted = model[-1]
print(f"R^2 against the true cover on the {int(valid.sum())} mapped pixels:")
print(f"  {f'network (li, {args.epochs} epochs)':<38}{r2_score(truth[valid], cover.data[valid]):6.3f}")
print(f"  {'ridge on L2-normalised mean spectra':<38}{r2_score(truth[valid], ridge_map[valid]):6.3f}")
if getattr(fitted, "blend_", None) is not None:
    print(f"  (network share of the network's model: {np.round(fitted.blend_, 2)}; 0 means it is its own ridge)")

# %%
# The map over the scene
# ----------------------
# Both panels are drawn in map coordinates (the transform gives the image corners), with the samples on
# top; the figure is also saved as ``geotiff_to_map.png`` in the folder.
data = np.where(scene.nodata_mask()[..., None], np.nan, scene.cube)
n_bands = scene.cube.shape[2]
bands = [int(n_bands * f) for f in (0.8, 0.5, 0.2)]
rgb = data[..., bands]
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
km = FuncFormatter(lambda v, _: f"{v / 1000:.1f}")
for ax in axes:
    ax.scatter(points.positions[:, 0], points.positions[:, 1], s=8, c="w", edgecolors="k", linewidths=0.5)
    ax.set_xlabel("easting (km, UTM 31N)")
    ax.xaxis.set_major_formatter(km)
    ax.yaxis.set_major_formatter(km)
axes[0].set_ylabel("northing (km)")
fig.colorbar(im, ax=axes[1], fraction=0.046)
fig.tight_layout()
fig.savefig(folder / "geotiff_to_map.png", dpi=100)
print(f"wrote {folder / 'geotiff_to_map.png'}")
plt.show()
