"""RFM: recency, frequency and monetary scores 1-3, six customer groups, change over time.

Orders are the events of a conversion metric (default ``Placed Order``) with a positive value,
up to the end of the as-of date (UTC). Per customer who ordered: ``recency_days`` = whole days
from the date of the last order to the as-of date, ``frequency`` = number of orders,
``monetary`` = sum of order values. Scores follow `RfmParams`; groups follow `GROUPS`.

Every ``*_table`` function builds an Ibis expression (it runs on DuckDB, Spark, ...); only the
frequency/monetary cut-offs are computed eagerly (`rfm_thresholds`), so that the same numbers
can be shown, stored and reused at another date (`rfm_change`).

The package by job: `groups` (score digits -> groups, the guide), `params` (`RfmParams`,
`RfmThresholds`), `engine` (values, scores, groups), `report` (counts, revenue share, change),
`store` (snapshots and profile attributes), `transitions` (who moved between two groups).
"""

from __future__ import annotations

from cdp_lib.rfm.groups import (  # noqa: F401
    ATTRIBUTES_TABLE, DEFAULT_CHANGE_DAYS, DEFAULT_RECENCY_DAYS_THRESHOLDS, GROUPS, GROUP_GUIDE,
    GROUP_OF, GROUP_ORDER, NEVER_PURCHASED, NOT_SCORED, RFM_COLUMNS, SNAPSHOTS_TABLE,
    SNAPSHOT_COLUMNS, THIRDS, group_guide_frame,
)
from cdp_lib.rfm.params import (  # noqa: F401
    RfmParams, RfmThresholds,
)
from cdp_lib.rfm.engine import (  # noqa: F401
    customer_orders_table, orders_table, rfm_scores_table, rfm_table,
    rfm_thresholds, rfm_values_table, scored_rfm,
)
from cdp_lib.rfm.report import (  # noqa: F401
    RfmChange, rfm_change, rfm_change_medians_table, rfm_distribution_table,
    rfm_group_counts_table, rfm_medians_table, rfm_revenue_table, rfm_transition_table,
)
from cdp_lib.rfm.store import (  # noqa: F401
    refresh_rfm_profile_attributes, rfm_profile_attributes_table, save_rfm_snapshot,
)

__all__ = [
    "ATTRIBUTES_TABLE", "DEFAULT_CHANGE_DAYS", "DEFAULT_RECENCY_DAYS_THRESHOLDS", "GROUPS",
    "GROUP_GUIDE", "GROUP_OF", "GROUP_ORDER", "NEVER_PURCHASED", "NOT_SCORED", "RFM_COLUMNS",
    "RfmChange", "RfmParams", "RfmThresholds", "SNAPSHOTS_TABLE", "SNAPSHOT_COLUMNS", "THIRDS",
    "customer_orders_table", "group_guide_frame", "orders_table",
    "refresh_rfm_profile_attributes", "rfm_change", "rfm_change_medians_table",
    "rfm_distribution_table", "rfm_group_counts_table", "rfm_medians_table",
    "rfm_profile_attributes_table", "rfm_revenue_table", "rfm_scores_table", "rfm_table",
    "rfm_thresholds", "rfm_transition_table", "rfm_values_table", "save_rfm_snapshot",
    "scored_rfm",
]
