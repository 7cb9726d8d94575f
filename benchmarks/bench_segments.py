"""Segment engine benchmark: refresh the whole shipped library, one typical segment, and lookups.

Run by hand under the shared lock (the machine is shared):

    flock /tmp/cdp-bench.lock .venv/bin/python benchmarks/bench_segments.py --profiles 1000000 --dir /tmp/h4bench

Steps: generate the demo store with `cdp demo-data` (skipped when the files exist), bare-load it
into DuckDB (profile ids assigned here and events matched to profiles by external id / email /
phone, NOT the ingest path: this benchmark measures segments, not identity resolution), compute
RFM and CLV with the real commands (their times are printed, not part of the targets), then time:
a full `refresh` of parameters/segments (target < 60 s), each segment alone (a typical one < 5 s),
and `Workspace.segments_for` lookups by profile id and by email (target single-digit ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDP = str(Path(sys.executable).parent / "cdp")
END = "2025-06-30"


def sh(*args: str) -> float:
    t = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def bare_load(db: Path, data: Path) -> None:
    """Profiles and events straight from Parquet; profile ids assigned by row number."""
    import duckdb

    from cdp_lib import Workspace

    Workspace(db).close()  # canonical tables
    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE OR REPLACE TABLE catalog AS SELECT * FROM read_parquet('{data}/catalog.parquet')")
    con.execute(
        f"""CREATE OR REPLACE TABLE profiles AS
        SELECT 'p' || lpad(CAST(row_number() OVER () AS VARCHAR), 8, '0') AS profile_id, p.* EXCLUDE (email_consent, sms_consent),
               lower(CAST(p.email_consent AS VARCHAR)) IN ('true', 'yes', 'subscribed', '1') AS email_consent,
               lower(CAST(p.sms_consent AS VARCHAR)) IN ('true', 'yes', 'subscribed', '1') AS sms_consent
        FROM read_parquet('{data}/profiles.parquet') p"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE ids AS
        SELECT DISTINCT 'x' AS kind, external_id AS v, profile_id FROM profiles WHERE external_id IS NOT NULL
        UNION ALL SELECT DISTINCT 'e', lower(trim(email)), profile_id FROM profiles WHERE email IS NOT NULL
        UNION ALL SELECT DISTINCT 'p', right(regexp_replace(phone, '[^0-9]', '', 'g'), 10), profile_id FROM profiles WHERE phone IS NOT NULL"""
    )
    con.execute("CREATE OR REPLACE TEMP TABLE idmap AS SELECT kind, v, min(profile_id) AS profile_id FROM ids GROUP BY ALL")
    con.execute(
        f"""CREATE OR REPLACE TABLE events AS
        SELECT e.* EXCLUDE (external_id, email, phone), coalesce(x.profile_id, m.profile_id, ph.profile_id) AS profile_id
        FROM read_parquet('{data}/events.parquet') e
        LEFT JOIN idmap x ON x.kind = 'x' AND x.v = e.external_id
        LEFT JOIN idmap m ON m.kind = 'e' AND m.v = lower(trim(e.email))
        LEFT JOIN idmap ph ON ph.kind = 'p' AND ph.v = right(regexp_replace(e.phone, '[^0-9]', '', 'g'), 10)"""
    )
    unmatched = con.execute("SELECT count(*) FILTER (WHERE profile_id IS NULL), count(*) FROM events").fetchone()
    print(f"events: {unmatched[1]:,} ({unmatched[0]:,} without a matching profile, left out of every segment)")
    con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp/cdp-bench-segments")
    ap.add_argument("--lookups", type=int, default=200)
    args = ap.parse_args()
    work = Path(args.dir)
    data = work / "demo"
    db = work / "segments.duckdb"
    work.mkdir(parents=True, exist_ok=True)
    if not (data / "events.parquet").exists():
        print(f"generate {args.profiles:,} profiles: {sh(CDP, 'demo-data', '--profiles', str(args.profiles), '--seed', '42', '--end-date', END, '--out', str(data)):.1f} s")
    if not db.exists():
        t = time.perf_counter()
        bare_load(db, data)
        print(f"bare load: {time.perf_counter() - t:.1f} s")
        for cmd in (["rfm", "--as-of", "2025-03-31"], ["rfm", "--as-of", END], ["clv", "--as-of", END]):
            print(f"cdp {' '.join(cmd)}: {sh(CDP, '--db', str(db), *cmd):.1f} s")

    import psutil

    from cdp_lib import Workspace
    from cdp_lib.segments import DEFAULT_FOLDER, count_members, load_library, refresh

    ws = Workspace(db)
    sizes = ws.con.raw_sql("SELECT (SELECT count(*) FROM profiles), (SELECT count(*) FROM events)").fetchone()
    print(f"workspace: {sizes[0]:,} profiles, {sizes[1]:,} events; {os.cpu_count()} cores")
    library = load_library(DEFAULT_FOLDER)
    for table in ("segment_membership", "segment_refreshes", "segment_current", "segment_current_emails"):
        ws.con.raw_sql(f"DROP TABLE IF EXISTS {table}")  # a rerun starts from an empty history

    t = time.perf_counter()
    summary = refresh(ws, DEFAULT_FOLDER, as_of=END)
    full = time.perf_counter() - t
    print(f"\nrefresh of {len(library)} segments (first, everyone enters): {full:.1f} s")
    t = time.perf_counter()
    refresh(ws, DEFAULT_FOLDER, as_of="2025-07-01")
    again = time.perf_counter() - t
    print(f"refresh again one day later (entered/left applied): {again:.1f} s")
    print(f"peak RSS so far: {psutil.Process().memory_info().rss / 2**30:.2f} GB")

    print("\nsingle segment (count of members):")
    singles = {}
    for name, d in library.items():
        t = time.perf_counter()
        n = count_members(ws, d, END, library)
        singles[name] = time.perf_counter() - t
        print(f"  {singles[name]:6.2f} s  {n:>9,}  {name}")
    print(f"median single segment: {statistics.median(singles.values()):.2f} s, slowest: {max(singles.values()):.2f} s")

    ids = ws.con.raw_sql(f"SELECT profile_id FROM segment_current USING SAMPLE {args.lookups} ROWS").fetchall()
    emails = ws.con.raw_sql(
        f"SELECT p.email FROM segment_current c JOIN profiles p USING (profile_id) WHERE p.email IS NOT NULL USING SAMPLE {args.lookups} ROWS"
    ).fetchall()
    for label, keys in (("profile id", ids), ("email", emails)):
        ws.segments_for(keys[0][0])  # warm up
        times = []
        for (key,) in keys:
            t = time.perf_counter()
            ws.segments_for(key)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        print(f"lookup by {label}: median {statistics.median(times):.1f} ms, p95 {times[int(0.95 * len(times)) - 1]:.1f} ms ({len(times)} lookups)")
    print(summary[["segment", "members"]].to_string(index=False))
    ws.close()


if __name__ == "__main__":
    main()
