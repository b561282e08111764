"""Let glibc keep freed memory for reuse, so that training steps stop page-faulting their activations.

PyTorch returns every freed CPU tensor to ``malloc``. glibc serves blocks above its mmap threshold (32 MB at
most by default) with fresh ``mmap`` calls and unmaps them as soon as they are freed, so each training
step's activations are page-faulted and zeroed by the kernel again. Raising the mmap and trim thresholds
keeps such blocks in the heap: on a 2-core VM ``li`` steps ran 1.45-1.67x faster and ``luo`` 1.3-1.5x,
at the price of a higher peak resident memory (1.7 -> 2.2 GB in that benchmark), held until the process
exits or :func:`release_freed_memory` gives it back (``benchmarks/results/malloc.md``).
"""

import ctypes
import os
import sys

__all__ = ["MALLOC_VARIABLES", "OPT_OUT", "keep_freed_memory", "release_freed_memory"]

#: glibc's environment variables for the two thresholds, and the values :func:`keep_freed_memory` sets
#: (the largest ``mallopt`` takes, an ``int``; glibc before 2.35 refuses an mmap threshold above 32 MB,
#: and there ``MALLOC_MMAP_MAX_=0`` keeps large blocks in the heap instead)
MALLOC_VARIABLES = {"MALLOC_MMAP_THRESHOLD_": 2**31 - 1, "MALLOC_TRIM_THRESHOLD_": 2**31 - 1}

#: the environment variable that, set to ``0``, turns :func:`keep_freed_memory` off
OPT_OUT = "HYPERSPECTRAL_CL_KEEP_FREED_MEMORY"

# mallopt's parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
# the variables through which a user may already have set the same behaviour
_GLIBC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TOP_PAD_")
# what this process was given by keep_freed_memory (a second call reports it rather than the variables it set)
_applied = {}


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


def _users_own_setting():
    """Whether the environment already says how glibc's malloc should behave (or that we should not)."""
    return (os.environ.get(OPT_OUT, "").strip() == "0"
            or any(name in os.environ for name in _GLIBC_VARIABLES)
            or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""))


def keep_freed_memory():
    """Tell glibc to keep freed memory in the heap for reuse, in this process and the ones it starts.

    Raises glibc's mmap and trim thresholds (``mallopt``) for this process and
    sets the matching ``MALLOC_*`` variables in ``os.environ`` for the worker
    processes it starts (glibc reads them when a process starts). The command
    line calls it before any command; call it yourself at the top of a script
    or notebook.

    Nothing is changed when the C library is not glibc (macOS, Windows, musl
    Linux), when the environment already sets glibc's thresholds
    (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_MAX_``,
    ``MALLOC_TOP_PAD_``, or ``glibc.malloc.*`` in ``GLIBC_TUNABLES``: yours are
    left as they are), or when ``HYPERSPECTRAL_CL_KEEP_FREED_MEMORY=0`` (:data:`OPT_OUT`)
    is set, which keeps glibc's own behaviour under the command line.

    Returns
    -------
    applied : bool
        Whether this process keeps freed memory (by this call or an earlier one).

    Notes
    -----
    The memory a step frees stays with the process, so its peak resident
    memory is what it keeps (about +30 % in the benchmark above) until it
    exits or :func:`release_freed_memory` gives it back. glibc before 2.35
    refuses an mmap threshold above 32 MB; there, mmap is turned off for the
    main heap instead (``M_MMAP_MAX = 0``). jemalloc or tcmalloc preloaded
    with ``LD_PRELOAD`` are another route.
    """
    if _applied:
        return True
    if _users_own_setting():
        return False
    libc = _glibc()
    if libc is None:
        return False
    big = MALLOC_VARIABLES["MALLOC_MMAP_THRESHOLD_"]
    if libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(big)) == 1:
        settings = {"MALLOC_MMAP_THRESHOLD_": big}
    elif libc.mallopt(_M_MMAP_MAX, ctypes.c_int(0)) == 1:  # an older glibc: its threshold stops at 32 MB
        settings = {"MALLOC_MMAP_MAX_": 0}
    else:
        return False
    if libc.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(MALLOC_VARIABLES["MALLOC_TRIM_THRESHOLD_"])) != 1:
        return False
    settings["MALLOC_TRIM_THRESHOLD_"] = MALLOC_VARIABLES["MALLOC_TRIM_THRESHOLD_"]
    _applied.update({name: str(value) for name, value in settings.items()})
    os.environ.update(_applied)
    return True


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
