"""The station store, through its interface only: runs unchanged on SQLite and PostGIS."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import replace
from datetime import date

import pytest

from locator.stations import Station
from locator.store.base import Conflict, Invalid, NotFound, StationQuery


def make(i: int, **kw) -> Station:
    """A station with id st-NNN near 瓯海's centre unless told otherwise."""
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


@pytest.fixture
def filled(store):
    """A store holding a small, varied roster."""
    stations = [
        make(1, amenities=("water", "microwave", "charging")),
        make(2, type="party_home", district="330302", lng=120.66, lat=28.02, amenities=("water",)),
        make(3, type="finance_station", district="330381", lng=120.65, lat=27.78, amenities=()),
        make(4, name="100%满意驿站", status="temporarily_closed", closed_until=date(2026, 5, 1)),
        make(5, name="驿站_东", address="滨海大道", status="closed", amenities=("microwave", "water")),
        make(6, name="驿站东", address="温州大道", type="demo_site"),
    ]
    for s in stations:
        store.create(s, actor="test", via="cli")
    return store


def ids(stations) -> list[str]:
    return [s.id for s in stations]


def test_create_and_get_round_trip(store):
    s = make(1, contact="0577-1234", operator="娄桥街道", note="备注", approximate=True)
    created = store.create(s, actor="alice", via="api")
    assert created.version == 1
    assert created.created_at is not None and created.created_at == created.updated_at
    got = store.get("st-001")
    assert got == created
    # A new station is checked when it is written (unless it says when: issue 16).
    assert created.verified_at == created.created_at.replace(microsecond=0)
    assert got.record() == replace(s, verified_at=created.verified_at).record()


def test_create_duplicate_id_conflicts(store):
    store.create(make(1), actor="t", via="cli")
    with pytest.raises(Conflict, match="already exists"):
        store.create(make(1, name="other"), actor="t", via="cli")
    assert store.get("st-001").name == "骑手驿站1"


def test_get_missing_is_not_found(store):
    with pytest.raises(NotFound) as info:
        store.get("nope")
    assert info.value.station_id == "nope"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (StationQuery(), ["st-001", "st-002", "st-003", "st-004", "st-005", "st-006"]),
        (StationQuery(types=("party_home", "finance_station")), ["st-002", "st-003"]),
        (StationQuery(amenities=("water",)), ["st-001", "st-002", "st-004", "st-005", "st-006"]),
        (StationQuery(amenities=("water", "microwave")), ["st-001", "st-005"]),  # all required
        (StationQuery(amenities=("aed",)), []),
        (StationQuery(districts=("330302", "330381")), ["st-002", "st-003"]),
        (StationQuery(statuses=("temporarily_closed", "closed")), ["st-004", "st-005"]),
        (StationQuery(bbox=(120.64, 27.7, 120.67, 28.1)), ["st-002", "st-003"]),
        (StationQuery(ids=("st-006", "st-001", "zzz")), ["st-001", "st-006"]),
        (StationQuery(types=("rider_station",), amenities=("microwave",), statuses=("open",)), ["st-001"]),
    ],
)
def test_list_and_count_filter(filled, query, expected):
    assert ids(filled.list(query)) == expected
    assert filled.count(query) == len(expected)


def test_paging_is_ordered_by_id(store):
    for i in (5, 3, 9, 1, 7, 2):
        store.create(make(i), actor="t", via="cli")
    assert ids(store.list(limit=2)) == ["st-001", "st-002"]
    assert ids(store.list(limit=2, offset=2)) == ["st-003", "st-005"]
    assert ids(store.list(limit=10, offset=4)) == ["st-007", "st-009"]
    assert store.list(limit=5, offset=6) == []


def test_update_with_current_version(store):
    v1 = store.create(make(1), actor="t", via="cli")
    v2 = store.update(replace(v1, name="新名字", amenities=("toilet",)), expected_version=1, actor="bob", via="edit")
    assert v2.version == 2
    assert v2.created_at == v1.created_at
    assert v2.updated_at >= v1.updated_at
    assert store.get("st-001").name == "新名字"
    assert store.get("st-001").amenities == ("toilet",)


