"""Accounts, sessions, tokens, the secret key and import previews shared by every app server (issue 18, item 3).

The account store runs the same SQL on SQLite and PostGIS (`make_store`: every store test on both);
with PostGIS two app servers (two apps, an instance folder each) share accounts, sessions, tokens,
the generated secret key and import previews; `flask migrate-accounts` copies an old per-server
SQLite accounts file into the database, idempotently, refusing conflicts.
"""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from locator.accounts import AccountError, hash_password, new_session_id, new_token
from locator.store.accounts import AccountsConflict, SQLAccountStore, copy_accounts
from locator.store.sqlite import SQLiteStore
from tests.conftest import fresh_schema

GOOD_CSV = "名称,类型,经度,纬度\n跨服务器预览驿站,rider_station,120.65,28.01\n".encode()


# -- the store, on both backends -------------------------------------------------------------------


@pytest.fixture
def accounts(store) -> SQLAccountStore:
    return SQLAccountStore(store)


def test_accounts_keepers_and_audit_on_both_backends(accounts):
    boss = accounts.create_user("boss", "city_admin", (), "hash-1", actor="cli")
    keeper = accounts.create_user("shop", "station_keeper", (), "hash-2", ("st-2", "st-1", "st-1"), actor="boss")
    assert keeper.stations == ("st-1", "st-2")
    with pytest.raises(AccountError, match="already exists"):
        accounts.create_user("boss", "viewer", (), "hash-3")
    assert [u.name for u in accounts.list_users()] == ["boss", "shop"]  # the failed one left nothing
    assert accounts.find_user("shop") == (keeper, "hash-2")
    assert [u.name for u in accounts.keepers_of("st-1")] == ["shop"]
    accounts.set_stations(keeper.id, ("st-3",), actor="boss")
    assert accounts.keepers_of("st-1") == [] and accounts.get_user(keeper.id).stations == ("st-3",)
    accounts.set_active(keeper.id, False, actor="boss")
    assert accounts.keepers_of("st-3") == [] and not accounts.get_user(keeper.id).active
    accounts.set_password(boss.id, "hash-4", actor="boss")
    assert accounts.find_user("boss")[1] == "hash-4"
    trail = accounts.account_audit()
    assert [(e.actor, e.action, e.target) for e in trail] == [
        ("boss", "change_password", "boss"),
        ("boss", "disable", "shop"),
        ("boss", "set_stations", "shop"),
        ("boss", "create", "shop"),
        ("cli", "create", "boss"),
    ]
    assert trail[3].detail == {"role": "station_keeper", "districts": [], "stations": ["st-2", "st-1", "st-1"]}
    assert [e.action for e in accounts.account_audit("boss", limit=1)] == ["change_password"]
    with pytest.raises(AccountError):
        accounts.set_active(999, True)


def test_sessions_and_tokens_on_both_backends(accounts):
    boss = accounts.create_user("boss", "city_admin", ("330302",), "hash")
    now = datetime.now(UTC)
    accounts.create_session(boss.id, "s1", now + timedelta(hours=1))
    accounts.create_session(boss.id, "s2", now + timedelta(hours=1))
    assert accounts.user_for_session("s1", now) == boss
    assert accounts.user_for_session("s1", now + timedelta(hours=2)) is None  # expired
    accounts.end_session("s1")
    assert accounts.user_for_session("s1", now) is None and accounts.user_for_session("s2", now) == boss
    assert accounts.end_sessions(boss.id) == 1
    token = accounts.create_token(boss.id, "etl", "d1")
    assert token.label == "etl" and token.revoked_at is None
    assert accounts.user_for_token("d1") == boss
    assert accounts.list_tokens(boss.id)[0].last_used_at is not None
    assert accounts.revoke_token(token.id) and not accounts.revoke_token(token.id)
    assert accounts.user_for_token("d1") is None
    assert accounts.list_tokens()[0].revoked_at is not None


# -- two app servers on one PostGIS database ---------------------------------------------------------


