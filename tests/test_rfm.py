"""RFM: hand-worked scores and groups, a pandas reference, change over time, snapshots, CLI."""

from __future__ import annotations

import datetime as dt
import shutil
import warnings
from collections import Counter
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_lib import Workspace, rfm
from cdp_lib.cli import main
from cdp_lib.errors import DataError, InputError
from cdp_lib.prerequisites import PrerequisiteWarning
from cdp_lib.rfm import RfmParams
from cdp_lib.testing import workspace_from_frames

REPO = Path(__file__).resolve().parents[1]
CDNOW_MASTER = Path(__import__("lifetimes").__file__).parent / "datasets" / "CDNOW_master.txt"
AS_OF = "2024-06-30"


def order(pid, when, value, metric="Placed Order"):
    return {"profile_id": pid, "metric": metric, "timestamp": when, "value": value}


# Seven customers worked out by hand at as-of 2024-06-30 (2024 is a leap year).
#   frequencies sorted 1 1 1 2 2 3 5: with n = 7 the 1/3 and 2/3 quantiles fall exactly on the
#   3rd and 5th values, c1 = 1 and c2 = 2 (no interpolation), so 1 -> 1, 2 -> 2, 3+ -> 3.
#   monetary sorted 10 20 30 30 50 60 100: c1 = 30, c2 = 50; the ties at 30 and 50 sit exactly
#   on the cut-offs and, the inequalities being strict, score 1 and 2.
HAND_LOG = [
    # a: one order on the as-of date itself, late in the day -> recency 0
    order("a", "2024-06-30T23:59:59Z", 30.0),
    order("a", "2024-07-01T00:00:00Z", 999.0),  # after the end of the as-of date: ignored
    # b: last order 180 days before (late in the day still counts by date) -> r 3
    order("b", "2023-06-01T10:00:00Z", 20.0),
    order("b", "2024-01-02T23:00:00Z", 30.0),
    # c: last order 181 days before -> r 2
    order("c", "2024-01-01T08:00:00Z", 10.0),
    # d: last order 365 days before -> r 2
    order("d", "2023-03-01T12:00:00Z", 25.0),
    order("d", "2023-05-01T12:00:00Z", 25.0),
    order("d", "2023-07-01T12:00:00Z", 50.0),
    order("d", "2024-06-01T12:00:00Z", 1000.0, metric="Viewed Product"),  # not an order
    # e: five orders, the last 366 days before -> r 1
    order("e", "2023-02-28T12:00:00Z", 12.0),
    order("e", "2023-03-30T12:00:00Z", 12.0),
    order("e", "2023-04-30T12:00:00Z", 12.0),
    order("e", "2023-05-30T12:00:00Z", 12.0),
    order("e", "2023-06-30T12:00:00Z", 12.0),
    # f: one order 29 days before
    order("f", "2024-06-01T12:00:00Z", 20.0),
    # g: two orders of 15, the last 121 days before
    order("g", "2023-12-01T12:00:00Z", 15.0),
    order("g", "2024-03-01T12:00:00Z", 15.0),
    # h: only a zero and a negative value -> not a customer with an order
    order("h", "2024-05-01T12:00:00Z", 0.0),
    order("h", "2024-05-02T12:00:00Z", -20.0),
    # i: only orders after the as-of date
    order("i", "2024-07-01T00:00:00Z", 500.0),
]

# profile -> (recency_days, frequency, monetary, r, f, m, group), worked out by hand above.
HAND_EXPECTED = {
    "a": (0, 1, 30.0, 3, 1, 1, "Recent"),  # 311
    "b": (180, 2, 50.0, 3, 2, 2, "Loyal"),  # 322
    "c": (181, 1, 10.0, 2, 1, 1, "At Risk"),  # 211
    "d": (365, 3, 100.0, 2, 3, 3, "Loyal"),  # 233
    "e": (366, 5, 60.0, 1, 3, 3, "Needs Attention"),  # 133
    "f": (29, 1, 20.0, 3, 1, 1, "Recent"),  # 311
    "g": (121, 2, 30.0, 3, 2, 1, "Loyal"),  # 321
}


