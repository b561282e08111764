"""The reproduction runner: splits, binning, search grid, caching, report and command line."""

import json
import re
import signal
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SHARED_DATA

from hyperspectral_cl._environment import cpu_name
from hyperspectral_cl.cli import main
from hyperspectral_cl.datasets import make_synthetic_scene
from hyperspectral_cl.model_selection import test_overlap_fraction as overlap_fraction
from hyperspectral_cl.reproduce import (
    BACKBONES,
    CLASSICAL,
    PRESETS,
    VARIANTS,
    bin_bands,
    get_preset,
    make_splits,
    markdown_report,
    results_frame,
    run_reproduction,
    summary_frame,
    write_report,
)
from hyperspectral_cl.reproduce.data import training_windows
from hyperspectral_cl.reproduce.models import radius_grid
from hyperspectral_cl.reproduce.presets import LITERAL_VARIANTS

# the quick preset shrunk further: one backbone, two seeds, a 24 x 24 scene
TINY = dict(backbones=["luo"], seeds=2, epochs=2, max_epochs=2, n_train=48, n_test=40, synthetic_shape=(24, 24),
            classical=["ridge, L2-normalised mean spectrum", "PLS, mean spectrum"], progress=False, data_dir="/nonexistent")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return cache, run_reproduction("synthetic", "quick", cache_dir=cache, **TINY)


def test_bin_bands_matches_a_loop():
    scene = make_synthetic_scene(2, shape=(4, 5), n_bands=23, random_state=0)
    binned = bin_bands(scene, 5)  # groups of ceil(23 / 5) = 5 bands, the last 3 dropped
    assert binned.cube.shape == (4, 5, 4)
    for k in range(4):
        np.testing.assert_allclose(binned.cube[:, :, k], scene.cube[:, :, 5 * k:5 * k + 5].mean(axis=-1), rtol=1e-6)
        assert binned.wavelengths[k] == pytest.approx(scene.wavelengths[5 * k:5 * k + 5].mean())
    assert bin_bands(scene, None) is scene
    np.testing.assert_array_equal(binned.targets, scene.targets)


def test_spatial_split_shares_no_pixel_and_random_split_does():
    preset = get_preset("quick", n_train=50, n_test=None)
    scene = make_synthetic_scene(2, shape=(30, 30), n_bands=8, random_state=0)
    X, y, coords = scene.windows(preset.window)
    pool, test = make_splits(coords, scene.cube.shape, preset, "spatial")
    assert overlap_fraction(pool, test, coords, preset.window) == 0.0
    pool_r, test_r = make_splits(coords, scene.cube.shape, preset, "random")
    assert overlap_fraction(pool_r, test_r, coords, preset.window) > 0.5
    assert len(np.intersect1d(pool_r, test_r)) == 0
    assert len(test_r) == round(preset.test_fraction * len(coords))
    # seeds draw different training windows, always from the pool, reproducibly
    a, b = training_windows(pool, preset, 0), training_windows(pool, preset, 1)
    assert np.isin(a, pool).all() and not np.array_equal(a, b)
    np.testing.assert_array_equal(a, training_windows(pool, preset, 0))


def test_split_refuses_too_few_training_windows():
    preset = get_preset("quick", n_train=10_000)
    coords = np.stack(np.meshgrid(np.arange(10), np.arange(10), indexing="ij"), -1).reshape(-1, 2)
    with pytest.raises(ValueError, match="n_train=10000"):
        make_splits(coords, (14, 14), preset, "random")


def test_radius_grid_is_the_pairwise_distance_quantile():
    y = np.random.default_rng(0).random((30, 3))
    d = [np.linalg.norm(y[i] - y[j]) for i in range(30) for j in range(i + 1, 30)]
    np.testing.assert_allclose(radius_grid(y, [0.1, 0.5]), np.quantile(d, [0.1, 0.5]))


def test_preset_overrides_and_errors():
    assert get_preset("cpu", seeds=1).seeds == 1 and PRESETS["cpu"].seeds == 3
    with pytest.raises(ValueError, match="preset must be one of"):
        get_preset("huge")
    with pytest.raises(TypeError, match="unknown preset fields"):
        get_preset("quick", epoch=3)
    with pytest.raises(ValueError, match="unknown variants"):
        run_reproduction("synthetic", "quick", variants=["baseline", "mixup"], cache_dir=None)
    with pytest.raises(ValueError, match="dataset must be one of"):
        run_reproduction("pavia", "quick", cache_dir=None)


