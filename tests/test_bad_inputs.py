"""Run every case of the bad-input table (tests/bad_input_cases.py, rendered to docs/bad_inputs.md)."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from bad_input_cases import CASES, DOC, render


def same(a, b):
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, (pd.Series, pd.DataFrame)):
        return a.equals(b)
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, list):  # nested lists of numbers, or of arrays
        return len(a) == len(b) and all(map(same, a, b))
    if hasattr(a, "toarray"):  # scipy sparse
        return (a != b).nnz == 0
    return a == b


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case):
    inputs = case.inputs()
    for value in inputs.values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)  # a write into the caller's array raises instead of passing unseen
    before = copy.deepcopy(inputs)
    if case.error is None:
        out = np.asarray(case.run(**inputs))
        assert out.shape == case.shape and out.dtype == np.dtype(case.dtype)
        assert np.isfinite(out).all()
    else:
        with pytest.raises(case.error) as excinfo:
            case.run(**inputs)
        assert excinfo.type is case.error  # not a subclass standing in for it
        assert str(excinfo.value).startswith(case.prefix), str(excinfo.value)
    for key, value in inputs.items():
        assert same(value, before[key]), f"{key} was modified in place"


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_table_is_up_to_date():
    assert DOC.read_text() == render(), "the table is stale: run `python tests/bad_input_cases.py`"
