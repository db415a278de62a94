"""OGC API – Features Part 1 (Core, GeoJSON, OpenAPI 3.0) under /ogc, for QGIS and other GIS tools.

Two collections: `stations` (points) and `districts` (boundaries with station counts), both
in CRS84 (WGS-84 longitude, latitude). The landing page carries the `service-desc` and `data`
links QGIS needs. Requirement ids (/req/core/...) are cited in tests/test_ogc.py.

`bbox` follows the standard: a west edge greater than the east edge crosses the antimeridian;
districts match by their shapes (shapely), not their bounding boxes. `datetime` (an instant, a
date or an interval with open ends `..`) selects stations by `updated_at`; districts carry no
time and ignore it.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
from flask import Blueprint, jsonify, request, url_for

from locator.catalogue import districts_body
from locator.context import current_roster
from locator.hours import TZ
from locator.nearest import StationFilter
from locator.serialize import station_feature
from locator.web.http import cacheable
from locator.web.models import (
    OGC_MAX_LIMIT,
    Collection,
    Collections,
    Conformance,
    Feature,
    FeatureCollection,
    FeatureQuery,
    FormatQuery,
    ItemsQuery,
    Landing,
)
from locator.web.openapi import GEOJSON, JSON, operation
from locator.web.params import parse_bbox, parse_query
from locator.web.problems import Problem, bad_parameter

bp = Blueprint("ogc", __name__, url_prefix="/ogc")
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
COLLECTIONS = {
    "stations": ("驿站 Stations", "骑手驿站、党建之家、示范点与金融服务站 (points, WGS-84)"),
    "districts": ("区县 Districts", "温州 12 个县级行政区边界及站点数 (polygons, WGS-84)"),
}
OPENAPI_TYPE = "application/vnd.oai.openapi+json;version=3.0"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
Bbox = tuple[float, float, float, float]


def _version() -> int:
    return current_roster().snapshot().version


def _link(endpoint: str, rel: str, mtype: str, title: str | None = None, **values: Any) -> dict[str, Any]:
    link = {"href": url_for(endpoint, _external=True, **values), "rel": rel, "type": mtype}
    if title:
        link["title"] = title
    return link


@bp.get("")
@bp.get("/")
@operation("OGC 入口 Landing page", tag="ogc", query=FormatQuery, ok=Landing, cacheable=True)
@cacheable(lambda: 0)
def landing():
    """The OGC API landing page: links to the API definition, conformance and the collections."""
    parse_query(FormatQuery)
    return jsonify(
        {
            "title": "驿站地图 OGC API – Features",
            "description": "温州骑手驿站与区县边界，供 QGIS 等 GIS 软件读取。Sample data is illustrative.",
            "links": [
                _link("ogc.landing", "self", JSON, "本页 this document"),
                _link("apidocs.openapi_json", "service-desc", OPENAPI_TYPE, "API 定义 the API definition"),
                _link("apidocs.docs", "service-doc", "text/html", "接口文档 documentation"),
                _link("ogc.conformance", "conformance", JSON, "一致性 conformance classes"),
                _link("ogc.collections", "data", JSON, "数据集 collections"),
            ],
        }
    )


@bp.get("/conformance")
@operation("一致性声明 Conformance", tag="ogc", query=FormatQuery, ok=Conformance, cacheable=True)
@cacheable(lambda: 0)
def conformance():
    """The conformance classes this service implements."""
    parse_query(FormatQuery)
    return jsonify({"conformsTo": CONFORMANCE})


def outward_bbox(bounds: Bbox, digits: int = 6) -> list[float]:
    """A bounding box rounded outward to `digits` decimals: it still holds every point it bounds."""
    scale = 10**digits
    x0, y0, x1, y1 = bounds
    return [
        math.floor(x0 * scale) / scale,
        math.floor(y0 * scale) / scale,
        math.ceil(x1 * scale) / scale,
        math.ceil(y1 * scale) / scale,
    ]


def _utc_text(value: datetime, *, up: bool = False) -> str:
    """RFC 3339 in UTC to the second, rounded down (or `up`, for the end of an extent)."""
    if up and value.microsecond:
        value += timedelta(seconds=1)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _collection(cid: str) -> dict[str, Any]:
    title, description = COLLECTIONS[cid]
    roster = current_roster()
    snap = roster.snapshot()
    bounds = snap.bounds() if cid == "stations" else None
    extent: dict[str, Any] = {"spatial": {"bbox": [outward_bbox(bounds or roster.districts.bounds)], "crs": CRS84}}
    if cid == "stations":
        times = [s.updated_at for s in snap.stations if s.updated_at is not None]
        interval = [_utc_text(min(times)), _utc_text(max(times), up=True)] if times else [None, None]
        extent["temporal"] = {"interval": [interval], "trs": GREGORIAN}
    return {
        "id": cid,
        "title": title,
        "description": description,
        "links": [
            _link("ogc.collection", "self", JSON, title, collection_id=cid),
            _link("ogc.items", "items", GEOJSON, title, collection_id=cid),
        ],
        "extent": extent,
        "itemType": "feature",
        "crs": [CRS84],
    }


@bp.get("/collections")
@operation("数据集 Collections", tag="ogc", query=FormatQuery, ok=Collections, cacheable=True)
@cacheable(_version)
def collections():
    """The feature collections: stations and districts."""
    parse_query(FormatQuery)
    return jsonify(
        {
            "links": [_link("ogc.collections", "self", JSON)],
            "collections": [_collection(cid) for cid in COLLECTIONS],
        }
    )


def _known(collection_id: str) -> None:
    if collection_id not in COLLECTIONS:
        raise Problem(
            404,
            "Not Found",
            f"no collection {collection_id!r}; collections: {', '.join(COLLECTIONS)}",
            detail_zh=f"没有“{collection_id}”这个数据集：可用的有 {'、'.join(COLLECTIONS)}。",
        )


COLLECTION_ID = {"collection_id": "数据集 collection: stations or districts"}


@bp.get("/collections/<collection_id>")
@operation(
    "数据集说明 Collection", tag="ogc", query=FormatQuery, ok=Collection, path_params=COLLECTION_ID, cacheable=True
)
@cacheable(_version)
def collection(collection_id: str):
    """One collection's description."""
    parse_query(FormatQuery)
    _known(collection_id)
    return jsonify(_collection(collection_id))


