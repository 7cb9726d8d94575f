"""Funnel definitions: steps, exclusions and the validated `FunnelParams`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

from cdp_lib.dates import parse_date
from cdp_lib.errors import InputError
from cdp_lib.durations import parse_duration
from cdp_lib.filters import validate_filter
from cdp_lib.keys import check_keys
from cdp_lib.params import Params, renamed_keyword

MIN_STEPS, MAX_STEPS = 2, 10
DEFAULT_WINDOW = "14d"
DEFAULT_TOP_N = 10
DEFAULT_RANGE_DAYS = 30
OTHER, NOT_SET = "Other", "(not set)"


@dataclass(frozen=True)
class FunnelStep:
    """One step: a metric (event name or custom metric) with optional property filters."""

    metric: str
    where: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Exclusion:
    """Events of `metric` between steps `after_step` and `before_step` (1-based) lose the entry."""

    metric: str
    after_step: int
    before_step: int
    where: tuple[dict, ...] = ()


@dataclass(frozen=True)
class FunnelParams(Params):
    """Validated funnel definition; build it with `funnel_params(...)` or `from_mapping`/`from_yaml`
    (YAML `from`/`to`; the old `from_date`/`to_date` still work and warn)."""

    BUILDER: ClassVar[str] = "funnel_params"
    ALIASES: ClassVar[Mapping[str, str]] = {"from_date": "from_", "to_date": "to"}
    WHERE: ClassVar[str] = "funnel parameters"

    steps: tuple[FunnelStep, ...]
    window: dt.timedelta = dt.timedelta(days=14)
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    breakdown: str | None = None
    top_n: int = DEFAULT_TOP_N
    exclusions: tuple[Exclusion, ...] = ()
    segment: str | None = None
    labels: tuple[str, ...] = field(default=())

    @property
    def window_seconds(self) -> int:
        return int(self.window.total_seconds())


def _step(spec: Any, where: str) -> FunnelStep:
    if isinstance(spec, FunnelStep):
        return spec
    if isinstance(spec, str):
        return FunnelStep(spec)
    if not isinstance(spec, Mapping) or not isinstance(spec.get("metric"), str):
        raise InputError(f"{where}: expected an event name or a mapping with 'metric', got {spec!r}")
    check_keys(where, spec, ("metric", "where"))
    filters = spec.get("where") or []
    if not isinstance(filters, list):
        raise InputError(f"{where}.where: expected a list of property filters, got {filters!r}")
    return FunnelStep(spec["metric"], tuple(validate_filter(f, f"{where}.where[{i}]") for i, f in enumerate(filters)))


def _exclusion(spec: Any, where: str, n_steps: int) -> Exclusion:
    if isinstance(spec, Exclusion):
        ex = spec
    else:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("metric"), str):
            raise InputError(f"{where}: expected a mapping with 'metric', 'after_step', 'before_step', got {spec!r}")
        check_keys(where, spec, ("metric", "where", "after_step", "before_step"))
        filters = spec.get("where") or []
        ex = Exclusion(
            spec["metric"],
            spec.get("after_step", 1),
            spec.get("before_step", n_steps),
            tuple(validate_filter(f, f"{where}.where[{i}]") for i, f in enumerate(filters)),
        )
    ok = isinstance(ex.after_step, int) and isinstance(ex.before_step, int)
    if not ok or not 1 <= ex.after_step < ex.before_step <= n_steps:
        raise InputError(
            f"{where}: after_step {ex.after_step!r} and before_step {ex.before_step!r} must be step "
            f"numbers with 1 <= after_step < before_step <= {n_steps}"
        )
    return ex


def parse_window(text: Any, where: str = "window") -> dt.timedelta:
    """`'30m'`, `'12h'`, `'7d'`, `'2w'` -> timedelta; must be positive."""
    span = parse_duration(text, where)
    if span.total_seconds() <= 0:
        raise InputError(f"{where}: {text!r} must be longer than zero")
    return span


def funnel_params(
    steps: Sequence[Any],
    window: str | dt.timedelta = DEFAULT_WINDOW,
    from_: Any = None,
    to: Any = None,
    breakdown: str | None = None,
    top_n: int = DEFAULT_TOP_N,
    exclusions: Sequence[Any] = (),
    segment: str | None = None,
    *,
    from_date: Any = None,
    to_date: Any = None,
) -> FunnelParams:
    """Validate a funnel definition (shapes only; metric names are checked against the data).

    `from_`/`to`: first and last day people may enter (both included); `from_date`/`to_date`
    are their old names (still accepted, with a `DeprecatedSpellingWarning`)."""
    from_ = renamed_keyword("from_", "from_date", from_, from_date)
    to = renamed_keyword("to", "to_date", to, to_date)
    if isinstance(steps, (str, Mapping)) or not isinstance(steps, Sequence):
        raise InputError(f"steps: expected a list of {MIN_STEPS} to {MAX_STEPS} steps, got {steps!r}")
    if not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise InputError(f"steps: a funnel has {MIN_STEPS} to {MAX_STEPS} steps, got {len(steps)}")
    parsed = tuple(_step(s, f"steps[{i}]") for i, s in enumerate(steps))
    span = window if isinstance(window, dt.timedelta) else parse_window(window)
    if span.total_seconds() <= 0:
        raise InputError(f"window: {window!r} must be longer than zero")
    start, end = parse_date(from_, "from"), parse_date(to, "to")
    if start and end and start > end:
        raise InputError(f"from {start} is after to {end}; swap them")
    if not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1:
        raise InputError(f"top_n: expected a positive whole number, got {top_n!r}")
    excl = tuple(_exclusion(e, f"exclusions[{i}]", len(parsed)) for i, e in enumerate(exclusions or ()))
    return FunnelParams(parsed, span, start, end, breakdown or None, top_n, excl, segment or None)


def breakdown_column(params: FunnelParams) -> str | None:
    """Name of the breakdown column in results: the property, unless it clashes with one."""
    if not params.breakdown:
        return None
    taken = {"profile_id", "furthest_step", "step", "metric", "profiles", "drop_off"}
    return "breakdown" if params.breakdown in taken or params.breakdown.startswith(("seconds_", "conversion_")) \
        else params.breakdown
