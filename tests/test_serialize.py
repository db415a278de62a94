"""The pre-encoded nearest answer parses to exactly what station_json() returns."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime

import pytest

from locator.coords import CRS
from locator.nearest import Snapshot
from locator.serialize import station_json, station_json_bytes
from locator.stations import TZ

WHENS = [
    datetime(2026, 11, 30, 10, 0, tzinfo=TZ),  # Monday morning
    datetime(2026, 12, 5, 23, 30, tzinfo=TZ),  # Saturday night
    datetime(2026, 12, 6, 6, 59, tzinfo=TZ),  # Sunday early
]


@pytest.mark.parametrize("crs", list(CRS))
@pytest.mark.parametrize("when", WHENS)
def test_fragment_text_equals_station_json(roster, crs, when):
    snap = roster.snapshot()
    stations = list(snap.stations)
    # Add the statuses the sample lacks: closed, and a temporary closure ending before/after `when`.
    stations[0] = replace(stations[0], status="closed")
    stations[1] = replace(stations[1], status="temporarily_closed", closed_until=date(2026, 12, 1))
    stations[2] = replace(stations[2], status="temporarily_closed", closed_until=None)
    test_snap = Snapshot.from_stations(stations, version=snap.version)
    for i, station in enumerate(test_snap.stations):
        name = roster.districts.name(station.district)
        distance = None if i % 3 == 0 else 1234.5678 * i
        expected = station_json(station, when=when, crs=crs, distance_m=distance, district_name=name)
        text = station_json_bytes(test_snap, i, when=when, crs=crs, distance_m=distance, district_name=name)
        assert json.loads(text) == expected, station.id


def test_fragments_follow_the_snapshot(roster):
    """A new roster version gets new fragments (an edited name shows at once)."""
    when = WHENS[0]
    snap = roster.snapshot()
    station = snap.stations[0]
    before = json.loads(station_json_bytes(snap, 0, when=when, crs=CRS.WGS84, distance_m=1.0, district_name=None))
    edited = replace(station, name="改名后的驿站")
    roster.store.update(edited, expected_version=station.version, actor="test", via="cli")
    new_snap = roster.snapshot()
    assert new_snap is not snap
    index = new_snap.index_of(station.id)
    after = json.loads(station_json_bytes(new_snap, index, when=when, crs=CRS.WGS84, distance_m=1, district_name=None))
    assert before["name"] != after["name"] == "改名后的驿站"


HOSTILE_TEXTS = [
    'quote " and backslash \\ and slash /',
    "control \x00\x01\x1f\x7f and line\nbreaks\r\t",
    "emoji 🚲🏍️ and U+2028 \u2028 U+2029 \u2029",
    "plain ASCII station",
    "&?#=%+;:,@ 驿站 100%",
    "</script><b>html</b>",
]


@pytest.mark.parametrize("crs", list(CRS))
def test_encoded_miss_equals_station_json_for_hostile_stations(roster, crs):
    """The cache's miss (one bytes template) parses to station_json() for any text, date, number and position."""
    snap = roster.snapshot()
    base = snap.stations[0]
    when = WHENS[0]
    variants = []
    for i, text in enumerate(HOSTILE_TEXTS):
        variants.append(
            replace(
                base,
                id=f"hostile-{i}",
                name=text,
                address=HOSTILE_TEXTS[-1 - i] if i % 2 else "",
                contact=text if i % 3 == 0 else None,
                operator=None if i % 3 == 0 else text,
                note=text if i % 2 else None,
                approximate=bool(i % 2),
                version=10**12 + i,
            )
        )
    positions = [
        (120.5, 28.0),  # trailing zeros cut from the 6- and 7-decimal texts
        (121.0, 27.0),
        (120.1234565, 27.9999995),  # halfway cases of the 6-decimal rounding
        (120.65432109876, 27.98765432101),  # more decimals than any output keeps
        (116.4074, 39.9042),  # Beijing
        (-0.1276, 51.5072),  # London: no GCJ-02 offset, and a longitude below 1 degree (the general path)
        (2.3522, 48.8566),
        (-74.006, 40.7128),
        (0.0, 0.0),
        (179.9999999, -89.9999999),
    ]
    for i, (lng, lat) in enumerate(positions):
        variants.append(replace(base, id=f"place-{i}", lng=lng, lat=lat))
    variants.append(
        replace(
            base,
            id="dated",
            verified_at=datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=TZ),
            updated_at=datetime(2026, 11, 29, 23, 59, 59, tzinfo=TZ),
            closed_until=date(2026, 12, 24),
            status="temporarily_closed",
        )
    )
    variants.append(replace(base, id="no-dates", verified_at=None, updated_at=None, amenities=(), hours=""))
    variants.append(replace(base, id="unknown-labels", type="not_a_type", district="not_a_district"))
    test_snap = Snapshot.from_stations(variants, version=snap.version)
    for i, station in enumerate(test_snap.stations):
        name = roster.districts.name(station.district)
        expected = station_json(station, when=when, crs=crs, distance_m=12.3, district_name=name)
        text = station_json_bytes(test_snap, i, when=when, crs=crs, distance_m=12.3, district_name=name)
        assert json.loads(text) == expected, station.id


