"""Predicted gender from first names (SSA birth shares, 0.9 threshold)."""

from __future__ import annotations

import pandas as pd
import pytest

from cdp_lib import gender
from cdp_lib.testing import workspace_from_frames


@pytest.mark.parametrize("name, expected", [
    ("Mary", "likely_female"), (" JOHN ", "likely_male"), ("linda", "likely_female"),
    ("Jordan", "uncertain"),  # male share 0.76: between the cut-offs
    ("Alex", "likely_male"),  # 0.93 >= 0.9
    ("Kim", "likely_female"),  # 0.08 <= 0.1
    ("Zorblax", "uncertain"), ("", "uncertain"), (None, "uncertain"),
])
def test_classify(name, expected):
    assert gender.classify(name) == expected


def test_threshold_is_inclusive_at_point_nine(monkeypatch):
    monkeypatch.setitem(gender.MALE_SHARE, "testname", 0.9)
    monkeypatch.setitem(gender.MALE_SHARE, "othername", 0.1)
    monkeypatch.setitem(gender.MALE_SHARE, "middlename", 0.89)
    assert gender.classify("testname") == "likely_male"
    assert gender.classify("othername") == "likely_female"
    assert gender.classify("middlename") == "uncertain"


def test_table_is_compact_and_shares_are_probabilities():
    assert 300 <= len(gender.MALE_SHARE) <= 1000
    assert all(0 <= v <= 1 for v in gender.MALE_SHARE.values())
    assert all(k == k.strip().lower() for k in gender.MALE_SHARE)


def test_engine_join_matches_python_rule():
    names = ["Mary", " JOHN ", "Jordan", None, "Zorblax", "mary"]
    ws = workspace_from_frames(profiles=pd.DataFrame({"profile_id": [f"p{i}" for i in range(6)], "first_name": names}))
    out = gender.with_predicted_gender(ws.profiles.select("profile_id", "first_name")).order_by("profile_id").execute()
    assert out["predicted_gender"].tolist() == [gender.classify(n) for n in names]
    assert list(out.columns) == ["profile_id", "first_name", "predicted_gender"]
