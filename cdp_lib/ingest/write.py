"""The write steps: deduplicate, resolve identities and apply rows to their table."""

from __future__ import annotations

from cdp_lib import identity, schema
from cdp_lib.ingest.columns import IDENTIFIERS, ColumnPlan
from cdp_lib.ingest.values import _ident


class Writers:
    """Writing `_typed` into events, profiles or catalog (mixed into `_Run`)."""

    # events ----------------------------------------------------------------------------
    def write_events(self, plan: ColumnPlan) -> tuple[int, dict]:
        # Ids seen more than once in the file: candidates by 64-bit hash (a small hash table
        # even for 10M ids; a collision only adds a candidate), then exact per id.
        self.temp_table(
            "_occ",
            """SELECT _line, row_number() OVER (PARTITION BY _eid ORDER BY _line) AS occ,
                      _explicit AS explicit
               FROM _typed
               WHERE _reason IS NULL AND hash(_eid) IN (
                   SELECT hash(_eid) FROM _typed WHERE _reason IS NULL
                   GROUP BY hash(_eid) HAVING count(*) > 1)""",
        )
        self.sql(
            """UPDATE _typed SET _eid = md5(_typed._eid || '#' || o.occ)
               FROM _occ o WHERE _typed._line = o._line AND o.occ > 1 AND NOT o.explicit;
               UPDATE _typed SET _dup = true
               FROM _occ o WHERE _typed._line = o._line AND o.occ > 1 AND o.explicit"""
        )
        if self.scalar("SELECT count(*) > 0 FROM events"):
            self.sql(
                """UPDATE _typed SET _dup = true
                   WHERE _reason IS NULL AND _eid IN (SELECT event_id FROM events)"""
            )
        duplicates = self.scalar("SELECT count(*) FROM _typed WHERE _dup")
        self.checkpoint("deduplicate")
        stats = identity.resolve(
            self.db, "(SELECT _pid, _ext, _email, _phone FROM _typed WHERE _reason IS NULL AND NOT _dup)",
            self.ingest_id, self.now,
        )
        self.checkpoint("resolve")
        cols = [c for c in schema.EVENTS if c not in ("event_id", "profile_id")] + list(plan.custom)
        self.sql(
            f"""INSERT INTO events BY NAME
            SELECT t._eid AS event_id, r.profile_id, {', '.join(f't.{_ident(c)}' for c in cols)}
            FROM _typed t JOIN _resolved r
              ON t._pid IS NOT DISTINCT FROM r._pid AND t._ext IS NOT DISTINCT FROM r._ext
             AND t._email IS NOT DISTINCT FROM r._email AND t._phone IS NOT DISTINCT FROM r._phone
            WHERE t._reason IS NULL AND NOT t._dup"""
        )
        return int(duplicates), stats

    # profiles --------------------------------------------------------------------------
    def write_profiles(self, plan: ColumnPlan) -> tuple[int, dict]:
        self.checkpoint("deduplicate")
        stats = identity.resolve(
            self.db, "(SELECT _pid, _ext, _email, _phone FROM _typed WHERE _reason IS NULL)",
            self.ingest_id, self.now,
        )
        self.checkpoint("resolve")
        attrs = {"external_id": "_ext", "email": "_email", "phone": "_phone"}
        attrs.update({c: c for c in schema.PROFILES if c not in ("profile_id", "updated_at", *IDENTIFIERS)})
        attrs.update({c: c for c in plan.custom})
        # Within a file, a profile's own record (the one whose identifiers name it) wins, then
        # the last non-empty value in file order; records that only reach the profile through a
        # merge fill what its own record leaves empty. This is the merge rule (survivor's values
        # first), so re-ingesting a file after its people were merged changes nothing.
        naming_id = identity.generated_id_sql(
            "coalesce('external_id:' || t._ext, 'email:' || t._email, 'phone:' || t._phone)"
        )
        own = f"(t._pid IS NOT DISTINCT FROM r.profile_id OR {naming_id} IS NOT DISTINCT FROM r.profile_id)"
        rank = f"(CASE WHEN {own} THEN 1 ELSE 0 END)::BIGINT * 1000000000000 + t._line"
        agg = ", ".join(
            f"arg_max(t.{_ident(src)}, {rank}) FILTER (WHERE t.{_ident(src)} IS NOT NULL) AS {_ident(col)}"
            for col, src in attrs.items()
        )
        self.temp_table(
            "_agg",
            f"""SELECT r.profile_id, {agg}
            FROM _typed t JOIN _resolved r
              ON t._pid IS NOT DISTINCT FROM r._pid AND t._ext IS NOT DISTINCT FROM r._ext
             AND t._email IS NOT DISTINCT FROM r._email AND t._phone IS NOT DISTINCT FROM r._phone
            WHERE t._reason IS NULL GROUP BY r.profile_id""",
        )
        return self.upsert("profiles", "profile_id", list(attrs), touched="_touched"), stats

    # catalog ---------------------------------------------------------------------------
    def write_catalog(self, plan: ColumnPlan) -> tuple[int, dict]:
        self.checkpoint("deduplicate")
        self.checkpoint("resolve")
        attrs = [c for c in schema.CATALOG if c != "product_id"] + list(plan.custom)
        agg = ", ".join(
            f"arg_max({_ident(c)}, _line) FILTER (WHERE {_ident(c)} IS NOT NULL) AS {_ident(c)}"
            for c in attrs
        )
        self.temp_table(
            "_agg",
            f"""SELECT product_id, {agg}
            FROM _typed WHERE _reason IS NULL GROUP BY product_id""",
        )
        self.temp_table(
            "_new_products",
            "SELECT product_id FROM _agg WHERE product_id NOT IN "
            "(SELECT product_id FROM catalog WHERE product_id IS NOT NULL)",
        )
        self.sql("INSERT INTO catalog (product_id) SELECT product_id FROM _new_products")
        return self.upsert("catalog", "product_id", attrs, touched="_new_products"), {}

    def upsert(self, table: str, key: str, attrs: list[str], touched: str) -> int:
        """Apply `_agg` (one row per key) onto `table`; rows of unchanged keys are duplicates.

        A key changes when it is listed in `touched` (new; for profiles also merged into or
        given a new identifier) or when one of its non-empty values differs from the stored
        one. Stored values are only replaced, never blanked.
        """
        differs = " OR ".join(
            f"(a.{_ident(c)} IS NOT NULL AND a.{_ident(c)} IS DISTINCT FROM s.{_ident(c)})" for c in attrs
        )
        self.temp_table(
            "_changed",
            f"""SELECT a.{key} FROM _agg a JOIN {table} s ON s.{key} = a.{key}
            WHERE a.{key} IN (SELECT {key} FROM {touched}) OR {differs}""",
        )
        sets = ", ".join(f"{_ident(c)} = coalesce(a.{_ident(c)}, {table}.{_ident(c)})" for c in attrs)
        if table == "profiles":
            sets += f", updated_at = {self.now}"
        self.sql(
            f"""UPDATE {table} SET {sets} FROM _agg a
            WHERE {table}.{key} = a.{key} AND a.{key} IN (SELECT {key} FROM _changed)"""
        )
        if table == "profiles":
            valid_keys = (
                "SELECT r.profile_id AS k FROM _typed t JOIN _resolved r "
                "ON t._pid IS NOT DISTINCT FROM r._pid AND t._ext IS NOT DISTINCT FROM r._ext "
                "AND t._email IS NOT DISTINCT FROM r._email AND t._phone IS NOT DISTINCT FROM r._phone "
                "WHERE t._reason IS NULL"
            )
        else:
            valid_keys = "SELECT product_id AS k FROM _typed WHERE _reason IS NULL"
        return int(self.scalar(
            f"SELECT count(*) FROM ({valid_keys}) WHERE k NOT IN (SELECT {key} FROM _changed)"
        ))
