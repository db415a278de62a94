"""Without LOCATOR_SECRET_KEY: SQLite keeps one generated key in the instance folder; PostgreSQL one in the database."""

from __future__ import annotations

import stat
import threading


def test_workers_without_a_configured_key_share_one_kept_in_the_instance_folder(app_factory, tmp_path):
    """Two gunicorn workers are two apps: a login made through one must hold on the other."""
    from locator.accounts import hash_password

    instance = tmp_path / "instance"
    first = app_factory(SECRET_KEY="", INSTANCE_PATH=str(instance))
    second = app_factory(SECRET_KEY="", INSTANCE_PATH=str(instance))
    key_file = instance / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == key_file.read_text().strip()
    assert len(first.config["SECRET_KEY"]) >= 64
    first.extensions["accounts"].create_user("boss", "city_admin", (), hash_password("password123"))
    web = first.test_client()
    web.get("/admin/login")
    with web.session_transaction() as sess:
        csrf = sess["csrf"]
    assert web.post("/admin/login", data={"name": "boss", "password": "password123", "csrf_token": csrf}).status_code
    other_worker = second.test_client()
    other_worker.set_cookie("session", web.get_cookie("session").value)
    assert other_worker.get("/admin/").status_code == 200


def test_the_key_is_made_once_even_when_workers_start_together(app_factory, tmp_path):
    from locator import _instance_secret_key

    app = app_factory(INSTANCE_PATH=str(tmp_path / "inst"))
    keys: list[str] = []
    threads = [threading.Thread(target=lambda: keys.append(_instance_secret_key(app))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and len(keys) == 8
    assert sorted(p.name for p in (tmp_path / "inst").iterdir() if "secret" in p.name) == ["secret_key"]


def test_a_key_file_readable_by_others_is_made_private(app_factory, tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "secret_key").write_text("k" * 64 + "\n")
    (instance / "secret_key").chmod(0o644)
    app = app_factory(SECRET_KEY="", INSTANCE_PATH=str(instance))
    assert app.config["SECRET_KEY"] == "k" * 64
    assert stat.S_IMODE((instance / "secret_key").stat().st_mode) == 0o600


def test_a_configured_key_is_used_and_nothing_is_written(app_factory, tmp_path):
    app = app_factory(SECRET_KEY="configured", INSTANCE_PATH=str(tmp_path / "inst"))
    assert app.config["SECRET_KEY"] == "configured"
    assert not (tmp_path / "inst" / "secret_key").exists()


def test_postgis_without_a_key_makes_one_in_the_database_for_every_server(app_factory, postgres_url, tmp_path):
    """Servers on other machines (an instance folder each) sign with the one key the first of them made."""
    from tests.conftest import fresh_schema

    schema = fresh_schema()
    first = app_factory(DATABASE_URL=postgres_url, DATABASE_SCHEMA=schema, SECRET_KEY="", INSTANCE_PATH=str(tmp_path))
    try:
        second = app_factory(
            DATABASE_URL=postgres_url, DATABASE_SCHEMA=schema, SECRET_KEY="", INSTANCE_PATH=str(tmp_path / "b")
        )
        key = first.config["SECRET_KEY"]
        assert len(key) == 64 and second.config["SECRET_KEY"] == key
        assert not (tmp_path / "secret_key").exists()
        configured = app_factory(
            DATABASE_URL=postgres_url, DATABASE_SCHEMA=schema, SECRET_KEY="configured", INSTANCE_PATH=str(tmp_path)
        )
        assert configured.config["SECRET_KEY"] == "configured"  # a configured key wins
    finally:
        first.extensions["roster"].store.drop_schema()
