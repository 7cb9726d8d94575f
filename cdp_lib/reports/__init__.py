"""Report runs of parameterized notebooks: parameters, run lifecycle, HTML, index and scheduler.

Modules (each one job; the scheduler may use the runner, never the other way round):

- `parameters`: the notebook's `parameters` cell as a contract, values converted and validated;
- `run`: `run_notebook` (papermill into `reports/<notebook>/<run-id>/`) and `mark_failed`;
- `record`: run ids, `run.json`, the outputs list, one-line error summaries;
- `export`: the code-free HTML copy; `publish`: the apps' snapshot after a run;
- `index`: `reports/index.html`;
- `schedule/`: cron-timed jobs (`config`, `cron`, `state`, `lock`, `jobs`, `notify`, `loop`).

Importing this package loads no heavy library (papermill and nbformat load when a run starts).

>>> from cdp_lib.reports import REPORTS_DIR, check_run_id
>>> check_run_id("20261125T181500Z-3fa9c1")
'20261125T181500Z-3fa9c1'
"""

from cdp_lib.reports.export import export_html
from cdp_lib.reports.parameters import (
    NOTEBOOK_DIR, Parameter, absolutise_paths, find_notebook, load_parameters_file, prepare, read_parameters,
    validate_parameters,
)
from cdp_lib.reports.publish import publish_snapshot
from cdp_lib.reports.record import check_run_id, list_outputs, new_run_id
from cdp_lib.reports.run import KERNEL_NAME, REPORTS_DIR, RunResult, data_fingerprint, mark_failed, run_notebook

__all__ = [
    "KERNEL_NAME", "NOTEBOOK_DIR", "Parameter", "REPORTS_DIR", "RunResult", "absolutise_paths", "check_run_id",
    "data_fingerprint", "export_html", "find_notebook", "list_outputs", "load_parameters_file", "mark_failed",
    "new_run_id", "prepare", "publish_snapshot", "read_parameters", "run_notebook", "validate_parameters",
]
