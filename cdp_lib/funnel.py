"""Ordered conversion funnels: who reaches each step within a window of their first step.

Semantics (the default of the main product-analytics tools; docs/funnels.md has examples):

* A person *enters* with any step-1 event inside `[from_date, to_date]` (whole UTC days, both
  included). Only step 1 must be inside the range; later steps may fall after `to_date`.
* From an entry at time t0, step k+1 is matched by the earliest event of that step at or after
  the time of the event matched for step k and at most t0 + window (inclusive). One event
  matches at most one step, so A -> A needs two A events; events sharing a timestamp may complete
  consecutive steps. Among candidates at the same timestamp the smallest `event_id` is taken
  (a deterministic tie-break).
* Each person counts once, at the furthest step reached over all their entries. Times to a
  step are measured in the person's earliest entry reaching it (ties between entries at the same
  moment broken by the entry event's `event_id`).
* An exclusion `{metric, after_step: a, before_step: b}` loses an entry when an exclusion event
  falls strictly after the step-a match and strictly before the step-b match (or, when step b is
  never reached, at or before t0 + window). Other entries of the person still count.
* A breakdown takes its value from the step-1 event (an event column) or else from the profile;
  a person is counted once per value. Values beyond the `top_n` most frequent at step 1 fold
  into "Other"; a missing value is "(not set)".

Everything is an Ibis expression (joins and window functions, greedy earliest matching per
entry), so it runs on any backend the workspace uses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.dates import parse_date
from cdp_lib.errors import InputError
from cdp_lib.filters import parse_duration, validate_filter, where_expr
from cdp_lib.metrics import events_for, load_metrics
from cdp_lib.workspace import Workspace

MIN_STEPS, MAX_STEPS = 2, 10
DEFAULT_WINDOW = "14d"
DEFAULT_TOP_N = 10
DEFAULT_RANGE_DAYS = 30
OTHER, NOT_SET = "Other", "(not set)"
WINDOW_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class FunnelStep:
    """One step: a metric (event name or custom metric) with optional property filters."""

    metric: str
    where: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Exclusion:
    """Events of `metric` between steps `after_step` and `before_step` (1-based) lose the entry."""

    metric: str
    after_step: int
    before_step: int
    where: tuple[dict, ...] = ()


@dataclass(frozen=True)
class FunnelParams:
    """Validated funnel definition; build it with `funnel_params(...)`."""

    steps: tuple[FunnelStep, ...]
    window: dt.timedelta = dt.timedelta(days=14)
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    breakdown: str | None = None
    top_n: int = DEFAULT_TOP_N
    exclusions: tuple[Exclusion, ...] = ()
    segment: str | None = None
    labels: tuple[str, ...] = field(default=())

    @property
    def window_seconds(self) -> int:
        return int(self.window.total_seconds())




def _step(spec: Any, where: str) -> FunnelStep:
    if isinstance(spec, FunnelStep):
        return spec
    if isinstance(spec, str):
        return FunnelStep(spec)
    if not isinstance(spec, Mapping) or not isinstance(spec.get("metric"), str):
        raise InputError(f"{where}: expected an event name or a mapping with 'metric', got {spec!r}")
    bad = set(spec) - {"metric", "where"}
    if bad:
        raise InputError(f"{where}: unknown key(s) {sorted(bad)}; allowed: ['metric', 'where']")
    filters = spec.get("where") or []
    if not isinstance(filters, list):
        raise InputError(f"{where}.where: expected a list of property filters, got {filters!r}")
    return FunnelStep(spec["metric"], tuple(validate_filter(f, f"{where}.where[{i}]") for i, f in enumerate(filters)))


def _exclusion(spec: Any, where: str, n_steps: int) -> Exclusion:
    if isinstance(spec, Exclusion):
        ex = spec
    else:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("metric"), str):
            raise InputError(f"{where}: expected a mapping with 'metric', 'after_step', 'before_step', got {spec!r}")
        bad = set(spec) - {"metric", "where", "after_step", "before_step"}
        if bad:
            raise InputError(f"{where}: unknown key(s) {sorted(bad)}")
        filters = spec.get("where") or []
        ex = Exclusion(
            spec["metric"],
            spec.get("after_step", 1),
            spec.get("before_step", n_steps),
            tuple(validate_filter(f, f"{where}.where[{i}]") for i, f in enumerate(filters)),
        )
    ok = isinstance(ex.after_step, int) and isinstance(ex.before_step, int)
    if not ok or not 1 <= ex.after_step < ex.before_step <= n_steps:
        raise InputError(
            f"{where}: after_step {ex.after_step!r} and before_step {ex.before_step!r} must be step "
            f"numbers with 1 <= after_step < before_step <= {n_steps}"
        )
    return ex


def parse_window(text: Any, where: str = "window") -> dt.timedelta:
    """`'30m'`, `'12h'`, `'7d'`, `'2w'` -> timedelta; must be positive."""
    span = parse_duration(text, where, WINDOW_UNITS)
    if span.total_seconds() <= 0:
        raise InputError(f"{where}: {text!r} must be longer than zero")
    return span


def funnel_params(
    steps: Sequence[Any],
    window: str | dt.timedelta = DEFAULT_WINDOW,
    from_date: Any = None,
    to_date: Any = None,
    breakdown: str | None = None,
    top_n: int = DEFAULT_TOP_N,
    exclusions: Sequence[Any] = (),
    segment: str | None = None,
) -> FunnelParams:
    """Validate a funnel definition (shapes only; metric names are checked against the data)."""
    if isinstance(steps, (str, Mapping)) or not isinstance(steps, Sequence):
        raise InputError(f"steps: expected a list of {MIN_STEPS} to {MAX_STEPS} steps, got {steps!r}")
    if not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise InputError(f"steps: a funnel has {MIN_STEPS} to {MAX_STEPS} steps, got {len(steps)}")
    parsed = tuple(_step(s, f"steps[{i}]") for i, s in enumerate(steps))
    span = window if isinstance(window, dt.timedelta) else parse_window(window)
    start, end = parse_date(from_date, "from_date"), parse_date(to_date, "to_date")
    if start and end and start > end:
        raise InputError(f"from_date {start} is after to_date {end}; swap them")
    if not isinstance(top_n, int) or top_n < 1:
        raise InputError(f"top_n: expected a positive whole number, got {top_n!r}")
    excl = tuple(_exclusion(e, f"exclusions[{i}]", len(parsed)) for i, e in enumerate(exclusions or ()))
    return FunnelParams(parsed, span, start, end, breakdown or None, top_n, excl, segment or None)


# -- engine -------------------------------------------------------------------------------


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


def _resolve_dates(ws: Workspace, params: FunnelParams, first: ir.Table) -> tuple[dt.date, dt.date]:
    start, end = params.from_date, params.to_date
    if start is None or end is None:
        last = first.timestamp.max().execute()
        if last is None or pd.isna(last):
            anchor = dt.datetime.now(dt.timezone.utc).date()
        else:
            anchor = pd.Timestamp(last).date()
        end = end or anchor
        start = start or (end - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1))
    return start, end


def _day_start(day: dt.date) -> ibis.Scalar:
    return ibis.timestamp(dt.datetime(day.year, day.month, day.day), timezone="UTC")


def _breakdown_column(ws: Workspace, first: ir.Table, prop: str) -> tuple[ir.Table, str]:
    """Attach `_bd` (text) to step-1 events: an event column, else a profile property."""
    if prop in first.columns:
        return first.mutate(_bd=first[prop].cast("string")), "event"
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
    return joined.drop("_pid"), "profile"


def _fold_top_n(entries: ir.Table, top_n: int) -> ir.Table:
    """Replace breakdown values outside the top N (by people entering) with 'Other'."""
    entries = entries.mutate(_bd=entries._bd.fill_null(NOT_SET))
    sizes = entries.group_by("_bd").agg(_people=entries.profile_id.nunique())
    ranked = sizes.mutate(_rank=ibis.row_number().over(order_by=[ibis.desc("_people"), "_bd"]))
    top = ranked.filter(ranked._rank < top_n).select(_top=ranked._bd)
    joined = entries.left_join(top, entries._bd == top._top)
    folded = joined.mutate(_bd=ibis.ifelse(joined._top.isnull(), ibis.literal(OTHER), joined._bd))
    return folded.drop("_top")


def funnel_people_table(ws: Workspace, params: FunnelParams, metrics=None, asof: bool = True) -> ir.Table:
    """One row per person (and breakdown value): furthest step reached and seconds to each step.

    Columns: profile_id, [breakdown], furthest_step (1..K), seconds_to_step_2 ... _K (null when
    the step was not reached). Seconds are measured in the earliest entry reaching the step.
    `asof=False` forces the join-based matching everywhere (the as-of shortcut is exact and is
    only taken between steps that cannot share events; tests compare both).
    """
    metrics = load_metrics() if metrics is None else metrics
    n = len(params.steps)
    selections = [_selection(ws, s.metric, s.where, metrics) for s in params.steps]
    members = _segment_members(ws, params.segment) if params.segment else None

    first = selections[0]
    start, end = _resolve_dates(ws, params, first)
    in_range = (first.timestamp >= _day_start(start)) & (first.timestamp < _day_start(end + dt.timedelta(days=1)))
    first = first.filter(in_range)
    if params.breakdown:
        first, _ = _breakdown_column(ws, first, params.breakdown)
    else:
        first = first.mutate(_bd=ibis.literal(None, type="string"))
    entries = first.select(
        "profile_id", "_bd", entry_id=first.event_id, t0=first.timestamp, ts_1=first.timestamp
    )
    if members is not None:
        entries = entries.semi_join(members, entries.profile_id == members.profile_id)
    if params.breakdown:
        entries = _fold_top_n(entries, params.top_n)
    span = ibis.interval(seconds=params.window_seconds)

    keys = ["profile_id", "entry_id"]
    disjoint = not any(
        _may_overlap(params.steps[i], params.steps[j], metrics) for i in range(n) for j in range(i + 1, n)
    )
    if asof and disjoint:
        wide = _match_shared_chains(entries, selections, span)
        if params.exclusions:
            wide = wide.mutate(deadline=wide.t0 + span)
    else:
        wide = _match_per_entry(entries.mutate(deadline=entries.t0 + span), selections, params, metrics, asof)
    wide = wide.mutate(_ts_1=wide.t0)
    for ex in params.exclusions:
        wide = _apply_exclusion(ws, wide, ex, metrics, keys)

    reach = ibis.literal(1)
    for k in range(2, n + 1):
        reach = reach + wide[f"_ts_{k}"].notnull().cast("int64")
    wide = wide.mutate(_reach=reach)
    if asof and disjoint:  # entries at the same moment share every match: t0 orders them enough
        wide = wide.mutate(_order=wide.t0)
    else:
        wide = wide.mutate(
            _order=ibis.row_number().over(group_by=["profile_id", "_bd"], order_by=[wide.t0, wide.entry_id])
        )
    # The entry reaching step k first: its t0 and step-k time; the difference is taken once per
    # person afterwards (timestamp arithmetic is costly per row on some engines, e.g. DuckDB's ICU).
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



def _match_per_entry(entries: ir.Table, selections: list[ir.Table], params: FunnelParams, metrics,
                     asof: bool) -> ir.Table:
    """Greedy matching entry by entry (any steps, also steps sharing event names).

    Returns the entries with `_ts_2 ... _ts_K` (null once a step is not reached).
    """
    n = len(params.steps)
    keys = ["profile_id", "entry_id"]
    # Greedy earliest matching, one step at a time: each entry that reached step k-1 takes the
    # earliest step-k event in [ts_{k-1}, deadline] not already used by its earlier steps.
    matched = [entries.select(*keys, ts=entries.t0, eid=entries.entry_id)]
    current = entries.select(*keys, "deadline", ts_prev=entries.t0, id_1=entries.entry_id)
    for k in range(2, n + 1):
        step = selections[k - 1]
        cand = step.select(_p=step.profile_id, _ts=step.timestamp, _eid=step.event_id)
        overlaps = [j for j in range(1, k) if _may_overlap(params.steps[j - 1], params.steps[k - 1], metrics)]
        if not overlaps and asof:
            # No event can serve two steps here, so the earliest step-k event at or after the
            # previous match is an as-of lookup (a sort-merge, not a per-person cross product).
            # Keep one event per (person, time) first: the smallest event_id, our tie-break.
            first_at = cand.group_by("_p", "_ts").aggregate(_eid=cand._eid.min())
            hit = current.asof_join(first_at, on=current.ts_prev <= first_at._ts, predicates=current.profile_id == first_at._p)
            best = hit.filter(hit._ts.notnull() & (hit._ts <= hit.deadline))
            matched.append(best.select(*keys, ts=best._ts, eid=best._eid))
            id_cols = [f"id_{j}" for j in range(1, k)]
            current = best.select(*keys, "deadline", *id_cols, ts_prev=best._ts, **{f"id_{k}": best._eid})
            continue
        conds = [
            current.profile_id == cand._p,
            cand._ts >= current.ts_prev,
            cand._ts <= current.deadline,
        ]
        # Only steps that can share events with step k need the "one event, one step" check.
        for j in range(1, k):
            if _may_overlap(params.steps[j - 1], params.steps[k - 1], metrics):
                conds.append(cand._eid != current[f"id_{j}"])
        joined = current.join(cand, conds)
        order = ibis.window(group_by=keys, order_by=[joined._ts, joined._eid])
        best = joined.mutate(_rn=ibis.row_number().over(order)).filter(lambda t: t._rn == 0)
        matched.append(best.select(*keys, ts=best._ts, eid=best._eid))
        id_cols = [f"id_{j}" for j in range(1, k)]
        current = best.select(*keys, "deadline", *id_cols, ts_prev=best._ts, **{f"id_{k}": best._eid})

    wide = entries.select(*keys, "_bd", "t0", "deadline")
    for k in range(2, n + 1):
        m = matched[k - 1].rename({f"_ts_{k}": "ts", f"_eid_{k}": "eid", "_mp": "profile_id", "_me": "entry_id"})
        wide = wide.left_join(m, (wide.profile_id == m._mp) & (wide.entry_id == m._me)).drop("_mp", "_me")
    return wide



def _match_shared_chains(entries: ir.Table, selections: list[ir.Table], span: ir.IntervalScalar) -> ir.Table:
    """Greedy matching when no two steps share an event name (the common funnel), exactly.

    With disjoint steps "one event, one step" never bites, so an entry's match for step 2 is the
    earliest step-2 event at or after t0, and from there each step is the earliest event of that
    step at or after the previous match: a chain c_2 <= c_3 <= ... that depends only on the
    step-2 event, not on the entry. Each entry follows the chain until its own deadline; chain
    times only grow, so the entry reaches step k exactly when c_k <= t0 + window, i.e.
    t0 >= c_k - window. So the chains are built once per step-2 event (as-of joins over the step
    events only, far fewer than the entries), and each entry needs a single as-of lookup of the
    first chain starting at or after its t0. No timestamp arithmetic is done per entry.

    Returns the entries with `_ts_2 ... _ts_K` (null once a step is not reached).
    """
    n = len(selections)

    def times(k: int) -> ir.Table:
        sel = selections[k - 1]
        return sel.select(_p=sel.profile_id, _ts=sel.timestamp)

    step2 = times(2)
    chain = step2.select(_cp=step2._p, _c_2=step2._ts)
    for k in range(3, n + 1):
        nxt = times(k)
        prev = chain[f"_c_{k - 1}"]
        hit = chain.asof_join(nxt, on=prev <= nxt._ts, predicates=chain._cp == nxt._p)
        chain = hit.select(*chain.columns, **{f"_c_{k}": hit._ts})
    chain = chain.mutate(**{f"_lo_{k}": chain[f"_c_{k}"] - span for k in range(2, n + 1)})

    wide = entries.asof_join(chain, on=entries.t0 <= chain._c_2, predicates=entries.profile_id == chain._cp)
    cols = {}
    for k in range(2, n + 1):
        c = wide[f"_c_{k}"]
        cols[f"_ts_{k}"] = ibis.ifelse(c.notnull() & (wide.t0 >= wide[f"_lo_{k}"]), c, ibis.null(c.type()))
    return wide.select("profile_id", "entry_id", "_bd", "t0", **cols)


def breakdown_column(params: FunnelParams) -> str | None:
    """Name of the breakdown column in results: the property, unless it clashes with one."""
    if not params.breakdown:
        return None
    taken = {"profile_id", "furthest_step", "step", "metric", "profiles", "drop_off"}
    return "breakdown" if params.breakdown in taken or params.breakdown.startswith(("seconds_", "conversion_")) \
        else params.breakdown


def _may_overlap(a: FunnelStep, b: FunnelStep, metrics) -> bool:
    """Whether two steps can match the same event (they share a raw event name)."""
    return bool(_raw_names(a.metric, metrics) & _raw_names(b.metric, metrics))


def _raw_names(metric: str, metrics) -> set[str]:
    if metric in metrics:
        return {g.metric for g in metrics[metric].groups}
    return {metric}


def _apply_exclusion(ws: Workspace, wide: ir.Table, ex: Exclusion, metrics, keys) -> ir.Table:
    sel = _selection(ws, ex.metric, ex.where, metrics)
    x = sel.select(_xp=sel.profile_id, _xts=sel.timestamp)
    after, before = wide[f"_ts_{ex.after_step}"], wide[f"_ts_{ex.before_step}"]
    inside = (x._xts > after) & ibis.ifelse(before.isnull(), x._xts <= wide.deadline, x._xts < before)
    bad = wide.join(x, [wide.profile_id == x._xp, after.notnull(), inside]).select(*keys).distinct()
    return wide.anti_join(bad, [wide.profile_id == bad.profile_id, wide.entry_id == bad.entry_id])


def funnel_steps_table(people: ir.Table, params: FunnelParams) -> ir.Table:
    """Per step (and breakdown value): profiles, conversions, drop-off, median/mean seconds.

    Columns: [breakdown], step (1-based), metric, profiles, conversion_from_start,
    conversion_from_previous, drop_off, median_seconds_to_step, mean_seconds_to_step.
    """
    n = len(params.steps)
    name = breakdown_column(params)
    group = ["_bd"] if name else []
    if name:
        people = people.rename(_bd=name)
    steps = ibis.memtable(
        pd.DataFrame({"step": range(1, n + 1), "metric": [s.metric for s in params.steps]})
    )
    long = people.cross_join(steps)
    long = long.filter(long.step <= long.furthest_step)
    seconds = ibis.cases(
        (long.step == 1, ibis.literal(0.0)),
        *[(long.step == k, long[f"seconds_to_step_{k}"]) for k in range(2, n + 1)],
    )
    long = long.mutate(_sec=seconds)
    counts = long.group_by(*group, "step", "metric").aggregate(
        profiles=long.profile_id.nunique(),
        median_seconds_to_step=long._sec.median(),
        mean_seconds_to_step=long._sec.mean(),
    )
    w = ibis.window(group_by=group, order_by="step")
    first = counts.profiles.first().over(w)
    prev = counts.profiles.lag().over(w)
    out = counts.mutate(
        conversion_from_start=counts.profiles.cast("float64") / first,
        conversion_from_previous=ibis.ifelse(prev.isnull(), 1.0, counts.profiles.cast("float64") / prev),
        drop_off=ibis.ifelse(prev.isnull(), 0, prev - counts.profiles),
    )
    cols = ["step", "metric", "profiles", "conversion_from_start", "conversion_from_previous",
            "drop_off", "median_seconds_to_step", "mean_seconds_to_step"]
    if name:
        return out.select(out._bd.name(name), *cols).order_by([name, "step"])
    return out.select(*cols).order_by("step")


def funnel_table(ws: Workspace, params: FunnelParams, metrics=None) -> ir.Table:
    """The funnel report: `funnel_steps_table` of `funnel_people_table`."""
    return funnel_steps_table(funnel_people_table(ws, params, metrics), params)


def funnel_frame(ws: Workspace, params: FunnelParams, metrics=None) -> pd.DataFrame:
    """`funnel_table` as pandas with every step present (zero rows for steps nobody reached)."""
    df = funnel_table(ws, params, metrics).execute()
    group = [breakdown_column(params)] if params.breakdown else []
    steps = pd.DataFrame({"step": range(1, len(params.steps) + 1), "metric": [s.metric for s in params.steps]})
    if group:
        keys = df[group].drop_duplicates()
        grid = keys.merge(steps, how="cross")
    else:
        grid = steps
    out = grid.merge(df, on=[*group, "step", "metric"], how="left")
    out["profiles"] = out["profiles"].fillna(0).astype("int64")
    for col in ("conversion_from_start", "conversion_from_previous"):
        out[col] = out[col].fillna(0.0)
    # drop-off for steps nobody reached is everyone who reached the previous step
    prev = out.groupby(group)["profiles"].shift() if group else out["profiles"].shift()
    out["drop_off"] = (prev.fillna(out["profiles"]) - out["profiles"]).astype("int64")
    if group:
        totals = out[out.step == 1].groupby(group)["profiles"].sum().sort_values(ascending=False)
        out[group[0]] = pd.Categorical(out[group[0]], categories=list(totals.index), ordered=True)
        out = out.sort_values([group[0], "step"]).reset_index(drop=True)
        out[group[0]] = out[group[0]].astype(str)
    return out


def time_to_convert_table(people: ir.Table, step: int) -> ir.Table:
    """Per person who reached `step`: seconds from step 1 (for a histogram)."""
    col = f"seconds_to_step_{step}"
    if col not in people.columns:
        raise InputError(f"step: {step} is not a step after the first of this funnel")
    return people.filter(people[col].notnull()).select("profile_id", seconds=people[col])
