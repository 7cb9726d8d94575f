"""Which input column feeds which canonical column: default spellings, --map, custom names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from cdp_lib import schema
from cdp_lib.errors import InputError

TABLES = ("profiles", "events", "catalog")
IDENTIFIERS = schema.IDENTIFIER_KINDS

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


@dataclass
class ColumnPlan:
    """Which source column feeds which canonical column; the rest become custom columns."""

    canonical: dict[str, str]  # canonical name -> source column
    custom: dict[str, str]  # custom column name -> source column



def check_table(table: str) -> str:
    if table not in TABLES:
        raise InputError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
    return table



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


def _compact(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _snake(name: str) -> str:
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    s = re.sub(r"[^0-9a-z]+", "_", s.lower()).strip("_")
    return f"c_{s}" if s[:1].isdigit() else s
