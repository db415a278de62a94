"""Stations as JSON and GeoJSON: one shape for the API, the pages and the maps, and its fast encoder.

station_json() builds the shape. On the rider's hot path (the nearest answer) the parts of it that
are fixed for a roster version (navigation links, labels, location) are encoded with orjson once per
(snapshot, station, coordinate system), within a bounded cache, and spliced with the fields that depend
on the moment (open_now, next_open, status, status_label) and the distance: station_json_bytes() parses
to exactly what station_json() returns (tests/test_serialize.py).
"""

from __future__ import annotations

import json
import re
import threading
import time
import weakref
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, NamedTuple

import numpy as np
import orjson

from locator.coords import CRS, from_wgs84, gcj02_to_bd09, wgs84_to_gcj02
from locator.hours import TZ, OpeningHours, parse_hours
from locator.navigation import map_links, navigation_targets, quote_all, quote_utf8
from locator.nearest import Snapshot
from locator.station_table import FIELD_SEP, NULL_MARK, STATUS_OPEN, STATUS_TEMP, PackedStations
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
    out = _fixed_members(
        station, x, y, crs, district_name, station.opening_hours.describe_zh(), _amenities_json(station.amenities)
    )
    status = station.effective_status(when)
    out["open_now"] = station.open_now(when)
    out["next_open"] = _iso(station.next_open(when))
    out["status"] = status
    out["status_label"] = STATUSES[status].zh if status in STATUSES else status
    if distance_m is not None:
        out["distance_m"] = round(distance_m, 1)
    if navigation:
        out["navigation"] = navigation_targets(station.lng, station.lat, station.name, station.address)
    return out


def _fixed_members(
    s: Station,
    x: float,
    y: float,
    crs: CRS,
    district_name: str | None,
    hours_text: str,
    amenities: list[dict[str, str]],
) -> dict[str, Any]:
    """The members of station_json() that are fixed for a roster version (all but the moment's, the distance
    and navigation): written once here for station_json() and the hot path's FragmentCache."""
    return {
        "id": s.id,
        "name": s.name,
        "type": s.type,
        "type_label": _TYPE_LABELS.get(s.type),
        "district": s.district,
        "district_name": district_name,
        "address": s.address,
        "location": {"lng": round(float(x), 7), "lat": round(float(y), 7), "crs": crs.value},
        "location_wgs84": {"lng": s.lng, "lat": s.lat},
        "amenities": amenities,
        "hours": s.hours,
        "hours_text": hours_text,
        "closed_until": s.closed_until.isoformat() if s.closed_until else None,
        "contact": s.contact,
        "operator": s.operator,
        "provenance": s.provenance,
        "approximate": s.approximate,
        "note": s.note,
        "updated_at": _iso(s.updated_at),
        "verified_at": _iso(s.checked_at),
        "version": s.version,
    }


def _amenities_json(keys: tuple[str, ...]) -> list[dict[str, str]]:
    return [AMENITIES[a].as_json() for a in keys if a in AMENITIES]


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
#
# The nearest answer is assembled from bytes. Per roster version (snapshot) and coordinate system a
# cache keeps each station's fixed members as encoded JSON: every station's WGS-84 members when they all
# fit in WHOLE_ROSTER_BYTES (encoded once per version: encode_all), else the last MAX_CACHED_BYTES
# encoded. A station not in it is written from the packed roster's stored texts and the snapshot's
# GCJ-02/BD-09 columns (about 100,000 instructions), so an answer costs the same order whether the roster
# has 200 stations or 1,000,000, and memory stays bounded. The members that depend on the minute
# (open_now, next_open, status) are cached per snapshot for the current minute: per schedule for the
# stations open by status, per station for the others.

