"""Published read-only snapshots of a workspace, so apps keep serving while jobs write.

DuckDB lets one process write a database file and then no other process may even read it. Apps
therefore never open the workspace itself: after a successful write job, `publish` copies the
workspace into a new immutable file under `<workspace folder>/published/`, and `open_published`
(or a long-lived `PublishedReader`) opens the newest copy read-only.

Layout for the workspace `data/cdp.duckdb`::

    data/published/cdp-20250301T120000123456Z.duckdb   immutable copies, newest last
    data/published/cdp.current                         name of the newest copy

A copy is written under a temporary name and renamed into place, then the pointer file is
replaced atomically (`os.replace`), so a reader sees either the previous snapshot or the new one,
never a half-written file. Old copies are pruned, keeping the newest `keep` and any copy still
held open by a reader.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from cdp_lib.errors import WorkspaceError
from cdp_lib.workspace import Workspace

PUBLISHED_DIR = "published"
KEEP = 2  # snapshots kept besides those still open: the current one and its predecessor

# Snapshot files opened by this process, with how many readers hold each. Pruning skips them,
# and never probes their locks: closing any descriptor of a file drops all of this process's
# POSIX locks on it, including DuckDB's.
_open_here: dict[Path, int] = {}
_open_lock = threading.Lock()


def published_dir(db_path: str | os.PathLike) -> Path:
    """The folder holding the published copies of the workspace `db_path`."""
    return Path(db_path).parent / PUBLISHED_DIR


def _pointer(db_path: str | os.PathLike) -> Path:
    return published_dir(db_path) / f"{Path(db_path).stem}.current"


def snapshots(db_path: str | os.PathLike) -> list[Path]:
    """The published copies of `db_path` on disk, oldest first (names sort by time)."""
    folder, stem = published_dir(db_path), Path(db_path).stem
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{stem}-*Z.duckdb") if p.is_file())


def current_snapshot(db_path: str | os.PathLike) -> Path | None:
    """The snapshot the pointer names, or None when nothing was published yet."""
    pointer = _pointer(db_path)
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    path = pointer.parent / name
    return path if name and path.is_file() else None


def _new_name(db_path: Path) -> Path:
    folder = published_dir(db_path)
    while True:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        path = folder / f"{db_path.stem}-{stamp}.duckdb"
        if not path.exists():
            return path
        time.sleep(1e-6)


def publish(source: Workspace | str | os.PathLike, keep: int = KEEP,
            prepare: Callable[[Workspace], object] | None = None) -> Path:
    """Copy a workspace into a new published snapshot and make it the current one.

    Parameters
    ----------
    source
        The workspace file, or an open read-write `Workspace` (call it from the writing job
        right after its last write: the copy is taken inside the writer's own connection).
        A path is opened read-only, which fails while another process writes it.
    keep
        How many of the newest snapshots to keep; older ones are deleted unless still open.
    prepare
        Called with the new copy opened read-write before it becomes current, to add what only
        readers need (`cdp_lib.kpi.rollup_build.build`: the KPI app's daily roll-ups). If it fails,
        nothing is published.

    Returns
    -------
    Path of the new snapshot file.
    """
    import duckdb  # storage edge: a file copy under DuckDB's lock, or its COPY FROM DATABASE

    if isinstance(source, Workspace):
        if source.path is None or not source.is_duckdb:
            raise WorkspaceError("only a DuckDB workspace file can be published")
        db_path = source.path
    else:
        db_path = Path(source)
        if not db_path.is_file():
            raise WorkspaceError(
                f"cannot publish {db_path}: no such workspace file; create it with 'cdp init' "
                "or 'make demo'"
            )
    target = _new_name(db_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if isinstance(source, Workspace):
            con = source.duckdb
            src_name = con.execute("SELECT current_database()").fetchone()[0]
            con.execute(f"ATTACH '{tmp}' AS __cdp_publish")
            try:
                con.execute(f'COPY FROM DATABASE "{src_name}" TO __cdp_publish')
            finally:
                con.execute("DETACH __cdp_publish")
        else:
            # A read-only attach holds DuckDB's shared lock: no writer can start while the file
            # is copied byte for byte (seconds for gigabytes; COPY FROM DATABASE re-encodes every
            # table, minutes at a million profiles). A write-ahead log left by a writer is copied
            # too and folded into the copy.
            con = duckdb.connect()
            try:
                con.execute(f"ATTACH '{db_path}' AS __cdp_source (READ_ONLY)")
            except duckdb.Error as exc:
                con.close()
                raise WorkspaceError(
                    f"cannot publish {db_path}: {str(exc).splitlines()[0]}. Another process is "
                    "writing it; publish from that job when it finishes"
                ) from None
            try:
                shutil.copyfile(db_path, tmp)
                wal = Path(f"{db_path}.wal")
                if wal.is_file():
                    shutil.copyfile(wal, f"{tmp}.wal")
            finally:
                con.close()
            if Path(f"{tmp}.wal").is_file() and prepare is None:
                duckdb.connect(str(tmp)).close()  # replays the log into the copy
        if prepare is not None:
            with Workspace(tmp) as copy:
                copy.duckdb.execute("SET enable_progress_bar = false")  # no bar in a job's log
                prepare(copy)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    pointer = _pointer(db_path)
    pointer_tmp = pointer.with_name(f".{pointer.name}.{os.getpid()}.tmp")
    pointer_tmp.write_text(target.name + "\n")
    os.replace(pointer_tmp, pointer)
    prune(db_path, keep=keep)
    return target


def _held_elsewhere(path: Path) -> bool:
    """True when another process holds a DuckDB lock on `path` (POSIX record locks)."""
    try:
        import fcntl
    except ImportError:  # Windows: a file in use cannot be deleted anyway
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def prune(db_path: str | os.PathLike, keep: int = KEEP) -> list[Path]:
    """Delete published copies older than the newest `keep` that no reader holds open."""
    keep = max(1, keep)
    current = current_snapshot(db_path)
    removed = []
    for path in snapshots(db_path)[:-keep]:
        with _open_lock:
            in_use_here = _open_here.get(path.resolve(), 0) > 0
        if path == current or in_use_here or _held_elsewhere(path):
            continue
        path.unlink(missing_ok=True)
        Path(f"{path}.wal").unlink(missing_ok=True)
        removed.append(path)
    return removed


class _SnapshotWorkspace(Workspace):
    """A read-only workspace on a snapshot file; closing it lets pruning delete the file."""

    def __init__(self, path: Path):
        super().__init__(path, read_only=True)
        with _open_lock:
            key = path.resolve()
            _open_here[key] = _open_here.get(key, 0) + 1
        self._released = False

    def close(self) -> None:
        super().close()
        if not self._released:
            self._released = True
            _release(self.path)


def _release(path: Path) -> None:
    with _open_lock:
        key = path.resolve()
        left = _open_here.get(key, 0) - 1
        if left > 0:
            _open_here[key] = left
        else:
            _open_here.pop(key, None)


def open_published(db_path: str | os.PathLike) -> Workspace:
    """Open the newest published copy of `db_path` read-only.

    When nothing was published yet, publishes once (possible only while no other process
    writes the workspace). Close the returned workspace when done; `PublishedReader` does this
    for long-lived readers such as apps.
    """
    return _open_current(Path(db_path))


def _open_current(db_path: Path) -> "_SnapshotWorkspace":
    for attempt in range(5):
        path = _resolve_current(db_path)
        try:
            return _SnapshotWorkspace(path)
        except WorkspaceError:  # pruned between reading the pointer and opening: read it again
            if attempt == 4:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


def _resolve_current(db_path: Path) -> Path:
    for _ in range(5):  # a pruner may delete the file between reading the pointer and opening
        path = current_snapshot(db_path)
        if path is not None:
            return path
        if _pointer(db_path).exists():
            time.sleep(0.05)
            continue
        if not db_path.is_file():
            raise WorkspaceError(
                f"workspace {db_path} does not exist and nothing was published from it; "
                "load data with 'make demo' or 'cdp ingest' first"
            )
        try:
            return publish(db_path)
        except WorkspaceError as exc:
            raise WorkspaceError(
                f"no published snapshot of {db_path} yet, and publishing one failed: {exc}"
            ) from None
    raise WorkspaceError(
        f"the snapshot pointer {_pointer(db_path)} names a missing file; run "
        f"'cdp publish' (or publish({str(db_path)!r})) again"
    )


class PublishedReader:
    """A long-lived read-only view of a workspace that follows newly published snapshots.

    `workspace` returns the newest snapshot's connection, switching (and closing the old one)
    when a job has published a newer copy since the last call. Call it once at the start of
    each interaction so one interaction sees one consistent snapshot.

    Parameters
    ----------
    db_path
        The workspace file (its published copies live in `published/` next to it).
    """

    def __init__(self, db_path: str | os.PathLike):
        self.db_path = Path(db_path)
        self.snapshot: Path | None = None
        self._ws: Workspace | None = None

    @property
    def workspace(self) -> Workspace:
        newest = current_snapshot(self.db_path)
        if self._ws is not None and (newest is None or newest == self.snapshot):
            return self._ws
        ws = _open_current(self.db_path)
        self.close()
        self._ws, self.snapshot = ws, ws.path
        return ws

    def changed(self) -> bool:
        """True when a newer snapshot than the one in use has been published."""
        newest = current_snapshot(self.db_path)
        return newest is not None and newest != self.snapshot

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws, self.snapshot = None, None

    def __enter__(self) -> "PublishedReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PublishedReader({self.db_path}, snapshot={self.snapshot.name if self.snapshot else None})"
