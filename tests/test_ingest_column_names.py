"""Issue 10, class 7: reserved and odd column names are data under their own names."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cdp_lib.ingest import ingest_file
from ingest_helpers import check_counts, rows, write


def test_csv_headers_named_like_internal_columns_keep_their_values(tmp_ws, tmp_path):
    """The reproducer: `_line` / `ordinality` used to be overwritten by row numbers."""
    text = "email,metric,timestamp,_line,ordinality,_reason,_row\na@x.com,M,2024-01-01,keep1,keep2,r,w\n"
    result = ingest_file(tmp_ws, "events", write(tmp_path, "e.csv", text))
    assert result.loaded == 1
    assert rows(tmp_ws, 'SELECT line, ordinality, reason, "row" FROM events') == [("keep1", "keep2", "r", "w")]


def test_jsonl_keys_that_look_like_paths_are_plain_keys(tmp_ws, tmp_path):
    line = {"email": "a@x.com", "metric": "M", "timestamp": "2024-01-01", "$": "dollar", "/email": "slash", "": "empty", "a~b": "tilde"}
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(line) + "\n")
    result = ingest_file(tmp_ws, "events", path)
    assert result.loaded == 1
    got = rows(tmp_ws, 'SELECT "column", email_2, column_2, a_b FROM events')
    assert got == [("dollar", "slash", "empty", "tilde")]
    assert rows(tmp_ws, "SELECT value FROM identities WHERE kind = 'email'") == [("a@x.com",)]


def test_jsonl_email_and_Email_on_different_lines_are_one_column(tmp_ws, tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"email": "a@x.com", "metric": "M", "timestamp": "2024-01-01"}\n'
                    '{"Email": "b@x.com", "metric": "M", "timestamp": "2024-01-02"}\n'
                    '{"email": "c@x.com", "Email": "d@x.com", "metric": "M", "timestamp": "2024-01-03"}\n')
    result = ingest_file(tmp_ws, "events", path)
    check_counts(result)
    assert (result.loaded, result.quarantined) == (2, 1)
    assert sorted(rows(tmp_ws, "SELECT value FROM identities WHERE kind = 'email'")) == [("a@x.com",), ("b@x.com",)]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_repeated_and_empty_names(tmp_ws, tmp_path, fmt):
    if fmt == "csv":
        path = write(tmp_path, "e.csv", "email,metric,timestamp,tag,tag,\na@x.com,M,2024-01-01,x,y,z\n")
    else:
        path = tmp_path / "e.parquet"
        pd.DataFrame({"email": ["a@x.com"], "metric": ["M"], "timestamp": ["2024-01-01"], "_line": ["keep"],
                      "file_row_number_x": ["k2"]}).to_parquet(path)
    result = ingest_file(tmp_ws, "events", path)
    assert result.loaded == 1
    cols = [c for (c,) in rows(tmp_ws, "SELECT column_name FROM information_schema.columns WHERE table_name = 'events' AND ordinal_position > 16")]
    if fmt == "csv":
        assert rows(tmp_ws, "SELECT " + ", ".join(f'"{c}"' for c in cols) + " FROM events") == [("x", "y", "z")]
    else:
        assert rows(tmp_ws, "SELECT line FROM events") == [("keep",)]
