"""Stations on the water: a warning (never a refusal) in validation, imports, the CLI and the edit form."""

from __future__ import annotations

import io
import json
from urllib.parse import urlparse

import pytest
from bs4 import BeautifulSoup

from locator.accounts import User
from locator.coords import CRS
from locator.formats import FORMATS
from locator.importing import commit, preview
from locator.shoreline import OFFSHORE_M, WATER_MESSAGE, load_land_mask

ADMIN = User(0, "tester", "city_admin")

# Offshore but inside a district (the outlines include sea): must warn.
OFF_DONGTOU = (120.9999, 27.9046)  # between 龙湾 and 洞头, in 330305, about 4.2 km from land (the point)
IN_YUEQING_BAY = (121.06, 28.13)  # 乐清湾, in 330382, about 2.3 km from the nearest shore
# On land: must not warn.
ON_LAND = (120.62, 27.975)  # 瓯海 中央商务区 (红骑瓯创·骑手驿站)
ON_DONGTOU_ISLAND = (121.1599, 27.8422)  # 洞头 北岙街道, on the island


@pytest.mark.parametrize(("point", "code"), [(OFF_DONGTOU, "330305"), (IN_YUEQING_BAY, "330382")])
def test_offshore_points_inside_districts_are_offshore(roster, point, code):
    mask = load_land_mask()
    assert roster.districts.district_of(*point) == code  # validation alone lets them through
    assert mask.distance_m(*point) > 1500
    assert mask.offshore(*point)


@pytest.mark.parametrize("point", [ON_LAND, ON_DONGTOU_ISLAND])
def test_points_on_land_are_not(point):
    mask = load_land_mask()
    assert mask.distance_m(*point) == 0.0
    assert not mask.offshore(*point)


def test_the_threshold_is_about_300_metres_from_the_shore():
    mask = load_land_mask()
    # walk from the 洞头 point to the nearest shore (洞头's 霓屿 island, 121.0321, 27.8792) and a little on
    shore = (121.0321, 27.8792)
    steps = [
        (OFF_DONGTOU[0] + (shore[0] - OFF_DONGTOU[0]) * t, OFF_DONGTOU[1] + (shore[1] - OFF_DONGTOU[1]) * t)
        for t in [i / 50 for i in range(56)]
    ]
    distances = [mask.distance_m(*p) for p in steps]
    flags = [mask.offshore(*p) for p in steps]
    assert flags[0] and not flags[-1]
    assert any(0 < d <= OFFSHORE_M for d in distances)  # on the water but near the shore: no warning
    assert flags == [d > OFFSHORE_M for d in distances]
    assert mask.offshore_many([p[0] for p in steps], [p[1] for p in steps]).tolist() == flags


def test_outside_the_masks_extent_nothing_is_said():
    mask = load_land_mask()
    assert mask.distance_m(116.4, 39.9) is None  # Beijing: the mask only knows Wenzhou
    assert not mask.offshore(116.4, 39.9)


def _raw(point, **kw):
    return {"name": "海上驿站", "type": "rider_station", "lng": point[0], "lat": point[1], **kw}


def test_validation_accepts_and_the_roster_warns(roster):
    station = roster.validate(_raw(OFF_DONGTOU))  # no StationInvalid: a warning is not an error
    (warning,) = roster.warnings(station)
    assert warning.field == "location" and warning.code == "water"
    assert warning.message.startswith(WATER_MESSAGE)  # 位置可能在水面上，请核对坐标
    assert "公里" in warning.message
    assert roster.warnings(roster.validate(_raw(ON_LAND))) == []
    confirmed = roster.validate(_raw(OFF_DONGTOU, location_confirmed="是"))
    assert confirmed.location_confirmed is True and roster.warnings(confirmed) == []


def _geojson(*stations) -> bytes:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lng, lat]},
            "properties": {"id": sid, "name": f"驿站 {sid}", "type": "rider_station", **props},
        }
        for sid, (lng, lat), props in stations
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode()


def test_import_preview_lists_warnings_apart_from_errors_and_imports(roster):
    data = _geojson(("w-1", OFF_DONGTOU, {}), ("w-2", IN_YUEQING_BAY, {}), ("w-3", ON_LAND, {}))
    result = preview(roster, data, FORMATS["geojson"], CRS.WGS84, user=ADMIN, replace=False)
    assert result.ok and not result.errors
    assert [(w.row, w.field) for w in result.warnings] == [(1, "location"), (2, "location")]
    body = result.as_json()
    assert body["ok"] is True and body["counts"]["warnings"] == 2 and body["counts"]["errors"] == 0
    assert body["warnings"][0]["message"].startswith(WATER_MESSAGE) and body["warnings"][0]["code"] == "water"
    summary = commit(roster, data, FORMATS["geojson"], CRS.WGS84, user=ADMIN, replace=False, token=result.token)
    assert sorted(summary.added) == ["w-1", "w-2", "w-3"]


