"""Helpers shared by the ingest hardening tests (tests/test_ingest_*.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cdp_lib import Workspace


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def rows(ws: Workspace, sql: str, params=None) -> list[tuple]:
    return ws.duckdb.execute(sql, params).fetchall() if params else ws.duckdb.execute(sql).fetchall()


def snapshot(ws: Workspace) -> dict:
    """Every table's columns and sorted rows: equal snapshots mean an unchanged workspace."""
    out = {}
    for (name,) in rows(ws, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"):
        cols = [c for (c,) in rows(ws, f"SELECT column_name FROM information_schema.columns WHERE table_name = '{name}' AND table_schema = 'main' ORDER BY ordinal_position")]
        out[name] = (cols, sorted(map(repr, rows(ws, f'SELECT * FROM "{name}"'))))
    return out


def check_counts(result) -> None:
    assert result.rows == result.loaded + result.duplicates + result.quarantined


def cdp(*args: str, db: Path, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `cdp` command in a child process (so tracebacks and exit codes are real)."""
    return subprocess.run(
        [sys.executable, "-m", "cdp_lib.cli", "--db", str(db), *args],
        capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})}, timeout=300,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit 2, one `error:` line on stderr, no Python traceback anywhere."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout and "Exception ignored" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def assert_no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert "Exception ignored" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 2), (proc.returncode, proc.stderr)
