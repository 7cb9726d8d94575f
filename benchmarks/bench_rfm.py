"""RFM on a large order log vs `lifetimes.utils.summary_data_from_transaction_data`.

Issue 3 asks RFM/summary statistics on 10M orders (~3M customers) to be at least 10x faster
than lifetimes' pandas summary on the same data in the same run, with at most half its peak
memory. Each side runs in its own fresh process so peak RSS (ru_maxrss) is its own:

- cdp (two variants, each in its own process): the orders live in a DuckDB workspace file
  (loaded once beforehand, not timed); `rfm_table(...)` (no-order and prerequisite checks,
  cut-offs, scores, groups) is either materialised in the engine as a temporary table
  (`cdp-engine`: the result is computed and available to every later query, nothing leaves
  the engine) or, in addition, fetched into a pandas DataFrame (`cdp-pandas`, as the CLI does).
- lifetimes: the orders are read from the same Parquet file into pandas (its required input,
  not timed), then `summary_data_from_transaction_data(..., freq="D")` is timed.

Run by hand (takes a few minutes, ~several GB for lifetimes):
    flock /tmp/cdp-bench.lock .venv/bin/python benchmarks/bench_rfm.py --orders 10000000 --customers 3000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

AS_OF = "2024-12-31"


def generate(path: Path, orders: int, customers: int, seed: int = 7) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    cust = rng.integers(0, customers, orders)
    seconds = rng.integers(0, 730 * 86400, orders)
    ts = np.datetime64("2023-01-01T00:00:00", "us") + seconds.astype("timedelta64[s]").astype("timedelta64[us]")
    table = pa.table({
        "profile_id": pa.array(np.char.add("c", cust.astype(str))),
        "metric": pa.array(["Placed Order"] * orders),
        "timestamp": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
        "value": pa.array(np.round(rng.lognormal(3.5, 0.8, orders), 2)),
    })
    pq.write_table(table, path)


def load_workspace(parquet: Path, db: Path) -> None:
    from cdp_lib import Workspace

    with Workspace(db) as ws:  # storage edge: bulk load straight into the events table
        ws.duckdb.execute(
            "INSERT INTO events (profile_id, metric, timestamp, value) "
            f"SELECT profile_id, metric, timestamp, value FROM read_parquet('{parquet}')"
        )
        ws.duckdb.execute(f"INSERT INTO profiles (profile_id) SELECT DISTINCT profile_id FROM read_parquet('{parquet}')")


def run_cdp(db: Path, to_pandas: bool) -> dict:
    from cdp_lib import Workspace, rfm
    from cdp_lib.prerequisites import PrerequisiteWarning

    with Workspace(db, read_only=True) as ws:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrerequisiteWarning)
            table = rfm.rfm_table(ws, rfm.RfmParams(as_of=AS_OF)).cache()
        engine = time.perf_counter() - start
        if to_pandas:
            rows = len(table.to_pyarrow().to_pandas())
        else:
            rows = int(table.count().execute())  # not timed: the table is already materialised
        seconds = time.perf_counter() - start if to_pandas else engine
        table.release()
    return {"seconds": seconds, "engine_seconds": engine, "rows": rows,
            "output": "pandas DataFrame" if to_pandas else "DuckDB temporary table"}


def run_lifetimes(parquet: Path) -> dict:
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    tx = pd.read_parquet(parquet, columns=["profile_id", "timestamp", "value"])
    tx["timestamp"] = tx["timestamp"].dt.tz_localize(None)
    start = time.perf_counter()
    summary = summary_data_from_transaction_data(
        tx, "profile_id", "timestamp", monetary_value_col="value", observation_period_end=AS_OF, freq="D")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(summary)}


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM resets at exec, unlike ru_maxrss on Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(which: str, parquet: Path, db: Path) -> None:
    out = run_lifetimes(parquet) if which == "lifetimes" else run_cdp(db, to_pandas=which == "cdp-pandas")
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=3_000_000)
    parser.add_argument("--dir", default="/tmp/cdp-bench-rfm")
    parser.add_argument("--child", choices=["cdp-engine", "cdp-pandas", "lifetimes"])
    parser.add_argument("--reuse", action="store_true", help="reuse the data already in --dir")
    args = parser.parse_args()
    folder = Path(args.dir)
    parquet, db = folder / "orders.parquet", folder / "cdp.duckdb"
    if args.child:
        child(args.child, parquet, db)
        return
    folder.mkdir(parents=True, exist_ok=True)
    if not (args.reuse and parquet.exists() and db.exists()):
        for stale in (parquet, db):
            stale.unlink(missing_ok=True)
        generate(parquet, args.orders, args.customers)
        load_workspace(parquet, db)
    results = {}
    for which in ("cdp-engine", "cdp-pandas", "lifetimes"):
        proc = subprocess.run([sys.executable, __file__, "--child", which, "--dir", str(folder)],
                              check=True, capture_output=True, text=True)
        results[which] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(which, results[which], flush=True)
    lt = results["lifetimes"]
    for which in ("cdp-engine", "cdp-pandas"):
        cdp = results[which]
        print(f"{which}: orders {args.orders:,}, customers scored {cdp['rows']:,} (lifetimes {lt['rows']:,}); "
              f"speed-up {lt['seconds'] / cdp['seconds']:.1f}x, peak memory ratio "
              f"{cdp['peak_rss_mb'] / lt['peak_rss_mb']:.2f} (cdp / lifetimes)")


if __name__ == "__main__":
    main()
