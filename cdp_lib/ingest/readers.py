"""Reading one input file (CSV, JSON Lines, Parquet) into the staged view or table `_raw`."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cdp_lib.errors import InputError
from cdp_lib.ingest.values import _ident, _lit

# Suffix -> reader. Compressed CSV/JSONL are decompressed by DuckDB.
FORMATS = {
    ".csv": "csv", ".csv.gz": "csv", ".csv.zst": "csv", ".tsv": "csv", ".tsv.gz": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonl.gz": "jsonl", ".ndjson.gz": "jsonl",
}



def detect_format(path: Path) -> str:
    """Reader for `path` by its suffix; InputError if missing, not a file or unknown type."""
    name = path.name.lower()
    fmt = next((f for suffix, f in FORMATS.items() if name.endswith(suffix)), None)
    if not path.exists():
        raise InputError(f"file {path} does not exist; check the path")
    if not path.is_file():
        raise InputError(f"{path} is not a file; give one CSV, Parquet or JSON Lines file")
    if fmt is None:
        raise InputError(
            f"file {path} has an unsupported type; expected one of "
            f"{', '.join(sorted(FORMATS))}"
        )
    return fmt



def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


class Readers:
    """The read step of an ingest run (mixed into `cdp_lib.ingest.run._Run`)."""

    def read(self, fmt: str) -> tuple[dict[str, str], int]:
        """Expose the file as temp view or table `_raw` with `_line`; returns its column types
        and the number of rows that could not be parsed at all (already quarantined; for CSV
        they are only known once `_raw` has been scanned, see `csv_rejects`).

        CSV and Parquet stay views: `validate` reads the file once, straight into `_typed`."""
        self.temp.append("_raw")
        if self.path.stat().st_size == 0:
            raise InputError(f"file {self.path} is empty; expected a header line and rows")
        try:
            if fmt == "parquet":
                # Parquet is typed and cheap to re-scan: a view saves one copy of the data.
                self.sql(
                    f"""CREATE OR REPLACE TEMP VIEW _raw AS
                    SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS _line
                    FROM read_parquet({_lit(str(self.path))}, file_row_number = true)"""
                )
                self.sql("SELECT * FROM _raw LIMIT 0")  # fail here if it is not Parquet
                bad = 0
            elif fmt == "csv":
                self.read_csv()
                bad = 0
            else:
                bad = self.read_jsonl()
        except InputError:
            raise
        except Exception as exc:  # DuckDB's reader errors: the file is not what it claims
            raise InputError(_reader_error(self.path, fmt, exc)) from None
        types = dict(self.sql(
            "SELECT column_name, column_type FROM (DESCRIBE _raw) WHERE column_name <> '_line'"
        ).fetchall())
        if not types:
            raise InputError(f"file {self.path} has no columns; is it empty?")
        return types, bad

    def read_csv(self) -> None:
        # Every value stays text so that one bad value quarantines its row; lines DuckDB cannot
        # parse at all go to its rejects table when the view is scanned (once, in `validate`).
        delim = ", delim = '\t'" if ".tsv" in self.path.name.lower() else ""
        self.sql(
            f"""CREATE OR REPLACE TEMP VIEW _raw AS
            SELECT * EXCLUDE (ordinality), ordinality AS _line
            FROM read_csv({_lit(str(self.path))}, header = true, all_varchar = true{delim},
                          store_rejects = true, rejects_table = '_rejects',
                          rejects_scan = '_rejects_scan') WITH ORDINALITY"""
        )

    def csv_rejects(self) -> int:
        """After the scan of `_raw`: quarantine the lines DuckDB rejected and renumber."""
        encoding = self.sql(
            "SELECT line FROM _rejects WHERE error_type = 'INVALID ENCODING' ORDER BY line LIMIT 1"
        ).fetchone()
        if encoding is not None:
            raise InputError(
                f"file {self.path} is not UTF-8 text (invalid bytes on line {encoding[0]}); "
                "re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8) and ingest again"
            )
        # Data-row numbers: parsed rows are numbered in file order (ordinality); rows DuckDB
        # rejected carry their physical line. Accepted row k sits after every rejected row
        # r_i with r_i - i < k (r sorted, i 1-based), which shifts it by that many lines.
        self.temp_table(
            "_rej",
            """SELECT line - 1 AS line, first(csv_line) AS csv_line,
                      first(error_type || ': ' || error_message) AS message
               FROM _rejects GROUP BY line""",
        )
        n_bad = self.scalar("SELECT count(*) FROM _rej")
        if n_bad:
            self.sql(
                """UPDATE _typed SET _line = _line + (
                       SELECT count(*) FROM (SELECT line - row_number() OVER (ORDER BY line) AS g
                                            FROM _rej) WHERE g < _typed._line)"""
            )
            self.sql(
                f"""INSERT INTO quarantine
                SELECT '{self.ingest_id}', ?, '{self.table}', line,
                       'malformed CSV line: ' || message, to_json(csv_line), {self.now}
                FROM _rej""",
                [str(self.path)],
            )
        return int(n_bad)

    def read_jsonl(self) -> int:
        self.temp_table(
            "_jl",
            r"""SELECT ordinality AS _line, line,
                   CASE WHEN json_valid(line) THEN json_type(line::JSON) END AS jtype
            FROM read_csv(?, columns = {'line': 'VARCHAR'}, header = false, delim = chr(1),
                          quote = '', escape = '', auto_detect = false, strict_mode = false)
                 WITH ORDINALITY""",
            [str(self.path)],
        )
        keys = [k for (k,) in self.sql(
            """SELECT k FROM (
                 SELECT k, min(_line * 100000 + list_position(keys, k)) AS first_seen
                 FROM (SELECT _line, json_keys(line::JSON) AS keys FROM _jl WHERE jtype = 'OBJECT'),
                      unnest(keys) AS u(k)
                 GROUP BY k) ORDER BY first_seen"""
        ).fetchall()]
        cols = ", ".join(f"line::JSON ->> {_lit(k)} AS {_ident(k)}" for k in keys)
        self.sql(
            f"""CREATE OR REPLACE TEMP TABLE _raw AS
            SELECT {cols + ', ' if cols else ''}_line FROM _jl WHERE jtype = 'OBJECT'"""
        )
        self.sql(
            f"""INSERT INTO quarantine
            SELECT '{self.ingest_id}', ?, '{self.table}', _line,
                   CASE WHEN jtype IS NULL THEN 'malformed JSON line: not valid JSON'
                        ELSE 'malformed JSON line: expected an object {{...}}, found ' || jtype END,
                   to_json(line), {self.now}
            FROM _jl WHERE coalesce(jtype, '') <> 'OBJECT' AND trim(coalesce(line, '')) <> ''""",
            [str(self.path)],
        )
        return int(self.scalar(
            "SELECT count(*) FROM _jl WHERE coalesce(jtype, '') <> 'OBJECT' "
            "AND trim(coalesce(line, '')) <> ''"
        ))


def _reader_error(path: Path, fmt: str, exc: Exception) -> str:
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    if "unicode" in text.lower() or "utf-8" in text.lower() or "encod" in text.lower():
        return (f"file {path} is not UTF-8 text ({first}); re-save it as UTF-8 "
                "(e.g. iconv -f latin1 -t utf-8) and ingest again")
    kind = {"csv": "CSV", "parquet": "Parquet", "jsonl": "JSON Lines"}[fmt]
    return (f"file {path} cannot be read as {kind}: {first}. Check that the file is complete "
            "and that its extension matches its content")
