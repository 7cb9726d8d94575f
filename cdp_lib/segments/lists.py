"""Fixed-list segments: the people an app listed (an RFM transition, a funnel's drop-outs), saved
as a definition the library and `cdp segment refresh` accept.

The definition is one property condition, `{property: profile_id, op: in, value: [ids]}`, so its
members are exactly those people (as long as their profiles exist), whatever happens later. The
list is bounded (`MAX_LIST_PEOPLE`): every library load reads the whole file, and the definition
guard allows 10,000 YAML nodes per file.
"""

from __future__ import annotations

from typing import Iterable

from cdp_lib.errors import InputError
from cdp_lib.rfm.groups import GROUP_ORDER
from cdp_lib.rfm.transitions import transition_label

MAX_LIST_PEOPLE = 5_000


def list_definition(name: str, profile_ids: Iterable[str], description: str = "") -> dict:
    """A segment definition (plain data) whose members are `profile_ids` (sorted, de-duplicated).

    >>> list_definition("Dropped at checkout", ["p2", "p1", "p2"])["conditions"]
    [{'property': 'profile_id', 'op': 'in', 'value': ['p1', 'p2']}]
    """
    ids = sorted({str(p) for p in profile_ids if p is not None})
    if not name or not str(name).strip():
        raise InputError("segment name: type a name for the segment")
    if not ids:
        raise InputError("nobody to save: the list is empty; pick a group of people with at least one person")
    if len(ids) > MAX_LIST_PEOPLE:
        raise InputError(f"{len(ids):,} people is more than a fixed list holds ({MAX_LIST_PEOPLE:,}); "
                         "narrow the dates or save a rule instead")
    out = {"name": str(name).strip()}
    if description:
        out["description"] = description
    out["match"] = "all"
    out["conditions"] = [{"property": "profile_id", "op": "in", "value": ids}]
    return out


# -- an RFM transition as a segment (the RFM explorer; rules in cdp_lib/rfm/transitions.py) --
def transition_rule(name: str, from_group: str, to_group: str) -> dict:
    """A rule segment for the transition (see the module docstring); `InputError` when the pair is
    not two different scored groups (a fixed list can still be saved)."""
    if from_group not in GROUP_ORDER or to_group not in GROUP_ORDER or from_group == to_group:
        raise InputError(
            f"{transition_label(from_group, to_group)} cannot be a rule: the RFM attributes record a change "
            "between two different groups only; save the listed people as a fixed list instead"
        )
    if not name or not str(name).strip():
        raise InputError("segment name: type a name for the segment")
    return {
        "name": str(name).strip(),
        "description": f"RFM group changed from {from_group} to {to_group} (follows 'cdp rfm' runs)",
        "match": "all",
        "conditions": [
            {"property": "current_rfm_group", "op": "equals", "value": to_group},
            {"property": "previous_rfm_group", "op": "equals", "value": from_group},
        ],
    }


def transition_list(name: str, from_group: str, to_group: str, profile_ids, start_date, end_date) -> dict:
    """A fixed-list segment of the transition's customers between `start_date` and `end_date`."""
    what = f"RFM {transition_label(from_group, to_group)} between {start_date:%Y-%m-%d} and {end_date:%Y-%m-%d}"
    return list_definition(name, profile_ids, f"{what} (fixed list)")
