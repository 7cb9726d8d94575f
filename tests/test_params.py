"""The one `*Params` base (cdp_lib.params), the from/to, grain and output_dir vocabulary with
warning aliases, and `cdp run` validating a notebook's `*Params` before a kernel starts."""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings
from pathlib import Path

import pandas as pd
import pytest

from cdp_lib import runner
from cdp_lib.audience import AudienceParams, audience_params, period_bounds
from cdp_lib.catalog.insights import CatalogParams
from cdp_lib.cli import main
from cdp_lib.clv import ClvParams
from cdp_lib.cohorts import CohortParams, cohort_params, cohort_table
from cdp_lib.errors import DeprecatedSpellingWarning, InputError
from cdp_lib.funnel import FunnelParams, funnel_params
from cdp_lib.health import HealthParams
from cdp_lib.kpi import KpiParams
from cdp_lib.monitors.report import MonitorsParams
from cdp_lib.params import Params, notebook_params_class
from cdp_lib.rfm import RfmParams
from cdp_lib.segments import SegmentationParams, segmentation_params
from cdp_lib.testing import workspace_from_frames

REPO = Path(__file__).resolve().parents[1]
CLASSES = [RfmParams, FunnelParams, CohortParams, AudienceParams, SegmentationParams, MonitorsParams,
           CatalogParams, HealthParams, KpiParams, ClvParams]


@contextlib.contextmanager
def no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecatedSpellingWarning)
        yield


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_params_class_has_the_one_base(cls):
    assert issubclass(cls, Params)
    assert cls.parameter_names()  # read from the class or its builder


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_unknown_name_is_refused_with_the_closest(cls):
    name = cls.parameter_names()[-1]
    with pytest.raises(InputError, match=rf"unknown parameter '{name}x'; did you mean '{name}'\?; allowed: "):
        cls.from_mapping({f"{name}x": 1}, where="f.yaml")


