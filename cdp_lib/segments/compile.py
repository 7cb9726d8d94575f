"""Compile segment definitions to Ibis: one boolean expression over profiles, literals bound.

Each condition becomes a boolean column over the profiles table: properties and consent are
column filters, proximity is a haversine distance, and "what someone has done" is a semi-join
(`profile_id IN (people whose count satisfies the comparison)`) or, when zero events satisfy the
comparison (`== 0`, `< 3`, ...), an anti-join against the people whose count does not, so people
with no events at all are included without materialising a per-person count.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import cached_property
from typing import Any, Mapping

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib import filters, metrics
from cdp_lib.errors import NotComputedError
from cdp_lib.dates import as_of_end, last_holiday
from cdp_lib.segments.definition import WINDOW_UNIT_DAYS, SegmentDefinition, suggest
from cdp_lib.segments.spells import current_members
from cdp_lib.workspace import Workspace

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG), as used by the haversine formula

# Computed attributes usable as properties: name -> (table, command that computes it).
RFM_ATTRIBUTES = ("current_rfm_group", "previous_rfm_group", "rfm_group_last_changed")
CLV_ATTRIBUTES = (
    "historic_clv", "predicted_clv", "total_clv", "historic_orders", "predicted_orders",
    "average_order_value", "average_days_between_orders", "p_alive", "churn_probability",
    "churn_risk", "expected_next_order_date", "predicted_gender",
)
CATALOG_ATTRIBUTES = ("next_best_product", "best_cross_sell_date")
COMPUTED = {
    **{a: ("rfm_profile_attributes", "cdp rfm") for a in RFM_ATTRIBUTES},
    **{a: ("clv_predictions", "cdp clv") for a in CLV_ATTRIBUTES},
    **{a: ("catalog_profile_attributes", "cdp catalog-insights") for a in CATALOG_ATTRIBUTES},
}

_COMPARE = {
    ">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b,
}


class Facts:
    """What a workspace holds (metrics, columns, tables), looked up once per evaluation."""

    def __init__(self, ws: Workspace):
        self.ws = ws

    @cached_property
    def tables(self) -> set[str]:
        return set(self.ws.con.list_tables())

    @cached_property
    def custom_metrics(self) -> dict:
        return metrics.load_metrics()

    @cached_property
    def metrics(self) -> set[str]:
        return set(metrics.known_metric_names(self.ws)) | set(self.custom_metrics)

    def table(self, name: str) -> ir.Table:
        """A workspace table, looked up once (each lookup asks the engine for its schema)."""
        cache = self.__dict__.setdefault("_tables", {})
        if name not in cache:
            cache[name] = self.ws.table(name)
        return cache[name]

    @cached_property
    def profile_columns(self) -> set[str]:
        return set(self.table("profiles").columns)

    @cached_property
    def event_columns(self) -> set[str]:
        return set(self.table("events").columns)

    @cached_property
    def catalog_columns(self) -> set[str]:
        return set(self.table("catalog").columns) if "catalog" in self.tables else set()

    @cached_property
    def stored_segments(self) -> set[str]:
        """Segments with stored membership (refreshed ones and samples)."""
        if "segment_membership" not in self.tables:
            return set()
        t = self.ws.table("segment_membership")
        return set(t.select("segment").distinct().segment.execute())


# -- validation against a workspace ------------------------------------------------------------
def check_definition(ws: Workspace, definition: SegmentDefinition, library: Mapping | None = None,
                     facts: Facts | None = None) -> None:
    """Check the names a definition uses (metrics, properties, segments) against `ws`.

    Raises `InputError` pointing at the YAML node, or `NotComputedError` naming the command that
    computes a computed attribute that is not in the workspace yet.
    """
    facts = facts or Facts(ws)
    library = library or {}
    for cond in definition.iter_conditions():
        path, kind = cond["path"], cond["kind"]
        if kind == "property":
            _check_property(definition, cond, facts)
        elif kind == "event":
            if cond["metric"] not in facts.metrics:
                raise definition.error(
                    path + ("metric",),
                    f"unknown metric {cond['metric']!r}{suggest(cond['metric'], facts.metrics)}; "
                    "'cdp info' lists the metrics in the workspace",
                )
            known = facts.event_columns | facts.catalog_columns
            for i, w in enumerate(cond["where"]):
                if w["property"] not in known:
                    raise definition.error(
                        path + ("where", i, "property"),
                        f"unknown event property {w['property']!r}{suggest(w['property'], known)}; "
                        "event columns and catalog columns (looked up by product_id) are allowed",
                    )
        elif kind == "segment":
            name = cond["segment"]
            if name not in library and name not in facts.stored_segments:
                known = set(library) | facts.stored_segments
                raise definition.error(
                    path + ("not_in_segment" if cond["negate"] else "in_segment",),
                    f"unknown segment {name!r}{suggest(name, known)}; "
                    "expected the name of a definition in the library or of a stored sample",
                )
        elif kind == "within" and cond["zip"] is None:
            pass


def _check_property(definition: SegmentDefinition, cond: dict, facts: Facts) -> None:
    prop = cond["property"]
    if prop in facts.profile_columns:
        return
    if prop in COMPUTED:
        table, command = COMPUTED[prop]
        if table not in facts.tables or prop not in facts.table(table).columns:
            raise NotComputedError(
                f"{definition.source.where(cond['path'])}: {prop!r} is a computed attribute that is "
                f"not in the workspace yet; run '{command}' first"
            )
        return
    known = facts.profile_columns | set(COMPUTED)
    raise definition.error(
        cond["path"] + ("property",),
        f"unknown profile property {prop!r}{suggest(prop, known)}; "
        "profile columns (including custom ones) and computed attributes are allowed",
    )


# -- evaluation --------------------------------------------------------------------------------
class Compiler:
    """Turns definitions into Ibis tables of `profile_id` for one workspace and one as-of moment."""

    def __init__(self, ws: Workspace, as_of: dt.date | str | None = None, library: Mapping | None = None,
                 resolved: dict[str, ir.Table] | None = None, facts: Facts | None = None,
                 attributes: Mapping[str, ir.Table] | None = None):
        """`attributes` replaces computed-attribute tables by name (e.g. RFM attributes as they
        were at a past date, for a backfill); by default the stored tables are read."""
        self.ws = ws
        self.attributes = dict(attributes or {})
        self.moment = as_of_end(as_of)
        self.day0 = self.moment.normalize()  # start of the as-of date: anchor of whole-day windows
        self.library = dict(library or {})
        self.resolved = resolved if resolved is not None else {}
        self.facts = facts or Facts(ws)
        self._stack: list[str] = []

    # public ------------------------------------------------------------------------------
    def members(self, definition: SegmentDefinition) -> ir.Table:
        """Ibis table with one column `profile_id`: the members of `definition`."""
        check_definition(self.ws, definition, self.library, self.facts)
        self._stack.append(definition.name)
        try:
            people = self._people(definition)
            cond = self._combine(definition.match, definition.conditions, people, definition)
        finally:
            self._stack.pop()
        return people.filter(cond).select("profile_id")

    # people table: profiles plus the computed attributes the definition uses -------------
    def _people(self, definition: SegmentDefinition) -> ir.Table:
        people = self.facts.table("profiles")
        used = {c["property"] for c in definition.iter_conditions() if c["kind"] == "property"}
        needed: dict[str, list[str]] = {}
        for prop in sorted(used - set(people.columns)):
            needed.setdefault(COMPUTED[prop][0], []).append(prop)
        for table, cols in needed.items():
            attrs = self.attributes[table] if table in self.attributes else self.facts.table(table)
            attrs = attrs.select(_seg_key=attrs.profile_id, **{c: attrs[c] for c in cols})
            people = people.left_join(attrs, people.profile_id == attrs._seg_key).drop("_seg_key")
        return people

    def _combine(self, match: str, conditions: list[dict], people: ir.Table, d: SegmentDefinition) -> ir.BooleanValue:
        parts = [self._condition(c, people, d) for c in conditions]
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if match == "all" else (out | p)
        return out

    def _condition(self, c: dict, people: ir.Table, d: SegmentDefinition) -> ir.BooleanValue:
        kind = c["kind"]
        if kind == "group":
            return self._combine(c["match"], c["conditions"], people, d)
        if kind == "property":
            return self._property(people[c["property"]], c)
        if kind == "consent":
            return consent_expr(people, c["channel"])
        if kind == "within":
            return self._within(c, people, d)
        if kind == "segment":
            sub = self._segment(c["segment"], d, c["path"])
            inside = people.profile_id.isin(sub.profile_id)
            return ~inside if c["negate"] else inside
        return self._event(c, people)

    def _property(self, column: ir.Column, c: dict) -> ir.BooleanValue:
        if c["op"] in filters.RELATIVE_DATE_OPS:
            ts = column.cast("timestamp('UTC')") if not column.type().is_timestamp() else column
            start = self.window_start(c["span"])
            inside = ((ts >= start) & (ts <= ibis.literal(self.moment))).fill_null(False)
            return inside if c["op"] == "in_last" else ~inside
        if c["op"] in filters.FUTURE_DATE_OPS:
            ts = column.cast("timestamp('UTC')") if not column.type().is_timestamp() else column
            n, unit = c["span"]
            if unit == "h":
                start, end = self.moment, self.moment + pd.Timedelta(hours=n)
            else:  # whole days: the rest of the as-of date and the next n days
                start, end = self.day0, self.day0 + pd.Timedelta(days=n * WINDOW_UNIT_DAYS[unit] + 1) - pd.Timedelta(microseconds=1)
            ahead = ((ts >= ibis.literal(start)) & (ts <= ibis.literal(end))).fill_null(False)
            return ahead if c["op"] == "in_next" else ~ahead
        return filters.filter_expr(column, c, ibis.literal(self.moment))

    def window_start(self, span: tuple[float, str]) -> ir.TimestampValue:
        """Start of a relative window: hours back from the as-of moment, or whole days back from
        the start of the as-of date (as-of 17 June, 3d -> 14 June 00:00)."""
        n, unit = span
        if unit == "h":
            return ibis.literal(self.moment - pd.Timedelta(hours=n))
        return ibis.literal(self.day0 - pd.Timedelta(days=n * WINDOW_UNIT_DAYS[unit]))

    def window_end(self, span: tuple[float, str]) -> tuple[ir.TimestampValue, bool]:
        """Newer end of `between_ago`: (moment, inclusive?)."""
        n, unit = span
        if unit == "h":
            return ibis.literal(self.moment - pd.Timedelta(hours=n)), True
        return ibis.literal(self.day0 - pd.Timedelta(days=n * WINDOW_UNIT_DAYS[unit] - 1)), False

    def time_filter(self, ts: ir.TimestampColumn, when: dict) -> ir.BooleanColumn:
        """Rows of `ts` inside the window, never after the as-of moment."""
        cond = ts <= ibis.literal(self.moment)
        kind = when["kind"]
        if kind == "in_last":
            cond &= ts >= self.window_start(when["span"])
        elif kind == "between_ago":
            end, inclusive = self.window_end(when["end"])
            cond &= (ts >= self.window_start(when["start"])) & ((ts <= end) if inclusive else (ts < end))
        elif kind == "before":
            cond &= ts < ibis.literal(_midnight(when["date"]))
        elif kind == "after":
            cond &= ts >= ibis.literal(_midnight(when["date"] + dt.timedelta(days=1)))
        elif kind in ("between", "holiday"):
            first, last = (when["start"], when["end"]) if kind == "between" else last_holiday(
                when["holiday"], self.day0.date())
            cond &= (ts >= ibis.literal(_midnight(first))) & (ts < ibis.literal(_midnight(last + dt.timedelta(days=1))))
        return cond

    def event_measure(self, c: dict) -> ir.Table:
        """Per person (`profile_id`, `n`): count or total value of the condition's events."""
        if c["metric"] in self.facts.custom_metrics:
            ev = metrics.events_for(self.ws, c["metric"], self.facts.custom_metrics)
        else:  # a raw event name (checked already): skip events_for's per-call name lookup
            ev = self.facts.table("events")
            ev = ev.filter(ev.metric == c["metric"])
        from_catalog = sorted({w["property"] for w in c["where"]} - set(ev.columns))
        if from_catalog:
            cat = self.facts.table("catalog")
            cat = cat.select(_seg_pid=cat.product_id, **{p: cat[p] for p in from_catalog})
            cat = cat.distinct(on="_seg_pid", keep="first")
            ev = ev.left_join(cat, ev.product_id == cat._seg_pid).drop("_seg_pid")
        cond = self.time_filter(ev.timestamp, c["when"]) & ev.profile_id.notnull()
        for w in c["where"]:
            cond &= self._property(ev[w["property"]], w)
        ev = ev.filter(cond)
        measure = ev.count() if c["measure"] == "count" else ev.value.fill_null(0).sum()
        return ev.group_by("profile_id").agg(n=measure)

    def _event(self, c: dict, people: ir.Table) -> ir.BooleanValue:
        per_person = self.event_measure(c)
        compare = _COMPARE[c["op"]]
        if compare(0, c["value"]):  # people without such events satisfy it: anti-join the others
            failing = per_person.filter(~compare(per_person.n, c["value"]))
            return ~people.profile_id.isin(failing.profile_id)
        passing = per_person.filter(compare(per_person.n, c["value"]))
        return people.profile_id.isin(passing.profile_id)

    def _within(self, c: dict, people: ir.Table, d: SegmentDefinition) -> ir.BooleanValue:
        lat0, lon0 = c["lat"], c["lon"]
        if c["zip"] is not None:
            lat0, lon0 = zip_coordinates(self.ws, c["zip"], d, c["path"])
        lat, lon = people.latitude.radians(), people.longitude.radians()
        phi0, lam0 = math.radians(lat0), math.radians(lon0)
        a = ((lat - phi0) / 2).sin() ** 2 + lat.cos() * math.cos(phi0) * ((lon - lam0) / 2).sin() ** 2
        distance = 2 * EARTH_RADIUS_KM * a.sqrt().asin()
        return (distance <= c["km"]).fill_null(False)

    def _segment(self, name: str, d: SegmentDefinition, path) -> ir.Table:
        if name in self.resolved:
            return self.resolved[name]
        if name in self._stack:
            cycle = " -> ".join([*self._stack[self._stack.index(name):], name])
            raise d.error(path, f"segments refer to each other in a cycle ({cycle}); remove one of the references")
        if name in self.library:
            table = self.members(self.library[name])
        else:
            table = current_members(self.ws, name)
        self.resolved[name] = table
        return table


