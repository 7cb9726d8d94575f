"""Segment exports: a CSV of chosen profile fields, and a hashed customer list for ad platforms.

The ad-audience file follows the customer-list matching rules of Google Customer Match and Meta
Custom Audiences: email trimmed and lower-cased, phone in E.164 (`+` country code and number),
each SHA-256 hashed as lower-case hex; no raw identifier is written.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import ibis.expr.types as ir
import pandas as pd

from cdp_lib.errors import InputError
from cdp_lib.segments.compile import COMPUTED
from cdp_lib.segments.definition import suggest
from cdp_lib.segments.history import members_of
from cdp_lib.workspace import Workspace

DEFAULT_FIELDS = ("profile_id", "external_id", "email")


def members_with_fields(ws: Workspace, members: ir.Table, fields: Iterable[str] = DEFAULT_FIELDS) -> ir.Table:
    """Members joined to the requested profile columns and computed attributes (RFM, CLV)."""
    fields = list(dict.fromkeys(fields))
    if not fields:
        raise InputError("choose at least one field to export, e.g. --fields email,first_name,predicted_clv")
    p = ws.profiles
    known = set(p.columns) | set(COMPUTED)
    for f in fields:
        if f not in known:
            raise InputError(f"unknown field {f!r}{suggest(f, known)}; profile columns and computed attributes are allowed")
    out = members.select("profile_id").distinct()
    out = out.inner_join(p.select("profile_id", *[f for f in fields if f in p.columns and f != "profile_id"]), "profile_id")
    by_table: dict[str, list[str]] = {}
    for f in fields:
        if f not in p.columns:
            by_table.setdefault(COMPUTED[f][0], []).append(f)
    for table, cols in by_table.items():
        if not ws.has_table(table):
            raise InputError(f"fields {cols} are computed by '{COMPUTED[cols[0]][1]}', which has not run yet; run it first")
        t = ws.table(table)
        attrs = t.select(_key=t.profile_id, **{c: t[c] for c in cols})
        out = out.left_join(attrs, out.profile_id == attrs._key).drop("_key")
    return out.order_by("profile_id").select(*fields)


def export_csv(ws: Workspace, segment: str, out: str | os.PathLike, fields: Iterable[str] = DEFAULT_FIELDS,
               library: Mapping | None = None, as_of: Any = None) -> int:
    """Write the segment's members with `fields` to a CSV file; return the number of rows."""
    df = members_with_fields(ws, members_of(ws, segment, library, as_of), fields).execute()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    return len(df)


def normalise_email(email: Any) -> str | None:
    if email is None or (isinstance(email, float) and pd.isna(email)) or email is pd.NA:
        return None
    text = str(email).strip().lower()
    return text if "@" in text else None


def normalise_phone(phone: Any, default_country_code: str = "1") -> str | None:
    """E.164: '+' then 8-15 digits. Numbers without a country code get `default_country_code`;
    a leading '00' is the international prefix; a national trunk '0' is dropped."""
    if phone is None or (isinstance(phone, float) and pd.isna(phone)) or phone is pd.NA:
        return None
    text = str(phone).strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    if text.startswith("+"):
        pass
    elif digits.startswith("00"):
        digits = digits[2:]
    elif default_country_code == "1" and len(digits) == 11 and digits.startswith("1"):
        pass
    else:
        digits = default_country_code + digits.lstrip("0")
    return f"+{digits}" if 8 <= len(digits) <= 15 else None


def sha256(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def ad_audience_frame(ws: Workspace, members: ir.Table, default_country_code: str = "1") -> pd.DataFrame:
    """`email_sha256, phone_sha256` per member with at least one usable identifier."""
    df = members_with_fields(ws, members, ["profile_id", "email", "phone"]).execute()
    out = pd.DataFrame({
        "email_sha256": [sha256(normalise_email(e)) for e in df["email"]],
        "phone_sha256": [sha256(normalise_phone(p, default_country_code)) for p in df["phone"]],
    })
    return out.dropna(how="all").drop_duplicates().reset_index(drop=True)


def export_ad_audience(ws: Workspace, segment: str, out: str | os.PathLike, default_country_code: str = "1",
                       library: Mapping | None = None, as_of: Any = None) -> int:
    """Write the hashed customer list of a segment to CSV; return the number of rows."""
    df = ad_audience_frame(ws, members_of(ws, segment, library, as_of), default_country_code)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    return len(df)
