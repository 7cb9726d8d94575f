"""Run a parameterized notebook as a report: validate parameters, execute with papermill, export HTML.

A run lives in `reports/<notebook>/<run-id>/`: the executed notebook, a code-free HTML copy
(`cdp_lib.reports.export`), every file the notebook wrote (the run folder is its working
directory) and `run.json` describing the run (`cdp_lib.reports.record`). Notebooks know nothing
of this layout, so plain `papermill` works on them too. Parameters are read and checked by
`cdp_lib.reports.parameters` before anything runs; a successful run refreshes the apps'
snapshot (`cdp_lib.reports.publish`) and the reports index (`cdp_lib.reports.index`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import time
from pathlib import Path

from cdp_lib.reports import index
from cdp_lib.reports.export import export_html
from cdp_lib.reports.parameters import prepare
from cdp_lib.reports.publish import file_state, publish_snapshot
from cdp_lib.reports.record import check_run_id, error_summary, list_outputs, new_run_id, utcnow, write_json

log = logging.getLogger(__name__)

KERNEL_NAME = "python3"
REPORTS_DIR = "reports"


@dataclasses.dataclass
class RunResult:
    """What a run left behind."""

    run_id: str
    notebook: str
    run_dir: Path
    status: str
    error: str | None
    record: dict

    @property
    def html(self) -> Path:
        return self.run_dir / f"{self.notebook}.html"

    @property
    def ipynb(self) -> Path:
        return self.run_dir / f"{self.notebook}.ipynb"

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


def _package_version() -> str:
    from cdp_lib import __version__

    return __version__


def data_fingerprint(db: str | None) -> dict | None:
    """The workspace's fingerprint (tables, row counts, newest event), opened read-only."""
    if not db or not Path(db).is_file():
        return None
    from cdp_lib.workspace import Workspace

    try:
        with Workspace(db, read_only=True) as ws:
            return ws.fingerprint()
    except Exception as exc:  # a held writer lock must not stop the report
        return {"error": str(exc).splitlines()[0]}


def run_notebook(
    notebook: str | os.PathLike,
    parameters: dict | None = None,
    parameters_file: str | os.PathLike | None = None,
    text_parameters: dict[str, str] | None = None,
    reports_dir: str | os.PathLike = REPORTS_DIR,
    run_id: str | None = None,
    default_db: str | None = None,
    kernel_name: str = KERNEL_NAME,
    log_output: bool = False,
    extra: dict | None = None,
) -> RunResult:
    """Validate, execute and export one report; the run's folder is returned even on failure.

    Raises `InputError` (before creating anything) on bad parameters. A notebook that fails is
    not an exception here: the result has `status == "failed"` and `error` set, and the
    executed notebook carries papermill's banner at the failing cell.
    """
    wall_started, started = time.monotonic(), utcnow()
    import papermill

    path, declared, injected, given = prepare(notebook, parameters, parameters_file, text_parameters, default_db)
    name = path.stem
    run_id = check_run_id(run_id) if run_id is not None else new_run_id()
    reports_dir = Path(reports_dir)
    run_dir = reports_dir / name / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    record = {
        "run_id": run_id,
        "notebook": name,
        "notebook_path": str(path),
        "parameters_file": str(parameters_file) if parameters_file else None,
        "parameters": {**{p.name: p.default for p in declared}, **injected},
        "parameters_given": given,
        "status": "running",
        "started_at": started.isoformat(),
        "finished_at": None,
        "duration_seconds": None,
        "error": None,
        "fingerprint": data_fingerprint(injected.get("db")),
        "package_version": _package_version(),
        "html": f"{name}.html",
        "ipynb": f"{name}.ipynb",
        "outputs": [],
        "pid": os.getpid(),
        **(extra or {}),
    }
    write_json(run_dir / "run.json", record)
    db_before = file_state(injected.get("db"))
    ipynb = run_dir / f"{name}.ipynb"
    error = None
    t0 = time.monotonic()
    quiet = _PapermillInferenceFilter()
    papermill_log = logging.getLogger("papermill")
    papermill_log.addFilter(quiet)
    try:
        with _project_for_kernel():
            papermill.execute_notebook(
                str(path),
                str(ipynb),
                parameters=injected,
                kernel_name=kernel_name,
                cwd=str(run_dir),
                progress_bar=False,
                log_output=log_output,
                # The kernel's own log (its "running over TCP" warning, interrupt messages at
                # shutdown) is noise on a report run's console; cell errors reach the notebook.
                extra_arguments=[] if log_output else ["--IPKernelApp.log_level=CRITICAL"],
            )
    except Exception as exc:  # PapermillExecutionError, a dead kernel, ...: the run failed
        error = error_summary(exc)
    finally:
        papermill_log.removeFilter(quiet)
    timings = {"execute": round(time.monotonic() - t0, 3)}
    record["status"] = "failed" if error else "succeeded"
    record["error"] = error
    record.pop("pid", None)
    t1 = time.monotonic()
    if ipynb.exists():
        try:
            export_html(ipynb, run_dir / f"{name}.html", title=f"{name} {run_id}")
        except Exception as exc:
            record["html"] = None
            record["html_error"] = error_summary(exc)
    else:
        record["html"] = record["ipynb"] = None
    record["outputs"] = list_outputs(run_dir, name)
    timings["export_html"] = round(time.monotonic() - t1, 3)
    if record["status"] == "succeeded":
        t2 = time.monotonic()
        record["snapshot"] = publish_snapshot(injected.get("db"), changed=file_state(injected.get("db")) != db_before)
        timings["snapshot"] = round(time.monotonic() - t2, 3)
    # The whole run as the person waits for it (imports, checks, kernel, export, snapshot).
    record["duration_seconds"] = round(time.monotonic() - wall_started, 3)
    record["timings"] = timings
    record["finished_at"] = utcnow().isoformat()
    write_json(run_dir / "run.json", record)
    _refresh_index(reports_dir)
    return RunResult(run_id, name, run_dir, record["status"], error, record)