def test_paper_cpu_preset_is_the_papers_input_size_for_li_and_hamida():
    preset = PRESETS["paper-cpu"]
    assert (preset.window, preset.bands, preset.backbones) == (10, None, ("li", "hamida"))
    assert all(p.backbones == BACKBONES for name, p in PRESETS.items() if name != "paper-cpu")
    assert get_preset("quick", backbones=["li"]).backbones == ("li",)  # a tuple, hashable as the other fields
    with pytest.raises(TypeError, match="backbones must be a sequence of backbone names, got 'li'"):
        get_preset("quick", backbones="li")
    # the paper's tables compare the baseline and spectral+spatial; the other presets run every variant
    assert set(preset.variants) == {"baseline", "spectral+spatial", *LITERAL_VARIANTS}
    assert all(p.variants == tuple(VARIANTS) for name, p in PRESETS.items() if name != "paper-cpu")
    assert get_preset("quick", variants=["baseline"]).variants == ("baseline",)
    with pytest.raises(TypeError, match="variants must be a sequence of variant names, got 'baseline'"):
        get_preset("quick", variants="baseline")
    assert get_preset("quick", variants=(v for v in ["baseline", "spatial"])).variants == ("baseline", "spatial")
    with pytest.raises(ValueError, match=r"variants must name each variant once, got \('spatial', 'spatial'\)"):
        get_preset("quick", variants=["spatial", "spatial"])
    with pytest.raises(ValueError, match="backbones must name each backbone once"):
        get_preset("quick", backbones=["li", "luo", "li"])


def test_the_presets_backbones_run_by_default_and_stay_out_of_the_cache_key(tiny_run, monkeypatch):
    cache, res = tiny_run
    import hyperspectral_cl.reproduce.runner as runner

    def refuse(*args, **kwargs):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(runner, "deep_pipeline", refuse)
    params = {k: v for k, v in TINY.items() if k != "backbones"}
    # the same runs through the preset's backbone list: read from the cache of the run naming them
    again = run_reproduction("synthetic", get_preset("quick", backbones=tuple(TINY["backbones"])), cache_dir=cache,
                             **params)
    assert again["runs"] == res["runs"]
    assert {r["model"] for r in again["runs"] if r["kind"] == "deep"} == set(TINY["backbones"])
    assert res["preset"]["backbones"] == again["preset"]["backbones"] == tuple(TINY["backbones"])  # what ran
    # a preset naming fewer variants reads the same runs from the same cache entries
    chosen = ("baseline", "spectral+spatial")
    fewer = run_reproduction("synthetic", get_preset("quick", backbones=tuple(TINY["backbones"]), variants=chosen),
                             cache_dir=cache, **params)
    assert fewer["runs"] == [r for r in res["runs"] if r["kind"] != "deep" or r["variant"] in chosen]
    assert fewer["preset"]["variants"] == chosen


def test_tiny_run_has_every_row(tiny_run):
    _, res = tiny_run
    runs = pd.DataFrame(res["runs"])
    deep = runs[runs.kind == "deep"]
    assert len(deep) == 2 * 2 * 6  # splits x seeds x variants
    assert set(deep.variant) == {"baseline", "spectral", "spatial", "spectral+spatial", "paper recipe: baseline",
                                 "paper recipe: spectral+spatial"}
    assert len(runs[runs.kind == "classical"]) == 2 * 2 * 2
    assert np.isfinite(runs.r2).all() and (runs.mae > 0).all()
    # the baseline has no contrastive term; contrastive rows use the searched settings
    assert all(p == {} for p in deep[deep.variant.str.endswith("baseline")].params)
    assert len(res["searches"]) == 2
    for s in res["searches"]:
        assert set(s["best"]) == {"alpha", "radius", "temperature"}
        assert len(s["table"]) == PRESETS["quick"].search_size
    chosen = {s["split"]: s["best"] for s in res["searches"]}
    for _, row in deep[~deep.variant.str.endswith("baseline")].iterrows():
        assert row.params == chosen[row.split]


