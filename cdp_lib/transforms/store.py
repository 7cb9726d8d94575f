"""Storage edge of transforms: the active set, `transforms_log`, and the UPDATEs (DuckDB SQL).

`apply` writes every transform's output for all profiles in one transaction and makes the given
transforms the active set; `apply_active` is called by profiles ingest, inside its transaction,
for the rows that ingest wrote (those whose `updated_at` is the ingest's moment).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import ibis

from cdp_lib import schema
from cdp_lib.transforms import expressions
from cdp_lib.transforms.definitions import TransformDefinition, check_columns, parse_definition
from cdp_lib.segments.definition import Source

ACTIVE_TABLE = "transforms"
LOG_TABLE = "transforms_log"
ACTIVE = {
    "name": "VARCHAR",
    "target": "VARCHAR",
    "output": "VARCHAR",
    "position": "BIGINT",  # order of application (file-name order at apply)
    "definition": "VARCHAR",  # the definition as JSON
    "file": "VARCHAR",
    "activated_at": "TIMESTAMPTZ",
}
LOG = {
    "run_id": "VARCHAR",
    "trigger": "VARCHAR",  # apply | ingest
    "ingest_id": "VARCHAR",  # the profiles ingest, for trigger = ingest
    "name": "VARCHAR",
    "output": "VARCHAR",
    "rows": "BIGINT",  # profiles the transform was computed for
    "written": "BIGINT",  # profiles whose stored output changed
    "changed": "BIGINT",
    "unchanged": "BIGINT",
    "empty": "BIGINT",
    "bad_dates": "BIGINT",  # non-empty values iso_date could not read
    "ran_at": "TIMESTAMPTZ",
}


def ensure_tables(db) -> None:
    db.execute(schema.create_table_sql(ACTIVE_TABLE, ACTIVE))
    db.execute(schema.create_table_sql(LOG_TABLE, LOG))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _profile_columns(db) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'profiles' "
        "AND table_schema = current_schema() ORDER BY ordinal_position").fetchall()]


def _run_one(ws, db, d: TransformDefinition, now: dt.datetime, since: dt.datetime | None) -> dict:
    """Compute one transform, write its output where it differs; returns the counts."""
    # An unbound table compiled to SQL: no Ibis call touches the connection (a second cursor
    # would be a second transaction, and DuckDB refuses the commit after the ALTER above).
    types = dict(db.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'profiles' "
        "AND table_schema = current_schema() ORDER BY ordinal_position").fetchall())
    profiles = ibis.table(_ibis_schema(types), name="profiles")
    if since is not None:
        profiles = profiles.filter(profiles.updated_at == ibis.literal(since, "timestamp('UTC')"))
    preview = expressions.preview_table(profiles, d)
    sql = ibis.to_sql(preview, dialect="duckdb")
    db.execute(f"CREATE OR REPLACE TEMP TABLE _transform AS {sql}")
    try:
        rows, changed, unchanged, empty, bad = db.execute(
            "SELECT count(*), coalesce(count_if(status = 'changed'), 0), coalesce(count_if(status = 'unchanged'), 0), "
            "coalesce(count_if(status = 'empty'), 0), coalesce(count_if(bad_date), 0) FROM _transform").fetchone()
        out = _ident(d.output)
        written = db.execute(
            f"""UPDATE profiles SET {out} = t.after, updated_at = ?
            FROM _transform t WHERE profiles.profile_id = t.profile_id
              AND profiles.{out} IS DISTINCT FROM t.after""", [now]).fetchone()[0]
    finally:
        db.execute("DROP TABLE IF EXISTS temp._transform")
    return {"name": d.name, "output": d.output, "rows": rows, "written": written, "changed": changed,
            "unchanged": unchanged, "empty": empty, "bad_dates": bad}


def _add_outputs(db, defs: list[TransformDefinition], columns: list[str]) -> None:
    # Every ALTER before the first UPDATE: DuckDB refuses to commit a transaction that alters
    # a table after updating it.
    for d in defs:
        if d.output not in columns:
            db.execute(f"ALTER TABLE profiles ADD COLUMN {_ident(d.output)} VARCHAR")


def _ibis_schema(types: dict[str, str]) -> ibis.Schema:
    from ibis.backends.sql.datatypes import DuckDBType

    return ibis.schema({c: DuckDBType.from_string(t) for c, t in types.items()})


def _log(db, run_id: str, trigger: str, ingest_id: str | None, counts: list[dict], now) -> None:
    for c in counts:
        db.execute(
            f"INSERT INTO {LOG_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, trigger, ingest_id, c["name"], c["output"], c["rows"], c["written"],
             c["changed"], c["unchanged"], c["empty"], c["bad_dates"], now])


def apply(ws, defs: list[TransformDefinition]) -> list[dict]:
    """Run `defs` over every profile in one transaction; they become the active set."""
    db = ws.duckdb
    now = dt.datetime.now(dt.timezone.utc)
    run_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    with ws.transaction():
        ensure_tables(db)
        columns = _profile_columns(db)
        check_columns(defs, columns)
        _add_outputs(db, defs, columns)
        counts = [_run_one(ws, db, d, now, None) for d in defs]
        db.execute(f"DELETE FROM {ACTIVE_TABLE}")
        for i, d in enumerate(defs):
            db.execute(f"INSERT INTO {ACTIVE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [d.name, d.target, d.output, i, json.dumps(d.as_dict()), d.source.name, now])
        _log(db, run_id, "apply", None, counts, now)
    return counts


def active(ws) -> list[TransformDefinition]:
    """The active transforms, in application order (none before the first apply)."""
    found = ws.duckdb.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
                              "AND table_schema = current_schema()", [ACTIVE_TABLE]).fetchone()[0]
    if not found:
        return []
    rows = ws.duckdb.execute(
        f"SELECT definition, file FROM {ACTIVE_TABLE} ORDER BY position").fetchall()
    return [parse_definition(json.loads(text), Source(f"{file} (active)")) for text, file in rows]


def apply_active(ws, ingest_id: str, since: dt.datetime) -> list[dict]:
    """Inside a profiles ingest's transaction: transform the profiles it wrote.

    The profiles written are those whose `updated_at` equals the ingest's moment `since`
    (ingest stamps every row it creates, changes or merges into). No-op without active transforms.
    """
    defs = active(ws)
    if not defs:
        return []
    db = ws.duckdb
    _add_outputs(db, defs, _profile_columns(db))
    counts = [_run_one(ws, db, d, since, since) for d in defs]
    _log(db, ingest_id, "ingest", ingest_id, counts, since)
    return counts


def log_table(ws, limit: int = 50):
    """The newest `transforms_log` rows as a DataFrame."""
    if not ws.has_table(LOG_TABLE):
        import pandas as pd

        return pd.DataFrame(columns=list(LOG))
    t = ws.table(LOG_TABLE)
    return t.order_by([t.ran_at.desc(), t.name]).limit(limit).execute()
