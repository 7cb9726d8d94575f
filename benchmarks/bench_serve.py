"""Membership API latency: `GET /v1/profiles/{key}/segments` against `cdp serve` on a demo store.

Run by hand under the shared lock (the machine is shared):

    flock /tmp/cdp-bench.lock .venv/bin/python benchmarks/bench_serve.py --profiles 100000 --dir /tmp/cdp-bench-serve

Steps: generate the demo store with `cdp demo-data` and bare-load it (both borrowed from
bench_segments.py; skipped when the workspace exists), `cdp rfm` and `cdp clv`, refresh the
shipped segment library, publish a snapshot, create a token, start `cdp serve` on a free port, then
send `--requests` sequential requests over one keep-alive connection for random keys (a third each
by profile id, email and external id, plus 5 % unknown keys answered 404) and report client-side
latency percentiles and the server's own times from its request log. Target: p95 < 20 ms.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDP = str(Path(sys.executable).parent / "cdp")
END = "2025-06-30"


def _segments_bench():
    spec = importlib.util.spec_from_file_location("bench_segments", ROOT / "benchmarks" / "bench_segments.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def build(work: Path, profiles: int) -> Path:
    seg = _segments_bench()
    data, db = work / "demo", work / "cdp.duckdb"
    if db.exists():
        return db
    if not (data / "events.parquet").exists():
        print(f"generate {profiles:,} profiles: {seg.sh(CDP, 'demo-data', '--profiles', str(profiles), '--seed', '42', '--end-date', END, '--out', str(data)):.1f} s")
    t = time.perf_counter()
    seg.bare_load(db, data)
    print(f"bare load: {time.perf_counter() - t:.1f} s")
    print(f"cdp rfm: {seg.sh(CDP, '--db', str(db), 'rfm', '--as-of', END, '--out', str(work / 'rfm.csv')):.1f} s")
    print(f"cdp clv: {seg.sh(CDP, '--db', str(db), 'clv', '--as-of', END, '--out', str(work / 'clv.csv')):.1f} s")
    from cdp_lib import Workspace
    from cdp_lib.segments import DEFAULT_FOLDER, refresh

    with Workspace(db) as ws:
        t = time.perf_counter()
        refresh(ws, str(ROOT / DEFAULT_FOLDER), as_of=END)
        print(f"segment refresh: {time.perf_counter() - t:.1f} s")
    return db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, default=100_000)
    ap.add_argument("--dir", default="/tmp/cdp-bench-serve")
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    db = build(work, args.profiles)
    from cdp_lib import Workspace
    from cdp_lib.serve.tokens import TokenStore
    from cdp_lib.snapshots import publish

    publish(db)
    with Workspace(db, read_only=True) as ws:
        keys = ws.duckdb.execute("SELECT profile_id, email, external_id FROM profiles USING SAMPLE 3000 ROWS (reservoir, 7)").fetchall()
        members = ws.duckdb.execute("SELECT count(*), count(DISTINCT profile_id) FROM segment_current").fetchone()
        n_profiles = ws.duckdb.execute("SELECT count(*) FROM profiles").fetchone()[0]
    print(f"store: {n_profiles:,} profiles, {members[0]:,} current memberships of {members[1]:,} people")
    store = TokenStore.for_workspace(db)
    name = f"bench-{int(time.time())}"
    token = store.create(name)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = work / f"api-{name}.log"
    proc = subprocess.Popen([CDP, "--db", str(db), "serve", "--port", str(port), "--log", str(log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = None
        for _ in range(600):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/v1/health")
                conn.getresponse().read()
                break
            except OSError:
                conn = None
                time.sleep(0.1)
        rng = random.Random(42)
        headers = {"Authorization": f"Bearer {token}"}
        times: dict[str, list[float]] = {"profile_id": [], "email": [], "external_id": [], "unknown": []}
        statuses: dict[int, int] = {}
        for i in range(50):  # warm-up, not counted
            conn.request("GET", f"/v1/profiles/{keys[i][0]}/segments", headers=headers)
            conn.getresponse().read()
        for i in range(args.requests):
            row = rng.choice(keys)
            kind = "unknown" if rng.random() < 0.05 else rng.choice(["profile_id", "email", "external_id"])
            key = {"profile_id": row[0], "email": row[1], "external_id": row[2]}.get(kind) or f"nobody-{i}"
            t = time.perf_counter()
            conn.request("GET", f"/v1/profiles/{urllib_quote(key)}/segments", headers=headers)
            resp = conn.getresponse()
            resp.read()
            times[kind].append(1000 * (time.perf_counter() - t))
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
        all_ms = [x for v in times.values() for x in v]
        print(f"\n{args.requests} requests, statuses {statuses}")
        print("| key | requests | median ms | p95 ms | p99 ms |\n|---|---|---|---|---|")
        for kind, v in [*times.items(), ("all", all_ms)]:
            if v:
                print(f"| {kind} | {len(v)} | {statistics.median(v):.2f} | {pct(v, 0.95):.2f} | {pct(v, 0.99):.2f} |")
        time.sleep(0.5)
        server = [json.loads(x)["ms"] for x in log.read_text().splitlines()][-args.requests:]
        print(f"server-side (request log): median {statistics.median(server):.2f} ms, p95 {pct(server, 0.95):.2f} ms")
    finally:
        proc.terminate()
        proc.wait(10)
        store.revoke(name)


def urllib_quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


if __name__ == "__main__":
    main()
