"""Warehouse sync out and import in, against a real PostgreSQL server, a DuckDB target and a lake.

Every test ends by comparing the whole target table with the workspace table, row by row.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pandas as pd
import pytest

from cdp_lib import Workspace
from cdp_lib.cli import main
from cdp_lib.errors import InputError, NotComputedError
from cdp_lib.ingest import ingest_file
from cdp_lib.sync import SyncParams, status, sync
from cdp_lib.sync.importer import import_table

sys.path.insert(0, str(Path(__file__).parent))
from _postgres import pg_url, postgres  # noqa: E402,F401  (fixtures)

KEYS = {"profiles": ["profile_id"], "events": ["event_id"], "segment_membership": ["segment", "profile_id", "joined_at"]}


# -- helpers -----------------------------------------------------------------------------------
def _norm(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    df = df.copy()
    for c in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[c]):
            s = df[c]
            s = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
            df[c] = s.dt.as_unit("us")
        else:  # nullable, numpy and object dtypes alike: plain values, None for missing
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df.sort_values(key).reset_index(drop=True)


def source_frame(db_path: Path, table: str) -> pd.DataFrame:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return _norm(con.execute(f'SELECT * FROM "{table}"').df(), KEYS[table])
    finally:
        con.close()


def target_frame(url: str, table: str, columns: list[str]) -> pd.DataFrame:
    con = ibis.connect(url)
    try:
        df = con.table(table).execute()
    finally:
        con.disconnect()
    return _norm(df[columns], KEYS[table])


def assert_equal(db_path: Path, url: str, table: str) -> None:
    src = source_frame(db_path, table)
    tgt = target_frame(url, table, list(src.columns))
    assert len(tgt) == len(src)
    assert not tgt.duplicated(KEYS[table]).any()
    pd.testing.assert_frame_equal(tgt, src, check_dtype=False)


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def make_store(tmp_path: Path, people: int = 60, seed: int = 3) -> Path:
    """A small workspace: profiles, many out-of-order events per person with ties, and one merge."""
    rng = np.random.default_rng(seed)
    db = tmp_path / "cdp.duckdb"
    profiles = [{"email": f"p{i}@x.com", "first_name": f"n{i}", "country": "US" if i % 3 else "USA",
                 "phone": f"+1617555{i:04d}" if i % 4 == 0 else ""} for i in range(people)]
    # Text that CSV, COPY and SQL quoting must carry unchanged.
    profiles[1]["first_name"] = 'O"Brien, "Jr"\nsecond line \\ é 😀'
    profiles[2]["first_name"] = "  'quoted' ; DROP TABLE x; --"
    base = pd.Timestamp("2025-01-01", tz="UTC")
    events = []
    for i in range(people):
        for _ in range(rng.integers(1, 8)):
            # Coarse grid (whole days) so timestamps tie; rows are written out of order.
            ts = base + pd.Timedelta(days=int(rng.integers(0, 30)))
            events.append({"email": f"p{i}@x.com", "metric": "Placed Order", "timestamp": ts.isoformat(),
                           "value": float(rng.integers(1, 100))})
    rng.shuffle(events)
    with Workspace(db) as ws:
        ingest_file(ws, "profiles", write_csv(tmp_path / "p.csv", profiles))
        ingest_file(ws, "events", write_csv(tmp_path / "e.csv", events))
    return db


def change_store(db: Path, tmp_path: Path) -> None:
    """A later day: one changed profile, a new custom property for two people, new and late
    events, and a merge (a phone-only record of p0 linked to p4 by an event naming both)."""
    with Workspace(db) as ws:
        ingest_file(ws, "profiles", write_csv(tmp_path / "p2.csv", [
            {"email": "p1@x.com", "first_name": "renamed", "loyalty": ""},
            {"email": "p2@x.com", "first_name": "n2", "loyalty": "gold"},
            {"email": "p3@x.com", "first_name": "n3", "loyalty": "silver"},
            {"email": "new@x.com", "first_name": "newbie", "loyalty": ""},
        ]))
        ingest_file(ws, "events", write_csv(tmp_path / "e2.csv", [
            {"email": "p5@x.com", "metric": "Placed Order", "timestamp": "2024-06-01T00:00:00Z", "value": 5},
            {"email": "new@x.com", "metric": "Placed Order", "timestamp": "2025-02-01T00:00:00Z", "value": 7},
            {"email": "p4@x.com", "phone": "+16175550000", "metric": "Viewed Product",
             "timestamp": "2025-02-02T00:00:00Z", "value": ""},
        ]))


# -- PostgreSQL ----------------------------------------------------------------------------------
@pytest.mark.postgres
def test_full_then_incremental_sync_to_postgres(tmp_path, pg_url):
    db = make_store(tmp_path)
    with Workspace(db) as ws:
        first = {t.table: t for t in sync(ws, SyncParams(to=pg_url, tables="profiles,events", batch_rows=37))}
        n_profiles = ws.duckdb.execute("SELECT count(*) FROM profiles").fetchone()[0]
        n_events = ws.duckdb.execute("SELECT count(*) FROM events").fetchone()[0]
    assert first["profiles"].sent == n_profiles and first["events"].sent == n_events
    for t in ("profiles", "events"):
        assert_equal(db, pg_url, t)
    with Workspace(db) as ws:  # nothing changed: nothing sent
        again = sync(ws, SyncParams(to=pg_url, tables="profiles,events"))
    assert [(t.sent, t.deleted) for t in again] == [(0, 0), (0, 0)]

    change_store(db, tmp_path)
    with Workspace(db) as ws:
        merged = ws.duckdb.execute("SELECT count(*) FROM merges").fetchone()[0]
        changed = ws.duckdb.execute(
            "SELECT count(*) FROM profiles WHERE updated_at = (SELECT max(updated_at) FROM profiles)").fetchone()[0]
        res = {t.table: t for t in sync(ws, SyncParams(to=pg_url, tables="profiles,events"))}
    assert merged == 1
    # Only changed rows travel: the profiles the last ingest touched, the new and re-pointed events.
    assert res["profiles"].added_columns == ["loyalty"]
    assert res["profiles"].sent <= changed + 4 and res["profiles"].deleted == 1
    assert 3 <= res["events"].sent < 20
    for t in ("profiles", "events"):
        assert_equal(db, pg_url, t)
    with Workspace(db) as ws:
        st = {r["table_name"]: r for r in status(ws)}
    assert st["profiles"]["last_error"] is None and st["profiles"]["watermark"] is not None
    assert st["events"]["rows_sent"] == n_events + res["events"].sent


@pytest.mark.postgres
@pytest.mark.slow
def test_kill_9_mid_sync_then_rerun_leaves_target_equal_to_source(tmp_path, pg_url):
    db = make_store(tmp_path, people=120)
    flag = tmp_path / "paused"
    env = {**os.environ, "CDP_SYNC_FAULT": f"events:3:pause={flag}"}
    cmd = [sys.executable, "-m", "cdp_lib.cli", "--db", str(db), "sync", "--to", pg_url, "--batch-rows", "40"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not flag.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "sync never reached the fault point"
        time.sleep(0.2)
    # Batch 3 of events is committed in PostgreSQL but not yet in the ledger: kill now.
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    con = ibis.connect(pg_url)
    partial = int(con.table("events").count().execute())
    con.disconnect()
    assert partial == 120  # three batches of 40 reached the target
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                           env={k: v for k, v in os.environ.items() if k != "CDP_SYNC_FAULT"})
    assert rerun.returncode == 0, rerun.stderr
    assert "profiles: 0 rows sent" in rerun.stdout
    for t in ("profiles", "events"):
        assert_equal(db, pg_url, t)
    with Workspace(db) as ws:
        n_events = ws.duckdb.execute("SELECT count(*) FROM events").fetchone()[0]
        st = {r["table_name"]: r for r in status(ws)}
    # The killed run recorded batches 1-2; the rerun sent the rest, batch 3 again included.
    assert st["events"]["last_rows"] == n_events - 80
    assert st["events"]["rows_sent"] == n_events


@pytest.mark.postgres
def test_segment_membership_composite_key_and_cli_status(tmp_path, pg_url, capsys):
    db = make_store(tmp_path, people=10)
    with Workspace(db) as ws:
        ws.duckdb.execute("""CREATE TABLE segment_membership AS SELECT * FROM (VALUES
            ('VIP', 'a', TIMESTAMPTZ '2025-01-01 00:00:00+00', NULL::TIMESTAMPTZ),
            ('VIP', 'a', TIMESTAMPTZ '2025-02-01 00:00:00+00', NULL::TIMESTAMPTZ),
            ('New', 'a', TIMESTAMPTZ '2025-01-01 00:00:00+00', TIMESTAMPTZ '2025-01-05 00:00:00+00'))
            t(segment, profile_id, joined_at, left_at)""")
    assert main(["--db", str(db), "sync", "--to", pg_url, "--tables", "segment_membership"]) == 0
    with Workspace(db) as ws:
        ws.duckdb.execute("UPDATE segment_membership SET left_at = TIMESTAMPTZ '2025-03-01 00:00:00+00' "
                          "WHERE joined_at = TIMESTAMPTZ '2025-02-01 00:00:00+00'")
    capsys.readouterr()
    assert main(["--db", str(db), "sync", "--to", pg_url, "--tables", "segment_membership"]) == 0
    assert "segment_membership: 1 rows sent, 0 deleted" in capsys.readouterr().out
    assert_equal(db, pg_url, "segment_membership")
    assert main(["--db", str(db), "sync", "status"]) == 0
    out = capsys.readouterr().out
    assert "segment_membership: complete up to" in out and "3+1" not in out


def test_bad_targets_and_tables_are_one_line_errors(tmp_path, capsys):
    db = make_store(tmp_path, people=5)
    assert main(["--db", str(db), "sync", "--to", "postgresql://nobody@127.0.0.1:1/none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot connect to postgresql://nobody@127.0.0.1:1/none") and err.count("\n") == 1
    assert main(["--db", str(db), "sync", "--to", "lake:" + str(tmp_path / "l"), "--tables", "profile"]) == 2
    assert "unknown table 'profile'; did you mean 'profiles'" in capsys.readouterr().err
    with Workspace(db) as ws, pytest.raises(NotComputedError, match="run 'cdp rfm' first"):
        sync(ws, SyncParams(to="lake:" + str(tmp_path / "l"), tables="rfm"))
    with pytest.raises(InputError, match="neither lake:DIR nor a URL"):
        SyncParams(to="data/lake")


# -- DuckDB target (the generic Ibis path) and the lake -------------------------------------------
def test_sync_to_a_duckdb_target_through_ibis(tmp_path):
    db = make_store(tmp_path, people=30)
    url = f"duckdb://{tmp_path / 'warehouse.duckdb'}"
    with Workspace(db) as ws:
        sync(ws, SyncParams(to=url, batch_rows=25))
    change_store(db, tmp_path)
    with Workspace(db) as ws:
        res = {t.table: t for t in sync(ws, SyncParams(to=url))}
    assert res["profiles"].deleted == 1 and res["profiles"].added_columns == ["loyalty"]
    for t in ("profiles", "events"):
        assert_equal(db, url, t)
    # Someone empties the target by hand: --full sends every row again, without duplicates.
    con = ibis.connect(url)
    con.raw_sql("DELETE FROM events WHERE event_id IN (SELECT event_id FROM events LIMIT 5)")
    con.disconnect()
    assert main(["--db", str(db), "sync", "--to", url, "--tables", "events", "--full"]) == 0
    assert_equal(db, url, "events")


def test_sync_to_lake_uses_the_lake_layout(tmp_path):
    from cdp_lib.lake.layout import read_manifest

    db = make_store(tmp_path, people=30)
    lake = tmp_path / "lake"
    with Workspace(db) as ws:
        first = sync(ws, SyncParams(to=f"lake:{lake}"))
        sizes = [ws.duckdb.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("profiles", "events")]
        assert [t.sent for t in first] == sizes and all(t.partitions > 0 for t in first)
        again = sync(ws, SyncParams(to=f"lake:{lake}"))
        assert [(t.sent, t.partitions) for t in again] == [(0, 0), (0, 0)]
    manifest = read_manifest(lake)
    for table in ("profiles", "events"):
        files = [str(lake / f) for p in manifest["tables"][table]["partitions"].values() for f in p["files"]]
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        got = _norm(con.execute(f"SELECT * FROM read_parquet({files!r}, union_by_name = true)").df(), KEYS[table])
        src = source_frame(db, table)
        pd.testing.assert_frame_equal(got[list(src.columns)], src, check_dtype=False)
    with Workspace(db) as ws:
        assert {r["table_name"] for r in status(ws) if r["target"] == f"lake:{lake}"} == {"profiles", "events"}


# -- warehouse import ----------------------------------------------------------------------------
@pytest.mark.postgres
def test_import_profiles_and_events_from_postgres_incrementally(tmp_path, pg_url, capsys):
    con = ibis.connect(pg_url)
    t0 = pd.Timestamp("2025-03-01", tz="UTC")
    customers = pd.DataFrame({
        "CustomerNo": ["c1", "c2", "c3", "c4"],
        "Mail": ["a@x.com", "b@x.com", "not-an-email", "d@x.com"],
        "first_name": ["Ann", "Bob", "Cy", "Di"],
        "modified_at": [t0, t0, t0 + pd.Timedelta(hours=1), t0 + pd.Timedelta(hours=1)],  # ties
    })
    con.create_table("crm_customers", customers)
    db = tmp_path / "cdp.duckdb"
    Workspace(db).close()
    args = ["--db", str(db), "ingest", "profiles", "--from", pg_url, "--table", "crm_customers",
            "--map", "CustomerNo=external_id", "--map", "Mail=email", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["read"], first["loaded"], first["quarantined"]) == (4, 3, 1)
    with Workspace(db) as ws:
        q = ws.duckdb.execute("SELECT file, reason FROM quarantine").fetchall()
        assert q[0][0].endswith("#crm_customers") and "is not an email address" in q[0][1]
    assert main(args) == 0  # rerun: only the rows at the watermark are read, and they are known
    again = json.loads(capsys.readouterr().out)
    assert again["loaded"] == 0 and again["read"] == 2
    # A change in the warehouse: one customer renamed later, one new.
    con.raw_sql("UPDATE crm_customers SET first_name = 'Bobby', modified_at = '2025-03-02T00:00:00Z' "
                "WHERE \"CustomerNo\" = 'c2'")
    con.insert("crm_customers", pd.DataFrame({"CustomerNo": ["c5"], "Mail": ["e@x.com"], "first_name": ["Ed"],
                                              "modified_at": [pd.Timestamp("2025-03-02", tz="UTC")]}))
    assert main(args) == 0
    third = json.loads(capsys.readouterr().out)
    # Read: the two rows at the old watermark (c3, c4) again, and the two changed rows.
    assert (third["read"], third["loaded"], third["duplicates"], third["quarantined"]) == (4, 2, 1, 1)
    with Workspace(db) as ws:
        names = dict(ws.duckdb.execute("SELECT external_id, first_name FROM profiles").fetchall())
    assert names == {"c1": "Ann", "c2": "Bobby", "c4": "Di", "c5": "Ed"}
    # Events from a warehouse table, through the same identity resolution.
    con.create_table("orders", pd.DataFrame({
        "order_ref": ["o1", "o2", "o3"], "email": ["a@x.com", "A@X.com ", "zz@x.com"],
        "metric": ["Placed Order"] * 3, "timestamp": [t0] * 3, "value": [10.0, 20.0, 30.0],
        "modified_at": [t0] * 3}))
    con.disconnect()
    ev = ["--db", str(db), "ingest", "events", "--from", pg_url, "--table", "orders", "--map",
          "order_ref=event_id", "--json"]
    assert main(ev) == 0
    res = json.loads(capsys.readouterr().out)
    assert (res["loaded"], res["new_profiles"]) == (3, 1)
    assert main(ev) == 0
    assert json.loads(capsys.readouterr().out)["loaded"] == 0
    with Workspace(db) as ws:
        per = dict(ws.duckdb.execute("SELECT p.email, count(*) FROM events e JOIN profiles p USING (profile_id) "
                                     "GROUP BY 1").fetchall())
    assert per == {"a@x.com": 2, "zz@x.com": 1}


@pytest.mark.postgres
def test_import_needs_the_modified_column(tmp_path, pg_url):
    con = ibis.connect(pg_url)
    con.create_table("people", pd.DataFrame({"email": ["a@x.com"]}))
    con.disconnect()
    with Workspace(tmp_path / "cdp.duckdb") as ws:
        with pytest.raises(InputError, match="has no column 'modified_at'; a warehouse import needs"):
            import_table(ws, "profiles", pg_url, "people")
        with pytest.raises(InputError, match="has no table 'nope'"):
            import_table(ws, "profiles", pg_url, "nope")


def test_passwords_are_never_stored_or_shown():
    from cdp_lib.sync.targets import redact

    assert redact("postgresql://ann:s3cret@db:5432/cdp") == "postgresql://ann:***@db:5432/cdp"
    assert redact("postgresql://ann@db:5432/cdp") == "postgresql://ann@db:5432/cdp"
    assert redact("lake:data/lake") == "lake:data/lake"


@pytest.mark.notebook
@pytest.mark.slow
def test_scheduled_notebook_syncs_to_a_lake(tmp_path):
    """The `warehouse-sync` job's notebook with its shipped parameters file, target overridden."""
    db = make_store(tmp_path, people=20)
    lake = tmp_path / "lake"
    args = ["--db", str(db), "run", "warehouse_sync", "-f", "parameters/sync.yaml",
            "-p", "to", f"lake:{lake}", "--reports-dir", str(tmp_path / "reports")]
    assert main(args) == 0
    (run_dir,) = (tmp_path / "reports" / "warehouse_sync").iterdir()
    sent = pd.read_csv(run_dir / "sync_run.csv")
    with Workspace(db) as ws:
        sizes = [ws.duckdb.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("profiles", "events")]
    assert sent.table.tolist() == ["profiles", "events"] and sent.sent.tolist() == sizes
    assert (lake / "_lake.json").exists()
    jobs = {j["name"]: j for j in __import__("yaml").safe_load(open("parameters/schedule.yaml"))["jobs"]}
    assert jobs["warehouse-sync"]["notebook"] == "notebooks/warehouse_sync.ipynb"


