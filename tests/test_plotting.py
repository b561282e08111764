"""Figures (Agg backend); skipped without matplotlib."""

import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hyperspectral_cl import plotting  # noqa: E402
from hyperspectral_cl.datasets import SpectralLibrary, make_synthetic_scene  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def scene():
    return make_synthetic_scene(n_endmembers=3, shape=(12, 16), n_bands=20, smoothness=1.0, random_state=0)


def test_abundance_maps_share_colour_scales(scene, tmp_path):
    pred = scene.targets + 0.05
    pred[:2] = np.nan  # a 'valid'-border map
    fig = plotting.plot_abundance_maps(scene, pred, title="t", highlight=(0, 0, 4, 4))
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 9  # 3 targets x (truth, prediction, error)
    maps = [im for im in images if im.get_cmap().name == "viridis"]
    errors = [im for im in images if im.get_cmap().name == "magma"]
    assert len(maps) == 6 and len({im.get_clim() for im in maps}) == 1
    assert len({im.get_clim() for im in errors}) == 1 and errors[0].get_clim()[0] == 0
    lo, hi = maps[0].get_clim()
    assert lo == pytest.approx(float(scene.targets.min())) and hi == pytest.approx(float(np.nanmax(pred)))
    assert [ax.get_ylabel() for ax in fig.axes if ax.images][::3] == scene.target_names
    fig.savefig(tmp_path / "maps.png")
    assert (tmp_path / "maps.png").stat().st_size > 1000


def test_abundance_maps_truth_only_and_errors(scene):
    fig = plotting.plot_abundance_maps(scene.targets[:, :, 0])
    assert sum(1 for ax in fig.axes if ax.images) == 1
    with pytest.raises(ValueError, match="prediction has shape"):
        plotting.plot_abundance_maps(scene.targets, scene.targets[:, :, :2])
    with pytest.raises(ValueError, match="target_names"):
        plotting.plot_abundance_maps(scene.targets, target_names=["a"])
    with pytest.raises(ValueError, match="must have shape"):
        plotting.plot_abundance_maps(np.zeros(5))


def test_spectra_against_wavelength(scene):
    fig = plotting.plot_spectra(scene, bad_bands=np.arange(20) == 3)
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and ax.get_xlabel() == "wavelength (nm)"
    np.testing.assert_allclose(ax.lines[0].get_xdata(), scene.wavelengths)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == scene.target_names
    lib = SpectralLibrary(scene.wavelengths, scene.endmembers.T, ["a", "b", "c"])
    assert len(plotting.plot_spectra(lib).axes[0].lines) == 3
    fig2, ax2 = plt.subplots()
    assert plotting.plot_spectra(scene.endmembers[:, 0], ax=ax2) is fig2 and ax2.get_xlabel() == "band"
    with pytest.raises(ValueError, match="wavelengths for 20 bands"):
        plotting.plot_spectra(scene.endmembers, wavelengths=np.arange(5))


def test_learning_curves_from_a_history():
    history = [
        {"epoch": i + 1, "train_loss": 1.0 / (i + 1), "valid_loss": 1.1 / (i + 1), "train_mse": 0.5 / (i + 1),
         "train_contrastive": 2.0, "dur": 0.1, "train_loss_best": True, "batches": []}
        for i in range(6)
    ]
    fig = plotting.plot_learning_curves(history)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "mse", "contrastive"]
    assert len(fig.axes[0].lines) == 2  # train and valid together
    fig = plotting.plot_learning_curves(history, keys=["train_mse"])
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_learning_curves([])
    with pytest.raises(ValueError, match="no numeric"):
        plotting.plot_learning_curves([{"epoch": 1, "dur": 0.2}])


def test_learning_curves_from_a_fitted_network(scene):
    from conftest import tiny_net_params

    from hyperspectral_cl import ContrastivePatchRegressor, PatchExtractor

    X, y, _ = scene.windows(5, stride=2)
    net = ContrastivePatchRegressor("li", **tiny_net_params(max_epochs=2))
    net.fit(PatchExtractor(5).fit_transform(X), y)
    fig = plotting.plot_learning_curves(net.history_)
    assert "loss" in [ax.get_title() for ax in fig.axes]


def test_clear_message_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install hyperspectral-cl\[plot\]"):
        plotting.plot_spectra(np.ones(3))
