"""The tables beside the roster for riders' feedback (issue 16), through FeedbackStore: the same on SQLite and PostGIS.

Reports (add, list by district and station, group resolution with its audit record) and confirmation
counts (additive batches, the last confirmed day, pruning); none of it moves the data version.
"""

from __future__ import annotations

import threading

import pytest

from locator.reports import ConfirmationLog, ReportNotOpen
from locator.stations import Station
from locator.store.reports import FeedbackStore


def _station(i: int, district: str) -> Station:
    return Station(
        id=f"st-{i}", name=f"驿站{i}", type="rider_station", district=district, address="", lng=120.6, lat=27.97
    )


@pytest.fixture
def feedback(store):
    store.replace_all([_station(1, "330304"), _station(2, "330302")], actor="t", via="seed")
    return FeedbackStore(store)


def test_reports_are_stored_listed_and_scoped(feedback):
    version = feedback.store.data_version()
    a = feedback.add_report("st-1", "330304", "closed", "门关了")
    b = feedback.add_report("st-2", "330302", "moved", "")
    c = feedback.add_report("st-1", "330304", "closed", "")
    assert a < b < c
    assert [r.id for r in feedback.reports()] == [c, b, a]
    assert [r.id for r in feedback.reports(districts=["330304"])] == [c, a]
    assert feedback.reports(districts=[]) == []
    assert [r.id for r in feedback.reports(station_id="st-2")] == [b]
    got = feedback.report(a)
    assert (got.station_id, got.district, got.kind, got.note, got.status) == (
        "st-1",
        "330304",
        "closed",
        "门关了",
        "open",
    )
    assert got.created_at.minute == 0 and got.created_at.tzinfo is not None
    assert feedback.open_counts() == {"st-1": 2, "st-2": 1}
    assert feedback.report(10_000) is None
    assert feedback.store.data_version() == version


def test_resolving_closes_the_group_up_to_the_id_in_one_audited_transaction(feedback):
    store = feedback.store
    first = feedback.add_report("st-1", "330304", "closed", "")
    other_kind = feedback.add_report("st-1", "330304", "amenities", "")
    second = feedback.add_report("st-1", "330304", "closed", "")
    later = feedback.add_report("st-1", "330304", "closed", "")
    version = store.data_version()
    closed = feedback.resolve(second, action="applied", note="已更新", actor="ouhai", via="edit", audit_id=7)
    assert sorted(r.id for r in closed) == [first, second]
    assert {feedback.report(i).status for i in (first, second)} == {"applied"}
    assert feedback.report(later).status == "open" and feedback.report(other_kind).status == "open"
    resolved = feedback.report(first)
    assert (resolved.resolved_by, resolved.resolution_note, resolved.audit_id) == ("ouhai", "已更新", 7)
    record = store.audit("st-1", limit=1)[0]
    assert (record.action, record.actor, record.via, record.before) == ("resolve_report", "ouhai", "edit", None)
    assert record.after == {
        "reports": [second, first],
        "kind": "closed",
        "resolution": "applied",
        "note": "已更新",
        "edit": 7,
    }
    assert store.data_version() == version
    with pytest.raises(ReportNotOpen):
        feedback.resolve(first, action="dismissed", note="", actor="ouhai", via="edit")
    with pytest.raises(ReportNotOpen):
        feedback.resolve(99_999, action="dismissed", note="", actor="ouhai", via="edit")


def test_confirmation_counts_add_up_across_batches_and_processes(feedback):
    version = feedback.store.data_version()
    feedback.add_confirmations([("2026-11-29", "st-1", 2), ("2026-11-30", "st-1", 1)])
    feedback.add_confirmations([("2026-11-30", "st-1", 3), ("2026-11-30", "st-2", 1)])
    assert feedback.confirmations("2026-11-01", "2026-11-30") == [
        ("2026-11-29", "st-1", 2),
        ("2026-11-30", "st-1", 4),
        ("2026-11-30", "st-2", 1),
    ]
    assert feedback.confirmations("2026-11-30", "2026-11-30")[0] == ("2026-11-30", "st-1", 4)
    assert feedback.last_confirmed() == {"st-1": "2026-11-30", "st-2": "2026-11-30"}
    assert feedback.prune_confirmations("2026-11-30") == 1
    assert feedback.confirmations("2000-01-01", "2999-01-01")[0][0] == "2026-11-30"
    assert feedback.store.data_version() == version


