"""
Every augmentation on one patch
===============================

A figure like the paper's Fig. 2: each of the 8 spectral and 4 spatial transforms of
``hyperspectral_cl.augment`` applied to one 15 x 15 patch of a real scene. Top: for each spectral
transform, the centre pixel's spectrum before (grey) and after (colour). Bottom: one band of the patch
before and after each spatial transform.

Run it with ``python examples/plot_augmentations.py [--out FILE]``: about 5 s on 2 CPU cores. The figure
in the README (``docs/augmentations.png``) is this script's output on the Samson scene, at these same
settings, written with ``python examples/plot_augmentations.py --out docs/augmentations.png``.

Data: the Samson scene (reflectance in [0, 1], 156 bands, 401-889 nm) is read from ``samson/`` in the folder
named by the ``HYPERSPECTRAL_CL_DATA`` environment variable, else in ``../shared/data`` beside the repository. When
neither holds it, a synthetic scene is used instead, and the figure says so.
"""

# %%
# Settings and the scene
# ----------------------
# The options only matter when the file is run as a script; the documentation build runs it with none.
import argparse
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from hyperspectral_cl.augment import AUGMENTATION_GROUPS, AUGMENTATIONS
from hyperspectral_cl.datasets import load_samson, make_synthetic_scene

try:
    REPO = Path(__file__).resolve().parents[1]
except NameError:  # sphinx-gallery runs the file without __file__, from the examples folder
    REPO = Path.cwd().resolve().parent

parser = argparse.ArgumentParser(description="Every augmentation of hyperspectral_cl.augment on one patch.")
parser.add_argument("--out", default=None, help="also save the figure there (e.g. docs/augmentations.png)")
args, _ = parser.parse_known_args()

PATCH = 15  # large enough to see rotations and warps
SEED = 0
TITLES = {
    "spectral_shift": "spectral shift",
    "spectral_flip": "spectral flip",
    "hapke": "Hapke scattering",
    "atmospheric": "atmospheric compensation",
    "elastic_distortion": "elastic distortion",
    "band_erasure": "band erasure",
    "band_permutation": "band permutation",
    "nn_mixing": "nearest-neighbour mixing",
    "rotation": "rotation",
    "elastic_deformation": "elastic deformation",
    "flip": "flip",
    "translation": "translation",
}

folders = [Path(d) for d in [os.environ.get("HYPERSPECTRAL_CL_DATA")] if d] + [REPO.parent / "shared" / "data"]
samson = next((d / "samson" for d in folders if (d / "samson").exists()), None)
if samson is not None:
    scene = load_samson(samson)
    source = "Samson (real)"
else:
    print("Samson files not found (set HYPERSPECTRAL_CL_DATA to a folder holding samson/): using a synthetic scene")
    scene = make_synthetic_scene(n_endmembers=3, shape=(40, 40), n_bands=120, random_state=0)
    source = "synthetic scene (Samson not found)"
cube = np.asarray(scene.cube, dtype=np.float32)
wl = np.asarray(scene.wavelengths) if scene.wavelengths is not None else np.linspace(401.0, 889.0, cube.shape[-1])
print(f"{source}: {cube.shape[0]} x {cube.shape[1]} pixels, {cube.shape[2]} bands")

# %%
# A patch on a material edge
# --------------------------
# The transforms work on batches shaped ``(batch, 1, bands, height, width)``. The patch is centred on a
# vegetated pixel (near-infrared / red > 3, so the red edge shows) whose neighbourhood is heterogeneous,
# which makes nearest-neighbour mixing visible.


