"""Storage edge of warehouse sync and import: state, ledgers and row fingerprints (DuckDB SQL).

`sync_state` holds, per target and table, the watermark (the workspace moment the target is
complete up to), rows sent, the last error; `sync_ledger_<table>` holds, per target, the key and
fingerprint of every row the target is known to hold. A run sends the rows whose fingerprint is
not in the ledger and deletes the keys the workspace no longer has; each batch is written to the
target first and to the ledger after, so a run killed between the two re-sends that batch, which
replaces the same rows by key: no loss, no duplicates. `import_state` holds the watermark of each
warehouse import.
"""

from __future__ import annotations

import datetime as dt

from cdp_lib import schema

STATE = {
    "target": "VARCHAR",  # the target URL without its password, or lake:DIR
    "table_name": "VARCHAR",
    "watermark": "TIMESTAMPTZ",  # workspace moment the target was complete up to
    "rows_sent": "BIGINT",  # upserted + deleted over every run
    "last_rows": "BIGINT",  # of the last run
    "last_started_at": "TIMESTAMPTZ",
    "last_finished_at": "TIMESTAMPTZ",
    "last_error": "VARCHAR",
}
IMPORT_STATE = {
    "source": "VARCHAR",  # URL without password
    "source_table": "VARCHAR",
    "table_name": "VARCHAR",  # profiles | events
    "modified_column": "VARCHAR",
    "watermark": "VARCHAR",  # the newest modified value imported, as text (ISO for timestamps)
    "rows": "BIGINT",
    "last_ingest_id": "VARCHAR",
    "imported_at": "TIMESTAMPTZ",
}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_tables(db) -> None:
    db.execute(schema.create_table_sql("sync_state", STATE))
    db.execute(schema.create_table_sql("import_state", IMPORT_STATE))


def columns(db, table: str) -> dict[str, str]:
    return dict(db.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
        "AND table_schema = current_schema() ORDER BY ordinal_position", [table]).fetchall())


def has_table(db, table: str) -> bool:
    return bool(db.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
                           "AND table_schema = current_schema()", [table]).fetchone()[0])


def fingerprint_sql(cols: list[str]) -> str:
    """A 64-bit fingerprint of a row: the XOR of one hash per non-NULL column (salted by the
    column's name). NULL columns add nothing, so adding a column (NULL for existing rows) leaves
    existing rows' fingerprints as they were."""
    terms = [f"CASE WHEN {_ident(c)} IS NULL THEN 0::UBIGINT ELSE hash({_ident(c)}, {_lit(c)}) END" for c in cols]
    out = terms[0]
    for term in terms[1:]:
        out = f"xor({out}, {term})"
    return out


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ledger_name(table: str) -> str:
    return f"sync_ledger_{table}"


def plan(db, target: str, table: str, key: list[str]) -> tuple[int, int]:
    """Temp tables `_todo` (changed rows + `_h`, numbered `_n`) and `_gone` (keys to delete);
    returns their sizes."""
    src_types = columns(db, table)
    cols = list(src_types)
    ledger = ledger_name(table)
    key_defs = {k: src_types[k] for k in key}
    db.execute(schema.create_table_sql(ledger, {"target": "VARCHAR", **key_defs, "row_hash": "UBIGINT"}))
    on = " AND ".join(f"l.{_ident(k)} IS NOT DISTINCT FROM s.{_ident(k)}" for k in key)
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE _cur AS
        SELECT {', '.join(_ident(k) for k in key)}, {fingerprint_sql(cols)} AS _h FROM {_ident(table)}""")
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE _changed AS
        SELECT s.* FROM _cur s WHERE NOT EXISTS (
            SELECT 1 FROM {_ident(ledger)} l WHERE l.target = ? AND {on} AND l.row_hash = s._h)""", [target])
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gone AS
        SELECT {', '.join('l.' + _ident(k) for k in key)} FROM {_ident(ledger)} l
        WHERE l.target = ? AND NOT EXISTS (SELECT 1 FROM _cur s WHERE {on})""", [target])
    join = " AND ".join(f"t.{_ident(k)} IS NOT DISTINCT FROM c.{_ident(k)}" for k in key)
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE _todo AS
        SELECT t.*, c._h, row_number() OVER (ORDER BY {', '.join('c.' + _ident(k) for k in key)}) AS _n
        FROM {_ident(table)} t JOIN _changed c ON {join} ORDER BY _n""")
    db.execute("DROP TABLE temp._cur; DROP TABLE temp._changed")
    n_todo = db.execute("SELECT count(*) FROM _todo").fetchone()[0]
    n_gone = db.execute("SELECT count(*) FROM _gone").fetchone()[0]
    return int(n_todo), int(n_gone)


