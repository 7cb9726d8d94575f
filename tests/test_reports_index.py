"""The reports index: newest first, escaped, links to each run's HTML, filter controls, no network."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from cdp_lib.reports import index as reports_index


def _run(reports: Path, notebook: str, run_id: str, started: str, status: str = "succeeded", **extra) -> dict:
    folder = reports / notebook / run_id
    folder.mkdir(parents=True)
    record = {
        "run_id": run_id, "notebook": notebook, "status": status, "started_at": started,
        "duration_seconds": 12.34, "parameters": {"db": "/x/cdp.duckdb", "as_of": "2025-03-31", "days": 7},
        "parameters_given": {"as_of": "2025-03-31"}, "error": None,
        "html": f"{notebook}.html", "ipynb": f"{notebook}.ipynb", **extra,
    }
    (folder / "run.json").write_text(json.dumps(record))
    return record


def test_runs_are_listed_newest_first(tmp_path):
    _run(tmp_path, "rfm", "20250301T060000Z-aaaaaa", "2025-03-01T06:00:00+00:00")
    _run(tmp_path, "clv", "20250302T060000Z-bbbbbb", "2025-03-02T06:00:00+00:00")
    _run(tmp_path, "rfm", "20250303T060000Z-cccccc", "2025-03-03T07:00:00+01:00")
    runs = reports_index.collect_runs(tmp_path)
    assert [r["run_id"] for r in runs] == ["20250303T060000Z-cccccc", "20250302T060000Z-bbbbbb", "20250301T060000Z-aaaaaa"]
    assert runs[0]["_dir"] == "rfm/20250303T060000Z-cccccc"


def test_index_rows_carry_time_notebook_parameters_status_and_links(tmp_path):
    _run(tmp_path, "rfm", "20250301T060000Z-aaaaaa", "2025-03-01T06:00:00+00:00")
    _run(tmp_path, "clv", "20250302T060000Z-bbbbbb", "2025-03-02T06:00:00+00:00", status="failed",
         error="DataError: fewer than 500 customers", job="clv-weekly")
    page = reports_index.write_index(tmp_path).read_text()
    rows = re.findall(r"<tr data-notebook=.*?</tr>", page)
    assert len(rows) == 2
    first, second = rows
    assert first.startswith('<tr data-notebook="clv" data-status="failed">')
    assert '<td class="when">2025-03-02 06:00:00 UTC</td>' in first
    assert 'clv <small>(clv-weekly)</small>' in first
    assert '<code>as_of=&quot;2025-03-31&quot;</code>' in first  # given values only, db left out
    assert '<td class="status status-failed" title="DataError: fewer than 500 customers">failed</td>' in first
    assert '<a class="report" href="clv/20250302T060000Z-bbbbbb/clv.html">report</a>' in first
    assert '<td class="duration">12.3 s</td>' in first
    assert 'href="rfm/20250301T060000Z-aaaaaa/rfm.ipynb"' in second
    assert '<option value="clv">clv</option><option value="rfm">rfm</option>' in page
    assert "2 run(s)" in page


def test_index_is_self_contained(tmp_path):
    _run(tmp_path, "rfm", "20250301T060000Z-aaaaaa", "2025-03-01T06:00:00+00:00")
    page = reports_index.render_index(reports_index.collect_runs(tmp_path), dt.datetime(2025, 3, 2, tzinfo=dt.timezone.utc))
    assert "http://" not in page and "https://" not in page
    assert "<script>" in page and "notebook-filter" in page


def test_values_are_escaped(tmp_path):
    _run(tmp_path, "rfm", "20250301T060000Z-aaaaaa", "2025-03-01T06:00:00+00:00", status="failed",
         error="<script>alert(1)</script>", parameters_given={"label": "<b>x</b>"})
    page = reports_index.write_index(tmp_path).read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>x</b>" not in page


def test_unreadable_record_is_listed_as_unknown(tmp_path):
    folder = tmp_path / "rfm" / "20250301T060000Z-broken"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text("{not json")
    page = reports_index.write_index(tmp_path).read_text()
    assert '<tr data-notebook="rfm" data-status="unknown">' in page


def test_empty_index_says_how_to_start(tmp_path):
    page = reports_index.write_index(tmp_path / "reports").read_text()
    assert "No report has run yet" in page and "0 run(s)" in page
