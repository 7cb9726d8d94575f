"""One attempt of a job: `cdp run` in its own process group, stopped at the job's timeout."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from cdp_lib.reports.run import mark_failed
from cdp_lib.reports.schedule.config import Job, Settings

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Outcome:
    """The result of one attempt: status 'succeeded' or 'failed'."""

    status: str
    error: str | None = None
    report: str | None = None


Executor = Callable[[Job, str, Settings, str], Outcome]


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_job_subprocess(job: Job, run_id: str, settings: Settings, db: str) -> Outcome:
    """Run `cdp run` for the job in its own process group, killed when it exceeds its timeout.

    Its own session also keeps a Ctrl-C meant for the scheduler from killing the running job.
    """
    cmd = [sys.executable, "-m", "cdp_lib.cli", "--db", db, "run", job.notebook,
           "--reports-dir", settings.reports_dir, "--run-id", run_id, "--job", job.name]
    if job.parameters:
        cmd += ["-f", job.parameters]
    run_dir = Path(settings.reports_dir) / Path(job.notebook).stem / run_id
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    timeout = job.timeout_minutes * 60
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        error = f"timed out after {job.timeout_minutes:g} min"
        if (run_dir / "run.json").exists():
            mark_failed(run_dir, error)
        return Outcome("failed", error, _report_path(run_dir))
    for line in output.splitlines():
        if line.strip() and "Kernel is running over TCP" not in line:
            log.debug("[%s] %s", job.name, line)
    record_path = run_dir / "run.json"
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if record.get("status") == "running":  # the runner itself died
            record = mark_failed(run_dir, f"runner exited with code {proc.returncode}")
        return Outcome(record["status"], record.get("error"), _report_path(run_dir))
    # No run folder: rejected before running (bad parameters, missing notebook).
    lines = [l for l in output.splitlines() if l.strip()]
    return Outcome("failed", lines[-1] if lines else f"cdp run exited with code {proc.returncode}", None)


def _report_path(run_dir: Path) -> str | None:
    html = run_dir / f"{run_dir.parent.name}.html"
    if html.exists():
        return str(html.resolve())
    return str(run_dir.resolve()) if run_dir.exists() else None
