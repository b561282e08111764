"""Reproduce the paper's Tables 1-4, with the classical regressors a user would pick beside them.

:func:`run_reproduction` trains every backbone x {baseline, spectral, spatial,
spectral+spatial} and ridge/PLS baselines on the same random and spatial splits;
:func:`write_report` writes the tables, the raw CSV and a bar chart. The command
line is ``hyperspectral-cl reproduce``.
"""

from .data import bin_bands, find_data_dir, load_dataset, make_splits
from .models import CLASSICAL
from .presets import BACKBONES, PAPER_R2, PRESETS, VARIANTS, Preset, get_preset
from .report import markdown_report, results_frame, summary_frame, write_report
from .runner import CacheWarning, default_cache_dir, run_reproduction

__all__ = [
    "BACKBONES", "CLASSICAL", "PAPER_R2", "PRESETS", "VARIANTS", "CacheWarning", "Preset", "bin_bands",
    "default_cache_dir", "find_data_dir", "get_preset", "load_dataset", "make_splits", "markdown_report",
    "results_frame", "run_reproduction", "summary_frame", "write_report",
]
