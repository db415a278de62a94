"""PostGIS-specific behaviour: k-NN parity with the embedded index, SQLite parity, several app servers."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from locator import create_app
from locator.nearest import Snapshot
from locator.stations import AMENITIES, Station
from locator.store.base import Conflict, StationQuery
from locator.store.sqlite import SQLiteStore

pytestmark = pytest.mark.postgis


@pytest.fixture
def pg_store(make_pg_store):
    """A migrated PostGISStore in a schema of its own (dropped afterwards)."""
    return make_pg_store()


@pytest.fixture
def sqlite_store(tmp_path):
    """A migrated SQLiteStore (the reference)."""
    store = SQLiteStore(tmp_path / "ref.sqlite3")
    store.init_schema()
    yield store
    store.close()


def _stations(n: int, seed: int, duplicates: int = 0) -> list[Station]:
    rng = np.random.default_rng(seed)
    lng = rng.uniform(119.6, 121.3, n)
    lat = rng.uniform(27.0, 28.6, n)
    lng[:duplicates] = 120.65  # exact ties: several stations at one spot, ordered by id
    lat[:duplicates] = 28.0
    keys = list(AMENITIES)
    return [
        Station(
            id=f"s{i:07d}",
            name=f"驿站 {i}",
            type="rider_station",
            district="330302",
            address="",
            lng=float(lng[i]),
            lat=float(lat[i]),
            amenities=tuple(keys[j] for j in range(len(keys)) if (i >> j) & 1),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize(("n", "duplicates"), [(1, 0), (145, 20), (3000, 40)])
def test_nearest_ids_equal_embedded_index_on_random_queries(pg_store, n, duplicates):
    stations = _stations(n, seed=n, duplicates=duplicates)
    pg_store.replace_all(stations, actor="test", via="seed")
    snap = Snapshot.from_stations(stations)
    rng = np.random.default_rng(7 + n)
    for j in range(300):
        x, y = (120.65, 28.0) if j % 5 == 0 else (rng.uniform(119.5, 121.4), rng.uniform(26.9, 28.7))
        k = int(rng.integers(1, 30))
        radius = None if j % 2 else float(rng.uniform(50, 30_000))
        ids, dist = pg_store.nearest_ids(x, y, k, radius_m=radius)
        want_idx, want_dist = snap.nearest_indices(x, y, k, radius_m=radius)
        assert ids == [snap.ids[i] for i in want_idx], (x, y, k, radius)
        assert dist == want_dist  # the same geodesic distances, bit for bit


def test_nearest_ids_equal_the_geodesic_ranking_on_near_ties(pg_store):
    # Stations at almost the same geodesic distance from a few centres, in every direction: the
    # sphere's order and the geodesic order disagree here, and PostGIS must give the geodesic one.
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    rng = np.random.default_rng(21)
    points, centres = [], []
    for _ in range(40):
        cx, cy = 120.65 + rng.uniform(-0.4, 0.4), 28.0 + rng.uniform(-0.4, 0.4)
        dist = rng.uniform(50, 3000) * (1 + rng.choice([0.0, 1e-6, 1e-3], 10) * rng.uniform(-1, 1, 10))
        x, y, _ = geod.fwd(np.full(10, cx), np.full(10, cy), rng.uniform(-180, 180, 10), dist)
        points.extend(zip(np.round(x, 7).tolist(), np.round(y, 7).tolist(), strict=True))
        centres.append((cx, cy))
    stations = [
        Station(
            id=f"t{i:05d}",
            name=f"驿站 {i}",
            type="rider_station",
            district="330302",
            address="",
            lng=x,
            lat=y,
            amenities=("water",) if i % 3 else (),
        )
        for i, (x, y) in enumerate(points)
    ]
    pg_store.replace_all(stations, actor="test", via="seed")
    snap = Snapshot.from_stations(stations)
    water = np.array(["water" in s.amenities for s in stations])
    for j, (x, y) in enumerate(centres * 3):
        k = 1 + j % 10
        radius = None if j % 2 else 3500.0  # beyond every centre's ring
        query, mask = (StationQuery(amenities=("water",)), water) if j % 3 == 0 else (StationQuery(), None)
        ids, dist = pg_store.nearest_ids(x, y, k, radius_m=radius, query=query)
        want_idx, want_dist = snap.brute_force(x, y, k, radius_m=radius, mask=mask)
        assert ids == [snap.ids[i] for i in want_idx], (x, y, k, radius)
        assert dist == want_dist
        assert ids  # every centre has stations around it, with and without water


def test_nearest_ids_with_a_filter_equal_a_masked_scan(pg_store):
    stations = _stations(500, seed=3)
    pg_store.replace_all(stations, actor="test", via="seed")
    snap = Snapshot.from_stations(stations)
    mask = np.array(["water" in s.amenities and "fridge" in s.amenities for s in stations])
    rng = np.random.default_rng(11)
    for _ in range(50):
        x, y = rng.uniform(119.6, 121.3), rng.uniform(27.0, 28.6)
        ids, _ = pg_store.nearest_ids(x, y, 7, query=StationQuery(amenities=("water", "fridge")))
        want, _ = snap.brute_force(x, y, 7, mask=mask)
        assert ids == [snap.ids[i] for i in want]


def test_location_is_a_geography_point_with_a_gist_index(pg_store):
    conn = pg_store._conn()
    kind = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'stations'::regclass AND attname = 'geog'"
    ).fetchone()[0]
    index = conn.execute(
        "SELECT indexdef FROM pg_indexes "
        "WHERE schemaname = %s AND tablename = 'stations' AND indexname = 'stations_geog'",
        (pg_store.schema,),
    ).fetchone()[0]
    assert kind == "geography(Point,4326)"
    assert "USING gist (geog)" in index


def test_nearest_ids_uses_the_gist_index_for_knn(pg_store):
    pg_store.replace_all(_stations(3000, seed=5), actor="test", via="seed")
    conn = pg_store._conn()
    conn.execute("ANALYZE stations")
    plan = "\n".join(
        r[0]
        for r in conn.execute(
            "EXPLAIN SELECT id FROM stations ORDER BY geog <-> ST_SetSRID(ST_MakePoint(120.6, 28.0), 4326)::geography "
            "LIMIT 9"
        )
    )
    assert "stations_geog" in plan


def test_migrations_are_recorded_and_idempotent(pg_store):
    from locator.store.postgis import MIGRATIONS

    assert pg_store.schema_version() == len(MIGRATIONS)
    pg_store.init_schema()
    pg_store.init_schema()
    assert pg_store.schema_version() == len(MIGRATIONS)
    assert pg_store._conn().execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)


def _stamped(value, start: datetime, end: datetime):
    """A verified_at the store stamped during the script, as one marker: two runs cross second boundaries
    at different moments, so the stamp itself differs between stores; that it lies in the run's window
    is what both must share."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        assert start <= value <= end, (value, start, end)
        return "stamped during the run"
    return value


