"""The roster of one version in columns: what the nearest snapshot is built from.

A million `Station` objects cost about 1.2 GB and half a minute to read (issue 18). Here a roster
is numpy columns (ids, coordinates, the codes that filters test) plus every station's other fields
as one UTF-8 text per station, all in one byte arena with offsets: about 300 bytes a station, read
from the database with one query whose rows are the whole roster (`store.read_table()`), not a row
per station. `PackedStations` is a `Sequence[Station]`: indexing it makes the one `Station` an answer
shows, when it shows it.

The packed text has one canonical form, written by SQL in each store (a stored generated column in
SQLite, an expression in PostgreSQL) and read here:

- stations are separated by ROW_SEP, fields by FIELD_SEP, a NULL is NULL_MARK; the validated text
  of a station never holds these control characters (stations.validate_station refuses them), and
  a roster that does anyway is read the slow way (`UnexpectedText`);
- PACKED_FIELDS in this order: text as stored; `amenities` a JSON array; dates and timestamps ISO
  8601 (timestamps with their UTC offset); booleans 0/1; `version` a decimal integer;
- FILTER_FIELDS likewise, one short text per station that repeats across stations (a roster has few
  distinct combinations), so filters are parsed once per combination.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, overload

import numpy as np

from locator.hours import parse_hours
from locator.stations import AMENITIES, STATION_TYPES, Station

FIELD_SEP, ROW_SEP, NULL_MARK = "\x1f", "\x1e", "\x1d"
PACKED_FIELDS = (
    "name",
    "address",
    "contact",
    "operator",
    "approximate",
    "note",
    "location_confirmed",
    "verified_at",
    "created_at",
    "updated_at",
    "version",
)
# The fields that filters test: a roster has few distinct combinations of them, kept once each.
FILTER_FIELDS = ("type", "district", "status", "amenities", "hours", "closed_until", "provenance")
NULLABLE = frozenset({"district", "contact", "operator", "closed_until", "note", "verified_at"})

AMENITY_BIT = {key: 1 << i for i, key in enumerate(AMENITIES)}
TYPE_CODE = {key: i for i, key in enumerate(STATION_TYPES)}
STATUS_OPEN, STATUS_TEMP, STATUS_CLOSED = 0, 1, 2
STATUS_CODE = {"open": STATUS_OPEN, "temporarily_closed": STATUS_TEMP, "closed": STATUS_CLOSED}


class UnexpectedText(ValueError):
    """The packed columns do not split as they should (a separator inside a value): read row by row."""


def _amenities(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _bool(text: str) -> bool:
    return text not in ("0", "f", "false", "")


_new_station = object.__new__


@lru_cache(maxsize=4096)
def _timestamp(text: str) -> datetime:
    """A stored timestamp (an import stamps thousands of stations with one: parsed once)."""
    return datetime.fromisoformat(text)


class PackedStations(Sequence[Station]):
    """Stations in id order, kept as one UTF-8 arena; `[i]` makes the Station (a few µs)."""

    def __init__(
        self,
        ids: np.ndarray,
        lng: np.ndarray,
        lat: np.ndarray,
        arena: bytes,
        offsets: np.ndarray,
        key_codes: np.ndarray,
        keys: list[dict[str, Any]],
    ):
        self._ids, self._lng, self._lat = ids, lng, lat
        self._arena = arena
        self._offsets = offsets  # station i's text is arena[offsets[i]:offsets[i + 1] - 1]
        self._key_codes = key_codes  # station i's FILTER_FIELDS are keys[key_codes[i]]
        self._keys = keys

    def __len__(self) -> int:
        return len(self._ids)

    def _station(self, i: int) -> Station:
        start, end = self._offsets.item(i), self._offsets.item(i + 1) - 1
        name, address, contact, operator, approximate, note, confirmed, verified, created, updated, version = (
            self._arena[start:end].decode("utf-8").split(FIELD_SEP)
        )
        key = self._keys[self._key_codes.item(i)]
        # Station's generated __init__ (frozen: object.__setattr__ per field) was half of the cost of
        # making one (~5 µs of ~11): these values come from the store, already of the right types, so
        # the instance's dict is filled directly, in field order.
        station = _new_station(Station)
        station.__dict__.update(
            {
                "id": self._ids.item(i),
                "name": name,
                "type": key["type"],
                "district": key["district"],
                "address": address,
                "lng": self._lng.item(i),
                "lat": self._lat.item(i),
                "amenities": key["amenities"],
                "hours": key["hours"],
                "contact": None if contact == NULL_MARK else contact,
                "operator": None if operator == NULL_MARK else operator,
                "status": key["status"],
                "closed_until": key["closed_until"],
                "provenance": key["provenance"],
                "approximate": _bool(approximate),
                "note": None if note == NULL_MARK else note,
                "location_confirmed": _bool(confirmed),
                "verified_at": None if verified == NULL_MARK else _timestamp(verified),
                "created_at": _timestamp(created),
                "updated_at": _timestamp(updated),
                "version": int(version),
            }
        )
        return station

    @overload
    def __getitem__(self, i: int) -> Station: ...

    @overload
    def __getitem__(self, i: slice) -> list[Station]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._station(j) for j in range(*i.indices(len(self)))]
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("station index out of range")
        return self._station(i)

    def __iter__(self) -> Iterator[Station]:
        return (self._station(i) for i in range(len(self)))

    def field_texts(self, *names: str) -> list[tuple[str, ...]]:
        """Some fields of every station as their stored text, without making Station objects."""
        where = [PACKED_FIELDS.index(n) for n in names]
        last = max(where) + 1
        arena, offsets = self._arena, self._offsets.tolist()
        out = []
        for start, end in zip(offsets, offsets[1:], strict=False):
            parts = arena[start : end - 1].split(FIELD_SEP.encode(), last)
            out.append(tuple(parts[j].decode("utf-8") for j in where))
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held by the arena, its offsets and the filter codes."""
        return len(self._arena) + self._offsets.nbytes + self._key_codes.nbytes


