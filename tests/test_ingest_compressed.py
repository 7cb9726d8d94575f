"""Issue 10, class 1: a compressed input that does not decompress to its end is refused whole."""

from __future__ import annotations

import gzip
import shutil
import subprocess

import pytest

from cdp_lib import InputError
from cdp_lib.ingest import ingest_file
from ingest_helpers import assert_one_line_error, cdp, check_counts, rows, snapshot

HEADER = "email,metric,timestamp,value\n"


def event_lines(n: int) -> str:
    return "".join(f"u{i}@x.com,Viewed Product,2024-01-01 10:{i % 60:02d}:00,{i}.5\n" for i in range(n))


def cut(data: bytes) -> bytes:
    return data[: len(data) // 2]


def zstd_bytes(text: str, tmp_path) -> bytes:
    if shutil.which("zstd") is None:
        pytest.skip("the zstd program is not installed")
    src = tmp_path / "plain.csv"
    src.write_text(text)
    subprocess.run(["zstd", "-q", "-f", str(src), "-o", str(tmp_path / "z.zst")], check=True)
    return (tmp_path / "z.zst").read_bytes()


def test_half_a_gzip_file_is_refused_and_changes_nothing(tmp_ws, tmp_path):
    """The reproducer: 20,000 events gzipped and cut in half used to load 9,971 rows."""
    path = tmp_path / "t.csv.gz"
    path.write_bytes(cut(gzip.compress((HEADER + event_lines(20_000)).encode())))
    before = snapshot(tmp_ws)
    with pytest.raises(InputError, match="is not a complete gzip stream"):
        ingest_file(tmp_ws, "events", path)
    assert snapshot(tmp_ws) == before


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_cut_jsonl_gz_anywhere_is_refused(tmp_ws, tmp_path, keep):
    text = "".join(f'{{"email": "u{i}@x.com", "metric": "M", "timestamp": "2024-01-02"}}\n' for i in range(3000))
    data = gzip.compress(text.encode())
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputError, match="not a complete gzip stream"):
        ingest_file(tmp_ws, "events", path)
    assert rows(tmp_ws, "SELECT count(*) FROM events") == [(0,)]


def test_cut_zstd_is_refused_and_the_whole_file_loads(tmp_ws, tmp_path):
    data = zstd_bytes(HEADER + event_lines(5000), tmp_path)
    bad = tmp_path / "t.csv.zst"
    bad.write_bytes(cut(data))
    with pytest.raises(InputError, match="not a complete zstd stream"):
        ingest_file(tmp_ws, "events", bad)
    good = tmp_path / "ok.csv.zst"
    good.write_bytes(data)
    result = ingest_file(tmp_ws, "events", good)
    assert (result.rows, result.loaded) == (5000, 5000)


def test_multi_member_gzip_loads_every_member(tmp_ws, tmp_path):
    """`cat a.gz b.gz` is one valid gzip file: every member is read, none refused."""
    path = tmp_path / "two.csv.gz"
    path.write_bytes(gzip.compress((HEADER + event_lines(10)).encode())
                     + gzip.compress("v@x.com,M,2024-02-01,1\n".encode()))
    result = ingest_file(tmp_ws, "events", path)
    check_counts(result)
    assert (result.rows, result.loaded) == (11, 11)


def test_name_and_content_disagree(tmp_ws, tmp_path):
    path = tmp_path / "plain.csv.gz"
    path.write_text(HEADER + event_lines(3))
    with pytest.raises(InputError, match="named .gz but is not gzip data"):
        ingest_file(tmp_ws, "events", path)


def test_cli_refuses_a_cut_file_in_one_line(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(cut(gzip.compress((HEADER + event_lines(2000)).encode())))
    proc = cdp("ingest", "events", str(path), db=tmp_path / "w.duckdb")
    assert_one_line_error(proc, "not a complete gzip stream", "nothing was loaded")
