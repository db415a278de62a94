"""OGC API – Features Core, the parts GIS clients found missing (issue 13, findings 5, 8 and 10).

`datetime` (/req/core/fc-time-definition, /req/core/fc-time-response), the exact extent
(/req/core/fc-md-extent), bbox on district shapes and across the antimeridian
(/req/core/fc-bbox-response), the station properties of /api/v1, `f` on one feature, and a rate
budget that lets a GIS client page through 3,000 stations twice within a minute.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import shapely
from shapely.geometry import shape

from locator.coords import CRS

ITEMS = "/ogc/collections/stations/items"


def ids_of(client, url: str, **query) -> list[str]:
    """Every feature id the items endpoint answers (one big page)."""
    resp = client.get(url, query_string={"limit": 10000, **query})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["numberMatched"] == body["numberReturned"] == len(body["features"])
    return [f["id"] for f in body["features"]]


@pytest.fixture
def dated(app, roster):
    """Three stations edited at known moments (updated_at is set by the store: we read it back)."""
    store = roster.store
    stamps = {}
    for sid in ("rs-330302-001", "rs-330303-001", "rs-330304-001"):
        station = store.get(sid)
        edited = dataclasses.replace(station, note=f"edited {sid}")
        saved = store.update(edited, expected_version=station.version, actor="test", via="api")
        stamps[sid] = saved.updated_at
    return stamps


def test_datetime_instants_intervals_and_open_ends(client, roster, dated):
    """Finding 5: datetime is accepted as the standard defines it and matched against updated_at."""
    every = ids_of(client, ITEMS)
    assert ids_of(client, ITEMS, datetime="../..") == every
    latest = max(dated.values())
    first = min(dated.values())
    after_first = ids_of(client, ITEMS, datetime=first.isoformat().replace("+00:00", "Z") + "/..")
    assert set(dated) <= set(after_first)
    for sid in after_first:
        assert roster.store.get(sid).updated_at >= first
    before_edits = (first - timedelta(microseconds=1)).isoformat()
    untouched = ids_of(client, ITEMS, datetime=f"../{before_edits}")
    assert not set(dated) & set(untouched) and len(untouched) + len(after_first) == len(every)
    window = f"{first.isoformat()}/{latest.isoformat()}"
    assert set(dated) <= set(ids_of(client, ITEMS, datetime=window))
    today = latest.astimezone(UTC).date().isoformat()
    assert set(dated) <= set(ids_of(client, ITEMS, datetime=f"{today}/.."))
    assert ids_of(client, ITEMS, datetime="2001-01-01") == []
    in_2001 = ids_of(client, ITEMS, datetime="2001-01-01T00:00:00Z/2001-12-31T23:59:59+08:00")
    assert in_2001 == []
    # Districts have no time: the parameter is accepted and selects nothing away.
    assert len(ids_of(client, "/ogc/collections/districts/items", datetime="2001-01-01")) == 12


@pytest.mark.parametrize(
    "value",
    ["now", "2026-13-01", "2026-11-30T08:00:00", "2026-11-30/2026-11-01", "a/b/c", "..", "2026-11-30T25:00:00Z"],
)
def test_bad_datetime_is_a_400_naming_it(client, value):
    resp = client.get(ITEMS, query_string={"datetime": value})
    assert resp.status_code == 400 and resp.content_type == "application/problem+json"
    assert resp.get_json()["parameter"] == "datetime"


def test_datetime_is_documented_with_the_temporal_extent(client, dated):
    doc = client.get("/api/v1/openapi.json").get_json()
    params = {p["name"]: p for p in doc["paths"]["/ogc/collections/{collection_id}/items"]["get"]["parameters"]}
    assert "updated_at" in params["datetime"]["description"]
    stations = client.get("/ogc/collections/stations").get_json()
    (interval,) = stations["extent"]["temporal"]["interval"]
    start, end = (datetime.fromisoformat(v) for v in interval)
    assert start <= min(dated.values()) and max(dated.values()) <= end


def test_extent_holds_every_station_rounded_outward(app, client, roster):
    """Finding 8: the collection extent is rounded outward, so it holds the outermost stations."""
    snap = roster.snapshot()
    west = min(snap.stations, key=lambda s: s.lng)
    # 4 cm further west, with a seventh decimal that rounding to six would round inward.
    lng = float(f"{west.lng:.6f}") - 0.0000004
    outer = dataclasses.replace(west, id="edge-west", lng=round(lng, 7), version=1)
    roster.store.create(outer, actor="test", via="api")
    (bbox,) = client.get("/ogc/collections/stations").get_json()["extent"]["spatial"]["bbox"]
    stations = roster.store.list()
    assert bbox[0] <= min(s.lng for s in stations) and bbox[1] <= min(s.lat for s in stations)
    assert bbox[2] >= max(s.lng for s in stations) and bbox[3] >= max(s.lat for s in stations)
    (dbox,) = client.get("/ogc/collections/districts").get_json()["extent"]["spatial"]["bbox"]
    x0, y0, x1, y1 = roster.districts.bounds
    assert dbox[0] <= x0 and dbox[1] <= y0 and dbox[2] >= x1 and dbox[3] >= y1


def _box_meeting_a_bbox_but_not_the_shape(districts):
    """A small box inside some district's bounding box that touches no district's shape."""
    shapes = [shape(f["geometry"]) for f in districts]
    x0, y0, x1, y1 = shapely.total_bounds(shapes)
    step = 0.02
    y = y0
    while y < y1:
        x = x0
        while x < x1:
            box = shapely.box(x, y, x + step, y + step)
            meets_a_bbox = any(shapely.box(*s.bounds).intersects(box) for s in shapes)
            if meets_a_bbox and not any(s.intersects(box) for s in shapes):
                return box
            x += step
        y += step
    raise AssertionError("no such box")


def test_districts_bbox_matches_shapes_not_bounding_boxes(client):
    """Finding 8: a district whose bounding box meets the box but whose boundary does not is not returned."""
    districts = client.get("/ogc/collections/districts/items?limit=100").get_json()["features"]
    box = _box_meeting_a_bbox_but_not_the_shape(districts)
    bbox = ",".join(f"{v:.6f}" for v in box.bounds)
    assert ids_of(client, "/ogc/collections/districts/items", bbox=bbox) == []
    near = shapely.box(120.6, 27.95, 120.75, 28.05)
    expected = sorted(f["id"] for f in districts if shape(f["geometry"]).intersects(near))
    assert ids_of(client, "/ogc/collections/districts/items", bbox="120.6,27.95,120.75,28.05") == expected


def test_bbox_crossing_the_antimeridian(client, roster):
    """Finding 8: west > east is a box crossing the antimeridian (/req/core/fc-bbox-definition)."""
    every = ids_of(client, ITEMS)
    assert ids_of(client, ITEMS, bbox="120.6,-90,-170,90") == sorted(
        s.id for s in roster.store.list() if s.lng >= 120.6
    )
    assert ids_of(client, ITEMS, bbox="179,-90,-179,90") == []
    assert ids_of(client, ITEMS, bbox="100,-90,-100,90") == every
    assert len(ids_of(client, "/ogc/collections/districts/items", bbox="100,-90,-100,90")) == 12
    assert client.get(ITEMS, query_string={"bbox": "120,29,121,28"}).status_code == 400  # south > north


def test_station_features_have_the_api_properties(client):
    """Finding 8: the same station properties as /api/v1 (district_name filled), in the list and one by one."""
    api = client.get("/api/v1/stations/rs-330304-001?f=geojson").get_json()
    listed = next(
        f for f in client.get(ITEMS, query_string={"limit": 1000}).get_json()["features"] if f["id"] == "rs-330304-001"
    )
    one = client.get(ITEMS + "/rs-330304-001").get_json()
    for feature in (listed, one):
        assert feature["properties"]["district_name"] == "瓯海区"
        assert set(feature["properties"]) == set(api["properties"])
        assert feature["geometry"] == api["geometry"]


@pytest.mark.parametrize("f", ["json", "geojson"])
def test_f_is_accepted_on_one_feature_as_on_the_list(client, f):
    """Finding 8: items/{id}?f=geojson answers, as the list does."""
    for url in (ITEMS, ITEMS + "/rs-330304-001", "/ogc/collections/districts/items/330302"):
        resp = client.get(url, query_string={"f": f})
        assert resp.status_code == 200 and resp.content_type == "application/geo+json", url


def test_ogc_has_a_rate_budget_of_its_own_that_fits_gis_paging(app_factory):
    """Finding 10: /ogc counts against LOCATOR_RATELIMIT_OGC, not the default 600/minute.

    The default fits two GDAL 3.6 readings of 3,000 stations (10 a page) within a minute:
    tests/test_interop.py runs ogr2ogr twice against a live server to show it.
    """
    app = app_factory(RATELIMIT_ENABLED="true", RATELIMIT_DEFAULT="5/minute")
    client = app.test_client()
    pages = [client.get(ITEMS, query_string={"limit": 10, "offset": 10 * i}).status_code for i in range(20)]
    assert set(pages) == {200}  # past the default budget: /ogc is not counted against it
    assert [client.get("/api/v1/vocabulary").status_code for _ in range(6)][-1] == 429
    assert client.get("/ogc/collections").status_code == 200
    limit = app.config["RATELIMIT_OGC"]
    count, _, period = limit.partition("/")
    assert period == "minute" and int(count) >= 2 * (3000 // 10 + 10)
    small = app_factory(RATELIMIT_ENABLED="true", RATELIMIT_OGC="3/minute").test_client()
    assert [small.get("/ogc/collections").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert small.get("/api/v1/vocabulary").status_code == 200


def test_exports_in_wgs84_only_formats_refuse_gcj02_in_the_admin(login, make_user):
    """Finding 9 (admin): a GeoJSON/KML/GeoPackage export in GCJ-02 is refused, naming CSV and Excel."""
    make_user("admin", "city_admin")
    web = login("admin")
    for fmt in ("geojson", "kml", "gpkg"):
        resp = web.get(f"/admin/export?format={fmt}&crs=gcj02")
        assert resp.status_code == 400
        assert "CSV" in resp.get_data(as_text=True) and "Excel" in resp.get_data(as_text=True)
    ok = web.get("/admin/export?format=csv&crs=gcj02")
    assert ok.status_code == 200
    assert "经度(GCJ-02)" in ok.get_data(as_text=True).splitlines()[0]
    assert CRS.GCJ02.value == "gcj02"