@pytest.fixture
def hand_ws():
    profiles = pd.DataFrame({"profile_id": list("abcdefghi"), "email": [f"{p}@example.com" for p in "abcdefghi"],
                             "external_id": [f"X{p}" for p in "abcdefghi"]})
    ws = workspace_from_frames(profiles=profiles, events=pd.DataFrame(HAND_LOG))
    yield ws
    ws.close()


def forced(fn, *args, **kwargs):
    """Run on a log too small for the prerequisites, asserting the forced warning appears."""
    with pytest.warns(PrerequisiteWarning, match="RFM prerequisites unmet"):
        return fn(*args, **kwargs)


def by_profile(table) -> pd.DataFrame:
    return table.execute().set_index("profile_id").sort_index()


# -- groups ----------------------------------------------------------------------------------
def test_group_mapping_covers_each_of_the_27_combinations_once():
    codes = [code for codes in rfm.GROUPS.values() for code in codes]
    assert Counter(codes) == Counter("".join(d) for d in product("123", repeat=3))
    assert len(codes) == 27 and len(rfm.GROUP_OF) == 27
    assert list(rfm.GROUPS) == ["Champions", "Loyal", "Recent", "Needs Attention", "At Risk", "Inactive"]
    assert set(rfm.GROUP_GUIDE) == set(rfm.GROUPS)


def test_group_mapping_matches_the_published_lists():
    assert rfm.GROUPS["Champions"] == ("333", "332", "323")
    assert rfm.GROUPS["Loyal"] == ("321", "322", "331", "232", "233")
    assert rfm.GROUPS["Recent"] == ("312", "313", "311", "222", "223")
    assert rfm.GROUPS["Needs Attention"] == ("213", "221", "123", "132", "133")
    assert rfm.GROUPS["At Risk"] == ("231", "212", "122", "131", "211")
    assert rfm.GROUPS["Inactive"] == ("111", "112", "113", "121")


# -- scores on the hand-written log ------------------------------------------------------------
def test_hand_log_scores_and_groups(hand_ws):
    params = RfmParams(as_of=AS_OF, force=True)
    table, thresholds = forced(rfm.scored_rfm, hand_ws, params)
    assert thresholds.frequency == (1.0, 2.0)
    assert thresholds.monetary == (30.0, 50.0)
    assert thresholds.recency_days == (180, 365)
    assert thresholds.computed_at == dt.date(2024, 6, 30)
    got = by_profile(table)
    assert list(table.columns) == list(rfm.RFM_COLUMNS)
    assert list(got.index) == list("abcdefg")  # h (no positive order) and i (after as-of) excluded
    cols = ["recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_group"]
    for pid, expected in HAND_EXPECTED.items():
        assert tuple(got.loc[pid, cols]) == expected, pid
    assert got.loc["b", "email"] == "b@example.com" and got.loc["b", "external_id"] == "Xb"


def test_rfm_table_equals_scored_rfm(hand_ws):
    params = RfmParams(as_of=AS_OF, force=True)
    table = forced(rfm.rfm_table, hand_ws, params)
    assert by_profile(table)["rfm_group"].to_dict() == {p: e[-1] for p, e in HAND_EXPECTED.items()}


def test_fixed_thresholds_and_other_quantiles(hand_ws):
    params = RfmParams(as_of=AS_OF, force=True, frequency_thresholds=[1, 3], monetary_quantiles=[0.5, 0.9],
                       recency_days_thresholds="30,180")
    table, thresholds = forced(rfm.scored_rfm, hand_ws, params)
    # monetary sorted 10 20 30 30 50 60 100: median = 30; 0.9 -> position 5.4 -> 60 + 0.4 * 40 = 76
    assert thresholds.frequency == (1, 3)
    assert thresholds.monetary == pytest.approx((30.0, 76.0))
    got = by_profile(table)
    assert got["f_score"].to_dict() == {"a": 1, "b": 2, "c": 1, "d": 2, "e": 3, "f": 1, "g": 2}
    assert got["m_score"].to_dict() == {"a": 1, "b": 2, "c": 1, "d": 3, "e": 2, "f": 1, "g": 1}
    # recency 0, 180, 181, 365, 366, 29, 121 against <= 30 / <= 180
    assert got["r_score"].to_dict() == {"a": 3, "b": 2, "c": 1, "d": 1, "e": 1, "f": 3, "g": 2}


