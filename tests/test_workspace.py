import pandas as pd
import pytest

from cdp_lib import Workspace, WorkspaceError
from cdp_lib.testing import workspace_from_frames


def test_new_workspace_has_canonical_tables(tmp_ws):
    assert {"profiles", "events", "catalog", "identities", "merges", "quarantine", "ingests"} <= set(
        tmp_ws.con.list_tables()
    )
    assert tmp_ws.events.schema()["timestamp"].timezone == "UTC"


def test_read_only_open_of_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(WorkspaceError, match="does not exist; create it with 'cdp init'"):
        Workspace(tmp_path / "missing.duckdb", read_only=True)


def test_info_counts_events_per_metric():
    events = pd.DataFrame(
        {
            "profile_id": ["a", "a", "b"],
            "metric": ["Placed Order", "Viewed Product", "Placed Order"],
            "timestamp": ["2024-01-01", "2024-01-02T10:00:00Z", "2024-01-03"],
        }
    )
    info = workspace_from_frames(events=events).info()
    assert info["tables"] == {"profiles": 2, "events": 3, "catalog": 0}
    metrics = info["metrics"].set_index("metric")
    assert metrics.loc["Placed Order", "events"] == 2
    assert metrics.loc["Placed Order", "profiles"] == 2
    assert info["first_event"] == pd.Timestamp("2024-01-01", tz="UTC")
    assert info["last_event"] == pd.Timestamp("2024-01-03", tz="UTC")


def test_in_memory_workspace_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Workspace(":memory:").close()
    assert list(tmp_path.iterdir()) == []
