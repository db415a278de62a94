"""The rider page in real headless Chromium: geolocation override, navigation links, denial, XSS, screenshot."""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

import pytest

from locator.coords import wgs84_to_bd09, wgs84_to_gcj02
from tests.test_pages_html import XSS_ADDRESS, XSS_NAME, add_xss_station

pytestmark = pytest.mark.browser

HERE = {"latitude": 27.9772, "longitude": 120.6236}  # a little north-east of 红骑瓯创·骑手驿站
TILE_HOST = "webrd01.is.autonavi.com"


def open_located(browser_page, where=HERE, path="/"):
    """Grant geolocation at `where`, open the page and wait for the list."""
    ctx = browser_page.context
    ctx.grant_permissions(["geolocation"], origin=browser_page.base_url)
    ctx.set_geolocation(where)
    page = browser_page.page
    page.goto(browser_page.base_url + path)
    page.wait_for_selector("#results li.station", timeout=15000)
    return page


def test_first_listed_station_is_the_true_nearest(browser_page, roster):
    page = open_located(browser_page)
    ids = page.eval_on_selector_all("#results li.station", "els => els.map(e => e.dataset.id)")
    expected = roster.nearest(HERE["longitude"], HERE["latitude"], k=10).hits
    assert ids[0] == expected[0].station.id
    assert ids == [h.station.id for h in expected]
    first = page.locator("#results li.station").first
    assert first.locator(".station-name").text_content() == expected[0].station.name
    meta = first.locator(".meta").text_content()
    assert "米" in meta and "步行约" in meta and "骑行约" in meta
    # Travel time: straight-line distance x 1.3 (streets), at 80 m/min walking and 250 m/min riding.
    street = expected[0].distance_m * 1.3
    walk, ride = max(1, math.ceil(street / 80)), max(1, math.ceil(street / 250))
    assert f"步行约 {walk} 分钟" in meta and f"骑行约 {ride} 分钟" in meta
    assert first.locator(".type").text_content() == "骑手驿站"
    # The position stays in the page's memory: nothing in storage or cookies.
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    # Only map tiles may leave the service: no CDN, no script from a foreign host.
    assert all(urlsplit(u).hostname.endswith(".is.autonavi.com") for u in browser_page.foreign_requests)


def test_list_renders_before_map_tiles(browser_page):
    """Tiles are blocked here (never arrive): the list is complete and the map drawn anyway."""
    page = open_located(browser_page)
    assert page.locator("#results li.station").count() == 10
    page.wait_for_selector("#map[data-ready='1']", timeout=15000)
    assert any(TILE_HOST in u or ".is.autonavi.com" in u for u in browser_page.foreign_requests)
    assert page.locator("#map .rm-marker").count() == 10  # numbered like the list
    assert page.locator("#map .rm-num").all_inner_texts() == [str(i) for i in range(1, 11)]
    assert page.locator("#map path").count() == 1  # the rider
    browser_page.screenshot("rider-near-me-375x667")


def _pair(text: str) -> tuple[float, float]:
    a, b = text.split(",")[:2]
    return float(a), float(b)


def test_navigation_links_carry_the_right_coordinates(browser_page, roster):
    page = open_located(browser_page)
    first = page.locator("#results li.station").first
    sid = first.get_attribute("data-id")
    station = roster.snapshot().get(sid)
    g_lng, g_lat = (float(v) for v in wgs84_to_gcj02(station.lng, station.lat))
    b_lng, b_lat = (float(v) for v in wgs84_to_bd09(station.lng, station.lat))
    first.locator("summary.nav-button").click()
    amap = first.locator("a.nav-amap")
    assert amap.is_visible()
    box = amap.bounding_box()
    assert box["height"] >= 48  # tap target
    q = parse_qs(urlsplit(amap.get_attribute("href")).query)
    lng, lat = _pair(q["to"][0])
    assert (lng, lat) == pytest.approx((g_lng, g_lat), abs=2e-6)
    assert q["coordinate"] == ["gaode"]
    q = parse_qs(urlsplit(first.locator("a.nav-baidu").get_attribute("href")).query)
    lat, lng = _pair(q["location"][0])
    assert (lng, lat) == pytest.approx((b_lng, b_lat), abs=2e-6)
    assert q["coord_type"] == ["bd09ll"]
    q = parse_qs(urlsplit(first.locator("a.nav-tencent").get_attribute("href")).query)
    lat, lng = _pair(q["marker"][0].split(";")[0].removeprefix("coord:"))
    assert (lng, lat) == pytest.approx((g_lng, g_lat), abs=2e-6)
    nav = first.locator("details.nav")
    assert float(nav.get_attribute("data-lat")) == pytest.approx(g_lat, abs=2e-6)
    assert float(nav.get_attribute("data-lng")) == pytest.approx(g_lng, abs=2e-6)


