"""API tokens: last_used_at is written at most once a minute and never waits for the write lock."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest


@pytest.fixture
def token_setup(app, make_user, api_token):
    user = make_user("boss", "city_admin")
    token = api_token(user)
    return app, {"Authorization": f"Bearer {token}"}, app.extensions["roster"].store.path


def _last_used(path) -> str | None:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT last_used_at FROM api_tokens").fetchone()[0]
    finally:
        conn.close()


def _set_last_used(path, seconds_ago: int) -> str:
    value = (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat(timespec="seconds")
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE api_tokens SET last_used_at = ?", (value,))
    conn.close()
    return value


def test_read_only_token_calls_answer_while_an_import_holds_the_write_lock(token_setup, roster):
    """A long import holds SQLite's write lock: a token GET must still answer at once (it used to fail after 30 s)."""
    app, headers, path = token_setup
    station = roster.store.list()[0]
    importer = sqlite3.connect(path, isolation_level=None)
    importer.execute("BEGIN IMMEDIATE")  # what importing.commit's replace_all holds while it writes
    try:
        client = app.test_client()
        for _ in range(3):
            resp = client.get(f"/api/v1/admin/stations/{station.id}", headers=headers)
            assert resp.status_code == 200, resp.get_json()
    finally:
        importer.execute("ROLLBACK")
        importer.close()
    assert _last_used(path) is None  # the use could not be noted then …
    app.extensions["accounts"]._token_noted.clear()  # (as if a minute had passed)
    assert app.test_client().get(f"/api/v1/admin/stations/{station.id}", headers=headers).status_code == 200
    assert _last_used(path) is not None  # … and is noted by a later call


def test_last_used_at_is_written_at_most_once_a_minute(token_setup):
    app, headers, path = token_setup
    client = app.test_client()
    assert client.get("/api/v1/admin/audit", headers=headers).status_code == 200
    assert _last_used(path) is not None
    recent = _set_last_used(path, 30)
    assert client.get("/api/v1/admin/audit", headers=headers).status_code == 200
    assert _last_used(path) == recent  # used 30 s ago: not written again
    app.extensions["accounts"]._token_noted.clear()
    _set_last_used(path, 90)
    assert client.get("/api/v1/admin/audit", headers=headers).status_code == 200
    noted = datetime.fromisoformat(_last_used(path))
    assert datetime.now(UTC) - noted < timedelta(seconds=10)
