"""Issue 15 over HTTP: the card's station endpoint with a distance, one asset mechanism (digest, gzip,
immutable), rider pages revalidated by ETag, the sample banner rule, share tags, the wording helpers."""

from __future__ import annotations

import gzip
import re
from datetime import date, datetime, timedelta

import pytest
from bs4 import BeautifulSoup

from locator.coords import geodesic_m, wgs84_to_gcj02
from locator.hours import TZ
from locator.web.pages import phone_parts, tel_digits, when_zh

PAGES = ["/", "/?district=330302", "/stations/rs-330304-001", "/map", "/embed", "/embed/builder", "/admin/login"]


def soup_of(client, url: str) -> BeautifulSoup:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    return BeautifulSoup(resp.data, "html.parser")


# -- the card's data: the API's station with the distance from a position --------------------------------


def test_station_with_a_position_carries_the_geodesic_distance(client, roster):
    s = roster.snapshot().get("rs-330304-001")
    resp = client.get("/api/v1/stations/rs-330304-001?lat=27.9772&lng=120.6236")
    body = resp.get_json()
    assert body["distance_m"] == pytest.approx(float(geodesic_m(120.6236, 27.9772, s.lng, s.lat)), abs=0.06)
    assert resp.headers["Cache-Control"] == "private, no-store"
    plain = client.get("/api/v1/stations/rs-330304-001")
    assert "distance_m" not in plain.get_json() and plain.headers["Cache-Control"].startswith("public")


def test_station_position_may_be_gcj02_like_the_basemap(client, roster):
    s = roster.snapshot().get("rs-330304-001")
    g_lng, g_lat = (float(v) for v in wgs84_to_gcj02(120.6236, 27.9772))
    body = client.get(f"/api/v1/stations/rs-330304-001?coord=gcj02&lat={g_lat}&lng={g_lng}").get_json()
    assert body["distance_m"] == pytest.approx(float(geodesic_m(120.6236, 27.9772, s.lng, s.lat)), abs=0.2)
    assert body["location"]["crs"] == "gcj02"


@pytest.mark.parametrize(("query", "parameter"), [("lat=27.9", "lng"), ("lng=120.6", "lat"), ("lat=95&lng=120", "lat")])
def test_station_position_is_validated(client, query, parameter):
    resp = client.get(f"/api/v1/stations/rs-330304-001?{query}")
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["parameter"] == parameter


