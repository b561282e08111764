import builtins
import io

import torch

from hyperspectral_cl import _environment
from hyperspectral_cl._environment import cpu_name, measured_on

CPUINFO = """processor\t: 0
model name\t: Test CPU 9000
flags\t\t: fpu sse4_2 avx2 {extra}

processor\t: 1
model name\t: Test CPU 9000
flags\t\t: fpu sse4_2 avx2 {extra}
"""


def _fake_cpuinfo(monkeypatch, extra, text=CPUINFO):
    real_open = builtins.open

    def fake(path, *args, **kwargs):
        if path == "/proc/cpuinfo":
            return io.StringIO(text.format(extra=extra))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake)


def test_cpu_name_gives_the_model_the_instruction_set_and_native_bf16(monkeypatch):
    capability = torch.backends.cpu.get_cpu_capability()
    _fake_cpuinfo(monkeypatch, "")
    assert cpu_name() == f"Test CPU 9000, {capability}, no native bf16"
    _fake_cpuinfo(monkeypatch, "avx512f avx512_bf16")
    assert cpu_name() == f"Test CPU 9000, {capability}, native bf16"
    _fake_cpuinfo(monkeypatch, "amx_bf16")
    assert cpu_name().endswith(", native bf16")


def test_cpu_name_reads_aarch64_features(monkeypatch):
    text = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd sve {extra}\nCPU part\t: 0xd40\n"
    for extra, expected in (("bf16", ", native bf16"), ("", ", no native bf16")):
        _fake_cpuinfo(monkeypatch, extra, text)
        monkeypatch.setattr(_environment.platform, "processor", lambda: "")
        monkeypatch.setattr(_environment.platform, "machine", lambda: "aarch64")
        assert cpu_name().startswith("aarch64, ") and cpu_name().endswith(expected)


def test_cpu_name_without_proc_cpuinfo(monkeypatch):
    def missing(path, *args, **kwargs):
        raise OSError(path)

    monkeypatch.setattr(builtins, "open", missing)
    monkeypatch.setattr(_environment.platform, "processor", lambda: "")
    monkeypatch.setattr(_environment.platform, "machine", lambda: "x86_64")
    assert cpu_name().startswith("x86_64, ") and cpu_name().endswith(", bf16 unknown")


def test_measured_on_names_threads_and_versions():
    line = measured_on(1)
    assert f"({cpu_name()}, 1 thread)" in line and f"torch {torch.__version__}" in line
    assert f"({cpu_name()}, 2 threads)" in measured_on(2)