@pytest.mark.slow
def test_random_rounds_of_changes_keep_a_duckdb_target_equal(tmp_path):
    """Rounds of random ingests (new and changed profiles, duplicates, merges through shared
    phones, late events on a coarse time grid) with a sync after each, in small batches."""
    rng = np.random.default_rng(11)
    db = make_store(tmp_path, people=25, seed=5)
    url = f"duckdb://{tmp_path / 'wh.duckdb'}"
    for round_no in range(4):
        people = rng.integers(0, 40, size=12)
        rows = [{"email": f"p{i}@x.com", "first_name": f"r{round_no}-{rng.integers(0, 3)}",
                 "phone": f"+1617555{int(rng.integers(0, 30)):04d}" if rng.random() < 0.3 else "",
                 f"extra_{round_no % 2}": "v" if rng.random() < 0.5 else ""} for i in people]
        events = [{"email": f"p{int(i)}@x.com", "metric": "Placed Order",
                   "timestamp": f"2024-12-{int(rng.integers(1, 4)):02d}T00:00:00Z", "value": 1}
                  for i in rng.integers(0, 40, size=15)]
        with Workspace(db) as ws:
            ingest_file(ws, "profiles", write_csv(tmp_path / f"rp{round_no}.csv", rows))
            ingest_file(ws, "events", write_csv(tmp_path / f"re{round_no}.csv", events))
            sync(ws, SyncParams(to=url, batch_rows=int(rng.integers(3, 30))))
        for t in ("profiles", "events"):
            assert_equal(db, url, t)