def batch(db, cols: list[str], start: int, size: int):
    """Rows `start < _n <= start + size` of `_todo` as an Arrow table (without `_h`, `_n`)."""
    return _table(db.execute(
        f"SELECT {', '.join(_ident(c) for c in cols)} FROM _todo WHERE _n > ? AND _n <= ? ORDER BY _n",
        [start, start + size]).arrow())


def gone(db, key: list[str]):
    return _table(db.execute(f"SELECT {', '.join(_ident(k) for k in key)} FROM _gone").arrow())


def _table(result):
    """DuckDB 1.4's `.arrow()` gives a RecordBatchReader, older versions a Table."""
    return result.read_all() if hasattr(result, "read_all") else result


def record_batch(db, target: str, table: str, key: list[str], start: int, size: int) -> None:
    """After the target committed rows `start < _n <= start + size`: the ledger holds them."""
    ledger = _ident(ledger_name(table))
    on = " AND ".join(f"l.{_ident(k)} IS NOT DISTINCT FROM t.{_ident(k)}" for k in key)
    db.execute("BEGIN TRANSACTION")
    try:
        db.execute(
            f"""DELETE FROM {ledger} l WHERE l.target = ? AND EXISTS (
                SELECT 1 FROM _todo t WHERE t._n > ? AND t._n <= ? AND {on})""", [target, start, start + size])
        db.execute(
            f"""INSERT INTO {ledger} SELECT ?, {', '.join(_ident(k) for k in key)}, _h FROM _todo
            WHERE _n > ? AND _n <= ?""", [target, start, start + size])
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def forget(db, target: str, table: str) -> None:
    """Empty the ledger of one target table: the next plan sends every row."""
    ledger = ledger_name(table)
    if has_table(db, ledger):
        db.execute(f"DELETE FROM {_ident(ledger)} WHERE target = ?", [target])


def record_gone(db, target: str, table: str, key: list[str]) -> None:
    ledger = _ident(ledger_name(table))
    on = " AND ".join(f"l.{_ident(k)} IS NOT DISTINCT FROM g.{_ident(k)}" for k in key)
    db.execute(f"DELETE FROM {ledger} l WHERE l.target = ? AND EXISTS (SELECT 1 FROM _gone g WHERE {on})",
               [target])


def drop_temp(db) -> None:
    for name in ("_cur", "_changed", "_todo", "_gone"):
        db.execute(f"DROP TABLE IF EXISTS temp.{name}")


def start(db, target: str, table: str, now: dt.datetime) -> None:
    exists = db.execute("SELECT count(*) FROM sync_state WHERE target = ? AND table_name = ?",
                        [target, table]).fetchone()[0]
    if exists:
        db.execute("UPDATE sync_state SET last_started_at = ?, last_rows = 0 WHERE target = ? "
                   "AND table_name = ?", [now, target, table])
    else:
        db.execute("INSERT INTO sync_state VALUES (?, ?, NULL, 0, 0, ?, NULL, NULL)", [target, table, now])


def add_sent(db, target: str, table: str, rows: int) -> None:
    db.execute("UPDATE sync_state SET rows_sent = rows_sent + ?, last_rows = last_rows + ? "
               "WHERE target = ? AND table_name = ?", [rows, rows, target, table])


def finish(db, target: str, table: str, watermark: dt.datetime) -> None:
    db.execute("UPDATE sync_state SET watermark = ?, last_finished_at = ?, last_error = NULL "
               "WHERE target = ? AND table_name = ?",
               [watermark, dt.datetime.now(dt.timezone.utc), target, table])


def fail(db, target: str, table: str, message: str) -> None:
    db.execute("UPDATE sync_state SET last_error = ? WHERE target = ? AND table_name = ?",
               [message, target, table])


def state_rows(db) -> list[tuple]:
    if not has_table(db, "sync_state"):
        return []
    return db.execute(f"SELECT {', '.join(STATE)} FROM sync_state ORDER BY target, table_name").fetchall()


# -- import --------------------------------------------------------------------------------------
def import_watermark(db, source: str, source_table: str, table: str, column: str) -> str | None:
    if not has_table(db, "import_state"):
        return None
    row = db.execute("SELECT watermark FROM import_state WHERE source = ? AND source_table = ? "
                     "AND table_name = ? AND modified_column = ?", [source, source_table, table, column]).fetchone()
    return None if row is None else row[0]


def save_import(db, source: str, source_table: str, table: str, column: str, watermark: str | None,
                rows: int, ingest_id: str | None) -> None:
    ensure_tables(db)
    db.execute("DELETE FROM import_state WHERE source = ? AND source_table = ? AND table_name = ? "
               "AND modified_column = ?", [source, source_table, table, column])
    db.execute("INSERT INTO import_state VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               [source, source_table, table, column, watermark, rows, ingest_id,
                dt.datetime.now(dt.timezone.utc)])
