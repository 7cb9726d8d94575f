"""Reading one opened input file (CSV, JSON Lines, Parquet) into the staged relation `_raw`.

`_raw` names the source columns `_s1`, `_s2`, ... (in file order) plus `_line`, so no input
name can collide with a name of ours (`_line`, `ordinality`, a JSON key such as `$` or
`/email`); `self.names` maps each source name to its staged name. CSV is read with one fixed
dialect (RFC 4180 double quotes, the delimiter taken from the header line) instead of a guess
from a sample, so one bad row cannot change how every other row is read; a row DuckDB rejects
is quarantined and the lines its open quote swallowed are read again on their own.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

from cdp_lib.errors import InputError
from cdp_lib.ingest.source import Source
from cdp_lib.ingest.values import _ident, _lit

# Longest line (CSV record or JSON line) read; longer ones refuse the file with their line.
MAX_LINE_BYTES = 64 << 20
# CSV rows rejected by the parser whose swallowed lines are read again (bounded work on
# hostile files; past it a rejected record is quarantined whole).
MAX_RECOVERIES = 200
_DELIMITERS = (",", ";", "\t", "|")


class Readers:
    """The read step of an ingest run (mixed into `cdp_lib.ingest.run._Run`)."""

    source: Source

    def read(self, fmt: str) -> tuple[dict[str, str], int]:
        """Expose the file as temp view or table `_raw` with `_line`; returns its column types
        by source name and the number of rows that could not be parsed at all (already
        quarantined; for CSV they are only known once `_raw` has been scanned, see
        `csv_rejects`).

        CSV and Parquet stay views: `validate` reads the file once, straight into `_typed`."""
        self.temp.append("_raw")
        try:
            if fmt == "parquet":
                types = self.read_parquet()
                bad = 0
            elif fmt == "rows":
                types = self.read_rows()
                bad = 0
            elif fmt == "csv":
                types = self.read_csv()
                bad = 0
            else:
                types, bad = self.read_jsonl()
        except InputError:
            raise
        except Exception as exc:  # DuckDB's reader errors: the file is not what it claims
            raise InputError(self.reader_error(fmt, exc)) from None
        if not types:
            raise InputError(f"file {self.path} has no columns; is it empty?")
        return types, bad

    def reader_error(self, fmt: str, exc: Exception) -> str:
        if "maximum line size" in str(exc).lower():
            return _long_line_error(self.source, fmt)
        if fmt == "csv" and "state machine reached an invalid state" in str(exc):
            return (f"file {self.path} mixes line endings (\\n and \\r\\n) or has a carriage "
                    "return outside quotes; convert it to one line ending (e.g. dos2unix) and "
                    "ingest again")
        return _reader_error(self.path, fmt, exc)

    def staged(self, names: list[str]) -> list[str]:
        """Record staged names `_s1`, `_s2`, ... for `names` (made unique) and return them."""
        self.names: dict[str, str] = {}
        for i, name in enumerate(_unique(names), start=1):
            self.names[name] = f"_s{i}"
        return list(self.names)

    def read_parquet(self) -> dict[str, str]:
        src = f"read_parquet({_lit(self.source.read_path)}, file_row_number = true)"
        described = self.sql(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {src})").fetchall()
        described = [(n, t) for n, t in described if n != "file_row_number"]
        names = self.staged([n for n, _ in described])
        cols = ", ".join(f"{_ident(orig)} AS {self.names[name]}" for name, (orig, _) in zip(names, described))
        # Parquet is typed and cheap to re-scan: a view saves one copy of the data.
        self.sql(
            f"""CREATE OR REPLACE TEMP VIEW _raw AS
            SELECT {cols + ', ' if cols else ''}file_row_number + 1 AS _line FROM {src}"""
        )
        return {name: t for name, (_, t) in zip(names, described)}

    def read_rows(self) -> dict[str, str]:
        self.db.register("_rows_in", self.source.rows)
        described = self.sql("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM _rows_in)").fetchall()
        names = self.staged([n for n, _ in described])
        cols = ", ".join(f"{_ident(orig)} AS {self.names[name]}" for name, (orig, _) in zip(names, described))
        self.sql(
            f"""CREATE OR REPLACE TEMP VIEW _raw AS
            SELECT {cols + ', ' if cols else ''}row_number() OVER () AS _line FROM _rows_in"""
        )
        return {name: t for name, (_, t) in zip(names, described)}

    # CSV -------------------------------------------------------------------------------
    def first_line(self) -> str:
        """The file's first line, decompressed, without its line end ('' when there is none)."""
        if self.source.compression != "zstd":  # Python reads it; DuckDB only for zstd
            import gzip

            opener = gzip.open if self.source.compression == "gzip" else open
            with opener(self.source.read_path, "rb") as fh:
                raw = fh.readline(MAX_LINE_BYTES)
            try:
                return raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise InputError(
                    f"file {self.path} is not UTF-8 text (invalid bytes on line 1); re-save it as "
                    "UTF-8 (e.g. iconv -f latin1 -t utf-8) and ingest again"
                ) from None
        row = self.sql(
            f"SELECT line FROM {self.lines_sql(self.source.read_path, self.source.compression)} LIMIT 1"
        ).fetchone()
        return (row[0] or "") if row else ""

    def lines_sql(self, path: str, compression: str | None) -> str:
        """DuckDB relation of a file's physical lines (`line`, text as is) with `ordinality`."""
        return (
            f"read_csv({_lit(path)}, columns = {{'line': 'VARCHAR'}}, header = false, "
            f"delim = chr(1), quote = '', escape = '', auto_detect = false, strict_mode = false, "
            f"max_line_size = {MAX_LINE_BYTES}, compression = {_lit(compression or 'none')}) "
            "WITH ORDINALITY"
        )

    def read_csv(self) -> dict[str, str]:
        # Every value stays text so that one bad value quarantines its row; lines DuckDB cannot
        # parse at all go to its rejects table when the view is scanned (once, in `validate`).
        header = self.first_line().lstrip("\ufeff").rstrip("\r")
        if not header.strip():
            raise InputError(f"file {self.path} has no header line; its first line must name the columns")
        self.delim = "\t" if ".tsv" in self.path.name.lower() else _delimiter(header)
        names = self.staged(next(csv.reader([header], delimiter=self.delim, quotechar='"')))
        self.sql(
            f"""CREATE OR REPLACE TEMP VIEW _raw AS
            SELECT {', '.join(self.names[n] for n in names)}, ordinality AS _line
            FROM {self.csv_sql(self.source.read_path, self.source.compression, '_rejects')}"""
        )
        return {n: "VARCHAR" for n in names}

    def csv_sql(self, path: str, compression: str | None, rejects: str) -> str:
        columns = ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in self.names.values())
        self.temp += [rejects, rejects + "_scan"]
        return (
            f"read_csv({_lit(path)}, header = true, auto_detect = false, columns = {{{columns}}}, "
            f"delim = {_lit(self.delim)}, quote = '\"', escape = '\"', strict_mode = true, "
            f"max_line_size = {MAX_LINE_BYTES}, compression = {_lit(compression or 'none')}, "
            f"store_rejects = true, rejects_table = {_lit(rejects)}, "
            f"rejects_scan = {_lit(rejects + '_scan')}) WITH ORDINALITY"
        )

    def csv_rejects(self, insert_typed) -> int:
        """After the scan of `_raw`: quarantine the records DuckDB rejected, read the lines an
        open quote swallowed again on their own (their rows go through `insert_typed(relation)`),
        and renumber the rows. Returns the number of rejected records."""
        encoding = self.sql(
            "SELECT line FROM _rejects WHERE error_type = 'INVALID ENCODING' ORDER BY line LIMIT 1"
        ).fetchone()
        if encoding is not None and not _valid_utf8(self.source):
            raise InputError(
                f"file {self.path} is not UTF-8 text (invalid bytes on line {encoding[0]}); "
                "re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8) and ingest again"
            )
        self.recoveries = 0
        self.bad_records: list[tuple[int, str, str]] = []  # (line, raw, message)
        spans = self.rejected_spans("_rejects")
        if spans:
            self.renumber("_typed", spans, 0)
            self.recover(spans, 0, insert_typed)
        if self.bad_records:
            self.db.executemany(
                f"""INSERT INTO quarantine VALUES ('{self.ingest_id}', ?, '{self.table}', ?,
                    'malformed CSV line: ' || ?, to_json(?::VARCHAR), {self.now})""",
                [[str(self.path), line, message, raw] for line, raw, message in self.bad_records],
            )
        return len(self.bad_records)

    def rejected_spans(self, rejects: str) -> list[tuple[int, list[str], str]]:
        """Rejected records as (data line, physical lines of the text it took, message)."""
        rows = self.sql(
            f"""SELECT line - 1, arg_max(csv_line, length(csv_line)),
                       first(error_type || ': ' || error_message ORDER BY length(csv_line) DESC)
                FROM {rejects} GROUP BY line ORDER BY line"""
        ).fetchall()
        out = []
        for line, text, message in rows:
            lines = (text or "").splitlines(keepends=True) or [""]
            out.append((int(line), lines, message.splitlines()[0] if message else "rejected"))
        return out

    def renumber(self, table: str, spans, base: int) -> None:
        """Data-row numbers: rows DuckDB accepted are numbered in file order (ordinality);
        every rejected record before a row shifts it by the physical lines the record took."""
        marks, taken = [], 0
        for line, lines, _ in spans:
            taken_before = taken
            taken += len(lines)
            marks.append((line - taken_before, taken))
        values = ", ".join(f"({g}, {cum})" for g, cum in marks)
        self.sql(
            f"""UPDATE {table} SET _line = {base} + _line + coalesce((
                   SELECT max(cum) FROM (VALUES {values}) AS m(g, cum) WHERE g <= {table}._line), 0)"""
        )

    def recover(self, spans, base: int, insert_typed) -> None:
        """Quarantine each rejected record's first line; read the lines after it again."""
        for line, lines, message in spans:
            if len(lines) == 1 or self.recoveries >= MAX_RECOVERIES:
                self.bad_records.append((base + line, "".join(lines).rstrip("\r\n"), message))
                continue
            self.bad_records.append((base + line, lines[0].rstrip("\r\n"), message))
            self.recoveries += 1
            n = self.recoveries
            folder = tempfile.mkdtemp(prefix="cdp-ingest-")
            part = os.path.join(folder, "part.csv")
            try:
                with open(part, "w", encoding="utf-8", newline="") as fh:
                    ending = "\r\n" if lines[0].endswith("\r\n") else "\n"  # keep the file's
                    fh.write(self.first_line() + ending + "".join(lines[1:]))
                self.temp.append(f"_rec{n}")
                cols = ", ".join(self.names.values())
                self.sql(
                    f"""CREATE OR REPLACE TEMP TABLE _rec{n} AS
                    SELECT {cols}, ordinality AS _line FROM {self.csv_sql(part, None, f'_rejects{n}')}"""
                )
            finally:
                os.remove(part)
                os.rmdir(folder)
            inner = self.rejected_spans(f"_rejects{n}")
            if inner:
                self.renumber(f"_rec{n}", inner, line)
                self.recover(inner, base + line, insert_typed)
            else:
                self.sql(f"UPDATE _rec{n} SET _line = _line + {base + line}")
            insert_typed(f"_rec{n}")

    # JSON Lines ------------------------------------------------------------------------
    def read_jsonl(self) -> tuple[dict[str, str], int]:
        self.temp_table(
            "_jl",
            f"""SELECT ordinality AS _line, line,
                   CASE WHEN json_valid(line) THEN json_type(line::JSON) END AS jtype
            FROM {self.lines_sql(self.source.read_path, self.source.compression)}""",
        )
        keys = [k for (k,) in self.sql(
            """SELECT k FROM (
                 SELECT k, min(_line * 100000 + list_position(keys, k)) AS first_seen
                 FROM (SELECT _line, json_keys(line::JSON) AS keys FROM _jl WHERE jtype = 'OBJECT'),
                      unnest(keys) AS u(k)
                 GROUP BY k) ORDER BY first_seen"""
        ).fetchall()]
        # Keys that differ only in letter case (email / Email on different lines) are one
        # column, named by the first spelling seen; a line giving two different non-empty
        # values under such spellings is quarantined rather than one of them dropped.
        groups: dict[str, list[str]] = {}
        for k in keys:
            groups.setdefault(k.lower(), []).append(k)
        names = self.staged([spellings[0] for spellings in groups.values()])
        cols, clashes = [], []
        for name, spellings in zip(names, groups.values()):
            values = [f"line::JSON ->> {_lit(_pointer(k))}" for k in spellings]
            cols.append(f"{values[0] if len(values) == 1 else 'coalesce(' + ', '.join(values) + ')'} "
                        f"AS {self.names[name]}")
            if len(values) > 1:
                clashes.append(
                    f"WHEN list_unique(list_filter([{', '.join(values)}], lambda x: nullif(trim(x), '') IS NOT NULL)) > 1 "
                    f"THEN {_lit('keys ' + ' and '.join(map(repr, spellings)) + ' give different values; keep one')}"
                )
        self.json_clash = f"CASE {' '.join(clashes)} END" if clashes else "NULL::VARCHAR"
        self.sql(
            f"""CREATE OR REPLACE TEMP TABLE _raw AS
            SELECT {', '.join(cols) + ', ' if cols else ''}{self.json_clash} AS _clash, _line
            FROM _jl WHERE jtype = 'OBJECT'"""
        )
        bad = (
            "FROM _jl WHERE coalesce(jtype, '') <> 'OBJECT' AND trim(coalesce(line, '')) <> ''"
        )
        self.sql(
            f"""INSERT INTO quarantine
            SELECT '{self.ingest_id}', ?, '{self.table}', _line,
                   CASE WHEN jtype IS NULL THEN 'malformed JSON line: not valid JSON'
                        ELSE 'malformed JSON line: expected an object {{...}}, found ' || jtype END,
                   to_json(line), {self.now}
            {bad}""",
            [str(self.path)],
        )
        return {n: "VARCHAR" for n in names}, int(self.scalar(f"SELECT count(*) {bad}"))


