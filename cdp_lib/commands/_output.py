"""Files the CLI writes: one writer for every `--out`, run by the engine for large results.

Per-customer results (RFM, CLV: a million rows and more) are written by the engine itself (DuckDB
`COPY`, or Arrow batches on other backends), never through pandas. Numbers are rounded for
people: money to cents, every other fractional number to 4 decimals. A file appears whole or not
at all: it is written next to its target and renamed into place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cdp_lib.errors import InputError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

    from cdp_lib.workspace import Workspace

OUTPUT_FORMATS = (".csv", ".parquet")

# Columns holding money: rounded to cents. Other floating-point columns get 4 decimals.
MONEY_COLUMNS = frozenset({"monetary", "revenue", "value", "average_order_value", "historic_clv",
                           "predicted_clv", "total_clv"})
MONEY_DECIMALS = 2
OTHER_DECIMALS = 4


def check_out(out: str | os.PathLike) -> Path:
    """The `--out` path, refused before anything is computed when its format is unknown."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InputError(f"--out {path}: unsupported extension {suffix or '(none)'}; use .csv or .parquet")
    return path


def is_money(column: str) -> bool:
    return column in MONEY_COLUMNS or column.endswith(("_revenue", "_clv", "_value"))


def rounded(table: ir.Table) -> ir.Table:
    """`table` with floating-point columns rounded (money to cents, the rest to 4 decimals)."""
    changes = {
        name: table[name].round(MONEY_DECIMALS if is_money(name) else OTHER_DECIMALS)
        for name, dtype in table.schema().items()
        if dtype.is_floating() or dtype.is_decimal()
    }
    return table.mutate(**changes) if changes else table


def write_table(ws: Workspace, table: ir.Table, out: str | os.PathLike) -> int:
    """Write an Ibis table to `out` (.csv or .parquet) with the engine; returns the row count."""
    path = check_out(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    expr = rounded(table)
    try:
        if ws.is_duckdb:
            rows = _copy_duckdb(ws, expr, tmp, path.suffix.lower())
        else:
            rows = _write_arrow(expr, tmp, path.suffix.lower())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


def _copy_duckdb(ws: Workspace, expr: ir.Table, tmp: Path, suffix: str) -> int:
    # Storage edge: DuckDB streams the query result to the file on all cores.
    sql = ws.con.compile(expr)
    target = str(tmp).replace("'", "''")
    options = "FORMAT csv, HEADER" if suffix == ".csv" else "FORMAT parquet"
    return int(ws.duckdb.execute(f"COPY ({sql}) TO '{target}' ({options})").fetchone()[0])


def _write_arrow(expr: ir.Table, tmp: Path, suffix: str) -> int:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    batches = expr.to_pyarrow_batches()
    rows = 0
    writer_cls = pacsv.CSVWriter if suffix == ".csv" else pq.ParquetWriter
    with writer_cls(str(tmp), batches.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def write_frame(df: pd.DataFrame, out: str | None) -> None:
    """A small result (a funnel, a cohort matrix): CSV/Parquet to `out`, or a table on stdout."""
    df = df.round({c: MONEY_DECIMALS if is_money(c) else OTHER_DECIMALS
                   for c in df.columns if df[c].dtype.kind == "f"})
    if not out:
        click.echo(df.to_string(index=False))
        return
    path = check_out(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.suffix.lower() == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    click.echo(f"wrote {len(df):,} rows to {path}")
