"""What the benchmark scripts share: a dataset's windows (or a skip when its files are missing), the CSV, a table cell."""

import sys
from pathlib import Path

import numpy as np

from hyperspectral_cl.reproduce.data import split_windows


def windows_or_none(dataset, preset):
    """``split_windows(dataset, preset)`` (spatial split), or None, said on stderr, when its files are missing."""
    try:
        return split_windows(dataset, preset)
    except FileNotFoundError as exc:
        print(f"skipping {dataset}: {exc}", file=sys.stderr)
        return None


def write_csv(df, out):
    """Write ``df`` to ``<out>.csv``, creating the folder; return ``out`` as a Path (the report goes beside it)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out.with_suffix(".csv"), index=False)
    return out


def mean_std(values):
    """``'mean ± std'`` of a pandas Series for a report table (std 0 for one value), or '—' when it is empty."""
    return "—" if values.empty else f"{values.mean():.3f} ± {np.nan_to_num(values.std()):.3f}"
