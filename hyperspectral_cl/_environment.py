"""What a measurement ran on: the CPU's name and the versions of the numerical stack (for benchmark reports)."""

import datetime
import importlib
import platform

__all__ = ["cpu_name", "measured_on", "versions"]


def cpu_name():
    """The CPU's model name (from /proc/cpuinfo on Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(*extra):
    """``'Python x, numpy y, torch z, scikit-learn ..., skorch ...'`` plus the modules named in ``extra``."""
    names = [("numpy", "numpy"), ("torch", "torch"), ("scikit-learn", "sklearn"), ("skorch", "skorch")]
    names += [(module, module) for module in extra]
    parts = [f"Python {platform.python_version()}"]
    parts += [f"{label} {importlib.import_module(module).__version__}" for label, module in names]
    return ", ".join(parts)


def measured_on(threads):
    """``'<today>; CPU (<name>, <threads> threads); <versions>.'``: the first line of a benchmark's report."""
    unit = "thread" if threads == 1 else "threads"
    return f"{datetime.date.today().isoformat()}; CPU ({cpu_name()}, {threads} {unit}); {versions()}."
