"""Issue 10, class 6: Parquet types do not bend identifiers or let NaN / non-times through."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdp_lib.ingest import ingest_file, quarantine_table
from ingest_helpers import check_counts, rows, write


def test_float_ids_are_the_same_people_as_csv_text(tmp_ws, tmp_path):
    """The reproducer: float phone 15550102030.0 and external_id 123.0 (pandas writes float64
    whenever an id column has gaps) are the person CSV calls 123 / 15550102030."""
    ingest_file(tmp_ws, "profiles", write(tmp_path, "p.csv", "external_id,phone\n123,15550102030\n"))
    pq = tmp_path / "e.parquet"
    pd.DataFrame({"external_id": [123.0, np.nan], "phone": [np.nan, 15550102030.0], "metric": ["M", "M"],
                  "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True)}).to_parquet(pq)
    result = ingest_file(tmp_ws, "events", pq)
    check_counts(result)
    assert (result.loaded, result.new_profiles) == (2, 0)
    assert rows(tmp_ws, "SELECT external_id, phone FROM profiles") == [("123", "15550102030")]


def test_nan_inf_values_and_boolean_timestamps_are_quarantined_per_row(tmp_ws, tmp_path):
    # pyarrow with from_pandas=False stores a real NaN (pandas' NaN-for-missing becomes null,
    # which is missing, not refused).
    import pyarrow as pa
    import pyarrow.parquet as papq

    pq = tmp_path / "e.parquet"
    papq.write_table(pa.table({
        "email": ["a@x.com", "b@x.com", "c@x.com", "d@x.com", "n@x.com"], "metric": ["M"] * 5,
        "timestamp": ["2024-01-01"] * 5,
        "value": pa.array([np.nan, np.inf, -np.inf, 2.5, None], type=pa.float64(), from_pandas=False),
    }), pq)
    result = ingest_file(tmp_ws, "events", pq)
    check_counts(result)
    assert (result.loaded, result.quarantined) == (2, 3)
    bq = tmp_path / "b.parquet"
    pd.DataFrame({"email": ["e@x.com", "f@x.com"], "metric": ["M", "M"], "timestamp": [True, False]}).to_parquet(bq)
    result = ingest_file(tmp_ws, "events", bq)
    assert (result.loaded, result.quarantined) == (0, 2)
    assert quarantine_table(tmp_ws)["reason"].str.contains("is not a timestamp").sum() == 2


def test_integer_epoch_and_compact_dates_follow_the_text_rules(tmp_ws, tmp_path):
    pq = tmp_path / "e.parquet"
    pd.DataFrame({"email": ["a@x.com", "b@x.com", "c@x.com"], "metric": ["M"] * 3,
                  "timestamp": [1706700000, 20240131, 2024]}).to_parquet(pq)
    result = ingest_file(tmp_ws, "events", pq)
    assert (result.loaded, result.quarantined) == (2, 1)
    got = sorted(str(t)[:10] for (t,) in rows(tmp_ws, "SELECT timestamp FROM events"))
    assert got == ["2024-01-31", "2024-01-31"]


def test_custom_float_column_with_nan_is_quarantined(tmp_ws, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as papq

    pq = tmp_path / "c.parquet"
    papq.write_table(pa.table({"product_id": ["a", "b"],
                               "weight": pa.array([1.5, np.nan], from_pandas=False)}), pq)
    result = ingest_file(tmp_ws, "catalog", pq)
    check_counts(result)
    assert (result.loaded, result.quarantined) == (1, 1)


def test_rows_already_read_follow_the_parquet_rules(tmp_ws):
    """`ingest_rows`: the entry point for a DataFrame (warehouse import, transforms)."""
    from cdp_lib.ingest import ingest_rows

    frame = pd.DataFrame({"external_id": [123.0, 124.0], "metric": ["M", "M"],
                          "timestamp": pd.to_datetime(["2024-01-01", "1850-01-01"], utc=True),
                          "_line": ["a", "b"]})
    result = ingest_rows(tmp_ws, "events", frame, source="warehouse:orders")
    check_counts(result)
    assert (result.rows, result.loaded, result.quarantined) == (2, 1, 1)
    assert rows(tmp_ws, "SELECT file, file_sha256 FROM ingests") == [("warehouse:orders", None)]
    assert rows(tmp_ws, "SELECT line FROM events") == [("a",)]
    assert rows(tmp_ws, "SELECT value FROM identities WHERE kind = 'external_id'") == [("123",)]