def test_cache_skips_finished_runs_and_resumes(tiny_run, monkeypatch):
    cache, res = tiny_run
    import hyperspectral_cl.reproduce.runner as runner

    def refuse(*args, **kwargs):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(runner, "deep_pipeline", refuse)
    again = run_reproduction("synthetic", "quick", cache_dir=cache, **TINY)
    assert again["runs"] == res["runs"]
    # drop one finished run: only it is computed again
    files = sorted(cache.glob("deep-*.json"))
    target = json.loads(files[0].read_text())["spec"]
    files[0].unlink()
    calls = []
    monkeypatch.undo()
    original = runner.deep_pipeline
    monkeypatch.setattr(runner, "deep_pipeline", lambda *a, **k: calls.append(a) or original(*a, **k))
    resumed = run_reproduction("synthetic", "quick", cache_dir=cache, **TINY)
    assert len(calls) == 1 and calls[0][:2] == (target["backbone"], target["variant"])
    assert len(resumed["runs"]) == len(res["runs"])


def test_runs_are_deterministic(tiny_run):
    _, res = tiny_run
    fresh = run_reproduction("synthetic", "quick", cache_dir=None, splits=["spatial"], **TINY)
    old = [r for r in res["runs"] if r["split"] == "spatial"]
    assert [(r["model"], r["variant"], r["seed"]) for r in fresh["runs"]] == [
        (r["model"], r["variant"], r["seed"]) for r in old]
    np.testing.assert_allclose([r["r2"] for r in fresh["runs"]], [r["r2"] for r in old], rtol=1e-5, atol=1e-6)


def test_report_tables_agree_with_the_runs(tiny_run, tmp_path):
    _, res = tiny_run
    summary = summary_frame(res)
    runs = pd.DataFrame(res["runs"])
    sel = runs[(runs.split == "random") & (runs.model == "luo") & (runs.variant == "spatial")]
    row = summary[(summary.split == "random") & (summary.model == "luo") & (summary.variant == "spatial")].iloc[0]
    assert row.r2_mean == pytest.approx(sel.r2.mean()) and row.r2_std == pytest.approx(sel.r2.std())
    md = markdown_report(res)
    assert f"{row.r2_mean:.3f} ± {row.r2_std:.3f}" in md
    assert "paper: spectral+spatial" in md and "ridge, L2-normalised mean spectrum" in md
    run = res["runs"][0]
    assert (f"the runs recorded Python {run['python']}, torch {run['torch']}, scikit-learn {run['sklearn']}, "
            f"hyperspectral_cl {run['hyperspectral_cl']}.") in md
    write_report(res, tmp_path, stem="t")
    csv = pd.read_csv(tmp_path / "t.csv")
    assert len(csv) == len(res["runs"]) and {"r2", "mae", "seed", "device", "torch", "epochs"} <= set(csv.columns)
    assert list(results_frame(res).columns) == list(csv.columns)
    # the blend section agrees with the runs it summarises
    blended = [r for r in res["runs"] if r["split"] == "random" and r["model"] == "luo" and r["kind"] == "deep"
               and r["variant"] not in LITERAL_VARIANTS]
    shares = np.concatenate([r["blend"] for r in blended])
    rbf = sum(p == "rbf" for r in blended for p in r["partner"])
    assert (f"| random | luo | {len(blended)} | {shares.mean():.2f} | {sum(not np.any(r['blend']) for r in blended)} "
            f"| {rbf} of {shares.size} |") in md
    deep = csv[(csv.kind == "deep") & ~csv.variant.isin(LITERAL_VARIANTS)]  # the paper's recipe has no blend
    assert deep.blend.notna().all() and all(len(json.loads(b)) == len(json.loads(p))
                                            for b, p in zip(deep.blend, deep.partner, strict=True))


def test_report_figure(tiny_run, tmp_path):
    pytest.importorskip("matplotlib")
    _, res = tiny_run
    paths = write_report(res, tmp_path, stem="t")
    assert tmp_path / "t.png" in paths and (tmp_path / "t.png").stat().st_size > 0


