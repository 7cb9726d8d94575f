"""The validate step: parsed values, normalised identifiers and a reason per bad row."""

from __future__ import annotations

from cdp_lib import identity, schema
from cdp_lib.errors import InputError
from cdp_lib.ingest.columns import IDENTIFIERS, ColumnPlan
from cdp_lib.ingest.values import (
    _ident, _number_as_text, _parse, _q, _raw_value, _row_json, _storable_type, _unparsed,
    _value_msg, text_number, text_timestamp,
)


class Validation:
    """Column checks and the typed staging table `_typed` (mixed into `_Run`)."""

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

    def ref(self, src: str) -> str:
        """SQL naming source column `src` as staged in `_raw` (`_s1`, `_s2`, ...)."""
        return _ident(self.names[src])

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
        if fmt == "jsonl":
            reasons.append("WHEN _clash IS NOT NULL THEN _clash")
        person = self.table in ("events", "profiles")
        if person:
            present = []
            for kind, alias in zip(IDENTIFIERS, ("_pid", "_ext", "_email", "_phone")):
                src = plan.canonical.get(kind)
                if src is None:
                    select.append(f"NULL::VARCHAR AS {alias}")
                    continue
                raw = self.ref(src)
                src_type = source_types[src].upper()
                if src_type != "VARCHAR":  # 123.0 from a float column is the person 123
                    raw = _number_as_text(raw, src_type)
                norm = {"email": identity.email_sql(raw), "phone": identity.phone_sql(raw)}.get(
                    kind, f"nullif(trim(CAST({raw} AS VARCHAR)), '')"
                )
                select.append(f"{norm} AS {alias}")
                present.append(alias)
                text = f"CAST({_raw_value(self.names[src])} AS VARCHAR)"
                reasons.append(
                    f"WHEN {alias} IS NOT NULL AND contains({text}, chr(0)) THEN "
                    f"{_value_msg(src, self.names[src])} || ' holds a NUL character (byte 0); remove it'"
                )
            reasons.append(
                f"WHEN {' AND '.join(f'{a} IS NULL' for a in present)} THEN 'no identifier: set "
                f"at least one of profile_id, external_id, email, phone'"
            )
            if "profile_id" in plan.canonical:
                # A supplied id shaped like a generated one (p- + 16 hex digits) must name a
                # profile that exists, or be the id generated from the row's own identifiers;
                # otherwise it could take the id a later person's identifier generates.
                own = ", ".join(
                    f"coalesce({identity.generated_id_sql(f'{kind!r}' + ' || ' + alias)}, '')"
                    for kind, alias in (("external_id:", "_ext"), ("email:", "_email"), ("phone:", "_phone"))
                )
                reasons.append(
                    f"WHEN regexp_full_match(_pid, '{identity.GENERATED_ID_RE}') "
                    f"AND _pid NOT IN (SELECT value FROM identities WHERE kind = 'profile_id') "
                    f"AND _pid NOT IN ({own}) "
                    f"THEN 'profile_id ''' || _pid || ''' has the form of a generated id but no "
                    f"profile has it and none of the row''s identifiers generates it; leave "
                    f"profile_id empty for new people or use ids of your own (not p- + 16 hex digits)'"
                )
            if "email" in plan.canonical:
                src = plan.canonical["email"]
                reasons.append(
                    f"WHEN _email IS NOT NULL AND NOT regexp_full_match(_email, '[^@\\s]+@[^@\\s]+') "
                    f"THEN {_value_msg(src, self.names[src])} || ' is not an email address (expected name@domain)'"
                )
            if "phone" in plan.canonical:
                src = plan.canonical["phone"]
                text = f"CAST({_raw_value(self.names[src])} AS VARCHAR)"
                reasons.append(
                    f"WHEN _phone IS NOT NULL AND (NOT regexp_full_match(_phone, '\\+?[0-9]{{5,15}}') "
                    f"OR regexp_matches({text}, '[^0-9+().\\s/-]')) "
                    f"THEN {_value_msg(src, self.names[src])} || ' is not a phone number (expected 5 to 15 digits, "
                    f"optionally a leading +, with only spaces and + - . ( ) / between them; "
                    f"put an extension such as ext 12 in a column of its own)'"
                )
        if self.table == "events":
            for col in ("metric", "timestamp"):
                src = plan.canonical[col]
                reasons.append(
                    f"WHEN {_ident(col)} IS NULL AND nullif(trim(CAST({_raw_value(self.names[src])} AS VARCHAR)), '') IS NULL "
                    f"THEN 'missing {col}: column \"{_q(src)}\" is empty'"
                )
        if self.table == "catalog":
            src = plan.canonical["product_id"]
            reasons.append(
                f"WHEN product_id IS NULL AND nullif(trim(CAST({_raw_value(self.names[src])} AS VARCHAR)), '') IS NULL "
                f"THEN 'missing product_id: column \"{_q(src)}\" is empty'"
            )
        for col, sqltype in target.items():
            if col in IDENTIFIERS and person or col == "updated_at":
                continue
            src = plan.canonical.get(col)
            if src is None:
                select.append(f"NULL::{sqltype} AS {_ident(col)}")
                continue
            self.column_rule(select, reasons, col, src, source_types[src], sqltype, "")
        for col, src in plan.custom.items():
            sqltype = custom_types[col]
            note = f" (column {col} holds {sqltype} values from earlier ingests)" if col in existing else ""
            self.column_rule(select, reasons, col, src, source_types[src], sqltype, note)
        reason = f"CASE {' '.join(reasons)} END" if reasons else "NULL::VARCHAR"
        # Three layers, each value computed once: parse (the source row travels along as a
        # struct, no copy), then the reason from the parsed values, then the row as JSON for
        # rows with a reason only, and the derived columns.
        row = ", ".join(f"{ref} := {ref}" for ref in map(_ident, self.names.values()))
        extra = ", _clash" if fmt == "jsonl" else ""
        drop = "_row, event_id" if self.table == "events" else "_row"
        drop += extra

        def typed_from(relation: str) -> str:
            parsed = f"SELECT _line{extra}, {', '.join(select)}, struct_pack({row}) AS _row FROM {relation}"
            return (f"SELECT * EXCLUDE ({drop}), CASE WHEN _reason IS NOT NULL THEN "
                    f"{_row_json(self.names, '_row')} END AS _src{derived} "
                    f"FROM (SELECT *, {reason} AS _reason FROM ({parsed}))")

        try:
            self.temp_table("_typed", typed_from("_raw"))
            if fmt == "csv":  # the scan above filled DuckDB's rejects table
                self.csv_bad = self.csv_rejects(
                    lambda relation: self.sql(f"INSERT INTO _typed BY NAME {typed_from(relation)}")
                )
        except Exception as exc:  # a CSV is only read here; its reader errors are the user's
            if fmt != "csv" or isinstance(exc, InputError) or _is_io_error(exc):
                raise
            raise InputError(self.reader_error(fmt, exc)) from None
        self.sql("DROP TABLE temp._raw" if fmt == "jsonl" else "DROP VIEW IF EXISTS temp._raw")
        if to_infer:
            custom_types.update(self.infer_custom_types(plan, to_infer))
        self.plan_types = {**{c: t for c, t in target.items()}, **custom_types}
        for col in plan.custom:
            if col not in existing:
                self.sql(
                    f'ALTER TABLE "{self.table}" ADD COLUMN {_ident(col)} {custom_types[col]}'
                )

    def column_rule(self, select, reasons, col, src, src_type, sqltype, note) -> None:
        """Add the parsed value of canonical or custom column `col` and its reason, if any."""
        value, bad, expected = _parse(self.ref(src), src_type, sqltype, col)
        select.append(f"{value} AS {_ident(col)}")
        if bad:
            bad = _unparsed(_ident(col), self.names[src], src_type, col)
            reasons.append(f"WHEN {bad} THEN {_value_msg(src, self.names[src])} || ' {_q(expected + note)}'")

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
                f"count_if({text_number(s, 'DOUBLE')} IS NOT NULL AND {numeric_ok})",
                f"count_if(lower({s}) IN ('true', 'false'))",
                f"count_if(regexp_matches({s}, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') AND {text_timestamp(s)} IS NOT NULL)",
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


def _is_io_error(exc: Exception) -> bool:
    """The engine could not read or write a file (disk full, file gone, temp space exhausted,
    a COMMIT that could not write the WAL): not the input's fault."""
    if isinstance(exc, OSError):
        return True
    text = str(exc).lower()
    return type(exc).__name__ in ("IOException", "OutOfMemoryException", "FatalException") or any(
        phrase in text for phrase in ("no space left", "could not write file", "could not read file",
                                      "failed to offload", "disk is full", "failed to commit")
    )
