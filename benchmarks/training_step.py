"""What one training step and one epoch cost, per backbone: baseline, two-pass floor, contrastive, detached, per precision.

    python benchmarks/training_step.py                    # B = 224 and 156, 10 x 10 patches, batch 256 (CPU)
    python benchmarks/training_step.py --precisions fp32  # a CPU without native bfloat16
    python benchmarks/training_step.py --quick            # B = 56, 5 x 5 patches, batch 64: a smoke run
    python benchmarks/training_step.py --device cuda --out benchmarks/results/training_step_cuda
    python benchmarks/training_step.py --plain-malloc     # glibc's default allocator settings

Each step is the estimator's own (``ContrastivePatchRegressor.train_step``: forward, loss, backward,
clipping, AdamW update) on a network fitted to the data's shape, with the package's defaults
(pooled map features where the backbone has them, ``augment='spatial'``): *baseline* is ``alpha=0``
(one forward pass), *contrastive* is ``alpha=1`` (an augmented view through the same network and the
SupCon term on both views), *detached* is ``alpha=1, detach_augmented=True`` (the augmented view
without a backward pass). *two-pass* is the contrastive step with nothing of the contrastive term but its
passes: an identity augmentation (a copy) and a loss that costs nothing (the mean square of both views'
features), so two forward and two backward passes and one update: the floor the paper's gradient cannot go
under. contrastive / two-pass is what the augmentation and the SupCon term add to that floor; two-pass /
baseline is what a second pass costs on the machine. The variants of a backbone and band count (four per
precision) are timed in rounds, one call of each per round, in one process (at least ``--reps`` rounds and
2 s per variant, after a warm-up), so load on the machine affects them alike. Seconds per step are medians
over the rounds; the ratios contrastive / baseline, detached / baseline (the cost of the contrastive term)
and contrastive / two-pass are the median and range of the ratios within each round, the calls a few
seconds apart; fp32 / bf16 is the gain of ``precision='bf16'``. Seconds per epoch = seconds per step x
steps for ``--epoch-windows`` windows (2,000 by default, the paper's training set).
Like every ``hyperspectral-cl`` command, the script first calls
:func:`hyperspectral_cl.allocator.keep_freed_memory` (``--plain-malloc``: not); the report says
whether the setting was in force.

Writes benchmarks/results/training_step.md (and .json).
"""

import argparse
import datetime
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from hyperspectral_cl import ContrastivePatchRegressor
from hyperspectral_cl._environment import cpu_name, versions
from hyperspectral_cl.allocator import keep_freed_memory
from hyperspectral_cl.augment import Compose
from hyperspectral_cl.backbones import list_backbones

RESULTS = Path(__file__).resolve().parent / "results"
KINDS = ("baseline", "two-pass", "contrastive", "detached")


def passes_only_loss(features, targets, *, radius, temperature):
    """A contrastive loss that costs nothing beside the passes: the mean square of both views' features."""
    return features.square().mean()


def fitted_net(backbone, X, y, kind, precision, device):
    """A regressor whose network, optimiser and callbacks are built for ``X`` (no epoch trained)."""
    # two-pass: an empty Compose copies the batch, the loss is free: what is left is the two passes
    floor = {"augment": Compose([]), "contrastive": passes_only_loss} if kind == "two-pass" else {}
    net = ContrastivePatchRegressor(backbone, alpha=0.0 if kind == "baseline" else 1.0, precision=precision,
                                    detach_augmented=kind == "detached", max_epochs=0, early_stopping=False,
                                    random_state=0, device=device, batch_size=len(X), **floor)
    net.fit(X, y)
    net.notify("on_train_begin", X=X, y=y)  # the schedule's callbacks expect a training call
    net.history.new_epoch()
    net.history.record("epoch", 1)
    net.history.new_batch()
    return net


def alternated_times(steps, reps, min_seconds=2.0):
    """Seconds of every call of each callable, called in rounds (one call each) after one warm-up call each."""
    for fn in steps.values():
        fn()
    times = {k: [] for k in steps}
    start = time.perf_counter()
    while min(len(t) for t in times.values()) < reps or time.perf_counter() - start < min_seconds * len(steps):
        for k, fn in steps.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return times