def test_lookback_days_keeps_only_the_window(hand_ws):
    # 200 days ending on 2024-06-30 start on 2023-12-13: d and e drop out, b keeps one order
    params = RfmParams(as_of=AS_OF, force=True, lookback_days=200, frequency_thresholds=(1, 2),
                       monetary_thresholds=(25, 55))
    got = by_profile(forced(rfm.rfm_table, hand_ws, params))
    assert list(got.index) == ["a", "b", "c", "f", "g"]
    assert got.loc["b", ["frequency", "monetary"]].tolist() == [1, 30.0]
    assert got.loc["g", ["frequency", "monetary"]].tolist() == [1, 15.0]


# -- parameters --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "given, message",
    [
        ({"recency_days_thresholds": [365, 180]}, "recency_days_thresholds: thresholds conflict: 365 then 180"),
        ({"recency_days_thresholds": [180, 180]}, "second must be larger"),
        ({"recency_days_thresholds": [-1, 180]}, "out of range"),
        ({"recency_days_thresholds": [180.5, 365]}, "whole numbers of days"),
        ({"frequency_thresholds": [3, 2]}, "frequency_thresholds: thresholds conflict"),
        ({"monetary_quantiles": [0.2, 1.5]}, r"monetary_quantiles: .* out of range; each value must be between 0 and 1"),
        ({"frequency_quantiles": [-0.1, 0.5]}, "between 0 and 1"),
        ({"frequency_quantiles": [0.6, 0.3]}, "conflict"),
        ({"monetary_thresholds": [10]}, "expected two increasing numbers"),
        ({"frequency_thresholds": [1, 2], "frequency_quantiles": [0.2, 0.8]}, "these conflict, keep only one"),
        ({"recency_quantiles": [0.3, 0.6]}, "recency cannot use quantiles"),
        ({"recency_percentiles": [30, 60]}, "recency cannot use quantiles"),
        ({"as_of": "June 31st"}, "as_of: 'June 31st' is not a date"),
        ({"lookback_days": 0}, "lookback_days: expected a whole number of days >= 1"),
        ({"lookback_days": -5}, "lookback_days"),
        ({"force": "yes"}, "force: expected true or false"),
        ({"lookbak_days": 30}, "unknown parameter 'lookbak_days'; did you mean 'lookback_days'"),
    ],
)
def test_conflicting_or_bad_parameters_are_rejected(given, message):
    with pytest.raises(InputError, match=message):
        RfmParams.from_mapping(given, where="test.yaml")


def test_parameter_files_validate():
    monthly = RfmParams.from_yaml(REPO / "parameters/rfm/monthly.yaml")
    assert monthly.recency_days_thresholds == (180, 365)
    assert monthly.frequency_quantiles == pytest.approx((1 / 3, 2 / 3))
    cdnow = RfmParams.from_yaml(REPO / "parameters/rfm/cdnow.yaml")
    assert cdnow.as_of == dt.date(1998, 6, 30)


def test_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "rfm.yaml"
    bad.write_text("frequency_thresholds: [5, 2]\n")
    with pytest.raises(InputError, match=r"rfm.yaml: frequency_thresholds: thresholds conflict"):
        RfmParams.from_yaml(bad)


# -- bad data ----------------------------------------------------------------------------------
def test_unknown_metric_suggests_close_match(hand_ws):
    with pytest.raises(InputError, match="did you mean 'Placed Order'"):
        rfm.rfm_table(hand_ws, RfmParams(as_of=AS_OF, metric="Placed Ordr"))


