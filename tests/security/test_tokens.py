"""API tokens: last_used_at is written at most once a minute and never waits for a lock (SQLite and PostGIS)."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from tests.dbtools import run_sql


@pytest.fixture
def app(app_on_both):
    """Tokens behave the same on both backends."""
    return app_on_both


@pytest.fixture
def token_setup(app, make_user, api_token):
    user = make_user("boss", "city_admin")
    token = api_token(user)
    return app, {"Authorization": f"Bearer {token}"}


def _last_used(app) -> str | None:
    return run_sql(app, "SELECT last_used_at FROM api_tokens")[0][0]


def _set_last_used(app, seconds_ago: int) -> str:
    value = (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat(timespec="seconds")
    run_sql(app, "UPDATE api_tokens SET last_used_at = ?", (value,))
    return value


@contextmanager
def _import_holding_the_locks(app):
    """What a long import holds, from a connection of its own: SQLite's write lock; in PostgreSQL the
    data-version row (every station write takes it) and, to be harsh, the token rows themselves."""
    store = app.extensions["roster"].store
    if hasattr(store, "path"):
        importer = sqlite3.connect(store.path, isolation_level=None)
        importer.execute("BEGIN IMMEDIATE")  # what importing.commit's replace_all holds while it writes
        try:
            yield
        finally:
            importer.execute("ROLLBACK")
            importer.close()
        return
    importer = store._connect(name="test-importer")
    try:
        with importer.transaction():
            importer.execute("SELECT value FROM meta WHERE key = 'data_version' FOR UPDATE")
            importer.execute("SELECT id FROM api_tokens FOR UPDATE")
            yield
    finally:
        importer.close()


def test_read_only_token_calls_answer_while_an_import_holds_the_write_lock(token_setup, roster):
    """A long import holds the write lock: a token GET must still answer at once (it used to fail after 30 s)."""
    app, headers = token_setup
    station = roster.store.list()[0]
    with _import_holding_the_locks(app):
        client = app.test_client()
        for _ in range(3):
            resp = client.get(f"/api/v1/admin/stations/{station.id}", headers=headers)
            assert resp.status_code == 200, resp.get_json()
    assert _last_used(app) is None  # the use could not be noted then …
    app.extensions["accounts"]._token_noted.clear()  # (as if a minute had passed)
    assert app.test_client().get(f"/api/v1/admin/stations/{station.id}", headers=headers).status_code == 200
    assert _last_used(app) is not None  # … and is noted by a later call


def test_last_used_at_is_written_at_most_once_a_minute(token_setup):
    app, headers = token_setup
    client = app.test_client()
    assert client.get("/api/v1/admin/audit", headers=headers).status_code == 200
    assert _last_used(app) is not None
    recent = _set_last_used(app, 30)
    assert client.get("/api/v1/admin/audit", headers=headers).status_code == 200
    assert _last_used(app) == recent  # used 30 s ago: not written again
    app.extensions["accounts"]._token_noted.clear()
    _set_last_used(app, 90)
    assert client.get("/api/v1/admin/audit", headers=headers).status_code == 200
    noted = datetime.fromisoformat(_last_used(app))
    assert datetime.now(UTC) - noted < timedelta(seconds=10)
