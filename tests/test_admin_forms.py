"""The station form keeps what was typed, speaks the offices' writing, and the audit reads in Beijing time."""

from __future__ import annotations

import sqlite3

import pytest
from bs4 import BeautifulSoup

from locator.coords import CRS, from_wgs84, to_wgs84
from tests.test_admin_edit import _form

LUCHENG = (120.661195, 28.019967)


@pytest.fixture
def boss(make_user, login):
    """A logged-in city administrator."""
    make_user("boss", "city_admin")
    return login("boss")


def _values(html: bytes) -> dict:
    """What the form shows: text inputs' values, selected options, checked boxes."""
    return _form(html, "station-form")


TYPED = {
    "name": "新站（测试）",
    "type": "party_home",
    "district": "330302",
    "address": "温州市鹿城区某路 8 号",
    "hours": "周一至周五 9:00-18:00，周六 9:00-12:00；节假日休息",
    "contact": "0577-12345678",
    "operator": "某街道",
    "status": "temporarily_closed",
    "closed_until": "2030-01-31",
    "note": "二楼",
    "crs": "gcj02",
    "amenities": ["water", "microwave"],
}


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"lng": "东边", "lat": "28.02"}, "lng"),
        ({"lng": "28.02", "lat": "120.66"}, "lat"),
        ({"lng": "116.4", "lat": "39.9"}, "location"),
        ({"hours": "周八 9:00-17:00"}, "hours"),
        ({"name": ""}, "name"),
        ({"pair": "20.5,30.5"}, "coordinates"),
        ({"district": "330304"}, "district"),
    ],
)
def test_new_station_form_keeps_everything_typed_on_an_error(boss, roster, broken, field):
    """Whatever the error, the form comes back with every field as typed (selects and boxes included)."""
    data = {"csrf_token": boss.csrf, "lng": str(LUCHENG[0]), "lat": str(LUCHENG[1]), "pair": "", **TYPED, **broken}
    if broken.get("district") == "330304":
        data["crs"] = "wgs84"
    resp = boss.post("/admin/stations/new", data=data)
    assert resp.status_code == 422
    page = BeautifulSoup(resp.data, "html.parser")
    assert page.select_one(f"#form-errors li[data-field={field}]") is not None
    shown = _values(resp.data)
    for key, value in data.items():
        if key in ("csrf_token",):
            continue
        if key == "amenities":
            assert sorted(shown.get(key, [])) == sorted(value)
        else:
            assert shown.get(key, "") == value, key
    assert roster.store.count() == 200


def test_edit_form_keeps_typed_values_not_the_stored_ones(boss, roster):
    """An edit with one bad field shows the organizer's other changes, not the stored values."""
    station = roster.store.list()[0]
    form = _values(boss.get(f"/admin/stations/{station.id}").data)
    form.update(name="改过的名字", address="改过的地址", lat="abc", amenities=["toilet"])
    resp = boss.post(f"/admin/stations/{station.id}", data=form)
    assert resp.status_code == 422
    shown = _values(resp.data)
    assert shown["name"] == "改过的名字" and shown["address"] == "改过的地址"
    assert shown["lat"] == "abc" and shown["amenities"] == ["toilet"]
    assert roster.store.get(station.id) == station


def test_hours_are_shown_in_chinese_and_saved_unchanged(boss, roster):
    """The form shows the stored hours in Chinese; saving it untouched keeps the stored text (no audit change)."""
    station = next(s for s in roster.store.list() if s.hours and s.hours != "24/7")
    assert station.hours
    page = boss.get(f"/admin/stations/{station.id}").data
    form = _values(page)
    assert form["hours"] and form["hours"].isascii() is False  # 周一至周日 08:00-20:00, not Mo-Su
    form["note"] = "只改备注"
    assert boss.post(f"/admin/stations/{station.id}", data=form).status_code == 302
    saved = roster.store.get(station.id)
    assert saved.hours == station.hours and saved.note == "只改备注"
    changed = roster.store.audit(station.id)[0]
    assert changed.before["hours"] == changed.after["hours"]


def test_hours_typed_the_office_way_are_stored_in_the_grammar(boss, roster):
    """周一至周五 9:00-18:00，周六 9:00-12:00；节假日休息 is stored as the controlled form and shown back in Chinese."""
    station = roster.store.list()[0]
    form = _values(boss.get(f"/admin/stations/{station.id}").data)
    form["hours"] = "周一至周五 9:00-18:00，周六 9:00-12:00；节假日休息"
    assert boss.post(f"/admin/stations/{station.id}", data=form).status_code == 302
    assert roster.store.get(station.id).hours == "Mo-Fr 09:00-18:00; Sa 09:00-12:00; PH off"
    shown = _values(boss.get(f"/admin/stations/{station.id}").data)
    assert shown["hours"] == "周一至周五 09:00-18:00；周六 09:00-12:00；节假日休息"


def test_a_pair_pasted_from_amap_is_stored_as_wgs84(boss, roster):
    """ "120.667…,28.017…" from AMap's picker (GCJ-02) in the paste box: stored as the WGS-84 point it names."""
    station = roster.store.list()[0]
    gx, gy = from_wgs84(*LUCHENG, CRS.GCJ02)
    form = _values(boss.get(f"/admin/stations/{station.id}").data)
    form.update(pair=f"{gx:.6f}，{gy:.6f}", crs="gcj02", lng="", lat="", district="")
    assert boss.post(f"/admin/stations/{station.id}", data=form).status_code == 302
    saved = roster.store.get(station.id)
    wx, wy = to_wgs84(round(gx, 6), round(gy, 6), CRS.GCJ02)
    assert abs(saved.lng - wx) < 1e-7 and abs(saved.lat - wy) < 1e-7