def test_a_confirmed_station_is_not_asked_again_unless_it_moves(roster):
    data = _geojson(("w-1", OFF_DONGTOU, {"location_confirmed": True}))
    commit(roster, data, FORMATS["geojson"], CRS.WGS84, user=ADMIN, replace=False, token=None)
    assert roster.store.get("w-1").location_confirmed is True
    # a spreadsheet without the column keeps the confirmation of the unmoved station ...
    csv = "编号,名称,类型,经度,纬度\r\nw-1,驿站 w-1,骑手驿站,{},{}\r\n".format(*OFF_DONGTOU).encode("utf-8")
    again = preview(roster, csv, FORMATS["csv"], CRS.WGS84, user=ADMIN, replace=False)
    assert again.warnings == [] and again.unchanged == ["w-1"]
    # ... but not when it moves it: the new place is checked
    moved = csv.replace(str(OFF_DONGTOU[1]).encode(), b"27.9146")
    result = preview(roster, moved, FORMATS["csv"], CRS.WGS84, user=ADMIN, replace=False)
    assert [w.code for w in result.warnings] == ["water"]
    assert result.changed[0].diffs["location_confirmed"] == (True, False)
    # and a file that says "false" takes it back
    said = preview(roster, _geojson(("w-1", OFF_DONGTOU, {"location_confirmed": False})), FORMATS["geojson"],
                   CRS.WGS84, user=ADMIN, replace=False)  # fmt: skip
    assert len(said.warnings) == 1


@pytest.mark.parametrize("fmt", ["geojson", "csv", "xlsx", "kml", "gpkg"])
def test_the_confirmation_survives_an_export_import_round_trip(roster, fmt):
    data = _geojson(("w-1", OFF_DONGTOU, {"location_confirmed": True}), ("w-2", ON_LAND, {}))
    commit(roster, data, FORMATS["geojson"], CRS.WGS84, user=ADMIN, replace=False, token=None)
    exported = FORMATS[fmt].write(roster.store.list(), CRS.WGS84)
    again = preview(roster, exported, FORMATS[fmt], CRS.WGS84, user=ADMIN, replace=False)
    assert again.ok, again.errors
    assert again.warnings == []
    assert not again.changed and "w-1" in again.unchanged
    assert {s.id: s.location_confirmed for s in again.stations}["w-1"] is True


# -- the CLI ------------------------------------------------------------------------------------------


def _state(app):
    store = app.extensions["roster"].store
    return store.data_version(), store.count(), len(store.audit(limit=10**6))


def test_cli_import_prints_warnings_and_exits_0(app, tmp_path):
    path = tmp_path / "roster.geojson"
    path.write_bytes(_geojson(("w-1", OFF_DONGTOU, {}), ("w-2", ON_LAND, {})))
    result = app.test_cli_runner().invoke(args=["import", str(path), "--crs", "wgs84"])
    assert result.exit_code == 0, result.output
    assert f"warning: row 1: location: {WATER_MESSAGE}" in result.output
    assert "row 2" not in result.output
    assert "2 added" in result.output
    assert app.extensions["roster"].store.get("w-1").lng == OFF_DONGTOU[0]


def test_cli_import_strict_refuses_and_writes_nothing(app, tmp_path):
    path = tmp_path / "roster.geojson"
    path.write_bytes(_geojson(("w-1", OFF_DONGTOU, {}), ("w-2", ON_LAND, {})))
    before = _state(app)
    result = app.test_cli_runner().invoke(args=["import", str(path), "--crs", "wgs84", "--strict"])
    assert result.exit_code == 1
    assert "1 warning(s) and --strict: nothing was imported" in result.output
    assert _state(app) == before
    land_only = tmp_path / "land.geojson"
    land_only.write_bytes(_geojson(("w-2", ON_LAND, {})))
    ok = app.test_cli_runner().invoke(args=["import", str(land_only), "--crs", "wgs84", "--strict"])
    assert ok.exit_code == 0, ok.output


# -- the admin pages and the token API -----------------------------------------------------------------


def test_admin_import_preview_page_shows_warnings_and_still_offers_the_commit(make_user, login):
    make_user("boss", "city_admin")
    web = login("boss")
    form = {
        "csrf_token": web.csrf,
        "crs": "wgs84",
        "file": (io.BytesIO(_geojson(("w-1", IN_YUEQING_BAY, {}))), "r.geojson"),
    }
    resp = web.post("/admin/import/preview", data=form, content_type="multipart/form-data")
    assert resp.status_code == 200
    page = BeautifulSoup(resp.data, "html.parser")
    assert page.select_one("#n-warnings").get_text() == "1" and page.select_one("#n-errors").get_text() == "0"
    cells = [td.get_text() for td in page.select("tr.row-warning td")]
    assert cells[:2] == ["1", "位置"] and cells[2].startswith(WATER_MESSAGE)  # the column named in Chinese
    assert page.select_one("#commit-form") is not None


