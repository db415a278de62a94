"""The sample places the article names show only what it states: unknown hours are 开放时间未知, never 营业中."""

from __future__ import annotations

from datetime import datetime

import pytest
from bs4 import BeautifulSoup

from locator.hours import TZ
from locator.serialize import station_json

pytestmark = pytest.mark.read_only

HONGQI = "rs-330304-001"  # 红骑瓯创·骑手驿站
NAMED = [HONGQI, "ph-330304-001", "ph-330304-002", "ph-330304-003", "ds-330304-001", "ds-330302-001", "fs-330304-001"]


def soup(resp) -> BeautifulSoup:
    assert resp.status_code == 200
    return BeautifulSoup(resp.data, "html.parser")


@pytest.mark.parametrize("station_id", NAMED)
def test_the_api_says_hours_unknown_and_never_open(client, station_id):
    body = client.get(f"/api/v1/stations/{station_id}").get_json()
    assert body["hours"] == "" and body["hours_text"] == "开放时间未知"
    assert body["open_now"] is False and body["next_open"] is None
    assert body["note"].startswith("示例数据：") and "开放时间未知" in body["note"]


@pytest.mark.parametrize("hour", [3, 9, 12, 20])
def test_unknown_hours_are_never_open_at_any_time(roster, hour):
    station = roster.store.get(HONGQI)
    when = datetime(2026, 12, 2, hour, 0, tzinfo=TZ)
    assert station.open_now(when) is False
    assert station_json(station, when=when)["open_now"] is False


def test_the_nearest_answer_and_the_open_now_filter(client):
    body = client.get("/api/v1/stations/nearest", query_string={"lng": 120.62, "lat": 27.975, "k": 1}).get_json()
    (first,) = body["stations"]
    assert first["id"] == HONGQI and first["open_now"] is False and first["hours_text"] == "开放时间未知"
    assert body["query"]["distance"].startswith("geodesic")
    only_open = client.get(
        "/api/v1/stations/nearest", query_string={"lng": 120.62, "lat": 27.975, "k": 50, "open_now": "true"}
    ).get_json()
    assert HONGQI not in [s["id"] for s in only_open["stations"]]


def test_hongqi_shows_the_articles_services_and_builders(client):
    body = client.get(f"/api/v1/stations/{HONGQI}").get_json()
    assert [a["zh"] for a in body["amenities"]] == [
        "舒心歇脚点",
        "暖心关爱点",
        "爱心早餐",
        "微波加热",
        "冰箱储存",
        "免费茶饮",
        "手机充电",
        "急救药箱",
        "维权服务",
    ]
    assert body["operator"] == "瓯海区市场监管局、娄桥街道"


def test_the_station_page_says_hours_unknown_once_and_illustrative_once(client):
    page = soup(client.get(f"/stations/{HONGQI}"))
    text = page.get_text()
    assert "营业中" not in text and "未营业" not in text
    assert page.select_one(".status-unknown").get_text() == "开放时间未知"
    assert page.select_one("dd.hours").get_text() == "开放时间未知"
    facts = page.select_one("dl.facts").get_text()
    assert facts.count("示意") == 1  # the note, not the address nor a second marker
    assert "瓯海区市场监管局" in facts


def test_a_district_list_shows_unknown_hours_without_a_status_claim(client):
    page = soup(client.get("/?district=330304"))
    item = page.select_one(f'#server-results li.station[data-id="{HONGQI}"]')
    line = item.select_one("p.line").get_text(" ", strip=True)
    assert line == "开放时间未知"
    # stations with known hours still show them
    other = next(li for li in page.select("#server-results li.station") if li.select_one(".hours"))
    assert other.select_one(".status")


@pytest.mark.browser
def test_the_station_page_in_a_phone_browser_says_hours_unknown(browser_page):
    page = browser_page.page
    page.goto(browser_page.base_url + f"/stations/{HONGQI}")
    page.wait_for_load_state("networkidle")
    assert page.locator(".status-unknown").inner_text() == "开放时间未知"
    assert page.locator("dd.hours").inner_text() == "开放时间未知"
    body = page.locator("body").inner_text()
    assert "营业中" not in body and "未营业" not in body
    assert browser_page.foreign_requests == []
    browser_page.screenshot("station-hours-unknown")


def test_the_api_reports_the_geodesic_distance_it_ranks_by(client):
    from locator.coords import geodesic_m

    x, y = 120.70, 28.01
    body = client.get("/api/v1/stations/nearest", query_string={"lng": x, "lat": y, "k": 10}).get_json()
    distances = [s["distance_m"] for s in body["stations"]]
    assert distances == sorted(distances)
    for s in body["stations"]:
        w = s["location_wgs84"]
        assert s["distance_m"] == round(geodesic_m(x, y, w["lng"], w["lat"]), 1)
