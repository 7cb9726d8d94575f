"""The scheduler: config validation, due times (timezones, DST), missed runs, retries, lock,
dependencies, webhook, and `cdp schedule` end to end with real notebooks."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from cdp_lib import reports as runner
from cdp_lib.reports import schedule as sched
from cdp_lib.errors import InputError

UTC = dt.timezone.utc
NOTEBOOKS = Path(__file__).parent / "notebooks"
REPO = Path(__file__).parent.parent


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def job(name="a", cron="0 6 * * *", **kw) -> sched.Job:
    return sched.Job(name=name, notebook=str(NOTEBOOKS / "passing.ipynb"), cron=cron, **kw)


def make_schedule(tmp_path, *jobs, **settings) -> sched.Schedule:
    settings.setdefault("reports_dir", str(tmp_path / "reports"))
    settings.setdefault("retry_backoff_seconds", 0.0)
    return sched.Schedule(sched.Settings(**settings), tuple(jobs))


class FakeExecutor:
    """Plays each job's scripted outcomes ('ok' / 'fail') in order; records every call."""

    def __init__(self, script: dict[str, list[str]] | None = None):
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.calls: list[str] = []

    def __call__(self, job, run_id, settings, db):
        self.calls.append(job.name)
        plan = self.script.get(job.name, [])
        outcome = plan.pop(0) if plan else "ok"
        if outcome == "ok":
            return sched.Outcome("succeeded", None, f"/reports/{job.name}/{run_id}/x.html")
        return sched.Outcome("failed", f"RuntimeError: {job.name} broke", f"/reports/{job.name}/{run_id}/x.html")


# -- configuration ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data, match",
    [
        ({"jobs": [{"name": "a", "notebook": "n", "cron": "0 6 * * *", "retrys": 1}]}, r"jobs\[0\]: unknown key 'retrys'; did you mean 'retries'\?"),
        ({"jobs": [{"name": "a", "notebook": "n"}]}, r"jobs\[0\]: missing required key 'cron'"),
        ({"jobs": [{"name": "a", "notebook": "n", "cron": "61 * * * *"}]}, r"job 'a': cron '61 \* \* \* \*' is not a valid cron expression"),
        ({"jobs": [{"name": "a", "notebook": "n", "cron": "0 6 * * *", "timezone": "Mars/Base"}]}, r"job 'a': unknown timezone 'Mars/Base'"),
        ({"jobs": [{"name": "a", "notebook": "n", "cron": "0 6 * * *", "retries": -1}]}, r"retries must be a whole number >= 0, got -1"),
        ({"jobs": [{"name": "a", "notebook": "n", "cron": "0 6 * * *", "depends_on": ["b"]}]}, r"job 'a' depends on unknown job 'b'"),
        ({"jobs": [{"name": "a", "notebook": "n", "cron": "0 6 * * *", "depends_on": ["b"]},
                   {"name": "b", "notebook": "n", "cron": "0 6 * * *", "depends_on": "a"}]}, r"dependency cycle a -> b -> a"),
        ({"jobs": [{"name": "a", "notebook": "n", "cron": "0 6 * * *"}] * 2}, r"job names must be unique; repeated: a"),
        ({"settings": {"webhook": "http://x"}}, r"settings: unknown key 'webhook'; did you mean 'webhook_url'\?"),
        ({"settings": {"poll_seconds": "fast"}}, r"settings.poll_seconds must be a number >= 0, got 'fast'"),
    ],
)
def test_bad_schedule_is_rejected(data, match):
    with pytest.raises(InputError, match=match):
        sched.parse_schedule(data, source="s.yaml")


def test_dependency_order_puts_dependencies_first():
    config = sched.parse_schedule({"jobs": [
        {"name": "report", "notebook": "n", "cron": "0 6 * * *", "depends_on": ["refresh"]},
        {"name": "other", "notebook": "n", "cron": "0 6 * * *"},
        {"name": "refresh", "notebook": "n", "cron": "0 6 * * *", "depends_on": "health"},
        {"name": "health", "notebook": "n", "cron": "0 6 * * *"},
    ]})
    assert [j.name for j in config.ordered()] == ["other", "health", "refresh", "report"]


