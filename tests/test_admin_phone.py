"""The organizer pages in real Chromium on a phone (375×812, touch, WeChat's user agent): real taps.

Delete → confirm → 已删除 → 撤销; the location picker on AMap's GCJ-02 tiles (a pasted AMap
coordinate lands on the spot, failing tiles show a notice); every admin page passes axe-core
(colour contrast of every button included) and fits the screen.
"""

from __future__ import annotations

import pytest

from locator.coords import CRS, from_wgs84, to_wgs84
from tests.browser_tools import Phone, axe_violations, describe, phone_context, too_small_targets

pytestmark = pytest.mark.browser


@pytest.fixture
def organizer(chromium, live_server, make_user):
    """A city administrator logged in on a WeChat phone (tiles answered with a grey image)."""
    make_user("boss", "city_admin")
    context = phone_context(chromium)
    phone = Phone(context, live_server.url)
    _log_in(phone)
    yield phone
    context.close()


def _log_in(phone: Phone, name: str = "boss", password: str = "password123") -> None:
    page = phone.page
    phone.goto("/admin/login")
    page.locator("input[name=name]").tap()
    page.keyboard.type(name)
    page.locator("input[name=password]").tap()
    page.keyboard.type(password)
    page.locator("#login-form button[type=submit]").tap()
    page.wait_for_url("**/admin/")


def test_delete_asks_then_says_deleted_and_undo_restores(organizer, roster):
    """Tap 删除站点… → a page asks (name shown) → 确认删除 → 已删除「…」 → 撤销 → the station is back."""
    station = next(s for s in roster.store.list() if s.type == "rider_station")
    page = organizer.page
    organizer.goto(f"/admin/stations/{station.id}")
    page.locator("#delete-link").tap()
    page.wait_for_url(f"**/admin/stations/{station.id}/delete")
    assert page.locator("#confirm-title").inner_text() == f"删除站点「{station.name}」？"
    assert roster.store.get(station.id) == station  # nothing happens on the first tap
    organizer.screenshot("admin-delete-confirm")
    page.locator("#confirm-delete").tap()
    page.wait_for_selector("#deleted-notice")
    assert page.locator("#deleted-notice").inner_text().startswith(f"已删除「{station.name}」。")
    assert roster.snapshot().get(station.id) is None
    organizer.screenshot("admin-deleted-undo")
    page.locator("#undo").tap()
    page.wait_for_selector("#saved")
    assert page.locator("#saved").inner_text() == "已撤销删除，站点已恢复。"
    restored = roster.store.get(station.id)
    assert restored.record() == station.record()
    assert [r.via for r in roster.store.audit(station.id)[:2]] == ["restore", "edit"]
    assert organizer.errors == [] and organizer.foreign == []


def test_cancel_keeps_the_station(organizer, roster):
    """取消 on the question goes back to the station, nothing deleted."""
    station = roster.store.list()[3]
    organizer.goto(f"/admin/stations/{station.id}/delete")
    organizer.page.locator("#cancel-delete").tap()
    organizer.page.wait_for_url(f"**/admin/stations/{station.id}")
    assert roster.store.get(station.id) == station


def _marker(page) -> tuple[float, float]:
    """The marker's place on the basemap (lng, lat) as the picker reports it."""
    page.wait_for_function("document.getElementById('picker').dataset.markerLat !== undefined")
    data = page.eval_on_selector("#picker", "e => [e.dataset.markerLng, e.dataset.markerLat]")
    return float(data[0]), float(data[1])


def test_picker_shows_the_station_on_amap_tiles_shifted_to_gcj02(organizer, roster):
    """On AMap (GCJ-02) tiles the stored WGS-84 point is drawn where AMap has it: shifted by ~500 m."""
    station = roster.store.list()[0]
    organizer.goto(f"/admin/stations/{station.id}")
    x, y = _marker(organizer.page)
    gx, gy = from_wgs84(station.lng, station.lat, CRS.GCJ02)
    assert abs(x - gx) < 2e-7 and abs(y - gy) < 2e-7
    assert any("autonavi.com" in url for url in organizer.tile_requests)


def test_a_coordinate_pasted_from_amaps_picker_lands_on_the_spot(organizer, roster):
    """Paste AMap's "lng,lat" with GCJ-02 chosen: the marker stands at that GCJ-02 point, the saved point is its
    WGS-84 equivalent."""
    station = roster.store.list()[0]
    page = organizer.page
    organizer.goto(f"/admin/stations/{station.id}")
    target = (120.667512, 28.017210)  # GCJ-02, as AMap's coordinate picker copies it (鹿城区)
    page.locator("#crs").select_option("gcj02")
    page.locator("#pair").tap()
    page.keyboard.insert_text(f"{target[0]:.6f},{target[1]:.6f}")
    x, y = _marker(page)
    assert abs(x - target[0]) < 1e-7 and abs(y - target[1]) < 1e-7
    assert page.locator("#lng").input_value() == f"{target[0]:.6f}".rstrip("0")
    page.locator("#save").tap()
    page.wait_for_selector("#saved")
    saved = roster.store.get(station.id)
    wx, wy = to_wgs84(*target, CRS.GCJ02)
    assert abs(saved.lng - wx) < 1e-7 and abs(saved.lat - wy) < 1e-7
    assert organizer.errors == []


