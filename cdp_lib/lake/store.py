"""The DuckDB side of the lake (storage edge): fingerprints and Parquet writes of partitions.

Everything DuckDB-specific about exporting lives here: the partition-key expressions, the
content fingerprint (`sum(hash(row))`, see `fingerprints`) and `COPY ... PARTITION_BY`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cdp_lib.lake.layout import Partitioning

if TYPE_CHECKING:  # the workspace opens the lake's Spark side: only its type is needed here
    from cdp_lib.workspace import Workspace

NULL_KEY = "__null__"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def columns_of(ws: Workspace, name: str) -> dict[str, str]:
    """Column name -> DuckDB type of a workspace table, in table order."""
    rows = ws.duckdb.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = current_schema() ORDER BY ordinal_position",
        [name],
    ).fetchall()
    return {c: t for c, t in rows}


def key_sql(partitioning: Partitioning) -> str:
    """SQL of a row's partition key, a short string: ``2025-06-30``, ``07`` or ``all``.

    Dates are UTC dates (the workspace session runs in UTC). Buckets come from the first 32 bits of
    the MD5 of the column's text, which is the same on every DuckDB version and platform.
    """
    if partitioning.kind == "none":
        return "'all'"
    col = _q(partitioning.column)
    if partitioning.kind == "date":
        expr = f"strftime(CAST({col} AS DATE), '%Y-%m-%d')"
    else:
        n = int(partitioning.buckets)
        width = len(str(n - 1))
        expr = (f"lpad(CAST(CAST(('0x' || left(md5(CAST({col} AS VARCHAR)), 8)) AS UBIGINT) % {n} AS VARCHAR), "
                f"{width}, '0')")
    return f"coalesce({expr}, '{NULL_KEY}')"


def fingerprints(ws: Workspace, name: str, partitioning: Partitioning,
                 columns: list[str]) -> dict[str, dict]:
    """Per partition key: `rows` and `fingerprint`, the sum of a hash of every row.

    The sum (not xor) keeps repeated identical rows apart; any changed value, added or deleted
    row changes it. DuckDB's `hash` may change between DuckDB versions: then every partition
    looks changed once and is rewritten, which is safe.
    """
    row_hash = f"hash({', '.join(_q(c) for c in columns)})"
    sql = (f"SELECT {key_sql(partitioning)} AS k, count(*) AS n, CAST(sum({row_hash}) AS VARCHAR) AS f "
           f"FROM {_q(name)} GROUP BY k")
    return {k: {"rows": int(n), "fingerprint": f} for k, n, f in ws.duckdb.execute(sql).fetchall()}


def watermark(ws: Workspace, name: str, column: str) -> str | None:
    """Largest value of `column` (ISO text), the table's high-water mark."""
    value = ws.duckdb.execute(f"SELECT max({_q(column)}) FROM {_q(name)}").fetchone()[0]
    return None if value is None else value.isoformat()


def write_partitions(ws: Workspace, name: str, partitioning: Partitioning, columns: list[str],
                     keys: list[str], staging: Path, export_id: str) -> dict[str, list[Path]]:
    """Write the rows of partitions `keys` under `staging`; return key -> files written."""
    if not keys:
        return {}
    cols = ", ".join(_q(c) for c in columns)
    staging.mkdir(parents=True, exist_ok=True)
    sql = (f"COPY (SELECT {cols}, {key_sql(partitioning)} AS __cdp_part FROM {_q(name)} "
           f"WHERE list_contains(?, {key_sql(partitioning)})) "
           f"TO '{staging.as_posix()}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (__cdp_part), "
           f"FILENAME_PATTERN 'part-{export_id}-{{i}}', OVERWRITE_OR_IGNORE)")
    ws.duckdb.execute(sql, [list(keys)])
    out: dict[str, list[Path]] = {}
    for folder in staging.glob("__cdp_part=*"):
        out[folder.name.split("=", 1)[1]] = sorted(folder.glob("*.parquet"))
    return out


def write_empty(ws: Workspace, name: str, columns: list[str], path: Path) -> None:
    """A Parquet file with the table's columns and no rows (so readers learn the schema)."""
    cols = ", ".join(_q(c) for c in columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    ws.duckdb.execute(f"COPY (SELECT {cols} FROM {_q(name)} LIMIT 0) TO '{path.as_posix()}' (FORMAT parquet)")
