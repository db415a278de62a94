"""The roster: the store, the districts and the nearest index together. Plain Python, no Flask.

Views, CLI commands and scripts ask the roster; it knows which store and which
boundaries are in use and keeps the nearest-search snapshot current.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from locator.districts import GEODATA, DistrictIndex, load_districts
from locator.errors import LocatorError
from locator.hours import TZ
from locator.nearest import NO_FILTER, Hit, Snapshot, SnapshotCache, StationFilter
from locator.shoreline import LandMask, load_land_mask, location_warnings
from locator.station_table import StationTable
from locator.stations import FieldWarning, ServiceArea, Station, validate_station
from locator.store.base import ReplaceSummary, StationStore, StoreUnavailable

SAMPLE_FILE = GEODATA / "sample_stations.geojson"
MAX_QUERY_DISTANCE_M = 100_000.0  # the default of LOCATOR_MAX_QUERY_DISTANCE_KM
REACH_CELLS = 50_000  # remembered query cells of check_reach()
# Farthest a point of a 0.01° x 0.01° cell lies from its centre is half the diagonal, at most 786 m
# (at the equator); distance_m() itself is "about" (under 0.1 %, so 100 m at the 100 km default):
# 2 km leaves room for both.
REACH_CELL_SLACK_M = 2_000.0
# Cells of two sizes, coarse first: (cells per degree, slack). A 0.5° cell's corner lies at most
# 0.25° x 0.25° from its centre, 39.4 km on the ellipsoid (a degree is at most 111.7 km of latitude,
# 111.32 km of longitude), plus the distance's 0.1 % (100 m at the default): 41 km. With the 100 km
# default, one distance per 0.5° cell vouches for every point within ~60 km of the area (a rider's
# town and its sea), so a new 0.01° cell's distance (90-350 µs) is computed only near the limit.
REACH_LEVELS = ((2, 41_000.0), (100, REACH_CELL_SLACK_M))

# Per request (or other context): may the roster answer from its last snapshot while the store is
# unreachable, and did it? The web layer allows it for the rider's essentials (web/http.py).
_STALE_OK: ContextVar[bool] = ContextVar("locator_stale_ok", default=False)
_SERVED_STALE: ContextVar[bool] = ContextVar("locator_served_stale", default=False)


def allow_stale(allowed: bool) -> None:
    """In this context, `Roster.snapshot()` may (or may not) fall back to the last snapshot; resets served_stale()."""
    _STALE_OK.set(allowed)
    _SERVED_STALE.set(False)


def end_stale_permission() -> None:
    """allow_stale(False) at the end of a request; nothing to set if it neither allowed nor served stale."""
    if _STALE_OK.get() or _SERVED_STALE.get():
        allow_stale(False)


def served_stale() -> bool:
    """True if a snapshot served in this context (since allow_stale()) could not be confirmed current."""
    return _SERVED_STALE.get()


class OutsideServiceArea(LocatorError):
    """A nearest query too far from the service area to mean anything (a wrong or a foreign point)."""

    http_status = 422
    title = "Outside the service area"

    def __init__(self, distance_m: float, limit_m: float):
        self.distance_km = distance_m / 1000.0
        self.limit_km = limit_m / 1000.0
        self.detail_zh = (
            f"该位置不在服务范围内：距温州市约 {_km_zh(self.distance_km)}，"
            f"本服务只查询温州市及周边 {self.limit_km:g} 公里以内的驿站。请确认定位或换一个位置再查。"
        )
        super().__init__(
            f"the point lies about {self.distance_km:,.0f} km from the service area (Wenzhou's districts); "
            f"nearest searches answer within {self.limit_km:g} km of it"
        )

    def problem(self) -> dict[str, Any]:
        """How far the point is, and the limit (km)."""
        return {"distance_km": round(self.distance_km, 1), "max_distance_km": self.limit_km}


def _km_zh(km: float) -> str:
    return f"{km:,.0f} 公里" if km >= 10 else f"{km:.1f} 公里"


@dataclass(frozen=True)
class NearestResult:
    """Stations ordered by distance; `outside_radius` is the closest beyond the radius when none lie within."""

    hits: list[Hit]
    outside_radius: Hit | None = None


class Roster:
    """The service's stations: reads through a cached snapshot, writes through the store."""

    def __init__(
        self,
        store: StationStore,
        districts: DistrictIndex,
        extra_bbox=None,
        *,
        max_query_distance_m: float | None = MAX_QUERY_DISTANCE_M,
    ):
        self.store = store
        self.districts = districts
        self.area = ServiceArea(
            districts.district_of,
            districts.codes,
            extra_bbox,
            districts.distance_m,
            {d.code: d.name for d in districts.districts},
        )
        # Nearest queries farther than this from the service area are refused (None or 0: never).
        self.max_query_distance_m = max_query_distance_m or None
        self._snapshots = SnapshotCache(self._load, store.data_version, unavailable=(StoreUnavailable,))
        self._reach_cells: dict[tuple[int, int, int], float] = {}  # (scale, cell) -> its centre's distance to the area

    @classmethod
    def open(
        cls,
        store: StationStore,
        districts_file: str | Path | None = None,
        extra_bbox=None,
        *,
        max_query_distance_m: float | None = MAX_QUERY_DISTANCE_M,
    ) -> Roster:
        """A roster over `store` with the given (or bundled) boundaries."""
        districts = load_districts(str(districts_file)) if districts_file else load_districts()
        return cls(store, districts, extra_bbox, max_query_distance_m=max_query_distance_m)

    def _load(self) -> tuple[int, StationTable]:
        # Read the version first: a write landing between the two reads only causes a rebuild later.
        version = self.store.data_version()
        return version, self.store.read_table()

    def snapshot(self, *, stale_ok: bool | None = None) -> Snapshot:
        """The current roster as an immutable snapshot.

        While the store is unreachable: StoreUnavailable (503), unless stale answers are allowed
        (`stale_ok`, default: what allow_stale() said for this context); then the last snapshot built.
        """
        snap, stale = self._snapshots.current(stale_ok=_STALE_OK.get() if stale_ok is None else stale_ok)
        if stale:
            _SERVED_STALE.set(True)
        return snap

    @property
    def snapshots(self) -> SnapshotCache:
        """The snapshot cache: when the last snapshot was built, how long it took, whether it is stale."""
        return self._snapshots

    def check_reach(self, lng: float, lat: float) -> None:
        """OutsideServiceArea (422) if a query point lies too far from the service area to be meant."""
        limit = self.max_query_distance_m
        if limit is None:
            return
        # The distance to the area moves by at most the distance moved (it is 1-Lipschitz), and no
        # point of a cell is more than its level's slack from the cell's centre: a centre well within
        # the limit vouches for its whole cell (REACH_LEVELS). Riders ask from a few thousand cells,
        # so the exact distance (a shapely test, tens to hundreds of µs) is computed once per cell.
        cells = self._reach_cells
        for scale, slack in REACH_LEVELS:
            if slack >= limit:
                continue
            key = (scale, round(lng * scale), round(lat * scale))
            centre = cells.get(key)
            if centre is None:
                centre = self.area.distance_m(key[1] / scale, key[2] / scale)
                if len(cells) >= REACH_CELLS:
                    cells = self._reach_cells = {}
                cells[key] = centre
            if centre + slack <= limit:
                return
        distance = self.area.distance_m(lng, lat)
        if distance > limit:
            raise OutsideServiceArea(distance, limit)

    def validate(self, raw: Mapping[str, Any], *, row: int | None = None, provenance: str = "manual") -> Station:
        """A valid Station from raw WGS-84 fields (StationInvalid otherwise)."""
        return validate_station(raw, self.area, row=row, default_provenance=provenance)

    @property
    def land(self) -> LandMask:
        """The shoreline's land around Wenzhou (loaded on first use)."""
        return load_land_mask()

    def warnings(self, station: Station, *, row: int | None = None) -> list[FieldWarning]:
        """What to check about a valid station (it still saves): a location on the water, unless confirmed."""
        return location_warnings(station, self.land, row=row)

    def nearest(
        self,
        lng: float,
        lat: float,
        k: int = 5,
        *,
        radius_m: float | None = None,
        flt: StationFilter = NO_FILTER,
        when: datetime | None = None,
        snapshot: Snapshot | None = None,
    ) -> NearestResult:
        """The k nearest stations to a WGS-84 point; if none lie within the radius, the closest outside it.

        OutsideServiceArea if the point is farther than `max_query_distance_m` from the service area.
        `snapshot` lets a caller that already holds the current snapshot skip a second version check.
        """
        self.check_reach(lng, lat)
        when = when or datetime.now(TZ)
        snap = snapshot if snapshot is not None else self.snapshot()
        hits = snap.nearest(lng, lat, k, radius_m=radius_m, flt=flt, when=when)
        outside = None
        if not hits and radius_m is not None:
            beyond = snap.nearest(lng, lat, 1, flt=flt, when=when)
            outside = beyond[0] if beyond else None
        return NearestResult(hits, outside)

    def seed_sample(self, path: str | Path = SAMPLE_FILE, *, actor: str = "system") -> ReplaceSummary:
        """Replace the roster with the bundled sample (every record marked as sample data)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        stations = []
        for n, feature in enumerate(data["features"], start=1):
            props = dict(feature["properties"])
            props["lng"], props["lat"] = feature["geometry"]["coordinates"][:2]
            stations.append(self.validate(props, row=n, provenance="sample"))
        return self.store.replace_all(stations, actor=actor, via="seed")

    def is_sample(self) -> bool:
        """True while any station of the roster is sample data (pages then show a notice)."""
        return self.snapshot().sample_count > 0
