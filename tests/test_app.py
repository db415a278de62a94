"""The app as a whole: seeding on first start, health endpoints, snapshot per data version."""

from __future__ import annotations

from dataclasses import replace

from locator.stations import Station

OUHAI = (120.62, 27.975)


def test_first_start_seeds_once(app_factory):
    first = app_factory()
    seeded = first.extensions["roster"].store.count()
    assert seeded >= 145
    assert first.extensions["roster"].is_sample()
    second = app_factory()  # same file
    assert second.extensions["roster"].store.count() == seeded
    assert len(second.extensions["roster"].store.audit(limit=10**6)) == seeded


def test_empty_app_is_not_seeded(empty_app):
    assert empty_app.extensions["roster"].store.count() == 0
    assert not empty_app.extensions["roster"].is_sample()


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_readyz_reports_counts(client, roster):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.content_type == "application/json"
    body = resp.get_json()
    assert body["status"] == "ready"
    assert body["stations"] == roster.store.count()
    assert body["data_version"] == roster.store.data_version()


def test_write_is_visible_in_the_next_nearest_query(client, roster):
    point = (120.6305, 27.9855)
    before = client.get(f"/api/v1/stations/nearest?lng={point[0]}&lat={point[1]}&k=1").get_json()
    assert before["stations"][0]["id"] != "new-1"
    old_snapshot = roster.snapshot()
    station = roster.validate(
        {"id": "new-1", "name": "新驿站", "type": "rider_station", "lng": point[0], "lat": point[1]}
    )
    roster.store.create(station, actor="test", via="api")
    after = client.get(f"/api/v1/stations/nearest?lng={point[0]}&lat={point[1]}&k=1").get_json()
    assert after["stations"][0]["id"] == "new-1"
    assert after["stations"][0]["distance_m"] == 0
    assert roster.snapshot() is not old_snapshot
    assert roster.snapshot().version == roster.store.data_version()
    # An edit moves the station: the next query sees the new place.
    moved = replace(roster.store.get("new-1"), lng=OUHAI[0] + 0.2)
    roster.store.update(moved, expected_version=1, actor="test", via="edit")
    again = client.get(f"/api/v1/stations/nearest?lng={point[0]}&lat={point[1]}&k=1").get_json()
    assert again["stations"][0]["id"] != "new-1"


def test_snapshot_is_not_rebuilt_when_nothing_changed(client, roster):
    first = roster.snapshot()
    client.get("/api/v1/stations/nearest?lng=120.62&lat=27.975")
    assert roster.snapshot() is first
    roster.store.replace_all(roster.store.list(), actor="test", via="import")  # a no-op write
    assert roster.snapshot() is first


def test_snapshot_holds_stations_in_id_order(roster):
    snap = roster.snapshot()
    assert [s.id for s in snap.stations] == sorted(s.id for s in roster.store.list())
    assert all(isinstance(s, Station) for s in snap.stations)
