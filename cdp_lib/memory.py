"""How much memory DuckDB may use and where it spills: one rule for every command and notebook.

DuckDB's own default memory limit is 80% of the machine's RAM, which is too much on a machine
shared by several people or jobs, and its spill folder sits next to the database file. Every
workspace this library opens applies these settings instead (docs/scale.md):

* memory limit: ``CDP_MEMORY_LIMIT`` (the CLI's ``--memory-limit``), a size such as ``6GB``,
  ``512MB``, ``4GiB`` or a share of the machine's RAM such as ``40%``; default
  `DEFAULT_SHARE` of the physical RAM (at least 1 GB). Past the limit DuckDB spills
  intermediate results to disk instead of failing where its operators can spill.
* spill folder: ``CDP_TEMP_DIR`` (``--temp-dir``), created if missing; default DuckDB's own
  (``<workspace file>.tmp`` next to the database).

A value that cannot be read raises `InputError` naming the variable and the expected form.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cdp_lib.errors import InputError

MEMORY_ENV = "CDP_MEMORY_LIMIT"
TEMP_DIR_ENV = "CDP_TEMP_DIR"
DEFAULT_SHARE = 0.25
MIN_BYTES = 10**9

_UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*|%)\s*")


def physical_memory() -> int:
    """Bytes of RAM of this machine (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def parse_size(text: str, where: str = "memory limit (--memory-limit, CDP_MEMORY_LIMIT)") -> int:
    """'6GB', '512 MiB', '40%' (of physical RAM) -> bytes; anything else is an `InputError`."""
    m = _SIZE.fullmatch(str(text))
    unit = m.group(2).upper() if m else None
    if m is None or (unit != "%" and unit not in _UNITS):
        raise InputError(
            f"{where} {text!r} is not a memory size; give a number with a unit "
            "(KB, MB, GB, TB, KiB, MiB, GiB, TiB) such as 6GB, or a share of RAM such as 40%")
    number = float(m.group(1))
    if unit == "%":
        if not 0 < number <= 100:
            raise InputError(f"{where} {text!r}: a share of RAM must be above 0% and at most 100%")
        ram = physical_memory()
        if not ram:
            raise InputError(f"{where} {text!r}: this system does not report its RAM; give a size such as 6GB")
        size = int(ram * number / 100)
    else:
        size = int(number * _UNITS[unit])
    if size < 2**20:
        raise InputError(f"{where} {text!r} is below 1 MiB; DuckDB needs more to run any query "
                         "(give a size such as 2GB)")
    return size


def memory_limit_bytes(value: str | None = None) -> int:
    """The limit to apply: `value`, else ``$CDP_MEMORY_LIMIT``, else the default share of RAM."""
    if value is None or str(value).strip() == "":
        value = os.environ.get(MEMORY_ENV, "").strip() or None
    if value is not None:
        return parse_size(value)
    return max(int(physical_memory() * DEFAULT_SHARE), MIN_BYTES)


def temp_dir(value: str | os.PathLike | None = None) -> Path | None:
    """The spill folder to apply (created): `value`, else ``$CDP_TEMP_DIR``, else None (DuckDB's)."""
    if value is None or str(value).strip() == "":
        value = os.environ.get(TEMP_DIR_ENV, "").strip() or None
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"{TEMP_DIR_ENV}={str(value)!r} is a file, not a folder; give a folder for "
                         "DuckDB to spill to (it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{TEMP_DIR_ENV}={str(value)!r} cannot be created ({exc.strerror}); "
                         "give a writable folder") from None
    return path.resolve()


def check(memory_limit: str | None = None, temp: str | os.PathLike | None = None) -> tuple[int, Path | None]:
    """Validate both settings before anything runs (the CLI calls this on start)."""
    return memory_limit_bytes(memory_limit), temp_dir(temp)


def apply(con, limit: int, folder: Path | None) -> None:
    """Set a memory limit (bytes) and spill folder (None: DuckDB's) from `check` on a raw DuckDB
    connection (storage edge)."""
    con.execute(f"SET memory_limit = '{int(limit)}B'")
    if folder is not None:
        con.execute("SET temp_directory = ?", [str(folder)])
