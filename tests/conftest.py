"""Shared fixtures: throwaway workspaces. Randomness is seeded inside each test."""

from __future__ import annotations

import pytest

from cdp_lib import Workspace


@pytest.fixture
def tmp_ws(tmp_path):
    """An empty workspace file in a temporary folder."""
    ws = Workspace(tmp_path / "cdp.duckdb")
    yield ws
    ws.close()


# -- demo data fixtures (owned by the demo-data engineer) ---------------------------------------
# Built once per test session through the real ingest path; tests get their own copy to write.
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

DEMO_PROFILES = 3_000
DEMO_SEED = 42
DEMO_END_DATE = "2025-06-30"


def _ingest_into(db_path: Path, files: list[tuple[str, Path]]) -> Path:
    """Ingest `(table, file)` pairs into a new workspace file, close it and return its path."""
    from cdp_lib.ingest import ingest_file

    ws = Workspace(db_path)
    try:
        for table, path in files:
            result = ingest_file(ws, table, path)
            assert result.quarantined == 0, f"demo fixture: {path} quarantined {result.quarantined} rows"
    finally:
        ws.close()
    return db_path


def _copy_ws(src: Path, tmp_path: Path):
    dst = tmp_path / "cdp.duckdb"
    shutil.copyfile(src, dst)
    return Workspace(dst)


@pytest.fixture(scope="session")
def demo_store_files(tmp_path_factory) -> Path:
    """Folder with the demo store's files (3,000 people, seed 42, history ending 2025-06-30):
    profiles/events/catalog.parquet and the ground truth truth.parquet."""
    from cdp_lib.demodata import generate_store

    out = tmp_path_factory.mktemp("demo_store")
    generate_store(out, DEMO_PROFILES, seed=DEMO_SEED, end_date=DEMO_END_DATE)
    return out


@pytest.fixture(scope="session")
def demo_store_path(demo_store_files, tmp_path_factory) -> Path:
    """DuckDB file with the demo store ingested (catalog, profiles, events). Read-only use:
    open it with `Workspace(path, read_only=True)` or copy it first (see `demo_ws`)."""
    db = tmp_path_factory.mktemp("demo_db") / "cdp.duckdb"
    return _ingest_into(db, [(t, demo_store_files / f"{t}.parquet") for t in ("catalog", "profiles", "events")])


@pytest.fixture
def demo_ws(demo_store_path, tmp_path):
    """A writable Workspace on a private copy of the ingested demo store."""
    ws = _copy_ws(demo_store_path, tmp_path)
    yield ws
    ws.close()


def _cdnow_db(tmp_path_factory, sample: bool) -> Path:
    from cdp_lib.demodata import write_cdnow

    folder = tmp_path_factory.mktemp("cdnow_sample" if sample else "cdnow")
    files = write_cdnow(folder, sample=sample)
    return _ingest_into(folder / "cdp.duckdb", [("profiles", files["profiles"]), ("events", files["events"])])


@pytest.fixture(scope="session")
def cdnow_sample_path(tmp_path_factory) -> Path:
    """DuckDB file with the CDNOW 1/10 sample ingested (2,357 customers, 6,919 orders;
    external_id = the sample's customer number 1..2357). Copy it before writing."""
    return _cdnow_db(tmp_path_factory, sample=True)


@pytest.fixture
def cdnow_sample_ws(cdnow_sample_path, tmp_path):
    """A writable Workspace on a private copy of the ingested CDNOW 1/10 sample."""
    ws = _copy_ws(cdnow_sample_path, tmp_path)
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def cdnow_path(tmp_path_factory) -> Path:
    """DuckDB file with the full CDNOW master log ingested (23,570 customers, 69,659 orders).
    Copy it before writing."""
    return _cdnow_db(tmp_path_factory, sample=False)


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (no browser download; `make test` installs it)."""
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        # Loud on purpose: a missing browser must not turn into a silently green run.
        pytest.fail(f"{CHROMIUM} is missing: run 'make browser' (apt-get install chromium) to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
        )
        yield b
        b.close()


# -- Spark (owned by the Spark-engine engineer) ------------------------------------------------
# One local Spark session per test session: starting the JVM costs tens of seconds.
@pytest.fixture(scope="session")
def spark_session(tmp_path_factory):
    """A local Spark session (2 cores, small shuffles), shared by every Spark test."""
    from pyspark.sql import SparkSession  # a test dependency (pyproject [test]), not a core one

    from cdp_lib.lake.spark import configure

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("cdp-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "100000")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    yield configure(spark)
    spark.stop()


@pytest.fixture(scope="session")
def demo_lake(demo_store_path, tmp_path_factory) -> Path:
    """The demo store exported to a lake folder (read-only use; copy it before writing)."""
    from cdp_lib.lake import export_lake

    lake = tmp_path_factory.mktemp("demo_lake") / "lake"
    with Workspace(demo_store_path, read_only=True) as ws:
        export_lake(ws, lake)
    return lake
