"""The OpenAPI document is generated from the code and complete; the docs page renders it in Chinese."""

from __future__ import annotations

import json
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
    """Every route and method, the organizer API (/api/v1/admin) included; /ogc/ is /ogc's alias."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/v1", "/ogc", "/healthz", "/readyz")):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            if path == "/ogc/":
                path = "/ogc"
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                assert method.lower() in doc["paths"].get(path, {}), f"{method} {rule.rule} is not documented"


def test_operation_ids_are_unique_and_paths_have_no_trailing_slash(doc):
    """Finding 6: /ogc and /ogc/ shared the operationId get_ogc."""
    ids = [op["operationId"] for methods in doc["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))
    assert not [p for p in doc["paths"] if p.endswith("/") and p != "/"]


def test_problem_answers_are_documented_where_they_can_occur(doc):
    """Finding 6: 429 under a rate limit, 413 with a body, 401/403/409/412/422/428 on the organizer API."""
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            responses = op["responses"]
            if path not in ("/healthz", "/readyz"):
                assert "429" in responses and "Retry-After" in responses["429"]["headers"], (method, path)
            if "requestBody" in op:
                assert "413" in responses, (method, path)
            for status, answer in responses.items():
                if status[0] in "45" and status != "422":
                    assert "application/problem+json" in answer["content"], (status, method, path)
    admin = doc["paths"]["/api/v1/admin/stations/{station_id}"]
    assert {"401", "403", "404", "412", "422", "428"} <= set(admin["put"]["responses"])
    assert {"409", "422"} <= set(doc["paths"]["/api/v1/admin/import"]["post"]["responses"])
    assert "503" in doc["paths"]["/api/v1/wechat/jssdk-config"]["get"]["responses"]
    assert "503" in doc["paths"]["/readyz"]["get"]["responses"]


def test_organizer_api_is_documented_with_its_bearer_scheme_under_its_own_tag(app, doc):
    """Finding 6: every operation of the token API, with the bearer scheme; public operations need none."""
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    admin = [
        (path, method, op)
        for path, methods in doc["paths"].items()
        for method, op in methods.items()
        if path.startswith("/api/v1/admin")
    ]
    routes = {
        (rule.rule, method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/admin")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert len(admin) == len(routes) >= 9  # the 8 roster operations and the coverage analysis
    for path, method, op in admin:
        assert op["tags"] == ["admin"] and op["security"] == [{"bearerAuth": []}], (method, path)
    public = [
        op for path, methods in doc["paths"].items() if not path.startswith("/api/v1/admin") for op in methods.values()
    ]
    assert all(op["security"] == [] for op in public)
    assert "admin" in {t["name"] for t in doc["tags"]}
    upload = doc["paths"]["/api/v1/admin/import"]["post"]["requestBody"]["content"]["multipart/form-data"]
    form = doc["components"]["schemas"][upload["schema"]["$ref"].split("/")[-1]]
    assert form["properties"]["file"]["format"] == "binary" and "layer" in form["properties"]
    assert doc["paths"]["/api/v1/admin/stations/{station_id}"]["delete"]["responses"]["204"]


def test_openapi_media_type_is_negotiated(client):
    """Finding 6: the OpenAPI media type when asked (as the OGC landing page's service-desc link says)."""
    asked = client.get("/api/v1/openapi.json", headers={"Accept": "application/vnd.oai.openapi+json;version=3.0"})
    assert asked.status_code == 200
    assert asked.headers["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert asked.headers["ETag"] != client.get("/api/v1/openapi.json").headers["ETag"]
    assert client.get("/api/v1/openapi.json", headers={"Accept": "*/*"}).mimetype == "application/json"


def test_the_default_answer_is_the_first_200_media_type(client):
    """Finding 7: the served document lists application/json first where the server answers JSON by default."""
    text = client.get("/api/v1/openapi.json").get_data(as_text=True)
    doc = json.loads(text)
    for path in ("/api/v1/stations", "/api/v1/stations/{station_id}", "/api/v1/districts"):
        assert list(doc["paths"][path]["get"]["responses"]["200"]["content"])[0] == "application/json", path
    ogc = doc["paths"]["/ogc/collections/{collection_id}/items"]["get"]["responses"]["200"]["content"]
    assert list(ogc)[0] == "application/geo+json"
    default = client.get("/api/v1/stations/rs-330304-001")
    assert default.mimetype == "application/json" and "features" not in default.get_json()


def test_no_null_defaults_and_nullable_has_a_type(doc):
    """Finding 6: Spectral rejected `default: null` outside an enum; Redocly `nullable` without `type`."""

    def walk(node, where):
        if isinstance(node, dict):
            assert not ("default" in node and node["default"] is None), where
            if node.get("nullable"):
                assert "type" in node, where
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(doc, "#")


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
