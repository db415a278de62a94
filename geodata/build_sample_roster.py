"""Build geodata/sample_stations.geojson: an ILLUSTRATIVE roster of Wenzhou's stations.

How to run (from the repository root, after geodata/districts.geojson and geodata/land.geojson exist):

    .venv/bin/python geodata/build_sample_roster.py            # writes geodata/sample_stations.geojson
    .venv/bin/python geodata/build_sample_roster.py --out /tmp/x.geojson

Seeded and re-runnable: the same districts.geojson and seed give byte-identical output.

What it contains, and what it does not:
- The COUNTS and the NAMED places come from 温州日报, 2023-08-25 (see shared/source-article.txt):
  145 骑手驿站, 12 示范创建点 (皮城红帆, 五心融汇 named), "小个专"党建之家 (瞿溪真皮大世界,
  新桥所直属支部, 皮城红帆), 40 金融服务站, and 红骑瓯创·骑手驿站 with its nine services.
- The seven named places carry ONLY what the article states: their names, the services it
  lists (红骑瓯创's nine; 皮城红帆's legal and financial services), 红骑瓯创's builders
  (瓯海区市场监管局 and 娄桥街道). No opening hours (the article gives none: "" = 开放时间未知),
  no operator where the article names none, no amenities it does not mention.
- The article gives no coordinates. Every position here is invented or approximate:
  named places are put near where they are said to be; all other points are drawn around
  real town centres with a Gaussian spread, rejected if outside their district, closer
  than MIN_EDGE_M (more along wide rivers) to the district boundary (so never on a border),
  or too close to another station. Invented places say "（示例）" in their name; their hours
  and services are invented too.
- Water: a drawn point that the shoreline (geodata/land.geojson, GSHHG) puts more than
  locator.shoreline.OFFSHORE_M from land is drawn again from its own seed, except where
  RECLAIMED says the land is newer than GSHHG: that station carries location_confirmed true,
  as an organizer's confirmation would.
- Every record has provenance "sample", approximate true, contact null (no invented phone
  numbers) and one note saying that its details are illustrative. Replace the whole file
  when organizers import the real roster.

Randomness from random.Random.random(), whose sequence Python keeps stable across versions;
the normal deviates are our own Box-Muller.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

import shapely
from shapely.geometry import Point, shape

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from locator.shoreline import OFFSHORE_M, LandMask  # noqa: E402 - after the sys.path line above

DISTRICTS_PATH = HERE / "districts.geojson"
LAND_PATH = HERE / "land.geojson"
OUT_PATH = HERE / "sample_stations.geojson"

SEED = 20230825
DECIMALS = 6
# Distance a point keeps from its district's boundary (coast, land borders).
MIN_EDGE_M = 400.0
# Districts whose border runs down the middle of a wide river (the Oujiang between 鹿城/龙湾
# and 永嘉/乐清, about 1-2 km wide; the Aojiang between 平阳 and 龙港) keep points farther
# from it, so that none lands in the water: the boundary files do not cut out rivers.
EDGE_M_BY_DISTRICT = {
    "330302": 900.0,
    "330303": 900.0,
    "330324": 900.0,
    "330382": 900.0,
    "330326": 600.0,
    "330383": 600.0,
}
MIN_SPACING_M = 120.0  # between two generated stations
FIXED_EDGE_M = 300.0  # the named places, put by hand, are checked against this
MAX_TRIES = 5000
# One note per station, the one place that says its details are illustrative.
NOTE = "示例数据：虚构的站点，位置、开放时间和服务均为示意；待组织者导入真实名册后替换"
NOTE_NAMED = (
    "示例数据：名称及所列服务取自温州日报 2023-08-25 报道，位置为示意，开放时间未知；待组织者导入真实名册后替换"
)
# Drawn stations on land newer than the GSHHG shoreline (so "offshore" by it): confirmed, with the reason.
RECLAIMED = {
    "rs-330303-006": "龙湾区沙城街道以东的围垦地：陆地新于 GSHHG 岸线（一次独立的地理核查所见）",
}

AMENITIES = {
    "rest_seats": "舒心歇脚点",
    "care_point": "暖心关爱点",
    "breakfast": "爱心早餐",
    "microwave": "微波加热",
    "fridge": "冰箱储存",
    "water": "免费茶饮",
    "charging": "手机充电",
    "first_aid": "急救药箱",
    "labour_rights": "维权服务",
    "toilet": "卫生间",
    "wifi": "无线网络",
    "rain_gear": "雨具借用",
    "battery_swap": "电瓶换电",
    "aed": "AED除颤仪",
    "legal_aid": "公共法律服务",
    "finance_service": "金融服务",
}
AMENITY_ORDER = list(AMENITIES)

TYPES = {
    "rider_station": ("rs", "骑手驿站"),
    "party_home": ("ph", "“小个专”党建之家"),
    "demo_site": ("ds", "示范创建点"),
    "finance_station": ("fs", "金融服务站"),
}

# Town centres (approximate WGS-84 lat, lng), a weight for how many stations they draw and
# the Gaussian spread in km. Urban cores get most of the weight.
CENTRES: dict[str, list[tuple[str, float, float, float, float]]] = {
    "330302": [  # 鹿城区
        ("五马街道", 28.012, 120.652, 3, 0.7),
        ("南汇街道", 28.002, 120.682, 3, 0.8),
        ("松台街道", 28.012, 120.638, 2, 0.6),
        ("滨江街道", 28.015, 120.690, 3, 0.8),
        ("蒲鞋市街道", 28.020, 120.668, 2, 0.6),
        ("大南街道", 28.005, 120.660, 2, 0.6),
        ("南郊街道", 28.003, 120.645, 1, 0.5),
        ("双屿街道", 28.012, 120.585, 2, 0.9),
        ("丰门街道", 28.012, 120.603, 1, 0.7),
        ("仰义街道", 28.040, 120.560, 1, 1.0),
        ("藤桥镇", 28.060, 120.470, 1, 1.0),
    ],
    "330303": [  # 龙湾区
        ("永中街道", 27.935, 120.810, 4, 1.2),
        ("状元街道", 27.972, 120.770, 2, 0.8),
        ("蒲州街道", 27.982, 120.732, 2, 0.8),
        ("瑶溪街道", 27.960, 120.785, 1, 0.8),
        ("海城街道", 27.875, 120.830, 1, 1.0),
        ("沙城街道", 27.865, 120.810, 1, 1.0),
    ],
    "330304": [  # 瓯海区
        ("娄桥街道", 27.975, 120.620, 3, 0.8),
        ("梧田街道", 27.965, 120.675, 3, 0.9),
        ("南白象街道", 27.960, 120.700, 2, 0.8),
        ("茶山街道", 27.935, 120.700, 2, 1.0),
        ("新桥街道", 27.992, 120.615, 2, 0.6),
        ("潘桥街道", 27.965, 120.595, 1, 0.8),
        ("郭溪街道", 27.980, 120.570, 1, 0.8),
        ("瞿溪街道", 27.960, 120.550, 1, 0.8),
        ("丽岙街道", 27.920, 120.625, 1, 1.0),
        ("仙岩街道", 27.880, 120.640, 1, 1.0),
    ],
    "330305": [  # 洞头区: its polygon also covers reclaimed land and water between the
        # islands, so the points stay close to the town centre of 洞头岛 (北岙).
        ("北岙街道", 27.835, 121.156, 1, 0.4),
    ],
    "330324": [  # 永嘉县
        ("瓯北街道", 28.058, 120.655, 3, 1.0),
        ("北城街道", 28.155, 120.690, 2, 1.0),
        ("桥头镇", 28.210, 120.590, 1, 1.0),
    ],
    "330326": [  # 平阳县
        ("昆阳镇", 27.665, 120.565, 3, 1.0),
        ("鳌江镇", 27.605, 120.580, 2, 0.8),
        ("萧江镇", 27.630, 120.470, 1, 1.0),
        ("水头镇", 27.600, 120.400, 1, 1.0),
    ],
    "330327": [  # 苍南县
        ("灵溪镇", 27.505, 120.410, 4, 1.2),
        ("桥墩镇", 27.420, 120.420, 1, 1.0),
        ("矾山镇", 27.350, 120.400, 1, 1.0),
        ("马站镇", 27.200, 120.450, 1, 1.0),
    ],
    "330328": [("大峃镇", 27.785, 120.090, 1, 0.8)],  # 文成县
    "330329": [("罗阳镇", 27.560, 119.715, 1, 0.8)],  # 泰顺县
    "330381": [  # 瑞安市
        ("安阳街道", 27.780, 120.650, 3, 1.0),
        ("玉海街道", 27.775, 120.640, 2, 0.7),
        ("锦湖街道", 27.790, 120.630, 2, 0.8),
        ("莘塍街道", 27.800, 120.680, 1, 1.0),
        ("飞云街道", 27.750, 120.660, 1, 1.0),
        ("塘下镇", 27.835, 120.660, 2, 1.0),
    ],
    "330382": [  # 乐清市
        ("乐成街道", 28.130, 120.960, 3, 1.0),
        ("城南街道", 28.110, 120.970, 2, 0.9),
        ("柳市镇", 28.050, 120.880, 3, 1.2),
        ("北白象镇", 28.020, 120.830, 1, 1.0),
        ("虹桥镇", 28.200, 121.020, 2, 1.0),
    ],
    "330383": [  # 龙港市 (no 街道/镇: areas named after the old towns)
        ("龙港城区", 27.570, 120.555, 3, 1.0),
        ("宜山片区", 27.550, 120.520, 1, 0.8),
    ],
}

# 145 rider stations, denser in the urban districts (the one named station is in 330304).
RIDER_COUNTS = {
    "330302": 28,
    "330304": 24,
    "330303": 16,
    "330381": 18,
    "330382": 17,
    "330324": 9,
    "330326": 8,
    "330327": 8,
    "330383": 8,
    "330328": 3,
    "330329": 3,
    "330305": 3,
}
# 40 金融服务站 (one of them the 小微主体金融服务站 at 皮城红帆, in 330304).
FINANCE_COUNTS = {
    "330302": 7,
    "330304": 7,
    "330303": 4,
    "330381": 5,
    "330382": 5,
    "330324": 3,
    "330326": 2,
    "330327": 2,
    "330383": 2,
    "330328": 1,
    "330329": 1,
    "330305": 1,
}
# The 10 demonstration sites the article does not name: one per other district, invented.
DEMO_EXAMPLES = [
    ("330303", "龙湾永中商贸市场", "永中街道"),
    ("330305", "洞头北岙商贸市场", "北岙街道"),
    ("330324", "永嘉瓯北商贸市场", "瓯北街道"),
    ("330326", "平阳昆阳专业市场", "昆阳镇"),
    ("330327", "苍南灵溪商贸城", "灵溪镇"),
    ("330328", "文成大峃商业街区", "大峃镇"),
    ("330329", "泰顺罗阳商业街区", "罗阳镇"),
    ("330381", "瑞安塘下汽摩配市场", "塘下镇"),
    ("330382", "乐清柳市电器市场", "柳市镇"),
    ("330383", "龙港印刷包装市场", "龙港城区"),
]

# Places the article names. Positions are approximate (WGS-84 lat, lng); every other detail is
# what the article says, nothing more: no hours anywhere ("" = unknown), operators and services
# only where it names them.
# 瓯海民营专业市场 (皮城), put between 瞿溪 and 郭溪: a guess.
PIC_LAT, PIC_LNG = 27.968, 120.563
PIC_ADDRESS = "温州市瓯海区瓯海民营专业市场"
NAMED = [
    {
        # "瓯海区中央商务区红骑瓯创·骑手驿站 … 由瓯海区市场监管局和娄桥街道…共同打造 … 设有舒心歇脚点和
        # 暖心关爱点，提供爱心早餐、微波加热、冰箱储存、免费茶饮、充电线、急救药箱等爱心物资，还设立维权服务站点"
        "type": "rider_station",
        "district": "330304",
        "name": "红骑瓯创·骑手驿站",
        "lat": 27.975,
        "lng": 120.620,
        "address": "温州市瓯海区中央商务区",
        "amenities": [
            "rest_seats",
            "care_point",
            "breakfast",
            "microwave",
            "fridge",
            "water",
            "charging",
            "first_aid",
            "labour_rights",
        ],
        "operator": "瓯海区市场监管局、娄桥街道",
    },
    {
        # "在瞿溪真皮大世界和新桥所直属支部分别成立 … '小个专'党建之家" (党群服务、活动开展、互动交流:
        # not in the amenity vocabulary)
        "type": "party_home",
        "district": "330304",
        "name": "瞿溪真皮大世界党建之家",
        "lat": 27.960,
        "lng": 120.550,
        "address": "温州市瓯海区瞿溪真皮大世界",
        "amenities": [],
        "operator": None,
    },
    {
        "type": "party_home",
        "district": "330304",
        "name": "新桥所直属支部党建之家",
        "lat": 27.990,
        "lng": 120.600,
        "address": "温州市瓯海区新桥",
        "amenities": [],
        "operator": None,
    },
    {
        # "设立区市场监管局驻场服务室、小微主体金融服务站、市场监管公共法律服务站等"
        "type": "party_home",
        "district": "330304",
        "name": "皮城红帆党建之家",
        "lat": PIC_LAT,
        "lng": PIC_LNG,
        "address": PIC_ADDRESS,
        "amenities": ["legal_aid", "finance_service"],
        "operator": None,
    },
    {
        # "打造出瓯海民营专业市场'皮城红帆'、鹿城鞋博城'五心融汇'等12个示范创建点"
        "type": "demo_site",
        "district": "330304",
        "name": "瓯海民营专业市场“皮城红帆”示范创建点",
        "lat": PIC_LAT + 0.0004,
        "lng": PIC_LNG + 0.0004,
        "address": PIC_ADDRESS,
        "amenities": [],
        "operator": None,
    },
    {
        "type": "demo_site",
        "district": "330302",
        "name": "鹿城鞋博城“五心融汇”示范创建点",
        "lat": 28.010,
        "lng": 120.583,
        "address": "温州市鹿城区鞋博城",
        "amenities": [],
        "operator": None,
    },
    {
        # the 小微主体金融服务站 of 皮城红帆
        "type": "finance_station",
        "district": "330304",
        "name": "皮城红帆·小微主体金融服务站",
        "lat": PIC_LAT - 0.0004,
        "lng": PIC_LNG - 0.0004,
        "address": PIC_ADDRESS,
        "amenities": ["finance_service"],
        "operator": None,
    },
]

RIDER_HOURS = [  # (hours, weight): many 24/7 and 08-22, a few overnight and weekday-only
    ("24/7", 35),
    ("Mo-Su 08:00-22:00", 33),
    ("Mo-Su 07:00-21:00", 8),
    ("Mo-Su 18:00-02:00", 5),
    ("Mo-Su 10:00-14:00,17:00-23:00", 5),
    ("Mo-Fr 09:00-18:00", 7),
    ("Mo-Fr 08:00-20:00; Sa,Su 09:00-18:00", 7),
]
RIDER_AMENITY_P = {  # probability each amenity is offered at a generated rider station
    "rest_seats": 0.85,
    "care_point": 0.3,
    "breakfast": 0.15,
    "microwave": 0.6,
    "fridge": 0.35,
    "water": 0.9,
    "charging": 0.9,
    "first_aid": 0.6,
    "labour_rights": 0.25,
    "toilet": 0.5,
    "wifi": 0.5,
    "rain_gear": 0.4,
    "battery_swap": 0.1,
    "aed": 0.05,
}
FINANCE_HOURS = [("Mo-Fr 08:30-17:00", 3), ("Mo-Fr 08:30-17:00; Sa 09:00-12:00", 1)]
CLOSED_UNTIL = "2026-12-31"
N_TEMPORARILY_CLOSED = 2

# Local equirectangular projection (metres) around Wenzhou: ample for 300 m checks.
_LAT0 = 27.9
_MX = 111_320.0 * math.cos(math.radians(_LAT0))
_MY = 110_574.0


def _to_m(lng: float, lat: float) -> tuple[float, float]:
    return (lng - 120.6) * _MX, (lat - _LAT0) * _MY


class _Rng:
    """random.Random.random() (stable across Python versions) plus our own normal deviates."""

    def __init__(self, seed: int):
        self._r = random.Random(seed)

    def random(self) -> float:
        return self._r.random()

    def gauss(self) -> float:
        u1 = 1.0 - self._r.random()  # (0, 1]
        u2 = self._r.random()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def weighted(self, items):
        total = sum(w for _, w in items)
        x = self.random() * total
        for value, w in items:
            x -= w
            if x < 0:
                return value
        return items[-1][0]


def load_districts(path: Path = DISTRICTS_PATH) -> dict[str, dict]:
    fc = json.loads(Path(path).read_text(encoding="utf-8"))
    out = {}
    for f in fc["features"]:
        p = f["properties"]
        geom = shape(f["geometry"])
        metric = shapely.transform(geom, lambda a: (a - (120.6, _LAT0)) * (_MX, _MY))
        shapely.prepare(metric)
        out[p["code"]] = {
            "name": p["name"],
            "geom": geom,
            "metric": metric,
            "edge": metric.boundary,
        }
    return out


class _Placer:
    def __init__(self, districts: dict[str, dict]):
        self.districts = districts
        self.placed: list[tuple[float, float]] = []  # metric positions of all stations

    def ok(
        self,
        code: str,
        lng: float,
        lat: float,
        spacing: bool = True,
        edge_m: float | None = None,
    ) -> bool:
        d = self.districts[code]
        x, y = _to_m(lng, lat)
        p = Point(x, y)
        if edge_m is None:
            edge_m = EDGE_M_BY_DISTRICT.get(code, MIN_EDGE_M)
        if not d["metric"].contains(p) or d["edge"].distance(p) < edge_m:
            return False
        if spacing:
            for px, py in self.placed:
                if (px - x) ** 2 + (py - y) ** 2 < MIN_SPACING_M**2:
                    return False
        return True

    def fixed(self, code: str, lng: float, lat: float, what: str) -> tuple[float, float]:
        lng, lat = round(lng, DECIMALS), round(lat, DECIMALS)
        if not self.ok(code, lng, lat, spacing=False, edge_m=FIXED_EDGE_M):
            raise SystemExit(f"{what}: ({lat}, {lng}) is not well inside district {code}")
        self.placed.append(_to_m(lng, lat))
        return lng, lat

    def sample(self, rng: _Rng, code: str, lat0: float, lng0: float, sigma_km: float) -> tuple[float, float]:
        for _ in range(MAX_TRIES):
            dx, dy = rng.gauss() * sigma_km * 1000.0, rng.gauss() * sigma_km * 1000.0
            lng = round(lng0 + dx / _MX, DECIMALS)
            lat = round(lat0 + dy / _MY, DECIMALS)
            if self.ok(code, lng, lat):
                self.placed.append(_to_m(lng, lat))
                return lng, lat
        raise SystemExit(f"could not place a point in {code} near ({lat0}, {lng0})")


def _feature(
    fid,
    name,
    typ,
    code,
    lng,
    lat,
    address,
    amenities,
    hours,
    operator,
    status="open",
    closed_until=None,
    note=NOTE,
) -> dict:
    unknown = set(amenities) - set(AMENITIES)
    if unknown:
        raise SystemExit(f"{fid}: unknown amenities {sorted(unknown)}")
    props = {
        "id": fid,
        "name": name,
        "type": typ,
        "district": code,
        "address": address,
        "amenities": sorted(set(amenities), key=AMENITY_ORDER.index),
        "hours": hours,
        "contact": None,
        "operator": operator,
        "status": status,
        "closed_until": closed_until,
        "provenance": "sample",
        "approximate": True,
        "note": note,
        "location_confirmed": False,
    }
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": "Point", "coordinates": [lng, lat]},
        "properties": props,
    }


def generate(districts_path: Path = DISTRICTS_PATH, seed: int = SEED, land_path: Path = LAND_PATH) -> dict:
    """The sample roster as an RFC 7946 FeatureCollection (a dict). Pure: writes nothing."""
    districts = load_districts(districts_path)
    missing = set(RIDER_COUNTS) - set(districts)
    if missing:
        raise SystemExit(f"districts missing from {districts_path}: {sorted(missing)}")
    assert sum(RIDER_COUNTS.values()) == 145 and sum(FINANCE_COUNTS.values()) == 40
    rng = _Rng(seed)
    placer = _Placer(districts)
    counters: dict[tuple[str, str], int] = {}
    features: list[dict] = []
    drawn: dict[str, tuple[str, float, float, float]] = {}  # id -> (district, centre lat, lng, sigma)

    def next_id(typ: str, code: str) -> str:
        key = (typ, code)
        counters[key] = counters.get(key, 0) + 1
        return f"{TYPES[typ][0]}-{code}-{counters[key]:03d}"

    def dname(code: str) -> str:
        return districts[code]["name"]

    # 1. The places the article names, at their approximate positions.
    named_count = {"rider_station": {}, "finance_station": {}, "demo_site": {}}
    for n in NAMED:
        lng, lat = placer.fixed(n["district"], n["lng"], n["lat"], n["name"])
        features.append(
            _feature(
                next_id(n["type"], n["district"]),
                n["name"],
                n["type"],
                n["district"],
                lng,
                lat,
                n["address"],
                n["amenities"],
                "",  # the article gives no opening hours
                n["operator"],
                note=NOTE_NAMED,
            )
        )
        per = named_count.setdefault(n["type"], {})
        per[n["district"]] = per.get(n["district"], 0) + 1

    # 2. Invented rider stations around town centres.
    riders = []
    for code in sorted(RIDER_COUNTS):
        centres = CENTRES[code]
        town_seq: dict[str, int] = {}
        for _ in range(RIDER_COUNTS[code] - named_count["rider_station"].get(code, 0)):
            town, lat0, lng0, _, sigma = rng.weighted([(c, c[3]) for c in centres])
            lng, lat = placer.sample(rng, code, lat0, lng0, sigma)
            town_seq[town] = town_seq.get(town, 0) + 1
            amenities = [k for k, p in RIDER_AMENITY_P.items() if rng.random() < p]
            f = _feature(
                next_id("rider_station", code),
                f"骑手驿站（示例）· {town} {town_seq[town]}号",
                "rider_station",
                code,
                lng,
                lat,
                f"温州市{dname(code)}{town}",
                amenities,
                rng.weighted(RIDER_HOURS),
                town,
            )
            riders.append(f)
            drawn[f["id"]] = (code, lat0, lng0, sigma)
    for _ in range(N_TEMPORARILY_CLOSED):  # a couple of stations closed for works
        f = riders[int(rng.random() * len(riders))]
        while f["properties"]["status"] != "open":
            f = riders[int(rng.random() * len(riders))]
        f["properties"]["status"] = "temporarily_closed"
        f["properties"]["closed_until"] = CLOSED_UNTIL
    features.extend(riders)

    # 3. The ten demonstration sites the article does not name.
    for code, market, town in DEMO_EXAMPLES:
        _, lat0, lng0, _, _ = next(c for c in CENTRES[code] if c[0] == town)
        lng, lat = placer.sample(rng, code, lat0, lng0, 0.6)
        extra = [k for k in ("charging", "toilet", "legal_aid", "finance_service") if rng.random() < 0.4]
        features.append(
            _feature(
                next_id("demo_site", code),
                f"示范创建点（示例）· {market}",
                "demo_site",
                code,
                lng,
                lat,
                f"温州市{dname(code)}{town}{market}",
                ["rest_seats", "water", *extra],
                "Mo-Su 08:00-18:00",
                market,
            )
        )
        drawn[features[-1]["id"]] = (code, lat0, lng0, 0.6)

    # 4. Invented financial service stations.
    for code in sorted(FINANCE_COUNTS):
        centres = CENTRES[code]
        town_seq = {}
        for _ in range(FINANCE_COUNTS[code] - named_count["finance_station"].get(code, 0)):
            town, lat0, lng0, _, sigma = rng.weighted([(c, c[3]) for c in centres])
            lng, lat = placer.sample(rng, code, lat0, lng0, sigma)
            town_seq[town] = town_seq.get(town, 0) + 1
            extra = [k for k in ("rest_seats", "water") if rng.random() < 0.5]
            features.append(
                _feature(
                    next_id("finance_station", code),
                    f"金融服务站（示例）· {town} {town_seq[town]}号",
                    "finance_station",
                    code,
                    lng,
                    lat,
                    f"温州市{dname(code)}{town}",
                    ["finance_service", *extra],
                    rng.weighted(FINANCE_HOURS),
                    None,
                )
            )
            drawn[features[-1]["id"]] = (code, lat0, lng0, sigma)

    # 5. Water: the shoreline must not question a sample station, unless it is known reclaimed land.
    _keep_off_the_water(features, drawn, placer, LandMask.from_geojson(land_path))

    type_rank = {t: i for i, t in enumerate(TYPES)}
    features.sort(key=lambda f: (type_rank[f["properties"]["type"]], f["id"]))
    return {"type": "FeatureCollection", "features": features}


def _keep_off_the_water(features: list[dict], drawn: dict, placer: _Placer, land: LandMask) -> None:
    """Re-draw (from a seed of its own) every drawn station the shoreline puts on the water; confirm RECLAIMED ones.

    Only the stations on the water move, so the rest of the roster stays as it was drawn.
    """
    for f in features:
        fid, (lng, lat) = f["id"], f["geometry"]["coordinates"]
        offshore = land.offshore(lng, lat, OFFSHORE_M)
        if fid in RECLAIMED:
            if not offshore:
                raise SystemExit(f"{fid}: listed in RECLAIMED but the shoreline puts it on land: drop it from the list")
            f["properties"]["location_confirmed"] = True
            continue
        if not offshore:
            continue
        if fid not in drawn:
            raise SystemExit(f"{fid} ({f['properties']['name']}): a named place on the water; move it by hand")
        code, lat0, lng0, sigma = drawn[fid]
        placer.placed.remove(_to_m(lng, lat))
        rng = _Rng(int.from_bytes(fid.encode("utf-8"), "big") % 2**32)
        for _ in range(MAX_TRIES):
            lng, lat = placer.sample(rng, code, lat0, lng0, sigma)
            if not land.offshore(lng, lat, OFFSHORE_M):
                break
            placer.placed.remove(_to_m(lng, lat))
        else:
            raise SystemExit(f"{fid}: no place on land near ({lat0}, {lng0})")
        f["geometry"]["coordinates"] = [lng, lat]


def dumps(fc: dict) -> str:
    """Compact JSON, one feature per line."""
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in fc["features"]]
    return '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"


def write(fc: dict, path: Path) -> None:
    Path(path).write_text(dumps(fc), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--districts", type=Path, default=DISTRICTS_PATH)
    parser.add_argument("--land", type=Path, default=LAND_PATH)
    parser.add_argument("--out", type=Path, default=OUT_PATH)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    fc = generate(args.districts, args.seed, args.land)
    write(fc, args.out)
    counts: dict[str, int] = {}
    for f in fc["features"]:
        counts[f["properties"]["type"]] = counts.get(f["properties"]["type"], 0) + 1
    print(f"wrote {args.out}: {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