def test_amenity_filter_requery_keeps_only_matching_stations(browser_page, roster):
    page = open_located(browser_page)
    page.locator(".more-filters summary").click()
    from locator.nearest import StationFilter

    expected = roster.nearest(HERE["longitude"], HERE["latitude"], k=10, flt=StationFilter(amenities=("toilet",)))
    want = [h.station.id for h in expected.hits]
    page.locator("label.chip:has(input[value=toilet])").click()
    page.wait_for_function(
        "(want) => JSON.stringify([...document.querySelectorAll('#results li.station')].map(li => li.dataset.id))"
        " === JSON.stringify(want)",
        arg=want,
    )
    assert all("toilet" in h.station.amenities for h in expected.hits)


def test_geolocation_denied_shows_district_picker_with_reason(browser_page):
    page = browser_page.page  # no permission granted: Chromium denies geolocation
    page.goto(browser_page.base_url + "/")
    reason = page.locator("#reason")
    reason.wait_for(state="visible", timeout=15000)
    assert reason.get_attribute("data-reason") == "denied"
    assert "拒绝" in reason.text_content()
    assert page.locator("#districts a").first.is_visible()
    assert page.locator("#districts a").count() == 12
    assert page.locator("#locate-btn").is_visible()
    page.locator("#districts a", has_text="瓯海区").click()
    page.wait_for_selector("#server-results li.station")
    assert "瓯海区" in page.locator("#server-results h2").text_content()
    browser_page.screenshot("rider-denied-district-375x667")


def test_geolocation_unavailable_reason_is_shown(browser_page):
    page = browser_page.page
    page.add_init_script(
        "navigator.geolocation.getCurrentPosition = (ok, err) => setTimeout(() => err({code: 2}), 10);"
    )
    browser_page.context.grant_permissions(["geolocation"], origin=browser_page.base_url)
    page.goto(browser_page.base_url + "/")
    page.locator("#reason").wait_for(state="visible", timeout=15000)
    assert page.locator("#reason").get_attribute("data-reason") == "unavailable"


def test_xss_payloads_in_station_text_stay_text(browser_page, roster):
    add_xss_station(roster, lng=HERE["longitude"], lat=HERE["latitude"])
    page = open_located(browser_page)
    first = page.locator("#results li.station").first
    assert first.get_attribute("data-id") == "xss-1"
    assert first.locator(".station-name").text_content() == XSS_NAME
    page.wait_for_selector("#map[data-ready='1']", timeout=15000)
    page.locator("#map .rm-marker", has_text="1").first.click()  # the small map's card shows the address
    assert page.locator("#map .sc-sheet .address").text_content() == XSS_ADDRESS
    assert page.locator("#map .sc-sheet .sc-name").text_content() == XSS_NAME
    for path in ("/stations/xss-1", "/?q=window"):
        page.goto(browser_page.base_url + path)
        assert XSS_NAME in page.locator("body").inner_text()
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_station_page_in_browser_has_nav_and_printable_qr(browser_page):
    page = browser_page.page
    page.goto(browser_page.base_url + "/stations/rs-330304-001")
    assert page.locator("h1.station-name").text_content() == "红骑瓯创·骑手驿站"
    assert page.locator("#print-btn").is_visible()
    assert page.evaluate("document.querySelector('.qr img').naturalWidth") > 0
    page.emulate_media(media="print")
    assert not page.locator("details.nav").is_visible()
    assert page.locator(".qr img").is_visible() and page.locator(".print-title").is_visible()
    assert browser_page.foreign_requests == []
    browser_page.screenshot("rider-station-print")


def test_js_coordinate_conversion_matches_python(browser_page):
    page = browser_page.page
    page.goto(browser_page.base_url + "/stations/rs-330304-001")
    got = page.evaluate("window.__riderCoords.wgsToGcj(120.62, 27.975)")
    assert got == pytest.approx([float(v) for v in wgs84_to_gcj02(120.62, 27.975)], abs=1e-9)
    back = page.evaluate("([x, y]) => window.__riderCoords.gcjToWgs(x, y)", got)
    assert back == pytest.approx([120.62, 27.975], abs=1e-6)


