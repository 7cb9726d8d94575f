"""Per person: the furthest funnel step reached over all entries, and the time to each step."""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping, Sequence

import ibis
import ibis.expr.types as ir

from cdp_lib.dates import today
from cdp_lib.errors import InputError
from cdp_lib.filters import where_expr
from cdp_lib.funnel.match import apply_exclusion, match_per_entry, match_shared_chains, step_times
from cdp_lib.funnel.params import DEFAULT_RANGE_DAYS, NOT_SET, OTHER, FunnelParams, FunnelStep, breakdown_column
from cdp_lib.metrics import events_for, load_metrics
from cdp_lib.workspace import Workspace


def _selection(ws: Workspace, metric: str, where: Sequence[Mapping], metrics) -> ir.Table:
    ev = events_for(ws, metric, metrics)
    if where:
        ev = ev.filter(where_expr(ev, list(where), f"metric {metric!r} where"))
    return ev


def _segment_members(ws: Workspace, segment: str) -> ir.Table:
    if not ws.has_table("segment_membership"):
        raise InputError(
            f"segment {segment!r}: the workspace has no segment memberships yet; "
            "run 'cdp segment refresh' first or leave the segment out"
        )
    sm = ws.table("segment_membership")
    names = sorted(sm.select("segment").distinct().segment.execute())
    if segment not in names:
        import difflib

        hint = difflib.get_close_matches(segment, names, n=3)
        raise InputError(
            f"segment {segment!r} is not in segment_membership"
            + (f"; did you mean {', '.join(hint)}?" if hint else f"; known: {', '.join(names[:20])}")
        )
    current = sm.filter((sm.segment == segment) & sm.left_at.isnull())
    return current.select("profile_id").distinct()


def _resolve_dates(params: FunnelParams, first: ir.Table) -> tuple[dt.date, dt.date]:
    start, end = params.from_date, params.to_date
    if start is None or end is None:
        last = first.timestamp.max().execute()
        if last is None or last != last:  # no event, or NaT
            anchor = today()
        else:
            anchor = last.date()
        end = end or anchor
        start = start or (end - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1))
    return start, end


def entry_dates(ws: Workspace, params: FunnelParams, metrics=None) -> tuple[dt.date, dt.date]:
    """The entry range a funnel run uses: `from_date`/`to_date` when given, else `to_date` = the day
    of the newest step-1 event and `from_date` = DEFAULT_RANGE_DAYS days ending on it."""
    metrics = load_metrics() if metrics is None else metrics
    step = params.steps[0]
    return _resolve_dates(params, _selection(ws, step.metric, step.where, metrics))


def _day_start(day: dt.date) -> ibis.Scalar:
    return ibis.timestamp(dt.datetime(day.year, day.month, day.day), timezone="UTC")


def _breakdown_column(ws: Workspace, first: ir.Table, prop: str) -> ir.Table:
    """Attach `_bd` (text) to step-1 events: an event column, else a profile property."""
    if prop in first.columns:
        return first.mutate(_bd=first[prop].cast("string"))
    prof = ws.profiles
    if prop not in prof.columns:
        import difflib

        known = sorted(set(first.columns) | set(prof.columns))
        hint = difflib.get_close_matches(prop, known, n=3)
        raise InputError(
            f"breakdown: {prop!r} is neither an event column nor a profile property"
            + (f"; did you mean {', '.join(hint)}?" if hint else "")
        )
    p = prof.select(_pid=prof.profile_id, _bd=prof[prop].cast("string"))
    joined = first.left_join(p, first.profile_id == p._pid)
    return joined.drop("_pid")


def _fold_top_n(entries: ir.Table, top_n: int) -> ir.Table:
    """Replace breakdown values outside the top N (by people entering) with 'Other'."""
    entries = entries.mutate(_bd=entries._bd.fill_null(NOT_SET))
    sizes = entries.group_by("_bd").agg(_people=entries.profile_id.nunique())
    ranked = sizes.mutate(_rank=ibis.row_number().over(order_by=[ibis.desc("_people"), "_bd"]))
    top = ranked.filter(ranked._rank < top_n).select(_top=ranked._bd)
    joined = entries.left_join(top, entries._bd == top._top)
    folded = joined.mutate(_bd=ibis.ifelse(joined._top.isnull(), ibis.literal(OTHER), joined._bd))
    return folded.drop("_top")


def _raw_names(metric: str, metrics) -> set[str]:
    if metric in metrics:
        return {g.metric for g in metrics[metric].groups}
    return {metric}


def _may_overlap(a: FunnelStep, b: FunnelStep, metrics) -> bool:
    """Whether two steps can match the same event (they share a raw event name)."""
    return bool(_raw_names(a.metric, metrics) & _raw_names(b.metric, metrics))


