"""One duration grammar and one unit table (cdp_lib.durations): `m` is minutes, months are `mo`."""

import datetime as dt
import re
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdp_lib.durations import UNIT_SECONDS, parse_duration, parse_span
from cdp_lib.errors import DeprecatedSpellingWarning, InputError

# The reference table, written out independently of the module's.
SECONDS = {"s": 1, "m": 60, "h": 60 * 60, "d": 24 * 60 * 60, "w": 7 * 24 * 60 * 60,
           "mo": 30 * 24 * 60 * 60, "y": 365 * 24 * 60 * 60}


def test_the_unit_table():
    assert UNIT_SECONDS == SECONDS


@pytest.mark.parametrize(("text", "seconds"), [
    ("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600), ("3mo", 90 * 86400),
    ("1y", 365 * 86400), ("45s", 45), ("1.5h", 5400), (" 7d ", 604800), (".5d", 43200),
])
def test_examples(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(SECONDS)))
def test_whole_numbers_any_unit(n, unit):
    assert parse_duration(f"{n}{unit}") == dt.timedelta(seconds=n * SECONDS[unit])
    assert parse_span(f"{n}{unit}") == (float(n), unit)


@given(st.integers(min_value=0, max_value=99999), st.integers(min_value=0, max_value=999), st.sampled_from(sorted(SECONDS)))
def test_decimal_numbers(whole, frac, unit):
    text = f"{whole}.{frac:03d}{unit}"
    assert parse_span(text) == (float(f"{whole}.{frac:03d}"), unit)


def _reference_is_duration(text: str) -> bool:
    # plain loop: optional blanks, digits with at most one dot, a known unit, optional blanks
    s = text.strip(" \t\n\r\f\v")
    i = 0
    while i < len(s) and (s[i] in "0123456789."):
        i += 1
    number, unit = s[:i], s[i:]
    digits = number.replace(".", "", 1)
    return (unit in SECONDS and number.count(".") <= 1 and digits != "" and digits.isascii()
            and digits.isdigit())


@given(st.text(alphabet="0123456789.smhdwoy x-", max_size=8))
def test_grammar_matches_a_plain_reference(text):
    if _reference_is_duration(text):
        assert parse_duration(text).total_seconds() >= 0
    else:
        with pytest.raises(InputError, match=re.escape(f"w: {text!r} is not a duration")):
            parse_duration(text, "w")


@pytest.mark.parametrize("bad", ["", "d", "7", "-1d", "7 d", "7days", "3x", "1e3d", True, None, "7D"])
def test_rejects(bad):
    with pytest.raises(InputError, match="is not a duration"):
        parse_duration(bad, "window")


def test_units_limit_and_name_what_is_allowed():
    with pytest.raises(InputError, match=r"unit 'm' is not allowed here; expected one of h \(hours\), d \(days\)"):
        parse_span("30m", "in_last", ("h", "d"))


def test_legacy_months_read_as_mo_and_warn_naming_the_new_spelling():
    with pytest.warns(DeprecatedSpellingWarning, match=r"seg.yaml, line 3: '4m' counts months as 'm'.*write '4mo'"):
        assert parse_span("4m", "seg.yaml, line 3", ("h", "d", "w", "mo", "y"), legacy_months=True) == (4.0, "mo")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_span("4mo", "x", legacy_months=True) == (4.0, "mo")  # the new spelling is silent
        assert parse_span("4m", "x") == (4.0, "m")  # minutes where there is no legacy


def test_the_warning_is_shown_to_people_by_default():
    # a FutureWarning, not a DeprecationWarning: Python's default filters show it outside tests
    assert issubclass(DeprecatedSpellingWarning, FutureWarning)
    assert not issubclass(DeprecatedSpellingWarning, DeprecationWarning)
