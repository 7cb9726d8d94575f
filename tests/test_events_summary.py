"""`cdp info`'s per-metric counts stored by ingest: equal to a live count, never stale."""

from __future__ import annotations

from collections import defaultdict

from cdp_lib import Workspace
from cdp_lib.ingest import ingest_file
from cdp_lib.events_summary import METRICS_TABLE

EVENTS = """email,metric,timestamp,value
a@x.test,Placed Order,2025-01-01T10:00:00Z,10
a@x.test,Placed Order,2025-01-03T10:00:00Z,12
b@x.test,Placed Order,2025-01-02T10:00:00Z,5
b@x.test,Viewed Product,2025-01-02T09:00:00Z,
c@x.test,Viewed Product,2025-01-05T09:00:00Z,
"""
MORE = """email,metric,timestamp,value
c@x.test,Placed Order,2025-02-01T10:00:00Z,7
d@x.test,Opened Email,2025-02-02T10:00:00Z,
"""


def by_loop(ws: Workspace) -> list[dict]:
    """Events and distinct profiles per metric, counted row by row."""
    events, people = defaultdict(int), defaultdict(set)
    for metric, profile in ws.duckdb.execute("SELECT metric, profile_id FROM events").fetchall():
        events[metric] += 1
        people[metric].add(profile)
    order = sorted(events, key=lambda m: (-events[m], m))
    return [{"metric": m, "events": events[m], "profiles": len(people[m])} for m in order]


def test_ingest_stores_the_summary_info_reads_and_it_follows_each_ingest(tmp_path):
    ws = Workspace(tmp_path / "cdp.duckdb")
    ws.init()
    (tmp_path / "a.csv").write_text(EVENTS)
    ingest_file(ws, "events", tmp_path / "a.csv")
    assert ws.has_table(METRICS_TABLE)
    assert ws.summary()["metrics"] == by_loop(ws)
    (tmp_path / "b.csv").write_text(MORE)
    ingest_file(ws, "events", tmp_path / "b.csv")
    summary = ws.summary()
    assert summary["metrics"] == by_loop(ws)
    assert f"{summary['last_event']:%Y-%m-%d}" == "2025-02-02"


def test_events_changed_outside_ingest_are_counted_live_not_from_the_stale_summary(tmp_path):
    ws = Workspace(tmp_path / "cdp.duckdb")
    ws.init()
    (tmp_path / "a.csv").write_text(EVENTS)
    ingest_file(ws, "events", tmp_path / "a.csv")
    ws.duckdb.execute("DELETE FROM events WHERE metric = 'Viewed Product'")
    assert ws.summary()["metrics"] == by_loop(ws) == [{"metric": "Placed Order", "events": 3, "profiles": 2}]