def test_from_yaml_reads_from_to_and_names_the_file(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text("steps: [A, B]\nwindow: 30m\nfrom: 2024-03-01\nto: 2024-03-31\n")
    with no_warning():
        p = FunnelParams.from_yaml(path)
    assert (p.from_date, p.to_date, p.window) == (dt.date(2024, 3, 1), dt.date(2024, 3, 31), dt.timedelta(minutes=30))
    path.write_text("steps: [A, B]\nfrom: 2024-03-02\nto: 2024-03-01\n")
    with pytest.raises(InputError, match=rf"^{path}: from 2024-03-02 is after to 2024-03-01; swap them$"):
        FunnelParams.from_yaml(path)
    path.write_text("- a\n")
    with pytest.raises(InputError, match="expected a mapping of parameter names"):
        FunnelParams.from_yaml(path)
    with pytest.raises(InputError, match="not found"):
        FunnelParams.from_yaml(tmp_path / "missing.yaml")


@pytest.mark.parametrize(("cls", "old", "new"), [
    (FunnelParams, {"steps": ["A", "B"], "from_date": "2024-03-01", "to_date": "2024-03-09"},
     {"steps": ["A", "B"], "from": "2024-03-01", "to": "2024-03-09"}),
    (CohortParams, {"period": "week", "from_date": "2024-01-01", "to_date": "2024-02-01"},
     {"grain": "week", "from": "2024-01-01", "to": "2024-02-01"}),
    (AudienceParams, {"period": "custom", "start": "2024-03-01", "end": "2024-03-09"},
     {"period": "custom", "from": "2024-03-01", "to": "2024-03-09"}),
    (SegmentationParams, {"out_dir": "x"}, {"output_dir": "x"}),
    (KpiParams, {"start": "2024-03-01", "end": "2024-03-09"}, {"from": "2024-03-01", "to": "2024-03-09"}),
])
def test_old_names_in_a_mapping_warn_and_give_the_same_params(cls, old, new):
    with pytest.warns(DeprecatedSpellingWarning, match=r"f.yaml: '\w+' is now called '\w+'"):
        got_old = cls.from_mapping(old, "f.yaml")
    with no_warning():
        got_new = cls.from_mapping(new, "f.yaml")
    assert got_old == got_new


def test_old_keywords_warn_and_give_the_same_params():
    pairs = [
        (lambda: funnel_params(["A", "B"], from_date="2024-03-01", to_date="2024-03-09"),
         lambda: funnel_params(["A", "B"], from_="2024-03-01", to="2024-03-09")),
        (lambda: cohort_params(period="day", from_date="2024-01-01"), lambda: cohort_params(grain="day", from_="2024-01-01")),
        (lambda: audience_params(period="custom", start="2024-03-01", end="2024-03-02"),
         lambda: audience_params(period="custom", from_="2024-03-01", to="2024-03-02")),
        (lambda: period_bounds("custom", None, start="2024-03-01", end="2024-03-02"),
         lambda: period_bounds("custom", None, "2024-03-01", "2024-03-02")),
        (lambda: segmentation_params(out_dir="x"), lambda: segmentation_params(output_dir="x")),
    ]
    for old, new in pairs:
        with pytest.warns(DeprecatedSpellingWarning, match="is now called"):
            got_old = old()
        with no_warning():
            assert got_old == new()
    assert segmentation_params(output_dir="x").out_dir == Path("x")  # the old attribute still reads


def test_both_spellings_at_once_are_refused():
    with pytest.raises(InputError, match="'from_date' and 'from_' name the same parameter; keep only 'from_'"):
        funnel_params(["A", "B"], from_="2024-03-01", from_date="2024-03-01")
    with pytest.raises(InputError, match="'from_date' and 'from_' name the same parameter"), \
            pytest.warns(DeprecatedSpellingWarning):
        FunnelParams.from_mapping({"steps": ["A", "B"], "from": "2024-03-01", "from_date": "2024-03-01"})


def test_cohort_grain_alias_gives_the_same_table():
    ev = pd.DataFrame({
        "profile_id": ["a", "a", "b", "b", "c"],
        "metric": ["Placed Order"] * 5,
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-09", "2024-01-02", "2024-01-20", "2024-01-15"], utc=True),
        "value": [1.0] * 5,
    })
    ws = workspace_from_frames(events=ev)
    with pytest.warns(DeprecatedSpellingWarning):
        old = cohort_table(ws, cohort_params(period="week", from_date="2024-01-01"), metrics={}).execute()
    new = cohort_table(ws, cohort_params(grain="week", from_="2024-01-01"), metrics={}).execute()
    pd.testing.assert_frame_equal(old, new)
    assert len(new) > 1


# -- cdp run validates the notebook's *Params before a kernel starts ---------------------------
MARKED = {"rfm": RfmParams, "funnel": FunnelParams, "cohort": CohortParams, "audience_performance": AudienceParams,
          "segmentation": SegmentationParams, "monitors": MonitorsParams, "catalog_insights": CatalogParams,
          "data_health": HealthParams, "kpi_overview": KpiParams,
          "clv": ClvParams}


@pytest.mark.parametrize("notebook", sorted(MARKED))
def test_notebooks_name_their_params_and_declare_every_parameter_of_it(notebook):
    path = REPO / "notebooks" / f"{notebook}.ipynb"
    cls = notebook_params_class(path)
    assert cls is MARKED[notebook]
    declared = {p.name for p in runner.read_parameters(path)}
    # every notebook parameter named like a class parameter reaches it; none is spelled the old way
    assert not declared & (set(cls.ALIASES) | set(cls.NOTEBOOK_ALIASES))
    with no_warning():
        runner.prepare(path, default_db=str(REPO / "data" / "cdp.duckdb"))


@pytest.fixture
def no_kernel(monkeypatch):
    import papermill

    def refuse(*a, **k):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(papermill, "execute_notebook", refuse)


@pytest.mark.parametrize(("args", "message"), [
    (["-p", "bad_key", "1"], "unknown parameter 'bad_key' for rfm.ipynb"),
    (["-p", "lookback_days", "0"], "rfm.ipynb parameters: lookback_days: expected a whole number of days >= 1, got 0"),
    (["-p", "recency_days_thresholds", "[365, 180]"], "rfm.ipynb parameters: recency_days_thresholds"),
])
def test_cdp_run_refuses_a_bad_parameter_before_a_kernel_starts(args, message, no_kernel, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(REPO / "notebooks" / "rfm.ipynb"), "--reports-dir", "r", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_cdp_run_refuses_a_bad_cohort_grain_and_funnel_window(no_kernel, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(REPO / "notebooks" / "cohort.ipynb"), "--reports-dir", "r", "-p", "grain", "year"]) == 2
    assert "grain: expected one of ['day', 'week', 'month'], got 'year'" in capsys.readouterr().err
    assert main(["run", str(REPO / "notebooks" / "funnel.ipynb"), "--reports-dir", "r", "-p", "window", "7x"]) == 2
    assert "window: '7x' is not a duration" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_old_notebook_parameter_names_are_renamed_with_a_warning(tmp_path):
    path = REPO / "notebooks" / "rfm.ipynb"
    with pytest.warns(DeprecatedSpellingWarning, match=r"rfm.ipynb: 'start_date' is now called 'from'"):
        got = runner.prepare(path, text_parameters={"start_date": "2024-01-01"})[3]
    assert got == {"from_": "2024-01-01"}
    old = tmp_path / "old.yaml"
    old.write_text("period: week\nfrom_date: 2024-01-01\n")
    new = tmp_path / "new.yaml"
    new.write_text("grain: week\nfrom: 2024-01-01\n")
    with pytest.warns(DeprecatedSpellingWarning):
        got_old = runner.prepare(REPO / "notebooks" / "cohort.ipynb", parameters_file=old)[3]
    assert got_old == runner.prepare(REPO / "notebooks" / "cohort.ipynb", parameters_file=new)[3] \
        == {"grain": "week", "from_": "2024-01-01"}


# -- CLI flags: --from/--to, --grain, --output-dir; the old flags warn and give the same output --
def _cli_events() -> pd.DataFrame:
    return pd.DataFrame({
        "profile_id": ["a", "a", "b", "b", "c", "c"],
        "metric": ["Placed Order"] * 6,
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-09", "2024-01-02", "2024-02-20", "2024-01-15", "2024-03-01"],
                                    utc=True),
        "value": [10.0, 5.0, 7.0, 1.0, 3.0, 2.0],
    })


