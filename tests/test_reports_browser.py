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
