"""Warehouse sync benchmark: full sync of a demo store to a real PostgreSQL, then an incremental
sync after 1% of profiles changed.

    .venv/bin/python benchmarks/bench_sync.py --profiles 20000 [--seed 42] [--tables profiles,events]

Starts a throwaway PostgreSQL server (tests/_postgres.py), prints one JSON line with rows,
seconds and rows/s of both runs, and checks that the target row counts equal the workspace's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cdp_lib import Workspace  # noqa: E402
from cdp_lib.demodata import generate_store  # noqa: E402
from cdp_lib.ingest import ingest_file  # noqa: E402
from cdp_lib.sync import SyncParams, sync  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--tables", default="profiles,events")
    args = ap.parse_args()
    from _postgres import PostgresServer

    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        tmp = Path(tmp)
        generate_store(tmp / "store", args.profiles, seed=args.seed)
        db = tmp / "cdp.duckdb"
        with Workspace(db) as ws:
            for t in ("catalog", "profiles", "events"):
                ingest_file(ws, t, tmp / "store" / f"{t}.parquet")
        server = PostgresServer().start()
        try:
            url = server.url()
            with Workspace(db) as ws:
                t0 = time.perf_counter()
                full = sync(ws, SyncParams(to=url, tables=args.tables))
                full_s = time.perf_counter() - t0
                # 1% of profiles change a property.
                ids = ws.duckdb.execute("SELECT email FROM profiles WHERE email IS NOT NULL "
                                        "USING SAMPLE 1 PERCENT (reservoir, 7)").fetchall()
            changed = tmp / "changed.csv"
            pd.DataFrame({"email": [e for (e,) in ids], "first_name": "Changed"}).to_csv(changed, index=False)
            with Workspace(db) as ws:
                ingest_file(ws, "profiles", changed)
                t0 = time.perf_counter()
                inc = sync(ws, SyncParams(to=url, tables=args.tables))
                inc_s = time.perf_counter() - t0
                sizes = {t.table: ws.duckdb.execute(f"SELECT count(*) FROM {t.table}").fetchone()[0] for t in full}
            import ibis

            con = ibis.connect(url)
            target = {t: int(con.table(t).count().execute()) for t in sizes}
            con.disconnect()
        finally:
            server.stop()
    full_rows = sum(t.sent for t in full)
    inc_rows = sum(t.sent + t.deleted for t in inc)
    print(json.dumps({
        "profiles": args.profiles, "tables": args.tables, "workspace_rows": sizes, "target_rows": target,
        "equal_counts": sizes == target,
        "full": {"rows": full_rows, "seconds": round(full_s, 2), "rows_per_s": round(full_rows / full_s)},
        "incremental": {"rows": inc_rows, "seconds": round(inc_s, 2),
                        "per_table": {t.table: t.sent for t in inc}},
        "incremental_share_of_full_time": round(inc_s / full_s, 4),
    }))


if __name__ == "__main__":
    main()
