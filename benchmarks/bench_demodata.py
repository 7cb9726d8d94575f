"""Demo store generation speed: `cdp demo-data` at several scales and formats.

Run by hand (one run at a time on a shared machine):

    flock /tmp/cdp-bench.lock .venv/bin/python benchmarks/bench_demodata.py --profiles 100000 1000000

Each size runs in a fresh `cdp demo-data` process; the peak memory printed is the largest
resident set size of those processes so far (sizes run smallest first).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

CDP = str(Path(sys.executable).with_name("cdp"))


def run(profiles: int, fmt: str, out: Path) -> dict:
    started = time.perf_counter()
    subprocess.run([CDP, "demo-data", "--profiles", str(profiles), "--seed", "42", "--out", str(out),
                    "--end-date", "2025-06-30", "--format", fmt], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    # The largest child so far: sizes run smallest first, so this is this run's peak.
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if fmt == "parquet":
        events = pq.ParquetFile(out / "events.parquet").metadata.num_rows
    else:
        with open(out / f"events.{fmt}", "rb") as f:
            events = sum(1 for _ in f) - (1 if fmt == "csv" else 0)
    size = sum(p.stat().st_size for p in out.iterdir())
    return {"profiles": profiles, "format": fmt, "events": events, "seconds": seconds,
            "events_per_s": events / seconds, "peak_mb": peak_kb / 1024,
            "disk_mb": size / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, nargs="+", default=[100_000])
    ap.add_argument("--formats", nargs="+", default=["parquet"], choices=["parquet", "csv", "jsonl"])
    args = ap.parse_args()
    print(f"{'profiles':>10} {'format':>8} {'events':>12} {'seconds':>8} {'events/s':>11} {'peak MB':>8} {'disk MB':>8}")
    for fmt in args.formats:
        for n in args.profiles:
            out = Path(tempfile.mkdtemp(prefix="bench_demo_"))
            try:
                r = run(n, fmt, out)
            finally:
                shutil.rmtree(out, ignore_errors=True)
            print(f"{r['profiles']:>10,} {r['format']:>8} {r['events']:>12,} {r['seconds']:>8.1f} "
                  f"{r['events_per_s']:>11,.0f} {r['peak_mb']:>8,.0f} {r['disk_mb']:>8,.0f}", flush=True)
    print(f"cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