def _valid_utf8(source: Source) -> bool:
    """Whether the whole (decompressed) file is UTF-8; DuckDB also reports an open quote that
    swallowed multi-byte text as an encoding error. Read only on that error path."""
    if source.compression == "zstd":
        return False
    import codecs
    import gzip

    decoder = codecs.getincrementaldecoder("utf-8")()
    opener = gzip.open if source.compression == "gzip" else open
    try:
        with opener(source.read_path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _pointer(key: str) -> str:
    """JSON pointer (RFC 6901) to one top-level key, so `$`, `/email` or `""` are plain keys."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _unique(names: list[str]) -> list[str]:
    """Names made unique: a repeated header name gets `_2`, `_3`, ... (compared ignoring case)."""
    out, seen = [], set()
    for name in names:
        candidate, n = name, 1
        while candidate.lower() in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def _delimiter(header: str) -> str:
    """The delimiter of a CSV header line: the candidate found most often outside quotes."""
    outside, quoted = [], False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(ch)
    text = "".join(outside)
    counts = {d: text.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _long_line_error(source: Source, fmt: str) -> str:
    kind = {"csv": "CSV record", "jsonl": "JSON line"}.get(fmt, "line")
    where = ""
    if source.compression != "zstd":
        import gzip

        opener = gzip.open if source.compression == "gzip" else open
        with opener(source.read_path, "rb") as fh:
            for number, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b""), start=1):
                if len(raw) > MAX_LINE_BYTES:
                    where = f" on line {number}"
                    break
    return (f"file {source.path} has a {kind} longer than {MAX_LINE_BYTES >> 20} MB{where}; "
            "split or shorten that value and ingest again")


def _reader_error(path: Path, fmt: str, exc: Exception) -> str:
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    if "unicode" in text.lower() or "utf-8" in text.lower() or "encod" in text.lower():
        return (f"file {path} is not UTF-8 text ({first}); re-save it as UTF-8 "
                "(e.g. iconv -f latin1 -t utf-8) and ingest again")
    kind = {"csv": "CSV", "parquet": "Parquet", "jsonl": "JSON Lines"}[fmt]
    return (f"file {path} cannot be read as {kind}: {first}. Check that the file is complete "
            "and that its extension matches its content")
