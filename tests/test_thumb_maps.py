"""The maps under a thumb (issue 15): real taps on real markers and clusters on /map and /embed in a WeChat
phone context, mouse clicks on a desktop, keyboard-only use, no badge under another at any zoom, the
tiles-failed and locate-denied notices, Chinese metric controls, axe-core. Nothing is opened from JavaScript:
taps (`locator.tap()`), clicks and key presses only; scripts only move the view or read the page.
"""

from __future__ import annotations

import re

import pytest

from locator.stations import STATION_TYPES
from tests.browser_tools import OVERLAPS_JS, Phone, axe_violations, describe, phone_context, phone_page

pytestmark = pytest.mark.browser
TYPE_ZH = {t.key: t.zh for t in STATION_TYPES.values()}


@pytest.fixture
def phone(chromium, live_server):
    """A WeChat phone page against the seeded live server."""
    yield from phone_page(chromium, live_server)


MAPS = ["/map", "/embed"]


def zoom(ph: Phone) -> int:
    return int(ph.page.locator(".folium-map").get_attribute("data-zoom"))


def tap_clusters_until_a_station(ph: Phone, tap=None) -> list[int]:
    """Tap the biggest visible cluster until station markers show; returns the zooms passed."""
    page = ph.page
    tap = tap or (lambda loc: loc.tap())
    zooms = [zoom(ph)]
    for _ in range(14):
        if page.locator(".lm-marker").count():
            return zooms
        badges = page.locator(".lm-cluster")
        counts = [int(t) for t in badges.locator(".lm-count").all_inner_texts()]
        assert counts, "neither markers nor clusters are drawn"
        before = zooms[-1]
        tap(badges.nth(counts.index(max(counts))))
        page.wait_for_function(f"() => +document.querySelector('.folium-map').dataset.zoom > {before}", timeout=5000)
        page.wait_for_timeout(350)  # the zoom animation ends, markers are redrawn
        zooms.append(zoom(ph))
    raise AssertionError(f"no station marker after tapping clusters through zooms {zooms}")


def first_marker_in_view(ph: Phone):
    """A station marker well inside the map (not under a control or the card), centring one if need be."""
    page = ph.page

    area = page.locator(".folium-map").bounding_box()
    x0, x1 = area["x"] + 60, area["x"] + area["width"] - 110
    y0, y1 = area["y"] + 140, area["y"] + area["height"] - 290

    def central():
        markers = page.locator(".lm-marker")
        for i in range(markers.count()):
            box = markers.nth(i).bounding_box()
            if box and x0 < box["x"] < x1 and y0 < box["y"] < y1:
                return markers.nth(i)
        return None

    found = central()
    if found is None:
        # Centre the first marker (a script may move the view; it never opens anything).
        key = page.locator(".lm-marker").first.get_attribute("data-key")
        page.evaluate(
            "(k) => { const m = LocatorMap.last, r = m.locatorRows[+k.slice(1)]; m.setView([r[0], r[1]], m.getZoom(),"
            " {animate: false}); }",
            key,
        )
        page.wait_for_timeout(300)
        found = central()
    assert found is not None, "no station marker could be brought into view"
    return found


