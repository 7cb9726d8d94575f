"""The RFM explorer, funnel explorer and KPI app: their library parts against plain loops and
hand-computed cases, and the apps at widget level (no browser)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import random
import re
import warnings
from collections import Counter, defaultdict

import pandas as pd
import pytest

from cdp_lib.apps.inputs import FieldError, check_date_range
from cdp_lib.errors import InputError
from cdp_lib.periods import comparison_period, year_earlier
from cdp_lib.testing import workspace_from_frames

D = dt.date


def _events(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["profile_id", "metric", "timestamp", "value"])
    df.insert(0, "event_id", [f"e{i:04d}" for i in range(len(df))])
    return df


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder of its own: saved segments land in its parameters/segments/."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "parameters" / "segments").mkdir(parents=True)
    monkeypatch.setenv("CDP_PROJECT_DIR", str(tmp_path))
    return tmp_path


# -- inputs and periods ----------------------------------------------------------------------
def test_date_range_checks_speak_plainly():
    today = D(2025, 6, 30)
    assert check_date_range(D(2025, 6, 1), D(2025, 6, 30), today=today) == (D(2025, 6, 1), D(2025, 6, 30))
    assert check_date_range(D(2025, 6, 5), D(2025, 6, 5), today=today) == (D(2025, 6, 5), D(2025, 6, 5))
    with pytest.raises(FieldError, match=r"^To 2025-07-01 is in the future: pick 2025-06-30 \(today, UTC\)") as e:
        check_date_range(D(2025, 6, 1), D(2025, 7, 1), today=today)
    assert e.value.field == "end" and isinstance(e.value, InputError)
    with pytest.raises(FieldError, match="From 2025-06-10 is after To 2025-06-09") as e:
        check_date_range(D(2025, 6, 10), D(2025, 6, 9), today=today)
    assert e.value.field == "start"
    with pytest.raises(FieldError, match="Start 2025-06-05 is on or after End 2025-06-05"):
        check_date_range(D(2025, 6, 5), D(2025, 6, 5), start_label="Start", end_label="End", strict=True, today=today)
    with pytest.raises(FieldError, match="To: pick a date"):
        check_date_range(D(2025, 6, 5), None, today=today)


def test_comparison_periods():
    assert comparison_period(D(2025, 3, 8), D(2025, 3, 14)) == (D(2025, 3, 1), D(2025, 3, 7))
    assert comparison_period(D(2025, 3, 1), D(2025, 3, 31)) == (D(2025, 1, 29), D(2025, 2, 28))
    assert comparison_period(D(2025, 3, 8), D(2025, 3, 14), "last_year") == (D(2024, 3, 8), D(2024, 3, 14))
    assert comparison_period(D(2024, 2, 29), D(2024, 3, 6), "last_year") == (D(2023, 2, 28), D(2023, 3, 6))
    assert year_earlier(D(2025, 2, 28)) == D(2024, 2, 28)
    with pytest.raises(InputError, match="comparison: expected one of"):
        comparison_period(D(2025, 3, 8), D(2025, 3, 14), "yesterday")
    with pytest.raises(InputError, match="is before its start"):
        comparison_period(D(2025, 3, 8), D(2025, 3, 1))


# -- fixed-list segments -----------------------------------------------------------------------
def test_fixed_list_segments_round_trip_through_the_library_at_the_size_limit(tmp_path):
    from cdp_lib.segments import load_library, save_definition
    from cdp_lib.segments.lists import MAX_LIST_PEOPLE, list_definition

    ids = [f"p{i:06d}" for i in range(MAX_LIST_PEOPLE)]
    save_definition(list_definition("Big list", reversed(ids)), tmp_path)
    loaded = load_library(tmp_path)["Big list"]  # through the file guard (10,000 YAML nodes)
    assert loaded.conditions[0]["value"] == ids
    with pytest.raises(InputError, match=r"5,001 people is more than a fixed list holds \(5,000\)"):
        list_definition("Too big", [*ids, "p999999"])
    with pytest.raises(InputError, match="nobody to save"):
        list_definition("Empty", [])
    with pytest.raises(InputError, match="type a name"):
        list_definition("  ", ["p1"])


# -- RFM transitions ---------------------------------------------------------------------------
def _rfm_store(seed: int, n: int = 60):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        pid = f"c{i:03d}"
        for _ in range(rng.choice([0, 1, 1, 2, 3, 5, 8])):
            day = D(2024, 1, 1) + dt.timedelta(days=rng.randrange(0, 546))
            rows.append((pid, "Placed Order", f"{day}T{rng.randrange(24):02d}:00:00", round(rng.uniform(5, 300), 2)))
        rows.append((pid, "Viewed Product", "2024-01-01T00:00:00", None))
    profiles = pd.DataFrame({"profile_id": [f"c{i:03d}" for i in range(n)],
                             "email": [f"c{i}@example.com" if i % 3 else None for i in range(n)]})
    return workspace_from_frames(events=_events(rows), profiles=profiles)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rfm_pairs_revenue_share_and_members_match_plain_loops(seed):
    from cdp_lib.rfm import NEVER_PURCHASED, NOT_SCORED, RfmParams, rfm_change, rfm_transition_table
    from cdp_lib.rfm.transitions import rfm_pairs_table, rfm_revenue_share_table, transition_members_table

    ws = _rfm_store(seed)
    lookback = [None, 200, 400][seed - 1]  # a lookback leaves some start customers unscored at the end
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the prerequisites warning of a tiny store
        change = rfm_change(ws, "2025-01-15", "2025-06-30", RfmParams(force=True, lookback_days=lookback))
        start, end = change.start.execute(), change.end.execute()
        pairs = rfm_pairs_table(change.start, change.end).execute()
        share = rfm_revenue_share_table(change.end).execute()
        library = rfm_transition_table(change.start, change.end).execute()
    s_group = dict(zip(start.profile_id, start.rfm_group))
    e_group = dict(zip(end.profile_id, end.rfm_group))
    expected = Counter((s_group.get(p, NEVER_PURCHASED), e_group.get(p, NOT_SCORED)) for p in {*s_group, *e_group})
    got = Counter(zip(pairs.from_group, pairs.to_group))
    assert got == expected == Counter({(r.from_group, r.to_group): r.customers for r in library.itertuples()})
    assert pairs.profile_id.is_unique and len(pairs) == len({*s_group, *e_group})
    emails = dict(zip(ws.profiles.execute().profile_id, ws.profiles.execute().email))
    for r in pairs.itertuples():
        assert (r.email if isinstance(r.email, str) else None) == emails[r.profile_id]
    # revenue share: sum of monetary per group over all, in %
    revenue = defaultdict(float)
    for r in end.itertuples():
        revenue[r.rfm_group] += r.monetary
    total = sum(revenue.values())
    for r in share.itertuples():
        assert r.revenue == pytest.approx(revenue[r.rfm_group])
        assert r.revenue_share == pytest.approx(100 * revenue[r.rfm_group] / total)
        assert r.customer_share == pytest.approx(100 * (end.rfm_group == r.rfm_group).sum() / len(end))
    assert share.revenue_share.sum() == pytest.approx(100)
    (f, t), n = expected.most_common(1)[0]
    import ibis

    members = transition_members_table(ibis.memtable(pairs), f, t).execute()
    want = sorted(p for p in {*s_group, *e_group} if (s_group.get(p, NEVER_PURCHASED), e_group.get(p, NOT_SCORED)) == (f, t))
    assert members.profile_id.tolist() == want and len(want) == n
    with pytest.raises(InputError, match="from_group: 'Champion' is not one of"):
        transition_members_table(ibis.memtable(pairs), "Champion", t)


def test_a_saved_transition_rule_matches_the_list_when_rfm_stored_those_two_dates(project):
    """The rule segment (current/previous RFM group) holds the explorer's customers once `cdp rfm`
    has stored the same two dates' scores, and `cdp segment refresh` accepts it."""
    from cdp_lib.apps.people import save_segment
    from cdp_lib.rfm import GROUP_ORDER, RfmParams, rfm_change, save_rfm_snapshot
    from cdp_lib.segments.lists import transition_rule
    from cdp_lib.segments import count_members, load_definition, refresh

    ws = _rfm_store(7, n=120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        change = rfm_change(ws, "2024-10-01", "2025-06-30", RfmParams(force=True))
        start, end = change.start.execute(), change.end.execute()
    save_rfm_snapshot(ws, start, D(2024, 10, 1))
    save_rfm_snapshot(ws, end, D(2025, 6, 30))
    s_group, e_group = dict(zip(start.profile_id, start.rfm_group)), dict(zip(end.profile_id, end.rfm_group))
    moves = Counter((s_group[p], e_group[p]) for p in s_group if p in e_group and s_group[p] != e_group[p])
    assert moves, "the fixture must have customers changing group"
    for (f, t), n in moves.items():
        assert count_members(ws, transition_rule(f"{f} to {t}", f, t), as_of="2025-06-30") == n
    (f, t), n = moves.most_common(1)[0]
    path = save_segment(transition_rule("Moved", f, t))
    assert path == str(project / "parameters" / "segments" / "moved.yaml")
    assert load_definition(path).conditions[0]["value"] == t
    result = refresh(ws, folder=str(project / "parameters" / "segments"), as_of="2025-06-30")
    assert int(result.set_index("segment").loc["Moved", "members"]) == n
    with pytest.raises(InputError, match="a segment named 'Moved' already exists"):
        save_segment(transition_rule("Moved", f, t))
    with pytest.raises(InputError, match="cannot be a rule"):
        transition_rule("x", GROUP_ORDER[0], GROUP_ORDER[0])
    with pytest.raises(InputError, match="cannot be a rule"):
        transition_rule("x", "Never purchased", GROUP_ORDER[0])


# -- funnel drop-outs and comparison -----------------------------------------------------------
FUNNEL = [
    # a completes; b stops after Added to Cart; c after Viewed; d after Checkout; e's cart is
    # 10 days late (7-day window): stops after Viewed; f never views (not in the funnel).
    ("a", "Viewed Product", "2025-06-02T10:00:00"), ("a", "Added to Cart", "2025-06-02T10:05:00"),
    ("a", "Started Checkout", "2025-06-02T10:10:00"), ("a", "Placed Order", "2025-06-02T10:20:00"),
    ("b", "Viewed Product", "2025-06-03T10:00:00"), ("b", "Added to Cart", "2025-06-04T10:00:00"),
    ("c", "Viewed Product", "2025-06-05T10:00:00"),
    ("d", "Viewed Product", "2025-06-06T10:00:00"), ("d", "Added to Cart", "2025-06-06T11:00:00"),
    ("d", "Started Checkout", "2025-06-06T12:00:00"),
    ("e", "Viewed Product", "2025-06-07T10:00:00"), ("e", "Added to Cart", "2025-06-17T10:00:00"),
    ("f", "Added to Cart", "2025-06-08T10:00:00"),
    # a help click between a's view and order: excluded when the exclusion is on
    ("a", "Clicked Help", "2025-06-02T10:15:00"),
    # the previous 30 days (2025-05-02 .. 2025-05-31): g completes, h views only
    ("g", "Viewed Product", "2025-05-10T10:00:00"), ("g", "Added to Cart", "2025-05-10T10:01:00"),
    ("g", "Started Checkout", "2025-05-10T10:02:00"), ("g", "Placed Order", "2025-05-10T10:03:00"),
    ("h", "Viewed Product", "2025-05-11T10:00:00"),
]
STEPS = ["Viewed Product", "Added to Cart", "Started Checkout", "Placed Order"]


@pytest.fixture
def funnel_ws():
    rows = [(p, m, t, 10.0 if m == "Placed Order" else None) for p, m, t in FUNNEL]
    profiles = pd.DataFrame({"profile_id": list("abcdefgh"), "email": [f"{p}@example.com" for p in "abcdefgh"]})
    w = workspace_from_frames(events=_events(rows), profiles=profiles)
    yield w
    w.close()


def test_people_who_dropped_at_each_step_hand_computed(funnel_ws):
    from cdp_lib.funnel import funnel_params, funnel_people_table
    from cdp_lib.funnel.explore import dropped_at_step_table

    params = funnel_params(STEPS, "7d", "2025-06-01", "2025-06-30")
    people = funnel_people_table(funnel_ws, params)
    dropped = {k: dropped_at_step_table(funnel_ws, people, k, 4).execute() for k in (1, 2, 3)}
    assert {k: df.profile_id.tolist() for k, df in dropped.items()} == {1: ["c", "e"], 2: ["b"], 3: ["d"]}
    assert dropped[2].email.tolist() == ["b@example.com"]
    assert not any(c.startswith("seconds_to_step_") for c in dropped[1].columns)
    with pytest.raises(InputError, match="expected a step from 1 to 3"):
        dropped_at_step_table(funnel_ws, people, 4, 4)


def test_compare_steps_puts_the_comparison_next_to_each_step(funnel_ws):
    from cdp_lib.funnel import funnel_frame, funnel_params
    from cdp_lib.funnel.explore import compare_steps

    now = funnel_frame(funnel_ws, funnel_params(STEPS, "7d", "2025-06-01", "2025-06-30"))
    then = funnel_frame(funnel_ws, funnel_params(STEPS, "7d", "2025-05-02", "2025-05-31"))
    out = compare_steps(now, then)
    # now: 5 enter (a-e), 3 carts in window (a, b, d), 2 checkouts, 1 order; then: 2 enter, 1 completes
    assert out.profiles.tolist() == [5, 3, 2, 1] and out.profiles_compared.tolist() == [2, 1, 1, 1]
    assert out.change_points.round(6).tolist() == [0.0, 10.0, -10.0, -30.0]


# -- KPI comparison, sparklines and attribution ------------------------------------------------
KPI_EVENTS = [
    ("a", "Placed Order", "2025-03-10T10:00:00", 100.0), ("a", "Clicked Email", "2025-03-07T09:00:00", None),
    ("b", "Placed Order", "2025-03-10T10:00:00", 50.0), ("b", "Received SMS", "2025-03-10T00:00:00", None),
    ("b", "Opened Email", "2025-03-09T00:00:00", None),  # earlier than b's SMS: the SMS is the last touch
    ("c", "Placed Order", "2025-03-10T10:00:00", 30.0), ("c", "Opened SMS", "2025-03-08T10:00:00", None),  # 1 d: expired
    ("a", "Placed Order", "2025-03-13T10:00:00", 20.0),  # a's click is 6 days old: not attributed
    ("a", "Created Account", "2024-03-01T08:00:00", None), ("b", "Created Account", "2025-03-09T08:00:00", None),
    ("c", "Placed Order", "2024-03-09T10:00:00", 40.0), ("c", "Clicked Email", "2024-03-09T09:00:00", None),
    ("d", "Placed Order", "2024-03-12T10:00:00", 60.0),
    ("d", "Placed Order", "2025-03-03T10:00:00", 7.0),
]


@pytest.fixture
def kpi_ws():
    w = workspace_from_frames(events=_events(KPI_EVENTS))
    yield w
    w.close()


def test_kpi_overview_against_the_same_period_last_year(kpi_ws):
    from cdp_lib.kpi import kpi_overview

    df = kpi_overview(kpi_ws, "2025-03-08", "2025-03-14", comparison="last_year").set_index("metric")
    assert (df.loc["Revenue", "value"], df.loc["Revenue", "previous"]) == (200.0, 100.0)  # 2024-03-08..14: 40 + 60
    assert df.loc["Revenue", "change_pct"] == 100.0
    assert (df.loc["Orders", "value"], df.loc["Orders", "previous"]) == (4, 2)
    assert (df.loc["Total accounts", "value"], df.loc["Total accounts", "previous"]) == (2, 1)
    prev = kpi_overview(kpi_ws, "2025-03-08", "2025-03-14").set_index("metric")
    assert prev.loc["Revenue", "previous"] == 7.0  # the default stays the 7 days before
    # longer than a year: the two periods overlap (2024-03-01..14); orders there count in both
    long = kpi_overview(kpi_ws, "2024-03-01", "2025-03-14", comparison="last_year").set_index("metric")
    assert (long.loc["Revenue", "value"], long.loc["Revenue", "previous"]) == (307.0, 100.0)
    assert (long.loc["Orders", "value"], long.loc["Orders", "previous"]) == (7, 2)


def test_email_and_sms_attributed_revenue_hand_computed(kpi_ws):
    from cdp_lib.kpi import Period
    from cdp_lib.kpi.views import channel_revenue_overview

    period = Period(D(2025, 3, 8), D(2025, 3, 14))
    df, daily = channel_revenue_overview(kpi_ws, period, period.compared("last_year"))
    df = df.set_index("metric")
    assert df.loc["Email-attributed revenue", ["value", "previous"]].tolist() == [100.0, 40.0]
    assert df.loc["SMS-attributed revenue", ["value", "previous"]].tolist() == [50.0, 0.0]
    assert df.loc["Email-attributed revenue", "change_pct"] == 150.0
    assert pd.isna(df.loc["SMS-attributed revenue", "change_pct"]) and df.loc["SMS-attributed revenue", "good"]
    assert daily["Email-attributed revenue"].value.tolist() == [100.0]


@pytest.mark.parametrize("rolled_up", [False, True], ids=["events", "rollups"])
@pytest.mark.parametrize("seed", [11, 12])
def test_kpi_daily_values_match_a_plain_loop(seed, rolled_up):
    from cdp_lib.kpi import ACCOUNT_DASHBOARD, Period, kpi_overview, rollup_build
    from cdp_lib.kpi.views import kpi_sparklines

    rng = random.Random(seed)
    metrics = ["Placed Order", "Created Account", "Clicked Help", "Viewed Product", "Received Email",
               "Added to Cart", "Ordered Product"]
    rows = []
    for _ in range(400):
        p = f"p{rng.randrange(25)}"
        m = rng.choice(metrics)
        t = dt.datetime(2025, 3, 1) + dt.timedelta(minutes=rng.randrange(0, 20 * 24 * 60))
        rows.append((p, m, t.isoformat(), round(rng.uniform(1, 90), 2) if m in {"Placed Order", "Ordered Product"} else None))
    ws = workspace_from_frames(events=_events(rows))
    if rolled_up:  # the same figures from an app snapshot's daily roll-ups
        rollup_build.build(ws)
    period = Period(D(2025, 3, 5), D(2025, 3, 18))
    series = kpi_sparklines(ws, period, ACCOUNT_DASHBOARD)
    ev = [(p, m, dt.datetime.fromisoformat(t), v) for p, m, t, v in rows]
    first_account = {}
    for p, m, t, _ in sorted(ev, key=lambda r: r[2]):
        if m == "Created Account":
            first_account.setdefault(p, t)
    days = [period.start + dt.timedelta(days=i) for i in range(period.days)]
    for day in days:
        today = [r for r in ev if r[2].date() == day]
        orders = [v for p, m, t, v in today if m == "Placed Order"]
        want = {
            "New accounts": len({p for p, m, _, _ in today if m == "Created Account"}),
            "Active accounts": len({p for p, m, _, _ in today if m != "Received Email" and p in first_account
                                    and first_account[p].date() <= day}),
            "Service interactions": sum(1 for _, m, _, _ in today if m == "Clicked Help"),
            "Revenue": sum(orders), "Orders": len(orders),
            "Average order value": sum(orders) / len(orders) if orders else None,
            "Total accounts": len({p for p, t in first_account.items() if t.date() <= day}),
        }
        for label, value in want.items():
            got = series[label].set_index("period")["value"]
            key = pd.Timestamp(day)
            present = key in set(pd.to_datetime(got.index))
            if label == "Total accounts":  # a running count: on days with a new account
                got_v = got[pd.to_datetime(got.index) <= key]
                assert (got_v.iloc[-1] if len(got_v) else 0) == value or not present, (label, day)
                continue
            if not value:
                assert not present or got[pd.to_datetime(got.index) == key].iloc[0] == 0, (label, day)
            else:
                assert got[pd.to_datetime(got.index) == key].iloc[0] == pytest.approx(value), (label, day)
    # the days add up to the card (for additive measures)
    overview = kpi_overview(ws, period.start, period.end).set_index("metric")
    for label in ("Revenue", "Orders", "Service interactions", "Revenue from account-page adds"):
        assert series[label]["value"].sum() == pytest.approx(overview.loc[label, "value"]), label


# -- the apps, widget level ----------------------------------------------------------------------
def _spark_count(html_text: str) -> int:
    return len(re.findall(r'<img class="cdp-spark"', html_text))


def test_kpi_app_comparison_currency_sparklines_and_invalid_dates(kpi_ws):
    from cdp_lib.apps import KpiApp
    from cdp_lib.kpi import kpi_overview

    app = KpiApp(workspace=kpi_ws, currency="EUR")
    app.start.value, app.end.value = D(2025, 3, 8), D(2025, 3, 14)
    app.compare.value = "same period last year"
    assert app.error is None
    assert "compared with <b>2024-03-08 – 2024-03-14</b> (same period last year)" in app.comparison.value
    expected = kpi_overview(kpi_ws, "2025-03-08", "2025-03-14", comparison="last_year").set_index("metric")
    card = lambda m: re.search(rf'data-metric="{m}">.*?cdp-value">([^<]*)<.*?cdp-change [a-z-]+">([^<]*)<'  # noqa: E731
                               rf'.*?same period last year: <span class="cdp-previous">([^<]*)<', app.cards.value).groups()
    assert card("Revenue") == ("€200.00", "▲ +100.0 %", "€100.00")
    assert expected.loc["Revenue", "previous"] == 100.0
    assert card("Email-attributed revenue") == ("€100.00", "▲ +150.0 %", "€40.00")
    assert card("SMS-attributed revenue") == ("€50.00", "▲ n/a", "€0.00")
    assert card("Orders") == ("4", "▲ +100.0 %", "2")
    assert _spark_count(app.cards.value) >= 2  # days with orders: a trend line on those cards
    assert "None" not in app.cards.value and "nan" not in app.cards.value.lower()
    app.end.value = D(2099, 1, 1)
    assert "To 2099-01-01 is in the future" in app.dates_message.value
    assert app.cards.value == "" and app.breakdown_chart.value == b"" and app.overview is None
    app.end.value = D(2025, 3, 14)
    assert app.dates_message.value == "" and app.error is None and "€200.00" in app.cards.value


def test_funnel_app_comparison_exclusion_and_drop_outs_saved(funnel_ws, project):
    from cdp_lib.apps import FunnelExplorerApp
    from cdp_lib.segments import load_definition

    app = FunnelExplorerApp(workspace=funnel_ws)
    app.start.value, app.end.value = D(2025, 6, 1), D(2025, 6, 30)
    assert app.error is None and app.result.profiles.tolist() == [5, 3, 2, 1]
    assert "<td>60.0</td>" in app.table.value  # conversion to step 2 in %: 3 of 5
    app.compare.value = "previous period"
    assert "compared with <b>2025-05-02 – 2025-05-31</b>" in app.period_html.value
    assert app.compared.profiles_compared.tolist() == [2, 1, 1, 1]
    assert app.extra_chart.value[:4] == b"\x89PNG"
    app.dropped_step.value = 1
    assert app.panel.people.profile_id.tolist() == ["c", "e"]
    assert "<b class='cdp-people'>2</b> people" in app.panel.summary.value
    csv = re.search(r'href="data:text/csv;base64,([^"]+)"', app.panel.summary.value).group(1)
    assert pd.read_csv(io.BytesIO(base64.b64decode(csv))).profile_id.tolist() == ["c", "e"]
    app.panel.name.value = "Viewed, no cart"
    app.panel.save_button.click()
    saved = project / "parameters" / "segments" / "viewed_no_cart.yaml"
    assert app.panel.saved_path == str(saved) and "Saved segment" in app.panel.message.value
    assert load_definition(saved).conditions[0]["value"] == ["c", "e"]
    app.panel.save_button.click()
    assert "already exists" in app.panel.message.value
    app.exclude.value = "Clicked Help"  # between steps 1 and 4 by default: a's entry is lost
    assert app.error is None and app.result.profiles.tolist() == [4, 2, 1, 0]
    app.exclude_after.value = 4
    assert "pick steps with after &lt; before" in app.exclusion_message.value
    assert app.table.value == "" and app.chart.value == b"" and app.panel.people is None
    app.exclude.value = "—"
    app.start.value = D(2025, 7, 1)
    assert "From 2025-07-01 is after To 2025-06-30" in app.dates_message.value
    for s in app.steps[1:]:
        s.value = "—"
    assert "Pick at least two steps" in app.steps_message.value


def test_rfm_app_click_a_transition_lists_and_saves_it(project):
    from cdp_lib.apps import RfmExplorerApp
    from cdp_lib.rfm import RfmParams
    from cdp_lib.segments import count_members, load_definition

    ws = _rfm_store(5, n=80)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        app = RfmExplorerApp(workspace=ws, params=RfmParams(force=True))
        app.end.value = D(2025, 6, 30)
        app.start.value = D(2024, 12, 1)
    assert app.error is None
    assert app.share is not None and all(c.value[:4] == b"\x89PNG" for c in
                                         (app.distribution_chart, app.change_chart, app.share_chart))
    moves = app.transitions[(app.transitions.from_group != app.transitions.to_group)]
    top = moves.sort_values(["customers", "from_group"], ascending=[False, True]).iloc[0]
    button = app.matrix_buttons[(top.from_group, top.to_group)]
    assert button.description == f"{top.customers:,}"
    button.click()
    assert button.button_style == "info"
    listed = app.panel.people
    want = app.pairs[(app.pairs.from_group == top.from_group) & (app.pairs.to_group == top.to_group)]
    assert listed.profile_id.tolist() == sorted(want.profile_id) and len(listed) == top.customers
    app.panel.name.value = "Movers"
    app.panel.save_button.click()
    saved = project / "parameters" / "segments" / "movers.yaml"
    assert app.panel.saved_path == str(saved)
    assert count_members(ws, load_definition(saved)) == len(listed)
    assert f"It has {len(listed):,} members now." in app.panel.message.value
    app.panel.mode.value = "rule (follows cdp rfm)"
    app.panel.name.value = "Movers rule"
    app.panel.save_button.click()
    if top.from_group == "Never purchased":
        assert "cannot be a rule" in app.panel.message.value
    else:  # saved, but the workspace has no RFM attributes yet: say what to run
        assert "It has no members yet" in app.panel.message.value and "run &#x27;cdp rfm&#x27; first" in \
            app.panel.message.value
    app.end.value = D(2024, 11, 1)  # before the start
    assert "Start 2024-12-01 is after End 2024-11-01" in app.dates_message.value
    assert app.distribution_html.value == "" and app.matrix_box.children == () and app.panel.people is None


def test_long_in_lists_select_the_same_people_as_short_ones():
    """Lists longer than `filters.LONG_LIST` go through an in-memory table (fast to compile): the
    same members as a plain loop, for in / not_in, case-insensitive, and people without the property."""
    from cdp_lib.filters import LONG_LIST
    from cdp_lib.segments import members_table

    n = 3 * LONG_LIST + 30
    emails = [None if i % 7 == 0 else f"Person{i}@Example.com" for i in range(n)]
    profiles = pd.DataFrame({"profile_id": [f"p{i:04d}" for i in range(n)], "email": emails})
    ws = workspace_from_frames(profiles=profiles, events=_events([("p0000", "Viewed Product", "2025-01-01T00:00:00", None)]))
    picked = [f"p{i:04d}" for i in range(0, n, 2)]  # longer than LONG_LIST
    wanted_mail = [f"PERSON{i}@EXAMPLE.COM" for i in range(0, n, 3)]
    cases = [
        ({"property": "profile_id", "op": "in", "value": picked}, lambda i, e: i % 2 == 0),
        ({"property": "profile_id", "op": "not_in", "value": picked}, lambda i, e: i % 2 == 1),
        ({"property": "email", "op": "in", "value": wanted_mail, "case": "insensitive"},
         lambda i, e: e is not None and i % 3 == 0),
        ({"property": "email", "op": "not_in", "value": wanted_mail, "case": "insensitive"},
         lambda i, e: e is None or i % 3 != 0),  # not set counts for a negative operator
    ]
    assert len(wanted_mail) > LONG_LIST
    for cond, rule in cases:
        got = sorted(members_table(ws, {"name": "t", "conditions": [cond]}, library={}).execute().profile_id)
        assert got == [f"p{i:04d}" for i, e in enumerate(emails) if rule(i, e)], cond["op"]
