"""`cdp clv`: fit the CLV models, store `clv_predictions`, print the report, write the rows."""

from __future__ import annotations

import warnings

import click

from cdp_lib.commands._base import Context, pass_context
from cdp_lib.commands._output import check_out, write_table


@click.command("clv")
@click.option("--as-of", "as_of", help="Predict as of the end of this date, YYYY-MM-DD (UTC). Default: today.")
@click.option("--time-unit", "time_unit", type=click.Choice(["D", "W"]), help="Model time unit: D days, W weeks (days/7). Default: D.")
@click.option("--horizon-days", "horizon_days", type=int, help="Predict orders and value over the next N days. Default: 365.")
@click.option("--holdout-days", "holdout_days", type=int,
              help="Also validate: fit on data up to N days before as-of and compare with those N days.")
# --model is checked by ClvParams (one list of models)
@click.option("--model", metavar="MODEL",
              help="Purchase and churn model: mbgnbd (Modified BG/NBD), bgnbd or pareto. Default: mbgnbd.")
@click.option("--metric", help="Metric whose events are orders. Default: Placed Order.")
@click.option("--refund-metric", "refund_metric", help="Metric of refunds (by order_id). Default: Refunded Order.")
@click.option("--discount-rate", "discount_rate", type=float, help="Annual discount rate for predicted value, e.g. 0.1. Default: 0.")
@click.option("--penalizer", type=float, help="L2 penalty on model parameters; try 0.001 when a fit does not converge. Default: 0.")
@click.option("--tol", type=float, help="Optimiser tolerance. Default: 1e-7 ((M)BG/NBD), 1e-6 (Pareto/NBD).")
@click.option("--min-p-alive-for-next-order", "min_p_alive_for_next_order", type=float,
              help="No expected next-order date for customers with a lower P(alive). Default: 0.5.")
@click.option("--params", "params_file", type=click.Path(dir_okay=False),
              help="YAML parameter file (e.g. parameters/clv/weekly.yaml); flags override it.")
@click.option("--force", is_flag=True, default=None, help="Run even when the data prerequisites are unmet (prints a warning).")
@click.option("--params-out", "params_out", type=click.Path(dir_okay=False), help="Write the fitted parameters and report to this JSON file.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write one row per profile to this .csv or .parquet file.")
@pass_context
def clv_command(ctx: Context, params_file: str | None, params_out: str | None, out: str | None, **flags) -> None:
    """Predicted CLV, orders, churn risk and next-order date per customer; stores clv_predictions."""
    from cdp_lib import clv

    if out:
        check_out(out)
    data: dict = {}
    if params_file:
        base = clv.ClvParams.from_yaml(params_file)
        data = {f: getattr(base, f) for f in base.__dataclass_fields__}
    data.update({k: v for k, v in flags.items() if v is not None})
    params = clv.ClvParams.from_dict(data, where="cdp clv")
    ws = ctx.workspace()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = clv.run_clv(ws, params, store=True)
    for w in caught:
        if issubclass(w.category, UserWarning) and w.filename.find("site-packages") < 0:
            click.echo(f"warning: {w.message}", err=True)
    report = result.report
    click.echo(f"CLV as of {report.as_of} on {params.metric!r} orders ({report.confidence} confidence)")
    click.echo(report.summary_frame().to_string(index=False, header=False))
    if report.validation:
        v = report.validation
        click.echo(
            f"holdout {v['calibration_end']} to {v['observation_end']}: {v['repeat_transactions_holdout']:,} repeat "
            f"purchase days actual, {v['predicted_repeat_transactions_holdout']:,} predicted "
            f"({v['holdout_error_pct']:+}%); cumulative at end {v['cumulative_error_pct_at_end']:+}%"
        )
    predictions = ws.table(clv.PREDICTIONS_TABLE)
    bands = predictions.group_by("churn_risk").agg(
        n=predictions.count(), dated=predictions.expected_next_order_date.notnull().sum()).to_pyarrow().to_pylist()
    risk = {r["churn_risk"]: r["n"] for r in bands}
    click.echo(f"churn risk ({report.model_name} model): "
               + ", ".join(f"{k} {int(risk.get(k, 0)):,}" for k in ("low", "medium", "high")))
    dated = sum(int(r["dated"] or 0) for r in bands)
    click.echo(f"next-order date for {dated:,} customers; none for {report.next_order_dates_withheld:,} "
               f"with P(alive) < {report.min_p_alive_for_next_order:g} (probably gone)")
    click.echo(f"stored {sum(risk.values()):,} rows in {clv.PREDICTIONS_TABLE}")
    if params_out:
        report.write_params(params_out)
        click.echo(f"wrote parameters to {params_out}")
    if out:
        who = ws.profiles.select("profile_id", "external_id", "email")
        rows = predictions.left_join(who, "profile_id").select(
            "profile_id", "external_id", "email", *[c for c in predictions.columns if c != "profile_id"])
        written = write_table(ws, rows.order_by("profile_id"), out)
        click.echo(f"wrote {written:,} rows to {out}")


def register(group: click.Group) -> None:
    group.add_command(clv_command)
