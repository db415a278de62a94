"""OGC API – Features Part 1 (Core, GeoJSON, OpenAPI 3.0) under /ogc, for QGIS and other GIS tools.

Two collections: `stations` (points) and `districts` (boundaries with station counts), both
in CRS84 (WGS-84 longitude, latitude). The landing page carries the `service-desc` and `data`
links QGIS needs. Requirement ids (/req/core/...) are cited in tests/test_ogc.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    FormatQuery,
    ItemsQuery,
    Landing,
)
from locator.web.openapi import GEOJSON, JSON, operation
from locator.web.params import parse_bbox, parse_query
from locator.web.problems import Problem

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


def _collection(cid: str) -> dict[str, Any]:
    title, description = COLLECTIONS[cid]
    roster = current_roster()
    bounds = roster.snapshot().bounds() if cid == "stations" else None
    bbox = list(bounds or roster.districts.bounds)
    return {
        "id": cid,
        "title": title,
        "description": description,
        "links": [
            _link("ogc.collection", "self", JSON, title, collection_id=cid),
            _link("ogc.items", "items", GEOJSON, title, collection_id=cid),
        ],
        "extent": {"spatial": {"bbox": [[round(v, 6) for v in bbox]], "crs": CRS84}},
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
        raise Problem(404, "Not Found", f"no collection {collection_id!r}; collections: {', '.join(COLLECTIONS)}")


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


def _district_features(bbox) -> list[dict[str, Any]]:
    roster = current_roster()
    features = districts_body(roster.snapshot(), roster.districts, datetime.now(TZ), boundaries=True)["features"]
    if bbox is not None:
        x0, y0, x1, y1 = bbox
        features = [
            f
            for f in features
            if not (
                f["properties"]["bbox"][0] > x1
                or f["properties"]["bbox"][2] < x0
                or f["properties"]["bbox"][1] > y1
                or f["properties"]["bbox"][3] < y0
            )
        ]
    return features


@bp.get("/collections/<collection_id>/items")
@operation(
    "要素 Features",
    tag="ogc",
    query=ItemsQuery,
    ok={GEOJSON: FeatureCollection},
    path_params=COLLECTION_ID,
    cacheable=True,
    description=f"GeoJSON features in id order. `limit` defaults to 10; values above {OGC_MAX_LIMIT} are clamped "
    "to it. `bbox` selects features whose location (stations) or bounding box (districts) meets it.",
)
@cacheable(_version)
def items(collection_id: str):
    """A page of features of a collection, with next/prev links and counts."""
    args = parse_query(ItemsQuery)
    _known(collection_id)
    bbox = parse_bbox("bbox", args.bbox)
    limit = min(args.limit, OGC_MAX_LIMIT)
    roster = current_roster()
    when = datetime.now(TZ).replace(second=0, microsecond=0)
    if collection_id == "stations":
        snap = roster.snapshot()
        idx = snap.matching(StationFilter(include_closed=True, bbox=bbox), when)
        matched = len(idx)
        chosen = idx[args.offset : args.offset + limit].tolist()
        features = [
            station_feature(snap.stations[i], when=when, navigation=False, district_name=None)
            for i in chosen
            if snap.stations
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
    query=FormatQuery,
    ok={GEOJSON: Feature},
    path_params={**COLLECTION_ID, "feature_id": "要素编号 feature id (station id or district code)"},
    cacheable=True,
)
@cacheable(_version)
def item(collection_id: str, feature_id: str):
    """One feature by id (404 problem if there is none)."""
    parse_query(FormatQuery)
    _known(collection_id)
    roster = current_roster()
    if collection_id == "stations":
        station = roster.snapshot().get(feature_id)
        if station is None:
            raise Problem(404, "Not Found", f"no station with id {feature_id!r}")
        when = datetime.now(TZ).replace(second=0, microsecond=0)
        feature = station_feature(station, when=when, navigation=False)
    else:
        found = [f for f in _district_features(None) if f["id"] == feature_id]
        if not found:
            raise Problem(404, "Not Found", f"no district with code {feature_id!r}")
        feature = found[0]
    feature["links"] = [
        _link("ogc.item", "self", GEOJSON, collection_id=collection_id, feature_id=feature_id),
        _link("ogc.collection", "collection", JSON, collection_id=collection_id),
    ]
    resp = jsonify(feature)
    resp.mimetype = GEOJSON
    return resp
