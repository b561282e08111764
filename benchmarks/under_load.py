"""Do the quick paths stay quick on a busy machine? Wall and CPU time beside 0, 1 and 2 CPU-bound processes.

    python benchmarks/under_load.py                  # quick preset (one seed) and the demo, each setting
    python benchmarks/under_load.py --loads 0 1      # fewer competing processes

For each command and each number of competing processes (pure-Python busy loops, one core each), the
command runs in a fresh process and its wall time and CPU time (user + system of it and its children,
from ``os.wait4``) are recorded. Settings compared in the same run:

* ``reproduce --preset quick``: tasks one after the other with torch's default threads (``--jobs 1
  --threads <cores>``, what versions up to 0.2 did) against the default since (one single-threaded worker
  process per core: ``--jobs -1 --threads 1``);
* ``demo``: torch's default threads (what versions up to 0.2 used) against one thread (the default since).

CPU time that grows with load while the work stays the same is time threads spend spinning while they
wait for a core. Writes benchmarks/results/under_load.md.
"""

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hyperspectral_cl._environment import cpu_name, versions

RESULTS = Path(__file__).resolve().parent / "results"
CORES = os.cpu_count() or 1


def commands(out):
    cli = [sys.executable, "-m", "hyperspectral_cl.cli"]
    quick = [*cli, "reproduce", "--dataset", "synthetic", "--preset", "quick", "--seeds", "1", "--no-cache",
             "--quiet", "--out", str(out), "--data-dir", str(out)]  # built-in endmembers: no data needed
    demo = [*cli, "demo", "--quiet"]
    return {
        f"reproduce quick, one task at a time, {CORES} threads (before)": [*quick, "--jobs", "1", "--threads", str(CORES)],
        "reproduce quick, one worker per core, 1 thread each (default)": quick,
        f"demo, {CORES} threads (torch's default, before)": [*demo, "--threads", str(CORES)],
        "demo, 1 thread (default)": demo,
    }


def timed(cmd):
    """Wall and CPU seconds of ``cmd`` (user + system of the process and everything it waited for)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="*", default=None, help="run the settings whose name starts with these")
    parser.add_argument("--out", default=str(RESULTS / "under_load.md"))
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="under_load_"))
    rows = []
    try:
        for load in args.loads:
            # busy loops that end with this process, also when it is killed (no finally runs then)
            loop = f"import os\nwhile os.getppid() == {os.getpid()}: pass"
            busy = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(load)]
            try:
                for name, cmd in commands(work).items():
                    if args.only and not name.startswith(tuple(args.only)):
                        continue
                    wall, cpu = timed(cmd)
                    rows.append((name, load, wall, cpu))
                    print(f"{name} | load {load}: wall {wall:.0f} s, CPU {cpu:.0f} s", flush=True)
            finally:
                for p in busy:
                    p.kill()
                    p.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    quiet = {name: cpu for name, load, _, cpu in rows if load == 0}
    lines = ["## The quick paths under load", "",
             f"{datetime.date.today().isoformat()}; CPU ({cpu_name()}, {CORES} logical cores); {versions()}. "
             "Wall and CPU time (user + system) of each command in a fresh process, beside 0, 1 or 2 "
             "competing CPU-bound processes (busy loops, one core each). CPU ratio: CPU time / the same "
             "command's CPU time on the quiet machine (1.0: no time lost to waiting threads).", "",
             "| command | competing processes | wall (s) | CPU (s) | CPU ratio |", "|---|---:|---:|---:|---:|"]
    for name, load, wall, cpu in rows:
        ratio = f"{cpu / quiet[name]:.2f}" if name in quiet else "—"
        lines.append(f"| {name} | {load} | {wall:.0f} | {cpu:.0f} | {ratio} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
