"""Coverage analysis benchmark (issue 17): covered share at scale, exact vs greedy site choice, the search log's cost.

Run (from the repository root):

    .venv/bin/python bench/coverage.py                      # everything (about 5 minutes)
    .venv/bin/python bench/coverage.py --only share,mclp    # skip the HTTP part (needs gunicorn + wrk)

Parts:
- share: covered share of 1,000,000 demand points by 10,000 stations (uniform over Wenzhou's
  bounding box), radius 1000 m: `coverage.covered_share` (k-d tree + geodesic in the margin band),
  median of 3 runs; baseline in the same run: a brute-force geodesic scan of a 2,000-point sample
  (its time scaled to 1M points) and the mismatches between the two on that sample (must be 0).
  Also the full analysis (`coverage.analyse`: districts, rings, distances, blind spots, redundancy).
- mclp: the maximal covering location problem on H3 resolution-8 demand cells with lognormal
  weights and random candidate cells, p = 10, radius 1000 m: exact (HiGHS) and greedy on
  2,000 candidates × 5,000 cells; greedy (and the LP bound) on 50,000 × 50,000. The gap is
  (exact − greedy) / exact, or greedy against the LP relaxation's bound where exact is out of reach.
- http: the nearest endpoint with the search log on and off (LOCATOR_DEMAND_LOG), gunicorn + wrk as
  in bench/http_nearest.py, alternating on/off runs; plus the in-process cost of one `SearchLog.add`
  against one nearest request through the Flask test client.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from locator import coverage  # noqa: E402
from locator.coords import geodesic_m  # noqa: E402

BBOX = (119.6, 27.0, 121.3, 28.6)
GOALS = {"share_1m_s": 2.0, "exact_s": 30.0, "greedy_50k_s": 10.0, "log_overhead": 0.05}


def uniform(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n WGS-84 points uniformly over Wenzhou's bounding box."""
    rng = np.random.default_rng(seed)
    return rng.uniform(BBOX[0], BBOX[2], n), rng.uniform(BBOX[1], BBOX[3], n)


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    """Median wall time of fn() over `repeat` runs, and its last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def bench_share(points: int, stations: int, radius: float) -> None:
    """Covered share at scale against a brute-force sample."""
    lng, lat = uniform(points, 1)
    s_lng, s_lat = uniform(stations, 2)
    weight = np.random.default_rng(3).exponential(1.0, points)
    t_build, station_set = timed(lambda: coverage.PointSet(s_lng, s_lat))
    t_share, share = timed(lambda: coverage.covered_share(lng, lat, weight, station_set, radius))
    sample = 2000
    t0 = time.perf_counter()
    brute = np.array(
        [bool((geodesic_m(np.full(stations, x), np.full(stations, y), s_lng, s_lat) <= radius).any())
         for x, y in zip(lng[:sample], lat[:sample], strict=True)]
    )  # fmt: skip
    t_brute = (time.perf_counter() - t0) / sample * points
    fast = coverage.covered_mask(lng[:sample], lat[:sample], station_set, radius)
    mismatches = int((fast != brute).sum())
    print(
        f"covered share {points:,} points × {stations:,} stations, r={radius:g} m: {t_share:.2f} s "
        f"(tree build {t_build * 1000:.1f} ms; share {share:.4f}); brute-force scan ≈ {t_brute:,.0f} s "
        f"(from {sample:,} points), {t_brute / t_share:,.0f}× slower; mismatches on the sample: {mismatches}; "
        f"goal ≤ {GOALS['share_1m_s']} s: {'met' if t_share <= GOALS['share_1m_s'] else 'MISSED'}",
        flush=True,
    )
    from locator.demand import cells_of, Demand  # noqa: I001 - after the timing above
    from locator.districts import load_districts
    from locator.nearest import Snapshot

    snap = Snapshot(s_lng, s_lat, [f"s{i:07d}" for i in range(stations)])
    t0 = time.perf_counter()
    cells = cells_of(lng, lat)
    t_cells = time.perf_counter() - t0
    demand = Demand("points", "bench", "权重", lng, lat, weight, cells)
    t0 = time.perf_counter()
    report = coverage.analyse(snap, load_districts(), demand, coverage.CoverageOptions(radius_m=radius))
    t_full = time.perf_counter() - t0
    print(
        f"full analysis of the same (3 rings, 12 districts, distances, blind spots, redundancy): {t_full:.2f} s; "
        f"binning to H3 cells (done once at import): {t_cells:.2f} s; city share {report.contract()['covered_share']}",
        flush=True,
    )


def cell_instance(n_cells: int, n_cand: int, seed: int):
    """Demand cells (res 8 around Wenzhou's centre) with lognormal weights, random candidate cells."""
    import h3

    rng = np.random.default_rng(seed)
    origin = h3.latlng_to_cell(27.99, 120.70, 8)
    ring = 1
    while 3 * ring * (ring + 1) + 1 < n_cells:
        ring += 1
    cells = sorted(h3.grid_disk(origin, ring))[:n_cells]
    centres = np.array([h3.cell_to_latlng(c) for c in cells])
    lat, lng = centres[:, 0], centres[:, 1]
    weight = rng.lognormal(1.0, 1.2, len(cells))
    cand = rng.choice(len(cells), n_cand, replace=n_cand > len(cells))
    jitter = rng.normal(0, 0.002, (n_cand, 2))
    return lng, lat, weight, lng[cand] + jitter[:, 0], lat[cand] + jitter[:, 1]


def lp_bound(weight, unit, cand, n_cand, p) -> float | None:
    """The LP relaxation's optimum (an upper bound on the best cover of p sites); None if not solved in 120 s."""
    import highspy

    highs = coverage._new_highs()
    highs.setOptionValue("time_limit", 120.0)
    n = len(weight)
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_cand + n, n + 1
    lp.col_cost_ = np.concatenate([np.zeros(n_cand), weight])
    lp.col_lower_, lp.col_upper_ = np.zeros(n_cand + n), np.ones(n_cand + n)
    lp.row_lower_ = np.concatenate([np.full(n, -inf), [float(p)]])
    lp.row_upper_ = np.concatenate([np.zeros(n), [float(p)]])
    lp.sense_ = highspy.ObjSense.kMaximize
    rows = np.concatenate([unit, np.arange(n), np.full(n_cand, n)])
    cols = np.concatenate([cand, n_cand + np.arange(n), np.arange(n_cand)])
    vals = np.concatenate([-np.ones(len(unit)), np.ones(n), np.ones(n_cand)])
    order = np.lexsort((rows, cols))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=n_cand + n))]).astype(np.int32)
    lp.a_matrix_.index_ = rows[order].astype(np.int32)
    lp.a_matrix_.value_ = vals[order]
    highs.passModel(lp)
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return float(highs.getInfo().objective_function_value)


