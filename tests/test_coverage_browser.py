"""/admin/coverage in real headless Chromium on a phone (WeChat's browser): upload, analyse, map, taps."""

from __future__ import annotations

import pytest

from locator.store.demand import DemandStore
from tests.conftest import ARTIFACTS, BrowserPage
from tests.test_coverage_cli import demand_csv
from tests.test_maps_browser import allow_tiles

WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 12; M2012K11AC Build/SKQ1.211006.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 MMWEBSDK/20230202 MicroMessenger/8.0.33"
)


@pytest.fixture
def phone(chromium, live_server):
    """A 375×812 touch phone with WeChat's user agent; foreign requests recorded and blocked."""
    context = chromium.new_context(
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        user_agent=WECHAT_UA,
    )
    page = context.new_page()
    wrapper = BrowserPage(context, page, {"127.0.0.1"})

    def route(route):
        from urllib.parse import urlparse

        host = urlparse(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in wrapper.allowed_hosts:
            route.continue_()
        else:
            wrapper.foreign_requests.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    wrapper.base_url = live_server.url
    yield wrapper
    context.close()


@pytest.mark.browser
def test_an_organizer_uploads_demand_analyses_and_taps_through_the_results(phone, make_user, roster, tmp_path):
    make_user("boss", "city_admin")
    path = demand_csv(tmp_path / "十月订单.csv", roster)
    tiles = allow_tiles(phone, "amap")
    page = phone.page
    page.goto(phone.base_url + "/admin/login?next=/admin/coverage/layers")
    page.locator("input[name=name]").tap()
    page.keyboard.type("boss")
    page.locator("input[name=password]").tap()
    page.keyboard.type("password123")
    page.locator("#login-form button[type=submit]").tap()
    page.wait_for_url("**/admin/coverage/layers")

    page.set_input_files("#layer-file", str(path))
    page.locator("#layer-name").tap()
    page.keyboard.type("十月订单")
    page.locator("#layer-source").tap()
    page.keyboard.type("某平台")
    page.select_option("#layer-crs", "wgs84")
    page.locator("#layer-upload").tap()
    page.wait_for_selector("#layer-saved")
    assert "十月订单" in page.text_content("#layer-saved")
    layer = DemandStore(roster.store).layers()[0]

    page.goto(phone.base_url + "/admin/coverage")
    assert page.input_value("#demand") == str(layer.id)  # the newest layer is the default
    page.select_option("#suggest", "3")
    page.locator("#analyse").tap()
    page.wait_for_selector("#coverage-map[data-state=ready]", timeout=120_000)
    assert page.locator("#districts tbody tr").count() == 13
    assert page.locator(".leaflet-overlay-pane canvas").count() >= 1
    # Three asked for, two suffice: the demand is covered except for the two far clusters.
    assert page.locator(".cov-site").count() == 2 and page.locator(".cov-spot").count() == 2
    assert "2 处即可" in page.text_content("#sites-note")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-coverage-full-page.png"), full_page=True)
    page.locator("#blind-spots .cov-go").first.tap()
    page.wait_for_selector("#coverage-map[data-focus=spot-1]")
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert popup.inner_text().startswith("盲区 1：瑞安市")
    page.locator("#sites .cov-go").nth(1).tap()
    page.wait_for_selector("#coverage-map[data-focus=site-2]")
    # (the previous popup may still be fading out: look for the new one by its text)
    page.locator(".leaflet-popup-content", has_text="建议新址 2：新增覆盖 300").wait_for()
    phone.screenshot("admin-coverage-phone")

    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375 + 1  # tables scroll inside themselves; the page does not
    assert tiles and phone.foreign_requests == []
    assert phone.console_errors == []
