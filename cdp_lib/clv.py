"""Predictive customer lifetime value: MBG/NBD, BG/NBD or Pareto/NBD purchases + Gamma-Gamma spend.

This is the only module that imports `lifetimes` (lazily, with its global side effects
undone), so the model library can be swapped without touching anything else. Everything that
can run in the engine does (`cdp_lib.clv_summary`); the models only ever see the distinct
(frequency, recency, T) combinations with a `weight` = number of customers, which gives the
same maximum-likelihood estimates as one row per customer (Fader & Hardie's own spreadsheets
condense customers the same way), and scores are joined back to customers in the engine.

References
----------
- Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of models for
  customer base analysis", IJRM 24(3); Wagner & Hoppe (2008), "Erratum on the MBG/NBD model",
  IJRM 25(3) -- MBG/NBD (the default: customers may drop out right after any purchase,
  the first included, so one-time buyers age too).
- Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
  Pareto/NBD Model", Marketing Science 24(2) -- BG/NBD.
- Schmittlein, Morrison & Colombo (1987) -- Pareto/NBD.
- Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value",
  http://www.brucehardie.com/notes/025/ -- spend.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import yaml
from scipy.optimize import minimize
from scipy.special import hyp2f1

from cdp_lib import clv_summary, gender, schema
from cdp_lib.clv_likelihood import BgNbdRows, GammaGammaRows, bgnbd_objective, distinct, gamma_gamma_objective
from cdp_lib.errors import DataError, InputError
from cdp_lib.filters import where_expr
from cdp_lib.metrics import events_for
from cdp_lib.params import Params
from cdp_lib.prerequisites import as_of_end, check_prerequisites
from cdp_lib.workspace import Workspace

MODELS = ("mbgnbd", "bgnbd", "pareto")
DEFAULT_MODEL = "mbgnbd"
MODEL_NAMES = {"mbgnbd": "Modified BG/NBD", "bgnbd": "BG/NBD", "pareto": "Pareto/NBD"}
PARAM_NAMES = {"mbgnbd": ("r", "alpha", "a", "b"), "bgnbd": ("r", "alpha", "a", "b"), "pareto": ("r", "alpha", "s", "beta")}
# No expected next-order date for a customer whose P(alive) is below this (probably gone).
MIN_P_ALIVE_FOR_NEXT_ORDER = 0.5
# Churn bands on churn_probability = 1 - P(alive): below 0.3 low, below 0.7 medium, else high.
CHURN_CUTOFFS = (0.3, 0.7)
# Discounting steps through the horizon in 30-day "months", as lifetimes' own CLV does.
DISCOUNT_STEP_DAYS = 30
DEFAULT_TOL = {"mbgnbd": 1e-7, "bgnbd": 1e-7, "pareto": 1e-6}
PREDICTION_COLUMNS = (
    "profile_id", "as_of", "historic_clv", "predicted_clv", "total_clv", "historic_orders",
    "predicted_orders", "average_order_value", "average_days_between_orders", "p_alive",
    "churn_probability", "churn_risk", "expected_next_order_date", "predicted_gender",
)
PREDICTIONS_TABLE = "clv_predictions"


class ClvWarning(UserWarning):
    """Rows left out of a CLV model, with how many (never silent, never a crash)."""


# -- parameters --------------------------------------------------------------------------------
@dataclass
class ClvParams(Params):
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

    WHERE: ClassVar[str] = "CLV parameters"

    @classmethod
    def from_dict(cls, data: dict, where: str = "params") -> "ClvParams":
        """Old name of `from_mapping` (cdp_lib.params.Params)."""
        return cls.from_mapping(data, where)

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
        clv_summary.unit_days(self.time_unit)
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


# -- the lifetimes fence -----------------------------------------------------------------------
@contextlib.contextmanager
def _fenced():
    """Run lifetimes code without letting it change warning filters, pandas options or stdout."""
    chained = pd.get_option("mode.chained_assignment")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            yield
        finally:
            pd.set_option("mode.chained_assignment", chained)


def _lifetimes():
    with _fenced():
        import lifetimes
        import lifetimes.utils  # noqa: F401  (sets a pandas option on import; _fenced restores it)
    return lifetimes


def _fit_or_explain(fit, what: str, n: int):
    with _fenced():
        import lifetimes.utils

        try:
            return fit()
        except lifetimes.utils.ConvergenceError:
            raise DataError(
                f"the {what} fit did not converge on {n:,} customers; retry with a penalizer "
                "(penalizer: 0.001, CLI --penalizer 0.001), a looser tolerance (tol, --tol) or more "
                "iterations (max_iterations), or check the orders for outliers"
            ) from None
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            raise DataError(f"the {what} fit failed on {n:,} customers: {exc}") from None


# -- models ------------------------------------------------------------------------------------
@dataclass
class TransactionModel:
    """A fitted purchase-count model (MBG/NBD, BG/NBD or Pareto/NBD) in the summary's time unit."""

    kind: str
    params: dict
    log_likelihood: float
    n_customers: int
    _fitter: Any = field(repr=False)

    def expected_purchases(self, t: float, frequency, recency, T) -> np.ndarray:
        """E[purchases in the next `t` units | frequency, recency, T]."""
        if self.kind in ("bgnbd", "mbgnbd") and np.ndim(t) == 0:
            return self._bgnbd_expected_purchases(float(t), *(np.asarray(v, dtype=float) for v in (frequency, recency, T)))
        with _fenced():
            out = self._fitter.conditional_expected_number_of_purchases_up_to_time(t, frequency, recency, T)
        return np.asarray(out, dtype=float)

    def _bgnbd_expected_purchases(self, t: float, x: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        """lifetimes' `conditional_expected_number_of_purchases_up_to_time` (Fader, Hardie & Lee
        2005, eq. 10; for MBG/NBD Wagner & Hoppe 2008, the same with k = 1 below), the same
        operations, with the Gaussian hypergeometric part (which depends on x and T only)
        evaluated once per distinct (x, T) pair instead of once per row. Where the series
        overflows, its Euler transform is used (as lifetimes does for BG/NBD)."""
        p = self.params
        r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
        k = 1.0 if self.kind == "mbgnbd" else 0.0  # MBG/NBD: drop-out also right after the first purchase
        T_values, T_index = distinct(T)
        pairs, pair_index = np.unique(x.astype(np.int64) * len(T_values) + T_index, return_inverse=True)
        xu, Tu = (pairs // len(T_values)).astype(float), T_values[pairs % len(T_values)]
        _a, _b, _c, _z = r + xu, b + xu + k, a + b + xu - 1 + k, t / (alpha + Tu + t)
        with np.errstate(all="ignore"):
            ln_hyp = np.log(hyp2f1(_a, _b, _c, _z))
            ln_hyp_alt = np.log(hyp2f1(_c - _a, _c - _b, _c, _z)) + (_c - _a - _b) * np.log(1 - _z)
        ln_hyp = np.where(np.isinf(ln_hyp), ln_hyp_alt, ln_hyp)
        first_term = (a + b + xu - 1 + k) / (a - 1)
        second_term = 1 - np.exp(ln_hyp + (r + xu) * np.log((alpha + Tu) / (alpha + t + Tu)))
        numerator = (first_term * second_term)[pair_index.reshape(-1)]
        dropout = (x > 0) | (k > 0)
        denominator = 1 + dropout * (a / (b + x - 1 + k)) * ((alpha + T) / (alpha + recency)) ** (r + x)
        return numerator / denominator

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(still a customer | frequency, recency, T)."""
        with _fenced():
            out = self._fitter.conditional_probability_alive(frequency, recency, T)
        return np.clip(np.asarray(out, dtype=float), 0.0, 1.0)

    def expected_purchases_new(self, t) -> np.ndarray:
        """E[repeat purchases within `t` units of a new customer's first purchase]."""
        with _fenced():
            out = self._fitter.expected_number_of_purchases_up_to_time(np.asarray(t, dtype=float))
        return np.asarray(out, dtype=float)

    def probability_of_repeat_purchases(self, t: float, n: int, rng: np.random.Generator) -> np.ndarray:
        """P(X(t) = 0..n-1) for a new customer observed for `t` units (last entry: n or more).

        BG/NBD and MBG/NBD use lifetimes' closed forms (Fader, Hardie & Lee 2005, eq. 8;
        Batislam et al. 2007); Pareto/NBD is simulated (100,000 draws from the fitted mixing
        distributions).
        """
        if self.kind in ("bgnbd", "mbgnbd"):
            with _fenced():
                probs = np.array([float(self._fitter.probability_of_n_purchases_up_to_time(t, k)) for k in range(n - 1)])
        else:
            p = self.params
            size = 100_000
            lam = rng.gamma(p["r"], 1.0 / p["alpha"], size)
            mu = rng.gamma(p["s"], 1.0 / p["beta"], size)
            tau = rng.exponential(1.0 / mu)
            counts = rng.poisson(lam * np.minimum(t, tau))
            probs = np.array([(counts == k).mean() for k in range(n - 1)])
        return np.append(probs, max(0.0, 1.0 - probs.sum()))


@dataclass
class SpendModel:
    """A fitted Gamma-Gamma model of average spend per purchase day."""

    params: dict
    n_customers: int
    excluded: int
    _fitter: Any = field(repr=False)

    @property
    def population_mean(self) -> float:
        p, q, v = self.params["p"], self.params["q"], self.params["v"]
        return v * p / (q - 1)

    def expected_spend_expr(self, frequency: ir.IntegerValue, monetary_value: ir.FloatingValue) -> ir.FloatingValue:
        """`expected_spend` as an engine expression (spend is continuous: nothing to condense)."""
        p, q = self.params["p"], self.params["q"]
        x = frequency.cast("float64")
        m = ibis.greatest(monetary_value, 0.0)
        weight = p * x / (p * x + (q - 1))
        return (1 - weight) * self.population_mean + weight * m

    def expected_spend(self, frequency, monetary_value) -> np.ndarray:
        """E[average spend per purchase day | frequency, mean repeat spend] (Fader & Hardie 2013, eq. 5)."""
        p, q = self.params["p"], self.params["q"]
        x = np.asarray(frequency, dtype=float)
        m = np.clip(np.asarray(monetary_value, dtype=float), 0.0, None)
        weight = p * x / (p * x + q - 1)
        return (1 - weight) * self.population_mean + weight * m


def _minimize(objective, rows, start: np.ndarray, penalizer: float, tol: float, options: dict,
              what: str, n: int) -> np.ndarray:
    """scipy's minimize as lifetimes' `_fit` calls it (BFGS, `tol`); returns log-parameters."""
    with np.errstate(all="ignore"):
        try:
            out = minimize(objective, start, args=(rows, penalizer), jac=True, method=None, tol=tol,
                           options={"disp": False, **options})
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            raise DataError(f"the {what} fit failed on {n:,} customers: {exc}") from None
    if not out.success:
        raise DataError(
            f"the {what} fit did not converge on {n:,} customers; retry with a penalizer "
            "(penalizer: 0.001, CLI --penalizer 0.001), a looser tolerance (tol, --tol) or more "
            "iterations (max_iterations), or check the orders for outliers"
        )
    return out.x


# Above this many rows a fit starts from a loose fit on a seeded sample of rows: the optimum is
# the same (the full fit still runs to `tol`), but BFGS needs far fewer full-data iterations and
# no longer starts from lifetimes' fixed guess, which can stall far from the optimum.
WARM_START_ROWS = 20_000


def _warm_start(rows: pd.DataFrame, fit_sample) -> np.ndarray | None:
    if len(rows) <= WARM_START_ROWS:
        return None
    sample = rows.sample(n=WARM_START_ROWS, random_state=0)
    try:
        return fit_sample(sample)
    except DataError:
        return None


def fit_transactions(combos: pd.DataFrame, model: str = DEFAULT_MODEL, penalizer: float = 0.0,
                     tol: float | None = None, max_iterations: int | None = None) -> TransactionModel:
    """Fit MBG/NBD, BG/NBD or Pareto/NBD on distinct `frequency, recency, T` rows with `weight` counts.

    The weighted fit maximises the same likelihood as one row per customer: the (M)BG/NBD
    objective divides by the total weight either way; Pareto/NBD's divides by the mean weight, so
    its function tolerance is rescaled accordingly and the Nelder-Mead steps are identical.
    """
    lt = _lifetimes()
    w = np.asarray(combos["weight"], dtype=float)
    n = int(w.sum())
    if n == 0:
        raise DataError("no customers to fit: the order table is empty up to the as-of date")
    if not (combos["frequency"] > 0).any():
        raise DataError(
            f"all {n:,} customers bought on a single day only; {MODEL_NAMES[model]} needs repeat "
            "purchases to estimate how often customers buy. Use a later as-of date or more history"
        )
    tol = DEFAULT_TOL[model] if tol is None else float(tol)
    args = (combos["frequency"].to_numpy(), combos["recency"].to_numpy(float), combos["T"].to_numpy(float))
    options = {} if max_iterations is None else {"maxiter": int(max_iterations)}
    if model in ("bgnbd", "mbgnbd"):
        scale = 1.0 / combos["T"].max()  # lifetimes fits alpha in units of the largest T
        modified = model == "mbgnbd"

        def fit(rows: pd.DataFrame, tolerance: float, start: np.ndarray | None) -> np.ndarray:
            data = BgNbdRows.build(rows["frequency"], rows["recency"].to_numpy(float) * scale,
                                   rows["T"].to_numpy(float) * scale, rows["weight"], modified=modified)
            x0 = 0.1 * np.ones(4) if start is None else start  # lifetimes' default start
            return _minimize(bgnbd_objective, data, x0, penalizer, tolerance, options, MODEL_NAMES[model], n)

        start = _warm_start(combos, lambda sample: fit(sample, 1e-4, None))
        r, alpha, a, b = np.exp(fit(combos, tol, start))
        fitter = (lt.ModifiedBetaGeoFitter if modified else lt.BetaGeoFitter)(penalizer_coef=penalizer)
        fitter.params_ = pd.Series([r, alpha / scale, a, b], index=list(PARAM_NAMES[model]))
        log_params = np.log(fitter.params_.to_numpy())
        with _fenced():
            ll = -float(fitter._negative_log_likelihood(log_params, *args, w, 0.0)) * w.sum()
    else:
        fitter = lt.ParetoNBDFitter(penalizer_coef=penalizer)
        # Same stopping rule as an unweighted fit (objective scale differs by len(w) / n).
        options = {"maxiter": options.get("maxiter", 2000), "fatol": tol * len(w) / n, "xatol": tol}
        _fit_or_explain(
            lambda: fitter.fit(*args, weights=w, tol=tol, initial_params=np.ones(4), **options), "Pareto/NBD", n
        )
        params = fitter.params_[list(PARAM_NAMES[model])].to_numpy()
        with _fenced():
            ll = float((w * fitter._conditional_log_likelihood(params, *args)).sum())
    params = {k: float(v) for k, v in fitter.params_.items()}
    if not all(math.isfinite(v) and 0 < v < 1e8 for v in params.values()):
        raise DataError(
            f"the {MODEL_NAMES[model]} fit on {n:,} customers ended at unusable parameters {params}; "
            "retry with a penalizer (penalizer: 0.001, CLI --penalizer 0.001)"
        )
    return TransactionModel(model, params, ll, n, fitter)


def fit_spend(combos: pd.DataFrame, penalizer: float = 0.0, tol: float = 1e-7,
              max_iterations: int | None = None) -> SpendModel:
    """Fit Gamma-Gamma on repeat customers (`frequency` > 0) with positive `monetary_value`.

    Rows carry a `weight`. Repeat customers with zero or negative average spend cannot enter
    the model (its likelihood needs log spend); they are left out with a `ClvWarning` saying how
    many, and later scored with the formula at spend 0.
    """
    lt = _lifetimes()
    repeat = combos[combos["frequency"] > 0]
    bad = repeat["monetary_value"] <= 0
    excluded = int(repeat.loc[bad, "weight"].sum())
    if excluded:
        warnings.warn(
            f"{excluded:,} repeat customers with zero or negative average spend left out of the "
            "Gamma-Gamma fit", ClvWarning, stacklevel=2,
        )
    usable = repeat[~bad]
    n = int(usable["weight"].sum())
    if n == 0:
        raise DataError(
            "no repeat customer with a positive average order value; Gamma-Gamma needs repeat "
            "purchases with values above 0 (check the metric's value column)"
        )
    options = {} if max_iterations is None else {"maxiter": int(max_iterations)}

    def fit(rows: pd.DataFrame, tolerance: float, start: np.ndarray | None) -> np.ndarray:
        data = GammaGammaRows.build(rows["frequency"], rows["monetary_value"], rows["weight"])
        x0 = 0.1 * np.ones(3) if start is None else start  # lifetimes' default start
        return _minimize(gamma_gamma_objective, data, x0, penalizer, tolerance, options, "Gamma-Gamma", n)

    start = _warm_start(usable, lambda sample: fit(sample, 1e-4, None))
    fitter = lt.GammaGammaFitter(penalizer_coef=penalizer)
    fitter.params_ = pd.Series(np.exp(fit(usable, tol, start)), index=["p", "q", "v"])
    params = {k: float(v) for k, v in fitter.params_.items()}
    if not params["q"] > 1 or not all(math.isfinite(v) for v in params.values()):
        raise DataError(
            f"the Gamma-Gamma fit on {n:,} repeat customers gave q = {params['q']:.3g}; the mean "
            "spend is undefined for q <= 1. Retry with a penalizer (penalizer: 0.001)"
        )
    return SpendModel(params, n, excluded, fitter)


# -- scoring on distinct combinations ----------------------------------------------------------
def score_combinations(model: TransactionModel, combos: pd.DataFrame, horizon: float,
                       discount_rate: float = 0.0, unit_days: float = 1.0) -> pd.DataFrame:
    """Add `predicted_orders`, `discounted_orders` and `p_alive` to distinct combinations.

    `horizon` is in model units. With an annual `discount_rate` > 0 the horizon is cut into
    30-day steps and each step's expected purchases are discounted to the as-of date.
    """
    f, r, T = (combos[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    out = combos.copy()
    out["predicted_orders"] = model.expected_purchases(horizon, f, r, T)
    out["p_alive"] = model.probability_alive(f, r, T)
    if discount_rate > 0:
        horizon_days = horizon * unit_days
        ends = np.append(np.arange(DISCOUNT_STEP_DAYS, horizon_days, DISCOUNT_STEP_DAYS), horizon_days)
        discounted, before = np.zeros(len(out)), np.zeros(len(out))
        for end in ends:
            cum = model.expected_purchases(end / unit_days, f, r, T)
            discounted += (cum - before) / (1 + discount_rate) ** (end / 365.0)
            before = cum
        out["discounted_orders"] = discounted
    else:
        out["discounted_orders"] = out["predicted_orders"]
    return out


def churn_risk_expr(churn: ir.FloatingValue) -> ir.StringValue:
    """low below 0.3, medium below 0.7, high from 0.7 (churn_probability = 1 - p_alive)."""
    low, high = CHURN_CUTOFFS
    return ibis.cases((churn < low, "low"), (churn < high, "medium"), else_="high")


def confidence_label(customers: int, repeat_customers: int) -> str:
    """How far to trust the model, from the data it saw.

    high: at least 2,000 customers and 500 repeat customers; medium: at least 500 customers
    and 100 repeat customers; low otherwise (parameters rest on few repeat purchases).
    """
    if customers >= 2000 and repeat_customers >= 500:
        return "high"
    if customers >= 500 and repeat_customers >= 100:
        return "medium"
    return "low"


# -- the whole run -----------------------------------------------------------------------------
@dataclass
class ClvReport:
    """What a CLV run used and found: model parameters, data window, confidence, exclusions."""

    model: str
    transaction_params: dict
    log_likelihood: float
    spend_params: dict
    n_customers: int
    n_repeat_customers: int
    first_order_date: str
    as_of: str
    time_unit: str
    horizon_days: int
    discount_rate: float
    confidence: str
    excluded_negative_orders: int = 0
    excluded_spend_customers: int = 0
    population_days_between_orders: float | None = None
    min_p_alive_for_next_order: float = MIN_P_ALIVE_FOR_NEXT_ORDER
    next_order_dates_withheld: int = 0  # customers who ordered but have P(alive) below the threshold
    validation: dict | None = None

    @property
    def model_name(self) -> str:
        """The purchase model's name as people read it, e.g. `Modified BG/NBD`."""
        return MODEL_NAMES[self.model]

    def churn_note(self) -> str:
        """One sentence saying where churn figures and next-order dates come from."""
        return (
            f"Churn probability = 1 - P(alive) from the {self.model_name} model; no expected next-order date "
            f"for {self.next_order_dates_withheld:,} customers with P(alive) below {self.min_p_alive_for_next_order:g}"
        )

    def params_json(self) -> dict:
        """The params file: `{"model": "mbgnbd", "mbgnbd"|"bgnbd"|"pareto": {...}, "gamma_gamma": {...},
        n_customers, as_of, time_unit, ...}`."""
        out = {
            self.model: self.transaction_params,
            "gamma_gamma": self.spend_params,
            "n_customers": self.n_customers,
            "as_of": self.as_of,
            "time_unit": self.time_unit,
        }
        out.update({k: v for k, v in asdict(self).items() if k not in {"transaction_params", "spend_params", "model"}
                    and k not in out})
        out["model"] = self.model
        out["model_name"] = self.model_name
        return out

    def write_params(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.params_json(), indent=2, default=str) + "\n")

    def summary_frame(self) -> pd.DataFrame:
        """Two columns (`item`, `value`) for display in a notebook or terminal."""
        rows = [("purchase and churn model", self.model_name)]
        rows += [(f"{self.model_name} {k}", round(v, 4)) for k, v in self.transaction_params.items()]
        rows += [(f"Gamma-Gamma {k}", round(v, 4)) for k, v in self.spend_params.items()]
        rows += [
            ("log-likelihood", round(self.log_likelihood, 1)),
            ("customers", self.n_customers),
            ("repeat customers", self.n_repeat_customers),
            ("data window", f"{self.first_order_date} to {self.as_of}"),
            ("time unit", self.time_unit),
            ("horizon (days)", self.horizon_days),
            ("annual discount rate", self.discount_rate),
            ("confidence", self.confidence),
            ("no next-order date below P(alive)", self.min_p_alive_for_next_order),
            ("customers without a next-order date (probably gone)", self.next_order_dates_withheld),
        ]
        return pd.DataFrame(rows, columns=["item", "value"]).astype({"value": str})


@dataclass
class ClvResult:
    """A CLV run: per-profile `predictions` (Ibis), the fitted models and the report."""

    predictions: ir.Table
    summary: ir.Table
    transactions: TransactionModel
    spend: SpendModel
    report: ClvReport
    params: ClvParams
    validation: Any = None  # clv_validation.HoldoutValidation when params.holdout_days > 0


def orders_table(ws: Workspace, params: ClvParams) -> ir.Table:
    """Order events of `params.metric` (optionally filtered), negative values left out with a warning."""
    try:
        orders = events_for(ws, params.metric)
    except InputError:
        if params.metric != schema.PLACED_ORDER:
            raise
        raise DataError(
            f"no orders: metric {params.metric!r} has no events in the workspace; load orders "
            "with 'cdp ingest events' or pass the metric that records orders (--metric)"
        ) from None
    if params.where:
        orders = orders.filter(where_expr(orders, params.where, where="where", as_of=params.as_of))
    upto = orders.filter(orders.timestamp <= as_of_end(params.as_of))
    stats = upto.aggregate(n=upto.count(), negative=(upto.value < 0).sum(), first=upto.timestamp.min()).execute().iloc[0]
    if int(stats["n"]) == 0:
        first = orders.timestamp.min().execute()
        if first is not None and not pd.isna(first):
            raise DataError(
                f"as_of {params.as_of_date} is before the first {params.metric!r} event "
                f"({pd.Timestamp(first):%Y-%m-%d}); choose a later as-of date"
            )
        raise DataError(
            f"no orders: metric {params.metric!r} has no events in the workspace; load orders "
            "with 'cdp ingest events' or pass the metric that records orders (--metric)"
        )
    negative = int(stats["negative"] or 0)
    if negative:
        if negative == int(stats["n"]):
            raise DataError(
                f"all {negative:,} {params.metric!r} events up to {params.as_of_date} have a negative "
                "value; orders must carry the amount paid (record refunds as 'Refunded Order' events)"
            )
        warnings.warn(
            f"{negative:,} {params.metric!r} events with a negative value left out of CLV "
            "(record refunds as 'Refunded Order' events)", ClvWarning, stacklevel=2,
        )
    return orders.filter(orders.value.isnull() | (orders.value >= 0))


def _fit_models(summary: ir.Table, params: ClvParams) -> tuple[TransactionModel, SpendModel, pd.DataFrame, pd.DataFrame]:
    keys = ["frequency", "recency_days", "T_days"]
    txn = clv_summary.distinct_combinations_table(summary, keys).execute()
    scale = clv_summary.unit_days(params.time_unit)
    txn["recency"] = txn["recency_days"] / scale
    txn["T"] = txn["T_days"] / scale
    spend_rows = summary.filter(summary.frequency > 0)
    spend = clv_summary.distinct_combinations_table(spend_rows, ["frequency", "monetary_value"]).execute()
    tm = fit_transactions(txn, params.model, params.penalizer, params.tol, params.max_iterations)
    sm = fit_spend(spend, params.penalizer, tol=1e-7 if params.tol is None else params.tol,
                   max_iterations=params.max_iterations)
    return tm, sm, txn, spend


def score_summary(summary: ir.Table, params: ClvParams) -> tuple[ir.Table, TransactionModel, SpendModel]:
    """Fit both models on `summary` (a `clv_summary.summary_table`) and score every customer.

    Only the distinct (frequency, recency, T) and (frequency, monetary_value) rows leave the
    engine; the purchase scores of the distinct rows go back as a small table joined to the
    customers in the engine, and expected spend is an engine expression. Returns the summary
    with `predicted_orders, discounted_orders, p_alive, expected_spend` added (an Ibis table).
    """
    tm, sm, txn, _ = _fit_models(summary, params)
    scale = clv_summary.unit_days(params.time_unit)
    scored = score_combinations(tm, txn, params.horizon_days / scale, float(params.discount_rate), scale)
    # Join on whole-number keys (float sums are not bit-stable between engine runs, integers are).
    s_txn = ibis.memtable(scored[["frequency", "recency_days", "T_days", "predicted_orders", "discounted_orders", "p_alive"]])
    s = summary.left_join(s_txn, ["frequency", "recency_days", "T_days"]).select(
        summary, "predicted_orders", "discounted_orders", "p_alive"
    )
    return s.mutate(expected_spend=sm.expected_spend_expr(s.frequency, s.monetary_value)), tm, sm


def compute_clv(ws: Workspace, params: ClvParams | None = None) -> ClvResult:
    """Fit the models as of `params.as_of` and score every profile (an Ibis table, not stored).

    Never-purchasers get `historic_clv` 0 and `historic_orders` 0 and nulls elsewhere. Raises
    `DataError` with an explanation when the data cannot support a model.
    """
    params = params or ClvParams()
    as_of = params.as_of_date
    orders = orders_table(ws, params)
    check_prerequisites(orders.filter(orders.value > 0), params.as_of, params.force, what="CLV")
    # Materialised once (a temporary table in the engine): the fit, the scores and the report
    # all read it, and recomputing it from the events each time would dominate large runs.
    summary = clv_summary.summary_table(orders, as_of, params.time_unit).cache()
    s, tm, sm = score_summary(summary, params)

    refunds = clv_summary.net_value_table(orders, _refund_events(ws, params), as_of)
    s = s.left_join(refunds, "profile_id").select(s, "refunded_value")

    gaps = s.filter(s.frequency > 0)
    median_gap = gaps.aggregate(m=(gaps.recency_days.cast("float64") / gaps.frequency).median()).execute().iloc[0]["m"]
    median_gap = None if median_gap is None or pd.isna(median_gap) else float(median_gap)

    per_customer = _customer_fields(s, as_of, median_gap, params.min_p_alive_for_next_order)
    predictions = _with_profiles(ws, per_customer, as_of)
    withheld = int(per_customer.filter(per_customer.p_alive < params.min_p_alive_for_next_order).count().execute())

    counts = summary.aggregate(n=summary.count(), rep=(summary.frequency > 0).sum(), first=summary.first_day.min()).execute().iloc[0]
    negative = _count_negative(ws, params)
    report = ClvReport(
        model=params.model,
        transaction_params=tm.params,
        log_likelihood=tm.log_likelihood,
        spend_params=sm.params,
        n_customers=int(counts["n"]),
        n_repeat_customers=int(counts["rep"]),
        first_order_date=f"{pd.Timestamp(counts['first']):%Y-%m-%d}",
        as_of=str(as_of),
        time_unit=params.time_unit,
        horizon_days=params.horizon_days,
        discount_rate=float(params.discount_rate),
        confidence=confidence_label(int(counts["n"]), int(counts["rep"])),
        excluded_negative_orders=negative,
        excluded_spend_customers=sm.excluded,
        population_days_between_orders=median_gap,
        min_p_alive_for_next_order=params.min_p_alive_for_next_order,
        next_order_dates_withheld=withheld,
    )
    return ClvResult(predictions, summary, tm, sm, report, params)


def _refund_events(ws: Workspace, params: ClvParams) -> ir.Table:
    """Refund events; a store that never recorded the default refund metric simply has none."""
    try:
        return events_for(ws, params.refund_metric)
    except InputError:
        if params.refund_metric != schema.REFUNDED_ORDER:
            raise
        return ws.events.filter(ws.events.metric == params.refund_metric)


def _count_negative(ws: Workspace, params: ClvParams) -> int:
    orders = events_for(ws, params.metric)
    if params.where:
        orders = orders.filter(where_expr(orders, params.where, where="where", as_of=params.as_of))
    upto = orders.filter((orders.timestamp <= as_of_end(params.as_of)) & (orders.value < 0))
    return int(upto.count().execute())


def _customer_fields(s: ir.Table, as_of: dt.date, median_gap: float | None, min_p_alive: float) -> ir.Table:
    as_of_lit = ibis.literal(as_of, type="date")
    avg_gap = ibis.ifelse(s.frequency > 0, s.recency_days.cast("float64") / s.frequency.cast("float64"), ibis.null("float64"))
    gap = avg_gap.fill_null(ibis.literal(median_gap, type="float64")) if median_gap else avg_gap
    # Own cadence, continued: the first step last_day + k * gap that falls after the as-of date.
    since = as_of_lit.delta(s.last_day, unit="day").cast("float64")
    steps = ((since / gap).floor() + 1).cast("float64")
    ahead = (steps * gap).round().cast("int64")
    next_date = ibis.ifelse(gap > 0, s.last_day + ahead.as_interval("D"), as_of_lit + ibis.interval(days=1))
    # a customer who is probably gone is not expected back: no date (never "due next week" at churn 90 %)
    next_date = ibis.ifelse(s.p_alive >= min_p_alive, next_date, ibis.null(next_date.type()))
    churn = 1.0 - s.p_alive
    historic = s.gross_value - s.refunded_value.fill_null(0)
    predicted = s.discounted_orders * s.expected_spend
    return s.select(
        profile_id=s.profile_id,
        historic_clv=historic,
        predicted_clv=predicted,
        total_clv=historic + predicted,
        historic_orders=s.historic_orders.cast("int64"),
        predicted_orders=s.predicted_orders,
        average_order_value=s.gross_value / s.historic_orders.cast("float64"),
        average_days_between_orders=avg_gap,
        p_alive=s.p_alive,
        churn_probability=churn,
        churn_risk=churn_risk_expr(churn),
        expected_next_order_date=next_date.cast("date"),
    )


def _with_profiles(ws: Workspace, per_customer: ir.Table, as_of: dt.date) -> ir.Table:
    """Every profile (and every ordering customer) with its CLV fields and predicted gender."""
    profiles = ws.profiles.select("profile_id", "first_name")
    ids = profiles.select("profile_id").union(per_customer.select("profile_id")).distinct()
    names = profiles.group_by("profile_id").agg(first_name=profiles.first_name.max())
    t = ids.left_join(per_customer, "profile_id").select(ids.profile_id, *[c for c in per_customer.columns if c != "profile_id"])
    t = t.left_join(names, "profile_id").select(t, names.first_name)
    t = gender.with_predicted_gender(t, "first_name")
    t = t.mutate(
        historic_clv=t.historic_clv.fill_null(0.0),
        historic_orders=t.historic_orders.fill_null(0),
        as_of=ibis.literal(as_of, type="date"),
    )
    return t.select(*PREDICTION_COLUMNS)


def store_predictions(ws: Workspace, result: ClvResult) -> int:
    """Rewrite `clv_predictions` from a result; returns the number of rows."""
    ws.write_table(PREDICTIONS_TABLE, result.predictions, mode="replace")
    return int(ws.table(PREDICTIONS_TABLE).count().execute())


def run_clv(ws: Workspace, params: ClvParams | None = None, store: bool = True) -> ClvResult:
    """Compute CLV (with holdout validation when `params.holdout_days` > 0) and store it."""
    params = params or ClvParams()
    result = compute_clv(ws, params)
    if params.holdout_days:
        from cdp_lib.clv_validation import validate_holdout

        result.validation = validate_holdout(ws, params)
        result.report.validation = result.validation.summary()
    if store:
        store_predictions(ws, result)
    return result


# -- tables for people -------------------------------------------------------------------------
def top_customers(ws: Workspace, predictions: ir.Table, n: int = 20, by: str = "total_clv") -> pd.DataFrame:
    """The `n` profiles with the highest `by`, with their external id and email (pandas)."""
    if by not in predictions.columns:
        raise InputError(f"by: {by!r} is not a CLV column; expected one of {', '.join(PREDICTION_COLUMNS[2:])}")
    top = predictions.filter(predictions[by].notnull()).order_by(ibis.desc(by)).limit(n)
    who = ws.profiles.select("profile_id", "external_id", "email")
    out = top.left_join(who, "profile_id").select(top.profile_id, who.external_id, who.email, *[
        top[c] for c in ("historic_clv", "predicted_clv", "total_clv", "historic_orders", "predicted_orders",
                         "p_alive", "churn_risk", "expected_next_order_date")])
    return out.order_by(ibis.desc(by)).execute()


def churn_risk_summary(predictions: ir.Table) -> pd.DataFrame:
    """Per churn-risk band: customers, share, mean P(alive), summed historic and predicted CLV."""
    p = predictions.filter(predictions.churn_risk.notnull())
    t = p.group_by("churn_risk").agg(
        customers=p.count(), mean_p_alive=p.p_alive.mean(),
        historic_clv=p.historic_clv.sum(), predicted_clv=p.predicted_clv.sum(),
    ).execute()
    t = t.set_index("churn_risk").reindex(["low", "medium", "high"]).fillna(0).reset_index()
    t.insert(2, "share", t["customers"] / max(t["customers"].sum(), 1))
    return t.astype({"customers": int})
