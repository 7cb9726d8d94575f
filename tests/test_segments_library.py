"""The shipped segment library on the demo store: every definition has members."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from cdp_lib import Workspace
from cdp_lib.cli import main
from cdp_lib.segments import DEFAULT_FOLDER, current_members, load_library, refresh

END = "2025-06-30"  # the demo fixture's end date


@pytest.fixture(scope="module")
def scored_demo(demo_store_path, tmp_path_factory):
    """The demo store with RFM (two runs, so groups have a previous value) and CLV computed."""
    db = tmp_path_factory.mktemp("segments_demo") / "cdp.duckdb"
    shutil.copyfile(demo_store_path, db)
    for args in (["rfm", "--as-of", "2025-03-31"], ["rfm", "--as-of", END], ["clv", "--as-of", END]):
        assert main(["--db", str(db), *args]) == 0, args
    return db


@pytest.mark.slow
def test_every_shipped_segment_has_members_on_the_demo_store(scored_demo, demo_store_files, tmp_path):
    library = load_library(DEFAULT_FOLDER)
    assert len(library) >= 20
    assert all(d.description for d in library.values())
    shutil.copyfile(scored_demo, tmp_path / "cdp.duckdb")  # the fixture stays without history
    ws = Workspace(tmp_path / "cdp.duckdb")
    try:
        summary = refresh(ws, DEFAULT_FOLDER, as_of=END).set_index("segment")
        assert set(summary.index) == set(library)
        empty = summary[summary["members"] == 0].index.tolist()
        assert empty == [], f"segments without members on the demo store: {empty}"
        # the generator's ground truth: persistent soft bouncers are the ones the segment finds
        truth = pd.read_parquet(demo_store_files / "truth.parquet", columns=["email", "persistent_soft_bounce"])
        bouncers = set(truth.loc[truth["persistent_soft_bounce"], "email"].str.strip().str.lower())
        members = current_members(ws, "Persistent soft bounces")
        p = ws.profiles
        emails = set(p.filter(p.profile_id.isin(members.profile_id)).email.execute().str.strip().str.lower())
        assert emails and emails <= bouncers
        # a refresh builds on the VIP segment for 'VIP reachable by email'
        assert summary.loc["VIP reachable by email", "members"] <= summary.loc["VIP", "members"]
        assert not ws.segments_for(members.execute().profile_id.iloc[0]).empty
    finally:
        ws.close()


@pytest.mark.notebook
@pytest.mark.slow
def test_segmentation_notebook_refreshes_and_reports(scored_demo, tmp_path):
    import papermill as pm

    db = tmp_path / "cdp.duckdb"
    shutil.copyfile(scored_demo, db)
    out_dir = tmp_path / "report"
    chosen = ["VIP", "VIP reachable by email", "Engaged 30 days", "Churn risk (RFM)"]
    for day in ("2025-06-23", END):  # two refreshes: a trend and entered/left
        pm.execute_notebook("notebooks/segmentation.ipynb", tmp_path / "out.ipynb", kernel_name="python3",
                            parameters={"db": str(db), "as_of": day, "segments": chosen, "output_dir": str(out_dir)})
    latest = pd.read_csv(out_dir / "latest_refresh.csv").set_index("segment")
    assert set(latest.index) == set(chosen)
    assert (latest["entered"] + latest["left"]).sum() > 0
    overlap = pd.read_csv(out_dir / "overlap.csv", index_col=0)
    assert overlap.loc["VIP", "VIP reachable by email"] == overlap.loc["VIP reachable by email", "VIP reachable by email"]
    profiles = pd.read_csv(out_dir / "profiles.csv").set_index("segment")
    assert profiles.loc["VIP", "predicted_clv_next_year"] > 0
    assert (out_dir / "exports" / "vip.csv").exists() and (out_dir / "overlap.png").exists()


def test_no_shipped_definition_is_fixed_to_a_calendar_date():
    for d in load_library(DEFAULT_FOLDER).values():
        for c in d.iter_conditions():
            when = c.get("when", {"kind": "all_time"})
            assert when["kind"] not in ("before", "after", "between"), f"{d.name} is fixed to dates: {when}"
            assert not any(isinstance(w.get("value"), (pd.Timestamp,)) for w in c.get("where", []))


@pytest.mark.slow
def test_holiday_shoppers_stays_meaningful_on_a_store_of_another_year(tmp_path):
    """A store ending 2026-12-01: the shipped 'Holiday shoppers' finds the people who ordered on
    Black Friday - Cyber Monday 2026 (27-30 Nov), counted here with a plain loop over the file."""
    from cdp_lib.demodata import generate_store
    from cdp_lib.ingest import ingest_file
    from cdp_lib.segments import members_table

    generate_store(tmp_path / "store", 1_500, seed=11, end_date="2026-12-01")
    ws = Workspace(tmp_path / "cdp.duckdb")
    try:
        for table in ("catalog", "profiles", "events"):
            ingest_file(ws, table, tmp_path / "store" / f"{table}.parquet")
        library = load_library(DEFAULT_FOLDER)
        got = members_table(ws, library["Holiday shoppers"], "2026-12-01", library)
        got_emails = set(ws.profiles.filter(ws.profiles.profile_id.isin(got.profile_id)).email.execute()
                         .str.strip().str.lower())
    finally:
        ws.close()
    events = pd.read_parquet(tmp_path / "store" / "events.parquet", columns=["metric", "timestamp", "email", "phone"])
    lo, hi = pd.Timestamp("2026-11-27", tz="UTC"), pd.Timestamp("2026-12-01", tz="UTC")
    want = set()
    for row in events.itertuples():
        if row.metric == "Placed Order" and lo <= row.timestamp < hi and isinstance(row.email, str):
            want.add(row.email.strip().lower())
    assert len(want) > 20
    assert want <= got_emails  # orders identified by phone only add members, never remove them
