"""Stations as pre-encoded JSON fragments, for the rider's hot path (the nearest answer). No Flask.

station_json() builds navigation links (URL-encoding, two coordinate conversions) and labels
for every station on every request: about 0.4 ms a station. Everything in it except the
time-dependent fields (open_now, next_open, status, status_label) and the distance is fixed
for a roster version, so it is encoded once per (snapshot, station, coordinate system) and
spliced into the answer; the result parses to exactly what station_json() returns
(tests/test_station_fragments.py).
"""

from __future__ import annotations

import json
import threading
import weakref
from datetime import UTC, datetime

from locator.coords import CRS
from locator.nearest import Snapshot
from locator.serialize import station_json
from locator.stations import STATUSES, Station

DYNAMIC_FIELDS = ("open_now", "next_open", "status", "status_label", "distance_m")
MAX_CACHED = 60_000  # fragments per snapshot (about 2 kB each); the cache restarts beyond it
_EPOCH = datetime(2000, 1, 3, tzinfo=UTC)
_CACHES: weakref.WeakKeyDictionary[Snapshot, dict[tuple[str, str], str]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _encode(value: object) -> str:
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
        fragment = _encode(full)[1:-1]
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
            + (_STATUS_TEXT.get(status) or _encode({"status": status, "status_label": status})[1:-1])
        )
        if len(parts) < MAX_CACHED:
            parts[station.id] = text
    return text


_DYNAMIC: weakref.WeakKeyDictionary[Snapshot, tuple[datetime, dict[str, str]]] = weakref.WeakKeyDictionary()
_STATUS_TEXT = {key: _encode({"status": key, "status_label": term.zh})[1:-1] for key, term in STATUSES.items()}
