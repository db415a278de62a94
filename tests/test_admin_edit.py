"""Editing in the admin pages and the API: optimistic concurrency, close/reopen/delete, audit, restore."""

from __future__ import annotations

import csv
import io

from bs4 import BeautifulSoup

from locator.store.base import StationQuery


def _form(page_html: bytes, form_id: str) -> dict:
    page = BeautifulSoup(page_html, "html.parser")
    form = page.select_one(f"#{form_id}")
    data = {}
    for el in form.select("input, select"):
        name = el.get("name")
        if not name:
            continue
        if el.name == "select":
            chosen = el.select_one("option[selected]") or el.select_one("option")
            data[name] = chosen.get("value", "")
        elif el.get("type") == "checkbox":
            if el.has_attr("checked"):
                data.setdefault(name, []).append(el["value"])
        elif el.get("type") == "radio":
            if el.has_attr("checked"):
                data[name] = el["value"]
        else:
            data[name] = el.get("value", "")
    return data


def test_create_edit_close_reopen_delete_restore(roster, make_user, login):
    """The whole life of a station through the admin pages, each step audited with who and how."""
    make_user("boss", "city_admin")
    web = login("boss")
    new = _form(web.get("/admin/stations/new").data, "station-form")
    new.update(name="新建驿站", address="温州市鹿城区某路1号", lng="120.661195", lat="28.019967", crs="wgs84")
    resp = web.post("/admin/stations/new", data=new)
    assert resp.status_code == 302
    station = next(s for s in roster.store.list() if s.name == "新建驿站")
    assert station.district == "330302"

    edit = _form(web.get(f"/admin/stations/{station.id}").data, "station-form")
    edit["address"] = "温州市鹿城区某路2号"
    assert web.post(f"/admin/stations/{station.id}", data=edit).status_code == 302
    assert roster.store.get(station.id).address == "温州市鹿城区某路2号"

    page = web.get(f"/admin/stations/{station.id}").data
    close = _form(page, "close-form")
    close["until"] = "2030-01-31"
    assert web.post(f"/admin/stations/{station.id}/close", data=close).status_code == 302
    closed = roster.store.get(station.id)
    assert closed.status == "temporarily_closed" and str(closed.closed_until) == "2030-01-31"

    reopen = _form(web.get(f"/admin/stations/{station.id}").data, "reopen-form")
    assert web.post(f"/admin/stations/{station.id}/reopen", data=reopen).status_code == 302
    assert roster.store.get(station.id).status == "open"

    edit_page = BeautifulSoup(web.get(f"/admin/stations/{station.id}").data, "html.parser")
    confirm = web.get(edit_page.select_one("#delete-link")["href"])  # deleting asks first, on a page of its own
    assert confirm.status_code == 200 and "删除站点「新建驿站」？" in confirm.get_data(as_text=True)
    assert roster.store.count(StationQuery(ids=(station.id,))) == 1
    resp = web.post(f"/admin/stations/{station.id}/delete", data=_form(confirm.data, "delete-form"))
    assert resp.status_code == 302 and "/admin/stations?deleted=" in resp.headers["Location"]
    assert roster.store.count(StationQuery(ids=(station.id,))) == 0
    notice = BeautifulSoup(web.get(resp.headers["Location"]).data, "html.parser").select_one("#deleted-notice")
    assert "已删除「新建驿站」" in notice.get_text() and notice.select_one("#undo").get_text() == "撤销"

    audit_page = web.get(f"/admin/stations/{station.id}/audit")
    assert audit_page.status_code == 200
    rows = BeautifulSoup(audit_page.data, "html.parser").select(".audit-record")
    assert [r["data-action"] for r in rows] == ["delete", "update", "update", "update", "create"]
    restore_form = BeautifulSoup(audit_page.data, "html.parser").select_one("form.restore")
    data = {i["name"]: i["value"] for i in restore_form.select("input")}
    assert web.post(restore_form["action"], data=data).status_code == 302
    restored = roster.store.get(station.id)
    assert restored.address == "温州市鹿城区某路2号"
    records = roster.store.audit(station.id)
    assert records[0].via == "restore" and records[0].actor == "boss"
    assert {r.via for r in records[1:]} == {"edit"}


def test_stale_edit_gets_409_and_shows_what_changed(roster, make_user, login):
    """Two organizers open the same form; the second save gets 409 listing the other's change, nothing overwritten."""
    make_user("boss", "city_admin")
    web = login("boss")
    station = roster.store.list()[0]
    form_a = _form(web.get(f"/admin/stations/{station.id}").data, "station-form")
    form_b = dict(form_a)
    form_a["address"] = "甲改的地址"
    assert web.post(f"/admin/stations/{station.id}", data=form_a).status_code == 302
    form_b["name"] = "乙改的名称"
    resp = web.post(f"/admin/stations/{station.id}", data=form_b)
    assert resp.status_code == 409
    page = BeautifulSoup(resp.data, "html.parser")
    row = page.select_one(".conflict tr.diff")
    assert row["data-field"] == "address" and row.th.get_text() == "地址"
    assert [td.get_text() for td in row.select("td")] == [station.address, "甲改的地址", station.address]
    current = roster.store.get(station.id)
    assert current.address == "甲改的地址" and current.name == station.name