DYNAMIC_FIELDS = ("open_now", "next_open", "status", "status_label", "distance_m")
MAX_CACHED = 20_000  # minute-dependent members per snapshot and minute
# Fixed fragments per snapshot (all coordinate systems together), by their bytes: the cache restarts beyond
# it. 64 MB holds about 40,000 (1.5 kB each: a city's stations many times over, a tenth of 400,000).
MAX_CACHED_BYTES = 64 * 1024 * 1024
# A roster whose WGS-84 fragments (what riders' phones ask for) all fit in this is encoded whole, once per
# version (encode_all), and kept apart from the bounded cache: about 110,000 stations of 1.5 kB. A larger
# roster (1,000,000 stations would need 1.5 GB) keeps the MAX_CACHED_BYTES last encoded.
WHOLE_ROSTER_BYTES = 192 * 1024 * 1024
SYNC_ENCODE = 2_000  # stations encoded in the request that makes the cache; beyond it, in a thread
_ENTRY_OVERHEAD = 100  # bytes a cached fragment costs beyond its text (the dict's slot, the key, the header)
_TYPE_LABELS = {key: {"zh": t.zh, "en": t.en} for key, t in STATION_TYPES.items()}
_STATUS_BYTES = {key: orjson.dumps({"status": key, "status_label": t.zh})[1:-1] for key, t in STATUSES.items()}
# Members many stations share (types and districts, amenity sets, hours texts): encoded once per snapshot,
# up to MAX_SHARED of each; beyond it, each time.
MAX_SHARED = 4096


_CRS_JSON = {crs: orjson.dumps(crs.value) for crs in CRS}
_CRS_NUMBER = {crs: n for n, crs in enumerate(CRS)}
# station_json()'s fixed members in its order (as _fixed_members() and navigation_from() write them),
# filled by _write_fixed() with JSON texts (%b; the links are ASCII without quotes or backslashes). The
# members a station's filter combination fixes (amenities, hours, hours_text, closed_until) are one %b.
_FIXED = (
    b'"id":%b,"name":%b,%b,"address":%b,"location":{"lng":%b,"lat":%b,"crs":%b},"location_wgs84":{"lng":%b,"lat":%b},'
    b'%b,"contact":%b,"operator":%b,"provenance":%b,"approximate":%b,"note":%b,'
    b'"updated_at":%b,"verified_at":%b,"version":%b,"navigation":{"wechat_open_location":{"latitude":%b,'
    b'"longitude":%b,"name":%b,"address":%b,"scale":16,"crs":"gcj02"},"amap":"%b","baidu":"%b","tencent":"%b"}'
)
_FIELD_SEP, _NULL = FIELD_SEP.encode(), NULL_MARK.encode()
# What orjson would escape in a string (quote, backslash, control characters; not the separators of
# the packed text, which are checked apart).
_NOT_PLAIN = re.compile(rb'[\x00-\x1c"\\]')
_FALSE = frozenset({b"0", b"f", b"false", b""})  # station_table._bool's false texts
_TIMESTAMPS: dict[bytes, bytes] = {}


