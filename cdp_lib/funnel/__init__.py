"""Ordered conversion funnels: who reaches each step within a window of their first step.

Rules (docs/funnels.md states them with examples):

* A person *enters* with any step-1 event inside `[from_date, to_date]` (whole UTC days, both
  included). Only step 1 must be inside the range; later steps may fall after `to_date`.
* From an entry at time t0, step k+1 is matched by the earliest event of that step at or after
  the time of the event matched for step k and at most t0 + window (inclusive). One event
  matches at most one step, so A -> A needs two A events; events sharing a timestamp may complete
  consecutive steps. Among candidates at the same timestamp the smallest `event_id` is taken.
* Each person counts once, at the furthest step reached over all their entries; a person at
  step k has a time to every step up to k, measured in their earliest entry reaching that step
  (entries at the same moment ordered by `event_id`).
* An exclusion `{metric, after_step: a, before_step: b}` loses an entry when an exclusion event
  falls strictly after the step-a match and strictly before the step-b match (or, when step b is
  never reached, at or before t0 + window). Other entries of the person still count.
* A breakdown takes its value from the step-1 event (an event column) or else from the profile;
  a person is counted once per value. Values beyond the `top_n` most frequent at step 1 fold
  into "Other"; a missing value is "(not set)".

Everything is an Ibis expression built from window functions, equality joins and aggregations
(`cdp_lib.funnel.match`), so it runs unchanged on DuckDB and on Spark.
"""

from cdp_lib.funnel.params import (
    DEFAULT_TOP_N,
    DEFAULT_WINDOW,
    MAX_STEPS,
    MIN_STEPS,
    NOT_SET,
    OTHER,
    Exclusion,
    FunnelParams,
    FunnelStep,
    breakdown_column,
    funnel_params,
    parse_window,
)
from cdp_lib.funnel.people import entry_dates, funnel_people_table
from cdp_lib.funnel.report import funnel_frame, funnel_steps_table, funnel_table, time_to_convert_table

__all__ = [
    "DEFAULT_TOP_N",
    "DEFAULT_WINDOW",
    "MAX_STEPS",
    "MIN_STEPS",
    "NOT_SET",
    "OTHER",
    "Exclusion",
    "FunnelParams",
    "FunnelStep",
    "breakdown_column",
    "entry_dates",
    "funnel_frame",
    "funnel_params",
    "funnel_people_table",
    "funnel_steps_table",
    "funnel_table",
    "parse_window",
    "time_to_convert_table",
]
