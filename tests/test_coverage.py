"""The coverage analysis against brute force and synthetic demand with known answers (locator/coverage.py)."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from locator.coords import geodesic_m, great_circle_m
from locator.coverage import (
    GEODESIC_HI,
    GEODESIC_LO,
    Candidates,
    CoverageOptions,
    PointSet,
    analyse,
    choose_sites,
    covered_mask,
    covered_share,
    district_codes,
    exact_mclp,
    greedy_mclp,
    nearest_geodesic,
    pairs_within,
    weighted_quantile,
)
from locator.demand import Demand, area_demand, cells_of
from locator.districts import load_districts
from locator.hours import TZ
from locator.nearest import Snapshot, StationFilter
from locator.stations import Station

DISTRICTS = load_districts()
ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=TZ)


def demand_of(lng, lat, weight=None, kind="points") -> Demand:
    lng, lat = np.asarray(lng, float), np.asarray(lat, float)
    weight = np.ones(len(lng)) if weight is None else np.asarray(weight, float)
    return Demand(kind, "test", "权重", lng, lat, weight, cells_of(lng, lat))


def station(sid: str, lng: float, lat: float, **kw) -> Station:
    fields = {
        "id": sid,
        "name": f"站点 {sid}",
        "type": "rider_station",
        "district": DISTRICTS.district_of(lng, lat),
        "address": "",
        "lng": lng,
        "lat": lat,
        "hours": "24/7",
    }
    fields.update(kw)
    return Station(**fields)


def brute_nearest(lng, lat, s_lng, s_lat):
    """Geodesic distance from every point to every station: (n, m)."""
    n, m = len(lng), len(s_lng)
    d = geodesic_m(np.repeat(lng, m), np.repeat(lat, m), np.tile(s_lng, n), np.tile(s_lat, n))
    return d.reshape(n, m)


# -- the margin that makes great-circle candidates safe ------------------------------------------


def test_geodesic_over_great_circle_stays_within_the_margins_anywhere():
    rng = np.random.default_rng(1)
    n = 200_000
    lng1, lat1 = rng.uniform(-180, 180, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    # Short hops in every direction (where the ratio is most extreme) and long ones.
    step = np.concatenate([rng.uniform(1e-4, 0.05, n // 2), rng.uniform(0.05, 60, n - n // 2)])
    bearing = rng.uniform(0, 2 * np.pi, n)
    lat2 = np.clip(lat1 + step * np.cos(bearing), -89.9, 89.9)
    lng2 = (lng1 + step * np.sin(bearing) + 180) % 360 - 180
    ratio = geodesic_m(lng1, lat1, lng2, lat2) / great_circle_m(lng1, lat1, lng2, lat2)
    assert GEODESIC_LO < ratio.min() and ratio.max() < GEODESIC_HI
    assert ratio.min() < 0.9955 and ratio.max() > 1.0035  # the margins are not loose by much


# -- nearest, covered, pairs: equal to brute force -------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3])
def test_nearest_geodesic_equals_brute_force(k):
    rng = np.random.default_rng(k)
    s_lng, s_lat = rng.uniform(120.5, 120.9, 300), rng.uniform(27.8, 28.1, 300)
    # Stations in pairs almost equally far: great-circle and geodesic order disagree here.
    s_lng[150:] = s_lng[:150] + rng.normal(0, 1e-5, 150)
    s_lat[150:] = s_lat[:150] + rng.normal(0, 1e-5, 150)
    lng, lat = rng.uniform(120.4, 121.0, 3000), rng.uniform(27.7, 28.2, 3000)
    idx, dist = nearest_geodesic(lng, lat, PointSet(s_lng, s_lat), k)
    brute = np.sort(brute_nearest(lng, lat, s_lng, s_lat), axis=1)[:, :k]
    assert np.allclose(dist, brute, rtol=0, atol=1e-6)
    chosen = geodesic_m(lng, lat, s_lng[idx[:, 0]], s_lat[idx[:, 0]])
    assert np.allclose(chosen, brute[:, 0], atol=1e-6)


def test_nearest_geodesic_within_a_limit_and_with_few_stations():
    rng = np.random.default_rng(5)
    s_lng, s_lat = rng.uniform(120.6, 120.7, 3), rng.uniform(27.9, 28.0, 3)
    lng, lat = rng.uniform(120.5, 120.8, 500), rng.uniform(27.8, 28.1, 500)
    idx, dist = nearest_geodesic(lng, lat, PointSet(s_lng, s_lat), 5, max_m=4000)
    brute = np.sort(brute_nearest(lng, lat, s_lng, s_lat), axis=1)
    brute[brute > 4000] = np.inf
    assert np.array_equal(np.isfinite(dist[:, :3]), np.isfinite(brute))
    assert np.allclose(dist[:, :3][np.isfinite(brute)], brute[np.isfinite(brute)])
    assert (idx[:, 3:] == -1).all() and np.isinf(dist[:, 3:]).all()
    none_idx, none_d = nearest_geodesic(lng, lat, PointSet(np.zeros(0), np.zeros(0)), 1)
    assert (none_idx == -1).all() and np.isinf(none_d).all()


def test_covered_mask_and_pairs_equal_brute_force_at_the_edge():
    rng = np.random.default_rng(7)
    s_lng, s_lat = rng.uniform(120.5, 120.9, 200), rng.uniform(27.8, 28.1, 200)
    radius = 1000.0
    # Points placed at radius × (1 ± 0.5 %) from a station, in every direction: the margin band.
    j = rng.integers(0, 200, 4000)
    scale = radius * rng.uniform(0.99, 1.01, 4000)
    bearing = rng.uniform(0, 2 * np.pi, 4000)
    lat = s_lat[j] + scale * np.cos(bearing) / 110_574
    lng = s_lng[j] + scale * np.sin(bearing) / (111_320 * np.cos(np.radians(s_lat[j])))
    stations = PointSet(s_lng, s_lat)
    brute = brute_nearest(lng, lat, s_lng, s_lat)
    assert np.array_equal(covered_mask(lng, lat, stations, radius), (brute <= radius).any(axis=1))
    rows, cols, dist = pairs_within(lng, lat, stations, radius, distances=True)
    expected = np.argwhere(brute <= radius)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == sorted(map(tuple, expected.tolist()))
    assert np.allclose(dist, brute[rows, cols])
    fast_rows, fast_cols, _ = pairs_within(lng, lat, stations, radius)
    assert sorted(zip(fast_rows.tolist(), fast_cols.tolist(), strict=True)) == sorted(map(tuple, expected.tolist()))
    weight = rng.uniform(0, 3, 4000)
    share = covered_share(lng, lat, weight, stations, radius)
    assert share == pytest.approx(weight[(brute <= radius).any(axis=1)].sum() / weight.sum())


def test_district_codes_match_the_district_index():
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = DISTRICTS.bounds
    lng, lat = rng.uniform(x0, x1, 2000), rng.uniform(y0, y1, 2000)
    assert district_codes(DISTRICTS, lng, lat).tolist() == DISTRICTS.districts_of(lng, lat).tolist()


def test_weighted_quantile():
    assert weighted_quantile(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 8.0]), 0.9) == 3.0
    assert weighted_quantile(np.array([5.0, 1.0]), np.array([9.0, 1.0]), 0.05) == 1.0


# -- the analysis: shares equal a brute-force computation -------------------------------------------


def _roster_snapshot(rng, n=120) -> Snapshot:
    x0, y0, x1, y1 = 120.55, 27.85, 120.85, 28.1
    stations = [station(f"s{i:03d}", rng.uniform(x0, x1), rng.uniform(y0, y1)) for i in range(n)]
    stations += [
        station("p001", 120.70, 27.99, type="party_home"),
        station("c001", 120.66, 27.95, status="closed"),
        station("t001", 120.62, 27.93, hours="Mo-Fr 09:00-10:00"),
    ]
    return Snapshot.from_stations(stations, version=7)


@pytest.mark.parametrize("detour", [1.0, 1.3])
def test_covered_shares_per_district_equal_brute_force(detour):
    rng = np.random.default_rng(11)
    snap = _roster_snapshot(rng)
    n = 5000
    lng, lat = rng.uniform(120.4, 121.0, n), rng.uniform(27.7, 28.2, n)
    weight = rng.exponential(2.0, n)
    demand = demand_of(lng, lat, weight)
    flt = StationFilter(types=("rider_station",))
    report = analyse(
        snap, DISTRICTS, demand, CoverageOptions(radius_m=800, radii=(300, 1500), detour=detour, flt=flt, when=NOW)
    )
    allowed = snap.matching(flt, NOW)
    dist = brute_nearest(lng, lat, snap.lng[allowed], snap.lat[allowed]).min(axis=1) * detour
    codes = DISTRICTS.districts_of(lng, lat)
    assert [d["code"] for d in report.districts] == [d.code for d in DISTRICTS.districts]
    for radius in (300, 800, 1500):
        key = f"{radius:g}"
        assert report.city["covered_share"][key] == pytest.approx(weight[dist <= radius].sum() / weight.sum(), abs=1e-6)
        for row in report.districts:
            sel = codes == row["code"]
            if weight[sel].sum() == 0:
                assert row["covered_share"][key] is None
                continue
            expected = weight[sel & (dist <= radius)].sum() / weight[sel].sum()
            assert row["covered_share"][key] == pytest.approx(expected, abs=1e-6), (row["code"], radius)
    assert report.city["mean_distance_m"] == pytest.approx(np.average(dist, weights=weight), abs=0.1)
    assert report.city["p90_distance_m"] == pytest.approx(weighted_quantile(dist, weight, 0.9), abs=0.1)
    contract = report.contract()
    assert contract["covered_share"] == report.city["covered_share"]["800"]
    assert contract["demand_total"] == pytest.approx(weight.sum())
    assert report.stations["count"] == len(allowed) == 121  # the party home and the closed one are out


def test_open_now_filter_leaves_out_stations_closed_at_that_time():
    snap = Snapshot.from_stations([station("a", 120.70, 28.00), station("b", 120.80, 28.00, hours="Mo-Fr 09:00-10:00")])
    demand = demand_of([120.80], [28.001])
    evening = datetime(2026, 11, 30, 20, 0, tzinfo=TZ)
    at_all = analyse(snap, DISTRICTS, demand, CoverageOptions(radius_m=500, when=evening))
    open_now = CoverageOptions(radius_m=500, when=evening, flt=StationFilter(open_now=True))
    now = analyse(snap, DISTRICTS, demand, open_now)
    assert at_all.contract()["covered_share"] == 1.0 and now.contract()["covered_share"] == 0.0


# -- blind spots and suggestions: synthetic demand with known answers ---------------------------------

CLUSTERS = [(120.25, 27.75, 300.0), (120.95, 28.30, 200.0), (119.95, 27.55, 100.0)]  # far from every station


def _clustered_demand(snap: Snapshot, rng) -> Demand:
    near = rng.integers(0, len(snap), 2000)
    lng = [snap.lng[near] + rng.normal(0, 0.002, 2000)]
    lat = [snap.lat[near] + rng.normal(0, 0.002, 2000)]
    weight = [np.full(2000, 0.1)]
    for x, y, total in CLUSTERS:
        lng.append(x + rng.normal(0, 0.0015, 300))
        lat.append(y + rng.normal(0, 0.0015, 300))
        weight.append(np.full(300, total / 300))
    return demand_of(np.concatenate(lng), np.concatenate(lat), np.concatenate(weight))


@pytest.mark.parametrize("method", ["exact", "greedy"])
def test_far_clusters_are_blind_spots_and_each_gets_a_site_near_its_centre(method):
    rng = np.random.default_rng(21)
    snap = _roster_snapshot(rng)
    demand = _clustered_demand(snap, rng)
    report = analyse(
        snap, DISTRICTS, demand, CoverageOptions(radius_m=1000, suggest=3, method=method, when=NOW, exact_budget_s=20)
    )
    spots = report.blind_spots[:3]
    assert [round(s["uncovered_demand"]) for s in spots] == [300, 200, 100]  # ranked by uncovered demand
    for spot, (x, y, _) in zip(spots, CLUSTERS, strict=True):
        assert geodesic_m(spot["lng"], spot["lat"], x, y) < 300
        assert spot["district"] == DISTRICTS.district_of(x, y)
        j = snap.index_of(spot["nearest_station_id"])
        expected = brute_nearest(np.array([spot["lng"]]), np.array([spot["lat"]]), snap.lng, snap.lat)
        assert spot["nearest_distance_m"] == pytest.approx(expected[0, snap.matching(StationFilter(), NOW)].min(), 0.01)
        assert geodesic_m(spot["lng"], spot["lat"], snap.lng[j], snap.lat[j]) == pytest.approx(
            spot["nearest_distance_m"], abs=0.1
        )
    sites = report.contract()["suggested_sites"]
    assert len(sites) == 3 and report.method == method
    for site, (x, y, total) in zip(sites, CLUSTERS, strict=True):
        assert geodesic_m(site["lng"], site["lat"], x, y) < 300, (site, x, y)
        assert site["gain"] == pytest.approx(total, rel=0.02)  # a 1 km ring around it covers the cluster
    assert [s["gain"] for s in sites] == sorted((s["gain"] for s in sites), reverse=True)


def test_suggestions_from_a_list_of_willing_hosts():
    rng = np.random.default_rng(22)
    snap = _roster_snapshot(rng)
    demand = _clustered_demand(snap, rng)
    hosts = Candidates(
        np.array([120.2505, 119.9502, 120.40, 120.9497]),
        np.array([27.7503, 27.5501, 27.60, 28.2998]),
        ["瑞安某银行网点", "泰顺某党群服务中心", "远处的店", "永嘉某超市"],
    )
    report = analyse(snap, DISTRICTS, demand, CoverageOptions(radius_m=1000, suggest=2, candidates=hosts, when=NOW))
    assert [s["host"] for s in report.suggested_sites] == ["瑞安某银行网点", "永嘉某超市"]
    assert report.method == "exact" and report.solver["candidates"] == 4


def test_exact_beats_greedy_where_greedy_is_fooled():
    # Candidate 0 covers the middle four units, 1 and 2 three each on either side: greedy takes 0 first.
    weights = np.ones(6)
    pairs = [(1, 0), (2, 0), (3, 0), (4, 0), (0, 1), (1, 1), (2, 1), (3, 2), (4, 2), (5, 2)]
    unit = np.array([u for u, _ in pairs])
    cand = np.array([c for _, c in pairs])
    greedy = greedy_mclp(weights, unit, cand, 3, 2)
    exact = exact_mclp(weights, unit, cand, 3, 2, budget_s=10)
    assert exact.method == "exact" and exact.objective == pytest.approx(6.0) and exact.bound == pytest.approx(6.0)
    assert greedy.chosen[0] == 0 and greedy.objective == 5.0 >= (1 - 1 / np.e) * 6.0
    chosen = choose_sites(weights, unit, cand, 3, 2, budget_s=10)
    assert chosen.method == "exact" and sorted(chosen.chosen) == [1, 2]
    fallback = choose_sites(weights, unit, cand, 3, 2, budget_s=0)
    assert fallback.method == "greedy" and fallback.objective == 5.0


def test_exact_equals_enumeration_on_random_small_instances():
    rng = np.random.default_rng(4)
    for _ in range(5):
        n_units, n_cand, p = 40, 9, 3
        cover = rng.random((n_units, n_cand)) < 0.15
        unit, cand = np.nonzero(cover)
        weights = rng.uniform(0, 5, n_units)
        best = max(weights[cover[:, list(c)].any(axis=1)].sum() for c in itertools.combinations(range(n_cand), p))
        assert exact_mclp(weights, unit, cand, n_cand, p, budget_s=10).objective == pytest.approx(best)


def test_redundancy_ranks_duplicated_stations_first():
    snap = Snapshot.from_stations(
        [station("a", 120.70, 28.00), station("b", 120.7001, 28.0001), station("c", 120.80, 28.05)]
    )
    demand = demand_of([120.7002, 120.8001, 120.8002], [28.0002, 28.0502, 28.0501], [5.0, 2.0, 1.0])
    report = analyse(snap, DISTRICTS, demand, CoverageOptions(radius_m=500, when=NOW))
    losses = {r["id"]: r["lost_demand"] for r in report.redundancy}
    assert losses == {"a": 0.0, "b": 0.0, "c": 3.0}
    assert [r["id"] for r in report.redundancy] == ["a", "b", "c"]


def test_no_station_at_all():
    demand = demand_of([120.7, 120.8], [28.0, 28.1])
    report = analyse(Snapshot.from_stations([]), DISTRICTS, demand, CoverageOptions(suggest=1, when=NOW))
    contract = report.contract()
    assert contract["covered_share"] == 0.0 and report.city["mean_distance_m"] is None
    assert contract["blind_spots"][0]["nearest_station_id"] is None
    assert len(contract["suggested_sites"]) == 1


# -- area coverage (no demand layer) -------------------------------------------------------------


def test_area_coverage_of_one_station_is_its_disc_over_the_district_area():
    lng, lat = 120.5095, 28.0675  # inside 鹿城区, 2.5 km from its edges
    snap = Snapshot.from_stations([station("a", lng, lat)])
    demand = area_demand(DISTRICTS)
    report = analyse(snap, DISTRICTS, demand, CoverageOptions(radius_m=1000, radii=(), when=NOW))
    lucheng = next(d for d in report.districts if d["code"] == "330302")
    disc_km2 = np.pi * 1.0**2
    assert lucheng["covered"]["1000"] == pytest.approx(disc_km2, rel=0.05)
    assert lucheng["covered_share"]["1000"] == pytest.approx(disc_km2 / lucheng["demand"], rel=0.05)
    assert report.is_area and report.as_json()["measure"] == "面积覆盖率"
    others = [d for d in report.districts if d["code"] != "330302"]
    assert all(d["covered_share"]["1000"] == 0.0 for d in others)
    assert report.contract()["demand_total"] == pytest.approx(sum(d["demand"] for d in report.districts))


def test_importing_the_coverage_modules_first_keeps_the_riders_kd_tree_single_threaded():
    """pykdtree must load after locator.nearest sets OMP_NUM_THREADS=1, whoever imports it first (the CLI
    registers the coverage command at start-up): a thread team per rider query costs milliseconds."""
    import os
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "seen = {}\n"
        "class Spy:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pykdtree.kdtree':\n"
        "            seen.setdefault('omp', os.environ.get('OMP_NUM_THREADS'))\n"
        "sys.meta_path.insert(0, Spy())\n"
        "import locator.cli.coverage, locator.web.admin.coverage\n"
        "print(seen.get('omp'), sorted(m for m in ('matplotlib', 'openpyxl', 'highspy', 'geopandas')"
        " if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=ROOT)
    assert out.stdout.split(None, 1) == ["1", "[]\n"]
