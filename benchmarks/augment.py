"""Time every augmentation on a training-sized batch, against one `li` training step and a per-sample version.

Run: python benchmarks/augment.py [--batch 256] [--bands 224] [--size 10] [--repeat 7] [--threads 1 2]
                                  [--out benchmarks/results/augment.md]

For each transform: the median time to augment a (batch, 1, bands, size, size) float32 batch
with the batched torch implementation; the same for a straightforward per-sample numpy/scipy
implementation of the same transform (a Python loop over samples, and over bands where
research code does so, e.g. scipy.ndimage.rotate per band); and one training step of
hyperspectral_cl.backbones.Li(bands, size, 3) (forward, backward, SGD step) on the same batch.
Rounds interleave the measurements so that background load hits them alike; medians are
reported. Goals (issue 4): every transform under 5% of an `li` step, >= 20x faster than the
per-sample version.
"""

import argparse
import datetime
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from scipy.interpolate import interp1d
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from hyperspectral_cl._environment import cpu_name
from hyperspectral_cl._spectra import default_wavelengths
from hyperspectral_cl.augment import AUGMENTATION_GROUPS, AUGMENTATIONS
from hyperspectral_cl.augment.illumination import parametric_illumination
from hyperspectral_cl.backbones import Li


# --------------------------------------------------------------------------- #
# per-sample references: numpy/scipy, one sample at a time, random draws per sample
# --------------------------------------------------------------------------- #
def ref_spectral_shift(x, rng, max_shift=5):
    n, _, b, h, w = x.shape
    out = np.empty_like(x)
    for i in range(n):
        k = int(rng.choice([s for s in range(-max_shift, max_shift + 1) if s]))
        spectra = x[i, 0].reshape(b, -1).T  # (pixels, bands), as research code holds them
        shifted = np.empty_like(spectra)
        if k > 0:
            shifted[:, k:] = spectra[:, : b - k]
            f = interp1d(np.arange(k, b), shifted[:, k:], kind="linear", fill_value="extrapolate")
            shifted[:, :k] = f(np.arange(k))
        else:
            k = -k
            shifted[:, : b - k] = spectra[:, k:]
            f = interp1d(np.arange(b - k), shifted[:, : b - k], kind="linear", fill_value="extrapolate")
            shifted[:, b - k :] = f(np.arange(b - k, b))
        out[i, 0] = shifted.T.reshape(b, h, w)
    return out


def ref_spectral_flip(x, rng):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = np.flip(x[i], axis=1)
    return out


def ref_hapke(x, rng, ref=30.0, max_angle=60.0):
    """Like the seed code's libGeneratorHapke: one spectrum (row) at a time."""
    n, _, b, h, w = x.shape
    out = np.empty_like(x)
    mu0, mu = np.cos(np.deg2rad(ref)), np.cos(np.deg2rad(ref))
    for i in range(n):
        a0, a1 = np.cos(np.deg2rad(rng.uniform(0, max_angle, 2)))  # one geometry per sample
        spectra = x[i, 0].reshape(b, -1).T
        res = np.empty_like(spectra)
        for p, r in enumerate(spectra):
            # closed-form albedo at the reference geometry (reflectance factor form), then the new geometry
            rho = np.clip(r * 4 * (mu0 + mu) / ((1 + 2 * mu0) * (1 + 2 * mu)), 0, 1)
            s = np.sqrt(rho**2 * (mu0 + mu) ** 2 + (1 + 4 * mu0 * mu * rho) * (1 - rho))
            gamma = (1 - rho) / (s + rho * (mu0 + mu))
            w_ = 1 - gamma**2
            res[p] = w_ / (4 * (a0 + a1)) * (1 + 2 * a0) / (1 + 2 * a0 * gamma) * (1 + 2 * a1) / (1 + 2 * a1 * gamma)
        out[i, 0] = res.T.reshape(b, h, w)
    return out


def ref_atmospheric(x, rng, max_angle=81.0):
    """Like the seed code's libGeneratorSimpleAtmospheric: one spectrum (row) at a time."""
    n, _, b, h, w = x.shape
    e_sun, e_sky = parametric_illumination().at(default_wavelengths(b))
    out = np.empty_like(x)
    for i in range(n):
        a = np.deg2rad(rng.uniform(0, max_angle))  # one angle per sample
        spectra = x[i, 0].reshape(b, -1).T
        res = np.empty_like(spectra)
        for p, m in enumerate(spectra):
            res[p] = m * (e_sun * np.cos(a) + e_sky) / (e_sun + e_sky)
        out[i, 0] = res.T.reshape(b, h, w)
    return out


