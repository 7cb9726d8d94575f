"""Where a definition came from: YAML paths turned into 'file, line N: path' for messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from cdp_lib.errors import InputError
from cdp_lib.keys import suggest, unknown_key_message  # noqa: F401  (suggest re-exported)

Path_ = tuple  # a path into the YAML document: ("conditions", 2, "where", 0, "op")


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<document>"


@dataclass
class Source:
    """Where a definition came from, to turn YAML paths into 'file, line N, at path' in messages."""

    name: str = "<definition>"
    root: Any = None  # the yaml node tree when parsed from text

    def line(self, path: Path_) -> int | None:
        node, line = self.root, None
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in path:
            if isinstance(node, yaml.MappingNode):
                match = [v for k, v in node.value if k.value == part]
                if not match:
                    keys = [k for k, _ in node.value if k.value == part]
                    return keys[0].start_mark.line + 1 if keys else line
                node = match[0]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                return line
            line = node.start_mark.line + 1
        return line

    def where(self, path: Path_) -> str:
        line = self.line(path)
        at = f"{self.name}, line {line}" if line else self.name
        return f"{at}: {format_path(path)}"

    def error(self, path: Path_, message: str) -> InputError:
        return InputError(f"{self.where(path)}: {message}")

    def check_keys(self, path: Path_, data: Any, allowed) -> None:
        """Raise at the first key of mapping `data` (found at `path`) that is not in `allowed`."""
        for key in data:
            if key not in allowed:
                raise self.error(path + (key,), unknown_key_message(key, allowed))