def test_only_non_positive_values_is_a_data_error():
    ws = workspace_from_frames(events=pd.DataFrame([order("x", "2024-01-01T00:00:00Z", -5.0),
                                                    order("y", "2024-01-02T00:00:00Z", 0.0)]))
    with pytest.raises(DataError, match=r"all 2 'Placed Order' events have a value <= 0"):
        rfm.rfm_table(ws, RfmParams(as_of=AS_OF, force=True))


def test_as_of_before_any_order_is_a_data_error(hand_ws):
    with pytest.raises(DataError, match="no 'Placed Order' order on or before as_of 2020-01-01; the first order is on 2023-02-28"):
        rfm.rfm_table(hand_ws, RfmParams(as_of="2020-01-01", force=True))


def test_prerequisites_fail_then_forced(hand_ws):
    with pytest.raises(DataError, match=r"RFM prerequisites unmet as of 2024-06-30: 7 customers with an order, "
                                        r"need at least 500 \(493 short\).*Pass force=True"):
        rfm.rfm_table(hand_ws, RfmParams(as_of=AS_OF))
    table = forced(rfm.rfm_table, hand_ws, RfmParams(as_of=AS_OF, force=True))
    assert table.count().execute() == 7


# -- pandas reference ------------------------------------------------------------------------------
def reference_rfm(events: pd.DataFrame, as_of: str, recency=(180, 365), fq=(1 / 3, 2 / 3), mq=(1 / 3, 2 / 3)):
    """Plain pandas RFM following the rules in the issue, with numpy's linear quantiles."""
    end = pd.Timestamp(as_of, tz="UTC") + pd.Timedelta(days=1)
    ev = events.assign(timestamp=pd.to_datetime(events["timestamp"], utc=True))
    orders = ev[(ev["metric"] == "Placed Order") & (ev["value"] > 0) & (ev["timestamp"] < end)]
    per = orders.groupby("profile_id").agg(last=("timestamp", "max"), frequency=("value", "size"),
                                           monetary=("value", "sum"))
    per["recency_days"] = (pd.Timestamp(as_of) - per["last"].dt.tz_localize(None).dt.normalize()).dt.days
    f1, f2 = np.quantile(per["frequency"], fq)
    m1, m2 = np.quantile(per["monetary"], mq)
    per["r_score"] = np.where(per["recency_days"] <= recency[0], 3, np.where(per["recency_days"] <= recency[1], 2, 1))
    per["f_score"] = np.where(per["frequency"] > f2, 3, np.where(per["frequency"] > f1, 2, 1))
    per["m_score"] = np.where(per["monetary"] > m2, 3, np.where(per["monetary"] > m1, 2, 1))
    codes = per["r_score"].astype(str) + per["f_score"].astype(str) + per["m_score"].astype(str)
    per["rfm_group"] = codes.map(rfm.GROUP_OF)
    return per.drop(columns="last").sort_index(), (f1, f2), (m1, m2)


COMPARED = ["recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_group"]

order_logs = st.lists(
    st.tuples(
        st.integers(0, 14),  # customer
        st.integers(0, 900),  # day offset from 2022-01-01
        st.integers(0, 86399),  # second of the day
        st.integers(-50, 400),  # whole-currency value (exact sums on both sides), some non-positive
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=order_logs, q=st.sampled_from([None, (0.25, 0.75), (0.0, 0.5), (0.1, 1.0)]))
def test_rfm_table_matches_pandas_reference(log, q):
    start = pd.Timestamp("2022-01-01", tz="UTC")
    events = pd.DataFrame(
        [order(f"p{c:02d}", start + pd.Timedelta(days=d, seconds=s), float(v)) for c, d, s, v in log]
    )
    as_of = "2023-06-30"
    if not ((events["value"] > 0) & (events["timestamp"] < pd.Timestamp("2023-07-01", tz="UTC"))).any():
        return  # nothing to score: covered by the bad-data tests
    params = RfmParams(as_of=as_of, force=True, frequency_quantiles=q, monetary_quantiles=q)
    ws = workspace_from_frames(events=events)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrerequisiteWarning)
        table, thresholds = rfm.scored_rfm(ws, params)
    got = by_profile(table)[COMPARED]
    qq = q or (1 / 3, 2 / 3)
    expected, fcut, mcut = reference_rfm(events, as_of, fq=qq, mq=qq)
    assert thresholds.frequency == pytest.approx(fcut) and thresholds.monetary == pytest.approx(mcut)
    pd.testing.assert_frame_equal(got, expected[COMPARED], check_dtype=False, check_names=False)


