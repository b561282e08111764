"""Throughput, achieved FLOP rate and peak memory of the five backbones, ours side by side with a plain version.

For each backbone, band count and variant this measures, at batch 256 and 10 x 10 patches:

- parameters and FLOPs (``torch.utils.flop_counter``: convolutions and matmuls, forward and backward);
- forward-only throughput (``no_grad``, eval mode), in patches/s;
- training-step throughput (forward, backward, SGD step) for the baseline step (MSE) and the
  contrastive step (a second, augmented view through the same network, SupCon on both views);
- achieved GFLOP/s of each, as a percentage of this machine's float32 matmul peak measured in the same run;
- peak memory: the process's resident high-water mark above its state before the step (CPU, each
  configuration in a fresh subprocess) or ``torch.cuda.max_memory_allocated`` (CUDA).

Variants: ``plain`` is the straightforward PyTorch formulation (default NCDHW layout everywhere, no
tuning), ``ours`` the package's modules as shipped, and ``ours+proj`` adds a 128-wide projection head
(``projection_dim=128``) so the contrastive loss compares 128-D embeddings instead of wide flattened maps.

Usage::

    python benchmarks/backbones.py                       # CPU, B = 224 and 156
    python benchmarks/backbones.py --device cuda --out benchmarks/results/backbones_cuda.md
    python benchmarks/backbones.py --quick               # batch 32, one repeat: a smoke run
"""

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

import torch

from hyperspectral_cl._environment import cpu_name

NAMES = ["luo", "hamida", "li", "atik", "varahagiri", "pixel-mlp"]
VARIANTS = ["plain", "ours", "ours+proj"]


