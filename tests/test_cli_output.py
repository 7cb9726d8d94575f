"""What the CLI prints for people: funnel percentages and the entry range it used, thousands
separators in segment refresh, tables within 100 columns, and `--json` for machines."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cdp_lib.cli import main
from cdp_lib.testing import workspace_from_frames

T0 = pd.Timestamp("2024-03-10T12:00:00Z")


@pytest.fixture
def funnel_db(tmp_path):
    # 8 people view (2024-03-10), 3 of them add to cart, 1 orders: 37.5 % and 12.5 % of step 1.
    rows = [(f"p{i}", "Viewed Product", 0) for i in range(8)]
    rows += [(f"p{i}", "Added to Cart", 60) for i in range(3)] + [("p0", "Placed Order", 120)]
    events = pd.DataFrame([{"event_id": f"e{k}", "profile_id": p, "metric": m, "timestamp": T0 + pd.Timedelta(seconds=s)}
                           for k, (p, m, s) in enumerate(rows)])
    db = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(db), events=events).close()
    return db


STEPS = ["--step", "Viewed Product", "--step", "Added to Cart", "--step", "Placed Order"]


def test_funnel_prints_percentages_and_the_default_range_it_used(funnel_db, capsys):
    assert main(["--db", str(funnel_db), "funnel", *STEPS]) == 0
    out = capsys.readouterr().out.splitlines()
    # no --from/--to: 30 days ending on the newest step-1 event (2024-03-10), both days included
    assert out[0] == "people entering from 2024-02-10 to 2024-03-10 (UTC, both days included), window 14d"
    body = "\n".join(out[1:])
    assert "100.0 %" in body and "37.5 %" in body and "12.5 %" in body and "33.3 %" in body  # 1 of 3 carts
    assert "0.375" not in body
    assert all(len(line) <= 100 for line in out)


def test_funnel_json_has_the_range_and_ratios(funnel_db, capsys):
    assert main(["--db", str(funnel_db), "funnel", *STEPS, "--from", "2024-03-01", "--to", "2024-03-31", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["from"], data["to"], data["window"]) == ("2024-03-01", "2024-03-31", "14d")
    assert [s["profiles"] for s in data["steps"]] == [8, 3, 1]
    assert data["steps"][1]["conversion_from_start"] == pytest.approx(0.375)


def test_funnel_to_a_file_still_names_the_range(funnel_db, tmp_path, capsys):
    out = tmp_path / "f.csv"
    assert main(["--db", str(funnel_db), "funnel", *STEPS, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "people entering from 2024-02-10 to 2024-03-10" in printed and "wrote 3 rows" in printed
    assert pd.read_csv(out).conversion_from_start.tolist() == pytest.approx([1.0, 0.375, 0.125])


@pytest.fixture
def buyers_db(tmp_path):
    n = 1_234
    events = pd.DataFrame({"event_id": [f"e{i}" for i in range(n)], "profile_id": [f"p{i}" for i in range(n)],
                           "metric": "Placed Order", "value": 10.0,
                           "timestamp": [T0 + pd.Timedelta(minutes=i) for i in range(n)]})
    db = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(db), events=events).close()
    folder = tmp_path / "segments"
    folder.mkdir()
    (folder / "buyers.yaml").write_text("name: Buyers with a deliberately long name to wrap\n"
                                        "conditions:\n  - {metric: Placed Order, count: {op: '>=', value: 1}}\n")
    return db, folder


def test_segment_refresh_uses_thousands_separators(buyers_db, capsys):
    db, folder = buyers_db
    assert main(["--db", str(db), "segment", "refresh", "--folder", str(folder), "--as-of", "2024-03-31"]) == 0
    out = capsys.readouterr().out
    assert "1,234" in out and " 1234" not in out
    assert main(["--db", str(db), "segment", "history", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["members"] == 1234 and row["entered"] == 1234


def test_segment_run_lists_members_within_100_columns(buyers_db, capsys):
    db, folder = buyers_db
    assert main(["--db", str(db), "segment", "run", "Buyers with a deliberately long name to wrap", "--folder",
                 str(folder), "--as-of", "2024-03-31"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Buyers with a deliberately long name to wrap: 1,234 members (first 20 shown; --out writes all)"
    assert all(len(line) <= 100 for line in out) and "—" in "\n".join(out)  # no external id, no email


def test_cohort_json_and_text(buyers_db, capsys):
    db, _ = buyers_db
    assert main(["--db", str(db), "cohort", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["customers"] == 1234 and rows[0]["retention"] == 1.0
    assert main(["--db", str(db), "cohort"]) == 0
    text = capsys.readouterr().out
    assert "1,234" in text and "100.0 %" in text and "$12,340.00" in text


def test_params_and_run_name_where_they_looked_and_what_exists(capsys):
    assert main(["params", "no_such_report"]) == 2
    err = capsys.readouterr().err
    assert "looked in the current folder and in" in err and "notebooks there:" in err and "rfm" in err
    assert main(["run", "no_such_report"]) == 2
    assert "notebooks there:" in capsys.readouterr().err
