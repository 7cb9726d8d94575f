"""The shape of `cdp_lib.reports` and `cdp_lib.segments` (issue 17): old import paths, no import
cycles, the runner below the scheduler, the workspace below the analyses, DuckDB at the edge.

Imports are read from the source (every `import`, inside functions too, except under
`if TYPE_CHECKING:`), the way import-linter builds its graph, so a lazy import counts.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "cdp_lib"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in LIB.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(module: str) -> set[str]:
    """The `cdp_lib` modules `module` imports anywhere in its file (submodules resolved)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for a in node.names:
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in found if m in MODULES and m != module}


def _cycle(nodes: set[str]) -> list[str] | None:
    graph = {m: _imports(m) & nodes for m in nodes}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> list[str] | None:
        if state.get(m) == 1:
            return path[path.index(m):] + [m]
        if state.get(m) == 2:
            return None
        state[m] = 1
        for dep in sorted(graph[m]):
            found = visit(dep, path + [m])
            if found:
                return found
        state[m] = 2
        return None

    for m in sorted(nodes):
        found = visit(m, [])
        if found:
            return found
    return None


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        for dep in _imports(m) - seen:
            seen.add(dep)
            todo.append(dep)
    return seen


def _under(prefix: str) -> set[str]:
    return {m for m in MODULES if m == prefix or m.startswith(prefix + ".")}


# -- old import paths --------------------------------------------------------------------------
OLD_PATHS = {
    "cdp_lib.runner": ("cdp_lib.reports", [
        "KERNEL_NAME", "NOTEBOOK_DIR", "REPORTS_DIR", "Parameter", "RunResult", "absolutise_paths", "check_run_id",
        "data_fingerprint", "export_html", "find_notebook", "list_outputs", "load_parameters_file",
        "mark_failed", "new_run_id", "prepare", "publish_snapshot", "read_parameters", "run_notebook",
        "validate_parameters"]),
    "cdp_lib.schedule": ("cdp_lib.reports.schedule", [
        "DEFAULT_SCHEDULE", "UTC", "Job", "JobResult", "Outcome", "Schedule", "Scheduler", "Settings", "State",
        "configure_logging", "is_due", "job_lock", "latest_slot", "load_schedule", "missing_files", "next_slot",
        "notify_webhook", "parse_schedule", "run_job_subprocess"]),
    "cdp_lib.reports_index": ("cdp_lib.reports.index", [
        "INDEX_NAME", "collect_alerts", "collect_runs", "render_index", "write_index"]),
}


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_import_paths_name_the_same_objects(old):
    import importlib

    new, names = OLD_PATHS[old]
    before, after = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(before, name) is getattr(after, name), f"{old}.{name}"


# -- layers and cycles ------------------------------------------------------------------------------
def test_reports_and_segments_have_no_import_cycle():
    nodes = _under("cdp_lib.reports") | _under("cdp_lib.segments") | {
        "cdp_lib.workspace", "cdp_lib.membership", "cdp_lib.runner", "cdp_lib.schedule", "cdp_lib.reports_index"}
    assert _cycle(nodes) is None, " -> ".join(_cycle(nodes))


def test_the_runner_never_imports_the_scheduler():
    for module in sorted(_under("cdp_lib.reports") - _under("cdp_lib.reports.schedule")):
        reached = _reachable(module) if module != "cdp_lib.reports" else set().union(
            *(_reachable(m) for m in _imports(module)))
        assert not reached & _under("cdp_lib.reports.schedule"), module
    probe = ("import sys, cdp_lib.runner, cdp_lib.reports_index; "
             "print(sorted(m for m in sys.modules if 'schedule' in m or m in {'papermill', 'nbformat'}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_workspace_imports_no_analysis():
    reached = _reachable("cdp_lib.workspace")
    assert not reached & (_under("cdp_lib.segments") | _under("cdp_lib.reports")), sorted(reached)


# -- size and the storage edge ----------------------------------------------------------------------------
@pytest.mark.parametrize("package", ["cdp_lib.reports", "cdp_lib.segments"])
def test_modules_stay_under_400_lines(package):
    long = {m: n for m in _under(package) if (n := len(MODULES[m].read_text().splitlines())) > 400}
    assert not long, long


def test_duckdb_statements_of_segments_are_in_the_store():
    """`ws.duckdb` and DuckDB temp tables (`ws.con.create_table(..., temp=True)`) only in `store`."""
    for module in sorted(_under("cdp_lib.segments") - {"cdp_lib.segments.store"}):
        tree = ast.parse(MODULES[module].read_text())
        bad = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and (
            n.attr == "duckdb" or (n.attr == "con" and isinstance(n.value, ast.Name) and n.value.id == "ws"))]
        assert not bad, f"{module} lines {bad}"
