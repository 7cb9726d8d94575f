"""The one base of every `*Params` (RFM, CLV, funnel, cohort, audience, ...): built from plain data
(`from_mapping`, `from_yaml`), names checked with "did you mean", old spellings renamed with a
warning, and every value validated before anything runs.

A notebook names its `*Params` in its parameters cell with a comment line::

    # cdp-params: cdp_lib.rfm.RfmParams

so `cdp run` (cdp_lib.runner.prepare) validates the values it is about to inject through that class
before a kernel starts: a bad value is one line and exit 2, and nothing is created.

Vocabulary (one word per concept, docs/architecture.md): ranges are `from`/`to` (`from_` as a
Python keyword and notebook parameter, since Python forbids `from`), folders `output_dir`, files
`--out`, day/week/month `grain`. Old names stay as aliases listed in `ALIASES`.
"""

from __future__ import annotations

import dataclasses
import inspect
import keyword
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

from cdp_lib.errors import DeprecatedSpellingWarning, InputError
from cdp_lib.keys import check_keys

MARKER = re.compile(r"^\s*#\s*cdp-params:\s*([\w.]+)\s*$", re.MULTILINE)


def python_name(name: str) -> str:
    """`from` -> `from_`: a name Python forbids as a keyword gets a trailing underscore."""
    return f"{name}_" if keyword.iskeyword(name) else name


def rename_aliases(data: Mapping[str, Any], aliases: Mapping[str, str], where: str = "parameters") -> dict:
    """`data` with old names renamed to new ones (each warning once, naming the new spelling), and
    YAML's `from` read as `from_`. Both spellings of one parameter at once is an `InputError`."""
    out: dict = {}
    for key, value in data.items():
        new = aliases.get(key)
        if new is not None:
            shown = new[:-1] if new.endswith("_") and keyword.iskeyword(new[:-1]) else new  # YAML writes `from`
            warnings.warn(f"{where}: {key!r} is now called {shown!r}; the old name still works for now",
                          DeprecatedSpellingWarning, stacklevel=3)
        target = python_name(new or key)
        if target in out:
            raise InputError(f"{where}: {key!r} and {target!r} name the same parameter; keep only {target!r}")
        out[target] = value
    return out


def renamed_keyword(new: str, old: str, new_value: Any, old_value: Any, where: str = "") -> Any:
    """The value of keyword `new`, taking `old` (a deprecated alias, warned about) when only it was
    given; both given is an `InputError`. For functions keeping an old keyword argument."""
    if old_value is None:
        return new_value
    if new_value is not None:
        raise InputError(f"{where + ': ' if where else ''}{old!r} and {new!r} name the same parameter; keep only {new!r}")
    warnings.warn(f"{where + ': ' if where else ''}{old!r} is now called {new!r}; the old name still works for now",
                  DeprecatedSpellingWarning, stacklevel=3)
    return old_value


