"""Backfilled segment history (issue 9, item 5) against a plain-loop reference.

The reference evaluates each definition for each day with loops over the rows the test wrote
(no code shared with the engine): "ordered in the last 3 days" counts orders from the start of
day d-3 up to the end of day d; "no email opened in the last 2 days" holds for everyone without
such an open; RFM groups come from the latest snapshot on or before d. The stored history must
then answer membership at every reconstructed day (and inside it), its sizes and entered/left
counts must be the reference's set differences, and running the backfill again changes nothing.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_lib.cli import main
from cdp_lib.dates import as_of_end
from cdp_lib.errors import InputError
from cdp_lib.segments import backfill, load_definition, members_at, refresh, sample
from cdp_lib.testing import workspace_from_frames

AS_OF = dt.date(2025, 6, 20)
PEOPLE = [f"p{i}" for i in range(8)]
TIERS = {p: ("gold" if i % 3 == 0 else "silver") for i, p in enumerate(PEOPLE)}
SPECS = {
    "Recent": {"name": "Recent", "conditions": [{"metric": "Placed Order", "when": {"in_last": "3d"}}]},
    "Quiet": {"name": "Quiet", "conditions": [
        {"metric": "Opened Email", "count": {"op": "==", "value": 0}, "when": {"in_last": "2d"}}]},
    "Gold recent": {"name": "Gold recent", "conditions": [
        {"property": "tier", "op": "equals", "value": "gold"}, {"in_segment": "Recent"}]},
    "Champions": {"name": "Champions", "conditions": [
        {"property": "current_rfm_group", "op": "equals", "value": "Champions"}]},
    "Valuable": {"name": "Valuable", "conditions": [{"property": "predicted_clv", "op": ">", "value": 10}]},
}
SNAPSHOT_DAYS = [AS_OF - dt.timedelta(days=5), AS_OF - dt.timedelta(days=2)]


def _library():
    return {k: load_definition(v) for k, v in SPECS.items()}


def _workspace(events, snapshots, path=":memory:"):
    profiles = pd.DataFrame({"profile_id": PEOPLE, "tier": [TIERS[p] for p in PEOPLE]})
    ev = pd.DataFrame(events, columns=["profile_id", "metric", "timestamp"])
    ev.insert(0, "event_id", [f"e{i}" for i in range(len(ev))])
    ev["value"] = 10.0
    ws = workspace_from_frames(path, profiles=profiles, events=ev)
    if snapshots:
        snaps = pd.DataFrame(snapshots, columns=["as_of", "profile_id", "rfm_group"])
        for col in ("recency_days", "frequency", "r_score", "f_score", "m_score"):
            snaps[col] = 1
        snaps["monetary"] = 1.0
        ws.write_table("rfm_snapshots", snaps)
        from cdp_lib.rfm import refresh_rfm_profile_attributes

        refresh_rfm_profile_attributes(ws)
    ws.write_table("clv_predictions", pd.DataFrame({"profile_id": PEOPLE, "predicted_clv": [20.0] * len(PEOPLE)}))
    return ws


# -- the reference -----------------------------------------------------------------------------
def _ref_members(name, day, events, snapshots) -> set[str]:
    start_of = lambda d: pd.Timestamp(d, tz="UTC")  # noqa: E731
    end = start_of(day) + pd.Timedelta(days=1)  # exclusive
    if name in ("Recent", "Gold recent"):
        lo = start_of(day - dt.timedelta(days=3))
        out = set()
        for pid, metric, ts in events:
            if metric == "Placed Order" and lo <= pd.Timestamp(ts) < end:
                out.add(pid)
        if name == "Gold recent":
            out = {p for p in out if TIERS[p] == "gold"}
        return out
    if name == "Quiet":
        lo = start_of(day - dt.timedelta(days=2))
        opened = set()
        for pid, metric, ts in events:
            if metric == "Opened Email" and lo <= pd.Timestamp(ts) < end:
                opened.add(pid)
        return set(PEOPLE) - opened
    if name == "Champions":
        dates = [d for d, _, _ in snapshots if d <= day]
        if not dates:
            return set()
        latest = max(dates)
        return {p for d, p, g in snapshots if d == latest and g == "Champions"}
    raise AssertionError(name)


def _history(ws):
    m = ws.table("segment_membership").execute().sort_values(["segment", "profile_id", "joined_at"])
    r = ws.table("segment_refreshes").execute().drop(columns=["refreshed_at"]).sort_values(["segment", "as_of"])
    return m.reset_index(drop=True), r.reset_index(drop=True)


def _check_against_reference(ws, days, events, snapshots, names=("Recent", "Quiet", "Gold recent", "Champions")):
    refreshes = ws.table("segment_refreshes").execute()
    for name in names:
        rows = refreshes[refreshes.segment == name].sort_values("as_of")
        previous: set[str] = set()
        for day in days:
            if name == "Champions" and day < SNAPSHOT_DAYS[0]:
                continue  # no snapshot yet: not reconstructed
            want = _ref_members(name, day, events, snapshots)
            moment = as_of_end(day)
            got = set(members_at(ws, name, moment).execute().profile_id)
            assert got == want, (name, day)
            # inside the next day, until its end, membership is still that of `day`
            assert set(members_at(ws, name, moment + pd.Timedelta(hours=12)).execute().profile_id) == want
            row = rows[rows.as_of == moment]
            assert len(row) == 1, (name, day)
            row = row.iloc[0]
            assert (row.members, row.entered, row.left) == (len(want), len(want - previous), len(previous - want)), (name, day)
            previous = want


events_strategy = st.lists(
    st.tuples(st.sampled_from(PEOPLE), st.sampled_from(["Placed Order", "Opened Email"]),
              st.integers(-14 * 2, 1 * 2)),  # half-day grid: ties and midnight boundaries
    min_size=0, max_size=40,
)


def _as_rows(draw_events):
    base = pd.Timestamp(AS_OF, tz="UTC")
    fixed = [("p7", "Placed Order", "2024-01-01T00:00:00Z"), ("p7", "Opened Email", "2024-01-01T00:00:00Z")]
    return fixed + [(p, m, (base + pd.Timedelta(hours=12 * k)).isoformat()) for p, m, k in draw_events]


def _snapshots(seed):
    groups = ["Champions", "Loyal", "At Risk"]
    return [(d, p, groups[(i + j + seed) % 3]) for j, d in enumerate(SNAPSHOT_DAYS) for i, p in enumerate(PEOPLE)
            if (i + seed) % 4]


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=events_strategy, seed=st.integers(0, 5), days=st.integers(1, 5), refreshed_first=st.booleans())
def test_backfill_matches_the_reference_and_is_idempotent(raw, seed, days, refreshed_first):
    events, snapshots = _as_rows(raw), _snapshots(seed)
    ws = _workspace(events, snapshots)
    library = _library()
    try:
        if refreshed_first:  # history recorded at the as-of date first, then the past filled in
            refresh(ws, library=library, as_of=AS_OF)
        summary = backfill(ws, days, as_of=AS_OF, library=library).set_index("segment")
        span = [AS_OF - dt.timedelta(days=k) for k in range(days, 0, -1)]
        assert summary.loc["Valuable", "days"] == 0
        assert summary.loc["Valuable", "note"].startswith("skipped: uses 'predicted_clv', a prediction known only")
        assert summary.loc["Recent", "days"] == days and summary.loc["Recent", "from"] == span[0]
        _check_against_reference(ws, span + ([AS_OF] if refreshed_first else []), events, snapshots)
        refreshes = ws.table("segment_refreshes").execute()
        assert refreshes[refreshes.as_of < as_of_end(AS_OF)].backfilled.all()
        assert not refreshes[refreshes.as_of == as_of_end(AS_OF)].backfilled.any()
        before = _history(ws)
        again = backfill(ws, days, as_of=AS_OF, library=library)
        assert (again["days"] == 0).all()
        after = _history(ws)
        pd.testing.assert_frame_equal(before[0], after[0])
        pd.testing.assert_frame_equal(before[1], after[1])
        # a refresh after the backfill continues the same history
        refresh(ws, library=library, as_of=AS_OF + dt.timedelta(days=1))
        _check_against_reference(ws, span + ([AS_OF] if refreshed_first else []) + [AS_OF + dt.timedelta(days=1)],
                                 events, snapshots)
    finally:
        ws.close()


def test_backfill_then_refresh_in_one_call_and_spells_join_up():
    # p0 orders every day: one spell from the first reconstructed day, still open after the refresh
    events = [("p0", "Placed Order", f"2025-06-{d:02d}T10:00:00Z") for d in range(1, 21)]
    events += [("p1", "Placed Order", "2025-06-12T00:00:00Z")]  # a member 12..15 June
    ws = _workspace(events, [])
    library = {"Recent": load_definition(SPECS["Recent"])}
    try:
        out = refresh(ws, library=library, as_of=AS_OF, backfill_days=10).set_index("segment")
        assert out.loc["Recent", "backfilled_days"] == 10 and out.loc["Recent", "backfill_from"] == dt.date(2025, 6, 10)
        spells = ws.table("segment_membership").execute().sort_values(["profile_id", "joined_at"])
        p0 = spells[spells.profile_id == "p0"]
        assert len(p0) == 1 and p0.joined_at.iloc[0] == as_of_end("2025-06-10") and pd.isna(p0.left_at.iloc[0])
        p1 = spells[spells.profile_id == "p1"]
        assert list(zip(p1.joined_at, p1.left_at)) == [(as_of_end("2025-06-12"), as_of_end("2025-06-16"))]
    finally:
        ws.close()


def test_rfm_segment_is_reconstructed_from_the_first_snapshot_on_and_says_so():
    ws = _workspace(_as_rows([]), _snapshots(1))
    try:
        out = backfill(ws, 9, as_of=AS_OF, library=_library()).set_index("segment")
        assert out.loc["Champions", "days"] == 5 and out.loc["Champions", "from"] == SNAPSHOT_DAYS[0]
        assert f"the first RFM snapshot is {SNAPSHOT_DAYS[0]}" in out.loc["Champions", "note"]
    finally:
        ws.close()


def test_segments_built_on_samples_or_predictions_are_skipped_with_the_reason(tmp_path):
    ws = _workspace([("p0", "Placed Order", "2025-06-19T10:00:00Z")], [])
    library = {"Recent": load_definition(SPECS["Recent"])}
    try:
        refresh(ws, library=library, as_of=AS_OF)
        sample(ws, "Recent", size=1, library=library, as_of=AS_OF)
        library["Test group"] = load_definition({"name": "Test group", "conditions": [{"in_segment": "Recent — test"}]})
        library["Valuable test"] = load_definition({"name": "Valuable test", "conditions": [
            {"in_segment": "Valuable"}]})
        library["Valuable"] = load_definition(SPECS["Valuable"])
        out = backfill(ws, 3, as_of=AS_OF, library=library).set_index("segment")
        assert out.loc["Test group", "note"] == (
            "skipped: refers to 'Recent — test', a stored sample, whose past membership is not a definition")
        assert out.loc["Valuable test", "note"].startswith("skipped: refers to 'Valuable', which uses 'predicted_clv'")
        assert out.loc["Recent", "days"] == 3
    finally:
        ws.close()


@pytest.mark.parametrize("days", [0, -3, 3661, 2.5, True, "7"])
def test_bad_day_counts_are_refused_before_anything_is_written(days):
    ws = _workspace(_as_rows([]), _snapshots(0))
    try:
        with pytest.raises(InputError, match=r"backfill: expected a whole number of days from 1 to 3,660"):
            backfill(ws, days, as_of=AS_OF, library=_library())
        with pytest.raises(InputError, match=r"backfill: expected a whole number of days"):
            refresh(ws, library=_library(), as_of=AS_OF, backfill_days=days)
        assert not ws.has_table("segment_refreshes")  # refused before any table is created
    finally:
        ws.close()


# -- audience performance warns until the history covers the period ----------------------------
def test_audience_performance_warns_then_counts_after_a_backfill(tmp_path, capsys):
    from cdp_lib.audience import HistoryWarning, audience_params, audience_performance_table

    today = dt.datetime.now(dt.timezone.utc).date()
    events = []
    for i, p in enumerate(PEOPLE):  # an order every 4 days, offset per person, over 40 days
        events += [(p, "Placed Order", (pd.Timestamp(today, tz="UTC") - pd.Timedelta(days=d, hours=-9)).isoformat())
                   for d in range(i % 4, 40, 4)]
    db = tmp_path / "cdp.duckdb"
    ws = _workspace(events, [], str(db))
    folder = tmp_path / "segments"
    folder.mkdir()
    (folder / "recent.yaml").write_text("name: Recent\nconditions:\n  - {metric: Placed Order, when: {in_last: 3d}}\n")
    try:
        refresh(ws, folder)
        params = audience_params(["Recent"], "last_30_days")
        with pytest.warns(HistoryWarning, match=r"history of 'Recent' starts .*after the period's start "
                                                 r".*run 'cdp segment refresh --backfill 30'"):
            before = audience_performance_table(ws, params).execute()
        refresh(ws, folder, backfill_days=30)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error", HistoryWarning)
            after = audience_performance_table(ws, params).execute()
    finally:
        ws.close()
    in_period = [e for e in events if pd.Timestamp(e[2]) >= pd.Timestamp(today, tz="UTC") - pd.Timedelta(days=29)]
    # every order in the period is by someone who ordered in the 3 days before it: all credited
    assert after.loc[0, "all_conversions"] == len(in_period) > before.loc[0, "all_conversions"]
    # before: everyone "joined" at the first refresh; after: members all month, so nobody joined in it
    assert before.loc[0, "added"] == before.loc[0, "members"] == len(PEOPLE)
    assert (after.loc[0, "added"], after.loc[0, "members"]) == (0, len(PEOPLE))
    # the CLI: one warning line on a fresh history, nothing once backfilled
    db2 = tmp_path / "fresh.duckdb"
    _workspace(events, [], str(db2)).close()
    assert main(["--db", str(db2), "segment", "refresh", "--folder", str(folder)]) == 0
    capsys.readouterr()
    assert main(["--db", str(db2), "audience-performance", "--segment", "Recent", "--period", "last_30_days"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: history of 'Recent' starts") and "--backfill 30" in err[0]
    assert main(["--db", str(db2), "segment", "refresh", "--folder", str(folder), "--backfill", "30"]) == 0
    assert "30 days reconstructed" in capsys.readouterr().out
    assert main(["--db", str(db2), "audience-performance", "--segment", "Recent", "--period", "last_30_days"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["--db", str(db2), "segment", "refresh", "--folder", str(folder), "--backfill", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "backfill: expected a whole number of days" in err[0]


def test_history_warning_names_the_as_of_of_a_past_history_and_its_backfill_silences_it():
    import warnings

    from cdp_lib.audience import HistoryWarning, audience_params, audience_performance_table

    ws = _workspace(_as_rows([("p1", "Placed Order", -3), ("p1", "Placed Order", -8)]), [])
    library = {"Recent": load_definition(SPECS["Recent"])}
    try:
        refresh(ws, library=library, as_of=AS_OF)
        params = audience_params(["Recent"], "last_7_days", as_of=AS_OF.isoformat())
        with pytest.warns(HistoryWarning, match=r"run 'cdp segment refresh --as-of 2025-06-20 --backfill 7' "
                                                 r"to reconstruct it \(segments built on CLV"):
            audience_performance_table(ws, params).execute()
        refresh(ws, library=library, as_of=AS_OF, backfill_days=7)
        with warnings.catch_warnings():
            warnings.simplefilter("error", HistoryWarning)
            audience_performance_table(ws, params).execute()
    finally:
        ws.close()


def test_backfilled_spells_are_marked_for_activation_and_open_ones_are_not():
    events = [("p1", "Placed Order", "2025-06-12T00:00:00Z"), ("p0", "Placed Order", "2025-06-19T10:00:00Z")]
    ws = _workspace(events, [])
    library = {"Recent": load_definition(SPECS["Recent"])}
    try:
        refresh(ws, library=library, as_of=AS_OF, backfill_days=10)
        spells = ws.table("segment_membership").execute().set_index("profile_id")
        assert bool(spells.loc["p1", "backfilled"]) and spells.loc["p1", "left_at"] == as_of_end("2025-06-16")
        assert not bool(spells.loc["p0", "backfilled"]) and pd.isna(spells.loc["p0", "left_at"])
    finally:
        ws.close()
