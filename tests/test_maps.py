"""Maps: basemaps and their coordinates, no-CDN assets, parameters, caching per data version, pictures."""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup

from locator.coords import wgs84_to_gcj02
from locator.web.assets import asset_url

ROOT = Path(__file__).resolve().parent.parent

XSS_NAME = "<script>window.__xss=1</script>"
XSS_ADDRESS = '<img src=x onerror="window.__xss=1">'


def add_station(roster, **fields):
    """Create one validated station through the store (bumps the data version)."""
    raw = {"name": "测试驿站", "type": "rider_station", "lng": 120.6994, "lat": 27.9938, "hours": "24/7"}
    raw.update(fields)
    return roster.store.create(roster.validate(raw), actor="test", via="test")


def page_assets(html: str) -> list[str]:
    """Every src/href a page references."""
    soup = BeautifulSoup(html, "html.parser")
    return [
        t.get("src") or t.get("href")
        for t in soup.find_all(["script", "link", "img", "iframe"])
        if t.get("src") or t.get("href")
    ]


def data_url(html: str) -> str:
    """The station data URL the map script loads."""
    m = re.search(r'"dataUrl":"([^"]+)"', html)
    assert m, "the page names no data URL"
    return m.group(1).replace("\\u0026", "&")


def map_data(client, page_url: str) -> dict:
    """The station data of the map at page_url."""
    page = client.get(page_url)
    assert page.status_code == 200, page.data[:300]
    resp = client.get(data_url(page.get_data(as_text=True)))
    assert resp.status_code == 200
    return resp.get_json()


@pytest.mark.parametrize("url", ["/map", "/embed", "/embed/builder"])
def test_pages_reference_only_this_service(client, url):
    html = client.get(url).get_data(as_text=True)
    assets = [a for a in page_assets(html) if not a.startswith(("#", "mailto:"))]
    assert assets
    for a in assets:
        assert a.startswith("/") or a.startswith("http://localhost/"), a
    for banned in ("jquery", "bootstrap", "font-awesome", "fontawesome", "awesome-markers", "cdn"):
        assert banned not in html.lower(), banned


def test_folium_class_asset_lists_stay_untouched(client):
    import folium

    before = (list(folium.Map.default_js), list(folium.Map.default_css))
    client.get("/map?basemap=osm")
    assert (list(folium.Map.default_js), list(folium.Map.default_css)) == before
    assert any("cdn" in url for _, url in folium.Map.default_js)


@pytest.mark.parametrize(
    "path",
    [
        "/static/vendor/leaflet-1.9.4/leaflet.js",
        "/static/vendor/leaflet-1.9.4/leaflet.css",
        "/static/vendor/supercluster-8.0.1/supercluster.min.js",
    ],
)
def test_vendored_assets_are_gzipped_and_immutable(client, path):
    resp = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    body = gzip.decompress(resp.data)
    plain = client.get(path)
    assert plain.data == body and "Content-Encoding" not in plain.headers
    assert len(resp.data) < len(body) / 2


def test_own_assets_need_their_current_digest(client):
    html = client.get("/embed").get_data(as_text=True)
    first = BeautifulSoup(html, "html.parser").select_one("script[data-load]")
    url = next(a for a in first["data-load"].split() if a.endswith("bundles/map-page.js"))
    resp = client.get(url)
    assert resp.headers["Cache-Control"].endswith("immutable")
    assert b"LocatorMap" in resp.data and b"LocatorCard" in resp.data
    # supercluster and the first markers travel inline, in the page
    assert "Supercluster" in first.string and "LocatorFirst" in first.string
    with client.application.test_request_context():
        admin_url = asset_url("bundles/map.js")  # pages that draw a LocatorMap of their own
    admin = client.get(admin_url)
    assert all(name in admin.data for name in (b"Supercluster", b"LocatorFirst", b"LocatorCard", b"LocatorMap"))
    assert client.get("/assets/0000000000000000/bundles/map.js").status_code == 404
    assert client.get("/assets/0000000000000000/maps/locator-map.js").status_code == 404


