"""The shape of `cdp_lib.clv`: one module imports lifetimes, no cycles, names re-exported lazily."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import cdp_lib

PACKAGE = Path(cdp_lib.__file__).parent
CLV = PACKAGE / "clv"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports (at any depth: lazy imports inside functions count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_only_the_models_module_imports_lifetimes():
    importers = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                       if any(m == "lifetimes" or m.startswith("lifetimes.") for m in imported_modules(p)))
    assert importers == ["clv/models.py"]


def test_no_private_lifetimes_member_is_used_outside_the_models_module():
    for path in CLV.glob("*.py"):
        if path.name != "models.py":
            assert "_fitter" not in path.read_text(), path.name


def test_clv_modules_import_downwards_only():
    """Each module imports only modules listed before it (validation uses models, not the reverse)."""
    order = ["params", "summary", "likelihood", "models", "predict", "validation", "report", "store", "run"]
    assert sorted(order) == sorted(p.stem for p in CLV.glob("*.py") if p.stem != "__init__")
    for i, name in enumerate(order):
        uses = {m.split(".")[2] for m in imported_modules(CLV / f"{name}.py")
                if m.startswith("cdp_lib.clv.") and m.split(".")[2] in order}
        if name == "store":
            uses.discard("run")  # a type annotation only, under TYPE_CHECKING
        later = uses & set(order[i:])
        assert not later, f"clv/{name}.py imports {sorted(later)}"


def test_old_flat_modules_are_gone():
    for old in ("clv.py", "clv_summary.py", "clv_validation.py", "clv_likelihood.py"):
        assert not (PACKAGE / old).exists(), old


def test_every_reexported_name_resolves_to_its_module():
    from cdp_lib import clv

    for name in clv.__all__:
        value = getattr(clv, name)
        module = clv._WHERE[name]
        assert getattr(sys.modules[f"cdp_lib.clv.{module}"], name) is value, name
    assert clv.validation.validate_holdout is clv.validate_holdout
    assert {"summary", "models", "validation"} <= set(dir(clv))


def test_names_used_by_notebooks_commands_and_tests_are_reexported():
    from cdp_lib import clv

    used = {"ClvParams", "ClvWarning", "MODEL_NAMES", "PREDICTION_COLUMNS", "PREDICTIONS_TABLE", "TransactionModel",
            "compute_clv", "fit_spend", "fit_transactions", "run_clv", "orders_table", "top_customers",
            "churn_risk_summary", "score_summary", "frequency_recency_matrix"}
    assert used <= set(clv.__all__)


def test_importing_the_parameters_loads_no_model_library():
    probe = ("import json, sys; from cdp_lib.clv import ClvParams; ClvParams(as_of='2024-01-31'); "
             "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not modules & {"scipy", "lifetimes", "matplotlib"}


def test_locating_the_cdnow_files_does_not_import_lifetimes():
    probe = ("import sys; from cdp_lib.demodata.cdnow import cdnow_source; "
             "assert cdnow_source(sample=True).exists(); print('lifetimes' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"