def test_openapi_documents_the_position_of_one_station(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    op = doc["paths"]["/api/v1/stations/{station_id}"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"lat", "lng", "coord"} <= names
    assert "distance_m" in op["description"]


# -- assets ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", PAGES)
def test_every_stylesheet_and_script_is_content_addressed_gzip_and_immutable(client, url):
    page = soup_of(client, url)
    links = [t["href"] for t in page.select("link[rel=stylesheet]")] + [t["src"] for t in page.select("script[src]")]
    assert links, url
    for href in links:
        assert re.match(r"^/assets/[0-9a-f]{16}/", href), (url, href)
        resp = client.get(href, headers={"Accept-Encoding": "gzip, deflate, br"})
        assert resp.status_code == 200
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert resp.headers["Content-Encoding"] == "gzip"
        assert len(gzip.decompress(resp.data)) > len(resp.data)
    assert not page.select("[onclick], [onload], [onerror]")  # no inline handlers: a CSP can come later


def test_an_edited_file_gets_a_new_url_and_the_old_one_is_gone(client, tmp_path, monkeypatch):
    import shutil

    from locator.web import assets

    static = tmp_path / "static"
    shutil.copytree(assets.STATIC, static)  # a copy of the real files: the 404 page links them too
    (static / "css" / "x.css").write_text("a{}")
    monkeypatch.setattr(assets, "STATIC", static)
    with client.application.test_request_context():
        old = assets.asset_url("css/x.css")
        (static / "css" / "x.css").write_text("a{color:red}")
        import os

        os.utime(static / "css" / "x.css", (1, 1))
        new = assets.asset_url("css/x.css")
    assert old != new
    assert client.get(new).data == b"a{color:red}"
    assert client.get(old).status_code == 404


def test_favicon_is_served(client):
    resp = client.get("/favicon.ico")
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"


# -- rider pages: compressed, revalidated, back-forward cacheable ---------------------------------------


@pytest.mark.parametrize("url", ["/", "/?district=330302", "/stations/rs-330304-001"])
def test_rider_pages_are_gzipped_and_revalidated_by_etag(client, roster, url):
    resp = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Cache-Control"] == "no-cache"  # not no-store: the back-forward cache may keep it
    etag = resp.headers["ETag"]
    again = client.get(url, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    assert again.status_code == 304 and again.data == b""
    roster.store.create(
        roster.validate({"name": "新站", "type": "rider_station", "lng": 120.65, "lat": 28.0, "hours": "24/7"}),
        actor="test",
        via="test",
    )
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200


def test_type_filter_on_server_lists(client, roster):
    page = soup_of(client, "/?district=330304&type=finance_station")
    ids = [li["data-id"] for li in page.select("#server-results li.station")]
    expected = sorted(
        (s for s in roster.snapshot().stations if s.district == "330304" and s.type == "finance_station"),
        key=lambda s: (s.name, s.id),
    )
    assert ids == [s.id for s in expected] and ids
    assert {t.get_text() for t in page.select("#server-results .type")} == {"金融服务站"}
    assert page.select_one("input[name=type][value=finance_station]").has_attr("checked")


# -- the sample-data banner and marks --------------------------------------------------------------------


def test_all_sample_roster_has_the_banner_and_no_per_card_marks(client):
    for url in ("/?district=330304", "/stations/rs-330304-001"):
        page = soup_of(client, url)
        assert len(page.select(".sample-notice")) == 1
        assert page.select(".sample-mark") == []
        assert "（位置为示意）" not in page.select_one("main").get_text()  # the page's own second mark is gone


def test_mixed_roster_marks_each_sample_station_once_and_shows_no_banner(client, roster):
    real = roster.store.create(
        roster.validate({"id": "real-1", "name": "真实驿站", "type": "rider_station", "lng": 120.63, "lat": 27.98,
                         "hours": "24/7", "address": "温州市瓯海区娄桥街道真实路1号"}),
        actor="test", via="test",
    )  # fmt: skip
    page = soup_of(client, f"/?district={real.district}")
    assert page.select(".sample-notice") == []
    for li in page.select("#server-results li.station"):
        marks = li.select(".sample-mark")
        assert len(marks) == (0 if li["data-id"] == "real-1" else 1), li["data-id"]
    station = soup_of(client, "/stations/rs-330304-001")
    assert station.select(".sample-notice") == [] and len(station.select(".sample-mark")) == 1
    assert soup_of(client, "/stations/real-1").select(".sample-mark") == []
    assert soup_of(client, "/map").select(".sample-notice") == []
    assert soup_of(client, "/embed").select(".lm-notice-embed") == []


# -- head: description, icon, one viewport, share tags ----------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/?district=330302", "/stations/rs-330304-001", "/map", "/embed"])
def test_pages_have_description_icon_viewport_and_share_tags(client, url):
    page = soup_of(client, url)
    viewports = page.select("meta[name=viewport]")
    assert len(viewports) == 1 and "user-scalable" not in viewports[0]["content"]
    assert "maximum-scale" not in viewports[0]["content"]
    assert len(page.select_one("meta[name=description]")["content"]) >= 20
    assert page.select_one("link[rel=icon]")
    title = page.select_one("meta[property='og:title']")["content"]
    assert re.search(r"[\u4e00-\u9fff]", title)
    assert page.select_one("meta[property='og:description']")["content"]
    assert page.select_one("meta[property='og:image']")["content"].startswith("http://localhost/")
    assert not page.select("head script[src]:not([defer])")


def test_station_share_tags_name_the_station(client):
    page = soup_of(client, "/stations/rs-330304-001")
    assert page.select_one("meta[property='og:title']")["content"] == "红骑瓯创·骑手驿站"
    assert page.select_one("meta[property='og:url']")["content"] == "http://localhost/stations/rs-330304-001"


# -- wording -------------------------------------------------------------------------------------------


def test_next_opening_says_today_tomorrow_or_the_date():
    today = date(2026, 11, 30)
    assert when_zh("2026-11-30T08:30:00+08:00", today) == "今天 08:30"
    assert when_zh("2026-12-01T09:00:00+08:00", today) == "明天 09:00"
    assert when_zh("2026-12-03T07:05:00+08:00", today) == "12月3日 07:05"
    assert when_zh("2026-11-30T16:00:00+00:00", today) == "明天 00:00"  # Asia/Shanghai, whatever the offset
    now = datetime.now(TZ)
    assert when_zh((now + timedelta(days=1)).isoformat()).startswith("明天 ")


def test_contacts_become_tel_links_only_where_numbers_are():
    parts = phone_parts("张站长 0577-8888 6666，或 13800138000")
    assert [p for p, is_phone in parts if is_phone] == ["0577-8888 6666", "13800138000"]
    assert "".join(p for p, _ in parts) == "张站长 0577-8888 6666，或 13800138000"
    assert tel_digits("0577-8888 6666") == "057788886666"
    assert phone_parts("工作日上午") == [("工作日上午", False)]


def test_hours_use_chinese_punctuation(client):
    page = soup_of(client, "/?q=娄桥")
    text = page.select_one("#server-results").get_text()
    assert "周六,周日" not in text and "Sa" not in text
