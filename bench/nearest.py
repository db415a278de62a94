"""Nearest-station benchmark (issue 2): k=5 at 145, 10,000 and 1,000,000 stations, index vs brute force.

Run: .venv/bin/python bench/nearest.py   (from the repository root; about a minute)

Synthetic stations are spread uniformly over Wenzhou's bounding box with sorted ids. For each
size it reports the index build time, the median per-query time of Snapshot.nearest_indices
over random queries, the median of the vectorised brute-force scan (Snapshot.brute_force) over
fewer queries, the speed-up ratio, and checks that both return the same answer on every
query timed for the scan.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locator.nearest import Snapshot  # noqa: E402

BBOX = (119.6, 27.0, 121.3, 28.6)  # Wenzhou, WGS-84 (min_lng, min_lat, max_lng, max_lat)
GOALS = {"query_us_1m": 30.0, "speedup": 1000.0, "build_s_1m": 2.0}


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """n points uniformly over the bbox, ids in ascending order."""
    rng = np.random.default_rng(seed)
    return rng.uniform(BBOX[0], BBOX[2], n), rng.uniform(BBOX[1], BBOX[3], n), [f"s{i:07d}" for i in range(n)]


def per_call_us(fn, args_list, k: int) -> float:
    """Median wall time of fn(x, y, k) in microseconds."""
    times = []
    for x, y in args_list:
        t0 = time.perf_counter()
        fn(x, y, k)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def run(sizes: list[int], index_queries: int, brute_queries: int, k: int) -> list[dict]:
    """Measure every size; returns one row per size."""
    rows = []
    rng = np.random.default_rng(42)
    for n in sizes:
        lng, lat, ids = synthetic(n, seed=n)
        t0 = time.perf_counter()
        snap = Snapshot(lng, lat, ids)
        build_s = time.perf_counter() - t0
        queries = list(
            zip(rng.uniform(BBOX[0], BBOX[2], index_queries), rng.uniform(BBOX[1], BBOX[3], index_queries), strict=True)
        )
        for x, y in queries[:50]:  # warm-up
            snap.nearest_indices(x, y, k)
        index_us = per_call_us(snap.nearest_indices, queries, k)
        brute = queries[:brute_queries]
        brute_us = per_call_us(snap.brute_force, brute, k)
        mismatches = sum(snap.nearest_indices(x, y, k)[0] != snap.brute_force(x, y, k)[0] for x, y in brute)
        rows.append(
            {
                "n": n,
                "build_s": build_s,
                "index_us": index_us,
                "brute_us": brute_us,
                "speedup": brute_us / index_us,
                "mismatches": mismatches,
                "index_queries": len(queries),
                "brute_queries": len(brute),
            }
        )
    return rows


def main() -> int:
    """Print the table and whether the goals at 1M are met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="145,10000,1000000", help="comma-separated station counts")
    parser.add_argument("--queries", type=int, default=5000, help="random queries timed on the index")
    parser.add_argument("--brute-queries", type=int, default=30, help="random queries timed on the scan")
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = run(sizes, args.queries, args.brute_queries, args.k)
    print(f"k={args.k}; median per query; index over {args.queries} queries, scan over {args.brute_queries}")
    print(f"{'stations':>10} {'build s':>9} {'index µs':>10} {'scan µs':>11} {'speed-up':>10} {'mismatch':>9}")
    for r in rows:
        print(
            f"{r['n']:>10,} {r['build_s']:>9.3f} {r['index_us']:>10.1f} {r['brute_us']:>11.1f} "
            f"{r['speedup']:>9.0f}x {r['mismatches']:>9}"
        )
    big = next((r for r in rows if r["n"] == 1_000_000), None)
    if big is not None:
        checks = [
            (f"query <= {GOALS['query_us_1m']:.0f} µs", big["index_us"] <= GOALS["query_us_1m"]),
            (f"speed-up >= {GOALS['speedup']:.0f}x", big["speedup"] >= GOALS["speedup"]),
            (f"build <= {GOALS['build_s_1m']:.0f} s", big["build_s"] <= GOALS["build_s_1m"]),
        ]
        print("goals at 1M: " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks))
    return 1 if any(r["mismatches"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
