"""`reports/index.html`: every report run, newest first, filterable by notebook, readable from disk."""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from pathlib import Path

INDEX_NAME = "index.html"


def collect_runs(reports_dir: str | os.PathLike) -> list[dict]:
    """The `run.json` records under `reports_dir/<notebook>/<run-id>/`, newest first.

    Unreadable records are listed with status 'unknown' rather than hidden.
    """
    root = Path(reports_dir)
    runs = []
    for path in root.glob("*/*/run.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            record = {"run_id": path.parent.name, "notebook": path.parent.parent.name, "status": "unknown"}
        record["_dir"] = path.parent.relative_to(root).as_posix()
        runs.append(record)
    runs.sort(key=lambda r: (r.get("started_at") or "", r.get("run_id") or ""), reverse=True)
    return runs


def _when(iso: str | None) -> str:
    if not iso:
        return ""
    stamp = dt.datetime.fromisoformat(iso).astimezone(dt.timezone.utc)
    return f"{stamp:%Y-%m-%d %H:%M:%S} UTC"


def _duration(seconds) -> str:
    if seconds is None:
        return ""
    seconds = float(seconds)
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _params_text(params: dict | None) -> str:
    if not params:
        return ""
    # The workspace path is the same on every run of one installation; keep the cell readable.
    shown = {k: v for k, v in params.items() if k != "db"}
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in shown.items())


def collect_alerts(reports_dir: str | os.PathLike, runs: list[dict] | None = None) -> list[dict]:
    """Monitor alerts saved by the newest successful `monitors` run (`monitor_alerts.json`)."""
    root = Path(reports_dir)
    runs = collect_runs(root) if runs is None else runs
    for r in runs:
        if r.get("notebook") == "monitors" and r.get("status") == "succeeded":
            path = root / r["_dir"] / "monitor_alerts.json"
            try:
                return [dict(a, _dir=r["_dir"]) for a in json.loads(path.read_text())]
            except (OSError, ValueError, TypeError):
                return []
    return []


def _alerts_html(alerts: list[dict]) -> str:
    if not alerts:
        return ""
    esc = html.escape
    rows = "".join(
        f'<tr class="alert"><td>{esc(str(a.get("as_of", ""))[:10])}</td><td>{esc(str(a.get("monitor", "")))}</td>'
        f'<td>{esc(str(a.get("message", "")))}</td></tr>' for a in alerts)
    return ('<h2>Monitor alerts</h2><table id="alerts"><thead><tr><th>Day</th><th>Monitor</th><th>Alert</th></tr>'
            f'</thead><tbody>{rows}</tbody></table>')


def render_index(runs: list[dict], generated_at: dt.datetime | None = None, alerts: list[dict] | None = None) -> str:
    """The index page as one self-contained HTML string (inline CSS and JS, no network);
    `alerts` (from `collect_alerts`) are listed above the runs."""
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    esc = html.escape
    notebooks = sorted({r.get("notebook", "") for r in runs})
    options = "".join(f'<option value="{esc(n)}">{esc(n)}</option>' for n in notebooks)
    rows = []
    for r in runs:
        folder = r["_dir"]
        links = []
        if r.get("html"):
            links.append(f'<a class="report" href="{esc(folder)}/{esc(r["html"])}">report</a>')
        if r.get("ipynb"):
            links.append(f'<a href="{esc(folder)}/{esc(r["ipynb"])}">notebook</a>')
        links.append(f'<a href="{esc(folder)}/">files</a>')
        status = r.get("status", "unknown")
        error = r.get("error") or ""
        job = r.get("job")
        rows.append(
            f'<tr data-notebook="{esc(r.get("notebook", ""))}" data-status="{esc(status)}">'
            f'<td class="when">{esc(_when(r.get("started_at")))}</td>'
            f'<td class="notebook">{esc(r.get("notebook", ""))}{f" <small>({esc(job)})</small>" if job else ""}</td>'
            f'<td class="params"><code>{esc(_params_text(r.get("parameters_given", r.get("parameters"))) or "defaults")}</code></td>'
            f'<td class="status status-{esc(status)}" title="{esc(error)}">{esc(status)}</td>'
            f'<td class="duration">{esc(_duration(r.get("duration_seconds")))}</td>'
            f'<td class="links">{" · ".join(links)}</td>'
            f'<td class="error">{esc(error)}</td>'
            "</tr>"
        )
    body = "\n".join(rows) or '<tr class="empty"><td colspan="7">No report has run yet: try <code>cdp run data_health</code>.</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Reports</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; width: 100%; font-size: 14px; }}
th, td {{ text-align: left; padding: 6px 10px; border-bottom: 1px solid #ddd; vertical-align: top; }}
th {{ background: #f4f4f4; }}
td.params code {{ font-size: 12px; white-space: pre-wrap; }}
td.error {{ color: #a00; font-size: 12px; max-width: 30em; }}
.status-succeeded {{ color: #176b2c; font-weight: bold; }}
.status-failed {{ color: #b00020; font-weight: bold; }}
.status-running {{ color: #8a6d00; }}
.controls {{ margin: 1em 0; }}
</style>
</head>
<body>
<h1>Reports</h1>
{_alerts_html(alerts or [])}
<p>{len(runs)} run(s); page generated {esc(_when(generated_at.isoformat()))}. Newest first.</p>
<div class="controls">
<label for="notebook-filter">Notebook:</label>
<select id="notebook-filter"><option value="">all notebooks</option>{options}</select>
<label for="status-filter">Status:</label>
<select id="status-filter"><option value="">any status</option><option value="succeeded">succeeded</option><option value="failed">failed</option><option value="running">running</option></select>
<span id="shown-count"></span>
</div>
<table id="runs">
<thead><tr><th>Started</th><th>Notebook</th><th>Parameters</th><th>Status</th><th>Duration</th><th>Open</th><th>Error</th></tr></thead>
<tbody>
{body}
</tbody>
</table>
<script>
(function () {{
  var nb = document.getElementById("notebook-filter");
  var st = document.getElementById("status-filter");
  var count = document.getElementById("shown-count");
  function apply() {{
    var rows = document.querySelectorAll("#runs tbody tr[data-notebook]");
    var shown = 0;
    rows.forEach(function (row) {{
      var ok = (!nb.value || row.dataset.notebook === nb.value) && (!st.value || row.dataset.status === st.value);
      row.style.display = ok ? "" : "none";
      if (ok) shown += 1;
    }});
    count.textContent = shown + " shown";
  }}
  nb.addEventListener("change", apply);
  st.addEventListener("change", apply);
  var wanted = new URLSearchParams(window.location.search).get("notebook");
  if (wanted) nb.value = wanted;
  apply();
}})();
</script>
</body>
</html>
"""


def write_index(reports_dir: str | os.PathLike) -> Path:
    """Regenerate `reports_dir/index.html` atomically and return its path."""
    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    target = root / INDEX_NAME
    tmp = root / f".{INDEX_NAME}.{os.getpid()}.tmp"
    runs = collect_runs(root)
    tmp.write_text(render_index(runs, alerts=collect_alerts(root, runs)), encoding="utf-8")
    os.replace(tmp, target)
    return target
