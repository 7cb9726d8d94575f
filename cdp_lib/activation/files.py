"""File destinations: one CSV or JSON Lines file per run, optionally with hashed identifiers only.

With ``hash_identifiers: true`` a row holds ``email_sha256`` and ``phone_sha256`` and nothing
else, the customer-list convention of Google Customer Match and Meta Custom Audiences:

- email: surrounding spaces removed, lower-cased; a value without ``@`` counts as missing;
- phone: E.164, ``+`` then 8-15 digits; punctuation and spaces dropped, a leading ``00`` read
  as the international prefix, a number without a country code given ``default_country_code``
  (default 1) after dropping a national trunk ``0``;
- each normalised value hashed with SHA-256 and written as 64 lower-case hex digits.

Rows with neither identifier are left out and repeated rows written once. These are the rules
of `cdp segment export --hashed` (`cdp_lib.segments.export`), reused here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from cdp_lib.segments.export import normalise_email, normalise_phone, sha256

HASHED_COLUMNS = ["email_sha256", "phone_sha256"]


def run_path(path: str, run_id: str) -> str:
    """The file of one run: `{run_id}` in the path is replaced, else the id goes before the suffix."""
    if "{run_id}" in path:
        return path.replace("{run_id}", run_id)
    p = Path(path)
    suffix = "".join(p.suffixes[-1:])
    return str(p.with_name(f"{p.name[: len(p.name) - len(suffix)] if suffix else p.name}-{run_id}{suffix}"))


def _flat(item: dict) -> dict:
    row = {k: v for k, v in item.items() if k != "event"}
    for k, v in (item.get("event") or {}).items():
        row[f"event_{k}"] = v
    return row


def file_rows(items: Iterable[dict], hash_identifiers: bool, default_country_code: str = "1") -> tuple[list[dict], list[str]]:
    """Rows and columns of a file destination from trigger items."""
    if hash_identifiers:
        seen, rows = set(), []
        for it in items:
            row = (sha256(normalise_email(it.get("email"))), sha256(normalise_phone(it.get("phone"), default_country_code)))
            if row == (None, None) or row in seen:
                continue
            seen.add(row)
            rows.append(dict(zip(HASHED_COLUMNS, row)))
        return rows, list(HASHED_COLUMNS)
    rows = [_flat(it) for it in items]
    columns: list[str] = []
    for r in rows:
        columns.extend(k for k in r if k not in columns)
    return rows, columns


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    return _SAFE.sub("_", text).strip("_") or "trigger"
