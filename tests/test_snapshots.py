"""Published snapshots: readers keep working while another process writes the workspace."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from cdp_lib import Workspace, WorkspaceError
from cdp_lib.snapshots import (
    PublishedReader,
    current_snapshot,
    open_published,
    prune,
    publish,
    published_dir,
    snapshots,
)
from cdp_lib.testing import workspace_from_frames

# A writer process driven line by line over stdin: it holds the workspace open for writing
# the whole time, like an ingest or a scheduled job.
WRITER = textwrap.dedent(
    """
    import sys
    import pandas as pd
    from cdp_lib import Workspace
    from cdp_lib.snapshots import publish

    ws = Workspace(sys.argv[1])
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "insert":
            n = int(args[0])
            ws.duckdb.execute(
                "INSERT INTO profiles (profile_id) SELECT 'w' || i FROM range(?) t(i)", [n]
            )
        elif cmd == "publish":
            publish(ws)
        elif cmd == "quit":
            break
        print("ok", flush=True)
    ws.close()
    """
)


def _profiles(n: int) -> pd.DataFrame:
    return pd.DataFrame({"profile_id": [f"p{i}" for i in range(n)]})


def _count(ws: Workspace) -> int:
    return int(ws.profiles.count().execute())


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(path), profiles=_profiles(3)).close()
    return path


class Writer:
    def __init__(self, path):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "ready"

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)


@pytest.fixture
def writer(db):
    w = Writer(db)
    yield w
    w.stop()


def test_publish_writes_an_immutable_copy_and_a_pointer(db):
    path = publish(db)
    assert path.parent == published_dir(db) == db.parent / "published"
    assert path.name.startswith("cdp-") and path.name.endswith("Z.duckdb")
    assert current_snapshot(db) == path
    assert (db.parent / "published" / "cdp.current").read_text().strip() == path.name
    assert not list(published_dir(db).glob(".*tmp"))  # no temporary file left behind
    with open_published(db) as ws:
        assert ws.read_only and ws.path == path
        assert _count(ws) == 3


def test_reader_reads_published_copy_while_a_writer_holds_the_workspace(db, writer):
    with pytest.raises(WorkspaceError, match="cannot open workspace"):
        Workspace(db, read_only=True)  # the reason snapshots exist
    writer.send("publish")
    reader = PublishedReader(db)
    assert _count(reader.workspace) == 3
    first = reader.snapshot
    writer.send("insert 5")
    assert _count(reader.workspace) == 3  # unpublished writes stay invisible
    writer.send("publish")
    assert reader.changed()
    assert _count(reader.workspace) == 8  # the next interaction switches to the new copy
    assert reader.snapshot != first and not reader.changed()
    reader.close()


def test_reader_keeps_its_snapshot_until_it_asks_again(db, writer):
    writer.send("publish")
    reader = PublishedReader(db)
    ws = reader.workspace
    writer.send("insert 2")
    writer.send("publish")
    # The connection handed out earlier still answers from its own, unchanged snapshot.
    assert _count(ws) == 3
    assert _count(reader.workspace) == 5
    reader.close()


def test_open_published_publishes_once_when_nothing_was_published(db):
    assert current_snapshot(db) is None
    with open_published(db) as ws:
        assert _count(ws) == 3
    assert len(snapshots(db)) == 1


def test_open_published_explains_a_locked_unpublished_workspace(db, writer):
    with pytest.raises(WorkspaceError, match=r"no published snapshot of .*cdp\.duckdb yet.*Another process is writing"):
        open_published(db)


def test_publish_rejects_a_missing_workspace(tmp_path):
    with pytest.raises(WorkspaceError, match="no such workspace file"):
        publish(tmp_path / "nope.duckdb")


def test_prune_keeps_the_newest_and_those_still_open(db):
    first = publish(db)
    held = open_published(db)  # a reader in this process holds the first copy
    second = publish(db, keep=1)
    assert first.exists()  # still open here, so not deleted
    held.close()
    third = publish(db, keep=1)
    assert not first.exists() and not second.exists()
    assert snapshots(db) == [third] == [current_snapshot(db)]


def test_prune_skips_a_copy_open_in_another_process(db):
    first = publish(db)
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, duckdb; c = duckdb.connect(sys.argv[1], read_only=True); "
         "print('open', flush=True); sys.stdin.readline()", str(first)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "open"
        publish(db, keep=1)
        assert first.exists()
    finally:
        reader.stdin.write("\n")
        reader.stdin.flush()
        reader.wait(timeout=30)
    assert first in prune(db, keep=1)
    assert not first.exists()


def test_report_runs_publish_only_a_stale_snapshot_that_apps_read(db):
    from cdp_lib.reports.publish import publish_snapshot

    # No app has opened the workspace: a report run copies nothing (apps publish on first open).
    assert publish_snapshot(str(db), changed=True)["published"] is False
    assert snapshots(db) == []
    first = publish(db)
    assert publish_snapshot(str(db), changed=False) == {"published": False, "reason": "workspace unchanged by this run"}
    assert snapshots(db) == [first]
    assert publish_snapshot(str(db), changed=True)["published"] is True
    assert len(snapshots(db)) == 2


def test_publish_from_a_path_copies_the_file_with_its_write_ahead_log(tmp_path):
    """The path branch copies the file under DuckDB's shared lock; changes still in a writer's
    log (the writer ended without a checkpoint) reach the snapshot too."""
    import duckdb

    path = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(path), events=pd.DataFrame({
        "event_id": ["e1"], "profile_id": ["p1"], "metric": ["Placed Order"],
        "timestamp": ["2025-03-01T10:00:00"], "value": [10.0]})).close()
    con = duckdb.connect(str(path))
    con.execute("PRAGMA disable_checkpoint_on_shutdown")
    con.execute("INSERT INTO events (event_id, profile_id, metric, timestamp, value) VALUES "
                "('e2', 'p1', 'Placed Order', TIMESTAMPTZ '2025-03-02 10:00:00+00', 5.0)")
    con.close()
    assert (tmp_path / "cdp.duckdb.wal").is_file()
    snap = publish(path)
    assert not Path(f"{snap}.wal").exists()
    ws = Workspace(snap, read_only=True)
    assert sorted(ws.events.event_id.execute()) == ["e1", "e2"]
    ws.close()
