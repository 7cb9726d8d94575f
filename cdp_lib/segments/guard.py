"""Limits a segment definition must respect, checked before it is loaded or compiled.

YAML text is first read as a stream of parser events (no tree is built, nothing recurses), so
that a definition that would expand through nested aliases into millions of conditions (a
"billion laughs" file of half a kilobyte), or nest thousands of levels deep, is refused in time
proportional to its length. Then the composed node tree (aliases still shared, not expanded) is
checked for dates that do not exist (`2024-02-30`), which the YAML loader would otherwise fail
on with a bare `ValueError`. The numeric limits (window lengths, date range, counts) are
applied where each value is read, in `cdp_lib.segments.definition`.

Every refusal is an `InputError` naming the file, the line and the YAML path.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from cdp_lib.errors import InputError

MAX_YAML_NODES = 10_000  # nodes after expanding aliases; the shipped library's largest has < 100
MAX_YAML_DEPTH = 64  # nested mappings/sequences
MAX_GROUP_DEPTH = 16  # nested any/all groups
MAX_CONDITIONS = 1_000  # leaf conditions in one definition, groups expanded
MAX_WINDOW_DAYS = 36_500  # 100 years: longer relative windows are a typo; all_time has no limit
MIN_DATE = dt.date(1900, 1, 1)  # the range ingest accepts for timestamps
MAX_DATE = dt.date(2200, 1, 1)
MAX_COUNT = 1_000_000_000  # events of one kind for one person
MAX_TOTAL = 1e15  # sum of event values
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


def short_path(parts: list) -> str:
    """A YAML path for messages; very deep ones keep their start and end."""
    text = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts]
    if len(text) > 10:
        text = text[:6] + [f"…({len(parts) - 9} more)…"] + text[-3:]
    return "".join(text).lstrip(".") or "<document>"


def _fail(name: str, mark, parts: list, message: str) -> InputError:
    line = f", line {mark.line + 1}" if mark is not None else ""
    return InputError(f"{name}{line}: {short_path(parts)}: {message}")


class _Frame:
    __slots__ = ("mapping", "anchor", "part", "index", "expect_key", "key", "size", "height")

    def __init__(self, mapping: bool, anchor: str | None, part):
        self.mapping, self.anchor, self.part = mapping, anchor, part
        self.index, self.expect_key, self.key = 0, True, "?"
        self.size, self.height = 1, 1

    def child_part(self):
        """Path part of the next node inside this collection (None for a mapping key)."""
        if not self.mapping:
            self.index += 1
            return self.index - 1
        if self.expect_key:
            self.expect_key = False
            return None
        self.expect_key = True
        return self.key


def scan_yaml(text: str, name: str) -> None:
    """Refuse alias bombs, self-containing aliases and deep nesting, from parser events only."""
    frames: list[_Frame] = []
    done: dict[str, tuple[int, int]] = {}  # anchor -> (expanded nodes, height)
    total = 0

    def path(part) -> list:
        parts = [f.part for f in frames if f.part is not None]
        return parts + ([part] if part is not None else [])

    for event in yaml.parse(text):
        if not isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.MappingStartEvent,
                                  yaml.SequenceStartEvent, yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frame = frames.pop()
            if frame.anchor is not None:
                done[frame.anchor] = (frame.size, frame.height)
            if frames:
                frames[-1].size += frame.size
                frames[-1].height = max(frames[-1].height, frame.height + 1)
            continue
        parent = frames[-1] if frames else None
        part = parent.child_part() if parent is not None else None
        is_key = parent is not None and parent.mapping and part is None
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in done:
                if any(f.anchor == event.anchor for f in frames):
                    raise _fail(name, event.start_mark, path(part),
                                f"alias *{event.anchor} is used inside its own anchor &{event.anchor}; "
                                "a definition cannot contain itself")
                continue  # an undefined alias: the YAML loader reports it
            size, height = done[event.anchor]
        elif isinstance(event, yaml.ScalarEvent):
            size, height = 1, 0
        else:
            size, height = 1, 1
        total += size
        if total > MAX_YAML_NODES:
            raise _fail(name, event.start_mark, path(part),
                        f"the aliases expand this definition to more than {MAX_YAML_NODES:,} YAML nodes; "
                        "write the conditions out instead of nesting aliases")
        if len(frames) + height > MAX_YAML_DEPTH:
            raise _fail(name, event.start_mark, path(part),
                        f"nested more than {MAX_YAML_DEPTH} levels deep; flatten the nested any/all groups")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            frames.append(_Frame(isinstance(event, yaml.MappingStartEvent), event.anchor,
                                 "?" if is_key else part))
            continue
        if parent is not None:
            parent.size += size
            parent.height = max(parent.height, height + 1)
            if is_key:
                parent.key = event.value if isinstance(event, yaml.ScalarEvent) else "?"


def check_dates(root: Any, name: str) -> None:
    """Refuse YAML dates that do not exist (`2024-02-30`), naming their path."""
    constructor = SafeConstructor()
    seen: set[int] = set()
    stack: list[tuple[Any, list]] = [(root, [])] if root is not None else []
    while stack:
        node, parts = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append((value, parts + [key.value if isinstance(key, yaml.ScalarNode) else "?"]))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, parts + [i]) for i, child in enumerate(node.value))
        elif isinstance(node, yaml.ScalarNode) and node.tag == TIMESTAMP_TAG:
            try:
                constructor.construct_yaml_timestamp(node)
            except (ValueError, OverflowError) as exc:
                raise _fail(name, node.start_mark, parts,
                            f"{node.value} is not a real date ({exc}); write an existing date as YYYY-MM-DD") from None


def check_date_range(value: dt.date) -> str | None:
    """Why a date (or datetime) is refused (outside 1900-01-01 .. 2200-01-01), or None."""
    value = value.date() if isinstance(value, dt.datetime) else value
    if not MIN_DATE <= value <= MAX_DATE:
        return f"expected a date between {MIN_DATE} and {MAX_DATE}, got {value}"
    return None
