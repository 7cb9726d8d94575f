"""Identity resolution: normalisation, chains, conflicts, merges and stable ids."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_lib import Workspace
from cdp_lib.identity import email_sql, generated_profile_id, phone_sql
from cdp_lib.ingest import ingest_file


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rows(ws: Workspace, sql: str) -> list[tuple]:
    return ws.duckdb.execute(sql).fetchall()


@pytest.mark.parametrize("raw, expected", [
    ("+1 (555) 010-2030", "+15550102030"),
    ("0044 20 7946 0000", "+442079460000"),
    ("555-0102", "5550102"),
    (" +33 6 12 34 56 78 ", "+33612345678"),
    ("N/A", None),
])
def test_phone_normalisation(raw, expected):
    assert duckdb.sql(f"SELECT {phone_sql('x')} FROM (SELECT ? AS x)", params=[raw]).fetchone()[0] == expected


def test_email_normalisation():
    assert duckdb.execute(f"SELECT {email_sql('x')} FROM (SELECT ' Ann.Lee@Example.COM ' AS x)").fetchone()[0] == "ann.lee@example.com"


def test_generated_ids_are_stable_and_match_the_engine(tmp_ws, tmp_path):
    ingest_file(tmp_ws, "profiles", write(tmp_path, "p.csv", "customer_id,email\nc9,z@x.com\n,solo@x.com\n"))
    got = sorted(r[0] for r in rows(tmp_ws, "SELECT profile_id FROM profiles"))
    # Named after the first identifier: external_id before email.
    assert got == sorted([generated_profile_id("external_id", "c9"), generated_profile_id("email", "solo@x.com")])
    assert generated_profile_id("email", "solo@x.com") == "p-" + __import__("hashlib").sha256(b"email:solo@x.com").hexdigest()[:16]


def test_chain_of_shared_identifiers_is_one_person(tmp_ws, tmp_path):
    # A-B share an email, B-C share a phone, C-D share an external id: all one person.
    text = ("customer_id,email,phone,first_name\n"
            ",a@x.com,,Ann\n"
            ",a@x.com,+1 555 0100,\n"
            "c7,,+15550100,\n"
            "c7,,,\n"
            ",other@x.com,,Bob\n")
    result = ingest_file(tmp_ws, "profiles", write(tmp_path, "p.csv", text))
    assert (result.loaded, result.new_profiles, result.merges) == (5, 2, 0)
    ann = rows(tmp_ws, "SELECT external_id, email, phone, first_name FROM profiles WHERE first_name = 'Ann'")
    assert ann == [("c7", "a@x.com", "+15550100", "Ann")]
    kinds = rows(tmp_ws, "SELECT kind, value FROM identities i JOIN profiles p USING (profile_id) WHERE p.first_name = 'Ann' ORDER BY 1, 2")
    assert [(k, v) for k, v in kinds if k != "profile_id"] == [("email", "a@x.com"), ("external_id", "c7"), ("phone", "+15550100")]


def _two_profiles(tmp_ws, tmp_path):
    text = ("customer_id,email,phone,first_name,city,created_at,tier\n"
            "c1,a@x.com,,Ann,,2021-05-01,\n"
            "c2,,+15550100,,Lyon,2020-01-01,gold\n")
    ingest_file(tmp_ws, "profiles", write(tmp_path, "p.csv", text))
    ids = dict(rows(tmp_ws, "SELECT external_id, profile_id FROM profiles"))
    ingest_file(tmp_ws, "events", write(tmp_path, "e0.csv", "customer_id,metric,timestamp\nc1,Viewed Product,2024-01-01\nc2,Viewed Product,2024-01-02\n"))
    return ids["c1"], ids["c2"]


def test_record_linking_two_profiles_merges_them_into_the_earliest_created(tmp_ws, tmp_path):
    p1, p2 = _two_profiles(tmp_ws, tmp_path)
    # One event carries c1's email and c2's phone: a conflict that proves they are one person.
    result = ingest_file(tmp_ws, "events", write(tmp_path, "e1.csv", "email,phone,metric,timestamp\na@x.com,+1 555 0100,Placed Order,2024-02-01\n"))
    assert (result.loaded, result.merges, result.new_profiles) == (1, 1, 0)
    # Survivor: c2's profile, created in 2020 before c1's (2021).
    assert rows(tmp_ws, "SELECT merged_profile_id, into_profile_id, via_kind, via_value FROM merges") == [(p1, p2, "email", "a@x.com")]
    # Attributes combined: the survivor's values win, the merged profile fills the gaps.
    assert rows(tmp_ws, "SELECT profile_id, external_id, email, phone, first_name, city, tier FROM profiles") == [
        (p2, "c2", "a@x.com", "+15550100", "Ann", "Lyon", "gold")]
    # Every event (old and new) now belongs to the survivor; every identifier is kept.
    assert rows(tmp_ws, "SELECT DISTINCT profile_id FROM events") == [(p2,)]
    assert rows(tmp_ws, "SELECT count(*) FROM events") == [(3,)]
    ident = rows(tmp_ws, "SELECT kind, value, profile_id FROM identities ORDER BY 1, 2")
    assert ident == sorted([("email", "a@x.com", p2), ("external_id", "c1", p2), ("external_id", "c2", p2),
                            ("phone", "+15550100", p2), ("profile_id", p1, p2), ("profile_id", p2, p2)])


def test_merged_profile_id_still_resolves_to_the_survivor(tmp_ws, tmp_path):
    p1, p2 = _two_profiles(tmp_ws, tmp_path)
    ingest_file(tmp_ws, "events", write(tmp_path, "e1.csv", "customer_id,email,metric,timestamp\nc2,a@x.com,M,2024-02-01\n"))
    result = ingest_file(tmp_ws, "events", write(tmp_path, "e2.csv", f"profile_id,metric,timestamp\n{p1},M,2024-03-01\n"))
    assert (result.loaded, result.new_profiles, result.merges) == (1, 0, 0)
    assert rows(tmp_ws, "SELECT DISTINCT profile_id FROM events") == [(p2,)]


def test_ties_on_creation_date_go_to_the_smallest_id(tmp_ws, tmp_path):
    ingest_file(tmp_ws, "profiles", write(tmp_path, "p.csv", "profile_id,email\nP-b,b@x.com\nP-a,a@x.com\n"))
    result = ingest_file(tmp_ws, "profiles", write(tmp_path, "p2.csv", "email,phone\na@x.com,+4415550\nb@x.com,+4415550\n"))
    assert result.merges == 1
    assert rows(tmp_ws, "SELECT merged_profile_id, into_profile_id FROM merges") == [("P-b", "P-a")]


def test_supplied_profile_ids_are_kept_and_events_create_bare_profiles(tmp_ws, tmp_path):
    result = ingest_file(tmp_ws, "events", write(tmp_path, "e.csv", "profile_id,metric,timestamp\nP1,M,2024-01-01\nP2,M,2024-01-02\nP1,N,2024-01-03\n"))
    assert (result.loaded, result.new_profiles) == (3, 2)
    assert rows(tmp_ws, "SELECT profile_id FROM profiles ORDER BY 1") == [("P1",), ("P2",)]


def test_a_three_way_merge_in_one_record(tmp_ws, tmp_path):
    ingest_file(tmp_ws, "profiles", write(tmp_path, "p.csv", "customer_id,email,phone,created_at\nc1,,,2022-01-01\n,a@x.com,,2021-01-01\n,,+15550100,\n"))
    result = ingest_file(tmp_ws, "events", write(tmp_path, "e.csv", "customer_id,email,phone,metric,timestamp\nc1,a@x.com,+15550100,M,2024-01-01\n"))
    assert (result.merges, result.new_profiles) == (2, 0)
    survivor = rows(tmp_ws, "SELECT profile_id, external_id, email, phone FROM profiles")
    assert survivor == [(generated_profile_id("email", "a@x.com"), "c1", "a@x.com", "+15550100")]
    assert rows(tmp_ws, "SELECT count(DISTINCT into_profile_id), count(*) FROM merges") == [(1, 2)]


# -- property: profiles are the connected components of shared identifiers -----------------------
def _components(records: list[tuple]) -> int:
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, rec in enumerate(records):
        ids = [(k, v) for k, v in zip(("e", "m", "p"), rec) if v is not None]
        for ident in ids:
            parent[find(("r", i))] = find(ident)
    return len({find(("r", i)) for i in range(len(records))})


record = st.tuples(
    st.sampled_from([None, "c1", "c2", "c3"]),
    st.sampled_from([None, "a@x.com", "b@x.com", "c@x.com"]),
    st.sampled_from([None, "+1555001", "+1555002"]),
).filter(lambda r: any(v is not None for v in r))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.lists(record, min_size=1, max_size=6), second=st.lists(record, min_size=1, max_size=6))
def test_profiles_equal_components_of_shared_identifiers(tmp_path_factory, first, second):
    """Two files ingested one after the other give one profile per connected component."""
    tmp = tmp_path_factory.mktemp("prop")
    with Workspace(tmp / "ws.duckdb") as ws:
        for name, recs in (("a.csv", first), ("b.csv", second)):
            df = pd.DataFrame(recs, columns=["external_id", "email", "phone"])
            df.to_csv(tmp / name, index=False)
            result = ingest_file(ws, "profiles", tmp / name)
            assert result.rows == result.loaded + result.duplicates + result.quarantined == len(recs)
        everything = first + second
        assert rows(ws, "SELECT count(*) FROM profiles")[0][0] == _components(everything)
        # Every identifier seen points at exactly one existing profile.
        assert rows(ws, "SELECT count(*) FROM identities WHERE profile_id NOT IN (SELECT profile_id FROM profiles)") == [(0,)]
        assert rows(ws, "SELECT count(*) - count(DISTINCT (kind, value)) FROM identities") == [(0,)]
        n_ids = len({(k, v) for rec in everything for k, v in zip(("x", "e", "p"), rec) if v is not None})
        n_profiles_ever = rows(ws, "SELECT count(*) FROM profiles")[0][0] + rows(ws, "SELECT count(*) FROM merges")[0][0]
        assert rows(ws, "SELECT count(*) FROM identities WHERE kind <> 'profile_id'") == [(n_ids,)]
        assert rows(ws, "SELECT count(*) FROM identities WHERE kind = 'profile_id'") == [(n_profiles_ever,)]
