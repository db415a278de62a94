"""verified_at (issue 16): who vouched for a station's information and when, on both stores and in every file.

An organizer's or keeper's confirmation, an edit and an import row set it; a row that says nothing
about it changes nothing; exports carry it and imports read it back; `catalogue.stale_mask` (待核实)
reads it, falling back to the last change for stations nobody has vouched for since the field existed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from locator import importing
from locator.accounts import User
from locator.catalogue import stale_mask
from locator.coords import CRS
from locator.formats import FORMATS
from locator.hours import TZ
from locator.nearest import Snapshot
from locator.stations import Station, StationInvalid, parse_verified, verified_text
from locator.store.base import StationQuery

ADMIN = User(1, "city", "city_admin")


def make(i: int, **kw) -> Station:
    base = dict(
        id=f"st-{i:03d}",
        name=f"骑手驿站{i}",
        type="rider_station",
        district="330304",
        address=f"瓯海区娄桥街道{i}号",
        lng=120.60 + i * 0.001,
        lat=27.97,
        amenities=("water",),
        hours="24/7",
    )
    base.update(kw)
    return Station(**base)


def _now() -> datetime:
    return datetime.now(UTC)


# -- the store (SQLite and PostGIS) ---------------------------------------------------------------


def test_writes_stamp_verified_at_unless_they_name_it(store):
    t0 = _now().replace(microsecond=0)
    created = store.create(make(1), actor="a", via="edit")
    assert t0 <= created.verified_at <= _now() and created.verified_at.microsecond == 0
    said = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    named = store.update(
        replace(created, hours="Mo-Fr 09:00-18:00", verified_at=said), expected_version=1, actor="a", via="import"
    )
    assert store.get("st-001").verified_at == said == named.verified_at
    # A GET → PUT round trip carries the stored value: the edit is the check.
    again = store.update(replace(named, hours="24/7"), expected_version=2, actor="a", via="api")
    assert again.verified_at > said and store.get("st-001").verified_at == again.verified_at
    (change, *_) = store.audit("st-001")
    assert change.before["verified_at"] == verified_text(said)
    assert change.after["verified_at"] == verified_text(again.verified_at)


def test_an_import_row_that_claims_no_check_changes_nothing_and_a_changed_row_is_stamped(store):
    said = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    store.replace_all([make(1, verified_at=said), make(2, verified_at=said)], actor="a", via="import")
    version = store.data_version()
    # The same rows without the column: unchanged, no write.
    summary = store.replace_all(
        [make(1), make(2)], actor="a", via="import", scope=StationQuery(ids=("st-001", "st-002"))
    )
    assert summary.unchanged == ["st-001", "st-002"] and store.data_version() == version
    # An exported row (carrying the stored value) with another field edited: stamped now.
    t0 = _now().replace(microsecond=0)
    summary = store.replace_all(
        [make(1, verified_at=said, hours="Mo-Fr 09:00-18:00"), make(2, verified_at=said + timedelta(days=1))],
        actor="a",
        via="import",
    )
    assert sorted(summary.changed) == ["st-001", "st-002"]
    assert store.get("st-001").verified_at >= t0
    assert store.get("st-002").verified_at == said + timedelta(days=1)  # the row's own date


@pytest.mark.parametrize("backend", ["sqlite", "postgis"])
def test_the_verified_at_migration_keeps_stations_and_falls_back_to_their_last_change(backend, tmp_path, request):
    """A database made before verified_at gains the column (empty) with its stations; 待核实 uses updated_at."""
    if backend == "sqlite":
        from locator.store import sqlite as module

        store = module.SQLiteStore(tmp_path / "old.sqlite3")
    else:
        from locator.store import postgis as module

        store = request.getfixturevalue("make_pg_store")()
        store.drop_schema()
    at = next(i for i, m in enumerate(module.MIGRATIONS) if "verified_at" in m)
    mp = pytest.MonkeyPatch()
    mp.setattr(module, "MIGRATIONS", module.MIGRATIONS[:at])
    store.init_schema()
    old = "2025-01-01T00:00:00+00:00"
    when = "'2025-01-01T00:00:00+00:00'::timestamptz" if backend == "postgis" else repr(old)
    store._conn().execute(
        "INSERT INTO stations (id, name, type, district, address, lng, lat, created_at, updated_at) "
        f"VALUES ('st-old', '旧站', 'rider_station', '330304', '', 120.6, 27.97, {when}, {when})"
    )
    mp.undo()
    store.init_schema()
    kept = store.get("st-old")
    assert kept.verified_at is None and kept.checked_at == datetime.fromisoformat(old)
    snap = Snapshot.from_stations(store.list())
    assert stale_mask(snap, datetime(2025, 7, 1, tzinfo=UTC)).tolist() == [True]
    assert stale_mask(snap, datetime(2025, 6, 1, tzinfo=UTC)).tolist() == [False]
    store.close()


# -- the one definition of 待核实 ------------------------------------------------------------------


def test_stale_mask_reads_verified_at_before_the_last_change():
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    long_ago, lately = now - timedelta(days=200), now - timedelta(days=10)
    stations = [
        make(1, updated_at=lately, verified_at=long_ago),  # edited lately with an old check from a file
        make(2, updated_at=long_ago, verified_at=lately),  # confirmed lately, not changed
        make(3, updated_at=long_ago, verified_at=None),  # nobody vouched since the column: its last change
        make(4, updated_at=lately, verified_at=None),
        make(5, updated_at=now - timedelta(days=179), verified_at=None),
    ]
    assert stale_mask(Snapshot.from_stations(stations), now).tolist() == [True, False, True, False, False]


# -- validation of the values files and clients send ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-30", "2026-11-30T00:00:00+08:00"),
        ("2026-11-30T09:30:00+08:00", "2026-11-30T09:30:00+08:00"),
        ("2026-11-30T01:30:00Z", "2026-11-30T09:30:00+08:00"),
        ("2026-11-30 09:30", "2026-11-30T09:30:00+08:00"),
        ("2026/11/30", "2026-11-30T00:00:00+08:00"),
        (datetime(2026, 11, 30, 9, 30), "2026-11-30T09:30:00+08:00"),  # Excel: no zone, Wenzhou time
    ],
)
def test_verified_at_reads_dates_and_times_as_organizers_write_them(value, expected):
    assert verified_text(parse_verified(value, now=datetime(2026, 12, 1, tzinfo=UTC))) == expected


@pytest.mark.parametrize("value", ["明天", "2026-13-01", "x" * 100, "2030-01-01", "2026-11-30T09:30:00+25:00"])
def test_bad_or_future_verified_at_is_a_field_error(roster, value):
    raw = make(1).record() | {"verified_at": value}
    with pytest.raises(StationInvalid) as err:
        roster.validate(raw)
    assert [e.field for e in err.value.errors] == ["verified_at"]


# -- files: exported and imported back unchanged, in every format -----------------------------------


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_carries_verified_at_through_export_and_import(app, roster, fmt):
    said = datetime(2026, 3, 1, 1, 2, 3, tzinfo=UTC)
    first = roster.store.list()[0]
    roster.store.update(replace(first, verified_at=said), expected_version=first.version, actor="t", via="import")
    stations = roster.store.list()
    data = FORMATS[fmt].write(stations, CRS.WGS84)
    result = importing.preview(roster, data, FORMATS[fmt], CRS.WGS84, user=ADMIN, replace=False)
    assert result.ok, result.report()
    assert not result.changed and not result.added and len(result.unchanged) == len(stations)
    back = {s.id: s.verified_at for s in result.stations}
    assert back[first.id] == said
    assert back == {s.id: s.verified_at for s in stations}


def test_a_roster_file_with_a_check_date_column_verifies_its_rows(app, roster):
    target = roster.store.list()[0]
    row = [target.id, target.name, target.type, target.lng, target.lat, target.hours, "2026/11/29"]
    data = ("编号,名称,类型,经度,纬度,开放时间,核实日期\n" + ",".join(map(str, row)) + "\n").encode("utf-8")
    result = importing.preview(roster, data, FORMATS["csv"], CRS.WGS84, user=ADMIN, replace=False)
    assert result.ok, result.report()
    importing.apply(roster, result, user=ADMIN)
    got = roster.store.get(target.id)
    assert got.verified_at == datetime(2026, 11, 29, tzinfo=TZ)


# -- what riders see --------------------------------------------------------------------------------


def test_the_station_json_says_when_the_information_was_checked(client, roster):
    station = roster.store.list()[0]
    body = client.get(f"/api/v1/stations/{station.id}").get_json()
    assert datetime.fromisoformat(body["verified_at"]) == station.checked_at