def test_map_pages_allow_pinch_zoom_and_do_not_block_first_paint(client):
    for url in ("/map", "/embed"):
        soup = BeautifulSoup(client.get(url).data, "html.parser")
        viewports = soup.select("meta[name=viewport]")
        assert len(viewports) == 1
        assert "user-scalable" not in viewports[0]["content"] and "maximum-scale" not in viewports[0]["content"]
        # No script blocks the first paint: no external script in the page at all (the inline first-markers
        # script, after the map, loads Leaflet and the map script itself once the first markers are drawn).
        assert not soup.select("script[src]")
        first = soup.select_one("script[data-load]")
        assert first.find_previous("div", class_="folium-map") is not None
        loads = first["data-load"].split()
        assert loads[0].endswith("leaflet.js") and loads[1].endswith("bundles/map-page.js")
        assert soup.select_one("link[rel=icon]")["href"].startswith("/assets/")
        assert len(soup.select_one("meta[name=description]")["content"]) > 10
        assert soup.select_one("meta[property='og:image']")["content"].startswith("http")
        assert not soup.select("[onclick]")


def test_vendored_licences_are_kept(client):
    assert client.get("/static/vendor/leaflet-1.9.4/LICENSE").status_code == 200
    assert client.get("/static/vendor/supercluster-8.0.1/LICENSE").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/static/vendor/../../config.py",
        "/static/vendor/nope.js",
        "/assets/x/../maps.py",
        "/assets/x/../../locator/config.py",
        "/assets/0/bundles/nope.js",
    ],
)
def test_asset_routes_refuse_unknown_paths(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("basemap", "crs", "shifted"),
    [("amap", "gcj02", True), ("osm", "wgs84", False), ("tianditu", "wgs84", False)],
)
def test_station_carries_the_coordinates_its_basemap_needs(app_factory, basemap, crs, shifted):
    app = app_factory(TIANDITU_KEY="test-key")
    roster = app.extensions["roster"]
    station = add_station(roster, name="坐标检查站", lng=120.65, lat=28.01)
    data = map_data(app.test_client(), f"/embed?basemap={basemap}")
    assert data["crs"] == crs
    row = next(r for r in data["stations"] if r[4] == station.id)
    lng, lat = wgs84_to_gcj02(station.lng, station.lat) if shifted else (station.lng, station.lat)
    assert row[0] == pytest.approx(lat, abs=2e-6) and row[1] == pytest.approx(lng, abs=2e-6)
    if shifted:  # about half a kilometre in Wenzhou: a real shift, not a rounding
        assert abs(row[1] - station.lng) > 0.003


@pytest.mark.parametrize(
    ("basemap", "host", "attribution"),
    [
        ("amap", "webrd0{s}.is.autonavi.com", "高德地图"),
        ("osm", "tile.openstreetmap.org", "OpenStreetMap"),
        ("tianditu", "tianditu.gov.cn", "天地图"),
    ],
)
def test_tiles_and_attribution_follow_the_basemap(app_factory, basemap, host, attribution):
    app = app_factory(TIANDITU_KEY="k123")
    html = app.test_client().get(f"/map?basemap={basemap}").get_data(as_text=True)
    assert host in html and attribution in html
    if basemap == "tianditu":
        assert "vec_w" in html and "cva_w" in html and "tk=k123" in html


def test_district_boundaries_are_shifted_on_amap(client):
    def outlines(key):
        html = client.get(f"/map?basemap={key}").get_data(as_text=True)
        url = re.search(r'"districtsUrl":"([^"]+)"', html).group(1).replace("\\u0026", "&")
        return client.get(url).get_data(as_text=True)

    amap, osm = outlines("amap"), outlines("osm")

    def first_point(html):
        m = re.search(r'"coordinates":\[\[\[(?:\[)?([\d.]+),([\d.]+)\]', html)
        return float(m.group(1)), float(m.group(2))

    (x1, y1), (x0, y0) = first_point(amap), first_point(osm)
    gx, gy = wgs84_to_gcj02(x0, y0)
    assert (x1, y1) == pytest.approx((gx, gy), abs=2e-5)


def test_configured_basemap_is_the_default(app_factory):
    app = app_factory(BASEMAP="osm")
    assert map_data(app.test_client(), "/embed")["crs"] == "wgs84"


def test_tianditu_setting_without_key_falls_back_to_osm(app_factory):
    app = app_factory(BASEMAP="tianditu")
    html = app.test_client().get("/embed").get_data(as_text=True)
    assert "tile.openstreetmap.org" in html and "tianditu" not in html


