"""Metric references: a raw event name or a named custom metric from `parameters/metrics/*.yaml`.

`events_for(ws, metric)` is the one way analyses select the events of a metric, so custom
metrics become usable everywhere (RFM, CLV, funnels, cohorts, audience performance) at once.

A custom metric file holds one metric::

    name: Placed Order (online only)
    aggregation: count          # count | value
    groups:                     # events of every group are combined
      - metric: Placed Order    # a raw event name
        where:                  # property filters, same operators as segment conditions
          - {property: source, op: not_equals, value: POS}
        value_property: value   # numeric column that becomes the event's `value`

An event that matches several groups is taken once, from the first group it matches, so
overlapping groups never double-count revenue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import ibis
import ibis.expr.types as ir
import yaml

from cdp_lib.errors import InputError
from cdp_lib.filters import filter_expr, validate_filter
from cdp_lib.keys import check_keys, suggest
from cdp_lib.workspace import Workspace

# Repository checkout layout: <root>/cdp_lib/metrics.py and <root>/parameters/metrics/.
DEFAULT_METRICS_DIR = Path(__file__).resolve().parent.parent / "parameters" / "metrics"
AGGREGATIONS = ("count", "value")
METRIC_KEYS = {"name", "description", "aggregation", "groups"}
GROUP_KEYS = {"metric", "where", "value_property"}


@dataclass(frozen=True)
class MetricGroup:
    """One source of events: a raw event name, property filters, the column giving `value`."""

    metric: str
    where: tuple[dict, ...] = ()
    value_property: str = "value"


@dataclass(frozen=True)
class CustomMetric:
    """A named metric combining one or more event groups; `aggregation` is count or value."""

    name: str
    groups: tuple[MetricGroup, ...]
    aggregation: str = "count"
    description: str = ""
    source: str = field(default="", compare=False)  # file it was read from, for messages


def parse_metric(spec: Any, where: str) -> CustomMetric:
    """Validate one metric definition (a mapping); `where` names the file for messages."""
    if not isinstance(spec, Mapping):
        raise InputError(f"{where}: expected a mapping with 'name' and 'groups', got {type(spec).__name__}")
    check_keys(where, spec, METRIC_KEYS)
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}: name: expected the metric's name as text, got {name!r}")
    aggregation = spec.get("aggregation", "count")
    if aggregation not in AGGREGATIONS:
        raise InputError(f"{where}: aggregation: expected one of {list(AGGREGATIONS)}, got {aggregation!r}")
    groups = spec.get("groups")
    if not isinstance(groups, list) or not groups:
        raise InputError(f"{where}: groups: expected a non-empty list of {{metric, where, value_property}}")
    parsed = []
    for i, group in enumerate(groups):
        at = f"{where}: groups[{i}]"
        if not isinstance(group, Mapping):
            raise InputError(f"{at}: expected a mapping with 'metric', got {group!r}")
        check_keys(at, group, GROUP_KEYS)
        metric = group.get("metric")
        if not isinstance(metric, str) or not metric:
            raise InputError(f"{at}.metric: expected a raw event name, got {metric!r}")
        filters = group.get("where") or []
        if not isinstance(filters, list):
            raise InputError(f"{at}.where: expected a list of property filters, got {filters!r}")
        checked = tuple(validate_filter(f, f"{at}.where[{j}]") for j, f in enumerate(filters))
        value_property = group.get("value_property", "value")
        if not isinstance(value_property, str) or not value_property:
            raise InputError(f"{at}.value_property: expected a column name, got {value_property!r}")
        parsed.append(MetricGroup(metric, checked, value_property))
    return CustomMetric(name.strip(), tuple(parsed), aggregation, str(spec.get("description", "")), where)


def load_metrics(directory: str | Path | None = None) -> dict[str, CustomMetric]:
    """All custom metrics defined in `directory` (default `parameters/metrics/`), by name."""
    folder = Path(directory) if directory is not None else DEFAULT_METRICS_DIR
    out: dict[str, CustomMetric] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.y*ml")):
        try:
            spec = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
        metric = parse_metric(spec, str(path))
        if metric.name in out:
            raise InputError(
                f"{path}: metric {metric.name!r} is already defined in {out[metric.name].source}; "
                "give one of them another name"
            )
        out[metric.name] = metric
    return out


def known_metric_names(ws: Workspace) -> list[str]:
    """Raw event names present in the workspace."""
    ev = ws.events
    return sorted(ev.select("metric").distinct().metric.execute().dropna())


def _event_filter(table: ir.Table, group: MetricGroup, where: str) -> ir.BooleanColumn:
    cond = table.metric == group.metric
    for j, spec in enumerate(group.where):
        prop = spec["property"]
        if prop not in table.columns:
            raise InputError(f"{where}.where[{j}].property: unknown property {prop!r}{suggest(prop, table.columns)}")
        cond = cond & filter_expr(table[prop], spec)
    return cond


def _with_catalog(ws: Workspace, ev: ir.Table, metric: CustomMetric) -> ir.Table:
    """Events plus catalog properties (name, category, brand...) that the filters mention."""
    wanted = {f["property"] for g in metric.groups for f in g.where} - set(ev.columns)
    if not wanted or not ws.has_table("catalog"):
        return ev
    cat = ws.catalog
    extra = [c for c in cat.columns if c in wanted]
    if not extra:
        return ev
    cat = cat.select("product_id", *extra).distinct(on="product_id", keep="first")
    joined = ev.left_join(cat, ev.product_id == cat.product_id)
    return joined.select(*[joined[c] for c in ev.columns], *[joined[c] for c in extra])


def custom_metric_events(ws: Workspace, metric: CustomMetric) -> ir.Table:
    """Events of a custom metric: each event once, `metric` set to the custom metric's name."""
    ev = ws.events
    base_columns = list(ev.columns)
    table = _with_catalog(ws, ev, metric)
    parts = []
    earlier: list[tuple[MetricGroup, ir.BooleanColumn]] = []
    for i, group in enumerate(metric.groups):
        where = f"{metric.source or metric.name}: groups[{i}]"
        if group.value_property not in table.columns:
            raise InputError(f"{where}.value_property: unknown column {group.value_property!r}"
                             f"{suggest(group.value_property, table.columns)}")
        if not table[group.value_property].type().is_numeric():
            raise InputError(
                f"{where}.value_property: column {group.value_property!r} is "
                f"{table[group.value_property].type()}, expected a number"
            )
        cond = _event_filter(table, group, where)
        keep = cond
        for _, prev in earlier:  # first matching group wins: no event counted twice
            keep = keep & ~prev
        earlier.append((group, cond))
        part = table.filter(keep).mutate(
            metric=ibis.literal(metric.name),
            value=table[group.value_property].cast("float64"),
        )
        parts.append(part.select(*base_columns))
    return ibis.union(*parts) if len(parts) > 1 else parts[0]