# -- change over time ------------------------------------------------------------------------------
def test_change_over_time_hand_log(hand_ws):
    change = forced(rfm.rfm_change, hand_ws, "2024-01-01", AS_OF, RfmParams(force=True))
    # thresholds come from the end date and are reused at the start
    assert change.thresholds.computed_at == dt.date(2024, 6, 30)
    assert change.thresholds.frequency == (1.0, 2.0) and change.thresholds.monetary == (30.0, 50.0)
    # at 2024-01-01: b one order of 20, 214 days (211 At Risk); c 0 days (311 Recent); d 184 days,
    # 3 orders, 100 (233 Loyal); e 185 days, 5 orders, 60 (233 Loyal); g one order of 15, 31 days
    # (311 Recent); a and f had not ordered yet.
    start = by_profile(change.start)["rfm_group"].to_dict()
    assert start == {"b": "At Risk", "c": "Recent", "d": "Loyal", "e": "Loyal", "g": "Recent"}
    flows = {(r.from_group, r.to_group): r.customers for r in change.transitions.execute().itertuples()}
    assert flows == {
        ("Never purchased", "Recent"): 2,  # a, f
        ("At Risk", "Loyal"): 1,  # b
        ("Recent", "At Risk"): 1,  # c
        ("Loyal", "Loyal"): 1,  # d
        ("Loyal", "Needs Attention"): 1,  # e
        ("Recent", "Loyal"): 1,  # g
    }
    dist = change.distribution.execute().set_index("rfm_group")
    assert list(dist.index) == list(rfm.GROUP_ORDER)
    cols = ["customers_start", "customers_end", "added", "dropped", "change"]
    assert dist[cols].to_dict("index") == {
        "Champions": dict(zip(cols, (0, 0, 0, 0, 0))),
        "Loyal": dict(zip(cols, (2, 3, 2, 1, 1))),  # +b +g, -e
        "Recent": dict(zip(cols, (2, 2, 2, 2, 0))),  # +a +f, -c -g
        "Needs Attention": dict(zip(cols, (0, 1, 1, 0, 1))),
        "At Risk": dict(zip(cols, (1, 1, 1, 1, 0))),
        "Inactive": dict(zip(cols, (0, 0, 0, 0, 0))),
    }
    assert dist.loc["Loyal", "pct_change"] == pytest.approx(50.0)
    assert dist.loc["Recent", "pct_change"] == 0.0
    assert dist["pct_change"].isna().tolist() == [True, False, False, True, False, True]
    med = change.medians.execute()
    loyal_end = med[(pd.to_datetime(med["as_of"]) == "2024-06-30") & (med["rfm_group"] == "Loyal")].iloc[0]
    # Loyal at the end: b (180 days, 2, 50), d (365, 3, 100), g (121, 2, 30)
    assert (loyal_end.customers, loyal_end.median_recency_days, loyal_end.median_frequency,
            loyal_end.median_monetary) == (3, 180.0, 2.0, 50.0)
    recent_start = med[(pd.to_datetime(med["as_of"]) == "2024-01-01") & (med["rfm_group"] == "Recent")].iloc[0]
    assert (recent_start.median_recency_days, recent_start.median_monetary) == (15.5, 12.5)  # c (0, 10), g (31, 15)


def test_change_with_start_before_any_order_is_all_never_purchased(hand_ws):
    change = forced(rfm.rfm_change, hand_ws, "2020-01-01", AS_OF, RfmParams(force=True))
    flows = change.transitions.execute()
    assert set(flows["from_group"]) == {"Never purchased"} and flows["customers"].sum() == 7
    assert change.distribution.execute()["customers_start"].sum() == 0