def test_two_confirmation_logs_writing_at_once_lose_nothing(feedback):
    """Two worker processes' logs flushing together: the stored count is their sum."""
    logs = [ConfirmationLog(feedback.add_confirmations, interval_s=3600) for _ in range(2)]
    for log in logs:
        for _ in range(50):
            log.add("st-1")
    threads = [threading.Thread(target=log.flush) for log in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for log in logs:
        log.close()
    assert sum(n for _, s, n in feedback.confirmations("2000-01-01", "2999-01-01") if s == "st-1") == 100


def test_the_whole_loop_on_postgis_behind_two_app_servers(app_factory, postgres_url, tmp_path):
    """A report through one server, the queue and a keeper's pause through the other: one truth in PostGIS."""
    import uuid

    from locator.accounts import hash_password, new_token

    schema = f"test_{uuid.uuid4().hex[:12]}"
    # An instance folder each: accounts and tokens live in PostgreSQL, shared by the two servers.
    shared = dict(DATABASE_URL=postgres_url, DATABASE_SCHEMA=schema)
    one = app_factory(**shared, INSTANCE_PATH=str(tmp_path / "one"))
    two = app_factory(**shared, INSTANCE_PATH=str(tmp_path / "two"))
    try:
        station = "rs-330304-001"
        version = one.extensions["roster"].store.data_version()
        assert one.test_client().post(f"/api/v1/stations/{station}/reports", json={"kind": "closed"}).status_code == 201
        assert one.test_client().post(f"/api/v1/stations/{station}/confirmations").status_code == 202
        one.extensions["confirmations"].flush()
        assert two.extensions["feedback"].last_confirmed() == {
            station: two.extensions["feedback"].confirmations("2000-01-01", "2999-01-01")[0][0]
        }
        assert two.extensions["roster"].store.data_version() == version
        accounts = two.extensions["accounts"]
        boss = accounts.create_user("boss", "city_admin", (), hash_password("password123"))
        keeper = accounts.create_user("shop", "station_keeper", (), hash_password("password123"), (station,))
        tokens = {}
        for user in (boss, keeper):
            plain, digest = new_token()
            accounts.create_token(user.id, "t", digest)
            tokens[user.name] = {"Authorization": f"Bearer {plain}"}
        queue = two.test_client().get("/api/v1/admin/reports", headers=tokens["boss"]).get_json()
        assert [s["station_id"] for s in queue["stations"]] == [station]
        client = two.test_client()
        body = client.get(f"/api/v1/admin/stations/{station}", headers=tokens["shop"]).get_json()
        current = body.pop("version")
        body.update(status="temporarily_closed")
        resp = client.put(
            f"/api/v1/admin/stations/{station}", json=body, headers={**tokens["shop"], "If-Match": f'"{current}"'}
        )
        assert resp.status_code == 200, resp.get_json()
        other = client.put(
            "/api/v1/admin/stations/rs-330302-001", json=body, headers={**tokens["shop"], "If-Match": '"1"'}
        )
        assert other.status_code == 403
        group = queue["stations"][0]["groups"][0]["id"]
        done = client.post(f"/api/v1/admin/reports/{group}/resolve", json={"action": "applied"}, headers=tokens["boss"])
        assert done.status_code == 200
        assert one.extensions["roster"].snapshot().get(station).status == "temporarily_closed"
        assert one.extensions["feedback"].report(group).status == "applied"
    finally:
        one.extensions["roster"].store.drop_schema()
