"""The reports index and one HTML report, opened from disk in Chromium as a manager would."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp_lib import reports as runner

NOTEBOOKS = Path(__file__).parent / "notebooks"
SCREENSHOTS = Path(__file__).parent.parent / "test-output" / "reports"

pytestmark = pytest.mark.browser




@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-reports") / "reports"
    runs = [
        runner.run_notebook(NOTEBOOKS / "exports.ipynb", {"points": 6}, reports_dir=root),
        runner.run_notebook(NOTEBOOKS / "failing.ipynb", reports_dir=root),
        runner.run_notebook(NOTEBOOKS / "passing.ipynb", {"threshold": 7, "label": "browser"}, reports_dir=root),
    ]
    return root, runs


def test_index_lists_runs_and_filters_by_notebook(browser, reports):
    root, runs = reports
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    offline = []
    page.on("request", lambda r: offline.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.goto((root / "index.html").as_uri())
    rows = page.locator("#runs tbody tr")
    assert rows.count() == 3
    # Newest first: the last run started is the top row.
    assert rows.nth(0).locator("td.notebook").inner_text() == "passing"
    assert rows.nth(1).locator("td.status").inner_text() == "failed"
    assert 'threshold=7' in rows.nth(0).locator("td.params").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "index.png"), full_page=True)

    page.select_option("#notebook-filter", "failing")
    visible = page.locator("#runs tbody tr:visible")
    assert visible.count() == 1
    assert visible.first.locator("td.status").inner_text() == "failed"
    assert "boom: the data is bad" in visible.first.locator("td.error").inner_text()
    assert page.locator("#shown-count").inner_text() == "1 shown"
    page.screenshot(path=str(SCREENSHOTS / "index-filtered.png"), full_page=True)

    page.select_option("#notebook-filter", "")
    page.select_option("#status-filter", "succeeded")
    assert page.locator("#runs tbody tr:visible").count() == 2
    assert offline == []
    page.close()


def test_html_report_shows_output_and_no_code(browser, reports):
    root, runs = reports
    page = browser.new_page()
    offline = []
    page.on("request", lambda r: offline.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.goto((root / "index.html").as_uri())
    page.select_option("#notebook-filter", "exports")
    with page.expect_navigation():
        page.locator("#runs tbody tr:visible a.report").first.click()
    assert page.url.endswith(f"exports/{runs[0].run_id}/exports.html")
    text = page.locator("body").inner_text()
    assert "Exporting test notebook" in text  # markdown is shown
    assert "wrote squares.csv and squares.png" in text  # outputs are shown
    assert "frame.to_csv" not in text and "import matplotlib" not in text  # code is not
    assert page.locator(".jp-CodeMirrorEditor, .highlight").count() == 0
    image = page.locator("img").first
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    assert page.evaluate("img => img.naturalWidth", image.element_handle()) > 100  # it rendered
    page.screenshot(path=str(SCREENSHOTS / "exports-report.png"), full_page=True)
    assert offline == []

    page.goto((runs[1].html).as_uri())
    text = page.locator("body").inner_text()
    assert "An Exception was encountered" in text and "boom: the data is bad" in text
    page.screenshot(path=str(SCREENSHOTS / "failing-report.png"), full_page=True)
    page.close()


# -- every report notebook on the demo store ---------------------------------------------------
REPO = Path(__file__).resolve().parents[1]
REPORT_SCREENSHOTS = REPO / "reports" / "screenshots"  # written by the run for review (gitignored)
AS_OF = "2025-06-30"  # the demo store's last day (conftest.DEMO_END_DATE)

# In run order: segmentation refreshes the history audience performance reads, rfm stores the
# snapshot segments use. Charts: how many images each report must show.
REPORTS = {
    "data_health": ({"as_of": AS_OF}, 1),
    "rfm": ({"as_of": AS_OF, "snapshot": True}, 6),
    "clv": ({"as_of": AS_OF, "output_dir": "."}, 8),
    "segmentation": ({"as_of": AS_OF, "output_dir": "."}, 2),
    "audience_performance": ({"as_of": AS_OF}, 1),
    "cohort": ({}, 3),
    "funnel": ({"to": AS_OF}, 3),
    "kpi_overview": ({"to": AS_OF}, 2),
    "catalog_insights": ({"as_of": AS_OF}, 2),
    "monitors": ({"as_of": AS_OF, "schedule": None}, 1),
    "activation": ({"send": False}, 0),
    "warehouse_sync": ({}, 0),
    "warehouse_import": ({"table": "customers", "mapping": {"CustomerNo": "external_id"}}, 0),
}
# A formatted number cell: 1,234 · 12.50 · $1,234.50 · 74.2 % · 1,234.50 CHF · — (missing).
NUMBER_CELL = r"^(—|[-+]?(?:CA\$|A\$|R\$|[$€£¥₩₹])?\d{1,3}(?:,\d{3})*(?:\.\d+)?(?: %| [A-Z]{3})?|∞)$"
RAW = [r"\w+Warning:", r"\bNaN\b", r"\bNone\b", r"\bnan\b", r"\bNaT\b", r"\{'", r"\['", r"<Figure size", r"Traceback",
       r"DataFrame", r"dtype:", r"\d\.\d{5,}", r"\de[+-]\d\d\b"]


@pytest.fixture(scope="module")
def demo_reports(demo_store_path, tmp_path_factory):
    """Every report notebook run once on a private copy of the demo store (about 5 minutes)."""
    import os
    import shutil

    import ibis
    import pandas as pd

    root = tmp_path_factory.mktemp("demo-reports")
    db = root / "cdp.duckdb"
    shutil.copyfile(demo_store_path, db)
    crm = root / "crm.duckdb"  # the warehouse import's source: a small CRM table
    con = ibis.connect(f"duckdb://{crm}")
    t0 = pd.Timestamp("2025-06-01", tz="UTC")
    con.create_table("customers", pd.DataFrame({"CustomerNo": ["c1", "c2"], "email": ["ann@x.com", "bob@x.com"],
                                                 "first_name": ["Ann", "Bob"], "modified_at": [t0, t0]}))
    con.disconnect()
    extra = {"warehouse_sync": {"to": f"lake:{root / 'lake'}"}, "warehouse_import": {"from_url": f"duckdb://{crm}"}}
    # The kernels run inside their run folders (outside the project): they find parameters/ here.
    old = os.environ.get("CDP_PROJECT_DIR")
    os.environ["CDP_PROJECT_DIR"] = str(REPO)
    try:
        runs = {name: runner.run_notebook(REPO / "notebooks" / f"{name}.ipynb",
                                          {"db": str(db), **params, **extra.get(name, {})},
                                          reports_dir=root / "reports")
                for name, (params, _) in REPORTS.items()}
    finally:
        if old is None:
            os.environ.pop("CDP_PROJECT_DIR", None)
        else:
            os.environ["CDP_PROJECT_DIR"] = old
    return runs


def test_every_report_notebook_is_covered():
    shipped = {p.stem for p in (REPO / "notebooks").glob("*.ipynb")}
    assert shipped == set(REPORTS)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REPORTS))
def test_report_reads_like_a_product(browser, demo_reports, name):
    import re

    run = demo_reports[name]
    assert run.succeeded, f"{name} failed: {run.error}"
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(run.html.as_uri())
    text = page.locator("body").inner_text()
    REPORT_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(REPORT_SCREENSHOTS / f"{name}.png"), full_page=True)
    # a one-paragraph summary at the top, computed from the data (it holds figures)
    summary = page.locator(".cdp-summary")
    assert summary.count() == 1, f"{name}: expected one summary"
    assert re.search(r"\d", summary.inner_text())
    headings = page.locator("h2")
    if headings.count():
        assert summary.evaluate("(s, h) => !!(s.compareDocumentPosition(h) & Node.DOCUMENT_POSITION_FOLLOWING)",
                                headings.first.element_handle()), f"{name}: summary below the first section"
    # no code, no raw pandas output, no raw dicts/lists, no NaN/None
    assert page.locator(".jp-CodeMirrorEditor, .highlight, .jp-CodeCell .jp-InputArea").count() == 0
    assert not re.search(r"^\s*(from [\w.]+ import |import [\w.]+$)", text, re.M), f"{name}: code in the report"
    for pattern in RAW:
        hit = re.search(pattern, text)
        assert hit is None, f"{name}: {pattern!r} shown: ...{text[max(hit.start() - 60, 0):hit.end() + 60]}..."
    assert page.locator("table.dataframe").count() == 0, f"{name}: a raw pandas table"
    # every number in a table is formatted
    cells = page.locator("table.cdp-table td.num").all_inner_texts()
    bad = [c for c in cells if not re.match(NUMBER_CELL, c.strip())]
    assert not bad, f"{name}: unformatted numbers {bad[:5]}"
    # each chart is there and rendered
    images = page.locator("img")
    assert images.count() == REPORTS[name][1], f"{name}: {images.count()} charts"
    for i in range(images.count()):
        assert page.evaluate("img => img.naturalWidth", images.nth(i).element_handle()) > 100
    page.close()