def ref_elastic_distortion(x, rng, alpha=2.0, sigma=5.0):
    """Like the seed code's elastic_distortion: map_coordinates one spectrum at a time."""
    n, _, b, h, w = x.shape
    out = np.empty_like(x)
    grid = np.arange(b, dtype=np.float64)
    for i in range(n):
        d = ndimage.gaussian_filter1d(rng.standard_normal(b), sigma, mode="reflect")
        pos = np.clip(grid + d * alpha / max(d.std(), 1e-12), 0, b - 1)[None]  # one field per sample
        spectra = x[i, 0].reshape(b, -1).T
        res = np.empty_like(spectra)
        for p, spec in enumerate(spectra):
            res[p] = ndimage.map_coordinates(spec, pos, order=1, mode="nearest")
        out[i, 0] = res.T.reshape(b, h, w)
    return out


def ref_band_erasure(x, rng, lo=0.05, hi=0.25):
    b = x.shape[2]
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        width = max(1, round(rng.uniform(lo, hi) * b))
        start = rng.integers(0, b - width + 1)
        out[i] = x[i]
        out[i, :, start : start + width] = 0.0
    return out


def ref_band_permutation(x, rng, n_groups=4):
    b = x.shape[2]
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        groups = np.array_split(np.arange(b), n_groups)
        order = np.concatenate([groups[j] for j in rng.permutation(n_groups)])
        out[i] = x[i][:, order]
    return out


def ref_nn_mixing(x, rng, k=5):
    """Like the seed code's generate_neighbors: sklearn NearestNeighbors, then a mean per spectrum."""
    n, _, b, h, w = x.shape
    out = np.empty_like(x)
    for i in range(n):
        spectra = x[i, 0].reshape(b, -1).T
        idx = NearestNeighbors(n_neighbors=k).fit(spectra).kneighbors(spectra, return_distance=False)
        lam = rng.uniform(0.5, 1.0)
        res = np.empty_like(spectra)
        for p in range(len(spectra)):
            res[p] = spectra[p] + lam * (np.mean(spectra[idx[p]], axis=0) - spectra[p])
        out[i, 0] = res.T.reshape(b, h, w)
    return out


def ref_rotation(x, rng):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        angle = rng.uniform(-180, 180)
        for band in range(x.shape[2]):
            out[i, 0, band] = ndimage.rotate(x[i, 0, band], angle, reshape=False, order=1, mode="nearest")
    return out


def ref_elastic_deformation(x, rng, alpha=1.0, sigma=2.0):
    n, _, b, h, w = x.shape
    out = np.empty_like(x)
    ii, jj = np.mgrid[0:h, 0:w].astype(np.float64)
    for i in range(n):
        dy = ndimage.gaussian_filter(rng.standard_normal((h, w)), sigma)
        dx = ndimage.gaussian_filter(rng.standard_normal((h, w)), sigma)
        scale = alpha / max(np.sqrt((dx.var() + dy.var()) / 2), 1e-12)
        coords = [ii + dy * scale, jj + dx * scale]
        for band in range(b):
            out[i, 0, band] = ndimage.map_coordinates(x[i, 0, band], coords, order=1, mode="nearest")
    return out


