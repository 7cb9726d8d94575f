"""Apps: first render with a preheated Voila kernel, and widget interaction times, on a demo store.

Run by hand (never a timed test), under the shared benchmark lock:

    flock /tmp/cdp-bench.lock .venv/bin/python benchmarks/bench_apps.py --profiles 100000

Builds (or reuses) a demo store under benchmarks/work/apps-<profiles>/, publishes it, then
1. serves the KPI app with `--preheat_kernel=True`, waits until the kernel pool is filled (and
   `--settle` seconds more: Voila logs "filled" while the kernel still pre-executes the notebook)
   and times Chromium from navigation until the headline cards are shown (3 page loads);
2. times one interaction of each app at widget level (`app.refresh()` after changing its main
   control), which is the server-side part of an interaction in the browser.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_store(profiles: int) -> Path:
    from cdp_lib import Workspace
    from cdp_lib.demodata import generate_store
    from cdp_lib.ingest import ingest_file
    from cdp_lib.kpi import rollup_build
    from cdp_lib.snapshots import current_snapshot, publish

    work = ROOT / "benchmarks" / "work" / f"apps-{profiles}"
    db = work / "cdp.duckdb"
    if not db.exists():
        t = time.perf_counter()
        generate_store(work, profiles, seed=42, end_date="2025-06-30")
        ws = Workspace(db)
        for table in ("catalog", "profiles", "events"):
            ingest_file(ws, table, work / f"{table}.parquet")
        ws.close()
        print(f"built demo store of {profiles:,} profiles in {time.perf_counter() - t:.1f} s")
    if current_snapshot(db) is None:
        t = time.perf_counter()
        publish(db, prepare=rollup_build.build)  # as `cdp publish` / `cdp app`: with the KPI roll-ups
        print(f"published snapshot (with KPI roll-ups) in {time.perf_counter() - t:.1f} s")
    return db


def first_render(db: Path, loads: int = 3, settle: float = 0.0) -> list[float]:
    from playwright.sync_api import sync_playwright

    from cdp_lib.apps.serve import voila_command, voila_env

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(db.parent / "voila.log", "w")
    proc = subprocess.Popen(voila_command("kpi", port=port, preheat=True), env=voila_env(db),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    times = []
    try:
        deadline = time.monotonic() + 300
        while "is filled with" not in (db.parent / "voila.log").read_text():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("voila kernel pool never filled; see " + str(db.parent / "voila.log"))
            time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"])
            for _ in range(loads):
                # Voila logs "filled" when the pool's kernel has started, while it still executes
                # the notebook; `settle` seconds later a visitor finds it pre-executed
                time.sleep(settle)
                # let the pool refill with a fresh pre-executed kernel before the next load
                filled = (db.parent / "voila.log").read_text().count("is filled with")
                page = browser.new_page()
                t = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/", timeout=300_000)
                page.wait_for_selector(".cdp-card", timeout=300_000)
                times.append(time.perf_counter() - t)
                page.close()
                deadline = time.monotonic() + 300
                while (db.parent / "voila.log").read_text().count("is filled with") <= filled and time.monotonic() < deadline:
                    time.sleep(0.5)
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    return times


def _timed(action) -> float:
    t = time.perf_counter()
    action()
    return time.perf_counter() - t


def interactions(db: Path) -> dict[str, float]:
    from cdp_lib.apps import Customer360App, FunnelExplorerApp, KpiApp, RfmExplorerApp, SegmentBuilderApp
    from cdp_lib.kpi import latest_event_day
    from cdp_lib.snapshots import open_published

    ws = open_published(db)
    end = latest_event_day(ws)
    out = {}
    t = time.perf_counter()
    app = KpiApp(workspace=ws)
    out["kpi: open (server side)"] = time.perf_counter() - t
    app.preset.value = "Last 7 days"
    out["kpi: range preset"] = app.last_render_seconds
    app.compare.value = "same period last year"
    out["kpi: comparison last year"] = app.last_render_seconds
    t = time.perf_counter()
    app = RfmExplorerApp(workspace=ws)
    out["rfm: open (server side)"] = time.perf_counter() - t
    app.start.value = end - dt.timedelta(days=180)
    out["rfm: start date"] = app.last_render_seconds
    app.group.value = "At Risk"
    out["rfm: pick group"] = app.last_render_seconds
    from cdp_lib.segments.lists import MAX_LIST_PEOPLE

    size = lambda b: int(b.description.replace(",", ""))  # noqa: E731
    moves = {k: b for k, b in app.matrix_buttons.items() if k[0] != k[1] and 0 < size(b) <= MAX_LIST_PEOPLE}
    button = max(moves.values(), key=size)
    out["rfm: click transition"] = _timed(button.click)
    os.environ["CDP_PROJECT_DIR"] = str(db.parent)  # saved segments go beside the bench store
    app.panel.name.value = f"bench transition {time.time_ns()}"
    out["rfm: save transition (list)"] = _timed(app.panel.save_button.click)
    t = time.perf_counter()
    app = FunnelExplorerApp(workspace=ws)
    out["funnel: open (server side)"] = time.perf_counter() - t
    app.window.value = "1d"
    out["funnel: window"] = app.last_render_seconds
    out["funnel: drop-out step"] = _timed(lambda: setattr(app.dropped_step, "value", 2))
    app.compare.value = "previous period"
    out["funnel: comparison"] = app.last_render_seconds
    t = time.perf_counter()
    app = SegmentBuilderApp(workspace=ws, folder=str(db.parent / "segments"))
    out["segment builder: open (server side)"] = time.perf_counter() - t
    app.rows[0].count.value = 3
    out["segment builder: count"] = app.last_render_seconds
    email = ws.profiles.filter(ws.profiles.email.notnull()).limit(1).execute()["email"].iloc[0]
    t = time.perf_counter()
    app = Customer360App(workspace=ws)
    out["customer 360: open (server side)"] = time.perf_counter() - t
    t = time.perf_counter()
    app.query.value = email
    out["customer 360: search"] = time.perf_counter() - t
    for name, seconds in out.items():
        if seconds is None:
            raise RuntimeError(f"{name}: no render recorded")
    ws.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, default=100_000)
    ap.add_argument("--skip-browser", action="store_true")
    ap.add_argument("--db", help="an existing workspace to time instead of building one")
    ap.add_argument("--republish", action="store_true", help="publish a new snapshot of --db first")
    ap.add_argument("--settle", type=float, default=0.0,
                    help="seconds to wait after Voila's pool filled before each page load (pre-execution)")
    ap.add_argument("--skip-interactions", action="store_true")
    args = ap.parse_args()
    db = Path(args.db) if args.db else build_store(args.profiles)
    if args.db:
        from cdp_lib.kpi import rollup_build
        from cdp_lib.snapshots import current_snapshot, publish

        if current_snapshot(db) is None or args.republish:
            t = time.perf_counter()
            publish(db, prepare=rollup_build.build)
            print(f"published snapshot (with KPI roll-ups) in {time.perf_counter() - t:.1f} s")
    if not args.skip_browser:
        times = first_render(db, settle=args.settle)
        print(f"first render (preheated kernel, {args.settle:g} s after the pool filled), seconds:",
              ", ".join(f"{t:.2f}" for t in times))
    if args.skip_interactions:
        return
    for name, seconds in interactions(db).items():
        print(f"{name:<28} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