def test_tianditu_parameter_without_key_is_refused_clearly(client):
    resp = client.get("/embed?basemap=tianditu", headers={"Accept": "application/json"})
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["parameter"] == "basemap"
    assert "LOCATOR_TIANDITU_KEY" in resp.get_json()["detail"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("basemap=google", "basemap"),
        ("type=cafe", "type"),
        ("district=110101", "district"),
        ("amenity=sauna", "amenity"),
        ("center=abc", "center"),
        ("center=27.9", "center"),
        ("center=95,120", "center"),
        ("center=27.9,nan", "center"),
        ("zoom=25", "zoom"),
        ("zoom=3", "zoom"),
        ("zoom=x", "zoom"),
    ],
)
def test_bad_embed_parameters_get_a_400_naming_them(client, query, parameter):
    resp = client.get(f"/embed?{query}", headers={"Accept": "application/json"})
    assert resp.status_code == 400
    assert resp.get_json()["parameter"] == parameter
    page = client.get(f"/embed?{query}")
    assert page.status_code == 400 and page.mimetype == "text/html"
    soup = BeautifulSoup(page.data, "html.parser")
    assert parameter in soup.select_one(".problem-detail").get_text()


def test_embed_filters_choose_the_stations(client, roster):
    snap = roster.snapshot()
    stations = snap.stations
    want = [
        s.id for s in stations if s.type == "rider_station" and s.district == "330304" and "microwave" in s.amenities
    ]
    assert want
    data = map_data(client, "/embed?type=rider_station&district=330304&amenity=microwave")
    assert sorted(r[4] for r in data["stations"]) == sorted(want)
    assert len(map_data(client, "/embed")["stations"]) == len(stations)


def test_embed_center_and_zoom_set_the_view(client):
    html = client.get("/embed?basemap=osm&center=28.0,120.6&zoom=14").get_data(as_text=True)
    assert re.search(r"center\"?:\s*\[28\.0,\s*120\.6\]", html)
    assert re.search(r"zoom\"?:\s*14", html)
    assert '"fitData":false' in html


def test_builder_makes_an_iframe_snippet_for_the_filters(client):
    resp = client.get("/embed/builder?type=party_home&district=330302&basemap=osm&center=28.0,120.65&zoom=13")
    soup = BeautifulSoup(resp.data, "html.parser")
    snippet = soup.select_one("#snippet").get_text()
    frame = BeautifulSoup(snippet, "html.parser").iframe
    assert frame is not None and frame.has_attr("allowfullscreen")
    src = frame["src"]
    for part in ("/embed?", "basemap=osm", "type=party_home", "district=330302", "zoom=13"):
        assert part in src
    assert client.get(src.replace("http://localhost", "")).status_code == 200


def test_map_page_has_sample_notice_table_and_choropleth(client, roster):
    soup = BeautifulSoup(client.get("/map").data, "html.parser")
    assert soup.select_one(".sample-notice") is not None
    rows = soup.select("table.lm-districts tbody tr")
    assert len(rows) == 12
    counts = {r["data-code"]: int(r.select("td")[1].get_text()) for r in rows}
    expected = {}
    for s in roster.snapshot().stations:
        expected[s.district] = expected.get(s.district, 0) + 1
    assert {k: v for k, v in counts.items() if v} == expected
    html = str(soup)
    assert '"counts":{' in html and '"breaks":' in html and '"rings":[500,1000,3000]' in html


def test_real_roster_has_no_sample_notice(empty_app):
    roster = empty_app.extensions["roster"]
    add_station(roster)
    soup = BeautifulSoup(empty_app.test_client().get("/map").data, "html.parser")
    assert soup.select_one(".sample-notice") is None
    soup = BeautifulSoup(empty_app.test_client().get("/embed").data, "html.parser")
    assert soup.select_one(".lm-notice-embed") is None


def test_station_text_is_escaped_in_pages_and_data(empty_app):
    roster = empty_app.extensions["roster"]
    add_station(roster, name=XSS_NAME, address=XSS_ADDRESS)
    client = empty_app.test_client()
    html = client.get("/map").get_data(as_text=True)
    assert "<script>window" not in html and "<img src=x" not in html
    data = client.get(data_url(html))
    assert data.get_json()["stations"][0][3] == XSS_NAME


