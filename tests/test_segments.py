"""Segment engine vs a straightforward pandas evaluation of the same definitions.

The reference below re-implements the documented semantics (docs/segments.md) row by row in
pandas, independently of the Ibis compiler: windows anchored at the start of the as-of date,
negative operators holding for unset properties, zero counts including people without events.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_lib.errors import DeprecatedSpellingWarning, InputError, NotComputedError
from cdp_lib.segments import load_definition, members_table
from cdp_lib.testing import workspace_from_frames

AS_OF = "2025-06-17"

PROFILES = pd.DataFrame(
    {
        "profile_id": ["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"],
        "email": ["Ann@X.com", "bob@x.com", None, "", "eve@x.com", "fay@x.com", "gus@x.com", "hal@x.com"],
        "phone": ["+16175550101", None, "6175550103", None, "+447946095800", None, "617-555-0107", None],
        "first_name": ["Ann", "Bob", "Cid", "Dee", "Eve", "Fay", "Gus", "Hal"],
        "city": ["Boston", "boston", "Cambridge", None, "Toronto", "Portland", "New York", "Worcester"],
        "region": ["MA", "MA", "MA", "ME", "ON", "ME", "NY", "MA"],
        "country": ["US", "US", "US", "US", "CA", "US", "US", ""],
        "zip": ["02108", "02108", "02139", None, "M5V 2T6", "04101", "10001", "01602"],
        "latitude": [42.3601, 42.3611, 42.3736, None, 43.6532, 43.6591, 40.7128, 42.2626],
        "longitude": [-71.0589, -71.0600, -71.1097, None, -79.3832, -70.2568, -74.0060, -71.8023],
        "created_at": ["2024-01-01", "2025-06-14T00:00:00Z", "2025-06-13T23:59:59.999999Z", None,
                       "2025-05-18", "2025-06-17T23:59:59Z", "2023-03-01", "2025-06-01"],
        "email_consent": [True, True, True, True, False, None, True, True],
        "sms_consent": [True, False, True, None, True, True, True, None],
        "loyalty_tier": ["gold", "silver", "none", None, "gold", "none", "silver", "Gold"],
        "age": [34.0, 51.0, None, 22.0, 45.0, 29.0, 63.0, 38.0],
    }
)

CATALOG = pd.DataFrame(
    {
        "product_id": ["sh1", "tt1", "hd1"],
        "name": ["Coastal Shorts - Navy", "Breeze Tank Top - Coral", "Summit Hoodie - Grey"],
        "category": ["Apparel", "Apparel", "Apparel"],
        "brand": ["Northwind", "Lumen", "Northwind"],
        "product_type": ["Shorts", "Tank Top", "Hoodie"],
    }
)

_E = [  # profile, metric, timestamp, value, product, source
    ("p1", "Placed Order", "2025-06-14T00:00:00Z", 50.0, None, "web"),  # first instant of in_last 3d
    ("p1", "Placed Order", "2025-06-17T23:59:59.999999Z", 20.0, None, "POS"),  # last instant of as-of
    ("p1", "Ordered Product", "2025-06-14T00:00:00Z", 30.0, "sh1", "web"),
    ("p2", "Placed Order", "2025-06-13T23:59:59.999999Z", 80.0, None, "web"),  # just outside 3d
    ("p2", "Placed Order", "2025-06-18T00:00:00Z", 999.0, None, "web"),  # after the as-of moment
    ("p2", "Ordered Product", "2025-06-12T00:00:00Z", 40.0, "tt1", "web"),  # between_ago [5d,3d] start
    ("p3", "Placed Order", "2025-06-14T23:59:59.999999Z", 15.0, None, "web"),  # between_ago end
    ("p3", "Placed Order", "2025-06-15T00:00:00Z", 15.0, None, "web"),  # just after between_ago
    ("p3", "Placed Order", "2025-06-11T23:59:59Z", 15.0, None, "POS"),  # before between_ago
    ("p3", "Ordered Product", "2025-06-15T00:00:00Z", 12.0, "hd1", "web"),
    ("p4", "Opened Email", "2024-11-01T00:00:00Z", None, None, None),  # first instant of the day
    ("p4", "Opened Email", "2024-10-31T23:59:59.999999Z", None, None, None),
    ("p5", "Opened Email", "2024-11-01T23:59:59.999999Z", None, None, None),  # last instant
    ("p5", "Opened Email", "2024-11-02T00:00:00Z", None, None, None),
    ("p5", "Placed Order", "2024-11-24T00:00:00Z", 70.0, None, "web"),  # between start day
    ("p6", "Placed Order", "2024-12-02T23:59:59Z", 30.0, None, "web"),  # between end day
    ("p6", "Placed Order", "2024-12-03T00:00:00Z", 30.0, None, "web"),
    ("p6", "Ordered Product", "2024-12-03T00:00:00Z", 30.0, "tt1", "POS"),
    ("p7", "Opened Email", "2025-06-17T20:00:00Z", None, None, None),  # 4h before the moment
    ("p7", "Opened Email", "2025-06-17T11:59:59Z", None, None, None),  # just over 12h before
    ("p7", "Placed Order", "2025-03-19T00:00:00Z", 25.0, None, "web"),  # 90d start
    ("p8", "Placed Order", "2025-03-18T23:59:59Z", 25.0, None, "web"),
    ("p8", "Ordered Product", "2025-03-18T23:59:59Z", 25.0, "sh1", "web"),
    ("p8", "Ordered Product", "2025-03-18T23:59:59Z", 25.0, "sh1", "web"),
]
EVENTS = pd.DataFrame(_E, columns=["profile_id", "metric", "timestamp", "value", "product_id", "source"])
EVENTS.insert(0, "event_id", [f"e{i}" for i in range(len(EVENTS))])

RFM = pd.DataFrame({
    "profile_id": ["p1", "p2", "p3", "p5", "p7"],
    "current_rfm_group": ["Champions", "At Risk", "Needs Attention", "At Risk", "Loyal"],
    "previous_rfm_group": [None, "Loyal", "Recent", "Champions", None],
    "rfm_group_last_changed": pd.to_datetime(["2025-06-01", "2025-06-15", "2025-05-01", "2025-06-14", "2025-01-01"]).date,
})
CLV = pd.DataFrame({
    "profile_id": ["p1", "p2", "p3", "p5", "p6", "p7", "p8"],
    "predicted_clv": [120.0, 4.5, 5.0, 80.0, 2.0, 33.0, 0.0],
    "historic_clv": [70.0, 80.0, 45.0, 70.0, 60.0, 25.0, 25.0],
    "churn_probability": [0.1, 0.8, 0.5, 0.3, 0.9, 0.6, 0.95],
    "churn_risk": ["low", "high", "medium", "low", "high", "medium", "high"],
    "expected_next_order_date": pd.to_datetime(["2025-06-20", "2025-07-30", "2025-07-01", None, "2025-06-25", "2025-07-02", None]).date,
})
LIBRARY_SPECS = {
    "Buyers": {"name": "Buyers", "conditions": [{"metric": "Placed Order"}]},
    "Recent buyers": {"name": "Recent buyers", "conditions": [
        {"in_segment": "Buyers"}, {"metric": "Placed Order", "when": {"in_last": "30d"}}]},
    "Boston area": {"name": "Boston area", "conditions": [
        {"within": {"miles": 30, "of": {"lat": 42.3601, "lon": -71.0589}}}]},
}


@pytest.fixture(scope="module")
def ws():
    w = workspace_from_frames(profiles=PROFILES, events=EVENTS, catalog=CATALOG)
    w.write_table("rfm_profile_attributes", RFM)
    w.write_table("clv_predictions", CLV)
    yield w
    w.close()


@pytest.fixture(scope="module")
def library():
    return {k: load_definition(v) for k, v in LIBRARY_SPECS.items()}


# -- the reference -----------------------------------------------------------------------------
UNIT_DAYS = {"d": 1, "w": 7, "mo": 30, "m": 30, "y": 365}  # "m": the old month spelling


def _span(text):
    unit = text.lstrip("0123456789.")
    return float(text[: len(text) - len(unit)]), unit


class Reference:
    """Row-by-row pandas evaluation of a definition."""

    def __init__(self, as_of=AS_OF, library_specs=LIBRARY_SPECS):
        self.day0 = pd.Timestamp(as_of, tz="UTC")
        self.moment = self.day0 + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
        self.people = PROFILES.merge(RFM, on="profile_id", how="left").merge(CLV, on="profile_id", how="left")
        self.people["created_at"] = pd.to_datetime(self.people["created_at"], utc=True, format="ISO8601")
        ev = EVENTS.copy()
        ev["timestamp"] = pd.to_datetime(ev["timestamp"], utc=True, format="ISO8601")
        self.events = ev.merge(CATALOG.drop(columns=[]), on="product_id", how="left")
        self.library = library_specs

    def start(self, span):
        n, unit = _span(span)
        return self.moment - pd.Timedelta(hours=n) if unit == "h" else self.day0 - pd.Timedelta(days=n * UNIT_DAYS[unit])

    def members(self, spec) -> set[str]:
        mask = self.group(spec.get("match", "all"), spec["conditions"])
        return set(self.people.loc[mask, "profile_id"])

    def group(self, match, conds):
        masks = [self.cond(c) for c in conds]
        out = masks[0]
        for m in masks[1:]:
            out = (out & m) if match == "all" else (out | m)
        return out

    def cond(self, c) -> pd.Series:
        P = self.people
        if "any" in c or "all" in c:
            key = "any" if "any" in c else "all"
            return self.group(key, c[key])
        if "property" in c:
            return self.prop(P[c["property"]], c)
        if "can_receive" in c:
            ident, consent = ("email", "email_consent") if c["can_receive"] == "email" else ("phone", "sms_consent")
            has = P[ident].notna() & (P[ident].fillna("").str.strip() != "")
            return has & (P[consent] == True)  # noqa: E712 (null consent is no consent)
        if "within" in c:
            w = c["within"]
            km = w["miles"] * 1.609344 if "miles" in w else w["km"]
            if "zip" in w["of"]:
                same = P[(P["zip"] == w["of"]["zip"]) & P["latitude"].notna()]
                lat0, lon0 = same["latitude"].mean(), same["longitude"].mean()
            else:
                lat0, lon0 = w["of"]["lat"], w["of"]["lon"]
            return P.apply(lambda r: self.haversine(r.latitude, r.longitude, lat0, lon0) <= km, axis=1).astype(bool)
        if "in_segment" in c or "not_in_segment" in c:
            name = c.get("in_segment", c.get("not_in_segment"))
            inside = P["profile_id"].isin(self.members(self.library[name]))
            return ~inside if "not_in_segment" in c else inside
        return self.event(c)

    @staticmethod
    def haversine(lat, lon, lat0, lon0):
        if pd.isna(lat) or pd.isna(lon):
            return math.inf
        p1, p2 = math.radians(lat), math.radians(lat0)
        a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon0 - lon) / 2) ** 2
        return 2 * 6371.0088 * math.asin(math.sqrt(a))

    def prop(self, col: pd.Series, c) -> pd.Series:
        op, value = c["op"], c.get("value")
        values = col.astype(object).where(col.notna(), None)

        def one(x):
            unset = x is None or (isinstance(x, float) and math.isnan(x))
            if op == "is_set":
                return not unset and x != ""
            if op == "is_not_set":
                return unset or x == ""
            if op in ("in_last", "not_in_last"):
                inside = not unset and self.start(value) <= pd.Timestamp(x) <= self.moment
                return inside if op == "in_last" else not inside
            if op in ("in_next", "not_in_next"):
                n, unit = _span(value)
                end = (self.moment + pd.Timedelta(hours=n)) if unit == "h" else self.moment + pd.Timedelta(days=n * UNIT_DAYS[unit])
                begin = self.moment if unit == "h" else self.day0
                t = pd.Timestamp(x) if unset or pd.Timestamp(x).tzinfo else pd.Timestamp(x, tz="UTC")
                ahead = not unset and begin <= t <= end
                return ahead if op == "in_next" else not ahead
            if unset:
                return op in ("not_equals", "not_contains", "not_in", "!=")
            v, y = value, x
            if c.get("case") == "insensitive":
                y = y.lower() if isinstance(y, str) else y
                v = [i.lower() for i in v] if isinstance(v, list) else (v.lower() if isinstance(v, str) else v)
            if op in ("contains", "not_contains", "starts_with", "ends_with", "equals", "not_equals") and not isinstance(y, str):
                y = str(y) if op not in ("equals", "not_equals") else y
            if op == "equals":
                return y == v
            if op == "not_equals":
                return y != v
            if op == "contains":
                return v in y
            if op == "not_contains":
                return v not in y
            if op == "starts_with":
                return y.startswith(v)
            if op == "ends_with":
                return y.endswith(v)
            if op == "in":
                return y in v
            if op == "not_in":
                return y not in v
            if isinstance(y, pd.Timestamp):
                v = pd.Timestamp(v, tz="UTC") if pd.Timestamp(v).tzinfo is None else pd.Timestamp(v)
            elif hasattr(y, "isoformat") and isinstance(v, str):
                v = pd.Timestamp(v).date()
            return {">": y > v, ">=": y >= v, "<": y < v, "<=": y <= v, "==": y == v, "!=": y != v}[op]

        return values.map(one).astype(bool)

    def window(self, ts: pd.Series, when) -> pd.Series:
        keep = ts <= self.moment
        kind, value = next(iter(when.items()))
        day = lambda d: pd.Timestamp(d, tz="UTC")  # noqa: E731
        if kind == "in_last":
            keep &= ts >= self.start(value)
        elif kind == "between_ago":
            older, newer = value
            n, unit = _span(newer)
            if unit == "h":
                keep &= (ts >= self.start(older)) & (ts <= self.moment - pd.Timedelta(hours=n))
            else:
                keep &= (ts >= self.start(older)) & (ts < self.day0 - pd.Timedelta(days=n * UNIT_DAYS[unit] - 1))
        elif kind == "before":
            keep &= ts < day(value)
        elif kind == "after":
            keep &= ts >= day(value) + pd.Timedelta(days=1)
        elif kind == "between":
            keep &= (ts >= day(value[0])) & (ts < day(value[1]) + pd.Timedelta(days=1))
        return keep

    def event(self, c) -> pd.Series:
        ev = self.events[self.events["metric"] == c["metric"]]
        ev = ev[self.window(ev["timestamp"], c.get("when", {"all_time": True}))]
        for w in c.get("where", []):
            ev = ev[self.prop(ev[w["property"]], w).to_numpy()]
        measure = "total" if "total" in c else "count"
        compare = c.get(measure, {"op": ">=", "value": 1})
        per = ev.groupby("profile_id")["value"].agg("size" if measure == "count" else lambda s: s.fillna(0).sum())
        n = self.people["profile_id"].map(per).fillna(0)
        ops = {">=": n >= compare["value"], ">": n > compare["value"], "==": n == compare["value"],
               "!=": n != compare["value"], "<=": n <= compare["value"], "<": n < compare["value"]}
        return ops[compare["op"]]


def engine(ws, library, conditions, match="all", as_of=AS_OF) -> set[str]:
    d = load_definition({"name": "under test", "match": match, "conditions": conditions})
    return set(members_table(ws, d, as_of, library).execute().profile_id)


def check(ws, library, conditions, expected=None, match="all", as_of=AS_OF):
    got = engine(ws, library, conditions, match, as_of)
    ref = Reference(as_of).members({"match": match, "conditions": conditions})
    assert got == ref, f"engine {sorted(got)} != reference {sorted(ref)}"
    if expected is not None:
        assert got == set(expected)


# -- every condition type, operator and boundary, with the hand-computed answer ----------------
PROPERTY_CASES = [
    ({"property": "city", "op": "equals", "value": "Boston"}, ["p1"]),
    ({"property": "city", "op": "equals", "value": "BOSTON", "case": "insensitive"}, ["p1", "p2"]),
    ({"property": "city", "op": "not_equals", "value": "Boston"}, ["p2", "p3", "p4", "p5", "p6", "p7", "p8"]),
    ({"property": "city", "op": "contains", "value": "or"}, ["p5", "p6", "p7", "p8"]),
    ({"property": "city", "op": "not_contains", "value": "o"}, ["p3", "p4"]),
    ({"property": "city", "op": "starts_with", "value": "B"}, ["p1"]),
    ({"property": "city", "op": "ends_with", "value": "ON", "case": "insensitive"}, ["p1", "p2"]),
    ({"property": "region", "op": "in", "value": ["ME", "VT", "NH"]}, ["p4", "p6"]),
    ({"property": "region", "op": "not_in", "value": ["MA"]}, ["p4", "p5", "p6", "p7"]),
    ({"property": "country", "op": "is_set"}, ["p1", "p2", "p3", "p4", "p5", "p6", "p7"]),
    ({"property": "country", "op": "is_not_set"}, ["p8"]),
    ({"property": "loyalty_tier", "op": "equals", "value": "gold"}, ["p1", "p5"]),
    ({"property": "loyalty_tier", "op": "in", "value": ["GOLD"], "case": "insensitive"}, ["p1", "p5", "p8"]),
    ({"property": "age", "op": ">", "value": 45}, ["p2", "p7"]),
    ({"property": "age", "op": ">=", "value": 45}, ["p2", "p5", "p7"]),
    ({"property": "age", "op": "<", "value": 29}, ["p4"]),
    ({"property": "age", "op": "<=", "value": 29}, ["p4", "p6"]),
    ({"property": "created_at", "op": ">=", "value": "2025-06-14"}, ["p2", "p6"]),
    ({"property": "created_at", "op": "<", "value": "2025-06-14"}, ["p1", "p3", "p5", "p7", "p8"]),
    # in_last 3d with as-of 17 June: from 14 June 00:00 (p2 exactly), p3 one microsecond earlier
    ({"property": "created_at", "op": "in_last", "value": "3d"}, ["p2", "p6"]),
    ({"property": "created_at", "op": "in_last", "value": "30d"}, ["p2", "p3", "p5", "p6", "p8"]),
    ({"property": "created_at", "op": "not_in_last", "value": "30d"}, ["p1", "p4", "p7"]),
    ({"property": "current_rfm_group", "op": "in", "value": ["At Risk", "Needs Attention"]}, ["p2", "p3", "p5"]),
    ({"property": "previous_rfm_group", "op": "equals", "value": "Champions"}, ["p5"]),
    ({"property": "rfm_group_last_changed", "op": ">=", "value": "2025-06-14"}, ["p2", "p5"]),
    ({"property": "predicted_clv", "op": "<=", "value": 5}, ["p2", "p3", "p6", "p8"]),
    ({"property": "churn_probability", "op": ">", "value": 0.7}, ["p2", "p6", "p8"]),
    ({"property": "churn_risk", "op": "equals", "value": "high"}, ["p2", "p6", "p8"]),
    ({"property": "expected_next_order_date", "op": "<=", "value": "2025-07-01"}, ["p1", "p3", "p6"]),
    # in_next 14d with as-of 17 June: dates from 17 June to 1 July inclusive
    ({"property": "expected_next_order_date", "op": "in_next", "value": "14d"}, ["p1", "p3", "p6"]),
    ({"property": "expected_next_order_date", "op": "in_next", "value": "13d"}, ["p1", "p6"]),
    ({"property": "expected_next_order_date", "op": "not_in_next", "value": "2w"}, ["p2", "p4", "p5", "p7", "p8"]),
]


@pytest.mark.parametrize(("spec", "expected"), PROPERTY_CASES, ids=[f"{s['property']} {s['op']}" for s, _ in PROPERTY_CASES])
def test_property_operators_match_hand_computed_and_reference(ws, library, spec, expected):
    check(ws, library, [spec], expected)


EVENT_CASES = [
    # in_last 3d (as-of 17 June) starts at 14 June 00:00 and includes the as-of day's last instant
    ({"metric": "Placed Order", "when": {"in_last": "3d"}}, ["p1", "p3"]),
    ({"metric": "Placed Order", "count": {"op": ">=", "value": 2}, "when": {"in_last": "3d"}}, ["p1", "p3"]),
    # hours count back from the as-of moment, not whole days
    ({"metric": "Opened Email", "when": {"in_last": "12h"}}, ["p7"]),
    ({"metric": "Opened Email", "count": {"op": "==", "value": 2}, "when": {"in_last": "13h"}}, ["p7"]),
    # between_ago [5d, 3d]: whole days 12, 13 and 14 June
    ({"metric": "Placed Order", "when": {"between_ago": ["5d", "3d"]}}, ["p1", "p2", "p3"]),
    ({"metric": "Ordered Product", "when": {"between_ago": ["5d", "3d"]}}, ["p1", "p2"]),
    ({"metric": "Placed Order", "count": {"op": "==", "value": 1}, "when": {"between_ago": ["5d", "3d"]}}, ["p1", "p2", "p3"]),
    # before is strictly before the day's 00:00; after is strictly after its end
    ({"metric": "Opened Email", "when": {"before": "2024-11-01"}}, ["p4"]),
    ({"metric": "Opened Email", "when": {"after": "2024-11-01"}}, ["p5", "p7"]),
    ({"metric": "Opened Email", "count": {"op": "==", "value": 2}, "when": {"after": "2024-10-31"}}, ["p5", "p7"]),
    # between two dates includes both whole days
    ({"metric": "Placed Order", "when": {"between": ["2024-11-24", "2024-12-02"]}}, ["p5", "p6"]),
    ({"metric": "Placed Order", "count": {"op": "==", "value": 2}, "when": {"between": ["2024-11-24", "2024-12-03"]}}, ["p6"]),
    # 90d, 1m and 1w lengths
    ({"metric": "Placed Order", "when": {"in_last": "90d"}}, ["p1", "p2", "p3", "p7"]),
    ({"metric": "Placed Order", "when": {"in_last": "3m"}}, ["p1", "p2", "p3", "p7"]),
    ({"metric": "Placed Order", "when": {"in_last": "3mo"}}, ["p1", "p2", "p3", "p7"]),
    ({"metric": "Placed Order", "when": {"between_ago": ["4mo", "1mo"]}}, None),
    ({"metric": "Placed Order", "when": {"in_last": "1w"}}, ["p1", "p2", "p3"]),
    ({"metric": "Placed Order", "when": {"in_last": "1y"}}, ["p1", "p2", "p3", "p5", "p6", "p7", "p8"]),
    # zero times includes people with no events at all; events after the as-of are ignored
    ({"metric": "Placed Order", "count": {"op": "==", "value": 0}}, ["p4"]),
    ({"metric": "Placed Order", "count": {"op": "<", "value": 2}}, ["p2", "p4", "p5", "p7", "p8"]),
    ({"metric": "Placed Order", "count": {"op": "<=", "value": 1}}, ["p2", "p4", "p5", "p7", "p8"]),
    ({"metric": "Placed Order", "count": {"op": "!=", "value": 2}}, ["p2", "p3", "p4", "p5", "p7", "p8"]),
    ({"metric": "Placed Order", "count": {"op": ">", "value": 2}}, ["p3"]),
    ({"metric": "Placed Order", "count": {"op": "==", "value": 0}, "when": {"in_last": "7d"}}, ["p4", "p5", "p6", "p7", "p8"]),
    # totals sum the value; p2's 999 is after the as-of moment
    ({"metric": "Placed Order", "total": {"op": ">=", "value": 60}}, ["p1", "p2", "p5", "p6"]),
    ({"metric": "Placed Order", "total": {"op": "<", "value": 30}}, ["p4", "p7", "p8"]),
    # where filters on event columns and on catalog properties looked up by product_id
    ({"metric": "Placed Order", "where": [{"property": "source", "op": "equals", "value": "POS"}]}, ["p1", "p3"]),
    ({"metric": "Ordered Product", "where": [{"property": "product_type", "op": "equals", "value": "Shorts"}]}, ["p1", "p8"]),
    ({"metric": "Ordered Product", "where": [{"property": "name", "op": "contains", "value": "Tank"}]}, ["p2", "p6"]),
    ({"metric": "Ordered Product", "count": {"op": "==", "value": 0},
      "where": [{"property": "name", "op": "contains", "value": "Tank"}]}, ["p1", "p3", "p4", "p5", "p7", "p8"]),
    ({"metric": "Ordered Product", "count": {"op": ">=", "value": 2},
      "where": [{"property": "brand", "op": "equals", "value": "Northwind"}, {"property": "value", "op": ">", "value": 20}]}, ["p8"]),
    ({"metric": "Ordered Product", "where": [{"property": "category", "op": "equals", "value": "apparel", "case": "insensitive"},
                                             {"property": "source", "op": "not_equals", "value": "POS"}]}, ["p1", "p2", "p3", "p8"]),
]


@pytest.mark.parametrize(("spec", "expected"), EVENT_CASES, ids=[f"case{i}" for i in range(len(EVENT_CASES))])
def test_event_conditions_match_hand_computed_and_reference(ws, library, spec, expected):
    check(ws, library, [spec], expected)


def test_old_month_spelling_in_a_segment_file_warns_and_means_mo(ws, library, tmp_path):
    new = tmp_path / "new.yaml"
    new.write_text("name: X\nconditions:\n  - {metric: Placed Order, when: {between_ago: [4mo, 1mo]}}\n"
                   "  - {property: created_at, op: in_last, value: 13mo}\n")
    old = tmp_path / "old.yaml"
    old.write_text(new.read_text().replace("mo", "m"))
    with pytest.warns(DeprecatedSpellingWarning) as caught:
        d_old = load_definition(old)
    messages = [str(w.message) for w in caught]
    assert any(re.search(r"old.yaml, line 3: conditions\[0\]\.when\.between_ago\[0\]: '4m' .*write '4mo'", m) for m in messages)
    assert any(re.search(r"old.yaml, line 4: conditions\[1\]\.value: '13m' .*write '13mo'", m) for m in messages)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d_new = load_definition(new)
    assert d_old.conditions[0]["when"] == d_new.conditions[0]["when"]
    assert d_old.conditions[1]["span"] == d_new.conditions[1]["span"] == (13.0, "mo")
    got = [set(members_table(ws, d, AS_OF, library).execute().profile_id) for d in (d_old, d_new)]
    assert got[0] == got[1] and got[0]


def test_shipped_segment_library_uses_the_new_month_spelling():
    from pathlib import Path

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecatedSpellingWarning)
        for path in sorted(Path("parameters/segments").glob("*.yaml")):
            load_definition(path)


def test_as_of_in_the_past_reproduces_the_segment_then(ws, library):
    spec = [{"metric": "Placed Order", "when": {"in_last": "30d"}}]
    check(ws, library, spec, ["p5", "p6"], as_of="2024-12-10")
    check(ws, library, [{"metric": "Placed Order", "count": {"op": "==", "value": 0}}], ["p1", "p2", "p3", "p4", "p6", "p7", "p8"], as_of="2024-12-01")


OTHER_CASES = [
    ([{"within": {"miles": 30, "of": {"lat": 42.3601, "lon": -71.0589}}}], ["p1", "p2", "p3"]),
    ([{"within": {"km": 80, "of": {"lat": 42.3601, "lon": -71.0589}}}], ["p1", "p2", "p3", "p8"]),
    ([{"within": {"km": 1, "of": {"zip": "02108"}}}], ["p1", "p2"]),
    ([{"within": {"miles": 1000, "of": {"zip": "M5V 2T6"}}}], ["p1", "p2", "p3", "p5", "p6", "p7", "p8"]),
    ([{"can_receive": "email"}], ["p1", "p2", "p7", "p8"]),
    ([{"can_receive": "sms"}], ["p1", "p3", "p5", "p7"]),
    ([{"in_segment": "Buyers"}], ["p1", "p2", "p3", "p5", "p6", "p7", "p8"]),
    ([{"not_in_segment": "Buyers"}], ["p4"]),
    ([{"in_segment": "Buyers"}, {"not_in_segment": "Boston area"}], ["p5", "p6", "p7", "p8"]),
    ([{"in_segment": "Recent buyers"}, {"in_segment": "Boston area"}], ["p1", "p2", "p3"]),
    # nesting: AND of an OR and a NOT-segment, and an OR at the top
    ([{"any": [{"property": "country", "op": "equals", "value": "CA"},
               {"property": "region", "op": "in", "value": ["ME", "VT", "NH"]}]},
      {"metric": "Placed Order"}], ["p5", "p6"]),
    ([{"all": [{"can_receive": "email"}, {"any": [{"property": "age", "op": ">", "value": 60},
                                                   {"metric": "Placed Order", "when": {"in_last": "3d"}}]}]}],
     ["p1", "p7"]),
]


@pytest.mark.parametrize(("conditions", "expected"), OTHER_CASES, ids=[f"case{i}" for i in range(len(OTHER_CASES))])
def test_location_consent_segments_and_nesting(ws, library, conditions, expected):
    check(ws, library, conditions, expected)


def test_match_any_is_or(ws, library):
    conds = [{"property": "country", "op": "equals", "value": "CA"}, {"can_receive": "sms"}]
    check(ws, library, conds, ["p1", "p3", "p5", "p7"], match="any")


# -- property-based: random definitions, engine == reference -----------------------------------
_strings = {"city": ["Boston", "boston", "Portland", "o", "New"], "region": ["MA", "ME", "ON"],
            "country": ["US", "CA", ""], "loyalty_tier": ["gold", "Gold", "none"], "zip": ["02108", "0"]}


@st.composite
def property_conditions(draw):
    if draw(st.booleans()):
        prop = draw(st.sampled_from(sorted(_strings)))
        op = draw(st.sampled_from(["equals", "not_equals", "contains", "not_contains", "starts_with",
                                   "ends_with", "in", "not_in", "is_set", "is_not_set"]))
        spec = {"property": prop, "op": op}
        if op in ("in", "not_in"):
            spec["value"] = draw(st.lists(st.sampled_from(_strings[prop]), min_size=1, max_size=2))
        elif op not in ("is_set", "is_not_set"):
            spec["value"] = draw(st.sampled_from(_strings[prop]))
        if draw(st.booleans()) and op not in ("is_set", "is_not_set"):
            spec["case"] = "insensitive"
        return spec
    prop = draw(st.sampled_from(["age", "latitude", "predicted_clv", "churn_probability"]))
    return {"property": prop, "op": draw(st.sampled_from([">", ">=", "<", "<=", "==", "!="])),
            "value": draw(st.sampled_from([0, 5, 29, 42.3611, 45, 0.5, 80]))}


_windows = [{"all_time": True}, {"in_last": "3d"}, {"in_last": "12h"}, {"in_last": "1w"}, {"in_last": "90d"},
            {"between_ago": ["5d", "3d"]}, {"between_ago": ["1y", "2d"]}, {"between_ago": ["24h", "2h"]},
            {"before": "2024-11-01"}, {"after": "2024-11-01"}, {"between": ["2024-11-24", "2024-12-02"]},
            {"between": ["2025-06-14", "2025-06-14"]}]
_wheres = [[], [{"property": "source", "op": "equals", "value": "web"}],
           [{"property": "name", "op": "contains", "value": "Tank"}],
           [{"property": "brand", "op": "not_equals", "value": "Lumen"}],
           [{"property": "value", "op": ">=", "value": 25}]]


@st.composite
def event_conditions(draw):
    spec = {"metric": draw(st.sampled_from(["Placed Order", "Ordered Product", "Opened Email"])),
            "when": draw(st.sampled_from(_windows)), "where": draw(st.sampled_from(_wheres))}
    measure = draw(st.sampled_from(["count", "count", "total"]))
    spec[measure] = {"op": draw(st.sampled_from([">=", ">", "==", "!=", "<=", "<"])),
                     "value": draw(st.integers(0, 3)) if measure == "count" else draw(st.sampled_from([0, 25, 50.5]))}
    return spec


leaf = st.one_of(
    property_conditions(), event_conditions(),
    st.sampled_from([{"can_receive": "email"}, {"can_receive": "sms"},
                     {"within": {"miles": 30, "of": {"lat": 42.3601, "lon": -71.0589}}},
                     {"within": {"km": 5, "of": {"zip": "02108"}}},
                     {"in_segment": "Recent buyers"}, {"not_in_segment": "Boston area"}]),
)
conditions = st.recursive(
    leaf, lambda inner: st.builds(lambda k, xs: {k: xs}, st.sampled_from(["any", "all"]), st.lists(inner, min_size=1, max_size=3)),
    max_leaves=5,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conds=st.lists(conditions, min_size=1, max_size=3), match=st.sampled_from(["all", "any"]),
       as_of=st.sampled_from(["2025-06-17", "2024-12-02", "2025-06-14"]))
def test_random_definitions_engine_equals_reference(ws, library, conds, match, as_of):
    check(ws, library, conds, match=match, as_of=as_of)


# -- validation: messages point at the file, line and YAML path --------------------------------
def _yaml(tmp_path, text, name="bad.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


BAD = [
    ("name: X\nconditions:\n  - metric: Placed Order\n    count: {op: '=>', value: 1}\n",
     r"bad\.yaml, line 4: conditions\[0\]\.count\.op: unknown operator '=>'"),
    ("name: X\nconditoins: []\n", r"bad\.yaml, line 2: conditoins: unknown key 'conditoins'; did you mean 'conditions'\?"),
    ("name: X\nconditions:\n  - {property: city, op: equals, value: Boston}\n  - metric: Placed Order\n    when: {in_lats: 30d}\n",
     r"line 5: conditions\[1\]\.when\.in_lats: unknown time window 'in_lats'; did you mean 'in_last'\?"),
    ("name: X\nconditions:\n  - metric: Placed Order\n    when: {in_last: 30 days}\n",
     r"line 4: conditions\[0\]\.when\.in_last: '30 days' is not a duration"),
    ("name: X\nconditions:\n  - metric: Placed Order\n    count: {op: '>=', value: two}\n",
     r"line 4: conditions\[0\]\.count\.value: expected a whole number of times"),
    ("name: X\nconditions:\n  - any:\n      - {property: city, op: equals, value: A}\n      - {property: city, op: eq, value: B}\n",
     r"line 5: conditions\[0\]\.any\[1\]\.op: unknown operator 'eq'"),
    ("name: X\nconditions:\n  - {within: {miles: 30, of: {zip: 10001}}}\n",
     r"conditions\[0\]\.within\.of\.zip: write the postal code as quoted text"),
    ("name: X\nconditions:\n  - metric: Placed Order\n    when: {between: [2024-12-02, 2024-11-24]}\n",
     r"line 4: conditions\[0\]\.when\.between: start 2024-12-02 is after end 2024-11-24"),
    ("name: X\nconditions:\n  - metric: Placed Order\n    when: {between_ago: [3d, 5d]}\n",
     r"conditions\[0\]\.when\.between_ago: the first item is the older end"),
    ("name: X\nconditions:\n  - {has_done: Placed Order}\n",
     r"line 3: conditions\[0\]\.has_done: unknown condition key 'has_done'"),
    ("name: X\nconditions:\n  - {can_receive: fax}\n", r"conditions\[0\]\.can_receive: expected one of \['email', 'sms'\]"),
    ("name: X\nmatch: some\nconditions:\n  - {can_receive: sms}\n", r"line 2: match: expected 'all' \(AND\) or 'any' \(OR\)"),
    ("name: X\nconditions: [\n", r"bad\.yaml, line \d+: not valid YAML"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_definitions_point_to_file_line_and_path(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        load_definition(_yaml(tmp_path, text))


def test_unknown_names_are_checked_against_the_workspace(ws, library, tmp_path):
    cases = [
        ("name: X\nconditions:\n  - {metric: Placed Ordr}\n",
         r"line 3: conditions\[0\]\.metric: unknown metric 'Placed Ordr'; did you mean 'Placed Order'\?"),
        ("name: X\nconditions:\n  - {property: cuntry, op: equals, value: US}\n",
         r"line 3: conditions\[0\]\.property: unknown profile property 'cuntry'; did you mean 'country'"),
        ("name: X\nconditions:\n  - metric: Ordered Product\n    where: [{property: catgory, op: equals, value: A}]\n",
         r"line 4: conditions\[0\]\.where\[0\]\.property: unknown event property 'catgory'; did you mean 'category'"),
        ("name: X\nconditions:\n  - {in_segment: Buyer}\n",
         r"line 3: conditions\[0\]\.in_segment: unknown segment 'Buyer'; did you mean 'Buyers'"),
        ("name: X\nconditions:\n  - {within: {km: 3, of: {zip: '99999'}}}\n",
         r"conditions\[0\]\.within\.of\.zip: no profile with postal code '99999' has coordinates"),
    ]
    for text, message in cases:
        with pytest.raises(InputError, match=message):
            members_table(ws, load_definition(_yaml(tmp_path, text)), AS_OF, library)


def test_computed_attribute_before_it_is_computed_names_the_command(tmp_path):
    bare = workspace_from_frames(profiles=PROFILES, events=EVENTS, catalog=CATALOG)
    d = load_definition(_yaml(tmp_path, "name: X\nconditions:\n  - {property: predicted_clv, op: '<=', value: 5}\n"))
    with pytest.raises(NotComputedError, match=r"line 3: conditions\[0\]: 'predicted_clv' is a computed attribute .* run 'cdp clv' first"):
        members_table(bare, d, AS_OF, {})
    d = load_definition({"name": "Y", "conditions": [{"property": "current_rfm_group", "op": "equals", "value": "At Risk"}]})
    with pytest.raises(NotComputedError, match=r"run 'cdp rfm' first"):
        members_table(bare, d, AS_OF, {})


def test_cycles_between_segments_are_rejected(ws, tmp_path):
    from cdp_lib.segments import load_library

    folder = tmp_path / "segs"
    folder.mkdir()
    (folder / "a.yaml").write_text("name: A\nconditions:\n  - {in_segment: B}\n")
    (folder / "b.yaml").write_text("name: B\ndescription: loops\nconditions:\n  - {can_receive: sms}\n  - {not_in_segment: A}\n")
    with pytest.raises(InputError, match=r"b\.yaml, line 5: conditions\[1\]: segments refer to each other in a cycle \(A -> B -> A\)"):
        load_library(folder)


def test_values_are_bound_as_literals_not_sql(ws, library):
    evil = "x'); DROP TABLE profiles; --"
    assert engine(ws, library, [{"property": "city", "op": "equals", "value": evil}]) == set()
    assert engine(ws, library, [{"metric": "Placed Order", "where": [{"property": "source", "op": "in", "value": [evil, "POS"]}]}]) == {"p1", "p3"}
    assert ws.profiles.count().execute() == len(PROFILES)


def test_definition_from_yaml_text_and_saved_round_trip(ws, library, tmp_path):
    from cdp_lib.segments import count_members, load_library, save_definition

    text = "name: Engaged buyers\ndescription: test\nconditions:\n  - {metric: Placed Order, when: {in_last: 3d}}\n"
    d = load_definition(text)
    path = save_definition(d, tmp_path)
    assert path.name == "engaged_buyers.yaml"
    again = load_library(tmp_path)["Engaged buyers"]
    assert count_members(ws, again, AS_OF, library) == 2
    with pytest.raises(InputError, match="already exists"):
        save_definition(d, tmp_path)


def test_haversine_matches_a_published_distance():
    # Boston (42.3601, -71.0589) to New York (40.7128, -74.0060): about 306 km great-circle.
    assert Reference.haversine(42.3601, -71.0589, 40.7128, -74.0060) == pytest.approx(306, abs=2)
    d = np.array([Reference.haversine(42.3601, -71.0589, 42.3601, -71.0589)])
    assert d[0] == 0


# -- recurring holiday windows (issue 9, item 6) ------------------------------------------------
def _bfcm_by_counting(day):
    """The latest Friday-after-the-fourth-November-Thursday .. Monday ending on or before `day`,
    found by walking the calendar backwards one day at a time."""
    import datetime as dt

    d = day
    while True:
        if d.month == 11 and d.weekday() == 4:
            thursdays = sum(1 for k in range(1, d.day) if dt.date(d.year, 11, k).weekday() == 3)
            if thursdays == 4 and (d - dt.timedelta(days=1)).weekday() == 3:
                if d + dt.timedelta(days=3) <= day:
                    return d, d + dt.timedelta(days=3)
        d -= dt.timedelta(days=1)


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=pd.Timestamp("1950-01-01").date(), max_value=pd.Timestamp("2150-12-31").date()))
def test_last_black_friday_cyber_monday_matches_a_calendar_walk(day):
    from cdp_lib.dates import last_holiday

    assert last_holiday("black_friday_cyber_monday", day) == _bfcm_by_counting(day)


@pytest.mark.parametrize(("as_of", "members"), [
    ("2024-12-02", {"h1", "h2"}),  # the window ends on the as-of date: BFCM 2024 (29 Nov - 2 Dec)
    ("2024-12-01", {"h0"}),  # not over yet: BFCM 2023 (24-27 Nov)
    ("2025-06-30", {"h1", "h2"}),
    ("2025-12-01", {"h3"}),  # BFCM 2025: 28 Nov - 1 Dec
])
def test_holiday_window_moves_with_the_as_of_date(as_of, members):
    events = pd.DataFrame([
        ("h0", "Placed Order", "2023-11-27T23:59:59Z"), ("h1", "Placed Order", "2024-11-29T00:00:00Z"),
        ("h2", "Placed Order", "2024-12-02T23:59:59.999999Z"), ("h9", "Placed Order", "2024-12-03T00:00:00Z"),
        ("h9", "Placed Order", "2024-11-28T23:59:59Z"), ("h3", "Placed Order", "2025-11-28T12:00:00Z"),
    ], columns=["profile_id", "metric", "timestamp"])
    events.insert(0, "event_id", [f"x{i}" for i in range(len(events))])
    hws = workspace_from_frames(events=events)
    try:
        d = load_definition({"name": "H", "conditions": [{"metric": "Placed Order", "when": {"holiday": "black_friday_cyber_monday"}}]})
        assert set(members_table(hws, d, as_of, {}).execute().profile_id) == members
    finally:
        hws.close()


def test_unknown_holiday_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"line 3: conditions\[0\]\.when\.holiday: unknown holiday 'black_friday'"):
        load_definition(_yaml(tmp_path, "name: X\nconditions:\n  - {metric: Placed Order, when: {holiday: black_friday}}\n"))
