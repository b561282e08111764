"""Reproduce the paper's Tables 1-4 next to classical baselines; write the results under benchmarks/results.

    python benchmarks/paper_tables.py --preset cpu            # both datasets, both splits
    python benchmarks/paper_tables.py --preset paper-cpu      # 10 x 10 windows, every band, li and hamida
    python benchmarks/paper_tables.py --preset full --device cuda

Finished runs are cached (``--cache-dir``), so an interrupted call resumes where it
stopped. Each dataset gets ``reproduce_<dataset>_<preset>.md`` (the paper's
layout plus the classical rows), ``.csv`` (one row per run) and ``.png``.
"""

import argparse
import sys
from pathlib import Path

import torch

from hyperspectral_cl.allocator import keep_freed_memory
from hyperspectral_cl.reproduce import default_cache_dir, run_reproduction, write_report

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", choices=["quick", "cpu", "paper-cpu", "full"])
    parser.add_argument("--datasets", nargs="+", default=["synthetic", "samson"], choices=["synthetic", "samson"])
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default 2; of each worker with --jobs, default 1 there)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="worker processes running tasks side by side (default: this process; -1: one per core)")
    parser.add_argument("--spectrum-norm", default="l2", choices=["l2", "none", "max"])
    parser.add_argument("--cache-dir", default=None, help="default: the user cache folder, one per dataset+preset")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--suffix", default="", help="appended to the output file names")
    args = parser.parse_args(argv)
    keep_freed_memory()  # as the command line does
    if args.threads is None:  # workers: one thread each, as the command line does (threads would spin)
        args.threads = 1 if args.jobs else 2
    torch.set_num_threads(args.threads)
    norm = None if args.spectrum_norm == "none" else args.spectrum_norm
    for dataset in args.datasets:
        cache = Path(args.cache_dir) / f"{dataset}-{args.preset}" if args.cache_dir else (
            default_cache_dir() / f"{dataset}-{args.preset}")
        results = run_reproduction(dataset, args.preset, seeds=args.seeds, device=args.device, spectrum_norm=norm,
                                   cache_dir=cache, n_jobs=args.jobs, threads=args.threads if args.jobs else None)
        for path in write_report(results, args.out, stem=f"reproduce_{dataset}_{args.preset}{args.suffix}"):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
