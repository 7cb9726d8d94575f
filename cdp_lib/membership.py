"""Segment membership point lookups at the storage edge: who is in which segment now.

Kept apart from `cdp_lib.segments` (which compiles definitions with Ibis) so that a lookup from
the command line or a web request loads DuckDB only. Reads `segment_current` and
`segment_current_emails`, which `cdp segment refresh` writes sorted by their key.
"""

from __future__ import annotations

import datetime as dt

from cdp_lib.errors import InputError

_BY_ID = "SELECT segment, joined_at FROM segment_current WHERE profile_id = {key} ORDER BY segment"
_BY_EMAIL = (
    "SELECT c.segment, c.joined_at FROM segment_current c WHERE c.profile_id IN "
    "(SELECT profile_id FROM segment_current_emails WHERE email_key = {key}) ORDER BY c.segment"
)


def segment_rows(con, profile_id_or_email: str) -> list[tuple[str, dt.datetime]]:
    """`(segment, joined_at UTC)` of a person now, by profile id or (case-insensitive) email.

    `con` is a DuckDB connection. Raises the engine's catalog error when no refresh has run.
    """
    key = str(profile_id_or_email).strip()
    query, key = (_BY_EMAIL, key.lower()) if "@" in key else (_BY_ID, key)
    # A quoted literal, not a bound parameter: DuckDB's Python binding imports pandas to inspect
    # bound parameters, which would triple the start-up time of a lookup.
    rows = con.execute(query.format(key=_literal(key))).fetchall()
    return [(segment, _utc(joined)) for segment, joined in rows]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is None:
        return value if value is None else value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _literal(text: str) -> str:
    """A SQL string literal: quotes doubled, NUL refused (a key never holds one)."""
    if "\x00" in text:
        raise InputError(f"lookup key {text!r} contains a NUL character; give a profile id or an email")
    return "'" + text.replace("'", "''") + "'"
