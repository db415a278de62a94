"""PostgreSQL goes away for real (pg_ctl stop on a cluster of this module's own) and comes back.

While it is away, the rider's essentials (nearest, the station API, the station page and the near-me
page) answer from the last snapshot with X-Locator-Stale and a Chinese notice on pages; everything
else that needs the roster answers 503 problem+json with detail_zh; /readyz says not ready. When it
returns, service resumes by itself: the same app objects, no restart.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from bs4 import BeautifulSoup

from locator import create_app
from locator.accounts import hash_password, new_token
from locator.store.postgis import PostGISStore
from tests.conftest import close_app, fresh_schema
from tests.services import PgCluster, wait_for

pytestmark = [pytest.mark.postgis, pytest.mark.slow]

NEAREST = "/api/v1/stations/nearest?lng=120.65&lat=28.0&k=3"


@pytest.fixture(scope="module")
def cluster():
    """A PostgreSQL+PostGIS cluster that these tests stop and start."""
    made = PgCluster().create()
    yield made
    made.destroy()


@pytest.fixture
def pg_app(cluster, tmp_path):
    """Apps over one fresh schema of the module's cluster; the cluster runs again afterwards."""
    schema = fresh_schema()
    made = []

    def make(**overrides):
        config = {
            "TESTING": True,
            "DATABASE_URL": cluster.url,
            "DATABASE_SCHEMA": schema,
            "SECRET_KEY": "test-secret",
            "INSTANCE_PATH": str(tmp_path / f"instance-{len(made)}"),
            **overrides,
        }
        app = create_app(config)
        made.append(app)
        return app

    yield make
    if not cluster.running():
        cluster.start()
    for app in made:
        close_app(app)
    cleanup = PostGISStore(cluster.url, schema=schema, listen=False)
    cleanup.drop_schema()
    cleanup.close()


def _ids(resp) -> list[str]:
    return [s["id"] for s in resp.get_json()["stations"]]


def _assert_unavailable(resp) -> None:
    assert resp.status_code == 503, resp.data[:300]
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == 503
    assert "数据库" in body["detail_zh"]
    assert "127.0.0.1" not in body["detail"] and "port" not in body["detail"]  # no internals to the client


def _admin_token(app) -> str:
    accounts = app.extensions["accounts"]
    user = accounts.create_user("ops-admin", "city_admin", (), hash_password("correct horse battery"))
    plain, digest = new_token()
    accounts.create_token(user.id, "test", digest)
    return plain


