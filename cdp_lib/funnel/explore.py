"""What the funnel explorer adds to the report: the people who dropped at a step, and a step-by-step
comparison with another period."""

from __future__ import annotations

import ibis.expr.types as ir
import pandas as pd

from cdp_lib.errors import InputError
from cdp_lib.workspace import Workspace


def dropped_at_step_table(ws: Workspace, people: ir.Table, step: int, n_steps: int) -> ir.Table:
    """People who reached `step` and not the next one (`furthest_step == step`), with their
    external id and email, ordered by profile_id.

    `people` is a `funnel_people_table`; with a breakdown a person appears once per breakdown
    value they dropped under. `step` is 1 .. n_steps - 1 (nobody drops after the last step).
    """
    if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step < n_steps:
        raise InputError(f"step: expected a step from 1 to {n_steps - 1} (people drop between two steps), got {step!r}")
    out = people.filter(people.furthest_step == step)
    prof = ws.profiles.select(_pid="profile_id", external_id="external_id", email="email")
    j = out.left_join(prof, out.profile_id == prof._pid)
    keep = [c for c in out.columns if not c.startswith("seconds_to_step_") and c != "furthest_step"]
    return j.select(*keep, "external_id", "email", "furthest_step").order_by(keep)


def compare_steps(current: pd.DataFrame, previous: pd.DataFrame, breakdown: str | None = None) -> pd.DataFrame:
    """`current` funnel steps (a `funnel_frame`) with the comparison period's people and
    conversion from step 1 next to them, and the change in percentage points.

    Added columns: `profiles_compared` (0 for a breakdown value absent from the comparison),
    `conversion_from_start_compared` and `change_points` = 100 x (current - compared) conversion
    (both missing for such a value: there is nothing to compare with).
    """
    keys = [*([breakdown] if breakdown else []), "step", "metric"]
    other = previous[[*keys, "profiles", "conversion_from_start"]].rename(
        columns={"profiles": "profiles_compared", "conversion_from_start": "conversion_from_start_compared"})
    out = current.merge(other, on=keys, how="left")
    out["profiles_compared"] = out["profiles_compared"].fillna(0).astype("int64")
    out["change_points"] = 100 * (out["conversion_from_start"] - out["conversion_from_start_compared"])
    return out
