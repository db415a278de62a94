"""The roster: the store, the districts and the nearest index together. Plain Python, no Flask.

Views, CLI commands and scripts ask the roster; it knows which store and which
boundaries are in use and keeps the nearest-search snapshot current.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from locator.districts import GEODATA, DistrictIndex, load_districts
from locator.hours import TZ
from locator.nearest import NO_FILTER, Hit, Snapshot, SnapshotCache, StationFilter
from locator.stations import ServiceArea, Station, validate_station
from locator.store.base import ReplaceSummary, StationStore

SAMPLE_FILE = GEODATA / "sample_stations.geojson"


@dataclass(frozen=True)
class NearestResult:
    """Stations ordered by distance; `outside_radius` is the closest beyond the radius when none lie within."""

    hits: list[Hit]
    outside_radius: Hit | None = None


class Roster:
    """The service's stations: reads through a cached snapshot, writes through the store."""

    def __init__(self, store: StationStore, districts: DistrictIndex, extra_bbox=None):
        self.store = store
        self.districts = districts
        self.area = ServiceArea(districts.district_of, districts.codes, extra_bbox)
        self._snapshots = SnapshotCache(self._load, store.data_version)

    @classmethod
    def open(cls, store: StationStore, districts_file: str | Path | None = None, extra_bbox=None) -> Roster:
        """A roster over `store` with the given (or bundled) boundaries."""
        districts = load_districts(str(districts_file)) if districts_file else load_districts()
        return cls(store, districts, extra_bbox)

    def _load(self) -> tuple[int, list[Station]]:
        # Read the version first: a write landing between the two reads only causes a rebuild later.
        version = self.store.data_version()
        return version, self.store.list()

    def snapshot(self) -> Snapshot:
        """The current roster as an immutable snapshot."""
        return self._snapshots.get()

    def validate(self, raw: Mapping[str, Any], *, row: int | None = None, provenance: str = "manual") -> Station:
        """A valid Station from raw WGS-84 fields (StationInvalid otherwise)."""
        return validate_station(raw, self.area, row=row, default_provenance=provenance)

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

        `snapshot` lets a caller that already holds the current snapshot skip a second version check.
        """
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
