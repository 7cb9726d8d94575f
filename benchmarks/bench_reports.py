"""Wall time of `cdp run` for every shipped report notebook on the demo store (issue 6).

The issue asks each report to finish in under 2 minutes on the 100k-profile demo store. The
store is generated and ingested once into benchmarks/work/reports/ (not timed), then each
notebook runs through `cdp run` in a fresh process with the same parameter files as the default
schedule (parameters/schedule.yaml), in its dependency order, so segment refresh finds RFM and
CLV results. Wall time includes process start, kernel start, execution and HTML export.

Run by hand:
    flock /tmp/cdp-bench.lock .venv/bin/python benchmarks/bench_reports.py --profiles 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def build_store(work: Path, profiles: int, seed: int) -> Path:
    from cdp_lib import Workspace
    from cdp_lib.demodata import generate_store
    from cdp_lib.ingest import ingest_file

    db = work / f"demo-{profiles}.duckdb"
    if db.exists():
        return db
    files = work / f"files-{profiles}"
    generate_store(files, profiles, seed=seed, end_date=dt.date.today().isoformat())
    ws = Workspace(db)
    try:
        for table in ("catalog", "profiles", "events"):
            ingest_file(ws, table, files / f"{table}.parquet")
    finally:
        ws.close()
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    from cdp_lib.reports import schedule

    work = REPO / "benchmarks" / "work" / "reports"
    work.mkdir(parents=True, exist_ok=True)
    db = build_store(work, args.profiles, args.seed)
    config = schedule.load_schedule(REPO / "parameters" / "schedule.yaml")
    reports = work / f"runs-{int(time.time())}"
    results = []
    for job in config.ordered():
        cmd = [sys.executable, "-m", "cdp_lib.cli", "--db", str(db), "run", job.notebook,
               "--reports-dir", str(reports)]
        if job.parameters:
            cmd += ["-f", job.parameters]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        record = next(iter(sorted((reports / Path(job.notebook).stem).glob("*/run.json"))), None)
        info = json.loads(record.read_text()) if record else {}
        results.append({"job": job.name, "notebook": Path(job.notebook).stem, "exit": done.returncode,
                        "wall_seconds": round(wall, 1), "notebook_seconds": info.get("duration_seconds"),
                        "error": info.get("error") or (done.stderr.strip().splitlines() or [""])[-1] if done.returncode else None})
        print(json.dumps(results[-1]), flush=True)
    total = sum(r["wall_seconds"] for r in results)
    print(json.dumps({"profiles": args.profiles, "total_wall_seconds": round(total, 1),
                      "max_wall_seconds": max(r["wall_seconds"] for r in results)}))


if __name__ == "__main__":
    main()
