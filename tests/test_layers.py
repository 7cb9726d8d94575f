"""Every top-level module of cdp_lib has a place in the import-linter layers (pyproject.toml).

`make test` runs `lint-imports`; a module missing from the layers would escape the layer rule
silently, so a new module must be placed there.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_top_level_module_is_in_a_layer():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    placed = {m for layer in layers for m in re.split(r"[:|]", layer) if m.strip()}
    placed = {m.strip() for m in placed}
    modules = {f"cdp_lib.{p.stem}" for p in (ROOT / "cdp_lib").glob("*.py") if p.stem != "__init__"}
    modules |= {f"cdp_lib.{p.parent.name}" for p in (ROOT / "cdp_lib").glob("*/__init__.py")}
    assert sorted(modules - placed) == []
    assert sorted(placed - modules) == []
