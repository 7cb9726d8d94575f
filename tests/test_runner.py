"""Report runs: parameters-cell parsing and validation, papermill execution, run records, HTML."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from hypothesis import given, strategies as st

from cdp_lib import reports as runner
from cdp_lib.reports import parameters
from cdp_lib.cli import main as cdp_main
from cdp_lib.errors import InputError
from cdp_lib.testing import workspace_from_frames

NOTEBOOKS = Path(__file__).parent / "notebooks"
PASSING = NOTEBOOKS / "passing.ipynb"
FAILING = NOTEBOOKS / "failing.ipynb"
EXPORTS = NOTEBOOKS / "exports.ipynb"


def _notebook_with(tmp_path, source: str, tagged: bool = True) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    if tagged:
        cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("print(1)")]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


# -- parsing the parameters cell -----------------------------------------------------------------
def test_read_parameters_reads_name_type_default_help():
    params = {p.name: p for p in runner.read_parameters(PASSING)}
    assert list(params) == ["db", "rows", "scale", "label", "verbose", "as_of", "metrics", "options", "threshold"]
    assert params["rows"].type == "int" and params["rows"].default == 3
    assert params["rows"].help == "how many rows to show"
    assert params["as_of"].type == "str | None" and params["as_of"].default is None
    assert not params["as_of"].required  # None is a valid value of str | None
    assert params["metrics"].default == ["Placed Order"]
    assert params["threshold"].required  # default None for a plain int: must be given
    assert params["threshold"].line == 9


def test_untyped_lines_take_the_type_of_their_default(tmp_path):
    path = _notebook_with(tmp_path, 'n = 3  # count\nname = "x"\nanything = None')
    params = {p.name: p for p in runner.read_parameters(path)}
    assert (params["n"].type, params["name"].type, params["anything"].type) == ("int", "str", "Any")
    assert not params["anything"].required


def test_parameter_without_value_is_required(tmp_path):
    path = _notebook_with(tmp_path, "segment: str  # name of the segment")
    (param,) = runner.read_parameters(path)
    assert param.required and param.help == "name of the segment"


@pytest.mark.parametrize(
    "source, match",
    [
        ("x: int = 1 + 1", r"default of 'x' must be a literal"),
        ("x: int = 'a'", r"default 'a' of 'x' is not a int"),
        ("import os", r"expected `name: type = literal`"),
        ("x: set = set()", r"type 'set' is not supported"),
        ("x: int = (", r"parameters cell .* line 1"),
    ],
)
def test_bad_parameters_cell_is_rejected(tmp_path, source, match):
    with pytest.raises(InputError, match=match):
        runner.read_parameters(_notebook_with(tmp_path, source))


def test_notebook_without_parameters_cell_is_rejected(tmp_path):
    with pytest.raises(InputError, match="no cell tagged 'parameters'"):
        runner.read_parameters(_notebook_with(tmp_path, "x: int = 1", tagged=False))


# -- validation ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def declared():
    return runner.read_parameters(PASSING)


def test_valid_values_pass_through(declared):
    out = runner.validate_parameters(
        declared, {"threshold": 5, "scale": 2, "metrics": ["a", "b"], "options": {"k": 1}, "as_of": None}
    )
    assert out == {"threshold": 5, "scale": 2, "metrics": ["a", "b"], "options": {"k": 1}, "as_of": None}


def test_unknown_name_suggests_the_closest(declared):
    with pytest.raises(InputError, match=r"unknown parameter 'threshhold' for passing.ipynb; did you mean 'threshold'\?"):
        runner.validate_parameters(declared, {"threshhold": 5, "threshold": 1}, notebook="passing.ipynb")


def test_unknown_name_without_close_match_lists_known(declared):
    with pytest.raises(InputError, match=r"unknown parameter 'zzz' .*\(known: db, rows, scale"):
        runner.validate_parameters(declared, {"zzz": 1, "threshold": 1})


@pytest.mark.parametrize(
    "values, match",
    [
        ({"rows": 2.5}, r"parameter 'rows' expects int, got float 2.5"),
        ({"rows": True}, r"parameter 'rows' expects int, got bool True"),
        ({"scale": "big"}, r"parameter 'scale' expects float, got str 'big'"),
        ({"verbose": 1}, r"parameter 'verbose' expects bool, got int 1"),
        ({"label": None}, r"parameter 'label' expects str, got NoneType None"),
        ({"metrics": ["a", 2]}, r"parameter 'metrics' expects list\[str\], got list \['a', 2\]"),
        ({"options": [1]}, r"parameter 'options' expects dict, got list"),
        ({"as_of": 20240101}, r"parameter 'as_of' expects str \| None, got int"),
    ],
)
def test_wrong_types_are_errors(declared, values, match):
    with pytest.raises(InputError, match=match):
        runner.validate_parameters(declared, {"threshold": 1, **values})


def test_missing_required_value(declared):
    with pytest.raises(InputError, match=r"parameter 'threshold' \(int\) is required for passing.ipynb: pass -p threshold VALUE"):
        runner.validate_parameters(declared, {}, notebook="passing.ipynb")


def test_all_problems_reported_together(declared):
    with pytest.raises(InputError) as info:
        runner.validate_parameters(declared, {"rows": "x", "bogus": 1})
    text = str(info.value)
    assert "'rows' expects int" in text and "unknown parameter 'bogus'" in text and "'threshold'" in text


def test_command_line_strings_convert_to_declared_types(declared):
    out = runner.validate_parameters(
        declared,
        text_values={"rows": "7", "scale": "0.5", "verbose": "yes", "as_of": "none", "metrics": "[a, b]",
                     "options": "{k: 2}", "label": "123", "threshold": "4"},
    )
    assert out == {"rows": 7, "scale": 0.5, "verbose": True, "as_of": None, "metrics": ["a", "b"],
                   "options": {"k": 2}, "label": "123", "threshold": 4}


@pytest.mark.parametrize("name, text", [("rows", "seven"), ("verbose", "maybe"), ("metrics", "[1, 2]"), ("scale", "")])
def test_command_line_strings_that_do_not_fit(declared, name, text):
    with pytest.raises(InputError, match=rf"parameter '{name}' expects .*, got '{re.escape(text)}'"):
        runner.validate_parameters(declared, {"threshold": 1}, text_values={name: text})


def test_yaml_dates_become_iso_strings(declared, tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("as_of: 2024-01-31\nthreshold: 2\n")
    values = runner.load_parameters_file(f)
    assert values["as_of"] == dt.date(2024, 1, 31)
    assert runner.validate_parameters(declared, values)["as_of"] == "2024-01-31"


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_int_text_round_trips(n):
    assert parameters._from_text(parameters._parse_type("int"), str(n)) == n
    assert parameters._from_text(parameters._parse_type("int | None"), str(n)) == n


def test_parameters_file_must_be_a_mapping(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("- a\n- b\n")
    with pytest.raises(InputError, match=r"must be a mapping of `name: value`, found list"):
        runner.load_parameters_file(f)
    with pytest.raises(InputError, match=r"parameter file .*missing.yaml not found"):
        runner.load_parameters_file(tmp_path / "missing.yaml")


def test_db_and_existing_paths_become_absolute(declared, tmp_path):
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "vip.yaml").write_text("x: 1")
    out = runner.absolutise_paths({"label": "defs/vip.yaml", "rows": 1}, declared, tmp_path)
    assert out["db"] == str((tmp_path / "data/cdp.duckdb").resolve())  # from the default
    assert out["label"] == str((tmp_path / "defs/vip.yaml").resolve())
    out = runner.absolutise_paths({"label": "not/there.csv"}, declared, tmp_path)
    assert out["label"] == "not/there.csv"


def test_invalid_parameters_create_no_run_folder(tmp_path):
    with pytest.raises(InputError, match="'threshold'"):
        runner.run_notebook(PASSING, reports_dir=tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


def test_run_ids_sort_by_time():
    a = runner.new_run_id(dt.datetime(2026, 11, 25, 18, 15, 0, tzinfo=dt.timezone.utc))
    b = runner.new_run_id(dt.datetime(2026, 11, 25, 18, 15, 1, tzinfo=dt.timezone.utc))
    assert a.startswith("20261125T181500Z-") and a < b


# -- real runs -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One passing (with a workspace), one failing and one exporting run in one reports folder."""
    root = tmp_path_factory.mktemp("runs")
    events = pd.DataFrame({
        "event_id": ["e1", "e2", "e3"],
        "profile_id": ["a", "a", "b"],
        "metric": ["Placed Order"] * 3,
        "timestamp": ["2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", "2025-01-03T12:30:00Z"],
        "value": [1.0, 2.0, 3.0],
    })
    db = root / "ws.duckdb"
    workspace_from_frames(str(db), events=events).close()
    reports = root / "reports"
    return {
        "root": root,
        "reports": reports,
        "passing": runner.run_notebook(PASSING, {"threshold": 4, "label": "weekly"}, reports_dir=reports,
                                       default_db=str(db)),
        "failing": runner.run_notebook(FAILING, reports_dir=reports, default_db=str(db)),
        "exports": runner.run_notebook(EXPORTS, {"points": 4}, reports_dir=reports),
    }


