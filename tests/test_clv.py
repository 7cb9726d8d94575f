"""CLV: engine summary vs lifetimes, published CDNOW results, per-customer fields, bad inputs, CLI."""

from __future__ import annotations

import json
import math
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lifetimes
from lifetimes.utils import summary_data_from_transaction_data

from cdp_lib import Workspace, clv
from cdp_lib.clv import summary as clv_summary
from cdp_lib.clv.validation import frequency_recency_matrix, validate_holdout
from cdp_lib.errors import DataError, InputError
from cdp_lib.testing import workspace_from_frames

CDNOW_SAMPLE = os.path.join(os.path.dirname(lifetimes.__file__), "datasets", "CDNOW_sample.txt")


def read_cdnow_sample() -> pd.DataFrame:
    """The raw 1/10 CDNOW sample: master id, customer id (1..2357), date, CDs, dollars."""
    return pd.read_csv(CDNOW_SAMPLE, sep=r"\s+", header=None, names=["master_id", "customer", "date", "cds", "value"],
                       dtype={"master_id": str, "customer": str, "date": str})


def cdnow_events(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": [f"cdnow-{i}" for i in range(len(raw))],  # 21 lines repeat another line exactly
        "external_id": raw["customer"].str.lstrip("0"),
        "metric": "Placed Order",
        "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d").dt.strftime("%Y-%m-%d"),
        "quantity": raw["cds"],
        "value": raw["value"],
    })


@pytest.fixture(scope="module")
def cdnow_ws(cdnow_sample_path, tmp_path_factory):
    """The raw CDNOW_sample.txt as `cdp demo-data --dataset cdnow-sample` writes it, ingested
    through `ingest_file` (conftest), on a private copy."""
    import shutil

    db = tmp_path_factory.mktemp("cdnow") / "cdp.duckdb"
    shutil.copyfile(cdnow_sample_path, db)
    ws = Workspace(db)
    assert int(ws.events.count().execute()) == 6919
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def cdnow_raw_ws(tmp_path_factory):
    """The raw file converted here and loaded with `ingest_file` directly (no demo-data step)."""
    from cdp_lib.ingest import ingest_file

    d = tmp_path_factory.mktemp("cdnow_raw")
    cdnow_events(read_cdnow_sample()).to_csv(d / "events.csv", index=False)
    ws = Workspace(d / "cdp.duckdb")
    assert ingest_file(ws, "events", d / "events.csv").loaded == 6919
    yield ws
    ws.close()


def cdnow_params(**kw) -> clv.ClvParams:
    # CDNOW ends in June 1998, so "an order in the last 30 days" fails at 1997-09-30: forced.
    return clv.ClvParams(**{"as_of": "1997-09-30", "time_unit": "W", "force": True, **kw})


@pytest.fixture(scope="module")
def cdnow_result(cdnow_ws):
    """BG/NBD, chosen explicitly: the published BG/NBD results below are for this model."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = clv.compute_clv(cdnow_ws, cdnow_params(model="bgnbd", horizon_days=39 * 7))
    yield result
    result.summary.release()  # drop the engine-side temporary table before the workspace closes


@pytest.fixture(scope="module")
def cdnow_default(cdnow_ws):
    """The default model (Modified BG/NBD) on the same data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = clv.compute_clv(cdnow_ws, cdnow_params(horizon_days=39 * 7))
    yield result
    result.summary.release()


# -- summary statistics in the engine ----------------------------------------------------------
orders_strategy = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 60), st.integers(0, 23), st.floats(0, 100, allow_nan=False)),
    min_size=1, max_size=40,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=orders_strategy, as_of_day=st.integers(30, 70), unit=st.sampled_from(["D", "W"]))
def test_summary_matches_lifetimes_summary_data_from_transaction_data(rows, as_of_day, unit):
    start = pd.Timestamp("2024-01-01", tz="UTC")
    df = pd.DataFrame(rows, columns=["customer", "day", "hour", "value"])
    df["timestamp"] = start + pd.to_timedelta(df["day"], "D") + pd.to_timedelta(df["hour"], "h")
    df["profile_id"] = "c" + df["customer"].astype(str)
    as_of = (start + pd.Timedelta(days=as_of_day)).date()
    ws = workspace_from_frames(events=df.assign(metric="Placed Order")[["profile_id", "metric", "timestamp", "value"]])
    got = clv_summary.summary_table(ws.events, as_of, unit).execute().set_index("profile_id").sort_index()
    upto = df[df["timestamp"] < start + pd.Timedelta(days=as_of_day + 1)]
    if upto.empty:
        assert got.empty
        return
    ref = summary_data_from_transaction_data(
        upto.assign(timestamp=upto["timestamp"].dt.tz_localize(None)), "profile_id", "timestamp", "value",
        observation_period_end=str(as_of), freq="D",
    ).sort_index()
    scale = 7.0 if unit == "W" else 1.0
    assert list(got.index) == list(ref.index)
    np.testing.assert_array_equal(got["frequency"], ref["frequency"])
    np.testing.assert_allclose(got["recency"], ref["recency"] / scale, rtol=1e-12)
    np.testing.assert_allclose(got["T"], ref["T"] / scale, rtol=1e-12)
    np.testing.assert_allclose(got["monetary_value"], ref["monetary_value"], rtol=1e-9, atol=1e-9)