def ref_flip(x, rng):
    """Like the seed code's flip: np.flipud / fliplr one band at a time."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        lr, ud = rng.random() < 0.5, rng.random() < 0.5
        for band in range(x.shape[2]):
            img = x[i, 0, band]
            img = np.fliplr(img) if lr else img
            out[i, 0, band] = np.flipud(img) if ud else img
    return out


def ref_translation(x, rng, m=2):
    out = np.empty_like(x)
    h, w = x.shape[3:]
    for i in range(x.shape[0]):
        dy, dx = rng.integers(-m, m + 1, 2)
        big = np.pad(x[i], ((0, 0), (0, 0), (m, m), (m, m)), mode="edge")
        out[i] = big[:, :, m - dy : m - dy + h, m - dx : m - dx + w]
    return out


REFERENCES = {
    "spectral_shift": (ref_spectral_shift, "per sample: slicing + scipy interp1d extrapolation"),
    "spectral_flip": (ref_spectral_flip, "per sample: np.flip"),
    "hapke": (ref_hapke, "per sample, per spectrum: numpy closed form"),
    "atmospheric": (ref_atmospheric, "per sample, per spectrum: numpy factor"),
    "elastic_distortion": (ref_elastic_distortion, "per sample, per spectrum: map_coordinates"),
    "band_erasure": (ref_band_erasure, "per sample: copy + slice"),
    "band_permutation": (ref_band_permutation, "per sample: fancy indexing"),
    "nn_mixing": (ref_nn_mixing, "per sample: sklearn NearestNeighbors, mean per spectrum"),
    "rotation": (ref_rotation, "per sample, per band: ndimage.rotate"),
    "elastic_deformation": (ref_elastic_deformation, "per sample, per band: map_coordinates"),
    "flip": (ref_flip, "per sample, per band: np.fliplr / flipud"),
    "translation": (ref_translation, "per sample: np.pad + slice"),
}


def timed(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--bands", type=int, default=224)
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7, help="rounds (medians over these)")
    parser.add_argument("--ref-repeat", type=int, default=3, help="rounds of the slow per-sample versions")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=sorted({1, min(2, os.cpu_count() or 1)}), help="torch thread counts"
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "augment.md"))
    args = parser.parse_args()

    g = torch.Generator().manual_seed(0)
    shape = (args.batch, 1, args.bands, args.size, args.size)
    x = 0.02 + 0.9 * torch.rand(shape, generator=g)  # reflectance-like values
    x_np = x.numpy()
    y = torch.rand(args.batch, 3, generator=g)
    net = Li(args.bands, args.size, 3)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)

    def li_step():
        opt.zero_grad()
        pred, _ = net(x)
        torch.nn.functional.mse_loss(pred, y).backward()
        opt.step()

    names = AUGMENTATION_GROUPS["spectral"] + AUGMENTATION_GROUPS["spatial"]
    transforms = {name: AUGMENTATIONS[name]() for name in names}
    load_before = os.getloadavg()
    ours, li = {}, {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        li_step()
        for t in transforms.values():  # warm-up
            t(x, generator=g)
        ours[threads] = {name: [] for name in names}
        li[threads] = []
        for _ in range(args.repeat):
            li[threads].append(timed(li_step))
            for name, t in transforms.items():
                ours[threads][name].append(timed(lambda t=t: t(x, generator=g)))
    rng = np.random.default_rng(0)
    refs = {name: [] for name in names}
    torch.set_num_threads(1)
    with threadpool_limits(1):  # single-threaded references: sklearn/scipy thread pools off
        for _ in range(args.ref_repeat):
            for name in names:
                refs[name].append(timed(lambda name=name: REFERENCES[name][0](x_np, rng)))
    load_after = os.getloadavg()

    lines = [
        f"# Augmentation speed ({datetime.date.today().isoformat()})",
        "",
        f"- batch: {' x '.join(map(str, shape))} float32 on CPU: {cpu_name()} ({os.cpu_count()} cores), "
        f"torch {torch.__version__}, numpy {np.__version__}",
        f"- `li` step: Li({args.bands}, {args.size}, 3) forward + backward + SGD step on the same batch, "
        + ", ".join(f"{statistics.median(li[t]):.0f} ms with {t} thread(s)" for t in args.threads),
        f"- medians of {args.repeat} interleaved rounds (ours, li step) and {args.ref_repeat} rounds "
        f"(per-sample, numpy/scipy, single-threaded); load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after (the machine is shared)",
        "",
    ]
    head = "| transform | per-sample (ms) |"
    rule = "|---|---:|"
    for t in args.threads:
        head += f" ours, {t} thr (ms) | speedup | % of li step |"
        rule += "---:|---:|---:|"
    lines += [head + " per-sample version |", rule + "---|"]
    for name in names:
        p = statistics.median(refs[name])
        row = f"| {name} | {p:.1f} |"
        for t in args.threads:
            o = statistics.median(ours[t][name])
            row += f" {o:.1f} | {p / o:.0f}x | {100 * o / statistics.median(li[t]):.2f}% |"
        lines.append(row + f" {REFERENCES[name][1]} |")
    lines.append("")
    for t in args.threads:
        li_ms = statistics.median(li[t])
        med = {name: statistics.median(ours[t][name]) for name in names}
        slow = [name for name in names if med[name] > 0.05 * li_ms]
        few = [name for name in names if statistics.median(refs[name]) < 20 * med[name]]
        lines.append(
            f"- {t} thread(s): {len(names) - len(slow)}/{len(names)} transforms under 5% of an li step"
            + (f" (not: {', '.join(slow)})" if slow else "")
            + f"; {len(names) - len(few)}/{len(names)} at least 20x faster than per-sample"
            + (f" (not: {', '.join(few)})" if few else "")
        )
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
