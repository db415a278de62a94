"""Restore: data versions never repeat (running servers reload within 0.1 s); accounts come back unless kept."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from locator.store.base import Conflict


def _name(client, station_id):
    resp = client.get(f"/api/v1/stations/{station_id}")
    assert resp.status_code == 200
    return resp.get_json()["name"]


def test_a_running_server_serves_the_restored_roster_within_its_version_check_interval(app, app_factory, tmp_path):
    """The version went back with the restore and reached the same number again: the server kept the old roster.
    (A server trusts the version it read for LOCATOR_VERSION_CHECK_INTERVAL_MS, 0.1 s with SQLite.)"""
    serving = app.test_client()  # a running server: its snapshot is cached by data version
    store = app.extensions["roster"].store
    backup = tmp_path / "backup.sqlite3"
    admin = app_factory()  # the `flask restore` process: another app over the same file
    assert admin.test_cli_runner().invoke(args=["backup", str(backup)]).exit_code == 0
    station = store.list()[0]
    store.update(replace(station, name="备份之后的名字"), expected_version=station.version, actor="t", via="edit")
    assert _name(serving, station.id) == "备份之后的名字"
    before = store.data_version()

    result = admin.test_cli_runner().invoke(args=["restore", str(backup), "--yes"])
    assert result.exit_code == 0, result.output
    assert "running servers reload" in result.output
    admin_store = admin.extensions["roster"].store
    again = admin_store.get(station.id)
    admin_store.update(replace(again, name="恢复之后的名字"), expected_version=again.version, actor="t", via="edit")
    time.sleep(store.version_check_interval + 0.05)  # another process's writes: seen once the interval is over
    assert store.data_version() != before  # the write counter is back at the same number, the version is not
    assert _name(serving, station.id) == "恢复之后的名字"


def test_restore_says_what_happens_to_accounts_and_brings_back_revoked_tokens(app, make_user, api_token, tmp_path):
    runner = app.test_cli_runner()
    boss = make_user("boss", "city_admin")
    token = api_token(boss)
    headers = {"Authorization": f"Bearer {token}"}
    backup = tmp_path / "b.sqlite3"
    assert runner.invoke(args=["backup", str(backup)]).exit_code == 0
    app.extensions["accounts"].revoke_token(app.extensions["accounts"].list_tokens()[0].id)
    assert app.test_client().get("/api/v1/admin/audit", headers=headers).status_code == 401
    refused = runner.invoke(args=["restore", str(backup)])
    assert refused.exit_code == 2 and "--keep-accounts" in refused.output
    result = runner.invoke(args=["restore", str(backup), "--yes"])
    assert result.exit_code == 0
    assert "tokens revoked" in result.output and "--keep-accounts" in result.output
    assert app.test_client().get("/api/v1/admin/audit", headers=headers).status_code == 200  # that is what it means


def test_keep_accounts_keeps_todays_accounts_tokens_and_logins(app, make_user, api_token, login, tmp_path):
    runner = app.test_cli_runner()
    boss = make_user("boss", "city_admin")
    token = api_token(boss)
    backup = tmp_path / "b.sqlite3"
    assert runner.invoke(args=["backup", str(backup)]).exit_code == 0
    app.extensions["accounts"].revoke_token(app.extensions["accounts"].list_tokens()[0].id)
    make_user("newcomer", "viewer")
    web = login("newcomer")
    station = app.extensions["roster"].store.list()[0]
    app.extensions["roster"].store.delete(station.id, expected_version=None, actor="t", via="edit")
    result = runner.invoke(args=["restore", str(backup), "--yes", "--keep-accounts"])
    assert result.exit_code == 0, result.output
    assert app.extensions["roster"].store.get(station.id) == station  # the stations are the backup's
    headers = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/admin/audit", headers=headers).status_code == 401  # still revoked
    assert app.extensions["accounts"].find_user("newcomer") is not None
    assert web.get("/admin/").status_code == 200


def test_without_keep_accounts_everyone_logs_in_again(app, make_user, login, tmp_path):
    runner = app.test_cli_runner()
    make_user("boss", "city_admin")
    backup = tmp_path / "b.sqlite3"
    web = login("boss")
    assert runner.invoke(args=["backup", str(backup)]).exit_code == 0
    assert runner.invoke(args=["restore", str(backup), "--yes"]).exit_code == 0
    assert web.get("/admin/").status_code == 401


def test_a_preview_made_before_a_restore_cannot_be_committed_after_it(app, app_factory, tmp_path):
    """The import's version check compares the whole version: a counter that came back does not match."""
    store = app.extensions["roster"].store
    backup = tmp_path / "b.sqlite3"
    assert app.test_cli_runner().invoke(args=["backup", str(backup)]).exit_code == 0
    seen = store.data_version()
    assert app.test_cli_runner().invoke(args=["restore", str(backup), "--yes"]).exit_code == 0
    with pytest.raises(Conflict):
        store.replace_all(store.list(), actor="t", via="import", expected_data_version=seen)


def test_epochs_move_every_version_on_both_backends(make_store):
    """epoch * 1e9 + write counter, on SQLite and PostGIS alike."""
    from locator.stations import Station

    store = make_store()
    assert store.data_version() == 0 and store.epoch() == 0
    station = Station(
        id="s1", name="驿站", type="rider_station", district="330304", address="娄桥", lng=120.6, lat=27.97
    )
    store.create(station, actor="t", via="cli")
    assert store.data_version() == 1
    assert store.start_epoch() == 1
    assert store.data_version() == 1_000_000_001
    assert store.start_epoch(at_least=7) == 7
    assert store.data_version() == 7_000_000_001
    with pytest.raises(Conflict):
        store.replace_all([], actor="t", via="import", expected_data_version=1)
    store.replace_all([], actor="t", via="import", expected_data_version=7_000_000_001)
    assert store.data_version() == 7_000_000_002
