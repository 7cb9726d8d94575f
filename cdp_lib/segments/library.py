"""The segment library: definitions stored as YAML files under `parameters/segments/`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

import yaml

from cdp_lib.errors import InputError
from cdp_lib.segments.definition import SegmentDefinition, load_definition, suggest



def default_folder() -> str:
    """`parameters/segments/` of the project folder (`cdp_lib.project`): where definitions are
    read from and saved to unless a folder is given."""
    from cdp_lib.project import project_root

    return str(project_root() / "parameters" / "segments")


# The default folder as found when the library was first imported (kept for callers that name
# it); commands and apps call `default_folder()` so that they follow the project.
DEFAULT_FOLDER = default_folder()


def load_library(folder: str | os.PathLike = DEFAULT_FOLDER, missing_ok: bool = False) -> dict[str, SegmentDefinition]:
    """Every `*.yaml`/`*.yml` definition in `folder`, by name, validated and cycle-free."""
    root = Path(folder)
    if not root.is_dir():
        if missing_ok:
            return {}
        raise InputError(f"segment folder {root} does not exist; create it or pass the folder holding your definitions")
    library: dict[str, SegmentDefinition] = {}
    for path in sorted([*root.glob("*.yaml"), *root.glob("*.yml")]):
        d = load_definition(path)
        if d.name in library:
            raise d.error(("name",), f"segment name {d.name!r} is already used by {library[d.name].source.name}; names must be unique")
        library[d.name] = d
    dependency_order(library)
    return library


def dependency_order(library: Mapping[str, SegmentDefinition]) -> list[str]:
    """Names in an order where each segment comes after the segments it refers to.

    Raises `InputError` naming the cycle when segments refer to each other. References to names
    outside the library (stored samples) impose no order.
    """
    order: list[str] = []
    state: dict[str, str] = {}  # name -> 'visiting' | 'done'

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = trail[trail.index(name):] + [name]
            d = library[trail[-1]]
            path = next(c["path"] for c in d.iter_conditions() if c["kind"] == "segment" and c["segment"] == name)
            raise d.error(path, f"segments refer to each other in a cycle ({' -> '.join(cycle)}); remove one of the references")
        state[name] = "visiting"
        for dep in sorted(library[name].depends_on):
            if dep in library:
                visit(dep, trail + [name])
        state[name] = "done"
        order.append(name)

    for name in sorted(library):
        visit(name, [])
    return order


def find_definition(name_or_path: str, library: Mapping[str, SegmentDefinition] | None = None,
                    folder: str | os.PathLike = DEFAULT_FOLDER) -> SegmentDefinition:
    """A definition by file path or by name in the library (closest names suggested)."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.is_file():
        return load_definition(path)
    library = load_library(folder, missing_ok=True) if library is None else library
    if name_or_path in library:
        return library[name_or_path]
    raise InputError(
        f"no segment named {name_or_path!r} in {folder}{suggest(name_or_path, library)}; "
        "'cdp segment list' shows the library"
    )


def slug(name: str) -> str:
    """File name for a segment: lower-case words joined by underscores."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "segment"


def save_definition(definition: SegmentDefinition | Mapping, folder: str | os.PathLike = DEFAULT_FOLDER,
                    overwrite: bool = False) -> Path:
    """Validate and write a definition to `<folder>/<slug of name>.yaml`; return the path."""
    d = definition if isinstance(definition, SegmentDefinition) else load_definition(definition)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{slug(d.name)}.yaml"
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists; pass overwrite=True to replace it")
    raw = {k: d.raw[k] for k in ("name", "description", "match", "conditions") if k in d.raw}
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
