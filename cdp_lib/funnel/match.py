"""Greedy funnel matching as window functions, equality joins and aggregations.

Every step looks up "the earliest event of step k at or after time t" for many (person, t) pairs
at once. That lookup is `with_next`: the query times and the step's event times are stacked in
one table and a running minimum over each person's rows in descending time order gives, on each
query row, the earliest step time not before it. No as-of join (Spark has none, and DuckDB's
matched a missing previous step to an unrelated event), no DuckDB-only function, no per-entry
range join: a sort per step, and hash joins on (person, time) equality.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import ibis
import ibis.expr.types as ir

KEYS = ("profile_id", "entry_id")


def step_times(sel: ir.Table) -> ir.Table:
    """Distinct (`_p` person, `_t` time) of a step's events."""
    return sel.select(_p=sel.profile_id, _t=sel.timestamp).distinct()


def with_next(table: ir.Table, person: str, at: str, targets: ir.Table, name: str, strict: bool = False) -> ir.Table:
    """`table` plus column `name`: the earliest `_t` of `targets` with `_p` = table[person] at or
    after table[at] (strictly after when `strict`); null when there is none or table[at] is null.

    The table's rows and the targets are stacked and ordered per person by time descending; at
    equal times the target rows come first (at or after) or last (strictly after), so a running
    minimum of the target times up to each row of the table sees exactly the targets it may take.
    The table's own columns ride along (null on target rows), so no join back is needed.
    """
    kind_q, kind_t = (1, 0) if strict else (0, 1)
    cols = table.columns
    rows = table.select(*cols, _wp=table[person], _wk=table[at], _wf=ibis.literal(kind_q, "int8"),
                        _wv=ibis.null(targets._t.type()))
    marks = targets.select(**{c: ibis.null(table[c].type()) for c in cols}, _wp=targets._p, _wk=targets._t,
                           _wf=ibis.literal(kind_t, "int8"), _wv=targets._t)
    stacked = rows.union(marks)
    w = ibis.window(group_by=stacked._wp, order_by=[ibis.desc(stacked._wk), ibis.desc(stacked._wf)], rows=(None, 0))
    stacked = stacked.mutate(_wn=stacked._wv.min().over(w))
    out = stacked.filter(stacked._wf == kind_q)
    found = ibis.ifelse(out._wk.isnull(), ibis.null(out._wn.type()), out._wn)
    return out.select(*cols, **{name: found})


def match_shared_chains(entries: ir.Table, selections: Sequence[ir.Table], span) -> ir.Table:
    """Greedy matching when no two steps can share an event (the common funnel).

    With disjoint steps "one event, one step" never bites, so from an entry at t0 the match for
    step 2 is the earliest step-2 time c_2 at or after t0 and each later match is the earliest
    step-k time at or after the previous one: a chain c_2 <= c_3 <= ... that depends only on
    c_2, not on the entry. Chains are built once per distinct (person, step-2 time); an entry
    reaches step k when steps 2..k are all present on its chain and c_k <= t0 + window, i.e.
    t0 >= c_k - window (the subtraction is done once per chain row, not per entry).

    Returns the entries (profile_id, entry_id, _bd, t0) with `_ts_2 .. _ts_K`; `_ts_k` is null
    once a step is not reached, and never present after a missing one.
    """
    n = len(selections)
    times = {k: step_times(selections[k - 1]) for k in range(2, n + 1)}
    chain = times[2].select(_cp=times[2]._p, _c_2=times[2]._t)
    for k in range(3, n + 1):
        chain = with_next(chain, "_cp", f"_c_{k - 1}", times[k], f"_c_{k}")
    chain = chain.mutate(**{f"_lo_{k}": chain[f"_c_{k}"] - span for k in range(2, n + 1)})

    wide = with_next(entries, "profile_id", "t0", times[2], "_e2")
    wide = wide.left_join(chain, (wide.profile_id == chain._cp) & (wide._e2 == chain._c_2))
    cols, ok = {}, ibis.literal(True)
    for k in range(2, n + 1):
        c = wide[f"_c_{k}"]
        ok = ok & c.notnull() & (wide.t0 >= wide[f"_lo_{k}"])
        cols[f"_ts_{k}"] = ibis.ifelse(ok, c, ibis.null(c.type()))
    return wide.select("profile_id", "entry_id", "_bd", "t0", **cols)


