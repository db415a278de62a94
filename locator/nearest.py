"""The nearest-station index: an immutable snapshot of the roster as arrays + a k-d tree.

Distances are WGS-84 geodesic distances (Karney's algorithm, `locator.coords.geodesic_m`), and the
order is the order of those distances, ties by station id: the answer equals a brute-force
geodesic ranking (tests/test_nearest.py). The great-circle order differs from it in a few
per cent of random queries around Wenzhou, so the sphere is used only to find candidates:

Points are indexed as 3-D unit vectors (geodetic latitude and longitude put on a sphere of
radius R = 6,371,008.8 m), where chord order equals great-circle order. For any two points
whose shortest geodesic stays at |latitude| >= phi_lo, the sphere distance s and the geodesic
distance g satisfy  s <= g * R / M(phi_lo),  where M is the ellipsoid's meridional radius of
curvature (the smallest radius of curvature at a latitude; it grows towards the poles). The
shortest geodesic between two points of one hemisphere never comes nearer the equator than
its nearer end point, so phi_lo is the smaller |latitude| of the query and of the roster's
stations (0 when they lie in different hemispheres). Around Wenzhou (27-29 N) the factor
R / M(phi_lo) is about 1.0035; anywhere on Earth it is at most R / M(0) = 1.0056.

A query takes the k nearest stations by chord, computes their geodesic distances, and so
knows an upper bound G of the k-th geodesic distance; every station that can be in the
answer then lies within the sphere distance G * R / M(phi_lo), and all stations within it
are ranked by their geodesic distance and id. The derivation is in docs/architecture.md
("The distance"). No Flask, no database, no geopandas on this path.
"""

from __future__ import annotations

import gc
import math
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import numpy as np

# pykdtree parallelises over the query points with OpenMP. A rider's query is one point: waking
# a thread team costs more than the search itself (measured 66-180 µs instead of 10 µs per query
# on a busy 2-core machine), so default to one thread. Must be set before libgomp loads;
# an explicit OMP_NUM_THREADS in the environment wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pykdtree.kdtree import KDTree  # noqa: E402 - after the OpenMP default above

from locator.coords import EARTH_RADIUS_M, geodesic_m, great_circle_m
from locator.hours import TZ, minute_of_week, parse_hours
from locator.station_table import (
    AMENITY_BIT,
    STATUS_CLOSED,
    STATUS_CODE,
    STATUS_OPEN,
    STATUS_TEMP,
    TYPE_CODE,
    PackedStations,
    StationTable,
)
from locator.stations import Station

_TIE_SLACK = 1e-9  # relative: widens every candidate bound against rounding
_TIE_ABS = 1e-12  # absolute (about 6 µm on the ground): covers rounding in the unit vectors
_TIE_ABS_M = 1e-6  # the same in metres, for the scan's haversine distances
_EXTRA = 2  # candidates fetched beyond k: nearly always enough to prove that no other station can qualify
# WGS-84: semi-major axis and first eccentricity squared (f = 1 / 298.257223563).
_WGS84_A = 6378137.0
_WGS84_F = 1 / 298.257223563
_WGS84_E2 = _WGS84_F * (2 - _WGS84_F)
_BRUTE_FORCE_BELOW = 2_000  # filtered subsets this small are scanned (~0.1 ms), not tree-searched


def unit_vectors(lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """WGS-84 degrees -> points on the unit sphere, shape (n, 3)."""
    lam = np.radians(np.asarray(lng, dtype=float))
    phi = np.radians(np.asarray(lat, dtype=float))
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)))


def _unit_vector(lng: float, lat: float) -> np.ndarray:
    lam, phi = math.radians(lng), math.radians(lat)
    c = math.cos(phi)
    return np.array([[c * math.cos(lam), c * math.sin(lam), math.sin(phi)]])


def chord_for_metres(metres: float) -> float:
    """The unit-sphere chord length of a great-circle distance on the index's sphere."""
    return 2.0 * math.sin(min(metres / EARTH_RADIUS_M, math.pi) / 2.0)


