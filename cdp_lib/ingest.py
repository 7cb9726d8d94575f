"""Load CSV, Parquet and JSON Lines files into `profiles`, `events` or `catalog`.

Every input row ends exactly once as *loaded*, *duplicate* or *quarantined* (with a reason a
person can act on); the whole ingest is one transaction, so a failure or a kill part-way
leaves the workspace as it was. Files are read by DuckDB (text columns stay text until they
are validated, so one bad value quarantines its row instead of failing the load), identities
are resolved set-wise (`cdp_lib.identity`), and nothing loops over rows in Python.
The rules are documented in docs/data-model.md.

This is storage-edge code and the one place, with `identity`, that speaks DuckDB SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import pandas as pd

from cdp_lib import identity, schema
from cdp_lib.errors import InputError, WorkspaceError
from cdp_lib.workspace import Workspace

TABLES = ("profiles", "events", "catalog")
IDENTIFIERS = schema.IDENTIFIER_KINDS
# Suffix -> reader. Compressed CSV/JSONL are decompressed by DuckDB.
FORMATS = {
    ".csv": "csv", ".csv.gz": "csv", ".csv.zst": "csv", ".tsv": "csv", ".tsv.gz": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonl.gz": "jsonl", ".ndjson.gz": "jsonl",
}

# Input spellings understood without --map, compared after lower-casing and dropping every
# character that is not a letter or digit ("E-mail Address" -> "emailaddress").
_PERSON_ALIASES = {
    "profile_id": ["profileid", "cdpid", "personid", "internalid"],
    "external_id": ["externalid", "customerid", "customernumber", "customerno", "custid",
                    "userid", "clientid", "accountid", "memberid"],
    "email": ["email", "emailaddress", "mail", "useremail", "customeremail"],
    "phone": ["phone", "phonenumber", "mobile", "mobilephone", "mobilenumber", "cell",
              "cellphone", "telephone", "tel", "msisdn", "smsnumber"],
}
ALIASES: dict[str, dict[str, list[str]]] = {
    "profiles": {
        **_PERSON_ALIASES,
        "external_id": _PERSON_ALIASES["external_id"] + ["id"],
        "first_name": ["firstname", "givenname", "fname", "forename"],
        "last_name": ["lastname", "surname", "familyname", "lname"],
        "city": ["city", "town"],
        "region": ["region", "state", "province", "stateprovince", "stateorprovince"],
        "country": ["country", "countrycode", "nation"],
        "zip": ["zip", "zipcode", "postalcode", "postcode", "postal"],
        "latitude": ["latitude", "lat"],
        "longitude": ["longitude", "lon", "lng", "long"],
        "timezone": ["timezone", "tz", "timezonename"],
        "created_at": ["createdat", "created", "createddate", "signupdate", "signedupat",
                       "registeredat", "registrationdate", "joinedat"],
        "email_consent": ["emailconsent", "acceptsemail", "emailoptin", "emailsubscribed",
                          "acceptsemailmarketing", "emailmarketingconsent"],
        "sms_consent": ["smsconsent", "acceptssms", "smsoptin", "smssubscribed",
                        "acceptssmsmarketing", "smsmarketingconsent"],
    },
    "events": {
        **_PERSON_ALIASES,
        "event_id": ["eventid", "id", "uuid", "eventuuid"],
        "metric": ["metric", "event", "eventname", "eventtype", "metricname", "action"],
        "timestamp": ["timestamp", "time", "datetime", "eventtime", "date", "occurredat", "ts",
                      "eventtimestamp", "eventdate", "eventdatetime"],
        "value": ["value", "amount", "revenue", "ordervalue", "ordertotal", "total",
                  "dollarvalue", "dollars", "sales"],
        "order_id": ["orderid", "ordernumber", "transactionid"],
        "product_id": ["productid", "sku", "itemid", "productsku"],
        "quantity": ["quantity", "qty", "units"],
        "price": ["price", "unitprice", "itemprice"],
        "source": ["source"],
        "source_name": ["sourcename"],
        "channel": ["channel"],
        "campaign_id": ["campaignid"],
        "flow_id": ["flowid"],
        "message_id": ["messageid"],
        "bounce_type": ["bouncetype"],
    },
    "catalog": {
        "product_id": ["productid", "sku", "id", "itemid", "productsku"],
        "name": ["name", "productname", "title", "itemname"],
        "category": ["category", "productcategory", "producttype", "type"],
        "brand": ["brand", "vendor", "manufacturer"],
        "price": ["price", "unitprice", "listprice"],
    },
}

TRUE_WORDS = ("true", "t", "yes", "y", "1", "on", "subscribed", "opted_in", "optedin", "opt_in",
              "optin", "opted in", "granted")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off", "unsubscribed", "opted_out", "optedout",
               "opt_out", "optout", "opted out", "denied", "never_subscribed", "not_subscribed")

# Fault injection for the atomicity tests: CDP_INGEST_FAULT=<step> raises after that step;
# CDP_INGEST_FAULT=<step>:pause=<file> writes <file> and sleeps there (to be killed).
FAULT_ENV = "CDP_INGEST_FAULT"
STEPS = ("read", "validate", "deduplicate", "resolve", "write")

# DuckDB memory cap while an ingest runs (its temp tables spill to disk beyond it), so 10M
# events load in well under 4 GB; a lower current limit is kept. Env CDP_INGEST_MEMORY_LIMIT.
MEMORY_LIMIT = os.environ.get("CDP_INGEST_MEMORY_LIMIT", "2GB")

# Files larger than this show a progress bar in the CLI (when stderr is a terminal).
LARGE_FILE_BYTES = 20_000_000


@dataclass(frozen=True)
class IngestResult:
    """What happened to the rows of one file: `rows == loaded + duplicates + quarantined`."""

    rows: int
    loaded: int
    duplicates: int
    quarantined: int
    ingest_id: str
    table: str = ""
    file: str = ""
    new_profiles: int = 0
    merges: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ColumnPlan:
    """Which source column feeds which canonical column; the rest become custom columns."""

    canonical: dict[str, str]  # canonical name -> source column
    custom: dict[str, str]  # custom column name -> source column


# -- public API -------------------------------------------------------------------------------
def ingest_file(
    ws: Workspace,
    table: str,
    path: str | os.PathLike,
    mapping: Mapping[str, str] | Iterable[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> IngestResult:
    """Load one file into `profiles`, `events` or `catalog`, atomically.

    Parameters
    ----------
    ws
        A writable DuckDB workspace.
    table
        ``"profiles"``, ``"events"`` or ``"catalog"``.
    path
        A ``.csv`` (``.tsv``, ``.csv.gz``), ``.parquet`` or ``.jsonl`` (``.ndjson``) file.
    mapping
        Explicit column names, ``{"source column": "canonical column"}`` or an iterable of
        ``"source=canonical"`` strings; they win over the default spellings.
    progress
        Called as ``progress(step, index, n_steps)`` after each step of `STEPS`.

    Returns
    -------
    IngestResult
        Counts of rows loaded, duplicates and quarantined rows, and the ingest id under which
        the quarantined rows are stored.
    """
    started = time.perf_counter()
    table = check_table(table)
    path = Path(path)
    fmt = detect_format(path)
    explicit = parse_mapping(mapping)
    if not ws.is_duckdb or ws.read_only:
        raise WorkspaceError(f"ingest needs a writable DuckDB workspace, not {ws!r}")
    db = ws.duckdb
    now = dt.datetime.now(dt.timezone.utc)
    ingest_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    ctx = _Run(db, table, path, ingest_id, f"TIMESTAMPTZ '{now.isoformat()}'", progress)
    # DuckDB's own progress bar would print into --json output; ours is the `progress` hook.
    bar_was_on, limit_was = db.execute(
        "SELECT current_setting('enable_progress_bar'), current_setting('memory_limit')"
    ).fetchone()
    db.execute("SET enable_progress_bar = false")
    if _bytes(MEMORY_LIMIT) < _bytes(limit_was):
        db.execute(f"SET memory_limit = {_lit(MEMORY_LIMIT)}")
    try:
        with ws.transaction():
            db.execute("SET TimeZone = 'UTC'")
            counts = ctx.run(fmt, explicit)
            db.execute(
                "INSERT INTO ingests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [ingest_id, table, str(path), file_sha256(path), counts["rows"],
                 counts["loaded"], counts["duplicates"], counts["quarantined"], now,
                 dt.datetime.now(dt.timezone.utc)],
            )
    finally:
        ctx.drop_temp_tables()
        if bar_was_on:
            db.execute("SET enable_progress_bar = true")
        db.execute(f"SET memory_limit = {_lit(limit_was)}")
    return IngestResult(
        rows=counts["rows"], loaded=counts["loaded"], duplicates=counts["duplicates"],
        quarantined=counts["quarantined"], ingest_id=ingest_id, table=table, file=str(path),
        new_profiles=counts.get("new_profiles", 0), merges=counts.get("merges", 0),
        seconds=round(time.perf_counter() - started, 3),
    )


def _bytes(size: str) -> float:
    """'2GB', '18.8 GiB', '512 MiB' -> bytes (DuckDB's memory_limit spellings)."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]i?B|bytes?|B)?\s*", size, flags=re.IGNORECASE)
    if not m:
        return float("inf")
    unit = (m.group(2) or "B").upper()
    base = 1024 if "I" in unit else 1000
    power = {"K": 1, "M": 2, "G": 3, "T": 4}.get(unit[0], 0)
    return float(m.group(1)) * base**power


def check_table(table: str) -> str:
    if table not in TABLES:
        raise InputError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
    return table


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


def parse_mapping(mapping: Mapping[str, str] | Iterable[str] | None) -> dict[str, str]:
    """``["Mail=email"]`` or ``{"Mail": "email"}`` -> ``{"Mail": "email"}``."""
    if mapping is None:
        return {}
    if isinstance(mapping, Mapping):
        pairs = list(mapping.items())
    else:
        pairs = []
        for item in mapping:
            source, sep, target = str(item).partition("=")
            if not sep or not source.strip() or not target.strip():
                raise InputError(
                    f"--map {item!r} is not SOURCE=CANONICAL; write it like 'E-Mail=email'"
                )
            pairs.append((source.strip(), target.strip()))
    out: dict[str, str] = {}
    for source, target in pairs:
        if source in out:
            raise InputError(f"--map gives column {source!r} twice; keep one")
        out[source] = target
    return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def quarantine_table(ws: Workspace, ingest_id: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """Quarantined rows, newest ingest first then by line; optionally of one ingest."""
    q = ws.table("quarantine")
    if ingest_id is not None:
        q = q.filter(q.ingest_id == ingest_id)
    q = q.order_by([q.quarantined_at.desc(), q.ingest_id, q.line])
    if limit is not None:
        q = q.limit(limit)
    return q.execute()


def export_quarantine(ws: Workspace, out: str | os.PathLike, ingest_id: str | None = None) -> int:
    """Write the quarantine (or one ingest's part) to a CSV file; returns the row count."""
    df = quarantine_table(ws, ingest_id=ingest_id)
    try:
        df.to_csv(out, index=False)
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}; choose a writable file path") from None
    return len(df)


def canonical_columns(table: str) -> list[str]:
    """Names a source column can be mapped to for `table` (identifiers included)."""
    cols = [c for c in schema.CANONICAL[table] if c != "updated_at"]
    if table == "events":
        cols += [c for c in IDENTIFIERS if c not in cols]
    return cols


def plan_columns(table: str, source_columns: list[str], explicit: Mapping[str, str]) -> ColumnPlan:
    """Map source columns to canonical ones: explicit --map first, then default spellings."""
    allowed = canonical_columns(table)
    canonical: dict[str, str] = {}
    by_lower = {c.lower(): c for c in source_columns}
    for source, target in explicit.items():
        found = source if source in source_columns else by_lower.get(source.lower())
        if found is None:
            raise InputError(
                f"--map {source}={target}: the file has no column {source!r}; its columns are "
                f"{', '.join(map(repr, source_columns))}"
            )
        if target not in allowed:
            raise InputError(
                f"--map {source}={target}: {target!r} is not a {table} column; expected one of "
                f"{', '.join(allowed)}"
            )
        if target in canonical:
            raise InputError(
                f"--map maps both {canonical[target]!r} and {found!r} to {target!r}; keep one"
            )
        canonical[target] = found
    mapped = set(canonical.values())
    lookup = {alias: canon for canon, aliases in ALIASES[table].items() for alias in aliases}
    # Exact canonical spellings first, so "email" beats "Email Address" when both are present.
    rest = [c for c in source_columns if c not in mapped]
    for exact_first in (True, False):
        for col in rest:
            if col in mapped:
                continue
            canon = lookup.get(_compact(col))
            if canon is None or canon in canonical:
                continue
            if exact_first and _snake(col) != canon:
                continue
            canonical[canon] = col
            mapped.add(col)
    custom: dict[str, str] = {}
    taken = set(schema.CANONICAL[table]) | set(IDENTIFIERS)
    for col in source_columns:
        if col in mapped:
            continue
        name = _snake(col) or "column"
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name}_{n}"
        taken.add(candidate)
        custom[candidate] = col
    return ColumnPlan(canonical, custom)