def test_an_ambiguous_pair_asks_which_is_the_longitude(boss, roster):
    """Two numbers that could each be the longitude: the form asks, and saves once the choice is made."""
    station = roster.store.list()[0]
    form = _values(boss.get(f"/admin/stations/{station.id}").data)
    form.update(pair="20.5,30.5", lng="", lat="")
    resp = boss.post(f"/admin/stations/{station.id}", data=form)
    page = BeautifulSoup(resp.data, "html.parser")
    assert resp.status_code == 422 and not page.select_one("#pair-order").has_attr("hidden")
    assert "哪个数是经度" in page.select_one("#form-errors").get_text()


def test_degrees_minutes_seconds_in_the_fields(boss, roster):
    """120°39′40.3″ and 北纬28°01′11.9″ in the two fields save as decimal degrees."""
    station = roster.store.list()[0]
    form = _values(boss.get(f"/admin/stations/{station.id}").data)
    form.update(lng="120°39′40.3″", lat="北纬28°01′11.9″", crs="wgs84", district="")
    assert boss.post(f"/admin/stations/{station.id}", data=form).status_code == 302
    saved = roster.store.get(station.id)
    assert saved.lng == pytest.approx(120 + 39 / 60 + 40.3 / 3600, abs=1e-7)
    assert saved.lat == pytest.approx(28 + 1 / 60 + 11.9 / 3600, abs=1e-7)


def test_outside_wenzhou_under_wgs84_but_inside_as_gcj02_says_so(boss, roster):
    """A point outside Wenzhou that falls inside once read as GCJ-02: the error names the system to choose."""
    districts = roster.districts

    def candidates():
        for polygon in districts.outline.geoms:
            for x, y in list(polygon.exterior.coords)[::5]:
                for dx, dy in ((-0.004, 0), (0.004, 0), (0, -0.004), (0, 0.004)):
                    yield x + dx, y + dy

    for inside in candidates():
        gx, gy = (float(v) for v in from_wgs84(*inside, CRS.GCJ02))
        if districts.district_of(*inside) and not districts.district_of(gx, gy):
            bx, by = (float(v) for v in to_wgs84(gx, gy, CRS.BD09))
            if not districts.district_of(bx, by):
                break
    else:
        raise AssertionError("no point on the outline that only GCJ-02 explains")
    station = roster.store.list()[0]
    form = _values(boss.get(f"/admin/stations/{station.id}").data)
    form.update(lng=f"{gx:.7f}", lat=f"{gy:.7f}", crs="wgs84", district="")
    resp = boss.post(f"/admin/stations/{station.id}", data=form)
    text = BeautifulSoup(resp.data, "html.parser").select_one("#form-errors").get_text()
    assert resp.status_code == 422 and "GCJ-02（高德地图、腾讯地图、微信）" in text


def test_audit_times_are_beijing_time_with_their_offset(app, boss, roster):
    """A change at 00:17 UTC shows as 08:17 (北京时间) on the page, with +08:00 in the time element and downloads."""
    station = roster.store.list()[0]
    form = _values(boss.get(f"/admin/stations/{station.id}").data)
    form["address"] = "新地址"
    boss.post(f"/admin/stations/{station.id}", data=form)
    record = roster.store.audit(station.id)[0]
    db = sqlite3.connect(roster.store.path)
    db.execute("UPDATE audit SET at = ? WHERE id = ?", ("2026-11-30T00:17:05+00:00", record.id))
    db.commit()
    db.close()
    page = BeautifulSoup(boss.get(f"/admin/stations/{station.id}/audit").data, "html.parser")
    assert page.h1.get_text() == f"修改记录：{station.name}"
    first = page.select_one(".audit-record")
    assert first.time["datetime"] == "2026-11-30T08:17:05+08:00"
    assert first.time.get_text() == "2026-11-30 08:17"
    assert "北京时间" in page.select_one(".hint").get_text()
    assert first.select_one(".audit-action").get_text() == "修改"
    row = first.select_one("tr.change[data-field=address]")
    assert [c.get_text() for c in row.select("th, td")] == ["地址", station.address, "新地址"]
    data = boss.get(f"/admin/audit/export?station_id={station.id}&format=json").json
    assert data[0]["at"] == "2026-11-30T08:17:05+08:00"


def test_audit_shows_every_changed_field_with_its_old_value_in_chinese(boss, roster):
    """Type, amenities, status and district read as labels and names, before → after; none of the Python reprs."""
    station = next(s for s in roster.store.list() if s.type == "rider_station" and s.status == "open")
    form = _values(boss.get(f"/admin/stations/{station.id}").data)
    form.update(type="demo_site", amenities=["toilet", "wifi"], status="temporarily_closed", closed_until="2031-02-01")
    boss.post(f"/admin/stations/{station.id}", data=form)
    record = BeautifulSoup(boss.get(f"/admin/stations/{station.id}/audit").data, "html.parser").select_one(
        ".audit-record"
    )
    rows = {tr["data-field"]: [c.get_text() for c in tr.select("td")] for tr in record.select("tr.change")}
    assert rows["type"][1] == "示范点" and rows["status"] == ["正常开放", "暂停开放"]
    assert rows["amenities"][1] == "卫生间、无线网络"
    assert rows["closed_until"] == ["（空）", "2031-02-01"]
    text = record.get_text()
    assert "None" not in text and "[" not in text and "update" not in text
