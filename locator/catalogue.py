"""The catalogue: filtering, paging and per-district counts over a roster snapshot. No Flask.

The catalogue answers from the same immutable snapshot as the nearest search (numpy arrays
sorted by station id), so a listing never costs a database round-trip and pages are stable
within a data version: the id order doubles as the paging order for offsets and cursors.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from locator.nearest import _STATUS_CODE, NearestFilter, Snapshot
from locator.stations import STATION_TYPES


class BadCursor(ValueError):
    """A cursor this service did not issue."""


@dataclass(frozen=True)
class CatalogueFilter:
    """What a catalogue request narrows by; empty fields do not narrow."""

    types: tuple[str, ...] = ()
    amenities: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    open_now: bool = False
    bbox: tuple[float, float, float, float] | None = None  # WGS-84 min_lng, min_lat, max_lng, max_lat
    q: str | None = None


def matching(snap: Snapshot, flt: CatalogueFilter, when: datetime) -> np.ndarray:
    """Indices (ascending, i.e. in id order) of the snapshot's stations that pass the filter."""
    base = NearestFilter(flt.types, flt.amenities, flt.districts, flt.open_now, include_closed=True)
    mask = snap.mask(base, when)
    if mask is None:
        mask = np.ones(len(snap), dtype=bool)
    if flt.statuses:
        mask = mask & np.isin(snap.status, [_STATUS_CODE[s] for s in flt.statuses])
    if flt.bbox is not None:
        x0, y0, x1, y1 = flt.bbox
        mask = mask & (snap.lng >= x0) & (snap.lng <= x1) & (snap.lat >= y0) & (snap.lat <= y1)
    idx = np.flatnonzero(mask)
    if flt.q:
        needle = flt.q.casefold()
        stations = snap.stations or []
        idx = np.array(
            [
                i
                for i in idx.tolist()
                if needle in stations[i].name.casefold() or needle in stations[i].address.casefold()
            ],
            dtype=np.int64,
        )
    return idx


def page_after(snap: Snapshot, idx: np.ndarray, after_id: str) -> int:
    """The position in `idx` of the first station whose id sorts after `after_id`."""
    first = bisect_right(snap.ids, after_id)
    return int(np.searchsorted(idx, first, side="left"))


def encode_cursor(after_id: str) -> str:
    """An opaque cursor meaning 'the stations after this id'."""
    return "c1" + base64.urlsafe_b64encode(after_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The id a cursor points after (BadCursor if it is not one of ours)."""
    if not cursor.startswith("c1") or len(cursor) < 3:
        raise BadCursor("not a cursor issued by this service")
    body = cursor[2:]
    try:
        after = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("not a cursor issued by this service") from None
    if not after or any(ord(c) < 32 for c in after):
        raise BadCursor("not a cursor issued by this service")
    return after


@dataclass(frozen=True)
class DistrictCount:
    """Stations in one district (permanently closed ones excluded), in total and per type."""

    code: str | None
    total: int
    by_type: dict[str, int]


def district_counts(snap: Snapshot) -> dict[str | None, DistrictCount]:
    """Counts per district code (None: outside every district) and type, closed stations excluded."""
    live = snap.status != _STATUS_CODE["closed"]
    type_keys = list(STATION_TYPES)
    pairs = Counter(
        zip(snap.district[live].tolist(), snap.type_code[live].tolist(), strict=True),
    )
    out: dict[str | None, DistrictCount] = {}
    for (code, tcode), n in pairs.items():
        entry = out.setdefault(code, DistrictCount(code, 0, {k: 0 for k in type_keys}))
        key = type_keys[tcode] if 0 <= tcode < len(type_keys) else "other"
        entry.by_type[key] = entry.by_type.get(key, 0) + n
        out[code] = DistrictCount(code, entry.total + n, entry.by_type)
    return out
