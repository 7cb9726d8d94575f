"""Unknown names, one way everywhere: the "did you mean" hint and the unknown-key check that every
YAML and parameter reader (segments, monitors, transforms, activation, funnels, metrics, filters,
`*Params`) uses, so a typo reads the same wherever it is made.

Phrasing: ``<where>: unknown key 'lookbak_days'; did you mean 'lookback_days'?; allowed: a, b``.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Iterable, Mapping

from cdp_lib.errors import InputError


def close_matches(word: Any, known: Iterable, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to `n` known names closest to `word` (difflib ratio >= `cutoff`), best first; a name
    much further than the best (ratio lower by more than 0.1) is not offered beside it."""
    names = sorted({str(k) for k in known})
    close = difflib.get_close_matches(str(word), names, n=n, cutoff=cutoff)
    if not close:
        return []
    ratio = {c: difflib.SequenceMatcher(None, str(word), c).ratio() for c in close}
    best = max(ratio.values())
    return [c for c in close if ratio[c] >= best - 0.1]


def suggest(word: Any, known: Iterable, cutoff: float = 0.6) -> str:
    """``"; did you mean 'a' or 'b'?"`` naming the closest known names, or ``""`` when none is close."""
    close = close_matches(word, known, cutoff=cutoff)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def unknown_key_message(key: Any, allowed: Iterable, noun: str = "key") -> str:
    """``"unknown key 'x'; did you mean 'y'?; allowed: a, b"`` (no location: callers add theirs).

    `noun` names what the keys are (``"parameter"`` for a `*Params`)."""
    allowed = sorted({str(a) for a in allowed})
    return f"unknown {noun} {str(key)!r}{suggest(key, allowed)}; allowed: {', '.join(allowed)}"


def unknown_keys(data: Mapping, allowed: Iterable) -> list[str]:
    """Keys of `data` not in `allowed`, in the order they were written."""
    allowed = set(allowed)
    return [k for k in data if k not in allowed]


def check_keys(where: str, data: Mapping, allowed: Iterable,
               error: Callable[[str], Exception] = InputError, noun: str = "key") -> None:
    """Raise `error("<where>: unknown key ...")` for the first key of `data` not in `allowed`.

    `error` builds the exception from the message; YAML readers pass one that adds file and line.
    """
    allowed = list(allowed)
    bad = unknown_keys(data, allowed)
    if bad:
        message = unknown_key_message(bad[0], allowed, noun)
        raise error(f"{where}: {message}" if where else message)
