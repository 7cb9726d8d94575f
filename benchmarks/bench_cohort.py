"""Cohort benchmark: a monthly cohort matrix over N orders (target: 10M orders in < 5 s).

    flock /tmp/cdp-bench.lock .venv/bin/python benchmarks/bench_cohort.py --orders 10000000 --customers 1000000

Synthetic orders spread uniformly over two years; timed: `cohort_table(...).execute()` (the full
long table with every matrix), the table built and loaded before the clock starts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cdp_lib import Workspace
from cdp_lib.cohorts import cohort_params, cohort_table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=10_000_000)
    ap.add_argument("--customers", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "bench.duckdb")
        start = time.perf_counter()
        ws.duckdb.execute(f"""
            CREATE OR REPLACE TABLE events AS
            SELECT 'o' || i AS event_id, 'p' || (hash(i) % {args.customers}) AS profile_id,
                   'Placed Order' AS metric,
                   TIMESTAMPTZ '2023-07-01 00:00:00+00'
                     + to_microseconds(CAST(hash(i * 7 + 1) % (730 * 86400000000) AS BIGINT)) AS timestamp,
                   20.0 + (hash(i * 3) % 200) AS value
            FROM range({args.orders}) t(i)
        """)
        print(f"built {args.orders:,} orders / {args.customers:,} customers in {time.perf_counter() - start:.1f} s")
        params = cohort_params(grain="month")
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            table = cohort_table(ws, params, metrics={}).execute()
            runs.append(time.perf_counter() - start)
        print(f"monthly cohort table: {len(table):,} rows ({table.cohort.nunique()} cohorts); "
              f"runs {', '.join(f'{r:.2f}' for r in runs)} s; best {min(runs):.2f} s")
        ws.close()


if __name__ == "__main__":
    main()
