"""Maps in headless Chromium: no foreign requests, markers and clusters drawn, station text inert, screenshots."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from locator.basemaps import basemap

# A 1x1 light-grey PNG served in place of real tiles (the tests run offline).
TILE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC"
)
XSS_NAME = "<script>window.__xss=1</script>"
XSS_ADDRESS = '<img src=x onerror="window.__xss=1">'


def tile_hosts(key: str, **options) -> set[str]:
    """Every host the basemap's tile layers may request ({s} expanded over its subdomains)."""
    out = set()
    for layer in basemap(key, **options).layers:
        host = layer.url.split("/")[2]
        out |= {host.replace("{s}", s) for s in layer.subdomains} if "{s}" in host else {host}
    return out


def allow_tiles(bp, key: str, **options) -> list[str]:
    """Allow the basemap's tile hosts and answer them with a grey tile; returns the list of tile requests."""
    hosts = tile_hosts(key, **options)
    bp.allowed_hosts |= set(hosts)
    seen: list[str] = []

    def fulfil(route):
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=TILE_PNG)

    for host in hosts:
        bp.page.route(f"https://{host}/**", fulfil)
    return seen


def open_map(bp, path: str) -> None:
    """Navigate and wait until the station data has been drawn."""
    bp.page.goto(bp.base_url + path, wait_until="load")
    bp.page.wait_for_selector(".folium-map[data-state=ready]", timeout=15000)
    # and Leaflet has taken over from the markers drawn before it (they answer taps but not the layer list)
    bp.page.wait_for_selector(".lm-first-marker", state="detached", timeout=15000)


def assert_not_blank(path) -> None:
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"))
    assert pixels.shape[1] == 750  # 375 css px at device scale 2
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, "screenshot is (nearly) one colour"


@pytest.mark.parametrize(
    ("path", "key"),
    [("/map", "amap"), ("/embed", "amap"), ("/embed?basemap=osm", "osm"), ("/embed/builder", "amap")],
)
def test_pages_make_no_foreign_requests(browser_page, path, key):
    tiles = allow_tiles(browser_page, key)
    if path == "/embed/builder":
        browser_page.page.goto(browser_page.base_url + path, wait_until="load")
        browser_page.page.frame_locator("iframe").locator(".folium-map[data-state=ready]").wait_for(timeout=15000)
    else:
        open_map(browser_page, path)
    assert browser_page.foreign_requests == []
    assert tiles, "the basemap's tiles were requested"
    assert all(any(h in url for h in tile_hosts(key)) for url in tiles)
    assert browser_page.console_errors == []


def test_attribution_names_leaflet_without_a_flag(browser_page):
    open_map(browser_page, "/map")
    attribution = browser_page.page.locator(".leaflet-control-attribution")
    assert "Leaflet" in attribution.inner_text()
    assert attribution.locator("svg").count() == 0


def test_coverage_map_shows_markers_and_clusters(browser_page, roster):
    allow_tiles(browser_page, "amap")
    open_map(browser_page, "/map")
    page = browser_page.page
    total = len(roster.snapshot())
    assert page.locator(".folium-map").get_attribute("data-stations") == str(total)
    clusters = page.locator(".lm-cluster").count()
    markers = page.locator(".lm-marker").count()
    assert clusters > 0, "at city zoom the stations are clustered"
    shown = sum(int(t) for t in page.locator(".lm-cluster .lm-count").all_inner_texts()) + markers
    assert shown == total
    # Districts with a choropleth, the per-district table, legend and controls.
    page.wait_for_selector(".folium-map[data-districts='12']")
    assert page.locator("path.leaflet-interactive").count() >= 12
    assert page.locator("table.lm-districts tbody tr").count() == 12
    assert page.locator(".lm-legend-row").count() == 4
    assert page.locator(".sample-notice").is_visible()
    for title in ("定位到我的位置", "全屏"):
        assert page.locator(f"button[title='{title}']").count() == 1
    labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert any("服务半径 500 米" in t for t in labels) and any("3 公里" in t for t in labels)
    assert sum("骑手驿站" in t for t in labels) == 1
    path = browser_page.screenshot("maps-coverage-375x667")
    assert_not_blank(path)


def test_zooming_in_breaks_clusters_into_markers(browser_page):
    allow_tiles(browser_page, "osm")
    open_map(browser_page, "/embed?basemap=osm&type=rider_station&district=330302")
    page = browser_page.page
    page.evaluate("() => { const m = LocatorMap.last, r = m.locatorRows[0]; m.setView([r[0], r[1]], 18); }")
    page.wait_for_timeout(800)
    assert page.locator(".lm-marker").count() >= 1


