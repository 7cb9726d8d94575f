"""Monitors: definitions, daily values against plain loops, episodes and alerts, the CLI."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cdp_lib.cli import main
from cdp_lib.errors import InputError
from cdp_lib.monitors import (
    alerts_table, check_condition, evaluate_days, evaluate_monitor, load_monitors, parse_monitor, parse_monitor_yaml,
    results_table, run_monitors,
)
from cdp_lib.monitors.definition import DEFAULT_FOLDER
from cdp_lib.testing import workspace_from_frames

DAY = dt.date(2024, 3, 10)


def metric_monitor(**cond):
    base = {"measure": "count", "period_days": 3, "op": ">", "threshold": 2}
    return parse_monitor({"name": "m", "kind": "metric", "metric": "Placed Order", "conditions": [{**base, **cond}]})


def events(rows):
    """rows: (profile, metric, timestamp, value[, flow_id])."""
    out = []
    for i, r in enumerate(rows):
        out.append({"event_id": f"e{i:04d}", "profile_id": r[0], "metric": r[1], "timestamp": r[2], "value": r[3],
                    "flow_id": r[4] if len(r) > 4 else None})
    return pd.DataFrame(out)


# -- definitions ------------------------------------------------------------------------------------
def test_shipped_monitors_parse():
    monitors = load_monitors(DEFAULT_FOLDER)
    assert {m.kind for m in monitors.values()} == {"metric", "segment", "flow"}
    assert len(monitors) == 4


@pytest.mark.parametrize("text, message", [
    ("name: x\nkind: metrc\n", "line 2: kind: expected one of ['metric', 'segment', 'flow']"),
    ("name: x\nkind: metric\nmetric: Placed Order\nconditions:\n  - {measure: count, period_days: 0, op: '>', threshold: 1}\n",
     "line 5: conditions[0].period_days: expected a whole number >= 1"),
    ("name: x\nkind: flow\nflow_id: F\nconditions:\n  - {measure: bounce_rate, aggregate: sum, period_days: 7, op: '>', threshold: 1}\n",
     "conditions[0].aggregate: bounce_rate is pooled"),
    ("name: x\nkind: segment\nsegment: S\nconditions:\n  - {measure: count, period_days: 1, op: '>', threshold: 1}\n",
     "conditions[0].measure: expected one of ['members', 'added', 'removed']"),
    ("name: x\nkind: metric\nmetric: M\nconditions: []\n", "conditions: expected a list of 1 or 2 conditions"),
    ("name: x\nkind: metric\nmetric: M\nconditions:\n  - {measure: count, period_days: 1, op: '>', threshold: 1,"
     " compare: relative_change}\n", "conditions[0].direction: expected one of ['up', 'down']"),
    ("name: x\nkind: metric\nmetric: M\nrepeat_evry_days: 2\nconditions: []\n", "did you mean 'repeat_every_days'"),
])
def test_definition_errors_name_file_line_and_path(text, message):
    with pytest.raises(InputError, match=None) as err:
        parse_monitor_yaml(text, "mon.yaml")
    assert str(err.value).startswith("mon.yaml, line")
    assert message in str(err.value)


def test_two_conditions_with_or_and_three_refused():
    cond = {"measure": "count", "period_days": 1, "op": ">", "threshold": 1}
    with pytest.raises(InputError, match="1 or 2 conditions"):
        parse_monitor({"name": "x", "kind": "metric", "metric": "M", "conditions": [cond] * 3})
    assert parse_monitor({"name": "x", "kind": "metric", "metric": "M", "match": "any",
                          "conditions": [cond] * 2}).match == "any"


# -- comparison rules ---------------------------------------------------------------------------------
def test_comparison_rules():
    rel_down = metric_monitor(compare="relative_change", direction="down", op=">=", threshold=30).conditions[0]
    assert check_condition(rel_down, 70.0, 100.0).triggered  # fell by exactly 30 %
    assert not check_condition(rel_down, 71.0, 100.0).triggered
    assert check_condition(rel_down, 5.0, 0.0).change is None  # undefined against 0: never triggers
    assert not check_condition(rel_down, 5.0, 0.0).triggered
    rel_up = metric_monitor(compare="relative_change", direction="up", op=">", threshold=50).conditions[0]
    assert check_condition(rel_up, 151.0, 100.0).triggered and not check_condition(rel_up, 150.0, 100.0).triggered
    abs_up = metric_monitor(compare="absolute_change", direction="up", op=">=", threshold=5).conditions[0]
    assert check_condition(abs_up, 15.0, 10.0).triggered and not check_condition(abs_up, 14.0, 10.0).triggered
    below = metric_monitor(op="<", threshold=1).conditions[0]
    assert not check_condition(below, None, None).triggered


# -- metric series against a loop ---------------------------------------------------------------------
def loop_metric(rows, day, period, aggregate, measure):
    def total(last):
        first = last - dt.timedelta(days=period - 1)
        s = 0.0
        for _, metric, ts, value, *_ in rows:
            d = pd.Timestamp(ts).date()
            if metric == "Placed Order" and first <= d <= last:
                s += 1 if measure == "count" else (value or 0.0)
        return s / period if aggregate == "average" else s
    return total(day), total(day - dt.timedelta(days=period))


@st.composite
def metric_rows(draw):
    rows = []
    for _ in range(draw(st.integers(0, 30))):
        day = DAY - dt.timedelta(days=draw(st.integers(-1, 12)))  # includes an event after the as-of date
        hour = draw(st.sampled_from(["00:00:00", "12:00:00", "23:59:59.999999"]))
        metric = draw(st.sampled_from(["Placed Order", "Placed Order", "Refunded Order"]))
        value = draw(st.one_of(st.none(), st.floats(0, 100, allow_nan=False).map(lambda v: round(v, 2))))
        rows.append((draw(st.sampled_from("ab")), metric, f"{day}T{hour}", value))
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=metric_rows(), period=st.integers(1, 5), aggregate=st.sampled_from(["sum", "average"]),
       measure=st.sampled_from(["count", "value"]))
def test_metric_values_match_a_loop(rows, period, aggregate, measure):
    rows = [("a", "Placed Order", "2024-01-01T00:00:00", 1.0)] + rows  # the metric exists in the store
    ws = workspace_from_frames(events=events(rows))
    try:
        m = metric_monitor(period_days=period, aggregate=aggregate, measure=measure)
        res = evaluate_monitor(ws, m, DAY, metrics={})
    finally:
        ws.close()
    value, previous = loop_metric(rows, DAY, period, aggregate, measure)
    assert res.conditions[0].value == pytest.approx(value)
    assert res.conditions[0].previous == pytest.approx(previous)
    assert res.triggered == (value > 2)


# -- segment series against a loop ---------------------------------------------------------------------
def membership_ws(spells):
    ws = workspace_from_frames(events=events([("a", "Placed Order", "2024-01-01T00:00:00", 1.0)]))
    frame = pd.DataFrame(spells, columns=["segment", "profile_id", "joined_at", "left_at"])
    for col in ("joined_at", "left_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
    ws.duckdb.register("_m", frame)
    ws.duckdb.execute("CREATE TABLE segment_membership AS SELECT segment, profile_id, joined_at::TIMESTAMPTZ AS joined_at,"
                      " left_at::TIMESTAMPTZ AS left_at FROM _m")
    ws.duckdb.unregister("_m")
    return ws


def loop_segment(spells, day, measure):
    end = pd.Timestamp(day + dt.timedelta(days=1), tz="UTC")
    start = pd.Timestamp(day, tz="UTC")
    n = 0
    for seg, _, j, l in spells:
        if seg != "S":
            continue
        j = pd.Timestamp(j, tz="UTC")
        l = None if l is None else pd.Timestamp(l, tz="UTC")
        if measure == "members":
            n += j < end and (l is None or l >= end)
        elif measure == "added":
            n += start <= j < end
        else:
            n += l is not None and start <= l < end
    return n


@st.composite
def spells(draw):
    out = [("S", "seed", "2024-03-01T23:59:59.999999", None)]
    for k in range(draw(st.integers(0, 15))):
        j = DAY - dt.timedelta(days=draw(st.integers(0, 8)))
        jt = pd.Timestamp(j) + pd.Timedelta(draw(st.sampled_from(["0h", "12h", "23:59:59.999999"])))
        left = None
        if draw(st.booleans()):
            left = jt + pd.Timedelta(days=draw(st.integers(0, 4)), hours=draw(st.sampled_from([0, 1])))
        out.append((draw(st.sampled_from(["S", "S", "T"])), f"p{k}", jt.isoformat(), None if left is None else left.isoformat()))
    return out


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=spells(), measure=st.sampled_from(["members", "added", "removed"]), period=st.integers(1, 3))
def test_segment_values_match_a_loop(rows, measure, period):
    ws = membership_ws(rows)
    try:
        m = parse_monitor({"name": "s", "kind": "segment", "segment": "S", "conditions": [
            {"measure": measure, "period_days": period, "op": ">", "threshold": 0}]})
        res = evaluate_monitor(ws, m, DAY)
    finally:
        ws.close()
    want = sum(loop_segment(rows, DAY - dt.timedelta(days=k), measure) for k in range(period))
    before = sum(loop_segment(rows, DAY - dt.timedelta(days=period + k), measure) for k in range(period))
    assert res.conditions[0].value == want
    assert res.conditions[0].previous == before


def test_unknown_segment_names_the_file(tmp_path):
    ws = membership_ws([("S", "p", "2024-03-01T00:00:00", None)])
    (tmp_path / "m.yaml").write_text("name: x\nkind: segment\nsegment: Engaged\nconditions:\n"
                                     "  - {measure: members, period_days: 1, op: '>', threshold: 0}\n")
    m = load_monitors(tmp_path)["x"]
    with pytest.raises(InputError, match=r"m.yaml, line 3: segment: segment 'Engaged' has no stored membership"):
        evaluate_monitor(ws, m, DAY)


# -- flow rates, with attribution -----------------------------------------------------------------------
def test_flow_rates_and_attributed_conversions():
    rows = [
        ("a", "Received Email", "2024-03-09T10:00:00", None, "F"),
        ("a", "Opened Email", "2024-03-09T11:00:00", None, "F"),
        ("a", "Clicked Email", "2024-03-09T11:05:00", None, "F"),
        ("a", "Placed Order", "2024-03-10T09:00:00", 50.0),  # credited to F's click (5 d window)
        ("b", "Received Email", "2024-03-09T10:00:00", None, "F"),
        ("b", "Received Email", "2024-03-09T10:00:00", None, "G"),
        ("b", "Opened Email", "2024-03-09T12:00:00", None, "G"),
        ("b", "Placed Order", "2024-03-10T09:00:00", 20.0),  # G's open is more recent: not F's
        ("c", "Bounced Email", "2024-03-10T10:00:00", None, "F"),
        ("c", "Received Email", "2024-03-10T10:00:00", None, "F"),
        ("c", "Received Email", "2024-03-01T10:00:00", None, "F"),  # before the 2-day period
    ]
    ws = workspace_from_frames(events=events(rows))
    conds = [{"measure": m, "period_days": 2, "op": ">", "threshold": 0} for m in
             ("delivered", "open_rate")]
    res = evaluate_monitor(ws, parse_monitor({"name": "f", "kind": "flow", "flow_id": "F", "conditions": conds}), DAY,
                           metrics={})
    assert res.conditions[0].value == 3  # three F deliveries on Mar 9-10
    assert res.conditions[1].value == pytest.approx(1 / 3)
    more = [{"measure": m, "period_days": 2, "op": ">", "threshold": 0} for m in ("bounce_rate", "conversion_rate")]
    res = evaluate_monitor(ws, parse_monitor({"name": "f", "kind": "flow", "flow_id": "F", "conditions": more}), DAY,
                           metrics={})
    assert res.conditions[0].value == pytest.approx(1 / 4)  # bounces / (delivered + bounces)
    assert res.conditions[1].value == pytest.approx(1 / 3)  # only a's order is F's
    with pytest.raises(InputError, match="flow 'H' has no message events"):
        evaluate_monitor(ws, parse_monitor({"name": "f", "kind": "flow", "flow_id": "H", "conditions": more}), DAY)


# -- episodes, alerts, reruns -----------------------------------------------------------------------------
def day_events(counts):
    """counts: {date: number of orders that day}."""
    rows = []
    for day, n in counts.items():
        rows += [("a", "Placed Order", f"{day}T12:00:00", 1.0)] * n
    return events(rows)


def threshold_monitor(repeat=None):
    return parse_monitor({"name": "busy", "kind": "metric", "metric": "Placed Order", "repeat_every_days": repeat,
                          "conditions": [{"measure": "count", "period_days": 1, "op": ">=", "threshold": 2}]})


PATTERN = [1, 2, 3, 2, 0, 2, 2, 2, 2, 2, 1]  # triggered days: 1-3, 5-9


def run_days(tmp_path, repeat, notify):
    days = [DAY + dt.timedelta(days=i) for i in range(len(PATTERN))]
    ws = workspace_from_frames(str(tmp_path / "cdp.duckdb"), events=day_events(dict(zip(days, PATTERN))))
    m = threshold_monitor(repeat)
    for day in days:
        run_monitors(ws, [m], day, notify, metrics={})
    return ws, days


def loop_alert_days(pattern, repeat):
    out, last, prev = [], None, False
    for i, n in enumerate(pattern):
        hit = n >= 2
        if hit and not prev:
            out.append(i)
            last = i
        elif hit and repeat and i - last >= repeat:
            out.append(i)
            last = i
        prev = hit
    return out


@pytest.mark.parametrize("repeat", [None, 2, 3])
def test_alert_once_per_episode_with_repeat(tmp_path, repeat):
    sent = []
    ws, days = run_days(tmp_path, repeat, lambda payload: sent.append(payload) or True)
    alerts = alerts_table(ws).sort_values("as_of")
    want = [days[i] for i in loop_alert_days(PATTERN, repeat)]
    assert [pd.Timestamp(d).date() for d in alerts.as_of] == want
    assert [p["as_of"] for p in sent] == [d.isoformat() for d in want]
    assert all(alerts.delivered)
    assert sent[0]["event"] == "monitor_triggered" and sent[0]["conditions"][0]["threshold"] == 2.0
    results = results_table(ws).sort_values("as_of")
    assert results.triggered.tolist() == [n >= 2 for n in PATTERN]
    starts = [None if pd.isna(s) else pd.Timestamp(s).date() for s in results.episode_start]
    assert starts == [None, days[1], days[1], days[1], None] + [days[5]] * 5 + [None]
    ws.close()


def test_rerun_same_day_replaces_and_never_duplicates(tmp_path):
    sent = []
    ws, days = run_days(tmp_path, None, lambda payload: sent.append(payload) or True)
    m = threshold_monitor()
    for _ in range(2):
        run_monitors(ws, [m], days[5], lambda payload: sent.append(payload) or True, metrics={})
    res = results_table(ws)
    assert len(res) == len(PATTERN)
    assert (res.as_of.astype(str) == str(days[5])).sum() == 1
    assert len(alerts_table(ws)) == 2 and len(sent) == 2
    ws.close()


def test_failed_delivery_is_recorded(tmp_path):
    ws, _ = run_days(tmp_path, None, lambda payload: False)
    assert alerts_table(ws).delivered.tolist() == [False, False]
    ws.close()


def test_evaluate_days_marks_triggers(tmp_path):
    days = [DAY + dt.timedelta(days=i) for i in range(len(PATTERN))]
    ws = workspace_from_frames(events=day_events(dict(zip(days, PATTERN))))
    frame = evaluate_days(ws, threshold_monitor(), days[0], days[-1], metrics={})
    assert frame.value_1.tolist() == [float(n) for n in PATTERN]
    assert frame.triggered.tolist() == [n >= 2 for n in PATTERN]


def test_bad_definition_stores_nothing(tmp_path):
    ws = workspace_from_frames(str(tmp_path / "cdp.duckdb"), events=day_events({DAY: 3}))
    bad = parse_monitor({"name": "b", "kind": "metric", "metric": "Placed Ordr",
                         "conditions": [{"measure": "count", "period_days": 1, "op": ">", "threshold": 1}]})
    with pytest.raises(InputError, match="Placed Ordr"):
        run_monitors(ws, [threshold_monitor(), bad], DAY, metrics={})
    assert not ws.has_table("monitor_results")
    ws.close()


# -- CLI -----------------------------------------------------------------------------------------------------
def test_cli_run_json_history_and_webhook(tmp_path, capsys, monkeypatch):
    db = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(db), events=day_events({DAY: 3, DAY - dt.timedelta(days=1): 1})).close()
    folder = tmp_path / "monitors"
    folder.mkdir()
    (folder / "busy.yaml").write_text(
        "name: busy\nkind: metric\nmetric: Placed Order\nconditions:\n"
        "  - {measure: count, period_days: 1, op: '>=', threshold: 2}\n"
        "  - {measure: count, period_days: 1, compare: absolute_change, direction: up, op: '>', threshold: 1}\n")
    (tmp_path / "schedule.yaml").write_text("settings:\n  webhook_url: http://127.0.0.1:9/hook\njobs: []\n")
    posted = []
    from cdp_lib.reports.schedule import notify

    monkeypatch.setattr(notify, "notify_webhook", lambda url, payload, timeout=10.0: posted.append((url, payload)) or True)
    args = ["--db", str(db), "monitor", "run", "--as-of", str(DAY), "--folder", str(folder),
            "--schedule", str(tmp_path / "schedule.yaml"), "--json"]
    assert main(args) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line == {"monitor": "busy", "kind": "metric", "as_of": str(DAY), "triggered": True, "conditions": [
        {"value": 3.0, "previous": 1.0, "threshold": 2.0}, {"value": 3.0, "previous": 1.0, "threshold": 1.0}]}
    assert main(args) == 0  # same day again: no second alert, no second post
    assert [url for url, _ in posted] == ["http://127.0.0.1:9/hook"]
    capsys.readouterr()
    assert main(["--db", str(db), "monitor", "history"]) == 0
    assert "busy" in capsys.readouterr().out
    assert main(["--db", str(db), "monitor", "list", "--folder", str(folder)]) == 0
    assert "count over the last 1 day(s) >= 2" in capsys.readouterr().out


def test_cli_bad_monitor_exits_2(tmp_path, capsys):
    db = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(db), events=day_events({DAY: 3})).close()
    folder = tmp_path / "monitors"
    folder.mkdir()
    (folder / "bad.yaml").write_text("name: bad\nkind: metric\nmetric: Placed Order\nconditions:\n"
                                     "  - {measure: count, period_days: 1, op: '=>', threshold: 2}\n")
    assert main(["--db", str(db), "monitor", "run", "--as-of", str(DAY), "--folder", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.yaml, line 5: conditions[0].op: expected one of" in err


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(pattern=st.lists(st.integers(0, 3), min_size=1, max_size=9), repeat=st.sampled_from([None, 1, 2, 4]))
def test_alert_days_match_the_loop_on_random_patterns(tmp_path_factory, pattern, repeat):
    days = [DAY + dt.timedelta(days=i) for i in range(len(pattern))]
    counts = {d: n for d, n in zip(days, pattern)}
    counts[DAY - dt.timedelta(days=30)] = 1  # the metric exists even when the pattern is all zeros
    ws = workspace_from_frames(str(tmp_path_factory.mktemp("ep") / "cdp.duckdb"), events=day_events(counts))
    m = threshold_monitor(repeat)
    sent = []
    try:
        for day in days:
            run_monitors(ws, [m], day, lambda payload: sent.append(payload["as_of"]) or True, metrics={})
        got = sorted(str(pd.Timestamp(d).date()) for d in alerts_table(ws).as_of)
    finally:
        ws.close()
    want = [str(days[i]) for i in loop_alert_days(pattern, repeat)]
    assert got == want and sent == want