def test_page_without_javascript_lists_districts(chromium, live_server):
    ctx = chromium.new_context(java_script_enabled=False, viewport={"width": 375, "height": 667})
    try:
        page = ctx.new_page()
        page.goto(live_server.url + "/")
        assert page.locator("#districts a").count() == 12
        page.locator("#districts a", has_text="鹿城区").click()
        assert page.locator("#server-results li.station").count() > 5
    finally:
        ctx.close()


FAKE_JWEIXIN = """
window.__wxCalls = [];
window.wx = {
  config: function (c) { window.__wxCalls.push(['config', c]); },
  ready: function (f) { setTimeout(f, 0); },
  error: function () {},
  getLocation: function (o) { window.__wxCalls.push(['getLocation', o.type]); o.success(window.__fakeGcj); },
  openLocation: function (o) { window.__wxCalls.push(['openLocation', o]); },
};
"""


@pytest.mark.parametrize(
    "environment",
    [
        "Object.defineProperty(navigator, 'userAgent', {get: () => navigator.appVersion + ' MicroMessenger/8.0.47'});",
        "window.__wxjs_environment = 'miniprogram';",
    ],
    ids=["official-account-browser", "mini-program-web-view"],
)
def test_inside_wechat_uses_gcj02_location_and_open_location(browser_page, app, roster, environment):
    """WeChat's JS-SDK is replaced by a fake served at its real URL; the page must use it correctly."""
    from locator.coords import gcj02_to_wgs84
    from tests.test_wechat import FakeClock, FakeWeChat, make_cache

    app.config.update(WECHAT_APPID="wx-app", WECHAT_SECRET="s3cret")
    app.extensions["wechat_tickets"] = make_cache(FakeWeChat(), FakeClock())
    g_lng, g_lat = (float(v) for v in wgs84_to_gcj02(HERE["longitude"], HERE["latitude"]))
    page = browser_page.page
    page.add_init_script(environment + f"window.__fakeGcj = {{latitude: {g_lat}, longitude: {g_lng}}};")
    page.route("https://res.wx.qq.com/open/js/jweixin-1.6.0.js", lambda r: r.fulfill(body=FAKE_JWEIXIN,
               content_type="application/javascript"))  # fmt: skip
    api_urls: list[str] = []
    page.on("request", lambda req: "/stations/nearest" in req.url and api_urls.append(req.url))
    page.goto(browser_page.base_url + "/")
    page.wait_for_selector("#results li.station", timeout=15000)

    calls = page.evaluate("window.__wxCalls")
    config = calls[0][1]
    assert calls[0][0] == "config" and config["appId"] == "wx-app"
    assert set(config["jsApiList"]) >= {"getLocation", "openLocation"}
    assert ["getLocation", "gcj02"] in calls
    assert "coord=gcj02" in api_urls[0]
    w_lng, w_lat = (float(v) for v in gcj02_to_wgs84(g_lng, g_lat))
    expected = roster.nearest(w_lng, w_lat, k=1).hits[0].station
    first = page.locator("#results li.station").first
    assert first.get_attribute("data-id") == expected.id

    first.locator("summary.nav-button").click()
    opened = [c[1] for c in page.evaluate("window.__wxCalls") if c[0] == "openLocation"]
    s_lng, s_lat = (float(v) for v in wgs84_to_gcj02(expected.lng, expected.lat))
    assert opened[0]["latitude"] == pytest.approx(s_lat, abs=2e-6)
    assert opened[0]["longitude"] == pytest.approx(s_lng, abs=2e-6)
    assert opened[0]["name"] == expected.name and opened[0]["address"] == expected.address
    assert not first.locator("a.nav-amap").is_visible()  # WeChat's map instead of the app links


def test_inside_wechat_without_configuration_uses_browser_geolocation(browser_page, roster):
    page = browser_page.page
    page.add_init_script(
        "Object.defineProperty(navigator, 'userAgent', {get: () => navigator.appVersion + ' MicroMessenger/8.0'});"
    )
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    open_located(browser_page)
    first = page.locator("#results li.station").first
    assert first.get_attribute("data-id") == roster.nearest(HERE["longitude"], HERE["latitude"], k=1).hits[0].station.id
    assert not [u for u in requested if "res.wx.qq.com" in u or "jssdk-config" in u]
    assert [u for u in requested if "/stations/nearest" in u and "coord=wgs84" in u]
