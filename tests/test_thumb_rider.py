"""The rider page and the station page under a thumb (issue 15), in a WeChat phone context: the first screen,
the GPS-pending state, type chips, the small map's numbered markers and card, Back restoring the list from
the back-forward cache, a 429 and other problems, tel: links, 今天/明天, WeChat sharing, touch targets, axe-core.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from locator.hours import TZ
from locator.nearest import StationFilter
from tests.browser_tools import Phone, axe_violations, describe, phone_context, phone_page, too_small_targets
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer

pytestmark = pytest.mark.browser

HERE = {"latitude": 27.9772, "longitude": 120.6236}  # a little north-east of 红骑瓯创·骑手驿站
SCREEN = {"width": 375, "height": 667}
NEVER_LOCATES = "navigator.geolocation.getCurrentPosition = function () {};"  # a GPS fix that never comes


@pytest.fixture
def phone(chromium, live_server):
    """A WeChat phone page (375×812) against the seeded live server."""
    yield from phone_page(chromium, live_server)


@pytest.fixture
def located(chromium, live_server):
    """A WeChat phone at 375×667 whose GPS answers at HERE."""
    yield from phone_page(chromium, live_server, viewport=SCREEN, geolocation=HERE, permissions=["geolocation"])


def wait_list(ph: Phone) -> None:
    ph.page.wait_for_selector("#results li.station", timeout=15000)


def test_first_screen_shows_three_stations_with_everything_a_rider_compares(located, roster):
    located.goto("/")
    wait_list(located)
    located.page.wait_for_selector("#map[data-ready='1']", timeout=15000)
    rows = located.page.locator("#results li.station")
    hits = roster.nearest(HERE["longitude"], HERE["latitude"], k=10).hits
    for i in range(3):
        row = rows.nth(i)
        box = row.bounding_box()
        assert box["y"] + box["height"] <= SCREEN["height"], f"station {i + 1} is below the first screen: {box}"
        assert row.locator(".station-name").inner_text() == hits[i].station.name
        assert row.locator(".type").is_visible() and row.locator(".type").inner_text()
        assert row.locator(".dist").inner_text().endswith(("米", "公里"))
        assert row.locator(".status").is_visible()
        nav = row.locator("summary.nav-button")
        assert nav.is_visible() and nav.bounding_box()["y"] + 44 <= SCREEN["height"]
    # The small map sits above the list, numbered like it.
    assert located.page.locator("#map").bounding_box()["y"] < rows.first.bounding_box()["y"]
    located.screenshot("thumb-rider-first-screen-375x667")


def test_search_and_district_picker_work_while_the_gps_is_pending(chromium, live_server):
    context = phone_context(chromium, viewport=SCREEN)
    try:
        ph = Phone(context, live_server.url)
        ph.page.add_init_script(NEVER_LOCATES)
        ph.goto("/")
        page = ph.page
        assert "正在获取你的位置" in page.locator("#status").inner_text()
        assert page.locator("#q").is_visible() and page.locator("#districts a").first.is_visible()
        ph.screenshot("thumb-rider-gps-pending")
        page.locator("#q").tap()
        page.keyboard.type("娄桥")
        page.keyboard.press("Enter")
        page.wait_for_selector("#server-results li.station")
        assert "娄桥" in page.locator("#server-results h2").inner_text()
        ph.goto("/")
        page.locator("#districts a", has_text="瓯海区").tap()
        page.wait_for_selector("#server-results li.station")
        assert "瓯海区" in page.locator("#server-results h2").inner_text()
    finally:
        context.close()


def test_type_chips_keep_only_rider_stations(located, roster):
    located.goto("/")
    wait_list(located)
    located.page.locator("label.type-chip", has_text="骑手驿站").tap()
    located.page.wait_for_function(
        "() => [...document.querySelectorAll('#results li.station .type')].every(t => t.textContent === '骑手驿站')"
    )
    ids = located.page.eval_on_selector_all("#results li.station", "els => els.map(e => e.dataset.id)")
    flt = StationFilter(types=("rider_station",))
    expected = roster.nearest(HERE["longitude"], HERE["latitude"], k=10, flt=flt).hits
    assert ids == [h.station.id for h in expected]
    assert located.page.locator("#status").inner_text() == "离你最近的 10 个骑手驿站："


def test_list_says_what_each_place_is(located, roster):
    located.goto("/?type=finance_station&type=party_home")
    located.page.wait_for_selector("#results li.station", timeout=15000)
    types = set(located.page.locator("#results .type").all_inner_texts())
    assert types <= {"金融服务站", "党建之家"} and types
    assert "驿站" not in located.page.locator("#status").inner_text()


def test_small_map_numbered_markers_open_the_card_with_the_lists_distance(located):
    located.goto("/")
    wait_list(located)
    page = located.page
    page.wait_for_selector("#map[data-ready='1']", timeout=15000)
    second = page.locator("#results li.station").nth(1)
    name, dist = second.locator(".station-name").inner_text(), second.locator(".dist").inner_text()
    page.locator("#map .rm-marker", has_text="2").tap()
    card = page.locator("#map .sc-sheet")
    card.wait_for()
    assert card.locator(".sc-name").inner_text() == name
    assert card.locator(".sc-distance").inner_text() == dist
    assert card.locator("summary.nav-button").is_visible() and card.locator(".sc-more").is_visible()
    page.locator("#map-toggle").tap()
    assert not page.locator("#map").is_visible()
    assert page.locator("#map-toggle").get_attribute("aria-expanded") == "false"


@pytest.fixture
def bfcache_chromium(chromium):
    """A second Chromium with the back-forward cache on (Playwright turns it off by default)."""
    keep_bfcache = ["--disable-back-forward-cache"]
    browser = chromium.browser_type.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, ignore_default_args=keep_bfcache
    )
    yield browser
    browser.close()


def test_back_from_a_station_restores_the_list_without_locating_again(bfcache_chromium, live_server):
    context = phone_context(bfcache_chromium, viewport=SCREEN, geolocation=HERE, permissions=["geolocation"])
    try:
        page = context.new_page()
        page.add_init_script(
            "window.__located = 0; const g = navigator.geolocation.getCurrentPosition.bind(navigator.geolocation);"
            "navigator.geolocation.getCurrentPosition = function (a, b, c) { window.__located++; return g(a, b, c); };"
            "addEventListener('pageshow', e => { window.__restored = e.persisted; });"
        )
        nearest: list[str] = []
        page.on("request", lambda r: "/stations/nearest" in r.url and nearest.append(r.url))
        page.goto(live_server.url + "/")
        page.wait_for_selector("#results li.station", timeout=15000)
        ids = page.eval_on_selector_all("#results li.station", "els => els.map(e => e.dataset.id)")
        page.mouse.wheel(0, 400)
        page.wait_for_timeout(300)
        scrolled = page.evaluate("scrollY")
        assert scrolled > 0
        link = page.locator("#results li.station").nth(4).locator(".station-name")
        link.tap()
        page.wait_for_url("**/stations/**")
        page.go_back(wait_until="commit")
        page.wait_for_selector("#results li.station")
        assert page.evaluate("window.__restored") is True, page.evaluate(
            "JSON.stringify(performance.getEntriesByType('navigation')[0].notRestoredReasons)"
        )
        assert page.eval_on_selector_all("#results li.station", "els => els.map(e => e.dataset.id)") == ids
        assert page.evaluate("scrollY") == scrolled
        assert page.evaluate("window.__located") == 1 and len(nearest) == 1
        # Nothing about the rider's position or distances in any storage.
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0
        assert context.cookies() == []
        assert page.evaluate("indexedDB.databases().then(d => d.length)") == 0
    finally:
        context.close()


def test_too_many_queries_say_so_with_the_wait(app_factory, chromium):
    app = app_factory(RATELIMIT_ENABLED="true", RATELIMIT_NEAREST="1/minute")
    server = LiveServer(app).start()
    context = phone_context(chromium, viewport=SCREEN, geolocation=HERE, permissions=["geolocation"])
    try:
        ph = Phone(context, server.url)
        ph.goto("/")
        wait_list(ph)
        ph.page.locator("#locate-btn").tap()
        ph.page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('查询太频繁')")
        text = ph.page.locator("#status").inner_text()
        assert text.startswith("查询太频繁，请稍后再试（约 ") and text.endswith(" 秒后）。"), text
        assert "网络" not in text
    finally:
        context.close()
        server.stop()


def test_other_problems_show_their_chinese_detail(located):
    body = {
        "type": "about:blank",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "the point is outside the service area",
        "detail_zh": "你的位置不在服务范围内（温州市）。",
    }
    located.page.route(
        "**/api/v1/stations/nearest*",
        lambda r: r.fulfill(status=422, content_type="application/problem+json", body=json.dumps(body)),
    )
    located.goto("/")
    located.page.wait_for_function("() => document.querySelector('#status').textContent.includes('服务范围')")
    assert located.page.locator("#status").inner_text() == body["detail_zh"]
    assert located.page.locator("#q").is_visible()


def test_phone_numbers_are_tel_links(app, phone, roster):
    roster.store.create(
        roster.validate({"id": "tel-1", "name": "电话测试驿站", "type": "rider_station", "lng": 120.6237,
                         "lat": 27.9773, "hours": "24/7", "contact": "张站长 0577-8888 6666"}),
        actor="test", via="test",
    )  # fmt: skip
    phone.goto("/stations/tel-1")
    tel = phone.page.locator("a.tel")
    assert tel.get_attribute("href") == "tel:057788886666" and tel.inner_text() == "0577-8888 6666"
    box = tel.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44


def test_opening_times_say_today_and_tomorrow(phone):
    phone.goto("/stations/rs-330304-001")
    now = datetime.now(TZ)
    cases = {
        now.replace(hour=8, minute=30).isoformat(): "今天 08:30",
        (now + timedelta(days=1)).replace(hour=9, minute=0).isoformat(): "明天 09:00",
    }
    later = (now + timedelta(days=3)).replace(hour=7, minute=5)
    cases[later.isoformat()] = f"{later.month}月{later.day}日 07:05"
    from locator.web.pages import when_zh

    for iso, text in cases.items():
        assert phone.page.evaluate("(iso) => LocatorCard.whenText(iso)", iso) == text
        assert when_zh(iso) == text


def test_station_page_shares_in_wechat_with_a_chinese_title_and_thumbnail(app, phone):
    from tests.test_rider_browser import FAKE_JWEIXIN
    from tests.test_wechat import FakeClock, FakeWeChat, make_cache

    app.config.update(WECHAT_APPID="wx-app", WECHAT_SECRET="s3cret")
    app.extensions["wechat_tickets"] = make_cache(FakeWeChat(), FakeClock())
    fake = FAKE_JWEIXIN.replace(
        "openLocation: function",
        "updateAppMessageShareData: function (o) { window.__wxCalls.push(['share', o]); },"
        "updateTimelineShareData: function (o) { window.__wxCalls.push(['timeline', o]); },"
        "openLocation: function",
    )
    phone.context.route(
        "https://res.wx.qq.com/open/js/jweixin-1.6.0.js",
        lambda r: r.fulfill(body=fake, content_type="application/javascript"),
    )
    phone.goto("/stations/rs-330304-001")
    phone.page.wait_for_function("() => (window.__wxCalls || []).some(c => c[0] === 'share')")
    calls = phone.page.evaluate("window.__wxCalls")
    config = next(c[1] for c in calls if c[0] == "config")
    assert {"updateAppMessageShareData", "updateTimelineShareData"} <= set(config["jsApiList"])
    share = next(c[1] for c in calls if c[0] == "share")
    assert share["title"] == "红骑瓯创·骑手驿站" and "骑手驿站" in share["desc"]
    assert share["link"].endswith("/stations/rs-330304-001") and share["imgUrl"].startswith("http")
    assert any(c[0] == "timeline" for c in calls)
    phone.page.locator("summary.nav-button").tap()
    assert any(c[0] == "openLocation" for c in phone.page.evaluate("window.__wxCalls"))


@pytest.mark.parametrize("path", ["/", "/?district=330302", "/stations/rs-330304-001", "/map", "/embed"])
def test_every_touch_target_is_at_least_44_px(chromium, live_server, path):
    context = phone_context(chromium, viewport=SCREEN, geolocation=HERE, permissions=["geolocation"])
    try:
        ph = Phone(context, live_server.url)
        ph.goto(path)
        if path == "/":
            wait_list(ph)
            ph.page.wait_for_selector("#map[data-ready='1']", timeout=15000)
        elif path in ("/map", "/embed"):
            ph.page.wait_for_selector(".folium-map[data-state=ready]", timeout=15000)
        small = too_small_targets(ph.page)
        assert small == [], small
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/", "/?district=330302", "/stations/rs-330304-001", "/stations/nope"])
def test_rider_pages_have_no_serious_accessibility_violations(located, path):
    located.goto(path)
    if path == "/":
        wait_list(located)
        located.page.wait_for_selector("#map[data-ready='1']", timeout=15000)
    violations = axe_violations(located.page)
    assert violations == [], describe(violations)
