"""Time catalog insights and the shipped monitors on an existing workspace (issue 15).

    .venv/bin/python benchmarks/bench_monitors_catalog.py --db data/cdp.duckdb --as-of 2026-11-30

Works on a copy of the workspace (results are stored) and prints one line per measure. The
segment monitor needs stored membership history: run `cdp segment refresh` on the workspace
first, or pass `--skip-segment`.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from cdp_lib import Workspace
from cdp_lib.catalog import catalog_params, run_catalog_insights
from cdp_lib.dates import parse_date
from cdp_lib.monitors import load_monitors, run_monitors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-segment", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "cdp.duckdb"
        shutil.copyfile(args.db, db)
        ws = Workspace(db)
        lines = ws.duckdb.execute("SELECT count(*) FROM events WHERE metric = 'Ordered Product'").fetchone()[0]
        people = ws.duckdb.execute("SELECT count(*) FROM profiles").fetchone()[0]
        print(f"workspace: {people:,} profiles, {lines:,} ordered-product lines")
        for i in range(args.repeat):
            t = time.perf_counter()
            ins = run_catalog_insights(ws, catalog_params(args.as_of), Path(tmp) / "out")
            print(f"catalog insights (compute + store + CSV), run {i + 1}: {time.perf_counter() - t:.1f} s "
                  f"({len(ins['catalog_profile_attributes']):,} profiles)")
        monitors = [m for m in load_monitors(enabled_only=True).values()
                    if not (args.skip_segment and m.kind == "segment")]
        day = parse_date(args.as_of, "--as-of")
        for i in range(args.repeat):
            t = time.perf_counter()
            run_monitors(ws, monitors, day)
            print(f"monitor run ({len(monitors)} monitors, evaluate + store), run {i + 1}: "
                  f"{time.perf_counter() - t:.1f} s")
        ws.close()


if __name__ == "__main__":
    main()