def _entries(ws: Workspace, params: FunnelParams, first: ir.Table, start: dt.date, end: dt.date) -> ir.Table:
    """Step-1 events inside [from, to] (whole UTC days), with the breakdown value `_bd`."""
    in_range = (first.timestamp >= _day_start(start)) & (first.timestamp < _day_start(end + dt.timedelta(days=1)))
    first = first.filter(in_range)
    if params.breakdown:
        first = _breakdown_column(ws, first, params.breakdown)
    else:
        first = first.mutate(_bd=ibis.literal(None, type="string"))
    entries = first.select("profile_id", "_bd", entry_id=first.event_id, t0=first.timestamp)
    if params.segment:
        members = _segment_members(ws, params.segment)
        entries = entries.semi_join(members, entries.profile_id == members.profile_id)
    if params.breakdown:
        entries = _fold_top_n(entries, params.top_n)
    return entries


def funnel_people_table(ws: Workspace, params: FunnelParams, metrics=None, shared_chains: bool = True) -> ir.Table:
    """One row per person (and breakdown value): furthest step reached and seconds to each step.

    Columns: profile_id, [breakdown], furthest_step (1..K), seconds_to_step_2 ... _K. A person
    with furthest_step k has seconds for steps 2..k and nulls after. Seconds to step k are
    measured in the person's earliest entry reaching step k (entries at the same moment ordered
    by their event_id). `shared_chains=False` forces the entry-by-entry matching also when no
    two steps can share an event (both are exact; tests compare them).
    """
    metrics = load_metrics() if metrics is None else metrics
    n = len(params.steps)
    selections = [_selection(ws, s.metric, s.where, metrics) for s in params.steps]
    start, end = _resolve_dates(params, selections[0])
    entries = _entries(ws, params, selections[0], start, end)
    span = ibis.interval(seconds=params.window_seconds)
    # Every match and every exclusion event that matters lies in [from, end of `to` + window]:
    # leaving the rest out is exact and keeps the lookups small for short ranges.
    lo, hi = _day_start(start), _day_start(end + dt.timedelta(days=1)) + span

    def reachable(sel: ir.Table) -> ir.Table:
        return sel.filter((sel.timestamp >= lo) & (sel.timestamp <= hi))

    selections = [selections[0], *[reachable(sel) for sel in selections[1:]]]

    overlaps = {
        k: [j for j in range(1, k) if _may_overlap(params.steps[j - 1], params.steps[k - 1], metrics)]
        for k in range(2, n + 1)
    }
    chains = shared_chains and not any(overlaps.values())
    if chains:
        wide = match_shared_chains(entries, selections, span)
        if params.exclusions:
            wide = wide.mutate(deadline=wide.t0 + span)
    else:
        wide = match_per_entry(entries.mutate(deadline=entries.t0 + span), selections, overlaps)
    wide = wide.mutate(_ts_1=wide.t0)
    for ex in params.exclusions:
        x_times = step_times(reachable(_selection(ws, ex.metric, ex.where, metrics)))
        wide = apply_exclusion(wide, x_times, ex.after_step, ex.before_step)

    # furthest step: the length of the run of matched steps (matches are consecutive by
    # construction; counting the run keeps "furthest_step = k comes with a time to step k" local)
    reach, run = ibis.literal(1), ibis.literal(True)
    for k in range(2, n + 1):
        run = run & wide[f"_ts_{k}"].notnull()
        reach = reach + run.cast("int64")
    wide = wide.mutate(_reach=reach)
    if chains:  # entries of one person at the same moment share their chain: t0 orders them enough
        order = wide.t0
    else:
        order = ibis.row_number().over(group_by=["profile_id", "_bd"], order_by=[wide.t0, wide.entry_id])
    wide = wide.mutate(_order=order)
    # The entry reaching step k first: its t0 and step-k time; the difference is taken once per
    # person afterwards (timestamp arithmetic per row is costly on some engines, e.g. DuckDB's ICU).
    aggs: dict[str, Any] = {"furthest_step": wide._reach.max()}
    for k in range(2, n + 1):
        aggs[f"_t0_{k}"] = wide.t0.argmin(wide._order, where=wide._reach >= k)
        aggs[f"_tk_{k}"] = wide[f"_ts_{k}"].argmin(wide._order, where=wide._reach >= k)
    people = wide.group_by("profile_id", "_bd").aggregate(**aggs)
    seconds = {
        f"seconds_to_step_{k}": people[f"_tk_{k}"].delta(people[f"_t0_{k}"], unit="microsecond").cast("float64") / 1e6
        for k in range(2, n + 1)
    }
    people = people.select("profile_id", "_bd", "furthest_step", **seconds)
    if params.breakdown:
        return people.rename({breakdown_column(params): "_bd"})
    return people.drop("_bd")
