"""RFM parameters (`RfmParams`) and the frequency/monetary cut-offs (`RfmThresholds`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from cdp_lib import schema
from cdp_lib.dates import as_of_day, parse_date
from cdp_lib.errors import InputError
from cdp_lib.params import Params
from cdp_lib.rfm.groups import DEFAULT_RECENCY_DAYS_THRESHOLDS


_parse_date = parse_date  # cdp_lib.dates: the one date reader


def _pair(value: Any, name: str, lowest: float | None = None, highest: float | None = None,
          integers: bool = False) -> tuple | None:
    """Two strictly increasing numbers (a comma-separated string is accepted too)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.replace(" ", "").split(",") if v]
    if not isinstance(value, Sequence) or len(value) != 2:
        raise InputError(f"{name}: expected two increasing numbers like [1, 2], got {value!r}")
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected two numbers, got {value!r}") from None
    if integers:
        if any(n != int(n) for n in numbers):
            raise InputError(f"{name}: expected whole numbers of days, got {value!r}")
        numbers = tuple(int(n) for n in numbers)
    low, high = numbers
    if not low < high:
        raise InputError(
            f"{name}: thresholds conflict: {low:g} then {high:g}; the second must be larger than the first"
        )
    if lowest is not None and low < lowest or highest is not None and high > highest:
        span = f"between {lowest:g} and {highest:g}" if highest is not None else f"at least {lowest:g}"
        raise InputError(f"{name}: {value!r} out of range; each value must be {span}")
    return numbers


@dataclass(frozen=True)
class RfmParams(Params):
    """Validated RFM parameters; the same names in YAML, notebooks, keywords and CLI flags.

    Parameters
    ----------
    as_of
        Date the scores describe (orders up to the end of that day, UTC); None = today (UTC).
    lookback_days
        Only orders in the `lookback_days` days ending on the as-of date (inclusive); None = all
        history.
    metric
        Conversion metric whose events are orders (only events with value > 0 count).
    recency_days_thresholds
        ``(a, b)``: r_score 3 if recency_days <= a, 2 if <= b, else 1. Days only: recency cannot
        use quantiles, because "recent" is a calendar notion, not a rank.
    frequency_thresholds, monetary_thresholds
        Fixed cut-offs ``(c1, c2)``: score 3 if value > c2, 2 if value > c1, else 1.
    frequency_quantiles, monetary_quantiles
        Quantiles (fractions 0-1) giving c1, c2 over the scored customers, linear interpolation.
        Default for both dimensions when no thresholds are given: thirds, (1/3, 2/3).
    force
        Run even when the data prerequisites are unmet (a warning is emitted).
    """

    as_of: dt.date | None = None
    lookback_days: int | None = None
    metric: str = schema.PLACED_ORDER
    recency_days_thresholds: tuple[int, int] = DEFAULT_RECENCY_DAYS_THRESHOLDS
    frequency_thresholds: tuple[float, float] | None = None
    monetary_thresholds: tuple[float, float] | None = None
    frequency_quantiles: tuple[float, float] | None = None
    monetary_quantiles: tuple[float, float] | None = None
    force: bool = False

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        put("as_of", _parse_date(self.as_of, "as_of"))
        if self.lookback_days is not None:
            if isinstance(self.lookback_days, bool) or not str(self.lookback_days).strip().isdigit() \
                    or int(self.lookback_days) < 1:
                raise InputError(f"lookback_days: expected a whole number of days >= 1, got {self.lookback_days!r}")
            put("lookback_days", int(self.lookback_days))
        if not isinstance(self.metric, str) or not self.metric.strip():
            raise InputError(f"metric: expected a metric name such as 'Placed Order', got {self.metric!r}")
        put("recency_days_thresholds", _pair(self.recency_days_thresholds, "recency_days_thresholds",
                                             lowest=0, integers=True))
        for dim in ("frequency", "monetary"):
            thresholds = _pair(getattr(self, f"{dim}_thresholds"), f"{dim}_thresholds")
            quantiles = _pair(getattr(self, f"{dim}_quantiles"), f"{dim}_quantiles", lowest=0, highest=1)
            if thresholds is not None and quantiles is not None:
                raise InputError(
                    f"{dim}: both {dim}_thresholds {list(thresholds)} and {dim}_quantiles "
                    f"{list(quantiles)} given; these conflict, keep only one"
                )
            put(f"{dim}_thresholds", thresholds)
            put(f"{dim}_quantiles", quantiles)
        if not isinstance(self.force, bool):
            raise InputError(f"force: expected true or false, got {self.force!r}")
        if self.recency_days_thresholds is None:
            put("recency_days_thresholds", DEFAULT_RECENCY_DAYS_THRESHOLDS)

    WHERE: ClassVar[str] = "RFM parameters"  # from_mapping / from_yaml: cdp_lib.params.Params
    NOTEBOOK_ALIASES: ClassVar[Mapping[str, str]] = {"start_date": "from_"}  # notebooks/rfm.ipynb

    @classmethod
    def check_mapping(cls, data: Mapping[str, Any], where: str) -> None:
        for key in data:
            if key in {"recency_quantiles", "recency_percentiles"}:
                raise InputError(
                    f"{where}: {key}: recency cannot use quantiles (recent is a number of days, "
                    "not a rank); use recency_days_thresholds: [180, 365]"
                )

    def replace(self, **changes: Any) -> "RfmParams":
        """A copy with some parameters changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def as_of_date(self) -> dt.date:
        """The as-of date, today (UTC) when none was given."""
        return self.as_of or as_of_day(None)


@dataclass(frozen=True)
class RfmThresholds:
    """Concrete cut-offs: recency in days (<=), frequency and monetary values (strict >)."""

    recency_days: tuple[int, int]
    frequency: tuple[float, float]
    monetary: tuple[float, float]
    computed_at: dt.date | None = None  # as-of date of the quantiles, None when all were fixed

    def as_frame(self) -> pd.DataFrame:
        """One row per dimension, for display in reports."""
        rows = [
            ("recency_days", "3 if <= {0:g} days, 2 if <= {1:g}, else 1", self.recency_days),
            ("frequency", "3 if > {1:g} orders, 2 if > {0:g}, else 1", self.frequency),
            ("monetary", "3 if > {1:,.2f}, 2 if > {0:,.2f}, else 1", self.monetary),
        ]
        return pd.DataFrame(
            [(dim, c1, c2, rule.format(c1, c2)) for dim, rule, (c1, c2) in rows],
            columns=["dimension", "c1", "c2", "rule"],
        )
