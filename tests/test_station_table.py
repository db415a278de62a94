"""The roster in columns (locator/station_table.py): one read per store, the same stations as row by row."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from dataclasses import fields, replace
from datetime import UTC, date, datetime

import numpy as np
import pytest

from locator.nearest import Snapshot, StationFilter
from locator.station_table import PackedStations, StationTable
from locator.stations import AMENITIES, Station

# Values that a text format could lose: NULLs beside empty strings, backslashes and quotes, emoji,
# coordinates that need 17 digits, timestamps with and without microseconds, dates, every amenity.
AWKWARD = [
    Station(
        id="a-1",
        name='驿站 "一号" \\ C:\\path',
        type="rider_station",
        district="330302",
        address="",
        lng=120.65432109876543,
        lat=28.000000000000004,
        amenities=tuple(AMENITIES),
        hours="Mo-Fr 09:00-18:00; Sa 10:00-12:00",
        contact="0577-88888888",
        operator="某某公司 🛵",
        status="temporarily_closed",
        closed_until=date(2026, 12, 31),
        provenance="sample",
        approximate=True,
        note="备注, with, commas; and ; semicolons",
        location_confirmed=True,
        verified_at=datetime(2026, 11, 1, 8, 30, tzinfo=UTC),
    ),
    Station(
        id="b-2", name="党建之家", type="party_home", district=None, address="鹿城区 1 号", lng=0.1 + 0.2, lat=-0.0
    ),
    Station(
        id="B-0",
        name="x",
        type="rider_station",
        district="330303",
        address="'; DROP TABLE stations; --",
        lng=121.0,
        lat=27.5,
        status="closed",
        note="",
    ),
]


def _stations_equal(store, table: StationTable) -> None:
    rows = store.list()
    assert [s.id for s in rows] == table.ids.tolist()
    assert list(table.stations) == rows
    assert table.lng.tolist() == [s.lng for s in rows]
    assert table.lat.tolist() == [s.lat for s in rows]
    assert all(type(s.lng) is float and type(s.version) is int for s in table.stations)
    # PackedStations fills each instance's dict itself: every field, in Station's order.
    assert all(list(vars(s)) == [f.name for f in fields(Station)] for s in table.stations)


def test_one_read_gives_the_stations_that_rows_give(make_store):
    store = make_store()
    store.replace_all(AWKWARD, actor="t", via="seed")
    # An edit stamps updated_at with the store's clock (milliseconds): the packed text keeps them.
    store.update(replace(store.get("b-2"), name="改名"), expected_version=1, actor="t", via="edit")
    table = store.read_table()
    assert isinstance(table.stations, PackedStations)  # the one-query path, not the fallback
    _stations_equal(store, table)
    reference = StationTable.from_stations(store.list())
    for name in ("type_code", "district", "amenity_bits", "status", "closed_until", "schedule"):
        assert getattr(table.filters, name).tolist() == getattr(reference.filters, name).tolist(), name
    assert table.filters.schedules == reference.filters.schedules
    assert table.filters.sample_count == reference.filters.sample_count == 1


def test_an_empty_roster_reads_as_empty(make_store):
    table = make_store().read_table()
    assert len(table) == 0
    snap = Snapshot.from_table(table)
    assert snap.nearest(120.65, 28.0, 5) == []


def test_the_snapshot_answers_from_packed_stations(make_store):
    store = make_store()
    store.replace_all(AWKWARD, actor="t", via="seed")
    packed = Snapshot.from_table(store.read_table())
    plain = Snapshot.from_stations(store.list())
    for flt in (StationFilter(), StationFilter(include_closed=True), StationFilter(types=("party_home",))):
        assert packed.nearest(120.65, 28.0, 5, flt=flt) == plain.nearest(120.65, 28.0, 5, flt=flt)
    assert packed.get("a-1") == store.get("a-1")
    assert packed.get("missing") is None and packed.index_of("a-0") is None
    assert packed.matching(StationFilter(q="党建", include_closed=True)).tolist() == [packed.index_of("b-2")]
    assert packed.stations[-1] == packed.stations[len(packed) - 1]
    with pytest.raises(IndexError):
        packed.stations[len(packed)]


def test_rows_written_by_another_tool_are_read_too(tmp_path):
    """SQLite keeps the packed text itself (generated columns): a row a tool inserts is packed as well."""
    from locator.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "tool.sqlite3")
    store.init_schema()
    conn = sqlite3.connect(tmp_path / "tool.sqlite3", isolation_level=None)
    conn.execute(
        "INSERT INTO stations (id, name, type, district, address, lng, lat, created_at, updated_at) "
        "VALUES ('t-1', '工具写入', 'rider_station', NULL, '', 120.7, 28.1, '2026-01-01T00:00:00+00:00',"
        " '2026-01-01T00:00:00+00:00')"
    )
    conn.execute("UPDATE stations SET lng = 120.75 WHERE id = 't-1'")
    conn.close()
    table = store.read_table()
    assert isinstance(table.stations, PackedStations)
    _stations_equal(store, table)
    store.close()


def test_text_that_does_not_split_is_read_row_by_row(tmp_path, caplog):
    """A value holding a separator (only a tool writing past validation can store one) costs speed, not data."""
    from locator.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "odd.sqlite3")
    store.init_schema()
    store.replace_all(AWKWARD, actor="t", via="seed")
    conn = sqlite3.connect(tmp_path / "odd.sqlite3", isolation_level=None)
    conn.execute("UPDATE stations SET name = 'a' || char(31) || 'b' WHERE id = 'b-2'")
    conn.close()
    with caplog.at_level(logging.WARNING, logger="locator.store.sql"):
        table = store.read_table()
    assert not isinstance(table.stations, PackedStations)
    assert "row by row" in caplog.text
    _stations_equal(store, table)
    store.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_a_roster_from_before_the_packed_text_is_packed_by_its_migration(backend, tmp_path, monkeypatch, request):
    """The migration that adds the packed text (SQLite: rebuilds the table) keeps and packs every station."""
    from locator.store import postgis, sqlite

    if backend == "sqlite":
        module, store = sqlite, sqlite.SQLiteStore(tmp_path / "old.sqlite3")
    else:
        url = request.getfixturevalue("postgres_url")
        module, store = postgis, postgis.PostGISStore(url, schema=f"t_{uuid.uuid4().hex[:12]}", listen=False)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(module, "MIGRATIONS", module.MIGRATIONS[:-1])
            store.init_schema()
            store.replace_all(AWKWARD, actor="t", via="seed")
        before = store.list()
        store.init_schema()
        assert store.schema_version() == len(module.MIGRATIONS)
        assert store.list() == before
        table = store.read_table()
        assert isinstance(table.stations, PackedStations)
        _stations_equal(store, table)
    finally:
        if backend == "postgis":
            store.drop_schema()
        store.close()


def test_packed_stations_hold_no_station_objects():
    """A million stations must not be a million objects: the packed form is one arena and offsets."""
    n = 2_000
    stations = [
        Station(
            id=f"s{i:05d}",
            name=f"驿站 {i}",
            type="rider_station",
            district="330302",
            address=f"地址 {i}",
            lng=120 + i / n,
            lat=28.0,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        for i in range(n)
    ]
    from locator.store.sqlite import SQLiteStore

    store = SQLiteStore(":memory:")
    store.init_schema()
    store.replace_all(stations, actor="t", via="seed")
    packed = store.read_table().stations
    assert isinstance(packed, PackedStations)
    assert packed.nbytes < 200 * n
    assert not any(isinstance(v, Station) for v in vars(packed).values())
    assert np.array_equal(np.array([s.lng for s in packed]), np.array([s.lng for s in store.list()]))


@pytest.mark.postgis
def test_rows_written_by_another_postgresql_client_are_read_too(make_pg_store, postgres_url):
    """PostgreSQL keeps the packed text by a trigger, whatever the writing session's DateStyle and TimeZone."""
    import psycopg

    store = make_pg_store()
    store.replace_all(AWKWARD, actor="t", via="seed")
    with psycopg.connect(postgres_url, autocommit=True, options=f"-c search_path={store.schema}") as tool:
        tool.execute("SET TimeZone = 'America/New_York'")
        tool.execute("SET DateStyle = 'SQL, DMY'")
        tool.execute(
            "INSERT INTO stations (id, name, type, district, address, lng, lat, created_at, updated_at) "
            "VALUES ('t-1', '工具写入', 'rider_station', NULL, '', 120.7, 28.1, now(), now())"
        )
        tool.execute(
            "UPDATE stations SET lng = 120.75, verified_at = now(), closed_until = '2026-12-31' WHERE id = 't-1'"
        )
    table = store.read_table()
    assert isinstance(table.stations, PackedStations)
    _stations_equal(store, table)


def test_a_nearest_answer_makes_no_station(client, monkeypatch):
    """The rider's answer is written by index from the packed texts, cold or warm: no Station is made
    (each costs µs from the packed roster, and a Hit made every one of them before)."""
    made = []
    original = PackedStations._station

    def counting(self, i):
        made.append(i)
        return original(self, i)

    monkeypatch.setattr(PackedStations, "_station", counting)
    url = "/api/v1/stations/nearest?lat=28.0&lng=120.65&k=5"
    first = client.get(url)
    assert first.status_code == 200 and len(first.get_json()["stations"]) == 5
    assert made == []  # the first answer encoded its stations from the packed texts
    again = client.get(url, headers={"Accept-Encoding": "identity"})
    assert again.status_code == 200 and again.get_json()["stations"] == first.get_json()["stations"]
    assert made == []