def split_antimeridian(bbox: Bbox | None) -> list[Bbox | None]:
    """A bbox as boxes that do not cross the antimeridian (west > east: two of them; None: no box)."""
    if bbox is None:
        return [None]
    x0, y0, x1, y1 = bbox
    if x0 <= x1:
        return [bbox]
    return [(x0, y0, 180.0, y1), (-180.0, y0, x1, y1)]


def _district_features(bbox: Bbox | None, only: list[str] | None = None) -> list[dict[str, Any]]:
    roster = current_roster()
    if bbox is not None:
        import shapely

        boxes = [shapely.box(*b) for b in split_antimeridian(bbox)]
        # The district's shape must meet the box: its bounding box meeting it is not enough.
        only = [d.code for d in roster.districts.districts if any(d.geometry.intersects(b) for b in boxes)]
    body = districts_body(roster.snapshot(), roster.districts, datetime.now(TZ), boundaries=True, only=only)
    return body["features"]


# RFC 3339 date-time (with its offset) or full date; OGC API – Features adds '..' and '' for open ends.
_DATE = r"\d{4}-\d{2}-\d{2}"
_INSTANT = re.compile(rf"^{_DATE}(?:[Tt ]\d{{2}}:\d{{2}}:\d{{2}}(\.\d+)?([Zz]|[+-]\d{{2}}:\d{{2}}))?$")
DATETIME_HELP_ZH = "时间应写成 2026-11-30、2026-11-30T08:00:00Z，或用“/”连接的区间（开放的一端写“..”）。"
DATETIME_HELP = (
    "use an RFC 3339 instant (2026-11-30T08:00:00Z), a date (2026-11-30) or an interval "
    "start/end with '..' for an open end (2026-11-01/.., ../2026-11-30T12:00:00+08:00)"
)


def _bound(text: str, end: bool) -> datetime | None:
    """One end of a datetime interval (None: open), as the first or last moment it covers."""
    text = text.strip()
    if text in ("", ".."):
        return None
    match = _INSTANT.match(text)
    if not match:
        raise bad_parameter(
            "datetime", f"{text!r} is not a date or an RFC 3339 date-time; {DATETIME_HELP}", DATETIME_HELP_ZH
        )
    try:
        if len(text) == 10:  # a date: the whole day in the service's time zone (Asia/Shanghai)
            day = datetime.combine(datetime.fromisoformat(text).date(), time.min, TZ)
            return day + timedelta(days=1) - timedelta(microseconds=1) if end else day
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T").replace(" ", "T"))
    except ValueError:
        raise bad_parameter(
            "datetime", f"{text!r} is not a valid date or time; {DATETIME_HELP}", f"“{text}”不是有效的日期或时间。"
        ) from None
    if end and not match.group(1):  # 10:00:00Z covers the whole second it names
        moment += timedelta(seconds=1) - timedelta(microseconds=1)
    return moment


def parse_datetime(raw: str | None) -> tuple[datetime | None, datetime | None] | None:
    """The `datetime` parameter as an inclusive [start, end] (None ends are open); None when absent."""
    if raw is None or not raw.strip():
        return None
    parts = raw.split("/")
    if len(parts) == 1:
        if raw.strip() == "..":
            raise bad_parameter(
                "datetime", f"'..' is only an open end of an interval; {DATETIME_HELP}", DATETIME_HELP_ZH
            )
        return _bound(parts[0], False), _bound(parts[0], True)
    if len(parts) != 2:
        raise bad_parameter("datetime", f"an interval has exactly one '/'; {DATETIME_HELP}", DATETIME_HELP_ZH)
    start, end = _bound(parts[0], False), _bound(parts[1], True)
    if start is not None and end is not None and start > end:
        raise bad_parameter("datetime", "the interval's start is after its end", "时间区间的开始晚于结束。")
    return start, end


