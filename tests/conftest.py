"""Shared fixtures: tiny scenes and windows that keep the suite fast on 2 CPU cores."""

from pathlib import Path

import numpy as np
import pytest
import torch

from hyperspectral_cl.datasets import make_synthetic_scene

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: measured illumination tables for atmospheric compensation
MAT_TABLE = SHARED_DATA / "illumination" / "atmosIlluminationModel.mat"
ASTM_TABLE = SHARED_DATA / "illumination" / "ASTMG173.csv"
needs_tables = pytest.mark.skipif(not MAT_TABLE.is_file() or not ASTM_TABLE.is_file(), reason="../shared/data absent")


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    # CI machines have 2 cores; more threads than that only adds contention
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _allocator_left_alone(monkeypatch):
    # the command line (and the user guide's example) keep freed memory for their own process; run in the
    # test process, that would change the allocator and os.environ for every later test
    # (tests/test_allocator.py tests it in subprocesses and with a fake glibc)
    import hyperspectral_cl.allocator as allocator
    import hyperspectral_cl.cli as cli

    for module in (allocator, cli):
        monkeypatch.setattr(module, "keep_freed_memory", lambda: False)


@pytest.fixture(scope="session")
def scene():
    return make_synthetic_scene(n_endmembers=3, shape=(20, 20), n_bands=16, smoothness=1.5, random_state=0)


@pytest.fixture(scope="session")
def windows(scene):
    """(X, y): 7 x 7 windows (n=196) with 3 mean-abundance targets; read-only so no test can change them."""
    X, y, _ = scene.windows(7, stride=1)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def tiny_net_params(**overrides):
    """Parameters of a fast ContrastivePatchRegressor for tests.

    The contrastive term on (``alpha=1``) and raw spectra (``spectrum_norm=None``): the
    full training path, on values the tests can compute by hand.
    """
    params = dict(max_epochs=2, batch_size=64, random_state=0, module__n_planes=2, alpha=1.0, spectrum_norm=None)
    params.update(overrides)
    return params


def gen(seed, device="cpu"):
    """A seeded torch generator (what transforms take as ``generator``)."""
    return torch.Generator(device=device).manual_seed(seed)


def random_patches(n=16, b=8, s=5, *, dtype=torch.float32, device="cpu", seed=0):
    """Uniform [0, 1) patches (n, 1, b, s, s), drawn in float64 on CPU so every dtype/device sees the same values."""
    return torch.rand(n, 1, b, s, s, generator=gen(seed), dtype=torch.float64).to(dtype=dtype, device=device)


def int_patches(n=16, b=8, s=5, seed=0):
    """Integer-valued float64 patches: sums are exact in any order, values mostly distinct."""
    return torch.randint(-1000, 1000, (n, 1, b, s, s), generator=gen(seed)).to(torch.float64)


def erased_bands(out, fill):
    """(N, B) bool: bands equal to ``fill`` in every pixel of the sample."""
    return (out == fill).all(dim=-1).all(dim=-1)[:, 0]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def tiny_truth(rng):
    """A 4 x 6 scene as MATLAB unmixing files store it: ``(cube, A, M, Y, A_flat)``.

    The cube (4, 6, 5), abundances A (4, 6, 3) on the simplex, endmembers M (5, 3), and the
    bands x pixels matrices Y and A_flat in MATLAB's column-major pixel order.
    """
    cube = rng.random((4, 6, 5))  # non-square on purpose: a C/F mix-up cannot pass
    A = rng.dirichlet(np.ones(3), size=(4, 6))
    M = rng.random((5, 3))
    Y = cube.reshape(24, 5, order="F").T  # MATLAB bands x pixels, column-major
    return cube, A, M, Y, A.reshape(24, 3, order="F").T


NODATA_KINDS = ("nan", "masked", "fill")


def nodata_scene(kind, fill=-9999.0, shape=(12, 14), n_bands=4, seed=0):
    """A scene with a no-data border and holes, marked by NaN, a masked array's mask or a declared fill value.

    Returns ``(scene, clean, bad)``: the Scene, the same cube with every value present, and the
    per-pixel no-data mask (a pixel is no-data when any band is: one hole covers a single band).
    Changing ``fill`` changes only the values under no-data (and, for ``'fill'``, the declared value).
    """
    from hyperspectral_cl.datasets import Scene

    rng = np.random.default_rng(seed)
    h, w = shape
    clean = rng.random((h, w, n_bands))
    targets = rng.random((h, w, 2))
    entries = np.zeros((h, w, n_bands), dtype=bool)
    entries[0] = True  # a no-data border: the top row and the right column
    entries[:, -1] = True
    entries[6, 5] = True  # a hole in every band
    entries[8:10, 2:4] = True  # a 2 x 2 hole
    entries[3, 9, 2] = True  # one band missing: the pixel is no-data
    filled = np.where(entries, fill, clean)
    if kind == "nan":
        cube, nodata = np.where(entries, np.nan, clean), None
    elif kind == "masked":
        cube, nodata = np.ma.masked_array(filled, mask=entries), None
    else:
        cube, nodata = filled, fill
    declared = {} if nodata is None else {"nodata": nodata}  # only the fill variant needs the parameter
    return Scene(cube=cube, targets=targets, **declared), clean, entries.any(axis=-1)


def naive_touching(bad, size, corners):
    """For each top-left corner (reflected across the border), whether its window holds a no-data pixel, by loops."""
    h, w = bad.shape
    reflect = lambda i, n: -i - 1 if i < 0 else (2 * n - 1 - i if i >= n else i)  # noqa: E731
    return np.array([any(bad[reflect(r + i, h), reflect(c + j, w)] for i in range(size) for j in range(size))
                     for r, c in corners], dtype=bool)
