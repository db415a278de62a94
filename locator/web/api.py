"""The JSON API for riders' apps and developers: /api/v1.

Nearest search, the catalogue (list, one station, districts, vocabulary), and riders' anonymous
feedback on a station: reports (报告问题) and "这里可用" confirmations (locator/reports.py). Every view parses
its query with a pydantic model (web/models.py), asks the roster, and serialises with
locator.serialize; the OpenAPI document is generated from the same declarations.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import orjson
from flask import Blueprint, Flask, current_app, jsonify, request, url_for

from locator.catalogue import decode_cursor, districts_body, encode_cursor, page_after
from locator.context import current_confirmations, current_feedback, current_roster
from locator.coords import CRS, CRS_LABELS, geodesic_m, to_wgs84
from locator.hours import TZ
from locator.nearest import NO_FILTER, Snapshot, StationFilter
from locator.privacy import coarse_point
from locator.reports import check_report
from locator.roster import Roster
from locator.serialize import fragments, station_feature, station_json
from locator.stations import AMENITIES, STATION_TYPES, STATUSES
from locator.web.http import cacheable, stale_ok
from locator.web.limits import nearest_budget
from locator.web.models import (
    MAX_K,
    ConfirmationAccepted,
    DistrictsQuery,
    DistrictsResponse,
    EmptyQuery,
    Feature,
    FeatureCollection,
    NearestQuery,
    NearestResponse,
    OutsideServiceAreaProblem,
    ReportCreated,
    ReportInput,
    StationOut,
    StationPage,
    StationQuery,
    StationsQuery,
    Vocabulary,
)
from locator.web.openapi import GEOJSON, JSON, PROBLEM, operation
from locator.web.params import parse_bbox, parse_query
from locator.web.problems import Problem, bad_parameter

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)


def _data_version() -> int:
    return current_roster().snapshot().version


def _check_districts(codes: list[str]) -> tuple[str, ...]:
    known = current_roster().districts.codes
    for code in codes:
        if code not in known:
            raise bad_parameter(
                "district",
                f"unknown district code {code!r}; allowed: {', '.join(sorted(known))}",
                f"没有编号为 {code} 的区县：温州市的区县编号为 {'、'.join(sorted(known))}。",
            )
    return tuple(codes)


def negotiated_format(param: str | None = None) -> str:
    """'geojson' or 'json': the f parameter wins, then the Accept header."""
    value = param if param is not None else request.args.get("f")
    if value:
        return "geojson" if value.strip() == "geojson" else "json"
    best = request.accept_mimetypes.best_match([JSON, GEOJSON], default=JSON)
    return (
        "geojson" if best == GEOJSON and request.accept_mimetypes[GEOJSON] > request.accept_mimetypes[JSON] else "json"
    )


@bp.get("/stations/nearest")
@stale_ok
@operation(
    "最近的驿站 Nearest stations",
    tag="stations",
    query=NearestQuery,
    ok=NearestResponse,
    description="The k nearest stations to a point, nearest first by WGS-84 geodesic distance (Karney; ties by "
    "station id), with that distance, open-now and navigation targets. With `radius_m` and nothing inside it, "
    "`message` says so and `nearest_outside_radius` holds the closest station beyond it. A point farther "
    "than LOCATOR_MAX_QUERY_DISTANCE_KM (default 100 km) from the service area gets 422 with `detail_zh` "
    "(不在服务范围内, and how far) to show the rider. Cache-Control: private, no-store.",
    extra_responses={
        422: (
            "The point lies too far from the service area (Wenzhou's districts or LOCATOR_SERVICE_AREA_BBOX)",
            {PROBLEM: OutsideServiceAreaProblem},
        )
    },
)
def nearest():
    """The k nearest stations to a point, nearest first, with distance and navigation targets."""
    budget = nearest_budget()
    if budget is not None and not budget.spend(request.remote_addr or ""):
        return budget.refusal(request.remote_addr or "")
    args = plain_nearest_query(request.environ.get("QUERY_STRING", "")) or parse_query(NearestQuery)
    roster = current_roster()
    crs = CRS(args.coord)
    if args.type or args.amenity or args.district or args.open_now:
        flt = StationFilter(
            types=tuple(args.type),
            amenities=tuple(args.amenity),
            districts=_check_districts(args.district),
            open_now=args.open_now,
        )
    else:
        flt = NO_FILTER
    w_lng, w_lat = to_wgs84(args.lng, args.lat, crs) if crs is not CRS.WGS84 else (args.lng, args.lat)
    if not (-180 <= w_lng <= 180 and -90 <= w_lat <= 90):
        raise bad_parameter(
            "lng", "the point is outside the valid range after conversion", "坐标换算后超出了经纬度的有效范围。"
        )
    count_nearest_search(current_app._get_current_object(), w_lng, w_lat)
    body = nearest_answer(roster, roster.snapshot(), w_lng, w_lat, crs, args.k, radius_m=args.radius_m, flt=flt)
    resp = current_app.response_class(body, mimetype="application/json")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def count_nearest_search(app: Flask, w_lng: float, w_lat: float) -> None:
    """Count a nearest search in the search log (one counter per H3 cell and day, written in the background)."""
    searches = app.extensions.get("search_log")
    if searches is not None:
        searches.add(w_lng, w_lat)


def nearest_answer(
    roster: Roster,
    snap: Snapshot,
    w_lng: float,
    w_lat: float,
    crs: CRS,
    k: int,
    *,
    radius_m: float | None = None,
    flt: StationFilter = NO_FILTER,
) -> bytes:
    """The nearest answer's JSON for a WGS-84 point (the view and web/hot_path.py write it with this one function).

    OutsideServiceArea (422) if the point is too far from the service area.
    """
    when = datetime.now(TZ)
    result = roster.nearest(w_lng, w_lat, k, radius_m=radius_m, flt=flt, when=when, snapshot=snap)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("nearest near %s k=%d", coarse_point(w_lng, w_lat), k)
    names = roster.districts
    cache = fragments(snap, names.name)
    district = snap.district

    def render(hit) -> tuple[bytes, ...]:
        # Cached fixed parts (navigation links, labels) + the time-dependent fields: see serialize.
        # The district from the snapshot's column: hit.station would make a Station from the packed roster.
        return cache.station_parts(hit.index, when, crs, hit.distance_m, names.name(district[hit.index]))

    head = {
        "query": {
            "coord": crs.value,
            "k": k,
            "radius_m": radius_m,
            "distance": "geodesic (WGS-84 ellipsoid, Karney's algorithm)",
            "at": when,  # orjson writes what isoformat() writes (tests/test_hot_path.py), without a str made first
        },
        "count": len(result.hits),
        "sample_data": snap.sample_count > 0,
    }
    # One list of pieces joined once: the ~1.6 kB station fragments are copied once, into the answer.
    parts = [orjson.dumps(head)[:-1], b',"stations":[']
    for n, hit in enumerate(result.hits):
        if n:
            parts.append(b",")
        parts += render(hit)
    parts.append(b"]")
    if radius_m is not None and not result.hits:
        parts += (b',"message":', orjson.dumps(f"no station within {radius_m:g} m"), b',"nearest_outside_radius":')
        parts += render(result.outside_radius) if result.outside_radius else (b"null",)
    parts.append(b"}")
    return b"".join(parts)


_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,3}(?:\.[0-9]{1,15})?")
_PLAIN_K = re.compile(r"[0-9]{1,2}")
_PLAIN_NAMES = frozenset({"lat", "lng", "k", "coord"})
_COORDS = frozenset(c.value for c in CRS)


class PlainNearestQuery(NamedTuple):
    """A NearestQuery without filters or radius, as plain_nearest_query() reads it (cheaper than pydantic's)."""

    lat: float
    lng: float
    k: int
    coord: str
    radius_m: float | None = None
    type: tuple[str, ...] = ()
    amenity: tuple[str, ...] = ()
    district: tuple[str, ...] = ()
    open_now: bool = False


def plain_nearest_query(query: str) -> PlainNearestQuery | None:
    """A phone's usual nearest query string (plain lat, lng, k, coord) read without pydantic; None for any other.

    What it accepts, NearestQuery accepts with the same values (tests/test_hot_path.py): plain
    decimals within range, k within 1..MAX_K, a known coord, each once, nothing percent-encoded.
    Everything else (filters, radius, exponents, repeated or unknown parameters, errors) is for
    parse_query(NearestQuery), the one validation and its 400 answers.
    """
    if "%" in query or "+" in query:
        return None
    pairs = dict(p.partition("=")[::2] for p in query.split("&"))
    if len(pairs) != query.count("&") + 1 or not pairs.keys() <= _PLAIN_NAMES:
        return None
    lat, lng = pairs.get("lat", ""), pairs.get("lng", "")
    k, coord = pairs.get("k", "5"), pairs.get("coord", "wgs84")
    if not (_PLAIN_DECIMAL.fullmatch(lat) and _PLAIN_DECIMAL.fullmatch(lng) and _PLAIN_K.fullmatch(k)):
        return None
    y, x, n = float(lat), float(lng), int(k)
    if -90 <= y <= 90 and -180 <= x <= 180 and 1 <= n <= MAX_K and coord in _COORDS:
        return PlainNearestQuery(y, x, n, coord)
    return None


def _page_links(endpoint: str, fmt: str, **changes: Any) -> str:
    args = {k: v for k, v in request.args.lists()}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = [str(value)]
    return url_for(endpoint, _external=True, **args)


@bp.get("/stations")
@operation(
    "驿站目录 Station catalogue",
    tag="stations",
    query=StationsQuery,
    ok={JSON: StationPage, GEOJSON: FeatureCollection},
    cacheable=True,
    description="Stations in id order, filtered; pages by `limit` + `offset` or by the opaque `cursor` of the "
    "`next` link. JSON by default; GeoJSON with `f=geojson` or `Accept: application/geo+json`.",
)
@cacheable(_data_version, negotiated_format)
def stations():
    """One page of the catalogue, as JSON or GeoJSON."""
    args = parse_query(StationsQuery)
    if args.cursor is not None and args.offset is not None:
        raise bad_parameter(
            "cursor",
            "cannot be combined with offset; use one way of paging",
            "翻页位置（cursor）和起始位置（offset）只能用一种。",
        )
    roster = current_roster()
    snap = roster.snapshot()
    crs = CRS(args.coord)
    fmt = negotiated_format(args.f)
    flt = StationFilter(
        types=tuple(args.type),
        amenities=tuple(args.amenity),
        districts=_check_districts(args.district),
        statuses=tuple(args.status),
        open_now=args.open_now,
        include_closed=True,
        bbox=parse_bbox("bbox", args.bbox),
        q=args.q.strip() if args.q and args.q.strip() else None,
    )
    when = datetime.now(TZ).replace(second=0, microsecond=0)
    idx = snap.matching(flt, when)
    if args.cursor is not None:
        start = page_after(snap, idx, decode_cursor(args.cursor))
    else:
        start = args.offset or 0
    chosen: np.ndarray = idx[start : start + args.limit]
    page = [snap.stations[i] for i in chosen.tolist()] if snap.stations else []
    more = start + len(page) < len(idx)
    next_url = None
    if more and page:
        if args.offset is not None:
            next_url = _page_links("api.stations", fmt, offset=start + args.limit)
        else:
            next_url = _page_links("api.stations", fmt, cursor=encode_cursor(page[-1].id))
    links = [{"href": _page_links("api.stations", fmt), "rel": "self", "type": GEOJSON if fmt == "geojson" else JSON}]
    if next_url:
        links.append({"href": next_url, "rel": "next", "type": GEOJSON if fmt == "geojson" else JSON})
    if args.offset:
        prev_offset = max(0, args.offset - args.limit)
        links.append({"href": _page_links("api.stations", fmt, offset=prev_offset), "rel": "prev"})
    names = roster.districts
    if fmt == "geojson":
        body = {
            "type": "FeatureCollection",
            "features": [station_feature(s, when=when, crs=crs, district_name=names.name(s.district)) for s in page],
            "links": links,
            "numberMatched": len(idx),
            "numberReturned": len(page),
            "timeStamp": datetime.now(TZ).isoformat(timespec="seconds"),
            "next": next_url,
            "sample_data": roster.is_sample(),
        }
        resp = jsonify(body)
        resp.mimetype = GEOJSON
        return resp
    return jsonify(
        {
            "count": len(page),
            "total": len(idx),
            "limit": args.limit,
            "offset": start,
            "stations": [station_json(s, when=when, crs=crs, district_name=names.name(s.district)) for s in page],
            "next": next_url,
            "links": links,
            "sample_data": roster.is_sample(),
        }
    )


@bp.get("/stations/<station_id>")
@stale_ok
@operation(
    "单个驿站 One station",
    tag="stations",
    query=StationQuery,
    ok={JSON: StationOut, GEOJSON: Feature},
    path_params={"station_id": "站点编号 station id"},
    cacheable=True,
    description="One station. With `lat` and `lng` (in the system named by `coord`) the answer adds `distance_m`, "
    "the WGS-84 geodesic distance from that point (the maps' station card uses it); such answers are "
    "`Cache-Control: private, no-store`.",
)
@cacheable(_data_version, negotiated_format)
def station(station_id: str):
    """One station by id (404 problem if there is none); with lat/lng, its distance from that point."""
    args = parse_query(StationQuery)
    if (args.lat is None) != (args.lng is None):
        raise bad_parameter("lat" if args.lat is None else "lng", "lat and lng go together", "纬度和经度需同时提供")
    roster = current_roster()
    s = roster.snapshot().get(station_id)
    if s is None:
        raise Problem(
            404, "Not Found", f"no station with id {station_id!r}", detail_zh=f"没有编号为“{station_id}”的站点。"
        )
    when = datetime.now(TZ).replace(second=0, microsecond=0)
    crs = CRS(args.coord)
    distance = None
    if args.lat is not None and args.lng is not None:
        w_lng, w_lat = to_wgs84(args.lng, args.lat, crs)
        distance = float(geodesic_m(w_lng, w_lat, s.lng, s.lat))
    names = roster.districts.name(s.district)
    if negotiated_format(args.f) == "geojson":
        resp = jsonify(station_feature(s, when=when, crs=crs, district_name=names, distance_m=distance))
        resp.mimetype = GEOJSON
    else:
        resp = jsonify(station_json(s, when=when, crs=crs, district_name=names, distance_m=distance))
    if distance is not None:
        resp.headers["Cache-Control"] = "private, no-store"  # it reveals where the asker is
    return resp


@bp.get("/districts")
@operation(
    "区县及站点数 Districts with station counts",
    tag="districts",
    query=DistrictsQuery,
    ok={JSON: DistrictsResponse, GEOJSON: FeatureCollection},
    cacheable=True,
    description="Wenzhou's 12 county-level districts with station counts per type (permanently closed stations "
    "not counted). With `boundaries=true` the answer is a GeoJSON FeatureCollection of WGS-84 boundaries.",
)
@cacheable(_data_version)
def districts():
    """Districts with station counts per type; boundaries as GeoJSON on request."""
    args = parse_query(DistrictsQuery)
    roster = current_roster()
    body = districts_body(roster.snapshot(), roster.districts, datetime.now(TZ), boundaries=args.boundaries)
    resp = jsonify(body)
    if args.boundaries:
        resp.mimetype = GEOJSON
    return resp


@bp.get("/vocabulary")
@operation(
    "词表 Vocabulary",
    tag="vocabulary",
    query=EmptyQuery,
    ok=Vocabulary,
    cacheable=True,
    description="Station types, amenities, statuses and coordinate systems, each with Chinese and English labels.",
)
@cacheable(lambda: 0)
def vocabulary():
    """Station types, amenities, statuses and coordinate systems with zh/en labels."""
    parse_query(EmptyQuery)
    return jsonify(
        {
            "types": [t.as_json() for t in STATION_TYPES.values()],
            "amenities": [t.as_json() for t in AMENITIES.values()],
            "statuses": [t.as_json() for t in STATUSES.values()],
            "coords": [{"key": c.value, "zh": zh, "en": en, "icon": ""} for c, (zh, en) in CRS_LABELS.items()],
        }
    )


# -- riders' feedback: anonymous, rate-limited (web/limits.py), nothing about the sender kept ---------------

MAX_FEEDBACK_BYTES = 4096  # a kind and a 200-character note; anything bigger is not a report
FEEDBACK_ID = {"station_id": "站点编号 station id"}


def _feedback_station(station_id: str):
    station = current_roster().snapshot().get(station_id)
    if station is None:
        raise Problem(404, "Not Found", f"no station with id {station_id!r}", detail_zh="没有这个驿站。")
    return station


def _no_store(resp, status: int):
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/stations/<station_id>/reports")
@operation(
    "报告问题 Report a problem with a station",
    tag="stations",
    ok=ReportCreated,
    ok_status=201,
    body=ReportInput,
    path_params=FEEDBACK_ID,
    extra_statuses={422: "Unknown kind or a note too long: `parameter` names it, `detail_zh` says it in Chinese"},
    description="A rider reports a station as closed (已关闭), moved (搬走了), at a wrong location (位置不对), with "
    "other amenities (设施不符) or something else (其他), with an optional note of at most 200 characters. "
    "Anonymous: nothing about the sender is stored or logged (no address, no id; the time only to the hour), "
    "and phone numbers, ID numbers and e-mail addresses in the note are hidden. Rate-limited per client "
    "(LOCATOR_RATELIMIT_REPORTS). Organizers see reports of one kind for one station as one group in their "
    "review queue (`/api/v1/admin/reports`). The roster itself does not change.",
)
def report_station(station_id: str):
    """Store a rider's anonymous report about a station (201 with its id)."""
    station = _feedback_station(station_id)
    if (request.content_length or 0) > MAX_FEEDBACK_BYTES:
        raise Problem(413, "Payload Too Large", "a report is a kind and a short note", detail_zh="报告内容过长。")
    body = request.get_json(silent=True) if request.is_json else None
    if body is None:
        raise Problem(
            400,
            "Invalid request",
            'send Content-Type: application/json with {"kind": …, "note": …}',
            detail_zh="请求内容应为 JSON。",
        )
    kind, note = check_report(body)
    report_id = current_feedback().add_report(station.id, station.district, kind, note)
    answer = {"id": report_id, "station_id": station.id, "kind": kind, "message_zh": "谢谢！组织者会尽快核实。"}
    return _no_store(jsonify(answer), 201)


@bp.post("/stations/<station_id>/confirmations")
@operation(
    "这里可用 Confirm a station after a visit",
    tag="stations",
    ok=ConfirmationAccepted,
    ok_status=202,
    path_params=FEEDBACK_ID,
    description="One tap after a visit: the station was there and usable. Counted per station and day (no person "
    "identified, no time of day), written in batches within about a minute; organizers see the last confirmed "
    "day and daily counts. The roster and its data version do not change. No body. Rate-limited per client and "
    "station (LOCATOR_RATELIMIT_CONFIRMATIONS).",
)
def confirm_station(station_id: str):
    """Count one "这里可用" confirmation of a station today (202: written in the background)."""
    station = _feedback_station(station_id)
    current_confirmations().add(station.id)
    day = datetime.now(TZ).date().isoformat()
    answer = {"station_id": station.id, "day": day, "message_zh": "谢谢！已记录：这里可用。"}
    return _no_store(jsonify(answer), 202)