@pytest.mark.parametrize("path", MAPS)
def test_tapping_clusters_zooms_in_and_tapping_a_station_opens_its_card(phone, roster, path):
    phone.open_map(path)
    page = phone.page
    zooms = tap_clusters_until_a_station(phone)
    assert len(zooms) >= 2 and zooms == sorted(zooms) and len(set(zooms)) == len(zooms), zooms
    marker = first_marker_in_view(phone)
    name = marker.get_attribute("aria-label").rsplit("（", 1)[0]
    marker.tap()
    page.wait_for_selector(".sc-sheet .sc-state .status", timeout=10000)
    sheet = page.locator(".sc-sheet")
    assert sheet.locator(".sc-name").inner_text() == name
    station = next(s for s in roster.snapshot().stations if s.name == name)
    assert sheet.locator(".sc-type").inner_text() == TYPE_ZH[station.type]
    assert re.match(r"^(营业中|未营业|暂停开放|已关闭)", sheet.locator(".status").inner_text())
    assert sheet.locator(".hours").inner_text()
    assert sheet.locator(".sc-more").get_attribute("href") == f"/stations/{station.id}"
    # 导航 (WeChat without a configured JS-SDK): the map-app links unfold under a tap.
    sheet.locator("summary.nav-button").tap()
    amap = sheet.locator("a.nav-amap")
    assert amap.is_visible() and amap.get_attribute("href").startswith("https://uri.amap.com/navigation?")
    assert sheet.locator("a.nav-baidu").is_visible() and sheet.locator("a.nav-tencent").is_visible()
    phone.screenshot(f"thumb-card{path.replace('/', '-')}")
    sheet.locator(".sc-close").tap()
    assert not sheet.is_visible()
    assert phone.errors == [] and phone.foreign == []


def test_station_page_link_in_the_card_opens_the_station(phone):
    phone.open_map("/embed?type=rider_station&district=330304")
    tap_clusters_until_a_station(phone)
    first_marker_in_view(phone).tap()
    link = phone.page.locator(".sc-sheet .sc-more")
    link.wait_for(timeout=10000)
    href = link.get_attribute("href")
    link.tap()
    phone.page.wait_for_url(f"**{href}")
    assert phone.page.locator("h1.station-name, h2.station-name").count() == 1


def test_mouse_clicks_work_on_a_desktop(chromium, live_server):
    context = phone_context(
        chromium, user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/120", viewport={"width": 1280, "height": 800},
        touch=False,
    )  # fmt: skip
    try:
        desk = Phone(context, live_server.url)
        desk.open_map("/map")
        tap_clusters_until_a_station(desk, tap=lambda loc: loc.click())
        first_marker_in_view(desk).click()
        desk.page.wait_for_selector(".sc-sheet .sc-state .status", timeout=10000)
        assert desk.page.locator(".sc-sheet summary.nav-button").is_visible()
    finally:
        context.close()


def test_keyboard_only_tab_and_enter(phone):
    phone.open_map("/embed?type=rider_station&district=330304")
    page = phone.page
    reached = None
    for _ in range(40):
        page.keyboard.press("Tab")
        cls = page.evaluate("() => document.activeElement.className || ''")
        if "lm-cluster" in cls or "lm-marker" in cls:
            reached = cls
            break
    assert reached, "Tab never reached a marker or a cluster"
    for _ in range(14):
        cls = page.evaluate("() => document.activeElement.className || ''")
        if "lm-marker" in cls:
            break
        before = zoom(phone)
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => +document.querySelector('.folium-map').dataset.zoom > {before}", timeout=5000)
        page.wait_for_timeout(350)
        # After the zoom, Tab again to the first marker or cluster.
        page.locator(".leaflet-container").focus()
        for _ in range(60):
            page.keyboard.press("Tab")
            cls = page.evaluate("() => document.activeElement.className || ''")
            if "lm-marker" in cls or "lm-cluster" in cls:
                break
    assert "lm-marker" in page.evaluate("() => document.activeElement.className")
    page.keyboard.press("Enter")
    page.wait_for_selector(".sc-sheet .sc-state .status", timeout=10000)
    assert page.evaluate("() => document.activeElement.className") == "sc-close"
    page.keyboard.press("Tab")  # into the card: 导航 …
    page.keyboard.press("Escape")
    assert not page.locator(".sc-sheet").is_visible()


