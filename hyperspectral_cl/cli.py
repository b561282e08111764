"""Command line: ``hyperspectral-cl demo``."""

import argparse
import sys

__all__ = ["main"]


def _demo(args):
    import torch

    from .demo import run_demo

    if args.threads:
        torch.set_num_threads(args.threads)
    run_demo(epochs=args.epochs, backbone=args.backbone, random_state=args.seed, device=args.device,
             verbose=0 if args.quiet else 1)
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
    demo.add_argument("--epochs", type=int, default=30, help="training epochs per network (default 30)")
    demo.add_argument("--backbone", default="li", help="luo, hamida, li, atik or varahagiri (default li)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    demo.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None):
    """Entry point of the ``hyperspectral-cl`` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
