"""Issue 10, class 10: run ids are names, and a clear error is not followed by a traceback."""

from __future__ import annotations

import gc
import sys

import pytest

from cdp_lib import InputError, Workspace
from cdp_lib.reports import check_run_id, run_notebook


@pytest.mark.parametrize("bad", ["../../x", "..", ".", "a/b", "/abs", "a\\b", "", " x", "x" * 200, "-rf"])
def test_run_ids_that_are_paths_are_refused(bad):
    with pytest.raises(InputError, match="is not a name"):
        check_run_id(bad)


@pytest.mark.parametrize("good", ["20261125T181500Z-3fa9c1", "nightly_1", "v1.2"])
def test_ordinary_run_ids(good):
    assert check_run_id(good) == good


def test_run_notebook_refuses_before_writing_anything(tmp_path):
    reports = tmp_path / "reports"
    with pytest.raises(InputError, match="is not a name"):
        run_notebook("rfm", reports_dir=reports, run_id="../../escape", default_db=str(tmp_path / "w.duckdb"))
    assert not (tmp_path / "escape").exists() and not reports.exists()


def test_cli_run_id_with_dots_is_one_line(tmp_path):
    from ingest_helpers import assert_one_line_error, cdp

    proc = cdp("run", "rfm", "--reports-dir", str(tmp_path / "r"), "--run-id", "../../x", db=tmp_path / "w.duckdb")
    assert_one_line_error(proc, "is not a name")
    assert not (tmp_path / "x").exists()


def test_closing_a_workspace_releases_cached_tables(tmp_path):
    """Once closed, a cached table still referenced (say by an exception's frames) used to be
    dropped by the garbage collector on a closed connection: "Exception ignored in ...
    _finalize_cached_table"."""
    seen = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda info: seen.append(info)
    try:
        ws = Workspace(tmp_path / "w.duckdb")
        cached = ws.events.cache()
        ws.close()
        del cached
        gc.collect()
    finally:
        sys.unraisablehook = old_hook
    assert seen == []
