"""OGC API – Features Part 1: Core, GeoJSON and OpenAPI 3.0 conformance classes under /ogc.

Each test names the requirement(s) of OGC 17-069r4 it checks (/req/core/..., /req/geojson/...,
/req/oas30/...).
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.read_only

GEOJSON = "application/geo+json"


def rels(body) -> dict[str, dict]:
    """Links by relation."""
    return {link["rel"]: link for link in body["links"]}


def path_of(href: str) -> str:
    """The path and query of an absolute link."""
    u = urlparse(href)
    return u.path + ("?" + u.query if u.query else "")


@pytest.mark.parametrize("url", ["/ogc", "/ogc/"])
def test_req_core_root_op_and_root_success(client, url):
    """/req/core/root-op, /req/core/root-success: the landing page links the API definition, conformance, data."""
    resp = client.get(url)
    assert resp.status_code == 200 and resp.content_type == "application/json"
    links = rels(resp.get_json())
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(links)
    assert path_of(links["data"]["href"]) == "/ogc/collections"
    assert path_of(links["conformance"]["href"]) == "/ogc/conformance"


def test_req_core_api_definition_success_and_oas30(client):
    """/req/core/api-definition-op, /req/oas30/oas-definition-1, /req/oas30/oas-impl: OpenAPI 3.0 covering /ogc."""
    link = rels(client.get("/ogc").get_json())["service-desc"]
    assert link["type"] == "application/vnd.oai.openapi+json;version=3.0"
    doc = client.get(path_of(link["href"])).get_json()
    assert doc["openapi"].startswith("3.0")
    for path in [
        "/ogc",
        "/ogc/conformance",
        "/ogc/collections",
        "/ogc/collections/{collection_id}",
        "/ogc/collections/{collection_id}/items",
        "/ogc/collections/{collection_id}/items/{feature_id}",
    ]:
        assert "get" in doc["paths"][path], path
    limit = next(
        p for p in doc["paths"]["/ogc/collections/{collection_id}/items"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit["schema"]["default"] == 10 and limit["schema"]["minimum"] == 1
    service_doc = client.get(path_of(rels(client.get("/ogc").get_json())["service-doc"]["href"]))
    assert service_doc.status_code == 200 and service_doc.mimetype == "text/html"


def test_req_core_conformance_success(client):
    """/req/core/conformance-op, /req/core/conformance-success: core, geojson and oas30 declared."""
    body = client.get("/ogc/conformance").get_json()
    base = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
    assert {base + "core", base + "geojson", base + "oas30"} <= set(body["conformsTo"])


def test_req_core_fc_md_success_links_items_and_extent(client):
    """/req/core/fc-md-op, -success, -links, -items, -items-links, -extent; /req/core/crs84."""
    body = client.get("/ogc/collections").get_json()
    assert "self" in rels(body)
    ids = [c["id"] for c in body["collections"]]
    assert ids == ["stations", "districts"]
    for c in body["collections"]:
        assert path_of(rels(c)["items"]["href"]) == f"/ogc/collections/{c['id']}/items"
        assert rels(c)["items"]["type"] == GEOJSON
        (bbox,) = c["extent"]["spatial"]["bbox"]
        assert len(bbox) == 4 and bbox[0] < bbox[2] and bbox[1] < bbox[3]
        assert 119 < bbox[0] < 122 and 26 < bbox[1] < 29
        assert c["crs"] == ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"] and c["itemType"] == "feature"


def test_req_core_sfc_md_success(client):
    """/req/core/sfc-md-op, /req/core/sfc-md-success: one collection equals its entry in /collections."""
    listed = {c["id"]: c for c in client.get("/ogc/collections").get_json()["collections"]}
    for cid in ("stations", "districts"):
        assert client.get(f"/ogc/collections/{cid}").get_json() == listed[cid]
    resp = client.get("/ogc/collections/bakeries")
    assert resp.status_code == 404 and resp.content_type == "application/problem+json"


def test_req_core_fc_response_counts_timestamp_and_links(client):
    """/req/core/fc-op, fc-response, fc-links, fc-timeStamp, fc-numberMatched, fc-numberReturned, geojson/content."""
    resp = client.get("/ogc/collections/stations/items")
    assert resp.status_code == 200 and resp.content_type == GEOJSON
    body = resp.get_json()
    assert body["type"] == "FeatureCollection"
    assert body["numberReturned"] == len(body["features"]) == 10  # default limit
    assert body["numberMatched"] == 200
    assert body["timeStamp"].startswith("20")
    links = rels(body)
    assert links["self"]["type"] == GEOJSON and "offset=10" in links["next"]["href"]
    f = body["features"][0]
    assert f["type"] == "Feature" and f["geometry"]["type"] == "Point" and isinstance(f["id"], str)


def test_req_core_fc_next_links_walk_the_whole_collection(client):
    """/req/core/fc-links: following next links visits every feature once; prev links go back."""
    seen, url, pages = [], "/ogc/collections/stations/items?limit=64", 0
    while url:
        body = client.get(url).get_json()
        pages += 1
        seen += [f["id"] for f in body["features"]]
        if pages > 1:
            assert "prev" in rels(body)
        url = path_of(rels(body)["next"]["href"]) if "next" in rels(body) else None
    assert pages == 4 and len(seen) == len(set(seen)) == 200


@pytest.mark.parametrize(("limit", "returned"), [(1, 1), (10, 10), (10000, 200), (10001, 200), (99999999, 200)])
def test_req_core_fc_limit_definition_and_response(client, limit, returned):
    """/req/core/fc-limit-definition, /req/core/fc-limit-response-1: at most `limit`; larger values clamped."""
    body = client.get(f"/ogc/collections/stations/items?limit={limit}").get_json()
    assert body["numberReturned"] == returned
    if limit > 10000:
        assert "limit=10000" in rels(body)["self"]["href"]


def test_req_core_fc_bbox_response(client):
    """/req/core/fc-bbox-definition, /req/core/fc-bbox-response: only features within the bbox (4 or 6 numbers)."""
    bbox = (120.6, 27.95, 120.75, 28.05)
    body = client.get("/ogc/collections/stations/items", query_string={"bbox": ",".join(map(str, bbox)), "limit": 1000})
    body = body.get_json()
    assert 0 < body["numberMatched"] < 200
    for f in body["features"]:
        x, y = f["geometry"]["coordinates"]
        assert bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3]
    six = client.get("/ogc/collections/stations/items?bbox=120.6,27.95,0,120.75,28.05,100&limit=1000").get_json()
    assert six["numberMatched"] == body["numberMatched"]
    districts = client.get("/ogc/collections/districts/items?bbox=120.6,27.95,120.75,28.05").get_json()
    assert 1 <= districts["numberMatched"] < 12


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("offset=-3", "offset"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=120,29,121,28", "bbox"),  # south > north (west > east crosses the antimeridian)
        ("bbox=x,28,120,29", "bbox"),
        ("f=xml", "f"),
    ],
)
def test_req_core_query_param_invalid(client, query, parameter):
    """/req/core/query-param-invalid: an invalid value is a 400 naming the parameter."""
    resp = client.get("/ogc/collections/stations/items?" + query)
    assert resp.status_code == 400 and resp.get_json()["parameter"] == parameter


@pytest.mark.parametrize(
    "url", ["/ogc/collections/stations/items?color=red", "/ogc?x=1", "/ogc/collections?datetime=now"]
)
def test_req_core_query_param_unknown(client, url):
    """/req/core/query-param-unknown: a parameter the API definition does not declare is a 400."""
    assert client.get(url).status_code == 400


def test_req_core_f_op_f_success_and_links(client):
    """/req/core/f-op, /req/core/f-success, /req/core/f-links: one feature with self and collection links."""
    first = client.get("/ogc/collections/stations/items?limit=1").get_json()["features"][0]
    resp = client.get(path_of(rels(first)["self"]["href"]))
    assert resp.status_code == 200 and resp.content_type == GEOJSON
    feature = resp.get_json()
    assert feature["id"] == first["id"] and feature["type"] == "Feature"
    assert path_of(rels(feature)["collection"]["href"]) == "/ogc/collections/stations"
    district = client.get("/ogc/collections/districts/items/330302").get_json()
    assert district["properties"]["name"] == "鹿城区" and district["geometry"]["type"] in ("Polygon", "MultiPolygon")


@pytest.mark.parametrize("url", ["/ogc/collections/stations/items/nope", "/ogc/collections/districts/items/999999"])
def test_unknown_feature_is_a_404_problem(client, url):
    resp = client.get(url)
    assert resp.status_code == 404 and resp.content_type == "application/problem+json"


def test_req_geojson_definition_coordinates_are_wgs84(client, roster):
    """/req/geojson/definition, /req/core/crs84: station points are WGS-84 longitude, latitude."""
    f = client.get("/ogc/collections/stations/items/rs-330302-001").get_json()
    s = roster.store.get("rs-330302-001")
    assert f["geometry"]["coordinates"] == [s.lng, s.lat]