def meridional_radius_m(lat: float) -> float:
    """M(lat): the WGS-84 meridional radius of curvature, the smaller of the two principal radii."""
    w = 1.0 - _WGS84_E2 * math.sin(math.radians(lat)) ** 2
    return _WGS84_A * (1.0 - _WGS84_E2) / (w * math.sqrt(w))


def sphere_ratio(lat_lo: float) -> float:
    """R / M(lat_lo): an upper bound of sphere distance / geodesic distance for paths at |lat| >= lat_lo.

    Along any path ds_ellipsoid^2 = M^2 dphi^2 + N^2 cos^2(phi) dlambda^2 >= M^2 (dphi^2 + cos^2(phi)
    dlambda^2) (as M <= N), and M grows with |phi|; the sphere's element is R^2 times the bracket.
    """
    return EARTH_RADIUS_M / meridional_radius_m(min(abs(lat_lo), 90.0))


@dataclass(frozen=True)
class StationFilter:
    """Which stations a request wants, the same for the nearest search, the catalogue and the maps.

    Every field is optional; empty fields do not narrow. Permanently closed stations are left out
    unless `include_closed` (the catalogue includes them and narrows by `statuses` instead).
    """

    types: tuple[str, ...] = ()
    amenities: tuple[str, ...] = ()  # all required
    districts: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # stored status, any of
    open_now: bool = False
    include_closed: bool = False
    bbox: tuple[float, float, float, float] | None = None  # WGS-84 min_lng, min_lat, max_lng, max_lat
    q: str | None = None  # text in the name or the address (case-insensitive)
    ids: frozenset[str] | None = None  # only these stations (the organizers' 待核实 and reported views)


NO_FILTER = StationFilter()


class Hit:
    """One result: the station, its WGS-84 geodesic distance in metres and its index in the snapshot.

    The Station is made on first use (`station`): the rider's answer is written from cached
    fragments by index, and making a Station from the packed roster costs a few µs each.
    """

    __slots__ = ("_station", "_stations", "distance_m", "index")

    def __init__(
        self,
        station: Station | None,
        distance_m: float,
        index: int = -1,
        *,
        stations: Sequence[Station] | None = None,
    ):
        if station is None and stations is None:
            raise ValueError("a Hit needs its station or the stations it indexes")
        self._station = station
        self._stations = stations
        self.distance_m = distance_m
        self.index = index

    @property
    def station(self) -> Station:
        """The station (made from the snapshot's stations on first use)."""
        if self._station is None:
            self._station = self._stations[self.index]
        return self._station

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hit):
            return NotImplemented
        return (self.station, self.distance_m, self.index) == (other.station, other.distance_m, other.index)

    def __hash__(self) -> int:
        return hash((self.index, self.distance_m))

    def __repr__(self) -> str:
        return f"Hit(station={self.station!r}, distance_m={self.distance_m!r}, index={self.index!r})"