def test_coordinate_texts_are_the_rounded_numbers_repr():
    """The miss writes a coordinate as format(v, '.6f') without trailing zeros: repr(round(v, 6)) for |v| >= 1."""
    import random

    import orjson

    from locator.serialize import _dec6, _dec7, _within_7_decimals

    rng = random.Random(18)
    values = [1.0, -1.0, 120.0, 120.5, 27.1000005, 27.1000015, 179.9999999, -179.99999995, 1.0000005]
    values += [rng.uniform(1, 180) * rng.choice((1, -1)) for _ in range(20000)]
    values += [round(rng.uniform(1, 180), rng.randrange(8)) for _ in range(20000)]
    reused = 0
    for v in values:
        assert _dec6(v) == repr(round(v, 6)), v
        assert _dec7(v) == repr(round(v, 7)).encode(), v
        if _within_7_decimals(orjson.dumps(v)):  # a WGS-84 position's own text stands for its 7-decimal rounding
            assert orjson.dumps(v) == repr(round(v, 7)).encode(), v
            reused += 1
    assert reused > 20000


@pytest.mark.parametrize("crs", list(CRS))
def test_a_packed_roster_encodes_what_station_json_writes(make_store, crs, monkeypatch):
    """From a store's packed read, a miss is written from the stored texts without a Station where they are
    plain (most are), and by the Station where JSON must escape them: both parse to station_json()."""
    from locator.station_table import PackedStations
    from locator.stations import Station

    texts = [t for t in HOSTILE_TEXTS if not any(c in t for c in "\x1d\x1e\x1f\x00")]
    stations = []
    for i, text in enumerate(texts):
        stations.append(
            Station(
                id=f"h-{i}",
                name=text,
                type="rider_station",
                district="330302" if i % 2 else None,
                address=texts[-1 - i] if i % 2 else "",
                lng=120.6 + i * 0.0123456789,
                lat=28.0 - i * 0.00987654321,
                amenities=("water", "charging") if i % 2 else (),
                hours="Mo-Fr 09:00-18:00" if i % 3 else "",
                contact=text if i % 3 == 0 else None,
                operator=None if i % 3 == 0 else text,
                note=text if i % 2 else None,
                approximate=bool(i % 2),
                status="temporarily_closed" if i == 2 else "open",
                closed_until=date(2026, 12, 24) if i == 2 else None,
                provenance="import",
                verified_at=datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=TZ) if i % 2 else None,
            )
        )
    store = make_store()
    store.replace_all(stations, actor="t", via="seed")
    snap = Snapshot.from_table(store.read_table())
    assert isinstance(snap.stations, PackedStations)
    made = []
    original = PackedStations._station

    def counting(self, i):
        made.append(self._ids.item(i))
        return original(self, i)

    monkeypatch.setattr(PackedStations, "_station", counting)
    when = WHENS[0]
    for i in range(len(snap)):
        station = store.get(snap.ids[i])
        expected = station_json(station, when=when, crs=crs, distance_m=7.5, district_name="鹿城区")
        text = station_json_bytes(snap, i, when=when, crs=crs, distance_m=7.5, district_name="鹿城区")
        assert json.loads(text) == expected, station.id
    plain = {
        s.id
        for s in stations
        if s.status == "open"
        and not any(
            c in s.name + s.address + (s.contact or "") + (s.operator or "") + (s.note or "")
            for c in '"\\' + "".join(map(chr, range(32)))
        )
    }
    assert len(plain) >= 3 and not plain & set(
        made
    )  # plain texts made no Station (a closed one is made for its status)


def test_a_replaced_snapshot_is_freed_with_its_fragments(roster):
    """The fragment cache lives as long as its snapshot and no longer: a roster version that has answered
    riders is freed once replaced (the cache held it before, so every version stayed in memory)."""
    import gc
    import weakref

    from locator.serialize import fragments

    snap = roster.snapshot()
    station_json_bytes(snap, 0, when=WHENS[0], crs=CRS.WGS84, distance_m=1.0, district_name=None)
    assert fragments(snap) is fragments(snap)
    gone = weakref.ref(snap)
    station = snap.stations[0]
    roster.store.update(replace(station, name="新的名字"), expected_version=station.version, actor="t", via="cli")
    assert roster.snapshot() is not snap
    del snap, station
    gc.collect()
    assert gone() is None


