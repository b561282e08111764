"""Throughput and peak memory of predict_map on a 1000 x 1000 x 224 synthetic cube.

Run: python benchmarks/predict_map.py [--size 1000] [--bands 224] [--window 5]
         [--batch-sizes 4096,1024] [--deep-rows 0] [--threads 2] [--device cpu]
         [--out benchmarks/results/predict_map.md]

Two fitted models map the whole scene (one window per pixel, border='reflect'):

* ``ridge``: Pipeline(MeanSpectrum(), Ridge()) — the cheap baseline;
* ``li``: Pipeline(PatchExtractor(5), ContrastivePatchRegressor('li',
  module__n_planes=2)) trained for 2 epochs on 2,000 windows (its quality is
  irrelevant here). ``--deep-rows N`` maps only N full-width rows (a crop of
  the scene) and extrapolates the full-scene time linearly (the work per pixel
  is constant); the default 0 maps the whole scene.

Every model runs once per batch size in ``--batch-sizes`` (memory grows with it).

Each model runs in a fresh subprocess that first loads the cube (written once
to a temporary .npy), so its memory figures are its own:

* **peak RSS increase**: ``VmHWM - VmRSS`` around the call, after resetting the
  high-water mark through ``/proc/self/clear_refs`` (Linux). It counts
  everything, torch's buffers included; where the reset is refused it falls
  back on ``ru_maxrss`` after/before (which can hide a peak lower than an
  earlier one, and is reported as such);
* **tracemalloc peak**: the largest total of numpy allocations alive during the
  call (numpy reports its buffers to tracemalloc; torch's are not seen).

Both are compared with the all-windows-at-once approach, whose window array
alone is ``H * W * window^2 * bands * 4`` bytes in float32.
"""

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from hyperspectral_cl._environment import cpu_name, versions

HERE = Path(__file__).resolve().parent


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _reset_peak():
    """Reset the process's RSS high-water mark; True if the kernel allowed it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def build_model(kind, cube, window, device, seed=0):
    """A fitted pipeline trained on a few windows of the top of the scene."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    from hyperspectral_cl import ContrastivePatchRegressor, MeanSpectrum, PatchExtractor

    rng = np.random.default_rng(seed)
    h, w, _ = cube.shape
    positions = np.c_[rng.integers(0, h - window, 2000), rng.integers(0, w - window, 2000)]
    from hyperspectral_cl.windows import extract_windows

    X, _, _ = extract_windows(cube, None, size=window, positions=positions)
    y = np.c_[X.mean(axis=(1, 2, 3)), X[:, :, :, 0].mean(axis=(1, 2))]  # any smooth target will do
    if kind == "ridge":
        model = make_pipeline(MeanSpectrum(), Ridge(alpha=1e-3))
    else:
        model = make_pipeline(
            PatchExtractor(window),
            ContrastivePatchRegressor("li", module__n_planes=2, max_epochs=2, batch_size=256, lr=1e-3,
                                      augment=None, random_state=seed, device=device),
        )
    return model.fit(X, y)


def worker(args):
    import torch

    torch.set_num_threads(args.threads)
    from hyperspectral_cl.mapping import predict_map

    cube = np.load(args.cube)  # fully in memory, as a user's cube would be
    model = build_model(args.worker, cube, args.window, args.device)
    rows = args.rows if args.rows else cube.shape[0]
    part = cube[:rows]
    # warm-up on a few rows (first-call costs: thread pools, lazy imports)
    predict_map(model, cube[: args.window + 2, :200], window_size=args.window, batch_size=args.batch_size)

    rss_before = _status_kib("VmRSS")
    reset = _reset_peak()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    out = predict_map(model, part, window_size=args.window, batch_size=args.batch_size)
    seconds = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if reset:
        rss_peak_increase = (_status_kib("VmHWM") - rss_before) * 1024
        method = "VmHWM - VmRSS (clear_refs reset)"
    else:
        rss_peak_increase = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss_before) * 1024
        method = "ru_maxrss after - before (lower bound)"
    print(json.dumps({
        "model": args.worker, "rows": int(part.shape[0]), "cols": int(part.shape[1]),
        "pixels": int(part.shape[0] * part.shape[1]), "seconds": seconds,
        "pixels_per_s": part.shape[0] * part.shape[1] / seconds,
        "rss_peak_increase": rss_peak_increase, "rss_method": method,
        "tracemalloc_peak": traced_peak, "cube_bytes": int(cube.nbytes), "map_bytes": int(out.nbytes),
        "finite": bool(np.isfinite(out).all()),
    }))