def _navigation_columns(lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Every station's GCJ-02 and BD-09 position in columns (n x 4: g_lng, g_lat, b_lng, b_lat), NaN where
    the texts written from them might differ from the scalar conversion's that station_json() uses.

    numpy's trigonometry may differ from math's in the last bits (it has vector code of its own on some
    CPUs); a last bit changes a 6- or 7-decimal text only when the value lies that close to a rounding
    boundary. So a row is kept only if each of its values lies more than 1e-11° (~1 µm; the formulas'
    rounding differences are below 1e-12°) from every 6- and 7-decimal rounding boundary; the other rows,
    a few in 100,000, are converted one by one when encoded. Points outside mainland China are their own
    GCJ-02 and BD-09 positions.
    """
    g_lng, g_lat = wgs84_to_gcj02(lng, lat)
    b_lng, b_lat = gcj02_to_bd09(g_lng, g_lat)
    out = np.column_stack((g_lng, g_lat, b_lng, b_lat))
    safe = np.ones(len(lng), bool)
    for scale in (1e6, 1e7):
        frac = np.abs(np.mod(out * scale, 1.0) - 0.5)
        safe &= np.all(frac > 1e-11 * scale, axis=1)
    out[~safe] = np.nan
    return out


def _timestamp_json(text: bytes) -> bytes:
    """A stored timestamp's JSON as station_json() writes it (isoformat() of the parsed value)."""
    found = _TIMESTAMPS.get(text)
    if found is None:
        found = orjson.dumps(datetime.fromisoformat(text.decode()).isoformat())
        if len(_TIMESTAMPS) < MAX_SHARED:
            _TIMESTAMPS[text] = found
    return found


def _dec6(value: float) -> str:
    """repr(round(value, 6)) for 1e-4 <= |value| < 1e16, without round()'s second conversion."""
    text = f"{value:.6f}".rstrip("0")
    return text + "0" if text[-1] == "." else text


def _within_7_decimals(text: bytes) -> bool:
    """True if orjson's (shortest) text of a number has at most 7 decimals and no exponent."""
    dot = text.find(b".")
    return dot >= 0 and len(text) - dot <= 8 and b"e" not in text


def _dec7(value: float) -> bytes:
    """repr(round(value, 7)).encode() for 1e-4 <= |value| < 1e16."""
    text = b"%.7f" % value
    text = text.rstrip(b"0")
    return text + b"0" if text[-1] == 46 else text  # 46: "."


def encode(value: object) -> str:
    """Compact JSON text, Chinese kept readable."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _write_fixed(
    crs: CRS,
    lng: float,
    lat: float,
    gcj: tuple[float, float],
    bd: tuple[float, float],
    q_name: str,
    q_address: str,
    members: tuple[bytes, ...],
) -> bytes:
    """_FIXED filled: the position texts and map links made here from a WGS-84 position (|lng|, |lat| >= 1),
    its GCJ-02 and BD-09 conversions and the percent-encoded name and address; `members` are the other
    texts in _FIXED's order (id, name, labels, address | combination, contact, operator, provenance,
    approximate, note, updated_at, verified_at, version), each as its JSON."""
    dumps = orjson.dumps
    lng_json, lat_json = dumps(lng), dumps(lat)
    if crs is CRS.WGS84:
        # A position stored with at most 7 decimals (most are) is its own round(v, 7): the same text.
        x = lng_json if _within_7_decimals(lng_json) else _dec7(lng)
        y = lat_json if _within_7_decimals(lat_json) else _dec7(lat)
    elif crs is CRS.GCJ02:
        x, y = _dec7(gcj[0]), _dec7(gcj[1])
    else:
        x, y = _dec7(bd[0]), _dec7(bd[1])
    gx, gy = _dec6(gcj[0]), _dec6(gcj[1])
    amap, baidu, tencent = map_links(gx, gy, _dec6(bd[0]), _dec6(bd[1]), q_name, q_address)
    name_json, address_json = members[1], members[3]
    return _FIXED % (
        *members[:4],
        x,
        y,
        _CRS_JSON[crs],
        lng_json,
        lat_json,
        *members[4:],
        gy.encode(),
        gx.encode(),
        name_json,
        address_json,
        amap.encode(),
        baidu.encode(),
        tencent.encode(),
    )


class _Columns(NamedTuple):
    """What a FragmentCache reads of its snapshot."""

    stations: Any
    status: np.ndarray
    closed_until: np.ndarray
    schedule: np.ndarray
    schedules: list[OpeningHours]


class FragmentCache:
    """One snapshot's encoded station fragments: fixed members (bounded), minute-dependent members."""

    def __init__(self, snap: Snapshot):
        # The columns it reads, not the snapshot: _CACHES holds this cache for as long as the snapshot
        # lives, and a reference back to it from here would keep every roster version alive forever.
        self.columns = _Columns(snap.stations, snap.status, snap.closed_until, snap.schedule, snap.schedules)
        self.fixed: dict[int, bytes] = {}  # station index * 3 + _CRS_NUMBER[crs] -> fixed members
        # (minute, station index -> open_now, next_open, status of a station not open by status; schedule
        # index -> the same members of an "open" station), replaced as one tuple so that a thread never
        # mixes two minutes.
        self.moment: tuple[datetime | None, dict[int, bytes], dict[int, bytes]] = (None, {}, {})
        # Members many stations share, encoded once per snapshot (bounded: MAX_SHARED each).
        self.labels: dict[tuple[str, str | None, str | None], bytes] = {}
        self.amenities: dict[tuple[str, ...], bytes] = {}
        self.hours: dict[str, bytes] = {}
        # A packed roster's misses are written from its stored texts (no Station made): the members of
        # each filter combination (PackedStations' keys) once per (combination, district name).
        stations = snap.stations
        self.packed = stations if isinstance(stations, PackedStations) else None
        self.by_key: dict[tuple[int, str | None], tuple[bytes, bytes, bytes]] = {}
        # Every station's GCJ-02 and BD-09 position, converted once per snapshot in columns (32 bytes a
        # station): the scalar conversions were a fifth of a miss.
        self.navigation = _navigation_columns(snap.lng, snap.lat) if self.packed is not None else None
        self.size = 0  # bytes held by `fixed`, which restarts beyond MAX_CACHED_BYTES
        self.whole: dict[int, bytes] | None = None  # station index -> WGS-84 fragment, if encoded whole
        self._minute: tuple[datetime | None, datetime | None] = (None, None)  # (when, its minute) of the last answer

    def fixed_bytes(self, i: int, station: Station | None, crs: CRS, district_name: str | None) -> bytes:
        """The fixed members of station_json(station, crs=crs) as JSON without braces (`station`: the
        snapshot's i-th, made only on a miss when None)."""
        whole = self.whole
        if whole is not None and crs is CRS.WGS84:
            fragment = whole.get(i)
            if fragment is not None:
                return fragment
        key = i * 3 + _CRS_NUMBER[crs]  # an int: no tuple made and hashed per lookup
        fragment = self.fixed.get(key)
        if fragment is None:
            fragment = self._encode(i, station, crs, district_name)
            if self.size >= MAX_CACHED_BYTES:
                self.fixed = {}  # a new dict, not clear(): another thread may be reading the old one
                self.size = 0
            self.fixed[key] = fragment
            self.size += len(fragment)
        return fragment

    def _encode(self, i: int, station: Station | None, crs: CRS, district_name: str | None) -> bytes:
        """A station's fixed members, encoded: from the packed texts where they allow it, else from the Station."""
        fragment = self._fixed_packed(i, crs, district_name) if station is None and self.packed is not None else None
        if fragment is None:
            if station is None:
                station = self.columns.stations[i]
            fragment = self._fixed(station, crs, district_name)
        return fragment

    def _fixed(self, s: Station, crs: CRS, district_name: str | None) -> bytes:
        """One station's fixed members, encoded: the cache's miss, which at 100,000 stations is most lookups.

        _FIXED (station_json()'s members in its order) filled with texts made once each: strings,
        dates and nulls by orjson, coordinates by format() (a 6- or 7-decimal text with its trailing
        zeros cut is what repr() writes of the number round() gives), the members many stations
        share (labels, amenities, hours) encoded once per snapshot. tests/test_serialize.py parses
        it against station_json().
        """
        lng, lat = float(s.lng), float(s.lat)
        if not (abs(lng) >= 1.0 and abs(lat) >= 1.0):
            # repr() writes numbers below 1e-4 with an exponent, which the texts below would not.
            return self._fixed_general(s, crs, district_name)
        gcj = wgs84_to_gcj02(lng, lat)
        q_name = quote_all(s.name)
        dumps = orjson.dumps
        updated = dumps(s.updated_at)
        members = (
            dumps(s.id),
            dumps(s.name),
            self._labels(s.type, s.district, district_name),
            dumps(s.address),
            self._combination(s.amenities, s.hours, s.closed_until),
            dumps(s.contact),
            dumps(s.operator),
            dumps(s.provenance),
            b"true" if s.approximate else b"false",
            dumps(s.note),
            updated,
            updated if s.verified_at is None else dumps(s.verified_at),  # Station.checked_at
            dumps(s.version),
        )
        q_address = quote_all(s.address) if s.address else q_name
        return _write_fixed(crs, lng, lat, gcj, gcj02_to_bd09(*gcj), q_name, q_address, members)

    def _fixed_packed(self, i: int, crs: CRS, district_name: str | None) -> bytes | None:
        """_fixed() written straight from the packed roster's stored texts, or None where that cannot be
        exact (a text JSON must escape, a position near 0°, bytes that are not UTF-8): the caller then
        makes the Station.

        A plain text (no quote, backslash or control character) is its own JSON string body, as orjson
        writes it; so the stored UTF-8 bytes go into the template as they are, and the texts made per
        miss are the coordinates, the two percent-encoded names and the timestamps (cached by text).
        About 100,000 instructions against 149,000 for making the Station and _fixed()
        (bench/hot_path_instructions.py `miss` and `miss_station`).
        """
        packed = self.packed
        offsets = packed._offsets
        raw = packed._arena[offsets.item(i) : offsets.item(i + 1) - 1]
        if _NOT_PLAIN.search(raw) is not None:
            return None
        fields = raw.split(_FIELD_SEP)
        name, address, contact, operator, approximate, note, _confirmed, verified, _created, updated, version = fields
        if raw.count(_NULL) != (contact == _NULL) + (operator == _NULL) + (note == _NULL) + (verified == _NULL):
            return None  # a NULL mark inside a text
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        lng, lat = packed._lng.item(i), packed._lat.item(i)
        if not (abs(lng) >= 1.0 and abs(lat) >= 1.0):
            return None
        g_lng, g_lat, b_lng, b_lat = self.navigation[i].tolist()
        if g_lng != g_lng:  # NaN: near a rounding boundary, converted as station_json() does
            g_lng, g_lat = wgs84_to_gcj02(lng, lat)
            b_lng, b_lat = gcj02_to_bd09(g_lng, g_lat)
        q_name = quote_utf8(name)
        q_address = quote_utf8(address) if address else q_name
        labels, combination, provenance = self._by_key(packed._key_codes.item(i), district_name)
        updated_json = _timestamp_json(updated)
        members = (
            orjson.dumps(packed._ids.item(i)),
            b'"' + name + b'"',
            labels,
            b'"' + address + b'"',
            combination,
            b"null" if contact == _NULL else b'"' + contact + b'"',
            b"null" if operator == _NULL else b'"' + operator + b'"',
            provenance,
            b"false" if approximate in _FALSE else b"true",
            b"null" if note == _NULL else b'"' + note + b'"',
            updated_json,
            updated_json if verified == _NULL else _timestamp_json(verified),
            b"%d" % int(version),
        )
        return _write_fixed(crs, lng, lat, (g_lng, g_lat), (b_lng, b_lat), q_name, q_address, members)

    def encode_all(self, district: np.ndarray, name_of: Callable[[str | None], str | None]) -> bool:
        """Encode every station's WGS-84 fragment now, if they all fit in WHOLE_ROSTER_BYTES: what is fixed
        for a roster version is then never encoded in a rider's request (at 100,000 stations most of a
        worker's first answers were misses, ~100,000 instructions a station). `district`: each station's
        code, `name_of`: the name the answer writes for a code. They are kept in `whole`, apart from the
        bounded cache of the other coordinate systems' fragments (whose restarts never drop them). Up to
        SYNC_ENCODE stations in this call, more in a thread that stops once the snapshot is gone (a
        station it has not reached yet is encoded as a miss meanwhile); True if the whole roster is
        (being) encoded.
        """
        n = len(district)
        if not n or self.packed is None:
            return False
        wgs84 = CRS.WGS84
        sample = [self._encode(i, None, wgs84, name_of(district[i])) for i in range(min(n, 64))]
        if n * (sum(map(len, sample)) / len(sample) + _ENTRY_OVERHEAD) > WHOLE_ROSTER_BYTES:
            return False
        whole = dict(enumerate(sample))
        if n <= SYNC_ENCODE:
            for i in range(len(sample), n):
                whole[i] = self._encode(i, None, wgs84, name_of(district[i]))
            self.whole = whole
            return True
        self.whole = whole  # filled by the thread: a dict's item is written and read whole
        ref = weakref.ref(self)

        def run() -> None:
            for start in range(len(sample), n, 512):
                cache = ref()
                if cache is None:  # the snapshot was replaced and freed: its fragments are not needed
                    return
                for i in range(start, min(start + 512, n)):
                    whole[i] = cache._encode(i, None, wgs84, name_of(district[i]))
                del cache
                time.sleep(0)  # let request threads take the interpreter between chunks

        threading.Thread(target=run, name="locator-fragments", daemon=True).start()
        return True

    def _by_key(self, code: int, district_name: str | None) -> tuple[bytes, bytes, bytes]:
        """A filter combination's members: the labels; amenities, hours and closed_until; provenance."""
        found = self.by_key.get((code, district_name))
        if found is None:
            key = self.packed._keys[code]
            found = (
                self._labels(key["type"], key["district"], district_name),
                self._combination(key["amenities"], key["hours"], key["closed_until"]),
                orjson.dumps(key["provenance"]),
            )
            if len(self.by_key) < MAX_SHARED:
                self.by_key[(code, district_name)] = found
        return found

    def _fixed_general(self, s: Station, crs: CRS, district_name: str | None) -> bytes:
        """_fixed() by way of the dictionaries station_json() writes (any coordinates)."""
        x, y = from_wgs84(s.lng, s.lat, crs)
        out = _fixed_members(s, x, y, crs, district_name, s.opening_hours.describe_zh(), _amenities_json(s.amenities))
        out["navigation"] = navigation_targets(s.lng, s.lat, s.name, s.address)
        return orjson.dumps(out)[1:-1]

    def _combination(self, amenities: tuple[str, ...], hours: str, closed_until: date | None) -> bytes:
        """The members "amenities", "hours", "hours_text", "closed_until", written as one."""
        return b'"amenities":%b,%b,"closed_until":%b' % (
            self._amenities(amenities),
            self._hours(hours),
            orjson.dumps(closed_until),
        )

    def _labels(self, kind: str, district: str | None, district_name: str | None) -> bytes:
        key = (kind, district, district_name)
        text = self.labels.get(key)
        if text is None:
            members = {"type": kind, "type_label": _TYPE_LABELS.get(kind), "district": district}
            members["district_name"] = district_name
            text = orjson.dumps(members)[1:-1]
            if len(self.labels) < MAX_SHARED:
                self.labels[key] = text
        return text

    def _amenities(self, keys: tuple[str, ...]) -> bytes:
        text = self.amenities.get(keys)
        if text is None:
            text = orjson.dumps(_amenities_json(keys))
            if len(self.amenities) < MAX_SHARED:
                self.amenities[keys] = text
        return text

    def _hours(self, hours: str) -> bytes:
        text = self.hours.get(hours)
        if text is None:
            text = orjson.dumps({"hours": hours, "hours_text": parse_hours(hours).describe_zh()})[1:-1]
            if len(self.hours) < MAX_SHARED:
                self.hours[hours] = text
        return text

    def station_bytes(
        self, i: int, when: datetime, crs: CRS, distance_m: float | None, district_name: str | None
    ) -> bytes:
        """station_json(snap.stations[i], when=when, crs=crs, ...) as UTF-8 JSON (the nearest answer's unit)."""
        return b"".join(self.station_parts(i, when, crs, distance_m, district_name))

    def station_parts(
        self, i: int, when: datetime, crs: CRS, distance_m: float | None, district_name: str | None
    ) -> tuple[bytes, ...]:
        """station_bytes() in pieces, for a caller that joins a whole answer once.

        A fragment is ~1.6 kB: every `+` of it is a malloc and a copy. Joining the answer's pieces once
        (api.nearest_answer, which also has orjson write the answer's time) instead of each station, then
        the stations, then the answer took the nearest request from 382,020 to 337,142 instructions
        (bench/README.md, Run 10).
        """
        # No Station made unless a fragment is missing (the packed roster makes one per call).
        fixed = self.fixed_bytes(i, None, crs, district_name)
        moment = self.moment_bytes(i, None, when)
        if distance_m is None:
            return b"{", fixed, moment, b"}"
        return b"{", fixed, moment, b',"distance_m":', repr(round(distance_m, 1)).encode(), b"}"

    def moment_bytes(self, i: int, station: Station | None, when: datetime) -> bytes:
        """open_now, next_open, status, status_label at the start of `when`'s minute, as JSON members."""
        last = self._minute
        if last[0] is when:  # an answer's stations share its `when`
            minute = last[1]
        else:
            minute = when.replace(second=0, microsecond=0)
            self._minute = (when, minute)
        state = self.moment
        if state[0] != minute:
            state = self.moment = (minute, {}, {})
        _, moment, by_schedule = state
        columns = self.columns
        if columns.status.item(i) == STATUS_OPEN:  # most stations: their members follow from their hours
            schedule = columns.schedule.item(i)
            text = by_schedule.get(schedule)
            if text is None:
                text = by_schedule[schedule] = (
                    b"," + _hours_bytes(columns.schedules[schedule], minute) + b"," + _STATUS_BYTES["open"]
                )
            return text
        text = moment.get(i)
        if text is None:
            # Evaluated at the minute's start, as station_json(when=minute) would: fresh to the minute.
            # A temporary closure that has ended is read from the snapshot's columns (the rule of
            # Station.effective_status) and needs no Station; the others (closed, paused) are made.
            today = minute.astimezone(TZ).toordinal()
            if columns.status.item(i) == STATUS_TEMP and 0 < columns.closed_until.item(i) < today:
                status = "open"
            else:
                if station is None:
                    station = columns.stations[i]
                status = station.effective_status(minute)
            if status == "open":
                # Open again: open_now and next_open depend on the hours alone.
                hours = _hours_bytes(columns.schedules[columns.schedule.item(i)], minute)
                text = b"," + hours + b"," + _STATUS_BYTES["open"]
            else:
                upcoming = station.next_open(minute)
                text = (
                    b',"open_now":false,"next_open":'
                    + (b'"' + upcoming.isoformat().encode() + b'"' if upcoming else b"null")
                    + b","
                    + (_STATUS_BYTES.get(status) or orjson.dumps({"status": status, "status_label": status})[1:-1])
                )
            if len(moment) < MAX_CACHED:
                moment[i] = text
        return text