def match_per_entry(entries: ir.Table, selections: Sequence[ir.Table], overlaps: Mapping[int, Sequence[int]]) -> ir.Table:
    """Greedy matching entry by entry, for any steps (also steps sharing event names).

    `entries` has profile_id, entry_id, _bd, t0, deadline; `overlaps[k]` lists the earlier steps
    whose events can also be step-k events. Step k takes the earliest (time, event_id) step-k
    event at or after the previous match, no later than the deadline, and not matched to an
    earlier step of the entry. An event already used has a time <= the previous match, so only
    events at exactly the previous match's time can be taken twice: when step k overlaps an
    earlier step, the unused step-k events at that time (an equality join) come first, then the
    earliest step-k time strictly after it.

    Returns the entries with `_ts_2 .. _ts_K` (null once a step is not reached).
    """
    n = len(selections)
    wide = entries.mutate(_ts_1=entries.t0, _id_1=entries.entry_id)
    for k in range(2, n + 1):
        sel = selections[k - 1]
        first_ids = sel.group_by(_p=sel.profile_id, _t=sel.timestamp).aggregate(_e=sel.event_id.min())
        prev = f"_ts_{k - 1}"
        step = with_next(wide, "profile_id", prev, first_ids.select("_p", "_t"), "_n", strict=bool(overlaps.get(k)))
        ids = step.left_join(first_ids, (step.profile_id == first_ids._p) & (step._n == first_ids._t))
        step = ids.select(*step.columns, _ne=first_ids._e)
        t, e = step._n, step._ne
        if overlaps.get(k):
            ev = sel.select(_sp=sel.profile_id, _st=sel.timestamp, _se=sel.event_id)
            conds = [wide.profile_id == ev._sp, wide[prev] == ev._st]
            conds += [ev._se != wide[f"_id_{j}"] for j in overlaps[k]]
            pairs = wide.join(ev, conds)
            same = pairs.group_by(_mp=pairs.profile_id, _me=pairs.entry_id).aggregate(_same=pairs._se.min())
            joined = step.left_join(same, (step.profile_id == same._mp) & (step.entry_id == same._me))
            step = joined.select(*step.columns, _sm=same._same)
            t = ibis.ifelse(step._sm.notnull(), step[prev], step._n)
            e = ibis.ifelse(step._sm.notnull(), step._sm, step._ne)
        else:
            t, e = step._n, step._ne
        ok = t.notnull() & (t <= step.deadline)
        step = step.mutate(**{f"_ts_{k}": ibis.ifelse(ok, t, ibis.null(t.type())),
                              f"_id_{k}": ibis.ifelse(ok, e, ibis.null(e.type()))})
        wide = step.drop(*[c for c in ("_n", "_ne", "_sm") if c in step.columns])
    return wide.select("profile_id", "entry_id", "_bd", "t0", "deadline", *[f"_ts_{k}" for k in range(2, n + 1)])


def apply_exclusion(wide: ir.Table, x_times: ir.Table, after_step: int, before_step: int) -> ir.Table:
    """Drop the entries with an exclusion time strictly after the `after_step` match and strictly
    before the `before_step` match, or, when `before_step` is not reached, at or before the deadline.

    `wide` has `_ts_1 .. _ts_K` and `deadline`; `x_times` is (`_p`, `_t`) of the exclusion events.
    Only the first exclusion time after the `after_step` match matters, so it is one lookup.
    """
    after, before = f"_ts_{after_step}", f"_ts_{before_step}"
    j = with_next(wide, "profile_id", after, x_times, "_x", strict=True)
    lost = j._x.notnull() & ibis.ifelse(j[before].isnull(), j._x <= j.deadline, j._x < j[before])
    return j.filter(~lost.fill_null(False)).drop("_x")
