"""The rider pages as HTML (no JavaScript): district picker, search, station page, QR code, 404, escaping."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import segno
from bs4 import BeautifulSoup

from locator.stations import STATION_TYPES

XSS_NAME = '<img src=x onerror="window.__xss=1">'
XSS_ADDRESS = "<script>window.__xss=1</script>"


def find_stations(stations, *, district, amenities=(), open_at=None):
    """The reference list: a district's stations with every amenity (open at `open_at`), not closed, by name."""
    found = [
        s
        for s in stations
        if s.district == district
        and all(a in s.amenities for a in amenities)
        and s.status != "closed"
        and (open_at is None or s.open_now(open_at))
    ]
    return sorted(found, key=lambda s: (s.name, s.id))


def qr_modules(svg: str | bytes) -> str:
    """The drawn modules of a segno SVG (its path), independent of size and header."""
    return BeautifulSoup(svg, "html.parser").find("path")["d"]


def soup(resp) -> BeautifulSoup:
    assert resp.status_code == 200, resp.data[:300]
    assert resp.mimetype == "text/html"
    return BeautifulSoup(resp.data, "html.parser")


def add_xss_station(roster, lng=120.62, lat=27.975):
    station = roster.validate(
        {"id": "xss-1", "name": XSS_NAME, "address": XSS_ADDRESS, "type": "rider_station", "lng": lng, "lat": lat,
         "amenities": ["water"], "hours": "24/7"}
    )  # fmt: skip
    return roster.store.create(station, actor="test", via="test")


def test_home_without_js_offers_every_district_and_a_search_form(client, roster):
    page = soup(client.get("/"))
    links = page.select("#districts a")
    codes = [parse_qs(urlsplit(a["href"]).query)["district"][0] for a in links]
    assert codes == sorted(roster.districts.codes)
    assert page.select_one("#districts").find(string=lambda t: "瓯海区" in t)
    form = page.select_one("form.search")
    assert form["method"] == "get" and form.select_one("input[name=q]")
    assert page.select_one("#filters noscript button[type=submit]")
    assert "无法自动定位" in page.select_one("#status noscript").get_text()
    assert page.select_one("main")["data-mode"] == "locate"
    assert page.select_one(".sample-notice")  # the sample roster is loaded


def test_district_link_lists_that_districts_stations(client, roster):
    page = soup(client.get("/?district=330304"))
    items = page.select("#server-results li.station")
    expected = find_stations(roster.snapshot().stations, district="330304")
    assert [li["data-id"] for li in items] == [s.id for s in expected]
    assert len(items) > 5
    assert "瓯海区" in page.select_one("#server-results h2").get_text()
    first = items[0]
    assert first.select_one("a.station-name")["href"] == f"/stations/{expected[0].id}"
    assert first.select_one(".nav a.nav-amap")["href"].startswith("https://uri.amap.com/navigation?")
    assert first.select_one(".type").get_text() == STATION_TYPES[expected[0].type].zh
    assert first.select_one(".status")


def test_search_by_name_or_address(client):
    page = soup(client.get("/", query_string={"q": "红骑瓯创"}))
    names = [a.get_text() for a in page.select("#server-results a.station-name")]
    assert names == ["红骑瓯创·骑手驿站"]
    page = soup(client.get("/", query_string={"q": "娄桥"}))
    assert len(page.select("#server-results li.station")) >= 2
    page = soup(client.get("/", query_string={"q": "没有这个地方"}))
    assert page.select_one("#server-results .empty")


def test_amenity_filter_applies_to_server_lists_and_district_links(client, roster):
    page = soup(client.get("/?district=330304&amenity=toilet&amenity=charging"))
    ids = [li["data-id"] for li in page.select("#server-results li.station")]
    snap = roster.snapshot()
    assert ids == [s.id for s in find_stations(snap.stations, district="330304", amenities=("toilet", "charging"))]
    for sid in ids:
        assert {"toilet", "charging"} <= set(snap.get(sid).amenities)
    checked = [i["value"] for i in page.select("#filters input[name=amenity][checked]")]
    assert sorted(checked) == ["charging", "toilet"]
    href = page.select_one("#districts a")["href"]
    assert parse_qs(urlsplit(href).query)["amenity"] == ["toilet", "charging"]


