"""The project folder rule and the paths a newcomer meets (issue 16's broken paths).

- a notebook kernel starts in `notebooks/`: `db="data/cdp.duckdb"` must still name the project's
  workspace;
- the segment builder saves into the user's project, not into the installed package's checkout;
- `cdp run`/`cdp params` find notebooks from any folder inside the project;
- stopping `cdp app` with SIGTERM or SIGINT stops Voila and its kernels and frees the port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from cdp_lib.apps.base import resolve_db
from cdp_lib.project import project_root, resolve_path
from cdp_lib.reports import find_notebook
from cdp_lib.segments.library import default_folder
from cdp_lib.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]


def make_project(root: Path) -> Path:
    """A second checkout's shape: notebooks/ and parameters/ (no package inside)."""
    (root / "notebooks").mkdir(parents=True)
    (root / "parameters" / "segments").mkdir(parents=True)
    (root / "data").mkdir()
    return root


def test_project_root_is_found_from_a_subfolder(tmp_path, monkeypatch):
    root = make_project(tmp_path / "shop")
    monkeypatch.delenv("CDP_PROJECT_DIR", raising=False)
    monkeypatch.chdir(root / "notebooks")
    assert project_root() == root.resolve()
    assert resolve_path("data/cdp.duckdb") == root.resolve() / "data" / "cdp.duckdb"
    assert resolve_path("/abs/x.duckdb") == Path("/abs/x.duckdb")


def test_env_names_the_project_and_no_project_means_the_current_folder(tmp_path, monkeypatch):
    root = make_project(tmp_path / "shop")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("CDP_PROJECT_DIR", raising=False)
    assert project_root() == elsewhere.resolve()
    monkeypatch.setenv("CDP_PROJECT_DIR", str(root))
    assert project_root() == root.resolve()


def test_notebook_kernel_folder_opens_the_projects_workspace(tmp_path, monkeypatch):
    """What `make lab` + Run All does: the kernel's folder is notebooks/."""
    root = make_project(tmp_path / "shop")
    monkeypatch.delenv("CDP_PROJECT_DIR", raising=False)
    monkeypatch.chdir(root)
    Workspace("data/cdp.duckdb").close()
    monkeypatch.chdir(root / "notebooks")
    with Workspace("data/cdp.duckdb", read_only=True) as ws:
        assert ws.path == root.resolve() / "data" / "cdp.duckdb"
    assert not (root / "notebooks" / "data").exists()
    assert resolve_db(None) == str(root.resolve() / "data" / "cdp.duckdb")


def test_shipped_notebook_runs_from_its_own_folder(demo_store_path, tmp_path, monkeypatch):
    """`db="data/cdp.duckdb"` as in every shipped notebook, executed with the kernel in notebooks/."""
    root = make_project(tmp_path / "shop")
    shutil.copyfile(demo_store_path, root / "data" / "cdp.duckdb")
    monkeypatch.delenv("CDP_PROJECT_DIR", raising=False)
    code = ("from cdp_lib import Workspace\n"
            "ws = Workspace('data/cdp.duckdb', read_only=True)\n"
            "print(ws.summary()['tables']['profiles'])\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=root / "notebooks", capture_output=True, text=True,
                          timeout=120, env={k: v for k, v in os.environ.items() if k != "CDP_PROJECT_DIR"})
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) > 0


def test_segment_builder_saves_into_the_users_project(tmp_path, monkeypatch):
    root = make_project(tmp_path / "second-checkout")
    monkeypatch.delenv("CDP_PROJECT_DIR", raising=False)
    monkeypatch.chdir(root / "notebooks")
    assert default_folder() == str(root.resolve() / "parameters" / "segments")
    assert Path(default_folder()) != REPO / "parameters" / "segments"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CDP_PROJECT_DIR", str(root))  # what `cdp app` sets for Voila
    assert default_folder() == str(root.resolve() / "parameters" / "segments")


def test_segment_builder_app_default_folder_follows_the_project(demo_ws, tmp_path, monkeypatch):
    from cdp_lib.apps import SegmentBuilderApp

    root = make_project(tmp_path / "second-checkout")
    monkeypatch.setenv("CDP_PROJECT_DIR", str(root))
    app = SegmentBuilderApp(workspace=demo_ws)
    assert Path(app.folder) == root.resolve() / "parameters" / "segments"


def test_run_finds_notebooks_from_any_folder_inside_the_project(monkeypatch):
    monkeypatch.delenv("CDP_PROJECT_DIR", raising=False)
    monkeypatch.chdir(REPO / "parameters" / "rfm")
    assert find_notebook("rfm").resolve() == REPO / "notebooks" / "rfm.ipynb"


def test_unknown_notebook_says_where_it_looked_and_lists_notebooks(monkeypatch):
    from cdp_lib.errors import InputError

    monkeypatch.delenv("CDP_PROJECT_DIR", raising=False)
    monkeypatch.chdir(REPO / "docs")
    with pytest.raises(InputError, match=r"looked in the current folder and in .*notebooks\).*rfm"):
        find_notebook("rfmm")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_cdp_app_stops_voila_and_its_kernels(demo_store_path, tmp_path, sig):
    db = tmp_path / "cdp.duckdb"
    shutil.copyfile(demo_store_path, db)
    port = _free_port()
    cdp = Path(sys.executable).with_name("cdp")
    proc = subprocess.Popen([str(cdp), "--db", str(db), "app", "kpi", "--port", str(port)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _port_open(port):
            assert proc.poll() is None, "cdp app exited before serving"
            assert time.monotonic() < deadline, "voila did not start in 120 s"
            time.sleep(0.5)
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60).read()
        family = psutil.Process(proc.pid).children(recursive=True)
        assert len(family) >= 2, "expected Voila and at least one (pre-heated) kernel"
        proc.send_signal(sig)
        proc.wait(timeout=60)
        gone, alive = psutil.wait_procs(family, timeout=30)
        assert not alive, f"left running: {[p.cmdline()[:3] for p in alive]}"
        assert not _port_open(port)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.notebook
def test_a_run_with_reports_outside_the_project_still_sees_the_project(tmp_path, monkeypatch):
    """`cdp run X --reports-dir /elsewhere`: the kernel starts there, yet finds the project."""
    import nbformat

    from cdp_lib.reports import run_notebook

    root = make_project(tmp_path / "shop")
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                           "display_name": "Python 3"},
                                            "language_info": {"name": "python"}})
    params = nbformat.v4.new_code_cell("out = ''")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "from pathlib import Path\nfrom cdp_lib.project import project_root\nPath(out).write_text(str(project_root()))")]
    nbformat.write(nb, root / "notebooks" / "where.ipynb")
    monkeypatch.delenv("CDP_PROJECT_DIR", raising=False)
    monkeypatch.chdir(root)
    answer = tmp_path / "answer.txt"
    result = run_notebook("where", parameters={"out": str(answer)}, reports_dir=tmp_path / "elsewhere")
    assert result.succeeded, result.error
    assert answer.read_text() == str(root.resolve())
    assert "CDP_PROJECT_DIR" not in os.environ
