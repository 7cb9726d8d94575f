"""The backend seam: the same Ibis computations on DuckDB and on PySpark give identical results."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from cdp_lib import Workspace
from cdp_lib.orders import customer_orders_table

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def duck(demo_store_path):
    ws = Workspace(demo_store_path, read_only=True)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def spark_ws(duck, tmp_path_factory):
    """The demo store's canonical tables loaded into a local Spark session, one per module."""
    from pyspark.sql import SparkSession  # a test dependency (pyproject [test]), not a core one

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("cdp-parity")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .getOrCreate()
    )
    # Temporary views over in-memory frames: nothing is written to disk.
    for name in ("profiles", "events", "catalog"):
        spark.createDataFrame(duck.table(name).to_pandas()).createOrReplaceTempView(name)
    con = ibis.pyspark.connect(spark)
    yield Workspace.from_ibis(con)
    spark.stop()


def normalised(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sorted rows, UTC timestamps, plain dtypes: the form in which two backends can be compared."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            ts = pd.to_datetime(out[col])
            out[col] = (ts.dt.tz_convert("UTC") if ts.dt.tz is not None else ts.dt.tz_localize("UTC")).astype(
                "datetime64[us, UTC]")
        elif pd.api.types.is_integer_dtype(out[col]):
            out[col] = out[col].astype("int64")
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].astype("float64")
    return out.sort_values(keys).reset_index(drop=True)[sorted(out.columns)]


def events_per_metric_per_day(ws: Workspace) -> ibis.Table:
    ev = ws.events
    return ev.group_by(metric=ev.metric, day=ev.timestamp.date()).aggregate(
        events=ev.count(), people=ev.profile_id.nunique(), value=ev.value.sum()
    )


def test_backend_is_really_spark(spark_ws):
    assert spark_ws.backend_name == "pyspark"
    assert spark_ws.events.count().execute() > 100_000


@pytest.mark.parametrize("as_of", ["2025-06-30", "2024-11-29"])
def test_customer_orders_table_is_identical_on_duckdb_and_spark(duck, spark_ws, as_of):
    want = normalised(customer_orders_table(duck, as_of=as_of).execute(), ["profile_id"])
    got = normalised(customer_orders_table(spark_ws, as_of=as_of).execute(), ["profile_id"])
    assert len(want) > 500
    pd.testing.assert_frame_equal(got[["profile_id", "orders", "first_order_at", "last_order_at"]],
                                  want[["profile_id", "orders", "first_order_at", "last_order_at"]])
    # Sums of floats may be added in another order by another engine: equal to the cent.
    pd.testing.assert_series_equal(got.revenue, want.revenue, rtol=0, atol=1e-6)


def test_events_per_metric_per_day_is_identical_on_duckdb_and_spark(duck, spark_ws):
    keys = ["metric", "day"]
    want = normalised(events_per_metric_per_day(duck).execute(), keys)
    got = normalised(events_per_metric_per_day(spark_ws).execute(), keys)
    assert len(want) > 5_000
    pd.testing.assert_frame_equal(got.drop(columns="value"), want.drop(columns="value"), check_dtype=False)
    pd.testing.assert_series_equal(got.value, want.value, rtol=0, atol=1e-6)
