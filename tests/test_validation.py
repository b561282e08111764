"""The shared checks of hyperspectral_cl._validation, against scikit-learn's own."""

from numbers import Integral, Real

import numpy as np
import pytest
import sklearn.utils

from hyperspectral_cl._validation import check_float_array, check_scalar


@pytest.mark.parametrize("value,kw", [
    (0.5, dict(min_val=0.0, max_val=1.0)),
    (0.0, dict(min_val=0.0)),
    (1.0, dict(max_val=1.0)),
    (3, dict(kind=Integral, min_val=1)),
    (1e300, {}),
])
def test_check_scalar_accepts_what_scikit_learn_accepts(value, kw):
    assert check_scalar(value, "p", **kw) == value
    kind = kw.pop("kind", Real)
    sklearn.utils.check_scalar(value, "p", kind, **kw)  # the same verdict


@pytest.mark.parametrize("value,kw,error,message", [
    (-1.0, dict(min_val=0.0), ValueError, "p must be >= 0.0, got -1.0"),
    (0.0, dict(min_val=0.0, include_min=False), ValueError, "p must be > 0.0, got 0.0"),
    (1.0, dict(max_val=1.0, include_max=False), ValueError, "p must be < 1.0, got 1.0"),
    (2.0, dict(min_val=0.0, max_val=1.0), ValueError, "p must be <= 1.0, got 2.0"),
    (0.0, dict(min_val=0.0, max_val=1.0, include_min=False), ValueError, "p must be > 0.0, got 0.0"),
    ("x", {}, TypeError, "p must be a real number, got 'x' (str)"),
    (2.5, dict(kind=Integral), TypeError, "p must be an integer, got 2.5 (float)"),
    # where scikit-learn would accept: a bool is not a number of anything, NaN is in no range
    (True, dict(kind=Integral), TypeError, "p must be an integer, got True (bool)"),
    (np.nan, dict(min_val=0.0), ValueError, "p must be finite, got nan"),
    (np.inf, {}, ValueError, "p must be finite, got inf"),
])
def test_check_scalar_refuses_with_a_message_naming_the_parameter(value, kw, error, message):
    with pytest.raises(error) as info:
        check_scalar(value, "p", **kw)
    assert str(info.value) == message


def test_check_float_array_reads_masked_entries_as_no_data_without_touching_the_callers_array():
    X = np.arange(12, dtype=np.float32).reshape(3, 4)
    masked = np.ma.masked_array(X.copy(), mask=X > 9)
    out = check_float_array(masked, "X", ndim=2, allow_nan=True)
    assert np.isnan(out[X > 9]).all() and masked.data[2, 3] == 11  # the mask read as no-data, data untouched
