"""What a measurement ran on: the CPU (name, instruction set) and the numerical stack's versions (for reports)."""

import datetime
import importlib
import platform

__all__ = ["cpu_name", "measured_on", "versions"]


def _cpu_info():
    """``(model name, instruction-set flags)`` from /proc/cpuinfo on Linux; ``(None, set())`` elsewhere."""
    name, flags = None, set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name is None:
                    name = value.strip()
                elif key in ("flags", "Features") and not flags:  # x86 and aarch64 Linux
                    flags = set(value.split())
    except OSError:
        pass
    return name, flags


def cpu_name():
    """The CPU's model name, the vector instructions torch uses on it and whether it has native bfloat16.

    The model name alone can hide a different machine: virtual machines of one name
    ran with AVX-512 and bfloat16 one day and AVX2 alone the next, which changes
    float32 speed and turns ``precision='bf16'`` from faster to slower.
    """
    import torch

    name, flags = _cpu_info()
    name = name or platform.processor() or platform.machine()
    capability = torch.backends.cpu.get_cpu_capability()
    if not flags:  # no /proc/cpuinfo (macOS, Windows): not known, rather than reported missing
        bf16 = "bf16 unknown"
    else:
        bf16 = "native bf16" if flags & {"avx512_bf16", "amx_bf16", "bf16"} else "no native bf16"
    return f"{name}, {capability}, {bf16}"


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
