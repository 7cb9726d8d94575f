"""Transform definitions: read `parameters/transforms/*.yaml` and check them before anything runs.

A definition is plain data (docs/data-management.md)::

    name: Country standardised
    target: country
    merge: [phone, mobile, sms_phone]      # optional, 2-10 properties by priority
    format: [trim, capitalize]             # optional, from FORMAT_OPS
    standardize:                           # optional, 1-10 rules, first match wins
      - {equals: USA, replace: US}
      - {contains: united states, replace: US}
    case_sensitive: false                  # for standardize, default false

Every error names the file, the line and the YAML path, what was found and what was expected.
Whether the named properties exist is checked against a workspace later (`check_columns`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from cdp_lib.errors import InputError
from cdp_lib.keys import suggest
from cdp_lib.segments.definition import Source, format_path

DEFAULT_DIR = "parameters/transforms"
SUFFIX = "_transformed"
TOP_KEYS = ("name", "description", "target", "merge", "format", "standardize", "case_sensitive")
# Applied in this order whatever order the file lists them in (docs/data-management.md).
FORMAT_OPS = ("strip_quotes", "strip_special", "trim", "capitalize", "iso_date")
RULE_KINDS = ("equals", "contains")
MERGE_MIN, MERGE_MAX = 2, 10
RULES_MAX = 10
_PROPERTY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Rule:
    """One standardise rule: `kind` is 'equals' or 'contains'."""

    kind: str
    value: str
    replace: str


@dataclass
class TransformDefinition:
    """A validated transform; `output` is the property it writes (`<target>_transformed`)."""

    name: str
    target: str
    merge: tuple[str, ...] = ()
    format: tuple[str, ...] = ()
    standardize: tuple[Rule, ...] = ()
    case_sensitive: bool = False
    description: str = ""
    source: Source = field(default_factory=Source)

    @property
    def output(self) -> str:
        return self.target + SUFFIX

    @property
    def reads(self) -> tuple[str, ...]:
        """Profile properties the transform reads."""
        return self.merge or (self.target,)

    @property
    def methods(self) -> list[str]:
        return [m for m, on in (("merge", self.merge), ("format", self.format),
                                ("standardize", self.standardize)) if on]

    def as_dict(self) -> dict:
        """The definition as plain data (what `cdp transform apply` stores)."""
        out: dict[str, Any] = {"name": self.name, "target": self.target}
        if self.description:
            out["description"] = self.description
        if self.merge:
            out["merge"] = list(self.merge)
        if self.format:
            out["format"] = list(self.format)
        if self.standardize:
            out["standardize"] = [{r.kind: r.value, "replace": r.replace} for r in self.standardize]
        out["case_sensitive"] = self.case_sensitive
        return out


def parse_yaml(text: str, name: str = "<yaml text>") -> TransformDefinition:
    """One definition from YAML text; `name` is the file shown in messages."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}, line {mark.line + 1}" if mark else name
        raise InputError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)}); fix the file") from None
    src = Source(name, root)
    _no_duplicate_keys(root, (), src)
    return parse_definition(data, src)


def parse_definition(data: Any, source: Source | None = None) -> TransformDefinition:
    """Check the shape of one definition mapping."""
    src = source or Source()
    if not isinstance(data, Mapping):
        raise src.error((), f"expected a mapping with name, target and merge/format/standardize, "
                            f"found {type(data).__name__}")
    src.check_keys((), data, TOP_KEYS)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise src.error(("name",), f"expected the transform's name as text, found {name!r}")
    description = data.get("description", "") or ""
    if not isinstance(description, str):
        raise src.error(("description",), f"expected text, found {description!r}")
    target = _property(data.get("target"), ("target",), src)
    if target.endswith(SUFFIX):
        raise src.error(("target",), f"{target!r} is already a transformed property; name the original")
    merge = _merge(data.get("merge"), src) if "merge" in data else ()
    fmt = _format(data.get("format"), src) if "format" in data else ()
    rules = _rules(data.get("standardize"), src) if "standardize" in data else ()
    case = data.get("case_sensitive", False)
    if not isinstance(case, bool):
        raise src.error(("case_sensitive",), f"expected true or false, found {case!r}")
    if not (merge or fmt or rules):
        raise src.error((), "a transform needs at least one of merge, format, standardize")
    return TransformDefinition(name.strip(), target, merge, fmt, rules, case, description.strip(), src)


