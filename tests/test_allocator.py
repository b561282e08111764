import json
import os
import subprocess
import sys
import textwrap
import types

import pytest

import hyperspectral_cl.allocator as allocator
from hyperspectral_cl.allocator import OPT_OUT, keep_freed_memory, release_freed_memory

GLIBC = allocator._glibc() is not None
needs_glibc = pytest.mark.skipif(not GLIBC, reason="glibc's mallopt and malloc_trim only")

# bytes glibc has in mmapped blocks while a 100 MB buffer is alive, before and after the call (mallinfo2's
# hblkhd: what the setting changes, whatever the page size or transparent huge pages)
PROBE = textwrap.dedent("""
    import ctypes, json, os
    import torch
    from hyperspectral_cl.allocator import keep_freed_memory

    libc = ctypes.CDLL("libc.so.6")
    info = getattr(libc, "mallinfo2", None) or libc.mallinfo  # mallinfo2: glibc >= 2.33
    kind = ctypes.c_size_t if hasattr(libc, "mallinfo2") else ctypes.c_int
    names = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
             "keepcost")
    info.restype = type("MallInfo", (ctypes.Structure,), {"_fields_": [(n, kind) for n in names]})

    def mmapped_while_alive():
        buffer = torch.empty(25_000_000).fill_(1.0)  # 100 MB
        mmapped = info().hblkhd
        del buffer
        return mmapped

    plain = mmapped_while_alive()
    applied = keep_freed_memory()
    kept = [mmapped_while_alive() for _ in range(3)]
    names = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_")
    print(json.dumps({"plain": plain, "kept": kept, "applied": applied, "again": keep_freed_memory(),
                      "environ": {k: os.environ.get(k) for k in names}, "glibc": os.confstr("CS_GNU_LIBC_VERSION")}))
""")


def _clean_environ(**extra):
    names = (*allocator._GLIBC_VARIABLES, OPT_OUT, "GLIBC_TUNABLES")
    return {k: v for k, v in os.environ.items() if k not in names} | extra


def _run(code, env):
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


@needs_glibc
def test_large_blocks_come_from_the_heap_once_freed_memory_is_kept():
    result = _run(PROBE, _clean_environ())
    if not result["applied"]:
        pytest.skip(f"mallopt refused the setting ({result['glibc']})")
    assert result["plain"] >= 100e6  # glibc's own behaviour: a fresh mmap, unmapped on free
    assert max(result["kept"]) < result["plain"] - 90e6  # kept: the buffer comes from the heap, reused
    assert result["again"]  # a second call reports the setting in force
    set_for_workers = {k: v for k, v in result["environ"].items() if v is not None}
    assert set_for_workers.keys() in ({"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"},
                                      {"MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_"})


@needs_glibc
@pytest.mark.parametrize("setting", [{"MALLOC_TRIM_THRESHOLD_": "131072"}, {OPT_OUT: "0"},
                                     {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"}])
def test_a_users_own_setting_or_opt_out_is_left_as_it_is(setting):
    result = _run(PROBE, _clean_environ(**setting))
    assert not result["applied"] and not result["again"]
    assert min(result["kept"]) >= 100e6 and result["plain"] >= 100e6  # still mmapped
    assert result["environ"]["MALLOC_MMAP_THRESHOLD_"] is None and result["environ"]["MALLOC_MMAP_MAX_"] is None


class FakeGlibc:
    """mallopt and malloc_trim that record their calls; ``refuse``: the parameters whose setting fails."""

    def __init__(self, refuse=()):
        self.refuse, self.calls = set(refuse), []

    def mallopt(self, param, value):
        self.calls.append((param, value.value))
        return 0 if param in self.refuse else 1

    def malloc_trim(self, pad):
        self.calls.append(("trim", pad.value))
        return 1


@pytest.fixture
def fake(monkeypatch):
    """A fake glibc, an empty environment and no earlier call, for this module's functions only."""
    libc = FakeGlibc()
    monkeypatch.setattr(allocator, "_glibc", lambda: libc)
    monkeypatch.setattr(allocator, "os", types.SimpleNamespace(environ={}))
    monkeypatch.setattr(allocator, "_applied", {})
    return libc


def test_the_thresholds_are_raised_and_passed_on_to_workers(fake):
    assert keep_freed_memory()
    assert fake.calls == [(-3, 2**31 - 1), (-1, 2**31 - 1)]
    assert allocator.os.environ == {"MALLOC_MMAP_THRESHOLD_": str(2**31 - 1), "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1)}
    assert keep_freed_memory() and len(fake.calls) == 2  # once per process


def test_an_older_glibc_keeps_large_blocks_out_of_mmap_instead(fake):
    fake.refuse = {-3}  # glibc < 2.35: no mmap threshold above 32 MB
    assert keep_freed_memory()
    assert fake.calls == [(-3, 2**31 - 1), (-4, 0), (-1, 2**31 - 1)]
    assert allocator.os.environ == {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1)}


@pytest.mark.parametrize("refuse", [{-3, -4}, {-1}])
def test_a_refused_setting_is_reported_and_not_passed_on(fake, refuse):
    fake.refuse = refuse
    assert not keep_freed_memory()
    assert allocator.os.environ == {} and allocator._applied == {}


def test_the_opt_out_and_the_users_variables_leave_glibc_alone(fake):
    for environ in ({OPT_OUT: "0"}, {"MALLOC_MMAP_MAX_": "8"}, {"GLIBC_TUNABLES": "glibc.malloc.mxfast=0"}):
        allocator.os.environ = dict(environ)
        assert not keep_freed_memory()
        assert fake.calls == [] and allocator.os.environ == environ
    allocator.os.environ = {OPT_OUT: "1", "GLIBC_TUNABLES": "glibc.rtld.nns=2"}  # neither says no
    assert keep_freed_memory()


def test_nothing_is_done_without_glibc(monkeypatch):
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    monkeypatch.setattr(allocator, "os", types.SimpleNamespace(environ={}))
    monkeypatch.setattr(allocator, "_applied", {})
    assert keep_freed_memory() is False and allocator.os.environ == {}
    assert release_freed_memory() is False


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

    applied = keep_freed_memory()
    buffer = torch.empty(50_000_000).fill_(1.0)  # 200 MB
    del buffer
    kept = resident()
    released = release_freed_memory()
    print(json.dumps({"applied": applied, "kept": kept, "after": resident(), "released": released}))
""")


@needs_glibc
def test_released_memory_goes_back_to_the_system():
    result = _run(RELEASE, _clean_environ())
    if not result["applied"]:
        pytest.skip("mallopt refused the setting")
    assert result["released"]
    assert result["kept"] - result["after"] > 150e6  # the freed 200 MB buffer, kept until then