@pytest.fixture
def two_servers(app_factory, postgres_url, tmp_path):
    """Two apps on one schema, an instance folder each, and no LOCATOR_SECRET_KEY."""
    schema = fresh_schema()
    one = app_factory(
        DATABASE_URL=postgres_url, DATABASE_SCHEMA=schema, SECRET_KEY="", INSTANCE_PATH=str(tmp_path / "one")
    )
    two = app_factory(
        DATABASE_URL=postgres_url, DATABASE_SCHEMA=schema, SECRET_KEY="", INSTANCE_PATH=str(tmp_path / "two")
    )
    yield one, two
    one.extensions["roster"].store.drop_schema()


def _login(app, name="boss", password="password123"):
    web = app.test_client()
    web.get("/admin/login")
    with web.session_transaction() as sess:
        csrf = sess["csrf"]
    resp = web.post("/admin/login", data={"name": name, "password": password, "csrf_token": csrf})
    assert resp.status_code == 302, resp.data
    with web.session_transaction() as sess:
        web.csrf = sess["csrf"]
    return web


def test_two_servers_share_the_generated_key_accounts_sessions_and_tokens(two_servers, tmp_path):
    one, two = two_servers
    key = one.config["SECRET_KEY"]
    assert len(key) == 64 and two.config["SECRET_KEY"] == key
    assert not (tmp_path / "one" / "secret_key").exists() and not (tmp_path / "one" / "accounts.sqlite3").exists()
    boss = one.extensions["accounts"].create_user("boss", "city_admin", (), hash_password("password123"))
    web = _login(two)  # the account made through one logs in through the other …
    elsewhere = one.test_client()
    elsewhere.set_cookie("session", web.get_cookie("session").value)
    assert elsewhere.get("/admin/").status_code == 200  # … and its session holds on the first
    assert web.post("/admin/logout", data={"csrf_token": web.csrf}).status_code == 302
    assert elsewhere.get("/admin/").status_code == 401  # a logout ends it on both
    plain, digest = new_token()
    token = two.extensions["accounts"].create_token(boss.id, "t", digest)
    bearer = {"Authorization": f"Bearer {plain}"}
    assert one.test_client().get("/api/v1/admin/audit?limit=1", headers=bearer).status_code == 200
    assert two.extensions["accounts"].revoke_token(token.id)
    assert one.test_client().get("/api/v1/admin/audit?limit=1", headers=bearer).status_code == 401  # next request


def test_a_riders_nearest_request_never_reaches_the_accounts(two_servers):
    """Even carrying an organizer's session cookie and a token, nearest asks the database nothing."""
    from tests.services import wait_for

    one, _ = two_servers
    boss = one.extensions["accounts"].create_user("boss", "city_admin", (), hash_password("password123"))
    web = _login(one)
    plain, digest = new_token()
    one.extensions["accounts"].create_token(boss.id, "t", digest)
    store = one.extensions["roster"].store
    web.get("/readyz")
    wait_for(lambda: store.listening, 5, "the listener connected")
    nearest = "/api/v1/stations/nearest?lat=28.0&lng=120.65&k=3"
    assert web.get(nearest).status_code == 200  # the snapshot is built
    queries = store.queries
    for _ in range(10):
        assert web.get(nearest, headers={"Authorization": f"Bearer {plain}"}).status_code == 200
    assert store.queries == queries


def test_a_preview_made_through_one_server_commits_through_the_other(two_servers):
    one, two = two_servers
    one.extensions["accounts"].create_user("boss", "city_admin", (), hash_password("password123"))
    a, b = _login(one), _login(two)
    form = {"csrf_token": a.csrf, "crs": "wgs84", "file": (io.BytesIO(GOOD_CSV), "roster.csv")}
    preview = a.post("/admin/import/preview", data=form, content_type="multipart/form-data")
    assert preview.status_code == 200
    from bs4 import BeautifulSoup

    fields = {
        i["name"]: i.get("value", "")
        for i in BeautifulSoup(preview.data, "html.parser").select("#commit-form input[type=hidden]")
    }
    assert len(fields["digest"]) == 64
    assert two.extensions["staging"].load(fields["digest"], "csv") == GOOD_CSV
    commit = b.post("/admin/import/commit", data={**fields, "csrf_token": b.csrf})
    assert commit.status_code == 200, commit.data[:300]
    assert "跨服务器预览驿站" in {s.name for s in one.extensions["roster"].store.list()}
    count = one.extensions["roster"].store.count()
    # The same 确认导入 again, through the other server: the file is still kept (shared), its old token
    # cannot apply again, and the answer says the roster already matches it.
    again = a.post("/admin/import/commit", data={**fields, "csrf_token": a.csrf})
    assert again.status_code == 200 and "名册已与这份文件一致" in again.get_data(as_text=True)
    assert one.extensions["roster"].store.count() == count


