"""The lake layout: which table lives where, how it is partitioned, and the manifest.

A lake is a folder of Parquet files that any engine can read (DuckDB, Spark, Trino...)::

    DIR/_lake.json                                      the manifest (the only source of truth)
    DIR/events/event_date=2025-06-30/part-<id>-0.parquet one folder per UTC event date
    DIR/profiles/bucket=07/part-<id>-0.parquet          16 buckets by a hash of profile_id
    DIR/identities/bucket=07/part-<id>-0.parquet        the same buckets
    DIR/catalog/part=all/part-<id>-0.parquet            small tables: one partition
    DIR/rfm_snapshots/as_of=2025-06-30/part-<id>-0.parquet  analysis results, when exported

The manifest lists, per table, its columns (DuckDB type names) and, per partition, the files,
the row count and a content fingerprint. Readers take the file list from the manifest, so a
half-finished export is never seen; the partition column (`event_date`, `bucket`, ...) is a folder
name only and not part of the table. This module knows no engine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdp_lib.errors import InputError

MANIFEST = "_lake.json"
LAYOUT_VERSION = 1
BUCKETS = 16


@dataclass(frozen=True)
class Partitioning:
    """How one table is split into partitions.

    kind
        ``"date"``: one partition per UTC date of `column` (a timestamp or a date);
        ``"bucket"``: `buckets` partitions by a stable hash of `column`;
        ``"none"``: the whole table is one partition.
    """

    kind: str = "none"
    column: str | None = None
    buckets: int = BUCKETS
    # The folder name's key: `event_date=...`, `bucket=...`, `as_of=...`.
    key: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in {"date", "bucket", "none"}:
            raise ValueError(f"partitioning kind must be date, bucket or none, not {self.kind!r}")
        if self.kind != "none" and not self.column:
            raise ValueError(f"partitioning by {self.kind} needs a column")

    @property
    def folder_key(self) -> str:
        if self.key:
            return self.key
        return {"date": f"{self.column}_date", "bucket": "bucket", "none": "part"}[self.kind]


WHOLE = Partitioning()

# Canonical tables (always exported) and the analysis results a lake can carry.
CANONICAL_TABLES = ("profiles", "events", "catalog", "identities")
LAYOUTS: dict[str, Partitioning] = {
    "profiles": Partitioning("bucket", "profile_id"),
    "events": Partitioning("date", "timestamp", key="event_date"),
    "catalog": WHOLE,
    "identities": Partitioning("bucket", "profile_id"),
    "rfm_snapshots": Partitioning("date", "as_of", key="as_of"),
    "rfm_profile_attributes": Partitioning("bucket", "profile_id"),
    "clv_predictions": Partitioning("bucket", "profile_id"),
    "segment_membership": Partitioning("bucket", "profile_id"),
    "segment_refreshes": WHOLE,
    "segment_current": Partitioning("bucket", "profile_id"),
}
RESULT_TABLES = tuple(name for name in LAYOUTS if name not in CANONICAL_TABLES)


def register_layout(name: str, partitioning: Partitioning = WHOLE) -> None:
    """Declare how a further result table is laid out in the lake (default: one partition)."""
    LAYOUTS[name] = partitioning


def layout_of(name: str) -> Partitioning:
    return LAYOUTS.get(name, WHOLE)


# -- the manifest -------------------------------------------------------------------------------
def manifest_path(directory: str | os.PathLike) -> Path:
    return Path(directory) / MANIFEST


def empty_manifest() -> dict[str, Any]:
    return {"layout_version": LAYOUT_VERSION, "exports": 0, "tables": {}}


def read_manifest(directory: str | os.PathLike, missing_ok: bool = False) -> dict[str, Any]:
    """The lake's manifest; a folder without one is an error unless `missing_ok`."""
    path = manifest_path(directory)
    if not path.exists():
        if missing_ok:
            return empty_manifest()
        raise InputError(
            f"{directory} is not a lake (no {MANIFEST}); create one with 'cdp export lake {directory}'"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the lake manifest ({exc}); export the lake again") from None
    if data.get("layout_version") != LAYOUT_VERSION:
        raise InputError(
            f"{path}: layout version {data.get('layout_version')!r}, this workbench reads version "
            f"{LAYOUT_VERSION}; export the lake again into an empty folder"
        )
    return data


def write_manifest(directory: str | os.PathLike, manifest: dict[str, Any]) -> None:
    """Replace the manifest atomically (write a temporary file, then rename it)."""
    path = manifest_path(directory)
    tmp = path.with_name(f".{MANIFEST}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


def table_files(directory: str | os.PathLike, manifest: dict[str, Any], name: str) -> list[Path]:
    """Absolute paths of the files holding `name`, in partition order."""
    entry = manifest["tables"].get(name)
    if entry is None:
        raise InputError(f"table {name!r} is not in the lake at {directory}; export it with 'cdp export lake'")
    root = Path(directory)
    return [root / f for key in sorted(entry["partitions"]) for f in entry["partitions"][key]["files"]]


def partition_folder(name: str, partitioning: Partitioning, key: str) -> str:
    """Relative folder of one partition, e.g. ``events/event_date=2025-06-30``."""
    return f"{name}/{partitioning.folder_key}={key}"
