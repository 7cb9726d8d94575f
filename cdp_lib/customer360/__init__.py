"""Customer 360: one person's answers to the seed's questions, from events and stored results.

The package: `view` (one person's card, orders and timeline) and `search` (find people by part of
a name or email); the names of `view` are re-exported here.
"""

from __future__ import annotations

from cdp_lib.customer360.view import (  # noqa: F401
    CONSENT_NO, CONSENT_UNKNOWN, CONSENT_YES, EXPECTED, PASSED, PROBABLY_GONE,
    CONSENT_COLUMNS, Customer360, MESSAGE_METRICS, NO_ADDRESS, PASSIVE_METRICS, PROFILE_FIELDS,
    RECENT_DAYS, VIEWED_PRODUCT, activity_timeline, consent_status, customer_360, find_profiles,
    local_times, order_list, prediction_facts_table, profile_timezone,
)

__all__ = [
    "CONSENT_NO", "CONSENT_UNKNOWN", "CONSENT_YES", "EXPECTED", "PASSED", "PROBABLY_GONE",
    "CONSENT_COLUMNS", "Customer360", "MESSAGE_METRICS", "NO_ADDRESS", "PASSIVE_METRICS",
    "PROFILE_FIELDS", "RECENT_DAYS", "VIEWED_PRODUCT", "activity_timeline", "consent_status",
    "customer_360", "find_profiles", "local_times", "order_list", "prediction_facts_table",
    "profile_timezone",
]
