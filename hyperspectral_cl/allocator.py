"""Let glibc keep freed memory for reuse, so that training steps stop page-faulting their activations.

PyTorch returns every freed CPU tensor to ``malloc``. glibc serves blocks above its mmap threshold (32 MB at
most by default) with fresh ``mmap`` calls and unmaps them as soon as they are freed, so each training
step's activations are page-faulted and zeroed by the kernel again. Raising the mmap and trim thresholds
keeps such blocks in the heap: on a 2-core VM ``li`` steps ran 1.45-1.67x faster and ``luo`` 1.3-1.5x,
at the price of a higher peak resident memory (1.7 -> 2.2 GB in that benchmark), held until the process
exits (``benchmarks/results/malloc.md``).
"""

import ctypes
import os
import sys

__all__ = ["MALLOC_VARIABLES", "keep_freed_memory", "release_freed_memory"]

#: glibc's environment variables for the two thresholds, and the values :func:`keep_freed_memory` sets
#: (the largest ``mallopt`` accepts: an ``int``)
MALLOC_VARIABLES = {"MALLOC_MMAP_THRESHOLD_": 2**31 - 1, "MALLOC_TRIM_THRESHOLD_": 2**31 - 1}

# mallopt's parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _glibc():
    """The C library when it is glibc (whose ``mallopt`` takes these parameters), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        return ctypes.CDLL("libc.so.6")
    except (AttributeError, OSError, ValueError):  # no confstr name, no glibc (musl), no libc.so.6
        return None


def keep_freed_memory():
    """Tell glibc to keep freed memory in the heap for reuse, in this process and the ones it starts.

    Raises glibc's mmap and trim thresholds (``mallopt``) for this process and
    sets :data:`MALLOC_VARIABLES` in ``os.environ`` for the worker processes it
    starts (glibc reads them when a process starts). The command line calls it
    before training; call it yourself at the top of a script or notebook.

    Nothing is changed when the C library is not glibc (macOS, Windows, musl
    Linux) or when either variable is already in the environment: a value you
    set (``export MALLOC_TRIM_THRESHOLD_=131072`` restores glibc's own
    behaviour) is left as it is.

    Returns
    -------
    applied : bool
        Whether the thresholds were raised.

    Notes
    -----
    The memory a step frees stays with the process until it exits, so its peak
    resident memory is what it keeps (about +30 % in the benchmark above).
    :func:`release_freed_memory` gives it back between jobs of a long-lived
    process. jemalloc or tcmalloc preloaded with ``LD_PRELOAD`` are another route.
    """
    if any(name in os.environ for name in MALLOC_VARIABLES):
        return False
    libc = _glibc()
    if libc is None:
        return False
    applied = all(libc.mallopt(param, ctypes.c_int(MALLOC_VARIABLES[name])) == 1 for param, name in (
        (_M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_"), (_M_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_")))
    if applied:
        os.environ.update({name: str(value) for name, value in MALLOC_VARIABLES.items()})
    return applied


def release_freed_memory():
    """Give the free memory glibc holds back to the operating system (``malloc_trim``).

    For a long-lived process between two jobs, after :func:`keep_freed_memory`:
    the memory one job's steps kept for reuse would otherwise stay with the
    process until it exits. The reproduction runner's worker processes call it
    after each task (their pool would otherwise take the kept memory for a
    leak and restart them).

    Returns
    -------
    released : bool
        Whether any memory was given back (False where the C library is not glibc).
    """
    libc = _glibc()
    return libc is not None and libc.malloc_trim(ctypes.c_size_t(0)) == 1
