"""Segment history (entered/left, sizes, joined_at, lookup), samples, overlap, exports and CLI."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from cdp_lib.cli import main
from cdp_lib.errors import InputError, NotComputedError
from cdp_lib.segments import (
    changes_table, current_members, export_ad_audience, export_csv, load_library, members_at,
    overlap_table, refresh, sample, sizes_table, split,
)
from cdp_lib.segments.export import normalise_phone
from cdp_lib.testing import workspace_from_frames

PROFILES = pd.DataFrame({
    "profile_id": ["a", "b", "c", "d"],
    "external_id": ["X1", "X2", "X3", "X4"],
    "email": [" Ann@Example.COM ", "bob@example.com", None, "dee@example.com"],
    "phone": ["(617) 555-0101", None, "+44 20 7946 0958", "0044 20 7946 0959"],
    "first_name": ["Ann", "Bob", "Cid", "Dee"],
    "email_consent": [True, True, False, True],
})
EVENTS = pd.DataFrame({
    "event_id": ["1", "2", "3", "4"],
    "profile_id": ["a", "b", "c", "a"],
    "metric": ["Placed Order"] * 4,
    "timestamp": ["2025-06-01T10:00:00Z", "2025-06-10T10:00:00Z", "2025-06-20T10:00:00Z", "2025-06-25T10:00:00Z"],
    "value": [10.0, 20.0, 30.0, 40.0],
})
CLV = pd.DataFrame({"profile_id": ["a", "b", "c", "d"], "predicted_clv": [100.0, 2.5, 40.0, 0.0],
                    "historic_clv": [50.0, 20.0, 30.0, 0.0]})

RECENT = "name: Recent buyers\ndescription: ordered in the last 7 days\nconditions:\n  - {metric: Placed Order, when: {in_last: 7d}}\n"
REACHABLE = ("name: Reachable recent buyers\ndescription: recent buyers we may email\nconditions:\n"
             "  - {in_segment: Recent buyers}\n  - {can_receive: email}\n")


@pytest.fixture
def setup(tmp_path):
    folder = tmp_path / "segments"
    folder.mkdir()
    (folder / "recent.yaml").write_text(RECENT)
    (folder / "reachable.yaml").write_text(REACHABLE)
    db = tmp_path / "cdp.duckdb"
    ws = workspace_from_frames(str(db), profiles=PROFILES, events=EVENTS)
    ws.write_table("clv_predictions", CLV)
    yield ws, folder, db
    ws.close()


def _spells(ws):
    t = ws.table("segment_membership").execute().sort_values(["segment", "profile_id", "joined_at"])
    return [(r.segment, r.profile_id, str(r.joined_at.date()), None if pd.isna(r.left_at) else str(r.left_at.date()))
            for r in t.itertuples()]


def test_refresh_records_entered_left_sizes_and_joined_at(setup):
    ws, folder, _ = setup
    first = refresh(ws, folder, as_of="2025-06-05")
    assert first[["segment", "members", "entered", "left"]].values.tolist() == [
        ["Recent buyers", 1, 1, 0], ["Reachable recent buyers", 1, 1, 0]]  # dependency order
    second = refresh(ws, folder, as_of="2025-06-12").set_index("segment")
    assert second.loc["Recent buyers", ["members", "entered", "left"]].tolist() == [1, 1, 1]  # b in, a out
    third = refresh(ws, folder, as_of="2025-06-26").set_index("segment")
    assert third.loc["Recent buyers", ["members", "entered", "left"]].tolist() == [2, 2, 1]  # a, c in; b out
    assert third.loc["Reachable recent buyers", ["members", "entered", "left"]].tolist() == [1, 1, 1]  # c cannot be emailed
    assert _spells(ws) == [
        ("Reachable recent buyers", "a", "2025-06-05", "2025-06-12"),
        ("Reachable recent buyers", "a", "2025-06-26", None),
        ("Reachable recent buyers", "b", "2025-06-12", "2025-06-26"),
        ("Recent buyers", "a", "2025-06-05", "2025-06-12"),
        ("Recent buyers", "a", "2025-06-26", None),
        ("Recent buyers", "b", "2025-06-12", "2025-06-26"),
        ("Recent buyers", "c", "2025-06-26", None),
    ]
    # spells are stamped with the as-of moment: the end of the as-of date
    joined = ws.table("segment_membership").joined_at.max().execute()
    assert pd.Timestamp(joined) == pd.Timestamp("2025-06-26T23:59:59.999999Z")
    sizes = sizes_table(ws, ["Recent buyers"]).execute()
    assert sizes["members"].tolist() == [1, 1, 2]
    changes = changes_table(ws, "Recent buyers").execute()
    assert sorted(zip(changes.profile_id, changes.change)) == [("a", "entered"), ("b", "left"), ("c", "entered")]
    assert sorted(current_members(ws, "Recent buyers").execute().profile_id) == ["a", "c"]
    assert sorted(members_at(ws, "Recent buyers", "2025-06-15").execute().profile_id) == ["b"]
    # history only moves forward
    with pytest.raises(InputError, match="history only moves forward"):
        refresh(ws, folder, as_of="2025-06-20")


def test_refresh_with_a_bad_definition_writes_nothing(setup):
    ws, folder, _ = setup
    (folder / "broken.yaml").write_text("name: Broken\nconditions:\n  - {metric: Placed Ordr}\n")
    with pytest.raises(InputError, match=r"broken\.yaml, line 3: conditions\[0\]\.metric: unknown metric 'Placed Ordr'"):
        refresh(ws, folder, as_of="2025-06-05")
    assert not ws.has_table("segment_membership") or ws.table("segment_membership").count().execute() == 0


def test_lookup_by_profile_id_and_email(setup):
    ws, folder, _ = setup
    with pytest.raises(NotComputedError, match="run 'cdp segment refresh' first"):
        ws.segments_for("a")
    refresh(ws, folder, as_of="2025-06-26")
    found = ws.segments_for("a")
    assert found["segment"].tolist() == ["Reachable recent buyers", "Recent buyers"]
    assert found["joined_at"].iloc[0] == pd.Timestamp("2025-06-26T23:59:59.999999Z")
    assert ws.segments_for("ANN@example.com ")["segment"].tolist() == found["segment"].tolist()
    assert ws.segments_for("b").empty


def test_samples_same_seed_same_split_and_stored_as_segments(tmp_path):
    people = pd.DataFrame({"profile_id": [f"p{i:03d}" for i in range(200)]})
    ws = workspace_from_frames(profiles=people)
    members = ws.profiles.select("profile_id")
    t1, c1 = (set(x.execute().profile_id) for x in split(members, fraction=0.1, seed=7))
    t2, c2 = (set(x.execute().profile_id) for x in split(members, fraction=0.1, seed=7))
    t3, _ = (set(x.execute().profile_id) for x in split(members, fraction=0.1, seed=8))
    assert t1 == t2 and c1 == c2 and len(t1) == 20 and len(c1) == 180
    assert t1.isdisjoint(c1) and t1 | c1 == set(people.profile_id)
    assert t3 != t1
    # the order is the SHA-256 of "seed:profile_id", independent of the engine's row order
    expected = sorted(people.profile_id, key=lambda p: (hashlib.sha256(f"7:{p}".encode()).hexdigest(), p))[:20]
    assert t1 == set(expected)
    ts, _ = (set(x.execute().profile_id) for x in split(members, size=5, seed=7))
    assert ts == set(expected[:5])
    with pytest.raises(InputError, match="exactly one of fraction"):
        split(members, fraction=0.1, size=3)


def test_sample_of_a_refreshed_segment_is_usable_in_conditions(setup):
    ws, folder, _ = setup
    refresh(ws, folder, as_of="2025-06-26")
    out = sample(ws, "Recent buyers", size=1, seed=3).set_index("segment")
    assert out["members"].to_dict() == {"Recent buyers — test": 1, "Recent buyers — control": 1}
    again = sample(ws, "Recent buyers", size=1, seed=3).set_index("segment")
    assert again["entered"].sum() == 0 and again["left"].sum() == 0  # same seed: nothing moves
    test = set(current_members(ws, "Recent buyers — test").execute().profile_id)
    from cdp_lib.segments import load_definition, members_table

    d = load_definition({"name": "Holdout", "conditions": [{"in_segment": "Recent buyers — control"}]})
    control = set(members_table(ws, d, "2025-06-26", load_library(folder)).execute().profile_id)
    assert test | control == {"a", "c"} and not test & control
    matrix = overlap_table(ws, ["Recent buyers", "Recent buyers — test", "Reachable recent buyers"])
    assert matrix.loc["Recent buyers", "Recent buyers"] == 2
    assert matrix.loc["Recent buyers", "Recent buyers — test"] == 1
    assert matrix.loc["Recent buyers", "Reachable recent buyers"] == 1
    assert (matrix.values == matrix.values.T).all()


def test_csv_export_with_clv_fields(setup, tmp_path):
    ws, folder, _ = setup
    refresh(ws, folder, as_of="2025-06-26")
    out = tmp_path / "recent.csv"
    assert export_csv(ws, "Recent buyers", out, ["email", "first_name", "predicted_clv"]) == 2
    df = pd.read_csv(out)
    assert df.columns.tolist() == ["email", "first_name", "predicted_clv"]
    assert df["first_name"].tolist() == ["Ann", "Cid"] and df["predicted_clv"].sum() == 140.0
    with pytest.raises(InputError, match="unknown field 'predicted_cvl'; did you mean 'predicted_clv'"):
        export_csv(ws, "Recent buyers", out, ["predicted_cvl"])


def test_phone_normalisation_to_e164():
    assert normalise_phone("(617) 555-0101") == "+16175550101"
    assert normalise_phone("1-617-555-0101") == "+16175550101"
    assert normalise_phone("+44 20 7946 0958") == "+442079460958"
    assert normalise_phone("0044 20 7946 0958") == "+442079460958"
    assert normalise_phone("020 7946 0958", default_country_code="44") == "+442079460958"
    assert normalise_phone("12") is None and normalise_phone(None) is None


def test_ad_audience_export_is_hashed_with_no_raw_pii(setup, tmp_path):
    ws, folder, _ = setup
    refresh(ws, folder, as_of="2025-06-26")
    out = tmp_path / "audience.csv"
    assert export_ad_audience(ws, "Recent buyers", out) == 2
    text = out.read_text()
    for raw in ("ann", "Ann", "example", "617", "7946", "@"):
        assert raw not in text
    df = pd.read_csv(out)
    sha = lambda s: hashlib.sha256(s.encode()).hexdigest()  # noqa: E731
    assert df.columns.tolist() == ["email_sha256", "phone_sha256"]
    rows = set(zip(df.email_sha256.fillna(""), df.phone_sha256))
    assert rows == {(sha("ann@example.com"), sha("+16175550101")), ("", sha("+442079460958"))}


def test_cli_run_refresh_list_lookup_history_export(setup, tmp_path, capsys):
    ws, folder, db = setup
    ws.close()
    base = ["--db", str(db), "segment"]
    out = tmp_path / "members.csv"
    assert main([*base, "run", str(folder / "recent.yaml"), "--as-of", "2025-06-26", "--out", str(out)]) == 0
    assert pd.read_csv(out).columns.tolist() == ["profile_id", "external_id", "email"]
    assert sorted(pd.read_csv(out).profile_id) == ["a", "c"]
    assert main([*base, "refresh", "--folder", str(folder), "--as-of", "2025-06-26"]) == 0
    assert main([*base, "list", "--folder", str(folder)]) == 0
    assert main([*base, "lookup", "a"]) == 0
    assert main([*base, "history", "Recent buyers"]) == 0
    assert main([*base, "sample", "Recent buyers", "--size", "1", "--seed", "1", "--folder", str(folder)]) == 0
    assert main([*base, "overlap", "Recent buyers", "Reachable recent buyers", "--folder", str(folder)]) == 0
    assert main([*base, "export", "Recent buyers", "--ad-audience", "--out", str(tmp_path / "a.csv")]) == 0
    printed = capsys.readouterr().out
    assert "Recent buyers" in printed and "2 members written" in printed
    assert main([*base, "run", "Recent buyer", "--folder", str(folder)]) == 2
    assert "did you mean 'Recent buyers'" in capsys.readouterr().err
