"""One ingest run: the public `ingest_file` and the step sequence of `_Run`."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from cdp_lib import identity
from cdp_lib.errors import WorkspaceError
from cdp_lib.ingest.columns import check_table, parse_mapping, plan_columns
from cdp_lib.ingest.readers import Readers, detect_format, file_sha256
from cdp_lib.ingest.validate import Validation
from cdp_lib.ingest.values import _lit
from cdp_lib.ingest.write import Writers
from cdp_lib.workspace import Workspace

# Fault injection for the atomicity tests: CDP_INGEST_FAULT=<step> raises after that step;
# CDP_INGEST_FAULT=<step>:pause=<file> writes <file> and sleeps there (to be killed).
FAULT_ENV = "CDP_INGEST_FAULT"
STEPS = ("read", "validate", "deduplicate", "resolve", "write")

# DuckDB memory cap while an ingest runs (its temp tables spill to disk beyond it), so 10M
# events load in well under 4 GB; a lower current limit is kept. Env CDP_INGEST_MEMORY_LIMIT.
MEMORY_LIMIT = os.environ.get("CDP_INGEST_MEMORY_LIMIT", "2GB")

# Files larger than this show a progress bar in the CLI (when stderr is a terminal).
LARGE_FILE_BYTES = 20_000_000


@dataclass(frozen=True)
class IngestResult:
    """What happened to the rows of one file: `rows == loaded + duplicates + quarantined`."""

    rows: int
    loaded: int
    duplicates: int
    quarantined: int
    ingest_id: str
    table: str = ""
    file: str = ""
    new_profiles: int = 0
    merges: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)



# -- public API -------------------------------------------------------------------------------
def ingest_file(
    ws: Workspace,
    table: str,
    path: str | os.PathLike,
    mapping: Mapping[str, str] | Iterable[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> IngestResult:
    """Load one file into `profiles`, `events` or `catalog`, atomically.

    Parameters
    ----------
    ws
        A writable DuckDB workspace.
    table
        ``"profiles"``, ``"events"`` or ``"catalog"``.
    path
        A ``.csv`` (``.tsv``, ``.csv.gz``), ``.parquet`` or ``.jsonl`` (``.ndjson``) file.
    mapping
        Explicit column names, ``{"source column": "canonical column"}`` or an iterable of
        ``"source=canonical"`` strings; they win over the default spellings.
    progress
        Called as ``progress(step, index, n_steps)`` after each step of `STEPS`.

    Returns
    -------
    IngestResult
        Counts of rows loaded, duplicates and quarantined rows, and the ingest id under which
        the quarantined rows are stored.
    """
    started = time.perf_counter()
    table = check_table(table)
    path = Path(path)
    fmt = detect_format(path)
    explicit = parse_mapping(mapping)
    if not ws.is_duckdb or ws.read_only:
        raise WorkspaceError(f"ingest needs a writable DuckDB workspace, not {ws!r}")
    db = ws.duckdb
    now = dt.datetime.now(dt.timezone.utc)
    ingest_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    ctx = _Run(db, table, path, ingest_id, f"TIMESTAMPTZ '{now.isoformat()}'", progress)
    # DuckDB's own progress bar would print into --json output; ours is the `progress` hook.
    bar_was_on, limit_was = db.execute(
        "SELECT current_setting('enable_progress_bar'), current_setting('memory_limit')"
    ).fetchone()
    db.execute("SET enable_progress_bar = false")
    if _bytes(MEMORY_LIMIT) < _bytes(limit_was):
        db.execute(f"SET memory_limit = {_lit(MEMORY_LIMIT)}")
    try:
        with ws.transaction():
            db.execute("SET TimeZone = 'UTC'")
            counts = ctx.run(fmt, explicit)
            db.execute(
                "INSERT INTO ingests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [ingest_id, table, str(path), file_sha256(path), counts["rows"],
                 counts["loaded"], counts["duplicates"], counts["quarantined"], now,
                 dt.datetime.now(dt.timezone.utc)],
            )
    finally:
        ctx.drop_temp_tables()
        if bar_was_on:
            db.execute("SET enable_progress_bar = true")
        db.execute(f"SET memory_limit = {_lit(limit_was)}")
    return IngestResult(
        rows=counts["rows"], loaded=counts["loaded"], duplicates=counts["duplicates"],
        quarantined=counts["quarantined"], ingest_id=ingest_id, table=table, file=str(path),
        new_profiles=counts.get("new_profiles", 0), merges=counts.get("merges", 0),
        seconds=round(time.perf_counter() - started, 3),
    )


def _bytes(size: str) -> float:
    """'2GB', '18.8 GiB', '512 MiB' -> bytes (DuckDB's memory_limit spellings)."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]i?B|bytes?|B)?\s*", size, flags=re.IGNORECASE)
    if not m:
        return float("inf")
    unit = (m.group(2) or "B").upper()
    base = 1024 if "I" in unit else 1000
    power = {"K": 1, "M": 2, "G": 3, "T": 4}.get(unit[0], 0)
    return float(m.group(1)) * base**power



# -- one ingest run ---------------------------------------------------------------------------
class _Run(Readers, Validation, Writers):
    """The steps of one ingest; every intermediate result is a temp table of the connection."""

    def __init__(self, db, table, path, ingest_id, now, progress):
        self.db, self.table, self.path = db, table, path
        self.ingest_id, self.now, self.progress = ingest_id, now, progress
        self.temp: list[str] = []
        self.step_index = 0

    # plumbing
    def sql(self, query: str, params=None):
        return self.db.execute(query, params) if params is not None else self.db.execute(query)

    def scalar(self, query: str, params=None):
        return self.sql(query, params).fetchone()[0]

    def temp_table(self, name: str, query: str, params=None) -> None:
        self.temp.append(name)
        self.sql(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}", params)

    def drop_temp_tables(self) -> None:
        for name in [*self.temp, *identity.TEMP_TABLES, "_rejects", "_rejects_scan"]:
            for kind in ("VIEW", "TABLE"):
                try:
                    self.db.execute(f"DROP {kind} IF EXISTS temp.{name}")
                except Exception:  # wrong kind, or the connection is gone; nothing to undo
                    pass

    def checkpoint(self, step: str) -> None:
        self.step_index += 1
        if self.progress is not None:
            self.progress(step, self.step_index, len(STEPS))
        fault = os.environ.get(FAULT_ENV, "")
        where, _, action = fault.partition(":")
        if where != step:
            return
        if action.startswith("pause="):
            Path(action[len("pause="):]).write_text(step)
            time.sleep(600)
        raise RuntimeError(f"injected failure after ingest step {step!r} ({FAULT_ENV})")

    # steps
    def run(self, fmt: str, explicit: dict[str, str]) -> dict:
        source_types, bad_rows = self.read(fmt)
        self.checkpoint("read")
        plan = plan_columns(self.table, list(source_types), explicit)
        self.require_columns(plan, list(source_types))
        self.validate(plan, source_types, self.derived_columns(plan), fmt)
        if fmt == "csv":  # the scan above filled DuckDB's rejects table
            bad_rows = self.csv_rejects()
        self.sql(
            f"""INSERT INTO quarantine
            SELECT '{self.ingest_id}', ?, '{self.table}', _line, _reason, _src, {self.now}
            FROM _typed WHERE _reason IS NOT NULL""",
            [str(self.path)],
        )
        rows = self.scalar("SELECT count(*) FROM _typed") + bad_rows
        self.checkpoint("validate")
        quarantined = self.scalar(
            "SELECT count(*) FROM quarantine WHERE ingest_id = ?", [self.ingest_id]
        )
        writer = {"events": self.write_events, "profiles": self.write_profiles,
                  "catalog": self.write_catalog}[self.table]
        duplicates, stats = writer(plan)
        self.checkpoint("write")
        return {"rows": int(rows), "loaded": int(rows - duplicates - quarantined),
                "duplicates": int(duplicates), "quarantined": int(quarantined), **stats}
