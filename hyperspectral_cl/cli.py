"""Command line: ``hyperspectral-cl demo``, ``reproduce``, ``fit`` and ``predict``.

``fit`` and ``predict`` go from files to files for people who do not write
Python: a georeferenced image and a file of field samples to a weights-only
model file, then a model and an image to a georeferenced map (GeoTIFF).
"""

import argparse
import json
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from ._version import __version__
from .allocator import keep_freed_memory
from .network import SPECTRUM_NORMS

__all__ = ["main"]

#: ``--spectrum-norm`` choices: the normalisations the estimators accept, None spelled 'none'
SPECTRUM_NORM_CHOICES = {"none" if norm is None else norm: norm for norm in SPECTRUM_NORMS}


def _count(text, allow_all=False):
    """argparse type: a positive integer (or -1, 'one per core', when ``allow_all``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value >= 1 or (allow_all and value == -1):
        return value
    raise argparse.ArgumentTypeError(f"expected a positive integer{' or -1' if allow_all else ''}, got {text!r}")


def _demo(args):
    import torch

    from .demo import run_demo

    torch.set_num_threads(args.threads)
    run_demo(epochs=args.epochs, backbone=args.backbone, random_state=args.seed, device=args.device,
             verbose=0 if args.quiet else 1)
    return 0


def _reproduce(args):
    import torch

    from .reproduce import default_cache_dir, run_reproduction, write_report

    jobs = args.jobs if args.jobs is not None else (1 if args.device != "cpu" else -1)
    threads = args.threads if args.threads is not None else 1
    if jobs == 1:  # tasks run in this process: the threads apply here (with workers, in each worker)
        torch.set_num_threads(threads)
    cache = None if args.no_cache else (args.cache_dir or default_cache_dir() / f"{args.dataset}-{args.preset}")
    if not args.quiet:
        print("finished tasks are " + (f"cached in {cache} (--no-cache: keep nothing)" if cache is not None
                                       else "not cached (--no-cache)"), file=sys.stderr)
    try:
        results = run_reproduction(
            args.dataset, args.preset, seeds=args.seeds, backbones=args.backbones, variants=args.variants,
            device=args.device, spectrum_norm=SPECTRUM_NORM_CHOICES[args.spectrum_norm], cache_dir=cache,
            data_dir=args.data_dir, samson=args.samson, usgs=args.usgs, progress=not args.quiet,
            n_jobs=jobs, threads=threads,
        )
    except FileNotFoundError as exc:
        print(f"hyperspectral-cl reproduce: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # no report from an unfinished grid; the shell's convention for Ctrl-C is 128 + SIGINT
        kept = ("nothing was kept (--no-cache)" if cache is None
                else f"the finished tasks are cached in {cache}: run the same command to resume")
        print(f"hyperspectral-cl reproduce: interrupted, no report written; {kept}", file=sys.stderr)
        return 130
    for path in write_report(results, args.out, stem=f"reproduce_{args.dataset}_{args.preset}"):
        print(f"wrote {path}")
    return 0


#: Suffix of the file beside a model that ``fit`` writes and ``predict`` reads (target names, training details)
SIDECAR_SUFFIX = ".json"
SIDECAR_FORMAT = "hyperspectral_cl.cli.model"

FIT_EXAMPLES = """examples:
  hyperspectral-cl fit --image scene.tif --labels samples.csv --target carbon --window 9 --backbone li --out model.pt
  hyperspectral-cl fit --image scene.tif --labels plots.geojson --target cover --window 5 --cv-blocks 3x3 \\
      --epochs 50 --out cover.pt
  hyperspectral-cl fit --image scene.tif --labels samples.csv --rowcol line sample --target carbon --out model.pt

The samples file: a CSV with x/y map coordinates (in the image's CRS, or --labels-crs; lon/lat columns are
WGS 84) or row/col pixel positions (0-based), one sample per line and one column per measured value; or a
GeoJSON FeatureCollection of points (WGS 84 unless it has a 'crs' member) with the values in 'properties'.
A window of --window x --window pixels is cut around each sample's pixel. Samples in one pixel are averaged
(--duplicates). The score printed is a spatial cross-validation (blocks of the samples' extent, with a
buffer of half a window), not a random split, which overstates it. Writes the model (weights only, no
pickled code) and, beside it, MODEL.json with the target names and the scores (read by predict)."""

PREDICT_EXAMPLES = """examples:
  hyperspectral-cl predict --model model.pt --image scene.tif --out map.tif
  hyperspectral-cl predict --model model.pt --image other_scene.tif --out map.tif --border valid --batch-size 1024