def pick_patch(cube, wl):
    """The PATCH x PATCH window around a vegetated pixel on a material edge, as (1, 1, B, S, S)."""
    red = np.argmin(np.abs(wl - 670.0))
    nir = np.argmin(np.abs(wl - 800.0))
    half = PATCH // 2
    inner = cube[half:-half, half:-half]
    vegetated = inner[..., nir] / np.maximum(inner[..., red], 1e-6) > 3
    # spread of the 3 x 3 neighbourhood around each pixel, summed over bands
    h, w = inner.shape[:2]
    shifted = [cube[half + di : half + di + h, half + dj : half + dj + w] for di in (-1, 0, 1) for dj in (-1, 0, 1)]
    spread = np.stack(shifted).std(axis=0).sum(axis=-1)
    if not vegetated.any():  # e.g. a synthetic scene without vegetation: any pixel on an edge
        vegetated[:] = True
    i, j = np.unravel_index(np.argmax(np.where(vegetated, spread, -1)), spread.shape)
    window = cube[i : i + PATCH, j : j + PATCH]  # centred on inner pixel (i, j)
    return torch.from_numpy(np.ascontiguousarray(window.transpose(2, 0, 1)))[None, None]


x = pick_patch(cube, wl).double()
c = PATCH // 2

# %%
# A typical draw
# --------------
# Every transform is random. Each one is applied, with its default parameters, to 16 copies of the patch
# (seeded ``torch.Generator``), and the draw of median change is shown: neither the mildest nor the wildest.


def typical_draw(transform, x, draws=16):
    """Apply ``transform`` to ``draws`` copies of ``x`` and return the draw of median change."""
    out = transform(x.expand(draws, -1, -1, -1, -1).contiguous(), generator=torch.Generator().manual_seed(SEED))
    change = (out - x).abs().flatten(1).mean(dim=1)
    return out[change.argsort()[draws // 2]][None]


# %%
# The figure
# ----------
# The transforms that model illumination (Hapke scattering, atmospheric compensation) are given the data's
# band centres (``wavelengths``).
spectral, spatial = AUGMENTATION_GROUPS["spectral"], AUGMENTATION_GROUPS["spatial"]
fig = plt.figure(figsize=(16, 10.5), constrained_layout=True)
grid = fig.add_gridspec(3, 5, height_ratios=[1, 1, 1.05])
for k, name in enumerate(spectral):
    ax = fig.add_subplot(grid[k // 4, k % 4])
    t = AUGMENTATIONS[name]()
    if "wavelengths" in t.get_params():
        t.set_params(wavelengths=wl)  # the data's band centres for the illumination model
    out = typical_draw(t, x)
    ax.plot(wl, x[0, 0, :, c, c], color="0.6", lw=2, label="original")
    ax.plot(wl, out[0, 0, :, c, c], color=f"C{k}", lw=1.3, label="augmented")
    ax.set_title(TITLES[name], fontsize=11)
    ax.set_xlabel("wavelength (nm)", fontsize=8)
    ax.tick_params(labelsize=7)
    if k == 0:
        ax.set_ylabel("reflectance", fontsize=8)
        ax.legend(fontsize=8, frameon=False)
# text panel: what the figure shows
ax = fig.add_subplot(grid[0:2, 4])
ax.axis("off")
ax.text(
    0.0,
    0.95,
    f"{source}\n{x.shape[2]} bands, {wl[0]:.0f}-{wl[-1]:.0f} nm\n{PATCH} x {PATCH} patch around a\n"
    "pixel on a material edge\n\ncentre pixel's spectrum:\ngrey = original\ncolour = augmented\n\n"
    "bottom: band near 800 nm,\noriginal and the four\nspatial transforms (+ = centre)\n\n"
    f"default parameters; of 16\nrandom draws (seed {SEED}), the\none of median change",
    va="top",
    fontsize=10,
)
band = int(np.argmin(np.abs(wl - 800.0)))
images = [("original", x)] + [(TITLES[name], typical_draw(AUGMENTATIONS[name](), x)) for name in spatial]
vmin, vmax = float(x[0, 0, band].min()), float(x[0, 0, band].max())
for k, (title, img) in enumerate(images):
    ax = fig.add_subplot(grid[2, k])
    ax.imshow(img[0, 0, band].numpy(), cmap="viridis", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.plot(c, c, "r+", ms=8)  # the centre pixel
    ax.set_title(title, fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("hyperspectral_cl.augment: the paper's 8 spectral and 4 spatial augmentations", fontsize=13)
if args.out:
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out} ({source})")
plt.show()
