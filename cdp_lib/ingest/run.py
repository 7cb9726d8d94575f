"""One ingest run: the public `ingest_file` and the step sequence of `_Run`."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from cdp_lib import events_summary, identity
from cdp_lib.errors import WorkspaceError
from cdp_lib.ingest.columns import check_table, parse_mapping, plan_columns
from cdp_lib.ingest.readers import Readers
from cdp_lib.ingest.source import RowsSource, detect_format, open_source
from cdp_lib.ingest.validate import Validation, _is_io_error
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
    table = check_table(table)
    path = Path(path)
    fmt = detect_format(path)
    explicit = parse_mapping(mapping)
    _check_writable(ws)
    source = open_source(path, fmt)
    try:
        return _ingest(ws, table, source, explicit, progress)
    finally:
        source.close()


def ingest_rows(
    ws: Workspace,
    table: str,
    rows,
    source: str,
    mapping: Mapping[str, str] | Iterable[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> IngestResult:
    """Load rows that are already read (a pandas DataFrame or a pyarrow Table) into `table`.

    The single entry point for inputs that are not files (a warehouse query, a transform's
    output): the same column mapping, parsing, quarantine, identity resolution and
    transaction as `ingest_file`, with typed columns handled like Parquet's. `source` names
    the input in `ingests.file` and `quarantine.file`; rows are numbered from 1 in order.
    """
    table = check_table(table)
    explicit = parse_mapping(mapping)
    _check_writable(ws)
    return _ingest(ws, table, RowsSource(source, rows), explicit, progress)


def _check_writable(ws: Workspace) -> None:
    if not ws.is_duckdb or ws.read_only:
        raise WorkspaceError(f"ingest needs a writable DuckDB workspace, not {ws!r}")


def _ingest(ws, table, source, explicit, progress) -> IngestResult:
    started = time.perf_counter()
    path = source.path
    db = ws.duckdb
    now = dt.datetime.now(dt.timezone.utc)
    ingest_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    ctx = _Run(db, table, path, ingest_id, f"TIMESTAMPTZ '{now.isoformat()}'", progress)
    ctx.source = source
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
            counts = ctx.run(source.fmt, explicit)
            if table == "profiles":  # keep transformed properties current (cdp_lib.transforms)
                from cdp_lib.transforms.store import apply_active

                apply_active(ws, ingest_id, now)
            if (table == "events" and counts["loaded"]) or counts.get("merges"):
                events_summary.store(db)  # what `cdp info` reads (cdp_lib.events_summary)
            db.execute(
                "INSERT INTO ingests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [ingest_id, table, str(path), source.sha256, counts["rows"],
                 counts["loaded"], counts["duplicates"], counts["quarantined"], now,
                 dt.datetime.now(dt.timezone.utc)],
            )
    except Exception as exc:
        if not _is_io_error(exc):
            raise
        with contextlib.suppress(Exception):  # a failed COMMIT leaves an aborted transaction
            db.execute("ROLLBACK")
        raise WorkspaceError(_io_message(ws, path, exc)) from None
    finally:
        ctx.drop_temp_tables()
        with contextlib.suppress(Exception):  # the connection may be gone after an I/O fault
            if bar_was_on:
                db.execute("SET enable_progress_bar = true")
            db.execute(f"SET memory_limit = {_lit(limit_was)}")
    return IngestResult(
        rows=counts["rows"], loaded=counts["loaded"], duplicates=counts["duplicates"],
        quarantined=counts["quarantined"], ingest_id=ingest_id, table=table, file=str(path),
        new_profiles=counts.get("new_profiles", 0), merges=counts.get("merges", 0),
        seconds=round(time.perf_counter() - started, 3),
    )


def _io_message(ws: Workspace, path, exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if any(p in text.lower() for p in ("no space left", "failed to offload", "disk is full")) or \
            getattr(exc, "errno", None) == errno.ENOSPC:
        return (f"ingest of {path} stopped: the disk holding workspace {ws.path} is full "
                f"({text}); nothing was loaded. Free some space (df -h) and ingest again")
    return (f"ingest of {path} stopped by an I/O error ({text}); nothing was loaded. "
            "Check the disk and that the input file is still there, then ingest again")


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
        for name in [*self.temp, *identity.TEMP_TABLES, "_rejects", "_rejects_scan", "_rows_in"]:
            for kind in ("VIEW", "TABLE"):
                try:
                    self.db.execute(f"DROP {kind} IF EXISTS temp.{name}")
                except Exception:  # wrong kind, or the connection is gone; nothing to undo
                    pass
        with contextlib.suppress(Exception):
            self.db.unregister("_rows_in")

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
        self.csv_bad = 0
        self.checkpoint("read")
        plan = plan_columns(self.table, list(source_types), explicit)
        self.require_columns(plan, list(source_types))
        self.validate(plan, source_types, self.derived_columns(plan), fmt)
        bad_rows += self.csv_bad
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
