"""Peak memory of `hyperspectral-cl predict --out` on a large GeoTIFF (default 2000 x 2000 x 100 float32).

Run: python benchmarks/predict_out.py [--size 2000] [--bands 100] [--window 5] [--batch-size 4096]
         [--threads 2] [--folder DIR] [--out benchmarks/results/predict_out.md]

1. Writes a GeoTIFF of ``size x size x bands`` float32 values (uncompressed, striped: its file size is the
   cube's size) with a UTM CRS and a nodata value, row block by row block with rasterio.
2. Trains a small model (PatchExtractor(window) + ContrastivePatchRegressor('li', module__n_planes=2),
   1 epoch on 1,000 windows of the top rows: its quality is irrelevant here) and saves it with save_weights.
3. Runs the command line's ``predict --model ... --image ... --out map.tif`` in a fresh process and reports
   its peak RSS increase: ``VmHWM`` at the end minus ``VmRSS`` once torch, rasterio and the package are
   imported (before the model and the image are read). The command reads the cube whole (the file's size)
   and writes the map block by block, so the increase should be the cube's size plus a bounded buffer
   (one batch of windows and what the network allocates for it, one row of map tiles).
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from predict_map import _status_kib  # the sibling benchmark's /proc reader (scripts run from benchmarks/)

HERE = Path(__file__).resolve().parent


def write_image(path, size, bands, seed=0):
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    base = rng.random(bands).astype(np.float32)  # one smooth spectrum, scaled per pixel
    with rasterio.open(path, "w", driver="GTiff", height=size, width=size, count=bands, dtype="float32",
                       crs="EPSG:32631", transform=from_origin(500000, 5000000, 10, 10), nodata=-9999,
                       interleave="pixel") as dst:
        step = max(1, (1 << 24) // (size * bands))
        for r in range(0, size, step):
            n = min(step, size - r)
            scale = rng.random((n, size, 1), dtype=np.float32) + 0.5
            block = scale * base + 0.01 * rng.standard_normal((n, size, bands), dtype=np.float32)
            dst.write(block.transpose(2, 0, 1), window=Window(0, r, size, n))


def train_model(image, window, path):
    from sklearn.pipeline import make_pipeline

    from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor, save_weights
    from hyperspectral_cl.datasets.raster import load_raster

    scene = load_raster(image, window=((0, 64), (0, 256)))
    rng = np.random.default_rng(0)
    positions = np.c_[rng.integers(0, 64 - window, 1000), rng.integers(0, 256 - window, 1000)]
    X, _, _ = scene.windows(window, positions=positions)
    y = X.mean(axis=(1, 2, 3))
    model = make_pipeline(PatchExtractor(window),
                          ContrastivePatchRegressor("li", module__n_planes=2, max_epochs=1, augment=None,
                                                    early_stopping=False, random_state=0))
    model.fit(X, y)
    save_weights(model, path)


def worker(args):
    import rasterio  # noqa: F401  (imported before the baseline, as the command imports it)
    import torch  # noqa: F401

    from hyperspectral_cl import cli
    from hyperspectral_cl.datasets import raster  # noqa: F401

    baseline = _status_kib("VmRSS")
    start = time.perf_counter()
    code = cli.main(["predict", "--model", args.model, "--image", args.image, "--out", args.map, "--threads",
                     str(args.threads), "--batch-size", str(args.batch_size), "--quiet"])
    seconds = time.perf_counter() - start
    print(json.dumps({"code": code, "seconds": seconds, "baseline_kib": baseline,
                      "peak_increase": (_status_kib("VmHWM") - baseline) * 1024}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--bands", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--folder", default=None, help="where the image, model and map go (default: a temporary one)")
    parser.add_argument("--out", default=None, help="markdown file for the result (default: print only)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--image", help=argparse.SUPPRESS)
    parser.add_argument("--map", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        image, model, out = folder / "cube.tif", folder / "model.pt", folder / "map.tif"
        write_image(image, args.size, args.bands)
        train_model(image, args.window, model)
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        result = subprocess.run(
            [sys.executable, __file__, "--worker", "--model", str(model), "--image", str(image), "--map", str(out),
             "--threads", str(args.threads), "--batch-size", str(args.batch_size)],
            capture_output=True, text=True, env=env, check=False,
        )
        if result.returncode != 0:
            sys.exit(result.stderr)
        measured = json.loads(result.stdout.strip().splitlines()[-1])
        file_size, map_size = image.stat().st_size, out.stat().st_size
    mib = 2**20
    pixels = args.size * args.size
    lines = [
        f"# `hyperspectral-cl predict --out`: peak memory ({datetime.date.today().isoformat()})",
        "",
        f"Image {args.size} x {args.size} x {args.bands} float32 GeoTIFF, {file_size / mib:,.0f} MiB on disk; "
        f"{args.window} x {args.window} windows, batch size {args.batch_size}, {args.threads} threads; model "
        f"PatchExtractor + ContrastivePatchRegressor('li', module__n_planes=2).",
        "",
        "| file size of the image | peak RSS increase of `predict` | increase beyond the file size | map file | "
        "time | pixels/s |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {file_size / mib:,.0f} MiB | {measured['peak_increase'] / mib:,.0f} MiB | "
        f"{(measured['peak_increase'] - file_size) / mib:,.0f} MiB | {map_size / mib:,.1f} MiB | "
        f"{measured['seconds']:.0f} s | {pixels / measured['seconds']:,.0f} |",
        "",
        "Peak RSS increase: `VmHWM` at the end of the command minus `VmRSS` after the imports (torch, rasterio, "
        "the package), in a fresh process.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
