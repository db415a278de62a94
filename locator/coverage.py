"""Coverage analysis: how much demand lies within reach of a station, where the gaps are, where to build.

Plain Python (numpy, pykdtree, pyproj, h3, HiGHS); no Flask. Given a roster snapshot, a station
filter and demand (locator/demand.py), `analyse` reports per district and for the city:

- the **covered share** of demand within each radius (default: the coverage map's rings,
  500, 1000 and 3000 m), optionally with a **detour factor** (a station at straight-line
  distance d counts as d × detour away: riders follow streets, not straight lines);
- the demand-weighted **mean and 90th-percentile distance** to the nearest station;
- **blind spots**: connected groups of H3 resolution-8 cells with uncovered demand, ranked by it;
- **site suggestions**: the maximal covering location problem (choose p new sites to cover the
  most uncovered demand), solved exactly with HiGHS where it fits the time budget, greedily
  otherwise (the greedy answer is within 1 − 1/e ≈ 63 % of the optimum); each site with its
  marginal gain;
- **redundancy**: existing stations whose removal would lose the least coverage.

Distances are WGS-84 geodesics (`coords.geodesic_m`, Karney), the nearest search's distance.
Candidates come from a k-d tree over unit vectors (great-circle order, as in locator/nearest.py)
with a safe margin: the geodesic/great-circle ratio lies within [GEODESIC_LO, GEODESIC_HI] for
any pair of points on Earth, so no station the geodesic would pick is ever missed.
"""

from __future__ import annotations

import heapq
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from locator.coords import EARTH_RADIUS_M, geodesic_m
from locator.districts import DistrictIndex
from locator.hours import TZ

# pykdtree through locator.nearest, which sets OMP_NUM_THREADS=1 before pykdtree (libgomp) loads:
# imported here first, a thread team would wake for every rider's single-point query (26 ms, not 20 µs).
from locator.nearest import KDTree, Snapshot, StationFilter, chord_for_metres, unit_vectors

# WGS-84 geodesic / great-circle (R = 6,371,008.8 m) lies within [0.99443, 1.00447] for any pair:
# the ellipsoid's radii of curvature range from 6,335,439 m (meridian, equator) to 6,399,594 m
# (poles). The margins below are a little wider (tests/test_coverage.py checks random pairs).
GEODESIC_LO = 0.994
GEODESIC_HI = 1.005
DEFAULT_RADII = (500.0, 1000.0, 3000.0)  # the coverage map's rings (locator/maps.py RING_RADII_M)
GREEDY_BOUND = 1 - 1 / math.e
EXACT_MAX_CANDIDATES = 10_000  # beyond these sizes the exact model is not attempted: greedy at once
EXACT_MAX_PAIRS = 1_500_000

Progress = Callable[[float, str], None]
BLIND_SPOT_KEYS = ("lng", "lat", "district", "uncovered_demand", "nearest_station_id", "nearest_distance_m")


def _no_progress(fraction: float, message: str) -> None:
    return None


# -- geometry ------------------------------------------------------------------------------------


class PointSet:
    """Points (stations or candidate sites) with a k-d tree over their unit vectors."""

    def __init__(self, lng: np.ndarray, lat: np.ndarray):
        self.lng = np.ascontiguousarray(lng, dtype=float)
        self.lat = np.ascontiguousarray(lat, dtype=float)
        self.tree = KDTree(unit_vectors(self.lng, self.lat), leafsize=16) if len(self.lng) else None

    def __len__(self) -> int:
        return len(self.lng)