def test_api_put_needs_if_match(app, roster, make_user, api_token):
    """PUT without If-Match: 428; with a stale version: 412; with the ETag: 200 and a new ETag."""
    token = api_token(make_user("bot", "city_admin"))
    client = app.test_client()
    station = roster.store.list()[0]
    auth = {"Authorization": f"Bearer {token}"}
    got = client.get(f"/api/v1/admin/stations/{station.id}", headers=auth)
    etag = got.headers["ETag"]
    body = {**got.json, "name": "API 改名"}
    body.pop("version")
    assert client.put(f"/api/v1/admin/stations/{station.id}", json=body, headers=auth).status_code == 428
    stale = client.put(f"/api/v1/admin/stations/{station.id}", json=body, headers={**auth, "If-Match": '"99"'})
    assert stale.status_code == 412 and stale.json["current_version"] == station.version
    ok = client.put(f"/api/v1/admin/stations/{station.id}", json=body, headers={**auth, "If-Match": etag})
    assert ok.status_code == 200 and ok.headers["ETag"] == f'"{station.version + 1}"'
    again = client.put(f"/api/v1/admin/stations/{station.id}", json=body, headers={**auth, "If-Match": etag})
    assert again.status_code == 412
    assert roster.store.audit(station.id)[0].via == "api"
    bad = client.put(
        f"/api/v1/admin/stations/{station.id}", json={"name": ""}, headers={**auth, "If-Match": ok.headers["ETag"]}
    )
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"


def test_api_delete_and_restore(app, roster, make_user, api_token):
    """DELETE with If-Match removes; POST /audit/<id>/restore brings it back (audited as restore)."""
    token = api_token(make_user("bot", "city_admin"))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    station = roster.store.list()[0]
    assert client.delete(f"/api/v1/admin/stations/{station.id}", headers=auth).status_code == 428
    resp = client.delete(f"/api/v1/admin/stations/{station.id}", headers={**auth, "If-Match": f'"{station.version}"'})
    assert resp.status_code == 204
    record = roster.store.audit(station.id)[0]
    resp = client.post(f"/api/v1/admin/audit/{record.id}/restore", headers=auth)
    assert resp.status_code == 201
    assert roster.store.get(station.id).name == station.name
    assert client.post(f"/api/v1/admin/audit/{record.id}/restore", headers=auth).status_code == 409


def test_audit_export_csv_and_json(app, roster, make_user, api_token, login):
    """The audit trail downloads as CSV (BOM) and JSON with who, when, how and before/after."""
    make_user("boss", "city_admin")
    web = login("boss")
    station = roster.store.list()[0]
    edit = _form(web.get(f"/admin/stations/{station.id}").data, "station-form")
    edit["address"] = "审计测试地址"
    web.post(f"/admin/stations/{station.id}", data=edit)
    resp = web.get(f"/admin/audit/export?station_id={station.id}&format=csv")
    assert resp.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert rows[0]["actor"] == "boss" and rows[0]["via"] == "edit" and "审计测试地址" in rows[0]["after"]
    data = web.get(f"/admin/audit/export?station_id={station.id}&format=json").json
    assert data[0]["before"]["address"] == station.address and data[0]["after"]["address"] == "审计测试地址"
    assert web.get("/admin/audit/export?format=xml").status_code == 400


def test_station_text_is_escaped_in_admin_pages(roster, make_user, login):
    """A station name holding markup is shown as text."""
    make_user("boss", "city_admin")
    web = login("boss")
    station = roster.store.list()[0]
    evil = station.__class__(**{**station.__dict__, "name": "<script>alert(1)</script>"})
    roster.store.update(evil, expected_version=station.version, actor="t", via="edit")
    for path in ("/admin/stations", f"/admin/stations/{station.id}/audit", f"/admin/stations/{station.id}/delete"):
        page = BeautifulSoup(web.get(path).data, "html.parser")
        assert page.find(string=lambda t: t and "<script>alert(1)</script>" in t) is not None, path
        assert all("alert" not in (s.string or "") for s in page.select("script")), path


def test_api_create_with_gcj02_coordinates(app, roster, make_user, api_token):
    """POST /stations?crs=gcj02 stores WGS-84; a duplicate id gets 409; a viewer's token gets 403."""
    from locator.coords import CRS, from_wgs84

    token = api_token(make_user("bot", "city_admin"))
    auth = {"Authorization": f"Bearer {token}"}
    gx, gy = from_wgs84(120.661195, 28.019967, CRS.GCJ02)
    body = {"id": "api-1", "name": "API 驿站", "type": "rider_station", "lng": gx, "lat": gy}
    client = app.test_client()
    resp = client.post("/api/v1/admin/stations?crs=gcj02", json=body, headers=auth)
    assert resp.status_code == 201, resp.json
    stored = roster.store.get("api-1")
    assert abs(stored.lng - 120.661195) < 1e-5 and stored.provenance == "api"
    assert client.post("/api/v1/admin/stations?crs=gcj02", json=body, headers=auth).status_code == 409
    viewer = api_token(make_user("eyes", "viewer"))
    resp = client.post("/api/v1/admin/stations", json=body, headers={"Authorization": f"Bearer {viewer}"})
    assert resp.status_code == 403
