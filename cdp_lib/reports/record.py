"""A run folder's record: run ids, `run.json` writes, the list of outputs, one-line error summaries."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
from pathlib import Path

from cdp_lib.errors import InputError

# Files of a run folder that are the runner's own, not exports of the notebook.
RUN_FILES = {"run.json"}


def new_run_id(now: dt.datetime | None = None) -> str:
    """`20261125T181500Z-3fa9c1`: sorts by start time (UTC, to the second), unique by suffix."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


_RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_run_id(run_id: str) -> str:
    """A run id is a folder name, never a path: letters, digits, `.`, `_`, `-`, first a letter
    or digit (so no `..`, `/`, `\\`), at most 128 characters; InputError otherwise."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id):
        raise InputError(
            f"run id {run_id!r} is not a name: use letters, digits, '.', '_' and '-' (starting "
            "with a letter or digit, at most 128 characters), e.g. 20261125T181500Z-3fa9c1"
        )
    return run_id


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def error_summary(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    evalue = getattr(exc, "evalue", None)
    if ename:
        count = getattr(exc, "exec_count", None)
        where = f" (in cell In [{count}])" if count is not None else ""
        text = f"{ename}: {evalue}{where}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:500]


def list_outputs(run_dir: Path, name: str) -> list[str]:
    """Files the notebook wrote into its run folder (relative paths), sorted."""
    own = RUN_FILES | {f"{name}.ipynb", f"{name}.html"}
    return sorted(
        str(p.relative_to(run_dir))
        for p in run_dir.rglob("*")
        if p.is_file() and str(p.relative_to(run_dir)) not in own and not p.name.endswith(".tmp")
    )