class Snapshot:
    """One roster version as plain arrays and a k-d tree; immutable once built."""

    def __init__(
        self,
        lng: np.ndarray,
        lat: np.ndarray,
        ids: Sequence[str],
        *,
        stations: Sequence[Station] | None = None,
        type_code: np.ndarray | None = None,
        district: np.ndarray | None = None,
        amenity_bits: np.ndarray | None = None,
        status: np.ndarray | None = None,
        closed_until: np.ndarray | None = None,
        schedule: np.ndarray | None = None,
        schedules: Sequence[str] = ("24/7",),
        sample_count: int | None = None,
        version: int = 0,
    ):
        n = len(ids)
        ids = np.asarray(ids, dtype=object)
        if n > 1 and not np.all(ids[:-1] < ids[1:]):
            # Array index order doubles as id order: the tie-break for equal distances.
            raise ValueError("a snapshot needs unique ids in ascending order")
        self.version = version
        self.lng = np.ascontiguousarray(lng, dtype=float)
        self.lat = np.ascontiguousarray(lat, dtype=float)
        self.ids = ids
        # A list, or PackedStations (made one Station at a time): never copied into a list here.
        self.stations = stations if stations is None or isinstance(stations, list | PackedStations) else list(stations)
        self.type_code = type_code if type_code is not None else np.zeros(n, np.int8)
        self.district = district if district is not None else np.full(n, None, dtype=object)
        self.amenity_bits = amenity_bits if amenity_bits is not None else np.zeros(n, np.uint32)
        self.status = status if status is not None else np.zeros(n, np.int8)
        self.closed_until = closed_until if closed_until is not None else np.zeros(n, np.int32)
        self.schedule = schedule if schedule is not None else np.zeros(n, np.int32)
        self.schedules = [parse_hours(s) for s in schedules]
        if sample_count is None:
            sample_count = sum(1 for s in self.stations if s.provenance == "sample") if self.stations else 0
        self.sample_count = sample_count
        self.tree = KDTree(unit_vectors(self.lng, self.lat), leafsize=16) if n else None
        # Latitude extent of the stations, for the sphere/geodesic bound (see sphere_ratio).
        self._lat_min = float(self.lat.min()) if n else 0.0
        self._lat_max = float(self.lat.max()) if n else 0.0
        self._lat_lo = 0.0 if self._lat_min <= 0.0 <= self._lat_max else min(abs(self._lat_min), abs(self._lat_max))
        self._ratio_lo = sphere_ratio(self._lat_lo)  # the bound for every query at |lat| >= _lat_lo
        # The default filter (hide permanently closed stations) is asked on nearly every request:
        # its mask is built once, and is None when no station is closed (the unmasked tree path).
        closed = self.status == STATUS_CLOSED
        self._live_mask: np.ndarray | None = ~closed if closed.any() else None
        self._closed_mask = closed
        # What the tree skips for the default filter, as bytes: pykdtree copies any other mask into a new
        # uint8 array on every query (O(roster): 1 MB a query at 1,000,000 stations).
        self._closed_u8 = closed.view(np.uint8)
        self._live_count = int(n - np.count_nonzero(closed))
        self._open_cache: tuple[tuple[int, int], np.ndarray] | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, station_id: str) -> int | None:
        """Array index of a station id, or None (a binary search: the ids are sorted; no dict of a
        million entries to build and keep)."""
        i = bisect_left(self.ids, station_id)
        return i if i < len(self.ids) and self.ids[i] == station_id else None

    def get(self, station_id: str) -> Station | None:
        """The station with this id, or None."""
        i = self.index_of(station_id)
        return self.stations[i] if i is not None and self.stations is not None else None

    def bounds(self) -> tuple[float, float, float, float] | None:
        """min_lng, min_lat, max_lng, max_lat of every station (None for an empty roster)."""
        if not len(self):
            return None
        return (float(self.lng.min()), float(self.lat.min()), float(self.lng.max()), float(self.lat.max()))

    @cached_property
    def _search_text(self) -> list[str]:
        """Name and address of each station, case-folded, for text search (built on first search)."""
        if isinstance(self.stations, PackedStations):
            return [f"{name}\n{address}".casefold() for name, address in self.stations.field_texts("name", "address")]
        return [f"{s.name}\n{s.address}".casefold() for s in self.stations or ()]

    def paused_mask(self, when: datetime) -> np.ndarray:
        """Which stations are temporarily closed at `when` (a closure ends after its until-date)."""
        today = when.astimezone(TZ).toordinal()
        return (self.status == STATUS_TEMP) & ((self.closed_until == 0) | (self.closed_until >= today))

    def live_mask(self) -> np.ndarray:
        """Which stations are not permanently closed."""
        return ~self._closed_mask

    @classmethod
    def from_stations(cls, stations: Sequence[Station], version: int = 0) -> Snapshot:
        """Build the arrays and the tree from station records."""
        return cls.from_table(StationTable.from_stations(stations), version=version)

    @classmethod
    def from_table(cls, table: StationTable, version: int = 0) -> Snapshot:
        """Build the tree over a roster read in columns (`store.read_table()`)."""
        f = table.filters
        return cls(
            table.lng,
            table.lat,
            table.ids,
            stations=table.stations,
            type_code=f.type_code,
            district=f.district,
            amenity_bits=f.amenity_bits,
            status=f.status,
            closed_until=f.closed_until,
            schedule=f.schedule,
            schedules=f.schedules,
            sample_count=f.sample_count,
            version=version,
        )

    # -- filters -------------------------------------------------------------------------
    def open_mask(self, when: datetime) -> np.ndarray:
        """Which stations are open at `when` (status and hours), cached per minute."""
        local = when.astimezone(TZ)
        key = (local.toordinal(), minute_of_week(local))
        cached = self._open_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        status_ok = (self.status == STATUS_OPEN) | ((self.status == STATUS_TEMP) & ~self.paused_mask(local))
        per_schedule = np.array([h.is_open(local) for h in self.schedules], dtype=bool)
        mask = status_ok & per_schedule[self.schedule]
        self._open_cache = (key, mask)
        return mask

    def mask(self, flt: StationFilter, when: datetime | None = None) -> np.ndarray | None:
        """A boolean mask for the filter, or None when it lets every station through."""
        mask: np.ndarray | None = None

        def narrow(m: np.ndarray) -> None:
            nonlocal mask
            mask = m if mask is None else (mask & m)

        if not flt.include_closed and self._live_mask is not None:
            narrow(self._live_mask)
        if flt.types:
            narrow(np.isin(self.type_code, [TYPE_CODE[t] for t in flt.types if t in TYPE_CODE]))
        if flt.amenities:
            need = np.uint32(sum(AMENITY_BIT[a] for a in flt.amenities if a in AMENITY_BIT))
            narrow((self.amenity_bits & need) == need)
        if flt.districts:
            narrow(np.isin(self.district, list(flt.districts)))
        if flt.statuses:
            narrow(np.isin(self.status, [STATUS_CODE[s] for s in flt.statuses if s in STATUS_CODE]))
        if flt.open_now:
            narrow(self.open_mask(when or datetime.now(TZ)))
        if flt.bbox is not None:
            x0, y0, x1, y1 = flt.bbox
            narrow((self.lng >= x0) & (self.lng <= x1) & (self.lat >= y0) & (self.lat <= y1))
        if flt.q:
            needle = flt.q.casefold()
            narrow(np.fromiter((needle in t for t in self._search_text), bool, len(self)))
        if flt.ids is not None:
            chosen = np.zeros(len(self), bool)
            chosen[[i for i in map(self.index_of, flt.ids) if i is not None]] = True
            narrow(chosen)
        return mask

    def matching(self, flt: StationFilter, when: datetime | None = None) -> np.ndarray:
        """Indices (ascending, i.e. in id order) of the stations that pass the filter."""
        mask = self.mask(flt, when)
        return np.arange(len(self)) if mask is None else np.flatnonzero(mask)

    # -- queries -------------------------------------------------------------------------
    def ratio_at(self, lat: float) -> float:
        """The sphere/geodesic bound between a query at `lat` and any station of this snapshot."""
        if not ((lat >= 0.0 and self._lat_min >= 0.0) or (lat <= 0.0 and self._lat_max <= 0.0)):
            return sphere_ratio(0.0)  # the shortest path may cross the equator
        return self._ratio_lo if abs(lat) >= self._lat_lo else sphere_ratio(lat)

    def nearest_indices(
        self,
        lng: float,
        lat: float,
        k: int,
        *,
        radius_m: float | None = None,
        mask: np.ndarray | None = None,
    ) -> tuple[list[int], list[float]]:
        """Indices and geodesic distances (m) of the k nearest allowed stations, ordered by (distance, id)."""
        n = len(self)
        if n == 0 or k <= 0:
            return [], []
        ignore = None
        if mask is not None:
            live = mask is self._live_mask  # the cached default mask: its count and inverse are known
            allowed = self._live_count if live else int(np.count_nonzero(mask))
            if allowed == 0:
                return [], []
            if allowed <= _BRUTE_FORCE_BELOW:
                return self._rank(lng, lat, np.flatnonzero(mask), k, radius_m)
            ignore = self._closed_u8 if live else (~mask).view(np.uint8)
        q = _unit_vector(lng, lat)
        # Chord bounds below use chord <= arc / R (sin x <= x): a slightly wider net, never a narrower one.
        to_chord = self.ratio_at(lat) / EARTH_RADIUS_M * (1 + _TIE_SLACK)
        # Every station within the geodesic radius lies within this chord (see the module docstring).
        bound = radius_m * to_chord + _TIE_ABS if radius_m is not None else None
        lngs, lats = self.lng, self.lat
        fetch = k + _EXTRA
        while True:
            fetch = min(fetch, n)
            chord_arr, idx_arr = self.tree.query(q, k=fetch, distance_upper_bound=bound, mask=ignore)
            # Plain lists from here: a handful of candidates is faster in Python than in numpy.
            chord, idx = chord_arr.ravel().tolist(), idx_arr.ravel().tolist()
            if idx[-1] >= n or fetch == n:  # fewer than `fetch` within the bound, or all: every candidate is here
                ranked = [(geodesic_m(lng, lat, lngs.item(i), lats.item(i)), i) for i in idx if i < n]
                break
            # The k nearest by chord are k stations: the k-th geodesic distance is at most the largest
            # of theirs, and a station farther than that (times the ratio) on the sphere cannot qualify.
            ranked = [(geodesic_m(lng, lat, lngs.item(i), lats.item(i)), i) for i in idx[:k]]
            cap = max(ranked)[0]
            if radius_m is not None and radius_m < cap:
                cap = radius_m
            edge = cap * to_chord + _TIE_ABS
            if chord[-1] > edge:
                for c, i in zip(chord[k:], idx[k:], strict=True):
                    if c > edge:
                        break
                    ranked.append((geodesic_m(lng, lat, lngs.item(i), lats.item(i)), i))
                break
            fetch *= 2
        if radius_m is not None:
            ranked = [p for p in ranked if p[0] <= radius_m]
        ranked.sort()
        del ranked[k:]
        return [i for _, i in ranked], [d for d, _ in ranked]

    def _rank(self, lng: float, lat: float, idx: np.ndarray, k: int, radius_m: float | None):
        """Scan a (filtered) subset: sphere distances narrow it, geodesic distances and ids order it."""
        ratio = self.ratio_at(lat) * (1 + _TIE_SLACK)
        sphere = great_circle_m(lng, lat, self.lng[idx], self.lat[idx])
        if radius_m is not None:
            inside = sphere <= radius_m * ratio + _TIE_ABS_M
            idx, sphere = idx[inside], sphere[inside]
        if len(idx) > k:
            first = np.argpartition(sphere, k - 1)[:k]
            cap = float(np.max(_geodesic_to(lng, lat, self.lng[idx[first]], self.lat[idx[first]])))
            if radius_m is not None:
                cap = min(cap, radius_m)
            keep = sphere <= cap * ratio + _TIE_ABS_M
            idx = idx[keep]
        dist = _geodesic_to(lng, lat, self.lng[idx], self.lat[idx])
        if radius_m is not None:
            inside = dist <= radius_m
            idx, dist = idx[inside], dist[inside]
        order = np.lexsort((idx, dist))[:k]  # index order is id order
        return idx[order].tolist(), dist[order].tolist()

    def nearest(
        self,
        lng: float,
        lat: float,
        k: int = 5,
        *,
        radius_m: float | None = None,
        flt: StationFilter = NO_FILTER,
        when: datetime | None = None,
    ) -> list[Hit]:
        """The k nearest stations to a WGS-84 point that pass the filter, nearest first (geodesic)."""
        if self.stations is None:
            raise ValueError("this snapshot was built from arrays only; use nearest_indices")
        idx, dist = self.nearest_indices(lng, lat, k, radius_m=radius_m, mask=self.mask(flt, when))
        stations = self.stations
        return [Hit(None, d, i, stations=stations) for i, d in zip(idx, dist, strict=True)]

    def brute_force(self, lng, lat, k, *, radius_m=None, mask=None) -> tuple[list[int], list[float]]:
        """The reference answer: the geodesic distance to every allowed station, sorted by (distance, id)."""
        idx = np.arange(len(self)) if mask is None else np.flatnonzero(mask)
        dist = _geodesic_to(lng, lat, self.lng[idx], self.lat[idx])
        if radius_m is not None:
            keep = dist <= radius_m
            idx, dist = idx[keep], dist[keep]
        order = np.lexsort((idx, dist))[:k]  # index order is id order
        return idx[order].tolist(), dist[order].tolist()