def consent_expr(people: ir.Table, channel: str) -> ir.BooleanValue:
    """`can_receive`: a non-blank address (email, or phone for sms) and a consent that is true."""
    ident, consent = ("email", "email_consent") if channel == "email" else ("phone", "sms_consent")
    has = people[ident].notnull() & (people[ident].strip() != "")
    return (has & people[consent].fill_null(False)).fill_null(False)


def _midnight(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize("UTC")


def zip_coordinates(ws: Workspace, zip_code: str, d: SegmentDefinition, path) -> tuple[float, float]:
    """Mean coordinates of the workspace's profiles with this postal code."""
    p = ws.profiles
    row = p.filter((p.zip == zip_code) & p.latitude.notnull() & p.longitude.notnull()).aggregate(
        lat=p.latitude.mean(), lon=p.longitude.mean()
    ).execute().iloc[0]
    if pd.isna(row["lat"]):
        raise d.error(
            path + ("within", "of", "zip"),
            f"no profile with postal code {zip_code!r} has coordinates, so its location is unknown; "
            "use {lat: .., lon: ..} instead",
        )
    return float(row["lat"]), float(row["lon"])


def members_table(ws: Workspace, definition: SegmentDefinition | Mapping | str, as_of: Any = None,
                  library: Mapping | None = None) -> ir.Table:
    """Members of a definition (object, mapping, YAML file or text) as an Ibis table of `profile_id`.

    `library` (name -> definition) resolves `in_segment` references; names not in it fall back
    to stored membership (samples). `as_of` is a date (the end of that day, UTC) or None (the
    end of today, UTC): `cdp_lib.dates.as_of_end`, the rule every analysis uses.
    """
    from cdp_lib.segments.definition import load_definition

    if not isinstance(definition, SegmentDefinition):
        definition = load_definition(definition)
    if library is None:
        from cdp_lib.segments.library import load_library

        library = load_library(missing_ok=True)
    return Compiler(ws, as_of, library).members(definition)


def count_members(ws: Workspace, definition, as_of: Any = None, library: Mapping | None = None) -> int:
    """Number of members of a definition."""
    return int(members_table(ws, definition, as_of, library).count().execute())