def test_stale_update_conflicts_and_carries_the_current_station(store):
    v1 = store.create(make(1), actor="t", via="cli")
    store.update(replace(v1, name="first edit"), expected_version=1, actor="a", via="edit")
    with pytest.raises(Conflict) as info:
        store.update(replace(v1, name="second edit"), expected_version=1, actor="b", via="edit")
    assert info.value.current is not None
    assert info.value.current.name == "first edit"
    assert info.value.current.version == 2
    assert store.get("st-001").name == "first edit"


def test_update_missing_is_not_found(store):
    with pytest.raises(NotFound):
        store.update(make(1), expected_version=1, actor="t", via="edit")


def test_delete(store):
    store.create(make(1), actor="t", via="cli")
    store.create(make(2), actor="t", via="cli")
    with pytest.raises(Conflict):
        store.delete("st-001", expected_version=7, actor="t", via="edit")
    removed = store.delete("st-001", expected_version=1, actor="t", via="edit")
    assert removed.id == "st-001"
    with pytest.raises(NotFound):
        store.get("st-001")
    with pytest.raises(NotFound):
        store.delete("st-001", expected_version=None, actor="t", via="edit")
    store.delete("st-002", expected_version=None, actor="t", via="edit")
    assert store.count() == 0


def test_replace_all_reports_added_changed_removed_unchanged(filled):
    current = {s.id: s for s in filled.list()}
    new_roster = [
        current["st-001"],
        replace(current["st-002"], name="改名"),
        make(7),
        current["st-004"],
        current["st-005"],
    ]
    summary = filled.replace_all(new_roster, actor="t", via="import")
    assert summary.added == ["st-007"]
    assert summary.changed == ["st-002"]
    assert sorted(summary.removed) == ["st-003", "st-006"]
    assert sorted(summary.unchanged) == ["st-001", "st-004", "st-005"]
    assert ids(filled.list()) == ["st-001", "st-002", "st-004", "st-005", "st-007"]
    assert filled.get("st-002").version == 2
    assert filled.get("st-001").version == 1


def test_replace_all_refuses_when_the_data_version_moved(filled):
    seen = filled.data_version()
    before = filled.list()
    filled.update(replace(filled.get("st-001"), name="别人先改了"), expected_version=1, actor="other", via="edit")
    with pytest.raises(Conflict, match="data version"):
        filled.replace_all([make(9)], actor="t", via="import", expected_data_version=seen)
    assert ids(filled.list()) == ids(before)
    summary = filled.replace_all(
        [make(9)], actor="t", via="import", scope=StationQuery(ids=("st-009",)), expected_data_version=seen + 1
    )
    assert summary.added == ["st-009"]


def test_replace_all_within_scope_leaves_the_rest(filled):
    scope = StationQuery(districts=("330302",))
    summary = filled.replace_all(
        [make(8, district="330302", lng=120.67, lat=28.02)], actor="t", via="import", scope=scope
    )
    assert summary.added == ["st-008"]
    assert summary.removed == ["st-002"]
    assert ids(filled.list()) == ["st-001", "st-003", "st-004", "st-005", "st-006", "st-008"]


def test_replace_all_with_duplicate_ids_is_invalid(filled):
    before = filled.list()
    version = filled.data_version()
    with pytest.raises(Invalid, match="st-009"):
        filled.replace_all([make(9), make(10), make(9, name="again")], actor="t", via="import")
    assert filled.list() == before
    assert filled.data_version() == version


def test_replace_all_is_all_or_nothing(filled):
    before = filled.list()
    audit_before = filled.audit()
    version = filled.data_version()
    scope = StationQuery(districts=("330302",))
    # st-100 is added and st-002 changed before st-001 (stored outside the scope) makes the write fail.
    batch = [
        make(100, district="330302", lng=120.67, lat=28.02),
        replace(filled.get("st-002"), name="changed"),
        make(1, district="330302", lng=120.67, lat=28.03),
    ]
    with pytest.raises(Conflict, match="st-001"):
        filled.replace_all(batch, actor="t", via="import", scope=scope)
    assert filled.list() == before
    assert filled.audit() == audit_before
    assert filled.data_version() == version


