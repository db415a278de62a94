"""Accounts, roles, CSRF, cookies and API tokens: every data-changing route needs an authorised caller.

Every test that builds the usual app runs on SQLite and on PostGIS (accounts live in either).
"""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from tests.dbtools import run_sql


@pytest.fixture
def app(app_on_both):
    """Accounts behave the same on both backends."""
    return app_on_both


UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Logging in is what an anonymous caller may do; riders report and confirm stations anonymously (issue 16).
PUBLIC_WRITES = {"admin.auth.login", "api.report_station", "api.confirm_station"}


def _concrete(rule, station_id: str) -> str:
    """A URL for a rule, filling converters with a real station id or a number."""
    path = rule.rule
    path = re.sub(r"<int:[^>]+>", "1", path)
    path = re.sub(r"<path:[^>]+>", "x", path)
    path = re.sub(r"<(?:string:)?station_id>", station_id, path)
    path = re.sub(r"<(?:string:)?fmt>", "xlsx", path)
    return re.sub(r"<[^>]+>", "x", path)


def _routes(app, methods):
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & methods):
            yield rule, method


def test_every_write_route_refuses_anonymous_callers(app, roster):
    """Walk the whole URL map: every POST/PUT/PATCH/DELETE answers 401 to an anonymous caller."""
    station_id = roster.store.list()[0].id
    client = app.test_client()
    checked = 0
    for rule, method in _routes(app, UNSAFE):
        if rule.endpoint in PUBLIC_WRITES:
            continue
        resp = client.open(_concrete(rule, station_id), method=method, json={})
        assert resp.status_code == 401, f"{method} {rule.rule} gave {resp.status_code}"
        checked += 1
    assert checked >= 10
    assert roster.store.data_version() == 1  # nothing written (only the seed)


def test_every_admin_page_refuses_anonymous_callers(app, roster):
    """Every GET under /admin and /api/v1/admin (except the login page) answers 401 to anonymous callers."""
    station_id = roster.store.list()[0].id
    client = app.test_client()
    checked = 0
    for rule, method in _routes(app, {"GET"}):
        if not rule.rule.startswith(("/admin", "/api/v1/admin")) or rule.endpoint in PUBLIC_WRITES:
            continue
        resp = client.open(_concrete(rule, station_id), method=method)
        assert resp.status_code == 401, f"{method} {rule.rule} gave {resp.status_code}"
        checked += 1
    assert checked >= 8


def test_district_organizer_gets_403_on_every_write_to_another_district(app, roster, make_user, api_token, login):
    """A district organizer of 鹿城 acting on a 瓯海 station gets 403 from every station write route."""
    from locator.store.base import StationQuery

    other = roster.store.list(StationQuery(districts=("330304",)))[0]
    user = make_user("lucheng", "district_organizer", ["330302"])
    token = api_token(user)
    headers = {"Authorization": f"Bearer {token}", "If-Match": f'"{other.version}"'}
    client = app.test_client()
    body = {"name": "x", "type": "rider_station", "lng": other.lng, "lat": other.lat}
    assert client.put(f"/api/v1/admin/stations/{other.id}", json=body, headers=headers).status_code == 403
    assert client.delete(f"/api/v1/admin/stations/{other.id}", headers=headers).status_code == 403
    assert client.post("/api/v1/admin/stations", json=body, headers=headers).status_code == 403
    web = login("lucheng")
    form = {"csrf_token": web.csrf, "version": str(other.version), "name": "x", "type": "rider_station"}
    form.update(lng=str(other.lng), lat=str(other.lat), status="open")
    for path in ("", "/close", "/reopen", "/delete"):
        resp = web.post(f"/admin/stations/{other.id}{path}", data=form)
        assert resp.status_code == 403, path
    assert roster.store.get(other.id) == other


def test_district_organizer_may_edit_own_district(app, roster, make_user, api_token):
    """The same organizer may change a station of their own district."""
    from locator.store.base import StationQuery

    own = roster.store.list(StationQuery(districts=("330302",)))[0]
    token = api_token(make_user("lucheng", "district_organizer", ["330302"]))
    body = {"name": "改名后的驿站", "type": own.type, "lng": own.lng, "lat": own.lat}
    resp = app.test_client().put(
        f"/api/v1/admin/stations/{own.id}",
        json=body,
        headers={"Authorization": f"Bearer {token}", "If-Match": f'"{own.version}"'},
    )
    assert resp.status_code == 200, resp.json
    assert resp.headers["ETag"] == f'"{own.version + 1}"'
    assert roster.store.get(own.id).name == "改名后的驿站"


def test_viewer_may_read_but_not_write(app, roster, make_user, api_token, login):
    """A viewer sees the admin pages and gets 403 on writes."""
    make_user("watcher", "viewer")
    web = login("watcher")
    assert web.get("/admin/").status_code == 200
    station = roster.store.list()[0]
    resp = web.post(f"/admin/stations/{station.id}/delete", data={"csrf_token": web.csrf, "version": "1"})
    assert resp.status_code == 403
    assert roster.store.count() == 200


def test_form_post_without_csrf_token_is_refused(roster, make_user, login):
    """A logged-in browser POST without the session's CSRF token changes nothing."""
    make_user("boss", "city_admin")
    web = login("boss")
    station = roster.store.list()[0]
    resp = web.post(f"/admin/stations/{station.id}/delete", data={"version": str(station.version)})
    assert resp.status_code == 400
    assert resp.mimetype == "text/html"
    assert roster.store.get(station.id) == station


