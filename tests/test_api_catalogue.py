"""Contract tests for the catalogue: /api/v1/stations, /stations/{id}, /districts, /vocabulary."""

from __future__ import annotations

import pytest

from locator.stations import AMENITIES, STATION_TYPES, STATUSES

pytestmark = pytest.mark.read_only


def ids_of(body):
    """Station ids of a JSON page."""
    return [s["id"] for s in body["stations"]]


def test_catalogue_lists_stations_in_id_order_with_totals(client, roster):
    resp = client.get("/api/v1/stations")
    assert resp.status_code == 200 and resp.content_type == "application/json"
    body = resp.get_json()
    assert body["total"] == len(roster.snapshot()) == 200
    assert body["count"] == body["limit"] == 50 and body["offset"] == 0
    assert ids_of(body) == sorted(ids_of(body))
    assert body["next"] and "cursor=" in body["next"]
    assert {link["rel"] for link in body["links"]} >= {"self", "next"}


def test_catalogue_cursor_pages_visit_every_station_once(client, roster):
    seen, url = [], "/api/v1/stations?limit=37&type=rider_station"
    while url:
        body = client.get(url).get_json()
        seen.extend(ids_of(body))
        url = body["next"]
    assert len(seen) == len(set(seen)) == 145
    assert seen == sorted(s.id for s in roster.snapshot().stations if s.type == "rider_station")


def test_catalogue_offset_paging_has_next_and_prev_links(client):
    all_ids = ids_of(client.get("/api/v1/stations?limit=200").get_json())
    body = client.get("/api/v1/stations?limit=20&offset=40").get_json()
    assert ids_of(body) == all_ids[40:60]
    assert "offset=60" in body["next"]
    prev = [link for link in body["links"] if link["rel"] == "prev"][0]
    assert "offset=20" in prev["href"]
    last = client.get("/api/v1/stations?limit=20&offset=190").get_json()
    assert last["count"] == 10 and last["next"] is None


def test_catalogue_filters_by_bbox(client):
    bbox = (120.6, 27.95, 120.75, 28.05)
    body = client.get("/api/v1/stations", query_string={"bbox": ",".join(map(str, bbox)), "limit": 1000}).get_json()
    assert body["total"] > 0
    for s in body["stations"]:
        assert bbox[0] <= s["location_wgs84"]["lng"] <= bbox[2] and bbox[1] <= s["location_wgs84"]["lat"] <= bbox[3]


def test_catalogue_searches_name_and_address(client):
    body = client.get("/api/v1/stations", query_string={"q": "瑞安", "limit": 1000}).get_json()
    assert body["total"] > 0
    assert all("瑞安" in s["name"] or "瑞安" in s["address"] for s in body["stations"])
    assert client.get("/api/v1/stations?q=%25").get_json()["total"] == 0  # LIKE wildcards are literal


def test_catalogue_filters_by_status_type_amenity_and_district(client):
    body = client.get("/api/v1/stations?status=temporarily_closed").get_json()
    assert body["total"] == 2 and {s["status"] for s in body["stations"]} == {"temporarily_closed"}
    body = client.get("/api/v1/stations?type=demo_site,party_home&limit=100").get_json()
    assert body["total"] == 15
    body = client.get("/api/v1/stations?amenity=toilet&amenity=charging&district=330304&limit=1000").get_json()
    for s in body["stations"]:
        assert s["district"] == "330304" and {"toilet", "charging"} <= {a["key"] for a in s["amenities"]}


@pytest.mark.parametrize("how", [{"query_string": {"f": "geojson"}}, {"headers": {"Accept": "application/geo+json"}}])
def test_catalogue_as_geojson(client, how):
    resp = client.get("/api/v1/stations", **how)
    assert resp.status_code == 200 and resp.content_type == "application/geo+json"
    body = resp.get_json()
    assert body["type"] == "FeatureCollection" and body["numberReturned"] == 50 and body["numberMatched"] == 200
    f = body["features"][0]
    assert f["geometry"]["type"] == "Point"
    assert f["geometry"]["coordinates"] == [
        f["properties"]["location_wgs84"]["lng"],
        f["properties"]["location_wgs84"]["lat"],
    ]