def test_shipped_schedule_is_valid_and_its_parameter_files_exist():
    config = sched.load_schedule(REPO / "parameters/schedule.yaml")
    names = {j.name: j for j in config.jobs}
    assert set(names) >= {"data-health", "segment-refresh", "rfm-weekly", "clv-weekly", "funnel-weekly", "cohort-monthly"}
    assert names["data-health"].cron == "0 5 * * *" and names["cohort-monthly"].cron == "0 7 1 * *"
    assert names["segment-refresh"].depends_on == ("data-health", "rfm-weekly", "clv-weekly")
    # On a first start everything is due: the chain runs in dependency order.
    order = [j.name for j in config.ordered()]
    assert order.index("rfm-weekly") < order.index("segment-refresh") < order.index("audience-weekly")
    for j in config.jobs:
        assert (REPO / j.parameters).is_file(), j.parameters
    # Every job's parameter file is accepted by its notebook's parameters cell.
    for j in config.jobs:
        declared = runner.read_parameters(REPO / j.notebook)
        runner.validate_parameters(declared, runner.load_parameters_file(REPO / j.parameters), notebook=j.notebook)


# -- due times ----------------------------------------------------------------------------------------
def test_latest_and_next_slot_in_utc():
    j = job(cron="0 6 * * *")
    assert sched.latest_slot(j, utc(2025, 5, 10, 6, 0)) == utc(2025, 5, 10, 6, 0)  # a slot is due at its time
    assert sched.latest_slot(j, utc(2025, 5, 10, 5, 59)) == utc(2025, 5, 9, 6, 0)
    assert sched.next_slot(j, utc(2025, 5, 10, 6, 0)) == utc(2025, 5, 11, 6, 0)


def test_slots_follow_the_jobs_timezone_across_seasons():
    j = job(cron="0 6 * * *", timezone="America/New_York")
    assert sched.next_slot(j, utc(2025, 1, 15)) == utc(2025, 1, 15, 11, 0)  # EST, UTC-5
    assert sched.next_slot(j, utc(2025, 7, 15)) == utc(2025, 7, 15, 10, 0)  # EDT, UTC-4
    weekly = job(cron="0 9 * * 1", timezone="Asia/Seoul")  # Mondays 09:00 KST = Mondays 00:00 UTC
    assert sched.next_slot(weekly, utc(2025, 3, 5)) == utc(2025, 3, 10, 0, 0)


def test_spring_forward_runs_the_missing_time_once_after_the_gap():
    # Europe/Berlin skips 02:00-03:00 on 2025-03-30; a 02:30 job runs at 03:00 CEST = 01:00 UTC.
    j = job(cron="30 2 * * *", timezone="Europe/Berlin")
    assert sched.next_slot(j, utc(2025, 3, 29, 12)) == utc(2025, 3, 30, 1, 0)
    assert sched.next_slot(j, utc(2025, 3, 30, 1, 0)) == utc(2025, 3, 31, 0, 30)


def test_fall_back_runs_a_repeated_time_once():
    # 02:30 happens twice in Berlin on 2025-10-26 (00:30 and 01:30 UTC); the job runs at the first.
    j = job(cron="30 2 * * *", timezone="Europe/Berlin")
    assert sched.next_slot(j, utc(2025, 10, 25, 12)) == utc(2025, 10, 26, 0, 30)
    assert sched.next_slot(j, utc(2025, 10, 26, 0, 30)) == utc(2025, 10, 27, 1, 30)
    # During the second 02:30 the latest slot is still the first one, so it is not due again.
    assert sched.latest_slot(j, utc(2025, 10, 26, 1, 45)) == utc(2025, 10, 26, 0, 30)
    assert not sched.is_due(j, utc(2025, 10, 26, 1, 45), last_slot=utc(2025, 10, 26, 0, 30))


