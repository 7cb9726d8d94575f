"""Cohort plans compared in plain DuckDB SQL: two passes (per-person cohort, then orders joined
back) against one pass (per-period filtered sums per person). CPU seconds, interleaved A B A B.

    .venv/bin/python benchmarks/bench_cohort_plans.py /tmp/scale-work/cohort10m.duckdb

The file holds an `events` table of orders as `bench_cohort.py` builds it (10M orders / 1M
customers, 2023-07-01 + two years). Results are checked equal; see RESULTS.md ("Scale").
"""
import datetime as dt
import resource
import sys
import time

import duckdb

con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SET memory_limit='4GB'"); con.execute("SET enable_progress_bar=false")
starts = [dt.date(2023 + (6 + i) // 12, (6 + i) % 12 + 1, 1) for i in range(25)]
def ordinal(col):  # count of period starts after the first that are <= col: plain comparisons
    return " + ".join(f"(CASE WHEN {col} >= TIMESTAMPTZ '{d} 00:00:00+00' THEN 1 ELSE 0 END)" for d in starts[1:24])
N = 24
A = f"""
WITH ev AS (SELECT profile_id, timestamp, value FROM events WHERE metric = 'Placed Order'),
people AS (SELECT profile_id, {ordinal('min(timestamp)')} AS c FROM ev GROUP BY profile_id),
rows AS (SELECT ev.profile_id, value, {ordinal('timestamp')} AS o FROM ev)
SELECT c, o - c AS period, sum(value), count(*) FROM rows JOIN people USING (profile_id) GROUP BY ALL ORDER BY ALL
"""
sums = ", ".join(f"sum(value) FILTER (o = {k}) AS r{k}, count(*) FILTER (o = {k}) AS n{k}" for k in range(N))
B = f"""
WITH ev AS (SELECT profile_id, value, {ordinal('timestamp')} AS o FROM events WHERE metric = 'Placed Order'),
people AS (SELECT profile_id, min(o) AS c, {sums} FROM ev GROUP BY profile_id),
per AS (SELECT c, {', '.join(f'sum(r{k}) AS r{k}, sum(n{k}) AS n{k}' for k in range(N))} FROM people GROUP BY c)
SELECT c, k - c AS period, r, n FROM (
  SELECT c, unnest(range({N})) AS k, unnest([{', '.join(f'r{k}' for k in range(N))}]) AS r,
         unnest([{', '.join(f'n{k}' for k in range(N))}]) AS n FROM per)
WHERE k >= c ORDER BY ALL
"""
res = {}
for name in ["A", "B", "A", "B"]:
    c0 = resource.getrusage(resource.RUSAGE_SELF); t0 = time.perf_counter()
    out = con.execute(A if name == "A" else B).fetchall()
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime
    res.setdefault(name, out)
    print(name, f"wall {time.perf_counter()-t0:.2f} cpu {cpu:.2f} rows {len(out)}", flush=True)
a = {(r[0], r[1]): (round(r[2], 2), r[3]) for r in res["A"]}
b = {(r[0], r[1]): (round(r[2] or 0, 2), r[3]) for r in res["B"] if r[3]}
print("same", a == b, len(a), len(b))