def bench_mclp(radius: float, p: int, budget: float) -> None:
    """Exact vs greedy on 2,000 × 5,000; greedy and the LP bound on 50,000 × 50,000."""
    for n_cells, n_cand, try_exact in ((5_000, 2_000, True), (50_000, 50_000, False)):
        _mclp_instance(n_cells, n_cand, try_exact, radius, p, budget)


def _mclp_instance(n_cells: int, n_cand: int, try_exact: bool, radius: float, p: int, budget: float) -> None:
    """One instance: pairs, greedy, and exact (or the LP bound) with the gap."""
    lng, lat, weight, c_lng, c_lat = cell_instance(n_cells, n_cand, seed=n_cells)
    t0 = time.perf_counter()
    unit, cand, _ = coverage.pairs_within(lng, lat, coverage.PointSet(c_lng, c_lat), radius)
    t_pairs = time.perf_counter() - t0
    t_greedy, greedy = timed(lambda: coverage.greedy_mclp(weight, unit, cand, n_cand, p), repeat=1)
    line = (
        f"MCLP {n_cand:,} candidates × {n_cells:,} cells, p={p}, r={radius:g} m ({len(unit):,} pairs, "
        f"{t_pairs:.2f} s to find them): greedy {t_greedy:.2f} s, objective {greedy.objective:,.1f}"
    )
    if try_exact:
        t_exact, exact = timed(
            lambda: coverage.exact_mclp(weight, unit, cand, n_cand, p, budget),
            repeat=1,
        )
        if exact is None:
            line += f"; exact: not proven within {budget:g} s"
        else:
            gap = max(0.0, (exact.objective - greedy.objective) / exact.objective)
            line += (
                f"; exact {t_exact:.2f} s, objective {exact.objective:,.1f}; greedy/exact gap {gap * 100:.3f} % "
                f"(goal exact ≤ {GOALS['exact_s']:g} s: {'met' if t_exact <= GOALS['exact_s'] else 'MISSED'})"
            )
    else:
        total = t_pairs + t_greedy
        bound = lp_bound(weight, unit, cand, n_cand, p)
        line += (
            f"; pairs + greedy {total:.2f} s (goal ≤ {GOALS['greedy_50k_s']:g} s: "
            f"{'met' if total <= GOALS['greedy_50k_s'] else 'MISSED'}); "
        )
        if bound is None:
            line += "LP bound: not solved within 120 s"
        else:
            gap = max(0.0, (bound - greedy.objective) / bound)
            line += f"LP bound {bound:,.1f}, greedy within {gap * 100:.3f} % of it"
    print(line, flush=True)


