"""CLV validation a marketer can see: calibration/holdout split, model-vs-actual tables, matrices.

The calibration period ends `holdout_days` before the as-of date; models are fitted on it and
compared with what customers actually did in the holdout (purchase days, daily-collapsed, as in
Fader, Hardie & Lee 2005, section 5). The frames returned here feed `cdp_lib.plots.clv`. The
models come from `cdp_lib.clv.models`, which does not import this module.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdp_lib.clv import summary as clv_summary
from cdp_lib.clv.models import SpendModel, TransactionModel, fit_models
from cdp_lib.clv.params import ClvParams
from cdp_lib.clv.summary import orders_table
from cdp_lib.errors import DataError
from cdp_lib.workspace import Workspace

# Calibration frequencies from this value up are pooled into one "n+" bucket in the tables.
POOLED_FREQUENCY = 7


@dataclass
class HoldoutValidation:
    """Calibration fit and holdout comparison frames (all pandas, ready for plots)."""

    calibration_end: dt.date
    observation_end: dt.date
    time_unit: str
    transactions: TransactionModel
    spend: SpendModel
    by_frequency: pd.DataFrame  # frequency_cal, customers, actual, predicted (mean per customer)
    period_transactions: pd.DataFrame  # repeat_purchases, actual, model (customer counts)
    tracking: pd.DataFrame  # day, actual, model (cumulative repeat purchase days)
    customers: pd.DataFrame  # frequency, recency, T, frequency_holdout, predicted_holdout per customer

    def summary(self) -> dict:
        """Headline figures: repeat purchases in calibration and holdout, actual vs predicted."""
        last = self.tracking.iloc[-1]
        cal = self.tracking[self.tracking["day"] <= pd.Timestamp(self.calibration_end)].iloc[-1]
        actual_holdout = float(self.customers["frequency_holdout"].sum())
        predicted_holdout = float(self.customers["predicted_holdout"].sum())
        return {
            "calibration_end": str(self.calibration_end),
            "observation_end": str(self.observation_end),
            "customers": int(len(self.customers)),
            "repeat_transactions_calibration": int(self.customers["frequency"].sum()),
            "repeat_transactions_holdout": int(actual_holdout),
            "predicted_repeat_transactions_holdout": round(predicted_holdout, 1),
            "holdout_error_pct": round(100 * (predicted_holdout - actual_holdout) / actual_holdout, 1)
            if actual_holdout else None,
            "cumulative_actual_at_calibration_end": int(cal["actual"]),
            "cumulative_error_pct_at_end": round(float(100 * (last["model"] - last["actual"]) / last["actual"]), 1)
            if last["actual"] else None,
        }


def validate_holdout(ws: Workspace, params: ClvParams, holdout_days: int | None = None) -> HoldoutValidation:
    """Fit on the calibration period and compare with the holdout period.

    `holdout_days` defaults to `params.holdout_days`; the calibration ends that many days before
    the as-of date and the holdout runs through the as-of date (inclusive).
    """
    holdout_days = int(holdout_days if holdout_days is not None else params.holdout_days)
    if holdout_days <= 0:
        raise DataError("holdout_days: give a holdout of at least 1 day (e.g. --holdout-days 273)")
    observation_end = params.as_of_date
    calibration_end = observation_end - dt.timedelta(days=holdout_days)
    scale = clv_summary.unit_days(params.time_unit)
    orders = orders_table(ws, params)
    cal_summary = clv_summary.summary_table(orders, calibration_end, params.time_unit)
    if int(cal_summary.count().execute()) == 0:
        raise DataError(
            f"no orders on or before the calibration end {calibration_end} ({holdout_days} days before "
            f"{observation_end}); use a shorter holdout"
        )
    tm, sm, combos, _ = fit_models(cal_summary, params)
    holdout = clv_summary.holdout_table(orders, calibration_end, observation_end)
    joined = cal_summary.left_join(holdout, "profile_id").select(cal_summary, holdout.frequency_holdout)
    customers = joined.select(
        "profile_id", "first_day", "frequency", "recency_days", "T_days", "recency", "T",
        frequency_holdout=joined.frequency_holdout.fill_null(0),
    ).execute()
    scored = combos.assign(
        predicted_holdout=tm.expected_purchases(holdout_days / scale, combos["frequency"], combos["recency"], combos["T"])
    )
    customers = customers.merge(
        scored[["frequency", "recency_days", "T_days", "predicted_holdout"]], on=["frequency", "recency_days", "T_days"], how="left"
    )
    return HoldoutValidation(
        calibration_end=calibration_end,
        observation_end=observation_end,
        time_unit=params.time_unit,
        transactions=tm,
        spend=sm,
        by_frequency=holdout_by_frequency(customers),
        period_transactions=period_transactions(tm, combos),
        tracking=tracking(ws, params, orders, cal_summary, customers, tm, observation_end),
        customers=customers,
    )


def holdout_by_frequency(customers: pd.DataFrame) -> pd.DataFrame:
    """Mean actual vs predicted holdout purchases per calibration frequency (7+ pooled)."""
    f = customers["frequency"].clip(upper=POOLED_FREQUENCY)
    out = customers.assign(frequency_cal=f).groupby("frequency_cal").agg(
        customers=("frequency", "size"), actual=("frequency_holdout", "mean"), predicted=("predicted_holdout", "mean")
    )
    out.index = [f"{i}+" if i == POOLED_FREQUENCY else str(i) for i in out.index]
    return out.rename_axis("frequency_cal").reset_index()


def period_transactions(model: TransactionModel, combos: pd.DataFrame, max_frequency: int = POOLED_FREQUENCY,
                        seed: int = 0) -> pd.DataFrame:
    """Customers by number of repeat purchases in their observation window: actual vs model.

    The model count for k purchases is the sum over customers of P(X(T_i) = k) for each
    customer's own age T_i, grouped by distinct T.
    """
    rng = np.random.default_rng(seed)
    by_t = combos.groupby("T")["weight"].sum()
    n = max_frequency + 1
    expected = np.zeros(n)
    for t, count in by_t.items():
        expected += count * model.probability_of_repeat_purchases(float(t), n, rng)
    actual = combos.assign(k=combos["frequency"].clip(upper=max_frequency)).groupby("k")["weight"].sum()
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    return pd.DataFrame({
        "repeat_purchases": labels,
        "actual": [float(actual.get(k, 0)) for k in range(n)],
        "model": expected,
    })


def tracking(ws: Workspace, params: ClvParams, orders, cal_summary, customers: pd.DataFrame,
             model: TransactionModel, observation_end: dt.date) -> pd.DataFrame:
    """Cumulative repeat purchase days of the calibration customers per day: actual vs model.

    The model curve is, for each day, the sum over first-purchase cohorts of the cohort size
    times E[X(t)] for a customer first seen t units earlier (Fader, Hardie & Lee 2005, fig. 4).
    """
    scale = clv_summary.unit_days(params.time_unit)
    actual = clv_summary.repeat_days_by_date_table(orders, cal_summary, observation_end).execute()
    first = pd.to_datetime(customers["first_day"])
    days = pd.date_range(first.min(), pd.Timestamp(observation_end), freq="D")
    cohorts = first.value_counts().sort_index()
    age = (days.values[:, None] - cohorts.index.values[None, :]) / np.timedelta64(1, "D") / scale
    expected = model.expected_purchases_new(np.clip(age, 0, None).ravel()).reshape(age.shape)
    model_cum = (np.where(age > 0, expected, 0.0) * cohorts.to_numpy()[None, :]).sum(axis=1)
    daily = pd.Series(0.0, index=days)
    if len(actual):
        counts = actual.set_index(pd.to_datetime(actual["day"]))["repeat_transactions"]
        daily = daily.add(counts.reindex(days, fill_value=0), fill_value=0)
    return pd.DataFrame({"day": days, "actual": daily.cumsum().to_numpy(), "model": model_cum})


def frequency_recency_matrix(model: TransactionModel, max_frequency: int, max_T: float, horizon: float,
                             what: str = "expected_purchases", points: int = 40) -> pd.DataFrame:
    """Expected purchases in the next `horizon` units (or P(alive) with `what="p_alive"`).

    Rows: frequency 0..max_frequency; columns: recency from 0 to `max_T` in `points` steps; the
    customer's age is `max_T` (a customer first seen at the start of the data).
    """
    freqs = np.arange(max_frequency + 1)
    recs = np.linspace(0, max_T, points)
    f, r = np.meshgrid(freqs, recs, indexing="ij")
    T = np.full(f.shape, float(max_T))
    r = np.where(f == 0, 0.0, r)  # a customer with no repeat purchase has recency 0
    if what == "p_alive":
        values = model.probability_alive(f.ravel(), r.ravel(), T.ravel())
    elif what == "expected_purchases":
        values = model.expected_purchases(horizon, f.ravel(), r.ravel(), T.ravel())
    else:
        raise ValueError(f"what must be 'expected_purchases' or 'p_alive', not {what!r}")
    return pd.DataFrame(values.reshape(f.shape), index=pd.Index(freqs, name="frequency"),
                        columns=pd.Index(np.round(recs, 1), name="recency"))