def test_shared_staging_expires_caps_and_checks_its_files(two_servers):
    from locator.formats import FORMATS
    from locator.store.shared import SharedUploadStaging

    one, _ = two_servers
    store = one.extensions["roster"].store
    staging = SharedUploadStaging(store, max_bytes=2500)
    digests = [staging.save(bytes([n]) * 1000, FORMATS["csv"]) for n in range(4)]
    assert staging.load(digests[0], "csv") is None and staging.load(digests[1], "csv") is None  # oldest evicted
    assert staging.load(digests[3], "csv") == bytes([3]) * 1000
    assert staging.load(digests[3], "xlsx") is None  # the same bytes under another format were never kept
    for bad in ("", "../../etc/passwd", "A" * 64, digests[3][:63]):
        assert staging.load(bad, "csv") is None
    store._conn().execute("UPDATE upload_staging SET data = %s WHERE digest = %s", (b"tampered", digests[3]))
    assert staging.load(digests[3], "csv") is None  # bytes that no longer hash to their name
    store._conn().execute("UPDATE upload_staging SET saved_at = saved_at - %s", (SharedUploadStaging.KEEP_S + 1,))
    assert staging.load(digests[2], "csv") is None  # older than a day
    staging.save(b"new", FORMATS["csv"])
    assert store._conn().execute("SELECT count(*) FROM upload_staging").fetchone()[0] == 1  # expired ones went
    assert SharedUploadStaging(store).max_bytes == 200 * 1024 * 1024


def test_a_server_started_while_the_database_is_down_serves_riders_and_refuses_the_admin(app_factory, tmp_path):
    """No key can be read then: riders' pages need none; the organizers' pages answer 503 until it returns."""
    from locator.store.postgis import PostGISStore
    from tests.services import free_port

    app = app_factory(
        DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/none",
        SECRET_KEY="",
        INSTANCE_PATH=str(tmp_path / "inst"),
        VERSION_LISTEN=False,
    )
    assert isinstance(app.extensions["roster"].store, PostGISStore)
    assert not app.config.get("SECRET_KEY")
    web = app.test_client()
    assert web.get("/healthz").status_code == 200
    resp = web.get("/admin/login")
    assert resp.status_code == 503
    assert not (tmp_path / "inst" / "secret_key").exists()


# -- flask migrate-accounts ---------------------------------------------------------------------------


def _old_accounts_file(path) -> dict:
    """An SQLite accounts file as a PostGIS server kept it before issue 18: users, a keeper, tokens, a session."""
    from locator.store.accounts import SQLAccountStore

    store = SQLiteStore(path)
    store.init_schema()
    old = SQLAccountStore(store)
    boss = old.create_user("boss", "city_admin", (), hash_password("password123"), actor="cli")
    old.create_user("ouhai", "district_organizer", ("330304",), hash_password("password123"), actor="cli")
    keeper = old.create_user("shop", "station_keeper", (), hash_password("password123"), ("rs-330304-001",))
    gone = old.create_user("gone", "viewer", (), hash_password("password123"))
    old.set_active(gone.id, False, actor="boss")
    live, digest = new_token()
    live_token = old.create_token(boss.id, "etl", digest)
    revoked, digest = new_token()
    old.revoke_token(old.create_token(keeper.id, "old", digest).id)
    old.create_session(boss.id, new_session_id()[1], datetime.now(UTC) + timedelta(hours=4))
    store.close()
    return {"live": live, "live_id": live_token.id, "revoked": revoked}


@pytest.fixture
def app(app_on_both):
    """The target of the copy: PostGIS (what the command is for) and SQLite (the same code)."""
    return app_on_both