@pytest.mark.notebook
def test_successful_run_record(runs):
    result = runs["passing"]
    assert result.status == "succeeded" and result.error is None
    assert result.run_dir.parent == runs["reports"] / "passing"
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "succeeded"
    assert record["parameters"]["threshold"] == 4 and record["parameters"]["rows"] == 3
    assert record["parameters_given"] == {"threshold": 4, "label": "weekly"}
    assert record["fingerprint"] == {
        "tables": {"catalog": 0, "events": 3, "identities": 0, "ingests": 0, "merges": 0,
                   "profiles": 2, "quarantine": 0},
        "max_event_time": "2025-01-03 12:30:00+00:00",
    }
    started = dt.datetime.fromisoformat(record["started_at"])
    finished = dt.datetime.fromisoformat(record["finished_at"])
    assert 0 < record["duration_seconds"] <= (finished - started).total_seconds() + 0.01
    assert record["package_version"] == "0.1.0"
    assert (result.run_dir / "passing.ipynb").exists() and result.html.exists()


@pytest.mark.notebook
def test_html_shows_outputs_but_no_code_and_needs_no_network(runs):
    text = runs["passing"].html.read_text()
    assert "report label: WEEKLY threshold 4 metrics 1" in text
    assert "label.upper()" not in text and "pd.DataFrame" not in text
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?://', text)
    assert "hl-ipython3" not in text  # no highlighted code block


