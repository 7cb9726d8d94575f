"""Warehouse sync out (`sync`) and warehouse import in (`cdp_lib.sync.importer`).

`sync(ws, SyncParams(to=URL))` sends profiles, events and analysis results to a warehouse (any
Ibis backend URL; PostgreSQL and DuckDB tested) or a Parquet lake (`lake:DIR`, the layout of
`cdp export lake`). Incremental and idempotent; rules in docs/data-management.md.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from cdp_lib.errors import CdpError, InputError, NotComputedError

# Name in --tables -> (workspace table, key columns). Target tables keep the workspace names.
TABLES = {
    "profiles": ("profiles", ["profile_id"]),
    "events": ("events", ["event_id"]),
    "segment_membership": ("segment_membership", ["segment", "profile_id", "joined_at"]),
    "rfm": ("rfm_profile_attributes", ["profile_id"]),
    "clv": ("clv_predictions", ["profile_id"]),
}
MADE_BY = {"segment_membership": "cdp segment refresh", "rfm_profile_attributes": "cdp rfm",
           "clv_predictions": "cdp clv"}
DEFAULT_TABLES = ("profiles", "events")
BATCH_ROWS = 50_000
# Fault injection for the resume tests: CDP_SYNC_FAULT=<table>:<batch>:pause=<file> writes
# <file> and sleeps after batch <batch> reached the target and before the ledger records it.
FAULT_ENV = "CDP_SYNC_FAULT"


class SyncError(CdpError, RuntimeError):
    """A sync could not finish; what reached the target is recorded and the next run resumes."""


@dataclass
class SyncParams:
    """What to sync where. `to` is `lake:DIR` or an Ibis URL (`postgresql://user@host:5432/db`)."""

    to: str
    tables: tuple[str, ...] = DEFAULT_TABLES
    batch_rows: int = BATCH_ROWS
    full: bool = False  # forget what the target is known to hold and send every row again

    def __post_init__(self) -> None:
        from cdp_lib.sync.targets import check_url

        if isinstance(self.tables, str):
            self.tables = tuple(t.strip() for t in self.tables.split(",") if t.strip())
        self.tables = tuple(dict.fromkeys(self.tables))
        if not self.tables:
            raise InputError(f"--tables is empty; name some of {', '.join(TABLES)}")
        for t in self.tables:
            if t not in TABLES:
                from cdp_lib.keys import suggest

                raise InputError(f"--tables: unknown table {t!r}{suggest(t, TABLES)}; expected some of "
                                 f"{', '.join(TABLES)}")
        if not isinstance(self.batch_rows, int) or self.batch_rows < 1:
            raise InputError(f"batch_rows must be a positive whole number, not {self.batch_rows!r}")
        self.kind = check_url(self.to)


@dataclass
class TableSync:
    """What one run did to one table of the target."""

    table: str
    sent: int = 0  # rows inserted or replaced
    deleted: int = 0
    partitions: int = 0  # lake targets: partitions rewritten
    added_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"table": self.table, "sent": self.sent, "deleted": self.deleted, "partitions": self.partitions,
                "added_columns": self.added_columns, "seconds": self.seconds}


def sync(ws, params: SyncParams) -> list[TableSync]:
    """Send what changed since the last successful run of this target; see the module doc."""
    from cdp_lib.sync import store
    from cdp_lib.sync.targets import redact

    db = ws.duckdb
    store.ensure_tables(db)
    target_id = redact(params.to)
    names = [TABLES[t][0] for t in params.tables]
    for name in names:
        if not store.has_table(db, name):
            raise NotComputedError(f"table {name} is not in the workspace yet; run '{MADE_BY.get(name, 'cdp ingest')}' "
                                   f"first or leave it out of --tables")
    if params.kind == "lake":
        return _sync_lake(ws, params, target_id, names)
    from cdp_lib.sync.targets import IbisTarget

    target = IbisTarget(params.to)
    try:
        return [_sync_table(ws, target, target_id, TABLES[t][0], TABLES[t][1], params.batch_rows, params.full)
                for t in params.tables]
    finally:
        target.close()


def _sync_table(ws, target, target_id: str, table: str, key: list[str], batch_rows: int,
                full: bool = False) -> TableSync:
    from cdp_lib.sync import store
    from cdp_lib.sync.targets import ibis_schema

    db = ws.duckdb
    started = time.perf_counter()
    now = dt.datetime.now(dt.timezone.utc)
    store.start(db, target_id, table, now)
    out = TableSync(table)
    try:
        types = store.columns(db, table)
        out.added_columns = target.ensure_table(table, ibis_schema(types), key)
        if full:
            store.forget(db, target_id, table)
        n_todo, n_gone = store.plan(db, target_id, table, key)
        for i, first in enumerate(range(0, n_todo, batch_rows), start=1):
            rows = store.batch(db, list(types), first, batch_rows)
            target.replace_rows(table, rows, key)
            _fault(table, i)
            store.record_batch(db, target_id, table, key, first, batch_rows)
            store.add_sent(db, target_id, table, rows.num_rows)
            out.sent += rows.num_rows
        if n_gone:
            target.delete_keys(table, store.gone(db, key), key)
            store.record_gone(db, target_id, table, key)
            store.add_sent(db, target_id, table, n_gone)
            out.deleted = n_gone
        store.finish(db, target_id, table, now)
    except CdpError as exc:
        store.fail(db, target_id, table, str(exc))
        raise
    except Exception as exc:  # driver errors: the run stops, the next one resumes
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        message = f"sync of {table} to {target_id} stopped: {first_line}"
        store.fail(db, target_id, table, message)
        raise SyncError(f"{message}; what was sent is recorded, run 'cdp sync' again to resume "
                        "('cdp sync status' shows the error)") from exc
    finally:
        store.drop_temp(db)
    out.seconds = round(time.perf_counter() - started, 3)
    return out


def _sync_lake(ws, params: SyncParams, target_id: str, names: list[str]) -> list[TableSync]:
    """`lake:DIR`: the lake export (per-partition fingerprints, atomic manifest) does the work."""
    from cdp_lib.lake import export_lake
    from cdp_lib.sync import store

    db = ws.duckdb
    from cdp_lib.project import resolve_path

    directory = resolve_path(params.to[len("lake:"):])  # relative to the project folder
    now = dt.datetime.now(dt.timezone.utc)
    started = time.perf_counter()
    for name in names:
        store.start(db, target_id, name, now)
    try:
        result = export_lake(ws, directory, tables=names, incremental=not params.full)
    except CdpError as exc:
        for name in names:
            store.fail(db, target_id, name, str(exc))
        raise
    except Exception as exc:
        message = f"sync to {target_id} stopped: {(str(exc).splitlines() or [type(exc).__name__])[0]}"
        for name in names:
            store.fail(db, target_id, name, message)
        raise SyncError(f"{message}; run 'cdp sync' again (the lake keeps its last complete state)") from exc
    from cdp_lib.lake.layout import read_manifest

    manifest = read_manifest(directory)
    out = []
    seconds = round(time.perf_counter() - started, 3)
    for name in names:
        t = result.tables[name]
        parts = manifest["tables"][name]["partitions"]
        # A changed partition is rewritten whole: its rows are what this run sent.
        sent = sum(int(parts[k]["rows"]) for k in t.written if k in parts)
        store.add_sent(db, target_id, name, sent)
        store.finish(db, target_id, name, now)
        out.append(TableSync(name, sent=sent, partitions=len(t.written), seconds=seconds))
    return out


def status(ws) -> list[dict]:
    """Per target and table: watermark, rows sent, last run, last error."""
    from cdp_lib.sync import store

    keys = list(store.STATE)
    return [dict(zip(keys, row)) for row in store.state_rows(ws.duckdb)]


def _fault(table: str, batch: int) -> None:
    fault = os.environ.get(FAULT_ENV, "")
    if not fault:
        return
    where, number, action = (fault.split(":", 2) + ["", ""])[:3]
    if where != table or str(batch) != number:
        return
    if action.startswith("pause="):
        Path(action[len("pause="):]).write_text(f"{table}:{batch}")
        time.sleep(600)
    raise RuntimeError(f"injected failure after batch {batch} of {table} ({FAULT_ENV})")


def results_frame(results: list[TableSync]):
    """One row per table of a run (table, sent, deleted, added_columns, seconds), for reports."""
    import pandas as pd

    return pd.DataFrame([{**r.as_dict(), "added_columns": ", ".join(r.added_columns)} for r in results],
                        columns=["table", "sent", "deleted", "partitions", "added_columns", "seconds"])


def status_frame(ws):
    """`status(ws)` as a DataFrame, for reports."""
    import pandas as pd

    from cdp_lib.sync import store

    return pd.DataFrame(status(ws), columns=list(store.STATE))
