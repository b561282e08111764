"""Command line: ``hyperspectral-cl demo`` and ``hyperspectral-cl reproduce``."""

import argparse
import sys

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

    if args.threads:
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
    try:
        results = run_reproduction(
            args.dataset, args.preset, seeds=args.seeds, backbones=args.backbones, device=args.device,
            spectrum_norm=SPECTRUM_NORM_CHOICES[args.spectrum_norm], cache_dir=cache,
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


def build_parser():
    """The argument parser of the ``hyperspectral-cl`` command."""
    parser = argparse.ArgumentParser(
        prog="hyperspectral-cl",
        description="Spectral-spatial contrastive learning for regression on hyperspectral patches.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="train baseline and contrastive networks and a ridge baseline on a built-in synthetic scene",
    )
    demo.add_argument("--epochs", type=int, default=100,
                      help="epoch budget per network; early stopping usually ends sooner (default 100)")
    demo.add_argument("--backbone", default="li", help="luo, hamida, li, atik or varahagiri (default li)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    demo.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)

    rep = sub.add_parser(
        "reproduce",
        help="the paper's tables: every backbone x {baseline, spectral, spatial, spectral+spatial} beside ridge "
             "and PLS, on random and spatial splits",
        description="Train and evaluate the five backbones with and without contrastive learning, and ridge/PLS "
                    "baselines, on the same random and spatial splits; write markdown, CSV and PNG results. "
                    "Finished runs are cached and skipped when the command is repeated.",
    )
    rep.add_argument("--dataset", default="synthetic", choices=["synthetic", "samson"])
    rep.add_argument("--preset", default="quick", choices=["quick", "cpu", "full"],
                     help="quick: minutes on a CPU; cpu: about an hour on 2 cores; full: the paper's scale (GPU)")
    rep.add_argument("--seeds", type=int, default=None, help="seeds per row (default: the preset's)")
    rep.add_argument("--backbones", nargs="+", default=["luo", "hamida", "li", "atik", "varahagiri"])
    rep.add_argument("--spectrum-norm", default="l2", choices=list(SPECTRUM_NORM_CHOICES),
                     help="per-pixel spectrum normalisation inside the networks (default l2)")
    rep.add_argument("--data-dir", default=None,
                     help="folder with samson/ and usgs_library/ (default: $HYPERSPECTRAL_CL_DATA or ../shared/data)")
    rep.add_argument("--samson", default=None, help="Samson .mat file or folder (with ground truth)")
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
    return parser


def main(argv=None):
    """Entry point of the ``hyperspectral-cl`` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
