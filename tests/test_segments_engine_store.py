"""Segment history written through Ibis (engines without UPDATE) equals the DuckDB statements'
history and a plain-loop reference of spells, over random refresh sequences."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_lib import InputError, Workspace
from cdp_lib.prerequisites import as_of_end
from cdp_lib.segments import load_library, members_table, refresh
from cdp_lib.testing import workspace_from_frames

RECENT = "name: Recent buyers\ndescription: ordered in the last 3 days\nconditions:\n  - {metric: Placed Order, when: {in_last: 3d}}\n"
BIG = ("name: Big buyers\ndescription: two orders or more, and recent\nconditions:\n"
       "  - {in_segment: Recent buyers}\n  - {metric: Placed Order, count: {op: '>=', value: 2}}\n")
PEOPLE = ["a", "b", "c", "d", "e"]
START = dt.date(2025, 1, 1)


class NoUpdateWorkspace(Workspace):
    """A DuckDB file seen as an engine without UPDATE: `ws.duckdb` is refused, so the refresh
    must go through Ibis and `write_table` only."""

    @property
    def is_duckdb(self) -> bool:
        return False


def no_update(ws: Workspace) -> Workspace:
    ws.__class__ = NoUpdateWorkspace  # after opening: creating the tables is DuckDB's job
    return ws


def build(path, events) -> Workspace:
    frame = pd.DataFrame(events, columns=["event_id", "profile_id", "metric", "timestamp", "value"])
    ws = workspace_from_frames(str(path), profiles=pd.DataFrame({"profile_id": PEOPLE, "email": [f"{p}@x.org" for p in PEOPLE]}),
                               events=frame)
    ws.close()
    return path


def spells(ws) -> list[tuple]:
    t = ws.table("segment_membership").execute()
    return sorted((r.segment, r.profile_id, pd.Timestamp(r.joined_at), None if pd.isna(r.left_at) else pd.Timestamp(r.left_at))
                  for r in t.itertuples())


def reference_spells(members_by_day: list[tuple[pd.Timestamp, dict[str, set]]]) -> list[tuple]:
    """Spells from member sets, by hand: open on entering, close on leaving."""
    open_: dict[tuple, pd.Timestamp] = {}
    done = []
    for moment, members in members_by_day:
        for segment, people in members.items():
            for person in sorted(people):
                if (segment, person) not in open_:
                    open_[(segment, person)] = moment
            for (seg, person), joined in list(open_.items()):
                if seg == segment and person not in people:
                    done.append((seg, person, joined, moment))
                    del open_[(seg, person)]
    done += [(s, p, j, None) for (s, p), j in open_.items()]
    return sorted(done)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders=st.lists(st.tuples(st.sampled_from(PEOPLE), st.integers(0, 12)), min_size=1, max_size=25),
       days=st.lists(st.integers(0, 14), min_size=1, max_size=4, unique=True))
def test_ibis_history_equals_duckdb_history_and_reference(tmp_path_factory, orders, days):
    folder = tmp_path_factory.mktemp("engine_store")
    (folder / "segments").mkdir()
    (folder / "segments" / "recent.yaml").write_text(RECENT)
    (folder / "segments" / "big.yaml").write_text(BIG)
    # Coarse grid (whole days at noon), repeats and several orders per person per day allowed.
    events = [(f"e{i}", p, "Placed Order", f"{START + dt.timedelta(days=d)}T12:00:00Z", 1.0) for i, (p, d) in enumerate(orders)]
    path = build(folder / "cdp.duckdb", events)
    library = load_library(folder / "segments")
    sql_ws = Workspace(path)
    sql_ws.duckdb.execute(f"ATTACH '{folder / 'copy.duckdb'}' AS c")
    sql_ws.duckdb.execute("COPY FROM DATABASE cdp TO c")
    sql_ws.duckdb.execute("DETACH c")
    ibis_ws = no_update(Workspace(folder / "copy.duckdb"))
    expected = []
    for d in sorted(days):
        as_of = START + dt.timedelta(days=d)
        a = refresh(sql_ws, folder / "segments", as_of=as_of)
        b = refresh(ibis_ws, folder / "segments", as_of=as_of)
        cols = ["segment", "as_of", "members", "entered", "left"]
        pd.testing.assert_frame_equal(b[cols].sort_values("segment").reset_index(drop=True),
                                      a[cols].sort_values("segment").reset_index(drop=True), check_dtype=False)
        expected.append((as_of_end(as_of), {d.name: set(members_table(sql_ws, d, as_of, library).execute().profile_id)
                                            for d in library.values()}))
    assert spells(ibis_ws) == spells(sql_ws) == reference_spells(expected)
    cur_a = sql_ws.table("segment_current").execute().sort_values(["segment", "profile_id"]).reset_index(drop=True)
    cur_b = ibis_ws.table("segment_current").execute().sort_values(["segment", "profile_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(cur_b, cur_a, check_dtype=False)
    emails_a = sorted(map(tuple, sql_ws.table("segment_current_emails").execute().values.tolist()))
    assert sorted(map(tuple, ibis_ws.table("segment_current_emails").execute().values.tolist())) == emails_a
    sql_ws.close()
    ibis_ws.close()


def test_ibis_history_refuses_to_move_backwards(tmp_path):
    (tmp_path / "segments").mkdir()
    (tmp_path / "segments" / "recent.yaml").write_text(RECENT)
    path = build(tmp_path / "cdp.duckdb", [("e1", "a", "Placed Order", "2025-01-02T12:00:00Z", 1.0)])
    ws = no_update(Workspace(path))
    refresh(ws, tmp_path / "segments", as_of="2025-01-03")
    before = spells(ws)
    with pytest.raises(InputError, match="history only moves forward"):
        refresh(ws, tmp_path / "segments", as_of="2025-01-02")
    assert spells(ws) == before
    ws.close()
