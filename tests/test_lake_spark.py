"""The Spark side of a lake: what a session sees after opening one lake, then another."""

from __future__ import annotations

import pytest

from cdp_lib import Workspace
from cdp_lib.lake import export_lake
from cdp_lib.testing import workspace_from_frames

pytestmark = [pytest.mark.spark]


def small_lake(folder, with_result: bool):
    import pandas as pd

    ws = workspace_from_frames(
        profiles=pd.DataFrame({"profile_id": ["a"], "email": ["a@x.test"]}),
        events=pd.DataFrame({"profile_id": ["a"], "metric": ["Placed Order"],
                             "timestamp": [pd.Timestamp("2025-01-02", tz="UTC")], "value": [10.0]}),
    )
    tables = ["profiles", "events"]
    if with_result:
        ws.duckdb.execute("CREATE TABLE segment_refreshes AS SELECT 'x' AS segment, TIMESTAMPTZ '2025-06-30' AS as_of")
        tables.append("segment_refreshes")
    export_lake(ws, folder, tables=tables)
    ws.close()
    return folder


def test_a_second_lake_does_not_see_the_first_lakes_results(spark_session, tmp_path):
    first = Workspace.from_spark(small_lake(tmp_path / "one", with_result=True), session=spark_session)
    assert first.has_table("segment_refreshes")
    second = Workspace.from_spark(small_lake(tmp_path / "two", with_result=False), session=spark_session)
    assert not second.has_table("segment_refreshes")
    assert second.table("events").count().execute() == 1
