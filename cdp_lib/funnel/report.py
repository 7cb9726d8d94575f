"""The funnel report: people, conversion, drop-off and time to each step."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.errors import InputError
from cdp_lib.funnel.params import FunnelParams, breakdown_column
from cdp_lib.funnel.people import funnel_people_table
from cdp_lib.workspace import Workspace


def funnel_steps_table(people: ir.Table, params: FunnelParams) -> ir.Table:
    """Per step (and breakdown value): profiles, conversions, drop-off, median/mean seconds.

    Columns: [breakdown], step (1-based), metric, profiles, conversion_from_start,
    conversion_from_previous, drop_off, median_seconds_to_step, mean_seconds_to_step. Step k's
    profiles are the people whose furthest step is k or more; its median and mean are over those
    people's seconds to step k (0 for step 1), the median being the engine's exact median (the
    mean of the two middle values for an even count).
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


def funnel_frame(ws: Workspace, params: FunnelParams, metrics=None, people: ir.Table | None = None) -> pd.DataFrame:
    """`funnel_table` as pandas with every step present (zero rows for steps nobody reached).

    `people` is a `funnel_people_table` already computed for `params` (e.g. held in memory by an
    app), used instead of computing it again."""
    table = funnel_table(ws, params, metrics) if people is None else funnel_steps_table(people, params)
    df = table.execute()
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
