"""Issue 10, class 11: the smaller misreadings (UTF-16, gzip named .csv, a 5 MB field,
`1_000`, a bare `2024`, NUL bytes, phone extensions)."""

from __future__ import annotations

import gzip
import json

import pytest

from cdp_lib import InputError
from cdp_lib.ingest import ingest_file, quarantine_table
from ingest_helpers import assert_one_line_error, cdp, check_counts, rows, write

TEXT = "email,metric,timestamp\na@x.com,M,2024-01-01\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_is_not_utf8_text(tmp_ws, tmp_path, encoding):
    path = tmp_path / "e.csv"
    path.write_bytes(TEXT.encode(encoding))
    with pytest.raises(InputError, match="not UTF-8"):
        ingest_file(tmp_ws, "events", path)


@pytest.mark.parametrize("name", ["e.csv", "e.jsonl"])
def test_gzip_bytes_under_a_plain_name(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(gzip.compress(TEXT.encode()))
    proc = cdp("ingest", "events", str(path), db=tmp_path / "w.duckdb")
    assert_one_line_error(proc, "gzip-compressed data", f"name it {name}.gz")


def test_a_5_mb_field_loads_in_csv_and_jsonl(tmp_ws, tmp_path):
    big = "x" * 5_000_000
    csv_path = write(tmp_path, "e.csv", f"email,metric,timestamp,note\na@x.com,M,2024-01-01,{big}\nb@x.com,M,2024-01-02,s\n")
    assert ingest_file(tmp_ws, "events", csv_path).loaded == 2
    jl = tmp_path / "e.jsonl"
    jl.write_text(json.dumps({"email": "c@x.com", "metric": "M", "timestamp": "2024-01-03", "note": big}) + "\n")
    assert ingest_file(tmp_ws, "events", jl).loaded == 1
    assert rows(tmp_ws, "SELECT max(length(note)) FROM events") == [(5_000_000,)]


def test_a_line_over_the_limit_names_its_line_and_format(tmp_ws, tmp_path, monkeypatch):
    from cdp_lib.ingest import readers

    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 1 << 20)
    jl = tmp_path / "e.jsonl"
    jl.write_text('{"email": "a@x.com", "metric": "M", "timestamp": "2024-01-01"}\n' * 3
                  + json.dumps({"email": "b@x.com", "metric": "M", "timestamp": "2024-01-01", "n": "y" * 2_000_000}) + "\n")
    with pytest.raises(InputError, match=r"has a JSON line longer than 1 MB on line 4"):
        ingest_file(tmp_ws, "events", jl)


@pytest.mark.parametrize("value", ["1_000", "1,000", "$5", "1e", "0x10", "nan", "inf", "--1"])
def test_numbers_must_be_plain(tmp_ws, tmp_path, value):
    path = write(tmp_path, "e.csv", f'email,metric,timestamp,value\na@x.com,M,2024-01-01,"{value}"\n')
    result = ingest_file(tmp_ws, "events", path)
    assert result.quarantined == 1
    assert "is not a number" in quarantine_table(tmp_ws)["reason"].iloc[0]


@pytest.mark.parametrize("value", ["1000", "-2.5", ".5", "1e3", "+7"])
def test_plain_numbers_load(tmp_ws, tmp_path, value):
    path = write(tmp_path, "e.csv", f"email,metric,timestamp,value\na@x.com,M,2024-01-01,{value}\n")
    assert ingest_file(tmp_ws, "events", path).loaded == 1
    assert rows(tmp_ws, "SELECT value FROM events") == [(float(value),)]


def test_custom_column_with_underscored_numbers_stays_text(tmp_ws, tmp_path):
    path = write(tmp_path, "e.csv", "email,metric,timestamp,code\na@x.com,M,2024-01-01,1_000\nb@x.com,M,2024-01-01,7\n")
    result = ingest_file(tmp_ws, "events", path)
    assert result.loaded == 2
    assert sorted(rows(tmp_ws, "SELECT code FROM events")) == [("1_000",), ("7",)]


@pytest.mark.parametrize("value", ["2024", "1", "99999", "1234567"])
def test_bare_small_numbers_are_not_times(tmp_ws, tmp_path, value):
    path = write(tmp_path, "e.csv", f"email,metric,timestamp\na@x.com,M,{value}\n")
    assert ingest_file(tmp_ws, "events", path).quarantined == 1


def test_nul_bytes_are_quarantined_in_any_text_column(tmp_ws, tmp_path):
    text = ("email,metric,timestamp,note,external_id\n" "a@x.com,M\x00X,2024-01-01,,\n"
            "b@x.com,M,2024-01-01,n\x00te,\n" "c@x.com,M,2024-01-01,,id\x001\n" "d@x.com,M,2024-01-01,ok,\n")
    result = ingest_file(tmp_ws, "events", write(tmp_path, "e.csv", text))
    check_counts(result)
    assert (result.loaded, result.quarantined) == (1, 3)
    assert all("NUL" in r for r in quarantine_table(tmp_ws)["reason"])
    assert rows(tmp_ws, "SELECT count(*) FROM events WHERE contains(metric, chr(0))") == [(0,)]


@pytest.mark.parametrize("phone", ["555-0102 ext 12", "555-0102 x12", "+1 555 0102 #3", "tel:5550102"])
def test_phone_extensions_are_quarantined_not_glued(tmp_ws, tmp_path, phone):
    path = write(tmp_path, "p.csv", f'email,phone\na@x.com,"{phone}"\n')
    result = ingest_file(tmp_ws, "profiles", path)
    assert result.quarantined == 1
    assert "extension" in quarantine_table(tmp_ws)["reason"].iloc[0]


@pytest.mark.parametrize("phone, stored", [("+1 (555) 010-2030", "+15550102030"), ("555.010.2030", "5550102030"),
                                           ("N/A", None)])
def test_ordinary_phone_spellings_still_load(tmp_ws, tmp_path, phone, stored):
    path = write(tmp_path, "p.csv", f'email,phone\na@x.com,"{phone}"\n')
    assert ingest_file(tmp_ws, "profiles", path).loaded == 1
    assert rows(tmp_ws, "SELECT phone FROM profiles") == [(stored,)]
