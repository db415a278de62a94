"""The catalogue: matching, paging and the per-district counts over a roster snapshot. No Flask.

The catalogue answers from the same immutable snapshot as the nearest search (numpy arrays
sorted by station id), so a listing never costs a database round-trip and pages are stable
within a data version: the id order doubles as the paging order for offsets and cursors.
`district_counts()` is the one definition of "how many stations a district has": the API, the
maps, the rider page and the pictures all show it.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from locator.districts import DistrictIndex
from locator.errors import BadParameter
from locator.nearest import Snapshot
from locator.stations import STATION_TYPES, Station

STALE_AFTER_DAYS = 180  # information older than this is shown as 待核实 (to be checked)


def is_stale(station: Station, when: datetime, days: int = STALE_AFTER_DAYS) -> bool:
    """True if the station's information was last checked more than `days` before `when` (待核实).

    "Checked" is `Station.checked_at`: `verified_at` (an organizer's or keeper's confirmation, an edit, an
    import row), else, for a station nobody has vouched for since that field existed, its last change.
    """
    checked = station.checked_at
    return checked is not None and checked < when - timedelta(days=days)


def stale_mask(snap: Snapshot, when: datetime, days: int = STALE_AFTER_DAYS) -> np.ndarray:
    """Which stations of the snapshot are 待核实 (is_stale): the one definition, for every list, count and map."""
    return np.fromiter((is_stale(s, when, days) for s in snap.stations or ()), bool, len(snap))


class BadCursor(BadParameter):
    """A cursor this service did not issue."""

    def __init__(self) -> None:
        super().__init__(
            "cursor", "not a cursor issued by this service", "翻页位置（cursor）无效：请从第一页重新翻页。"
        )


def by_name(snap: Snapshot, idx: np.ndarray) -> list[Station]:
    """The stations at `idx`, ordered by name (then id), as people look through a list."""
    stations = snap.stations or []
    return sorted((stations[i] for i in idx.tolist()), key=lambda s: (s.name, s.id))


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
        raise BadCursor()
    body = cursor[2:]
    try:
        after = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor() from None
    if not after or any(ord(c) < 32 for c in after):
        raise BadCursor()
    return after


@dataclass(frozen=True)
class DistrictCount:
    """One district's stations: every station that is not permanently closed.

    Temporarily closed stations are counted in `total` and, where a page has room, shown
    separately as `paused` (暂停).
    """

    code: str
    name: str
    name_en: str
    total: int
    paused: int
    by_type: dict[str, int]


@dataclass(frozen=True)
class DistrictCounts:
    """The counts of every district (code order), and of the whole service area."""

    districts: list[DistrictCount]
    outside: int  # stations outside every district (a widened service area)
    total: int  # every station that is not permanently closed, inside a district or not
    paused: int
    by_type: dict[str, int]

    def by_code(self) -> dict[str, DistrictCount]:
        """The districts keyed by code."""
        return {d.code: d for d in self.districts}


def district_counts(snap: Snapshot, districts: DistrictIndex, when: datetime) -> DistrictCounts:
    """Stations per district and type (permanently closed ones excluded; paused ones counted and noted)."""
    live = snap.live_mask()
    paused = snap.paused_mask(when) & live
    codes = snap.district
    type_keys = list(STATION_TYPES)
    rows = []
    for d in districts.districts:
        here = live & (codes == d.code)
        by_type = {key: int(np.count_nonzero(here & (snap.type_code == i))) for i, key in enumerate(type_keys)}
        rows.append(
            DistrictCount(
                d.code,
                d.name,
                d.name_en,
                int(np.count_nonzero(here)),
                int(np.count_nonzero(paused & (codes == d.code))),
                by_type,
            )
        )
    total = int(np.count_nonzero(live))
    city_by_type = {key: int(np.count_nonzero(live & (snap.type_code == i))) for i, key in enumerate(type_keys)}
    outside = total - sum(r.total for r in rows)
    return DistrictCounts(rows, outside, total, int(np.count_nonzero(paused)), city_by_type)


def districts_body(
    snap: Snapshot, districts: DistrictIndex, when: datetime, *, boundaries: bool, only: Sequence[str] | None = None
) -> dict[str, Any]:
    """The districts answer of the API and the OGC feed: counts (JSON), or counts and boundaries (GeoJSON)."""
    from shapely.geometry import mapping

    counts = district_counts(snap, districts, when)
    rows = [
        {
            "code": c.code,
            "name": c.name,
            "name_en": c.name_en,
            "stations": c.total,
            "paused": c.paused,
            "by_type": c.by_type,
            "bbox": [round(v, 6) for v in districts.by_code[c.code].geometry.bounds],
        }
        for c in counts.districts
        if only is None or c.code in only
    ]
    sample = snap.sample_count > 0
    if not boundaries:
        return {"count": len(rows), "districts": rows, "outside_districts": counts.outside, "sample_data": sample}
    features = [
        {
            "type": "Feature",
            "id": row["code"],
            "geometry": mapping(districts.by_code[row["code"]].geometry),
            "properties": row,
        }
        for row in rows
    ]
    return {"type": "FeatureCollection", "features": features, "sample_data": sample}


# -- the organizers' overview (the admin dashboard) -----------------------------------------------

STATUS_ORDER = ("open", "temporarily_closed", "closed")


def status_masks(snap: Snapshot, when: datetime) -> dict[str, np.ndarray]:
    """Each station's status at `when`, as district_counts() counts it: a closure past its date is open again."""
    live = snap.live_mask()
    paused = snap.paused_mask(when) & live
    return {"open": live & ~paused, "temporarily_closed": paused, "closed": ~live}


