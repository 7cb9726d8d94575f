"""A notebook's parameter contract: read the `parameters` cell, convert and validate values.

The parameters cell is the contract: each line is `name: type = default  # help`. Reading it
(this module) is kept apart from executing the notebook (`cdp_lib.reports.run`), as papermill
keeps `inspection` apart from `execute`; nothing here runs or writes anything.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import datetime as dt
import difflib
import io
import os
import tokenize
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from cdp_lib.errors import InputError

if TYPE_CHECKING:  # nbformat's import pulls jsonschema's format checkers: seconds
    import nbformat

NOTEBOOK_DIR = "notebooks"

_SCALARS = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}


# -- the parameters cell -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Parameter:
    """One declared notebook parameter.

    `required` is True when the cell gives no default (`name: int`) or a default of None for a
    type that does not admit None (`name: str = None`): such a run must supply a value.
    """

    name: str
    type: str
    default: Any
    help: str
    required: bool
    line: int


def find_notebook(notebook: str | os.PathLike) -> Path:
    """Resolve `rfm`, `rfm.ipynb` or a path to an existing notebook file.

    A name is looked up in the current folder, then in `notebooks/` of the project folder
    (`cdp_lib.project`), so `cdp run rfm` works from any folder inside the project.
    """
    from cdp_lib.project import project_root

    path = Path(notebook)
    folder = project_root() / NOTEBOOK_DIR
    candidates = [path, path.with_suffix(".ipynb"), folder / path, folder / path.with_suffix(".ipynb")]
    for cand in candidates:
        if cand.is_file():
            return cand
    known = sorted(p.stem for p in folder.glob("*.ipynb")) if folder.is_dir() else []
    hint = f"; notebooks there: {', '.join(known)}" if known else "; that folder holds no notebooks"
    raise InputError(f"notebook {notebook!s} not found (looked in the current folder and in {folder}){hint}")


def _parameters_cell(nb: nbformat.NotebookNode) -> tuple[int, str] | None:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return index, cell.source
    return None


def _line_comments(source: str) -> dict[int, str]:
    comments: dict[int, str] = {}
    with contextlib.suppress(tokenize.TokenError, IndentationError):
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
    return comments


def read_parameters(notebook: str | os.PathLike) -> list[Parameter]:
    """The parameters declared in a notebook's `parameters`-tagged cell, in order.

    Raises `InputError` when the notebook has no such cell or the cell is not made of
    `name: type = literal` lines.
    """
    path = Path(notebook)
    import nbformat

    nb = nbformat.read(path, as_version=4)
    found = _parameters_cell(nb)
    if found is None:
        raise InputError(
            f"{path}: no cell tagged 'parameters'; tag the cell of `name: type = default` lines "
            "(View > Cell Toolbar > Tags in Jupyter) so runs can set them"
        )
    index, source = found
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise InputError(f"{path}: parameters cell (cell {index}) line {exc.lineno}: {exc.msg}") from None
    comments = _line_comments(source)
    params: list[Parameter] = []
    for stmt in tree.body:
        where = f"{path}: parameters cell line {stmt.lineno}"
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name, type_text = stmt.target.id, ast.unparse(stmt.annotation)
            if isinstance(stmt.annotation, ast.Constant) and isinstance(stmt.annotation.value, str):
                type_text = stmt.annotation.value  # quoted annotation: show it unquoted
            try:
                _parse_type(type_text)
            except InputError as exc:
                raise InputError(f"{where}: {exc}") from None
            value_node = stmt.value
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, type_text, value_node = stmt.targets[0].id, "", stmt.value
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring-like note
        else:
            raise InputError(f"{where}: expected `name: type = literal`, found {ast.unparse(stmt)!r}")
        if value_node is None:
            default, has_default = None, False
        else:
            try:
                default = ast.literal_eval(value_node)
            except ValueError:
                raise InputError(
                    f"{where}: default of {name!r} must be a literal (number, string, list, dict, "
                    f"True/False/None), not {ast.unparse(value_node)!r}"
                ) from None
            has_default = True
        if not type_text:  # untyped line: the default's type is the contract
            type_text = "Any" if default is None else type(default).__name__
        kind = _parse_type(type_text)
        required = not has_default or (default is None and not _accepts(kind, None))
        if has_default and default is not None and not _accepts(kind, default):
            raise InputError(f"{where}: default {default!r} of {name!r} is not a {type_text}")
        help_text = comments.get(getattr(stmt, "end_lineno", stmt.lineno), "") or comments.get(stmt.lineno, "")
        params.append(Parameter(name, type_text, default, help_text, required, stmt.lineno))
    return params


# -- types ---------------------------------------------------------------------------------------
# A parsed type is ("any",), ("none",), ("scalar", python_type, item_types) or ("union", [types]).
def _parse_type(text: str):
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise InputError(f"type {text!r} is not a Python type annotation") from None
    return _type_node(node, text)


def _type_node(node: ast.AST, text: str):
    if isinstance(node, ast.Constant) and node.value is None:
        return ("none",)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        # A quoted annotation ("Optional[str]") reads the same; notebooks quote theirs because
        # plain papermill's parameter parser understands neither `|` nor unimported names.
        return _parse_type(node.value)
    if isinstance(node, ast.Name) or isinstance(node, ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        if name in _SCALARS:
            return ("scalar", _SCALARS[name], None)
        if name in {"List", "Dict"}:
            return ("scalar", _SCALARS[name.lower()], None)
        if name == "Any":
            return ("any",)
        if name == "None" or name == "NoneType":
            return ("none",)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return ("union", [_type_node(node.left, text), _type_node(node.right, text)])
    if isinstance(node, ast.Subscript):
        base = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", "")
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        inner = [_type_node(a, text) for a in args]
        if base == "Optional" and len(inner) == 1:
            return ("union", [inner[0], ("none",)])
        if base == "Union":
            return ("union", inner)
        if base in {"list", "List"} and len(inner) == 1:
            return ("scalar", list, inner)
        if base in {"dict", "Dict"} and len(inner) == 2:
            return ("scalar", dict, inner)
    raise InputError(
        f"type {text!r} is not supported; use int, float, str, bool, list[...], dict[...], "
        "Optional[...] / X | None, or Any"
    )


def _accepts(kind, value) -> bool:
    tag = kind[0]
    if tag == "any":
        return True
    if tag == "none":
        return value is None
    if tag == "union":
        return any(_accepts(k, value) for k in kind[1])
    _, pytype, items = kind
    if pytype is bool:
        return isinstance(value, bool)
    if pytype is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if pytype is float:  # an int is a fine float (YAML `3` for `3.0`)
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if not isinstance(value, pytype):
        return False
    if items and pytype is list:
        return all(_accepts(items[0], v) for v in value)
    if items and pytype is dict:
        return all(_accepts(items[0], k) and _accepts(items[1], v) for k, v in value.items())
    return True


_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def _from_text(kind, text: str):
    """Convert a command-line string to the declared type; raises ValueError when it does not fit."""
    tag = kind[0]
    if tag == "any":
        return yaml.safe_load(text)
    if tag == "none":
        if text.strip().lower() in {"none", "null", "~", ""}:
            return None
        raise ValueError(text)
    if tag == "union":
        # None first, so `-p as_of none` means "no value"; then the first member that fits.
        members = sorted(kind[1], key=lambda k: k[0] != "none")
        for member in members:
            with contextlib.suppress(ValueError):
                return _from_text(member, text)
        raise ValueError(text)
    _, pytype, _ = kind
    if pytype is str:
        return text
    if pytype is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(text)
    if pytype is int:
        return int(text)
    if pytype is float:
        return float(text)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError(text) from None
    if not _accepts(kind, value):
        raise ValueError(text)
    return value


def _normalise(value):
    """YAML reads `2024-01-31` as a date; papermill would inject it as its ISO string anyway."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value


