"""The lake export: layout, content equal to the workspace, incremental rewrites, bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_lib import InputError, Workspace
from cdp_lib.cli import main
from cdp_lib.lake import export_lake, read_manifest, table_files
from cdp_lib.testing import workspace_from_frames


def lake_frame(directory: Path, name: str) -> pd.DataFrame:
    """A table read back from the files the manifest lists, with plain pyarrow (no cdp code)."""
    manifest = json.loads((directory / "_lake.json").read_text())
    files = []
    for key, part in manifest["tables"][name]["partitions"].items():
        files += part["files"]
    frames = [pq.read_table(directory / f).to_pandas() for f in files]
    return pd.concat(frames, ignore_index=True)


def same_rows(a: pd.DataFrame, b: pd.DataFrame, key: list[str]) -> None:
    a = a.sort_values(key, kind="stable").reset_index(drop=True)
    b = b.sort_values(key, kind="stable").reset_index(drop=True)[list(a.columns)]
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def files_on_disk(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*.parquet")}


def manifest_files(directory: Path) -> set[str]:
    m = read_manifest(directory)
    return {f for t in m["tables"].values() for p in t["partitions"].values() for f in p["files"]}


def md5_bucket(value: str, n: int = 16) -> str:
    return f"{int(hashlib.md5(value.encode()).hexdigest()[:8], 16) % n:02d}"


def small_ws(events: list[tuple], profiles: list[tuple] | None = None) -> Workspace:
    ev = pd.DataFrame(events, columns=["event_id", "profile_id", "metric", "timestamp", "value"])
    pr = None
    if profiles is not None:
        pr = pd.DataFrame(profiles, columns=["profile_id", "email"])
    return workspace_from_frames(events=ev, profiles=pr)


def test_demo_store_lake_holds_exactly_the_workspace_tables(demo_store_path, tmp_path):
    lake = tmp_path / "lake"
    with Workspace(demo_store_path, read_only=True) as ws:
        result = export_lake(ws, lake)
        assert set(result.tables) == {"profiles", "events", "catalog", "identities"}
        for name, key in [("profiles", ["profile_id"]), ("catalog", ["product_id"]),
                          ("events", ["event_id"]), ("identities", ["kind", "value"])]:
            want = ws.table(name).to_pandas()
            got = lake_frame(lake, name)
            assert len(got) == len(want) > 0
            same_rows(got, want, key)
    # Events sit in the folder of their UTC date; profiles in the bucket of md5(profile_id).
    for path in (lake / "events").glob("event_date=*/*.parquet"):
        day = path.parent.name.split("=")[1]
        ts = pq.read_table(path).column("timestamp").to_pandas()
        assert {t.tz_convert("UTC").strftime("%Y-%m-%d") for t in ts} == {day}
    for path in (lake / "profiles").glob("bucket=*/*.parquet"):
        ids = pq.read_table(path).column("profile_id").to_pylist()
        assert {md5_bucket(i) for i in ids} == {path.parent.name.split("=")[1]}
    assert files_on_disk(lake) == manifest_files(lake)


def test_second_export_writes_nothing_when_nothing_changed(tmp_path):
    ws = small_ws([("e1", "p1", "Placed Order", "2025-01-01T23:59:59Z", 10.0),
                   ("e2", "p2", "Placed Order", "2025-01-02T00:00:00Z", 5.0)])
    first = export_lake(ws, tmp_path / "lake")
    assert first.tables["events"].written == ["2025-01-01", "2025-01-02"]
    before = files_on_disk(tmp_path / "lake")
    second = export_lake(ws, tmp_path / "lake")
    assert second.partitions_written == 0
    assert second.tables["events"].unchanged == 2
    assert files_on_disk(tmp_path / "lake") == before
    assert read_manifest(tmp_path / "lake")["exports"] == 2


def test_late_event_merge_and_deletion_rewrite_only_their_partitions(tmp_path):
    ws = small_ws([("e1", "p1", "Placed Order", "2025-01-01T10:00:00Z", 10.0),
                   ("e2", "p2", "Placed Order", "2025-01-02T10:00:00Z", 5.0),
                   ("e3", "p3", "Placed Order", "2025-01-03T10:00:00Z", 7.0)],
                  profiles=[("p1", "a@x.org"), ("p2", "b@x.org"), ("p3", "c@x.org")])
    lake = tmp_path / "lake"
    export_lake(ws, lake)
    db = ws.duckdb
    # A late event for an old date, an identity merge rewriting profile_id of an old event,
    # a deleted day and an updated profile.
    db.execute("INSERT INTO events (event_id, profile_id, metric, timestamp, value) "
               "VALUES ('e0', 'p1', 'Placed Order', TIMESTAMPTZ '2025-01-01 11:00:00+00', 1.0)")
    db.execute("UPDATE events SET profile_id = 'p1' WHERE event_id = 'e2'")
    db.execute("DELETE FROM events WHERE event_id = 'e3'")
    db.execute("UPDATE profiles SET email = 'new@x.org' WHERE profile_id = 'p3'")
    result = export_lake(ws, lake)
    assert result.tables["events"].written == ["2025-01-01", "2025-01-02"]
    assert result.tables["events"].removed == ["2025-01-03"]
    assert result.tables["profiles"].written == [md5_bucket("p3")]
    assert not (lake / "events" / "event_date=2025-01-03").exists()
    assert files_on_disk(lake) == manifest_files(lake)
    same_rows(lake_frame(lake, "events"), ws.events.to_pandas(), ["event_id"])
    same_rows(lake_frame(lake, "profiles"), ws.profiles.to_pandas(), ["profile_id"])


def test_repeated_identical_rows_count_as_a_change(tmp_path):
    ws = small_ws([("e1", "p1", "Placed Order", "2025-01-01T10:00:00Z", 10.0)])
    export_lake(ws, tmp_path / "lake")
    ws.duckdb.execute("INSERT INTO events SELECT * FROM events")
    result = export_lake(ws, tmp_path / "lake")
    assert result.tables["events"].written == ["2025-01-01"]
    assert len(lake_frame(tmp_path / "lake", "events")) == 2


def test_a_new_column_rewrites_the_table(tmp_path):
    ws = small_ws([("e1", "p1", "Placed Order", "2025-01-01T10:00:00Z", 10.0),
                   ("e2", "p1", "Placed Order", "2025-01-05T10:00:00Z", 10.0)])
    export_lake(ws, tmp_path / "lake")
    ws.duckdb.execute("ALTER TABLE events ADD COLUMN coupon VARCHAR")
    result = export_lake(ws, tmp_path / "lake")
    assert result.tables["events"].written == ["2025-01-01", "2025-01-05"]
    assert "coupon" in lake_frame(tmp_path / "lake", "events").columns
    assert files_on_disk(tmp_path / "lake") == manifest_files(tmp_path / "lake")


def test_empty_table_is_one_file_with_its_columns(tmp_path):
    ws = small_ws([("e1", "p1", "Placed Order", "2025-01-01T10:00:00Z", 10.0)])
    export_lake(ws, tmp_path / "lake")
    files = table_files(tmp_path / "lake", read_manifest(tmp_path / "lake"), "catalog")
    assert len(files) == 1
    t = pq.read_table(files[0])
    assert t.num_rows == 0 and t.column_names == ["product_id", "name", "category", "brand", "price"]


def test_result_tables_are_exported_when_present_or_named(tmp_path):
    ws = small_ws([("e1", "p1", "Placed Order", "2025-01-01T10:00:00Z", 10.0)])
    ws.duckdb.execute("CREATE TABLE rfm_snapshots AS SELECT DATE '2025-01-01' AS as_of, 'p1' AS profile_id")
    ws.duckdb.execute("CREATE TABLE my_scores AS SELECT 'p1' AS profile_id, 0.5 AS score")
    result = export_lake(ws, tmp_path / "lake")
    assert "rfm_snapshots" in result.tables and "my_scores" not in result.tables
    assert (tmp_path / "lake" / "rfm_snapshots" / "as_of=2025-01-01").is_dir()
    only = export_lake(ws, tmp_path / "lake", tables=["my_scores"])
    assert set(only.tables) == {"my_scores"}
    assert set(read_manifest(tmp_path / "lake")["tables"]) >= {"events", "rfm_snapshots", "my_scores"}


def test_full_export_rewrites_every_partition(tmp_path):
    ws = small_ws([("e1", "p1", "Placed Order", "2025-01-01T10:00:00Z", 10.0)])
    export_lake(ws, tmp_path / "lake")
    before = files_on_disk(tmp_path / "lake")
    result = export_lake(ws, tmp_path / "lake", incremental=False)
    assert result.tables["events"].written == ["2025-01-01"]
    after = files_on_disk(tmp_path / "lake")
    assert not (before & after) and after == manifest_files(tmp_path / "lake")


def test_bad_lake_folder_and_unknown_table_are_refused(tmp_path):
    ws = small_ws([("e1", "p1", "Placed Order", "2025-01-01T10:00:00Z", 10.0)])
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="neither empty nor a lake"):
        export_lake(ws, tmp_path / "busy")
    with pytest.raises(InputError, match="cannot export table 'evnts'"):
        export_lake(ws, tmp_path / "lake", tables=["evnts"])
    assert not (tmp_path / "lake").exists()
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]


def test_cli_export_lake_then_again_writes_nothing(demo_store_path, tmp_path, capsys):
    lake = tmp_path / "lake"
    assert main(["--db", str(demo_store_path), "export", "lake", str(lake), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["partitions_written"] > 100
    assert main(["--db", str(demo_store_path), "export", "lake", str(lake), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["partitions_written"] == 0
    (tmp_path / "file").write_text("x")
    assert main(["--db", str(demo_store_path), "export", "lake", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


DAYS = [f"2025-01-0{d}T{h:02d}:00:00Z" for d in range(1, 4) for h in (0, 12, 23)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.lists(st.tuples(st.sampled_from(["add", "delete", "move"]), st.integers(0, 8),
                                         st.sampled_from(["p1", "p2", "p3"])), max_size=4),
                      min_size=1, max_size=4))
def test_after_any_sequence_of_changes_the_lake_equals_the_workspace(tmp_path_factory, steps):
    lake = tmp_path_factory.mktemp("lake")
    ws = small_ws([("e0", "p1", "Placed Order", DAYS[0], 1.0)])
    n = 1
    for step in steps:
        for op, i, person in step:
            if op == "add":  # possibly a repeat of an existing row, possibly a late event
                ws.duckdb.execute("INSERT INTO events (event_id, profile_id, metric, timestamp, value) "
                                  "VALUES (?, ?, 'Placed Order', CAST(? AS TIMESTAMPTZ), 1.0)",
                                  [f"e{n % 3}", person, DAYS[i]])
                n += 1
            elif op == "delete":
                ws.duckdb.execute("DELETE FROM events WHERE timestamp = CAST(? AS TIMESTAMPTZ)", [DAYS[i]])
            else:
                ws.duckdb.execute("UPDATE events SET profile_id = ? WHERE timestamp = CAST(? AS TIMESTAMPTZ)",
                                  [person, DAYS[i]])
        export_lake(ws, lake)
        want = ws.events.to_pandas()
        got = lake_frame(lake, "events")
        if len(want):
            same_rows(got, want, ["event_id", "profile_id", "timestamp"])
        else:
            assert len(got) == 0
        assert files_on_disk(lake) == manifest_files(lake)
    ws.close()