def test_never_run_job_is_due_and_disabled_job_is_not():
    assert sched.is_due(job(), utc(2025, 5, 10, 12), None)
    assert not sched.is_due(job(enabled=False), utc(2025, 5, 10, 12), None)


# -- cycles ---------------------------------------------------------------------------------------------
def test_missed_slots_run_once_on_start(tmp_path):
    config = make_schedule(tmp_path, job("daily", "0 6 * * *"))
    fake = FakeExecutor()
    s = sched.Scheduler(config, "db", execute=fake)
    s.state.record(job="daily", slot=utc(2025, 5, 1, 6), attempt=1, final=1, status="succeeded")
    # Down from May 1 to May 10: nine slots missed, one run.
    results = s.run_due(utc(2025, 5, 10, 12))
    assert fake.calls == ["daily"]
    assert results[0].slot == utc(2025, 5, 10, 6)
    assert s.run_due(utc(2025, 5, 10, 13)) == [] and fake.calls == ["daily"]
    s.run_due(utc(2025, 5, 11, 6, 0, 30))
    assert fake.calls == ["daily", "daily"]


def test_retries_back_off_exponentially_then_succeed(tmp_path):
    config = make_schedule(tmp_path, job("flaky", retries=3, retry_backoff_seconds=2.0))
    fake = FakeExecutor({"flaky": ["fail", "fail", "ok"]})
    s = sched.Scheduler(config, "db", execute=fake)
    waits = []
    s.stop_event.wait = lambda seconds: waits.append(seconds) or False
    (result,) = s.run_due(utc(2025, 5, 10, 12))
    assert result.status == "succeeded" and result.attempts == 3
    assert waits == [2.0, 4.0]
    rows = s.state.history("flaky")
    assert [(r["attempt"], r["status"], r["final"]) for r in rows] == [(3, "succeeded", 1), (2, "failed", 0), (1, "failed", 0)]


def test_exhausted_retries_fail_and_other_jobs_continue(tmp_path):
    config = make_schedule(tmp_path, job("bad", retries=2, retry_backoff_seconds=1.0), job("good"))
    fake = FakeExecutor({"bad": ["fail"] * 5})
    s = sched.Scheduler(config, "db", execute=fake)
    waits = []
    s.stop_event.wait = lambda seconds: waits.append(seconds) or False
    results = {r.job: r for r in s.run_due(utc(2025, 5, 10, 12))}
    assert results["bad"].status == "failed" and results["bad"].attempts == 3
    assert results["bad"].error == "RuntimeError: bad broke"
    assert waits == [1.0, 2.0]
    assert results["good"].status == "succeeded"
    assert fake.calls == ["bad", "bad", "bad", "good"]
    # The failed slot counts as handled: no re-run until the next slot.
    assert s.run_due(utc(2025, 5, 10, 13)) == []


def test_job_whose_dependency_failed_is_skipped_with_reason(tmp_path):
    config = make_schedule(
        tmp_path, job("report", depends_on=("refresh",)), job("refresh", depends_on=("health",)),
        job("health"), job("independent"),
    )
    fake = FakeExecutor({"health": ["fail"]})
    s = sched.Scheduler(config, "db", execute=fake)
    results = {r.job: r for r in s.run_due(utc(2025, 5, 10, 12))}
    assert fake.calls == ["health", "independent"]
    assert results["refresh"].status == "skipped"
    assert results["refresh"].error == "skipped: dependency health did not succeed in this cycle"
    assert results["report"].error == "skipped: dependency refresh did not succeed in this cycle"
    (row,) = s.state.history("refresh")
    assert row["status"] == "skipped" and "dependency health" in row["error"]


def test_missing_notebook_fails_without_calling_the_executor(tmp_path):
    missing = sched.Job(name="gone", notebook="notebooks/nope.ipynb", cron="0 6 * * *", retries=3)
    fake = FakeExecutor()
    s = sched.Scheduler(make_schedule(tmp_path, missing), "db", execute=fake)
    (result,) = s.run_due(utc(2025, 5, 10, 12))
    assert fake.calls == [] and result.status == "failed" and result.attempts == 1
    assert result.error == "notebook notebooks/nope.ipynb not found"


