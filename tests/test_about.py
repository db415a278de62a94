"""The 关于 page: the city's figures from the report, what the map shows and leaves out, the source."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

ARTICLE_FIGURES = {
    "rider_stations": "145 个",
    "rider_branches": "5 个",
    "xgz_organisations": "1158 个",
    "xgz_members": "1.47 万名",
    "joint_organisations": "13 个",
    "demo_sites": "12 个",
    "finance_stations": "40 个",
}


def soup(resp) -> BeautifulSoup:
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    return BeautifulSoup(resp.data, "html.parser")


def test_about_shows_the_reports_figures_and_the_source(client):
    page = soup(client.get("/about"))
    assert page.html["lang"] == "zh-CN"
    viewport = page.select_one('meta[name="viewport"]')["content"]
    assert "user-scalable" not in viewport and "maximum-scale" not in viewport
    for key, figure in ARTICLE_FIGURES.items():
        assert page.select_one(f"#figure-{key} td.num").get_text() == figure, key
    source = page.select_one("#source").get_text()
    assert "温州日报" in source and "2023 年 8 月 25 日" in source
    assert page.select_one(".sample-notice") is not None  # the sample roster is loaded


def test_about_compares_the_report_with_the_map_and_says_what_is_not_on_it(client, roster):
    page = soup(client.get("/about"))
    live = [s for s in roster.snapshot().stations if s.status != "closed"]
    riders = sum(1 for s in live if s.type == "rider_station")
    assert f"本图现有 {riders} 个" in page.select_one("#figure-rider_stations").get_text()
    for key in ("rider_branches", "xgz_organisations", "joint_organisations"):
        assert "不在地图上" in page.select_one(f"#figure-{key}").get_text()
    text = page.select_one("main").get_text()
    assert "外卖骑手党支部" in text and "不是骑手可以前往的地点" in text


def test_the_rider_page_and_the_map_page_link_to_it(client):
    assert soup(client.get("/")).select_one("footer #about-link")["href"] == "/about"
    assert soup(client.get("/map")).select_one("#about-link")["href"] == "/about"


@pytest.mark.browser
def test_about_in_a_phone_browser_from_the_rider_pages_footer(browser_page):
    page = browser_page.page
    page.goto(browser_page.base_url + "/")
    link = page.locator("#about-link")
    link.scroll_into_view_if_needed()
    link.tap()
    page.wait_for_url("**/about")
    assert page.locator("h2#figures").is_visible()
    assert page.locator("#figure-xgz_organisations td.num").inner_text() == "1158 个"
    # mobile-first: nothing wider than the 375 px screen, readable text
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('.figures')).fontSize)") >= 14
    assert browser_page.foreign_requests == []
    browser_page.screenshot("about")
