"""Start-up of the commands a person types most, against bare Python in the same run.

Times whole processes (interpreter start, imports, the command's output), interleaved so that a
change in machine load hits every variant alike; reports the median and best wall time and the
median CPU time (user + system of the child), which load disturbs less.

    .venv/bin/python benchmarks/bench_cli.py --db data/cdp.duckdb --runs 15

`--db` needs a refreshed workspace (`make demo` then `cdp segment refresh`) for the lookup.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and child CPU seconds of one run of `cmd` (output discarded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def a_profile_id(db: str) -> str:
    con = duckdb.connect(db, read_only=True)
    try:
        return con.execute("SELECT profile_id FROM segment_current ORDER BY profile_id LIMIT 1").fetchone()[0]
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="data/cdp.duckdb")
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    cdp = str(Path(sys.executable).with_name("cdp"))
    who = a_profile_id(args.db)
    variants = {
        "python -c 'import duckdb, click'": [sys.executable, "-c", "import duckdb, click"],
        "cdp --help": [cdp, "--help"],
        "cdp info": [cdp, "--db", args.db, "info"],
        f"cdp segment lookup <id>": [cdp, "--db", args.db, "segment", "lookup", who],
    }
    walls: dict[str, list[float]] = {k: [] for k in variants}
    cpus: dict[str, list[float]] = {k: [] for k in variants}
    for cmd in variants.values():  # warm the page cache once
        timed(cmd)
    for _ in range(args.runs):
        for name, cmd in variants.items():
            wall, cpu = timed(cmd)
            walls[name].append(wall)
            cpus[name].append(cpu)
    base = statistics.median(walls["python -c 'import duckdb, click'"])
    base_cpu = statistics.median(cpus["python -c 'import duckdb, click'"])
    print(f"{args.runs} interleaved runs, load average {os.getloadavg()[0]:.1f}")
    print(f"| command | median wall | best wall | median CPU | wall vs bare | CPU vs bare |")
    print("|---|---|---|---|---|---|")
    for name in variants:
        w, c = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"| `{name}` | {w:.3f} s | {min(walls[name]):.3f} s | {c:.3f} s | {w / base:.2f}x | {c / base_cpu:.2f}x |")


if __name__ == "__main__":
    main()