def add_dense_block(roster, n=80, seed=15):
    """n stations of mixed types scattered within about 1.5 km, some only metres apart (a crowded market)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    kinds = ["rider_station", "party_home", "demo_site", "finance_station"]
    lng = 120.655 + rng.normal(0, 0.006, n)
    lat = 28.015 + rng.normal(0, 0.005, n)
    lng[n // 2 :] = lng[: n - n // 2] + rng.normal(0, 0.00008, n - n // 2)  # pairs a few metres apart
    lat[n // 2 :] = lat[: n - n // 2] + rng.normal(0, 0.00008, n - n // 2)
    stations = [
        roster.validate({"id": f"dense-{i:03d}", "name": f"密集站{i:03d}", "type": kinds[i % 4],
                         "lng": float(lng[i]), "lat": float(lat[i]), "hours": "24/7"})
        for i in range(n)
    ]  # fmt: skip
    for station in stations:
        roster.store.create(station, actor="test", via="test")


@pytest.mark.parametrize("path", MAPS)
def test_no_badge_or_marker_centre_lies_under_another_at_any_zoom(chromium, live_server, roster, path):
    add_dense_block(roster)
    context = phone_context(chromium, viewport={"width": 375, "height": 600})
    try:
        ph = Phone(context, live_server.url)
        ph.open_map(path)
        page = ph.page
        city = zoom(ph)
        centres = page.evaluate(
            "() => { const r = LocatorMap.last.locatorRows, d = r.filter(x => x[4].startsWith('dense-'));"
            " return [r[0], d[0], d[45], r[r.length - 1]].map(x => [x[0], x[1]]); }"
        )
        checked = 0
        for z in range(city, 19):
            for lat, lng in [(None, None), *centres]:
                page.evaluate(
                    "([z, lat, lng]) => { const m = LocatorMap.last;"
                    " m.setView(lat === null ? m.getCenter() : [lat, lng], z, {animate: false}); }",
                    [z, lat, lng],
                )
                page.wait_for_function(f"() => document.querySelector('.folium-map').dataset.zoom === '{z}'")
                page.wait_for_timeout(50)
                result = page.evaluate(OVERLAPS_JS)
                assert result["bad"] == [], f"zoom {z} at {lat},{lng}: centres under another: {result['bad']}"
                checked += result["count"]
        assert checked > 100
    finally:
        context.close()


def test_clusters_count_every_station_and_show_the_type_mix(phone, roster):
    phone.open_map("/map")
    page = phone.page
    total = len(roster.snapshot())
    shown = sum(int(t) for t in page.locator(".lm-cluster .lm-count").all_inner_texts())
    shown += page.locator(".lm-marker").count()
    assert shown == total
    ring = page.locator(".lm-cluster .lm-ring").first.get_attribute("style")
    assert "conic-gradient" in ring
    mixed = page.locator(".lm-cluster").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    assert any("骑手驿站" in lbl and "金融服务站" in lbl for lbl in mixed), mixed


def test_hiding_a_type_reclusters_the_rest(phone, roster):
    phone.open_map("/map")
    page = phone.page
    page.locator(".leaflet-control-layers-toggle").tap()
    page.locator(".leaflet-control-layers-overlays label", has_text="骑手驿站").tap()
    page.wait_for_timeout(300)
    shown = sum(int(t) for t in page.locator(".lm-cluster .lm-count").all_inner_texts())
    shown += page.locator(".lm-marker").count()
    assert shown == sum(1 for s in roster.snapshot().stations if s.type != "rider_station")


def test_tiles_that_fail_say_so_and_stations_still_draw(chromium, live_server):
    context = phone_context(chromium)
    try:
        ph = Phone(context, live_server.url, tiles="fail")
        ph.open_map("/embed")
        note = ph.page.locator(".lm-notice-tiles")
        note.wait_for(timeout=15000)
        assert note.inner_text().startswith("底图加载失败，站点位置准确")
        assert ph.page.locator(".lm-cluster, .lm-marker").count() > 3
        # Outlines from our data, drawn in tasks of their own after the stations: wait for them.
        ph.page.wait_for_function("() => document.querySelector('.folium-map').dataset.districts === '12'")
        ph.page.wait_for_function(
            "() => document.querySelectorAll('path.leaflet-interactive, .leaflet-overlay-pane path').length >= 12"
        )
        ph.screenshot("thumb-tiles-failed")
    finally:
        context.close()


def test_tiles_that_load_show_no_notice(phone):
    phone.open_map("/embed")
    phone.page.wait_for_function("() => document.querySelector('.folium-map').dataset.tiles === 'ok'")
    assert phone.page.locator(".lm-notice-tiles").count() == 0
    assert phone.tile_requests


def test_locating_refused_is_explained_in_the_map(phone):
    phone.open_map("/map")  # no geolocation permission: Chromium refuses
    phone.page.locator("button[aria-label='定位到我的位置']").tap()
    note = phone.page.locator(".lm-notice-locate")
    note.wait_for(timeout=10000)
    assert "拒绝" in note.inner_text() and note.get_attribute("role") == "alert"


def test_located_rider_sees_the_apis_distance_in_the_card(chromium, live_server, roster):
    here = {"latitude": 27.9772, "longitude": 120.6236}
    context = phone_context(chromium, geolocation=here, permissions=["geolocation"])
    try:
        ph = Phone(context, live_server.url)
        ph.open_map("/embed?basemap=osm&type=rider_station&district=330304")
        ph.page.locator("button[aria-label='定位到我的位置']").tap()
        ph.page.wait_for_selector(".folium-map[data-located='1']")
        tap_clusters_until_a_station(ph)
        marker = first_marker_in_view(ph)
        marker.tap()
        dist = ph.page.locator(".sc-sheet .sc-distance")
        dist.wait_for(timeout=10000)
        name = ph.page.locator(".sc-sheet .sc-name").inner_text()
        station = next(s for s in roster.snapshot().stations if s.name == name)
        from locator.coords import geodesic_m

        metres = float(geodesic_m(120.6236, 27.9772, station.lng, station.lat))
        expected = f"{round(metres)} 米" if metres < 1000 else f"{metres / 1000:.1f} 公里"
        assert dist.inner_text() == expected
        api = [u for u in ph.requests if "/api/v1/stations/" in u and "lat=" in u]
        assert api, "the card's distance comes from the API"
    finally:
        context.close()


@pytest.mark.parametrize("path", MAPS)
def test_controls_are_chinese_metric_and_clear_of_the_attribution(phone, path):
    phone.open_map(path)
    page = phone.page
    for label in ("放大", "缩小", "图层", "定位到我的位置", "全屏"):
        assert page.locator(f"[aria-label='{label}']").count() == 1, label
    lines = page.locator(".leaflet-control-scale-line")
    assert lines.count() == 1 and re.search(r"\d+ (m|km)$", lines.inner_text())
    scale, credit = (
        page.locator(".leaflet-control-scale").bounding_box(),
        page.locator(".leaflet-control-attribution").bounding_box(),
    )
    apart = (
        scale["x"] + scale["width"] <= credit["x"]
        or credit["x"] + credit["width"] <= scale["x"]
        or scale["y"] + scale["height"] <= credit["y"]
        or credit["y"] + credit["height"] <= scale["y"]
    )
    assert apart, (scale, credit)
    for sel in (".leaflet-control-zoom-in", ".leaflet-control-layers-toggle", ".lm-btn"):
        box = page.locator(sel).first.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, sel


def test_pinch_zoom_is_allowed(phone):
    phone.open_map("/embed")
    contents = phone.page.locator("meta[name=viewport]").evaluate_all("els => els.map(e => e.content)")
    assert len(contents) == 1 and "user-scalable" not in contents[0] and "maximum-scale" not in contents[0]


@pytest.mark.parametrize("path", ["/map", "/embed", "/embed/builder"])
def test_map_pages_have_no_serious_accessibility_violations(phone, path):
    if path == "/embed/builder":
        phone.goto(path)
        phone.page.wait_for_load_state("load")
    else:
        phone.open_map(path)
    violations = axe_violations(phone.page)
    assert violations == [], describe(violations)
