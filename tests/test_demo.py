import subprocess
import sys

import numpy as np
import pytest

from hyperspectral_cl.cli import build_parser, main
from hyperspectral_cl.datasets import make_synthetic_scene
from hyperspectral_cl.demo import run_demo, spatial_half_split


@pytest.mark.parametrize("backbone", ["pixel-mlp", "li"])  # "li" is also in "L2-normalised"
def test_run_demo_small_scale(backbone):
    lines = []
    results = run_demo(shape=(24, 24), n_bands=16, window=7, patch_size=5, epochs=2, backbone=backbone, verbose=0,
                       out=lines.append)
    assert len(results) == 4
    for r in results.values():
        assert np.isfinite(r["r2"]) and r["mae"] >= 0
    assert any("R^2" in line for line in lines)
    verdict = [line for line in lines if line.startswith("Best network:")]
    best = max((n for n in results if n.startswith(f"{backbone},")), key=lambda n: results[n]["r2"])
    assert len(verdict) == 1 and f"Best network: {best} (R^2 {results[best]['r2']:.3f})" in verdict[0]
    assert "The networks see its centre 5 x 5 pixels" in lines[0]


def test_run_demo_networks_see_the_whole_window_by_default():
    lines = []
    run_demo(shape=(24, 24), n_bands=16, window=7, epochs=1, verbose=0, out=lines.append)
    assert lines[0].endswith("Every model sees the whole window.")


def test_spatial_half_split_has_no_shared_pixels():
    scene = make_synthetic_scene(shape=(20, 20), n_bands=4, random_state=0)
    _, _, coords = scene.windows(5)
    train, test = spatial_half_split(coords, 5, 20)
    assert len(train) and len(test)
    train_cols = {c for i in train for c in range(coords[i, 1], coords[i, 1] + 5)}
    test_cols = {c for i in test for c in range(coords[i, 1], coords[i, 1] + 5)}
    assert not train_cols & test_cols


def test_cli_parser_and_errors():
    args = build_parser().parse_args(["demo", "--epochs", "3", "--seed", "1"])
    assert args.epochs == 3 and args.seed == 1
    with pytest.raises(SystemExit):
        main([])


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "hyperspectral_cl.cli", "demo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--epochs" in out.stdout
