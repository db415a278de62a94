"""Sessions end on the server: logout, a password change and a disabled account end them for every cookie copy.

Every test runs on SQLite and on PostGIS (where every app server shares the sessions).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from tests.dbtools import run_sql


@pytest.fixture
def app(app_on_both):
    """Sessions behave the same on both backends."""
    return app_on_both


def _copy_of(app, client):
    """A second browser holding a copy of `client`'s session cookie (what an attacker who copied it has)."""
    stolen = app.test_client()
    stolen.set_cookie("session", client.get_cookie("session").value)
    return stolen


@pytest.fixture
def boss(make_user):
    return make_user("boss", "city_admin")


def test_logout_ends_the_session_for_a_copied_cookie(app, boss, login):
    web = login("boss")
    copy = _copy_of(app, web)
    assert copy.get("/admin/").status_code == 200
    assert web.post("/admin/logout", data={"csrf_token": web.csrf}).status_code == 302
    assert web.get("/admin/").status_code == 401
    assert copy.get("/admin/").status_code == 401  # the copy no longer opens the admin


def test_password_change_ends_every_session_of_the_user(app, boss, login, runner):
    first, second = login("boss"), login("boss")
    copy = _copy_of(app, first)
    result = runner.invoke(args=["set-password", "boss", "--password-stdin"], input="Lucheng-river-2027\n")
    assert result.exit_code == 0, result.output
    assert "sessions have ended" in result.output
    for client in (first, second, copy):
        assert client.get("/admin/").status_code == 401
    fresh = login("boss", "Lucheng-river-2027")
    assert fresh.get("/admin/").status_code == 200
    web = app.test_client()
    web.get("/admin/login")
    with web.session_transaction() as sess:
        token = sess["csrf"]
    old = web.post("/admin/login", data={"name": "boss", "password": "password123", "csrf_token": token})
    assert old.status_code == 401


def test_disabled_account_loses_sessions_logins_and_tokens_until_enabled(app, boss, login, runner, api_token):
    web = login("boss")
    token = api_token(boss)
    bearer = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/admin/audit", headers=bearer).status_code == 200
    result = runner.invoke(args=["disable-user", "boss"])
    assert result.exit_code == 0, result.output
    assert web.get("/admin/").status_code == 401
    assert app.test_client().get("/api/v1/admin/audit", headers=bearer).status_code == 401
    other = app.test_client()
    other.get("/admin/login")
    with other.session_transaction() as sess:
        csrf = sess["csrf"]
    refused = other.post("/admin/login", data={"name": "boss", "password": "password123", "csrf_token": csrf})
    assert refused.status_code == 401
    assert "disabled" in runner.invoke(args=["list-users"]).output
    assert runner.invoke(args=["enable-user", "boss"]).exit_code == 0
    assert login("boss").get("/admin/").status_code == 200
    assert app.test_client().get("/api/v1/admin/audit", headers=bearer).status_code == 200


@pytest.mark.parametrize("command", ["disable-user", "enable-user", "set-password"])
def test_account_commands_name_an_unknown_user(runner, command):
    result = runner.invoke(args=[command, "nobody", *(["--password-stdin"] if command == "set-password" else [])])
    assert result.exit_code == 1
    assert "no user named 'nobody'" in result.output


def test_session_cookie_holds_only_a_random_id_the_server_keeps_hashed(app, boss, login):
    """The database holds the id's SHA-256, never the id; the cookie holds no user id."""
    import hashlib

    web = login("boss")
    with web.session_transaction() as sess:
        sid = sess["sid"]
        assert "uid" not in sess
    digests = [r[0] for r in run_sql(app, "SELECT digest FROM sessions")]
    assert digests == [hashlib.sha256(sid.encode()).hexdigest()]


def test_a_session_ends_after_its_lifetime(app, boss, login):
    web = login("boss")
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="seconds")
    run_sql(app, "UPDATE sessions SET expires_at = ?", (past,))
    assert web.get("/admin/").status_code == 401


def test_session_lifetime_follows_the_setting(app_factory, tmp_path):
    app = app_factory(SESSION_HOURS="2")
    from locator.accounts import hash_password

    app.extensions["accounts"].create_user("boss", "city_admin", (), hash_password("password123"))
    client = app.test_client()
    client.get("/admin/login")
    with client.session_transaction() as sess:
        csrf = sess["csrf"]
    before = datetime.now(UTC)
    client.post("/admin/login", data={"name": "boss", "password": "password123", "csrf_token": csrf})
    conn = sqlite3.connect(app.extensions["roster"].store.path)
    (expires,) = conn.execute("SELECT expires_at FROM sessions").fetchone()
    conn.close()
    lifetime = datetime.fromisoformat(expires) - before
    assert timedelta(hours=2) - timedelta(seconds=5) < lifetime <= timedelta(hours=2) + timedelta(seconds=5)


def test_logging_in_again_gives_a_new_session_id(app, boss, login):
    """Session fixation: the id a browser held before logging in is not the one it holds after."""
    web = login("boss")
    with web.session_transaction() as sess:
        first = sess["sid"]
    web.get("/admin/login")
    with web.session_transaction() as sess:
        csrf = sess["csrf"]
    assert web.post("/admin/login", data={"name": "boss", "password": "password123", "csrf_token": csrf}).status_code
    with web.session_transaction() as sess:
        assert sess["sid"] != first