def test_migrate_accounts_copies_everything_once_and_logins_and_tokens_keep_working(app, runner, tmp_path):
    path = tmp_path / "accounts.sqlite3"
    made = _old_accounts_file(path)
    app.extensions["accounts"].create_user("newcomer", "viewer", (), hash_password("password123"))
    result = runner.invoke(args=["migrate-accounts", str(path)])
    assert result.exit_code == 0, result.output
    assert "copied 4 account(s): boss, ouhai, shop, gone" in result.output
    assert "copied 2 token(s) (0 already there), 1 unexpired session(s), 5 account audit record(s)" in result.output
    assert "已复制 4 个账号" in result.output
    accounts = app.extensions["accounts"]
    assert [u.name for u in accounts.list_users()] == ["boss", "gone", "newcomer", "ouhai", "shop"]
    assert accounts.find_user("shop")[0].stations == ("rs-330304-001",)
    assert accounts.find_user("ouhai")[0].districts == ("330304",)
    assert not accounts.find_user("gone")[0].active
    _login(app)  # the old password
    web = app.test_client()
    live = {"Authorization": f"Bearer {made['live']}"}
    assert web.get("/api/v1/admin/audit?limit=1", headers=live).status_code == 200
    revoked = {"Authorization": f"Bearer {made['revoked']}"}
    assert web.get("/api/v1/admin/audit?limit=1", headers=revoked).status_code == 401
    assert any(t.id == made["live_id"] for t in accounts.list_tokens())  # numbers kept where free
    assert ("boss", "disable", "gone") in {(e.actor, e.action, e.target) for e in accounts.account_audit()}
    # New rows after the copy do not collide with the copied ids (PostgreSQL's sequences moved on).
    later = accounts.create_user("later", "viewer", (), hash_password("password123"))
    assert later.id not in {u.id for u in accounts.list_users() if u.name != "later"}
    again = runner.invoke(args=["migrate-accounts", str(path)])
    assert again.exit_code == 0, again.output
    assert "copied 0 account(s)" in again.output and "already there, unchanged: boss, ouhai, shop, gone" in again.output
    assert "copied 0 token(s) (2 already there), 0 unexpired session(s), 0 account audit record(s)" in again.output
    assert len(accounts.list_users()) == 6


def test_migrate_accounts_refuses_conflicts_and_writes_nothing(app, runner, tmp_path):
    path = tmp_path / "accounts.sqlite3"
    _old_accounts_file(path)
    accounts = app.extensions["accounts"]
    accounts.create_user("boss", "viewer", (), hash_password("another-password-1"))  # same name, another account
    before = (len(accounts.list_users()), len(accounts.account_audit()))
    result = runner.invoke(args=["migrate-accounts", str(path)])
    assert result.exit_code == 1
    assert "nothing copied" in result.output and "'boss'" in result.output
    assert "未复制任何数据" in result.output and "账号“boss”已存在" in result.output
    assert (len(accounts.list_users()), len(accounts.account_audit())) == before


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "找不到账号文件"),
        (b"not a database at all, just text" * 10, "不是 SQLite 数据库文件"),
        ("empty-db", "里没有账号"),
    ],
)
def test_migrate_accounts_explains_a_wrong_file(runner, tmp_path, content, says):
    path = tmp_path / "accounts.sqlite3"
    if content == "empty-db":
        sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.close()
    elif content is not None:
        path.write_bytes(content)
    result = runner.invoke(args=["migrate-accounts", str(path)])
    assert result.exit_code == 1 and says in result.output, result.output


def test_copy_accounts_names_a_token_that_belongs_to_another_account(store, tmp_path):
    path = tmp_path / "accounts.sqlite3"
    made = _old_accounts_file(path)
    target = SQLAccountStore(store)
    other = target.create_user("someone", "viewer", (), "hash")
    import hashlib

    target.create_token(other.id, "copied by hand", hashlib.sha256(made["live"].encode()).hexdigest())
    with pytest.raises(AccountsConflict) as refused:
        copy_accounts(path, target)
    assert "令牌" in refused.value.detail_zh and refused.value.http_status == 409
    assert [u.name for u in target.list_users()] == ["someone"]
    assert json.dumps(refused.value.conflicts, ensure_ascii=False)