def test_summary_as_of_is_inclusive_and_same_day_orders_collapse():
    ev = pd.DataFrame({
        "profile_id": ["a", "a", "a", "b"],
        "metric": "Placed Order",
        "timestamp": ["2024-01-01T09:00:00Z", "2024-01-01T18:00:00Z", "2024-01-08T23:59:59Z", "2024-01-09T00:00:00Z"],
        "value": [10.0, 5.0, 20.0, 7.0],
    })
    ws = workspace_from_frames(events=ev)
    s = clv_summary.summary_table(ws.events, pd.Timestamp("2024-01-08").date(), "W").execute()
    assert list(s["profile_id"]) == ["a"]  # b's order is the day after the as-of date
    row = s.iloc[0]
    assert (row["frequency"], row["recency_days"], row["T_days"]) == (1, 7, 7)
    assert row["recency"] == pytest.approx(1.0) and row["T"] == pytest.approx(1.0)
    assert row["monetary_value"] == 20.0 and row["historic_orders"] == 3 and row["gross_value"] == 35.0


# -- published results on CDNOW ----------------------------------------------------------------
def test_bgnbd_matches_fader_hardie_lee_2005(cdnow_result):
    p = cdnow_result.report.transaction_params
    assert (round(p["r"], 3), round(p["alpha"], 3), round(p["a"], 3), round(p["b"], 3)) == (0.243, 4.414, 0.793, 2.426)
    assert cdnow_result.report.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert cdnow_result.report.n_customers == 2357


def test_mbgnbd_is_the_default_and_matches_batislam_2007_on_cdnow(cdnow_default):
    """Reference: lifetimes' own MBG/NBD test on the CDNOW sample (BTYDplus agrees)."""
    assert clv.ClvParams().model == "mbgnbd" and cdnow_default.report.model == "mbgnbd"
    p = cdnow_default.report.transaction_params
    for name, want in {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}.items():
        assert p[name] == pytest.approx(want, rel=0.01), name
    assert (round(p["r"], 3), round(p["alpha"], 3), round(p["a"], 3), round(p["b"], 3)) == (0.525, 6.183, 0.891, 1.614)


def test_pareto_nbd_matches_fader_hardie_lee_2005(cdnow_ws):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = clv.compute_clv(cdnow_ws, cdnow_params(model="pareto")).report.transaction_params
    assert (round(p["r"], 3), round(p["alpha"], 3), round(p["s"], 3), round(p["beta"], 3)) == (0.553, 10.578, 0.606, 11.669)


