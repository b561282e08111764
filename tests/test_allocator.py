import json
import os
import subprocess
import sys
import textwrap

import pytest

import hyperspectral_cl.allocator as allocator
from hyperspectral_cl.allocator import MALLOC_VARIABLES, keep_freed_memory, release_freed_memory

GLIBC = allocator._glibc() is not None

# minor page faults of allocating and freeing a 100 MB buffer ten times, before and after the call
PROBE = textwrap.dedent("""
    import json, os, resource, sys
    import torch
    from hyperspectral_cl.allocator import keep_freed_memory

    def faults():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(10):
            buffer = torch.empty(25_000_000).fill_(1.0)
            del buffer
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    plain = faults()
    applied = keep_freed_memory()
    kept = faults()
    child = {k: os.environ.get(k) for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    print(json.dumps({"plain": plain, "kept": kept, "applied": applied, "environ": child}))
""")


def _probe(env):
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt only")
def test_freed_blocks_are_reused_instead_of_page_faulted_again():
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_VARIABLES}
    result = _probe(env)
    assert result["applied"]
    # each 100 MB buffer is 24,000 fresh pages when glibc unmaps it on free; kept, it is reused
    assert result["plain"] > 10 * 20_000
    assert result["kept"] < 0.5 * result["plain"]
    assert result["environ"] == {k: str(v) for k, v in MALLOC_VARIABLES.items()}  # for worker processes


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt only")
def test_a_users_own_setting_is_left_as_it_is():
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_VARIABLES}
    result = _probe(env | {"MALLOC_TRIM_THRESHOLD_": "131072"})
    assert not result["applied"]
    assert result["environ"] == {"MALLOC_MMAP_THRESHOLD_": None, "MALLOC_TRIM_THRESHOLD_": "131072"}
    assert result["kept"] > 0.5 * result["plain"]  # glibc's own behaviour: unmapped and faulted again


def test_nothing_is_done_without_glibc(monkeypatch):
    for name in MALLOC_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    assert keep_freed_memory() is False
    assert not any(name in os.environ for name in MALLOC_VARIABLES)


def test_glibc_is_found_only_on_linux(monkeypatch):
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator._glibc() is None
    monkeypatch.setattr(allocator.sys, "platform", "linux")
    monkeypatch.setattr(allocator.os, "confstr", lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert allocator._glibc() is None  # musl: no CS_GNU_LIBC_VERSION


RELEASE = textwrap.dedent("""
    import json, os
    import torch
    from hyperspectral_cl.allocator import keep_freed_memory, release_freed_memory

    def resident():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    keep_freed_memory()
    buffer = torch.empty(50_000_000).fill_(1.0)  # 200 MB
    del buffer
    kept = resident()
    released = release_freed_memory()
    print(json.dumps({"kept": kept, "after": resident(), "released": released}))
""")


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc_trim only")
def test_released_memory_goes_back_to_the_system():
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_VARIABLES}
    out = subprocess.run([sys.executable, "-c", RELEASE], env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["released"]
    assert result["kept"] - result["after"] > 150e6  # the freed 200 MB buffer, kept until then


def test_release_does_nothing_without_glibc(monkeypatch):
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    assert release_freed_memory() is False