def resolve_metric(ws: Workspace, ref: str, metrics: Mapping[str, CustomMetric] | None = None) -> CustomMetric | None:
    """The custom metric called `ref`, None for a raw event name; InputError when neither.

    A raw name is accepted when the workspace has events of it, or when the workspace has no
    events at all (nothing to check against; analyses then report their own empty-data errors).
    """
    if not isinstance(ref, str) or not ref.strip():
        raise InputError(f"metric: expected an event name or custom metric name, got {ref!r}")
    metrics = load_metrics() if metrics is None else metrics
    if ref in metrics:
        return metrics[ref]
    raw = known_metric_names(ws)
    if not raw or ref in raw:
        return None
    known = raw + sorted(metrics)
    raise InputError(
        f"metric {ref!r} is neither an event name in the workspace nor a custom metric in "
        f"parameters/metrics/{suggest(ref, known, cutoff=0.5)}; known: {', '.join(known[:20])}{' ...' if len(known) > 20 else ''}"
    )


def events_for(ws: Workspace, metric: str, metrics: Mapping[str, CustomMetric] | None = None) -> ir.Table:
    """Events of `metric` (a raw event name or a custom metric name) with the event columns.

    The result always has the `events` columns, among them profile_id, timestamp, value,
    event_id and metric; for a custom metric, `metric` holds its name and `value` its
    `value_property`. `metrics` overrides the definitions read from `parameters/metrics/`.
    """
    custom = resolve_metric(ws, metric, metrics)
    if custom is not None:
        return custom_metric_events(ws, custom)
    ev = ws.events
    return ev.filter(ev.metric == metric)


def metric_aggregation(metric: str, metrics: Mapping[str, CustomMetric] | None = None) -> str:
    """'count' or 'value': how reports aggregate `metric` (raw event names count)."""
    metrics = load_metrics() if metrics is None else metrics
    return metrics[metric].aggregation if metric in metrics else "count"