# -- validation ----------------------------------------------------------------------------------
def load_parameters_file(path: str | os.PathLike) -> dict:
    """Read a YAML parameter file: a mapping of parameter names to values."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"parameter file {path} not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"parameter file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InputError(f"parameter file {path} must be a mapping of `name: value`, found {type(data).__name__}")
    return data


def validate_parameters(
    declared: list[Parameter],
    values: dict | None = None,
    text_values: dict[str, str] | None = None,
    notebook: str = "notebook",
) -> dict:
    """Check given values against the declared parameters; return the values to inject.

    `values` come typed (a YAML file), `text_values` are command-line strings converted to the
    declared type. Every problem (unknown name, wrong type, missing required value) is reported
    in one `InputError`.
    """
    by_name = {p.name: p for p in declared}
    problems: list[str] = []
    out: dict = {}
    given = {k: _normalise(v) for k, v in (values or {}).items()}
    for name, text in (text_values or {}).items():
        param = by_name.get(name)
        if param is None:
            given[name] = text
            continue
        try:
            given[name] = _from_text(_parse_type(param.type), text)
        except ValueError:
            problems.append(f"parameter {name!r} expects {param.type}, got {text!r}")
            given.pop(name, None)
    for name, value in given.items():
        param = by_name.get(name)
        if param is None:
            close = difflib.get_close_matches(name, list(by_name), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            problems.append(f"unknown parameter {name!r} for {notebook}{hint} (known: {', '.join(by_name)})")
            continue
        if not _accepts(_parse_type(param.type), value):
            problems.append(
                f"parameter {name!r} expects {param.type}, got {type(value).__name__} {value!r}"
            )
            continue
        out[name] = value
    for param in declared:
        if param.required and param.name not in given:
            problems.append(f"parameter {param.name!r} ({param.type}) is required for {notebook}: pass -p {param.name} VALUE")
    if problems:
        raise InputError("; ".join(problems))
    return out


def absolutise_paths(values: dict, declared: list[Parameter], base: Path) -> dict:
    """Make path-like string parameters absolute, because the notebook runs inside its run folder.

    `db` always (it names the workspace even before it exists), and `lake:DIR` values (sync
    targets); any other string parameter only when it names a file or folder that exists
    relative to `base` (e.g. a segment YAML file).
    Parameters left at their default are included when they qualify.
    """
    out = dict(values)
    for param in declared:
        value = out.get(param.name, param.default)
        if isinstance(value, str) and value.startswith("lake:") and not Path(value[5:]).is_absolute():
            out[param.name] = "lake:" + str((base / value[5:]).resolve())  # a sync target folder
            continue
        if not isinstance(value, str) or not value or Path(value).is_absolute() or value in {".", ".."}:
            continue
        if param.name == "db":  # the workspace: from the project folder holding `base`
            from cdp_lib.project import project_root

            out[param.name] = str((project_root(base) / value).resolve())
            continue
        candidate = base / value
        if ("/" in value or "." in value) and candidate.exists():
            out[param.name] = str(candidate.resolve())
    return out


def prepare(
    notebook: str | os.PathLike,
    parameters: dict | None = None,
    parameters_file: str | os.PathLike | None = None,
    text_parameters: dict[str, str] | None = None,
    default_db: str | None = None,
) -> tuple[Path, list[Parameter], dict, dict]:
    """Resolve the notebook and validate every parameter; nothing is executed or written.

    Returns the notebook path, its declared parameters, the values to inject (paths made
    absolute, `db` defaulting to `default_db`) and the subset the caller set explicitly.
    """
    path = find_notebook(notebook)
    declared = read_parameters(path)
    values = dict(load_parameters_file(parameters_file)) if parameters_file else {}
    values.update(parameters or {})
    injected = validate_parameters(declared, values, text_parameters, notebook=path.name)
    given_names = set(injected)
    if default_db is not None and "db" in {p.name for p in declared} and "db" not in injected:
        injected["db"] = default_db
    injected = absolutise_paths(injected, declared, Path.cwd())
    return path, declared, injected, {k: v for k, v in injected.items() if k in given_names}