# -- webhook -------------------------------------------------------------------------------------------
@pytest.fixture
def hook_server():
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "type": self.headers["Content-Type"], "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


def test_failure_posts_the_webhook_payload(tmp_path, hook_server):
    url, received = hook_server
    config = make_schedule(tmp_path, job("bad", retries=1), job("good"), webhook_url=url, webhook_timeout_seconds=5)
    s = sched.Scheduler(config, "db", execute=FakeExecutor({"bad": ["fail", "fail"]}))
    results = {r.job: r for r in s.run_due(utc(2025, 5, 10, 12))}
    assert len(received) == 1  # once per failed job, not per attempt; none for the good job
    hit = received[0]
    assert hit["path"] == "/hook" and hit["type"] == "application/json"
    run_id = results["bad"].run_id
    assert hit["body"] == {
        "event": "job_failed",
        "job": "bad",
        "notebook": str(NOTEBOOKS / "passing.ipynb"),
        "run_id": run_id,
        "error": "RuntimeError: bad broke",
        "report": f"/reports/bad/{run_id}/x.html",
        "attempts": 2,
        "slot": "2025-05-10T06:00:00+00:00",
    }


def test_unreachable_webhook_is_logged_not_raised(caplog):
    # Port 9 (discard) on localhost is closed here: the connection is refused at once.
    assert sched.notify_webhook("http://127.0.0.1:9/x", {"a": 1}, timeout=2) is False
    assert "webhook http://127.0.0.1:9/x failed" in caplog.text


# -- the lock across processes -------------------------------------------------------------------------
def _slow_marking_executor(marker: str):
    def execute(job, run_id, settings, db):
        with open(marker, "a") as fh:
            fh.write(f"{job.name} {os.getpid()}\n")
        time.sleep(1.0)
        return sched.Outcome("succeeded")
    return execute


def _scheduler_process(reports: str, marker: str, start_at: float) -> None:
    config = sched.Schedule(sched.Settings(reports_dir=reports), (job("one"), job("two")))
    s = sched.Scheduler(config, "db", execute=_slow_marking_executor(marker))
    time.sleep(max(0.0, start_at - time.time()))
    s.run_due(utc(2025, 5, 10, 12))