@pytest.mark.notebook
def test_failed_run_is_recorded_with_the_failing_cell_marked(runs):
    result = runs["failing"]
    assert result.status == "failed"
    assert result.error == "ValueError: boom: the data is bad (in cell In [4])"
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "failed" and record["error"] == result.error
    nb = nbformat.read(result.ipynb, as_version=4)
    assert "papermill-error-cell" in nb.cells[0].source  # papermill's banner at the top
    outputs = " ".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "first cell ran" in outputs and "after the failure" not in outputs
    html = result.html.read_text()
    assert "An Exception was encountered" in html and "boom: the data is bad" in html


@pytest.mark.notebook
def test_exported_files_land_in_the_run_folder(runs):
    result = runs["exports"]
    assert result.record["outputs"] == ["squares.csv", "squares.png"]
    frame = pd.read_csv(result.run_dir / "squares.csv")
    assert frame["y"].tolist() == [0, 1, 4, 9]
    assert (result.run_dir / "squares.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "data:image/png;base64," in result.html.read_text()  # the chart is inline


@pytest.mark.notebook
def test_index_lists_every_run(runs):
    index = (runs["reports"] / "index.html").read_text()
    for key in ("passing", "failing", "exports"):
        assert f'href="{key}/{runs[key].run_id}/{key}.html"' in index


@pytest.mark.notebook
def test_cli_exit_codes_and_params(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cdp_main(["run", str(FAILING), "--reports-dir", "r"]) == 1
    assert "run failed: ValueError: boom: the data is bad" in capsys.readouterr().err
    assert cdp_main(["run", str(PASSING), "-p", "rows", "x", "-p", "threshold", "1"]) == 2
    assert "parameter 'rows' expects int, got 'x'" in capsys.readouterr().err
    assert cdp_main(["params", str(PASSING)]) == 0
    out = capsys.readouterr().out
    assert "threshold  int         (required)         required: the cut-off" in out


@pytest.mark.notebook
def test_plain_papermill_runs_the_same_notebook(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"threshold": 2, "rows": 2}))
    out = tmp_path / "out.ipynb"
    subprocess.run(
        [sys.executable, "-m", "papermill", str(PASSING), str(out), "-f", str(params), "-k", "python3", "--no-progress-bar"],
        check=True, capture_output=True, cwd=tmp_path,
    )
    nb = nbformat.read(out, as_version=4)
    text = " ".join(str(o) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "threshold 2" in text


# -- shipped notebooks ---------------------------------------------------------------------------
SHIPPED = sorted(Path(__file__).resolve().parents[1].glob("notebooks/**/*.ipynb"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_plain_papermill_reads_every_shipped_parameter(path, caplog):
    """Plain `papermill -p` must see the same parameters as `cdp run`, without parse warnings."""
    from papermill.inspection import inspect_notebook

    with caplog.at_level("WARNING"):
        seen_by_papermill = set(inspect_notebook(str(path)))
    assert seen_by_papermill == {p.name for p in runner.read_parameters(path)}
    assert "Unable to parse" not in caplog.text
