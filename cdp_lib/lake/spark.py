"""The Spark side of the lake (storage edge): a session, one temporary view per lake table, and
results written back as Parquet in the lake layout.

Spark-specific code lives here and nowhere else. Analyses see the views through Ibis
(`ibis.pyspark.connect`), exactly as they see DuckDB tables.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from cdp_lib.errors import InputError, WorkspaceError
from cdp_lib.lake.layout import Partitioning, layout_of, partition_folder, read_manifest, table_files, write_manifest

DEFAULT_MASTER = "local[*]"
# Settings the workbench needs in any session, created here or handed in: UTC days (Ibis sets
# the session time zone too) and Parquet timestamps other engines read as instants.
REQUIRED_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
# Defaults for sessions created here (an existing session keeps its own): files are listed on
# the driver (a lake lists its files in the manifest, so a listing job only adds latency) and no
# progress bars on the terminal.
SESSION_DEFAULTS = {
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
    "spark.ui.showConsoleProgress": "false",
}
EMPTY_KEY = "__empty__"
# Session setting naming the views the last registered lake created: a session opens one lake at a
# time, so views of an earlier lake that the new one lacks are dropped rather than left visible.
VIEWS_CONF = "cdp.lake.views"


def spark_session(master: str | None = None, app_name: str = "cdp-workbench", conf: dict | None = None):
    """The active Spark session, or a new one.

    Under `spark-submit` (or a notebook on a cluster) the session the launcher configured is
    reused and `master` is ignored. Otherwise a session is created on `master`, else
    ``$SPARK_MASTER``, else ``local[*]`` (every core of this machine).
    """
    try:
        from pyspark import SparkConf
        from pyspark.sql import SparkSession
    except ImportError:
        raise WorkspaceError("the Spark engine needs PySpark: pip install -e '.[spark]' (and Java 17)") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return configure(active)
    builder = SparkSession.builder.appName(app_name)
    chosen = master or os.environ.get("SPARK_MASTER")
    if chosen or not SparkConf().contains("spark.master"):
        builder = builder.master(chosen or DEFAULT_MASTER)
    for key, value in {**SESSION_DEFAULTS, **REQUIRED_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        return configure(builder.getOrCreate())
    except Exception as exc:  # Java missing, bad master URL...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WorkspaceError(f"cannot start Spark on {chosen or DEFAULT_MASTER}: {first}; check Java 17 "
                             "and the master URL (--spark-master or SPARK_MASTER)") from None


def configure(session):
    for key, value in REQUIRED_CONF.items():
        session.conf.set(key, value)
    return session


def register_views(session, directory: str | os.PathLike) -> list[str]:
    """One temporary view per table of the lake's manifest; returns the table names.

    Views an earlier lake registered in this session and this lake lacks are dropped: otherwise
    results stored in that lake (segment history, snapshots) would show through in this one.
    """
    manifest = read_manifest(directory)
    names = []
    for name, entry in manifest["tables"].items():
        _register(session, directory, manifest, name, entry)
        names.append(name)
    earlier = [n for n in session.conf.get(VIEWS_CONF, "").split(",") if n]
    for name in set(earlier) - set(names):
        session.catalog.dropTempView(name)
    session.conf.set(VIEWS_CONF, ",".join(names))
    return names


def _register(session, directory, manifest: dict, name: str, entry: dict) -> None:
    files = [str(p) for p in table_files(directory, manifest, name)]
    missing = [f for f in files if not Path(f).exists()]
    if missing:
        raise InputError(f"lake {directory}: table {name!r} lists {len(missing)} missing file(s), e.g. "
                         f"{missing[0]}; export the lake again")
    # The schema from the manifest spares Spark a job that opens every file's footer, and the
    # partition value is a folder name, not a column: the view has exactly the table's columns.
    schema = ", ".join(f"`{c}` {spark_type(t)}" for c, t in entry["columns"].items())
    frame = session.read.schema(schema).parquet(*files).select(*[f"`{c}`" for c in entry["columns"]])
    frame.createOrReplaceTempView(name)


# DuckDB type names (as the DuckDB export records them) -> Spark SQL types. Tables Spark wrote
# record Spark's own names, which pass through unchanged.
_SPARK_TYPES = {
    "VARCHAR": "string", "DOUBLE": "double", "FLOAT": "float", "BIGINT": "bigint", "INTEGER": "int",
    "SMALLINT": "smallint", "TINYINT": "tinyint", "HUGEINT": "decimal(38,0)", "UBIGINT": "decimal(20,0)",
    "UINTEGER": "bigint", "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP WITH TIME ZONE": "timestamp",
    "TIMESTAMP": "timestamp_ntz", "BLOB": "binary",
}


def spark_type(type_name: str) -> str:
    """The Spark SQL type of a column type named in the manifest."""
    t = str(type_name)
    if t.upper() in _SPARK_TYPES:
        return _SPARK_TYPES[t.upper()]
    if t.upper().startswith("DECIMAL"):
        return t.lower()
    if t.upper().endswith("[]"):
        return f"array<{spark_type(t[:-2])}>"
    return t  # a Spark type name already (results written by Spark)


def _key_column(partitioning: Partitioning) -> str:
    """Spark SQL of the partition key; the same keys as `cdp_lib.lake.store.key_sql`."""
    if partitioning.kind == "none":
        return "'all'"
    col = f"`{partitioning.column}`"
    if partitioning.kind == "date":
        expr = f"date_format(to_date({col}), 'yyyy-MM-dd')"
    else:
        n = int(partitioning.buckets)
        width = len(str(n - 1))
        expr = f"lpad(CAST(CAST(conv(substr(md5(CAST({col} AS STRING)), 1, 8), 16, 10) AS BIGINT) % {n} AS STRING), {width}, '0')"
    return f"coalesce({expr}, '__null__')"


def write_back(session, directory: str | os.PathLike, name: str, frame: Any, mode: str = "replace") -> int:
    """Write a Spark DataFrame as lake table `name` ('replace' or 'append'); returns its rows.

    The new files are written beside the old ones, the manifest is replaced, the view is
    re-pointed and only then are the old files deleted (the new content may be computed from
    the old files, as an RFM snapshot is).
    """
    root = Path(directory)
    manifest = read_manifest(root)
    old = manifest["tables"].get(name)
    if mode == "append" and old is not None:
        frame = session.table(name).unionByName(frame)
    partitioning = layout_of(name)
    export_id = f"{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    staging = root / f".staging-{export_id}"
    try:
        keyed = frame.selectExpr("*", f"{_key_column(partitioning)} AS __cdp_part")
        keyed.write.partitionBy("__cdp_part").mode("overwrite").parquet(str(staging / "data"))
        parts: dict[str, dict] = {}
        for folder in sorted((staging / "data").glob("__cdp_part=*")):
            key = folder.name.split("=", 1)[1]
            parts[key] = {"files": _move_in(root, folder, partition_folder(name, partitioning, key), export_id)}
        if not parts:
            frame.limit(0).coalesce(1).write.mode("overwrite").parquet(str(staging / "empty"))
            parts[EMPTY_KEY] = {"files": _move_in(root, staging / "empty",
                                                  partition_folder(name, partitioning, EMPTY_KEY), export_id)}
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for part in parts.values():
        # Row counts from the Parquet footers. Written by Spark: no DuckDB fingerprint, so a
        # later DuckDB export of the same table rewrites it whole.
        rows = sum(pq.ParquetFile(root / f).metadata.num_rows for f in part["files"])
        part.update(rows=int(rows), fingerprint=f"spark-{export_id}")
    columns = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    entry = {"columns": columns, "partitioning": dict(partitioning.__dict__), "rows": sum(p["rows"] for p in parts.values()),
             "partitions": dict(sorted(parts.items())), "exported_at": pd.Timestamp.now(tz="UTC").isoformat(),
             "written_by": "spark"}
    manifest["tables"][name] = entry
    write_manifest(root, manifest)
    _register(session, root, manifest, name, entry)
    if old is not None:
        keep = {f for p in parts.values() for f in p["files"]}
        for part in old["partitions"].values():
            for f in part["files"]:
                if f not in keep:
                    (root / f).unlink(missing_ok=True)
                    _prune(root / f, root)
    return entry["rows"]


def _move_in(root: Path, folder: Path, target: str, export_id: str) -> list[str]:
    dest = root / target
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i, src in enumerate(sorted(folder.glob("part-*.parquet"))):
        dst = dest / f"part-{export_id}-{i}.parquet"
        os.replace(src, dst)
        out.append(dst.relative_to(root).as_posix())
    return out


def _prune(path: Path, root: Path) -> None:
    folder = path.parent
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
