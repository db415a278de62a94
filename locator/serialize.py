"""Stations as JSON and GeoJSON: one shape for the API, the pages and the maps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from locator.coords import CRS, from_wgs84
from locator.navigation import navigation_targets
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


def roster_record(station: Station) -> dict[str, Any]:
    """The editable fields only, WGS-84: the shape of files that import() reads back."""
    return {
        "id": station.id,
        "name": station.name,
        "type": station.type,
        "district": station.district,
        "address": station.address,
        "lng": station.lng,
        "lat": station.lat,
        "amenities": list(station.amenities),
        "hours": station.hours,
        "contact": station.contact,
        "operator": station.operator,
        "status": station.status,
        "closed_until": station.closed_until.isoformat() if station.closed_until else None,
        "provenance": station.provenance,
        "approximate": station.approximate,
        "note": station.note,
    }
