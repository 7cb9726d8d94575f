"""The one-paragraph summary at the top of each report, computed from the tables it shows.

Each `*_summary` takes the small pandas frames (or dicts) its notebook already has and returns
plain text; the notebook shows it with `cdp_lib.display.summary`. RFM, funnel and cohort
sentences live in `cdp_lib.display.narrative`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cdp_lib.display import format as fmt
from cdp_lib.display.narrative import join_words, plural

if TYPE_CHECKING:
    import pandas as pd


def clv_summary(risk: pd.DataFrame, validation: Mapping[str, Any] | None, horizon_days: int,
                currency: str | None = None) -> str:
    """Predicted value over the horizon, the high-risk share, and the holdout error.

    `risk` is `clv.churn_risk_summary` (churn_risk, customers, share, predicted_clv);
    `validation` the holdout dict (repeat_transactions_holdout,
    predicted_repeat_transactions_holdout, holdout_error_pct)."""
    customers = int(risk["customers"].sum())
    if customers == 0:
        return "No customer has ordered yet, so there is nothing to predict."
    value = float(risk["predicted_clv"].sum())
    bands = risk.set_index("churn_risk")
    high = float(bands.loc["high", "customers"]) if "high" in bands.index else 0.0
    text = (f"{plural(customers, 'customer')} are expected to spend {fmt.money(value, currency)} over the next "
            f"{plural(horizon_days, 'day')}; {fmt.percent(high / customers)} of them are at high churn risk.")
    if validation and not fmt.is_missing(validation.get("holdout_error_pct")):
        actual = validation.get("repeat_transactions_holdout")
        predicted = validation.get("predicted_repeat_transactions_holdout")
        text += (f" In the holdout check the model expected {fmt.number(predicted, 0)} repeat orders where "
                 f"customers placed {fmt.number(actual)} (error {fmt.percent(validation['holdout_error_pct'], ratio=False)}).")
    return text


def segmentation_summary(latest: pd.DataFrame, as_of: Any = None) -> str:
    """Largest segment and the biggest inflow at the latest refresh (segment, members, entered, left)."""
    if latest.empty:
        return "No segment has been refreshed yet: run 'cdp segment refresh'."
    big = latest.sort_values("members", ascending=False, kind="stable").iloc[0]
    when = f" as of {fmt.date(as_of)}" if as_of is not None else ""
    text = (f"{plural(len(latest), 'segment')}{when}; the largest is {big['segment']} with "
            f"{plural(int(big['members']), 'member')}.")
    moved = latest.assign(_net=latest["entered"] - latest["left"])
    if (moved["entered"] > 0).any() or (moved["left"] > 0).any():
        top = moved.sort_values("entered", ascending=False, kind="stable").iloc[0]
        text += (f" Most people entered {top['segment']} ({fmt.number(int(top['entered']))} in, "
                 f"{fmt.number(int(top['left']))} out) since the previous refresh.")
    else:
        text += " Nobody entered or left a segment since the previous refresh."
    return text


def audience_summary(performance: pd.DataFrame, start: Any, end: Any, currency: str | None = None) -> str:
    """Revenue credited to segments from `start` to `end` and the segment earning most
    (`audience_performance_table`: segment, members, total_revenue / total_conversions)."""
    if performance.empty:
        return f"No segment has members between {fmt.date(start)} and {fmt.date(end)}."
    revenue = "total_revenue" if "total_revenue" in performance else "revenue"
    top = performance.sort_values(revenue, ascending=False, kind="stable").iloc[0]
    text = f"From {fmt.date(start)} to {fmt.date(end)}, {plural(len(performance), 'segment')} were measured"
    if float(top[revenue]) <= 0:
        return text + "; none earned attributed revenue."
    text += (f"; {top['segment']} earned the most attributed revenue, {fmt.money(top[revenue], currency)}")
    if "total_conversions" in performance:
        text += f" from {plural(int(top['total_conversions']), 'conversion')}"
    return text + "."


def kpi_summary(overview: pd.DataFrame, start: Any, end: Any, prev_start: Any, prev_end: Any) -> str:
    """Biggest rise and fall among the headline metrics (metric, value, previous, change_pct)."""
    text = (f"From {fmt.date(start)} to {fmt.date(end)}, compared with {fmt.date(prev_start)} to "
            f"{fmt.date(prev_end)}:")
    changes = overview.dropna(subset=["change_pct"])
    if changes.empty:
        return text + " no metric has a previous value to compare with."
    up = changes.sort_values("change_pct", ascending=False, kind="stable").iloc[0]
    down = changes.sort_values("change_pct", kind="stable").iloc[0]
    parts = []
    if up["change_pct"] > 0:
        parts.append(f"{up['metric']} rose most ({fmt.percent(up['change_pct'], ratio=False, signed=True)})")
    if down["change_pct"] < 0:
        parts.append(f"{down['metric']} fell most ({fmt.percent(down['change_pct'], ratio=False, signed=True)})")
    if not parts:
        return text + " every metric held steady."
    return f"{text} {join_words(parts, 'while')}."


def monitors_summary(today: pd.DataFrame, as_of: Any) -> str:
    """How many monitors triggered on `as_of` (`latest_results`: monitor, triggered)."""
    if today.empty:
        return f"No monitor was evaluated for {fmt.date(as_of)}."
    fired = today[today["triggered"].fillna(False).astype(bool)]
    text = f"{plural(len(today), 'monitor')} evaluated for {fmt.date(as_of)}: "
    if fired.empty:
        return text + "none triggered."
    return text + f"{fmt.number(len(fired))} triggered ({join_words(list(fired['monitor'].astype(str)))})."


def catalog_summary(timing: pd.DataFrame, first_day: Any, as_of: Any, window_days: int) -> str:
    """The product with most buyers and its repeat share (catalog_repeat_timing: product_id,
    buyers, repeat_share_<window>d, median days)."""
    if timing.empty:
        return f"No purchases between {fmt.date(first_day)} and {fmt.date(as_of)}."
    top = timing.sort_values("buyers", ascending=False, kind="stable").iloc[0]
    name = top.get("name") if "name" in top and not fmt.is_missing(top.get("name")) else top["product_id"]
    share_col = next((c for c in timing.columns if c.startswith("repeat_share")), None)
    text = (f"From {fmt.date(first_day)} to {fmt.date(as_of)}, {plural(len(timing), 'product')} were bought; "
            f"{name} has the most buyers ({fmt.number(int(top['buyers']))})")
    if share_col is not None:
        text += f", {fmt.percent(top[share_col])} of whom ordered again within {window_days} days"
    return text + "."


def data_health_summary(overview: pd.DataFrame, max_staleness_hours: float) -> str:
    """Freshness and quarantine in one sentence (health.summary: profiles, events, newest_event,
    hours_old, fresh, quarantined)."""
    row = overview.iloc[0]
    text = (f"The workspace holds {plural(int(row['profiles']), 'profile')} and {plural(int(row['events']), 'event')}; "
            f"the newest event is {fmt.number(row['hours_old'], 1)} hours old")
    fresh = bool(row["fresh"]) if not fmt.is_missing(row["fresh"]) else False
    text += (", within" if fresh else ", beyond") + f" the allowed {fmt.number(max_staleness_hours)} hours"
    text += " (fresh)." if fresh else " (stale: reports built on it are out of date)."
    quarantined = int(row.get("quarantined") or 0)
    text += f" {plural(quarantined, 'row')} held back in quarantine." if quarantined else " No row is held back in quarantine."
    return text


def activation_summary(changes: pd.DataFrame, status: pd.DataFrame, handlers: pd.DataFrame) -> str:
    """Changes found by the triggers that ran, the outbox by delivery state, handler errors."""
    found = int(changes["changes"].sum()) if not changes.empty else 0
    text = (f"{plural(len(changes), 'trigger')} ran and found {plural(found, 'change')}" if not changes.empty
            else "No enabled trigger ran (triggers ship with enabled: false)")
    if status.empty:
        text += "; the outbox holds 0 deliveries."
    else:
        by = status.groupby("status")["deliveries"].sum()
        text += "; outbox: " + ", ".join(f"{fmt.number(int(v))} {k}" for k, v in by.items()) + "."
    if not handlers.empty:
        errors = int(handlers["errors"].sum())
        text += (f" {plural(len(handlers), 'handler')} ran on {plural(int(handlers['events'].sum()), 'event')}"
                 f" with {plural(errors, 'error')}.")
    return text


def sync_summary(sent: pd.DataFrame, target: str) -> str:
    """Rows sent per table in this run (results_frame: table, sent, deleted, seconds)."""
    if sent.empty:
        return f"Nothing was sent to {target}."
    parts = [f"{fmt.number(int(r.sent))} {r.table} rows" for r in sent.itertuples()]
    seconds = float(sent["seconds"].max()) if "seconds" in sent else None
    took = f" in {fmt.number(seconds, 1)} seconds" if seconds is not None and not fmt.is_missing(seconds) else ""
    return f"This run sent {join_words(parts)} to {target}{took}; unchanged rows did not travel."


def import_summary(imported: pd.DataFrame) -> str:
    """Rows read, loaded, quarantined (import_frame: source_table, table, read, loaded,
    duplicates, quarantined, new_profiles)."""
    if imported.empty:
        return "Nothing was imported."
    r = imported.iloc[0]
    text = (f"Read {plural(int(r['read']), 'row')} from {r['source_table']} into {r['table']}: "
            f"{fmt.number(int(r['loaded']))} loaded, {fmt.number(int(r['duplicates']))} duplicates, "
            f"{fmt.number(int(r['quarantined']))} quarantined")
    if "new_profiles" in r and not fmt.is_missing(r["new_profiles"]):
        text += f", {plural(int(r['new_profiles']), 'new profile')}"
    return text + "."