def test_data_version_moves_on_every_write_and_not_on_a_no_op(store):
    seen = [store.data_version()]

    def moved() -> bool:
        seen.append(store.data_version())
        return seen[-1] != seen[-2]

    s = store.create(make(1), actor="t", via="cli")
    assert moved()
    s = store.update(replace(s, name="x"), expected_version=1, actor="t", via="edit")
    assert moved()
    store.replace_all([s, make(2)], actor="t", via="import")
    assert moved()
    store.replace_all(store.list(), actor="t", via="import")  # nothing changes
    assert not moved()
    store.delete("st-002", expected_version=None, actor="t", via="edit")
    assert moved()
    with pytest.raises(Conflict):
        store.update(replace(s, name="y"), expected_version=1, actor="t", via="edit")
    assert not moved()  # a refused write is no write


def test_audit_records_before_and_after(store):
    s = store.create(make(1), actor="alice", via="api")
    store.update(replace(s, name="新"), expected_version=1, actor="bob", via="edit")
    store.delete("st-001", expected_version=2, actor="carol", via="edit")
    trail = store.audit("st-001")
    assert [(r.action, r.actor, r.via) for r in trail] == [
        ("delete", "carol", "edit"),
        ("update", "bob", "edit"),
        ("create", "alice", "api"),
    ]
    delete, update, create = trail
    assert create.before is None and create.after["name"] == "骑手驿站1"
    assert update.before["name"] == "骑手驿站1" and update.after["name"] == "新"
    assert delete.before["name"] == "新" and delete.after is None
    assert create.after["amenities"] == ["water"]
    assert store.audit("other") == []
    assert len(store.audit()) == 3


def test_failed_write_leaves_no_audit_record(store):
    store.create(make(1), actor="t", via="cli")
    with pytest.raises(Conflict):
        store.create(make(1), actor="t", via="cli")
    with pytest.raises(Conflict):
        store.delete("st-001", expected_version=3, actor="t", via="edit")
    assert [r.action for r in store.audit()] == ["create"]


def test_schema_init_is_idempotent(store):
    version = store.schema_version()
    assert version >= 1
    store.create(make(1), actor="t", via="cli")
    store.init_schema()
    store.init_schema()
    assert store.schema_version() == version
    assert ids(store.list()) == ["st-001"]
    store.ping()


def test_two_sqlite_handles_see_each_others_writes(tmp_path):
    from locator.store.sqlite import SQLiteStore

    a, b = SQLiteStore(tmp_path / "shared.sqlite3"), SQLiteStore(tmp_path / "shared.sqlite3")
    try:
        a.init_schema()
        b.init_schema()
        a.create(make(1), actor="t", via="cli")
        assert ids(b.list()) == ["st-001"]
        assert b.data_version() == a.data_version()
    finally:
        a.close()
        b.close()