@pytest.mark.postgres
@pytest.mark.notebook
def test_scheduled_notebook_imports_from_postgres_then_a_rerun_loads_nothing(tmp_path, pg_url, capsys):
    """The `warehouse-import` job's notebook, run as the scheduler runs it, against a real table."""
    import yaml

    repo = Path(__file__).resolve().parents[1]
    t0 = pd.Timestamp("2025-03-01", tz="UTC")
    con = ibis.connect(pg_url)
    con.create_table("customers", pd.DataFrame({
        "CustomerNo": ["c1", "c2", "c3"], "email": ["a@x.com", "b@x.com", "c@x.com"],
        "first_name": ["Ann", "Bob", "Cy"], "modified_at": [t0, t0, t0 + pd.Timedelta(hours=1)]}))
    con.disconnect()
    # The shipped parameters file with the placeholder database replaced, as a user would.
    params = yaml.safe_load((repo / "parameters/warehouse_import/crm_customers.yaml").read_text())
    assert params["mapping"] == {"CustomerNo": "external_id"}
    (tmp_path / "import.yaml").write_text(yaml.safe_dump({**params, "from_url": pg_url}))
    db = tmp_path / "cdp.duckdb"
    Workspace(db).close()
    reports = tmp_path / "reports"
    args = ["--db", str(db), "run", "warehouse_import", "-f", str(tmp_path / "import.yaml"),
            "--reports-dir", str(reports)]

    def run() -> dict:
        before = set((reports / "warehouse_import").glob("*")) if (reports / "warehouse_import").exists() else set()
        assert main(args) == 0
        (run_dir,) = set((reports / "warehouse_import").glob("*")) - before
        (row,) = pd.read_csv(run_dir / "import_run.csv").to_dict("records")
        return row

    first = run()
    assert (first["table"], first["read"], first["loaded"], first["new_profiles"]) == ("profiles", 3, 3, 3)
    with Workspace(db) as ws:
        got = dict(ws.duckdb.execute("SELECT external_id, first_name FROM profiles").fetchall())
    assert got == {"c1": "Ann", "c2": "Bob", "c3": "Cy"}
    again = run()  # nothing modified: only the row at the watermark is read again, found duplicate
    assert (again["read"], again["loaded"], again["duplicates"]) == (1, 0, 1)
    with Workspace(db) as ws:
        assert ws.duckdb.execute("SELECT count(*) FROM profiles").fetchone()[0] == 3

    # The job is in the shipped schedule, listed, and disabled until from_url names a database.
    schedule = yaml.safe_load((repo / "parameters/schedule.yaml").read_text())
    schedule["settings"]["reports_dir"] = str(reports)
    for job in schedule["jobs"]:
        job["notebook"], job["parameters"] = str(repo / job["notebook"]), str(repo / job["parameters"])
    (tmp_path / "schedule.yaml").write_text(yaml.safe_dump(schedule))
    capsys.readouterr()
    assert main(["--db", str(db), "schedule", "list", "--schedule", str(tmp_path / "schedule.yaml")]) == 0
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("warehouse-import ")]
    assert line.rstrip().endswith("disabled") and "not found" not in line
    job = {j["name"]: j for j in schedule["jobs"]}["warehouse-import"]
    assert job["enabled"] is False and job["parameters"].endswith("warehouse_import/crm_customers.yaml")
    # Enabled with a real from_url, the scheduler runs it; still nothing new to load.
    from cdp_lib.reports import schedule as sched

    one = sched.parse_schedule({"settings": {"reports_dir": str(reports)}, "jobs": [
        {**job, "enabled": True, "parameters": str(tmp_path / "import.yaml")}]})
    (result,) = sched.Scheduler(one, str(db)).run_due()
    assert result.status == "succeeded", result.error
    (row,) = pd.read_csv(reports / "warehouse_import" / result.run_id / "import_run.csv").to_dict("records")
    assert (row["read"], row["loaded"], row["duplicates"]) == (1, 0, 1)
    with Workspace(db) as ws:
        assert ws.duckdb.execute("SELECT count(*) FROM profiles").fetchone()[0] == 3
