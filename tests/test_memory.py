"""DuckDB memory limit and spill folder: applied to every workspace, set by environment variable
or CLI option, and a bad value is one line with exit code 2 and no file created."""

from __future__ import annotations

import re

import pytest

from cdp_lib import Workspace
from cdp_lib.cli import main
from cdp_lib.errors import InputError
from cdp_lib.memory import parse_size

GiB = 2**30


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    # "" counts as unset; monkeypatch restores whatever the test (or the CLI) set afterwards.
    monkeypatch.setenv("CDP_MEMORY_LIMIT", "")
    monkeypatch.setenv("CDP_TEMP_DIR", "")


def ram_bytes() -> int:
    """Physical RAM read from /proc/meminfo (the library asks os.sysconf)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def shown_bytes(text: str) -> float:
    """DuckDB's display of a size ('5.8 GiB', '512.0 MiB') back to bytes."""
    number, unit = re.fullmatch(r"([0-9.]+) (\w+)", text).groups()
    return float(number) * {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit]


def assert_shown(shown: float, expected: float) -> None:
    """DuckDB shows a size with one decimal in the largest binary unit, truncated."""
    unit = next(u for u in (2**40, 2**30, 2**20, 2**10, 1) if expected >= u)
    assert 0 <= expected - shown < 0.1 * unit + 1, (shown, expected)


def settings(ws: Workspace) -> tuple[float, str]:
    limit, temp = ws.duckdb.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchone()
    return shown_bytes(limit), temp


def test_default_limit_is_a_quarter_of_physical_ram(tmp_path):
    with Workspace(tmp_path / "ws.duckdb") as ws:
        limit, temp = settings(ws)
    expected = max(ram_bytes() / 4, 1e9)
    assert_shown(limit, expected)
    assert limit < 0.8 * ram_bytes()  # not DuckDB's own default
    assert temp == str(tmp_path / "ws.duckdb") + ".tmp"  # DuckDB's spill folder kept


@pytest.mark.parametrize("value, expected", [
    ("3GiB", 3 * GiB), ("512MiB", 512 * 2**20), ("2GB", 2e9), (" 1.5 gb ", 1.5e9), ("1500000000", 1.5e9),
])
def test_env_var_sets_the_limit(tmp_path, monkeypatch, value, expected):
    monkeypatch.setenv("CDP_MEMORY_LIMIT", value)
    with Workspace(tmp_path / "ws.duckdb") as ws:
        limit, _ = settings(ws)
    assert_shown(limit, expected)


def test_share_of_ram_and_temp_dir_on_a_read_only_workspace(tmp_path, monkeypatch):
    Workspace(tmp_path / "ws.duckdb").close()
    spill = tmp_path / "spill" / "here"
    monkeypatch.setenv("CDP_MEMORY_LIMIT", "10%")
    monkeypatch.setenv("CDP_TEMP_DIR", str(spill))
    with Workspace(tmp_path / "ws.duckdb", read_only=True) as ws:
        limit, temp = settings(ws)
    assert_shown(limit, ram_bytes() // 10)
    assert temp == str(spill) and spill.is_dir()


def test_queries_past_the_limit_spill_to_the_temp_dir(tmp_path, monkeypatch):
    # Sorting ~80 MB of strings into a temp table under a 32 MB limit completes by spilling into
    # CDP_TEMP_DIR, with the right answer.
    spill = tmp_path / "spill"
    monkeypatch.setenv("CDP_MEMORY_LIMIT", "32MB")
    monkeypatch.setenv("CDP_TEMP_DIR", str(spill))
    with Workspace(tmp_path / "ws.duckdb") as ws:
        db = ws.duckdb
        db.execute("SET threads = 1")
        db.execute("CREATE TABLE big AS SELECT i, md5(i::VARCHAR) || md5((i + 1)::VARCHAR) AS s "
                   "FROM range(1000000) t(i)")
        db.execute("CREATE TEMP TABLE sorted AS SELECT * FROM big ORDER BY s")
        files = [p for (p,) in db.execute("SELECT path FROM duckdb_temporary_files()").fetchall()]
        first = db.execute("SELECT s FROM sorted LIMIT 1").fetchone()[0]
        smallest = db.execute("SELECT min(s) FROM big").fetchone()[0]
    assert files and all(str(spill) in p for p in files), files
    assert first == smallest


def test_cli_option_applies_to_the_command_and_wins_over_env(tmp_path, monkeypatch, capsys):
    db = str(tmp_path / "ws.duckdb")
    monkeypatch.setenv("CDP_MEMORY_LIMIT", "1GiB")
    assert main(["--db", db, "--memory-limit", "768MiB", "--temp-dir", str(tmp_path / "t"), "init"]) == 0
    capsys.readouterr()
    # The option is handed on to everything the command opens (report kernels too) by the env var.
    import os

    assert os.environ["CDP_MEMORY_LIMIT"] == "768MiB"
    with Workspace(db) as ws:
        limit, temp = settings(ws)
    assert limit == 768 * 2**20 and temp == str(tmp_path / "t")


@pytest.mark.parametrize("args, env, message", [
    (["--memory-limit", "lots"], {}, "memory limit (--memory-limit, CDP_MEMORY_LIMIT) 'lots' is not a memory size"),
    ([], {"CDP_MEMORY_LIMIT": "4 GigaBytes"}, "'4 GigaBytes' is not a memory size"),
    (["--memory-limit", "-2GB"], {}, "is not a memory size"),
    (["--memory-limit", "150%"], {}, "must be above 0% and at most 100%"),
    (["--memory-limit", "0%"], {}, "must be above 0% and at most 100%"),
    (["--memory-limit", "100KB"], {}, "is below 1 MiB"),
    ([], {"CDP_TEMP_DIR": "FILE"}, "is a file, not a folder"),
])
def test_bad_value_is_one_line_exit_2_and_creates_nothing(tmp_path, monkeypatch, capsys, args, env, message):
    (tmp_path / "a_file").write_text("x")
    for key, value in env.items():
        monkeypatch.setenv(key, str(tmp_path / "a_file") if value == "FILE" else value)
    db = tmp_path / "ws.duckdb"
    code = main(["--db", str(db), *args, "init"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert message in err
    assert not db.exists()


def test_library_refuses_a_bad_value_before_creating_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CDP_MEMORY_LIMIT", "12 parsecs")
    with pytest.raises(InputError, match="'12 parsecs' is not a memory size"):
        Workspace(tmp_path / "ws.duckdb")
    assert not (tmp_path / "ws.duckdb").exists()


def test_parse_size_units():
    assert parse_size("2MB") == 2_000_000
    assert parse_size("2MiB") == 2 * 2**20
    assert parse_size("1.25TB") == 1_250_000_000_000
    assert parse_size("50%") == pytest.approx(ram_bytes() / 2, rel=0.01)


def test_out_of_memory_is_one_line_naming_the_limit(tmp_path, monkeypatch, capsys):
    import duckdb

    from cdp_lib import workspace

    db = str(tmp_path / "ws.duckdb")
    Workspace(db).close()

    def too_big(self):
        raise duckdb.OutOfMemoryException(
            "Out of Memory Error: could not allocate block of size 256.0 KiB (1.9 GiB/1.9 GiB used)\n\n"
            "Possible solutions:\n* Reducing the number of threads")

    monkeypatch.setattr(workspace.Workspace, "summary", too_big)
    code = main(["--db", db, "--memory-limit", "2GB", "info"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "DuckDB ran out of memory under its 2.0 GB limit (Out of Memory Error: could not allocate" in err
    assert "--memory-limit or CDP_MEMORY_LIMIT" in err
