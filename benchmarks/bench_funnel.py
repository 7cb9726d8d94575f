"""Funnel benchmark: a 3-step funnel (7-day window) vs one bare engine scan and vs pandas.

    .venv/bin/cdp demo-data --profiles 1000000 --seed 1 --end-date 2025-06-30 --out /tmp/bench1m
    flock /tmp/cdp-bench.lock .venv/bin/python benchmarks/bench_funnel.py --db /tmp/h5f/dev.duckdb

`--db` is a workspace loaded with `cdp ingest` (profiles, then events). `--parquet DIR` instead
loads a `cdp demo-data` folder directly with read_parquet into a temporary workspace (storage
edge, no identity resolution: profile_id = the event's external_id, else its lower-cased email,
else its phone). The funnel enters on every Viewed Product of the two-year history (2023-07-01 to
2025-06-30). Bare scan = `events.group_by(profile_id, metric).count()` in the same engine, run.

The pandas peer (`--pandas`) is what an analyst would write: group the step events by person and
walk each person's events in time order in Python, entry by entry, applying the funnel rules;
it runs on the same workspace's events (all of them: ~5.4M for a 100k-person demo store) and its
per-person result is checked equal to the engine's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cdp_lib import Workspace
from cdp_lib.funnel import funnel_params, funnel_people_table, funnel_table

STEPS = ["Viewed Product", "Added to Cart", "Placed Order"]
WINDOW = pd.Timedelta(days=7)
START, END = pd.Timestamp("2023-07-01", tz="UTC"), pd.Timestamp("2025-07-01", tz="UTC")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def load_parquet(ws: Workspace, folder: str) -> None:
    ws.duckdb.execute("DELETE FROM events")
    ws.duckdb.execute(f"""
        INSERT INTO events BY NAME
        SELECT event_id, coalesce(external_id, lower(trim(email)), phone) AS profile_id, metric, timestamp, value,
               order_id, product_id, quantity, price, source, source_name, channel, campaign_id, flow_id,
               message_id, bounce_type
        FROM read_parquet('{folder}/events.parquet')
    """)


def pandas_funnel(ev: pd.DataFrame) -> dict:
    """Per person: (furthest step, {step: seconds}) -- a plain loop over each person's events."""
    ev = ev[ev.metric.isin(STEPS)].sort_values(["profile_id", "timestamp"])
    out = {}
    for person, g in ev.groupby("profile_id", sort=False):
        events = list(zip(g.timestamp, g.metric))
        best, times = 0, {}
        for t0, metric in events:
            if metric != STEPS[0] or not START <= t0 < END:
                continue
            deadline, prev, reached = t0 + WINDOW, t0, 1
            for step in STEPS[1:]:
                match = None
                for t, m in events:  # earliest event of this step at or after the previous match
                    if m == step and prev <= t <= deadline:
                        match = t
                        break
                if match is None:
                    break
                reached += 1
                prev = match
                times.setdefault(reached, (match - t0).total_seconds())
            best = max(best, reached)
        if best:
            out[person] = (best, times)
    return out


def report(people: dict) -> list[int]:
    return [sum(1 for r, _ in people.values() if r >= k) for k in range(1, len(STEPS) + 1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", help="workspace loaded with cdp ingest")
    ap.add_argument("--parquet", help="cdp demo-data folder to load directly (read_parquet)")
    ap.add_argument("--pandas", action="store_true", help="also run the pandas peer on all events of the workspace")
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    if args.parquet:
        ws = Workspace(Path(tmp.name) / "bench.duckdb")
        t_load, _ = timed(lambda: load_parquet(ws, args.parquet))
        print(f"loaded {args.parquet} by read_parquet in {t_load:.1f} s")
    else:
        ws = Workspace(args.db, read_only=True)
    ev = ws.events
    print(f"{ev.count().execute():,} events, {ev.profile_id.nunique().execute():,} people")
    scan = ev.group_by("profile_id", "metric").aggregate(n=ev.count())
    params = funnel_params(STEPS, "7d", "2023-07-01", "2025-06-30")
    scans, funnels = [], []
    for _ in range(args.runs):  # interleaved, so both sides see the same machine load
        scans.append(timed(lambda: scan.count().execute())[0])
        t, result = timed(lambda: funnel_table(ws, params, metrics={}).execute())
        funnels.append(t)
    print(result[["step", "profiles", "conversion_from_start", "median_seconds_to_step"]].to_string(index=False))
    print(f"bare scan runs {', '.join(f'{s:.2f}' for s in scans)} s; funnel runs {', '.join(f'{s:.2f}' for s in funnels)} s")
    print(f"best funnel / best scan = {min(funnels) / min(scans):.1f}x")
    if args.pandas:
        frame = ev.filter(ev.metric.isin(STEPS)).select("profile_id", "metric", "timestamp").execute()
        t_pandas, want = timed(lambda: pandas_funnel(frame))
        got = funnel_people_table(ws, params, metrics={}).execute()
        assert len(got) == len(want)
        for row in got.itertuples():
            reach, times = want[row.profile_id]
            assert row.furthest_step == reach, row
            for k in (2, 3):
                value = getattr(row, f"seconds_to_step_{k}")
                assert (pd.isna(value) and k not in times) or np.isclose(value, times[k], rtol=0, atol=1e-6), row
        assert report(want) == list(result.profiles)
        print(f"pandas per-person loop: {t_pandas:.1f} s = {t_pandas / min(funnels):.1f}x the engine's best funnel "
              f"(identical per-person results for {len(want):,} people)")
    ws.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()
