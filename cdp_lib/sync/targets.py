"""Where a sync writes: any Ibis backend given as a URL, with a fast path for PostgreSQL.

A target receives, per table, batches of rows to replace by key (`replace_rows`: delete the
keys, insert the rows, in one transaction) and keys to delete (`delete_keys`). Tables are
created from the workspace's Ibis schema and grow a column when the workspace gains one.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit, urlunsplit

import ibis
import ibis.expr.datatypes as dt
import sqlglot as sg

from cdp_lib.errors import InputError

LAKE_PREFIX = "lake:"
# Ibis URL schemes documented; the ones with a test are postgres and duckdb.
TESTED_SCHEMES = ("postgres", "postgresql", "duckdb")


def redact(url: str) -> str:
    """The URL without its password: what is stored and shown."""
    if url.startswith(LAKE_PREFIX):
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[1]}"))


def check_url(url: str) -> str:
    """'lake' or the Ibis scheme of `url`; InputError for anything else."""
    if url.startswith(LAKE_PREFIX):
        if not url[len(LAKE_PREFIX):].strip():
            raise InputError("--to lake: needs a folder, e.g. --to lake:data/lake")
        return "lake"
    scheme = urlsplit(url).scheme
    if not scheme or not re.fullmatch(r"[a-z][a-z0-9+]*", scheme):
        raise InputError(f"--to {redact(url)!r} is neither lake:DIR nor a URL such as "
                         "postgresql://user@host:5432/db")
    return scheme


def connect(url: str):
    """An Ibis connection for `url`, with errors a person can act on."""
    try:
        return ibis.connect(url)
    except Exception as exc:  # driver errors: refused, unknown database, missing package...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"cannot connect to {redact(url)}: {first}; check the URL, that the server "
                         "runs and accepts you, and that its Ibis backend is installed") from None


class IbisTarget:
    """Tables in an Ibis backend; `replace_rows` uses COPY on PostgreSQL, Ibis inserts elsewhere."""

    def __init__(self, url: str):
        self.url = url
        self.con = connect(url)
        self.is_postgres = self.con.name == "postgres"

    def close(self) -> None:
        try:
            self.con.disconnect()
        except Exception:
            pass

    def _q(self, name: str) -> str:
        return sg.to_identifier(name, quoted=True).sql(self.con.dialect)

    # -- schema --------------------------------------------------------------------------------
    def ensure_table(self, name: str, schema: ibis.Schema, key: list[str]) -> list[str]:
        """Create `name` or add the columns it lacks; returns the columns added."""
        if name not in self.con.list_tables():
            self.con.create_table(name, schema=schema)
            if self.is_postgres:
                cols = ", ".join(self._q(k) for k in key)
                self._exec([f"CREATE INDEX IF NOT EXISTS {self._q(name + '_sync_key')} ON {self._q(name)} ({cols})"])
            return []
        have = set(self.con.get_schema(name).names)
        added = []
        for col, dtype in schema.items():
            if col in have:
                continue
            type_sql = self.con.compiler.type_mapper.from_ibis(dtype).sql(self.con.dialect)
            self._exec([f"ALTER TABLE {self._q(name)} ADD COLUMN {self._q(col)} {type_sql}"])
            added.append(col)
        return added

    # -- writes --------------------------------------------------------------------------------
    def replace_rows(self, name: str, rows, key: list[str]) -> None:
        """Delete the keys of `rows` (a pyarrow Table) and insert `rows`, atomically."""
        stage = f"_cdp_sync_{uuid.uuid4().hex[:12]}"
        cols = ", ".join(self._q(c) for c in rows.column_names)
        on = " AND ".join(f"{self._q(name)}.{self._q(k)} = s.{self._q(k)}" for k in key)
        statements = [
            f"DELETE FROM {self._q(name)} WHERE EXISTS (SELECT 1 FROM {self._q(stage)} s WHERE {on})",
            f"INSERT INTO {self._q(name)} ({cols}) SELECT {cols} FROM {self._q(stage)}",
            f"DROP TABLE {self._q(stage)}",
        ]
        if self.is_postgres:
            self._pg_replace(name, stage, rows, statements)
        else:
            self.con.create_table(stage, rows, temp=False)
            self._exec(statements)

    def delete_keys(self, name: str, keys, key: list[str]) -> None:
        if keys.num_rows == 0:
            return
        stage = f"_cdp_sync_{uuid.uuid4().hex[:12]}"
        on = " AND ".join(f"{self._q(name)}.{self._q(k)} = s.{self._q(k)}" for k in key)
        statements = [f"DELETE FROM {self._q(name)} WHERE EXISTS (SELECT 1 FROM {self._q(stage)} s WHERE {on})",
                      f"DROP TABLE {self._q(stage)}"]
        if self.is_postgres:
            self._pg_replace(name, stage, keys, statements)
        else:
            self.con.create_table(stage, keys, temp=False)
            self._exec(statements)

    def _exec(self, statements: list[str]) -> None:
        if self.is_postgres:
            with self.con.begin() as cur:
                for s in statements:
                    cur.execute(s)
            return
        raw = self.con.con
        if self.con.name == "duckdb":  # its cursors are separate connections: BEGIN on this one
            raw.execute("BEGIN TRANSACTION")
            try:
                for s in statements:
                    raw.execute(s)
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")
            return
        # Other DB-API drivers (untested): one transaction through the connection.
        cur = raw.cursor()
        try:
            for s in statements:
                cur.execute(s)
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            cur.close()

    def _pg_replace(self, name: str, stage: str, rows, statements: list[str]) -> None:
        """PostgreSQL: COPY the rows into a temp table and apply `statements`, one transaction."""
        cols = list(rows.column_names)
        col_sql = ", ".join(self._q(c) for c in cols)
        with self.con.begin() as cur:
            cur.execute(f"CREATE TEMP TABLE {self._q(stage)} AS SELECT {col_sql} FROM {self._q(name)} LIMIT 0")
            # CSV written by Arrow: every present value quoted, NULL as an unquoted empty field,
            # which is how PostgreSQL's CSV COPY tells NULL from empty text.
            with cur.copy(f"COPY {self._q(stage)} ({col_sql}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(_csv_bytes(rows))
            for s in statements:
                cur.execute(s)

    # -- reads (status and tests) --------------------------------------------------------------
    def count(self, name: str) -> int:
        return int(self.con.table(name).count().execute())


def ibis_schema(types: dict[str, str]) -> ibis.Schema:
    """Ibis schema of workspace columns (DuckDB type names)."""
    from ibis.backends.sql.datatypes import DuckDBType

    out = {}
    for col, t in types.items():
        dtype = DuckDBType.from_string(t)
        if isinstance(dtype, dt.Timestamp) and dtype.timezone is None and "TIME ZONE" in t.upper():
            dtype = dt.Timestamp(timezone="UTC")
        out[col] = dtype
    return ibis.schema(out)


def _csv_bytes(rows) -> bytes:
    import io

    import pyarrow.csv as pacsv

    buf = io.BytesIO()
    if rows.num_rows:
        pacsv.write_csv(rows, buf, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
    return buf.getvalue()
