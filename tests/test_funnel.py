"""Ordered funnels: each rule of docs/funnels.md on a hand-written log, then a brute-force check."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_lib.errors import InputError
from cdp_lib.funnel import funnel_frame, funnel_params, funnel_people_table, time_to_convert_table
from cdp_lib.testing import workspace_from_frames

T0 = pd.Timestamp("2024-03-10T12:00:00Z")


def log(*rows):
    """Rows of (profile, metric, seconds after T0[, extra columns]) -> events frame."""
    out = []
    for i, row in enumerate(rows):
        profile, metric, seconds, *extra = row
        rec = {"event_id": f"e{i:04d}", "profile_id": profile, "metric": metric,
               "timestamp": T0 + pd.Timedelta(seconds=seconds)}
        if extra:
            rec.update(extra[0])
        out.append(rec)
    return pd.DataFrame(out)


def people(events, steps, **kw):
    kw.setdefault("from_", "2024-03-01")
    kw.setdefault("to", "2024-03-31")
    ws = workspace_from_frames(events=events, profiles=kw.pop("profiles", None))
    params = funnel_params(steps, **kw)
    df = funnel_people_table(ws, params, metrics={}).execute()
    return df.sort_values("profile_id").reset_index(drop=True), ws, params


def furthest(events, steps, **kw):
    df, _, _ = people(events, steps, **kw)
    return dict(zip(df.profile_id, df.furthest_step))


DAY = 86400


def test_steps_at_the_same_timestamp_complete_consecutive_steps():
    # B's event_id sorts before A's: ids only break ties, they never forbid a same-time step
    ev = log(("p", "B", 0), ("p", "A", 0), ("q", "A", 0), ("q", "B", 0), ("q", "C", 0))
    assert furthest(ev, ["A", "B", "C"]) == {"p": 2, "q": 3}


def test_one_event_matches_one_step():
    ev = log(("single", "A", 0), ("double", "A", 0), ("double", "A", 5), ("same_time", "A", 0), ("same_time", "A", 0))
    assert furthest(ev, ["A", "A"]) == {"double": 2, "same_time": 2, "single": 1}
    assert furthest(ev, ["A", "A", "A"]) == {"double": 2, "same_time": 2, "single": 1}


def test_window_is_inclusive_to_the_second():
    ev = log(("edge", "A", 0), ("edge", "B", 7 * DAY), ("late", "A", 0), ("late", "B", 7 * DAY + 1))
    assert furthest(ev, ["A", "B"], window="7d") == {"edge": 2, "late": 1}
    assert furthest(ev, ["A", "B"], window="1w") == {"edge": 2, "late": 1}


def test_window_is_measured_from_step_one_not_from_the_previous_step():
    ev = log(("p", "A", 0), ("p", "B", 3600), ("p", "C", 2 * 3600 + 1))
    assert furthest(ev, ["A", "B", "C"], window="2h") == {"p": 2}
    assert furthest(ev, ["A", "B", "C"], window="30m") == {"p": 1}


def test_a_later_entry_that_goes_further_counts_and_times_use_the_earliest_entry_reaching_each_step():
    # entry at 0 reaches B (day 2) but not C (day 8 > 0 + 7d); entry at day 1.5 reaches C
    ev = log(("p", "A", 0), ("p", "A", 1.5 * DAY), ("p", "B", 2 * DAY), ("p", "C", 8 * DAY))
    df, _, _ = people(ev, ["A", "B", "C"], window="7d")
    row = df.iloc[0]
    assert row.furthest_step == 3
    assert row.seconds_to_step_2 == 2 * DAY  # earliest entry reaching step 2 is the one at 0
    assert row.seconds_to_step_3 == 6.5 * DAY


def test_only_step_one_must_be_inside_the_date_range():
    ev = pd.DataFrame({
        "event_id": ["a1", "b1", "a2", "b2"],
        "profile_id": ["before", "before", "last_day", "last_day"],
        "metric": ["A", "B", "A", "B"],
        "timestamp": ["2024-02-29T23:59:59Z", "2024-03-01T00:00:01Z", "2024-03-31T23:59:59Z", "2024-04-02T00:00:00Z"],
    })
    assert furthest(ev, ["A", "B"]) == {"last_day": 2}


def test_exclusion_loses_the_entry_but_a_clean_reentry_counts():
    ev = log(
        ("lost", "A", 0), ("lost", "X", 10), ("lost", "B", 20),
        ("reentered", "A", 0), ("reentered", "X", 10), ("reentered", "A", 15), ("reentered", "B", 20),
        ("after", "A", 0), ("after", "B", 20), ("after", "X", 30),
        ("never_b", "A", 0), ("never_b", "X", 10),
    )
    excl = [{"metric": "X", "after_step": 1, "before_step": 2}]
    got = furthest(ev, ["A", "B"], exclusions=excl)
    assert got == {"after": 2, "reentered": 2}
    # the re-entry's time is measured from the clean entry
    df, _, _ = people(ev, ["A", "B"], exclusions=excl)
    assert df.set_index("profile_id").loc["reentered", "seconds_to_step_2"] == 5


def test_exclusion_outside_the_window_does_not_count():
    ev = log(("p", "A", 0), ("p", "X", 3 * DAY), ("other", "B", -30 * DAY))
    excl = [{"metric": "X", "after_step": 1, "before_step": 2}]
    assert furthest(ev, ["A", "B"], window="2d", exclusions=excl) == {"p": 1}


def test_breakdown_folds_values_beyond_top_n_into_other():
    rows = []
    for person, channel in [("p1", "web"), ("p2", "web"), ("p3", "web"), ("p4", "app"), ("p5", "app"), ("p6", "pos")]:
        rows.append((person, "A", 0, {"channel": channel}))
    rows += [("p1", "B", 5), ("p4", "B", 5), ("p6", "B", 5), ("p7", "A", 0)]
    ev = log(*rows)
    ws = workspace_from_frames(events=ev)
    params = funnel_params(["A", "B"], from_="2024-03-01", to="2024-03-31", breakdown="channel", top_n=2)
    out = funnel_frame(ws, params, metrics={})
    table = {(r.channel, r.step): r.profiles for r in out.itertuples()}
    assert table == {("web", 1): 3, ("web", 2): 1, ("app", 1): 2, ("app", 2): 1, ("Other", 1): 2, ("Other", 2): 1}


def test_breakdown_by_profile_property():
    ev = log(("p1", "A", 0), ("p1", "B", 1), ("p2", "A", 0))
    profiles = pd.DataFrame({"profile_id": ["p1", "p2"], "country": ["FR", None]})
    ws = workspace_from_frames(events=ev, profiles=profiles)
    params = funnel_params(["A", "B"], from_="2024-03-01", to="2024-03-31", breakdown="country")
    out = funnel_frame(ws, params, metrics={})
    assert {(r.country, r.step): r.profiles for r in out.itertuples()} == {
        ("FR", 1): 1, ("FR", 2): 1, ("(not set)", 1): 1, ("(not set)", 2): 0}


def test_report_columns_and_rates():
    ev = log(
        ("p1", "A", 0), ("p1", "B", 10), ("p1", "C", 40),
        ("p2", "A", 0), ("p2", "B", 20),
        ("p3", "A", 0), ("p4", "A", 0),
    )
    ws = workspace_from_frames(events=ev)
    params = funnel_params(["A", "B", "C"], from_="2024-03-01", to="2024-03-31")
    out = funnel_frame(ws, params, metrics={})
    assert list(out.profiles) == [4, 2, 1]
    assert list(out.conversion_from_start) == [1.0, 0.5, 0.25]
    assert list(out.conversion_from_previous) == [1.0, 0.5, 0.5]
    assert list(out.drop_off) == [0, 2, 1]
    assert list(out.median_seconds_to_step) == [0.0, 15.0, 40.0]
    assert list(out.mean_seconds_to_step) == [0.0, 15.0, 40.0]
    tt = time_to_convert_table(funnel_people_table(ws, params, metrics={}), 3).execute()
    assert list(tt.seconds) == [40.0]


def test_step_filters_and_custom_metrics():
    ev = log(("p1", "A", 0), ("p1", "B", 5, {"source": "POS"}), ("p2", "A", 0), ("p2", "B", 5, {"source": "web"}))
    steps = ["A", {"metric": "B", "where": [{"property": "source", "op": "not_equals", "value": "POS"}]}]
    assert furthest(ev, steps) == {"p1": 1, "p2": 2}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": ["A"]}, "a funnel has 2 to 10 steps, got 1"),
        ({"steps": ["A"] * 11}, "a funnel has 2 to 10 steps, got 11"),
        ({"steps": ["A", "B"], "window": "7x"}, r"window: '7x' is not a duration"),
        ({"steps": ["A", "B"], "from_": "2024-03-02", "to": "2024-03-01"}, "from 2024-03-02 is after to 2024-03-01"),
        ({"steps": ["A", "B"], "exclusions": [{"metric": "X", "after_step": 2, "before_step": 2}]},
         r"exclusions\[0\]: after_step 2 and before_step 2"),
        ({"steps": ["A", {"metric": "B", "where": [{"property": "x", "op": "like"}]}]},
         r"steps\[1\].where\[0\].op: unknown operator"),
    ],
)
def test_invalid_definitions_are_rejected(kwargs, message):
    with pytest.raises(InputError, match=message):
        funnel_params(**kwargs)


def test_unknown_metric_names_closest_event_names():
    ws = workspace_from_frames(events=log(("p", "Viewed Product", 0), ("p", "Placed Order", 1)))
    params = funnel_params(["Viewed Product", "Placed Ordr"], from_="2024-03-01", to="2024-03-31")
    with pytest.raises(InputError, match="metric 'Placed Ordr' .* did you mean 'Placed Order'"):
        funnel_people_table(ws, params, metrics={})


def test_unknown_breakdown_property_suggests():
    ws = workspace_from_frames(events=log(("p", "A", 0), ("p", "B", 1)))
    params = funnel_params(["A", "B"], from_="2024-03-01", to="2024-03-31", breakdown="chanel")
    with pytest.raises(InputError, match="did you mean 'channel'"):
        funnel_people_table(ws, params, metrics={})


# -- brute force -------------------------------------------------------------------------


def reference(events: pd.DataFrame, steps, window_s, start, end, exclusion=None):
    """Pure-Python funnel following docs/funnels.md literally, with an exhaustive search of the
    furthest reachable step per entry to confirm the greedy earliest match loses nothing."""
    out = {}
    for person, evs in events.groupby("profile_id"):
        evs = sorted(zip(evs.timestamp, evs.event_id, evs.metric))
        entries = [(t, i) for t, i, m in evs if m == steps[0] and start <= t < end]
        best_reach, first_times = 0, {}
        for t0, i0 in sorted(entries):
            deadline = t0 + pd.Timedelta(seconds=window_s)
            matches, used = [(t0, i0)], {i0}
            for metric in steps[1:]:
                cands = [(t, i) for t, i, m in evs if m == metric and i not in used and matches[-1][0] <= t <= deadline]
                if not cands:
                    break
                matches.append(min(cands))
                used.add(min(cands)[1])
            if exclusion:
                a, b = exclusion[1] - 1, exclusion[2] - 1
                if len(matches) > a:
                    hi = matches[b][0] if len(matches) > b else None
                    if any(m == exclusion[0] and t > matches[a][0] and (t < hi if hi is not None else t <= deadline)
                           for t, _, m in evs):
                        continue
            elif len(matches) < len(steps):
                assert exhaustive_reach(evs, steps, t0, i0, deadline) == len(matches)
            best_reach = max(best_reach, len(matches))
            for k in range(1, len(matches)):
                first_times.setdefault(k + 1, (matches[k][0] - t0).total_seconds())
        if best_reach:
            out[person] = (best_reach, first_times)
    return out


def exhaustive_reach(evs, steps, t0, i0, deadline):
    best = 1
    for length in range(2, len(steps) + 1):
        pools = [[(t, i) for t, i, m in evs if m == steps[k] and t <= deadline] for k in range(1, length)]
        for combo in itertools.product(*pools):
            seq = [(t0, i0), *combo]
            if len({i for _, i in seq}) == len(seq) and all(seq[j][0] <= seq[j + 1][0] for j in range(len(seq) - 1)):
                best = length
                break
    return best


event_rows = st.lists(
    st.tuples(st.sampled_from(["p1", "p2", "p3"]), st.sampled_from(["A", "B", "C", "X"]), st.integers(0, 12)),
    min_size=1,
    max_size=18,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=event_rows,
    steps=st.sampled_from([["A", "B"], ["A", "B", "C"], ["A", "A"], ["A", "B", "A"], ["B", "A", "A", "C"]]),
    window_h=st.integers(1, 6),
    exclude=st.booleans(),
)
def test_matches_brute_force_reference(rows, steps, window_h, exclude):
    # timestamps on a coarse 1-hour grid around the range start so ties and edges are frequent
    base = pd.Timestamp("2024-03-01T00:00:00Z") - pd.Timedelta(hours=2)
    ev = pd.DataFrame(
        [{"event_id": f"e{n:03d}", "profile_id": p, "metric": m, "timestamp": base + pd.Timedelta(hours=h)}
         for n, (p, m, h) in enumerate(rows)]
        # every metric exists somewhere (unknown names are an error), long before the range
        + [{"event_id": f"z{m}", "profile_id": "z", "metric": m, "timestamp": base - pd.Timedelta(days=30)}
           for m in "ABCX"]
    )
    exclusion = ("X", 1, len(steps)) if exclude else None
    ws = workspace_from_frames(events=ev)
    params = funnel_params(
        steps, window=f"{window_h}h", from_="2024-03-01", to="2024-03-01",
        exclusions=[{"metric": "X", "after_step": 1, "before_step": len(steps)}] if exclude else [],
    )
    got = funnel_people_table(ws, params, metrics={}).execute()
    start = pd.Timestamp("2024-03-01T00:00:00Z")
    want = reference(ev[ev.profile_id != "z"], steps, window_h * 3600, start, start + pd.Timedelta(days=1), exclusion)
    assert set(got.profile_id) == set(want)
    for row in got.itertuples():
        reach, times = want[row.profile_id]
        assert row.furthest_step == reach
        for k in range(2, len(steps) + 1):
            value = getattr(row, f"seconds_to_step_{k}")
            assert (pd.isna(value) and k not in times) or value == times.get(k)


def test_cli_writes_the_documented_columns(tmp_path, capsys):
    from cdp_lib.cli import main

    db = tmp_path / "cdp.duckdb"
    ev = log(("p1", "A", 0, {"channel": "web"}), ("p1", "B", 60), ("p2", "A", 0, {"channel": "app"}))
    workspace_from_frames(str(db), events=ev).close()
    out = tmp_path / "funnel.csv"
    assert main(["--db", str(db), "funnel", "--step", "A", "--step", "B", "--window", "1h", "--from", "2024-03-01",
                 "--to", "2024-03-31", "--breakdown", "channel", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["channel", "step", "metric", "profiles", "conversion_from_start",
                                "conversion_from_previous", "median_seconds_to_step"]
    assert df.set_index(["channel", "step"]).profiles.to_dict() == {("web", 1): 1, ("web", 2): 1, ("app", 1): 1,
                                                                      ("app", 2): 0}
    assert main(["--db", str(db), "funnel", "--step", "A"]) == 2
    assert "a funnel has 2 to 10 steps, got 1" in capsys.readouterr().err


@pytest.mark.notebook
def test_notebook_runs_on_the_demo_store(demo_store_path, tmp_path):
    import papermill as pm

    from pathlib import Path

    notebook = Path(__file__).resolve().parent.parent / "notebooks" / "funnel.ipynb"
    pm.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"), kernel_name="python3", cwd=str(tmp_path),
                        parameters={"db": str(demo_store_path), "window": "7d"}, progress_bar=False)
    report = pd.read_csv(tmp_path / "funnel.csv")
    assert list(report.metric) == ["Viewed Product", "Added to Cart", "Placed Order"]
    assert report.profiles.iloc[0] > report.profiles.iloc[2] > 0
    assert (tmp_path / "funnel.png").exists() and (tmp_path / "time_to_convert.png").exists()


# -- issue 9: a later step matched before the previous step -------------------------------

ISSUE_9_LOG = [
    ("Added to Cart", "2024-02-27T14:00:00Z"),
    ("Added to Cart", "2024-03-02T07:00:00Z"),
    ("Viewed Product", "2024-03-02T15:30:00Z"),
    ("Opened Email", "2024-03-02T20:00:00Z"),
    ("Viewed Product", "2024-03-04T15:00:00Z"),
    ("Placed Order", "2024-03-05T01:00:00Z"),
    ("Started Checkout", "2024-03-05T04:30:00Z"),
    ("Added to Cart", "2024-03-06T21:00:00Z"),
    ("Opened Email", "2024-03-06T22:30:00Z"),
    ("Added to Cart", "2024-03-07T00:00:00Z"),
]
ISSUE_9_STEPS = ["Viewed Product", "Added to Cart", "Started Checkout", "Placed Order"]


def issue_9_events() -> pd.DataFrame:
    """The issue's log for person p, among 200 people who only opened emails (not funnel steps).

    The crowd matters: with it the old engine's chained as-of joins (DuckDB) matched the missing
    checkout of p's chain to p's earlier order, and counted p at step 3 without a time to step 3.
    """
    own = [{"event_id": f"e{i}", "profile_id": "p", "metric": m, "timestamp": ts} for i, (m, ts) in enumerate(ISSUE_9_LOG)]
    crowd = [{"event_id": f"x{i}_{j}", "profile_id": f"q{i:03d}", "metric": "Opened Email",
              "timestamp": pd.Timestamp("2024-01-01T00:00Z") + pd.Timedelta(hours=7 * i + j)}
             for i in range(200) for j in range(3)]
    return pd.DataFrame(own + crowd)


def test_issue_9_log_reaches_step_two_only_with_its_time():
    ws = workspace_from_frames(events=issue_9_events())
    params = funnel_params(ISSUE_9_STEPS, window="7d", from_="2024-03-01", to="2024-03-10")
    row = funnel_people_table(ws, params, metrics={}).execute().set_index("profile_id").loc["p"]
    # the only checkout (03-05 04:30) is before the first cart after a view (03-06 21:00)
    assert row.furthest_step == 2
    assert row.seconds_to_step_2 == (pd.Timestamp("2024-03-06T21:00Z") - pd.Timestamp("2024-03-02T15:30Z")).total_seconds()
    assert pd.isna(row.seconds_to_step_3) and pd.isna(row.seconds_to_step_4)
    assert list(funnel_frame(ws, params, metrics={}).profiles) == [1, 1, 0, 0]


def test_issue_9_log_through_the_cli(tmp_path):
    from cdp_lib.cli import main

    db = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(db), events=issue_9_events()).close()
    out = tmp_path / "funnel.csv"
    args = ["--db", str(db), "funnel", "--window", "7d", "--from", "2024-03-01", "--to", "2024-03-10", "--out", str(out)]
    for step in ISSUE_9_STEPS:
        args += ["--step", step]
    assert main(args) == 0
    df = pd.read_csv(out)
    assert list(df.profiles) == [1, 1, 0, 0]
    assert df.median_seconds_to_step.iloc[1] == 365400.0  # 4 days 5.5 hours
    assert df.median_seconds_to_step.iloc[2:].isna().all()