def test_session_cookie_is_httponly_and_samesite(app, make_user):
    """The login cookie is HttpOnly and SameSite=Lax; Secure when LOCATOR_SECURE_COOKIES is on."""
    make_user("boss", "city_admin")
    client = app.test_client()
    resp = client.get("/admin/login")
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_secure_cookie_setting(app_factory):
    """LOCATOR_SECURE_COOKIES=true adds the Secure flag."""
    app = app_factory(SECURE_COOKIES="true")
    resp = app.test_client().get("/admin/login")
    assert "Secure" in resp.headers["Set-Cookie"]


def test_wrong_password_is_refused(app, make_user):
    """A wrong password gives 401 and no session."""
    make_user("boss", "city_admin")
    client = app.test_client()
    client.get("/admin/login")
    with client.session_transaction() as sess:
        token = sess["csrf"]
    resp = client.post("/admin/login", data={"name": "boss", "password": "wrong-password", "csrf_token": token})
    assert resp.status_code == 401
    assert BeautifulSoup(resp.data, "html.parser").select_one(".error").get_text() == "用户名或密码错误"
    assert client.get("/admin/").status_code == 401


def test_a_head_request_for_the_login_page_is_not_a_failed_login(app_factory):
    """HEAD (link checkers, previews) answers as GET does; it once ran the password check and counted a failure."""
    from locator.accounts import hash_password

    app = app_factory(RATELIMIT_LOGIN_CLIENT="2/minute")
    app.extensions["accounts"].create_user("boss", "city_admin", (), hash_password("password123"))
    client = app.test_client()
    for _ in range(3):
        head = client.head("/admin/login")
        assert head.status_code == 200 and head.data == b""
    client.get("/admin/login")
    with client.session_transaction() as sess:
        token = sess["csrf"]
    resp = client.post("/admin/login", data={"name": "boss", "password": "password123", "csrf_token": token})
    assert resp.status_code == 302  # not throttled by the HEADs


def test_head_requests_on_form_pages_never_write_nor_count_a_guess(app, roster, make_user, login):
    """HEAD on a page that also takes a POST is the page's GET: no write (HEAD passes no CSRF check),
    no password guess counted."""
    make_user("boss", "city_admin")
    client = login("boss")
    station = roster.store.list()[0]
    count = len(roster.store.list())
    form = {  # a whole, valid edit (the old code saved it: HEAD skipped the CSRF check)
        "name": "不该改的名字",
        "type": station.type,
        "lng": str(station.lng),
        "lat": str(station.lat),
        "district": station.district,
        "status": "open",
        "version": str(station.version),
        "address": station.address or "",
        "current": "x",
    }
    for path in ("/admin/account/password", "/admin/stations/new", f"/admin/stations/{station.id}"):
        for _ in range(6):
            resp = client.open(path, method="HEAD", data=form)
            assert resp.status_code == 200 and resp.data == b"", path
    assert roster.store.get(station.id).name == station.name
    assert len(roster.store.list()) == count
    assert client.get("/admin/account/password").status_code == 200
    resp = client.post(
        "/admin/account/password",
        data={
            "current": "password123",
            "password": "a-new-pass-4567",
            "password2": "a-new-pass-4567",
            "csrf_token": client.csrf,
        },
    )
    assert resp.status_code == 302  # not throttled by the HEADs


def test_passwords_are_stored_hashed(app, make_user):
    """The stored password is a scrypt hash, not the password."""
    make_user("boss", "city_admin", password="correct horse")
    _, stored = app.extensions["accounts"].find_user("boss")
    assert stored.startswith("scrypt:") and "correct horse" not in stored


def test_revoked_token_is_refused(app, make_user, api_token):
    """A token works until revoked, then gives 401; only its SHA-256 is stored."""
    import hashlib

    user = make_user("boss", "city_admin")
    token = api_token(user)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/admin/audit", headers=headers).status_code == 200
    digests = [r[0] for r in run_sql(app, "SELECT digest FROM api_tokens")]
    assert digests == [hashlib.sha256(token.encode()).hexdigest()]
    token_id = app.extensions["accounts"].list_tokens(user.id)[0].id
    assert app.extensions["accounts"].revoke_token(token_id)
    resp = client.get("/api/v1/admin/audit", headers=headers)
    assert resp.status_code == 401 and resp.mimetype == "application/problem+json"


def test_cli_creates_users_and_tokens(app, runner):
    """create-user (password on stdin), create-token, list-users, revoke-token."""
    result = runner.invoke(
        args=["create-user", "ouhai", "--role", "district_organizer", "--district", "330304", "--password-stdin"],
        input="s3cret-password\n",
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["create-token", "ouhai", "--label", "nightly sync"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("lct_")
    resp = app.test_client().get("/api/v1/admin/audit", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    listing = runner.invoke(args=["list-users"]).output
    assert "ouhai" in listing and "nightly sync" in listing and token not in listing
    token_id = app.extensions["accounts"].list_tokens()[0].id
    assert runner.invoke(args=["revoke-token", str(token_id)]).exit_code == 0
    assert "revoked" in runner.invoke(args=["list-users"]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create-user", "x", "--role", "district_organizer", "--password-stdin"], "at least one --district"),
        (["create-user", "x", "--role", "viewer", "--district", "999999", "--password-stdin"], "unknown district"),
        (["create-user", "x", "--role", "viewer", "--password-stdin"], "at least 10"),
    ],
)
def test_cli_rejects_bad_accounts(runner, args, message):
    """Bad roles, districts and short passwords are refused with a message."""
    result = runner.invoke(args=args, input="short\n" if "at least 10" in message else "long-enough-password\n")
    assert result.exit_code == 1
    assert message in result.output