def test_open_now_filter_lists_only_open_stations(client, roster):
    from datetime import datetime

    from locator.stations import TZ

    page = soup(client.get("/?district=330304&open_now=true"))
    ids = [li["data-id"] for li in page.select("#server-results li.station")]
    snap = roster.snapshot()
    expected = find_stations(snap.stations, district="330304", open_at=datetime.now(TZ))
    assert ids == [s.id for s in expected]
    assert all(li.select_one(".status-open") for li in page.select("#server-results li.station"))
    assert page.select_one("#filters input[name=open_now][checked]")
    assert "open_now=true" in page.select_one("#districts a")["href"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("district=999999", "district"),
        ("amenity=sauna", "amenity"),
        ("q=" + "长" * 61, "q"),
        ("open_now=maybe", "open_now"),
    ],
)
def test_bad_page_parameters_are_400(client, query, parameter):
    resp = client.get("/?" + query)
    assert resp.status_code == 400
    resp = client.get("/?" + query, headers={"Accept": "application/json"})
    assert resp.get_json()["parameter"] == parameter


def test_station_page_shows_everything_and_the_same_navigation(client, roster):
    page = soup(client.get("/stations/rs-330304-001"))
    assert page.select_one("h1.station-name").get_text() == "红骑瓯创·骑手驿站"
    facts = page.select_one("dl.facts").get_text()
    assert page.select_one(".meta .type").get_text() == "骑手驿站"
    for text in ("瓯海区", "娄桥街道"):
        assert text in facts
    # The whole roster is sample data: the banner says so once, the station carries no second mark.
    assert page.select_one(".sample-notice") and not page.select(".sample-mark")
    labels = [li.get_text() for li in page.select(".amenities li")]
    assert any("微波加热" in t for t in labels)
    nav = page.select_one("details.nav")
    assert float(nav["data-lat"]) and nav["data-name"] == "红骑瓯创·骑手驿站"
    assert {a["class"][-1] for a in nav.select("a")} == {"nav-amap", "nav-baidu", "nav-tencent"}
    assert page.select_one(".qr img")["src"] == "/stations/rs-330304-001/qr.svg"
    assert page.select_one(".qr-url").get_text() == "http://localhost/stations/rs-330304-001"


def test_unknown_station_is_a_404_page(client):
    resp = client.get("/stations/no-such-station")
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    page = BeautifulSoup(resp.data, "html.parser")
    assert "找不到这个驿站" in page.select_one("h2").get_text()
    assert client.get("/stations/no-such-station/qr.svg").status_code == 404


def test_qr_code_encodes_the_absolute_station_url(client):
    resp = client.get("/stations/rs-330304-001/qr.svg")
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"
    expected = segno.make("http://localhost/stations/rs-330304-001", error="m")
    assert qr_modules(resp.data) == qr_modules(expected.svg_inline(scale=10, border=2))
    assert qr_modules(resp.data) != qr_modules(
        segno.make("http://localhost/stations/rs-330302-001", error="m").svg_inline()
    )


def test_qr_code_uses_the_public_url_behind_a_proxy(app_factory):
    client = app_factory(PUBLIC_URL="https://yizhan.example.cn/wz").test_client()
    resp = client.get("/stations/rs-330304-001/qr.svg")
    expected = segno.make("https://yizhan.example.cn/wz/stations/rs-330304-001", error="m")
    assert qr_modules(resp.data) == qr_modules(expected.svg_inline(scale=10, border=2))
    page = soup(client.get("/stations/rs-330304-001"))
    assert page.select_one(".qr-url").get_text() == "https://yizhan.example.cn/wz/stations/rs-330304-001"


def test_station_text_is_escaped_in_server_pages(client, roster):
    add_xss_station(roster)
    for url in ("/stations/xss-1", "/?q=window.__xss", "/?district=330304"):
        page = soup(client.get(url))
        assert not page.select("img[src=x]")
        assert not [s for s in page.find_all("script") if "__xss" in s.get_text()]
        assert XSS_NAME in page.get_text()