def test_report_without_matplotlib_writes_the_tables(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    _, res = tiny_run
    with pytest.warns(UserWarning, match=r"matplotlib is not installed, so t\.png was not written"):
        assert write_report(res, tmp_path, stem="t") == [tmp_path / "t.md", tmp_path / "t.csv"]


def test_classical_names_cover_features_and_linear_and_nonlinear_regressors():
    assert {v[0] for v in CLASSICAL.values()} == {"mean", "l2", "pixel-l2", "flat"}
    assert {v[1] for v in CLASSICAL.values()} == {"ridge", "pls", "krr", "forest"}


def test_mean_of_normalised_pixels_by_hand():
    from hyperspectral_cl.reproduce.models import mean_of_normalised_pixels

    X = np.zeros((1, 1, 2, 2))
    X[0, 0, 0] = [3.0, 4.0]  # norm 5
    X[0, 0, 1] = [0.0, 2.0]  # norm 2
    np.testing.assert_allclose(mean_of_normalised_pixels(X), [[0.3, 0.9]])


@pytest.mark.parametrize("name", ["kernel ridge (RBF), mean spectrum", "random forest, L2-normalised mean spectrum"])
def test_nonlinear_classical_rows_are_tuned_by_the_inner_cv(name):
    from hyperspectral_cl.reproduce.models import classical_search

    scene = make_synthetic_scene(2, shape=(20, 20), n_bands=8, random_state=0)
    X, y, coords = scene.windows(5)
    gs = classical_search(name, X, "spatial", get_preset("quick"), coords)
    assert len(gs.cv) == get_preset("quick").inner_folds and len(list(gs.param_grid.values())[0]) >= 2
    gs.fit(X, y)
    assert np.isfinite(gs.best_score_) and gs.predict(X[:3]).shape == (3, 2)


def test_cli_reproduce_quick(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["reproduce", "--dataset", "synthetic", "--preset", "quick", "--backbones", "luo", "--seeds", "1",
                 "--variants", "baseline", "paper recipe: spectral+spatial",
                 "--out", str(out), "--no-cache", "--quiet", "--data-dir", str(tmp_path)])
    assert code == 0
    assert (out / "reproduce_synthetic_quick.md").is_file() and (out / "reproduce_synthetic_quick.csv").is_file()
    assert "wrote" in capsys.readouterr().out
    runs = pd.read_csv(out / "reproduce_synthetic_quick.csv")
    assert set(runs[runs.kind == "deep"].variant) == {"baseline", "paper recipe: spectral+spatial"}


def test_cli_refuses_an_unknown_variant(capsys):
    with pytest.raises(SystemExit) as info:
        main(["reproduce", "--variants", "baseline", "mixup"])
    assert info.value.code == 2 and "argument --variants: invalid choice: 'mixup'" in capsys.readouterr().err


def test_cli_explains_missing_samson(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HYPERSPECTRAL_CL_DATA", raising=False)
    code = main(["reproduce", "--dataset", "samson", "--samson", str(tmp_path / "nope.mat"), "--no-cache", "--quiet"])
    assert code == 2
    assert "--samson PATH" in capsys.readouterr().err


@pytest.mark.skipif(not (SHARED_DATA / "samson").is_dir(), reason="../shared/data/samson is absent")
def test_samson_tiny_run():
    res = run_reproduction("samson", "quick", cache_dir=None, samson=SHARED_DATA / "samson", splits=["spatial"],
                           **{**TINY, "seeds": 1, "data_dir": None})
    assert res["dataset"]["targets"] and res["dataset"]["bands"] == 26  # 156 bands in groups of 6
    assert all(np.isfinite(r["r2"]) for r in res["runs"])


@pytest.mark.skipif(not (SHARED_DATA / "usgs_library").is_dir(), reason="../shared/data/usgs_library is absent")
def test_synthetic_endmembers_come_from_the_usgs_library():
    res = run_reproduction("synthetic", "quick", cache_dir=None, splits=["random"], variants=["baseline"],
                           **{**TINY, "seeds": 1, "data_dir": SHARED_DATA, "classical": []})
    assert res["dataset"]["source"].startswith("USGS") and len(res["dataset"]["targets"]) == 4


def test_diverging_runs_are_retried_with_smaller_lr_then_reported():
    opts = {**TINY, "seeds": 1, "classical": [], "splits": ["random"]}
    res = run_reproduction("synthetic", "quick", cache_dir=None, variants=["paper recipe: baseline"], lr=1e30, **opts)
    (row,) = res["runs"]
    assert row["diverged"] and np.isnan(row["r2"]) and row["lr"] == pytest.approx(1e30 / 9)
    assert "1 of 1 diverged" in markdown_report(res)
    # a search where every candidate diverges at every lr stops with a clear error
    import hyperspectral_cl.reproduce.runner as runner
    from hyperspectral_cl import TrainingDivergedError

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "_learning_rates", lambda variant, preset: [1e30 / 3**k for k in range(3)])
        with pytest.raises(TrainingDivergedError, match="every candidate of the luo search diverged"):
            run_reproduction("synthetic", "quick", cache_dir=None, variants=["spectral"], **opts)


def test_changing_the_search_space_keeps_baseline_and_classical_runs(tmp_path, monkeypatch):
    opts = {**TINY, "seeds": 1, "splits": ["random"], "classical": ["ridge, mean spectrum"]}
    first = run_reproduction("synthetic", "quick", cache_dir=tmp_path, variants=["baseline"], **opts)
    import hyperspectral_cl.reproduce.runner as runner

    monkeypatch.setattr(runner, "deep_pipeline", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    monkeypatch.setattr(runner, "classical_search", lambda *a, **k: (_ for _ in ()).throw(AssertionError("refit")))
    again = run_reproduction("synthetic", "quick", cache_dir=tmp_path, variants=["baseline"], alphas=(0.5, 2.0),
                             temperatures=(0.2,), **opts)
    assert again["runs"] == first["runs"]


# the cheapest grid: one ridge row per seed on the random split, no network
CLASSICAL_ONLY = {**TINY, "backbones": [], "splits": ["random"], "classical": ["ridge, mean spectrum"]}


def _string_r2(entry):
    return {**entry, "result": {**entry["result"], "r2": str(entry["result"]["r2"])}}


@pytest.mark.parametrize("corrupt", [
    lambda entry: "[]",
    lambda entry: '{"result": {}}',
    lambda entry: '{"result": "x"}',
    lambda entry: '{"result": null}',
    lambda entry: '"just a string"',
    lambda entry: "",
    lambda entry: '{"spec": {"task": "classical"',
    lambda entry: json.dumps(_string_r2(entry)),
    lambda entry: json.dumps({**entry, "result": {**entry["result"], "mae": True}}),
    lambda entry: json.dumps({**entry, "spec": {**entry["spec"], "seed": 7}}),
], ids=["list", "empty result", "string result", "null result", "string", "empty file", "cut short", "string r2",
        "bool mae", "other task's spec"])
def test_unusable_cache_files_are_recomputed_with_a_warning_naming_them(tmp_path, monkeypatch, corrupt):
    import hyperspectral_cl.reproduce.runner as runner
    from hyperspectral_cl.reproduce import CacheWarning

    first = run_reproduction("synthetic", "quick", cache_dir=tmp_path, **CLASSICAL_ONLY)
    path = sorted(tmp_path.glob("classical-*.json"))[0]
    path.write_text(corrupt(json.loads(path.read_text())))
    calls = []
    original = runner.classical_search
    monkeypatch.setattr(runner, "classical_search", lambda *a, **k: calls.append(a) or original(*a, **k))
    with pytest.warns(CacheWarning, match=re.escape(str(path))):
        again = run_reproduction("synthetic", "quick", cache_dir=tmp_path, **CLASSICAL_ONLY)
    assert len(calls) == 1  # only the damaged entry is computed again
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in again["runs"]] == [
        {k: v for k, v in r.items() if k != "seconds"} for r in first["runs"]]
    assert isinstance(json.loads(path.read_text())["result"]["r2"], float)  # and its file repaired


@pytest.mark.parametrize("kind,result", [
    ("search", {"best": {}, "table": [], "lr": 1e-3}),
    ("search", {"best": {"alpha": 1.0, "radius": "0.2", "temperature": 0.1}, "table": [{}], "lr": 1e-3}),
    ("search", {"best": {"alpha": 1.0, "radius": 0.2, "temperature": 0.1}, "table": [{"mean_r2": 0.5}], "lr": 1e-3}),
    ("search", {"best": {"alpha": 1.0, "radius": 0.2, "temperature": 0.1},
                "table": [{"params": {}, "mean_r2": 0.5, "std_r2": 0.1}]}),
    ("deep", {"r2": 0.5, "mae": 0.1, "seconds": 1.0}),
    ("deep", {"r2": [0.5], "mae": 0.1, "seconds": 1.0, "device": "cpu"}),
    ("deep", ["r2", 0.5]),
    ("classical", {"skipped": 3}),
])
def test_cache_rejects_results_of_the_wrong_shape(tmp_path, kind, result):
    from hyperspectral_cl.reproduce import CacheWarning
    from hyperspectral_cl.reproduce.runner import _Cache

    cache, spec = _Cache(tmp_path), {"task": kind, "seed": 0}
    cache.put(kind, spec, result)
    with pytest.warns(CacheWarning, match=rf"ignoring the cache file {re.escape(str(tmp_path))}.*; expected "):
        assert cache.get(kind, spec) is None


@pytest.mark.parametrize("kind,result", [
    ("search", {"best": {"alpha": 1.0, "radius": 0.2, "temperature": 0.1},
                "table": [{"params": {"alpha": 1.0}, "mean_r2": float("nan"), "std_r2": float("nan")}], "lr": 1e-3}),
    ("deep", {"r2": float("nan"), "mae": float("nan"), "seconds": 1.0, "device": "cpu", "diverged": True}),
    ("classical", {"skipped": "flattened windows exceed max_flat_features=4096"}),
    ("classical", {"r2": 0.5, "mae": 1, "seconds": 0.1, "device": "cpu"}),
])
def test_cache_returns_what_the_runner_wrote(tmp_path, kind, result, recwarn):
    from hyperspectral_cl.reproduce.runner import _Cache

    cache, spec = _Cache(tmp_path), {"task": kind, "seed": 0, "params": {"alpha": 0.5}}
    cache.put(kind, spec, result)
    assert json.dumps(_Cache(tmp_path).get(kind, spec)) == json.dumps(result)  # (NaN != NaN)
    assert not recwarn.list


def test_the_package_version_is_part_of_the_cache_key(tmp_path, monkeypatch):
    import hyperspectral_cl.reproduce.runner as runner

    run_reproduction("synthetic", "quick", cache_dir=tmp_path, **CLASSICAL_ONLY)
    calls = []
    original = runner.classical_search
    monkeypatch.setattr(runner, "classical_search", lambda *a, **k: calls.append(a) or original(*a, **k))
    monkeypatch.setattr(runner, "__version__", "0.0.0+other")
    run_reproduction("synthetic", "quick", cache_dir=tmp_path, **CLASSICAL_ONLY)
    assert len(calls) == CLASSICAL_ONLY["seeds"]
    assert len(list(tmp_path.glob("classical-*.json"))) == 2 * CLASSICAL_ONLY["seeds"]


def test_runners_sharing_a_cache_do_not_collide(tmp_path, monkeypatch):
    import hyperspectral_cl.reproduce.runner as runner
    from hyperspectral_cl.reproduce.runner import _Cache

    spec = {"task": "classical", "seed": 0}
    result = {"r2": 0.5, "mae": 0.1, "seconds": 1.0, "device": "cpu"}
    mine, theirs = _Cache(tmp_path), _Cache(tmp_path)
    path = mine._path("classical", spec)
    # a temporary file left behind by a runner that was killed (under the old fixed name, and a directory so
    # that writing there fails)
    path.with_suffix(".tmp").mkdir()
    # the other runner stores the same task between our write and our rename
    original, stored = runner.os.replace, []

    def replace(src, dst):
        if not stored:
            stored.append(dst)
            theirs.put("classical", spec, {**result, "r2": 0.25})
        return original(src, dst)

    monkeypatch.setattr(runner.os, "replace", replace)
    mine.put("classical", spec, result)
    assert stored == [path]
    assert mine.get("classical", spec) == result  # the last rename wins, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, path.with_suffix(".tmp").name])


def _stop_at(n, exc):
    """A stand-in for the runner's fit that trains normally, then raises ``exc`` at the n-th call."""
    import hyperspectral_cl.reproduce.runner as runner

    calls, original = [], runner._fit

    def fit(model, X, y, **params):
        calls.append(model)
        if len(calls) == n:
            raise exc
        return original(model, X, y, **params)

    return fit, calls


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError("boom")], ids=["ctrl-c", "error"])
def test_an_interrupted_or_failed_task_is_not_cached(tmp_path, monkeypatch, exc):
    import hyperspectral_cl.reproduce.runner as runner

    fit, calls = _stop_at(2, exc)
    monkeypatch.setattr(runner, "_fit", fit)
    with pytest.raises(type(exc) if isinstance(exc, Exception) else exc):
        run_reproduction("synthetic", "quick", cache_dir=tmp_path, **CLASSICAL_ONLY)
    assert len(calls) == 2
    (kept,) = tmp_path.iterdir()  # the first seed's row only, and no temporary file
    assert kept.name.startswith("classical-") and kept.suffix == ".json"
    calls = []
    monkeypatch.setattr(runner, "_fit", lambda model, *a, **k: calls.append(model) or model.fit(*a, **k))
    run_reproduction("synthetic", "quick", cache_dir=tmp_path, **CLASSICAL_ONLY)
    assert len(calls) == 1  # resumed: the finished row is not trained again


