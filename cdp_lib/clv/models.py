"""The CLV models: MBG/NBD, BG/NBD or Pareto/NBD purchases and Gamma-Gamma spend, fitted.

This is the only module that imports `lifetimes` (lazily, with its global side effects
undone), so the model library can be swapped without touching anything else. The fits only
ever see the distinct (frequency, recency, T) combinations with a `weight` = number of
customers, which gives the same maximum-likelihood estimates as one row per customer (Fader &
Hardie's own spreadsheets condense customers the same way); (M)BG/NBD and Gamma-Gamma are
optimised on the condensed likelihoods of `cdp_lib.clv.likelihood`.

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
import io
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import hyp2f1

from cdp_lib.clv.likelihood import BgNbdRows, GammaGammaRows, bgnbd_objective, distinct, gamma_gamma_objective
from cdp_lib.clv.params import DEFAULT_MODEL, MODEL_NAMES, PARAM_NAMES, ClvParams, ClvWarning, unit_days
from cdp_lib.clv.summary import distinct_combinations_table
from cdp_lib.errors import DataError

DEFAULT_TOL = {"mbgnbd": 1e-7, "bgnbd": 1e-7, "pareto": 1e-6}


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


def import_lifetimes():
    """The `lifetimes` package, imported inside the fence (its import changes pandas options)."""
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


def _lifetimes_log_likelihood(fitter, model: str, args: tuple, w: np.ndarray) -> float:
    """Total log-likelihood of the fitted parameters over the weighted rows, computed by lifetimes.

    Private lifetimes internals, called here and nowhere else: lifetimes only sets
    `log_likelihood_` inside its own `fit`, which the (M)BG/NBD path does not run (it optimises
    the condensed objectives of `cdp_lib.clv.likelihood`), and it has no public function that
    evaluates given parameters on weighted rows. Reporting lifetimes' own figure keeps the
    log-likelihood comparable with its published results (tests/test_clv.py pins them).
    """
    with _fenced():
        if model in ("bgnbd", "mbgnbd"):
            log_params = np.log(fitter.params_.to_numpy())
            return -float(fitter._negative_log_likelihood(log_params, *args, w, 0.0)) * w.sum()
        params = fitter.params_[list(PARAM_NAMES[model])].to_numpy()
        return float((w * fitter._conditional_log_likelihood(params, *args)).sum())


def fit_transactions(combos: pd.DataFrame, model: str = DEFAULT_MODEL, penalizer: float = 0.0,
                     tol: float | None = None, max_iterations: int | None = None) -> TransactionModel:
    """Fit MBG/NBD, BG/NBD or Pareto/NBD on distinct `frequency, recency, T` rows with `weight` counts.

    The weighted fit maximises the same likelihood as one row per customer: the (M)BG/NBD
    objective divides by the total weight either way; Pareto/NBD's divides by the mean weight, so
    its function tolerance is rescaled accordingly and the Nelder-Mead steps are identical.
    """
    lt = import_lifetimes()
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
        ll = _lifetimes_log_likelihood(fitter, model, args, w)
    else:
        fitter = lt.ParetoNBDFitter(penalizer_coef=penalizer)
        # Same stopping rule as an unweighted fit (objective scale differs by len(w) / n).
        options = {"maxiter": options.get("maxiter", 2000), "fatol": tol * len(w) / n, "xatol": tol}
        _fit_or_explain(
            lambda: fitter.fit(*args, weights=w, tol=tol, initial_params=np.ones(4), **options), "Pareto/NBD", n
        )
        ll = _lifetimes_log_likelihood(fitter, model, args, w)
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
    lt = import_lifetimes()
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


def fit_models(summary: ir.Table, params: ClvParams) -> tuple[TransactionModel, SpendModel, pd.DataFrame, pd.DataFrame]:
    """Fit the purchase model and Gamma-Gamma on a `summary_table`'s distinct rows.

    Returns both models and the two frames they were fitted on: distinct `frequency,
    recency_days, T_days` with `recency`, `T` (model units) and `weight`, and distinct repeat
    customers' `frequency, monetary_value` with `weight`.
    """
    keys = ["frequency", "recency_days", "T_days"]
    txn = distinct_combinations_table(summary, keys).execute()
    scale = unit_days(params.time_unit)
    txn["recency"] = txn["recency_days"] / scale
    txn["T"] = txn["T_days"] / scale
    spend_rows = summary.filter(summary.frequency > 0)
    spend = distinct_combinations_table(spend_rows, ["frequency", "monetary_value"]).execute()
    tm = fit_transactions(txn, params.model, params.penalizer, params.tol, params.max_iterations)
    sm = fit_spend(spend, params.penalizer, tol=1e-7 if params.tol is None else params.tol,
                   max_iterations=params.max_iterations)
    return tm, sm, txn, spend