@pytest.mark.parametrize(("new", "old", "warning", "both"), [
    (["cohort", "--grain", "week", "--from", "2024-01-01"], ["cohort", "--period", "week", "--from", "2024-01-01"],
     "warning: --period is now --grain", ["--period", "week"]),
    (["audience-performance", "--period", "custom", "--from", "2024-01-01", "--to", "2024-01-31"],
     ["audience-performance", "--period", "custom", "--start", "2024-01-01", "--end", "2024-01-31"],
     "warning: --start is now --from", ["--end", "2024-01-31"]),
])
def test_old_cli_flags_warn_and_give_the_same_output(new, old, warning, both, tmp_path, capsys):
    db = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(db), events=_cli_events()).close()
    if new[0] == "audience-performance":
        (tmp_path / "members.yaml").write_text("Buyers: [a, b]\n")
        new, old = (args + ["--members", str(tmp_path / "members.yaml")] for args in (new, old))
    assert main(["--db", str(db), *new, "--out", str(tmp_path / "new.csv")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["--db", str(db), *old, "--out", str(tmp_path / "old.csv")]) == 0
    assert warning in capsys.readouterr().err
    assert (tmp_path / "new.csv").read_text() == (tmp_path / "old.csv").read_text()
    assert main(["--db", str(db), *new, *both, "--out", str(tmp_path / "x.csv")]) == 2
    assert "are the same option; keep only" in capsys.readouterr().err


def test_cdp_run_prints_an_old_parameter_name_as_one_warning_line(no_kernel, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # the old name is renamed (with the warning), then the bad value is refused before a kernel
    assert main(["run", str(REPO / "notebooks" / "rfm.ipynb"), "--reports-dir", "r",
                 "-p", "start_date", "2024-01-01", "-p", "lookback_days", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "warning: rfm.ipynb: 'start_date' is now called 'from'; the old name still works for now"
    assert err[1].startswith("error: rfm.ipynb parameters: lookback_days") and len(err) == 2