def _query(points: PointSet, q: np.ndarray, k: int, bound_m: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Great-circle metres and indices (n, k) of the k nearest points (index len(points) = none)."""
    bound = chord_for_metres(bound_m) if bound_m is not None else None
    chord, idx = points.tree.query(q, k=k, distance_upper_bound=bound)
    chord = np.asarray(chord, float).reshape(len(q), k)
    idx = np.asarray(idx, np.int64).reshape(len(q), k)
    metres = 2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(chord / 2.0, 1.0))
    metres[idx >= len(points)] = np.inf
    return metres, idx


def nearest_geodesic(
    lng: np.ndarray, lat: np.ndarray, points: PointSet, k: int = 1, *, max_m: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest points by WGS-84 geodesic: indices (n, k; -1 = none) and metres (inf = none).

    With `max_m`, only points within that geodesic distance count. Candidates come in great-circle
    order from the k-d tree; a row is settled once the next unmeasured candidate, at GEODESIC_LO ×
    its great-circle distance, cannot beat the k-th geodesic found. The first pass measures only k
    candidates per row (nearly every row settles there); the rest fetch more until settled.
    """
    n = len(lng)
    out_idx = np.full((n, k), -1, dtype=np.int64)
    out_d = np.full((n, k), np.inf)
    total = len(points)
    if n == 0 or total == 0:
        return out_idx, out_d
    q = unit_vectors(lng, lat)
    bound = max_m / GEODESIC_LO if max_m is not None else None
    todo = np.arange(n)
    fetch = min(k + 1, total)
    measure_all = False
    while len(todo):
        sphere, idx = _query(points, q[todo], fetch, bound)
        width = fetch if measure_all else min(k, fetch)
        geo = np.full((len(todo), width), np.inf)
        r, c = np.nonzero(idx[:, :width] < total)
        rows = todo[r]
        geo[r, c] = geodesic_m(lng[rows], lat[rows], points.lng[idx[r, c]], points.lat[idx[r, c]])
        if max_m is not None:
            geo[geo > max_m] = np.inf
        order = np.argsort(geo, axis=1, kind="stable")[:, :k]
        best = np.take_along_axis(geo, order, axis=1)
        kth = best[:, k - 1] if best.shape[1] >= k else np.full(len(todo), np.inf)
        # Great-circle distance below which an unmeasured point could still lie (inf: none left).
        if width < fetch:
            next_sphere = sphere[:, width]
        elif fetch >= total:
            next_sphere = np.full(len(todo), np.inf)
        else:
            next_sphere = sphere[:, -1]
        done = ~np.isfinite(next_sphere) | (next_sphere * GEODESIC_LO >= kth)
        settled = todo[done]
        found = best[done]
        out_d[settled, : found.shape[1]] = found
        out_idx[settled, : found.shape[1]] = np.where(
            np.isfinite(found), np.take_along_axis(idx[done, :width], order[done], axis=1), -1
        )
        todo = todo[~done]
        if measure_all:
            fetch = min(2 * fetch, total)
        else:
            measure_all = True
            fetch = min(max(2 * fetch, k + 8), total)
    return out_idx, out_d


def pairs_within(
    lng: np.ndarray, lat: np.ndarray, points: PointSet, radius_m: float, *, distances: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Every (row, point index) with geodesic distance ≤ radius_m, rows ascending; metres if `distances`.

    Pairs closer than radius_m / GEODESIC_HI on the sphere are inside without measuring; only the
    margin band is measured (unless the distances are wanted).
    """
    n = len(lng)
    if n == 0 or len(points) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, (np.zeros(0) if distances else None)
    q = unit_vectors(lng, lat)
    total = len(points)
    bound = radius_m / GEODESIC_LO
    out_r, out_j, out_d = [], [], []
    todo = np.arange(n)
    fetch = min(16, total)
    while len(todo):
        sphere, idx = _query(points, q[todo], fetch, bound)
        # Rows with `fetch` hits inside the bound may have more: fetched again with twice as many.
        full = (idx[:, -1] < total) & (fetch < total)
        r, c = np.nonzero((idx < total) & ~full[:, None])
        rows = todo[r]
        j = idx[r, c]
        if distances:
            d = geodesic_m(lng[rows], lat[rows], points.lng[j], points.lat[j])
            keep = d <= radius_m
            out_d.append(d[keep])
        else:
            keep = sphere[r, c] * GEODESIC_HI <= radius_m
            band = np.flatnonzero(~keep)
            if len(band):
                rb, jb = rows[band], j[band]
                keep[band] = geodesic_m(lng[rb], lat[rb], points.lng[jb], points.lat[jb]) <= radius_m
        out_r.append(rows[keep])
        out_j.append(j[keep])
        todo = todo[full]
        fetch = min(2 * fetch, total)
    rows = np.concatenate(out_r)
    order = np.argsort(rows, kind="stable")
    return rows[order], np.concatenate(out_j)[order], (np.concatenate(out_d)[order] if distances else None)


def covered_mask(lng: np.ndarray, lat: np.ndarray, points: PointSet, radius_m: float) -> np.ndarray:
    """Whether each point has a station within radius_m (geodesic): the fast path of the covered share.

    One great-circle query settles almost every point; only those in the margin band are measured.
    """
    n = len(lng)
    if n == 0 or len(points) == 0:
        return np.zeros(n, bool)
    sphere, _ = _query(points, unit_vectors(lng, lat), 1, radius_m / GEODESIC_LO)
    s1 = sphere[:, 0]
    covered = s1 * GEODESIC_HI <= radius_m
    band = np.flatnonzero(~covered & np.isfinite(s1))
    if len(band):
        _, d = nearest_geodesic(lng[band], lat[band], points, 1, max_m=radius_m)
        covered[band] = d[:, 0] <= radius_m
    return covered


def covered_share(lng: np.ndarray, lat: np.ndarray, weight: np.ndarray, points: PointSet, radius_m: float) -> float:
    """Weight within radius_m (geodesic) of any point, divided by the total weight."""
    total = float(weight.sum())
    if total <= 0:
        return 0.0
    return float(weight[covered_mask(lng, lat, points, radius_m)].sum()) / total


def district_codes(districts: DistrictIndex, lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The district code of each WGS-84 point (None outside every district), vectorised.

    Each district tests only the points inside its bounding box (about 0.3 s for 1M points).
    """
    import shapely

    out = np.full(len(lng), None, dtype=object)
    for d in districts.districts:
        x0, y0, x1, y1 = shapely.bounds(d.geometry).tolist()
        sel = np.flatnonzero((lng >= x0) & (lng <= x1) & (lat >= y0) & (lat <= y1) & (out == None))  # noqa: E711
        if len(sel):
            inside = shapely.contains_xy(d.geometry, lng[sel], lat[sel])
            out[sel[inside]] = d.code
    return out


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The q-quantile of values weighted by weights (the smallest value whose cumulative weight reaches q)."""
    if len(values) == 0 or weights.sum() <= 0:
        return math.nan
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    at = np.searchsorted(cum, q * cum[-1], side="left")
    return float(values[order][min(at, len(values) - 1)])


# -- the maximal covering location problem --------------------------------------------------------


@dataclass
class SiteChoice:
    """Chosen candidate indices (in order of marginal gain) and how they were found."""

    chosen: list[int]
    method: str  # exact | greedy
    objective: float  # covered weight of the model's demand units
    bound: float | None  # an upper bound on the optimum (exact: equal to objective)
    seconds: float
    note: str = ""


def greedy_mclp(weights: np.ndarray, unit: np.ndarray, cand: np.ndarray, n_cand: int, p: int) -> SiteChoice:
    """Lazy greedy (CELF): repeatedly the candidate covering most still-uncovered weight.

    `unit[i]`, `cand[i]` are the pairs (demand unit, candidate) within reach. At least 1 − 1/e of the optimum.
    """
    t0 = time.perf_counter()
    order = np.argsort(cand, kind="stable")
    units_of = np.split(unit[order], np.cumsum(np.bincount(cand, minlength=n_cand))[:-1])
    gain0 = np.bincount(cand, weights=weights[unit], minlength=n_cand)
    heap = [(-g, j) for j, g in enumerate(gain0.tolist()) if g > 0]
    heapq.heapify(heap)
    covered = np.zeros(len(weights), bool)
    chosen: list[int] = []
    total = 0.0
    while heap and len(chosen) < p:
        neg, j = heapq.heappop(heap)
        units = units_of[j]
        fresh = units[~covered[units]]
        gain = float(weights[fresh].sum())
        if gain <= 0:
            continue
        if heap and gain < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-gain, j))  # stale: its gain shrank; try again later
            continue
        chosen.append(j)
        covered[fresh] = True
        total += gain
    return SiteChoice(chosen, "greedy", total, None, time.perf_counter() - t0)


_HIGHS_LOCK = threading.Lock()
_HIGHS_QUIET = False


def _new_highs():
    """A silent HiGHS instance. The first one in a process prints a banner on stdout from C++,
    which would corrupt the CLI's JSON on stdout: stdout is pointed at /dev/null meanwhile."""
    global _HIGHS_QUIET
    import highspy

    with _HIGHS_LOCK:
        if _HIGHS_QUIET:
            highs = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 1)
                highs = highspy.Highs()
                import ctypes

                ctypes.CDLL(None).fflush(None)
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(devnull)
            _HIGHS_QUIET = True
    highs.setOptionValue("output_flag", False)
    return highs


def exact_mclp(
    weights: np.ndarray, unit: np.ndarray, cand: np.ndarray, n_cand: int, p: int, budget_s: float
) -> SiteChoice | None:
    """The maximal covering location problem as an integer programme, solved by HiGHS.

    max Σ w_i y_i  s.t.  y_i ≤ Σ_{j covers i} x_j,  Σ x_j = p,  x binary, 0 ≤ y ≤ 1.
    None when HiGHS does not prove optimality within `budget_s` seconds.
    """
    import highspy

    t0 = time.perf_counter()
    n_units = len(weights)
    p = min(p, n_cand)
    highs = _new_highs()
    highs.setOptionValue("time_limit", float(max(budget_s, 0.1)))
    highs.setOptionValue("mip_rel_gap", 1e-9)
    highs.setOptionValue("threads", 1)
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = n_cand + n_units
    lp.num_row_ = n_units + 1
    lp.col_cost_ = np.concatenate([np.zeros(n_cand), weights.astype(float)])
    lp.col_lower_ = np.zeros(n_cand + n_units)
    lp.col_upper_ = np.ones(n_cand + n_units)
    lp.row_lower_ = np.concatenate([np.full(n_units, -inf), [float(p)]])
    lp.row_upper_ = np.concatenate([np.zeros(n_units), [float(p)]])
    lp.sense_ = highspy.ObjSense.kMaximize
    # Row i: y_i − Σ x_j ≤ 0; the last row: Σ x_j = p. Row-wise sparse matrix.
    order = np.lexsort((cand, unit))
    u, c = unit[order], cand[order]
    counts = np.bincount(u, minlength=n_units)
    starts = np.concatenate([[0], np.cumsum(counts + 1)])
    nnz = len(u) + n_units + n_cand
    index = np.empty(nnz, np.int32)
    value = np.empty(nnz)
    y_pos = starts[:-1]
    index[y_pos] = n_cand + np.arange(n_units)
    value[y_pos] = 1.0
    x_pos = np.arange(len(u)) + np.repeat(np.arange(n_units) + 1, counts)
    index[x_pos] = c
    value[x_pos] = -1.0
    tail = len(u) + n_units
    index[tail:] = np.arange(n_cand)
    value[tail:] = 1.0
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.concatenate([starts, [nnz]]).astype(np.int32)
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_cand + [highspy.HighsVarType.kContinuous] * n_units
    highs.passModel(lp)
    highs.run()
    status = highs.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        return None
    x = np.asarray(highs.getSolution().col_value[:n_cand])
    chosen = np.flatnonzero(x > 0.5).tolist()
    info = highs.getInfo()
    objective = float(info.objective_function_value)
    return SiteChoice(chosen, "exact", objective, float(info.mip_dual_bound), time.perf_counter() - t0)


def choose_sites(
    weights: np.ndarray,
    unit: np.ndarray,
    cand: np.ndarray,
    n_cand: int,
    p: int,
    *,
    budget_s: float,
    method: str = "auto",
) -> SiteChoice:
    """p sites maximising newly covered weight: exact (HiGHS) where it fits the budget, else greedy.

    The exact answer's sites are listed in the order a greedy pass over them gives (largest
    marginal gain first); sites that would add nothing are left out.
    """
    greedy = greedy_mclp(weights, unit, cand, n_cand, p)
    try_exact = method in ("auto", "exact") and budget_s > 0 and p > 0 and len(greedy.chosen) > 0
    note = ""
    if try_exact and (n_cand > EXACT_MAX_CANDIDATES or len(unit) > EXACT_MAX_PAIRS):
        try_exact = False
        note = f"规模过大（候选点 {n_cand:,}，覆盖关系 {len(unit):,}），直接采用贪心算法"
    if try_exact and len(greedy.chosen) < p:
        # Greedy stopped because nothing more can be covered: it covers all coverable demand (optimal).
        return SiteChoice(greedy.chosen, "exact", greedy.objective, greedy.objective, greedy.seconds)
    if try_exact:
        exact = exact_mclp(weights, unit, cand, n_cand, p, budget_s)
        if exact is not None:
            keep = np.isin(cand, exact.chosen)
            ordered = greedy_mclp(weights, unit[keep], cand[keep], n_cand, p)
            exact.chosen = ordered.chosen
            exact.seconds += greedy.seconds
            return exact
        note = f"精确求解在 {budget_s:g} 秒内未完成，改用贪心算法"
    greedy.note = note
    return greedy


# -- the analysis ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidates:
    """Candidate sites for new stations: WGS-84 points with optional names (willing hosts)."""

    lng: np.ndarray
    lat: np.ndarray
    labels: Sequence[str | None]
    source: str = "hosts"


@dataclass(frozen=True)
class CoverageOptions:
    """What to analyse: radius, rings, detour, station filter, suggestions, districts in scope."""

    radius_m: float = 1000.0
    radii: tuple[float, ...] = DEFAULT_RADII
    detour: float = 1.0
    flt: StationFilter = field(default_factory=StationFilter)
    when: datetime | None = None
    suggest: int = 0
    candidates: Candidates | None = None
    scope: tuple[str, ...] | None = None  # district codes; None: the whole city
    exact_budget_s: float = 30.0
    method: str = "auto"  # auto | exact | greedy
    blind_spot_limit: int = 20
    redundancy_limit: int = 10

    @property
    def all_radii(self) -> tuple[float, ...]:
        """The rings and the main radius, ascending."""
        return tuple(sorted({float(r) for r in (*self.radii, self.radius_m)}))


@dataclass
class CoverageReport:
    """The whole analysis; `contract()` is the CLI's JSON, `as_json()` everything."""

    radius_m: float
    detour: float
    demand: dict[str, Any]
    stations: dict[str, Any]
    city: dict[str, Any]
    districts: list[dict[str, Any]]
    blind_spots: list[dict[str, Any]]
    suggested_sites: list[dict[str, Any]]
    method: str
    solver: dict[str, Any]
    redundancy: list[dict[str, Any]]
    cells: list[list[Any]]  # [h3 cell (hex), weight, uncovered weight, blind-spot rank or 0]
    station_points: list[list[Any]]  # [lng, lat, id, name, type] of the stations that count
    scope: list[str] | None
    at: str
    seconds: float = 0.0

    @property
    def is_area(self) -> bool:
        """True when demand is the districts' area (面积覆盖率)."""
        return self.demand.get("kind") == "area"

    def contract(self) -> dict[str, Any]:
        """Exactly the CLI contract of issue 17 (coordinates WGS-84)."""
        key = _radius_key(self.radius_m)
        return {
            "radius_m": _number_out(self.radius_m),
            "demand_total": self.city["demand"],
            "covered_share": self.city["covered_share"][key],
            "districts": [
                {"code": d["code"], "name": d["name"], "demand": d["demand"], "covered_share": d["covered_share"][key]}
                for d in self.districts
            ],
            "blind_spots": [
                {
                    k: b[k]
                    for k in ("lng", "lat", "district", "uncovered_demand", "nearest_station_id", "nearest_distance_m")
                }
                for b in self.blind_spots
            ],
            "suggested_sites": [{k: s[k] for k in ("lng", "lat", "gain")} for s in self.suggested_sites],
            "method": self.method,
        }

    def as_json(self, *, with_cells: bool = True) -> dict[str, Any]:
        """The contract and everything else: rings, distances, solver, redundancy, labels, cells for maps."""
        out = self.contract()
        out.update(
            {
                "measure": "面积覆盖率" if self.is_area else "需求覆盖率",
                "detour_factor": self.detour,
                "distance": "WGS-84 geodesic (Karney); straight line × detour factor",
                "demand": self.demand,
                "stations": self.stations,
                "city": self.city,
                "districts_detail": self.districts,
                "blind_spots_detail": self.blind_spots,
                "suggested_sites_detail": self.suggested_sites,
                "solver": self.solver,
                "redundancy": self.redundancy,
                "scope": self.scope,
                "at": self.at,
                "seconds": round(self.seconds, 3),
            }
        )
        if with_cells:
            out["cells"] = self.cells
            out["station_points"] = self.station_points
        return out


def _radius_key(radius: float) -> str:
    return f"{float(radius):g}"


def _number_out(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 3)


def _share(covered: float, total: float) -> float | None:
    return round(covered / total, 6) if total > 0 else None


def _round_weight(value: float) -> float:
    return round(float(value), 6)


def station_set(snapshot: Snapshot, flt: StationFilter, when: datetime) -> tuple[np.ndarray, PointSet]:
    """Indices (into the snapshot) of the stations that pass the filter, and their PointSet."""
    idx = snapshot.matching(flt, when)
    return idx, PointSet(snapshot.lng[idx], snapshot.lat[idx])


def analyse(
    snapshot: Snapshot,
    districts: DistrictIndex,
    demand,
    options: CoverageOptions,
    progress: Progress | None = None,
) -> CoverageReport:
    """The coverage of `demand` by the snapshot's stations that pass the filter (see the module docstring)."""
    import h3

    t0 = time.perf_counter()
    say = progress or _no_progress
    when = options.when or datetime.now(TZ)
    r_eff = options.radius_m / options.detour
    say(0.02, "筛选站点")
    st_idx, stations = station_set(snapshot, options.flt, when)
    say(0.05, "确定需求所在区县")
    if demand.district is None:
        demand.district = district_codes(districts, demand.lng, demand.lat)
    dcode = demand.district
    scope = tuple(options.scope) if options.scope else None
    in_scope = np.isin(dcode, list(scope)) if scope else np.ones(len(demand), bool)

    say(0.1, "计算到最近站点的距离")
    nearest_i, nearest_d = nearest_geodesic(demand.lng, demand.lat, stations, 1)
    eff = nearest_d[:, 0] * options.detour
    w = demand.weight

    # Shares per radius, per district and for the city (or the districts in scope).
    radii = options.all_radii
    shown = [d for d in districts.districts if scope is None or d.code in scope]
    rows: list[dict[str, Any]] = []
    for d in shown:
        sel = dcode == d.code
        rows.append(_summary(d.code, d.name, w[sel], eff[sel], radii))
    city_sel = in_scope if scope else np.ones(len(demand), bool)
    city = _summary(None, "全市" if scope is None else "负责区县合计", w[city_sel], eff[city_sel], radii)
    if scope is None:
        city["outside_districts"] = _round_weight(w[dcode == None].sum())  # noqa: E711

    say(0.3, "查找覆盖盲区")
    uncovered = in_scope & (eff > options.radius_m) & (w > 0)
    unit_cells, unit_of_item = np.unique(demand.cell[uncovered], return_inverse=True)
    u_items = np.flatnonzero(uncovered)
    u_weight = np.bincount(unit_of_item, weights=w[u_items], minlength=len(unit_cells))
    u_lng = np.bincount(unit_of_item, weights=w[u_items] * demand.lng[u_items], minlength=len(unit_cells))
    u_lat = np.bincount(unit_of_item, weights=w[u_items] * demand.lat[u_items], minlength=len(unit_cells))
    safe = np.where(u_weight > 0, u_weight, 1.0)
    u_lng, u_lat = u_lng / safe, u_lat / safe
    groups = _connected_cells(unit_cells)
    blind, cell_rank = _blind_spots(
        groups, unit_cells, u_weight, u_lng, u_lat, u_items, unit_of_item, dcode, w, districts, snapshot,
        st_idx, stations, options.blind_spot_limit,
    )  # fmt: skip

    say(0.45, "计算建议选址")
    sites, choice, n_candidates = _suggest(
        demand, options, r_eff, u_lng, u_lat, u_weight, u_items, districts, scope, stations, say
    )
    say(0.85, "计算冗余站点")
    redundancy = _redundancy(demand, eff, nearest_i, options, r_eff, in_scope, snapshot, st_idx, stations, districts)

    say(0.95, "整理结果")
    all_cells, cell_of_item = np.unique(demand.cell[in_scope], return_inverse=True)
    cell_weight = np.bincount(cell_of_item, weights=w[in_scope], minlength=len(all_cells))
    unc_in_scope = uncovered[in_scope]
    cell_unc = np.bincount(cell_of_item[unc_in_scope], weights=w[in_scope][unc_in_scope], minlength=len(all_cells))
    rank_of = dict(zip(cell_rank[0].tolist(), cell_rank[1].tolist(), strict=True))
    cells = [
        [h3.int_to_str(c), cw, cu, rank_of.get(c, 0)]
        for c, cw, cu in zip(
            all_cells.tolist(), np.round(cell_weight, 6).tolist(), np.round(cell_unc, 6).tolist(), strict=True
        )
    ]
    stations_list = snapshot.stations or []
    station_points = [
        [
            round(float(snapshot.lng[i]), 6),
            round(float(snapshot.lat[i]), 6),
            str(snapshot.ids[i]),
            stations_list[i].name if stations_list else "",
            stations_list[i].type if stations_list else "",
        ]
        for i in st_idx.tolist()
    ]
    solver = {
        "method": choice.method if choice else "exact",
        "objective": _round_weight(choice.objective) if choice else 0.0,
        "upper_bound": _round_weight(choice.bound) if choice and choice.bound is not None else None,
        "seconds": round(choice.seconds, 3) if choice else 0.0,
        "note": choice.note if choice else "",
        "greedy_bound": "贪心算法：结果至少达到最优值的 1−1/e ≈ 63.2%",
        "candidates": n_candidates,
        "demand_cells": int(len(u_weight)),
        "model": "最大覆盖选址（MCLP）：在 H3 8 级网格汇总的未覆盖需求上求解；增益按原始需求计",
    }
    say(1.0, "完成")
    return CoverageReport(
        radius_m=float(options.radius_m),
        detour=float(options.detour),
        demand=_demand_info(demand),
        stations={
            "count": int(len(st_idx)),
            "types": list(options.flt.types),
            "open_now": bool(options.flt.open_now),
            "data_version": snapshot.version,
        },
        city=city,
        districts=rows,
        blind_spots=blind,
        suggested_sites=sites,
        method=solver["method"],
        solver=solver,
        redundancy=redundancy,
        cells=cells,
        station_points=station_points,
        scope=list(scope) if scope else None,
        at=when.isoformat(timespec="seconds"),
        seconds=time.perf_counter() - t0,
    )


def _demand_info(demand) -> dict[str, Any]:
    return {
        "kind": demand.kind,
        "label": demand.label,
        "unit": demand.unit,
        "total": _round_weight(demand.total),
        "items": int(len(demand)),
        **demand.info,
    }


def _summary(code, name, weight: np.ndarray, eff: np.ndarray, radii: Sequence[float]) -> dict[str, Any]:
    total = float(weight.sum())
    shares = {}
    covered = {}
    for r in radii:
        c = float(weight[eff <= r].sum())
        covered[_radius_key(r)] = _round_weight(c)
        shares[_radius_key(r)] = _share(c, total)
    reach = np.isfinite(eff)
    mean = float(np.average(eff[reach], weights=weight[reach])) if reach.any() and weight[reach].sum() > 0 else None
    p90 = weighted_quantile(eff, weight, 0.9) if total > 0 else None
    return {
        "code": code,
        "name": name,
        "demand": _round_weight(total),
        "covered": covered,
        "covered_share": shares,
        "mean_distance_m": round(mean, 1) if mean is not None else None,
        "p90_distance_m": round(p90, 1) if p90 is not None and math.isfinite(p90) else None,
    }


def _connected_cells(cells: np.ndarray) -> np.ndarray:
    """A group number per cell: cells sharing an edge (H3 neighbours) are in one group."""
    from h3.api.basic_int import grid_disk

    n = len(cells)
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    position = {int(c): i for i, c in enumerate(cells.tolist())}
    for i, c in enumerate(cells.tolist()):
        for nb in grid_disk(int(c), 1):
            j = position.get(nb)
            if j is not None and j != i:
                ra, rb = find(i), find(j)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)], dtype=np.int64)


