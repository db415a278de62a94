"""The OpenAPI document is generated from the code and complete; the docs page renders it in Chinese."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

pytestmark = pytest.mark.read_only


@pytest.fixture
def doc(client):
    """The served OpenAPI document."""
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.content_type == "application/json"
    return resp.get_json()


def test_every_api_and_ogc_route_is_in_the_document(app, doc):
    # The organizer API (/api/v1/admin, token-only) is documented in docs/organizers.md, not in
    # the public document that riders' apps and GIS tools read.
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/v1", "/ogc", "/healthz", "/readyz")) and not rule.rule.startswith(
            "/api/v1/admin"
        ):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            assert "get" in doc["paths"].get(path, {}), f"{rule.rule} is not documented"


def test_document_is_openapi_30_with_constraints(doc):
    assert doc["openapi"] == "3.0.3"
    params = {p["name"]: p for p in doc["paths"]["/api/v1/stations/nearest"]["get"]["parameters"]}
    assert params["lat"]["required"] and params["lat"]["schema"]["minimum"] == -90
    assert params["lat"]["schema"]["maximum"] == 90
    assert params["k"]["schema"]["maximum"] == 50 and params["k"]["schema"]["default"] == 5
    assert params["coord"]["schema"]["enum"] == ["wgs84", "gcj02", "bd09"]
    assert params["type"]["schema"]["type"] == "array" and params["type"]["explode"] is True
    assert "rider_station" in params["type"]["schema"]["items"]["enum"]
    assert params["district"]["schema"]["items"]["pattern"] == "^[0-9]{6}$"


def test_document_declares_problem_responses_and_media_types(doc):
    schemas = doc["components"]["schemas"]
    assert {"type", "title", "status"} <= set(schemas["Problem"]["required"])
    for path, methods in doc["paths"].items():
        for op in methods.values():
            assert op["responses"]["400"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
                "/Problem"
            ), path
            assert op["summary"] and op["operationId"]
    catalogue = doc["paths"]["/api/v1/stations"]["get"]["responses"]
    assert set(catalogue["200"]["content"]) == {"application/json", "application/geo+json"}
    assert "304" in catalogue and "ETag" in catalogue["200"]["headers"]
    assert "404" in doc["paths"]["/api/v1/stations/{station_id}"]["get"]["responses"]


def test_document_uses_no_openapi_31_only_keywords(doc):
    text = str(doc)
    assert "'const'" not in text and "{'type': 'null'}" not in text


def test_docs_page_is_chinese_and_lists_every_operation(client, doc):
    resp = client.get("/api/docs")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    soup = BeautifulSoup(resp.data, "html.parser")
    assert soup.html["lang"] == "zh-CN" and "接口文档" in soup.h1.text
    sections = soup.select("section.op")
    assert len(sections) == sum(len(m) for m in doc["paths"].values())
    nearest = soup.select_one("#get_api_v1_stations_nearest")
    names = [td.code.text for td in nearest.select("tbody tr td:first-child") if td.code]
    assert {"lat", "lng", "coord", "k", "radius_m", "type", "amenity", "district", "open_now"} <= set(names)
    for tag in soup.select("script[src], link[href]"):
        assert not (tag.get("src") or tag.get("href")).startswith(("http:", "https:", "//"))


@pytest.mark.browser
def test_docs_page_in_chromium_loads_nothing_foreign(browser_page):
    page = browser_page.page
    page.goto(browser_page.base_url + "/api/docs")
    assert page.locator("h1").inner_text().startswith("驿站地图")
    assert page.locator("section.op").count() >= 14
    assert browser_page.foreign_requests == [] and browser_page.console_errors == []
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375 + 1  # tables scroll inside themselves; the page does not