class Params:
    """Mixin base of the `*Params` dataclasses.

    `BUILDER` names the validating constructor: empty means the class itself (its
    `__post_init__` validates), else a function of the class's module (e.g. `funnel_params`)
    whose keyword arguments are the parameters. `ALIASES` maps old names to new ones;
    `NOTEBOOK_ALIASES` does the same for parameters of the class's notebook that are not the
    class's own (e.g. rfm's `start_date`, now `from_`), renamed by `cdp run`.
    """

    BUILDER: ClassVar[str] = ""
    ALIASES: ClassVar[Mapping[str, str]] = {}
    NOTEBOOK_ALIASES: ClassVar[Mapping[str, str]] = {}
    WHERE: ClassVar[str] = "parameters"

    @classmethod
    def builder(cls) -> Callable[..., Any]:
        return getattr(sys.modules[cls.__module__], cls.BUILDER) if cls.BUILDER else cls

    @classmethod
    def parameter_names(cls) -> list[str]:
        """The names `from_mapping` accepts (besides the aliases), in declaration order."""
        if not cls.BUILDER and dataclasses.is_dataclass(cls):
            return [f.name for f in dataclasses.fields(cls) if f.init]
        sig = inspect.signature(cls.builder())
        return [p.name for p in sig.parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in cls.ALIASES]

    @classmethod
    def check_mapping(cls, data: Mapping[str, Any], where: str) -> None:
        """Hook for rules about names (not values) a class wants to explain; default none."""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str | None = None):
        """Parameters from plain data (YAML, notebook values, CLI); unknown names are rejected
        with the closest known one, old names renamed with a warning, values validated."""
        where = where or cls.WHERE
        if data is not None and not isinstance(data, Mapping):
            raise InputError(f"{where}: expected a mapping of parameter names to values, got {type(data).__name__}")
        data = dict(data or {})
        cls.check_mapping(data, where)
        data = rename_aliases(data, cls.ALIASES, where)
        check_keys(where, data, cls.parameter_names(), noun="parameter")
        try:
            return cls.builder()(**data)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None

    @classmethod
    def from_yaml(cls, path: str | Path):
        """Parameters from a YAML file such as ``parameters/rfm/monthly.yaml``."""
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise InputError(f"parameter file {path} not found") from None
        except OSError as exc:
            raise InputError(f"parameter file {path} cannot be read: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if data is not None and not isinstance(data, Mapping):
            raise InputError(f"{path}: expected a mapping of parameter names to values, found {type(data).__name__}")
        return cls.from_mapping(data, where=str(path))

    @classmethod
    def from_notebook(cls, values: Mapping[str, Any], where: str = "notebook parameters"):
        """Parameters from a notebook's values: those named like a parameter (or an alias) of the
        class; the notebook's other parameters (db, engine, output_dir ...) are not ours."""
        names = set(cls.parameter_names()) | set(cls.ALIASES)
        return cls.from_mapping({k: v for k, v in values.items() if k in names}, where)


# -- notebooks naming their *Params ------------------------------------------------------------
def params_class_named(source: str, where: str = "parameters cell") -> type[Params] | None:
    """The `*Params` class a parameters cell names with `# cdp-params: module.Class`, or None."""
    match = MARKER.search(source or "")
    if match is None:
        return None
    module_name, _, attr = match.group(1).rpartition(".")
    import importlib

    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        raise InputError(f"{where}: '# cdp-params: {match.group(1)}' names no class; "
                         "expected e.g. cdp_lib.rfm.RfmParams") from None
    if not (isinstance(cls, type) and issubclass(cls, Params)):
        raise InputError(f"{where}: {match.group(1)} is not a *Params class (cdp_lib.params.Params)")
    return cls


def notebook_params_class(notebook: str | Path) -> type[Params] | None:
    """The `*Params` class a notebook's parameters cell names, or None (cdp_lib.runner)."""
    import nbformat

    nb = nbformat.read(Path(notebook), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return params_class_named(cell.source, f"{Path(notebook).name}: parameters cell")
    return None


def rename_notebook_values(cls: type[Params] | None, values: Mapping | None, where: str) -> dict:
    """Values given to a notebook with its class's old names renamed (warned about) and `from`
    read as `from_`; unchanged when the notebook names no class."""
    aliases = {**cls.ALIASES, **cls.NOTEBOOK_ALIASES} if cls is not None else {}
    return rename_aliases(dict(values or {}), aliases, where)


def validate_notebook_values(cls: type[Params] | None, declared, injected: Mapping, where: str) -> None:
    """Build the notebook's `*Params` from its defaults and the values about to be injected, so a
    bad value is refused before a kernel starts (`declared`: cdp_lib.runner.Parameter list)."""
    if cls is None:
        return
    values = {p.name: p.default for p in declared if not p.required}
    values.update(injected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecatedSpellingWarning)  # warned once when renamed
        cls.from_notebook(values, where)
