"""Contract tests for GET /api/v1/stations/nearest: parameters, shape, errors."""

from __future__ import annotations

import pytest

from locator.coords import wgs84_to_gcj02
from locator.nearest import StationFilter

pytestmark = pytest.mark.read_only

URL = "/api/v1/stations/nearest"
CENTRE = (120.6994, 28.0006)  # Wenzhou, WGS-84 (lng, lat)


def get(client, **params):
    """GET the nearest endpoint with these query parameters."""
    return client.get(URL, query_string=params)


def test_nearest_returns_k_stations_ordered_by_distance(client, roster):
    resp = get(client, lat=CENTRE[1], lng=CENTRE[0], k=7)
    assert resp.status_code == 200
    assert resp.content_type == "application/json"
    body = resp.get_json()
    assert body["count"] == 7 and len(body["stations"]) == 7
    distances = [s["distance_m"] for s in body["stations"]]
    assert distances == sorted(distances)
    expected = roster.nearest(*CENTRE, 7)
    assert [s["id"] for s in body["stations"]] == [h.station.id for h in expected.hits]
    assert body["sample_data"] is True
    assert body["query"]["k"] == 7 and body["query"]["coord"] == "wgs84"


def test_nearest_default_k_is_five(client):
    assert get(client, lat=CENTRE[1], lng=CENTRE[0]).get_json()["count"] == 5


def test_nearest_station_carries_navigation_targets_and_labels(client):
    station = get(client, lat=CENTRE[1], lng=CENTRE[0], k=1).get_json()["stations"][0]
    nav = station["navigation"]
    assert nav["wechat_open_location"]["crs"] == "gcj02"
    assert nav["amap"].startswith("https://uri.amap.com/navigation?")
    assert "coord_type=bd09ll" in nav["baidu"]
    assert nav["tencent"].startswith("https://apis.map.qq.com/")
    assert station["type_label"]["zh"] and station["type_label"]["en"]
    assert all({"key", "zh", "en"} <= set(a) for a in station["amenities"])
    assert isinstance(station["open_now"], bool)
    assert "next_open" in station and "location_wgs84" in station


def test_nearest_gcj02_input_and_output(client):
    g_lng, g_lat = (float(v) for v in wgs84_to_gcj02(*CENTRE))
    wgs = get(client, lat=CENTRE[1], lng=CENTRE[0], k=3).get_json()
    gcj = get(client, lat=g_lat, lng=g_lng, k=3, coord="gcj02").get_json()
    assert [s["id"] for s in gcj["stations"]] == [s["id"] for s in wgs["stations"]]
    first = gcj["stations"][0]
    assert first["location"]["crs"] == "gcj02"
    assert first["location"]["lng"] != first["location_wgs84"]["lng"]
    for a, b in zip(gcj["stations"], wgs["stations"], strict=True):
        assert a["distance_m"] == pytest.approx(b["distance_m"], abs=0.5)


def test_nearest_filters_by_type_and_amenity(client):
    body = get(client, lat=CENTRE[1], lng=CENTRE[0], k=10, type="finance_station").get_json()
    assert body["count"] == 10 and {s["type"] for s in body["stations"]} == {"finance_station"}
    resp = client.get(
        URL, query_string=[("lat", CENTRE[1]), ("lng", CENTRE[0]), ("amenity", "toilet"), ("amenity", "wifi")]
    )
    for s in resp.get_json()["stations"]:
        assert {"toilet", "wifi"} <= {a["key"] for a in s["amenities"]}


def test_nearest_filters_by_district_and_open_now(client, roster):
    body = get(client, lat=CENTRE[1], lng=CENTRE[0], k=5, district="330381").get_json()
    assert {s["district"] for s in body["stations"]} == {"330381"}
    body = get(client, lat=CENTRE[1], lng=CENTRE[0], k=5, open_now="true").get_json()
    assert all(s["open_now"] for s in body["stations"])
    expected = roster.nearest(*CENTRE, 5, flt=StationFilter(open_now=True)).hits
    assert [s["id"] for s in body["stations"]] == [h.station.id for h in expected]


def test_nearest_radius_with_nothing_inside_offers_the_nearest_outside(client):
    body = get(client, lat=27.0, lng=121.5, radius_m=1000).get_json()  # at sea, south-east of Wenzhou
    assert body["count"] == 0 and body["stations"] == []
    assert "1000" in body["message"]
    assert body["nearest_outside_radius"]["distance_m"] > 1000


def test_nearest_radius_limits_results(client):
    body = get(client, lat=CENTRE[1], lng=CENTRE[0], k=50, radius_m=3000).get_json()
    assert all(s["distance_m"] <= 3000 for s in body["stations"])
    assert "nearest_outside_radius" not in body


def test_nearest_is_private_and_not_stored(client):
    resp = get(client, lat=CENTRE[1], lng=CENTRE[0])
    assert "private" in resp.headers["Cache-Control"] and "no-store" in resp.headers["Cache-Control"]
    assert "ETag" not in resp.headers


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"lng": 120.7}, "lat"),
        ({"lat": 28.0}, "lng"),
        ({"lat": "abc", "lng": 120.7}, "lat"),
        ({"lat": "NaN", "lng": 120.7}, "lat"),
        ({"lat": 28.0, "lng": "Infinity"}, "lng"),
        ({"lat": 28.0, "lng": "-inf"}, "lng"),
        ({"lat": 91, "lng": 120.7}, "lat"),
        ({"lat": -90.5, "lng": 120.7}, "lat"),
        ({"lat": 28.0, "lng": 180.01}, "lng"),
        ({"lat": 28.0, "lng": 120.7, "k": 51}, "k"),
        ({"lat": 28.0, "lng": 120.7, "k": 0}, "k"),
        ({"lat": 28.0, "lng": 120.7, "k": "2.5"}, "k"),
        ({"lat": 28.0, "lng": 120.7, "radius_m": 0}, "radius_m"),
        ({"lat": 28.0, "lng": 120.7, "radius_m": "nan"}, "radius_m"),
        ({"lat": 28.0, "lng": 120.7, "radius_m": 200001}, "radius_m"),
        ({"lat": 28.0, "lng": 120.7, "coord": "utm"}, "coord"),
        ({"lat": 28.0, "lng": 120.7, "type": "bakery"}, "type"),
        ({"lat": 28.0, "lng": 120.7, "amenity": "sauna"}, "amenity"),
        ({"lat": 28.0, "lng": 120.7, "district": "330399"}, "district"),
        ({"lat": 28.0, "lng": 120.7, "district": "Lucheng"}, "district"),
        ({"lat": 28.0, "lng": 120.7, "open_now": "perhaps"}, "open_now"),
        ({"lat": 28.0, "lng": 120.7, "latitude": 1}, "latitude"),
    ],
)
def test_nearest_bad_input_is_a_problem_naming_the_parameter(client, params, parameter):
    resp = get(client, **params)
    assert resp.status_code == 400
    assert resp.content_type == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == 400 and body["parameter"] == parameter
    assert body["detail"].startswith(parameter + ":")


def test_nearest_repeated_single_value_parameter_is_refused(client):
    resp = client.get(URL, query_string=[("lat", 28), ("lat", 29), ("lng", 120.7)])
    assert resp.status_code == 400 and resp.get_json()["parameter"] == "lat"


def test_nearest_on_an_empty_roster_returns_no_stations(empty_app):
    body = empty_app.test_client().get(URL, query_string={"lat": 28, "lng": 120.7}).get_json()
    assert body == {**body, "count": 0, "stations": [], "sample_data": False}
