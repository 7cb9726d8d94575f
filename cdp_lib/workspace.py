"""The workspace: one analytical database holding profiles, events, catalog and results.

`Workspace` is the single entry point of the library. By default it is a DuckDB file
(`data/cdp.duckdb`); `Workspace.from_ibis` wraps any other Ibis backend (Spark, BigQuery,
Snowflake, Trino...) holding tables of the same names and columns, and every analysis runs there
unchanged because analyses only build Ibis expressions over `Workspace.table(...)`.
DuckDB-specific code (DDL, transactions, file readers) lives here and in `ingest`, nowhere else.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from cdp_lib import memory, schema
from cdp_lib.errors import WorkspaceError
from cdp_lib.project import resolve_path

if TYPE_CHECKING:  # Ibis and pandas load on first use: `cdp --help`/`info`/`lookup` need neither.
    import ibis
    import ibis.expr.types as ir
    import pandas as pd

DEFAULT_PATH = "data/cdp.duckdb"


class Workspace:
    """A customer-data workspace.

    Parameters
    ----------
    path
        DuckDB database file; created (with its folder) unless `read_only`.
    read_only
        Open without taking the writer lock. DuckDB allows one writing process per file, so
        readers that must not block writers (apps) open the published copy instead; see
        `Workspace.published`.
    """

    def __init__(self, path: str | os.PathLike = DEFAULT_PATH, read_only: bool = False):
        in_memory = str(path).startswith((":memory:", "md:", "motherduck:"))
        # A relative path is taken from the project folder, whatever folder a notebook kernel
        # or command starts in (cdp_lib.project).
        self.path = Path(path) if in_memory else resolve_path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise WorkspaceError(
                f"workspace {self.path} does not exist; create it with 'cdp init' "
                "or load data with 'make demo'"
            )
        # Memory limit and spill folder (CDP_MEMORY_LIMIT, CDP_TEMP_DIR), checked before any file
        # is touched: a bad value creates nothing (cdp_lib.memory).
        limit, spill = memory.check()
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        import duckdb

        try:
            self._raw = duckdb.connect(str(path) if in_memory else str(self.path), read_only=read_only)
        except Exception as exc:  # duckdb.IOException on a held lock, among others
            first = str(exc).splitlines()[0]
            raise WorkspaceError(
                f"cannot open workspace {self.path}: {first}. Another process (a scheduled "
                "job, ingest or notebook) may be writing it; wait for it to finish or open "
                "read-only"
            ) from None
        self._con = None
        self.backend_name = "duckdb"
        self.lake = None
        # Dates, days and periods are UTC everywhere in the workbench; no implicit scans of
        # Python variables as tables (what Ibis sets on its own connections too).
        self._raw.execute("SET TimeZone = 'UTC'")
        self._raw.execute("SET python_enable_replacements = false")
        memory.apply(self._raw, limit, spill)
        if not read_only:
            self.init()

    @classmethod
    def from_ibis(cls, con: ibis.BaseBackend) -> "Workspace":
        """Wrap an existing Ibis connection whose tables follow the canonical data model."""
        ws = cls.__new__(cls)
        ws.path = None
        ws.read_only = True
        ws._con = con
        ws._raw = con.con if con.name == "duckdb" else None
        ws.backend_name = con.name
        ws.lake = None
        return ws

    @classmethod
    def from_spark(cls, lake: str | os.PathLike, session=None, master: str | None = None) -> "Workspace":
        """A workspace on Spark over a lake folder written by `cdp export lake`.

        `session` is an existing SparkSession (a cluster notebook, `spark-submit`); without one the
        active session is used, else a new one on `master` (else ``$SPARK_MASTER``, else
        ``local[*]``). Every lake table becomes a temporary view; results the analyses store
        (`write_table`) are written back to the lake as Parquet. See docs/engines.md.
        """
        from cdp_lib.lake import spark as lake_spark  # storage edge; imports pyspark lazily

        session = lake_spark.configure(session) if session is not None else lake_spark.spark_session(master)
        lake_spark.register_views(session, lake)
        import ibis

        ws = cls.from_ibis(ibis.pyspark.connect(session))
        ws.path = None
        ws.lake = Path(lake)
        ws.spark = session
        return ws

    @property
    def con(self) -> "ibis.BaseBackend":
        """The Ibis backend, created on first use over the same DuckDB connection."""
        if self._con is None:
            import ibis

            self._con = ibis.duckdb.from_connection(self._raw)
        return self._con

    @classmethod
    def open(cls, db: str | os.PathLike = DEFAULT_PATH, read_only: bool = False, engine: str = "duckdb",
             lake: str | os.PathLike | None = None, spark_master: str | None = None) -> "Workspace":
        """The workspace a notebook or script asked for by parameters, as the CLI's global options:
        the DuckDB file `db` (engine 'duckdb'), or Spark over the `lake` folder (engine 'spark')."""
        if engine == "duckdb":
            if lake:
                raise WorkspaceError(f"lake {lake} is read by engine 'spark'; set engine: spark or leave lake empty")
            return cls(db, read_only=read_only)
        if engine == "spark":
            if not lake:
                raise WorkspaceError("engine 'spark' reads a lake folder: set lake (write one with 'cdp export lake DIR')")
            return cls.from_spark(lake, master=spark_master or None)
        raise WorkspaceError(f"engine must be 'duckdb' or 'spark', not {engine!r}")

    # -- context management -------------------------------------------------------------
    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.lake is not None:
            # A Spark session is shared by the whole process (and may be the caller's own):
            # closing the workspace leaves it running; it ends with the process or `spark.stop()`.
            return
        # Drop tables cached by `.cache()` while the connection is open; left to the garbage
        # collector they are dropped after disconnecting, which prints "Exception ignored in
        # ... _finalize_cached_table" after a command that ended with a clear error.
        for name in list(getattr(self._con, "_cache_name_to_entry", None) or {}):
            with contextlib.suppress(Exception):
                self._con._finalize_cached_table(name)
        target = self._con if self._con is not None else self._raw
        disconnect = getattr(target, "disconnect", None) or getattr(target, "close", None)
        if disconnect is not None:
            with contextlib.suppress(Exception):
                disconnect()

    def __repr__(self) -> str:
        where = self.path if self.path is not None else self.backend_name
        mode = "read-only" if self.read_only else "read-write"
        return f"Workspace({where}, {mode})"

    # -- tables -------------------------------------------------------------------------
    @property
    def is_duckdb(self) -> bool:
        return self.backend_name == "duckdb"

    @property
    def duckdb(self):
        """The raw DuckDB connection, for storage-edge code only (ingest, file I/O)."""
        if not self.is_duckdb:
            raise WorkspaceError(f"this operation needs a DuckDB workspace, not {self.backend_name}")
        return self._raw

    def init(self) -> None:
        """Create the canonical and bookkeeping tables if they do not exist yet, and the unique
        index that keeps one row per `profiles.profile_id`."""
        for name, columns in schema.ALL_TABLES.items():
            self.duckdb.execute(schema.create_table_sql(name, columns))
        try:
            self.duckdb.execute(schema.PROFILE_ID_INDEX_SQL)
        except Exception:  # duplicates stored by an earlier version: ingest still avoids new ones
            pass

    def has_table(self, name: str) -> bool:
        return name in self.table_names()

    def table_names(self) -> list[str]:
        """Tables and views of the workspace (on DuckDB without loading Ibis)."""
        if self.is_duckdb:
            rows = self._raw.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database() AND table_schema = current_schema()"
            ).fetchall()
            return sorted(r[0] for r in rows)
        return list(self.con.list_tables())

    def table(self, name: str) -> ir.Table:
        """An Ibis table by name, with a message naming the command that creates it."""
        try:
            t = self.con.table(name)
        except Exception:
            raise WorkspaceError(
                f"table {name!r} is not in workspace {self.path or self.lake or self.backend_name}; "
                "load data with 'cdp ingest' (or 'make demo') first"
            ) from None
        if self.backend_name == "pyspark":
            # Spark's TIMESTAMP is an instant but Ibis types it tz-naive; every time in the
            # workbench is UTC, so say so (a no-op cast in Spark SQL) and compare tz-aware.
            naive = {c: "timestamp('UTC')" for c, typ in t.schema().items() if typ.is_timestamp() and typ.timezone is None}
            if naive:
                t = t.cast(naive)
        return _in_time_range(t) if name in schema.CANONICAL else t

    @property
    def profiles(self) -> ir.Table:
        return self.table("profiles")

    @property
    def events(self) -> ir.Table:
        return self.table("events")

    @property
    def catalog(self) -> ir.Table:
        return self.table("catalog")

    def columns(self, name: str) -> list[str]:
        return list(self.table(name).columns)

    # -- writing results ------------------------------------------------------------------
    def write_table(self, name: str, data: pd.DataFrame | ir.Table, mode: str = "replace") -> None:
        """Store an analysis result (`mode` 'replace' or 'append'), on any Ibis backend."""
        if mode not in {"replace", "append"}:
            raise ValueError(f"mode must be 'replace' or 'append', not {mode!r}")
        if self.lake is not None:
            self._write_lake(name, data, mode)
            return
        if mode == "append" and self.has_table(name):
            self.con.insert(name, data)
        else:
            self.con.create_table(name, data, overwrite=True)

    def _write_lake(self, name: str, data: pd.DataFrame | ir.Table, mode: str) -> None:
        """Store a result in the lake (Spark): Parquet files, manifest, view re-pointed."""
        import pandas as pd

        from cdp_lib.lake import spark as lake_spark

        view = None
        if isinstance(data, pd.DataFrame):
            frame = self.spark.createDataFrame(data) if len(data.columns) else None
            if frame is None:
                raise ValueError(f"cannot store {name!r}: the frame has no columns")
        else:
            view = f"_cdp_write_{name}"
            self.con.create_view(view, data, overwrite=True)
            frame = self.spark.table(view)
        try:
            lake_spark.write_back(self.spark, self.lake, name, frame, mode)
        finally:
            if view is not None:
                self.spark.catalog.dropTempView(view)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing block of DuckDB writes: a failure or a kill leaves no trace."""
        db = self.duckdb
        db.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- descriptions ---------------------------------------------------------------------
    def info(self) -> dict:
        """Sizes of the canonical tables, the events' time range and events per metric.

        As `summary`, with `metrics` as a DataFrame and the two event times as pandas Timestamps.
        """
        import pandas as pd

        out = self.summary()
        if "metrics" in out:
            out["metrics"] = pd.DataFrame(out["metrics"], columns=["metric", "events", "profiles"])
            out["first_event"] = pd.Timestamp(out["first_event"])
            out["last_event"] = pd.Timestamp(out["last_event"])
        return out

    def summary(self) -> dict:
        """What `info` reports, in plain Python values (no pandas): `tables` (rows per canonical
        table), `first_event`/`last_event` (UTC datetimes), `metrics` (a list of `{"metric",
        "events", "profiles"}`, most events first), `merges`, `quarantined`.
        """
        present = set(self.table_names())
        sizes = {name: self._count(name) for name in ("profiles", "events", "catalog") if name in present}
        out: dict = {"tables": sizes}
        if sizes.get("events"):
            if self.is_duckdb:
                # Storage edge: stored by ingest (cdp_lib.events_summary), else three aggregate
                # queries; no Ibis compile either way (keeps `cdp info` quick).
                from cdp_lib import events_summary

                first, last, hidden, rows = events_summary.read(self._raw, present)
                if hidden:
                    out["events_out_of_range"] = hidden
            else:
                import ibis

                ev = self.events
                span = ev.aggregate(first=ev.timestamp.min(), last=ev.timestamp.max()).to_pyarrow()
                first, last = span["first"][0].as_py(), span["last"][0].as_py()
                rows = (ev.group_by("metric").agg(events=ev.count(), profiles=ev.profile_id.nunique())
                        .order_by([ibis.desc("events"), "metric"]).to_pyarrow().to_pylist())
                rows = [(r["metric"], r["events"], r["profiles"]) for r in rows]
            out["first_event"] = _utc(first)
            out["last_event"] = _utc(last)
            out["metrics"] = [{"metric": m, "events": int(e), "profiles": int(p)} for m, e, p in rows]
        for name in ("merges", "quarantine"):
            if name in present:
                out["merges" if name == "merges" else "quarantined"] = self._count(name)
        return out

    def _count(self, name: str) -> int:
        if self.is_duckdb:
            return int(self._raw.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
        return int(self.table(name).count().execute())

    def fingerprint(self) -> dict:
        """What data a report ran on: row counts per table and the newest event time."""
        import pandas as pd

        tables = {name: self._count(name) for name in self.table_names()}
        last = None
        if tables.get("events"):
            last = self.events.timestamp.max().execute()
        return {"tables": tables, "max_event_time": None if last is None else str(pd.Timestamp(last))}

    def segments_for(self, profile_id_or_email: str) -> pd.DataFrame:
        """Segments a person is in now (`segment`, `joined_at`), by profile id or email."""
        from cdp_lib.membership import segments_for  # the lookup edge, below the segments package

        return segments_for(self, profile_id_or_email)


def _utc(value) -> dt.datetime | None:
    """A stored timestamp as an aware UTC datetime (DuckDB returns the session time zone)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _in_time_range(table: "ir.Table") -> "ir.Table":
    """`table` as analyses may read it: times outside [EARLIEST_TIME, LATEST_TIME) (infinity,
    year 1 or 294247, BC dates), which ingest refuses but an earlier version or another tool
    may have stored, are hidden: an event with such a `timestamp` is left out, any other
    timestamp column reads as NULL. In-range data passes through unchanged."""
    import ibis

    lo = dt.datetime.fromisoformat(schema.EARLIEST_TIME).replace(tzinfo=dt.timezone.utc)
    hi = dt.datetime.fromisoformat(schema.LATEST_TIME).replace(tzinfo=dt.timezone.utc)
    times = [c for c, t in table.schema().items() if t.is_timestamp()]
    if not times:
        return table

    def ok(col):
        typ = table[col].type()
        return (table[col] >= ibis.literal(lo, type=typ)) & (table[col] < ibis.literal(hi, type=typ))

    if "timestamp" in times:
        table = table.filter(table.timestamp.isnull() | ok("timestamp"))
    others = [c for c in times if c != "timestamp"]
    if others:
        table = table.mutate(**{c: ibis.ifelse(ok(c), table[c], ibis.null(table[c].type())) for c in others})
    return table