def load_dir(directory: str | Path = DEFAULT_DIR) -> list[TransformDefinition]:
    """Every `*.yaml`/`*.yml` of `directory`, in file-name order, checked together:
    names are unique and no two transforms write the same property."""
    from cdp_lib.project import resolve_path

    folder = resolve_path(directory)  # relative folders are taken from the project folder
    if not folder.is_dir():
        raise InputError(f"transforms folder {folder} does not exist; create it or pass --transforms DIR")
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    # Messages name each file as the folder was given (relative to the project folder).
    defs = [parse_yaml(p.read_text(encoding="utf-8"), str(Path(directory) / p.name)) for p in files]
    by_name: dict[str, TransformDefinition] = {}
    by_target: dict[str, TransformDefinition] = {}
    for d in defs:
        if d.name in by_name:
            raise d.source.error(("name",), f"name {d.name!r} is also used by {by_name[d.name].source.name}; "
                                            "give each transform its own name")
        if d.target in by_target:
            raise d.source.error(("target",), f"{by_target[d.target].source.name} already transforms "
                                              f"{d.target!r}; at most one format and one standardize per "
                                              "property: put them in one file")
        by_name[d.name] = by_target[d.target] = d
    return defs


def check_columns(defs: list[TransformDefinition], columns: list[str]) -> None:
    """Every property a transform reads must be a profile column (earlier outputs count)."""
    known = set(columns)
    for d in defs:
        for i, prop in enumerate(d.reads):
            if prop not in known:
                path = ("merge", i) if d.merge else ("target",)
                raise d.source.error(path, f"profiles have no property {prop!r}{suggest(prop, known)}; "
                                           "ingest it first or fix the name")
        known.add(d.output)


# -- pieces ------------------------------------------------------------------------------------
def _property(value: Any, path: tuple, src: Source) -> str:
    if not isinstance(value, str) or not _PROPERTY.fullmatch(value.strip()):
        raise src.error(path, f"expected a profile property name (letters, digits, _), found {value!r}")
    return value.strip()


def _merge(value: Any, src: Source) -> tuple[str, ...]:
    if not isinstance(value, list) or not MERGE_MIN <= len(value) <= MERGE_MAX:
        raise src.error(("merge",), f"expected a list of {MERGE_MIN} to {MERGE_MAX} properties in priority "
                                    f"order, found {value!r}")
    props = tuple(_property(v, ("merge", i), src) for i, v in enumerate(value))
    for i, p in enumerate(props):
        if p in props[:i]:
            raise src.error(("merge", i), f"property {p!r} is listed twice; list each once")
    return props


def _format(value: Any, src: Source) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise src.error(("format",), f"expected a non-empty list of {', '.join(FORMAT_OPS)}, found {value!r}")
    seen: list[str] = []
    for i, op in enumerate(value):
        if op not in FORMAT_OPS:
            raise src.error(("format", i), f"unknown format {op!r}{suggest(op, FORMAT_OPS)}; "
                                           f"expected one of {', '.join(FORMAT_OPS)}")
        if op in seen:
            raise src.error(("format", i), f"format {op!r} is listed twice; list each once")
        seen.append(op)
    return tuple(op for op in FORMAT_OPS if op in seen)


def _rules(value: Any, src: Source) -> tuple[Rule, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= RULES_MAX:
        raise src.error(("standardize",), f"expected a list of 1 to {RULES_MAX} rules "
                                          f"({{equals|contains: X, replace: Y}}), found {value!r}")
    rules = []
    for i, rule in enumerate(value):
        path = ("standardize", i)
        if not isinstance(rule, Mapping):
            raise src.error(path, f"expected a rule {{equals|contains: X, replace: Y}}, found {rule!r}")
        for key in rule:
            if key not in (*RULE_KINDS, "replace"):
                raise src.error(path + (key,), f"unknown key {key!r}{suggest(key, (*RULE_KINDS, 'replace'))}; "
                                               "a rule has equals or contains, and replace")
        kinds = [k for k in RULE_KINDS if k in rule]
        if len(kinds) != 1:
            raise src.error(path, "a rule needs exactly one of equals, contains")
        match = _text(rule[kinds[0]], path + (kinds[0],), src)
        if match == "":
            raise src.error(path + (kinds[0],), "expected non-empty text to match")
        if "replace" not in rule:
            raise src.error(path, "a rule needs replace: the value to write when it matches")
        rules.append(Rule(kinds[0], match, _text(rule["replace"], path + ("replace",), src)))
    return tuple(rules)


def _text(value: Any, path: tuple, src: Source) -> str:
    # YAML reads US, 1, yes unquoted as text, number, boolean: numbers become their text, but a
    # boolean is almost always an unquoted yes/no/on/off the author meant as words.
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise src.error(path, f"expected text, found {value!r}; quote it, e.g. \"yes\"")
    return str(value)


def _no_duplicate_keys(node: Any, path: tuple, src: Source) -> None:
    """safe_load keeps the last of two equal keys silently; refuse them instead."""
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key, value in node.value:
            if key.value in seen:
                raise InputError(f"{src.name}, line {key.start_mark.line + 1}: "
                                 f"{format_path(path + (key.value,))}: key given twice; keep one")
            seen.add(key.value)
            _no_duplicate_keys(value, path + (key.value,), src)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _no_duplicate_keys(item, path + (i,), src)