def _blind_spots(
    groups, unit_cells, u_weight, u_lng, u_lat, u_items, unit_of_item, dcode, w, districts, snapshot,
    st_idx, stations, limit,
):  # fmt: skip
    """Groups of uncovered cells ranked by uncovered weight, with centre, district and nearest station."""
    if not len(unit_cells):
        return [], (np.zeros(0, np.uint64), np.zeros(0, np.int64))
    labels, group_of = np.unique(groups, return_inverse=True)
    g_weight = np.bincount(group_of, weights=u_weight)
    g_lng = np.bincount(group_of, weights=u_weight * u_lng) / np.where(g_weight > 0, g_weight, 1)
    g_lat = np.bincount(group_of, weights=u_weight * u_lat) / np.where(g_weight > 0, g_weight, 1)
    g_cells = np.bincount(group_of)
    ranked = np.lexsort((g_lat, g_lng, -g_weight))[:limit]
    # The district holding most of each group's uncovered demand.
    item_group = group_of[unit_of_item]
    nearest_i, nearest_d = nearest_geodesic(g_lng[ranked], g_lat[ranked], stations, 1)
    out = []
    rank_cells, rank_values = [], []
    for rank, g in enumerate(ranked.tolist(), start=1):
        sel = item_group == g
        codes = dcode[u_items[sel]]
        weights = w[u_items[sel]]
        by_code: dict[str | None, float] = {}
        for code, weight in zip(codes.tolist(), weights.tolist(), strict=True):
            by_code[code] = by_code.get(code, 0.0) + weight
        code = max(by_code.items(), key=lambda kv: (kv[1], kv[0] or ""))[0]
        j = int(nearest_i[rank - 1, 0])
        station_id = str(snapshot.ids[st_idx[j]]) if j >= 0 else None
        station = snapshot.stations[st_idx[j]] if j >= 0 and snapshot.stations else None
        distance = float(nearest_d[rank - 1, 0])
        out.append(
            {
                "rank": rank,
                "lng": round(float(g_lng[g]), 6),
                "lat": round(float(g_lat[g]), 6),
                "district": code,
                "district_name": districts.name(code),
                "uncovered_demand": _round_weight(g_weight[g]),
                "cells": int(g_cells[g]),
                "nearest_station_id": station_id,
                "nearest_station_name": station.name if station else None,
                "nearest_distance_m": round(distance, 1) if math.isfinite(distance) else None,
            }
        )
        members = unit_cells[group_of == g]
        rank_cells.extend(int(c) for c in members.tolist())
        rank_values.extend([rank] * len(members))
    return out, (np.asarray(rank_cells, np.uint64), np.asarray(rank_values, np.int64))


