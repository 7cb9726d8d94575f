"""Workspace display settings: the store's currency, read from the project's
``parameters/workspace.yaml`` (``currency: EUR``); USD when the file or the key is absent.

The file belongs to the project beside its workspace (`cdp_lib.project`), so JupyterLab,
papermill, `cdp run`, Voila and the CLI all see the same setting. ``$CDP_CURRENCY`` overrides it
for one run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cdp_lib.errors import InputError

DEFAULT_CURRENCY = "USD"
SETTINGS_FILE = Path("parameters") / "workspace.yaml"
CURRENCY_ENV = "CDP_CURRENCY"
KEYS = ("currency",)


def settings_path() -> Path:
    from cdp_lib.project import project_root

    return project_root() / SETTINGS_FILE


def load_settings(path: str | os.PathLike | None = None) -> dict:
    """The settings in `path` (default: the project's ``parameters/workspace.yaml``), checked."""
    import yaml

    path = Path(path) if path is not None else settings_path()
    if not path.is_file():
        return {"currency": DEFAULT_CURRENCY}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}); fix the file") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping such as 'currency: USD', found {type(data).__name__}")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        import difflib

        hints = [difflib.get_close_matches(str(k), KEYS, n=1) for k in unknown]
        hint = "; ".join(f"did you mean {h[0]!r}?" for h in hints if h)
        raise InputError(f"{path}: unknown setting {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(KEYS)}{' (' + hint + ')' if hint else ''}")
    code = data.get("currency", DEFAULT_CURRENCY)
    return {"currency": check_currency(code, f"{path}: currency")}


def check_currency(code, where: str = "currency") -> str:
    """`code` as an upper-case ISO 4217 code (``usd`` -> ``USD``), or an InputError."""
    if not isinstance(code, str) or not re.fullmatch(r"[A-Za-z]{3}", code.strip()):
        raise InputError(f"{where}: expected a three-letter ISO 4217 code such as USD or EUR, found {code!r}")
    return code.strip().upper()


def currency() -> str:
    """The store's currency: ``$CDP_CURRENCY``, else the project's setting, else USD."""
    if os.environ.get(CURRENCY_ENV):
        return check_currency(os.environ[CURRENCY_ENV], f"${CURRENCY_ENV}")
    return load_settings()["currency"]
