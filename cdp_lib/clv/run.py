"""A whole CLV run: fit, score every profile, report, validate on a holdout, store."""

from __future__ import annotations

from dataclasses import dataclass

import ibis.expr.types as ir
import pandas as pd

from cdp_lib.clv.models import SpendModel, TransactionModel
from cdp_lib.clv.params import ClvParams
from cdp_lib.clv.predict import customer_fields_table, score_summary, with_profiles_table
from cdp_lib.clv.report import ClvReport, confidence_label
from cdp_lib.clv.store import store_predictions
from cdp_lib.clv.summary import count_negative_orders, net_value_table, orders_table, refund_events, summary_table
from cdp_lib.clv.validation import HoldoutValidation, validate_holdout
from cdp_lib.prerequisites import check_prerequisites
from cdp_lib.workspace import Workspace


@dataclass
class ClvResult:
    """A CLV run: per-profile `predictions` (Ibis), the fitted models and the report."""

    predictions: ir.Table
    summary: ir.Table
    transactions: TransactionModel
    spend: SpendModel
    report: ClvReport
    params: ClvParams
    validation: HoldoutValidation | None = None  # when params.holdout_days > 0


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
    summary = summary_table(orders, as_of, params.time_unit).cache()
    s, tm, sm = score_summary(summary, params)

    refunds = net_value_table(orders, refund_events(ws, params), as_of)
    s = s.left_join(refunds, "profile_id").select(s, "refunded_value")

    gaps = s.filter(s.frequency > 0)
    median_gap = gaps.aggregate(m=(gaps.recency_days.cast("float64") / gaps.frequency).median()).execute().iloc[0]["m"]
    median_gap = None if median_gap is None or pd.isna(median_gap) else float(median_gap)

    per_customer = customer_fields_table(s, as_of, median_gap, params.min_p_alive_for_next_order)
    predictions = with_profiles_table(ws, per_customer, as_of)
    withheld = int(per_customer.filter(per_customer.p_alive < params.min_p_alive_for_next_order).count().execute())

    counts = summary.aggregate(n=summary.count(), rep=(summary.frequency > 0).sum(), first=summary.first_day.min()).execute().iloc[0]
    negative = count_negative_orders(ws, params)
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


def run_clv(ws: Workspace, params: ClvParams | None = None, store: bool = True) -> ClvResult:
    """Compute CLV (with holdout validation when `params.holdout_days` > 0) and store it."""
    params = params or ClvParams()
    result = compute_clv(ws, params)
    if params.holdout_days:
        result.validation = validate_holdout(ws, params)
        result.report.validation = result.validation.summary()
    if store:
        store_predictions(ws, result)
    return result
