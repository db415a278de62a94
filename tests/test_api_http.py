"""HTTP behaviour of the API: ETag/304, Cache-Control, gzip, CORS, 404/405/413 problems."""

from __future__ import annotations

import gzip

import pytest

CACHEABLE = [
    "/api/v1/stations",
    "/api/v1/stations?f=geojson&type=rider_station",
    "/api/v1/stations/rs-330302-001",
    "/api/v1/districts",
    "/api/v1/vocabulary",
    "/api/v1/openapi.json",
    "/ogc",
    "/ogc/conformance",
    "/ogc/collections",
    "/ogc/collections/stations",
    "/ogc/collections/stations/items",
    "/ogc/collections/districts/items/330302",
]


@pytest.mark.parametrize("url", CACHEABLE)
def test_cacheable_responses_carry_etag_and_answer_304(client, url):
    resp = client.get(url)
    assert resp.status_code == 200
    etag = resp.headers["ETag"]
    assert etag.startswith('W/"') and "public" in resp.headers["Cache-Control"]
    assert "max-age=60" in resp.headers["Cache-Control"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    other = client.get(url, headers={"If-None-Match": 'W/"v0-other"'})
    assert other.status_code == 200


def test_etag_differs_by_request_and_by_data_version(client, roster):
    a = client.get("/api/v1/stations?limit=5").headers["ETag"]
    b = client.get("/api/v1/stations?limit=6").headers["ETag"]
    assert a != b
    station = roster.store.get("rs-330302-001")
    roster.store.delete(station.id, expected_version=station.version, actor="test", via="cli")
    c = client.get("/api/v1/stations?limit=5", headers={"If-None-Match": a})
    assert c.status_code == 200 and c.headers["ETag"] != a


def test_cache_max_age_comes_from_the_setting(app_factory):
    client = app_factory(API_CACHE_MAX_AGE="5").test_client()
    assert client.get("/api/v1/vocabulary").headers["Cache-Control"] == "public, max-age=5"


def test_json_is_gzipped_when_the_client_accepts_it(client):
    plain = client.get("/api/v1/stations?limit=20", headers={"Accept-Encoding": "identity"})
    zipped = client.get("/api/v1/stations?limit=20", headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data) / 3
    assert int(zipped.headers["Content-Length"]) == len(zipped.data)


def test_nearest_is_gzipped_too_but_tiny_answers_are_not(client):
    near = client.get("/api/v1/stations/nearest?lat=28&lng=120.7", headers={"Accept-Encoding": "gzip"})
    assert near.headers["Content-Encoding"] == "gzip"
    health = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in health.headers


@pytest.fixture
def cors_client(app_factory):
    """A client of an app that allows one origin."""
    return app_factory(CORS_ORIGINS="https://rider.example, https://maps.example").test_client()


def test_cors_allows_listed_origins(cors_client):
    resp = cors_client.get("/api/v1/vocabulary", headers={"Origin": "https://maps.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://maps.example"
    assert "ETag" in resp.headers["Access-Control-Expose-Headers"]
    assert "Origin" in resp.headers["Vary"]


def test_cors_ignores_other_origins(cors_client, client):
    resp = cors_client.get("/api/v1/vocabulary", headers={"Origin": "https://evil.example"})
    assert resp.status_code == 200 and "Access-Control-Allow-Origin" not in resp.headers
    default = client.get("/api/v1/vocabulary", headers={"Origin": "https://maps.example"})
    assert "Access-Control-Allow-Origin" not in default.headers  # empty list by default


def test_cors_preflight_is_answered(cors_client):
    resp = cors_client.options(
        "/api/v1/stations/nearest",
        headers={
            "Origin": "https://rider.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "If-None-Match",
        },
    )
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "https://rider.example"
    assert "GET" in resp.headers["Access-Control-Allow-Methods"]
    assert "If-None-Match" in resp.headers["Access-Control-Allow-Headers"]
    assert int(resp.headers["Access-Control-Max-Age"]) > 0


def test_cors_wildcard(app_factory):
    client = app_factory(CORS_ORIGINS="*").test_client()
    assert client.get("/ogc", headers={"Origin": "https://qgis.example"}).headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("url", ["/api/v1/nope", "/api/v2/stations", "/ogc/collections/stations/items/x/y"])
def test_unknown_api_path_is_a_404_problem(client, url):
    resp = client.get(url, headers={"Accept": "text/html"})
    assert resp.status_code == 404 and resp.content_type == "application/problem+json"
    assert resp.get_json()["status"] == 404


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_wrong_method_is_a_405_problem_with_allow(client, method):
    resp = getattr(client, method)("/api/v1/stations")
    assert resp.status_code == 405 and resp.content_type == "application/problem+json"
    assert {"GET", "HEAD", "OPTIONS"} <= {m.strip() for m in resp.headers["Allow"].split(",")}


def test_oversized_body_is_a_413_problem(app_factory):
    client = app_factory(MAX_UPLOAD_MB="1").test_client()
    resp = client.post("/api/v1/stations", data=b"x" * (1024 * 1024 + 1), content_type="application/json")
    assert resp.status_code == 413 and resp.content_type == "application/problem+json"
    assert client.get("/api/v1/vocabulary", data=b"x" * 500).status_code == 200


def test_unexpected_error_is_a_problem_not_html(app, client, monkeypatch):
    import locator.web.api as api

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(api, "station_json", boom)
    resp = client.get("/api/v1/stations", headers={"Accept": "text/html"})
    assert resp.status_code == 500 and resp.content_type == "application/problem+json"
    assert "boom" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_bad_http_settings_stop_the_start(app_factory, value):
    from locator.config import ConfigError

    with pytest.raises(ConfigError, match="MAX_UPLOAD_MB"):
        app_factory(MAX_UPLOAD_MB=value)


def test_vary_names_each_header_once_in_one_field(cors_client):
    """The answer's own Vary (Accept, from the ETag of a negotiated answer) merged with Origin and
    Accept-Encoding by web/http.py's Edge: one field, each name once, however the request asks."""
    for headers in ({"Origin": "https://maps.example"}, {"Origin": "https://maps.example", "Accept-Encoding": "gzip"}):
        resp = cors_client.get("/api/v1/stations", headers=headers)
        assert resp.headers.getlist("Vary") == ["Accept, Origin, Accept-Encoding"]


def test_refusals_before_flask_carry_every_answers_headers(app_factory):
    """A forged host and a declared body over the limit are refused by Edge, before any view: still a
    problem+json in Chinese with nosniff and the Referrer-Policy, and a page's policy for a person."""
    client = app_factory(MAX_UPLOAD_MB="1").test_client()
    big = client.post("/api/v1/stations", data=b"x" * (1024 * 1024 + 1), content_type="application/json")
    host = client.get("/", headers={"Host": "evil.example"})
    for resp in (big, host):
        assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["Referrer-Policy"]
    assert big.status_code == 413 and big.content_type == "application/problem+json"
    assert big.get_json()["detail_zh"]
    assert host.status_code == 400 and host.mimetype == "text/html"
    assert "default-src" in host.headers["Content-Security-Policy"]


def test_no_request_pays_an_app_wide_flask_hook(app):
    """Each hook Flask calls costs every request a few µs (issue 18: /healthz within 10 % of a bare
    Flask app's): app-wide work is Edge's; gzip is a hook of the API blueprints only."""
    assert not app.before_request_funcs.get(None)
    assert not app.after_request_funcs.get(None)
    assert set(app.after_request_funcs) == {"api", "apidocs", "ogc", "wechat", "admin_api", "admin_reports_api"}