def test_change_rejects_start_after_end(hand_ws):
    with pytest.raises(InputError, match="from 2024-06-30 must be before to 2024-01-01"):
        rfm.rfm_change(hand_ws, AS_OF, "2024-01-01", RfmParams(force=True))


# -- snapshots and profile attributes ----------------------------------------------------------------
def attributes(ws) -> dict:
    df = ws.table(rfm.ATTRIBUTES_TABLE).execute().set_index("profile_id").sort_index()
    df = df.astype(object).where(df.notna(), None)
    df["rfm_group_last_changed"] = [pd.Timestamp(d).date() for d in df["rfm_group_last_changed"]]
    return df.to_dict("index")


def test_snapshot_attributes_across_three_runs(tmp_path):
    # a single order of 30 on 2024-06-30, later y starts ordering; fixed thresholds keep it hand-checkable
    log = [order("a", "2024-06-30T12:00:00Z", 30.0), order("y", "2025-02-20T12:00:00Z", 100.0)]
    ws = workspace_from_frames(str(tmp_path / "cdp.duckdb"), events=pd.DataFrame(log))
    params = RfmParams(force=True, frequency_thresholds=(1, 2), monetary_thresholds=(25, 55))
    dates = [dt.date(2024, 6, 30), dt.date(2025, 3, 1), dt.date(2025, 4, 1)]
    for day in dates[:1]:
        rfm.save_rfm_snapshot(ws, forced(rfm.rfm_table, ws, params.replace(as_of=day)), day)
    # run 1: a is 312 (0 days, 1 order, 30 > 25) Recent
    assert attributes(ws) == {"a": {"current_rfm_group": "Recent", "previous_rfm_group": None,
                                    "rfm_group_last_changed": dates[0]}}
    # run 2: a is 244 days old -> 212 At Risk; y is new: 9 days, 1 order, 100 -> 313 Recent
    rfm.save_rfm_snapshot(ws, forced(rfm.rfm_table, ws, params.replace(as_of=dates[1])), dates[1])
    after_two = attributes(ws)
    assert after_two == {
        "a": {"current_rfm_group": "At Risk", "previous_rfm_group": "Recent", "rfm_group_last_changed": dates[1]},
        "y": {"current_rfm_group": "Recent", "previous_rfm_group": None, "rfm_group_last_changed": dates[1]},
    }
    # run 3: a still At Risk (275 days) -> attributes unchanged, last change stays at run 2
    rfm.save_rfm_snapshot(ws, forced(rfm.rfm_table, ws, params.replace(as_of=dates[2])), dates[2])
    assert attributes(ws) == after_two
    # re-running on the same as-of replaces that date instead of appending
    rfm.save_rfm_snapshot(ws, forced(rfm.rfm_table, ws, params.replace(as_of=dates[2])), dates[2])
    snaps = ws.table(rfm.SNAPSHOTS_TABLE).execute()
    assert sorted(Counter(pd.to_datetime(snaps["as_of"]).dt.date).items()) == [
        (dates[0], 1), (dates[1], 2), (dates[2], 2)]
    assert list(snaps.columns) == list(rfm.SNAPSHOT_COLUMNS)
    ws.close()


def test_attributes_previous_is_last_different_group():
    snaps = pd.DataFrame({
        "as_of": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-01-01", "2024-04-01"]).date,
        "profile_id": ["p", "p", "p", "p", "q", "q"],
        "rfm_group": ["Loyal", "At Risk", "Loyal", "Loyal", "Champions", "Champions"],
    })
    import ibis

    got = rfm.rfm_profile_attributes_table(ibis.memtable(snaps)).execute().set_index("profile_id").sort_index()
    assert got.loc["p", "current_rfm_group"] == "Loyal"
    assert got.loc["p", "previous_rfm_group"] == "At Risk"
    assert pd.Timestamp(got.loc["p", "rfm_group_last_changed"]).date() == dt.date(2024, 3, 1)
    assert pd.isna(got.loc["q", "previous_rfm_group"])
    assert pd.Timestamp(got.loc["q", "rfm_group_last_changed"]).date() == dt.date(2024, 1, 1)


