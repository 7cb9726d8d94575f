"""Export a DuckDB workspace to a lake folder, incrementally.

How a second export knows what changed: for every partition of every exported table (one UTC
event date of `events`, one hash bucket of `profiles`...) the manifest keeps the row count and a
fingerprint of the rows' content. An export recomputes them in DuckDB (one scan per table) and
writes only partitions whose fingerprint differs, plus new ones; partitions that no longer exist
are removed. A changed column list (a new custom property) rewrites the whole table. This catches
what a timestamp watermark alone would miss: late events for an old date, identity merges that
rewrite `profile_id` in old events, profile updates. The manifest also records watermarks (the
newest event time, the newest ingest) for people and schedulers to read.

Order of writes, so that a reader following the manifest never sees a half-written lake: new
files (unique names) are staged and moved into their partition folders, then the manifest is
replaced atomically, and only then are the superseded files deleted.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import pandas as pd

from cdp_lib.errors import InputError
from cdp_lib.lake import store
from cdp_lib.lake.layout import (CANONICAL_TABLES, RESULT_TABLES, layout_of, partition_folder, read_manifest,
                                 write_manifest)

if TYPE_CHECKING:  # the workspace opens the lake's Spark side: only its type is needed here
    from cdp_lib.workspace import Workspace

EMPTY_KEY = "__empty__"


@dataclass
class TableExport:
    """What one export did to one table."""

    name: str
    rows: int
    written: list[str] = field(default_factory=list)  # partition keys (re)written
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0

    def as_dict(self) -> dict:
        return {"rows": self.rows, "partitions_written": len(self.written),
                "partitions_removed": len(self.removed), "partitions_unchanged": self.unchanged}


@dataclass
class LakeExport:
    """The result of `export_lake`: the folder and, per table, what was written."""

    directory: Path
    tables: dict[str, TableExport]

    @property
    def partitions_written(self) -> int:
        return sum(len(t.written) for t in self.tables.values())

    def as_dict(self) -> dict:
        return {"directory": str(self.directory), "partitions_written": self.partitions_written,
                "tables": {n: t.as_dict() for n, t in self.tables.items()}}


def default_tables(ws: Workspace) -> list[str]:
    """The canonical tables, plus every known analysis result table present in the workspace."""
    present = set(ws.con.list_tables())
    return list(CANONICAL_TABLES) + [t for t in RESULT_TABLES if t in present]


def export_lake(ws: Workspace, directory: str | os.PathLike, tables: Iterable[str] | None = None,
                incremental: bool = True) -> LakeExport:
    """Write workspace tables as Parquet under `directory` in the lake layout (`cdp_lib.lake.layout`).

    Parameters
    ----------
    ws
        A DuckDB workspace (the source of truth).
    directory
        The lake folder; created if missing. An existing folder must be a lake or empty.
    tables
        Table names to export; default `default_tables(ws)`. Any workspace table can be named;
        tables without a declared layout are one partition (`register_layout` declares one).
    incremental
        Write only partitions whose content changed since the last export (default). False
        rewrites every partition of the named tables.
    """
    root = Path(directory)
    names = list(dict.fromkeys(default_tables(ws) if tables is None else tables))
    present = set(ws.con.list_tables())
    for name in names:
        if name not in present:
            raise InputError(f"cannot export table {name!r}: it is not in workspace {ws.path}; "
                             f"tables there: {', '.join(sorted(present))}")
    if root.exists() and not root.is_dir():
        raise InputError(f"lake folder {root} is a file; give a folder")
    if root.exists() and any(root.iterdir()) and not (root / "_lake.json").exists():
        raise InputError(f"{root} is neither empty nor a lake (no _lake.json); choose an empty or new folder")
    root.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(root, missing_ok=True)
    export_id = f"{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    staging = root / f".staging-{export_id}"
    done: dict[str, TableExport] = {}
    superseded: list[Path] = []
    try:
        for name in names:
            result, old_files = _export_table(ws, root, manifest, name, staging / name, export_id, incremental)
            done[name] = result
            superseded.extend(old_files)
        manifest["exports"] = int(manifest.get("exports", 0)) + 1
        manifest["last_export"] = {"id": export_id, "at": pd.Timestamp.now(tz="UTC").isoformat(),
                                   "source": str(ws.path), "tables": names}
        if "ingests" in present:
            manifest["watermarks"] = {"ingest_finished_at": store.watermark(ws, "ingests", "finished_at")}
        write_manifest(root, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for path in superseded:
        path.unlink(missing_ok=True)
        _prune_empty_dirs(path.parent, root)
    return LakeExport(root, done)


def _export_table(ws: Workspace, root: Path, manifest: dict, name: str, staging: Path, export_id: str,
                  incremental: bool) -> tuple[TableExport, list[Path]]:
    partitioning = layout_of(name)
    columns = store.columns_of(ws, name)
    old = manifest["tables"].get(name)
    if old is not None and (old.get("columns") != columns or old.get("partitioning") != partitioning.__dict__):
        old = None  # the table's shape changed: rewrite it whole
    old_parts = {} if old is None else old["partitions"]
    # Files of the previous version of this table, whatever its shape was.
    prev_parts = manifest["tables"].get(name, {}).get("partitions", {})
    now = store.fingerprints(ws, name, partitioning, list(columns))
    if not now:
        now = {EMPTY_KEY: {"rows": 0, "fingerprint": "0"}}
    changed = [k for k, v in now.items()
               if not incremental or k not in old_parts or old_parts[k]["fingerprint"] != v["fingerprint"]]
    removed = [k for k in prev_parts if k not in now]
    stale_keys = set(removed) | {k for k in changed if k in prev_parts}
    if old is None:
        stale_keys |= set(prev_parts)
    staged = store.write_partitions(ws, name, partitioning, list(columns),
                                    [k for k in changed if k != EMPTY_KEY], staging, export_id)
    if EMPTY_KEY in changed:
        empty = staging / f"part-{export_id}-0.parquet"
        store.write_empty(ws, name, list(columns), empty)
        staged[EMPTY_KEY] = [empty]
    parts = {} if old is None else {k: v for k, v in old_parts.items() if k in now}
    for key in changed:
        folder = root / partition_folder(name, partitioning, key)
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for src in staged.get(key, []):
            dst = folder / src.name
            os.replace(src, dst)
            files.append(dst.relative_to(root).as_posix())
        parts[key] = {**now[key], "files": files}
    entry = {"columns": columns, "partitioning": dict(partitioning.__dict__), "rows": sum(v["rows"] for v in now.values()),
             "partitions": dict(sorted(parts.items())), "exported_at": pd.Timestamp.now(tz="UTC").isoformat()}
    if partitioning.kind == "date" and now.keys() != {EMPTY_KEY}:
        entry["watermark"] = store.watermark(ws, name, partitioning.column)
    manifest["tables"][name] = entry
    new_files = {f for v in parts.values() for f in v["files"]}
    old_files = [root / f for k in stale_keys for f in prev_parts[k]["files"] if f not in new_files]
    result = TableExport(name, entry["rows"], written=sorted(changed), removed=sorted(removed),
                         unchanged=len(now) - len(changed))
    return result, old_files


def _prune_empty_dirs(folder: Path, root: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