def test_tapping_the_map_writes_the_basemaps_coordinates(organizer, roster):
    """A tap on AMap tiles writes GCJ-02 coordinates with GCJ-02 chosen; they save as the WGS-84 point."""
    station = roster.store.list()[0]
    page = organizer.page
    organizer.goto(f"/admin/stations/{station.id}")
    page.locator("#picker").scroll_into_view_if_needed()
    box = page.locator("#picker").bounding_box()
    page.touchscreen.tap(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
    page.wait_for_function("document.getElementById('crs').value === 'gcj02'", timeout=5000)
    lng, lat = float(page.locator("#lng").input_value()), float(page.locator("#lat").input_value())
    x, y = _marker(page)
    assert abs(lng - x) < 1e-6 and abs(lat - y) < 1e-6


def test_tiles_that_fail_show_a_notice(chromium, live_server, make_user, roster):
    """No basemap (tiles refused): the picker says so in Chinese, and coordinates can still be typed."""
    make_user("boss", "city_admin")
    context = phone_context(chromium)
    phone = Phone(context, live_server.url, tiles="refused")
    try:
        _log_in(phone)
        phone.goto(f"/admin/stations/{roster.store.list()[0].id}")
        phone.page.wait_for_selector("#tiles-failed:not([hidden])")
        assert "地图底图没有加载出来" in phone.page.locator("#tiles-failed").inner_text()
        phone.screenshot("admin-picker-tiles-failed")
    finally:
        context.close()


def test_page_coordinates_equal_the_servers(organizer):
    """coords.js gives the same GCJ-02/BD-09 conversions as locator.coords (to 1e-9 degrees)."""
    organizer.goto("/admin/stations/new")
    points = [(120.0 + i * 0.17, 27.0 + j * 0.16) for i in range(8) for j in range(8)]
    page_out = organizer.page.evaluate(
        """(pts) => pts.map(p => [LocatorCoords.convert(p[0], p[1], "wgs84", "gcj02"),
                                   LocatorCoords.convert(p[0], p[1], "gcj02", "wgs84"),
                                   LocatorCoords.convert(p[0], p[1], "bd09", "wgs84"),
                                   LocatorCoords.convert(p[0], p[1], "bd09", "gcj02")])""",
        points,
    )
    from locator.coords import bd09_to_gcj02

    for (x, y), (gcj, wgs, bd_wgs, bd_gcj) in zip(points, page_out, strict=True):
        for got, want in (
            (gcj, from_wgs84(x, y, CRS.GCJ02)),
            (wgs, to_wgs84(x, y, CRS.GCJ02)),
            (bd_wgs, to_wgs84(x, y, CRS.BD09)),
            (bd_gcj, bd09_to_gcj02(x, y)),
        ):
            assert abs(got[0] - want[0]) < 1e-8 and abs(got[1] - want[1]) < 1e-8


def test_admin_pages_pass_axe_and_fit_a_phone(organizer, roster):
    """axe-core (serious and critical, colour contrast of every button included) and 375 px: every admin page."""
    station = roster.store.list()[0]
    organizer.goto(f"/admin/stations/{station.id}/delete")
    organizer.page.locator("#confirm-delete").tap()
    organizer.page.wait_for_selector("#deleted-notice")
    deleted_list = organizer.page.url
    paths = [
        "/admin/",
        deleted_list,
        "/admin/stations/new",
        f"/admin/stations/{roster.store.list()[1].id}",
        f"/admin/stations/{roster.store.list()[1].id}/delete",
        f"/admin/stations/{station.id}/audit",
        "/admin/import",
        "/admin/users",
        "/admin/account/password",
    ]
    problems = {}
    for path in paths:
        if path.startswith("http"):
            organizer.page.goto(path)
        else:
            organizer.goto(path)
        organizer.page.wait_for_load_state("load")
        found = axe_violations(organizer.page)
        wide = organizer.page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
        small = too_small_targets(organizer.page, "button, select, input:not([type=hidden]):not([type=file])")
        if found or wide or small:
            problems[path] = {"axe": describe(found), "wider than the screen": wide, "small targets": small}
    assert problems == {}
    organizer.goto("/admin/")
    organizer.screenshot("admin-dashboard")
