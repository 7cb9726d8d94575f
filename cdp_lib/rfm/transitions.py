"""RFM group changes as people: who moved from one group to another, revenue share per group.

A transition is a pair (`from_group`, `to_group`) of `rfm_change`: the group at the start date
("Never purchased" for someone with no order yet) and at the end date ("No order in lookback"
when a lookback window leaves them unscored). Saved as a segment
(`cdp_lib.segments.lists.transition_rule` / `transition_list`), a transition is either

* a **rule** on the profile attributes `cdp rfm` maintains (`rfm_profile_attributes`):
  `current_rfm_group` is the to-group and `previous_rfm_group` the from-group. It follows later
  `cdp rfm` runs, and needs two different scored groups. Members are the people whose two
  latest different stored groups are that pair, which matches the listed people when the stored
  snapshots are the explorer's two dates scored with the same cut-offs; or
* a **fixed list** of the listed people.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from cdp_lib.errors import InputError
from cdp_lib.rfm.groups import GROUP_ORDER, NEVER_PURCHASED, NOT_SCORED

PAIR_COLUMNS = ("profile_id", "external_id", "email", "from_group", "to_group", "recency_days", "frequency",
                "monetary")


def rfm_pairs_table(start: ir.Table, end: ir.Table) -> ir.Table:
    """Per customer scored at either date: `PAIR_COLUMNS`; recency, frequency and monetary are the
    end date's (null for someone not scored at the end), contacts from whichever side has them.

    `start` and `end` are `rfm_table`-shaped (e.g. `RfmChange.start` / `.end`); the from/to names
    are those of `rfm_transition_table`, so counts per pair agree with it.
    """
    s = start.select(_sp="profile_id", _sx="external_id", _se="email", _sg="rfm_group")
    e = end.select("profile_id", "external_id", "email", "recency_days", "frequency", "monetary", "rfm_group")
    j = s.outer_join(e, s._sp == e.profile_id)
    return j.select(
        profile_id=j.profile_id.fill_null(j._sp),
        external_id=j.external_id.fill_null(j._sx),
        email=j.email.fill_null(j._se),
        from_group=j._sg.fill_null(NEVER_PURCHASED),
        to_group=j.rfm_group.fill_null(NOT_SCORED),
        recency_days=j.recency_days,
        frequency=j.frequency,
        monetary=j.monetary,
    )


def transition_members_table(pairs: ir.Table, from_group: str, to_group: str) -> ir.Table:
    """The customers of one transition (rows of `rfm_pairs_table`), by profile_id."""
    known_from, known_to = {NEVER_PURCHASED, *GROUP_ORDER}, {*GROUP_ORDER, NOT_SCORED}
    if from_group not in known_from:
        raise InputError(f"from_group: {from_group!r} is not one of {sorted(known_from)}")
    if to_group not in known_to:
        raise InputError(f"to_group: {to_group!r} is not one of {sorted(known_to)}")
    picked = pairs.filter((pairs.from_group == from_group) & (pairs.to_group == to_group))
    return picked.order_by("profile_id")


def rfm_revenue_share_table(rfm: ir.Table) -> ir.Table:
    """Per group (report order, every group): customers, revenue (sum of `monetary`), and each as a
    % of all scored customers (`customer_share`, `revenue_share`; 0 when there is no revenue)."""
    per = rfm.group_by("rfm_group").agg(customers=rfm.count(), revenue=rfm.monetary.sum().cast("float64"))
    order = ibis.memtable({"rfm_group": list(GROUP_ORDER), "_pos": list(range(len(GROUP_ORDER)))})
    j = order.left_join(per, order.rfm_group == per.rfm_group)
    out = j.select(order.rfm_group, order._pos, customers=j.customers.fill_null(0).cast("int64"),
                   revenue=j.revenue.fill_null(0.0))
    total_c, total_r = out.customers.sum().as_scalar(), out.revenue.sum().as_scalar()
    out = out.mutate(
        customer_share=ibis.ifelse(total_c > 0, 100.0 * out.customers / total_c, 0.0),
        revenue_share=ibis.ifelse(total_r > 0, 100.0 * out.revenue / total_r, 0.0),
    )
    return out.order_by("_pos").drop("_pos")


def transition_label(from_group: str, to_group: str) -> str:
    return f"{from_group} → {to_group}"