def _suggest(demand, options, r_eff, u_lng, u_lat, u_weight, u_items, districts, scope, stations, say):
    """Site suggestions: candidates, the coverage pairs, the solve, and exact marginal gains."""
    if options.suggest <= 0 or not len(u_weight):
        return [], None, 0
    if options.candidates is not None:
        c_lng = np.asarray(options.candidates.lng, float)
        c_lat = np.asarray(options.candidates.lat, float)
        labels = list(options.candidates.labels)
        if scope:
            keep = np.isin(district_codes(districts, c_lng, c_lat), list(scope))
            c_lng, c_lat = c_lng[keep], c_lat[keep]
            labels = [lab for lab, k in zip(labels, keep.tolist(), strict=True) if k]
    else:
        # Default candidates: the centre of uncovered demand in each cell (a site where the riders are).
        c_lng, c_lat, labels = u_lng, u_lat, [None] * len(u_lng)
    if not len(c_lng):
        return [], SiteChoice([], "exact", 0.0, 0.0, 0.0, "没有候选点"), 0
    cand_points = PointSet(c_lng, c_lat)
    unit, cand, _ = pairs_within(u_lng, u_lat, cand_points, r_eff)
    say(0.55, f"求解最大覆盖选址（候选点 {len(c_lng):,}，需求网格 {len(u_weight):,}）")
    choice = choose_sites(
        u_weight, unit, cand, len(c_lng), options.suggest, budget_s=options.exact_budget_s, method=options.method
    )
    # Marginal gains on the original demand items (the model saw their cell summaries): the chosen
    # sites ordered greedily by what each adds to those before it; a site adding nothing is dropped.
    sites = []
    if choice.chosen:
        chosen = np.asarray(choice.chosen)
        if options.candidates is None:
            # Default candidates are cell summaries, not places anyone asked for: each chosen site
            # moves to the centre of the demand it serves when that covers at least as much.
            c_lng, c_lat = c_lng.copy(), c_lat.copy()
            _centre_sites(c_lng, c_lat, chosen, demand.lng[u_items], demand.lat[u_items], demand.weight[u_items], r_eff)
        site_points = PointSet(c_lng[chosen], c_lat[chosen])
        rows, site, _ = pairs_within(demand.lng[u_items], demand.lat[u_items], site_points, r_eff)
        ordered = greedy_mclp(demand.weight[u_items], rows, site, len(chosen), len(chosen))
        chosen = chosen[ordered.chosen]
        choice.chosen = chosen.tolist()
        rows_of = {k: rows[site == k] for k in ordered.chosen}
        taken = np.zeros(len(u_items), bool)
        codes = district_codes(districts, c_lng[chosen], c_lat[chosen])
        near_i, near_d = nearest_geodesic(c_lng[chosen], c_lat[chosen], stations, 1)
        total = demand.total
        cumulative = 0.0
        for k, (j, local) in enumerate(zip(chosen.tolist(), ordered.chosen, strict=True)):
            fresh = rows_of[local][~taken[rows_of[local]]]
            taken[fresh] = True
            gain = float(demand.weight[u_items][fresh].sum())
            cumulative += gain
            sites.append(
                {
                    "rank": k + 1,
                    "lng": round(float(c_lng[j]), 6),
                    "lat": round(float(c_lat[j]), 6),
                    "gain": _round_weight(gain),
                    "gain_share": _share(gain, total),
                    "cumulative_gain": _round_weight(cumulative),
                    "district": codes[k],
                    "district_name": districts.name(codes[k]),
                    "host": labels[j],
                    "nearest_existing_m": round(float(near_d[k, 0]), 1) if math.isfinite(near_d[k, 0]) else None,
                }
            )
    return sites, choice, len(c_lng)