# -- plots ---------------------------------------------------------------------------------------
def test_plots_return_axes(hand_ws):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cdp_lib.plots import rfm as plots

    change = forced(rfm.rfm_change, hand_ws, "2024-01-01", AS_OF, RfmParams(force=True))
    ax = plots.plot_group_distribution(rfm.rfm_group_counts_table(change.end))
    assert [t.get_text() for t in ax.get_xticklabels()] == list(rfm.GROUP_ORDER)
    assert plots.plot_group_distribution(change.distribution).get_legend() is not None
    fig, axes = plt.subplots(1, 2)
    assert plots.plot_transitions(change.transitions, ax=axes[0]) is axes[0]
    assert [t.get_text() for t in axes[0].get_yticklabels()][0] == "Never purchased"
    assert plots.plot_medians(change.medians, "median_recency_days", ax=axes[1]) is axes[1]
    plt.close("all")


# -- CLI -----------------------------------------------------------------------------------------
@pytest.fixture
def hand_db(tmp_path):
    path = tmp_path / "cdp.duckdb"
    profiles = pd.DataFrame({"profile_id": list("abcdefghi"), "email": [f"{p}@example.com" for p in "abcdefghi"]})
    workspace_from_frames(str(path), profiles=profiles, events=pd.DataFrame(HAND_LOG)).close()
    return path