def test_a_ctrl_c_swallowed_by_the_fit_is_not_cached(tmp_path, monkeypatch):
    import hyperspectral_cl.reproduce.runner as runner

    original = runner._fit

    def fit(model, X, y, **params):  # as skorch does: Ctrl-C ends training, fit returns normally
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass
        return original(model, X, y, **params)

    monkeypatch.setattr(runner, "_fit", fit)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match="classical task interrupted"):
        run_reproduction("synthetic", "quick", cache_dir=tmp_path, **CLASSICAL_ONLY)
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGINT) is handler  # restored


def test_task_warnings_are_summarised_after_the_run_once_per_kind(tmp_path, monkeypatch):
    import hyperspectral_cl.reproduce.runner as runner

    original = runner._fit

    rcond = iter(np.geomspace(1e-20, 1e-17, 10))

    def fit(model, X, y, **params):  # every task warns twice, with varying numbers, as ill-conditioned solves do
        warnings.warn(f"Ill-conditioned matrix (rcond={next(rcond):.3e}): result may not be accurate.",
                      RuntimeWarning, stacklevel=2)
        warnings.warn("the same words each time", UserWarning, stacklevel=2)
        return original(model, X, y, **params)

    monkeypatch.setattr(runner, "_fit", fit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_reproduction("synthetic", "quick", cache_dir=None, **CLASSICAL_ONLY)
    messages = [(w.category, str(w.message)) for w in caught]
    n_tasks = 2  # CLASSICAL_ONLY: one classical row on one split, two seeds
    ill = [m for c, m in messages if c is RuntimeWarning]
    assert len(ill) == 1 and ill[0].startswith("Ill-conditioned matrix (rcond=")
    assert ill[0].endswith(f"[{n_tasks} times during the run, numbers varying]")
    assert [m for c, m in messages if c is UserWarning] == [f"the same words each time [{n_tasks} times during the run]"]


def test_cli_reproduce_prints_warnings_as_lines(tmp_path, monkeypatch, capsys):
    import hyperspectral_cl.reproduce.runner as runner

    original = runner._fit

    def fit(model, X, y, **params):
        warnings.warn("a task's warning", UserWarning, stacklevel=2)
        return original(model, X, y, **params)

    import hyperspectral_cl.reproduce as reproduce

    run = reproduce.run_reproduction
    monkeypatch.setattr(runner, "_fit", fit)
    monkeypatch.setattr(reproduce, "run_reproduction", lambda *a, **k: run(*a, **{**k, **CLASSICAL_ONLY}))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "out"
    argv = ["reproduce", "--jobs", "1", "--out", str(out), "--no-cache", "--quiet"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "hyperspectral-cl reproduce: warning: a task's warning [" in err
    assert "hyperspectral-cl reproduce: warning: matplotlib is not installed, so reproduce_synthetic_quick.png" in err


def test_cli_interrupted_exits_130_without_a_report(tmp_path, monkeypatch, capsys):
    import hyperspectral_cl.reproduce.runner as runner

    fit, calls = _stop_at(1, KeyboardInterrupt)
    monkeypatch.setattr(runner, "_fit", fit)
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["reproduce", "--backbones", "luo", "--seeds", "1", "--jobs", "1", "--out", str(out), "--cache-dir", str(cache),
            "--quiet", "--data-dir", str(tmp_path)]
    assert main(argv) == 130
    assert "interrupted, no report written" in capsys.readouterr().err
    assert not out.exists() and list(cache.iterdir()) == []
    fit, calls = _stop_at(1, RuntimeError("boom"))
    monkeypatch.setattr(runner, "_fit", fit)
    with pytest.raises(RuntimeError, match="boom"):
        main(argv)
    assert not out.exists() and list(cache.iterdir()) == []


def test_cli_spectrum_norm_choices_are_what_the_estimators_accept(tmp_path, capsys):
    from hyperspectral_cl import PatchExtractor
    from hyperspectral_cl.cli import SPECTRUM_NORM_CHOICES, build_parser
    from hyperspectral_cl.network import SPECTRUM_NORMS

    rep = build_parser()._subparsers._group_actions[0].choices["reproduce"]
    (action,) = [a for a in rep._actions if a.dest == "spectrum_norm"]
    assert set(SPECTRUM_NORM_CHOICES.values()) == set(SPECTRUM_NORMS)
    X = np.random.default_rng(0).random((2, 5, 5, 4))
    for choice in action.choices:
        PatchExtractor(3, spectrum_norm=SPECTRUM_NORM_CHOICES[choice]).fit_transform(X)
    for rejected in ("max", "l1", "None"):
        with pytest.raises(ValueError, match="spectrum_norm must be None or 'l2'"):
            PatchExtractor(3, spectrum_norm=rejected).fit(X)
        with pytest.raises(SystemExit) as exit_:
            main(["reproduce", "--spectrum-norm", rejected, "--no-cache", "--out", str(tmp_path)])
        assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_worker_processes_give_the_same_results_and_cache(tmp_path):
    grid = dict(TINY, variants=["baseline", "spectral+spatial"], splits=["spatial"])
    serial = run_reproduction("synthetic", "quick", cache_dir=tmp_path / "serial", **grid)
    parallel = run_reproduction("synthetic", "quick", cache_dir=tmp_path / "parallel", n_jobs=2, **grid)
    assert len(serial["runs"]) == len(parallel["runs"]) and len(parallel["searches"]) == 1
    for a, b in zip(serial["runs"], parallel["runs"], strict=True):  # same rows, in the same order
        assert (a["model"], a["variant"], a["seed"]) == (b["model"], b["variant"], b["seed"])
        np.testing.assert_allclose(a["r2"], b["r2"], atol=1e-4)  # one thread per worker: summation order only
    assert sorted(p.name for p in (tmp_path / "serial").iterdir()) == \
        sorted(p.name for p in (tmp_path / "parallel").iterdir())


def test_bad_n_jobs_is_refused(tmp_path):
    with pytest.raises(ValueError, match="n_jobs must be None, -1 or a positive integer, got 0"):
        run_reproduction("synthetic", "quick", cache_dir=tmp_path, n_jobs=0, **CLASSICAL_ONLY)


@pytest.mark.parametrize("argv", [["--jobs", "0"], ["--jobs", "-2"], ["--threads", "0"], ["--jobs", "two"]])
def test_cli_refuses_bad_job_and_thread_counts(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(["reproduce", *argv])
    assert info.value.code == 2 and "expected a positive integer" in capsys.readouterr().err


def test_runs_record_the_threads_they_ran_with(tmp_path):
    grid = dict(CLASSICAL_ONLY, seeds=2)
    parallel = run_reproduction("synthetic", "quick", cache_dir=None, n_jobs=2, threads=1, **grid)
    assert {r["device"] for r in parallel["runs"]} == {f"cpu ({cpu_name()}, 1 thread)"}
    serial = run_reproduction("synthetic", "quick", cache_dir=None, **grid)
    n = torch.get_num_threads()
    assert {r["device"] for r in serial["runs"]} == {f"cpu ({cpu_name()}, {n} thread{'s' if n > 1 else ''})"}


def test_a_worker_releases_what_its_task_kept_even_when_the_task_fails(monkeypatch):
    import hyperspectral_cl.reproduce.runner as runner

    calls = []
    monkeypatch.setattr(runner, "release_freed_memory", lambda: calls.append(True))
    assert runner._call(3, lambda: "done", None) == (3, ("done", []))
    assert calls == [True]
    with pytest.raises(ZeroDivisionError):
        runner._call(4, lambda: 1 / 0, None)
    assert calls == [True, True]