@dataclass(frozen=True)
class OverviewRow:
    """Counts by status (STATUS_ORDER) of one district, or one type within it, and how many are 待核实."""

    by_status: dict[str, int]
    stale: int  # not permanently closed, and not checked for STALE_AFTER_DAYS
    sample: int

    @property
    def total(self) -> int:
        """Stations not permanently closed (district_counts' total)."""
        return self.by_status["open"] + self.by_status["temporarily_closed"]


@dataclass(frozen=True)
class DistrictOverview:
    """One district: its row and a row per station type."""

    code: str | None  # None: outside every district
    name: str
    row: OverviewRow
    by_type: dict[str, OverviewRow]


@dataclass(frozen=True)
class Overview:
    """Counts by district, type and status; 待核实 by stale_mask(); sample stations left."""

    districts: list[DistrictOverview]
    total: OverviewRow
    by_type: dict[str, OverviewRow]


def _row(mask: np.ndarray, statuses: dict[str, np.ndarray], stale: np.ndarray, sample: np.ndarray) -> OverviewRow:
    counts = {s: int(np.count_nonzero(mask & statuses[s])) for s in STATUS_ORDER}
    live = mask & ~statuses["closed"]
    return OverviewRow(counts, int(np.count_nonzero(live & stale)), int(np.count_nonzero(mask & sample)))


def roster_overview(
    snap: Snapshot, districts: DistrictIndex, when: datetime, only: Sequence[str] | None = None
) -> Overview:
    """The dashboard's counts (of `only` these districts, or all, plus stations outside every district).

    Totals of stations not permanently closed and paused ones agree with district_counts(); 待核实 is
    stale_mask(), the one definition.
    """
    statuses = status_masks(snap, when)
    stale = stale_mask(snap, when)
    sample = np.fromiter((s.provenance == "sample" for s in snap.stations or ()), bool, len(snap))
    types = list(STATION_TYPES)
    in_scope = np.ones(len(snap), bool) if only is None else np.isin(snap.district, list(only))
    rows = []
    for d in districts.districts:
        if only is not None and d.code not in only:
            continue
        here = snap.district == d.code
        by_type = {t: _row(here & (snap.type_code == i), statuses, stale, sample) for i, t in enumerate(types)}
        rows.append(DistrictOverview(d.code, d.name, _row(here, statuses, stale, sample), by_type))
    if only is None:
        outside = np.array([c is None for c in snap.district.tolist()], bool)
        if outside.any():
            by_type = {t: _row(outside & (snap.type_code == i), statuses, stale, sample) for i, t in enumerate(types)}
            rows.append(DistrictOverview(None, "区县以外", _row(outside, statuses, stale, sample), by_type))
    by_type = {t: _row(in_scope & (snap.type_code == i), statuses, stale, sample) for i, t in enumerate(types)}
    return Overview(rows, _row(in_scope, statuses, stale, sample), by_type)