def test_token_api_import_reports_warnings_in_the_dry_run_and_the_commit(app, roster, make_user, api_token):
    token = api_token(make_user("bot", "city_admin"))
    client = app.test_client()
    data = _geojson(("w-1", OFF_DONGTOU, {}))

    def post(**fields):
        form = {"crs": "wgs84", "file": (io.BytesIO(data), "r.geojson"), **fields}
        headers = {"Authorization": f"Bearer {token}"}
        return client.post("/api/v1/admin/import", data=form, headers=headers, content_type="multipart/form-data")

    dry = post(dry_run="1")
    assert dry.status_code == 200 and dry.json["ok"] is True
    assert dry.json["warnings"][0]["row"] == 1 and dry.json["warnings"][0]["message"].startswith(WATER_MESSAGE)
    done = post(preview_token=dry.json["preview_token"])
    assert done.status_code == 200 and done.json["summary"]["added"] == 1
    assert [w["code"] for w in done.json["warnings"]] == ["water"]


def _form(page_html: bytes) -> dict:
    page = BeautifulSoup(page_html, "html.parser")
    data: dict = {}
    for el in page.select("#station-form input, #station-form select"):
        name = el.get("name")
        if not name:
            continue
        if el.name == "select":
            chosen = el.select_one("option[selected]") or el.select_one("option")
            data[name] = chosen.get("value", "")
        elif el.get("type") == "checkbox":
            if el.has_attr("checked"):
                data.setdefault(name, []).append(el["value"])
        else:
            data[name] = el.get("value", "")
    return data


def test_edit_form_saves_warns_records_the_confirmation_and_asks_again_after_a_move(roster, make_user, login):
    make_user("boss", "city_admin")
    web = login("boss")
    new = _form(web.get("/admin/stations/new").data)
    new.update(name="海上驿站", lng=str(OFF_DONGTOU[0]), lat=str(OFF_DONGTOU[1]), crs="wgs84")
    resp = web.post("/admin/stations/new", data=new)
    assert resp.status_code == 302  # saved: a warning never refuses
    station = next(s for s in roster.store.list() if s.name == "海上驿站")
    page = BeautifulSoup(web.get(f"/admin/stations/{station.id}").data, "html.parser")
    assert page.select_one("#location-warnings").get_text().strip().startswith(WATER_MESSAGE)
    box = page.select_one("#location-confirmed")
    assert not box.has_attr("checked")

    form = _form(web.get(f"/admin/stations/{station.id}").data)
    form["location_confirmed"] = box["value"]  # the organizer ticks "已核对"
    assert web.post(f"/admin/stations/{station.id}", data=form).status_code == 302
    assert roster.store.get(station.id).location_confirmed is True
    page = BeautifulSoup(web.get(f"/admin/stations/{station.id}").data, "html.parser")
    assert page.select_one("#location-warnings") is None
    assert page.select_one("#location-confirmed").has_attr("checked")  # shown, so it can be taken back
    audit = roster.store.audit(station.id)[0]
    assert audit.before["location_confirmed"] is False and audit.after["location_confirmed"] is True

    # moving the station (box still ticked for the old place) drops the confirmation: asked again
    form = _form(web.get(f"/admin/stations/{station.id}").data)
    form["lat"] = "27.9146"
    assert web.post(f"/admin/stations/{station.id}", data=form).status_code == 302
    assert roster.store.get(station.id).location_confirmed is False
    page = BeautifulSoup(web.get(f"/admin/stations/{station.id}").data, "html.parser")
    assert page.select_one("#location-warnings") is not None


def test_edit_form_on_land_shows_no_warning_nor_box(roster, make_user, login):
    make_user("boss", "city_admin")
    web = login("boss")
    page = BeautifulSoup(web.get("/admin/stations/rs-330304-001").data, "html.parser")
    assert page.select_one("#location-warnings") is None and page.select_one("#location-confirmed") is None


@pytest.mark.browser
def test_an_organizer_confirms_a_location_in_the_browser(browser_page, make_user, roster):
    """The edit form shows the water warning; ticking 已核对 and saving records it and the warning goes."""
    make_user("boss", "city_admin")
    station = roster.store.create(roster.validate(_raw(OFF_DONGTOU, id="sea-1")), actor="t", via="edit")
    page = browser_page.page
    page.goto(browser_page.base_url + f"/admin/login?next=/admin/stations/{station.id}")
    page.fill("input[name=name]", "boss")
    page.fill("input[name=password]", "password123")
    page.locator("#login-form button[type=submit]").tap()
    page.wait_for_url(f"**/admin/stations/{station.id}")
    assert page.locator("#location-warnings").inner_text().startswith(WATER_MESSAGE)
    browser_page.screenshot("admin-water-warning")
    page.locator("#location-confirmed").tap()
    page.locator("#station-form button[type=submit]").tap()
    page.wait_for_url("**saved=1")
    assert page.locator("#location-warnings").count() == 0
    assert page.locator("#location-confirmed").is_checked()
    assert roster.store.get(station.id).location_confirmed is True
    # only the location picker's basemap tiles (AMap, the default basemap) come from elsewhere (blocked here)
    hosts = {urlparse(u).hostname or "" for u in browser_page.foreign_requests}
    assert all(h.endswith(".is.autonavi.com") for h in hosts), hosts