# ----------------------------------------------------------------------------- worker side
def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _interleaved_times(fns, device, reps, min_seconds=2.0):
    """Median wall time of each callable, timed in alternation (one call of each per round).

    Alternating inside one process keeps slow drifts of a shared machine (other jobs, memory
    placement) out of the ratios between variants; each callable is warmed up first.
    """
    for fn in fns.values():
        fn()
    _sync(device)
    times = {key: [] for key in fns}
    while min(len(t) for t in times.values()) < reps or min(sum(t) for t in times.values()) < min_seconds:
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[key].append(time.perf_counter() - t0)
    return {key: sorted(t)[len(t) // 2] for key, t in times.items()}


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _peak_mb(device, start_rss):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return _rss_mb() - start_rss


def matmul_peak(device, n=2048, reps=7):
    """Best float32 matmul rate in GFLOP/s (the reference for 'percent of peak')."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _count_flops(fn):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def _build(cfg, variant, device):
    from hyperspectral_cl.backbones import get_backbone

    torch.manual_seed(0)
    options = {"projection_dim": 128} if variant == "ours+proj" else {}
    net = get_backbone(cfg["backbone"])(cfg["bands"], cfg["patch"], 3, **options).to(device)
    if variant == "plain":
        net.channels_last_on_cpu = False  # switch off the layout tweak of ours
    return net


def _phase_fn(net, phase, x, y):
    """The callable that runs one forward / baseline step / contrastive step of ``net``."""
    from hyperspectral_cl._torch_utils import frozen_batchnorm_stats
    from hyperspectral_cl.augment import RandomFlip
    from hyperspectral_cl.losses import supcon_contrastive_loss

    opt = torch.optim.SGD(net.parameters(), lr=1e-6, momentum=0.9)
    flip = RandomFlip(p=1.0)
    gen = torch.Generator(device=x.device).manual_seed(0)

    def forward():
        with torch.no_grad():
            net(x)

    def baseline_step():
        opt.zero_grad(set_to_none=True)
        pred, _ = net(x)
        torch.mean((pred - y) ** 2).backward()
        opt.step()

    def contrastive_step():
        opt.zero_grad(set_to_none=True)
        pred, f = net(x)
        with frozen_batchnorm_stats(net):
            _, f_aug = net(flip(x, generator=gen))
        con = supcon_contrastive_loss(torch.cat([f, f_aug]), torch.cat([y, y]), radius=0.05, temperature=0.1)
        (torch.mean((pred - y) ** 2) + 0.01 * con).backward()
        opt.step()

    net.train(phase != "forward")
    return {"forward": forward, "step": baseline_step, "contrastive": contrastive_step}[phase]


def run_worker(cfg):
    """Time one (backbone, bands, phase) for all variants, or measure one variant's peak memory."""
    torch.set_num_threads(cfg["threads"])
    device = torch.device(cfg["device"])
    n, b, s = cfg["batch"], cfg["bands"], cfg["patch"]
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(n, 1, b, s, s, generator=gen).to(device)
    y = torch.rand(n, 3, generator=gen).to(device)
    if cfg.get("memory_of"):
        net = _build(cfg, cfg["memory_of"], device)
        fn = _phase_fn(net, cfg["phase"], x, y)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        start = _rss_mb()  # before the first call, which reaches the phase's peak
        fn()
        fn()
        _sync(device)
        return {"peak_mb": _peak_mb(device, start)}
    nets = {v: _build(cfg, v, device) for v in cfg["variants"]}
    fns = {v: _phase_fn(net, cfg["phase"], x, y) for v, net in nets.items()}
    seconds = _interleaved_times(fns, device, cfg["reps"])
    out = {}
    for v, net in nets.items():
        flops = _count_flops(fns[v])
        out[v] = dict(seconds=seconds[v], patches_per_s=n / seconds[v], gflop=flops / 1e9,
                      gflops_per_s=flops / seconds[v] / 1e9, params=sum(p.numel() for p in net.parameters()),
                      embedding=net.embedding_dim)
    return out


# ----------------------------------------------------------------------------- driver side
def _versions(device):
    import numpy
    import skorch

    info = dict(
        date=datetime.date.today().isoformat(),
        python=platform.python_version(),
        torch=torch.__version__,
        numpy=numpy.__version__,
        skorch=skorch.__version__,
        threads=torch.get_num_threads(),
    )
    if device.type == "cuda":
        info["device"] = torch.cuda.get_device_name(device)
    else:
        info["device"] = f"CPU: {cpu_name()}, {os.cpu_count()} logical cores"
    return info


def _worker(cfg):
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(cfg)], capture_output=True, text=True,
                          check=False)
    if proc.returncode:
        raise RuntimeError(f"worker failed for {cfg}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _run_config(cfg):
    """Rows (one per variant) for one backbone and band count.

    Times: one process per phase, variants alternated. Peak memory of ``ours``: one fresh process per
    phase, so the resident high-water mark is that phase's own.
    """
    rows = {v: dict(cfg, variant=v) for v in cfg["variants"]}
    for phase in ("forward", "step", "contrastive"):
        for v, result in _worker(dict(cfg, phase=phase)).items():
            rows[v].update(params=result.pop("params"), embedding=result.pop("embedding"))
            rows[v][phase] = result
        memory = _worker(dict(cfg, phase=phase, memory_of="ours"))["peak_mb"]
        rows["ours"][phase]["peak_mb"] = memory
    return list(rows.values())


def _table(rows, bands, peak):
    by = {(r["backbone"], r["variant"]): r for r in rows if r["bands"] == bands}

    def pct(row, phase):
        return 100 * row[phase]["gflops_per_s"] / peak

    lines = [
        f"### B = {bands}",
        "",
        "| backbone | params | forward MFLOP/patch | forward patches/s (plain → ours) | baseline step patches/s "
        "(plain → ours, speed-up) | step % of matmul peak (plain → ours) | contrastive step patches/s "
        "(plain → ours → ours+proj) | contrastive % of peak (ours) | peak MB step / contrastive (ours) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in NAMES:
        if (name, "ours") not in by:
            continue
        p, o, j = by[(name, "plain")], by[(name, "ours")], by.get((name, "ours+proj"))
        con = f"{p['contrastive']['patches_per_s']:.0f} → {o['contrastive']['patches_per_s']:.0f}"
        if j:
            con += f" → {j['contrastive']['patches_per_s']:.0f}"
        lines.append(
            f"| {name} | {o['params']:,} | {1e3 * o['forward']['gflop'] / o['batch']:.0f} "
            f"| {p['forward']['patches_per_s']:.0f} → {o['forward']['patches_per_s']:.0f} "
            f"| {p['step']['patches_per_s']:.0f} → {o['step']['patches_per_s']:.0f} "
            f"(x{o['step']['patches_per_s'] / p['step']['patches_per_s']:.2f}) "
            f"| {pct(p, 'step'):.0f}% → {pct(o, 'step'):.0f}% "
            f"| {con} | {pct(o, 'contrastive'):.0f}% "
            f"| {o['step']['peak_mb']:.0f} / {o['contrastive']['peak_mb']:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bands", type=int, nargs="+", default=[224, 156])
    parser.add_argument("--patch", type=int, default=10)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--backbones", nargs="+", default=NAMES, choices=NAMES)
    parser.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    parser.add_argument("--quick", action="store_true", help="batch 32, one repeat, B=224 only")
    parser.add_argument("--out", default=None, help="markdown file to write (also printed)")
    parser.add_argument("--raw", default=None, help="JSON file for the raw measurements")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(json.loads(args.worker))))
        return
    if args.quick:
        args.batch, args.reps, args.bands = 32, 1, [224]
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    info = _versions(device)
    info["threads"] = args.threads
    peaks = [matmul_peak(device)]
    rows = []
    for bands in args.bands:
        for name in args.backbones:
            cfg = dict(backbone=name, bands=bands, patch=args.patch, batch=args.batch, reps=args.reps,
                       device=args.device, threads=args.threads, variants=["ours", *[v for v in args.variants
                                                                                       if v != "ours"]])
            for row in _run_config(cfg):
                rows.append(row)
                print(f"{name:10s} B={bands} {row['variant']:9s} fwd {row['forward']['patches_per_s']:7.0f}/s  "
                      f"step {row['step']['patches_per_s']:6.0f}/s ({row['step']['gflops_per_s']:.0f} GFLOP/s)  "
                      f"contrastive {row['contrastive']['patches_per_s']:6.0f}/s", file=sys.stderr, flush=True)
        peaks.append(matmul_peak(device))
    peak = max(peaks)
    header = [
        f"## Backbones on {info['device']}",
        "",
        f"{info['date']}; torch {info['torch']}, Python {info['python']}, {info['threads']} threads; "
        f"batch {args.batch}, {args.patch} x {args.patch} patches, median of at least {args.reps} calls (and 2 s) per variant after a warm-up, variants alternated in one process. "
        f"float32 matmul peak measured in the same run: **{peak:.0f} GFLOP/s** "
        f"(2048 x 2048, best of 7; {', '.join(f'{p:.0f}' for p in peaks)} at the start and after each band count).",
        "",
        "`plain`: the straightforward PyTorch formulation (NCDHW everywhere, no tuning). `ours`: the package as "
        "shipped. `ours+proj`: with `projection_dim=128`. FLOPs count convolutions and matmuls "
        "(torch.utils.flop_counter); % of peak = achieved GFLOP/s / matmul peak. Peak MB (ours): resident-memory "
        "high-water mark of a fresh process above its state before the call (CPU) or max allocated (CUDA).",
        "",
    ]
    text = "\n".join(header + [_table(rows, b, peak) + "\n" for b in args.bands])
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    if args.raw:
        with open(args.raw, "w") as fh:
            json.dump(dict(info=info, matmul_peaks=peaks, rows=rows), fh, indent=1)


if __name__ == "__main__":
    main()
