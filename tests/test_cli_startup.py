"""CLI start-up: `cdp --help`, `cdp info` and `cdp segment lookup` load no heavy library.

Guarded by what is imported, not by timing (timed tests lie on a loaded machine); the measured
start-up times are in benchmarks/RESULTS.md (benchmarks/bench_cli.py).
"""

import json
import subprocess
import sys

import pytest

from cdp_lib.cli import main
from cdp_lib.membership import segment_rows
from cdp_lib.workspace import Workspace

HEAVY = ["nbformat", "matplotlib", "scipy", "lifetimes", "papermill", "ipywidgets", "pyspark"]
# `info` and `lookup` answer from DuckDB directly: not even Ibis or pandas.
HEAVY_FOR_LOOKUPS = HEAVY + ["ibis", "pandas", "pyarrow"]

PROBE = """
import json, sys
from cdp_lib.cli import main
code = main(json.loads(sys.argv[1]))
print(json.dumps({"code": code, "modules": sorted(m.split(".")[0] for m in sys.modules)}))
"""


def _modules_after(args: list[str]) -> tuple[int, set[str], str]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True,
                          timeout=120, check=True)
    last = json.loads(done.stdout.strip().splitlines()[-1])
    return last["code"], set(last["modules"]), done.stdout


@pytest.fixture
def refreshed_db(tmp_path):
    db = tmp_path / "ws.duckdb"
    with Workspace(db) as ws:
        ws.duckdb.execute("INSERT INTO profiles (profile_id, email) VALUES ('p1', 'Ann@Example.com')")
        ws.duckdb.execute("INSERT INTO events (event_id, profile_id, metric, timestamp, value) "
                          "VALUES ('e1', 'p1', 'Placed Order', TIMESTAMPTZ '2025-01-02 10:00:00+00', 12.5)")
        ws.duckdb.execute("CREATE TABLE segment_current AS SELECT 'VIP' AS segment, 'p1' AS profile_id, "
                          "TIMESTAMPTZ '2025-01-03 00:00:00+00' AS joined_at")
        ws.duckdb.execute("CREATE TABLE segment_current_emails AS SELECT 'p1' AS profile_id, "
                          "'ann@example.com' AS email_key")
    return db


def test_help_imports_no_heavy_library():
    code, modules, _ = _modules_after(["--help"])
    assert code == 0
    assert not modules & set(HEAVY_FOR_LOOKUPS), modules & set(HEAVY_FOR_LOOKUPS)


@pytest.mark.parametrize("sub", ["rfm", "clv", "run", "app", "ingest", "segment", "schedule", "funnel", "monitor",
                                 "catalog-insights"])
def test_subcommand_help_imports_no_heavy_library(sub):
    code, modules, _ = _modules_after([sub, "--help"])
    assert code == 0
    assert not modules & set(HEAVY), modules & set(HEAVY)


def test_info_and_lookup_answer_from_duckdb_alone(refreshed_db):
    code, modules, out = _modules_after(["--db", str(refreshed_db), "info"])
    assert code == 0 and "Placed Order" in out and "events from 2025-01-02 to 2025-01-02" in out
    assert not modules & set(HEAVY_FOR_LOOKUPS), modules & set(HEAVY_FOR_LOOKUPS)
    code, modules, out = _modules_after(["--db", str(refreshed_db), "segment", "lookup", "ann@example.COM"])
    assert code == 0 and "VIP" in out and "2025-01-03 00:00:00+00:00" in out
    assert not modules & set(HEAVY_FOR_LOOKUPS), modules & set(HEAVY_FOR_LOOKUPS)


def test_info_json_and_library_info_agree(refreshed_db, capsys):
    assert main(["--db", str(refreshed_db), "info", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["tables"] == {"profiles": 1, "events": 1, "catalog": 0}
    assert printed["metrics"] == [{"metric": "Placed Order", "events": 1, "profiles": 1}]
    with Workspace(refreshed_db, read_only=True) as ws:
        frame = ws.info()["metrics"]
        assert frame.to_dict(orient="records") == printed["metrics"]


def test_lookup_before_any_refresh_is_one_line(tmp_path, capsys):
    db = tmp_path / "empty.duckdb"
    Workspace(db).close()
    assert main(["--db", str(db), "segment", "lookup", "p1"]) == 2
    assert "run 'cdp segment refresh' first" in capsys.readouterr().err


def test_membership_rows_match_the_library_lookup(refreshed_db):
    with Workspace(refreshed_db, read_only=True) as ws:
        assert [s for s, _ in segment_rows(ws.duckdb, " p1 ")] == ["VIP"]
        assert ws.segments_for("ANN@example.com").segment.tolist() == ["VIP"]
        assert segment_rows(ws.duckdb, "nobody") == []


def test_lookup_key_is_data_not_sql(refreshed_db):
    with Workspace(refreshed_db, read_only=True) as ws:
        assert segment_rows(ws.duckdb, "p1' OR '1'='1") == []
        assert segment_rows(ws.duckdb, "x@y' OR 'a'='a") == []


def test_help_imports_neither_the_runner_nor_the_scheduler():
    probe = ("import sys\nfrom cdp_lib.cli import main\nmain(['--help'])\n")
    done = subprocess.run([sys.executable, "-c", probe + "print(sorted(sys.modules))"], capture_output=True,
                          text=True, timeout=120)
    loaded = done.stdout.strip().splitlines()[-1]
    for name in ("'cdp_lib.reports'", "'croniter'", "'cdp_lib.reports.schedule'"):
        assert name not in loaded


def test_option_defaults_spelled_in_the_commands_match_the_library():
    from cdp_lib import reports
    from cdp_lib.commands import run, schedule
    from cdp_lib.reports import schedule as sched

    assert run.REPORTS_DIR == reports.REPORTS_DIR
    assert schedule.DEFAULT_SCHEDULE == sched.DEFAULT_SCHEDULE