Writes a tiled, compressed GeoTIFF with the image's CRS, transform and nodata value, one band per target
(named after the targets), row block by row block: the map never sits whole in memory. Pixels whose window
touches no-data are nodata in the map."""


class _CommandError(Exception):
    """A problem with the command's inputs: printed as one line, exit status 2."""


@contextmanager
def _warnings_as_lines(command):
    """Show warnings as ``hyperspectral-cl <command>: warning: ...`` lines instead of source locations."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"hyperspectral-cl {command}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield


def _blocks(text):
    """argparse type: ``'2x2'``, ``'3'`` (3 x 3) or ``'0'`` (no cross-validation)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if parts == [0]:
        return None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1 or parts[0] * parts[1] < 2:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS blocks (e.g. 2x2, 4x1), a number k (k x k) or 0 "
                                         f"(no cross-validation), got {text!r}")
    return tuple(parts)


def _check_output(path, option):
    """Fail before the work, not after it, when the output cannot be written."""
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise _CommandError(f"{path}: the folder {folder} does not exist ({option})")
    if Path(path).is_dir():
        raise _CommandError(f"{path} is a folder; give a file name ({option})")


def _load_image(path):
    from .datasets.raster import load_raster

    if not Path(path).exists():
        raise _CommandError(f"{path}: no such file (--image)")
    return load_raster(path)


def _model_bands(model):
    steps = getattr(model, "steps", None) or [(None, model)]
    return getattr(steps[0][1], "n_bands_in_", None)


def _cross_validate(model, X, y, coords, window, blocks, names):
    """Out-of-fold predictions of a spatial block split; prints and returns the scores."""
    import numpy as np
    from sklearn.metrics import mean_absolute_error, r2_score
    from sklearn.model_selection import cross_val_predict

    from .model_selection import SpatialBlockSplit

    cv = SpatialBlockSplit(window_size=window, n_blocks=blocks)
    try:
        folds = list(cv.split(X, y, groups=coords))
    except ValueError as exc:
        raise _CommandError(f"cannot cross-validate on {blocks[0]} x {blocks[1]} blocks: {exc}; choose other "
                            f"--cv-blocks (0 skips cross-validation)") from None
    print(f"spatial cross-validation: {len(folds)} folds ({blocks[0]} x {blocks[1]} blocks of the samples' extent, "
          f"buffer {window // 2} px), {len(X)} samples")
    for k, (train, test) in enumerate(folds, start=1):
        print(f"fold {k}/{len(folds)}: {len(train)} training, {len(test)} test samples")
    # positions go to the networks' early-stopping hold-out, cut to each fold's training windows
    pred = cross_val_predict(model, X, y, cv=folds, params={"contrastivepatchregressor__groups": coords})
    pred = np.asarray(pred).reshape(len(y), -1)
    scores = {}
    for j, name in enumerate(names):
        r2 = float(r2_score(y[:, j], pred[:, j]))
        mae = float(mean_absolute_error(y[:, j], pred[:, j]))
        rmse = float(np.sqrt(np.mean((y[:, j] - pred[:, j]) ** 2)))
        scores[name] = {"r2": r2, "mae": mae, "rmse": rmse}
        print(f"{name}: R^2 {r2:.3f}  MAE {mae:.4g}  RMSE {rmse:.4g}  (out-of-fold predictions of all {len(y)} "
              f"samples)")
    return {"blocks": list(blocks), "folds": len(folds), "scores": scores}


