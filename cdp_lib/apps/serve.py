"""Serving app notebooks with Voila: the command line `cdp app` runs, built in one place."""

from __future__ import annotations

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
}


def apps_dir() -> Path:
    """`notebooks/apps/` of the checkout (next to the package), else of the current folder."""
    here = Path(__file__).resolve().parents[2] / "notebooks" / "apps"
    return here if here.is_dir() else Path("notebooks/apps").resolve()


def notebook_path(name: str) -> Path:
    if name not in APPS:
        from difflib import get_close_matches

        hint = get_close_matches(name, APPS, n=1)
        raise InputError(
            f"unknown app {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
            + f" Apps: {', '.join(APPS)}"
        )
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
