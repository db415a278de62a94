"""Nearest queries from far outside the service area get a 422 problem, in English and Chinese."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from locator.coords import geodesic_m, wgs84_to_gcj02
from locator.districts import load_districts
from locator.web.openapi import PROBLEM

URL = "/api/v1/stations/nearest"


def nearest(client, lng, lat, **params):
    """GET the nearest endpoint."""
    return client.get(URL, query_string={"lng": lng, "lat": lat, **params})


@pytest.mark.parametrize(
    ("lng", "lat", "about_km"),
    [
        (0.0, 0.0, 12_907),  # the Gulf of Guinea: the example (12,905 km away)
        (120.155, 30.274, 189),  # Hangzhou, West Lake
        (121.47, 31.23, 298),  # Shanghai
        (-74.0, 40.7, 12_150),  # New York
    ],
)
def test_far_away_queries_get_a_422_problem_saying_how_far(client, lng, lat, about_km):
    resp = nearest(client, lng, lat)
    assert resp.status_code == 422
    assert resp.content_type == PROBLEM
    body = resp.get_json()
    assert body["title"] == "Outside the service area"
    assert "km from the service area" in body["detail"]
    assert "不在服务范围内" in body["detail_zh"] and "公里" in body["detail_zh"]
    assert body["distance_km"] == pytest.approx(about_km, rel=0.01)
    assert f"{about_km:,}"[:3] in body["detail_zh"]  # the distance, written for people
    assert body["max_distance_km"] == 100
    assert "stations" not in body
    assert str(lng) not in body["detail"] and str(lat) not in body["detail"]  # no rider position echoed


@pytest.mark.parametrize(
    ("lng", "lat"),
    [
        (120.6994, 28.0006),  # 鹿城, inside a district
        (121.5, 27.8),  # the East China Sea beyond 洞头, within reach
        (120.2, 29.0),  # 丽水/金华 side, about 45 km north of 永嘉
    ],
)
def test_queries_in_or_near_wenzhou_are_answered(client, lng, lat):
    resp = nearest(client, lng, lat, k=3)
    assert resp.status_code == 200
    assert resp.get_json()["count"] == 3


def test_gcj02_input_is_checked_after_conversion(client):
    g_lng, g_lat = wgs84_to_gcj02(120.155, 30.274)
    assert nearest(client, g_lng, g_lat, coord="gcj02").status_code == 422


def test_the_limit_is_a_setting_and_a_widened_service_area_counts(app_factory):
    app = app_factory(MAX_QUERY_DISTANCE_KM="200")
    client = app.test_client()
    assert nearest(client, 120.155, 30.274).status_code == 200  # 189 km: within 200
    assert nearest(client, 121.47, 31.23).get_json()["max_distance_km"] == 200


def test_a_bbox_widened_service_area_moves_the_limit(tmp_path):
    from locator import create_app

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'w.sqlite3'}",
            "SERVICE_AREA_BBOX": "119.5,27.0,121.5,30.5",  # up to Hangzhou
        }
    )
    client = app.test_client()
    assert nearest(client, 120.155, 30.274).status_code == 200  # inside the box
    assert nearest(client, 121.47, 31.23).status_code == 200  # Shanghai: about 80 km from the box
    far = nearest(client, 118.8, 32.06).get_json()  # Nanjing: about 185 km from the box's corner
    assert far["status"] == 422 and 170 < far["distance_km"] < 200
    app.extensions["roster"].store.close()


def test_zero_disables_the_limit(app_factory):
    client = app_factory(MAX_QUERY_DISTANCE_KM="0").test_client()
    body = nearest(client, 0.0, 0.0, k=1).get_json()
    assert body["count"] == 1 and body["stations"][0]["distance_m"] > 12_000_000


def test_the_openapi_document_declares_the_422(client):
    op = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/stations/nearest"]["get"]
    schema = op["responses"]["422"]["content"][PROBLEM]["schema"]
    assert schema["$ref"].endswith("/OutsideServiceAreaProblem")
    assert "不在服务范围内" in op["description"]


def test_distance_to_the_districts_equals_a_brute_force_over_their_outline():
    districts = load_districts()
    edge = shapely.segmentize(districts.outline.boundary, 0.002)  # vertices every ~200 m
    xy = shapely.get_coordinates(edge)
    rng = np.random.default_rng(4)
    for lng, lat in zip(rng.uniform(118.5, 122.5, 25), rng.uniform(26.0, 29.6, 25), strict=True):
        got = districts.distance_m(lng, lat)
        if districts.district_of(lng, lat) is not None:
            assert got == 0.0
            continue
        want = float(np.min(geodesic_m(np.full(len(xy), lng), np.full(len(xy), lat), xy[:, 0], xy[:, 1])))
        assert got <= want + 1.0  # the projected nearest point is on the outline
        assert got >= want - 250.0  # and no farther off it than the outline's vertex spacing allows
