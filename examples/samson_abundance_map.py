"""From the Samson .mat files to a predicted abundance map, with an honest spatial hold-out.

Run: python examples/samson_abundance_map.py [PATH] [--epochs 10] [--out docs/samson_abundance_map.png]

PATH is a Samson ``.mat`` file or a folder holding one (default: ../shared/data/samson
beside the repository; see hyperspectral_cl.datasets.load_samson for the layouts).
Needs matplotlib (``pip install hyperspectral-cl[plot]``). About 2 minutes on 2 CPU cores.

Steps: load the scene; cut one 5 x 5 window per pixel (reflected at the border),
labelled with its centre pixel's abundances; hold out the bottom quarter of the
scene with SpatialBlockSplit (windows within the buffer of the held-out strip
are used for neither training nor testing, so no test window shares a pixel
with a training window); train a small 'li' network with a simplex head (the
abundances stay non-negative and sum to one); predict the whole scene with
predict_map; report R^2 and MAE on the held-out strip, next to ridge regression
on the same split and on a leaky random split; draw truth, prediction and error.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from hyperspectral_cl import ContrastivePatchRegressor, MeanSpectrum, PatchExtractor
from hyperspectral_cl.datasets import load_samson
from hyperspectral_cl.mapping import predict_map
from hyperspectral_cl.model_selection import SpatialBlockSplit, test_overlap_fraction

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "samson"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(DEFAULT_DATA), help="Samson .mat file or folder")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "docs" / "samson_abundance_map.png"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    path = Path(args.path)
    if not path.exists():
        sys.exit(
            f"Samson data not found at {path}. Pass the path of a Samson .mat file or of a folder holding one "
            f"(e.g. Samson.mat from the hu_autoencoders repository, or a folder with samson_1.mat and Samson_GT.mat)."
        )
    scene = load_samson(path)
    if scene.targets is None:
        sys.exit(f"{path} has no ground-truth abundances; use a folder or file that holds them (see load_samson)")
    size = args.window
    X, y, coords = scene.windows(size, label="center", border="reflect")
    h, w, n_bands = scene.shape
    print(f"Samson: {h} x {w} pixels, {n_bands} bands, targets {scene.target_names}; {len(X)} windows {size} x {size}")

    # horizontal strips: every strip of Samson holds all three materials (vertical ones do not: water is on one side)
    cv = SpatialBlockSplit(size, n_blocks=(4, 1))
    train, test = list(cv.split(X, y, groups=coords))[-1]  # hold out the bottom strip
    assert test_overlap_fraction(train, test, coords, size) == 0.0
    print(f"held-out bottom strip: {len(test)} test windows, {len(train)} training windows, "
          f"{len(X) - len(train) - len(test)} unused in the buffer")

    def scores(pred):
        return r2_score(y[test], pred), mean_absolute_error(y[test], pred)

    start = time.perf_counter()
    model = make_pipeline(
        PatchExtractor(size),
        ContrastivePatchRegressor("li", module__n_planes=4, module__head="simplex", spectrum_norm="l2", augment=None,
                                  batch_size=128, max_epochs=args.epochs, random_state=0),
    )
    model.fit(X[train], y[train], contrastivepatchregressor__groups=coords[train])
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    abundance_map = predict_map(model, scene, batch_size=2048)  # the window size comes from PatchExtractor
    map_seconds = time.perf_counter() - start
    rows = coords[test, 0] + size // 2
    cols = coords[test, 1] + size // 2
    r2, mae = scores(abundance_map[rows, cols])

    ridge = make_pipeline(MeanSpectrum(normalize=True), RidgeCV(alphas=np.logspace(-8, 2, 21)))
    ridge_r2, ridge_mae = scores(ridge.fit(X[train], y[train]).predict(X[test]))
    tr, te = train_test_split(np.arange(len(X)), test_size=0.25, random_state=0)
    leaky = ridge.fit(X[tr], y[tr]).predict(X[te])
    leak = test_overlap_fraction(tr, te, coords, size)

    print(f"\n{'model (held-out strip)':<48} {'R^2':>6} {'MAE':>7}")
    print(f"{'li network, simplex head, ' + str(args.epochs) + ' epochs':<48} {r2:6.3f} {mae:7.4f}"
          f"   (fit {fit_seconds:.0f} s, full map {map_seconds:.1f} s)")
    print(f"{'ridge on L2-normalised mean spectra':<48} {ridge_r2:6.3f} {ridge_mae:7.4f}")
    print(f"{'ridge, random 75/25 split (leaky, for contrast)':<48} {r2_score(y[te], leaky):6.3f} "
          f"{mean_absolute_error(y[te], leaky):7.4f}   ({leak:.0%} of its test windows share pixels with training)")

    from hyperspectral_cl.plotting import plot_abundance_maps

    top = int(rows.min())
    fig = plot_abundance_maps(
        scene, abundance_map, highlight=(top, 0, h - top, w),
        title=f"Samson, li network: held-out strip (dashed) R^2 = {r2:.3f}, MAE = {mae:.3f}",
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
