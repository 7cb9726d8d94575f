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


def write_frame(df: pd.DataFrame, out: str | None, as_json: bool = False, kinds: dict | None = None) -> None:
    """A small result (a funnel, a cohort matrix): CSV/Parquet to `out`, or a table on stdout
    formatted for people (`echo_frame`), or JSON records with `as_json`."""
    if not out:
        echo_frame(df, as_json, kinds)
        return
    df = df.round({c: MONEY_DECIMALS if is_money(c) else OTHER_DECIMALS
                   for c in df.columns if df[c].dtype.kind == "f"})
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


# -- tables on the terminal -------------------------------------------------------------------
TERMINAL_WIDTH = 100  # printed tables fit this many columns (text cells wrap); --json for machines


def json_option(command):
    """`--json`: print the table as JSON records (numbers unformatted) instead of text."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON records instead of a table.")(command)


def frame_records(df: pd.DataFrame) -> list[dict]:
    """`df` as JSON-ready records: NaN/NaT become null, timestamps ISO 8601 text."""
    import json

    return json.loads(df.to_json(orient="records", date_format="iso", date_unit="s"))


def echo_json(data) -> None:
    import json

    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def echo_frame(df: pd.DataFrame, as_json: bool = False, kinds: dict | None = None, empty: str = "(none)") -> None:
    """Print a result table for people (thousands separators, `74.2 %`, money in the workspace
    currency, `—` for missing, text wrapped to fit TERMINAL_WIDTH) or, with `as_json`, as records."""
    if as_json:
        echo_json(frame_records(df))
        return
    if not len(df):
        click.echo(empty)
        return
    from cdp_lib.display.table import format_frame, text_table

    click.echo(text_table(format_frame(df, kinds=kinds, labels={}), max_width=TERMINAL_WIDTH))
