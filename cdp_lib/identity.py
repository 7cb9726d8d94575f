"""Identity resolution: which profile each incoming record belongs to, and profile merges.

A person may be identified by `profile_id`, `external_id`, `email` or `phone`. Records that
share any identifier (directly or through a chain of records) are one person. The connected
components of the graph "record -- identifier -- known profile" are found with a vectorised
union-find (`scipy.sparse.csgraph.connected_components`) over the batch's *distinct*
identifier combinations, so millions of events that repeat the same few identifiers cost one
`SELECT DISTINCT`, not a Python loop.

Per component:

* no known profile and no supplied `profile_id` -> a new profile whose id is derived from the
  component's first identifier (`external_id`, then `email`, then `phone`; smallest value), so
  the same input always yields the same id;
* one or more known profiles -> the survivor is the profile created earliest
  (`profiles.created_at`, unknown dates last), ties broken by the smallest `profile_id`; a
  supplied but unknown `profile_id` only becomes the survivor when no known profile is linked;
* every other known profile is merged into the survivor: recorded in `merges`, its identifiers
  re-pointed in `identities`, its events re-pointed, its attributes used where the survivor
  has none, and its row removed from `profiles`.

This is storage-edge code: it runs inside the ingest transaction on the raw DuckDB connection.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# What a generated profile id looks like (see `generated_profile_id`).
GENERATED_ID_RE = "p-[0-9a-f]{16}"
# Order in which identifiers name a new profile (profile_id is taken verbatim when supplied).
_NAMING_RANK = {"external_id": 1, "email": 2, "phone": 3, "profile_id": 0}


def email_sql(expr: str) -> str:
    """SQL normalising an email: trimmed and lower-cased; empty -> NULL."""
    return f"nullif(lower(trim(CAST({expr} AS VARCHAR))), '')"


def phone_sql(expr: str) -> str:
    """SQL normalising a phone number to an E.164-like string.

    Every character except digits is dropped; a leading ``+`` (or the international prefix
    ``00``) is kept as ``+``. ``"+1 (555) 010-2030"`` -> ``"+15550102030"``,
    ``"0044 20 7946 0000"`` -> ``"+442079460000"``, ``"555-0102"`` -> ``"5550102"``.
    National numbers are not given a country code (we cannot know it), so the same phone
    written once with and once without its country code counts as two identifiers.
    """
    s = f"trim(CAST({expr} AS VARCHAR))"
    digits = f"regexp_replace({s}, '[^0-9]', '', 'g')"
    return (
        f"nullif(CASE WHEN starts_with({s}, '+') THEN '+' || {digits} "
        f"WHEN starts_with({digits}, '00') THEN '+' || substr({digits}, 3) "
        f"ELSE {digits} END, '')"
    )


def generated_profile_id(kind: str, value: str) -> str:
    """The id given to a new profile first seen through identifier `kind`=`value`."""
    digest = hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()
    return "p-" + digest[:16]


def generated_id_sql(ident: str) -> str:
    """SQL for `generated_profile_id` of a `kind:value` expression, computed in the engine."""
    return f"'p-' || substr(sha256({ident}), 1, 16)"


def resolve(db, batch: str, ingest_id: str, now: str) -> dict:
    """Assign a profile to every row of temp table `batch` and apply the merges it implies.

    `batch` must hold the normalised identifier columns `_pid`, `_ext`, `_email`, `_phone`
    (NULL when absent; at least one set per row). Creates temp table `_resolved` with those
    four columns plus `profile_id` (one row per distinct combination) and temp table
    `_touched(profile_id)` listing profiles that were created, merged into, or given a new
    identifier. Writes `profiles` (bare new rows), `identities`, `merges`, and re-points
    `events`. Returns counts: new_profiles, merges, new_identifiers.
    """
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE _tuples AS
        SELECT _pid, _ext, _email, _phone, (row_number() OVER () - 1)::BIGINT AS t
        FROM (SELECT DISTINCT _pid, _ext, _email, _phone FROM {batch})"""
    )
    # One row per (record combination, identifier), with the profile already holding it.
    db.execute(
        """CREATE OR REPLACE TEMP TABLE _tn AS
        WITH ids AS (
            SELECT t, 'profile_id' AS kind, _pid AS value FROM _tuples WHERE _pid IS NOT NULL
            UNION ALL SELECT t, 'external_id', _ext FROM _tuples WHERE _ext IS NOT NULL
            UNION ALL SELECT t, 'email', _email FROM _tuples WHERE _email IS NOT NULL
            UNION ALL SELECT t, 'phone', _phone FROM _tuples WHERE _phone IS NOT NULL
        )
        SELECT ids.t, ids.kind, ids.value, i.profile_id AS known,
               coalesce('P' || i.profile_id, ids.kind || ':' || ids.value) AS node
        FROM ids LEFT JOIN identities i ON i.kind = ids.kind AND i.value = ids.value"""
    )
    n_tuples = db.execute("SELECT count(*) FROM _tuples").fetchone()[0]
    edges = db.execute(
        "SELECT t, (dense_rank() OVER (ORDER BY node) - 1)::BIGINT AS n FROM _tn"
    ).fetchnumpy()
    t_idx = np.asarray(edges["t"], dtype=np.int64)
    n_idx = np.asarray(edges["n"], dtype=np.int64) + n_tuples
    n_nodes = int(n_idx.max()) + 1 if len(n_idx) else n_tuples
    graph = coo_matrix((np.ones(len(t_idx), dtype=np.int8), (t_idx, n_idx)), shape=(n_nodes, n_nodes))
    _, labels = connected_components(graph, directed=False)
    comp = pd.DataFrame({"t": np.arange(n_tuples, dtype=np.int64), "comp": labels[:n_tuples].astype(np.int64)})
    db.register("_comp_df", comp)
    db.execute("CREATE OR REPLACE TEMP TABLE _tc AS SELECT * FROM _comp_df")
    db.unregister("_comp_df")

    # Candidate surviving profiles per component: known ones first, then supplied new ids.
    db.execute(
        """CREATE OR REPLACE TEMP TABLE _cand AS
        WITH known AS (
            SELECT DISTINCT _tc.comp, _tn.known AS pid
            FROM _tn JOIN _tc USING (t) WHERE _tn.known IS NOT NULL
        ), supplied AS (
            SELECT DISTINCT _tc.comp, _tn.value AS pid
            FROM _tn JOIN _tc USING (t) WHERE _tn.kind = 'profile_id' AND _tn.known IS NULL
        )
        SELECT known.comp, known.pid, 0 AS is_new, p.created_at
        FROM known LEFT JOIN profiles p ON p.profile_id = known.pid
        UNION ALL
        SELECT comp, pid, 1, NULL::TIMESTAMPTZ FROM supplied"""
    )
    db.execute(
        """CREATE OR REPLACE TEMP TABLE _ranked AS
        SELECT *, row_number() OVER (
            PARTITION BY comp ORDER BY is_new, created_at NULLS LAST, pid) AS rnk
        FROM _cand"""
    )
    naming = " ".join(f"WHEN '{k}' THEN {r}" for k, r in _NAMING_RANK.items())
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE _comp_pid AS
        SELECT comp, pid AS profile_id, is_new = 1 AS is_new, NULL::VARCHAR AS seed
        FROM _ranked WHERE rnk = 1
        UNION ALL
        SELECT comp, {generated_id_sql("first_ident")}, true, first_ident
        FROM (
            SELECT _tc.comp, arg_min(_tn.kind || ':' || _tn.value,
                                     (CASE _tn.kind {naming} END, _tn.value)) AS first_ident
            FROM _tn JOIN _tc USING (t)
            GROUP BY _tc.comp
        ) WHERE comp NOT IN (SELECT comp FROM _cand)"""
    )
    _avoid_taken_ids(db)
    db.execute(
        """CREATE OR REPLACE TEMP TABLE _resolved AS
        SELECT _tuples._pid, _tuples._ext, _tuples._email, _tuples._phone, c.profile_id
        FROM _tuples JOIN _tc USING (t) JOIN _comp_pid c USING (comp)"""
    )

    # Known profiles that lose: merged into the survivor, through the identifier linking them.
    db.execute(
        """CREATE OR REPLACE TEMP TABLE _merge AS
        SELECT r.pid AS merged_profile_id, c.profile_id AS into_profile_id,
               arg_min(_tn.kind, _tn.kind || ':' || _tn.value) AS via_kind,
               arg_min(_tn.value, _tn.kind || ':' || _tn.value) AS via_value,
               r.rnk
        FROM _ranked r
        JOIN _comp_pid c USING (comp)
        JOIN _tn ON _tn.known = r.pid
        WHERE r.rnk > 1 AND r.is_new = 0
        GROUP BY r.pid, c.profile_id, r.rnk"""
    )
    n_merges = db.execute("SELECT count(*) FROM _merge").fetchone()[0]
    if n_merges:
        _apply_merges(db, ingest_id, now)

    # New profiles (generated ids and supplied ids that survive) as bare rows.
    db.execute(
        f"""INSERT INTO profiles (profile_id, external_id, email, phone, updated_at)
        SELECT c.profile_id,
               min(_tn.value) FILTER (WHERE _tn.kind = 'external_id'),
               min(_tn.value) FILTER (WHERE _tn.kind = 'email'),
               min(_tn.value) FILTER (WHERE _tn.kind = 'phone'),
               {now}
        FROM _comp_pid c JOIN _tc USING (comp) JOIN _tn USING (t)
        WHERE c.is_new
        GROUP BY c.profile_id"""
    )
    n_new = db.execute("SELECT count(*) FROM _comp_pid WHERE is_new").fetchone()[0]

    # Every identifier not seen before now points to its profile; new profiles own their id.
    db.execute(
        """CREATE OR REPLACE TEMP TABLE _new_ids AS
        SELECT DISTINCT _tn.kind, _tn.value, c.profile_id
        FROM _tn JOIN _tc USING (t) JOIN _comp_pid c USING (comp)
        WHERE _tn.known IS NULL
        UNION
        SELECT 'profile_id', profile_id, profile_id FROM _comp_pid WHERE is_new"""
    )
    n_ids = db.execute("SELECT count(*) FROM _new_ids").fetchone()[0]
    db.execute(
        f"""INSERT INTO identities (kind, value, profile_id, first_seen_at, ingest_id)
        SELECT kind, value, profile_id, {now}, '{ingest_id}' FROM _new_ids"""
    )
    db.execute(
        """CREATE OR REPLACE TEMP TABLE _touched AS
        SELECT profile_id FROM _new_ids
        UNION SELECT into_profile_id FROM _merge"""
    )
    return {"new_profiles": int(n_new), "merges": int(n_merges), "new_identifiers": int(n_ids)}


def _avoid_taken_ids(db, rounds: int = 8) -> None:
    """Generated ids are unique: one already held by a profile or identifier (a supplied id
    accepted earlier, a SHA-256 prefix collision) or by another new profile of this batch is
    derived again from `seed || '#' || n`, n = 2, 3, ... (`profiles.profile_id` is also
    guarded by a unique index, so a miss here fails the ingest instead of sharing an id)."""
    taken = """seed IS NOT NULL AND (
        profile_id IN (SELECT value FROM identities WHERE kind = 'profile_id')
        OR profile_id IN (SELECT profile_id FROM profiles)
        OR profile_id IN (SELECT profile_id FROM _comp_pid GROUP BY profile_id HAVING count(*) > 1))"""
    for n in range(2, 2 + rounds):
        if not db.execute(f"SELECT count(*) FROM _comp_pid WHERE {taken}").fetchone()[0]:
            return
        again = generated_id_sql(f"seed || '#{n}'")
        db.execute(f"UPDATE _comp_pid SET profile_id = {again} WHERE {taken}")


def _apply_merges(db, ingest_id: str, now: str) -> None:
    """Fold each `_merge.merged_profile_id` into its survivor; nothing is dropped."""
    cols = [c for c in _profile_columns(db) if c not in ("profile_id", "updated_at")]
    # Survivor's non-null values win; otherwise the first merged profile (by rank) that has one.
    fill = ", ".join(
        f'arg_min(p."{c}", m.rnk) FILTER (WHERE p."{c}" IS NOT NULL) AS "{c}"' for c in cols
    )
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE _merged_attrs AS
        SELECT m.into_profile_id, {fill}
        FROM _merge m JOIN profiles p ON p.profile_id = m.merged_profile_id
        GROUP BY m.into_profile_id"""
    )
    sets = ", ".join(f'"{c}" = coalesce(profiles."{c}", a."{c}")' for c in cols)
    db.execute(
        f"""UPDATE profiles SET {sets}, updated_at = {now}
        FROM _merged_attrs a WHERE profiles.profile_id = a.into_profile_id"""
    )
    db.execute("DELETE FROM profiles WHERE profile_id IN (SELECT merged_profile_id FROM _merge)")
    db.execute(
        """UPDATE events SET profile_id = m.into_profile_id
        FROM _merge m WHERE events.profile_id = m.merged_profile_id"""
    )
    db.execute(
        """UPDATE identities SET profile_id = m.into_profile_id
        FROM _merge m WHERE identities.profile_id = m.merged_profile_id"""
    )
    db.execute(
        f"""INSERT INTO merges (merged_profile_id, into_profile_id, via_kind, via_value,
                                merged_at, ingest_id)
        SELECT merged_profile_id, into_profile_id, via_kind, via_value, {now}, '{ingest_id}'
        FROM _merge ORDER BY merged_profile_id"""
    )


def _profile_columns(db) -> list[str]:
    rows = db.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'profiles' AND table_schema = current_schema() ORDER BY ordinal_position"
    ).fetchall()
    return [r[0] for r in rows]


# Temp tables created by `resolve` (dropped by the caller once the ingest is over).
TEMP_TABLES = ("_tuples", "_tn", "_tc", "_cand", "_ranked", "_comp_pid", "_resolved", "_merge",
               "_merged_attrs", "_new_ids", "_touched")