def _script(store) -> dict:
    """The same writes and reads on any store; returns everything observable."""
    start = datetime.now(UTC).replace(microsecond=0)
    out = _script_steps(store)
    end = datetime.now(UTC)
    out["stations"] = [{**s, "verified_at": _stamped(s["verified_at"], start, end)} for s in out["stations"]]
    out["audit"] = [
        (*row[:4], *({**d, "verified_at": _stamped(d.get("verified_at"), start, end)} if d else d for d in row[4:]))
        for row in out["audit"]
    ]
    return out


def _script_steps(store) -> dict:
    base = _stations(40, seed=9, duplicates=3)
    base[1] = replace(base[1], name="Station ABC 驿站", address="Lucheng Road")
    base[2] = replace(base[2], name="station abc", district="330303", status="closed")
    base[3] = replace(base[3], name="100% 站_x", address="C:\\path")
    out: dict = {}
    out["seed"] = store.replace_all(base, actor="a", via="seed").as_json()
    out["v1"] = store.data_version()
    extra = Station(id="new-1", name="新站", type="party_home", district="330304", address="x", lng=120.7, lat=28.0)
    out["created"] = store.create(extra, actor="b", via="api").version
    with pytest.raises(Conflict):
        store.create(extra, actor="b", via="api")
    moved = store.update(replace(base[5], lng=120.71), expected_version=1, actor="c", via="edit")
    out["moved_version"] = moved.version
    with pytest.raises(Conflict) as stale:
        store.update(replace(base[5], lng=120.72), expected_version=1, actor="c", via="edit")
    out["stale_current"] = stale.value.current.version
    store.delete("s0000006", expected_version=1, actor="d", via="edit")
    out["again"] = store.replace_all(store.list(), actor="e", via="import").as_json()
    out["v2"] = store.data_version()
    scoped = [replace(s, note="checked") for s in store.list(StationQuery(districts=("330303",)))]
    out["scoped"] = store.replace_all(scoped, actor="f", via="import", scope=StationQuery(districts=("330303",)))
    out["scoped"] = out["scoped"].as_json()
    queries = [
        StationQuery(),
        StationQuery(amenities=("water", "fridge")),
        StationQuery(types=("party_home",), districts=("330304",)),
        StationQuery(statuses=("closed",)),
        StationQuery(bbox=(120.0, 27.5, 120.8, 28.2)),
        StationQuery(ids=("s0000001", "new-1", "missing")),
    ]
    out["counts"] = [store.count(q) for q in queries]
    out["lists"] = [[s.id for s in store.list(q)] for q in queries]
    out["page"] = [s.id for s in store.list(limit=5, offset=3)]
    out["stations"] = [{**s.__dict__, "created_at": None, "updated_at": None} for s in store.list()]
    out["audit"] = [(a.station_id, a.action, a.actor, a.via, a.before, a.after) for a in store.audit()]
    return out


