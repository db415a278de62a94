"""Hostile requests that used to answer 500 get a clear 4xx (problem+json or a Chinese page)."""

from __future__ import annotations

import pytest


def _csrf(client) -> str:
    client.get("/admin/login")
    with client.session_transaction() as sess:
        return sess["csrf"]


@pytest.fixture
def boss(make_user):
    return make_user("boss", "city_admin")


@pytest.mark.parametrize("sent", ["é", "驿站", "ü" * 43])
def test_anonymous_login_with_a_non_ascii_csrf_token_is_400(client, sent):
    client.get("/admin/login")
    resp = client.post("/admin/login", data={"name": "x", "password": "y", "csrf_token": sent})
    assert resp.status_code == 400
    assert resp.mimetype == "text/html" and "请求有误" in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    ["/admin/\r\nSet-Cookie: x=1", "/admin/x\ny", "https://evil.com", "//evil.com/admin", "/\\evil.com",
     "/admin/../../evil", "http://localhost/admin/", "javascript:alert(1)", "/stations/1", "/admin" + "x" * 2000],
)  # fmt: skip
def test_login_refuses_a_next_page_outside_the_admin(app, boss, target):
    """`next=` with CR/LF used to be a 500; an outside page is refused explicitly (400 naming `next`)."""
    client = app.test_client()
    resp = client.post(
        "/admin/login",
        data={"name": "boss", "password": "password123", "csrf_token": _csrf(client), "next": target},
    )
    assert resp.status_code == 400
    assert "next" in resp.get_data(as_text=True)
    assert client.get("/admin/").status_code == 401  # and nobody was logged in
    page = app.test_client().get("/admin/login", query_string={"next": target})
    assert page.status_code == 400


@pytest.mark.parametrize("target", ["/admin/", "/admin/stations/x?y=1", "/admin"])
def test_login_follows_a_next_page_inside_the_admin(app, boss, target):
    client = app.test_client()
    resp = client.post(
        "/admin/login",
        data={"name": "boss", "password": "password123", "csrf_token": _csrf(client), "next": target},
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == target


@pytest.mark.parametrize("url", ["http://[::1", "http://[::1/x", "https://[zz]/"])
def test_jssdk_config_with_a_malformed_url_is_400(client, url):
    resp = client.get("/api/v1/wechat/jssdk-config", query_string={"url": url})
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["parameter"] == "url"


@pytest.mark.parametrize("record_id", [10**23, 2**63, 2**64 + 5])
def test_restoring_an_audit_record_beyond_any_id_is_404(app, boss, login, api_token, record_id):
    web = login("boss")
    assert web.post(f"/admin/audit/{record_id}/restore", data={"csrf_token": web.csrf}).status_code == 404
    headers = {"Authorization": f"Bearer {api_token(boss)}"}
    resp = app.test_client().post(f"/api/v1/admin/audit/{record_id}/restore", headers=headers)
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"


@pytest.mark.parametrize("station_id", ["a\r\nb", "x\ny", '站点\r\n"; evil=1', "\x00"])
def test_audit_export_with_control_characters_in_the_station_id(app, boss, login, api_token, station_id):
    """CR/LF in ?station_id= used to break the Content-Disposition header (500)."""
    web = login("boss")
    for client, headers in ((web, {}), (app.test_client(), {"Authorization": f"Bearer {api_token(boss)}"})):
        path = "/admin/audit/export" if client is web else "/api/v1/admin/audit"
        resp = client.get(path, query_string={"station_id": station_id, "format": "csv"}, headers=headers)
        assert resp.status_code == 200
        disposition = resp.headers["Content-Disposition"]
        assert "\r" not in disposition and "\n" not in disposition and 'evil=1"' not in disposition
        assert disposition.startswith('attachment; filename="audit-')


def test_audit_export_names_a_chinese_station_id_exactly(app, boss, login):
    web = login("boss")
    resp = web.get("/admin/audit/export", query_string={"station_id": "瓯海-1", "format": "json"})
    assert resp.status_code == 200
    assert "filename*=UTF-8''audit-%E7%93%AF%E6%B5%B7-1.json" in resp.headers["Content-Disposition"]


def test_the_login_page_shown_for_a_hostile_admin_path_leads_back_nowhere_strange(client):
    """An anonymous visit to /admin/stations/%0d%0a… gets the login page (401), whose `next` is not that path."""
    resp = client.get("/admin/stations/x%0d%0aSet-Cookie:%20a=b")
    assert resp.status_code == 401
    from bs4 import BeautifulSoup

    field = BeautifulSoup(resp.data, "html.parser").select_one("input[name=next]")
    assert field["value"] == ""
