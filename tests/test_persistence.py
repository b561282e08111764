"""Pickles record the package version, load across processes, and refuse other versions clearly."""

import pickle
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
from conftest import tiny_net_params
from sklearn.pipeline import make_pipeline

import hyperspectral_cl
from hyperspectral_cl import ContrastivePatchRegressor, IncompatibleModelError, PatchExtractor
from hyperspectral_cl.estimator import _VERSION_KEY, check_saved_version


@pytest.fixture(scope="module")
def fitted(windows):
    X, y = windows
    return make_pipeline(PatchExtractor(5), ContrastivePatchRegressor("li", **tiny_net_params())).fit(X, y)


def test_state_records_the_version(fitted):
    state = fitted[-1].__getstate__()
    assert state[_VERSION_KEY] == hyperspectral_cl.__version__


def test_pickle_round_trip_predicts_the_same(fitted, windows):
    X, _ = windows
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone.predict(X), fitted.predict(X))


def test_joblib_model_predicts_the_same_in_a_new_process(fitted, windows, tmp_path):
    X, _ = windows
    model_path, x_path, out_path = tmp_path / "model.joblib", tmp_path / "X.npy", tmp_path / "pred.npy"
    joblib.dump(fitted, model_path)
    np.save(x_path, X)
    code = textwrap.dedent(f"""
        import joblib, numpy as np
        model = joblib.load({str(model_path)!r})
        np.save({str(out_path)!r}, model.predict(np.load({str(x_path)!r})))
    """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    np.testing.assert_array_equal(np.load(out_path), fitted.predict(X))


@pytest.mark.parametrize("saved", ["0.0.9", "1.1.0", "9.0"])
def test_a_model_from_another_minor_series_is_refused_with_the_versions_named(fitted, saved):
    state = fitted[-1].__getstate__()
    state[_VERSION_KEY] = saved
    blank = ContrastivePatchRegressor.__new__(ContrastivePatchRegressor)
    with pytest.raises(IncompatibleModelError, match=f"saved by hyperspectral_cl {saved}; this is "):
        blank.__setstate__(state)


def test_a_model_without_a_version_is_refused(fitted):
    state = fitted[-1].__getstate__()
    del state[_VERSION_KEY]
    with pytest.raises(IncompatibleModelError, match="records no version"):
        ContrastivePatchRegressor.__new__(ContrastivePatchRegressor).__setstate__(state)


def test_patch_releases_of_the_same_series_load():
    check_saved_version("0.1.7", current="0.1.0")
    with pytest.raises(IncompatibleModelError, match="0.2.x only"):
        check_saved_version("0.1.0", current="0.2.3")