def test_postgis_store_behaves_exactly_like_sqlite(pg_store, sqlite_store):
    assert _script(pg_store) == _script(sqlite_store)


def test_concurrent_updates_with_one_version_let_exactly_one_win(pg_store):
    pg_store.create(_stations(1, seed=1)[0], actor="t", via="api")
    station = pg_store.get("s0000000")
    results: list[str] = []
    barrier = threading.Barrier(6)

    def edit(n: int) -> None:
        barrier.wait()
        try:
            pg_store.update(replace(station, name=f"edit {n}"), expected_version=1, actor=f"u{n}", via="edit")
            results.append("ok")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 5 + ["ok"]
    assert pg_store.get("s0000000").version == 2
    assert len(pg_store.audit("s0000000")) == 2


def test_failed_replace_leaves_nothing_written(pg_store):
    pg_store.replace_all(_stations(5, seed=2), actor="t", via="seed")
    version = pg_store.data_version()
    outside = Station(id="s0000001", name="x", type="rider_station", district="330303", address="", lng=120, lat=28)
    with pytest.raises(Conflict):
        pg_store.replace_all([outside], actor="t", via="import", scope=StationQuery(districts=("330303",)))
    assert pg_store.data_version() == version
    assert pg_store.count() == 5
    assert len(pg_store.audit()) == 5


@pytest.fixture
def pg_apps(app_factory, postgres_url):
    """Build apps over one PostGIS schema (like several app servers over one database)."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    made = []

    def make(**overrides):
        app = app_factory(DATABASE_URL=postgres_url, DATABASE_SCHEMA=schema, **overrides)
        made.append(app)
        return app

    yield make
    if made:  # app_factory closes the stores afterwards
        made[0].extensions["roster"].store.drop_schema()


def _nearest_ids(client, lng=120.6, lat=28.3):
    resp = client.get(f"/api/v1/stations/nearest?lng={lng}&lat={lat}&k=3")
    assert resp.status_code == 200, resp.get_json()
    return [s["id"] for s in resp.get_json()["stations"]]


def test_a_change_through_one_instance_shows_in_the_others_next_request_without_a_listener(pg_apps):
    """The fallback (LOCATOR_VERSION_LISTEN=false): every request reads the data version."""
    one, two = pg_apps(VERSION_LISTEN="false"), pg_apps(VERSION_LISTEN="false")
    c1, c2 = one.test_client(), two.test_client()
    assert _nearest_ids(c1) == _nearest_ids(c2)
    store1 = one.extensions["roster"].store
    far = store1.get(_nearest_ids(c1)[-1])
    far_away = store1.list()[-1]
    moved = store1.update(
        replace(far_away, lng=120.6, lat=28.3), expected_version=far_away.version, actor="t", via="edit"
    )
    assert _nearest_ids(c2)[0] == moved.id
    assert _nearest_ids(c1)[0] == moved.id
    store1.delete(moved.id, expected_version=moved.version, actor="t", via="edit")
    assert moved.id not in _nearest_ids(c2)
    assert far.id  # the instances still agree after the delete
    assert _nearest_ids(c1) == _nearest_ids(c2)


def test_a_version_check_interval_delays_other_instances_but_not_the_writer(pg_apps):
    one = pg_apps(VERSION_CHECK_INTERVAL_MS="600000", VERSION_LISTEN="false")
    two = pg_apps(VERSION_CHECK_INTERVAL_MS="600000", VERSION_LISTEN="false")
    c1, c2 = one.test_client(), two.test_client()
    before = _nearest_ids(c2)
    store1 = one.extensions["roster"].store
    target = store1.list()[-1]
    store1.update(replace(target, lng=120.6, lat=28.3), expected_version=target.version, actor="t", via="edit")
    assert _nearest_ids(c1)[0] == target.id  # the writing process sees its write at once
    assert _nearest_ids(c2) == before  # the other trusts its cached version for the interval
    two.extensions["roster"].store.version_check_interval = 0
    assert _nearest_ids(c2)[0] == target.id


def test_readyz_checks_the_postgis_store(pg_apps):
    app = pg_apps()
    client = app.test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json()["stations"] > 0
    app.extensions["roster"].store.drop_schema()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    app.extensions["roster"].store.init_schema()  # so that teardown finds the schema


def test_the_schema_setting_keeps_instances_apart(pg_apps, postgres_url):
    seeded = pg_apps()
    other_schema = f"test_{uuid.uuid4().hex[:12]}"
    empty = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": postgres_url,
            "DATABASE_SCHEMA": other_schema,
            "SEED_SAMPLE": False,
            "SECRET_KEY": "test-secret",  # required with PostgreSQL
        }
    )
    try:
        assert seeded.extensions["roster"].store.count() > 0
        assert empty.extensions["roster"].store.count() == 0
        assert empty.extensions["roster"].store.schema == other_schema
    finally:
        empty.extensions["roster"].store.drop_schema()
        empty.extensions["roster"].store.close()