def test_two_schedulers_never_run_the_same_job_twice(tmp_path):
    marker = str(tmp_path / "marker.txt")
    ctx = multiprocessing.get_context("fork")
    start_at = time.time() + 1.0
    procs = [ctx.Process(target=_scheduler_process, args=(str(tmp_path / "reports"), marker, start_at)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = Path(marker).read_text().splitlines()
    assert sorted(line.split()[0] for line in lines) == ["one", "two"]
    history = sched.State(tmp_path / "reports" / ".schedule").history()
    assert sorted(r["job"] for r in history) == ["one", "two"]


def test_lock_is_exclusive_within_and_across_processes(tmp_path):
    with sched.job_lock(tmp_path, "x") as first:
        assert first
        probe = subprocess.run(
            [sys.executable, "-c",
             "import sys; from cdp_lib.reports.schedule import job_lock\n"
             f"with job_lock({str(tmp_path)!r}, 'x') as held: sys.exit(0 if held else 3)"],
        )
        assert probe.returncode == 3
    with sched.job_lock(tmp_path, "x") as again:
        assert again


# -- end to end with real notebooks ---------------------------------------------------------------------
def _write_schedule(tmp_path, jobs, **settings) -> Path:
    path = tmp_path / "schedule.yaml"
    settings = {"reports_dir": str(tmp_path / "reports"), "retry_backoff_seconds": 0.1, **settings}
    path.write_text(yaml.safe_dump({"settings": settings, "jobs": jobs}))
    return path


def _cdp(*args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "cdp_lib.cli", *args], cwd=cwd, capture_output=True, text=True, **kw)


@pytest.mark.slow
@pytest.mark.notebook
def test_run_due_end_to_end(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "exports.yaml").write_text("points: 3\n")
    (tmp_path / "p" / "slow.yaml").write_text("seconds: 60\n")
    path = _write_schedule(tmp_path, [
        {"name": "exports", "notebook": str(NOTEBOOKS / "exports.ipynb"), "parameters": "p/exports.yaml", "cron": "0 6 * * *"},
        {"name": "broken", "notebook": str(NOTEBOOKS / "failing.ipynb"), "cron": "0 6 * * *", "retries": 1},
        {"name": "after-broken", "notebook": str(NOTEBOOKS / "exports.ipynb"), "cron": "0 6 * * *", "depends_on": ["broken"]},
        {"name": "too-slow", "notebook": str(NOTEBOOKS / "slow.ipynb"), "parameters": "p/slow.yaml", "cron": "0 6 * * *", "timeout_minutes": 0.25},
    ])
    done = _cdp("--db", str(tmp_path / "ws.duckdb"), "schedule", "run-due", "--schedule", str(path), cwd=tmp_path, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "failed: broken, too-slow" in done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line and not line[0].isdigit()}
    assert "succeeded" in lines["exports"]
    assert "failed" in lines["broken"] and "attempts=2" in lines["broken"]
    assert "skipped" in lines["after-broken"]
    assert "timed out after 0.25 min" in lines["too-slow"]
    reports = tmp_path / "reports"
    runs = {p.parent.name: json.loads(p.read_text()) for p in reports.glob("*/*/run.json")}
    slow = [json.loads(p.read_text()) for p in reports.glob("slow/*/run.json")]
    assert len(slow) == 1 and slow[0]["status"] == "failed" and slow[0]["error"] == "timed out after 0.25 min"
    broken = [json.loads(p.read_text()) for p in reports.glob("failing/*/run.json")]
    assert [r["status"] for r in broken] == ["failed", "failed"] and all(r["job"] == "broken" for r in broken)
    (exports,) = [json.loads(p.read_text()) for p in reports.glob("exports/*/run.json")]
    assert exports["status"] == "succeeded" and exports["outputs"] == ["squares.csv", "squares.png"]
    assert len(runs) == 4
    index = (reports / "index.html").read_text()
    assert index.count('<tr data-notebook=') == 4
    hist = _cdp("schedule", "history", "--schedule", str(path), cwd=tmp_path)
    assert hist.returncode == 0
    assert len([l for l in hist.stdout.splitlines()[1:] if l.strip()]) == 5  # 1 + 2 attempts + skip + timeout
    again = _cdp("--db", str(tmp_path / "ws.duckdb"), "schedule", "run-due", "--schedule", str(path), cwd=tmp_path, timeout=60)
    assert again.returncode == 0 and "nothing due" in again.stdout
    log = (reports / ".schedule" / "scheduler.log").read_text()
    assert "broken attempt 1 failed" in log and "retrying in 0.1 s" in log


@pytest.mark.slow
@pytest.mark.notebook
def test_scheduler_stops_on_sigterm_after_the_running_job(tmp_path):
    (tmp_path / "slow.yaml").write_text("seconds: 4\n")
    path = _write_schedule(tmp_path, [
        {"name": "sleepy", "notebook": str(NOTEBOOKS / "slow.ipynb"), "parameters": "slow.yaml", "cron": "0 6 * * *"},
        {"name": "next", "notebook": str(NOTEBOOKS / "exports.ipynb"), "cron": "0 6 * * *"},
    ], poll_seconds=1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdp_lib.cli", "--db", str(tmp_path / "ws.duckdb"), "schedule", "run", "--schedule", str(path)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.time() + 120
    while not list((tmp_path / "reports").glob("slow/*/run.json")):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "stopping after the running job" in out and "scheduler stopped" in out
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "reports").glob("slow/*/run.json")]
    assert record["status"] == "succeeded"  # the running job was allowed to finish
    assert not list((tmp_path / "reports").glob("exports/*"))  # the next one never started
    rows = sched.State(tmp_path / "reports" / ".schedule").history()
    assert [(r["job"], r["status"]) for r in rows] == [("sleepy", "succeeded")]
