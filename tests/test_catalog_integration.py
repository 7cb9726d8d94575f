"""Catalog attributes in segments and customer 360, the catalog and KPI apps, the reports index,
and the two report notebooks on the demo store."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from cdp_lib.catalog import catalog_params, run_catalog_insights
from cdp_lib.customer360 import customer_360
from cdp_lib.errors import NotComputedError
from cdp_lib.segments import load_definition, members_table
from cdp_lib.testing import workspace_from_frames
from test_catalog import CATALOG, HAND, basket_events

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def stored(tmp_path):
    ws = workspace_from_frames(str(tmp_path / "cdp.duckdb"), events=basket_events(HAND), catalog=CATALOG)
    run_catalog_insights(ws, catalog_params("2024-03-01", lookback_days=100))
    yield ws
    ws.close()


def test_segments_use_catalog_attributes(stored):
    # profiles.csv by hand: a -> (None, 2024-02-22), b -> (p3, 2024-01-30), c -> (p3, 2024-01-11)
    nbp = load_definition({"name": "Next p3", "conditions": [{"property": "next_best_product", "op": "equals",
                                                              "value": "p3"}]})
    assert sorted(members_table(stored, nbp, "2024-03-01").execute().profile_id) == ["b", "c"]
    soon = load_definition({"name": "Cross-sell soon", "conditions": [
        {"property": "best_cross_sell_date", "op": "in_next", "value": "7d"}]})
    # as of Jan 25 the next 7 days reach Feb 1: b's Jan 30 is inside, c's Jan 11 and a's Feb 22 are not
    assert sorted(members_table(stored, soon, "2024-01-25").execute().profile_id) == ["b"]


def test_segment_before_catalog_insights_says_what_to_run(tmp_path):
    ws = workspace_from_frames(events=basket_events(HAND), catalog=CATALOG)
    d = load_definition({"name": "x", "conditions": [{"property": "next_best_product", "op": "equals", "value": "p3"}]})
    with pytest.raises(NotComputedError, match="run 'cdp catalog-insights' first"):
        members_table(ws, d).execute()


def test_customer_360_shows_next_best_product(stored):
    view = customer_360(stored, "b", as_of="2024-03-01")
    assert view.next_best_product == "p3"
    assert view.best_cross_sell_date == dt.date(2024, 1, 30)
    from cdp_lib.apps.customer360 import facts_html

    page = facts_html(view)
    assert 'data-fact="next_best_product"' in page and "p3" in page and "2024-01-30" in page


def test_catalog_app_shows_three_cards(stored):
    from cdp_lib.apps import CatalogApp

    app = CatalogApp(workspace=stored)
    assert app.error is None
    assert app.product.value == "p2"  # most buyers (3) first
    assert "data-card='buyers'" in app.timing.value and ">3<" in app.timing.value
    assert "p1" in app.same_cart.value
    app.product.value = "p1"
    assert app.cards["next_order"].next_product_id.tolist() == ["p2", "p3"]
    assert app.histogram.value[:4] == b"\x89PNG"


def test_kpi_app_monitors_section(tmp_path):
    from cdp_lib.apps.monitors import monitors_html
    from cdp_lib.monitors import parse_monitor, run_monitors

    day = dt.date(2024, 1, 1)
    ws = workspace_from_frames(str(tmp_path / "m.duckdb"), events=basket_events([
        ("a", "Placed Order", "2024-01-01T10:00:00", "1", None)] * 1))
    assert "no monitor has run yet" in monitors_html(ws)
    m = parse_monitor({"name": "orders", "kind": "metric", "metric": "Placed Order",
                       "conditions": [{"measure": "count", "period_days": 1, "op": ">=", "threshold": 1}]})
    run_monitors(ws, [m], day, metrics={})
    page = monitors_html(ws)
    assert 'data-monitor="orders"' in page and "triggered" in page and "orders on Placed Order" in page
    ws.close()


def test_reports_index_lists_alerts_of_the_newest_monitors_run(tmp_path):
    from cdp_lib.reports.index import write_index

    for run_id, when, status, alerts in (("r1", "2024-01-01T00:00:00+00:00", "succeeded", [{"as_of": "2024-01-01",
                                          "monitor": "old", "message": "old alert"}]),
                                         ("r2", "2024-01-02T00:00:00+00:00", "succeeded", [{"as_of": "2024-01-02",
                                          "monitor": "busy", "message": "busy on Placed Order: count > 2"}])):
        folder = tmp_path / "monitors" / run_id
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"run_id": run_id, "notebook": "monitors", "status": status,
                                                     "started_at": when}))
        (folder / "monitor_alerts.json").write_text(json.dumps(alerts))
    page = write_index(tmp_path).read_text()
    assert "Monitor alerts" in page and "busy on Placed Order: count &gt; 2" in page and "old alert" not in page


@pytest.mark.notebook
def test_notebooks_run_on_the_demo_store(demo_store_path, tmp_path):
    import shutil

    import papermill as pm

    db = tmp_path / "cdp.duckdb"
    shutil.copyfile(demo_store_path, db)
    pm.execute_notebook(str(ROOT / "notebooks" / "catalog_insights.ipynb"), str(tmp_path / "cat.ipynb"),
                        kernel_name="python3", cwd=str(tmp_path), progress_bar=False,
                        parameters={"db": str(db), "as_of": "2025-06-30"})
    for name in ("repeat_timing.csv", "same_cart.csv", "next_order.csv", "profiles.csv", "co_purchase.png"):
        assert (tmp_path / name).exists(), name
    assert len(pd.read_csv(tmp_path / "profiles.csv")) > 100
    pm.execute_notebook(str(ROOT / "notebooks" / "monitors.ipynb"), str(tmp_path / "mon.ipynb"),
                        kernel_name="python3", cwd=str(tmp_path), progress_bar=False,
                        parameters={"db": str(db), "as_of": "2025-06-30", "history_days": 30,
                                    "folder": str(tmp_path / "monitors"), "schedule": None})
    results = pd.read_csv(tmp_path / "monitor_results.csv")
    assert set(results.monitor) == {"Orders down 30% week over week", "Refunds above 3,000 a day"}


@pytest.fixture(autouse=True)
def _monitor_folder(tmp_path):
    """The shipped metric monitors (the segment monitor needs refresh history the fixture lacks)."""
    folder = tmp_path / "monitors"
    folder.mkdir()
    for name in ("orders_down_week_over_week.yaml", "refunds_daily_threshold.yaml"):
        (folder / name).write_text((ROOT / "parameters" / "monitors" / name).read_text())


def test_catalog_app_before_catalog_insights_says_what_to_run():
    from cdp_lib.apps import CatalogApp

    ws = workspace_from_frames(events=basket_events(HAND), catalog=CATALOG)
    app = CatalogApp(workspace=ws)
    assert "run 'cdp catalog-insights' first" in app.error and "cdp-error" in app.status.value
    assert app.product.options == ()
    ws.close()
