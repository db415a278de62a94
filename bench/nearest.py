"""Nearest-station benchmark (issues 2 and 11): k=5 at 145, 10,000 and 1,000,000 stations.

Run: .venv/bin/python bench/nearest.py   (from the repository root; about two minutes)

Synthetic stations are spread uniformly over Wenzhou's bounding box with sorted ids. For each
size it reports the index build time; the median per-query time of Snapshot.nearest_indices
(geodesic order and distances) and, as the baseline measured in the same run over the same
queries and the same tree, of the great-circle query it replaced (issue 11: the budget is
<= 10 µs added per query at k=5 with 1,000,000 stations); the median of the vectorised
brute-force geodesic scan (Snapshot.brute_force) over fewer queries and the speed-up; and
checks that the index and the scan return the same answer on every query timed for the scan.
The two index queries are timed alternately, query by query, so that load from other jobs on
a shared machine falls on both alike.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locator.coords import EARTH_RADIUS_M  # noqa: E402
from locator.nearest import Snapshot, _unit_vector  # noqa: E402

BBOX = (119.6, 27.0, 121.3, 28.6)  # Wenzhou, WGS-84 (min_lng, min_lat, max_lng, max_lat)
GOALS = {"query_us_1m": 30.0, "speedup": 1000.0, "build_s_1m": 2.0, "added_us_1m": 10.0}


def great_circle_nearest(snap: Snapshot, lng: float, lat: float, k: int) -> tuple[list[int], list[float]]:
    """The baseline: the great-circle query before issue 11 (unfiltered path), on the same tree."""
    n = len(snap)
    q = _unit_vector(lng, lat)
    fetch = k + 1
    while True:
        fetch = min(fetch, n)
        chord_arr, idx_arr = snap.tree.query(q, k=fetch)
        chord, idx = chord_arr.ravel().tolist(), idx_arr.ravel().tolist()
        if fetch <= k:
            pairs = list(zip(chord, idx, strict=True))
            break
        edge = chord[k - 1] * (1 + 1e-9) + 1e-12
        if chord[-1] > edge or fetch >= n:
            pairs = [(c, i) for c, i in zip(chord, idx, strict=True) if c <= edge]
            break
        fetch *= 2
    pairs.sort()
    pairs = pairs[:k]
    return [i for _, i in pairs], [2.0 * EARTH_RADIUS_M * math.asin(min(c / 2.0, 1.0)) for c, _ in pairs]


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


def paired_us(fn_a, fn_b, args_list, k: int) -> tuple[float, float]:
    """Median wall times (µs) of fn_a(x, y, k) and fn_b(x, y, k), timed alternately on each query."""
    times_a, times_b = [], []
    for j, (x, y) in enumerate(args_list):
        order = ((fn_a, times_a), (fn_b, times_b)) if j % 2 else ((fn_b, times_b), (fn_a, times_a))
        for fn, times in order:
            t0 = time.perf_counter()
            fn(x, y, k)
            times.append(time.perf_counter() - t0)
    return statistics.median(times_a) * 1e6, statistics.median(times_b) * 1e6


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

        def baseline(x, y, k, snap=snap):
            return great_circle_nearest(snap, x, y, k)

        for x, y in queries[:50]:  # warm-up
            snap.nearest_indices(x, y, k)
            baseline(x, y, k)
        index_us, sphere_us = paired_us(snap.nearest_indices, baseline, queries, k)
        # How often the great-circle order was not the geodesic one (the reason for issue 11).
        differs = sum(snap.nearest_indices(x, y, k)[0] != baseline(x, y, k)[0] for x, y in queries)
        brute = queries[:brute_queries]
        brute_us = per_call_us(snap.brute_force, brute, k)
        mismatches = sum(snap.nearest_indices(x, y, k) != snap.brute_force(x, y, k) for x, y in brute)
        rows.append(
            {
                "n": n,
                "build_s": build_s,
                "index_us": index_us,
                "sphere_us": sphere_us,
                "added_us": index_us - sphere_us,
                "order_differs": differs / len(queries),
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
    print(
        f"{'stations':>10} {'build s':>9} {'sphere µs':>10} {'index µs':>10} {'added µs':>9} {'order≠':>7} "
        f"{'scan µs':>11} {'speed-up':>10} {'mismatch':>9}"
    )
    for r in rows:
        print(
            f"{r['n']:>10,} {r['build_s']:>9.3f} {r['sphere_us']:>10.1f} {r['index_us']:>10.1f} "
            f"{r['added_us']:>9.1f} {r['order_differs']:>6.1%} {r['brute_us']:>11.1f} "
            f"{r['speedup']:>9.0f}x {r['mismatches']:>9}"
        )
    big = next((r for r in rows if r["n"] == 1_000_000), None)
    if big is not None:
        checks = [
            (f"query <= {GOALS['query_us_1m']:.0f} µs", big["index_us"] <= GOALS["query_us_1m"]),
            (f"speed-up >= {GOALS['speedup']:.0f}x", big["speedup"] >= GOALS["speedup"]),
            (f"build <= {GOALS['build_s_1m']:.0f} s", big["build_s"] <= GOALS["build_s_1m"]),
            (f"added <= {GOALS['added_us_1m']:.0f} µs", big["added_us"] <= GOALS["added_us_1m"]),
        ]
        print("goals at 1M: " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks))
    return 1 if any(r["mismatches"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
