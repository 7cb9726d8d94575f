"""CLV benchmarks: engine summary vs lifetimes' pandas summary; weighted vs per-customer fits.

Run by hand on a quiet machine (heavy: ~10M orders, several GB of RAM):

    flock /tmp/cdp-bench.lock .venv/bin/python benchmarks/bench_clv.py [--orders 10000000] [--customers 3000000]
    flock /tmp/cdp-bench.lock .venv/bin/python benchmarks/bench_clv.py --reuse   # same data again

What each side produces:
- engine_summary: `cdp_lib.clv.summary.summary_table` materialised as a DuckDB temporary table (computed
  and available in the engine, not in pandas); engine_summary_pandas: the same as a DataFrame;
  lifetimes_summary: `summary_data_from_transaction_data` (a DataFrame) on the orders read
  from Parquet (read not timed).
- fit_score: from the per-customer summary already in the engine (not timed), both fits on
  distinct rows and every customer's `predicted_orders, p_alive, expected_spend` materialised
  as a DuckDB temporary table; plain_fit: lifetimes' BG/NBD and Gamma-Gamma fits on the 3M
  per-customer rows and the same three scores as numpy arrays (summary precomputed, not timed).
- weighted_fit: the whole `compute_clv` (checks, summary, fits, refunds, per-profile fields) for
  reference; it is not the issue's "fit and scoring" comparison.

Each measured step runs in its own subprocess so its time and peak memory (ru_maxrss) are its
own. Results are printed as one JSON object per step and a summary at the end.
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

import numpy as np
import pandas as pd

AS_OF = "2025-06-30"
DAYS = 730
# BFGS stops with "precision loss" at 1e-7 on this synthetic log (both ways); same tol both sides.
TOL = 1e-6


def generate(out: Path, n_orders: int, n_customers: int, seed: int = 7) -> None:
    """Synthetic order log drawn from a BG/NBD process (vectorised), two years of history.

    Per customer: purchase rate lambda ~ Gamma(r=0.5, scale 1/alpha), drop-out probability
    after each purchase p ~ Beta(1, 3); first purchase uniform over the window. `alpha` is
    tuned so the log holds about `n_orders` orders.
    """
    rng = np.random.default_rng(seed)
    alpha = 60.0 * n_customers / max(n_orders - n_customers, 1) * 0.9
    lam = rng.gamma(0.5, 1.0 / alpha, n_customers)
    p = rng.beta(1.0, 3.0, n_customers)
    first = rng.integers(0, DAYS, n_customers)
    repeats = np.minimum(rng.geometric(p) - 1, 200)  # purchases made before dropping out
    cust = np.repeat(np.arange(n_customers), repeats + 1)
    gaps = rng.exponential(1.0, len(cust)) / lam[cust]
    starts = np.r_[0, np.cumsum(repeats + 1)[:-1]]
    gaps[starts] = 0.0  # the first purchase
    csum = np.cumsum(gaps)
    t = csum - np.repeat(csum[starts], repeats + 1)
    day = first[cust] + np.floor(t)
    keep = day < DAYS
    cust, day = cust[keep], day[keep].astype(np.int64)
    start = np.datetime64("2023-07-01T00:00:00")
    ts = start + day.astype("timedelta64[D]") + rng.integers(0, 86400, len(cust)).astype("timedelta64[s]")
    df = pd.DataFrame({
        "profile_id": cust.astype(str),
        "timestamp": pd.DatetimeIndex(ts).tz_localize("UTC").astype("datetime64[us, UTC]"),
        "value": np.round(rng.lognormal(3.5, 0.6, len(cust)), 2),
    })
    df.to_parquet(out / "orders.parquet", index=False)
    print(json.dumps({"step": "generate", "orders": len(df), "customers": int(df["profile_id"].nunique())}), flush=True)


def load_workspace(work: Path) -> None:
    from cdp_lib import Workspace

    ws = Workspace(work / "cdp.duckdb")
    ws.duckdb.execute(
        "INSERT INTO events (event_id, profile_id, metric, timestamp, value) "
        f"SELECT CAST(row_number() OVER () AS VARCHAR), profile_id, 'Placed Order', timestamp, value "
        f"FROM read_parquet('{work / 'orders.parquet'}')"
    )
    ws.duckdb.execute("CHECKPOINT")
    ws.close()


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM: per address space, reset by exec, unlike
    ru_maxrss which Linux carries over from the parent that spawned us)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_engine_summary(work: Path) -> dict:
    """Summary statistics computed and kept in the engine (a DuckDB temporary table); no pandas."""
    from cdp_lib import Workspace
    from cdp_lib.clv import summary as clv_summary

    ws = Workspace(work / "cdp.duckdb", read_only=True)
    t = time.perf_counter()
    table = clv_summary.summary_table(ws.events, pd.Timestamp(AS_OF).date(), "D").cache()
    seconds = time.perf_counter() - t
    return {"customers": int(table.count().execute()), "seconds": seconds, "peak_mb": _peak_mb(),
            "output": "DuckDB temporary table (summary computed and available in the engine)"}


def step_engine_summary_pandas(work: Path) -> dict:
    """The same summary fetched into a pandas DataFrame (what lifetimes returns)."""
    from cdp_lib import Workspace
    from cdp_lib.clv import summary as clv_summary

    ws = Workspace(work / "cdp.duckdb", read_only=True)
    t = time.perf_counter()
    df = clv_summary.summary_table(ws.events, pd.Timestamp(AS_OF).date(), "D").to_pyarrow().to_pandas()
    seconds = time.perf_counter() - t
    df.to_parquet(work / "summary.parquet", index=False)
    return {"customers": len(df), "seconds": seconds, "peak_mb": _peak_mb(), "output": "pandas DataFrame"}


def step_lifetimes_summary(work: Path) -> dict:
    from lifetimes.utils import summary_data_from_transaction_data

    orders = pd.read_parquet(work / "orders.parquet")
    orders["timestamp"] = orders["timestamp"].dt.tz_localize(None)
    t = time.perf_counter()
    df = summary_data_from_transaction_data(orders, "profile_id", "timestamp", "value",
                                            observation_period_end=AS_OF, freq="D")
    seconds = time.perf_counter() - t
    ours = pd.read_parquet(work / "summary.parquet").set_index("profile_id").loc[df.index]
    same = bool((ours["frequency"].to_numpy() == df["frequency"].to_numpy()).all()
                and np.allclose(ours["T"], df["T"]) and np.allclose(ours["monetary_value"], df["monetary_value"]))
    return {"customers": len(df), "seconds": seconds, "peak_mb": _peak_mb(), "same_as_engine": same}


def step_fit_score(work: Path) -> dict:
    """From the per-customer summary (materialised in the engine, not timed, like the plain
    side's precomputed frame): both fits and every customer's scores, materialised in the engine."""
    from cdp_lib import Workspace, clv
    from cdp_lib.clv import summary as clv_summary

    ws = Workspace(work / "cdp.duckdb", read_only=True)
    params = clv.ClvParams(as_of=AS_OF, model="bgnbd", force=True, tol=TOL)  # compared with plain BG/NBD below
    clv.models.import_lifetimes()  # import outside the timer, as the plain step does
    summary = clv_summary.summary_table(ws.events, pd.Timestamp(AS_OF).date(), "D").cache()
    txn_rows, spend_rows = (int(clv_summary.distinct_combinations_table(summary, keys).count().execute())
                            for keys in (["frequency", "recency_days", "T_days"], ["frequency", "monetary_value"]))
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scored, tm, sm = clv.score_summary(summary, params)
        scored = scored.select("profile_id", "predicted_orders", "p_alive", "expected_spend").cache()
    seconds = time.perf_counter() - t
    n = int(scored.filter(scored.p_alive.notnull() & scored.expected_spend.notnull()).count().execute())
    return {"customers_scored": n, "seconds": seconds, "peak_mb": _peak_mb(),
            "distinct_frequency_recency_T": txn_rows, "distinct_frequency_monetary": spend_rows,
            "bgnbd": tm.params, "gamma_gamma": sm.params,
            "output": "DuckDB temporary table: profile_id, predicted_orders, p_alive, expected_spend per customer"}


def step_weighted_fit(work: Path) -> dict:
    from cdp_lib import Workspace, clv

    ws = Workspace(work / "cdp.duckdb", read_only=True)
    params = clv.ClvParams(as_of=AS_OF, model="bgnbd", force=True, tol=TOL)  # compared with plain BG/NBD below
    clv.models.import_lifetimes()  # import outside the timer, as the plain step does
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = clv.compute_clv(ws, params)
        n = int(result.predictions.filter(result.predictions.p_alive.notnull()).count().execute())
    seconds = time.perf_counter() - t
    return {"customers_scored": n, "seconds": seconds, "peak_mb": _peak_mb(),
            "bgnbd": result.transactions.params, "gamma_gamma": result.spend.params,
            "note": "full compute_clv: checks + engine summary + fits + scoring + per-profile fields (counted)"}


def step_plain_fit(work: Path) -> dict:
    import lifetimes

    s = pd.read_parquet(work / "summary.parquet")
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = lifetimes.BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"], tol=TOL)
        rep = s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]
        gg = lifetimes.GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"], tol=TOL)
        pred = bg.conditional_expected_number_of_purchases_up_to_time(365, s["frequency"], s["recency"], s["T"])
        alive = bg.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
        spend = gg.conditional_expected_average_profit(s["frequency"], s["monetary_value"])
        _ = np.asarray(pred) * np.asarray(spend) + np.asarray(alive) * 0
    seconds = time.perf_counter() - t
    return {"customers_scored": len(s), "seconds": seconds, "peak_mb": _peak_mb(),
            "bgnbd": {k: float(v) for k, v in bg.params_.items()}, "gamma_gamma": {k: float(v) for k, v in gg.params_.items()},
            "note": "fit + scoring from the precomputed per-customer summary (summary time excluded)"}


STEPS = {f.__name__.removeprefix("step_"): f for f in (
    step_engine_summary, step_engine_summary_pandas, step_lifetimes_summary, step_fit_score, step_weighted_fit,
    step_plain_fit)}


def run_step(name: str, work: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--step", name, "--work", str(work)],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"step {name} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps({"step": name, **result}, default=str), flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=10_000_000)
    ap.add_argument("--customers", type=int, default=3_000_000)
    ap.add_argument("--step", choices=list(STEPS))
    ap.add_argument("--work")
    ap.add_argument("--dir", default="/tmp/cdp-bench-clv", help="data folder (kept between runs)")
    ap.add_argument("--reuse", action="store_true", help="reuse the data already in --dir")
    ap.add_argument("--steps", nargs="+", choices=list(STEPS), default=[
        "engine_summary", "engine_summary_pandas", "lifetimes_summary", "fit_score", "weighted_fit", "plain_fit"])
    args = ap.parse_args()
    if args.step:
        print(json.dumps(STEPS[args.step](Path(args.work)), default=str))
        return
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "cdp.duckdb").exists() or not args.reuse:
        for stale in (work / "orders.parquet", work / "cdp.duckdb", work / "summary.parquet"):
            stale.unlink(missing_ok=True)
        generate(work, args.orders, args.customers)
        load_workspace(work)
    results = {name: run_step(name, work) for name in args.steps}
    out = {}
    if {"engine_summary", "lifetimes_summary"} <= set(results):
        ref = results["lifetimes_summary"]
        for name in ("engine_summary", "engine_summary_pandas"):
            if name in results:
                out[f"{name}_speedup"] = ref["seconds"] / results[name]["seconds"]
                out[f"{name}_memory_ratio"] = results[name]["peak_mb"] / ref["peak_mb"]
        out["summary_identical"] = ref.get("same_as_engine")
    if "plain_fit" in results:
        pfit = results["plain_fit"]
        for name in ("fit_score", "weighted_fit"):
            if name in results:
                mine = results[name]
                out[f"{name}_speedup"] = pfit["seconds"] / mine["seconds"]
                out[f"{name}_max_relative_param_difference"] = max(
                    abs(mine[m][k] - pfit[m][k]) / abs(pfit[m][k]) for m in ("bgnbd", "gamma_gamma") for k in pfit[m])
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