@dataclass(frozen=True)
class FilterColumns:
    """Per station, the codes the filters test (see nearest.Snapshot.mask)."""

    type_code: np.ndarray  # int8, TYPE_CODE or -1
    district: np.ndarray  # object: the district code or None
    amenity_bits: np.ndarray  # uint32, AMENITY_BIT
    status: np.ndarray  # int8, STATUS_CODE
    closed_until: np.ndarray  # int32 proleptic ordinal, 0 if none
    schedule: np.ndarray  # int32 index into schedules
    schedules: list[str]  # distinct normalised opening hours
    sample_count: int  # stations whose provenance is "sample"


@dataclass(frozen=True)
class StationTable:
    """One roster version in columns, in id order: what Snapshot is built from."""

    ids: np.ndarray  # object, ascending
    lng: np.ndarray
    lat: np.ndarray
    filters: FilterColumns
    stations: Sequence[Station]  # a list, or PackedStations

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_stations(cls, stations: Sequence[Station]) -> StationTable:
        """From Station objects (small rosters, tests, and stores without a packed read)."""
        rows = sorted(stations, key=lambda s: s.id)
        keys = [(s.type, s.district, s.status, s.amenities, s.hours, s.closed_until, s.provenance) for s in rows]
        n = len(rows)
        return cls(
            ids=np.array([s.id for s in rows], dtype=object),
            lng=np.fromiter((s.lng for s in rows), float, n),
            lat=np.fromiter((s.lat for s in rows), float, n),
            filters=_filter_columns(keys),
            stations=rows,
        )

    @classmethod
    def from_packed(cls, count: int, ids: bytes, lnglat: np.ndarray, filters: bytes, packed: bytes) -> StationTable:
        """From a store's packed read: ids joined by FIELD_SEP, coordinates as (n, 2) floats, the
        FILTER_FIELDS and PACKED_FIELDS texts of each station joined by ROW_SEP (all in id order).

        UnexpectedText if the texts do not split into `count` stations of the right number of fields.
        """
        if count == 0:
            return cls.from_stations([])
        id_list = ids.decode("utf-8").split(FIELD_SEP)
        if len(id_list) != count or lnglat.shape != (count, 2):
            raise UnexpectedText("ids or coordinates do not match the count")
        id_array = np.array(id_list, dtype=object)
        if count > 1 and not np.all(id_array[:-1] < id_array[1:]):
            raise UnexpectedText("the rows did not arrive in id order")
        ends = np.flatnonzero(np.frombuffer(packed, np.uint8) == ord(ROW_SEP))
        if len(ends) != count - 1 or packed.count(FIELD_SEP.encode()) != count * (len(PACKED_FIELDS) - 1):
            raise UnexpectedText("a station's text holds a separator")
        offsets = np.empty(count + 1, np.int64)
        offsets[0] = 0
        offsets[1:-1] = ends + 1
        offsets[-1] = len(packed) + 1
        key_texts = filters.split(ROW_SEP.encode())
        if len(key_texts) != count:
            raise UnexpectedText("the filter texts do not match the count")
        # Few distinct texts among a million: number them, then parse each distinct one once.
        number = {text: i for i, text in enumerate(dict.fromkeys(key_texts))}
        codes = np.fromiter(map(number.__getitem__, key_texts), np.int32, count)
        del key_texts
        keys = []
        for text in number:
            parts = text.decode("utf-8").split(FIELD_SEP)
            if len(parts) != len(FILTER_FIELDS):
                raise UnexpectedText("a filter text holds a separator")
            v = dict(zip(FILTER_FIELDS, (None if p == NULL_MARK else p for p in parts), strict=True))
            keys.append(
                (
                    v["type"],
                    v["district"],
                    v["status"],
                    _amenities(v["amenities"]) if v["amenities"] else (),
                    v["hours"] or "",
                    date.fromisoformat(v["closed_until"]) if v["closed_until"] else None,
                    v["provenance"],
                )
            )
        lng = np.ascontiguousarray(lnglat[:, 0])
        lat = np.ascontiguousarray(lnglat[:, 1])
        fields = [dict(zip(FILTER_FIELDS, key, strict=True)) for key in keys]
        return cls(
            ids=id_array,
            lng=lng,
            lat=lat,
            filters=_filter_columns(keys, codes),
            stations=PackedStations(id_array, lng, lat, packed, offsets, codes, fields),
        )