def _geodesic_to(lng: float, lat: float, lngs: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Geodesic distances from one point to many (vectorised Karney)."""
    if len(lngs) == 0:
        return np.zeros(0)
    return np.asarray(geodesic_m(np.full(len(lngs), lng), np.full(len(lngs), lat), lngs, lats), dtype=float)


class SnapshotCache:
    """The current snapshot for a store: rebuilt when the store's data version moves.

    When the version cannot be read (one of the `unavailable` errors: the database is down), a
    caller that accepts it gets the last snapshot built, marked stale; others get the error.
    """

    def __init__(
        self,
        load: Callable[[], tuple[int, StationTable | Sequence[Station]]],
        version: Callable[[], int],
        *,
        unavailable: tuple[type[Exception], ...] = (),
    ):
        self._load = load
        self._version = version
        self._unavailable = unavailable
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self.built_at: float | None = None  # time.time() of the last build
        self.build_seconds: float | None = None  # how long it took (reading the store and indexing)
        self.stale_since: float | None = None  # time.time() since when answers come from an unconfirmed snapshot
        # Observers (metrics): on_build(snapshot, seconds) after each build, on_stale(bool) when staleness changes.
        self.on_build: Callable[[Snapshot, float], None] | None = None
        self.on_stale: Callable[[bool], None] | None = None

    def get(self) -> Snapshot:
        """The snapshot of the latest committed roster (one cheap version check per call)."""
        return self.current()[0]

    def current(self, *, stale_ok: bool = False) -> tuple[Snapshot, bool]:
        """(snapshot, stale): the latest roster; with `stale_ok`, the last one built while the store is unreachable."""
        try:
            snap = self._current()
        except self._unavailable:
            snap = self._snapshot
            if not stale_ok or snap is None:
                raise
            if self.stale_since is None:
                self.stale_since = time.time()
                if self.on_stale is not None:
                    self.on_stale(True)
            return snap, True
        if self.stale_since is not None:
            self.stale_since = None
            if self.on_stale is not None:
                self.on_stale(False)
        return snap, False

    def _current(self) -> Snapshot:
        current = self._version()
        snap = self._snapshot
        if snap is not None and snap.version == current:
            return snap
        with self._lock:
            snap = self._snapshot
            if snap is None or snap.version != current:
                started = time.perf_counter()
                version, roster = self._load()
                table = roster if isinstance(roster, StationTable) else StationTable.from_stations(roster)
                snap = Snapshot.from_table(table, version=version)
                self._snapshot = snap
                self.build_seconds = time.perf_counter() - started
                self.built_at = time.time()
                # A large roster is millions of long-lived objects: without this, every full
                # garbage collection walks them all (about a second at 1M stations, seen as the
                # nearest answer's p99). A replaced snapshot is still freed by reference counting.
                gc.freeze()
                if self.on_build is not None:
                    self.on_build(snap, self.build_seconds)
        return snap