def bench_log_in_process(requests: int, rounds: int = 5) -> None:
    """The nearest request through the Flask test client with the log off and on (alternating rounds),
    and one SearchLog.add alone."""
    from locator import create_app
    from locator.searchlog import SearchLog

    with tempfile.TemporaryDirectory() as tmp:
        apps = {
            flag: create_app(
                {
                    "TESTING": True,
                    "DATABASE_URL": f"sqlite:///{tmp}/{flag}.sqlite3",
                    "SECRET_KEY": "x",
                    "DEMAND_LOG": flag,
                    "LOG_LEVEL": "warning",
                }
            )  # fmt: skip
            for flag in ("false", "true")
        }
        lng, lat = uniform(requests, 5)
        urls = [f"/api/v1/stations/nearest?lat={y:.6f}&lng={x:.6f}&k=5" for x, y in zip(lng, lat, strict=True)]
        per_request: dict[str, list[float]] = {"false": [], "true": []}
        clients = {flag: app.test_client() for flag, app in apps.items()}
        for client in clients.values():
            for url in urls[:200]:
                client.get(url)
        for _ in range(rounds):
            for flag, client in clients.items():
                t0 = time.perf_counter()
                for url in urls:
                    client.get(url)
                per_request[flag].append((time.perf_counter() - t0) / requests * 1e6)
        for app in apps.values():
            if "search_log" in app.extensions:
                app.extensions["search_log"].close()
            app.extensions["roster"].store.close()
    log = SearchLog(lambda rows: None)
    points = list(zip(*uniform(100_000, 6), strict=True))
    t0 = time.perf_counter()
    for x, y in points:
        log.add(x, y)
    add_us = (time.perf_counter() - t0) / len(points) * 1e6
    off, on = statistics.median(per_request["false"]), statistics.median(per_request["true"])
    print(
        f"in process ({rounds} alternating rounds of {requests:,} requests): nearest request {off:.0f} µs without "
        f"the log, {on:.0f} µs with it ({(on / off - 1) * 100:+.1f} %); rounds off "
        f"{[round(v) for v in per_request['false']]}, on {[round(v) for v in per_request['true']]}; "
        f"SearchLog.add alone {add_us:.2f} µs = {add_us / off * 100:.2f} % of a request",
        flush=True,
    )


def bench_log_http(duration: int, connections: int, workers: int, rounds: int) -> None:
    """gunicorn + wrk, search log off and on, alternating (bench/http_nearest.py's machinery)."""
    from bench.http_nearest import LUA, free_port, make_sample_db, run_wrk, start_gunicorn, warm

    with tempfile.TemporaryDirectory(prefix="locator-bench-") as tmpdir:
        tmp = Path(tmpdir)
        script = tmp / "nearest.lua"
        script.write_text(LUA)
        runs: dict[str, list[dict]] = {"false": [], "true": []}
        servers = {}
        try:
            for flag in ("false", "true"):
                db = tmp / f"log-{flag}.sqlite3"
                make_sample_db(db)
                port = free_port()
                servers[flag] = (start_gunicorn(db, port, workers, tmp, {"LOCATOR_DEMAND_LOG": flag}), port)
                warm(port, workers)
            for _ in range(rounds):
                for flag in ("false", "true"):
                    port = servers[flag][1]
                    runs[flag].append(run_wrk(f"http://127.0.0.1:{port}/", duration, connections, script))
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(60)
    off = statistics.median(r["rps"] for r in runs["false"])
    on = statistics.median(r["rps"] for r in runs["true"])
    p50_off = statistics.median(r["p50"] for r in runs["false"])
    p50_on = statistics.median(r["p50"] for r in runs["true"])
    cost = off / on - 1
    non2xx = sum(r["non2xx"] for rs in runs.values() for r in rs)
    print(
        f"HTTP nearest k=5, 145 stations, gunicorn sync workers={workers}, wrk -c{connections} {duration} s × {rounds} "
        f"rounds each: log off {off:,.0f} req/s (p50 {p50_off:.2f} ms), on {on:,.0f} req/s (p50 {p50_on:.2f} ms); "
        f"cost per request {cost * 100:+.1f} % (goal ≤ {GOALS['log_overhead'] * 100:.0f} %: "
        f"{'met' if cost <= GOALS['log_overhead'] else 'MISSED'}); each run off: "
        f"{[round(r['rps']) for r in runs['false']]}, on: {[round(r['rps']) for r in runs['true']]}; non-2xx {non2xx}",
        flush=True,
    )
    if non2xx:
        sys.exit("some responses were not 2xx: the figures are not valid")


def main() -> None:
    """Run the chosen parts and print one line of figures each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="share,mclp,log,http", help="parts: share, mclp, log, http")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--radius", type=float, default=1000.0)
    parser.add_argument("--p", type=int, default=10)
    parser.add_argument("--budget", type=float, default=60.0, help="exact solve time limit, s")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    parts = set(args.only.split(","))
    import os

    print(f"cpus={os.cpu_count()}, numpy {np.__version__}", flush=True)
    if "share" in parts:
        bench_share(args.points, args.stations, args.radius)
    if "mclp" in parts:
        for radius in sorted({args.radius, 3000.0}):
            bench_mclp(radius, args.p, args.budget)
    if "log" in parts:
        bench_log_in_process(3000)
    if "http" in parts:
        bench_log_http(args.duration, args.connections, args.workers, args.rounds)


if __name__ == "__main__":
    main()
