"""A figure like the paper's Fig. 2: every augmentation applied to one real (or synthetic) patch.

Run: python examples/augmentations_figure.py [output.png]   (default docs/augmentations.png)

Uses the Samson scene from ../shared/data/samson when it is there (reflectance in [0, 1],
156 bands, 401-889 nm), a synthetic scene otherwise. Top: for each of the 8 spectral
transforms, the centre pixel's spectrum before (grey) and after (colour). Bottom: one band
of the patch before and after each of the 4 spatial transforms. Needs matplotlib.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from hyperspectral_cl.augment import AUGMENTATION_GROUPS, AUGMENTATIONS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMSON = ROOT.parent / "shared" / "data" / "samson"
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


def load_scene():
    """(cube (H, W, B) reflectance, wavelengths in nm, source name)."""
    mat = SAMSON / "samson_1.mat"
    if mat.is_file():
        from scipy.io import loadmat

        data = loadmat(mat)
        rows, cols = int(data["nRow"].squeeze()), int(data["nCol"].squeeze())
        # MATLAB layout: bands x pixels, pixels in column-major order
        cube = data["V"].T.reshape(rows, cols, -1, order="F")
        csv = SAMSON / "samson_wavelengths_nm_envi_header.csv"
        if csv.is_file():
            wl = np.loadtxt(csv, delimiter=",", skiprows=1)[:, 1]
        else:
            wl = np.linspace(401.0, 889.0, cube.shape[-1])
        return cube.astype(np.float32), wl, "Samson (real)"
    from hyperspectral_cl.datasets import make_synthetic_scene

    scene = make_synthetic_scene(n_endmembers=3, shape=(40, 40), n_bands=120, random_state=0)
    return scene.cube.astype(np.float32), np.asarray(scene.wavelengths), "synthetic scene"


def pick_patch(cube, wl):
    """The PATCH x PATCH window around a vegetated pixel on a material edge.

    Vegetation (NIR / red > 3) shows the red edge; a heterogeneous neighbourhood makes
    nearest-neighbour mixing visible.
    """
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
    return torch.from_numpy(np.ascontiguousarray(window.transpose(2, 0, 1)))[None, None]  # (1, 1, B, S, S)


def typical_draw(transform, x, draws=16):
    """Apply ``transform`` to ``draws`` copies of ``x`` and return the draw of median change."""
    out = transform(x.expand(draws, -1, -1, -1, -1).contiguous(), generator=torch.Generator().manual_seed(SEED))
    change = (out - x).abs().flatten(1).mean(dim=1)
    return out[change.argsort()[draws // 2]][None]


def main(out_path):
    cube, wl, source = load_scene()
    x = pick_patch(cube, wl).double()
    c = PATCH // 2
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
    images = [("original", x)] + [
        (TITLES[name], typical_draw(AUGMENTATIONS[name](), x)) for name in spatial
    ]
    vmin, vmax = float(x[0, 0, band].min()), float(x[0, 0, band].max())
    for k, (title, img) in enumerate(images):
        ax = fig.add_subplot(grid[2, k])
        ax.imshow(img[0, 0, band].numpy(), cmap="viridis", vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.plot(c, c, "r+", ms=8)  # the centre pixel
        ax.set_title(title, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("hyperspectral_cl.augment: the paper's 8 spectral and 4 spatial augmentations", fontsize=13)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=110)
    print(f"wrote {out_path} ({source})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "augmentations.png")
