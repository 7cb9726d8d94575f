"""Property filters: each operator against a hand-written expectation."""

import pandas as pd
import pytest

from cdp_lib.errors import InputError
from cdp_lib.filters import parse_duration, validate_filter, where_expr
from cdp_lib.testing import workspace_from_frames

PROFILES = pd.DataFrame(
    {
        "profile_id": ["a", "b", "c", "d"],
        "city": ["Boston", "boston", None, "Portland"],
        "country": ["United States", "United States", "Canada", ""],
        "created_at": ["2024-01-01", "2024-03-01T12:00:00Z", "2024-06-01", None],
        "latitude": [42.36, 42.35, 45.5, None],
    }
)


@pytest.fixture(scope="module")
def profiles():
    return workspace_from_frames(profiles=PROFILES).profiles


def members(table, *specs, as_of=None):
    out = table.filter(where_expr(table, list(specs), as_of=as_of)).profile_id.execute()
    return sorted(out)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"property": "city", "op": "equals", "value": "Boston"}, ["a"]),
        ({"property": "city", "op": "equals", "value": "BOSTON", "case": "insensitive"}, ["a", "b"]),
        # negative operators hold for people without the property
        ({"property": "city", "op": "not_equals", "value": "Boston"}, ["b", "c", "d"]),
        ({"property": "city", "op": "contains", "value": "ost"}, ["a", "b"]),
        ({"property": "city", "op": "not_contains", "value": "ost"}, ["c", "d"]),
        ({"property": "city", "op": "starts_with", "value": "B"}, ["a"]),
        ({"property": "city", "op": "ends_with", "value": "land"}, ["d"]),
        ({"property": "country", "op": "in", "value": ["Canada", "Mexico"]}, ["c"]),
        ({"property": "country", "op": "not_in", "value": ["Canada"]}, ["a", "b", "d"]),
        # an empty string is not a value
        ({"property": "country", "op": "is_set"}, ["a", "b", "c"]),
        ({"property": "country", "op": "is_not_set"}, ["d"]),
        ({"property": "latitude", "op": ">", "value": 42.355}, ["a", "c"]),
        ({"property": "latitude", "op": "<=", "value": 42.35}, ["b"]),
        ({"property": "created_at", "op": ">=", "value": "2024-03-01"}, ["b", "c"]),
        ({"property": "created_at", "op": "<", "value": "2024-03-01T12:00:00Z"}, ["a"]),
    ],
)
def test_operator(profiles, spec, expected):
    assert members(profiles, spec) == expected


def test_in_last_counts_back_from_the_as_of_moment(profiles):
    as_of = pd.Timestamp("2024-06-02T00:00:00Z")
    spec = {"property": "created_at", "op": "in_last", "value": "1d"}
    assert members(profiles, spec, as_of=as_of) == ["c"]
    spec = {"property": "created_at", "op": "not_in_last", "value": "1d"}
    assert members(profiles, spec, as_of=as_of) == ["a", "b", "d"]


def test_filters_combine_with_and(profiles):
    assert members(
        profiles,
        {"property": "country", "op": "equals", "value": "United States"},
        {"property": "city", "op": "equals", "value": "boston"},
    ) == ["b"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"property": "city", "op": "like", "value": "x"}, r"where\[0\]\.op: unknown operator 'like'"),
        ({"property": "cty", "op": "equals", "value": "x"}, r"unknown property 'cty'; did you mean 'city'"),
        ({"property": "city", "op": "in", "value": "Boston"}, r"operator 'in' needs a list"),
        ({"property": "city", "op": "equals"}, r"operator 'equals' needs a value"),
        ({"property": "city", "op": "equals", "value": "x", "cased": 1}, r"unknown key 'cased'; did you mean 'case'\?; allowed: case, op, property, value"),
        ({"property": "city", "op": "contains", "value": 3}, r"operator 'contains' needs text"),
    ],
)
def test_bad_filters_say_where_and_what(profiles, spec, message):
    with pytest.raises(InputError, match=message):
        where_expr(profiles, [spec])


def test_validate_filter_normalises_case_default():
    assert validate_filter({"property": "x", "op": "is_set"}, "w")["case"] == "sensitive"


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600)])
def test_parse_duration(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


def test_parse_duration_rejects_unknown_unit():
    with pytest.raises(InputError, match=r"window: '3x' is not a duration"):
        parse_duration("3x", "window")