# -- one ingest run ---------------------------------------------------------------------------
class _Run:
    """The steps of one ingest; every intermediate result is a temp table of the connection."""

    def __init__(self, db, table, path, ingest_id, now, progress):
        self.db, self.table, self.path = db, table, path
        self.ingest_id, self.now, self.progress = ingest_id, now, progress
        self.temp: list[str] = []
        self.step_index = 0

    # plumbing
    def sql(self, query: str, params=None):
        return self.db.execute(query, params) if params is not None else self.db.execute(query)

    def scalar(self, query: str, params=None):
        return self.sql(query, params).fetchone()[0]

    def temp_table(self, name: str, query: str, params=None) -> None:
        self.temp.append(name)
        self.sql(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}", params)

    def drop_temp_tables(self) -> None:
        for name in [*self.temp, *identity.TEMP_TABLES, "_rejects", "_rejects_scan"]:
            for kind in ("VIEW", "TABLE"):
                try:
                    self.db.execute(f"DROP {kind} IF EXISTS temp.{name}")
                except Exception:  # wrong kind, or the connection is gone; nothing to undo
                    pass

    def checkpoint(self, step: str) -> None:
        self.step_index += 1
        if self.progress is not None:
            self.progress(step, self.step_index, len(STEPS))
        fault = os.environ.get(FAULT_ENV, "")
        where, _, action = fault.partition(":")
        if where != step:
            return
        if action.startswith("pause="):
            Path(action[len("pause="):]).write_text(step)
            time.sleep(600)
        raise RuntimeError(f"injected failure after ingest step {step!r} ({FAULT_ENV})")

    # steps
    def run(self, fmt: str, explicit: dict[str, str]) -> dict:
        source_types, bad_rows = self.read(fmt)
        self.checkpoint("read")
        plan = plan_columns(self.table, list(source_types), explicit)
        self.require_columns(plan, list(source_types))
        self.validate(plan, source_types, self.derived_columns(plan), fmt)
        if fmt == "csv":  # the scan above filled DuckDB's rejects table
            bad_rows = self.csv_rejects()
        self.sql(
            f"""INSERT INTO quarantine
            SELECT '{self.ingest_id}', ?, '{self.table}', _line, _reason, _src, {self.now}
            FROM _typed WHERE _reason IS NOT NULL""",
            [str(self.path)],
        )
        rows = self.scalar("SELECT count(*) FROM _typed") + bad_rows
        self.checkpoint("validate")
        quarantined = self.scalar(
            "SELECT count(*) FROM quarantine WHERE ingest_id = ?", [self.ingest_id]
        )
        writer = {"events": self.write_events, "profiles": self.write_profiles,
                  "catalog": self.write_catalog}[self.table]
        duplicates, stats = writer(plan)
        self.checkpoint("write")
        return {"rows": int(rows), "loaded": int(rows - duplicates - quarantined),
                "duplicates": int(duplicates), "quarantined": int(quarantined), **stats}

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

    def require_columns(self, plan: ColumnPlan, source_columns: list[str]) -> None:
        """A file lacking a required column entirely is unusable as a whole: say so."""
        needs = {"events": [("metric",), ("timestamp",), IDENTIFIERS],
                 "profiles": [IDENTIFIERS], "catalog": [("product_id",)]}[self.table]
        for options in needs:
            if not any(o in plan.canonical for o in options):
                what = " or ".join(options)
                raise InputError(
                    f"file {self.path} has no {what} column for {self.table}; its columns are "
                    f"{', '.join(map(repr, source_columns))}; name one with "
                    f"--map COLUMN={options[0]}"
                )

    def derived_columns(self, plan: ColumnPlan) -> str:
        """Extra columns of `_typed` computed from the parsed values."""
        if self.table != "events":
            return ""
        return (f", coalesce(event_id, {self.content_id(plan)}) AS _eid, "
                "event_id IS NOT NULL AS _explicit, false AS _dup")

    def content_id(self, plan: ColumnPlan) -> str:
        """SQL deriving an event id from the row's parsed content (events without one)."""
        extra = [c for c in schema.EVENTS if c not in ("event_id", "profile_id", "metric", "timestamp", "value")]
        content = ["_pid", "_ext", "_email", "_phone", "metric",
                   "CAST(epoch_us(timestamp) AS VARCHAR)", "CAST(value AS VARCHAR)"]
        content += [f"CAST({_ident(c)} AS VARCHAR)" for c in [*extra, *sorted(plan.custom)]]
        joined = ", ".join(f"coalesce({c}, '')" for c in content)
        # Derived id: a hash of the content; identical rows are told apart by their occurrence
        # number among identical rows of the file (see write_events), so re-ingest is a no-op.
        return f"md5(concat_ws(chr(31), {joined}))"

    def validate(self, plan: ColumnPlan, source_types: dict[str, str], derived: str, fmt: str) -> None:
        """Typed temp table `_typed`: parsed values, normalised identifiers, `_reason` and, for
        rows with a reason, `_src` (the source row as JSON, for the quarantine).

        The source is scanned exactly once (for CSV this is the read itself). Custom text
        columns whose type is not known yet are staged as text and typed afterwards from what
        they hold (`infer_custom_types`); such values always parse, so no reason is missed.
        """
        target = schema.CANONICAL[self.table]
        existing = self.table_types(self.table)
        custom_types, to_infer = self.custom_types(plan, source_types, existing)
        select: list[str] = []
        reasons: list[str] = []
        person = self.table in ("events", "profiles")
        if person:
            present = []
            for kind, alias in zip(IDENTIFIERS, ("_pid", "_ext", "_email", "_phone")):
                src = plan.canonical.get(kind)
                if src is None:
                    select.append(f"NULL::VARCHAR AS {alias}")
                    continue
                raw = _ident(src)
                norm = {"email": identity.email_sql(raw), "phone": identity.phone_sql(raw)}.get(
                    kind, f"nullif(trim(CAST({raw} AS VARCHAR)), '')"
                )
                select.append(f"{norm} AS {alias}")
                present.append(alias)
            reasons.append(
                f"WHEN {' AND '.join(f'{a} IS NULL' for a in present)} THEN 'no identifier: set "
                f"at least one of profile_id, external_id, email, phone'"
            )
            if "email" in plan.canonical:
                src = plan.canonical["email"]
                reasons.append(
                    f"WHEN _email IS NOT NULL AND NOT regexp_full_match(_email, '[^@\\s]+@[^@\\s]+') "
                    f"THEN {_value_msg(src)} || ' is not an email address (expected name@domain)'"
                )
            if "phone" in plan.canonical:
                src = plan.canonical["phone"]
                reasons.append(
                    f"WHEN _phone IS NOT NULL AND NOT regexp_full_match(_phone, '\\+?[0-9]{{5,15}}') "
                    f"THEN {_value_msg(src)} || ' is not a phone number (expected 5 to 15 digits, "
                    f"optionally a leading +)'"
                )
        if self.table == "events":
            for col in ("metric", "timestamp"):
                src = plan.canonical[col]
                reasons.append(
                    f"WHEN {_ident(col)} IS NULL AND nullif(trim(CAST({_raw_value(src)} AS VARCHAR)), '') IS NULL "
                    f"THEN 'missing {col}: column \"{_q(src)}\" is empty'"
                )
        if self.table == "catalog":
            src = plan.canonical["product_id"]
            reasons.append(
                f"WHEN product_id IS NULL AND nullif(trim(CAST({_raw_value(src)} AS VARCHAR)), '') IS NULL "
                f"THEN 'missing product_id: column \"{_q(src)}\" is empty'"
            )
        for col, sqltype in target.items():
            if col in IDENTIFIERS and person or col == "updated_at":
                continue
            src = plan.canonical.get(col)
            if src is None:
                select.append(f"NULL::{sqltype} AS {_ident(col)}")
                continue
            value, bad, expected = _parse(_ident(src), source_types[src], sqltype, col)
            select.append(f"{value} AS {_ident(col)}")
            if bad:
                bad = _unparsed(_ident(col), src, source_types[src], col)
                reasons.append(f"WHEN {bad} THEN {_value_msg(src)} || ' {expected}'")
        for col, src in plan.custom.items():
            sqltype = custom_types[col]
            value, bad, expected = _parse(_ident(src), source_types[src], sqltype, col)
            select.append(f"{value} AS {_ident(col)}")
            if bad:
                bad = _unparsed(_ident(col), src, source_types[src], col)
                if col in existing:
                    expected += f" (column {col} holds {sqltype} values from earlier ingests)"
                reasons.append(f"WHEN {bad} THEN {_value_msg(src)} || ' {expected}'")
        reason = f"CASE {' '.join(reasons)} END" if reasons else "NULL::VARCHAR"
        # Three layers, each value computed once: parse (the source row travels along as a
        # struct, no copy), then the reason from the parsed values, then the row as JSON for
        # rows with a reason only, and the derived columns.
        row = ", ".join(f"{_ident(c)} := {_ident(c)}" for c in source_types)
        parsed = f"SELECT _line, {', '.join(select)}, struct_pack({row}) AS _row FROM _raw"
        drop = "_row, event_id" if self.table == "events" else "_row"
        try:
            self.temp_table(
                "_typed",
                f"SELECT * EXCLUDE ({drop}), CASE WHEN _reason IS NOT NULL THEN "
                f"{_row_json(source_types, '_row')} END AS _src{derived} "
                f"FROM (SELECT *, {reason} AS _reason FROM ({parsed}))",
            )
        except Exception as exc:  # a CSV is only read here; its reader errors are the user's
            if fmt != "csv" or isinstance(exc, InputError):
                raise
            raise InputError(_reader_error(self.path, fmt, exc)) from None
        self.sql("DROP VIEW IF EXISTS temp._raw" if fmt in ("csv", "parquet") else "DROP TABLE temp._raw")
        if to_infer:
            custom_types.update(self.infer_custom_types(plan, to_infer))
        self.plan_types = {**{c: t for c, t in target.items()}, **custom_types}
        for col in plan.custom:
            if col not in existing:
                self.sql(
                    f'ALTER TABLE "{self.table}" ADD COLUMN {_ident(col)} {custom_types[col]}'
                )

    def table_types(self, name: str) -> dict[str, str]:
        return dict(self.sql(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? AND table_schema = current_schema() ORDER BY ordinal_position",
            [name],
        ).fetchall())

    def custom_types(self, plan: ColumnPlan, source_types: dict[str, str],
                     existing: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        """Type of each custom column (the existing one or the source's), and the text
        columns whose type is inferred once staged (VARCHAR until then)."""
        out: dict[str, str] = {}
        to_infer = []
        for col, src in plan.custom.items():
            if col in existing:
                out[col] = existing[col]
            elif source_types[src] != "VARCHAR":
                out[col] = _storable_type(source_types[src])
            else:
                out[col] = "VARCHAR"
                to_infer.append(col)
        return out, to_infer

    def infer_custom_types(self, plan: ColumnPlan, to_infer: list[str]) -> dict[str, str]:
        """Type new text columns of `_typed` by what every value parses as, and convert them."""
        checks = []
        for col in to_infer:
            s = f"nullif(trim({_ident(col)}), '')"
            numeric_ok = f"NOT regexp_matches({s}, '^[+-]?0[0-9]')"  # zip codes, ids with zeros
            checks += [
                f"count({s})",
                f"count_if(regexp_full_match({s}, '[+-]?[0-9]{{1,18}}') AND {numeric_ok})",
                f"count_if(TRY_CAST({s} AS DOUBLE) IS NOT NULL AND isfinite(TRY_CAST({s} AS DOUBLE)) AND {numeric_ok})",
                f"count_if(lower({s}) IN ('true', 'false'))",
                f"count_if(regexp_matches({s}, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') AND TRY_CAST({s} AS TIMESTAMPTZ) IS NOT NULL)",
            ]
        stats = self.sql(f"SELECT {', '.join(checks)} FROM _typed").fetchone()
        out: dict[str, str] = {}
        for i, col in enumerate(to_infer):
            n, n_int, n_double, n_bool, n_ts = stats[5 * i: 5 * i + 5]
            if n == 0:
                out[col] = "VARCHAR"
            elif n_int == n:
                out[col] = "BIGINT"
            elif n_double == n:
                out[col] = "DOUBLE"
            elif n_bool == n:
                out[col] = "BOOLEAN"
            elif n_ts == n:
                out[col] = "TIMESTAMPTZ"
            else:
                out[col] = "VARCHAR"
        typed = [col for col in to_infer if out[col] != "VARCHAR"]
        for col in typed:
            value, _, _ = _parse(_ident(col), "VARCHAR", out[col], col)
            self.sql(f"ALTER TABLE _typed ALTER COLUMN {_ident(col)} TYPE {out[col]} USING {value}")
        if typed and self.table == "events":  # derived ids hash the typed values
            self.sql(f"UPDATE _typed SET _eid = {self.content_id(plan)} WHERE NOT _explicit")
        return out

    # events ----------------------------------------------------------------------------
    def write_events(self, plan: ColumnPlan) -> tuple[int, dict]:
        # Ids seen more than once in the file: candidates by 64-bit hash (a small hash table
        # even for 10M ids; a collision only adds a candidate), then exact per id.
        self.temp_table(
            "_occ",
            """SELECT _line, row_number() OVER (PARTITION BY _eid ORDER BY _line) AS occ,
                      _explicit AS explicit
               FROM _typed
               WHERE _reason IS NULL AND hash(_eid) IN (
                   SELECT hash(_eid) FROM _typed WHERE _reason IS NULL
                   GROUP BY hash(_eid) HAVING count(*) > 1)""",
        )
        self.sql(
            """UPDATE _typed SET _eid = md5(_typed._eid || '#' || o.occ)
               FROM _occ o WHERE _typed._line = o._line AND o.occ > 1 AND NOT o.explicit;
               UPDATE _typed SET _dup = true
               FROM _occ o WHERE _typed._line = o._line AND o.occ > 1 AND o.explicit"""
        )
        if self.scalar("SELECT count(*) > 0 FROM events"):
            self.sql(
                """UPDATE _typed SET _dup = true
                   WHERE _reason IS NULL AND _eid IN (SELECT event_id FROM events)"""
            )
        duplicates = self.scalar("SELECT count(*) FROM _typed WHERE _dup")
        self.checkpoint("deduplicate")
        stats = identity.resolve(
            self.db, "(SELECT _pid, _ext, _email, _phone FROM _typed WHERE _reason IS NULL AND NOT _dup)",
            self.ingest_id, self.now,
        )
        self.checkpoint("resolve")
        cols = [c for c in schema.EVENTS if c not in ("event_id", "profile_id")] + list(plan.custom)
        self.sql(
            f"""INSERT INTO events BY NAME
            SELECT t._eid AS event_id, r.profile_id, {', '.join(f't.{_ident(c)}' for c in cols)}
            FROM _typed t JOIN _resolved r
              ON t._pid IS NOT DISTINCT FROM r._pid AND t._ext IS NOT DISTINCT FROM r._ext
             AND t._email IS NOT DISTINCT FROM r._email AND t._phone IS NOT DISTINCT FROM r._phone
            WHERE t._reason IS NULL AND NOT t._dup"""
        )
        return int(duplicates), stats

    # profiles --------------------------------------------------------------------------
    def write_profiles(self, plan: ColumnPlan) -> tuple[int, dict]:
        self.checkpoint("deduplicate")
        stats = identity.resolve(
            self.db, "(SELECT _pid, _ext, _email, _phone FROM _typed WHERE _reason IS NULL)",
            self.ingest_id, self.now,
        )
        self.checkpoint("resolve")
        attrs = {"external_id": "_ext", "email": "_email", "phone": "_phone"}
        attrs.update({c: c for c in schema.PROFILES if c not in ("profile_id", "updated_at", *IDENTIFIERS)})
        attrs.update({c: c for c in plan.custom})
        # Within a file, a profile's own record (the one whose identifiers name it) wins, then
        # the last non-empty value in file order; records that only reach the profile through a
        # merge fill what its own record leaves empty. This is the merge rule (survivor's values
        # first), so re-ingesting a file after its people were merged changes nothing.
        naming_id = identity.generated_id_sql(
            "coalesce('external_id:' || t._ext, 'email:' || t._email, 'phone:' || t._phone)"
        )
        own = f"(t._pid IS NOT DISTINCT FROM r.profile_id OR {naming_id} IS NOT DISTINCT FROM r.profile_id)"
        rank = f"(CASE WHEN {own} THEN 1 ELSE 0 END)::BIGINT * 1000000000000 + t._line"
        agg = ", ".join(
            f"arg_max(t.{_ident(src)}, {rank}) FILTER (WHERE t.{_ident(src)} IS NOT NULL) AS {_ident(col)}"
            for col, src in attrs.items()
        )
        self.temp_table(
            "_agg",
            f"""SELECT r.profile_id, {agg}
            FROM _typed t JOIN _resolved r
              ON t._pid IS NOT DISTINCT FROM r._pid AND t._ext IS NOT DISTINCT FROM r._ext
             AND t._email IS NOT DISTINCT FROM r._email AND t._phone IS NOT DISTINCT FROM r._phone
            WHERE t._reason IS NULL GROUP BY r.profile_id""",
        )
        return self.upsert("profiles", "profile_id", list(attrs), touched="_touched"), stats

    # catalog ---------------------------------------------------------------------------
    def write_catalog(self, plan: ColumnPlan) -> tuple[int, dict]:
        self.checkpoint("deduplicate")
        self.checkpoint("resolve")
        attrs = [c for c in schema.CATALOG if c != "product_id"] + list(plan.custom)
        agg = ", ".join(
            f"arg_max({_ident(c)}, _line) FILTER (WHERE {_ident(c)} IS NOT NULL) AS {_ident(c)}"
            for c in attrs
        )
        self.temp_table(
            "_agg",
            f"""SELECT product_id, {agg}
            FROM _typed WHERE _reason IS NULL GROUP BY product_id""",
        )
        self.temp_table(
            "_new_products",
            "SELECT product_id FROM _agg WHERE product_id NOT IN "
            "(SELECT product_id FROM catalog WHERE product_id IS NOT NULL)",
        )
        self.sql("INSERT INTO catalog (product_id) SELECT product_id FROM _new_products")
        return self.upsert("catalog", "product_id", attrs, touched="_new_products"), {}

    def upsert(self, table: str, key: str, attrs: list[str], touched: str) -> int:
        """Apply `_agg` (one row per key) onto `table`; rows of unchanged keys are duplicates.

        A key changes when it is listed in `touched` (new; for profiles also merged into or
        given a new identifier) or when one of its non-empty values differs from the stored
        one. Stored values are only replaced, never blanked.
        """
        differs = " OR ".join(
            f"(a.{_ident(c)} IS NOT NULL AND a.{_ident(c)} IS DISTINCT FROM s.{_ident(c)})" for c in attrs
        )
        self.temp_table(
            "_changed",
            f"""SELECT a.{key} FROM _agg a JOIN {table} s ON s.{key} = a.{key}
            WHERE a.{key} IN (SELECT {key} FROM {touched}) OR {differs}""",
        )
        sets = ", ".join(f"{_ident(c)} = coalesce(a.{_ident(c)}, {table}.{_ident(c)})" for c in attrs)
        if table == "profiles":
            sets += f", updated_at = {self.now}"
        self.sql(
            f"""UPDATE {table} SET {sets} FROM _agg a
            WHERE {table}.{key} = a.{key} AND a.{key} IN (SELECT {key} FROM _changed)"""
        )
        if table == "profiles":
            valid_keys = (
                "SELECT r.profile_id AS k FROM _typed t JOIN _resolved r "
                "ON t._pid IS NOT DISTINCT FROM r._pid AND t._ext IS NOT DISTINCT FROM r._ext "
                "AND t._email IS NOT DISTINCT FROM r._email AND t._phone IS NOT DISTINCT FROM r._phone "
                "WHERE t._reason IS NULL"
            )
        else:
            valid_keys = "SELECT product_id AS k FROM _typed WHERE _reason IS NULL"
        return int(self.scalar(
            f"SELECT count(*) FROM ({valid_keys}) WHERE k NOT IN (SELECT {key} FROM _changed)"
        ))


# -- SQL helpers ------------------------------------------------------------------------------
def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _q(text: str) -> str:
    """Text to embed inside an SQL string literal."""
    return text.replace("'", "''")


def _value_msg(src: str) -> str:
    """SQL building 'column "Src": 'value'' for a reason message (value cut at 60 chars),
    reading the raw value from the row struct `_row` of `validate`."""
    v = f"CAST({_raw_value(src)} AS VARCHAR)"
    shown = f"CASE WHEN length({v}) > 60 THEN left({v}, 57) || '...' ELSE {v} END"
    return f"'column \"{_q(src)}\": ''' || {shown} || ''''"


def _raw_value(src: str) -> str:
    """SQL for source column `src` as read from the file (a field of `_row`)."""
    return f"_row.{_ident(src)}"


def _unparsed(parsed: str, src: str, src_type: str, col: str) -> str:
    """SQL true when source column `src` holds a value but its parsed form `parsed` is NULL
    (or, for coordinates, out of range). The parsed value is tested first, so the raw text is
    only looked at for the rare rows that failed."""
    raw = _raw_value(src)
    present = f"nullif(trim({raw}), '')" if src_type.upper() == "VARCHAR" else raw
    bad = f"{parsed} IS NULL AND {present} IS NOT NULL"
    limit = {"latitude": 90, "longitude": 180}.get(col)
    return f"({bad}) OR abs({parsed}) > {limit}" if limit else bad


def _compact(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _snake(name: str) -> str:
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    s = re.sub(r"[^0-9a-z]+", "_", s.lower()).strip("_")
    return f"c_{s}" if s[:1].isdigit() else s


def _storable_type(duck_type: str) -> str:
    """Type a typed source column keeps (nested values are stored as JSON text)."""
    t = duck_type.upper()
    if t.startswith(("STRUCT", "MAP", "UNION")) or t.endswith("]"):
        return "VARCHAR"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return "TIMESTAMPTZ"
    if t.startswith("DECIMAL") or t in ("FLOAT", "REAL", "HUGEINT", "UHUGEINT", "UBIGINT"):
        return "DOUBLE"
    if t in ("TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT", "UINTEGER"):
        return "BIGINT"
    return t


# Text columns whose surrounding blanks are dropped (and which are NULL when blank).
_TRIMMED = {"metric", "event_id", "product_id"}
_EPOCH = (
    "CASE WHEN abs({x}) < 1e11 THEN to_timestamp({x}) WHEN abs({x}) < 1e14 THEN to_timestamp({x} / 1e3) "
    "WHEN abs({x}) < 1e17 THEN to_timestamp({x} / 1e6) END"
)
_TS_EXPECTED = (
    "is not a timestamp (expected ISO 8601 such as 2024-01-31T12:00:00Z or 2024-01-31, "
    "or epoch seconds/milliseconds)"
)


def _parse(src: str, src_type: str, target: str, col: str) -> tuple[str, str | None, str]:
    """SQL for (parsed value, 'present but unparseable' condition, reason tail)."""
    src_type = src_type.upper()
    nested = src_type.startswith(("STRUCT", "MAP", "UNION")) or src_type.endswith("]")
    is_text = src_type == "VARCHAR"
    s = f"nullif(trim({src}), '')" if is_text else src
    if target == "VARCHAR":
        if nested:
            return f"CAST(to_json({src}) AS VARCHAR)", None, ""
        if is_text:  # keys are trimmed; other text passes through untouched (cheap)
            return (s if col in _TRIMMED else src), None, ""
        return f"CAST({src} AS VARCHAR)", None, ""
    if target in ("DOUBLE", "BIGINT"):
        if is_text:
            value = f"TRY_CAST({s} AS {target})"
            if target == "DOUBLE":
                value = f"CASE WHEN isfinite({value}) THEN {value} END"
            else:  # a cast would round '1.5' to 2
                value = f"CASE WHEN regexp_full_match({s}, '[+-]?[0-9]+') THEN {value} END"
        else:
            value = f"TRY_CAST({src} AS {target})"
        bad = f"{s} IS NOT NULL AND {value} IS NULL"
        if col == "latitude":
            return value, f"({bad}) OR abs({value}) > 90", "is not a latitude (a number from -90 to 90)"
        if col == "longitude":
            return value, f"({bad}) OR abs({value}) > 180", "is not a longitude (a number from -180 to 180)"
        kind = "a number" if target == "DOUBLE" else "a whole number"
        return value, bad, f"is not {kind} (use digits and a dot, no currency signs or thousands separators)"
    if target == "BOOLEAN":
        if src_type == "BOOLEAN":
            return src, None, ""
        low = f"lower(CAST({s} AS VARCHAR))"
        value = (
            f"CASE WHEN {low} IN ({', '.join(map(_lit, TRUE_WORDS))}) THEN true "
            f"WHEN {low} IN ({', '.join(map(_lit, FALSE_WORDS))}) THEN false END"
        )
        return value, f"{s} IS NOT NULL AND {value} IS NULL", (
            "is not a yes/no value (expected true/false, yes/no, 1/0, y/n, "
            "subscribed/unsubscribed or opted_in/opted_out)"
        )
    if target == "TIMESTAMPTZ":
        if src_type.startswith("TIMESTAMP") or src_type == "DATE":
            return f"CAST({src} AS TIMESTAMPTZ)", None, ""
        if not is_text:
            x = f"CAST({src} AS DOUBLE)"
            value = _EPOCH.format(x=x)
            return value, f"{src} IS NOT NULL AND {value} IS NULL", _TS_EXPECTED
        x = f"TRY_CAST({s} AS DOUBLE)"
        # Eight digits read as a compact date (20240131), other plain numbers as epoch time.
        value = (
            f"coalesce(TRY_CAST({s} AS TIMESTAMPTZ), CASE WHEN regexp_full_match({s}, '[0-9]{{8}}') "
            f"THEN CAST(try_strptime({s}, '%Y%m%d') AS TIMESTAMPTZ) ELSE {_EPOCH.format(x=x)} END)"
        )
        return value, f"{s} IS NOT NULL AND {value} IS NULL", _TS_EXPECTED
    value = f"TRY_CAST({s} AS {target})"
    return value, f"{s} IS NOT NULL AND {value} IS NULL", f"is not a {target} value"


def _row_json(types: dict[str, str], alias: str) -> str:
    """SQL turning one staged row into a JSON object with the source column names."""
    parts = ", ".join(f"{_lit(c)}, {alias}.{_ident(c)}" for c in types)
    return f"CAST(json_object({parts}) AS VARCHAR)"


def _reader_error(path: Path, fmt: str, exc: Exception) -> str:
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    if "unicode" in text.lower() or "utf-8" in text.lower() or "encod" in text.lower():
        return (f"file {path} is not UTF-8 text ({first}); re-save it as UTF-8 "
                "(e.g. iconv -f latin1 -t utf-8) and ingest again")
    kind = {"csv": "CSV", "parquet": "Parquet", "jsonl": "JSON Lines"}[fmt]
    return (f"file {path} cannot be read as {kind}: {first}. Check that the file is complete "
            "and that its extension matches its content")
