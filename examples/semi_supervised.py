"""Few labels, a whole scene of unlabeled pixels: semi-supervised training against ridge regression.

Run: python examples/semi_supervised.py [--labels 60] [--epochs 100]   (seconds on 2 CPU cores)

A synthetic scene stands in for a field campaign: a few dozen labeled pixels (the "samples") in the left
two thirds of the scene, every other pixel unlabeled. The models are scored on the right third, which
none of them saw labels from. The semi-supervised network draws unlabeled patches from the left two
thirds only (the inductive setting: the test region's pixels stay out of training).

With a few dozen labels the networks' held-out windows rarely favour them over their built-in ridge
map, and the blend then falls back to that ridge (network share 0): the honest outcome, printed so it
is not mistaken for a network result.
"""

import argparse
import time

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hyperspectral_cl import ContrastivePatchRegressor, MeanSpectrum, PatchExtractor
from hyperspectral_cl.datasets import make_synthetic_scene


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=60, help="labeled pixels (default 60)")
    parser.add_argument("--epochs", type=int, default=100, help="epoch budget of the networks (default 100)")
    args = parser.parse_args()

    size = 5
    scene = make_synthetic_scene(n_endmembers=3, shape=(60, 60), n_bands=48, smoothness=2.0, random_state=0)
    rng = np.random.default_rng(0)
    cut = 40  # columns [0, 40) are the campaign area, [40 + size, 60) the test area
    pixels = np.stack([rng.integers(0, 60, args.labels), rng.integers(0, cut - size // 2 - 1, args.labels)], axis=1)
    X, y, coords = scene.labeled_windows(pixels, size=size)

    test_corners = np.stack(np.meshgrid(np.arange(0, 60 - size + 1), np.arange(cut + size, 60 - size + 1),
                                        indexing="ij"), axis=-1).reshape(-1, 2)
    X_test, y_test, _ = scene.windows(size, positions=test_corners, label="center")

    # every window of the campaign area, cut on demand (memory: the cube plus a batch)
    exclude = np.zeros((60 - size + 1, 60 - size + 1), dtype=bool)
    exclude[:, cut - size + 1:] = True
    pool = scene.unlabeled_patches(size, exclude=exclude)
    print(f"{args.labels} labeled windows, {len(pool)} unlabeled ones in the same area, "
          f"{len(X_test)} test windows in the held-out area")

    def net(**params):
        return make_pipeline(PatchExtractor(size), ContrastivePatchRegressor(
            "li", spectrum_norm="l2", max_epochs=args.epochs, random_state=0, **params))

    models = {
        "ridge on L2-normalised mean spectra": (make_pipeline(
            MeanSpectrum(normalize=True), StandardScaler(), RidgeCV(alphas=np.logspace(-6, 6, 25))), {}),
        "network, labeled windows only": (net(), {"contrastivepatchregressor__groups": coords}),
        "network, semi-supervised (unlabeled pool)": (
            net(semi_supervised=True),
            {"contrastivepatchregressor__groups": coords, "contrastivepatchregressor__unlabeled": pool}),
    }
    # "network share" is the blend weight w of ridge + w (network - ridge), chosen per target on the
    # held-out windows: 0 means the network did not beat its ridge there and the model is that ridge
    print(f"\n{'model':<44} {'R^2':>6}  {'time (s)':>8}  network share")
    for name, (model, fit_params) in models.items():
        start = time.perf_counter()
        model.fit(X, y, **fit_params)
        r2 = r2_score(y_test, model.predict(X_test))
        blend = getattr(model[-1], "blend_", None)
        share = "" if blend is None else " ".join(f"{w:.2f}" for w in blend)
        print(f"{name:<44} {r2:6.3f}  {time.perf_counter() - start:8.1f}  {share}")


if __name__ == "__main__":
    main()
