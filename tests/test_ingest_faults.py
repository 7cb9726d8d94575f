"""Issue 10, class 9: disk full and a vanishing input file give one line and exit 2; the next
ingest works once space is back."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from cdp_lib import WorkspaceError
from cdp_lib.ingest import ingest_file
from ingest_helpers import assert_one_line_error, cdp, rows, snapshot, write

ROWS = "email,metric,timestamp,value\n" + "".join(
    f"u{i}@x.com,Viewed Product,2024-01-01 10:{i % 60:02d}:00,{i}.5\n" for i in range(20_000))


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs (needs root and mount); skipped where it cannot be made."""
    mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a size-limited tmpfs")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_disk_full_is_one_line_and_the_next_ingest_works(small_disk, tmp_path):
    db = small_disk / "w.duckdb"
    src = write(tmp_path, "e.csv", ROWS)
    assert cdp("init", db=db).returncode == 0
    proc = cdp("ingest", "events", str(src), db=db)
    assert_one_line_error(proc, "is full", "nothing was loaded", "Free some space")
    subprocess.run(["mount", "-o", "remount,size=80m", str(small_disk)], check=True)
    again = cdp("ingest", "events", str(src), "--json", db=db)
    assert again.returncode == 0, again.stderr
    assert '"loaded": 20000' in again.stdout


def test_engine_io_error_is_a_workspace_error_and_rolls_back(tmp_ws, tmp_path, monkeypatch):
    """Where no tmpfs can be made: the engine's own I/O error raised mid-ingest."""
    import duckdb

    from cdp_lib.ingest import run

    before = snapshot(tmp_ws)

    def full(self, plan):
        raise duckdb.IOException('Could not write file "x.duckdb.wal": No space left on device')

    monkeypatch.setattr(run._Run, "write_events", full)
    with pytest.raises(WorkspaceError, match="is full .* nothing was loaded"):
        ingest_file(tmp_ws, "events", write(tmp_path, "e.csv", ROWS[:2000]))
    assert snapshot(tmp_ws) == before
    monkeypatch.undo()
    assert ingest_file(tmp_ws, "events", write(tmp_path, "f.csv", ROWS[:2000])).loaded > 0


def test_a_file_deleted_mid_ingest_is_still_read_whole(tmp_ws, tmp_path):
    path = write(tmp_path, "e.csv", ROWS)
    expected_sha = __import__("hashlib").sha256(path.read_bytes()).hexdigest()

    def vanish(step, index, total):
        if step == "read" and path.exists():
            path.unlink()

    result = ingest_file(tmp_ws, "events", path, progress=vanish)
    assert not path.exists()
    assert (result.rows, result.loaded) == (20_000, 20_000)
    assert rows(tmp_ws, "SELECT file_sha256 FROM ingests") == [(expected_sha,)]


def test_a_file_gone_before_it_is_opened_is_one_line(tmp_path):
    from cdp_lib.ingest.source import open_source
    from cdp_lib import InputError

    with pytest.raises(InputError, match="does not exist"):
        open_source(tmp_path / "gone.csv", "csv")
    proc = cdp("ingest", "events", str(tmp_path / "gone.csv"), db=tmp_path / "w.duckdb")
    assert_one_line_error(proc, "does not exist")


def test_cli_turns_an_engine_io_fault_into_one_line(monkeypatch, capsys):
    """Outside ingest too: an engine I/O error reaching the CLI is one line and exit 2."""
    import duckdb

    from cdp_lib import cli

    def boom(*args, **kwargs):
        raise duckdb.IOException('Could not write file "w.duckdb.wal": No space left on device')

    monkeypatch.setattr(cli.cli, "main", boom)
    assert cli.main(["info"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the disk is full") and err.count("\n") == 1