@pytest.mark.parametrize("listen", [True, False], ids=["listener", "polling"])
def test_an_outage_serves_the_last_snapshot_and_recovers_by_itself(cluster, pg_app, listen):
    app = pg_app(VERSION_LISTEN=listen)
    client = app.test_client()
    store = app.extensions["roster"].store
    token = _admin_token(app)
    before = client.get(NEAREST)
    assert before.status_code == 200 and "X-Locator-Stale" not in before.headers
    station_id = _ids(before)[0]
    if listen:
        wait_for(lambda: store.listening, 5, "the listener connected")

    cluster.stop()
    if listen:  # the listener notices by itself; without it, the next request does
        wait_for(lambda: store.down_since is not None, 5, "the listener noticed the outage")

    # The rider's essentials: the last snapshot, marked stale, never cached.
    resp = client.get(NEAREST)
    assert resp.status_code == 200
    assert resp.headers["X-Locator-Stale"].startswith("database-unreachable; since=")
    assert resp.headers["Cache-Control"] == "no-store"
    assert _ids(resp) == _ids(before)
    resp = client.get(f"/api/v1/stations/{station_id}")
    assert resp.status_code == 200 and resp.get_json()["id"] == station_id
    assert "X-Locator-Stale" in resp.headers and "ETag" not in resp.headers
    for page in (f"/stations/{station_id}", "/", "/?district=330304"):
        resp = client.get(page)
        assert resp.status_code == 200, page
        assert "X-Locator-Stale" in resp.headers
        notice = BeautifulSoup(resp.data, "html.parser").select_one(".stale-notice")
        assert notice is not None and "数据库暂时无法连接" in notice.get_text(), page

    # Everything else that needs the roster: 503 problem+json (or a Chinese page for people).
    for path in ("/api/v1/stations", "/api/v1/districts", "/ogc/collections/stations/items", "/maps/data/0.json"):
        _assert_unavailable(client.get(path))
    page = client.get("/map", headers={"Accept": "text/html"})
    assert page.status_code == 503 and "服务暂不可用" in page.get_data(as_text=True)
    write = client.put(
        f"/api/v1/admin/stations/{station_id}",
        json={"name": "改名"},
        headers={"Authorization": f"Bearer {token}", "If-Match": '"1"'},
    )
    _assert_unavailable(write)
    ready = client.get("/readyz")
    _assert_unavailable(ready)
    assert ready.get_json()["stale"] is True
    assert client.get("/healthz").status_code == 200  # the process lives: do not restart it
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "locator_stale_snapshot 1.0" in metrics
    assert "locator_database_up 0.0" in metrics

    cluster.start()
    wait_for(lambda: "X-Locator-Stale" not in client.get(NEAREST).headers, 15, "fresh answers again")
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/v1/stations").status_code == 200
    # Writes work again, and the answer shows them (the same process sees its own write at once).
    current = store.get(station_id)
    resp = client.put(
        f"/api/v1/admin/stations/{station_id}",
        json={**_editable(current), "name": "恢复后改名的驿站"},
        headers={"Authorization": f"Bearer {token}", "If-Match": f'"{current.version}"'},
    )
    assert resp.status_code == 200, resp.get_json()
    assert client.get(f"/api/v1/stations/{station_id}").get_json()["name"] == "恢复后改名的驿站"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "locator_stale_snapshot 0.0" in metrics and "locator_database_up 1.0" in metrics


def _editable(station) -> dict:
    return {
        "name": station.name,
        "type": station.type,
        "district": station.district,
        "address": station.address,
        "lng": station.lng,
        "lat": station.lat,
        "amenities": list(station.amenities),
        "hours": station.hours,
        "status": station.status,
    }


def test_another_instance_sees_changes_made_while_its_listener_was_away(cluster, pg_app):
    one, two = pg_app(), pg_app(SEED_SAMPLE=False)
    c2 = two.test_client()
    assert c2.get(NEAREST).status_code == 200
    store2 = two.extensions["roster"].store
    wait_for(lambda: store2.listening, 5, "the listener connected")
    cluster.stop()
    wait_for(lambda: store2.down_since is not None, 5, "the outage noticed")
    cluster.start()
    # The first instance writes as soon as the database is back, perhaps before the second's
    # listener has reconnected: its reconnection makes it check, so it shows the change anyway.
    store1 = one.extensions["roster"].store
    target = wait_for(lambda: store1.list()[-1], 10, "the database answers again")
    store1.update(replace(target, lng=120.65, lat=28.0), expected_version=target.version, actor="t", via="edit")
    wait_for(lambda: _ids(c2.get(NEAREST))[0] == target.id, 5, "the change shows in the other instance")


def test_a_worker_that_starts_while_the_database_is_down_starts_and_serves_once_it_returns(cluster, pg_app):
    seeded = pg_app()
    schema = seeded.config["DATABASE_SCHEMA"]
    cluster.stop()
    late = pg_app(DATABASE_SCHEMA=schema)  # gunicorn recycles a worker, or a host restarts, during the outage
    client = late.test_client()
    resp = client.get(NEAREST)
    _assert_unavailable(resp)  # no snapshot yet to fall back on
    _assert_unavailable(client.get("/readyz"))
    cluster.start()
    resp = wait_for(lambda: (r := client.get(NEAREST)).status_code == 200 and r, 15, "nearest answers")
    assert len(_ids(resp)) == 3 and "X-Locator-Stale" not in resp.headers
