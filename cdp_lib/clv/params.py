"""CLV parameters: `ClvParams` (validated before anything runs), model names and time units."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from cdp_lib import schema
from cdp_lib.errors import InputError
from cdp_lib.prerequisites import as_of_end

MODELS = ("mbgnbd", "bgnbd", "pareto")
DEFAULT_MODEL = "mbgnbd"
MODEL_NAMES = {"mbgnbd": "Modified BG/NBD", "bgnbd": "BG/NBD", "pareto": "Pareto/NBD"}
PARAM_NAMES = {"mbgnbd": ("r", "alpha", "a", "b"), "bgnbd": ("r", "alpha", "a", "b"), "pareto": ("r", "alpha", "s", "beta")}
# No expected next-order date for a customer whose P(alive) is below this (probably gone).
MIN_P_ALIVE_FOR_NEXT_ORDER = 0.5
TIME_UNITS = {"D": 1.0, "W": 7.0}


def unit_days(time_unit: str) -> float:
    """Days per model time unit (`D` 1, `W` 7)."""
    try:
        return TIME_UNITS[time_unit]
    except KeyError:
        raise InputError(f"time_unit: {time_unit!r} is not a time unit; expected 'D' (days) or 'W' (weeks)") from None


class ClvWarning(UserWarning):
    """Rows left out of a CLV model, with how many (never silent, never a crash)."""


@dataclass
class ClvParams:
    """Validated CLV parameters; the same names in YAML, notebook, function and CLI flag.

    `discount_rate` is annual (0.1 = 10 % a year), applied per 30-day step of the horizon.
    `min_p_alive_for_next_order`: customers with a lower P(alive) get no expected next-order
    date (they are probably gone; 0 gives everyone who ordered a date).
    `penalizer` is the L2 penalty lifetimes adds to the negative log-likelihood (use a small
    value such as 0.001 when a fit does not converge); `tol` the optimiser tolerance (model
    default when None); `max_iterations` caps the optimiser's iterations (None: scipy default).
    """

    as_of: str | None = None
    time_unit: str = "D"
    horizon_days: int = 365
    holdout_days: int = 0
    model: str = DEFAULT_MODEL
    metric: str = schema.PLACED_ORDER
    refund_metric: str = schema.REFUNDED_ORDER
    where: list = field(default_factory=list)
    discount_rate: float = 0.0
    penalizer: float = 0.0
    tol: float | None = None
    max_iterations: int | None = None
    min_p_alive_for_next_order: float = MIN_P_ALIVE_FOR_NEXT_ORDER
    force: bool = False

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_dict(cls, data: dict, where: str = "params") -> "ClvParams":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"{where}: unknown CLV parameter(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "ClvParams":
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"{path}: cannot read CLV parameters: {exc}") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a mapping of CLV parameters, found {type(data).__name__}")
        return cls.from_dict(data, where=str(path))

    def validate(self) -> None:
        if self.as_of is not None:
            try:
                self.as_of = pd.Timestamp(str(self.as_of)).strftime("%Y-%m-%d")
            except ValueError:
                raise InputError(f"as_of: {self.as_of!r} is not a date; expected YYYY-MM-DD") from None
        unit_days(self.time_unit)
        if self.model not in MODELS:
            raise InputError(f"model: {self.model!r} is not a model; expected one of {', '.join(MODELS)}")
        for name in ("horizon_days", "holdout_days"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise InputError(f"{name}: expected a whole number of days >= 0, found {value!r}")
        if self.horizon_days == 0:
            raise InputError("horizon_days: expected at least 1 day, found 0")
        if not 0 <= float(self.discount_rate) < 10:
            raise InputError(f"discount_rate: expected an annual rate such as 0.1, found {self.discount_rate!r}")
        if float(self.penalizer) < 0:
            raise InputError(f"penalizer: expected a value >= 0, found {self.penalizer!r}")
        if self.tol is not None and not 0 < float(self.tol) < 1:
            raise InputError(f"tol: expected a small positive tolerance such as 1e-7, found {self.tol!r}")
        if self.max_iterations is not None and int(self.max_iterations) < 1:
            raise InputError(f"max_iterations: expected at least 1, found {self.max_iterations!r}")
        threshold = self.min_p_alive_for_next_order
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or not 0 <= threshold <= 1:
            raise InputError(
                f"min_p_alive_for_next_order: expected a probability between 0 and 1 such as 0.5, found {threshold!r}"
            )
        self.min_p_alive_for_next_order = float(threshold)
        if not isinstance(self.where, list):
            raise InputError("where: expected a list of filters on order events")

    @property
    def as_of_date(self) -> dt.date:
        return as_of_end(self.as_of).date()
