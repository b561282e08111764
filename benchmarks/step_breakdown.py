"""Where the time of a contrastive training step goes, part by part, beside a baseline step.

    python benchmarks/step_breakdown.py --threads 1               # B = 224 and 156, 10 x 10, batch 256
    python benchmarks/step_breakdown.py --quick                   # B = 56, 5 x 5 patches, batch 64

A baseline step (``alpha=0``) is one forward and one backward pass through the network. A contrastive
step (``alpha=1``, the paper's gradient) adds a second view: the augmentation, the augmented patches'
embedding, the contrastive loss on both views, and a backward pass through both. Twice the baseline
step is therefore its floor; what it costs beyond that is what this script measures. The parts are
those of ``ContrastivePatchRegressor.get_training_loss`` (the estimator's own modules: ``module_``,
``augment_``, ``contrastive_``), timed one by one, the two steps alternated in rounds in one process,
medians over the rounds. The optimiser update and the callbacks, the same in both steps, are not
included (``benchmarks/training_step.py`` times whole steps).

Writes benchmarks/results/step_breakdown.md (and .json).
"""

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np
import torch
from training_step import apply_step_arguments, fitted_net, step_arguments, write_report

from hyperspectral_cl._environment import cpu_name, versions

BASELINE_PARTS = ("forward", "backward")
CONTRASTIVE_PARTS = ("forward", "augment", "embed view", "loss", "backward")


class _Clock:
    """Seconds between successive ``lap`` calls, by name."""

    def __init__(self):
        self.laps, self._last = {}, time.perf_counter()

    def lap(self, name):
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now


def baseline_step(net, x, y):
    """One baseline step's forward and backward passes, timed apart."""
    net.module_.train()
    net.optimizer_.zero_grad(set_to_none=True)
    clock = _Clock()
    loss = net.get_loss(net.module_(x), y, X=x, training=True)
    clock.lap("forward")
    loss.backward()
    clock.lap("backward")
    return clock.laps


def contrastive_step(net, x, y):
    """One contrastive step's parts (the paper's gradient: back-propagated through both views), timed apart."""
    net.module_.train()
    net.optimizer_.zero_grad(set_to_none=True)
    clock = _Clock()
    pred, features = net.module_(x)
    mse = net.get_loss((pred, features), y, X=x, training=True)
    clock.lap("forward")
    x_aug = net.augment_(x)
    clock.lap("augment")
    features_aug = net.module_.embed(x_aug)
    clock.lap("embed view")
    targets = net.split_weights(y)[0]
    loss = mse + net.contrastive_(torch.cat([features, features_aug]), torch.cat([targets, targets]))
    clock.lap("loss")
    loss.backward()
    clock.lap("backward")
    return clock.laps


def measure(backbone, bands, patch, batch, reps):
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(batch, 1, bands, patch, patch, generator=gen).numpy()
    y = torch.rand(batch, 3, generator=gen).numpy()
    steps = {}
    for kind, step in (("baseline", baseline_step), ("contrastive", contrastive_step)):
        net = fitted_net(backbone, X, y, kind, "fp32", "cpu")
        x, t = torch.as_tensor(X), torch.as_tensor((y - net.y_mean_) / net.y_scale_)
        steps[kind] = (lambda s=step, n=net, x=x, t=t: s(n, x, t))
    laps = {kind: [] for kind in steps}
    for round_ in range(reps + 1):  # round 0 warms up
        for kind, fn in steps.items():
            timed = fn()
            if round_:
                laps[kind].append(timed)
    return {kind: {part: float(np.median([r[part] for r in rounds])) for part in rounds[0]}
            for kind, rounds in laps.items()}


def report(rows, args, out):
    lines = [
        "## Where a contrastive step's time goes", "",
        f"{datetime.date.today().isoformat()}; cpu ({cpu_name()}, {torch.get_num_threads()} "
        f"thread{'s' if torch.get_num_threads() > 1 else ''}); {versions()}. Batch {args.batch}, {args.patch} x "
        f"{args.patch} patches, float32, the estimator's defaults (pooled features, `augment='spatial'`, SupCon); "
        f"median milliseconds over {args.reps} rounds of one step of each kind. Allocator: {args.allocator}. "
        "*Excess* is the contrastive step minus twice the baseline step, in ms and as a share of the baseline "
        "step; the augmentation and the loss are its parts that a second pass does not explain.", "",
        "| B | backbone | baseline: forward, backward | contrastive: forward, augment, embed view, loss, backward "
        "| 2 x baseline | contrastive | excess over 2 x baseline | augment + loss |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        b, c = r["ms"]["baseline"], r["ms"]["contrastive"]
        base, con = sum(b.values()), sum(c.values())
        extra = c["augment"] + c["loss"]
        lines.append(
            f"| {r['bands']} | {r['backbone']} | {', '.join(f'{b[p]:.0f}' for p in BASELINE_PARTS)} "
            f"| {', '.join(f'{c[p]:.0f}' for p in CONTRASTIVE_PARTS)} | {2 * base:.0f} | {con:.0f} "
            f"| {con - 2 * base:+.0f} ({(con - 2 * base) / base:+.0%}) | {extra:.0f} ({extra / base:.0%}) |")
    write_report(lines, rows, out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    step_arguments(parser, reps=5, out="step_breakdown")
    args = parser.parse_args(argv)
    apply_step_arguments(args, quick_reps=2)
    rows = []
    for bands in args.bands:
        for backbone in args.backbones:
            seconds = measure(backbone, bands, args.patch, args.batch, args.reps)
            ms = {kind: {part: 1e3 * v for part, v in parts.items()} for kind, parts in seconds.items()}
            rows.append({"bands": bands, "backbone": backbone, "ms": ms})
            print(bands, backbone, {k: {p: round(v) for p, v in parts.items()} for k, parts in ms.items()}, flush=True)
    report(rows, args, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