def test_station_card_comes_from_the_api(client, roster):
    html = client.get("/embed?basemap=amap").get_data(as_text=True)
    detail = re.search(r'"detailUrl":"([^"]+)"', html).group(1).replace("\\u0026", "&")
    s = roster.snapshot().stations[0]
    body = client.get(detail.replace("__ID__", s.id)).get_json()
    assert body["name"] == s.name and "open_now" in body and "hours_text" in body and "amenities" in body
    assert body["location"]["crs"] == "gcj02" and body["navigation"]["amap"].startswith("https://uri.amap.com/")


def test_district_outlines_come_from_our_data_in_the_basemaps_system(client):
    for key in ("amap", "osm"):
        html = client.get(f"/embed?basemap={key}").get_data(as_text=True)
        url = re.search(r'"districtsUrl":"([^"]+)"', html).group(1).replace("\\u0026", "&")
        resp = client.get(url)
        assert resp.status_code == 200 and resp.headers["Cache-Control"].endswith("immutable")
        assert len(resp.get_json()["features"]) == 12
    assert client.get("/maps/districts/0000.json?basemap=osm").status_code == 404


def test_maps_are_built_once_per_data_version(app, client, roster):
    client.get("/map")
    cache = app.extensions["maps_cache"]
    builds = cache.builds
    first = client.get("/map").data
    assert cache.builds == builds
    add_station(roster, name="新开驿站甲")
    html = client.get("/map").get_data(as_text=True)
    assert cache.builds == builds + 1 and html != first.decode()
    names = [r[3] for r in client.get(data_url(html)).get_json()["stations"]]
    assert "新开驿站甲" in names


def test_stale_data_url_is_not_cached_forever(client, roster):
    url = data_url(client.get("/embed").get_data(as_text=True))
    assert client.get(url).headers["Cache-Control"].endswith("immutable")
    add_station(roster, name="新开驿站乙")
    stale = client.get(url)
    assert stale.headers["Cache-Control"] == "no-store"
    assert "新开驿站乙" in [r[3] for r in stale.get_json()["stations"]]


def _png_array(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize("query", ["", "?district=330304"])
def test_coverage_png_is_a_real_picture(client, query):
    resp = client.get(f"/maps/coverage.png{query}")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    pixels = _png_array(resp.data)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 300
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20


def test_coverage_png_finds_a_cjk_font():
    from locator.pictures import cjk_font

    assert cjk_font() is not None, "install a CJK font (Debian: apt-get install fonts-noto-cjk)"


@pytest.mark.parametrize("query", ["district=999999", "district=abc", "type=rider_station"])
def test_coverage_png_rejects_bad_parameters(client, query):
    resp = client.get(f"/maps/coverage.png?{query}")
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"


def test_coverage_png_follows_the_roster(app, client, roster):
    first = client.get("/maps/coverage.png?district=330305").data
    assert client.get("/maps/coverage.png?district=330305").data == first
    add_station(roster, name="洞头新站", lng=121.16, lat=27.84)
    assert client.get("/maps/coverage.png?district=330305").data != first


def test_map_html_is_gzipped_for_clients_that_accept_it(client):
    resp = client.get("/map", headers={"Accept-Encoding": "gzip"})
    assert resp.headers["Content-Encoding"] == "gzip"
    assert BeautifulSoup(gzip.decompress(resp.data), "html.parser").select_one(".folium-map") is not None


def test_data_json_is_compact_columns(client):
    data = map_data(client, "/embed?basemap=osm")
    assert data["columns"] == ["lat", "lng", "type", "name", "id"]
    assert all(len(r) == 5 for r in data["stations"])
    json.dumps(data)


def test_map_libraries_stay_off_the_riders_path(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from locator import create_app\n"
        f"app = create_app({{'TESTING': True, 'DATABASE_URL': 'sqlite:///{tmp_path}/x.sqlite3', 'SECRET_KEY': 'x'}})\n"
        "app.test_client().get('/api/v1/stations/nearest?lng=120.7&lat=28.0')\n"
        "print(sorted(m for m in ('folium', 'geopandas', 'matplotlib', 'branca') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]"
