"""Ingest throughput: `cdp ingest events` against DuckDB's bare read into a table.

For each input format (Parquet, CSV) this times, in fresh processes and fresh database files:

* bare  -- ``CREATE TABLE t AS SELECT * FROM read_parquet(file)`` (or ``read_csv``): the
  physical limit of loading the file into DuckDB;
* ingest -- ``cdp_lib.ingest.ingest_file(ws, "events", file)`` into a workspace that already
  holds the store's profiles (validation, event ids, de-duplication, identity resolution,
  merges, atomic write).

It prints rows/second, the ingest/bare ratio (target: within 3x) and each process's peak
resident memory (ru_maxrss; target: under 4 GB). The input is the demo store of
`cdp_lib.demodata.generate_store` (what `cdp demo-data` writes), about 54 events per person,
so ``--profiles 190000`` gives about 10 million events. Run it alone on the machine:

    flock /tmp/cdp-bench.lock .venv/bin/python benchmarks/bench_ingest.py --profiles 190000

Generated files are cached in ``--data`` (default /tmp/cdp-bench-ingest) between runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def worker(kind: str, fmt: str, data: Path, db: Path) -> dict:
    """One measurement, run in its own process so its peak memory is its own."""
    events = data / f"events.{fmt}"
    if kind == "bare":
        import duckdb

        con = duckdb.connect(str(db))
        con.execute("SET enable_progress_bar = false")
        reader = "read_parquet" if fmt == "parquet" else "read_csv"
        start = time.perf_counter()
        con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}(?)", [str(events)])
        seconds = time.perf_counter() - start
        rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
        con.close()
        return {"rows": rows, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}
    from cdp_lib import Workspace
    from cdp_lib.ingest import ingest_file

    ws = Workspace(db)
    prep = time.perf_counter()
    ingest_file(ws, "catalog", data / f"catalog.{fmt}")
    profiles = ingest_file(ws, "profiles", data / f"profiles.{fmt}")
    prep = time.perf_counter() - prep
    steps: dict[str, float] = {}
    last = [time.perf_counter()]

    def progress(step: str, index: int, total: int) -> None:
        now = time.perf_counter()
        steps[step] = round(now - last[0], 2)
        last[0] = now

    start = time.perf_counter()
    result = ingest_file(ws, "events", events, progress=progress)
    seconds = time.perf_counter() - start
    ws.close()
    return {"rows": result.rows, "loaded": result.loaded, "duplicates": result.duplicates,
            "quarantined": result.quarantined, "merges": result.merges, "seconds": seconds,
            "steps": steps, "profiles_rows": profiles.rows, "profiles_seconds": round(prep, 2),
            "peak_rss_mb": _peak_rss_mb()}


def ensure_data(data: Path, fmt: str, profiles: int, seed: int) -> Path:
    folder = data / f"{fmt}-{profiles}-{seed}"
    if not (folder / f"events.{fmt}").exists():
        from cdp_lib.demodata import generate_store

        print(f"generating {profiles:,} profiles as {fmt} in {folder} ...", flush=True)
        generate_store(folder, profiles, seed=seed, end_date="2024-12-31", fmt=fmt)
    return folder


def run(kind: str, fmt: str, folder: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", kind, "--fmt", fmt, "--data", str(folder),
             "--db", str(Path(tmp) / "bench.duckdb")],
            check=True, capture_output=True, text=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=190_000, help="people in the demo store")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--formats", nargs="+", default=["parquet", "csv"], choices=["parquet", "csv"])
    parser.add_argument("--data", type=Path, default=Path("/tmp/cdp-bench-ingest"))
    parser.add_argument("--worker", choices=["bare", "ingest"], help=argparse.SUPPRESS)
    parser.add_argument("--fmt", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.fmt, args.data, args.db)))
        return

    rows = []
    for fmt in args.formats:
        folder = ensure_data(args.data, fmt, args.profiles, args.seed)
        size_mb = (folder / f"events.{fmt}").stat().st_size / 1e6
        bare = run("bare", fmt, folder)
        ing = run("ingest", fmt, folder)
        rows.append((fmt, size_mb, bare, ing))
        print(json.dumps({"format": fmt, "file_mb": round(size_mb, 1), "bare": bare, "ingest": ing}), flush=True)

    print()
    print(f"{'format':<8} {'events':>11} {'file MB':>8} {'bare s':>7} {'bare rows/s':>12} "
          f"{'ingest s':>9} {'ingest rows/s':>14} {'ratio':>6} {'bare RSS MB':>12} {'ingest RSS MB':>14}")
    for fmt, size_mb, bare, ing in rows:
        print(f"{fmt:<8} {ing['rows']:>11,} {size_mb:>8.0f} {bare['seconds']:>7.1f} "
              f"{bare['rows'] / bare['seconds']:>12,.0f} {ing['seconds']:>9.1f} "
              f"{ing['rows'] / ing['seconds']:>14,.0f} {ing['seconds'] / bare['seconds']:>6.2f} "
              f"{bare['peak_rss_mb']:>12,.0f} {ing['peak_rss_mb']:>14,.0f}")


if __name__ == "__main__":
    main()
