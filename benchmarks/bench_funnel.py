"""Funnel benchmark: a 3-step funnel (7-day window) vs one bare engine scan and vs pandas.

Run under the shared lock (2-core machine shared by several people):

    flock /tmp/cdp-bench.lock .venv/bin/python benchmarks/bench_funnel.py --events 50000000 --profiles 1000000

Synthetic log: events spread uniformly over 180 days; metrics Viewed Product 60 %, Added to Cart
15 %, Placed Order 5 %, other 20 %. The funnel enters on every Viewed Product of the whole range.
The peer "bare scan" counts events per (profile, metric) in the same engine, same run. The pandas
peer runs the same greedy algorithm with merges on a sample of `--pandas-events` events.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from cdp_lib import Workspace
from cdp_lib.funnel import funnel_params, funnel_table

STEPS = ["Viewed Product", "Added to Cart", "Placed Order"]
WINDOW = pd.Timedelta(days=7)


def build(ws: Workspace, events: int, profiles: int) -> None:
    # storage edge: generate straight into DuckDB
    ws.duckdb.execute(f"""
        CREATE OR REPLACE TABLE events AS
        SELECT 'e' || i AS event_id, 'p' || (hash(i) % {profiles}) AS profile_id,
               CASE WHEN r < 0.60 THEN 'Viewed Product' WHEN r < 0.75 THEN 'Added to Cart'
                    WHEN r < 0.80 THEN 'Placed Order' ELSE 'Active on Site' END AS metric,
               TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_microseconds(CAST(hash(i * 7 + 1) % (180 * 86400000000) AS BIGINT)) AS timestamp,
               50.0 AS value
        FROM (SELECT range AS i, random() AS r FROM range({events}))
    """)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def pandas_funnel(ev: pd.DataFrame) -> list[int]:
    """The straightforward pandas version of the same greedy rules (merge per step)."""
    entries = ev[ev.metric == STEPS[0]][["profile_id", "event_id", "timestamp"]]
    entries = entries.rename(columns={"event_id": "entry_id", "timestamp": "t0"})
    entries["deadline"] = entries.t0 + WINDOW
    cur = entries.assign(ts_prev=entries.t0)
    reach = {1: entries}
    for k, metric in enumerate(STEPS[1:], start=2):
        step = ev[ev.metric == metric][["profile_id", "event_id", "timestamp"]]
        j = cur.merge(step, on="profile_id")
        j = j[(j.timestamp >= j.ts_prev) & (j.timestamp <= j.deadline)]
        j = j.sort_values(["timestamp", "event_id"]).groupby(["profile_id", "entry_id"], as_index=False).first()
        cur = j[["profile_id", "entry_id", "t0", "deadline"]].assign(ts_prev=j.timestamp)
        reach[k] = cur
    return [reach[k].profile_id.nunique() for k in range(1, len(STEPS) + 1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--profiles", type=int, default=100_000)
    ap.add_argument("--pandas-events", type=int, default=5_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "bench.duckdb")
        t_build, _ = timed(lambda: build(ws, args.events, args.profiles))
        print(f"built {args.events:,} events / {args.profiles:,} profiles in {t_build:.1f} s")
        ev = ws.events
        scan = ev.group_by("profile_id", "metric").aggregate(n=ev.count())
        t_scan, groups = timed(lambda: scan.count().execute())
        params = funnel_params(STEPS, "7d", "2024-01-01", "2024-06-28")
        t_funnel, result = timed(lambda: funnel_table(ws, params, metrics={}).execute())
        t_scan2, _ = timed(lambda: scan.count().execute())
        print(result[["step", "profiles", "conversion_from_start", "median_seconds_to_step"]].to_string(index=False))
        bare = min(t_scan, t_scan2)
        print(f"bare scan (count per profile, metric; {groups:,} groups): {bare:.2f} s")
        print(f"funnel: {t_funnel:.2f} s = {t_funnel / bare:.1f}x the bare scan")
        # pandas peer on a sample: the same rows through the engine and through pandas
        n = min(args.pandas_events, args.events)
        sample = ev.filter(ev.event_id.isin(ev.select("event_id").limit(n).event_id))
        ws.duckdb.execute(f"CREATE TABLE sample_ids AS SELECT event_id FROM events LIMIT {n}")
        ws.duckdb.execute("CREATE TABLE events_sample AS SELECT e.* FROM events e SEMI JOIN sample_ids s USING (event_id)")
        frame = ws.table("events_sample").execute()
        t_pandas, counts = timed(lambda: pandas_funnel(frame))
        ws.duckdb.execute("ALTER TABLE events RENAME TO events_full")
        ws.duckdb.execute("ALTER TABLE events_sample RENAME TO events")
        t_engine, res = timed(lambda: funnel_table(ws, params, metrics={}).execute())
        assert list(res.profiles) == counts, (list(res.profiles), counts)
        print(f"pandas on {n:,} events: {t_pandas:.2f} s; engine on the same: {t_engine:.2f} s "
              f"= {t_pandas / t_engine:.1f}x faster (same counts {counts})")
        del sample
        ws.close()


if __name__ == "__main__":
    main()
