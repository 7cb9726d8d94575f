"""The project folder: where relative workspace paths, parameter files and notebooks are found.

One rule for the CLI, JupyterLab kernels (which start in `notebooks/`), papermill, `cdp run` and
Voila: the project folder is `$CDP_PROJECT_DIR` when set, else the nearest folder at or above
the current one holding both `notebooks/` and `parameters/`, else the current folder. A relative
workspace path (`data/cdp.duckdb`) is taken from the project folder.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ENV = "CDP_PROJECT_DIR"
MARKERS = ("notebooks", "parameters")


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The project folder (see the module docstring), as an absolute path."""
    if os.environ.get(PROJECT_ENV):
        return Path(os.environ[PROJECT_ENV]).expanduser().resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).is_dir() for marker in MARKERS):
            return folder
    return here


def resolve_path(path: str | os.PathLike) -> Path:
    """`path` made absolute: relative paths are taken from the project folder."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else project_root() / p
