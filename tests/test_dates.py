import datetime as dt

import pytest

from cdp_lib.dates import parse_date
from cdp_lib.errors import InputError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("2025-06-30", dt.date(2025, 6, 30)),
        (dt.date(2025, 6, 30), dt.date(2025, 6, 30)),
        (dt.datetime(2025, 6, 30, 23, 59), dt.date(2025, 6, 30)),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value, "as_of") == expected


def test_parse_date_names_the_parameter():
    with pytest.raises(InputError, match=r"from_date: '30/06/2025' is not a date; expected YYYY-MM-DD"):
        parse_date("30/06/2025", "from_date")
