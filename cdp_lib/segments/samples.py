"""Random test/control samples of a segment, reproducible by seed.

People are ordered by SHA-256 of `"<seed>:<profile_id>"` (ties broken by profile id), and the
first `size` (or `round(fraction * members)`) form the test group, the rest the control group.
The order depends only on the seed and the ids, never on how the database returns rows, so the
same seed gives the same split on any engine and on every run; a person keeps their side of the
split when others enter or leave the segment.
"""

from __future__ import annotations

from typing import Any, Mapping

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.dates import as_of_end
from cdp_lib.errors import InputError
from cdp_lib.segments import store
from cdp_lib.segments.history import members_of
from cdp_lib.segments.store import ensure_tables, rebuild_current, store_members
from cdp_lib.workspace import Workspace

TEST_SUFFIX = " — test"
CONTROL_SUFFIX = " — control"


def split(members: ir.Table, fraction: float | None = None, size: int | None = None,
          seed: int = 0) -> tuple[ir.Table, ir.Table]:
    """Split a table of `profile_id` into (test, control) Ibis tables."""
    if (fraction is None) == (size is None):
        raise InputError("give exactly one of fraction (e.g. 0.1) or size (a number of people)")
    if fraction is not None and not 0 < fraction < 1:
        raise InputError(f"fraction must be between 0 and 1 (exclusive), got {fraction}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise InputError(f"size must be a whole number of people, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed must be a whole number, got {seed!r}")
    people = members.select("profile_id").distinct()
    key = (ibis.literal(f"{seed}:") + people.profile_id).hexdigest("sha256")
    ranked = people.mutate(_rank=ibis.row_number().over(order_by=[key, people.profile_id]))
    if size is not None:
        cut = ibis.literal(size)
    else:
        cut = (people.count() * fraction).round().cast("int64").as_scalar()
    test = ranked.filter(ranked._rank < cut).select("profile_id")
    control = ranked.filter(ranked._rank >= cut).select("profile_id")
    return test, control


def sample(ws: Workspace, segment: str, fraction: float | None = None, size: int | None = None,
           seed: int = 0, library: Mapping | None = None, as_of: Any = None) -> pd.DataFrame:
    """Store the test and control groups of `segment` as segments '<name> — test' / '— control'.

    Members come from the segment's last refresh (or its definition, evaluated as of `as_of`,
    when never refreshed or when `as_of` is given). The groups' history is stamped with the
    as-of moment (`cdp_lib.dates.as_of_end`: the end of the as-of date, today by default), like
    a refresh. Returns the two groups' sizes and changes like `refresh` does.
    """
    members = members_of(ws, segment, library, as_of)
    test, control = split(members, fraction, size, seed)
    ensure_tables(ws)
    moment, now = as_of_end(as_of), pd.Timestamp.now(tz="UTC")
    rows = []
    with ws.transaction():
        for suffix, group in ((TEST_SUFFIX, test), (CONTROL_SUFFIX, control)):
            rows.append(store_members(ws, segment + suffix, group, moment, now))
        rebuild_current(ws)
    store.drop_temp(ws, store.NEW_MEMBERS)
    return pd.DataFrame(rows)
