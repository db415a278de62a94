"""Coherence without polling: NOTIFY in every write, a LISTEN thread per process (store/postgis.py).

Several apps over one PostGIS schema stand for several app servers. A change made through one shows
in the others within a second, and a rider's request asks the database nothing while the listener
vouches for the data version; a lost listener connection is replaced and the change it may have
missed is still seen; a forked worker listens on a connection of its own.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import replace

import psycopg
import pytest

from locator.stations import Station
from locator.store.postgis import CHANNEL, PostGISStore
from tests.services import wait_for

pytestmark = pytest.mark.postgis

NEAREST = "/api/v1/stations/nearest?lng=120.6&lat=28.3&k=3"


@pytest.fixture
def pg_apps(app_factory, postgres_url, tmp_path):
    """Build apps over one PostGIS schema (like several app servers over one database)."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    made = []

    def make(**overrides):
        app = app_factory(
            DATABASE_URL=postgres_url,
            DATABASE_SCHEMA=schema,
            INSTANCE_PATH=str(tmp_path / f"instance-{len(made)}"),
            **overrides,
        )
        made.append(app)
        return app

    yield make
    if made:  # app_factory closes the stores afterwards
        made[0].extensions["roster"].store.drop_schema()


def _first_id(client) -> str:
    resp = client.get(NEAREST)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["stations"][0]["id"]


def _listening(app) -> PostGISStore:
    store = app.extensions["roster"].store
    app.test_client().get("/readyz")  # the first use starts the listener in this process
    wait_for(lambda: store.listening, 5, "the listener connected")
    return store


def test_a_write_sends_one_notification_naming_the_schema_and_the_new_version(postgres_url, make_pg_store):
    store = make_pg_store()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        store.create(
            Station(id="n1", name="驿站", type="rider_station", district="330302", address="", lng=120.6, lat=28.0),
            actor="t",
            via="edit",
        )
        notes = [n.payload for n in conn.notifies(timeout=2, stop_after=1)]
    assert notes == [f"{store.schema} {store.data_version()}"]


def test_a_change_through_one_instance_shows_in_the_other_within_a_second_with_no_query_per_request(pg_apps):
    one, two = pg_apps(), pg_apps()
    c2 = two.test_client()
    store1, store2 = one.extensions["roster"].store, _listening(two)
    before = _first_id(c2)

    # Steady state: the listener vouches for the version, so a rider's request asks the database nothing.
    queries = store2.queries
    for _ in range(50):
        assert _first_id(c2) == before
    assert store2.queries == queries

    target = store1.list()[-1]
    moved = store1.update(replace(target, lng=120.6, lat=28.3), expected_version=target.version, actor="t", via="e")
    wait_for(lambda: _first_id(c2) == moved.id, 1.0, "the change shows in the other instance")
    store1.delete(moved.id, expected_version=moved.version, actor="t", via="edit")
    wait_for(lambda: _first_id(c2) == before, 1.0, "the delete shows in the other instance")
    queries = store2.queries
    for _ in range(20):
        _first_id(c2)
    assert store2.queries == queries  # back to no query per request once it has reloaded


def test_a_listener_whose_connection_is_killed_reconnects_and_misses_nothing(pg_apps, postgres_url):
    one, two = pg_apps(), pg_apps()
    c2 = two.test_client()
    store1, store2 = one.extensions["roster"].store, _listening(two)
    _first_id(c2)
    reconnections = store2.listener.reconnections
    # The listener's last statement may be LISTEN or its version check: kill it by its own connection.
    own = store2.listener._conn
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (own.info.backend_pid,))
    # A write while it reconnects: no notification reaches it, the reconnection makes it check.
    target = store1.list()[-1]
    moved = store1.update(replace(target, lng=120.6, lat=28.3), expected_version=target.version, actor="t", via="e")
    wait_for(lambda: store2.listener.reconnections > reconnections, 5, "the listener reconnected")
    wait_for(lambda: _first_id(c2) == moved.id, 1.0, "the change shows")
    assert store2.down_since is None  # one lost connection is not an outage


def test_a_forked_worker_listens_on_a_connection_of_its_own(pg_apps):
    """gunicorn --preload: the app (and its listener) exists before the fork; each worker needs its own."""
    one, two = pg_apps(), pg_apps()
    store1, store2 = one.extensions["roster"].store, _listening(two)
    parent_listener_pid = store2.listener._conn.info.backend_pid
    version = store2.data_version()
    pid = os.fork()
    if pid == 0:  # the worker: report through the exit status only
        status = 1
        try:
            fresh = store2.data_version()  # starts this process's own listener
            wait_for(lambda: store2.listening, 5, "the child's listener")
            child_listener = store2.listener._conn.info.backend_pid
            assert child_listener != parent_listener_pid
            assert fresh >= version
            wait_for(lambda: store2.data_version() > version, 5, "the child sees the parent's write")
            status = 0
        except BaseException:  # noqa: BLE001
            status = 2
        finally:
            os._exit(status)
    target = store1.list()[-1]
    store1.update(replace(target, lng=120.6, lat=28.3), expected_version=target.version, actor="t", via="edit")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's connections survived the child (it never closed them).
    assert store2.listener._conn is not None and store2.listener._conn.info.backend_pid == parent_listener_pid
    wait_for(lambda: store2.data_version() > version, 1.0, "the parent sees the write")
    assert store2.count() == store1.count()
