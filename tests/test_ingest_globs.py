"""Issue 10, class 2: a path is one file; glob characters in it are never expanded."""

from __future__ import annotations

import hashlib

import pytest

from cdp_lib.ingest import ingest_file
from ingest_helpers import cdp, rows, write


def three_files(tmp_path, literal: str):
    write(tmp_path, "g1.csv", "email,metric,timestamp\na@x.com,M,2024-01-01\n")
    write(tmp_path, "g2.csv", "email,metric,timestamp\nb@x.com,M,2024-01-02\n")
    return write(tmp_path, literal, "email,metric,timestamp\nc@x.com,M,2024-01-03\n")


@pytest.mark.parametrize("literal", ["g[12].csv", "g*.csv", "g?.csv", "g{1,2}.csv", "g[!x].csv"])
def test_glob_characters_name_one_literal_file(tmp_ws, tmp_path, literal):
    path = three_files(tmp_path, literal)
    result = ingest_file(tmp_ws, "events", path)
    assert (result.rows, result.loaded) == (1, 1)
    assert rows(tmp_ws, "SELECT value FROM identities WHERE kind = 'email'") == [("c@x.com",)]
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert rows(tmp_ws, "SELECT file, file_sha256 FROM ingests") == [(str(path), sha)]


@pytest.mark.parametrize("literal", ["ev*.parquet", "ev[0].jsonl"])
def test_other_formats_are_not_expanded_either(tmp_ws, tmp_path, literal):
    import pandas as pd

    frame = pd.DataFrame({"email": ["z@x.com"], "metric": ["M"], "timestamp": ["2024-01-01"]})
    for name in ("ev0", "ev1"):
        if literal.endswith(".parquet"):
            frame.assign(email=f"{name}@x.com").to_parquet(tmp_path / f"{name}.parquet")
        else:
            frame.assign(email=f"{name}@x.com").to_json(tmp_path / f"{name}.jsonl", orient="records", lines=True)
    path = tmp_path / literal
    if literal.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    result = ingest_file(tmp_ws, "events", path)
    assert result.rows == 1
    assert rows(tmp_ws, "SELECT value FROM identities WHERE kind = 'email'") == [("z@x.com",)]


def test_cli_loads_only_the_literal_file(tmp_path):
    path = three_files(tmp_path, "g[12].csv")
    proc = cdp("ingest", "events", str(path), "--json", db=tmp_path / "w.duckdb")
    assert proc.returncode == 0, proc.stderr
    assert '"rows": 1' in proc.stdout