def gib(n):
    return n / 2**30


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="scene height and width")
    parser.add_argument("--bands", type=int, default=224)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--batch-sizes", default="4096,1024", help="comma-separated batch sizes")
    parser.add_argument("--batch-size", type=int, default=4096, help=argparse.SUPPRESS)
    parser.add_argument("--deep-rows", type=int, default=0, help="rows mapped by the deep model (0: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="torch device of the deep model")
    parser.add_argument("--models", default="ridge,li")
    parser.add_argument("--out", default=str(HERE / "results" / "predict_map.md"))
    parser.add_argument("--note", default="", help="a line appended to the report (e.g. about the machine's load)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--cube", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    from hyperspectral_cl.datasets import make_synthetic_scene

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        scene = make_synthetic_scene(4, shape=(args.size, args.size), n_bands=args.bands, random_state=0)
        gen_seconds = time.perf_counter() - start
        cube_path = Path(tmp) / "cube.npy"
        np.save(cube_path, scene.cube)
        cube_bytes = scene.cube.nbytes
        del scene
        print(f"cube {args.size} x {args.size} x {args.bands} float32 ({gib(cube_bytes):.2f} GiB) generated in "
              f"{gen_seconds:.1f} s", flush=True)
        results = []
        batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
        for model in args.models.split(","):
            for batch_size in batch_sizes:
                rows = args.deep_rows if model == "li" else 0
                cmd = [sys.executable, __file__, "--worker", model, "--cube", str(cube_path), "--rows", str(rows),
                       "--window", str(args.window), "--batch-size", str(batch_size),
                       "--threads", str(args.threads), "--device", args.device]
                env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
                if proc.returncode:
                    sys.stderr.write(proc.stderr)
                    raise SystemExit(f"worker {model} failed")
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                res["batch_size"] = batch_size
                results.append(res)
                print(json.dumps(res), flush=True)

    n_pixels = args.size * args.size
    naive = n_pixels * args.window**2 * args.bands * 4
    window_bytes = args.window**2 * args.bands * 4
    lines = [
        "# predict_map: throughput and peak memory",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- device: {cpu_name()}, {os.cpu_count()} logical CPUs visible, torch threads {args.threads}"
        + (f", deep model on {args.device}" if args.device != "cpu" else ""),
        f"- versions: {versions()}",
        f"- scene: synthetic {args.size} x {args.size} x {args.bands} float32 cube ({gib(cube_bytes):.2f} GiB), "
        f"{args.window} x {args.window} windows, border='reflect' (one window per pixel); one batch of windows "
        f"is batch_size x {window_bytes / 2**10:.1f} KiB in float32",
        "- models: ridge = Pipeline(MeanSpectrum(), Ridge(alpha=1e-3)); li = Pipeline(PatchExtractor(5), "
        "ContrastivePatchRegressor('li', module__n_planes=2, augment=None)) trained 2 epochs on 2,000 windows "
        "(quality irrelevant here); each in a fresh process, after a warm-up call",
        f"- command: `python benchmarks/predict_map.py --size {args.size} --bands {args.bands} --window {args.window} "
        f"--batch-sizes {args.batch_sizes} --deep-rows {args.deep_rows} --threads {args.threads}"
        + (f" --device {args.device}" if args.device != "cpu" else "") + "`",
        "",
        "| model | batch_size | pixels mapped | time (s) | pixels/s | full scene (s) | peak RSS increase "
        "| tracemalloc peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        full = n_pixels / r["pixels_per_s"]
        extrapolated = r["pixels"] < n_pixels
        lines.append(
            f"| {r['model']} | {r['batch_size']} | {r['pixels']:,} ({r['rows']} rows) | {r['seconds']:.1f} | "
            f"{r['pixels_per_s']:,.0f} | {full:,.1f}{' (extrapolated)' if extrapolated else ''} | "
            f"{r['rss_peak_increase'] / 2**20:,.0f} MiB | "
            f"{r['tracemalloc_peak'] / 2**20:,.0f} MiB |"
        )
    lines += [
        "",
        f"The window array of the all-windows-at-once approach would be {gib(naive):.1f} GiB in float32 "
        f"({n_pixels:,} windows x {args.window}^2 x {args.bands} x 4 bytes), {naive / cube_bytes:.0f} times the cube, "
        f"before any copy the model makes (MeanSpectrum's float64 conversion alone would double it). predict_map "
        f"adds the peaks above on top of the {gib(cube_bytes):.2f} GiB cube (they include the output map, "
        f"{results[0]['map_bytes'] / 2**20:.0f} MiB).",
        "",
        f"Memory measured as: {results[0]['rss_method']}; tracemalloc sees numpy's buffers only (not torch's).",
    ]
    if args.note:
        lines += ["", args.note]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
