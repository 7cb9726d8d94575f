"""Scale benchmark: whole `cdp` commands on a uniform synthetic log (10M or 100M events).

    .venv/bin/python benchmarks/bench_scale.py --events 10000000 --profiles 500000 --data /tmp/cdp-scale
    nohup .venv/bin/python benchmarks/bench_scale.py --events 100000000 --profiles 5000000 \\
        --data /tmp/cdp-scale > /tmp/cdp-scale-100m.log 2>&1 &
    .venv/bin/python benchmarks/bench_scale.py --compare /tmp/cdp-scale/10000000/results.json \\
        /tmp/cdp-scale/100000000/results.json

The log is written by DuckDB straight to Parquet (no Python rows), deterministically: every
value is a function of the row number through DuckDB's `hash` (same DuckDB version, same
files). Profiles have an external id, an email, a first name, a country, a region, a location
and consent flags; a 2,000-product catalog has names, product types and brands; events name
their person by `external_id`, are spread uniformly over 2023-01-01..2024-12-31 (UTC) and
follow the shares in `METRICS` (40% Viewed Product, 13% Added to Cart, 7% Started Checkout,
9% Placed Order and 9% Ordered Product with values 10-300, 21% email/SMS messages with a
campaign id, 1% soft bounces, 1% list subscriptions), so every metric and property the shipped
segment library names exists.

Each step runs as a user runs it, in a fresh process, one after the other, on one workspace
file: a bare DuckDB load of the events file (the reference for ingest), `cdp ingest catalog`,
`cdp ingest profiles`,
`cdp ingest events`, `cdp rfm`, `cdp clv` (again with ``--penalizer 0.001`` if it stops, as its
message says), `cdp segment refresh` (the shipped library),
a 4-step `cdp funnel`, a monthly `cdp cohort`. For each: wall seconds, peak resident memory of
the process tree (children included; sampled every 0.1 s by psutil), the exit code and the
1-minute load average before and after (the machine is shared). Results go to
``<data>/<events>/results.json``; the workspace's memory settings are the defaults unless
``CDP_MEMORY_LIMIT`` / ``CDP_TEMP_DIR`` are set (the spill folder defaults to ``<data>/tmp``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

AS_OF = "2024-12-31"
ROOT = Path(__file__).resolve().parents[1]
CDP = str(Path(sys.executable).with_name("cdp"))

PROFILES_SQL = """
COPY (
  SELECT 'c' || i AS external_id, 'c' || i || '@example.com' AS email,
         ['Anna','James','Maria','David','Sofia','John','Laura','Peter','Emma','Tom'][CAST(1 + hash(i, 1) % 10 AS BIGINT)] AS first_name,
         ['US','US','US','CA','GB','DE','FR','KR'][CAST(1 + hash(i, 2) % 8 AS BIGINT)] AS country,
         ['MA','NY','CA','TX','ME','VT','ON','BC'][CAST(1 + hash(i, 6) % 8 AS BIGINT)] AS region,
         25 + (hash(i, 7) % 2500) / 100.0 AS latitude, -125 + (hash(i, 8) % 5500) / 100.0 AS longitude,
         TIMESTAMPTZ '2022-01-01 00:00:00+00' + to_seconds(CAST(hash(i, 3) % (365 * 86400) AS BIGINT)) AS created_at,
         hash(i, 4) % 10 < 7 AS email_consent, hash(i, 5) % 10 < 3 AS sms_consent
  FROM range({profiles}) t(i)
) TO '{path}' (FORMAT parquet)
"""

CATALOG_SQL = """
COPY (
  SELECT 'sku' || i AS product_id,
         ['Tank Top','Shorts','Hoodie','Sneakers','Cap'][CAST(1 + i % 5 AS BIGINT)] || ' ' || i AS name,
         ['Tank Top','Shorts','Hoodie','Sneakers','Cap'][CAST(1 + i % 5 AS BIGINT)] AS product_type,
         ['Apparel','Apparel','Apparel','Shoes','Accessories'][CAST(1 + i % 5 AS BIGINT)] AS category,
         ['Northwind','Contoso','Fabrikam','Tailspin'][CAST(1 + hash(i, 21) % 4 AS BIGINT)] AS brand,
         5 + (hash(i, 22) % 19500) / 100.0 AS price
  FROM range({products}) t(i)
) TO '{path}' (FORMAT parquet)
"""

# metric shares in percent, in order: the funnel's four steps, the order lines, then messages
METRICS = [("Viewed Product", 40), ("Added to Cart", 13), ("Started Checkout", 7), ("Placed Order", 9),
           ("Ordered Product", 9), ("Opened Email", 10), ("Received Email", 6), ("Clicked Email", 3),
           ("Received SMS", 1), ("Bounced Email", 1), ("Subscribed to List", 1)]
PRODUCTS = 2000


def _metric_case() -> str:
    bound, arms = 0, []
    for name, share in METRICS[:-1]:
        bound += share
        arms.append(f"WHEN k < {bound} THEN '{name}'")
    return f"CASE {' '.join(arms)} ELSE '{METRICS[-1][0]}' END"


EVENTS_SQL = """
COPY (
  SELECT 'e' || i AS event_id, 'c' || (hash(i, 11) % {profiles}) AS external_id, metric,
         TIMESTAMPTZ '2023-01-01 00:00:00+00' + to_seconds(CAST(hash(i, 12) % (731 * 86400) AS BIGINT)) AS timestamp,
         CASE WHEN metric IN ('Placed Order', 'Ordered Product') THEN 10 + (hash(i, 13) % 29001) / 100.0 END AS value,
         CASE WHEN metric IN ('Placed Order', 'Ordered Product') THEN 'o' || i END AS order_id,
         CASE WHEN metric IN ('Viewed Product', 'Added to Cart', 'Started Checkout', 'Ordered Product')
              THEN 'sku' || (hash(i, 14) % {products}) END AS product_id,
         CASE WHEN metric LIKE '%Email' OR metric = 'Received SMS' THEN 'cmp' || (hash(i, 15) % 50) END AS campaign_id,
         CASE WHEN metric = 'Bounced Email' THEN 'soft' END AS bounce_type
  FROM (SELECT i, """ + _metric_case() + """ AS metric FROM (SELECT i, hash(i, 10) % 100 AS k FROM range({events}) t(i)))
) TO '{path}' (FORMAT parquet)
"""

FUNNEL = ["Viewed Product", "Added to Cart", "Started Checkout", "Placed Order"]


def generate(folder: Path, events: int, profiles: int) -> None:
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET memory_limit = '4GB'")
    con.execute(f"SET temp_directory = '{folder / 'gen.tmp'}'")
    for name, sql in (("catalog", CATALOG_SQL), ("profiles", PROFILES_SQL), ("events", EVENTS_SQL)):
        target = folder / f"{name}.parquet"
        if target.exists():
            continue
        start = time.perf_counter()
        partial = folder / f"{name}.partial.parquet"
        con.execute(sql.format(events=events, profiles=profiles, products=PRODUCTS, path=partial))
        partial.rename(target)
        print(f"generated {target} ({target.stat().st_size / 1e6:,.0f} MB) in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    con.close()


def measure(name: str, argv: list[str], env: dict, log: Path) -> dict:
    """Run one command to the end; wall time and peak RSS of its whole process tree."""
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        root = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)
    wall = time.perf_counter() - start
    row = {"step": name, "command": " ".join(argv), "seconds": round(wall, 1),
           "peak_rss_gb": round(peak / 1e9, 2), "exit": proc.returncode,
           "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}
    print(json.dumps(row), flush=True)
    return row


def steps(folder: Path, db: Path) -> list[tuple[str, list[str]]]:
    bare_db = folder / "bare.duckdb"
    bare = ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); c.execute('SET enable_progress_bar=false'); "
            "c.execute(\"CREATE TABLE t AS SELECT * FROM read_parquet('\" + sys.argv[2] + \"')\")")
    cdp = [CDP, "--db", str(db)]
    funnel = [a for s in FUNNEL for a in ("--step", s)]
    return [
        ("bare load (DuckDB)", [sys.executable, "-c", bare, str(bare_db), str(folder / "events.parquet")]),
        ("cdp ingest catalog", [*cdp, "ingest", "catalog", str(folder / "catalog.parquet")]),
        ("cdp ingest profiles", [*cdp, "ingest", "profiles", str(folder / "profiles.parquet")]),
        ("cdp ingest events", [*cdp, "ingest", "events", str(folder / "events.parquet")]),
        ("cdp rfm", [*cdp, "rfm", "--as-of", AS_OF, "--out", str(folder / "rfm.parquet")]),
        ("cdp clv", [*cdp, "clv", "--as-of", AS_OF, "--out", str(folder / "clv.parquet")]),
        ("cdp segment refresh", [*cdp, "segment", "refresh", "--as-of", AS_OF]),
        ("cdp funnel (4 steps)", [*cdp, "funnel", *funnel, "--window", "7d", "--from", "2023-01-01",
                                  "--to", AS_OF, "--out", str(folder / "funnel.csv")]),
        ("cdp cohort (monthly)", [*cdp, "cohort", "--grain", "month", "--until", AS_OF,
                                  "--out", str(folder / "cohort.csv")]),
    ]


def run(args) -> None:
    data = args.data / str(args.events)
    generate(data, args.events, args.profiles)
    db = data / "scale.duckdb"
    if not args.only:  # a full run starts from an empty workspace; --only reuses the last one
        for stale in (db, data / "bare.duckdb", data / "scale.duckdb.wal", data / "bare.duckdb.wal"):
            stale.unlink(missing_ok=True)
        shutil.rmtree(data / "tmp", ignore_errors=True)
    env = dict(os.environ)
    env.setdefault("CDP_TEMP_DIR", str(data / "tmp"))
    results = {"events": args.events, "profiles": args.profiles, "cpus": os.cpu_count(),
               "ram_gb": round(psutil.virtual_memory().total / 1e9, 1),
               "memory_limit": env.get("CDP_MEMORY_LIMIT", "default"), "steps": []}
    only = set(args.only or [])
    for name, argv in steps(data, db):
        if only and not any(o in name for o in only):
            continue
        row = measure(name, argv, env, data / "commands.log")
        results["steps"].append(row)
        if name == "cdp clv" and row["exit"] != 0:  # what its non-convergence message tells a user
            retry = measure("cdp clv --penalizer 0.001", [*argv, "--penalizer", "0.001"], env, data / "commands.log")
            results["steps"].append(retry)
        (data / ("results-partial.json" if only else "results.json")).write_text(json.dumps(results, indent=1))
        if name.startswith("bare"):
            (data / "bare.duckdb").unlink(missing_ok=True)
    table([results])


def table(all_results: list[dict]) -> None:
    """One row per step; with two runs, the growth of time and memory between them."""
    names = [s["step"] for s in all_results[0]["steps"]]
    head = " | ".join(f"{r['events'] / 1e6:g}M s (load) | GB" for r in all_results)
    growth = " | time x | memory x" if len(all_results) == 2 else ""
    print(f"| step | {head}{growth} |")
    for name in names:
        cells, found = [], []
        for r in all_results:
            s = next((s for s in r["steps"] if s["step"] == name), None)
            found.append(s)
            cells.append("— | —" if s is None else
                         f"{s['seconds']:,.1f} ({s['load_before']:.1f}){'' if s['exit'] == 0 else ' exit ' + str(s['exit'])}"
                         f" | {s['peak_rss_gb']:.2f}")
        extra = ""
        if len(found) == 2 and all(found):
            extra = (f" | {found[1]['seconds'] / max(found[0]['seconds'], 0.1):.1f}"
                     f" | {found[1]['peak_rss_gb'] / max(found[0]['peak_rss_gb'], 0.01):.1f}")
        print(f"| {name} | {' | '.join(cells)}{extra} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--profiles", type=int, default=500_000)
    ap.add_argument("--data", type=Path, default=Path("/tmp/cdp-scale"))
    ap.add_argument("--only", action="append", help="run only steps whose name contains this (repeatable)")
    ap.add_argument("--compare", nargs=2, type=Path, metavar="RESULTS_JSON",
                    help="print the table of two earlier runs with growth factors")
    args = ap.parse_args()
    if args.compare:
        table([json.loads(p.read_text()) for p in args.compare])
        return
    run(args)


if __name__ == "__main__":
    main()
