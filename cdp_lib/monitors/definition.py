"""Monitor definitions: parse and validate `parameters/monitors/*.yaml`, errors pointing into the file.

A monitor is plain data (docs/monitors.md)::

    name: Orders down 30% week over week
    kind: metric                 # metric | segment | flow
    metric: Placed Order         # metric: raw or custom metric; segment: `segment`; flow: `flow_id`
    match: all                   # all (AND) | any (OR) of at most two conditions
    repeat_every_days: null      # alert again every N days while an episode lasts; null: once
    conditions:
      - measure: count           # see MEASURES
        aggregate: sum           # sum | average (per day); rates are pooled over the period
        period_days: 7           # the last N days ending on the as-of date
        compare: relative_change # value | relative_change | absolute_change
        direction: down          # up | down (changes only)
        op: ">="
        threshold: 30            # a number; percent for relative_change
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cdp_lib.errors import InputError
from cdp_lib.keys import suggest
from cdp_lib.segments.definition import Source

KINDS = ("metric", "segment", "flow")
TARGET_KEY = {"metric": "metric", "segment": "segment", "flow": "flow_id"}
COUNT_MEASURES = {
    "metric": ("count", "value"),
    "segment": ("members", "added", "removed"),
    "flow": ("delivered",),
}
RATE_MEASURES = ("open_rate", "click_rate", "bounce_rate", "unsubscribe_rate", "conversion_rate")
MEASURES = {**COUNT_MEASURES, "flow": COUNT_MEASURES["flow"] + RATE_MEASURES}
AGGREGATES = ("sum", "average")
COMPARES = ("value", "relative_change", "absolute_change")
DIRECTIONS = ("up", "down")
OPS = (">", ">=", "<", "<=")
MATCHES = ("all", "any")
MAX_CONDITIONS = 2
MAX_PERIOD_DAYS = 183
TOP_KEYS = {"name", "description", "kind", "metric", "segment", "flow_id", "match", "conditions",
            "repeat_every_days", "enabled"}
CONDITION_KEYS = {"measure", "aggregate", "period_days", "compare", "direction", "op", "threshold"}


def default_folder() -> str:
    """`parameters/monitors/` of the project folder (`cdp_lib.project`)."""
    from cdp_lib.project import project_root

    return str(project_root() / "parameters" / "monitors")


DEFAULT_FOLDER = default_folder()  # as found on first import; readers call default_folder()


@dataclass(frozen=True)
class Condition:
    """One rule: a measure aggregated over the last `period_days`, compared with `threshold`."""

    measure: str
    aggregate: str  # sum | average | rate (pooled, for rate measures)
    period_days: int
    compare: str
    op: str
    threshold: float
    direction: str | None = None

    def describe(self) -> str:
        what = self.measure if self.aggregate in ("sum", "rate") else f"daily average {self.measure}"
        span = f"over the last {self.period_days} day(s)"
        if self.compare == "value":
            return f"{what} {span} {self.op} {self.threshold:g}"
        unit = "%" if self.compare == "relative_change" else ""
        return (f"{what} {span} {'rose' if self.direction == 'up' else 'fell'} by {self.op} "
                f"{self.threshold:g}{unit} against the previous {self.period_days} day(s)")


@dataclass(frozen=True)
class MonitorDefinition:
    """A validated monitor; `target` is the metric, segment or flow_id it watches."""

    name: str
    kind: str
    target: str
    conditions: tuple[Condition, ...]
    match: str = "all"
    repeat_every_days: int | None = None
    description: str = ""
    enabled: bool = True
    source: Source = field(default_factory=Source, compare=False, repr=False)

    @property
    def longest_period(self) -> int:
        return max(c.period_days for c in self.conditions)


def _whole(source: Source, path: tuple, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum and value > maximum):
        upper = f" and <= {maximum}" if maximum else ""
        raise source.error(path, f"expected a whole number >= {minimum}{upper}, got {value!r}")
    return value


def _choice(source: Source, path: tuple, value: Any, allowed) -> str:
    if value not in allowed:
        raise source.error(path, f"expected one of {list(allowed)}, got {value!r}{suggest(value, allowed)}")
    return value


def _keys(source: Source, path: tuple, data: dict, allowed: set[str]) -> None:
    source.check_keys(path, data, allowed)


def _condition(source: Source, kind: str, path: tuple, raw: Any) -> Condition:
    if not isinstance(raw, dict):
        raise source.error(path, f"expected a mapping with measure, period_days, compare, op and threshold, got {raw!r}")
    _keys(source, path, raw, CONDITION_KEYS)
    for key in ("measure", "period_days", "op", "threshold"):
        if key not in raw:
            raise source.error(path, f"missing required key {key!r}")
    measure = _choice(source, path + ("measure",), raw["measure"], MEASURES[kind])
    if measure in RATE_MEASURES:
        aggregate = raw.get("aggregate", "rate")
        if aggregate != "rate":
            raise source.error(path + ("aggregate",), f"{measure} is pooled over the period (numerator "
                                                      f"events / denominator events); leave out aggregate or write 'rate', got {aggregate!r}")
    else:
        aggregate = _choice(source, path + ("aggregate",), raw.get("aggregate", "sum"), AGGREGATES)
    period = _whole(source, path + ("period_days",), raw["period_days"], 1, MAX_PERIOD_DAYS)
    compare = _choice(source, path + ("compare",), raw.get("compare", "value"), COMPARES)
    direction = raw.get("direction")
    if compare == "value":
        if direction is not None:
            raise source.error(path + ("direction",), "direction applies to relative_change and absolute_change only")
    else:
        direction = _choice(source, path + ("direction",), direction, DIRECTIONS)
    op = _choice(source, path + ("op",), raw["op"], OPS)
    threshold = raw["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise source.error(path + ("threshold",), f"expected a number, got {threshold!r}")
    return Condition(measure, aggregate, period, compare, op, float(threshold), direction)


def parse_monitor(data: Any, source: Source | None = None) -> MonitorDefinition:
    """Validate one monitor mapping; errors name the file, line and YAML path."""
    source = source or Source()
    if not isinstance(data, dict):
        raise source.error((), "expected a mapping with name, kind and conditions")
    _keys(source, (), data, TOP_KEYS)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise source.error(("name",), f"expected the monitor's name as text, got {name!r}")
    kind = _choice(source, ("kind",), data.get("kind"), KINDS)
    key = TARGET_KEY[kind]
    for other in set(TARGET_KEY.values()) - {key}:
        if other in data:
            raise source.error((other,), f"a {kind} monitor names its target with {key!r}, not {other!r}")
    target = data.get(key)
    if not isinstance(target, str) or not target.strip():
        raise source.error((key,), f"a {kind} monitor needs {key!r}: the name it watches")
    match = _choice(source, ("match",), data.get("match", "all"), MATCHES)
    raw_conditions = data.get("conditions")
    if not isinstance(raw_conditions, list) or not 1 <= len(raw_conditions) <= MAX_CONDITIONS:
        raise source.error(("conditions",), f"expected a list of 1 or {MAX_CONDITIONS} conditions, got {raw_conditions!r}")
    conditions = tuple(_condition(source, kind, ("conditions", i), c) for i, c in enumerate(raw_conditions))
    repeat = data.get("repeat_every_days")
    if repeat is not None:
        repeat = _whole(source, ("repeat_every_days",), repeat, 1)
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise source.error(("enabled",), f"expected true or false, got {enabled!r}")
    return MonitorDefinition(name.strip(), kind, target.strip(), conditions, match, repeat,
                             str(data.get("description") or ""), enabled, source)


def parse_monitor_yaml(text: str, name: str = "<monitor>") -> MonitorDefinition:
    """Parse YAML text, keeping line numbers for messages."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{name}: not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_monitor(data, Source(name, root))


def load_monitors(folder: str | os.PathLike | None = None, enabled_only: bool = False) -> dict[str, MonitorDefinition]:
    """Every monitor in `folder` (default `parameters/monitors/`), by name, in file order."""
    path = Path(folder or default_folder())
    if not path.is_dir():
        raise InputError(f"monitor folder {path} not found; create it with one YAML file per monitor (docs/monitors.md)")
    out: dict[str, MonitorDefinition] = {}
    for file in sorted(path.glob("*.y*ml")):
        monitor = parse_monitor_yaml(file.read_text(), str(file))
        if monitor.name in out:
            raise InputError(f"{file}: monitor {monitor.name!r} is already defined in {out[monitor.name].source.name}; "
                             "give one of them another name")
        if monitor.enabled or not enabled_only:
            out[monitor.name] = monitor
    return out
