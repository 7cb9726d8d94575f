"""CLV scores per customer: expected orders, P(alive), discounted value, churn band, next order.

The purchase model scores only the distinct (frequency, recency, T) combinations; the scores go
back to the engine as a small table joined to the customers on whole-number keys, and expected
spend, value, churn band and next-order date are engine expressions.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cdp_lib import gender
from cdp_lib.clv.models import SpendModel, TransactionModel, fit_models
from cdp_lib.clv.params import ClvParams, unit_days
from cdp_lib.workspace import Workspace

# Churn bands on churn_probability = 1 - P(alive): below 0.3 low, below 0.7 medium, else high.
CHURN_CUTOFFS = (0.3, 0.7)
# Discounting steps through the horizon in 30-day "months", as lifetimes' own CLV does.
DISCOUNT_STEP_DAYS = 30
PREDICTION_COLUMNS = (
    "profile_id", "as_of", "historic_clv", "predicted_clv", "total_clv", "historic_orders",
    "predicted_orders", "average_order_value", "average_days_between_orders", "p_alive",
    "churn_probability", "churn_risk", "expected_next_order_date", "predicted_gender",
)


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


def score_summary(summary: ir.Table, params: ClvParams) -> tuple[ir.Table, TransactionModel, SpendModel]:
    """Fit both models on `summary` (a `cdp_lib.clv.summary.summary_table`) and score every customer.

    Only the distinct (frequency, recency, T) and (frequency, monetary_value) rows leave the
    engine; the purchase scores of the distinct rows go back as a small table joined to the
    customers in the engine, and expected spend is an engine expression. Returns the summary
    with `predicted_orders, discounted_orders, p_alive, expected_spend` added (an Ibis table).
    """
    tm, sm, txn, _ = fit_models(summary, params)
    scale = unit_days(params.time_unit)
    scored = score_combinations(tm, txn, params.horizon_days / scale, float(params.discount_rate), scale)
    # Join on whole-number keys (float sums are not bit-stable between engine runs, integers are).
    s_txn = ibis.memtable(scored[["frequency", "recency_days", "T_days", "predicted_orders", "discounted_orders", "p_alive"]])
    s = summary.left_join(s_txn, ["frequency", "recency_days", "T_days"]).select(
        summary, "predicted_orders", "discounted_orders", "p_alive"
    )
    return s.mutate(expected_spend=sm.expected_spend_expr(s.frequency, s.monetary_value)), tm, sm


def customer_fields_table(s: ir.Table, as_of: dt.date, median_gap: float | None, min_p_alive: float) -> ir.Table:
    """Per ordering customer, from a scored summary: the CLV fields of `clv_predictions` except
    `as_of` and `predicted_gender` (`median_gap` days stands in for one-time buyers' cadence)."""
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


def with_profiles_table(ws: Workspace, per_customer: ir.Table, as_of: dt.date) -> ir.Table:
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