def _centre_sites(c_lng, c_lat, chosen, lng, lat, weight, radius: float) -> None:
    """Move each chosen site (in place) to the weighted centre of the demand only it covers, if the
    sites together then cover at least as much. Skipped on very large inputs (it measures p times)."""
    if len(lng) * len(chosen) > 20_000_000:
        return

    def covered_weight() -> float:
        return float(weight[covered_mask(lng, lat, PointSet(c_lng[chosen], c_lat[chosen]), radius)].sum())

    current = covered_weight()
    for k, j in enumerate(chosen.tolist()):
        others = PointSet(np.delete(c_lng[chosen], k), np.delete(c_lat[chosen], k))
        rest = ~covered_mask(lng, lat, others, radius) if len(chosen) > 1 else np.ones(len(lng), bool)
        mine = rest & covered_mask(lng, lat, PointSet(c_lng[[j]], c_lat[[j]]), radius)
        if not mine.any() or weight[mine].sum() <= 0:
            continue
        old = (c_lng[j], c_lat[j])
        c_lng[j] = np.average(lng[mine], weights=weight[mine])
        c_lat[j] = np.average(lat[mine], weights=weight[mine])
        moved = covered_weight()
        if moved + 1e-9 >= current:
            current = moved
        else:
            c_lng[j], c_lat[j] = old