def test_catalogue_coord_converts_locations(client):
    body = client.get("/api/v1/stations?limit=1&coord=bd09").get_json()
    s = body["stations"][0]
    assert s["location"]["crs"] == "bd09" and s["location"]["lng"] != s["location_wgs84"]["lng"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=121,28,120,29", "bbox"),
        ("bbox=120,29,121,28", "bbox"),
        ("bbox=120,28,121,nan", "bbox"),
        ("bbox=120,28,190,29", "bbox"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("offset=-1", "offset"),
        ("cursor=nonsense", "cursor"),
        ("cursor=c1%21%21", "cursor"),
        ("cursor=c1YQ&offset=5", "cursor"),
        ("status=gone", "status"),
        ("type=bakery", "type"),
        ("amenity=sauna", "amenity"),
        ("district=123456", "district"),
        ("f=xml", "f"),
        ("page=2", "page"),
    ],
)
def test_catalogue_bad_input_is_a_problem_naming_the_parameter(client, query, parameter):
    resp = client.get("/api/v1/stations?" + query)
    assert resp.status_code == 400 and resp.content_type == "application/problem+json"
    assert resp.get_json()["parameter"] == parameter


def test_one_station_as_json_and_geojson(client, roster):
    sid = roster.snapshot().stations[3].id
    body = client.get(f"/api/v1/stations/{sid}").get_json()
    assert body["id"] == sid and "navigation" in body
    resp = client.get(f"/api/v1/stations/{sid}?f=geojson&coord=gcj02")
    assert resp.content_type == "application/geo+json"
    assert resp.get_json()["type"] == "Feature" and resp.get_json()["id"] == sid


def test_unknown_station_is_a_404_problem(client):
    resp = client.get("/api/v1/stations/no-such-station")
    assert resp.status_code == 404 and resp.content_type == "application/problem+json"
    assert "no-such-station" in resp.get_json()["detail"]


def test_districts_counts_per_type_add_up(client, roster):
    body = client.get("/api/v1/districts").get_json()
    assert body["count"] == 12 and len(body["districts"]) == 12
    live = [s for s in roster.snapshot().stations if s.status != "closed"]
    assert sum(d["stations"] for d in body["districts"]) + body["outside_districts"] == len(live)
    for d in body["districts"]:
        assert set(d["by_type"]) == set(STATION_TYPES) and sum(d["by_type"].values()) == d["stations"]
    lucheng = next(d for d in body["districts"] if d["code"] == "330302")
    assert lucheng["name"] == "鹿城区" and lucheng["stations"] == sum(1 for s in live if s.district == "330302")


def test_districts_with_boundaries_are_geojson(client):
    resp = client.get("/api/v1/districts?boundaries=true")
    assert resp.content_type == "application/geo+json"
    body = resp.get_json()
    assert len(body["features"]) == 12
    assert {f["geometry"]["type"] for f in body["features"]} <= {"Polygon", "MultiPolygon"}
    assert client.get("/api/v1/districts?boundaries=maybe").status_code == 400


def test_vocabulary_has_every_term_with_labels(client):
    body = client.get("/api/v1/vocabulary").get_json()
    assert [t["key"] for t in body["types"]] == list(STATION_TYPES)
    assert [t["key"] for t in body["amenities"]] == list(AMENITIES)
    assert [t["key"] for t in body["statuses"]] == list(STATUSES)
    assert {c["key"] for c in body["coords"]} == {"wgs84", "gcj02", "bd09"}
    assert all(t["zh"] and t["en"] for t in body["types"] + body["amenities"] + body["statuses"])
    assert client.get("/api/v1/vocabulary?lang=en").status_code == 400
