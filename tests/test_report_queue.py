"""The organizers' side of issue 16: the review queue (district-scoped), resolutions (audited), 处理 through the
prefilled edit form, the keepers' changes, 信息无误, what is stale (roster health, the map filter) and visits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup

from locator.accounts import hash_password

OUHAI = "rs-330304-001"  # 瓯海 (330304)
OUHAI_2 = "rs-330304-002"
LUCHENG = "rs-330302-001"  # 鹿城 (330302)


def _report(client, station, kind, note=None):
    resp = client.post(f"/api/v1/stations/{station}/reports", json={"kind": kind, "note": note})
    assert resp.status_code == 201
    return resp.get_json()["id"]


@pytest.fixture
def reported(app):
    """Reports of two 瓯海 stations and a 鹿城 one: ids by name."""
    client = app.test_client()
    return {
        "ouhai_closed_1": _report(client, OUHAI, "closed", "门关着"),
        "ouhai_moved": _report(client, OUHAI, "moved"),
        "lucheng_closed": _report(client, LUCHENG, "closed"),
        "ouhai_closed_2": _report(client, OUHAI, "closed", "装修"),
        "ouhai2_other": _report(client, OUHAI_2, "other", "<script>alert(1)</script>"),
    }


@pytest.fixture
def organizer(make_user, api_token):
    user = make_user("ouhai", "district_organizer", ["330304"])
    return {"Authorization": f"Bearer {api_token(user)}"}


@pytest.fixture
def city(make_user, api_token):
    user = make_user("city", "city_admin")
    return {"Authorization": f"Bearer {api_token(user)}"}


def test_the_queue_groups_by_station_and_kind_newest_first_within_the_districts(app, reported, organizer, city):
    client = app.test_client()
    resp = client.get("/api/v1/admin/reports", headers=organizer)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "private, no-store"
    body = resp.get_json()
    assert [s["station_id"] for s in body["stations"]] == [OUHAI_2, OUHAI]  # newest report first; no 鹿城
    ouhai = body["stations"][1]
    assert ouhai["district_name"] == "瓯海区" and ouhai["open_reports"] == 3 and ouhai["name"]
    closed, moved = ouhai["groups"]
    assert (closed["kind"], closed["kind_zh"], closed["count"]) == ("closed", "已关闭", 2)
    assert closed["id"] == reported["ouhai_closed_2"]
    assert closed["report_ids"] == [reported["ouhai_closed_2"], reported["ouhai_closed_1"]]
    assert closed["notes"] == ["装修", "门关着"] and moved["count"] == 1
    everything = client.get("/api/v1/admin/reports", headers=city).get_json()
    assert {s["station_id"] for s in everything["stations"]} == {OUHAI, OUHAI_2, LUCHENG}
    only = client.get("/api/v1/admin/reports?district=330302", headers=city).get_json()
    assert [s["station_id"] for s in only["stations"]] == [LUCHENG]
    assert client.get("/api/v1/admin/reports?district=330302", headers=organizer).get_json()["count"] == 0
    assert client.get("/api/v1/admin/reports?district=999999", headers=city).status_code == 400


def test_resolving_closes_the_group_up_to_its_id_and_is_audited(app, roster, reported, organizer):
    client = app.test_client()
    group = reported["ouhai_closed_2"]
    later = _report(client, OUHAI, "closed")  # came in after the organizer looked: stays open
    resp = client.post(
        f"/api/v1/admin/reports/{group}/resolve",
        json={"action": "dismissed", "note": "已电话核实，正常营业"},
        headers=organizer,
    )
    assert resp.status_code == 200, resp.get_json()
    assert sorted(resp.get_json()["resolved"]) == sorted([reported["ouhai_closed_1"], group])
    feedback = app.extensions["feedback"]
    assert feedback.report(group).status == "dismissed" and feedback.report(group).resolved_by == "ouhai"
    assert feedback.report(later).status == "open" and feedback.report(reported["ouhai_moved"]).status == "open"
    record = roster.store.audit(OUHAI, limit=1)[0]
    assert (record.action, record.actor, record.via) == ("resolve_report", "ouhai", "api")
    assert record.after["resolution"] == "dismissed" and record.after["note"] == "已电话核实，正常营业"
    again = client.post(f"/api/v1/admin/reports/{group}/resolve", json={"action": "applied"}, headers=organizer)
    assert again.status_code == 409 and again.get_json()["detail_zh"]


def test_resolving_is_district_scoped_and_checked(app, reported, organizer, make_user, api_token):
    client = app.test_client()
    other = reported["lucheng_closed"]
    resp = client.post(f"/api/v1/admin/reports/{other}/resolve", json={"action": "applied"}, headers=organizer)
    assert resp.status_code == 403
    assert app.extensions["feedback"].report(other).status == "open"
    assert (
        client.post("/api/v1/admin/reports/999/resolve", json={"action": "applied"}, headers=organizer).status_code
        == 404
    )
    bad = client.post(
        f"/api/v1/admin/reports/{reported['ouhai_moved']}/resolve", json={"action": "ok"}, headers=organizer
    )
    assert bad.status_code == 422 and bad.get_json()["parameter"] == "action"
    huge = "/api/v1/admin/reports/99999999999999999999999/resolve"
    assert client.post(huge, json={"action": "applied"}, headers=organizer).status_code == 404
    listy = client.post(f"/api/v1/admin/reports/{other}/resolve", json={"action": ["applied"]}, headers=organizer)
    assert listy.status_code == 422
    viewer = {"Authorization": f"Bearer {api_token(make_user('v', 'viewer'))}"}
    assert client.get("/api/v1/admin/reports", headers=viewer).status_code == 200
    resp = client.post(f"/api/v1/admin/reports/{other}/resolve", json={"action": "applied"}, headers=viewer)
    assert resp.status_code == 403


def test_handle_opens_the_prefilled_edit_form_and_saving_resolves_the_group(app, roster, reported, make_user, login):
    make_user("ouhai", "district_organizer", ["330304"])
    web = login("ouhai")
    page = BeautifulSoup(web.get("/admin/reports").data, "html.parser")
    assert {s["data-station"] for s in page.select(".report-station")} == {OUHAI, OUHAI_2}
    assert "<script>alert(1)</script>" in page.select_one(f"[data-station='{OUHAI_2}'] .note").text  # text, escaped
    row = page.select_one(f"[data-station='{OUHAI}'] .report-group[data-kind='closed']")
    form_page = web.get(row.select_one("a.handle")["href"])
    form = BeautifulSoup(form_page.data, "html.parser")
    assert form.select_one("#report-banner") is not None and "已关闭" in form.select_one("#report-banner").text
    assert form.select_one("select[name=status] option[selected]")["value"] == "temporarily_closed"
    data = {}
    for el in form.select("#station-form input, #station-form select"):
        name = el.get("name")
        if not name:
            continue
        if el.name == "select":
            data[name] = (el.select_one("option[selected]") or el.select_one("option"))["value"]
        elif el.get("type") == "checkbox":
            if el.has_attr("checked"):
                data.setdefault(name, []).append(el["value"])
        else:
            data[name] = el.get("value", "")
    resp = web.post(f"/admin/stations/{OUHAI}", data=data)
    assert resp.status_code == 302
    assert roster.store.get(OUHAI).status == "temporarily_closed"
    feedback = app.extensions["feedback"]
    closed = feedback.report(reported["ouhai_closed_2"])
    edit = roster.store.audit(OUHAI, limit=2)
    assert closed.status == "applied" and closed.audit_id == next(r.id for r in edit if r.action == "update")
    assert feedback.report(reported["ouhai_closed_1"]).status == "applied"
    assert feedback.report(reported["ouhai_moved"]).status == "open"
    assert edit[0].action == "resolve_report" and edit[0].after["edit"] == closed.audit_id


def test_dismissing_from_the_queue_page(app, reported, make_user, login):
    make_user("ouhai", "district_organizer", ["330304"])
    web = login("ouhai")
    hostile = web.get(f"/admin/stations/{OUHAI}?report=99999999999999999999999&status=exploded")
    assert hostile.status_code == 200 and b"report-banner" not in hostile.data
    group = reported["ouhai_moved"]
    resp = web.post(f"/admin/reports/{group}/resolve", data={"csrf_token": web.csrf, "action": "dismissed", "note": ""})
    assert resp.status_code == 302
    assert app.extensions["feedback"].report(group).status == "dismissed"
    other = reported["lucheng_closed"]
    assert (
        web.post(f"/admin/reports/{other}/resolve", data={"csrf_token": web.csrf, "action": "dismissed"}).status_code
        == 403
    )


def test_keeper_changes_are_shown_to_their_district_organizer_only(app, roster, make_user, login):
    accounts = app.extensions["accounts"]
    accounts.create_user("shop", "station_keeper", (), hash_password("password123"), (OUHAI,))
    station = roster.store.get(OUHAI)
    roster.store.update(replace(station, hours="Mo-Fr 09:00-18:00"), expected_version=1, actor="shop", via="keeper")
    make_user("ouhai", "district_organizer", ["330304"])
    make_user("lucheng", "district_organizer", ["330302"])
    mine = BeautifulSoup(login("ouhai").get("/admin/reports").data, "html.parser").select(".keeper-change")
    assert [r["data-station"] for r in mine] == [OUHAI]
    assert "开放时间" in mine[0].text and "周一至周五 09:00-18:00" in mine[0].text and "shop" in mine[0].text
    assert BeautifulSoup(login("lucheng").get("/admin/reports").data, "html.parser").select(".keeper-change") == []


def test_an_organizer_confirms_a_station_as_it_stands(app, roster, make_user, login):
    station = roster.store.get(OUHAI)
    old = datetime(2025, 1, 1, tzinfo=UTC)
    roster.store.update(replace(station, verified_at=old), expected_version=1, actor="t", via="import")
    make_user("ouhai", "district_organizer", ["330304"])
    web = login("ouhai")
    form = BeautifulSoup(web.get(f"/admin/stations/{OUHAI}").data, "html.parser").select_one("#verify-form")
    data = {i["name"]: i.get("value", "") for i in form.select("input")}
    assert web.post(form["action"], data=data).status_code == 302
    assert roster.store.get(OUHAI).verified_at > old
    assert roster.store.audit(OUHAI, limit=1)[0].actor == "ouhai"
    lucheng = roster.store.get(LUCHENG)
    data["version"] = str(lucheng.version)
    assert web.post(f"/admin/stations/{LUCHENG}/verify", data=data).status_code == 403


# -- what is stale ---------------------------------------------------------------------------------------


def _age(roster, station_id, when):
    station = roster.store.get(station_id)
    return roster.store.update(
        replace(station, verified_at=when), expected_version=station.version, actor="t", via="import"
    )


def test_the_roster_health_and_the_map_filter_show_what_is_stale_and_reported(app, roster, make_user, login):
    _age(roster, OUHAI, datetime(2025, 1, 1, tzinfo=UTC))
    _age(roster, LUCHENG, datetime(2025, 1, 1, tzinfo=UTC))
    _report(app.test_client(), OUHAI_2, "amenities")
    make_user("ouhai", "district_organizer", ["330304"])
    web = login("ouhai")
    health = BeautifulSoup(web.get("/admin/health").data, "html.parser")
    assert [r["data-id"] for r in health.select(".health-stale tbody tr")] == [OUHAI]  # not 鹿城's
    assert health.select_one("#health-stale b").text == "1"
    assert [r["data-id"] for r in health.select(".health-reported tbody tr")] == [OUHAI_2]
    stale = web.get("/admin/map/data.json?show=stale")
    assert stale.status_code == 200 and stale.headers["Cache-Control"] == "private, no-store"
    assert [row[4] for row in stale.get_json()["stations"]] == [OUHAI]
    assert [row[4] for row in web.get("/admin/map/data.json?show=reports").get_json()["stations"]] == [OUHAI_2]
    page = BeautifulSoup(web.get("/admin/map?show=stale").data, "html.parser")
    assert page.select_one("#admin-map")["data-config"] and not page.select("script:not([src])")
    assert web.get("/admin/map?show=everything").status_code == 400
    city = make_user("city", "city_admin")
    assert city and {
        r["data-id"]
        for r in BeautifulSoup(login("city").get("/admin/health").data, "html.parser").select(".health-stale tbody tr")
    } == {OUHAI, LUCHENG}


def test_visit_statistics_per_district_with_a_chart(app, make_user, login):
    client = app.test_client()
    for station, n in ((OUHAI, 3), (OUHAI_2, 1), (LUCHENG, 2)):
        for _ in range(n):
            client.post(f"/api/v1/stations/{station}/confirmations")
    app.extensions["confirmations"].flush()
    make_user("ouhai", "district_organizer", ["330304"])
    web = login("ouhai")
    page = BeautifulSoup(web.get("/admin/visits?days=7&district=330304").data, "html.parser")
    rows = page.select("#visits-table tbody tr")
    assert [r["data-code"] for r in rows] == ["330304"]  # only the organizer's district
    assert rows[0].select_one(".total").text == "4"
    bars = rows[0].select("svg.visit-chart rect")
    assert len(bars) == 1 and "4 次" in bars[0].title.text
    stations = {r["data-id"]: r.select("td")[1].text for r in page.select(".visit-stations tbody tr")}
    assert stations[OUHAI] == "3" and stations[OUHAI_2] == "1"
    assert web.get("/admin/visits?days=8").status_code == 400
    assert web.get("/admin/visits?district=330302").status_code == 400  # not theirs
