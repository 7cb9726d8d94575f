"""RFM: recency, frequency and monetary scores 1-3, six customer groups, change over time.

Orders are the events of a conversion metric (default ``Placed Order``) with a positive value,
up to the end of the as-of date (UTC). Per customer who ordered: ``recency_days`` = whole days
from the date of the last order to the as-of date, ``frequency`` = number of orders,
``monetary`` = sum of order values. Scores follow `RfmParams`; groups follow `GROUPS`.

Every ``*_table`` function builds an Ibis expression (it runs on DuckDB, Spark, ...); only the
frequency/monetary cut-offs are computed eagerly (`rfm_thresholds`), so that the same numbers
can be shown, stored and reused at another date (`rfm_change`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import yaml

from cdp_lib import schema
from cdp_lib.dates import as_of_day
from cdp_lib.errors import DataError, InputError
from cdp_lib.metrics import events_for
from cdp_lib.prerequisites import (
    RECENT_ORDER_DAYS, PrerequisiteReport, activity_stats, as_of_end, judge_prerequisites,
)
from cdp_lib.workspace import Workspace

# R-F-M score digits -> group. Plain data: every one of the 27 combinations appears exactly once
# (asserted in tests/test_rfm.py). Order of the groups is the order reports show them in.
GROUPS: dict[str, tuple[str, ...]] = {
    "Champions": ("333", "332", "323"),
    "Loyal": ("321", "322", "331", "232", "233"),
    "Recent": ("312", "313", "311", "222", "223"),
    "Needs Attention": ("213", "221", "123", "132", "133"),
    "At Risk": ("231", "212", "122", "131", "211"),
    "Inactive": ("111", "112", "113", "121"),
}
GROUP_OF: dict[str, str] = {code: group for group, codes in GROUPS.items() for code in codes}
GROUP_ORDER: tuple[str, ...] = tuple(GROUPS)

# What each group means and what a marketer does about it (shown in the RFM report).
GROUP_GUIDE: dict[str, tuple[str, str]] = {
    "Champions": (
        "ordered recently, often and spent the most",
        "reward them: early access, loyalty perks, ask for reviews and referrals; no discounts needed",
    ),
    "Loyal": (
        "order regularly with good spend, or ordered very recently and often",
        "keep them close: loyalty programme, cross-sell and upsell, personalised recommendations",
    ),
    "Recent": (
        "ordered recently but only once or twice, or spend little so far",
        "turn them into repeat buyers: onboarding series, second-order incentive",
    ),
    "Needs Attention": (
        "valuable or frequent once, but their last order is 6-12 months old or older",
        "re-engage before they lapse: reminders, replenishment, time-limited personal offers",
    ),
    "At Risk": (
        "used to order often or recently, now quiet, with lower spend",
        "win them back: win-back flow, survey why they left, targeted incentive",
    ),
    "Inactive": (
        "last ordered more than a year ago, few orders, low spend",
        "low-cost reactivation, then suppress from regular sends to protect deliverability",
    ),
}

NEVER_PURCHASED = "Never purchased"
DEFAULT_CHANGE_DAYS = 90  # rfm_change compares with this many days before the end by default
NOT_SCORED = "No order in lookback"
DEFAULT_RECENCY_DAYS_THRESHOLDS = (180, 365)
THIRDS = (1 / 3, 2 / 3)

SNAPSHOTS_TABLE = "rfm_snapshots"
ATTRIBUTES_TABLE = "rfm_profile_attributes"
RFM_COLUMNS = (
    "profile_id", "external_id", "email", "recency_days", "frequency", "monetary",
    "r_score", "f_score", "m_score", "rfm_group",
)
SNAPSHOT_COLUMNS = (
    "as_of", "profile_id", "recency_days", "frequency", "monetary",
    "r_score", "f_score", "m_score", "rfm_group",
)


def group_guide_frame() -> pd.DataFrame:
    """The six groups with their score codes, what they mean and what to do (for reports)."""
    return pd.DataFrame(
        [(g, " ".join(GROUPS[g]), *GROUP_GUIDE[g]) for g in GROUP_ORDER],
        columns=["rfm_group", "rfm_codes", "meaning", "what_to_do"],
    )


# -- parameters ------------------------------------------------------------------------------
def _parse_date(value: Any, name: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if pd.isna(ts):
        raise InputError(f"{name}: {value!r} is not a date; expected YYYY-MM-DD")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC")
    return ts.date()


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
class RfmParams:
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

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "RFM parameters") -> "RfmParams":
        """Parameters from plain data (YAML, notebook, CLI); unknown names are rejected."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key in {"recency_quantiles", "recency_percentiles"}:
                raise InputError(
                    f"{where}: {key}: recency cannot use quantiles (recent is a number of days, "
                    "not a rank); use recency_days_thresholds: [180, 365]"
                )
            if key not in known:
                hint = difflib.get_close_matches(key, sorted(known), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(sorted(known))}"
                raise InputError(f"{where}: unknown parameter {key!r}{suggestion}")
        try:
            return cls(**data)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> "RfmParams":
        """Parameters from a YAML file such as ``parameters/rfm/monthly.yaml``."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise InputError(f"parameter file {path} not found") from None
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if data is not None and not isinstance(data, Mapping):
            raise InputError(f"{path}: expected a mapping of parameter names to values")
        return cls.from_mapping(data, where=str(path))

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


# -- engine ----------------------------------------------------------------------------------
def orders_table(ws: Workspace, params: RfmParams, check: bool = True) -> ir.Table:
    """Orders (`profile_id`, `timestamp`, `value`) of the metric with value > 0 up to as-of.

    Raises `InputError` for an unknown metric (with close matches) and, with `check` (one count
    query), `DataError` when there is no order to score (none at all, only non-positive values,
    or none before the as-of date).
    """
    events = events_for(ws, params.metric)
    end = as_of_end(params.as_of_date)
    positive = events.filter(events.value > 0)
    orders = positive.filter(positive.timestamp <= end)
    if params.lookback_days is not None:
        orders = orders.filter(orders.timestamp > end - pd.Timedelta(days=params.lookback_days))
    orders = orders.select("profile_id", "timestamp", "value")
    if check and int(orders.count().execute()) == 0:
        _explain_no_orders(ws, params, events, positive)
    return orders


def _explain_no_orders(ws: Workspace, params: RfmParams, events: ir.Table, positive: ir.Table) -> None:
    metric, day = params.metric, params.as_of_date
    stats = events.aggregate(n=events.count(), positive=(events.value > 0).sum()).execute().iloc[0]
    if int(stats["n"]) == 0:
        names = sorted(str(m) for m in ws.events.metric.distinct().execute()["metric"].dropna())
        hint = difflib.get_close_matches(metric, names, n=3)
        suggestion = f"did you mean {', '.join(map(repr, hint))}?" if hint else (
            f"metrics in the workspace: {', '.join(names[:10]) or 'none (load events first)'}"
        )
        raise InputError(f"metric {metric!r} has no events in the workspace; {suggestion}")
    if int(stats["positive"] or 0) == 0:
        raise DataError(
            f"no orders to score: all {int(stats['n']):,} {metric!r} events have a value <= 0 or "
            "no value; RFM needs orders with a positive value (check the value column mapping)"
        )
    first = pd.Timestamp(positive.timestamp.min().execute())
    if first > as_of_end(day):
        raise DataError(
            f"no {metric!r} order on or before as_of {day}; the first order is on "
            f"{first:%Y-%m-%d}: choose a later as_of"
        )
    raise DataError(
        f"no {metric!r} order in the {params.lookback_days} days up to {day}; "
        "increase lookback_days or leave it empty for all history"
    )


def customer_orders_table(orders: ir.Table, as_of: dt.date) -> ir.Table:
    """Per customer, in one pass over the orders: what RFM scores (`last_order`, `orders`,
    `monetary`) and what the prerequisite check reads (`orders`, `first_order`, `recent_orders`)."""
    end = as_of_end(as_of)
    return orders.group_by("profile_id").agg(
        orders=orders.count(),
        first_order=orders.timestamp.min(),
        last_order=orders.timestamp.max(),
        recent_orders=(orders.timestamp > end - pd.Timedelta(days=RECENT_ORDER_DAYS)).sum(),
        monetary=orders.value.sum(),
    )


def rfm_values_table(orders: ir.Table, as_of: dt.date) -> ir.Table:
    """Per customer: `recency_days` (date of last order to `as_of`), `frequency`, `monetary`."""
    return _values_of(customer_orders_table(orders, as_of), as_of)


def _values_of(per: ir.Table, as_of: dt.date) -> ir.Table:
    return per.select(
        "profile_id",
        recency_days=ibis.literal(as_of).delta(per.last_order.date(), unit="day").cast("int64"),
        frequency=per.orders.cast("int64"),
        monetary=per.monetary.cast("float64"),
    )


def rfm_thresholds(values: ir.Table, params: RfmParams, as_of: dt.date | None = None) -> RfmThresholds:
    """The cut-offs for `values`: fixed ones from `params`, quantiles computed over `values`.

    Quantiles use linear interpolation (Ibis `quantile` -> DuckDB `quantile_cont`, exact, never
    the approximate variant), the same as ``numpy.quantile``'s default.
    """
    wanted = _quantile_aggregates({"frequency": values.frequency, "monetary": values.monetary}, params)
    row = values.aggregate(**wanted).execute().iloc[0] if wanted else {}
    return _thresholds_from(row, params, as_of)


def _quantile_aggregates(values: Mapping[str, ir.Column], params: RfmParams) -> dict[str, ir.Scalar]:
    """The quantile cut-offs `params` asks for, as aggregates of the `frequency` and `monetary`
    columns in `values` (named `frequency_c1`, ..., `monetary_c2`)."""
    wanted: dict[str, ir.Scalar] = {}
    for dim in ("frequency", "monetary"):
        if getattr(params, f"{dim}_thresholds") is None:
            q1, q2 = getattr(params, f"{dim}_quantiles") or THIRDS
            wanted[f"{dim}_c1"] = values[dim].quantile(q1)
            wanted[f"{dim}_c2"] = values[dim].quantile(q2)
    return wanted


def _thresholds_from(row: Mapping, params: RfmParams, as_of: dt.date | None) -> RfmThresholds:
    """Fixed cut-offs from `params`, the others from the computed quantile aggregates in `row`."""
    cuts: dict[str, tuple[float, float]] = {}
    computed = False
    for dim in ("frequency", "monetary"):
        fixed = getattr(params, f"{dim}_thresholds")
        if fixed is None:
            fixed, computed = (float(row[f"{dim}_c1"]), float(row[f"{dim}_c2"])), True
        cuts[dim] = fixed
    return RfmThresholds(
        recency_days=params.recency_days_thresholds,
        frequency=cuts["frequency"],
        monetary=cuts["monetary"],
        computed_at=(as_of or params.as_of_date) if computed else None,
    )


def rfm_scores_table(values: ir.Table, thresholds: RfmThresholds) -> ir.Table:
    """Add `r_score`, `f_score`, `m_score` (1-3) and `rfm_group` to an `rfm_values_table`."""
    r1, r2 = thresholds.recency_days
    f1, f2 = thresholds.frequency
    m1, m2 = thresholds.monetary
    scored = values.mutate(
        r_score=ibis.cases((values.recency_days <= r1, 3), (values.recency_days <= r2, 2), else_=1).cast("int64"),
        f_score=ibis.cases((values.frequency > f2, 3), (values.frequency > f1, 2), else_=1).cast("int64"),
        m_score=ibis.cases((values.monetary > m2, 3), (values.monetary > m1, 2), else_=1).cast("int64"),
    )
    # Group from the three digits as a number (an integer CASE; cheaper than building strings).
    code = scored.r_score * 100 + scored.f_score * 10 + scored.m_score
    groups = {int(c): g for c, g in GROUP_OF.items()}
    return scored.mutate(rfm_group=code.substitute(groups, else_=ibis.null("string")))


def rfm_table(ws: Workspace, params: RfmParams | None = None,
              thresholds: RfmThresholds | None = None) -> ir.Table:
    """One row per customer who ordered up to the as-of date, with scores and group.

    Columns: ``profile_id, external_id, email, recency_days, frequency, monetary, r_score,
    f_score, m_score, rfm_group``. Prerequisites are checked first (`params.force` turns a
    failure into a `PrerequisiteWarning`). Pass `thresholds` to score with cut-offs computed
    elsewhere (e.g. at another date); otherwise they are computed from this date's customers.
    """
    return _checked_rfm(ws, params or RfmParams(), thresholds)[0]


def _checked_rfm(ws: Workspace, params: RfmParams,
                 thresholds: RfmThresholds | None) -> tuple[ir.Table, RfmThresholds, PrerequisiteReport]:
    """Scores at `params.as_of`, after the checks. One query reads the orders once for the
    no-order check, the prerequisites and the quantile cut-offs; the returned table (an
    expression) reads them once more when it runs."""
    as_of = params.as_of_date
    orders = orders_table(ws, params, check=False)
    per = customer_orders_table(orders, as_of)
    values = _values_of(per, as_of)
    columns = {"frequency": per.orders.cast("int64"), "monetary": per.monetary.cast("float64")}  # as in values
    wanted = {} if thresholds is not None else _quantile_aggregates(columns, params)
    row = per.aggregate(**wanted, **activity_stats(per)).execute().iloc[0]
    if int(row["customers"]) == 0:
        events = events_for(ws, params.metric)
        _explain_no_orders(ws, params, events, events.filter(events.value > 0))
    report = judge_prerequisites(row, as_of, force=params.force, what="RFM")
    thresholds = thresholds or _thresholds_from(row, params, as_of)
    return _scored_with_profiles(ws, values, thresholds), thresholds, report


def _rfm_at(ws: Workspace, orders: ir.Table, as_of: dt.date, params: RfmParams,
            thresholds: RfmThresholds | None) -> tuple[ir.Table, RfmThresholds]:
    values = rfm_values_table(orders, as_of)
    thresholds = thresholds or rfm_thresholds(values, params, as_of)
    return _scored_with_profiles(ws, values, thresholds), thresholds


def _scored_with_profiles(ws: Workspace, values: ir.Table, thresholds: RfmThresholds) -> ir.Table:
    scored = rfm_scores_table(values, thresholds)
    profiles = ws.profiles.select("profile_id", "external_id", "email")
    joined = scored.left_join(profiles, scored.profile_id == profiles.profile_id)
    return joined.select(
        scored.profile_id, profiles.external_id, profiles.email,
        *(scored[c] for c in RFM_COLUMNS[3:]),
    )


def scored_rfm(ws: Workspace, params: RfmParams | None = None) -> tuple[ir.Table, RfmThresholds]:
    """Like `rfm_table` but also returns the thresholds used (for reports)."""
    table, thresholds, _ = _checked_rfm(ws, params or RfmParams(), None)
    return table, thresholds


# -- reports ---------------------------------------------------------------------------------
def _group_frame() -> ir.Table:
    return ibis.memtable(pd.DataFrame({"rfm_group": list(GROUP_ORDER), "position": range(len(GROUP_ORDER))}))


def rfm_group_counts_table(rfm: ir.Table) -> ir.Table:
    """Customers and share (%) per group, all six groups in report order."""
    counts = rfm.group_by("rfm_group").agg(customers=rfm.count())
    groups = _group_frame()
    joined = groups.left_join(counts, groups.rfm_group == counts.rfm_group)
    total = counts.customers.sum().as_scalar()
    out = joined.select(groups.rfm_group, groups.position, customers=joined.customers.fill_null(0))
    return out.mutate(share=(100.0 * out.customers / total)).order_by("position").drop("position")


def rfm_revenue_table(rfm: ir.Table) -> ir.Table:
    """Per group, in report order: customers, revenue (sum of `monetary`), and both as a share (%)
    of all scored customers: customer_share, revenue_share."""
    sums = rfm.group_by("rfm_group").agg(customers=rfm.count(), revenue=rfm.monetary.sum())
    groups = _group_frame()
    joined = groups.left_join(sums, groups.rfm_group == sums.rfm_group)
    out = joined.select(groups.rfm_group, groups.position, customers=joined.customers.fill_null(0),
                        revenue=joined.revenue.fill_null(0.0).cast("float64"))
    people = sums.customers.sum().as_scalar()
    money = sums.revenue.sum().as_scalar()
    out = out.mutate(customer_share=ibis.cases((people > 0, 100.0 * out.customers / people), else_=0.0),
                     revenue_share=ibis.cases((money > 0, 100.0 * out.revenue / money), else_=0.0))
    return out.order_by("position").drop("position")


@dataclass
class RfmChange:
    """Groups at two dates scored with the same thresholds, and what changed in between."""

    start_date: dt.date
    end_date: dt.date
    thresholds: RfmThresholds
    start: ir.Table
    end: ir.Table
    distribution: ir.Table
    transitions: ir.Table
    medians: ir.Table


def rfm_change(ws: Workspace, start: dt.date | str | None, end: dt.date | str | None = None,
               params: RfmParams | None = None) -> RfmChange:
    """Compare RFM groups at `start` and `end` (default: `params.as_of`, or today).

    `start` None means `DEFAULT_CHANGE_DAYS` (90) days before the end.

    The frequency/monetary cut-offs are computed once, on the customers scored at the END date,
    and applied at both dates, so a customer moves only because their own orders changed, not
    because the population's thirds moved. Prerequisites are checked at the end date.
    """
    params = params or RfmParams()
    start_date = _parse_date(start, "start_date")
    end_date = _parse_date(end, "end_date") or params.as_of_date
    if start_date is None:
        start_date = end_date - dt.timedelta(days=DEFAULT_CHANGE_DAYS)
    if start_date >= end_date:
        raise InputError(f"start_date {start_date} must be before end_date {end_date}")
    end_params = params.replace(as_of=end_date)
    end_rfm, thresholds, _ = _checked_rfm(ws, end_params, None)
    end_orders = orders_table(ws, end_params, check=False)
    start_params = params.replace(as_of=start_date)
    try:
        start_orders = orders_table(ws, start_params)
    except DataError:  # nobody had ordered yet: everyone comes from "Never purchased"
        start_orders = end_orders.filter(ibis.literal(False))
    start_rfm, _ = _rfm_at(ws, start_orders, start_date, start_params, thresholds)
    return RfmChange(
        start_date=start_date,
        end_date=end_date,
        thresholds=thresholds,
        start=start_rfm,
        end=end_rfm,
        distribution=rfm_distribution_table(start_rfm, end_rfm),
        transitions=rfm_transition_table(start_rfm, end_rfm),
        medians=rfm_change_medians_table(start_rfm, end_rfm, start_date, end_date),
    )


def rfm_change_medians_table(start: ir.Table, end: ir.Table, start_date: dt.date, end_date: dt.date) -> ir.Table:
    """`rfm_medians_table` at both dates, with an `as_of` column first (start rows, then end rows)."""
    medians = rfm_medians_table(start).mutate(as_of=ibis.literal(start_date)).union(
        rfm_medians_table(end).mutate(as_of=ibis.literal(end_date)))
    return medians.relocate("as_of").order_by(["as_of", "position"]).drop("position")


def rfm_distribution_table(start: ir.Table, end: ir.Table) -> ir.Table:
    """Per group: customers at start and end, added (entered), dropped (left), change, % change.

    Customers with no order at the start count as added to their end group. `pct_change` is
    relative to the start count (null when the group was empty at the start).
    """
    s = start.select("profile_id", start_group="rfm_group")
    e = end.select("profile_id", end_group="rfm_group")
    pairs = s.outer_join(e, s.profile_id == e.profile_id).select(s.start_group, e.end_group)
    moved = pairs.start_group.isnull() | pairs.end_group.isnull() | (pairs.start_group != pairs.end_group)
    at_start = pairs.group_by(rfm_group=pairs.start_group).agg(
        customers_start=pairs.count(), dropped=moved.sum())
    at_end = pairs.group_by(rfm_group=pairs.end_group).agg(customers_end=pairs.count(), added=moved.sum())
    groups = _group_frame()
    out = (
        groups.left_join(at_start, groups.rfm_group == at_start.rfm_group)
        .drop("rfm_group_right")
        .left_join(at_end, groups.rfm_group == at_end.rfm_group)
        .drop("rfm_group_right")
    )
    out = out.select(
        "rfm_group", "position",
        customers_start=out.customers_start.fill_null(0).cast("int64"),
        customers_end=out.customers_end.fill_null(0).cast("int64"),
        added=out.added.fill_null(0).cast("int64"),
        dropped=out.dropped.fill_null(0).cast("int64"),
    )
    out = out.mutate(change=out.customers_end - out.customers_start)
    pct = ibis.cases((out.customers_start > 0, 100.0 * out.change / out.customers_start), else_=ibis.null("float64"))
    return out.mutate(pct_change=pct).order_by("position").drop("position")


def rfm_transition_table(start: ir.Table, end: ir.Table) -> ir.Table:
    """Customers per (`from_group`, `to_group`); "Never purchased" is the source of newcomers.

    With a lookback window a customer scored at the start may have no order in the end window:
    their `to_group` is "No order in lookback".
    """
    s = start.select("profile_id", start_group="rfm_group")
    e = end.select("profile_id", end_group="rfm_group")
    pairs = s.outer_join(e, s.profile_id == e.profile_id).select(
        from_group=s.start_group.fill_null(NEVER_PURCHASED),
        to_group=e.end_group.fill_null(NOT_SCORED),
    )
    return pairs.group_by("from_group", "to_group").agg(customers=pairs.count()).order_by(
        ["from_group", "to_group"])


def rfm_medians_table(rfm: ir.Table) -> ir.Table:
    """Per group (report order, with a `position` column): customers and median recency, orders, revenue."""
    med = rfm.group_by("rfm_group").agg(
        customers=rfm.count(),
        median_recency_days=rfm.recency_days.median(),
        median_frequency=rfm.frequency.median(),
        median_monetary=rfm.monetary.median(),
    )
    groups = _group_frame()
    joined = groups.inner_join(med, groups.rfm_group == med.rfm_group)
    return joined.select(
        groups.rfm_group, groups.position, med.customers,
        med.median_recency_days.cast("float64").name("median_recency_days"),
        med.median_frequency.cast("float64").name("median_frequency"),
        med.median_monetary.cast("float64").name("median_monetary"),
    ).order_by("position")


# -- snapshots and profile attributes --------------------------------------------------------
def save_rfm_snapshot(ws: Workspace, rfm: ir.Table | pd.DataFrame, as_of: dt.date) -> int:
    """Store `rfm` as the snapshot of `as_of` in `rfm_snapshots` (replacing that date's rows),
    then rewrite `rfm_profile_attributes`. Returns the number of rows stored."""
    as_of = _parse_date(as_of, "as_of")
    if isinstance(rfm, pd.DataFrame):
        rfm = ibis.memtable(rfm[list(SNAPSHOT_COLUMNS[1:])])
    rows = rfm.select(
        as_of=ibis.literal(as_of, type="date"),
        profile_id=rfm.profile_id.cast("string"),
        recency_days=rfm.recency_days.cast("int64"),
        frequency=rfm.frequency.cast("int64"),
        monetary=rfm.monetary.cast("float64"),
        r_score=rfm.r_score.cast("int64"),
        f_score=rfm.f_score.cast("int64"),
        m_score=rfm.m_score.cast("int64"),
        rfm_group=rfm.rfm_group.cast("string"),
    )
    if ws.has_table(SNAPSHOTS_TABLE):
        old = ws.table(SNAPSHOTS_TABLE)
        rows = old.filter(old.as_of != as_of).select(*SNAPSHOT_COLUMNS).union(rows)
    ws.write_table(SNAPSHOTS_TABLE, rows, mode="replace")
    refresh_rfm_profile_attributes(ws)
    snaps = ws.table(SNAPSHOTS_TABLE)
    return int(snaps.filter(snaps.as_of == as_of).count().execute())


def rfm_profile_attributes_table(snapshots: ir.Table) -> ir.Table:
    """From dated snapshots, per customer in the latest snapshot: `current_rfm_group`,
    `previous_rfm_group` (the last group different from the current one, null if none) and
    `rfm_group_last_changed` (as-of date of the first snapshot of the current run of groups)."""
    w = ibis.window(group_by="profile_id", order_by="as_of")
    s = snapshots.mutate(prev_group=snapshots.rfm_group.lag().over(w))
    starts = s.filter(s.prev_group.isnull() | (s.prev_group != s.rfm_group))
    last = starts.group_by("profile_id").agg(changed=starts.as_of.max())
    run = starts.inner_join(last, (starts.profile_id == last.profile_id) & (starts.as_of == last.changed))
    run = run.select(starts.profile_id, previous_rfm_group=starts.prev_group, rfm_group_last_changed=starts.as_of)
    current = snapshots.filter(snapshots.as_of == snapshots.as_of.max().as_scalar())
    out = current.inner_join(run, current.profile_id == run.profile_id)
    return out.select(
        current.profile_id, current_rfm_group=current.rfm_group,
        previous_rfm_group=run.previous_rfm_group, rfm_group_last_changed=run.rfm_group_last_changed,
    )


def refresh_rfm_profile_attributes(ws: Workspace) -> None:
    """Rewrite `rfm_profile_attributes` from `rfm_snapshots`."""
    ws.write_table(ATTRIBUTES_TABLE, rfm_profile_attributes_table(ws.table(SNAPSHOTS_TABLE)), mode="replace")
