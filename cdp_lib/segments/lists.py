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
