"""What the rider page needs besides the nearest query: travel-time estimates and name/address search.

Plain Python over a roster snapshot: the page and the API read the same stations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from locator.stations import Station

# Straight-line distance understates street distance; 1.3 is a common urban detour factor.
DETOUR = 1.3
WALK_M_PER_MIN = 80.0  # 4.8 km/h
RIDE_M_PER_MIN = 250.0  # 15 km/h, an e-bike in city traffic
RIDER_AMENITIES = ("water", "microwave", "charging", "toilet")  # the filters riders need most
MAX_QUERY_LEN = 60


def travel_minutes(distance_m: float) -> dict[str, int]:
    """Rough walking and riding minutes for a straight-line distance (at least 1 each)."""
    street = max(0.0, distance_m) * DETOUR
    return {
        "walk": max(1, math.ceil(street / WALK_M_PER_MIN)),
        "ride": max(1, math.ceil(street / RIDE_M_PER_MIN)),
    }


def _matches(station: Station, needle: str) -> bool:
    return needle in station.name.casefold() or needle in (station.address or "").casefold()


def find_stations(
    stations: Iterable[Station],
    *,
    q: str | None = None,
    district: str | None = None,
    amenities: Sequence[str] = (),
    include_closed: bool = False,
    open_at: datetime | None = None,
) -> list[Station]:
    """Stations matching `q` (name or address), `district`, every amenity and, if given, open at `open_at`."""
    needle = (q or "").strip().casefold()
    found = [
        s
        for s in stations
        if (not needle or _matches(s, needle))
        and (district is None or s.district == district)
        and all(a in s.amenities for a in amenities)
        and (include_closed or s.status != "closed")
        and (open_at is None or s.open_now(open_at))
    ]
    return sorted(found, key=lambda s: (s.name, s.id))