def _bump_by_hand(path) -> None:
    """What another process or a tool does: a committed write that moves the data version."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")
    finally:
        conn.close()


def test_sqlite_trusts_the_version_it_read_for_its_interval_and_its_own_writes_never(tmp_path):
    """A rider's request pays no SQLite read: the version read last is trusted for version_check_interval
    seconds; a write through the store is seen at once, one from elsewhere when the interval is over."""
    from locator.store.sqlite import SQLiteStore

    path = tmp_path / "cached.sqlite3"
    store = SQLiteStore(path, version_check_interval=3600)
    try:
        store.init_schema()
        first = store.data_version()
        _bump_by_hand(path)
        assert store.data_version() == first  # trusted: another process's write is not asked about yet
        store.create(make(1), actor="t", via="cli")
        mine = store.data_version()
        assert mine == first + 2  # its own write at once (and the other's with it)
        _bump_by_hand(path)
        store.version_check_interval = 0.05
        time.sleep(0.1)
        assert store.data_version() == mine + 1  # the interval is over: asked again
    finally:
        store.close()


def test_sqlite_asks_every_time_with_an_interval_of_zero_and_by_default_within_a_tenth_of_a_second(tmp_path):
    from locator.store import open_store
    from locator.store.sqlite import SQLiteStore

    path = tmp_path / "zero.sqlite3"
    every = SQLiteStore(path, version_check_interval=0)
    default = open_store(f"sqlite:///{path}")
    try:
        every.init_schema()
        seen = every.data_version()
        _bump_by_hand(path)
        assert every.data_version() == seen + 1
        assert default.version_check_interval == SQLiteStore.VERSION_CHECK_S == 0.1
    finally:
        every.close()
        default.close()


def test_two_workers_migrating_one_fresh_file_at_once_both_start(tmp_path, monkeypatch):
    """Worker b read the schema version (0) just before worker a migrated the file: b skips what a applied."""
    from locator.store.sqlite import SQLiteStore

    a, b = SQLiteStore(tmp_path / "fresh.sqlite3"), SQLiteStore(tmp_path / "fresh.sqlite3")
    try:
        a.init_schema()
        monkeypatch.setattr(b, "schema_version", lambda: 0)  # what b saw before a took the lock
        b.init_schema()  # used to fail: table stations already exists
        monkeypatch.undo()
        assert b.schema_version() == a.schema_version() >= 1
        b.create(make(1), actor="t", via="cli")
        assert ids(a.list()) == ["st-001"]
    finally:
        a.close()
        b.close()


def test_concurrent_writers_do_not_lose_updates(store):
    """Two threads increment a counter held in a station; the version check makes every increment count."""
    store.create(make(1, note="0"), actor="t", via="cli")
    per_thread = 25
    conflicts = []
    errors = []

    def worker() -> None:
        try:
            done = 0
            while done < per_thread:
                current = store.get("st-001")
                try:
                    store.update(
                        replace(current, note=str(int(current.note) + 1)),
                        expected_version=current.version,
                        actor="t",
                        via="edit",
                    )
                    done += 1
                except Conflict:
                    conflicts.append(1)
        except Exception as exc:  # surfaced below: a thread must not fail silently
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    final = store.get("st-001")
    assert final.note == str(2 * per_thread)
    assert final.version == 1 + 2 * per_thread
    assert len(store.audit("st-001")) == 1 + 2 * per_thread


def test_sqlite_file_is_in_wal_mode(tmp_path):
    from locator.store.sqlite import SQLiteStore

    path = tmp_path / "wal.sqlite3"
    s = SQLiteStore(path)
    s.init_schema()
    s.create(make(1), actor="t", via="cli")
    s.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM stations").fetchone()[0] == 1
    finally:
        conn.close()


def test_location_confirmed_is_stored_audited_and_round_trips(store):
    created = store.create(make(1, location_confirmed=True), actor="t", via="edit")
    assert store.get("st-001").location_confirmed is True
    updated = store.update(replace(created, location_confirmed=False), expected_version=1, actor="t", via="edit")
    assert store.get("st-001").location_confirmed is False
    (change, first) = store.audit("st-001")
    assert first.after["location_confirmed"] is True
    assert change.before["location_confirmed"] is True and change.after["location_confirmed"] is False
    store.replace_all([replace(updated, location_confirmed=True)], actor="t", via="import")
    assert store.get("st-001").location_confirmed is True


@pytest.mark.parametrize("backend", ["sqlite", "postgis"])
def test_the_confirmation_migration_keeps_existing_stations(backend, tmp_path, monkeypatch, request):
    """A database made before the location_confirmed column gains it, unconfirmed, with its stations."""
    if backend == "sqlite":
        from locator.store import sqlite as module

        store = module.SQLiteStore(tmp_path / "old.sqlite3")
    else:
        from locator.store import postgis as module

        store = request.getfixturevalue("make_pg_store")()
        store.drop_schema()  # start from nothing, at the old schema
    old = module.MIGRATIONS[:-1]
    monkeypatch.setattr(module, "MIGRATIONS", old)
    store.init_schema()
    assert store.schema_version() == len(old)
    store._conn().execute(
        "INSERT INTO stations (id, name, type, district, address, lng, lat, created_at, updated_at) "
        "VALUES ('st-old', '旧站', 'rider_station', '330304', '', 120.6, 27.97, "
        f"{'CURRENT_TIMESTAMP' if backend == 'postgis' else repr('2026-01-01T00:00:00+00:00')}, "
        f"{'CURRENT_TIMESTAMP' if backend == 'postgis' else repr('2026-01-01T00:00:00+00:00')})"
    )
    monkeypatch.undo()
    store.init_schema()
    assert store.schema_version() == len(module.MIGRATIONS)
    kept = store.get("st-old")
    assert kept.name == "旧站" and kept.location_confirmed is False
    store.close()
