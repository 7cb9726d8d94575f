"""Segment definitions: parse and validate the YAML contract, with messages that point into the file.

A definition is plain data (see docs/segments.md). `parse_definition` checks its shape without a
workspace and returns a `SegmentDefinition` whose conditions are normalised dicts, each tagged
with `kind` and the `path` of the YAML node it came from; `check_definition` (in `compile`) then
checks names against a workspace (metrics, properties, segments). Every error names the file, the
line and the YAML path, what was found and what was expected.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from cdp_lib import durations, filters
from cdp_lib.dates import HOLIDAYS, parse_date
from cdp_lib.errors import InputError
from cdp_lib.segments import guard
from cdp_lib.segments.source import Path_, Source, format_path, suggest  # noqa: F401  (re-exported)

COUNT_OPS = {">=", ">", "==", "!=", "<=", "<"}
MATCHES = ("all", "any")
TOP_KEYS = {"name", "description", "match", "conditions"}
EVENT_KEYS = {"metric", "count", "total", "when", "where"}
WINDOW_KINDS = ("all_time", "in_last", "between_ago", "before", "after", "between", "holiday")
CONDITION_KEYS = ("property", "metric", "within", "in_segment", "not_in_segment", "can_receive", "any", "all")
CHANNELS = ("email", "sms")
# Relative windows: h counts hours back from the as-of moment; d/w/m/y count whole UTC days.
WINDOW_UNIT_DAYS = {u: durations.unit_days(u) for u in durations.DAY_UNITS}  # d, w, mo, y
MAX_FILE_BYTES = 1_000_000
KM_PER_MILE = 1.609344

@dataclass
class SegmentDefinition:
    """A validated segment definition.

    `conditions` are normalised dicts with a `kind` (`property`, `event`, `within`, `segment`,
    `consent`, `group`) and the `path` of their YAML node; `raw` is the mapping as written, which
    is what `save_definition` stores.
    """

    name: str
    description: str
    match: str
    conditions: list[dict]
    raw: dict
    source: Source = field(default_factory=Source)

    @property
    def depends_on(self) -> set[str]:
        """Names of the segments this one refers to through in_segment / not_in_segment."""
        out: set[str] = set()

        def walk(conds):
            for c in conds:
                if c["kind"] == "segment":
                    out.add(c["segment"])
                elif c["kind"] == "group":
                    walk(c["conditions"])

        walk(self.conditions)
        return out

    def iter_conditions(self):
        """Every leaf condition, nested groups flattened."""

        def walk(conds):
            for c in conds:
                if c["kind"] == "group":
                    yield from walk(c["conditions"])
                else:
                    yield c

        return walk(self.conditions)

    def error(self, path: Path_, message: str) -> InputError:
        return self.source.error(path, message)

    def __repr__(self) -> str:
        return f"SegmentDefinition({self.name!r}, {len(self.conditions)} condition(s), from {self.source.name})"


# -- loading -----------------------------------------------------------------------------------
def load_definition(spec: str | os.PathLike | Mapping) -> SegmentDefinition:
    """A definition from a mapping, a YAML file path, or YAML text."""
    if isinstance(spec, Mapping):
        return parse_definition(spec)
    text_like = isinstance(spec, str) and ("\n" in spec or spec.lstrip().startswith(("name:", "{")))
    if text_like:
        return parse_yaml(spec, "<yaml text>")
    path = Path(spec)
    if not path.exists():
        raise InputError(f"segment definition file {path} does not exist")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(f"{path}: {path.stat().st_size:,} bytes; a segment definition is at most "
                         f"{MAX_FILE_BYTES:,} bytes (is this the right file?)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); save the definition as UTF-8") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, name: str = "<yaml text>") -> SegmentDefinition:
    """A definition from YAML text, after the limits of `cdp_lib.segments.guard` are checked."""
    try:
        guard.scan_yaml(text, name)  # aliases and nesting are bounded before any tree is built
        root = yaml.compose(text)
        guard.check_dates(root, name)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}, line {mark.line + 1}" if mark else name
        raise InputError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except RecursionError:  # not reachable within the depth limit; kept as a last line of defence
        raise InputError(f"{name}: nested too deeply to read; flatten the nested any/all groups") from None
    return parse_definition(data, Source(name, root))


def parse_definition(data: Any, source: Source | None = None) -> SegmentDefinition:
    """Check the shape of a definition mapping and normalise its conditions."""
    src = source or Source()
    if not isinstance(data, Mapping):
        raise src.error((), f"expected a mapping with name, description, match and conditions, got {type(data).__name__}")
    src.check_keys((), data, TOP_KEYS)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise src.error(("name",), f"expected the segment's name as text, got {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise src.error(("description",), f"expected text, got {description!r}")
    match = data.get("match", "all")
    if match not in MATCHES:
        raise src.error(("match",), f"expected 'all' (AND) or 'any' (OR), got {match!r}")
    conditions = data.get("conditions")
    if not isinstance(conditions, list) or not conditions:
        raise src.error(("conditions",), f"expected a non-empty list of conditions, got {conditions!r}")
    budget = [guard.MAX_CONDITIONS]
    parsed = [_condition(c, ("conditions", i), src, 0, budget) for i, c in enumerate(conditions)]
    return SegmentDefinition(name.strip(), description.strip(), match, parsed, dict(data), src)


# -- conditions --------------------------------------------------------------------------------
def _condition(spec: Any, path: Path_, src: Source, depth: int = 0, budget: list | None = None) -> dict:
    budget = [guard.MAX_CONDITIONS] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise src.error(path, f"more than {guard.MAX_CONDITIONS:,} conditions in one definition; split it into "
                              "segments that refer to each other with in_segment")
    if not isinstance(spec, Mapping) or not spec:
        raise src.error(path, f"expected a condition mapping with one of {list(CONDITION_KEYS)}, got {spec!r}")
    kinds = [k for k in CONDITION_KEYS if k in spec]
    if not kinds:
        first = next(iter(spec))
        raise src.error(
            path + (first,),
            f"unknown condition key {first!r}{suggest(first, CONDITION_KEYS)}; a condition starts with one of {list(CONDITION_KEYS)}",
        )
    kind = kinds[0]
    if kind == "metric":
        return _event(spec, path, src)
    if kind == "property":
        return _property(spec, path, src)
    extra = set(spec) - {kind}
    if extra:
        key = sorted(extra)[0]
        raise src.error(path + (key,), f"unexpected key {key!r} next to {kind!r}; put each condition in its own list item")
    value = spec[kind]
    if kind in ("any", "all"):
        if not isinstance(value, list) or not value:
            raise src.error(path + (kind,), f"expected a non-empty list of conditions, got {value!r}")
        if depth >= guard.MAX_GROUP_DEPTH:
            raise src.error(path + (kind,), f"any/all groups nested more than {guard.MAX_GROUP_DEPTH} deep; "
                                            "flatten them or split the definition with in_segment")
        inner = [_condition(c, path + (kind, i), src, depth + 1, budget) for i, c in enumerate(value)]
        return {"kind": "group", "match": kind, "conditions": inner, "path": path}
    if kind in ("in_segment", "not_in_segment"):
        if not isinstance(value, str) or not value.strip():
            raise src.error(path + (kind,), f"expected a segment name, got {value!r}")
        return {"kind": "segment", "segment": value.strip(), "negate": kind == "not_in_segment", "path": path}
    if kind == "can_receive":
        if value not in CHANNELS:
            raise src.error(path + (kind,), f"expected one of {list(CHANNELS)}, got {value!r}")
        return {"kind": "consent", "channel": value, "path": path}
    return _within(value, path + ("within",), src)


def _property(spec: Mapping, path: Path_, src: Source) -> dict:
    if isinstance(spec, Mapping) and str(spec.get("op")) in filters.RELATIVE_DATE_OPS | filters.FUTURE_DATE_OPS:
        # bounded (and an old month spelling warned about, once) before the shared parser sees it
        n, unit = _span(spec.get("value"), path + ("value",), src)
        spec = {**spec, "value": f"{int(n) if n == int(n) else n}{unit}"}
    try:
        f = filters.validate_filter(spec, format_path(path))
    except InputError as exc:
        raise InputError(f"{src.name}, line {src.line(path)}: {exc}") from None
    ordered = f["op"] in {">", ">=", "<", "<="}
    if ordered and (isinstance(f["value"], bool) or not isinstance(f["value"], (int, float, str, dt.date))):
        raise src.error(path + ("value",), f"operator {f['op']!r} needs a number or a date, got {f['value']!r}")
    if f["op"] in filters.RELATIVE_DATE_OPS | filters.FUTURE_DATE_OPS:
        f["span"] = _span(f["value"], path + ("value",), src)
    values = f["value"] if isinstance(f["value"], (list, tuple)) else [f["value"]]
    for v in values:
        why = (f"expected a finite number, got {v!r}" if isinstance(v, float) and not math.isfinite(v)
               else guard.check_date_range(v) if isinstance(v, dt.date) else None)
        if why:
            raise src.error(path + ("value",), why)
    return {"kind": "property", **f, "path": path}


def _event(spec: Mapping, path: Path_, src: Source) -> dict:
    src.check_keys(path, spec, EVENT_KEYS)
    metric = spec["metric"]
    if not isinstance(metric, str) or not metric.strip():
        raise src.error(path + ("metric",), f"expected a metric name such as 'Placed Order', got {metric!r}")
    if "count" in spec and "total" in spec:
        raise src.error(path + ("total",), "give either count (how many events) or total (sum of their value), not both")
    measure = "total" if "total" in spec else "count"
    compare = spec.get(measure, {"op": ">=", "value": 1})
    cpath = path + (measure,)
    if not isinstance(compare, Mapping) or set(compare) != {"op", "value"}:
        raise src.error(cpath, f"expected {{op: '>=', value: 1}} (keys op and value), got {compare!r}")
    if compare["op"] not in COUNT_OPS:
        raise src.error(cpath + ("op",), f"unknown operator {compare['op']!r}; expected one of {sorted(COUNT_OPS)}")
    number = compare["value"]
    if measure == "count" and (isinstance(number, bool) or not isinstance(number, int)
                               or not 0 <= number <= guard.MAX_COUNT):
        raise src.error(cpath + ("value",), f"expected a whole number of times from 0 to {guard.MAX_COUNT:,}, got {number!r}")
    if measure == "total" and (isinstance(number, bool) or not isinstance(number, (int, float))
                               or not math.isfinite(number) or abs(number) > guard.MAX_TOTAL):
        raise src.error(cpath + ("value",), f"expected a finite number of at most {guard.MAX_TOTAL:,.0f} in size, got {number!r}")
    when = _window(spec.get("when", {"all_time": True}), path + ("when",), src)
    where = spec.get("where", [])
    if not isinstance(where, list):
        raise src.error(path + ("where",), f"expected a list of property filters, got {where!r}")
    where_specs = []
    for i, w in enumerate(where):
        wf = _property(w, path + ("where", i), src)
        where_specs.append(wf)
    return {
        "kind": "event",
        "metric": metric.strip(),
        "measure": measure,
        "op": compare["op"],
        "value": number,
        "when": when,
        "where": where_specs,
        "path": path,
    }


def _span(text: Any, path: Path_, src: Source) -> tuple[float, str]:
    """'30d' -> (30.0, 'd'); units h, d, w (7 days), mo (30 days), y (365 days).

    The old month spelling 'm' is read as 'mo' with a DeprecatedSpellingWarning naming the file
    and line (cdp_lib.durations)."""
    try:
        n, unit = durations.parse_span(text, src.where(path), ("h", *WINDOW_UNIT_DAYS), legacy_months=True)
    except InputError:
        raise src.error(path, f"{text!r} is not a duration; expected a number and a unit h, d, w, mo or y, "
                              "e.g. '30d'") from None
    if unit != "h" and n != int(n):
        raise src.error(path, f"{text!r}: day-based windows count whole days; use a whole number or hours ('36h')")
    if _span_days((n, unit)) > guard.MAX_WINDOW_DAYS:
        raise src.error(path, f"{text!r} is longer than {guard.MAX_WINDOW_DAYS:,} days (100 years); "
                              "use {all_time: true} for no limit")
    return n, unit


def _date(value: Any, path: Path_, src: Source) -> dt.date:
    try:
        day = parse_date(value, "date")
    except InputError:
        day = None
    if day is None:
        raise src.error(path, f"expected a real date written YYYY-MM-DD, got {value!r}")
    why = guard.check_date_range(day)
    if why:
        raise src.error(path, why)
    return day


def _window(spec: Any, path: Path_, src: Source) -> dict:
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise src.error(path, f"expected exactly one of {list(WINDOW_KINDS)}, e.g. {{in_last: 30d}}, got {spec!r}")
    kind, value = next(iter(spec.items()))
    if kind not in WINDOW_KINDS:
        raise src.error(path + (kind,), f"unknown time window {kind!r}{suggest(kind, WINDOW_KINDS)}; expected one of {list(WINDOW_KINDS)}")
    vpath = path + (kind,)
    if kind == "all_time":
        if value is not True:
            raise src.error(vpath, f"expected true, got {value!r}")
        return {"kind": "all_time"}
    if kind == "in_last":
        return {"kind": "in_last", "span": _span(value, vpath, src)}
    if kind in ("before", "after"):
        return {"kind": kind, "date": _date(value, vpath, src)}
    if kind == "holiday":
        if value not in HOLIDAYS:
            raise src.error(vpath, f"unknown holiday {value!r}{suggest(value, HOLIDAYS)}; expected one of {list(HOLIDAYS)}")
        return {"kind": "holiday", "holiday": value}
    if not isinstance(value, list) or len(value) != 2:
        raise src.error(vpath, f"expected a list of two items, got {value!r}")
    if kind == "between_ago":
        older, newer = (_span(v, vpath + (i,), src) for i, v in enumerate(value))
        if _span_days(older) < _span_days(newer):
            raise src.error(vpath, f"the first item is the older end: write [{value[1]}, {value[0]}]")
        return {"kind": "between_ago", "start": older, "end": newer}
    first, last = (_date(v, vpath + (i,), src) for i, v in enumerate(value))
    if first > last:
        raise src.error(vpath, f"start {first} is after end {last}; write the earlier date first")
    return {"kind": "between", "start": first, "end": last}


def _span_days(span: tuple[float, str]) -> float:
    n, unit = span
    return n / 24 if unit == "h" else n * WINDOW_UNIT_DAYS[unit]


def _within(spec: Any, path: Path_, src: Source) -> dict:
    if not isinstance(spec, Mapping):
        raise src.error(path, f"expected {{miles: 30, of: {{lat: .., lon: ..}}}} or {{km: .., of: {{zip: ..}}}}, got {spec!r}")
    allowed = {"miles", "km", "of"}
    src.check_keys(path, spec, allowed)
    units = [u for u in ("miles", "km") if u in spec]
    if len(units) != 1:
        raise src.error(path, "give the distance in exactly one of 'miles' or 'km'")
    distance = spec[units[0]]
    if isinstance(distance, bool) or not isinstance(distance, (int, float)) or not math.isfinite(distance) \
            or distance <= 0:
        raise src.error(path + (units[0],), f"expected a positive finite number, got {distance!r}")
    km = float(distance) * (KM_PER_MILE if units[0] == "miles" else 1.0)
    of = spec.get("of")
    opath = path + ("of",)
    if isinstance(of, Mapping) and set(of) == {"lat", "lon"}:
        lat, lon = of["lat"], of["lon"]
        for key, val, lim in (("lat", lat, 90), ("lon", lon, 180)):
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val) or abs(val) > lim:
                raise src.error(opath + (key,), f"expected a number between -{lim} and {lim}, got {val!r}")
        return {"kind": "within", "km": km, "lat": float(lat), "lon": float(lon), "zip": None, "path": path[:-1]}
    if isinstance(of, Mapping) and set(of) == {"zip"}:
        if not isinstance(of["zip"], str):
            raise src.error(opath + ("zip",), f"write the postal code as quoted text (e.g. '02108'), got {of['zip']!r}")
        return {"kind": "within", "km": km, "lat": None, "lon": None, "zip": str(of["zip"]), "path": path[:-1]}
    raise src.error(opath, f"expected {{lat: 42.36, lon: -71.06}} or {{zip: '02108'}}, got {of!r}")