def test_cli_writes_rows_summary_and_snapshot(hand_db, tmp_path, capsys):
    out = tmp_path / "rfm.csv"
    assert main(["--db", str(hand_db), "rfm", "--as-of", AS_OF, "--force", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "warning: RFM prerequisites unmet" in captured.err
    assert "7 customers scored" in captured.out and "FORCED" in captured.out
    assert "Loyal                    3   42.9%" in captured.out
    rows = pd.read_csv(out, dtype={"profile_id": str})
    assert list(rows.columns) == list(rfm.RFM_COLUMNS)
    assert rows.set_index("profile_id")["rfm_group"].to_dict() == {p: e[-1] for p, e in HAND_EXPECTED.items()}
    with Workspace(hand_db, read_only=True) as ws:
        assert ws.table(rfm.SNAPSHOTS_TABLE).count().execute() == 7
        assert ws.table(rfm.ATTRIBUTES_TABLE).count().execute() == 7


def test_cli_parquet_without_snapshot(hand_db, tmp_path, capsys):
    out = tmp_path / "rfm.parquet"
    assert main(["--db", str(hand_db), "rfm", "--as-of", AS_OF, "--force", "--no-snapshot",
                 "--frequency-thresholds", "1,2", "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 7
    with Workspace(hand_db, read_only=True) as ws:
        assert not ws.has_table(rfm.SNAPSHOTS_TABLE)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--as-of", AS_OF], "error: RFM prerequisites unmet as of 2024-06-30: 7 customers"),
        (["--as-of", "2020-01-01", "--force"], "error: no 'Placed Order' order on or before as_of 2020-01-01"),
        (["--metric", "Placed Ordr", "--force"], "did you mean 'Placed Order'"),
        (["--frequency-thresholds", "3,1"], "error: cdp rfm: frequency_thresholds: thresholds conflict"),
        (["--force", "--out", "rows.xlsx"], "unsupported extension .xlsx"),
    ],
)
def test_cli_bad_inputs_are_one_line(hand_db, capsys, args, message):
    assert main(["--db", str(hand_db), "rfm", *args, "--no-snapshot"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


# -- CDNOW and the demo store ------------------------------------------------------------------
def cdnow_events() -> pd.DataFrame:
    """The raw CDNOW master log as order events (reference side, read straight from the file)."""
    raw = pd.read_csv(CDNOW_MASTER, sep=r"\s+", dtype={"customer_id": str, "date": str})
    return pd.DataFrame({
        "profile_id": raw["customer_id"].astype(int).astype(str),
        "metric": "Placed Order",
        "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d", utc=True),
        "value": raw["dollar_value"].astype(float),
    })


@pytest.mark.slow
def test_cdnow_master_through_ingest_matches_pandas_reference(cdnow_path):
    events = cdnow_events()
    assert events["profile_id"].nunique() == 23570
    with Workspace(cdnow_path, read_only=True) as ws:
        table, thresholds = rfm.scored_rfm(ws, RfmParams.from_yaml(REPO / "parameters/rfm/cdnow.yaml"))
        got = table.execute().set_index("external_id").sort_index()
    # 68 of the 23,570 customers only have $0 purchases, so 23,502 are scored
    assert len(got) == 23502
    expected, fcut, mcut = reference_rfm(events, "1998-06-30")
    assert thresholds.frequency == pytest.approx(fcut) and thresholds.monetary == pytest.approx(mcut)
    assert fcut == (1.0, 2.0)  # mostly one-time buyers: 1 = one order, 2 = two, 3 = three or more
    pd.testing.assert_frame_equal(got[COMPARED], expected[COMPARED], check_dtype=False, check_names=False,
                                  check_exact=False, rtol=1e-9)


DEMO_AS_OF = "2025-06-30"  # the demo fixture's end date


@pytest.mark.slow
def test_cli_on_demo_store_matches_pandas_reference(demo_store_path, tmp_path, capsys):
    db = tmp_path / "cdp.duckdb"
    shutil.copyfile(demo_store_path, db)
    out = tmp_path / "rfm.csv"
    assert main(["--db", str(db), "rfm", "--as-of", DEMO_AS_OF, "--out", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err  # the demo store meets the prerequisites
    rows = pd.read_csv(out, dtype={"profile_id": str}).set_index("profile_id").sort_index()
    with Workspace(db, read_only=True) as ws:
        events = ws.events.select("profile_id", "metric", "timestamp", "value").execute()
        attributes = ws.table(rfm.ATTRIBUTES_TABLE).execute()
    expected, _, _ = reference_rfm(events, DEMO_AS_OF)
    assert len(rows) >= 500
    pd.testing.assert_frame_equal(rows[COMPARED], expected[COMPARED], check_dtype=False, check_names=False,
                                  check_exact=False, rtol=1e-9)
    assert len(attributes) == len(rows) and attributes["previous_rfm_group"].isna().all()


# -- notebook ------------------------------------------------------------------------------------
def run_notebook(db: Path, out_dir: Path, **parameters):
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        str(REPO / "notebooks/rfm.ipynb"), str(out_dir / "rfm.ipynb"), kernel_name="python3",
        parameters={"db": str(db), "output_dir": str(out_dir), **parameters}, cwd=str(REPO), progress_bar=False,
    )
    return pd.read_csv(out_dir / f"rfm_{parameters['as_of']}.csv", dtype={"profile_id": str})


@pytest.mark.notebook
@pytest.mark.slow
def test_notebook_on_demo_store_stores_snapshot(demo_store_path, tmp_path):
    db = tmp_path / "cdp.duckdb"
    shutil.copyfile(demo_store_path, db)
    rows = run_notebook(db, tmp_path / "out", as_of=DEMO_AS_OF, snapshot=True)
    assert list(rows.columns) == list(rfm.RFM_COLUMNS) and len(rows) >= 500
    assert (tmp_path / "out" / f"rfm_flows_{DEMO_AS_OF}.png").exists()
    with Workspace(db, read_only=True) as ws:
        assert ws.table(rfm.SNAPSHOTS_TABLE).count().execute() == len(rows)


@pytest.mark.notebook
@pytest.mark.slow
def test_notebook_on_cdnow(cdnow_path, tmp_path):
    db = tmp_path / "cdnow.duckdb"
    shutil.copyfile(cdnow_path, db)
    params = yaml.safe_load((REPO / "parameters/rfm/cdnow.yaml").read_text())
    rows = run_notebook(db, tmp_path / "out", from_="1997-12-31", **params)
    assert len(rows) == 23502 and list(rows.columns) == list(rfm.RFM_COLUMNS)
    change = pd.read_csv(tmp_path / "out" / "rfm_change_1997-12-31_1998-06-30.csv")
    assert change["customers_end"].sum() == 23502