def _fit(args):
    import torch
    from sklearn.pipeline import Pipeline

    from .datasets.points import read_points, windows_at_points
    from .estimator import ContrastivePatchRegressor
    from .patches import PatchExtractor
    from .persistence import save_weights

    if args.threads:
        torch.set_num_threads(args.threads)
    patch_size = args.patch_size or args.window
    if patch_size > args.window:
        raise _CommandError(f"--patch-size {patch_size} is larger than --window {args.window}")
    _check_output(args.out, "--out")
    scene = _load_image(args.image)
    if not Path(args.labels).exists():
        raise _CommandError(f"{args.labels}: no such file (--labels)")
    columns = {}
    if args.xy:
        columns.update(x=args.xy[0], y=args.xy[1])
    if args.rowcol:
        columns.update(row=args.rowcol[0], col=args.rowcol[1])
    points = read_points(args.labels, targets=args.target, crs=args.labels_crs, **columns)
    X, y, coords = windows_at_points(scene, points, args.window, duplicates=args.duplicates)
    print(f"{args.image}: {scene.shape[0]} x {scene.shape[1]} pixels, {scene.n_bands} bands; {args.labels}: "
          f"{len(points)} samples of {', '.join(points.target_names)} -> {len(X)} windows of {args.window} x "
          f"{args.window} pixels")
    if len(X) < 2:
        raise _CommandError(f"{args.labels}: {len(X)} usable sample(s); at least 2 are needed to train")
    net = ContrastivePatchRegressor(
        args.backbone, spectrum_norm=SPECTRUM_NORM_CHOICES[args.spectrum_norm], max_epochs=args.epochs,
        random_state=args.seed, device=args.device, verbose=0 if args.quiet else 1,
    )
    model = Pipeline([("patchextractor", PatchExtractor(patch_size)), ("contrastivepatchregressor", net)])
    cv = None
    if args.cv_blocks is not None:
        cv = _cross_validate(model, X, y, coords, args.window, args.cv_blocks, points.target_names)
    print(f"training on all {len(X)} samples")
    model.fit(X, y, contrastivepatchregressor__groups=coords)
    out = Path(args.out)
    try:
        save_weights(model, out)
    except OSError as exc:
        raise _CommandError(f"{out}: cannot write the model ({exc})") from None
    sidecar = {
        "format": SIDECAR_FORMAT, "target_names": points.target_names, "window": args.window,
        "n_bands": scene.n_bands, "wavelengths": None if scene.wavelengths is None else scene.wavelengths.tolist(),
        "image": str(args.image), "labels": str(args.labels), "n_samples": len(X), "cross_validation": cv,
    }
    sidecar_path = out.with_name(out.name + SIDECAR_SUFFIX)
    sidecar_path.write_text(json.dumps(sidecar, indent=2))
    print(f"wrote {out} and {sidecar_path}")
    return 0


def _read_sidecar(model_path):
    path = Path(model_path).with_name(Path(model_path).name + SIDECAR_SUFFIX)
    if not path.is_file():
        return {}
    try:
        sidecar = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _CommandError(f"{path}: not the JSON file written by `hyperspectral-cl fit` ({exc})") from None
    if not isinstance(sidecar, dict) or sidecar.get("format") != SIDECAR_FORMAT:
        raise _CommandError(f"{path}: not the JSON file written by `hyperspectral-cl fit` (no 'format': "
                            f"{SIDECAR_FORMAT!r}); move it away to predict without it")
    return sidecar


def _predict(args):
    import numpy as np
    import torch

    from .mapping import predict_map
    from .persistence import load_weights

    if args.threads:
        torch.set_num_threads(args.threads)
    if not Path(args.model).exists():
        raise _CommandError(f"{args.model}: no such file (--model)")
    _check_output(args.out, "--out")
    model = load_weights(args.model, device=args.device)
    sidecar = _read_sidecar(args.model)
    scene = _load_image(args.image)
    n_bands = _model_bands(model)
    if n_bands is not None and n_bands != scene.n_bands:
        raise _CommandError(f"{args.image} has {scene.n_bands} bands, but {args.model} was trained on {n_bands}")
    trained = sidecar.get("wavelengths")
    if trained is not None and scene.wavelengths is not None and not np.allclose(trained, scene.wavelengths,
                                                                                 atol=0.5):
        raise _CommandError(f"the band wavelengths of {args.image} differ from those of the image {args.model} "
                            f"was trained on ({sidecar.get('image')}), by up to "
                            f"{np.max(np.abs(np.subtract(trained, scene.wavelengths))):.3g} nm")
    names = sidecar.get("target_names")
    options = {"names": names} if names else {}
    out = predict_map(model, scene, batch_size=args.batch_size, border=args.border, out=args.out,
                      out_options=options, progress=not args.quiet)
    print(f"wrote {out}")
    return 0


