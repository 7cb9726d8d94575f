"""Issue 10, class 4: `profiles.profile_id` is unique always; a supplied id never takes the id
another person's identifier generates."""

from __future__ import annotations

import duckdb
import pytest

from cdp_lib.identity import generated_profile_id
from cdp_lib.ingest import ingest_file, quarantine_table
from ingest_helpers import check_counts, rows, write

VICTIM = generated_profile_id("email", "victim@x.com")


def assert_unique(ws) -> None:
    # Plain reference: count rows per id in Python.
    ids = [pid for (pid,) in rows(ws, "SELECT profile_id FROM profiles")]
    assert len(ids) == len(set(ids)), sorted(ids)


def test_supplied_id_of_someone_elses_generated_id_is_quarantined(tmp_ws, tmp_path):
    """The reproducer: attacker supplies the id victim@x.com would generate, before the victim."""
    attack = write(tmp_path, "a.csv", f"profile_id,email\n{VICTIM},attacker@x.com\n")
    result = ingest_file(tmp_ws, "profiles", attack)
    check_counts(result)
    assert result.quarantined == 1
    assert "has the form of a generated id" in quarantine_table(tmp_ws)["reason"].iloc[0]
    ev = write(tmp_path, "e.csv", "email,metric,timestamp\nvictim@x.com,Placed Order,2024-01-01\n")
    ingest_file(tmp_ws, "events", ev)
    assert_unique(tmp_ws)
    assert rows(tmp_ws, "SELECT profile_id, email FROM profiles") == [(VICTIM, "victim@x.com")]


def test_same_file_variant(tmp_ws, tmp_path):
    path = write(tmp_path, "p.csv", f"profile_id,email\n,victim@x.com\n{VICTIM},attacker@x.com\n")
    result = ingest_file(tmp_ws, "profiles", path)
    check_counts(result)
    assert (result.loaded, result.quarantined) == (1, 1)
    assert_unique(tmp_ws)
    owner = rows(tmp_ws, "SELECT profile_id FROM identities WHERE value = 'attacker@x.com'")
    assert owner == []


def test_known_generated_id_links_to_its_profile(tmp_ws, tmp_path):
    """Naming an existing profile by its id (a CRM export) adds identifiers to that profile."""
    ingest_file(tmp_ws, "profiles", write(tmp_path, "a.csv", "email\nvictim@x.com\n"))
    result = ingest_file(tmp_ws, "profiles", write(tmp_path, "b.csv", f"profile_id,phone\n{VICTIM},+15550102030\n"))
    assert result.quarantined == 0
    assert rows(tmp_ws, "SELECT profile_id, email, phone FROM profiles") == [(VICTIM, "victim@x.com", "+15550102030")]


def test_own_generated_id_is_accepted_on_a_fresh_workspace(tmp_ws, tmp_path):
    """Reloading an export into a new workspace: the id is the one its own email generates."""
    result = ingest_file(tmp_ws, "profiles", write(tmp_path, "p.csv", f"profile_id,email\n{VICTIM},victim@x.com\n"))
    assert (result.loaded, result.quarantined) == (1, 0)
    assert rows(tmp_ws, "SELECT profile_id FROM profiles") == [(VICTIM,)]


def test_a_taken_generated_id_is_derived_again(tmp_ws, tmp_path):
    """A generated id already held (here by a row an older version wrote) is never shared."""
    tmp_ws.duckdb.execute("INSERT INTO profiles (profile_id, email) VALUES (?, 'someone@x.com')", [VICTIM])
    tmp_ws.duckdb.execute("INSERT INTO identities (kind, value, profile_id) VALUES ('profile_id', ?, ?)", [VICTIM, VICTIM])
    ingest_file(tmp_ws, "events", write(tmp_path, "e.csv", "email,metric,timestamp\nvictim@x.com,M,2024-01-01\n"))
    assert_unique(tmp_ws)
    (pid,) = rows(tmp_ws, "SELECT profile_id FROM identities WHERE value = 'victim@x.com'")[0]
    assert pid != VICTIM and pid == "p-" + __import__("hashlib").sha256(b"email:victim@x.com#2").hexdigest()[:16]


def test_the_store_refuses_a_second_row_with_one_id(tmp_ws):
    tmp_ws.duckdb.execute("INSERT INTO profiles (profile_id) VALUES ('x')")
    with pytest.raises(duckdb.ConstraintException):
        tmp_ws.duckdb.execute("INSERT INTO profiles (profile_id) VALUES ('x')")


def test_many_people_with_colliding_supplied_ids(tmp_ws, tmp_path):
    """Events and profiles mixing generated-form ids, own ids and emails stay one row per id."""
    lines = ["profile_id,email,metric,timestamp"]
    for i in range(40):
        own = generated_profile_id("email", f"u{i}@x.com")
        other = generated_profile_id("email", f"u{(i + 1) % 40}@x.com")
        lines += [f",u{i}@x.com,M,2024-01-01", f"{own},u{i}@x.com,M,2024-01-02", f"{other},v{i}@x.com,M,2024-01-03"]
    result = ingest_file(tmp_ws, "events", write(tmp_path, "e.csv", "\n".join(lines) + "\n"))
    check_counts(result)
    assert result.quarantined == 40
    assert_unique(tmp_ws)
    for i in range(40):
        owner = rows(tmp_ws, "SELECT profile_id FROM identities WHERE kind = 'email' AND value = ?", [f"u{i}@x.com"])
        assert owner == [(generated_profile_id("email", f"u{i}@x.com"),)]
