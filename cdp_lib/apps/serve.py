"""Serving app notebooks with Voila: the command line `cdp app` runs, built in one place."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from cdp_lib.errors import InputError

# App name -> (notebook under notebooks/apps/, app class in cdp_lib.apps)
APPS = {
    "kpi": "KpiApp",
    "customer360": "Customer360App",
    "rfm": "RfmExplorerApp",
    "funnel": "FunnelExplorerApp",
    "segment_builder": "SegmentBuilderApp",
    "catalog": "CatalogApp",
}


def apps_dir() -> Path:
    """`notebooks/apps/` of the checkout (next to the package), else of the current folder."""
    here = Path(__file__).resolve().parents[2] / "notebooks" / "apps"
    return here if here.is_dir() else Path("notebooks/apps").resolve()


def notebook_path(name: str) -> Path:
    if name not in APPS:
        from cdp_lib.keys import suggest

        raise InputError(f"unknown app {name!r}{suggest(name, APPS)} Apps: {', '.join(APPS)}")
    path = apps_dir() / f"{name}.ipynb"
    if not path.is_file():
        raise InputError(f"app notebook {path} is missing; run from the workbench checkout")
    return path


def voila_command(name: str | None, host: str = "127.0.0.1", port: int = 8866, token: str | None = None,
                  preheat: bool = True) -> list[str]:
    """The `voila` command line serving app `name` (None: every app, at
    `/voila/render/<name>.ipynb`): sources stripped, tracebacks hidden."""
    target = apps_dir() if name is None else notebook_path(name)
    cmd = [
        sys.executable, "-m", "voila", str(target),
        "--no-browser",
        f"--Voila.ip={host}",
        f"--port={port}",
        "--strip_sources=True",
        "--show_tracebacks=False",
        "--VoilaExecutor.kernel_name=python3",
    ]
    if token:
        cmd.append(f"--token={token}")
    if preheat and name is not None:
        cmd += ["--preheat_kernel=True", "--pool_size=1"]
    return cmd


def voila_env(db: str | os.PathLike) -> dict[str, str]:
    """Environment for the Voila server: its kernels (which run in `notebooks/apps/`) find the
    workspace through `CDP_DB` and the project folder (for `parameters/`) through `CDP_PROJECT_DIR`."""
    return {**os.environ, "CDP_DB": str(Path(db).resolve()), "CDP_PROJECT_DIR": str(Path.cwd())}


def run_server(cmd: list[str], env: dict[str, str], grace_seconds: float = 10.0) -> int:
    """Run the Voila server until it exits or this process gets SIGTERM/SIGINT/SIGHUP.

    The server and its kernels run in a process group of their own; a signal to this process is
    passed to the whole group, and the call returns only once the group is gone (SIGKILL after
    `grace_seconds`), so stopping `cdp app` never leaves Voila, a kernel or the port behind.
    """
    import signal
    import subprocess
    import time

    child = subprocess.Popen(cmd, env=env, start_new_session=True)
    stopped_at: list[tuple[int, float]] = []

    def forward(signum, _frame) -> None:
        if not stopped_at:
            stopped_at.append((signum, time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        while (code := child.poll()) is None:
            if stopped_at and time.monotonic() - stopped_at[0][1] > grace_seconds:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
            time.sleep(0.2)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        # Kernels that outlived the server (they share its group) go with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGTERM)
        _wait_group_gone(child.pid, grace_seconds)
    return 128 + stopped_at[0][0] if stopped_at else code


def _wait_group_gone(pgid: int, seconds: float) -> None:
    """Wait until no process of group `pgid` is left; SIGKILL the rest after `seconds`."""
    import signal
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            return
        time.sleep(0.1)
