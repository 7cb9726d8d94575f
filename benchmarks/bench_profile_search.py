"""Customer 360 search: build time of the in-memory index and time per search on N profiles.

Run by hand (never a timed test), under the shared benchmark lock:

    flock /tmp/cdp-bench.lock .venv/bin/python benchmarks/bench_profile_search.py --profiles 100000

Profiles are synthetic (10 first names x 10 last names, unique emails over 7 domains), held in an
in-memory workspace; each query is run 5 times on one kept `ProfileIndex` and the median shown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import pandas as pd

from cdp_lib.customer360.search import ProfileIndex, search_profiles
from cdp_lib.testing import workspace_from_frames

FIRST = ["Alex", "Maria", "John", "Joanna", "Li", "Sam", "Priya", "Noah", "Emma", "Olivia"]
LAST = ["Smith", "Jones", "Garcia", "Kim", "Nguyen", "Brown", "Stone", "Ray", "Lee", "Park"]
QUERIES = ["jo", "smith", "maria.garcia12", "p99999", "ex3.com", "zzz"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", type=int, default=100_000)
    n = ap.parse_args().profiles
    rng = np.random.default_rng(1)
    first, last = np.array(FIRST)[rng.integers(0, 10, n)], np.array(LAST)[rng.integers(0, 10, n)]
    profiles = pd.DataFrame({
        "profile_id": [f"p{i}" for i in range(n)], "first_name": first, "last_name": last,
        "email": [f"{a.lower()}.{b.lower()}{i}@ex{i % 7}.com" for i, (a, b) in enumerate(zip(first, last))],
        "phone": [f"+1555{i:07d}" for i in range(n)],
    })
    ws = workspace_from_frames(profiles=profiles)
    started = time.perf_counter()
    index = ProfileIndex.build(ws)
    print(f"{n:,} profiles; index built in {time.perf_counter() - started:.2f} s; load average {os.getloadavg()[0]:.1f}")
    for q in QUERIES:
        times = []
        for _ in range(5):
            t = time.perf_counter()
            found = search_profiles(index, q)
            times.append(time.perf_counter() - t)
        print(f"  {q!r:18} {len(found.rows):>3} shown{' (capped)' if found.capped else '':10} "
              f"median {statistics.median(times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
