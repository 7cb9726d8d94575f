"""One parameter vocabulary: every shipped file under parameters/<notebook>/ is accepted by
`cdp run <notebook> -f FILE` (validated against the notebook's parameters cell, nothing run)."""

from pathlib import Path

import pytest

from cdp_lib import reports as runner

REPO = Path(__file__).resolve().parents[1]
# Folders named after their notebook, except these two historical names (kept: users' scripts
# and the schedule refer to them).
NOTEBOOK_OF = {"audience": "audience_performance", "schedule": None, "segments": None, "metrics": None,
               "transforms": None, "monitors": None, "triggers": None, "code": None}


def shipped_files() -> list[tuple[str, Path]]:
    out = []
    for folder in sorted(p for p in (REPO / "parameters").iterdir() if p.is_dir()):
        notebook = NOTEBOOK_OF.get(folder.name, folder.name)
        if notebook is None:
            continue
        out += [(notebook, f) for f in sorted(folder.glob("*.y*ml"))]
    # Scheduler jobs name a notebook and a parameter file each.
    for job in runner.load_parameters_file(REPO / "parameters" / "schedule.yaml").get("jobs", []):
        if isinstance(job, dict) and job.get("parameters") and str(job.get("notebook", "")).endswith(".ipynb"):
            out.append((Path(job["notebook"]).stem, REPO / job["parameters"]))
    return out


@pytest.mark.parametrize("notebook,path", shipped_files(), ids=lambda v: str(v).split("parameters/")[-1])
def test_every_shipped_parameter_file_is_accepted_by_its_notebook(notebook, path):
    runner.prepare(REPO / "notebooks" / f"{notebook}.ipynb", parameters_file=path,
                   default_db=str(REPO / "data" / "cdp.duckdb"))