def _in_interval(value: datetime | None, interval: tuple[datetime | None, datetime | None]) -> bool:
    start, end = interval
    if start is None and end is None:
        return True  # ../.. : every feature, with or without a time
    if value is None:
        return False
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (start is None or start <= value) and (end is None or value <= end)


@bp.get("/collections/<collection_id>/items")
@operation(
    "要素 Features",
    tag="ogc",
    query=ItemsQuery,
    ok={GEOJSON: FeatureCollection},
    path_params=COLLECTION_ID,
    cacheable=True,
    description=f"GeoJSON features in id order. `limit` defaults to 10; values above {OGC_MAX_LIMIT} are clamped "
    "to it. `bbox` selects stations whose location, or districts whose boundary, meets it; a west edge greater "
    "than the east edge crosses the antimeridian. `datetime` selects stations whose `updated_at` lies in it "
    "(an instant, a date in Asia/Shanghai, or an interval with `..` for an open end); districts ignore it. "
    "Station properties are those of `/api/v1/stations?f=geojson`.",
)
@cacheable(_version)
def items(collection_id: str):
    """A page of features of a collection, with next/prev links and counts."""
    args = parse_query(ItemsQuery)
    _known(collection_id)
    bbox = parse_bbox("bbox", args.bbox, antimeridian=True)
    interval = parse_datetime(args.datetime)
    limit = min(args.limit, OGC_MAX_LIMIT)
    roster = current_roster()
    when = datetime.now(TZ).replace(second=0, microsecond=0)
    if collection_id == "stations":
        snap = roster.snapshot()
        parts = [snap.matching(StationFilter(include_closed=True, bbox=b), when) for b in split_antimeridian(bbox)]
        idx = parts[0] if len(parts) == 1 else np.union1d(*parts)  # ascending: id order
        if interval is not None:
            idx = np.array([i for i in idx.tolist() if _in_interval(snap.stations[i].updated_at, interval)], int)
        matched = len(idx)
        chosen = idx[args.offset : args.offset + limit].tolist()
        names = roster.districts
        features = [
            station_feature(snap.stations[i], when=when, district_name=names.name(snap.stations[i].district))
            for i in chosen
        ]
    else:
        every = _district_features(bbox)
        matched = len(every)
        features = every[args.offset : args.offset + limit]
    for f in features:
        f["links"] = [_link("ogc.item", "self", GEOJSON, collection_id=collection_id, feature_id=f["id"])]

    def page(offset: int) -> str:
        values = {k: v for k, v in request.args.items() if k not in ("offset", "limit")}
        return url_for("ogc.items", _external=True, collection_id=collection_id, offset=offset, limit=limit, **values)

    links = [
        {"href": page(args.offset), "rel": "self", "type": GEOJSON},
        _link("ogc.collection", "collection", JSON, collection_id=collection_id),
    ]
    if args.offset + limit < matched:
        links.append({"href": page(args.offset + limit), "rel": "next", "type": GEOJSON})
    if args.offset > 0:
        links.append({"href": page(max(0, args.offset - limit)), "rel": "prev", "type": GEOJSON})
    resp = jsonify(
        {
            "type": "FeatureCollection",
            "features": features,
            "links": links,
            "numberMatched": matched,
            "numberReturned": len(features),
            "timeStamp": datetime.now(TZ).isoformat(timespec="seconds"),
        }
    )
    resp.mimetype = GEOJSON
    return resp


@bp.get("/collections/<collection_id>/items/<feature_id>")
@operation(
    "单个要素 One feature",
    tag="ogc",
    query=FeatureQuery,
    ok={GEOJSON: Feature},
    path_params={**COLLECTION_ID, "feature_id": "要素编号 feature id (station id or district code)"},
    cacheable=True,
)
@cacheable(_version)
def item(collection_id: str, feature_id: str):
    """One feature by id (404 problem if there is none)."""
    parse_query(FeatureQuery)
    _known(collection_id)
    roster = current_roster()
    if collection_id == "stations":
        station = roster.snapshot().get(feature_id)
        if station is None:
            raise Problem(
                404, "Not Found", f"no station with id {feature_id!r}", detail_zh=f"没有编号为“{feature_id}”的站点。"
            )
        when = datetime.now(TZ).replace(second=0, microsecond=0)
        feature = station_feature(station, when=when, district_name=roster.districts.name(station.district))
    else:
        found = _district_features(None, [feature_id]) if feature_id in roster.districts.codes else []
        if not found:
            raise Problem(
                404, "Not Found", f"no district with code {feature_id!r}", detail_zh=f"没有编号为“{feature_id}”的区县。"
            )
        feature = found[0]
    feature["links"] = [
        _link("ogc.item", "self", GEOJSON, collection_id=collection_id, feature_id=feature_id),
        _link("ogc.collection", "collection", JSON, collection_id=collection_id),
    ]
    resp = jsonify(feature)
    resp.mimetype = GEOJSON
    return resp