def _filter_columns(keys: list[tuple], codes: np.ndarray | None = None) -> FilterColumns:
    """FilterColumns from (type, district, status, amenities, hours, closed_until, provenance) keys:
    one key per station, or the distinct keys and each station's index into them (`codes`)."""
    if codes is None:
        distinct: dict[tuple, int] = {}
        codes = np.fromiter((distinct.setdefault(k, len(distinct)) for k in keys), np.int32, len(keys))
        keys = list(distinct)
    schedules: dict[str, int] = {}
    schedule_of = [schedules.setdefault(parse_hours(k[4]).text, len(schedules)) for k in keys]

    def column(values: list, dtype) -> np.ndarray:
        return np.array(values, dtype=dtype)[codes] if len(codes) else np.zeros(0, dtype)

    return FilterColumns(
        type_code=column([TYPE_CODE.get(k[0], -1) for k in keys], np.int8),
        district=column([k[1] for k in keys], object),
        amenity_bits=column([sum(AMENITY_BIT.get(a, 0) for a in k[3]) for k in keys], np.uint32),
        status=column([STATUS_CODE.get(k[2], STATUS_CLOSED) for k in keys], np.int8),
        closed_until=column([k[5].toordinal() if k[5] else 0 for k in keys], np.int32),
        schedule=column(schedule_of, np.int32),
        schedules=list(schedules) or ["24/7"],
        sample_count=int(np.count_nonzero(column([k[6] == "sample" for k in keys], bool))),
    )