class _PapermillInferenceFilter(logging.Filter):
    """Drop papermill's own parameter-inference warnings: its regex does not read `str | None`
    annotations, and the parameters were already validated here against the cell."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not (msg.startswith("Passed unknown parameter") or msg.startswith("Unable to parse line"))


def mark_failed(run_dir: str | os.PathLike, error: str) -> dict:
    """Record a run that was stopped from outside (timeout, kill) as failed, and export what ran."""
    run_dir = Path(run_dir)
    path = run_dir / "run.json"
    record = json.loads(path.read_text()) if path.exists() else {"run_id": run_dir.name, "notebook": run_dir.parent.name}
    if record.get("status") in {"succeeded", "failed"}:
        return record
    name = record["notebook"]
    finished = utcnow()
    record["status"] = "failed"
    record["error"] = error
    record["finished_at"] = finished.isoformat()
    if record.get("started_at"):
        started = dt.datetime.fromisoformat(record["started_at"])
        record["duration_seconds"] = round((finished - started).total_seconds(), 3)
    record.pop("pid", None)
    ipynb = run_dir / f"{name}.ipynb"
    if ipynb.exists():
        with contextlib.suppress(Exception):
            export_html(ipynb, run_dir / f"{name}.html", title=f"{name} {record.get('run_id')}")
    if not (run_dir / f"{name}.html").exists():
        record["html"] = None
    record["outputs"] = list_outputs(run_dir, name)
    write_json(path, record)
    _refresh_index(run_dir.parent.parent)
    return record


def _refresh_index(reports_dir: Path) -> None:
    try:
        index.write_index(reports_dir)
    except Exception as exc:  # never fail a report because the index could not be written
        log.warning("could not update %s/index.html: %s", reports_dir, exc)


@contextlib.contextmanager
def _project_for_kernel():
    """The kernel starts in the run folder, which may lie outside the project (`--reports-dir
    /tmp/x`): name the project folder the run was started from in `$CDP_PROJECT_DIR` (unless
    the caller set it), so the notebook finds `parameters/` and relative paths as the CLI did."""
    from cdp_lib.project import PROJECT_ENV, project_root

    if os.environ.get(PROJECT_ENV):
        yield
        return
    os.environ[PROJECT_ENV] = str(project_root())
    try:
        yield
    finally:
        os.environ.pop(PROJECT_ENV, None)