def test_type_layers_and_rings_toggle(browser_page):
    from playwright.sync_api import expect

    allow_tiles(browser_page, "amap")
    open_map(browser_page, "/map")
    page = browser_page.page
    before = page.locator(".lm-cluster, .lm-marker").count()
    page.locator(".leaflet-control-layers").hover()
    page.locator(".leaflet-control-layers-overlays label", has_text="骑手驿站").locator("input").uncheck()
    # The map redraws its clusters in a later task: wait for it (a loaded CI machine takes its time),
    # and fail if the count never drops.
    page.wait_for_function(
        "before => document.querySelectorAll('.lm-cluster, .lm-marker').length < before", arg=before, timeout=10000
    )
    # Hover again (the list may have folded while the map redrew), tap the entry like a user, then wait for
    # the state: Playwright's check() fails when the box does not flip within the click itself.
    page.locator(".leaflet-control-layers").hover()
    rings = page.locator(".leaflet-control-layers-overlays label", has_text="服务半径 3 公里").locator("input")
    rings.click()
    expect(rings).to_be_checked(timeout=10000)
    page.wait_for_selector("canvas", state="attached", timeout=10000)


def test_search_finds_a_station_and_opens_its_popup(browser_page, roster):
    station = next(s for s in roster.snapshot().stations if s.hours)  # known hours: open or not
    allow_tiles(browser_page, "amap")
    open_map(browser_page, "/map")
    page = browser_page.page
    page.fill(".lm-search input", station.name[:6])
    page.locator(".lm-result", has_text=station.name).first.click()
    page.wait_for_selector(".sc-sheet .hours", timeout=10000)
    card = page.locator(".sc-sheet")
    assert station.name in card.inner_text()
    assert card.locator(".status").count() == 1 and card.locator("summary.nav-button").count() == 1


def test_a_popup_with_unknown_hours_says_so_and_neither_open_nor_closed(browser_page, roster):
    station = roster.store.get("rs-330304-001")  # 红骑瓯创: the article gives no hours
    assert station.hours == ""
    allow_tiles(browser_page, "amap")
    open_map(browser_page, "/map")
    page = browser_page.page
    page.fill(".lm-search input", "红骑瓯创")
    page.locator(".lm-result", has_text=station.name).first.click()
    page.wait_for_selector(".sc-sheet .sc-state .status", timeout=10000)
    state = page.locator(".sc-sheet .sc-state").inner_text()
    assert state == "开放时间未知"
    assert "营业中" not in state and "未营业" not in state


def test_station_text_shows_as_text_and_runs_nothing(app, browser_page):
    roster = app.extensions["roster"]
    station = roster.store.create(
        roster.validate(
            {
                "name": XSS_NAME,
                "type": "rider_station",
                "lng": 120.70,
                "lat": 28.0,
                "address": XSS_ADDRESS,
                "hours": "24/7",
            }
        ),
        actor="test",
        via="test",
    )
    allow_tiles(browser_page, "amap")
    open_map(browser_page, f"/embed?center=28.0,120.70&zoom=12&district={station.district}")
    page = browser_page.page
    page.fill(".lm-search input", "<script>")
    page.locator(".lm-result").first.click()
    page.wait_for_selector(".sc-sheet .address", timeout=10000)
    assert page.locator(".sc-sheet .sc-name").inner_text() == XSS_NAME
    assert page.locator(".sc-sheet .address").inner_text() == XSS_ADDRESS
    assert page.locator(".sc-sheet img, .sc-sheet script").count() == 0
    assert page.evaluate("() => window.__xss") is None
    browser_page.screenshot("maps-xss-popup-375x667")


def test_embed_is_usable_at_phone_width(browser_page):
    allow_tiles(browser_page, "amap")
    open_map(browser_page, "/embed")
    page = browser_page.page
    box = page.locator(".folium-map").bounding_box()
    assert box["width"] == pytest.approx(375, abs=1) and box["height"] >= 600
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    assert page.locator(".lm-notice-embed").is_visible()
    assert_not_blank(browser_page.screenshot("maps-embed-375x667"))


def test_tianditu_draws_both_layers(app_factory, chromium):
    from tests.conftest import LiveServer

    app = app_factory(TIANDITU_KEY="k-test")
    server = LiveServer(app).start()
    context = chromium.new_context(viewport={"width": 375, "height": 667})
    try:
        page = context.new_page()
        foreign: list[str] = []
        tiles: list[str] = []
        hosts = tile_hosts("tianditu", tianditu_key="k")

        def route(r):
            host = r.request.url.split("/")[2].split(":")[0]
            if host == "127.0.0.1":
                r.continue_()
            elif host in hosts:
                tiles.append(r.request.url)
                r.fulfill(status=200, content_type="image/png", body=TILE_PNG)
            else:
                foreign.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page.goto(server.url + "/embed?basemap=tianditu", wait_until="load")
        page.wait_for_selector(".folium-map[data-state=ready]", timeout=15000)
        assert foreign == []
        assert any("vec_w" in t for t in tiles) and any("cva_w" in t for t in tiles)
        assert all("tk=k-test" in t for t in tiles)
    finally:
        context.close()
        server.stop()


def test_png_screenshot_helper_rejects_blank_images(tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (750, 1334), "white").save(blank)
    with pytest.raises(AssertionError):
        assert_not_blank(blank)
