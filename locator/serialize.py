"""Stations as JSON and GeoJSON: one shape for the API, the pages and the maps, and its fast encoder.

station_json() builds the shape. On the rider's hot path (the nearest answer) the parts of it that
are fixed for a roster version (navigation links, labels, location) are encoded once per
(snapshot, station, coordinate system) and spliced with the fields that depend on the moment
(open_now, next_open, status, status_label) and the distance: station_json_text() parses to exactly
what station_json() returns (tests/test_serialize.py).
"""

from __future__ import annotations

import json
import threading
import weakref
from datetime import UTC, datetime
from typing import Any

from locator.coords import CRS, from_wgs84
from locator.navigation import navigation_targets
from locator.nearest import Snapshot
from locator.stations import AMENITIES, STATION_TYPES, STATUSES, Station


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def station_json(
    station: Station,
    *,
    when: datetime,
    crs: CRS = CRS.WGS84,
    distance_m: float | None = None,
    district_name: str | None = None,
    navigation: bool = True,
) -> dict[str, Any]:
    """A station as the API returns it: labels resolved, location in `crs` and WGS-84, open-now at `when`."""
    x, y = from_wgs84(station.lng, station.lat, crs)
    stype = STATION_TYPES.get(station.type)
    status = station.effective_status(when)
    out: dict[str, Any] = {
        "id": station.id,
        "name": station.name,
        "type": station.type,
        "type_label": {"zh": stype.zh, "en": stype.en} if stype else None,
        "district": station.district,
        "district_name": district_name,
        "address": station.address,
        "location": {"lng": round(x, 7), "lat": round(y, 7), "crs": crs.value},
        "location_wgs84": {"lng": station.lng, "lat": station.lat},
        "amenities": [AMENITIES[a].as_json() for a in station.amenities if a in AMENITIES],
        "hours": station.hours,
        "hours_text": station.opening_hours.describe_zh(),
        "open_now": station.open_now(when),
        "next_open": _iso(station.next_open(when)),
        "status": status,
        "status_label": STATUSES[status].zh if status in STATUSES else status,
        "closed_until": station.closed_until.isoformat() if station.closed_until else None,
        "contact": station.contact,
        "operator": station.operator,
        "provenance": station.provenance,
        "approximate": station.approximate,
        "note": station.note,
        "updated_at": _iso(station.updated_at),
        "verified_at": _iso(station.checked_at),
        "version": station.version,
    }
    if distance_m is not None:
        out["distance_m"] = round(distance_m, 1)
    if navigation:
        out["navigation"] = navigation_targets(station.lng, station.lat, station.name, station.address)
    return out


def station_feature(station: Station, *, when: datetime, crs: CRS = CRS.WGS84, **kwargs: Any) -> dict[str, Any]:
    """A station as an RFC 7946 Feature (coordinates in `crs`; RFC 7946 itself means WGS-84)."""
    props = station_json(station, when=when, crs=crs, **kwargs)
    loc = props.pop("location")
    return {
        "type": "Feature",
        "id": station.id,
        "geometry": {"type": "Point", "coordinates": [loc["lng"], loc["lat"]]},
        "properties": props,
    }


# -- the hot path's encoder ---------------------------------------------------------------

DYNAMIC_FIELDS = ("open_now", "next_open", "status", "status_label", "distance_m")
MAX_CACHED = 60_000  # fragments per snapshot (about 2 kB each); the cache restarts beyond it
_EPOCH = datetime(2000, 1, 3, tzinfo=UTC)
_CACHES: weakref.WeakKeyDictionary[Snapshot, dict[tuple[str, str], str]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def encode(value: object) -> str:
    """Compact JSON text, Chinese kept readable."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def static_fragment(snap: Snapshot, station: Station, crs: CRS, district_name: str | None) -> str:
    """The fixed members of station_json(station) as JSON text without braces, cached per snapshot."""
    cache = _CACHES.get(snap)
    if cache is None:
        with _LOCK:
            cache = _CACHES.setdefault(snap, {})
    key = (station.id, crs.value)
    fragment = cache.get(key)
    if fragment is None:
        full = station_json(station, when=_EPOCH, crs=crs, district_name=district_name)
        for name in DYNAMIC_FIELDS:
            full.pop(name, None)
        fragment = encode(full)[1:-1]
        if len(cache) >= MAX_CACHED:
            cache.clear()
        cache[key] = fragment
    return fragment


def station_json_text(
    snap: Snapshot,
    station: Station,
    *,
    when: datetime,
    crs: CRS,
    distance_m: float | None,
    district_name: str | None,
) -> str:
    """station_json(...) as JSON text, from the cached fixed part plus the fields that depend on `when`."""
    text = "{" + static_fragment(snap, station, crs, district_name) + _dynamic_fragment(snap, station, when)
    if distance_m is not None:
        text += f',"distance_m":{round(distance_m, 1)!r}'
    return text + "}"


def _dynamic_fragment(snap: Snapshot, station: Station, when: datetime) -> str:
    """open_now, next_open, status, status_label at `when`; cached per snapshot for the current minute."""
    minute = when.replace(second=0, microsecond=0)
    per_minute = _DYNAMIC.get(snap)
    if per_minute is None or per_minute[0] != minute:
        per_minute = (minute, {})
        _DYNAMIC[snap] = per_minute
    parts = per_minute[1]
    text = parts.get(station.id)
    if text is None:
        # Evaluated at the minute's start, as station_json(when=minute) would: fresh to the minute.
        status = station.effective_status(minute)
        is_open = status == "open" and station.opening_hours.is_open(minute)  # = station.open_now(minute)
        upcoming = None if is_open else station.next_open(minute)
        text = (
            (',"open_now":true' if is_open else ',"open_now":false')
            + (f',"next_open":"{upcoming.isoformat()}",' if upcoming else ',"next_open":null,')
            + (_STATUS_TEXT.get(status) or encode({"status": status, "status_label": status})[1:-1])
        )
        if len(parts) < MAX_CACHED:
            parts[station.id] = text
    return text


_DYNAMIC: weakref.WeakKeyDictionary[Snapshot, tuple[datetime, dict[str, str]]] = weakref.WeakKeyDictionary()
_STATUS_TEXT = {key: encode({"status": key, "status_label": term.zh})[1:-1] for key, term in STATUSES.items()}
