"""The canonical customer data model: column names and types of every workspace table.

This is the one place where table layouts are declared. Ingest creates the tables from these
declarations; analyses refer to the column names. Extra input columns are added to `profiles`,
`events` and `catalog` as typed columns of their own (custom properties), so any SQL client,
Ibis backend or segment condition can use them directly.
"""

# Column name -> DuckDB type. Order is the order of columns in the table.
PROFILES = {
    "profile_id": "VARCHAR",
    "external_id": "VARCHAR",
    "email": "VARCHAR",
    "phone": "VARCHAR",
    "first_name": "VARCHAR",
    "last_name": "VARCHAR",
    "city": "VARCHAR",
    "region": "VARCHAR",
    "country": "VARCHAR",
    "zip": "VARCHAR",
    "latitude": "DOUBLE",
    "longitude": "DOUBLE",
    "timezone": "VARCHAR",
    "created_at": "TIMESTAMPTZ",
    "email_consent": "BOOLEAN",
    "sms_consent": "BOOLEAN",
    "updated_at": "TIMESTAMPTZ",
}

EVENTS = {
    "event_id": "VARCHAR",
    "profile_id": "VARCHAR",
    "metric": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",
    "value": "DOUBLE",
    "order_id": "VARCHAR",
    "product_id": "VARCHAR",
    "quantity": "DOUBLE",
    "price": "DOUBLE",
    "source": "VARCHAR",
    "source_name": "VARCHAR",
    "channel": "VARCHAR",
    "campaign_id": "VARCHAR",
    "flow_id": "VARCHAR",
    "message_id": "VARCHAR",
    "bounce_type": "VARCHAR",
}

CATALOG = {
    "product_id": "VARCHAR",
    "name": "VARCHAR",
    "category": "VARCHAR",
    "brand": "VARCHAR",
    "price": "DOUBLE",
}

# Bookkeeping written by ingest.
IDENTITIES = {  # every identifier ever seen for a profile (never lossy)
    "kind": "VARCHAR",  # profile_id | external_id | email | phone
    "value": "VARCHAR",  # normalised (email trimmed + lower-cased, phone E.164-like digits)
    "profile_id": "VARCHAR",
    "first_seen_at": "TIMESTAMPTZ",
    "ingest_id": "VARCHAR",
}

MERGES = {  # one row per profile folded into another
    "merged_profile_id": "VARCHAR",
    "into_profile_id": "VARCHAR",
    "via_kind": "VARCHAR",
    "via_value": "VARCHAR",
    "merged_at": "TIMESTAMPTZ",
    "ingest_id": "VARCHAR",
}

QUARANTINE = {
    "ingest_id": "VARCHAR",
    "file": "VARCHAR",
    "table_name": "VARCHAR",
    "line": "BIGINT",  # 1-based data row number in the input file (header excluded)
    "reason": "VARCHAR",
    "raw": "VARCHAR",  # the input row as JSON, so nothing is lost
    "quarantined_at": "TIMESTAMPTZ",
}

INGESTS = {
    "ingest_id": "VARCHAR",
    "table_name": "VARCHAR",
    "file": "VARCHAR",
    "file_sha256": "VARCHAR",
    "rows": "BIGINT",
    "loaded": "BIGINT",
    "duplicates": "BIGINT",
    "quarantined": "BIGINT",
    "started_at": "TIMESTAMPTZ",
    "finished_at": "TIMESTAMPTZ",
}

CANONICAL = {"profiles": PROFILES, "events": EVENTS, "catalog": CATALOG}
BOOKKEEPING = {
    "identities": IDENTITIES,
    "merges": MERGES,
    "quarantine": QUARANTINE,
    "ingests": INGESTS,
}
ALL_TABLES = {**CANONICAL, **BOOKKEEPING}
# Tables that `cdp ingest` loads files into.
INPUT_TABLES = ("profiles", "events", "catalog")

# Well-known event names (metrics) used by the demo store and the analyses' defaults.
PLACED_ORDER = "Placed Order"
ORDERED_PRODUCT = "Ordered Product"
REFUNDED_ORDER = "Refunded Order"
CANCELLED_ORDER = "Cancelled Order"
IDENTIFIER_KINDS = ("profile_id", "external_id", "email", "phone")


def create_table_sql(name: str, columns: dict[str, str]) -> str:
    """DDL for one table; used only at the storage edge."""
    cols = ", ".join(f'"{c}" {t}' for c, t in columns.items())
    return f'CREATE TABLE IF NOT EXISTS "{name}" ({cols})'

# Timestamps a workspace accepts: ingest quarantines values outside [EARLIEST, LATEST) and
# `Workspace.table` hides any that an earlier version or another tool stored (docs/data-model.md).
EARLIEST_TIME = "1900-01-01"
LATEST_TIME = "2200-01-01"

# One row per person, enforced by the store (created by `Workspace.init`).
PROFILE_ID_INDEX_SQL = 'CREATE UNIQUE INDEX IF NOT EXISTS profiles_profile_id ON "profiles" ("profile_id")'