def measure(backbone, bands, patch, batch, reps, device, precisions):
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(batch, 1, bands, patch, patch, generator=gen).numpy()
    y = torch.rand(batch, 3, generator=gen).numpy()
    steps = {}
    for kind, precision in [(k, p) for p in precisions for k in KINDS]:
        net = fitted_net(backbone, X, y, kind, precision, device)
        batch_ = (torch.as_tensor(X, device=device), torch.as_tensor((y - net.y_mean_) / net.y_scale_, device=device))
        steps[(kind, precision)] = (lambda n=net, b=batch_: (n.train_step(b), _sync(device)))
    return alternated_times(steps, reps)


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def report(rows, args, out):
    per_epoch = math.ceil(args.epoch_windows / args.batch)
    lines = [
        "## Training step cost: baseline, the two-pass floor, contrastive and detached, per precision", "",
        f"{datetime.date.today().isoformat()}; {args.device} ({cpu_name() if args.device == 'cpu' else torch.cuda.get_device_name()}, "
        f"{torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''}); {versions()}. "
        f"Batch {args.batch}, {args.patch} x {args.patch} patches; the "
        "estimator's own training step with its defaults (pooled features, `augment='spatial'`); *two-pass* is that "
        "step with an identity augmentation and a free loss on both views' features (two forward and two backward "
        "passes, one update: the floor of the paper's gradient); median seconds per "
        f"step, variants alternated in one process ({args.reps}+ rounds); ratios: median (range) of those within "
        f"each round. Epoch = {per_epoch} steps ({args.epoch_windows} windows). "
        f"Allocator: {args.allocator}.", "",
        "| B | backbone | precision | baseline s/step | two-pass s/step | contrastive s/step | detached s/step "
        "| two-pass / baseline | contrastive / baseline | contrastive / two-pass | detached / baseline "
        "| speed-up over fp32 (baseline, contrastive, detached) | s/epoch: baseline, contrastive, detached |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        t = r["seconds"]
        rounds = r["rounds"]
        for precision in args.precisions:
            b, f, c, d = (t[f"{k}/{precision}"] for k in KINDS)
            fp32 = [t.get(f"{k}/fp32") for k in ("baseline", "contrastive", "detached")]
            gain = ", ".join(f"x{ref / v:.2f}" for ref, v in zip(fp32, (b, c, d), strict=True)) \
                if precision != "fp32" and None not in fp32 else "—"
            ratios = " | ".join(_ratio(rounds, kind, over, precision) for kind, over in
                                [("two-pass", "baseline"), ("contrastive", "baseline"), ("contrastive", "two-pass"),
                                 ("detached", "baseline")])
            lines.append(
                f"| {r['bands']} | {r['backbone']} | {precision} | {b:.3f} | {f:.3f} | {c:.3f} | {d:.3f} | {ratios} "
                f"| {gain} | {b * per_epoch:.1f}, {c * per_epoch:.1f}, {d * per_epoch:.1f} |")
    write_report(lines, rows, out)


def write_report(lines, rows, out):
    """``<out>.md`` from the report's lines and ``<out>.json`` from its rows (folder created); the table printed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))


def _ratio(rounds, kind, over, precision):
    """Median (min-max) over the rounds of ``kind`` / ``over``, each ratio within one round."""
    ratios = np.asarray(rounds[f"{kind}/{precision}"]) / np.asarray(rounds[f"{over}/{precision}"])
    return f"{np.median(ratios):.2f} ({ratios.min():.2f}-{ratios.max():.2f})"


def step_arguments(parser, reps, out):
    """The options this script shares with ``step_breakdown.py`` (sizes, rounds, threads, allocator, output)."""
    parser.add_argument("--bands", type=int, nargs="+", default=[224, 156])
    parser.add_argument("--patch", type=int, default=10)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--reps", type=int, default=reps)
    parser.add_argument("--backbones", nargs="+", default=list_backbones())
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--plain-malloc", action="store_true",
                        help="leave glibc's allocator as it is (default: keep_freed_memory(), as the CLI)")
    parser.add_argument("--out", default=str(RESULTS / out))


def apply_step_arguments(args, quick_reps):
    """Apply ``--quick``, ``--threads`` and the allocator setting; ``args.allocator`` says which is in force."""
    if args.quick:
        args.bands, args.patch, args.batch, args.reps = [56], 5, 64, quick_reps
    if args.threads:
        torch.set_num_threads(args.threads)
    kept = not args.plain_malloc and keep_freed_memory()
    args.allocator = ("glibc keeps freed memory for reuse (`keep_freed_memory()`, as every `hyperspectral-cl` command)"
                      if kept else "glibc's settings as the environment left them")
    warnings.filterwarnings("ignore", category=UserWarning)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    step_arguments(parser, reps=3, out="training_step")
    parser.add_argument("--epoch-windows", type=int, default=2000)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "fp16"],
                        help="bf16 pays only with native support (see the report's CPU line); fp16 is for CUDA")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    apply_step_arguments(args, quick_reps=1)
    rows = []
    for bands in args.bands:
        for backbone in args.backbones:
            times = measure(backbone, bands, args.patch, args.batch, args.reps, args.device, args.precisions)
            rounds = {f"{k}/{p}": v for (k, p), v in times.items()}  # as many calls of each: one per round
            seconds = {key: float(np.median(v)) for key, v in rounds.items()}
            rows.append({"bands": bands, "backbone": backbone, "seconds": seconds, "rounds": rounds})
            print(bands, backbone, {key: round(v, 4) for key, v in seconds.items()}, flush=True)
    report(rows, args, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