def test_navigation_columns_write_the_scalar_conversions_texts():
    """GCJ-02/BD-09 converted per snapshot in columns give, to 6 and 7 decimals, the texts of the scalar
    conversion station_json() uses; rows too close to a rounding boundary are left to it (NaN)."""
    import numpy as np

    from locator.coords import gcj02_to_bd09, wgs84_to_gcj02
    from locator.serialize import _dec6, _dec7, _navigation_columns

    rng = np.random.default_rng(18)
    lng = np.concatenate([119.6 + rng.random(20000) * 1.7, rng.uniform(-179, 179, 2000), [120.5, 121.0]])
    lat = np.concatenate([27.0 + rng.random(20000) * 1.6, rng.uniform(-89, 89, 2000), [28.0, 27.0]])
    columns = _navigation_columns(lng, lat)
    kept = 0
    for i in range(len(lng)):
        row = columns[i].tolist()
        if row[0] != row[0]:
            continue
        g = wgs84_to_gcj02(lng.item(i), lat.item(i))
        scalar = [*g, *gcj02_to_bd09(*g)]
        for value, expected in zip(row, scalar, strict=True):
            assert (_dec6(value), _dec7(value)) == (_dec6(expected), _dec7(expected)), (i, value, expected)
        kept += 1
    assert kept >= 0.99 * len(lng)


def _synthetic_store(tmp_path, n):
    from locator.station_table import PackedStations
    from locator.stations import Station
    from locator.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / f"roster-{n}.sqlite3")
    store.init_schema()
    stations = [
        Station(
            id=f"s-{i:05d}",
            name=f"驿站 {i}",
            type="rider_station",
            district="330302" if i % 2 else None,
            address=f"地址 {i}",
            lng=120.3 + (i * 7919 % 10007) / 10007 * 0.8,
            lat=27.6 + (i * 104729 % 10009) / 10009 * 0.6,
            amenities=("water",),
            hours="Mo-Su 08:00-20:00",
        )
        for i in range(n)
    ]
    store.replace_all(stations, actor="t", via="seed")
    snap = Snapshot.from_table(store.read_table(), version=1)
    assert isinstance(snap.stations, PackedStations)
    return snap


def test_a_roster_that_fits_is_encoded_whole_once_per_version(tmp_path, roster, monkeypatch):
    """The first answer of a roster version encodes every station's WGS-84 fragment (in the request up to
    SYNC_ENCODE stations, in a thread beyond it): later answers never encode one; each is what station_json()
    writes."""
    import time

    from locator import serialize

    names = roster.districts.name
    for n in (300, serialize.SYNC_ENCODE + 1500):
        snap = _synthetic_store(tmp_path, n)
        cache = serialize.fragments(snap, names)
        deadline = time.monotonic() + 60
        while (cache.whole is None or len(cache.whole) < n) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cache.whole is not None and len(cache.whole) == n, n
        # Other coordinate systems' fragments restart their bounded cache; the whole roster's stay.
        monkeypatch.setattr(serialize, "MAX_CACHED_BYTES", 20_000)
        for i in range(n):
            station_json_bytes(snap, i, when=WHENS[1], crs=CRS.GCJ02, distance_m=5.0, district_name=None)
        assert len(cache.fixed) < n and len(cache.whole) == n
        encoded: list[tuple] = []
        monkeypatch.setattr(cache, "_fixed_packed", lambda *a, seen=encoded: seen.append(a))
        for i in range(0, n, 37):
            name = names(snap.district[i])
            text = station_json_bytes(snap, i, when=WHENS[1], crs=CRS.WGS84, distance_m=5.0, district_name=name)
            expected = station_json(snap.stations[i], when=WHENS[1], distance_m=5.0, district_name=name)
            assert json.loads(text) == expected
        assert encoded == []


def test_a_roster_too_large_to_fit_is_encoded_on_demand(tmp_path, roster, monkeypatch):
    """Beyond WHOLE_ROSTER_BYTES (1,000,000 stations would need gigabytes) only the answers' stations are
    encoded, within MAX_CACHED_BYTES."""
    from locator import serialize

    monkeypatch.setattr(serialize, "WHOLE_ROSTER_BYTES", 100_000)
    snap = _synthetic_store(tmp_path, 500)
    cache = serialize.fragments(snap, roster.districts.name)
    assert cache.encode_all(snap.district, roster.districts.name) is False
    assert cache.whole is None and cache.fixed == {}  # the sample that measured the fragments' size is not kept
