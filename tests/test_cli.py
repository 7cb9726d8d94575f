"""The `cdp` command's error paths: one line, exit code 2, no traceback, nothing changed."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from cdp_lib import Workspace
from cdp_lib.cli import main

EVENTS = "email,metric,timestamp,value\na@x.com,Placed Order,2024-01-01,5\nb@x.com,,2024-01-02,\n"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "ws.duckdb")


def one_line_error(err: str, pattern: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert pattern in lines[0], lines[0]


def test_ingest_json_summary_and_quarantine_commands(capsys, db, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(EVENTS)
    code, out, _ = run(capsys, "--db", db, "ingest", "events", str(path), "--json")
    assert code == 0
    summary = json.loads(out)
    assert {k: summary[k] for k in ("rows", "loaded", "duplicates", "quarantined")} == {
        "rows": 2, "loaded": 1, "duplicates": 0, "quarantined": 1}
    code, out, _ = run(capsys, "--db", db, "ingest", "events", str(path))
    assert code == 0
    assert out.startswith(f"{path}: 2 rows -> 0 loaded, 1 duplicates, 1 quarantined")
    code, out, _ = run(capsys, "--db", db, "quarantine", "list", "--json")
    listed = json.loads(out)
    assert [r["reason"] for r in listed] == ['missing metric: column "metric" is empty'] * 2
    out_csv = tmp_path / "q.csv"
    code, _, err = run(capsys, "--db", db, "quarantine", "export", "--out", str(out_csv))
    assert code == 0 and "wrote 2 quarantined rows" in err
    exported = pd.read_csv(out_csv)
    assert list(exported["line"]) == [2, 2]
    assert json.loads(exported["raw"].iloc[0]) == {"email": "b@x.com", "metric": None, "timestamp": "2024-01-02", "value": None}


def test_map_option_names_columns(capsys, db, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("who,what,when\na@x.com,Placed Order,2024-01-01\n")
    code, out, _ = run(capsys, "--db", db, "ingest", "events", str(path), "--map", "who=email", "--map", "what=metric", "--map", "when=timestamp", "--json")
    assert code == 0 and json.loads(out)["loaded"] == 1


@pytest.mark.parametrize("args, message", [
    (["ingest", "events", "nope.csv"], "error: file nope.csv does not exist; check the path"),
    (["ingest", "events", "{tmp}/data.xlsx"], "has an unsupported type; expected one of"),
    (["ingest", "events", "{tmp}/fake.parquet"], "cannot be read as Parquet"),
    (["ingest", "events", "{tmp}/latin1.csv"], "is not UTF-8 text"),
    (["ingest", "events", "{tmp}/ok.csv", "--map", "email"], "--map 'email' is not SOURCE=CANONICAL"),
    (["ingest", "events", "{tmp}/ok.csv", "--map", "mail=email"], "the file has no column 'mail'"),
    (["ingest", "events", "{tmp}/ok.csv", "--map", "email=e_mail"], "'e_mail' is not a events column"),
    (["ingest", "orders", "{tmp}/ok.csv"], "Invalid value for '{profiles|events|catalog}': 'orders' is not one of"),
])
def test_ingest_errors_are_one_line_exit_2_and_change_nothing(capsys, db, tmp_path, args, message):
    (tmp_path / "data.xlsx").write_bytes(b"PK\x03\x04")
    (tmp_path / "fake.parquet").write_text("email,metric\n")
    (tmp_path / "latin1.csv").write_bytes("email,metric,timestamp\ncafé@x.com,M,2024-01-01\n".encode("latin-1"))
    (tmp_path / "ok.csv").write_text(EVENTS)
    assert run(capsys, "--db", db, "ingest", "events", str(tmp_path / "ok.csv"))[0] == 0
    with Workspace(db, read_only=True) as ws:
        before = {t: ws.table(t).count().execute() for t in ("events", "profiles", "quarantine", "ingests")}
    code, out, err = run(capsys, "--db", db, *[a.format(tmp=tmp_path) for a in args])
    assert code == 2
    assert out == ""
    if "Invalid value" in message:  # click's usage errors add a usage line and a hint
        assert message in err and "Traceback" not in err
    else:
        one_line_error(err, message)
    with Workspace(db, read_only=True) as ws:
        assert {t: ws.table(t).count().execute() for t in before} == before


def test_missing_file_is_refused_before_the_workspace_is_created(capsys, tmp_path):
    db = tmp_path / "never.duckdb"
    code, _, err = run(capsys, "--db", str(db), "ingest", "profiles", str(tmp_path / "missing.csv"))
    assert code == 2
    one_line_error(err, "does not exist")
    assert not db.exists()


def test_info_without_a_workspace(capsys, tmp_path):
    code, out, err = run(capsys, "--db", str(tmp_path / "none.duckdb"), "info")
    assert code == 2 and out == ""
    one_line_error(err, "does not exist; create it with 'cdp init'")


def test_quarantine_export_to_a_missing_folder(capsys, db, tmp_path):
    assert run(capsys, "--db", db, "init")[0] == 0
    code, _, err = run(capsys, "--db", db, "quarantine", "export", "--out", str(tmp_path / "no" / "such" / "q.csv"))
    assert code == 2
    one_line_error(err, "cannot write")


def test_real_process_exit_code_and_stderr(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "cdp_lib.cli", "--db", str(tmp_path / "ws.duckdb"), "ingest", "events", str(tmp_path / "gone.csv")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == f"error: file {tmp_path / 'gone.csv'} does not exist; check the path"
