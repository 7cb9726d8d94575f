"""Old import path of the report runner, kept for notebooks and scripts: see `cdp_lib.reports`.

`from cdp_lib import runner; runner.run_notebook(...)` keeps working; new code imports from
`cdp_lib.reports` (or its modules `parameters`, `run`, `export`, `publish`, `record`).
"""

from cdp_lib.reports import *  # noqa: F403  (the public names, re-exported)
from cdp_lib.reports import __all__  # noqa: F401