def _redundancy(demand, eff, nearest_i, options, r_eff, in_scope, snapshot, st_idx, stations, districts):
    """Stations ordered by the demand only they cover (what removing each would lose), least first."""
    if not len(st_idx):
        return []
    covered = np.flatnonzero(in_scope & (eff <= options.radius_m))
    loss = np.zeros(len(st_idx))
    if len(covered) and len(st_idx) > 1:
        # Is a second station within reach? The great-circle query settles most points; the margin band
        # is measured.
        lng, lat = demand.lng[covered], demand.lat[covered]
        sphere, _ = _query(stations, unit_vectors(lng, lat), 2, r_eff / GEODESIC_LO)
        second = sphere[:, 1] * GEODESIC_HI <= r_eff
        band = np.flatnonzero(~second & np.isfinite(sphere[:, 1]))
        if len(band):
            _, d = nearest_geodesic(lng[band], lat[band], stations, 2, max_m=r_eff)
            second[band] = d[:, 1] <= r_eff
        sole = covered[~second]
        np.add.at(loss, nearest_i[sole, 0], demand.weight[sole])
    elif len(covered):
        loss[0] = float(demand.weight[covered].sum())
    mine = np.ones(len(st_idx), bool)
    if options.scope:
        mine = np.isin(snapshot.district[st_idx], list(options.scope))
    candidates = np.flatnonzero(mine)
    order = candidates[np.lexsort((snapshot.ids[st_idx[candidates]].astype(str), loss[candidates]))]
    total = float(demand.weight[in_scope].sum())
    out = []
    stations_list = snapshot.stations or []
    for j in order[: options.redundancy_limit].tolist():
        i = int(st_idx[j])
        s = stations_list[i] if stations_list else None
        out.append(
            {
                "id": str(snapshot.ids[i]),
                "name": s.name if s else None,
                "type": s.type if s else None,
                "district": snapshot.district[i],
                "district_name": districts.name(snapshot.district[i]),
                "lng": round(float(snapshot.lng[i]), 6),
                "lat": round(float(snapshot.lat[i]), 6),
                "lost_demand": _round_weight(loss[j]),
                "lost_share": _share(float(loss[j]), total),
            }
        )
    return out
