"""Every analysis on DuckDB and on Spark (local mode, over the exported lake) gives the same rows.

The demo store (3,000 people) is exported once to a lake; a DuckDB copy and a lake copy then go
through the same pipeline (RFM snapshots at two dates, CLV, segment refreshes) and every result
is compared: same rows, text and integers equal, floats to 1e-9 relative.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd
import pytest

from cdp_lib import Workspace

pytestmark = [pytest.mark.spark, pytest.mark.slow]

AS_OF = "2025-06-30"
EARLIER = "2025-03-31"
RTOL = 1e-9


def normalised(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sorted rows, UTC timestamps, plain dtypes, nulls as None: the comparable form."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            ts = pd.to_datetime(s)
            ts = ts.dt.tz_convert("UTC") if ts.dt.tz is not None else ts.dt.tz_localize("UTC")
            out[col] = ts.astype("datetime64[us, UTC]")
        elif pd.api.types.is_bool_dtype(s):
            out[col] = s.astype("object").where(s.notna(), None)
        elif pd.api.types.is_integer_dtype(s):
            out[col] = s.astype("float64") if s.isna().any() else s.astype("int64")
        elif pd.api.types.is_float_dtype(s):
            out[col] = s.astype("float64")
        else:
            out[col] = s.astype("object").where(s.notna(), None)
            # Dates come back as datetime.date from one engine and Timestamp from another.
            if len(s.dropna()) and all(hasattr(v, "year") for v in s.dropna()):
                out[col] = pd.to_datetime(out[col]).dt.date.astype("object").where(s.notna(), None)
    return out.sort_values(keys, kind="stable").reset_index(drop=True)[sorted(out.columns)]


def assert_same(got, want, keys: list[str], min_rows: int = 1) -> None:
    """Same rows, floats to `RTOL` relative (`atol` 1e-12 for values that are zero)."""
    got = got.execute() if isinstance(got, ibis.Table) else got
    want = want.execute() if isinstance(want, ibis.Table) else want
    g, w = normalised(got, keys), normalised(want, keys)
    assert len(w) >= min_rows, f"reference has only {len(w)} rows"
    assert list(g.columns) == list(w.columns)
    pd.testing.assert_frame_equal(g, w, check_dtype=False, check_exact=False, rtol=RTOL, atol=1e-12)


# -- the two workspaces, one pipeline ------------------------------------------------------------
@pytest.fixture(scope="module")
def engines(demo_store_path, demo_lake, spark_session, tmp_path_factory):
    """(duckdb, spark) workspaces on private copies of the same demo store."""
    from cdp_lib import schema
    from cdp_lib.lake import CANONICAL_TABLES, export_lake

    folder = tmp_path_factory.mktemp("parity")
    shutil.copyfile(demo_store_path, folder / "cdp.duckdb")
    duck = Workspace(folder / "cdp.duckdb")
    # Start both engines from the canonical tables only: results other tests stored in the shared
    # demo store (segment history, snapshots) would make the pipeline below refresh backwards.
    for name in duck.table_names():
        if name not in schema.ALL_TABLES:
            duck.duckdb.execute(f'DROP TABLE IF EXISTS "{name}"')
    export_lake(duck, folder / "lake", tables=list(CANONICAL_TABLES))
    spark = Workspace.from_spark(folder / "lake", session=spark_session)
    yield duck, spark
    duck.close()


@pytest.fixture(scope="module")
def with_rfm(engines):
    """Both workspaces after RFM snapshots at two dates (written back to the lake on Spark)."""
    from cdp_lib.rfm import RfmParams, save_rfm_snapshot, scored_rfm

    for ws in engines:
        for day in (EARLIER, AS_OF):
            table, _ = scored_rfm(ws, RfmParams(as_of=day))
            save_rfm_snapshot(ws, table, day)
    return engines


@pytest.fixture(scope="module")
def with_clv(with_rfm):
    from cdp_lib.clv import ClvParams, run_clv

    results = [run_clv(ws, ClvParams(as_of=AS_OF), store=True) for ws in with_rfm]
    return with_rfm, results


@pytest.fixture(scope="module")
def refreshed(with_clv):
    """Both workspaces after two segment refreshes (history with people joining and leaving)."""
    from cdp_lib.segments import refresh

    engines, _ = with_clv
    summaries = [[refresh(ws, as_of=day) for day in (EARLIER, AS_OF)] for ws in engines]
    return engines, summaries


def test_spark_workspace_reads_the_lake(engines):
    duck, spark = engines
    assert spark.backend_name == "pyspark"
    for name in ("profiles", "events", "catalog", "identities"):
        assert spark.table(name).count().execute() == duck.table(name).count().execute() > 0
    assert spark.events.timestamp.type().timezone == "UTC"


# -- RFM -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("as_of", [AS_OF, "2024-11-29"])
def test_rfm_scores_and_groups(engines, as_of):
    from cdp_lib.rfm import RfmParams, scored_rfm

    (want, wt), (got, gt) = (scored_rfm(ws, RfmParams(as_of=as_of)) for ws in engines)
    assert gt == wt
    assert_same(got, want, ["profile_id"], min_rows=500)


def test_rfm_with_lookback_and_quantiles(engines):
    from cdp_lib.rfm import RfmParams, rfm_table

    p = RfmParams(as_of=AS_OF, lookback_days=365, frequency_quantiles=(0.25, 0.8), monetary_quantiles=(0.5, 0.9))
    want, got = (rfm_table(ws, p) for ws in engines)
    assert_same(got, want, ["profile_id"], min_rows=500)


def test_rfm_change_distribution_transitions_and_medians(engines):
    from cdp_lib.rfm import RfmParams, rfm_change

    want, got = (rfm_change(ws, "2024-12-31", AS_OF, RfmParams(as_of=AS_OF)) for ws in engines)
    assert got.thresholds == want.thresholds
    assert_same(got.distribution, want.distribution, ["rfm_group"], min_rows=6)
    assert_same(got.transitions, want.transitions, ["from_group", "to_group"], min_rows=10)
    assert_same(got.medians, want.medians, ["as_of", "rfm_group"], min_rows=10)


def test_rfm_snapshots_and_profile_attributes_written_back(with_rfm):
    duck, spark = with_rfm
    assert spark.lake is not None and (spark.lake / "rfm_snapshots" / f"as_of={AS_OF}").is_dir()
    assert_same(spark.table("rfm_snapshots"), duck.table("rfm_snapshots"), ["as_of", "profile_id"], min_rows=1000)
    attrs = spark.table("rfm_profile_attributes")
    assert_same(attrs, duck.table("rfm_profile_attributes"), ["profile_id"], min_rows=500)
    # The lake now lists them: a new Spark workspace over the same folder sees them too.
    again = Workspace.from_spark(spark.lake, session=spark.spark)
    assert again.table("rfm_snapshots").count().execute() == duck.table("rfm_snapshots").count().execute()


# -- CLV -----------------------------------------------------------------------------------------
def test_clv_fit_and_predictions(with_clv):
    (duck, spark), (want, got) = with_clv
    assert got.transactions.params == pytest.approx(want.transactions.params, rel=RTOL)
    assert got.spend.params == pytest.approx(want.spend.params, rel=RTOL)
    assert got.report.n_customers == want.report.n_customers
    assert_same(got.predictions, want.predictions, ["profile_id"], min_rows=3000)
    assert_same(spark.table("clv_predictions"), duck.table("clv_predictions"), ["profile_id"], min_rows=3000)


# -- segments ------------------------------------------------------------------------------------
def all_members(ws, library) -> ir.Table:
    """Members of every library segment as one table (one query per engine, not one per segment)."""
    from cdp_lib.segments import members_table

    parts = [members_table(ws, d, AS_OF, library).select("profile_id", segment=ibis.literal(n))
             for n, d in sorted(library.items())]
    return ibis.union(*parts)


def test_every_library_segment_including_computed_attributes(with_clv):
    from cdp_lib.segments import DEFAULT_FOLDER, load_definition, load_library

    (duck, spark), _ = with_clv
    library = load_library()
    assert len(library) >= 20
    want = all_members(duck, library).execute()
    got = all_members(spark, library).execute()
    assert_same(got, want, ["segment", "profile_id"], min_rows=1000)
    # Segments on RFM and CLV attributes (computed tables written back to the lake) have members.
    computed = [load_definition(Path(DEFAULT_FOLDER) / f"{n}.yaml").name
                for n in ("churn_risk_rfm", "churn_risk_predicted", "low_predicted_clv", "next_order_14_days")]
    assert set(computed) <= set(library)
    assert want.segment.isin(computed).sum() > 0


def test_segment_refresh_history_written_back(refreshed):
    (duck, spark), (want, got) = refreshed
    for w, g in zip(want, got):
        assert_same(g.drop(columns="refreshed_at"), w.drop(columns="refreshed_at"), ["segment"], min_rows=20)
    assert_same(spark.table("segment_membership"), duck.table("segment_membership"),
                ["segment", "profile_id", "joined_at"], min_rows=1000)
    assert_same(spark.table("segment_refreshes").drop("refreshed_at"), duck.table("segment_refreshes").drop("refreshed_at"),
                ["segment", "as_of"], min_rows=40)
    assert_same(spark.table("segment_current"), duck.table("segment_current"), ["segment", "profile_id"], min_rows=500)
    left = duck.table("segment_membership")
    assert int(left.filter(left.left_at.notnull()).count().execute()) > 0  # people left between refreshes


def test_segment_lookup_and_changes(refreshed):
    from cdp_lib.segments import changes_table

    (duck, spark), _ = refreshed
    someone = duck.table("segment_current").limit(1).execute().profile_id.iloc[0]
    assert_same(spark.segments_for(someone), duck.segments_for(someone), ["segment"])
    assert_same(changes_table(spark), changes_table(duck), ["segment", "change", "profile_id"], min_rows=10)


# -- cohorts, audience, KPI, customer 360 ----------------------------------------------------
@pytest.mark.parametrize("period", ["month", "week"])
def test_cohorts(engines, period):
    from cdp_lib.cohorts import cohort_params, cohort_table

    p = cohort_params(period=period, from_date="2024-01-01")
    want, got = (cohort_table(ws, p) for ws in engines)
    assert_same(got, want, ["cohort", "period"], min_rows=50)


def test_cohorts_with_breakdown_and_return_metric(engines):
    from cdp_lib.cohorts import cohort_params, cohort_table

    p = cohort_params(return_metric="Viewed Product", period="month", breakdown="country")
    want, got = (cohort_table(ws, p) for ws in engines)
    assert_same(got, want, ["country", "cohort", "period"], min_rows=50)


def test_audience_performance_from_stored_history(refreshed):
    from cdp_lib.audience import audience_params, audience_performance_table

    (duck, spark), _ = refreshed
    p = audience_params(period="last_30_days", as_of=AS_OF)
    want, got = (audience_performance_table(ws, p) for ws in (duck, spark))
    assert_same(got, want, ["segment"], min_rows=20)


def test_kpi_overview_and_series(engines):
    from cdp_lib.kpi import kpi_overview, kpi_series

    want, got = (kpi_overview(ws, "2025-06-01", AS_OF) for ws in engines)
    assert_same(got, want, ["metric"], min_rows=5)
    want, got = (kpi_series(ws, "2025-04-01", AS_OF, freq="week") for ws in engines)
    assert_same(got, want, [c for c in want.columns if "day" in c or "period" in c or "start" in c][:1] or list(want.columns)[:1])


def test_customer_360(with_clv):
    from cdp_lib.customer360 import customer_360

    (duck, spark), _ = with_clv
    rich = duck.events.group_by("profile_id").agg(n=duck.events.count()).order_by(ibis.desc("n")).limit(3).execute()
    for pid in rich.profile_id:
        want, got = customer_360(duck, pid, AS_OF), customer_360(spark, pid, AS_OF)
        for field in ("last_purchase_channel", "preferred_channel", "orders", "usual_active_hour",
                      "expected_next_order_date", "churn_risk", "segments"):
            assert getattr(got, field) == getattr(want, field), field
        for field in ("revenue", "churn_probability", "predicted_clv"):
            assert getattr(got, field) == pytest.approx(getattr(want, field), rel=RTOL), field
        assert got.profile == want.profile
        for frame in ("recently_viewed", "recently_bought", "message_responses", "rfm_history"):
            w, g = getattr(want, frame), getattr(got, frame)
            assert_same(g, w, list(w.columns), min_rows=0)


# -- funnels -------------------------------------------------------------------------------------
FUNNELS = [
    dict(steps=["Viewed Product", "Added to Cart", "Placed Order"], window="7d"),
    dict(steps=["Viewed Product", "Added to Cart", "Started Checkout", "Placed Order"], window="2d",
         from_date="2025-01-01", to_date=AS_OF),
    dict(steps=["Viewed Product", "Placed Order"], window="30m"),
    dict(steps=["Viewed Product", "Added to Cart", "Placed Order"], window="14d", breakdown="country", top_n=3),
    dict(steps=["Viewed Product", "Added to Cart", "Placed Order"], window="14d",
         exclusions=[{"metric": "Cancelled Order", "after_step": 1, "before_step": 3}]),
]


@pytest.mark.parametrize("spec", FUNNELS, ids=lambda s: f"{len(s['steps'])}steps-{s['window']}")
def test_funnels(engines, spec):
    from cdp_lib.funnel import funnel_frame, funnel_params

    p = funnel_params(spec["steps"], spec["window"], spec.get("from_date"), spec.get("to_date"),
                      spec.get("breakdown"), spec.get("top_n", 10), spec.get("exclusions", []))
    want, got = (funnel_frame(ws, p) for ws in engines)
    keys = ([spec["breakdown"]] if spec.get("breakdown") else []) + ["step"]
    assert_same(got, want, keys, min_rows=2)


# Hand-built logs made to be hard (tests/test_funnel_reference.py): every step repeated on a
# coarse grid (ties everywhere), rows shuffled, event ids not following time, several entries per
# person, an exclusion, a breakdown folded to the top 2. Spark must give the brute-force
# reference's people and report, as DuckDB does (one lake, both matchers).
ADVERSARIAL = [
    (["A", "B", "C", "D"], "1h", 5, ("X", 1, 4), "country", True),
    (["A", "B(web)", "C"], "1d", 2, None, "channel", False),
    (["A", "B", "A"], "30m", 6, ("X", 2, 3), None, False),
    (["A(not POS)", "A", "B", "A"], "1h", 8, None, "country", False),
]


@pytest.fixture(scope="module")
def adversarial_log(spark_session, tmp_path_factory):
    """(rows, profiles, duckdb workspace, spark workspace) of one random hard log."""
    from test_funnel_reference import random_log

    from cdp_lib.lake import export_lake
    from cdp_lib.testing import workspace_from_frames

    rows, profiles = random_log(7, people=60, per_person=24, grid_s=1800, ticks=48)
    folder = tmp_path_factory.mktemp("funnel_log")
    duck = workspace_from_frames(str(folder / "cdp.duckdb"), profiles=pd.DataFrame(profiles), events=pd.DataFrame(rows))
    export_lake(duck, folder / "lake", tables=["profiles", "events"])
    yield rows, profiles, duck, Workspace.from_spark(folder / "lake", session=spark_session)
    duck.close()


@pytest.mark.parametrize(("steps", "grid", "window_ticks", "exclusion", "breakdown", "shared_chains"), ADVERSARIAL,
                         ids=lambda v: "-".join(v) if isinstance(v, list) else None)
def test_funnel_on_hard_logs_matches_the_reference(adversarial_log, steps, grid, window_ticks, exclusion, breakdown,
                                                    shared_chains):
    from test_funnel_reference import BASE, GRIDS, STEP_KINDS, reference
    from test_funnel_reference import assert_same as assert_reference

    from cdp_lib.funnel import funnel_frame, funnel_params, funnel_people_table

    rows, profiles, duck, spark = adversarial_log
    window_s = window_ticks * GRIDS[grid]
    start_day, end_day = BASE.date(), (BASE + pd.Timedelta(hours=12)).date()
    excl = [exclusion] if exclusion else []
    p = funnel_params([STEP_KINDS[s][0] for s in steps], f"{window_s // 60}m", str(start_day), str(end_day),
                      breakdown, 2, [{"metric": m, "after_step": a, "before_step": b} for m, a, b in excl])
    ref = reference(rows, profiles, steps, window_s, BASE, pd.Timestamp(end_day, tz="UTC") + pd.Timedelta(days=1),
                    excl, breakdown, 2)
    people = funnel_people_table(spark, p, metrics={}, shared_chains=shared_chains).execute()
    report = funnel_frame(spark, p, metrics={})
    assert_reference(people, report, ref, len(steps), breakdown)
    want = funnel_frame(duck, p, metrics={})
    assert_same(report, want, ([breakdown] if breakdown else []) + ["step"], min_rows=len(steps))
