"""Time the vectorised contrastive losses against a straightforward per-anchor loop.

Run: python benchmarks/losses.py [--batch 256] [--dim 512] [--repeat 5] [--threads 1]

Both implementations compute the same loss (checked at start-up); the loop form is
the way research code often writes Eq. 2 (one anchor at a time). Reports ms per
forward+backward and the ratio, measured side by side in one run; then the radius
mask alone, the package's per-column form against the broadcast (M, M, n_targets)
difference tensor it replaced (the same mask, checked).
"""

import argparse
import platform
import time

import torch

from hyperspectral_cl.losses import CONTRASTIVE_LOSSES, radius_positive_mask


def loop_paper_loss(features, targets, radius, temperature):
    """Eq. 2 written anchor by anchor (the reference the vectorised form replaces)."""
    z = torch.nn.functional.normalize(features, dim=1, eps=1e-8)
    pos = radius_positive_mask(targets, radius)
    m = z.shape[0]
    total = features.sum() * 0.0
    for i in range(m):
        sims = z @ z[i] / temperature
        neg = ~pos[i]
        neg[i] = False
        if not pos[i].any() or not neg.any():
            continue
        total = total - (sims[pos[i]] - torch.logsumexp(sims[neg], 0)).sum()
    return total / m


def broadcast_radius_mask(targets, radius):
    """The radius mask from one (M, M, n_targets) tensor of float64 differences (the form replaced)."""
    t = targets.reshape(targets.shape[0], -1).double()
    d2 = (t[:, None, :] - t[None, :, :]).pow(2).sum(-1)
    return (d2 <= float(radius) ** 2) & ~torch.eye(t.shape[0], dtype=torch.bool)


def timeit(fn, repeat):
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="samples per view (2x stacked)")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    m = 2 * args.batch
    feats = torch.randn(m, args.dim, generator=g, requires_grad=True)
    targets = torch.rand(m, 4, generator=g)
    radius, tau = 0.3, 0.1

    ref = loop_paper_loss(feats, targets, radius, tau)
    vec = CONTRASTIVE_LOSSES["paper"](feats, targets, radius=radius, temperature=tau)
    assert torch.allclose(ref, vec, rtol=1e-4), (ref.item(), vec.item())

    def run(fn):
        return lambda: fn().backward()

    loop_ms = timeit(run(lambda: loop_paper_loss(feats, targets, radius, tau)), args.repeat)
    print(f"device: CPU ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}; batch {args.batch} x 2 views, features {args.dim}")
    print(f"{'loss':<12}{'ms (fwd+bwd)':>14}{'loop / this':>14}")
    print(f"{'paper, loop':<12}{loop_ms:14.1f}{1.0:14.1f}")
    for name, fn in CONTRASTIVE_LOSSES.items():
        ms = timeit(run(lambda fn=fn: fn(feats, targets, radius=radius, temperature=tau)), args.repeat)
        print(f"{name:<12}{ms:14.1f}{loop_ms / ms:14.1f}")

    assert torch.equal(broadcast_radius_mask(targets, radius), radius_positive_mask(targets, radius))
    repeat = 20 * args.repeat  # a mask takes milliseconds
    old_ms = timeit(lambda: broadcast_radius_mask(targets, radius), repeat)
    new_ms = timeit(lambda: radius_positive_mask(targets, radius), repeat)
    print(f"\nradius mask of {m} x {targets.shape[1]} targets: broadcast {old_ms:.2f} ms, "
          f"per column {new_ms:.2f} ms (x{old_ms / new_ms:.1f})")


if __name__ == "__main__":
    main()
