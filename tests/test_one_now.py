"""One "now" for every analysis (issue 9, item 4).

An as-of date means the end of that day, UTC; no date means today. The same audience ("people
who placed an order") is computed through every path that answers it — segment run (library
and CLI), refresh, lookups, samples, exports, the segment builder, audience performance, RFM,
CLV's input, KPI and the order summary — and every path must give one number, also when orders
fall in the last second of the as-of day or in the first second of the next one. The expected
number comes from a plain loop over the rows the test wrote.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from cdp_lib.cli import main
from cdp_lib.testing import workspace_from_frames

BUYERS = "name: Buyers\ndescription: placed an order\nconditions:\n  - {metric: Placed Order}\n"


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def _rows(today: dt.date):
    """600 customers over 400 days (so RFM's prerequisites hold), plus orders on the edges of
    today and of ten days ago: the last microsecond of the day, and the first of the next."""
    day0 = pd.Timestamp(today, tz="UTC")
    profiles, events = [], []
    for i in range(660):
        pid = f"c{i:03d}"
        profiles.append({"profile_id": pid, "email": f"c{i:03d}@example.com"})
        if i >= 600:
            continue  # 60 people who never ordered
        for k in range(1 + i % 4):  # 1 to 4 orders, some on the same hour grid point
            at = day0 - pd.Timedelta(days=(i * 7 + k * 31) % 400 + 1) + pd.Timedelta(hours=(i + k) % 24)
            events.append((pid, at))
    edges = [
        (range(600, 620), day0 + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)),  # later today
        (range(620, 630), day0 + pd.Timedelta(days=1)),  # tomorrow: never counted
        (range(630, 640), day0 - pd.Timedelta(days=9) - pd.Timedelta(microseconds=1)),  # end of today-10
        (range(640, 650), day0 - pd.Timedelta(days=9)),  # start of today-9
        (range(650, 655), day0 + pd.Timedelta(hours=23, minutes=59, seconds=59)),
    ]
    for people, at in edges:
        events += [(f"c{i:03d}", at) for i in people]
    ev = pd.DataFrame(events, columns=["profile_id", "timestamp"])
    ev.insert(0, "event_id", [f"e{i}" for i in range(len(ev))])
    ev["metric"] = "Placed Order"
    ev["value"] = 25.0
    return pd.DataFrame(profiles), ev


def _expected(events: pd.DataFrame, as_of: dt.date) -> int:
    end = pd.Timestamp(as_of, tz="UTC") + pd.Timedelta(days=1)  # first moment after the as-of day
    people = set()
    for row in events.itertuples():
        if row.metric == "Placed Order" and row.timestamp < end:
            people.add(row.profile_id)
    return len(people)


@pytest.fixture
def store(tmp_path):
    profiles, events = _rows(_today())
    db = tmp_path / "cdp.duckdb"
    folder = tmp_path / "segments"
    folder.mkdir()
    (folder / "buyers.yaml").write_text(BUYERS)
    ws = workspace_from_frames(str(db), profiles=profiles, events=events)
    yield ws, db, folder, events
    ws.close()


@pytest.mark.filterwarnings("ignore::cdp_lib.audience.HistoryWarning")  # a fresh history, on purpose
@pytest.mark.parametrize("which", ["none", "today", "ten_days_ago"])
def test_one_audience_one_number_through_every_path(store, tmp_path, capsys, which):
    from cdp_lib import clv, kpi, orders, rfm
    from cdp_lib.clv import summary as clv_summary
    from cdp_lib.apps.segment_builder import SegmentBuilderApp
    from cdp_lib.audience import audience_params, audience_performance_table
    from cdp_lib.segments import export_csv, load_library, members_table, refresh, sample

    ws, db, folder, events = store
    today = _today()
    as_of = {"none": None, "today": today.isoformat(), "ten_days_ago": (today - dt.timedelta(days=10)).isoformat()}[which]
    day = today if as_of is None else dt.date.fromisoformat(as_of)
    expected = _expected(events, day)
    library = load_library(folder)
    got: dict[str, int] = {}

    got["segment run"] = int(members_table(ws, library["Buyers"], as_of, library).count().execute())
    ws.close()
    args = ["--db", str(db), "segment", "run", "Buyers", "--folder", str(folder)] + (["--as-of", as_of] if as_of else [])
    assert main(args) == 0
    got["cdp segment run"] = int(re.search(r"Buyers: ([\d,]+) members", capsys.readouterr().out).group(1).replace(",", ""))

    from cdp_lib import Workspace

    ws = store_ws = Workspace(db)
    try:
        got["refresh"] = int(refresh(ws, folder, as_of).set_index("segment").loc["Buyers", "members"])
        got["lookup"] = sum("Buyers" in set(ws.segments_for(pid).segment) for pid in ws.profiles.profile_id.execute())
        out = tmp_path / "buyers.csv"
        got["export"] = export_csv(ws, "Buyers", out, ["profile_id"], library, as_of)
        groups = sample(ws, "Buyers", fraction=0.3, seed=3, library=library, as_of=as_of)
        got["sample test + control"] = int(groups["members"].sum())
        app = SegmentBuilderApp(workspace=ws, folder=tmp_path / "saved", **({"as_of": as_of} if as_of else {}))
        got["segment builder"] = app.members
        params = audience_params(["Buyers"], "last_7_days", as_of=day.isoformat())
        perf = audience_performance_table(ws, params).execute()
        got["audience performance members"] = int(perf.loc[0, "members"])
        got["rfm"] = int(rfm.rfm_table(ws, rfm.RfmParams(as_of=as_of)).count().execute())
        clv_params = clv.ClvParams(as_of=as_of)
        clv_input = clv_summary.summary_table(clv.orders_table(ws, clv_params), clv_params.as_of_date)
        got["clv customer summary"] = int(clv_input.count().execute())
        buyers_kpi = kpi.Kpi("Buyers", "total_profiles", ("Placed Order",))
        end = None if as_of is None else day
        period = kpi.kpi_period(ws, None, end)
        got["kpi"] = int(kpi.kpi_table(ws, period.start, period.end, [buyers_kpi]).execute().loc[0, "value"])
        got["order summary"] = int(orders.customer_orders_table(ws, as_of=as_of).count().execute())
    finally:
        store_ws.close()
    assert got == {path: expected for path in got}, f"expected {expected} everywhere, got {got}"


def test_as_of_end_is_the_end_of_the_day_utc_and_today_by_default():
    from cdp_lib.dates import as_of_day, as_of_end

    assert as_of_end("2025-06-17") == pd.Timestamp("2025-06-17 23:59:59.999999", tz="UTC")
    assert as_of_end(dt.date(2025, 6, 17)) == as_of_end("2025-06-17")
    # a moment with a zone: its UTC day (01:30 in Tokyo on 18 June is 16:30 UTC on 17 June)
    assert as_of_end(pd.Timestamp("2025-06-18 01:30", tz="Asia/Tokyo")) == as_of_end("2025-06-17")
    before = _today()
    got = as_of_end(None)
    assert got.date() in {before, _today()} and (got.hour, got.minute, got.microsecond) == (23, 59, 999999)
    assert as_of_day(None) in {before, _today()}


def test_prerequisites_and_segments_share_the_one_function():
    import cdp_lib.dates
    import cdp_lib.prerequisites
    import cdp_lib.segments.compile

    assert cdp_lib.prerequisites.as_of_end is cdp_lib.dates.as_of_end
    assert cdp_lib.segments.compile.as_of_end is cdp_lib.dates.as_of_end


# -- the demo store ends at the moment it was generated ---------------------------------------
def test_demo_store_generated_today_has_no_event_in_the_future(tmp_path):
    from cdp_lib.demodata import generate_store

    summary = generate_store(tmp_path, 300, seed=9)
    after = pd.Timestamp.now(tz="UTC")
    ev = pd.read_parquet(tmp_path / "events.parquet", columns=["timestamp"])
    profiles = pd.read_parquet(tmp_path / "profiles.parquet", columns=["created_at"])
    assert ev.timestamp.max() <= after and profiles.created_at.max() <= after
    assert summary.until <= after.to_pydatetime()
    assert ev.timestamp.max().date() >= (after - pd.Timedelta(days=2)).date()  # the history is recent


def test_demo_store_cut_at_a_given_moment_keeps_ids_and_drops_later_sign_ups(tmp_path):
    from cdp_lib.demodata import generate_store

    moment = dt.datetime(2025, 6, 30, 9, 30, tzinfo=dt.timezone.utc)
    whole = generate_store(tmp_path / "whole", 2_000, seed=4, end_date="2025-06-30")
    cut = generate_store(tmp_path / "cut", 2_000, seed=4, end_date="2025-06-30", generated_at=moment)
    assert whole.until == dt.datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=dt.timezone.utc)
    assert cut.until == moment
    a = pd.read_parquet(tmp_path / "whole" / "events.parquet")
    b = pd.read_parquet(tmp_path / "cut" / "events.parquet")
    later = a.timestamp > pd.Timestamp(moment)
    assert later.sum() > 0 and b.timestamp.max() <= pd.Timestamp(moment)
    # the events kept are exactly the earlier ones, with the same ids (re-ingest sees duplicates)
    pd.testing.assert_frame_equal(a[~later].reset_index(drop=True), b)
    pa_, pb = (pd.read_parquet(tmp_path / n / "profiles.parquet") for n in ("whole", "cut"))
    signed_later = pa_.created_at > pd.Timestamp(moment)
    assert len(pb) == len(pa_) - signed_later.sum()
    assert pb.created_at.max() <= pd.Timestamp(moment)
    truth = pd.read_parquet(tmp_path / "cut" / "truth.parquet")
    assert len(truth) == cut.profiles == whole.profiles - int(signed_later[: whole.profiles].sum())
    # everyone with an event still has a profile
    emails = set(pb.email.dropna().str.strip().str.lower())
    assert set(b.email.dropna().str.strip().str.lower()) <= emails
