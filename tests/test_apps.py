"""Apps at widget level (no browser): set widget values, compare what is shown with the library."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from cdp_lib.apps import KpiApp
from cdp_lib.apps.base import fmt
from cdp_lib.kpi import kpi_breakdown, kpi_overview
from cdp_lib.snapshots import current_snapshot, publish
from cdp_lib.testing import workspace_from_frames

EVENTS = [
    ("a", "Created Account", "2025-02-20T08:00:00", None),
    ("b", "Created Account", "2025-03-03T08:00:00", None),
    ("c", "Created Account", "2025-03-10T08:00:00", None),
    ("a", "Clicked Help", "2025-03-09T12:00:00", None),
    ("b", "Tracked Order", "2025-03-05T12:00:00", None),
    ("a", "Placed Order", "2025-03-09T10:00:00", 100.0),
    ("c", "Placed Order", "2025-03-11T10:00:00", 50.0),
    ("b", "Placed Order", "2025-03-05T10:00:00", 30.0),
]


def _events(rows=EVENTS) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["profile_id", "metric", "timestamp", "value"])
    df.insert(0, "event_id", [f"e{i}" for i in range(len(df))])
    return df


@pytest.fixture
def ws():
    w = workspace_from_frames(events=_events())
    yield w
    w.close()


def shown_cards(app: KpiApp) -> dict[str, tuple[str, str, str]]:
    """metric -> (value, change, previous) exactly as the cards display them."""
    cards = re.findall(
        r'data-metric="([^"]+)".*?cdp-value">([^<]*)<.*?cdp-change ([a-z-]+)">([^<]*)<.*?cdp-previous">([^<]*)<',
        app.cards.value,
    )
    return {m: (v, change, css, prev) for m, v, css, change, prev in cards}


def test_kpi_app_opens_on_the_last_30_days_of_data(ws):
    app = KpiApp(workspace=ws)
    assert app.error is None
    assert (app.start.value, app.end.value) == (dt.date(2025, 2, 10), dt.date(2025, 3, 11))
    assert "compared with <b>2025-01-11 – 2025-02-09</b>" in app.comparison.value
    assert app.status.value == ""  # the loading line is gone once rendered


def test_kpi_app_shows_the_library_numbers_for_the_picked_range(ws):
    app = KpiApp(workspace=ws)
    app.start.value = dt.date(2025, 3, 8)
    app.end.value = dt.date(2025, 3, 14)
    assert app.preset.value == "Custom" and app.error is None
    expected = kpi_overview(ws, "2025-03-08", "2025-03-14")
    cards = shown_cards(app)
    assert list(cards) == [*expected["metric"], "Email-attributed revenue", "SMS-attributed revenue"]
    for row in expected.itertuples():
        money = row.metric in {"Revenue", "Average order value", "Revenue from account-page adds"}
        value, change, css, previous = cards[row.metric]
        want = (lambda v: "$" + fmt(v, 2)) if money else (lambda v: fmt(v, 0))  # noqa: E731
        assert value == want(row.value) and previous == want(row.previous)
    # Hand-checked: revenue 150 vs 30 (+400 %, green); service interactions 1 vs 1 (flat).
    assert cards["Revenue"] == ("$150.00", "▲ +400.0 %", "cdp-up-good", "$30.00")
    assert cards["Average order value"] == ("$75.00", "▲ +150.0 %", "cdp-up-good", "$30.00")
    assert cards["Service interactions"] == ("1", "→ +0.0 %", "cdp-flat", "1")
    assert cards["Email-attributed revenue"] == ("$0.00", "→ n/a", "cdp-flat", "$0.00")  # no email events
    pd.testing.assert_frame_equal(app.breakdown, kpi_breakdown(ws, "2025-03-08", "2025-03-14"))
    assert app.series["value"].tolist() == [100.0, 50.0]
    assert app.breakdown_chart.value[:4] == b"\x89PNG"


def test_kpi_app_marks_bad_news_red(ws):
    app = KpiApp(workspace=ws)
    app.start.value, app.end.value = dt.date(2025, 3, 1), dt.date(2025, 3, 7)
    # 1 service interaction against 0 before: a rise, and bad news.
    assert shown_cards(app)["Service interactions"][2] == "cdp-up-bad"
    app.start.value, app.end.value = dt.date(2025, 3, 8), dt.date(2025, 3, 14)
    assert shown_cards(app)["New accounts"][2] == "cdp-flat"


def test_kpi_app_preset_sets_the_dates(ws):
    app = KpiApp(workspace=ws)
    app.preset.value = "Last 7 days"
    assert (app.start.value, app.end.value) == (dt.date(2025, 3, 5), dt.date(2025, 3, 11))
    assert shown_cards(app)["Revenue"][0] == "$180.00"


def test_kpi_app_shows_input_errors_instead_of_failing(ws):
    app = KpiApp(workspace=ws)
    app.start.value = dt.date(2025, 3, 20)  # after the end date
    assert "From 2025-03-20 is after To 2025-03-11" in app.dates_message.value
    assert "cdp-error" in app.dates_message.value and app.status.value == ""
    assert app.cards.value == "" and app.overview is None  # nothing stale left on screen
    assert not any(c.disabled for c in app.controls)  # controls usable again after a failure


def test_apps_read_the_published_snapshot_and_follow_new_ones(tmp_path):
    db = tmp_path / "cdp.duckdb"
    w = workspace_from_frames(str(db), events=_events())
    w.close()
    publish(db)
    app = KpiApp(db=db)
    app.preset.value = "Last 7 days"
    assert shown_cards(app)["Orders"][0] == "3"
    w = workspace_from_frames(str(db), events=_events(EVENTS + [("d", "Placed Order", "2025-03-10T10:00:00", 20.0)]))
    w.close()
    app.refresh()
    assert shown_cards(app)["Orders"][0] == "3"  # not published yet: the app keeps its snapshot
    publish(db)
    app.refresh()
    assert shown_cards(app)["Orders"][0] == "4"
    app.close()


# -- apps over the demo store (3,000 people, history ending 2025-06-30) -------------------------
@pytest.fixture(scope="module")
def demo(demo_store_path):
    from cdp_lib import Workspace

    w = Workspace(demo_store_path, read_only=True)
    yield w
    w.close()


@pytest.mark.slow
def test_rfm_explorer_shows_rfm_change_and_lists_a_group(demo):
    import base64

    from cdp_lib.apps import RfmExplorerApp
    from cdp_lib.rfm import rfm_change

    app = RfmExplorerApp(workspace=demo)
    assert app.error is None
    assert (app.start.value, app.end.value) == (dt.date(2025, 4, 1), dt.date(2025, 6, 30))
    app.start.value = dt.date(2025, 3, 1)
    expected = rfm_change(demo, "2025-03-01", "2025-06-30")
    pd.testing.assert_frame_equal(app.distribution, expected.distribution.execute())
    pd.testing.assert_frame_equal(app.transitions, expected.transitions.execute())
    dist = app.distribution.set_index("rfm_group")
    app.group.value = "At Risk"
    assert len(app.customers) == dist.loc["At Risk", "customers_end"] > 0
    assert f"<b class='cdp-members'>{dist.loc['At Risk', 'customers_end']:,}</b>" in app.customers_html.value
    link = re.search(r'href="data:text/csv;base64,([^"]+)"', app.customers_html.value).group(1)
    exported = pd.read_csv(__import__("io").BytesIO(base64.b64decode(link)))
    assert exported["profile_id"].tolist() == app.customers["profile_id"].tolist()
    assert set(exported.columns) >= {"profile_id", "recency_days", "frequency", "monetary", "rfm_group"}


@pytest.mark.slow
def test_funnel_explorer_matches_funnel_frame(demo):
    from cdp_lib.apps import FunnelExplorerApp
    from cdp_lib.funnel import funnel_frame, funnel_params

    app = FunnelExplorerApp(workspace=demo)
    assert app.error is None
    assert [s.value for s in app.steps[:4]] == ["Viewed Product", "Added to Cart", "Started Checkout", "Placed Order"]
    app.steps[2].value = "—"  # drop Started Checkout
    app.window.value = "1d"
    expected = funnel_frame(demo, funnel_params(["Viewed Product", "Added to Cart", "Placed Order"], "1d",
                                                "2025-06-01", "2025-06-30"))
    pd.testing.assert_frame_equal(app.result, expected)
    for n in expected["profiles"]:
        assert f"<td>{fmt(int(n))}</td>" in app.table.value
    app.breakdown.value = "channel"
    assert app.error is None and "channel" in app.result.columns


@pytest.mark.slow
def test_segment_builder_counts_samples_and_saves(demo, tmp_path):
    import yaml

    from cdp_lib.apps import SegmentBuilderApp
    from cdp_lib.segments import count_members, load_definition

    app = SegmentBuilderApp(workspace=demo, folder=tmp_path)
    row, other = app.rows[0], app.rows[1]
    row.metric.value = "Placed Order"
    row.count.value = 3
    other.kind.value = "profile property"
    other.profile_property.value = "country"
    other.value.value = "US"
    want = {"name": "New segment", "match": "all", "conditions": [
        {"metric": "Placed Order", "count": {"op": ">=", "value": 3}},
        {"property": "country", "op": "equals", "value": "US"},
    ]}
    assert app.definition() == want and app.error is None
    assert app.members == count_members(demo, want) > 0
    assert f"cdp-members'>{app.members:,}<" in app.count_html.value
    assert len(app.sample) == 10 and (app.sample["country"] == "US").all()
    app.match.value = "any"
    assert app.members == count_members(demo, {**want, "match": "any"}) > count_members(demo, want)
    row.window.value = "in the last (days)"
    row.days.value = 90
    assert app.definition()["conditions"][0]["when"] == {"in_last": "90d"}
    app.name.value = "Frequent or US"
    app.save.click()
    saved = tmp_path / "frequent_or_us.yaml"
    assert app.saved_path == saved and "Saved to" in app.saved_html.value
    assert load_definition(saved).name == "Frequent or US"
    assert yaml.safe_load(saved.read_text())["match"] == "any"
    app.save.click()  # a second save must not silently replace the file
    assert "already exists" in app.saved_html.value  # next to the Save button


def test_segment_builder_needs_a_condition(ws, tmp_path):
    from cdp_lib.apps import SegmentBuilderApp

    app = SegmentBuilderApp(workspace=ws, folder=tmp_path)
    app.rows[0].kind.value = "—"
    assert "add at least one condition" in app.status.value


def test_voila_command_hides_code_and_tracebacks_and_binds_localhost():
    from cdp_lib.apps.serve import voila_command

    cmd = voila_command("kpi")
    assert cmd[3].endswith("notebooks/apps/kpi.ipynb")
    assert {"--strip_sources=True", "--show_tracebacks=False", "--Voila.ip=127.0.0.1", "--port=8866",
            "--preheat_kernel=True"} <= set(cmd)
    assert "--token=abc" in voila_command("kpi", token="abc")
    from cdp_lib import InputError

    with pytest.raises(InputError, match="unknown app 'kpis'; did you mean 'kpi'"):
        voila_command("kpis")


def test_cdp_publish_command(tmp_path, capsys):
    from cdp_lib.cli import main
    from cdp_lib.snapshots import current_snapshot

    db = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(db), events=_events()).close()
    assert main(["--db", str(db), "publish"]) == 0
    assert str(current_snapshot(db)) in capsys.readouterr().out
    from cdp_lib.kpi import rollups
    from cdp_lib.workspace import Workspace

    with Workspace(current_snapshot(db), read_only=True) as snap:  # the KPI app's roll-ups came along
        assert rollups.for_workspace(snap) is not None


def test_app_keeps_serving_while_another_process_writes(tmp_path):
    from test_snapshots import Writer  # a process holding the workspace open for writing

    db = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(db), events=_events()).close()
    publish(db)
    app = KpiApp(db=db)
    app.preset.value = "Last 7 days"
    before = shown_cards(app)["Active accounts"]
    writer = Writer(db)
    try:
        writer.send("insert 5")  # profiles only: no KPI moves, but the file is locked now
        app.refresh()
        assert app.error is None and shown_cards(app)["Active accounts"] == before
        writer.send("publish")
        app.refresh()
        assert app.error is None and app.reader.snapshot == current_snapshot(db)
    finally:
        writer.stop()
    app.close()


def test_monitor_cards_never_show_scientific_notation():
    from cdp_lib.apps.monitors import _value

    assert [_value(v) for v in (63816.0, 547.16, 0.010168708, 0.0, float("nan"), 1.5e7)] == [
        "63,816", "547.16", "0.0102", "0", "—", "15,000,000"]