def _hours_bytes(hours: OpeningHours, minute: datetime) -> bytes:
    if hours.is_open(minute):
        return b'"open_now":true,"next_open":null'
    upcoming = hours.next_open(minute)
    return b'"open_now":false,"next_open":' + (b'"' + upcoming.isoformat().encode() + b'"' if upcoming else b"null")


_CACHES: weakref.WeakKeyDictionary[Snapshot, FragmentCache] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def fragments(snap: Snapshot, name_of: Callable[[str | None], str | None] | None = None) -> FragmentCache:
    """The fragment cache of a snapshot (made on first use, dropped with the snapshot). With `name_of` (a
    district's name by code, as the answer writes it), a new cache encodes the whole roster if it fits."""
    cache = _CACHES.get(snap)
    if cache is None:
        with _LOCK:
            cache = _CACHES.get(snap)
            if cache is None:
                cache = _CACHES[snap] = FragmentCache(snap)
                if name_of is not None:
                    cache.encode_all(snap.district, name_of)
    return cache


def station_json_bytes(
    snap: Snapshot,
    index: int,
    *,
    when: datetime,
    crs: CRS,
    distance_m: float | None,
    district_name: str | None,
) -> bytes:
    """station_json(snap.stations[index], ...) as UTF-8 JSON, from the snapshot's cached fragments."""
    return fragments(snap).station_bytes(index, when, crs, distance_m, district_name)