def test_both_cdnow_load_paths_give_the_same_summary(cdnow_ws, cdnow_raw_ws):
    a = clv_summary.summary_table(cdnow_ws.events, pd.Timestamp("1997-09-30").date(), "W")
    b = clv_summary.summary_table(cdnow_raw_ws.events, pd.Timestamp("1997-09-30").date(), "W")
    ida = cdnow_ws.profiles.select("profile_id", "external_id")
    idb = cdnow_raw_ws.profiles.select("profile_id", "external_id")
    cols = ["external_id", "frequency", "recency_days", "T_days", "gross_value"]
    fa = a.join(ida, "profile_id").select(*cols).execute().sort_values("external_id").reset_index(drop=True)
    fb = b.join(idb, "profile_id").select(*cols).execute().sort_values("external_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(fa, fb, check_exact=False, rtol=1e-12)


def test_gamma_gamma_matches_fader_hardie_2013(cdnow_result):
    p = cdnow_result.report.spend_params
    assert cdnow_result.spend.n_customers == 946 == cdnow_result.report.n_repeat_customers
    assert (round(p["p"], 2), round(p["q"], 2), round(p["v"], 2)) == (6.25, 3.74, 15.44)


def test_customer_1_expected_purchases_fader_hardie_lee_2005(cdnow_ws, cdnow_result):
    ids = cdnow_ws.profiles.select("profile_id", "external_id").execute()
    pid = ids.loc[ids["external_id"] == "1", "profile_id"].item()
    s = cdnow_result.summary.filter(cdnow_result.summary.profile_id == pid).execute().iloc[0]
    assert (s["frequency"], round(s["recency"], 2), round(s["T"], 2)) == (2, 30.43, 38.86)
    row = cdnow_result.predictions.filter(cdnow_result.predictions.profile_id == pid).execute().iloc[0]
    assert round(row["predicted_orders"], 3) == 1.226


def test_holdout_matches_fader_hardie_lee_2005(cdnow_ws):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = validate_holdout(cdnow_ws, cdnow_params(model="bgnbd", as_of="1998-06-30", holdout_days=273))
    s = v.summary()
    assert s["calibration_end"] == "1997-09-30"
    assert s["repeat_transactions_calibration"] == 2457
    assert s["repeat_transactions_holdout"] == 1882
    # "BG/NBD under-forecasts week-78 cumulative repeat transactions by about 4%".
    assert -5.0 < s["cumulative_error_pct_at_end"] < -3.0
    assert v.tracking["actual"].iloc[-1] == 2457 + 1882
    assert v.period_transactions["actual"].sum() == 2357
    assert v.period_transactions["model"].sum() == pytest.approx(2357, rel=1e-6)
    assert v.by_frequency["customers"].sum() == 2357
    assert round(v.transactions.params["r"], 3) == 0.243



def test_mbgnbd_holdout_validation_uses_its_closed_forms(cdnow_ws):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = validate_holdout(cdnow_ws, cdnow_params(as_of="1998-06-30", holdout_days=273))
    assert v.transactions.kind == "mbgnbd"
    assert round(v.transactions.params["r"], 3) == 0.525  # the calibration fit is the reference fit
    assert v.period_transactions["model"].sum() == pytest.approx(2357, rel=1e-6)
    assert v.summary()["repeat_transactions_holdout"] == 1882

# -- weighting, scoring, joining back ----------------------------------------------------------
@pytest.mark.parametrize("model", ["mbgnbd", "bgnbd", "pareto"])
def test_weighted_fit_on_distinct_rows_equals_per_customer_fit(cdnow_result, model):
    s = cdnow_result.summary.execute()
    combos = s.groupby(["frequency", "recency", "T"], as_index=False).size().rename(columns={"size": "weight"})
    assert len(combos) < len(s)
    weighted = clv.fit_transactions(combos, model)
    plain = {"mbgnbd": lifetimes.ModifiedBetaGeoFitter, "bgnbd": lifetimes.BetaGeoFitter,
             "pareto": lifetimes.ParetoNBDFitter}[model]()
    kwargs = {"tol": 1e-6, "initial_params": np.ones(4), "maxiter": 2000} if model == "pareto" else {"tol": 1e-7}
    plain.fit(s["frequency"], s["recency"], s["T"], **kwargs)
    for name, value in plain.params_.items():
        assert weighted.params[name] == pytest.approx(value, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(log_params=st.lists(st.floats(-2.5, 2.5), min_size=4, max_size=4),
       penalizer=st.sampled_from([0.0, 0.01]), modified=st.booleans(), seed=st.integers(0, 2**16))
def test_condensed_likelihood_equals_lifetimes_value_and_autograd_gradient(log_params, penalizer, modified, seed):
    """The numpy (M)BG/NBD objective against lifetimes' own objective, differentiated by autograd,
    on random customers with many repeated (x, t_x, T) rows and one-time buyers."""
    from autograd import value_and_grad

    from cdp_lib.clv.likelihood import BgNbdRows, bgnbd_objective

    rng = np.random.default_rng(seed)
    n = 300
    T = rng.integers(1, 40, n).astype(float) / 4  # a coarse grid: many ties
    x = np.where(rng.random(n) < 0.4, 0, rng.integers(1, 9, n)).astype(float)
    t_x = np.where(x > 0, np.floor(rng.random(n) * T * 4) / 4, 0.0)
    w = rng.integers(1, 5, n).astype(float)
    lp = np.array(log_params)
    got, grad = bgnbd_objective(lp, BgNbdRows.build(x, t_x, T, w, modified=modified), penalizer)
    fitter = lifetimes.ModifiedBetaGeoFitter if modified else lifetimes.BetaGeoFitter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want, want_grad = value_and_grad(fitter._negative_log_likelihood)(lp, x.astype(int), t_x, T, w, penalizer)
    assert got == pytest.approx(float(want), rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-8, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(r=st.floats(0.1, 3), alpha=st.floats(0.5, 50), a=st.floats(0.2, 3), b=st.floats(0.2, 5),
       t=st.sampled_from([1.0, 30.0, 39.0, 365.0]), modified=st.booleans(), seed=st.integers(0, 2**16))
def test_expected_purchases_equal_lifetimes(r, alpha, a, b, t, modified, seed):
    """The per-(x, T) fast path of (M)BG/NBD conditional expected purchases against lifetimes'
    own function, on customers with many repeated histories and one-time buyers."""
    rng = np.random.default_rng(seed)
    n = 200
    T = rng.integers(1, 60, n).astype(float)
    x = np.where(rng.random(n) < 0.4, 0, rng.integers(1, 12, n)).astype(float)
    t_x = np.where(x > 0, np.floor(rng.random(n) * T), 0.0)
    fitter = (lifetimes.ModifiedBetaGeoFitter if modified else lifetimes.BetaGeoFitter)()
    fitter.params_ = pd.Series({"r": r, "alpha": alpha, "a": a, "b": b})
    model = clv.TransactionModel("mbgnbd" if modified else "bgnbd", dict(fitter.params_), 0.0, n, fitter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.asarray(fitter.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T), dtype=float)
    ok = np.isfinite(want)  # where lifetimes' series overflows, ours uses the Euler transform
    assert ok.mean() > 0.5
    np.testing.assert_allclose(model.expected_purchases(t, x, t_x, T)[ok], want[ok], rtol=1e-9, atol=1e-12)

def test_mbgnbd_scores_joined_back_equal_lifetimes_scores(cdnow_default):
    s = cdnow_default.summary.execute()
    m = s.merge(cdnow_default.predictions.execute(), on="profile_id")
    mbg = lifetimes.ModifiedBetaGeoFitter()
    mbg.params_ = pd.Series(cdnow_default.transactions.params)
    expected = mbg.conditional_expected_number_of_purchases_up_to_time(39, m["frequency"], m["recency"], m["T"])
    np.testing.assert_allclose(m["predicted_orders"], expected, rtol=1e-10)
    alive = mbg.conditional_probability_alive(m["frequency"], m["recency"], m["T"])
    np.testing.assert_allclose(m["p_alive"], alive, rtol=1e-10)
    np.testing.assert_allclose(m["churn_probability"], 1 - alive, rtol=1e-10, atol=1e-12)


def test_default_model_churn_rises_with_time_since_the_order(cdnow_default):
    """Under the default every customer who ordered ages: churn rises with the time since the
    last order (one-time buyers included: under BG/NBD their P(alive) is stuck at 1)."""
    tm = cdnow_default.transactions
    weeks = np.arange(0.0, 80.0, 0.5)
    for x in (0, 1, 3, 8):
        t_x = 0.0 if x == 0 else 5.0
        churn = 1 - tm.probability_alive(np.full(len(weeks), x), np.full(len(weeks), t_x), t_x + weeks)
        assert (np.diff(churn) > 0).all(), x
    one_time = cdnow_default.predictions.execute().merge(cdnow_default.summary.execute(), on="profile_id")
    one_time = one_time[one_time["frequency"] == 0].sort_values("T")
    distinct_T = one_time.drop_duplicates("T")
    assert len(distinct_T) > 20 and (np.diff(distinct_T["churn_probability"]) > 0).all()
    # 26-39 weeks after a single order: no longer "low" risk (BG/NBD gives them churn 0)
    assert (one_time["churn_risk"] != "low").all()


def test_one_time_buyers_age_end_to_end_under_the_default(tmp_path):
    """Four one-time buyers beside CDNOW, 1, 30, 120 and 250 days before the as-of date: churn
    probability strictly increases with the days since their order (BG/NBD gave 0 to all)."""
    ev = cdnow_events(read_cdnow_sample()).rename(columns={"external_id": "profile_id"})[
        ["event_id", "profile_id", "metric", "timestamp", "value"]]
    days = {"o1": 1, "o30": 30, "o120": 120, "o250": 250}
    hand = pd.DataFrame([(f"{k}-1", k, "Placed Order", (pd.Timestamp("1997-09-30") - pd.Timedelta(days=d)).strftime("%Y-%m-%d"),
                          20.0) for k, d in days.items()], columns=ev.columns)
    ws = workspace_from_frames(str(tmp_path / "cdp.duckdb"), events=pd.concat([ev, hand], ignore_index=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = clv.run_clv(ws, clv.ClvParams(as_of="1997-09-30", force=True))
    rows = ws.table("clv_predictions").execute().set_index("profile_id").loc[list(days)]
    assert (np.diff(rows["churn_probability"].to_numpy()) > 0).all()
    # right after the order churn is already a / (a + b) (the chance of dropping out at once)
    p = result.transactions.params
    assert rows["churn_probability"].iloc[0] == pytest.approx(p["a"] / (p["a"] + p["b"]), abs=0.01)
    assert rows["churn_probability"].iloc[-1] > rows["churn_probability"].iloc[0] + 0.1
    result.summary.release()
    ws.close()


def test_weighted_gamma_gamma_equals_per_customer_fit(cdnow_result):
    s = cdnow_result.summary.execute()
    rep = s[s["frequency"] > 0]
    combos = rep.groupby(["frequency", "monetary_value"], as_index=False).size().rename(columns={"size": "weight"})
    weighted = clv.fit_spend(combos)
    plain = lifetimes.GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    for name, value in plain.params_.items():
        assert weighted.params[name] == pytest.approx(value, rel=1e-6)


def test_scores_joined_back_equal_per_customer_scores(cdnow_result):
    s = cdnow_result.summary.execute()
    pred = cdnow_result.predictions.execute()
    m = s.merge(pred, on="profile_id")
    bg = lifetimes.BetaGeoFitter()
    bg.params_ = pd.Series(cdnow_result.transactions.params)
    expected = bg.conditional_expected_number_of_purchases_up_to_time(39, m["frequency"], m["recency"], m["T"])
    np.testing.assert_allclose(m["predicted_orders"], expected, rtol=1e-10)
    np.testing.assert_allclose(m["p_alive"], bg.conditional_probability_alive(m["frequency"], m["recency"], m["T"]), rtol=1e-10)
    gg = lifetimes.GammaGammaFitter()
    gg.params_ = pd.Series(cdnow_result.spend.params)
    spend = gg.conditional_expected_average_profit(m["frequency"], m["monetary_value"])
    np.testing.assert_allclose(m["predicted_clv"], expected * spend, rtol=1e-9)
    np.testing.assert_allclose(m["total_clv"], m["historic_clv"] + m["predicted_clv"], rtol=1e-12)
    np.testing.assert_allclose(m["churn_probability"], 1 - m["p_alive"])


# -- per-customer fields on hand-written customers ---------------------------------------------
@pytest.fixture(scope="module")
def mixed_result(tmp_path_factory):
    """CDNOW (for a stable fit) plus four hand-written customers, refunds and profiles."""
    raw = read_cdnow_sample()
    ev = cdnow_events(raw).rename(columns={"external_id": "profile_id"})[["event_id", "profile_id", "metric", "timestamp", "value"]]
    ev["order_id"] = ev["event_id"]
    hand = pd.DataFrame([
        # h1: three orders (two on 1997-03-01), one refunded in part.
        ("h1-1", "h1", "Placed Order", "1997-03-01T10:00:00Z", 40.0, "o1"),
        ("h1-2", "h1", "Placed Order", "1997-03-01T15:00:00Z", 10.0, "o2"),
        ("h1-3", "h1", "Placed Order", "1997-05-30T12:00:00Z", 30.0, "o3"),
        ("h1-r", "h1", "Refunded Order", "1997-06-02T12:00:00Z", 25.0, "o3"),
        ("h1-r2", "h1", "Refunded Order", "1997-10-02T12:00:00Z", 40.0, "o1"),  # after as-of: ignored
        # h2: one order only.
        ("h2-1", "h2", "Placed Order", "1997-09-01T12:00:00Z", 12.0, "o4"),
        # h3: an order with a negative value (left out) and a normal one.
        ("h3-1", "h3", "Placed Order", "1997-08-01T12:00:00Z", -5.0, "o5"),
        ("h3-2", "h3", "Placed Order", "1997-08-02T12:00:00Z", 9.0, "o6"),
    ], columns=["event_id", "profile_id", "metric", "timestamp", "value", "order_id"])
    events = pd.concat([ev, hand], ignore_index=True)
    profiles = pd.DataFrame({
        "profile_id": list(pd.unique(ev["profile_id"])) + ["h1", "h2", "h3", "h4"],
    })
    profiles["first_name"] = None
    profiles.loc[profiles["profile_id"].isin(["h1", "h2", "h3", "h4"]), "first_name"] = ["Mary", " JOHN ", "Jordan", "Linda"]
    ws = workspace_from_frames(str(tmp_path_factory.mktemp("mixed") / "cdp.duckdb"), profiles=profiles, events=events)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = clv.run_clv(ws, cdnow_params(time_unit="D"))
    rows = ws.table("clv_predictions").execute().set_index("profile_id")
    yield result, rows, caught
    result.summary.release()
    ws.close()


def test_historic_fields_net_of_refunds(mixed_result):
    _, rows, _ = mixed_result
    h1 = rows.loc["h1"]
    assert h1["historic_clv"] == 80.0 - 25.0
    assert h1["historic_orders"] == 3
    assert h1["average_order_value"] == pytest.approx(80.0 / 3)
    assert h1["average_days_between_orders"] == 90.0  # one gap, 1997-03-01 -> 1997-05-30
    # Own cadence continued: 05-30 + 90 = 08-28 is past, so 05-30 + 180 = 11-26.
    assert pd.Timestamp(h1["expected_next_order_date"]).date() == pd.Timestamp("1997-11-26").date()


def test_one_time_buyer_and_never_purchaser(mixed_result):
    result, rows, _ = mixed_result
    h2 = rows.loc["h2"]
    assert h2["historic_orders"] == 1 and pd.isna(h2["average_days_between_orders"])
    gap = result.report.population_days_between_orders
    summary = result.summary.execute()
    repeaters = summary[summary["frequency"] > 0]
    assert gap == pytest.approx((repeaters["recency_days"] / repeaters["frequency"]).median())
    steps = np.floor(29 / gap) + 1  # 29 days from 1997-09-01 to the as-of date
    expected = pd.Timestamp("1997-09-01") + pd.Timedelta(days=round(steps * gap))
    assert pd.Timestamp(h2["expected_next_order_date"]) == expected
    h4 = rows.loc["h4"]
    assert h4["historic_clv"] == 0 and h4["historic_orders"] == 0
    for col in ("predicted_clv", "p_alive", "churn_probability", "churn_risk", "expected_next_order_date"):
        assert pd.isna(h4[col]), col


def test_negative_orders_left_out_with_counted_warning(mixed_result):
    result, rows, caught = mixed_result
    messages = [str(w.message) for w in caught if w.category is clv.ClvWarning]
    assert any(m.startswith("1 'Placed Order' events with a negative value left out") for m in messages)
    assert result.report.excluded_negative_orders == 1
    assert rows.loc["h3", "historic_orders"] == 1 and rows.loc["h3", "historic_clv"] == 9.0


def test_churn_risk_bands_and_gender(mixed_result):
    _, rows, _ = mixed_result
    bought = rows.dropna(subset=["churn_probability"])
    expected = np.where(bought["churn_probability"] < 0.3, "low", np.where(bought["churn_probability"] < 0.7, "medium", "high"))
    assert (bought["churn_risk"].to_numpy() == expected).all()
    assert set(bought["churn_risk"]) == {"low", "medium", "high"}
    assert rows.loc[["h1", "h2", "h3", "h4"], "predicted_gender"].tolist() == [
        "likely_female", "likely_male", "uncertain", "likely_female"]
    assert rows.loc["1", "predicted_gender"] == "uncertain"  # no first name


def test_stored_table_has_contract_columns(mixed_result):
    _, rows, _ = mixed_result
    assert ["profile_id", *rows.columns] == list(clv.PREDICTION_COLUMNS)
    assert len(rows) == 2357 + 4


def test_discount_rate_lowers_predicted_value(cdnow_ws, cdnow_result):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = clv.compute_clv(cdnow_ws, cdnow_params(model="bgnbd", horizon_days=39 * 7, discount_rate=0.2))
    a = cdnow_result.predictions.order_by("profile_id").execute()
    b = d.predictions.order_by("profile_id").execute()
    assert (b["predicted_clv"] <= a["predicted_clv"] + 1e-12).all()
    assert b["predicted_clv"].sum() < a["predicted_clv"].sum() < b["predicted_clv"].sum() * 1.2 ** (273 / 365)
    np.testing.assert_allclose(b["predicted_orders"], a["predicted_orders"])


def test_matrices_have_expected_shape_and_range(cdnow_result):
    m = frequency_recency_matrix(cdnow_result.transactions, 10, 38.86, 1.0, "p_alive", points=12)
    assert m.shape == (11, 12) and m.to_numpy().min() >= 0 and m.to_numpy().max() <= 1
    assert (m.loc[0] == 1.0).all()  # BG/NBD: no repeat purchase means P(alive) = 1


# -- bad inputs --------------------------------------------------------------------------------
def small_orders(n_customers=600, repeat=True, value=20.0):
    rng = np.random.default_rng(3)
    rows = []
    for i in range(n_customers):
        first = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 200)))
        k = int(rng.integers(1, 5)) if repeat else 1
        for j in range(k):
            rows.append((f"p{i}", first + pd.Timedelta(days=int(j * rng.integers(1, 40))), value))
    return pd.DataFrame(rows, columns=["profile_id", "timestamp", "value"]).assign(metric="Placed Order")


def test_no_orders_is_a_clear_error():
    ws = workspace_from_frames(events=small_orders().assign(metric="Viewed Product"))
    with pytest.raises(DataError, match="no orders: metric 'Placed Order' has no events"):
        clv.compute_clv(ws, clv.ClvParams(as_of="2024-12-31"))


def test_as_of_before_any_data_is_a_clear_error():
    ws = workspace_from_frames(events=small_orders())
    with pytest.raises(DataError, match=r"as_of 2020-01-01 is before the first 'Placed Order' event \(2024-01-"):
        clv.compute_clv(ws, clv.ClvParams(as_of="2020-01-01"))


def test_all_one_time_buyers_is_a_clear_error():
    ws = workspace_from_frames(events=small_orders(repeat=False))
    with pytest.raises(DataError, match="CLV prerequisites unmet .* no customer with 3 or more orders"):
        clv.compute_clv(ws, clv.ClvParams(as_of="2024-07-20"))
    with pytest.warns(UserWarning), pytest.raises(DataError, match="all 600 customers bought on a single day only"):
        clv.compute_clv(ws, clv.ClvParams(as_of="2024-07-20", force=True))


def test_all_negative_values_is_a_clear_error():
    ws = workspace_from_frames(events=small_orders(value=-3.0))
    with pytest.raises(DataError, match="have a negative value; orders must carry the amount paid"):
        clv.compute_clv(ws, clv.ClvParams(as_of="2024-12-31"))


def test_zero_spend_repeat_customers_left_out_of_gamma_gamma(cdnow_result):
    s = cdnow_result.summary.execute()
    combos = s[s["frequency"] > 0].groupby(["frequency", "monetary_value"], as_index=False).size().rename(columns={"size": "weight"})
    combos.loc[combos.index[:3], "monetary_value"] = [0.0, 0.0, -1.0]
    n = int(combos["weight"].iloc[:3].sum())
    with pytest.warns(clv.ClvWarning, match=f"^{n} repeat customers with zero or negative average spend left out"):
        model = clv.fit_spend(combos)
    assert model.n_customers == 946 - n and model.excluded == n


@pytest.mark.parametrize("model, name", [("mbgnbd", "Modified BG/NBD"), ("bgnbd", "BG/NBD")])
def test_non_convergence_is_a_clear_error(cdnow_ws, model, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match=rf"^the {name} fit did not converge on 2,357 customers; retry with a penalizer"):
            clv.compute_clv(cdnow_ws, cdnow_params(model=model, max_iterations=2))


@pytest.mark.parametrize("kw, match", [
    ({"time_unit": "M"}, "time_unit: 'M' is not a time unit; expected 'D' .days. or 'W'"),
    ({"model": "mbg"}, "model: 'mbg' is not a model; expected one of mbgnbd, bgnbd, pareto"),
    ({"min_p_alive_for_next_order": 1.5}, r"min_p_alive_for_next_order: expected a probability between 0 and 1 such as 0.5, found 1.5"),
    ({"min_p_alive_for_next_order": "half"}, r"min_p_alive_for_next_order: expected a probability between 0 and 1"),
    ({"horizon_days": -1}, "horizon_days: expected a whole number of days >= 0, found -1"),
    ({"as_of": "yesterday-ish"}, "as_of: 'yesterday-ish' is not a date"),
    ({"penalizer": -1.0}, "penalizer: expected a value >= 0"),
])
def test_parameters_are_validated(kw, match):
    with pytest.raises(InputError, match=match):
        clv.ClvParams(**kw)


def test_parameter_files_load_and_reject_unknown_keys(tmp_path):
    from pathlib import Path

    for path in sorted(Path(__file__).resolve().parent.parent.glob("parameters/clv/*.yaml")):
        assert isinstance(clv.ClvParams.from_yaml(path), clv.ClvParams)
    bad = tmp_path / "bad.yaml"
    bad.write_text("horizon: 30\n")
    with pytest.raises(InputError, match=r"bad.yaml: unknown CLV parameter\(s\) horizon"):
        clv.ClvParams.from_yaml(bad)


# -- CLI ---------------------------------------------------------------------------------------
def test_cli_clv_writes_params_and_rows(cdnow_ws, tmp_path, capsys):
    from cdp_lib.cli import main

    import shutil

    cdnow_ws.duckdb.execute("CHECKPOINT")
    db = str(tmp_path / "cdp.duckdb")
    shutil.copy(cdnow_ws.path, db)
    params_out, out = tmp_path / "params.json", tmp_path / "clv.csv"
    code = main(["--db", db, "clv", "--as-of", "1998-06-30", "--time-unit", "W", "--holdout-days", "273",
                 "--force", "--params-out", str(params_out), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "holdout 1997-09-30 to 1998-06-30: 1,882 repeat purchase days actual" in captured.out
    assert "churn risk (Modified BG/NBD model): low " in captured.out
    assert "purchase and churn model Modified BG/NBD" in " ".join(captured.out.split())
    assert "with P(alive) < 0.5 (probably gone)" in captured.out
    params = json.loads(params_out.read_text())
    assert params["model"] == "mbgnbd" and params["model_name"] == "Modified BG/NBD"
    assert set(params["mbgnbd"]) == {"r", "alpha", "a", "b"} and set(params["gamma_gamma"]) == {"p", "q", "v"}
    assert params["min_p_alive_for_next_order"] == 0.5 and params["next_order_dates_withheld"] > 0
    assert (params["n_customers"], params["as_of"], params["time_unit"]) == (2357, "1998-06-30", "W")
    rows = pd.read_csv(out)
    assert list(rows.columns[:3]) == ["profile_id", "external_id", "email"] and len(rows) == 2357
    assert "predicted_gender" in rows.columns
    code = main(["--db", db, "clv", "--as-of", "1998-06-30", "--horizon-days", "0"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "error: horizon_days: expected at least 1 day, found 0"
    assert main(["--db", db, "clv", "--model", "mbg"]) == 2
    assert capsys.readouterr().err.strip() == "error: model: 'mbg' is not a model; expected one of mbgnbd, bgnbd, pareto"
    assert main(["--db", db, "clv", "--min-p-alive-for-next-order", "2"]) == 2
    assert "min_p_alive_for_next_order: expected a probability between 0 and 1" in capsys.readouterr().err
    with Workspace(db) as ws:
        assert int(ws.table("clv_predictions").count().execute()) == 2357


# -- next-order date vs churn ------------------------------------------------------------------
def reference_next_order_dates(summary: pd.DataFrame, p_alive: pd.Series, as_of: pd.Timestamp,
                               population_gap: float, min_p_alive: float) -> dict:
    """docs/clv.md's rule written as a loop: own cadence continued past the as-of date (the
    population gap for one-time buyers), none when P(alive) is below the threshold."""
    out = {}
    for row in summary.itertuples():
        alive = p_alive[row.profile_id]
        if alive < min_p_alive:
            out[row.profile_id] = None
            continue
        gap = row.recency_days / row.frequency if row.frequency > 0 else population_gap
        last = pd.Timestamp(row.last_day)
        k = 1
        while last + pd.Timedelta(days=k * gap) <= as_of:
            k += 1
        out[row.profile_id] = (last + pd.Timedelta(days=math.floor(k * gap + 0.5))).date()  # halves up
    return out


@pytest.mark.parametrize("threshold", [0.5, 0.0, 0.8])
def test_no_next_order_date_for_customers_probably_gone(cdnow_ws, threshold):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = clv.compute_clv(cdnow_ws, cdnow_params(time_unit="D", min_p_alive_for_next_order=threshold))
    pred = result.predictions.execute().set_index("profile_id")
    summary = result.summary.execute()
    want = reference_next_order_dates(summary, pred["p_alive"], pd.Timestamp("1997-09-30"),
                                      result.report.population_days_between_orders, threshold)
    got = {k: (None if pd.isna(v) else pd.Timestamp(v).date()) for k, v in pred["expected_next_order_date"].items()}
    assert got == want
    gone = pred["p_alive"] < threshold
    assert result.report.next_order_dates_withheld == int(gone.sum())
    assert pred.loc[gone, "expected_next_order_date"].isna().all()
    dated = pred["expected_next_order_date"].notna()
    assert (pred.loc[dated, "p_alive"] >= threshold).all()
    if threshold == 0.5:
        assert 0 < gone.sum() < len(pred)
        assert set(pred.loc[dated, "churn_risk"]) <= {"low", "medium"}  # never "high" beside a date
    if threshold == 0.0:
        assert dated.all() and result.report.next_order_dates_withheld == 0
    result.summary.release()


@pytest.mark.parametrize("model, reference", [
    ("mbgnbd", {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}),  # lifetimes' tests, BTYDplus
    ("bgnbd", {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),  # Fader, Hardie & Lee 2005
    ("pareto", {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}),  # Fader, Hardie & Lee 2005
])
def test_cli_cdnow_references_within_one_percent(cdnow_sample_path, tmp_path, capsys, model, reference):
    """The CDNOW 1/10 sample through ingest and `cdp clv --model M --time-unit W --as-of 1997-09-30`."""
    import shutil

    from cdp_lib.cli import main

    db = tmp_path / "cdp.duckdb"
    shutil.copyfile(cdnow_sample_path, db)
    params_out = tmp_path / "params.json"
    code = main(["--db", str(db), "clv", "--model", model, "--time-unit", "W", "--as-of", "1997-09-30",
                 "--params-out", str(params_out)])
    out = capsys.readouterr()
    assert code == 0, out.err
    report = json.loads(params_out.read_text())
    assert report["model"] == model and report["model_name"] == clv.MODEL_NAMES[model]
    for name, want in reference.items():
        assert report[model][name] == pytest.approx(want, rel=0.01), name
    assert f"churn risk ({clv.MODEL_NAMES[model]} model):" in out.out


# -- plots and notebook ------------------------------------------------------------------------
def test_plots_return_axes(cdnow_ws, cdnow_result):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cdp_lib.plots import clv as clv_plots

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = validate_holdout(cdnow_ws, cdnow_params(as_of="1998-06-30", holdout_days=273))
    m = frequency_recency_matrix(v.transactions, 10, 78, 1.0, points=10)
    fig, axes = plt.subplots(2, 4)
    calls = [
        lambda ax: clv_plots.plot_holdout_by_frequency(v.by_frequency, ax=ax),
        lambda ax: clv_plots.plot_period_transactions(v.period_transactions, ax=ax),
        lambda ax: clv_plots.plot_cumulative_transactions(v.tracking, v.calibration_end, ax=ax),
        lambda ax: clv_plots.plot_matrix(m, "expected purchases", ax=ax),
        lambda ax: clv_plots.plot_churn_risk(cdnow_result.predictions, ax=ax),
        lambda ax: clv_plots.plot_clv_distribution(cdnow_result.predictions, ax=ax),
        lambda ax: clv_plots.plot_next_orders(cdnow_result.predictions, "1997-09-30", ax=ax),
    ]
    for call, ax in zip(calls, axes.ravel()):
        assert call(ax) is ax
    assert [b.get_height() for b in axes[1, 0].patches][:3] == list(
        cdnow_result.predictions.execute()["churn_risk"].value_counts().reindex(["low", "medium", "high"]))
    assert isinstance(clv_plots.plot_churn_risk(cdnow_result.predictions), matplotlib.axes.Axes)
    plt.close("all")


@pytest.mark.notebook
@pytest.mark.slow
def test_clv_notebook_runs_on_cdnow(cdnow_ws, tmp_path):
    import shutil
    from pathlib import Path

    import papermill as pm

    cdnow_ws.duckdb.execute("CHECKPOINT")
    db = tmp_path / "cdp.duckdb"
    shutil.copy(cdnow_ws.path, db)
    root = Path(__file__).resolve().parent.parent
    pm.execute_notebook(
        str(root / "notebooks" / "clv.ipynb"), str(tmp_path / "clv.out.ipynb"), kernel_name="python3", cwd=str(root),
        parameters={"db": str(db), "as_of": "1998-06-30", "time_unit": "W", "holdout_days": 273, "force": True,
                    "output_dir": str(tmp_path / "report")},
        progress_bar=False,
    )
    report = tmp_path / "report"
    assert {"clv_predictions.csv", "top_customers.csv", "churn_risk.csv", "clv_params.json",
            "cumulative_transactions.png", "p_alive_matrix.png"} <= {p.name for p in report.iterdir()}
    assert json.loads((report / "clv_params.json").read_text())["validation"]["repeat_transactions_holdout"] == 1882
    assert len(pd.read_csv(report / "clv_predictions.csv")) == 2357


@pytest.mark.notebook
@pytest.mark.slow
def test_clv_notebook_runs_on_demo_store(demo_store_path, tmp_path):
    import shutil
    from pathlib import Path

    import papermill as pm

    db = tmp_path / "cdp.duckdb"
    shutil.copyfile(demo_store_path, db)
    root = Path(__file__).resolve().parent.parent
    pm.execute_notebook(
        str(root / "notebooks" / "clv.ipynb"), str(tmp_path / "clv.out.ipynb"), kernel_name="python3", cwd=str(root),
        parameters={"db": str(db), "as_of": "2025-06-30", "output_dir": str(tmp_path / "report")},
        progress_bar=False,
    )
    params = json.loads((tmp_path / "report" / "clv_params.json").read_text())
    assert params["as_of"] == "2025-06-30" and params["n_customers"] > 500
    assert params["validation"]["calibration_end"] == "2025-01-01"