def build_parser():
    """The argument parser of the ``hyperspectral-cl`` command."""
    from .reproduce.presets import VARIANTS

    parser = argparse.ArgumentParser(
        prog="hyperspectral-cl",
        description="Spectral-spatial contrastive learning for regression on hyperspectral patches.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="train the default network and its contrastive variant beside ridge and kernel ridge on a built-in "
             "synthetic scene",
    )
    demo.add_argument("--epochs", type=int, default=100,
                      help="epoch budget per network; early stopping usually ends sooner (default 100)")
    demo.add_argument("--backbone", default="pixel-mlp",
                      help="pixel-mlp, luo, hamida, li, atik or varahagiri (default pixel-mlp)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    demo.add_argument("--threads", type=_count, default=1,
                      help="torch CPU threads (default 1: as fast as 2 on a quiet 2-core machine, with half the CPU "
                           "time, and twice as fast beside another busy process)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)

    rep = sub.add_parser(
        "reproduce",
        help="the paper's tables: every backbone x {baseline, spectral, spatial, spectral+spatial} beside ridge "
             "and PLS, on random and spatial splits",
        description="Train and evaluate the backbones (the paper's five; li and hamida with --preset paper-cpu) "
                    "with and without contrastive learning, and ridge/PLS baselines, on the same random and "
                    "spatial splits; write markdown, CSV and PNG results. "
                    "Finished runs are cached and skipped when the command is repeated.",
    )
    rep.add_argument("--dataset", default="synthetic", choices=["synthetic", "samson"], help="(default synthetic)")
    rep.add_argument("--preset", default="quick", choices=["quick", "cpu", "paper-cpu", "full"],
                     help="quick: 1.5-6 minutes on 2 CPU cores, by the CPU; cpu: about an hour; paper-cpu: the paper's "
                          "10 x 10 windows and every band for li and hamida (about 2 hours for Samson on 2 CPU "
                          "cores, an estimated 3 for the synthetic scene); full: the paper's scale (GPU) "
                          "(default quick)")
    rep.add_argument("--seeds", type=int, default=None, help="seeds per row (default: the preset's)")
    rep.add_argument("--backbones", nargs="+", default=None,
                     help="(default: the preset's: all five; li and hamida for paper-cpu)")
    rep.add_argument("--variants", nargs="+", default=None, choices=list(VARIANTS), metavar="VARIANT",
                     help="rows to train, quoted where they hold spaces: " + ", ".join(map(repr, VARIANTS))
                          + " (default: the preset's: every one; baseline and spectral+spatial in both recipes "
                            "for paper-cpu)")
    rep.add_argument("--spectrum-norm", default="l2", choices=list(SPECTRUM_NORM_CHOICES),
                     help="per-pixel spectrum normalisation inside the networks (default l2)")
    rep.add_argument("--data-dir", default=None,
                     help="folder with samson/ and usgs_library/ (default: $HYPERSPECTRAL_CL_DATA or ../shared/data)")
    rep.add_argument("--samson", default=None, help="Samson .mat file or folder (with ground truth; default: samson/ in the data folder)")
    rep.add_argument("--usgs", default=None, help="USGS library for the synthetic endmembers (default: built-in "
                                                  "generator when none is found)")
    rep.add_argument("--out", default="reproduce_results", help="output folder (default ./reproduce_results)")
    rep.add_argument("--cache-dir", default=None, help="where finished runs are kept (default: the user cache)")
    rep.add_argument("--no-cache", action="store_true", help="keep nothing on disk between calls")
    rep.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    rep.add_argument("--jobs", type=lambda t: _count(t, allow_all=True), default=None,
                     help="worker processes running tasks side by side (default: one per CPU core on the CPU, "
                          "1 with --device cuda; -1: one per core)")
    rep.add_argument("--threads", type=_count, default=None,
                     help="torch threads per worker (default 1: one single-threaded process per core is faster "
                          "than threads for these small networks, and does not spin when the machine is busy)")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    rep.set_defaults(func=_reproduce)

    fit = sub.add_parser(
        "fit",
        help="train a model on a georeferenced image and field samples (CSV or GeoJSON points)",
        description="Train a network on windows of an image around field samples, print a spatial cross-validation "
                    "score, and save the model as a weights-only file.",
        epilog=FIT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("--image", required=True, help="the image: a GeoTIFF or any raster GDAL reads (ENVI .hdr too)")
    fit.add_argument("--labels", required=True, help="the samples: .csv/.tsv or .geojson points with measured values")
    fit.add_argument("--target", nargs="+", default=None, metavar="NAME",
                     help="the column(s) or properties to learn (default: the one numeric column besides the "
                          "coordinates)")
    fit.add_argument("--window", type=_count, default=9, help="side of the window around each sample, in pixels "
                                                               "(default 9)")
    fit.add_argument("--patch-size", type=_count, default=None,
                     help="side of the centre patch the network sees (default: the window)")
    fit.add_argument("--backbone", default="pixel-mlp",
                      help="pixel-mlp, luo, hamida, li, atik or varahagiri (default pixel-mlp)")
    fit.add_argument("--out", required=True, help="the model file to write (e.g. model.pt), and MODEL.json beside it")
    fit.add_argument("--epochs", type=_count, default=100,
                     help="epoch budget; early stopping usually ends sooner (default 100)")
    fit.add_argument("--spectrum-norm", default="l2", choices=list(SPECTRUM_NORM_CHOICES),
                     help="per-pixel spectrum normalisation inside the network (default l2: insensitive to "
                          "illumination)")
    fit.add_argument("--cv-blocks", type=_blocks, default=(2, 2), metavar="ROWSxCOLS",
                     help="spatial cross-validation blocks (default 2x2; 0: no cross-validation)")
    fit.add_argument("--duplicates", default="mean", choices=["mean", "keep", "raise"],
                     help="samples in the same pixel: average them (default), keep each, or stop with an error")
    fit.add_argument("--xy", nargs=2, metavar=("XCOL", "YCOL"), default=None,
                     help="CSV columns of the map coordinates (default: x/y, easting/northing or lon/lat)")
    fit.add_argument("--rowcol", nargs=2, metavar=("ROWCOL", "COLCOL"), default=None,
                     help="CSV columns of pixel positions, 0-based (default: row/col)")
    fit.add_argument("--labels-crs", default=None, metavar="CRS",
                     help="CRS of the samples' map coordinates, e.g. EPSG:4326 (default: the image's for a CSV, "
                          "WGS 84 or the file's 'crs' member for GeoJSON)")
    fit.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fit.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    fit.add_argument("--threads", type=_count, default=None, help="torch CPU threads (default: torch's choice)")
    fit.add_argument("--quiet", action="store_true", help="no progress bars")
    fit.set_defaults(func=_fit)

    pred = sub.add_parser(
        "predict",
        help="write the map of a model over a georeferenced image (GeoTIFF)",
        description="Predict every pixel of an image with a model written by `hyperspectral-cl fit` and write a "
                    "georeferenced map.",
        epilog=PREDICT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pred.add_argument("--model", required=True, help="a model file written by `hyperspectral-cl fit` (weights only)")
    pred.add_argument("--image", required=True, help="the image: a GeoTIFF or any raster GDAL reads")
    pred.add_argument("--out", required=True, help="the map to write (GeoTIFF)")
    pred.add_argument("--batch-size", type=_count, default=4096,
                      help="windows per prediction call; memory grows with it (default 4096)")
    pred.add_argument("--border", default="reflect", choices=["reflect", "valid"],
                      help="reflect: predict every pixel; valid: leave nodata where the window crosses the border")
    pred.add_argument("--device", default=None, help="torch device (default: the one saved, else cpu)")
    pred.add_argument("--threads", type=_count, default=None, help="torch CPU threads (default: torch's choice)")
    pred.add_argument("--quiet", action="store_true", help="no progress bar")
    pred.set_defaults(func=_predict)
    return parser


def main(argv=None):
    """Entry point of the ``hyperspectral-cl`` console script."""
    args = build_parser().parse_args(argv)
    # every command trains or predicts: freed activations are reused rather than page-faulted again
    keep_freed_memory()
    if args.command not in ("fit", "predict", "reproduce"):
        return args.func(args)
    with _warnings_as_lines(args.command):
        if args.command == "reproduce":  # it handles its own errors (a missing dataset, Ctrl-C and the cache)
            return args.func(args)
        try:
            return args.func(args)
        except KeyboardInterrupt:
            print(f"hyperspectral-cl {args.command}: interrupted, nothing written", file=sys.stderr)
            return 130
        except (_CommandError, OSError, ValueError, ImportError) as exc:
            # bad files and inputs: the message names the file and the problem; a traceback would hide it
            print(f"hyperspectral-cl {args.command}: error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
