"""Customer groups of RFM: which score digits make which group, what each means, and
the names of the tables RFM stores."""

from __future__ import annotations

import pandas as pd



# R-F-M score digits -> group. Plain data: every one of the 27 combinations appears exactly once
# (asserted in tests/test_rfm.py). Order of the groups is the order reports show them in.
GROUPS: dict[str, tuple[str, ...]] = {
    "Champions": ("333", "332", "323"),
    "Loyal": ("321", "322", "331", "232", "233"),
    "Recent": ("312", "313", "311", "222", "223"),
    "Needs Attention": ("213", "221", "123", "132", "133"),
    "At Risk": ("231", "212", "122", "131", "211"),
    "Inactive": ("111", "112", "113", "121"),
}
GROUP_OF: dict[str, str] = {code: group for group, codes in GROUPS.items() for code in codes}
GROUP_ORDER: tuple[str, ...] = tuple(GROUPS)

# What each group means and what a marketer does about it (shown in the RFM report).
GROUP_GUIDE: dict[str, tuple[str, str]] = {
    "Champions": (
        "ordered recently, often and spent the most",
        "reward them: early access, loyalty perks, ask for reviews and referrals; no discounts needed",
    ),
    "Loyal": (
        "order regularly with good spend, or ordered very recently and often",
        "keep them close: loyalty programme, cross-sell and upsell, personalised recommendations",
    ),
    "Recent": (
        "ordered recently but only once or twice, or spend little so far",
        "turn them into repeat buyers: onboarding series, second-order incentive",
    ),
    "Needs Attention": (
        "valuable or frequent once, but their last order is 6-12 months old or older",
        "re-engage before they lapse: reminders, replenishment, time-limited personal offers",
    ),
    "At Risk": (
        "used to order often or recently, now quiet, with lower spend",
        "win them back: win-back flow, survey why they left, targeted incentive",
    ),
    "Inactive": (
        "last ordered more than a year ago, few orders, low spend",
        "low-cost reactivation, then suppress from regular sends to protect deliverability",
    ),
}

NEVER_PURCHASED = "Never purchased"
DEFAULT_CHANGE_DAYS = 90  # rfm_change compares with this many days before the end by default
NOT_SCORED = "No order in lookback"
DEFAULT_RECENCY_DAYS_THRESHOLDS = (180, 365)
THIRDS = (1 / 3, 2 / 3)

SNAPSHOTS_TABLE = "rfm_snapshots"
ATTRIBUTES_TABLE = "rfm_profile_attributes"
RFM_COLUMNS = (
    "profile_id", "external_id", "email", "recency_days", "frequency", "monetary",
    "r_score", "f_score", "m_score", "rfm_group",
)
SNAPSHOT_COLUMNS = (
    "as_of", "profile_id", "recency_days", "frequency", "monetary",
    "r_score", "f_score", "m_score", "rfm_group",
)


def group_guide_frame() -> pd.DataFrame:
    """The six groups with their score codes, what they mean and what to do (for reports)."""
    return pd.DataFrame(
        [(g, " ".join(GROUPS[g]), *GROUP_GUIDE[g]) for g in GROUP_ORDER],
        columns=["rfm_group", "rfm_codes", "meaning", "what_to_do"],
    )
