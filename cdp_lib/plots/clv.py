"""CLV charts: holdout validation (by frequency, period transactions, tracking), matrices, bands.

Our own seaborn/matplotlib versions of the Fader-Hardie diagnostic plots (lifetimes' plotting
module draws through global pyplot state, so it is not used). Every function takes `ax=None`
and returns the axes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

RISK_ORDER = ["low", "medium", "high"]
RISK_COLORS = {"low": "#4c9f70", "medium": "#e0a030", "high": "#c8553d"}


def _axes(ax, size=(8, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def _frame(data) -> pd.DataFrame:
    return data if isinstance(data, pd.DataFrame) else data.execute()


def _actual_vs_model(df: pd.DataFrame, x: str, model_col: str, ax, xlabel: str, ylabel: str):
    long = df.melt(id_vars=x, value_vars=["actual", model_col], var_name="series", value_name="value")
    long["series"] = long["series"].map({"actual": "actual", model_col: "model"})
    sns.barplot(long, x=x, y="value", hue="series", ax=ax, palette=["#4a6fa5", "#c8553d"])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(title=None)
    return ax


def plot_holdout_by_frequency(by_frequency: pd.DataFrame, ax=None):
    """Mean purchases per customer in the holdout, actual vs predicted, by calibration frequency.

    `by_frequency` is `HoldoutValidation.by_frequency` (`frequency_cal, actual, predicted`).
    """
    ax = _axes(ax)
    df = by_frequency.rename(columns={"predicted": "model"})
    _actual_vs_model(df, "frequency_cal", "model", ax, "repeat purchases in calibration period",
                     "mean purchases in holdout")
    ax.set_title("Holdout purchases: actual vs predicted")
    return ax


def plot_period_transactions(period_transactions: pd.DataFrame, ax=None):
    """Customers by number of repeat purchases, actual vs model (`HoldoutValidation.period_transactions`)."""
    ax = _axes(ax)
    _actual_vs_model(period_transactions, "repeat_purchases", "model", ax, "repeat purchases", "customers")
    ax.set_title("Repeat purchases per customer: actual vs model")
    return ax


def plot_cumulative_transactions(tracking: pd.DataFrame, calibration_end=None, ax=None):
    """Cumulative repeat purchases over time, actual vs model, with the calibration end marked."""
    ax = _axes(ax, (9, 4))
    ax.plot(tracking["day"], tracking["actual"], color="#4a6fa5", label="actual")
    ax.plot(tracking["day"], tracking["model"], color="#c8553d", linestyle="--", label="model")
    if calibration_end is not None:
        ax.axvline(pd.Timestamp(calibration_end), color="grey", linestyle=":", label="calibration end")
    ax.set_xlabel("date")
    ax.set_ylabel("cumulative repeat purchases")
    ax.set_title("Cumulative repeat purchases: actual vs model")
    ax.legend()
    return ax


def plot_matrix(matrix: pd.DataFrame, title: str, ax=None, cmap: str = "viridis"):
    """Heatmap of a frequency x recency matrix (`cdp_lib.clv.frequency_recency_matrix`)."""
    ax = _axes(ax, (9, 5))
    sns.heatmap(matrix, cmap=cmap, ax=ax, cbar=True, xticklabels=max(1, matrix.shape[1] // 8),
                yticklabels=max(1, matrix.shape[0] // 10))
    ax.invert_yaxis()
    ax.set_xlabel("recency: time from first to last purchase (model time units)")
    ax.set_ylabel("repeat purchases (frequency)")
    ax.set_title(title)
    return ax


def plot_churn_risk(predictions, model: str | None = None, ax=None):
    """Customers per churn-risk band (`clv_predictions` rows, Ibis or pandas); `model` (e.g.
    `result.report.model_name`) is named in the title as the source of the churn figures."""
    df = _frame(predictions)
    ax = _axes(ax, (6, 4))
    counts = df["churn_risk"].value_counts().reindex(RISK_ORDER, fill_value=0).rename_axis("churn_risk").reset_index(name="customers")
    sns.barplot(counts, x="churn_risk", y="customers", hue="churn_risk", palette=RISK_COLORS, legend=False, ax=ax)
    ax.set_xlabel("churn risk")
    ax.set_ylabel("customers")
    ax.set_title("Customers by churn risk" + (f" ({model} model)" if model else ""))
    return ax


def plot_clv_distribution(predictions, column: str = "predicted_clv", ax=None):
    """Histogram of a CLV column over customers who ordered (log-scaled counts)."""
    df = _frame(predictions)
    ax = _axes(ax)
    sns.histplot(df[column].dropna(), bins=50, ax=ax, color="#4a6fa5")
    ax.set_yscale("log")
    from cdp_lib.display.settings import currency

    ax.set_xlabel(f"{column.replace('_', ' ')} ({currency()})")
    ax.set_ylabel("customers (log scale)")
    ax.set_title(f"Distribution of {column.replace('_', ' ')}")
    return ax


def plot_next_orders(predictions, as_of, weeks: int = 26, ax=None):
    """Customers expected to order again per week after the as-of date."""
    df = _frame(predictions)
    ax = _axes(ax, (9, 4))
    dates = pd.to_datetime(df["expected_next_order_date"]).dropna()
    start = pd.Timestamp(as_of)
    weeks_ahead = ((dates - start).dt.days // 7).clip(lower=0)
    counts = weeks_ahead[weeks_ahead < weeks].value_counts().reindex(range(weeks), fill_value=0)
    ax.bar(counts.index + 1, counts.to_numpy(), color="#4a6fa5")
    ax.set_xlabel("week after the as-of date")
    ax.set_ylabel("customers expected to order")
    ax.set_title("Expected next orders by week")
    return ax
