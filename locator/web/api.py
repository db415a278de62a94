"""The JSON API for riders' apps and developers: /api/v1."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, jsonify

from locator import current_roster
from locator.coords import to_wgs84
from locator.nearest import NearestFilter
from locator.privacy import coarse_point
from locator.serialize import station_json
from locator.stations import AMENITIES, STATION_TYPES, TZ
from locator.web.params import get_bool, get_choices, get_crs, get_float, get_int
from locator.web.problems import bad_parameter

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)
MAX_K = 50
MAX_RADIUS_M = 200_000


@bp.get("/stations/nearest")
def nearest():
    """The k nearest stations to a point, nearest first, with distance and navigation targets."""
    lat = get_float("lat", -90, 90, required=True)
    lng = get_float("lng", -180, 180, required=True)
    crs = get_crs("coord")
    k = get_int("k", 1, MAX_K, default=5)
    radius_m = get_float("radius_m", 1, MAX_RADIUS_M)
    roster = current_roster()
    districts = get_choices("district", sorted(roster.districts.codes))
    flt = NearestFilter(
        types=get_choices("type", STATION_TYPES),
        amenities=get_choices("amenity", AMENITIES),
        districts=districts,
        open_now=get_bool("open_now"),
    )
    w_lng, w_lat = to_wgs84(lng, lat, crs)
    if not (-180 <= w_lng <= 180 and -90 <= w_lat <= 90):
        raise bad_parameter("lng", "the point is outside the valid range after conversion")
    when = datetime.now(TZ)
    result = roster.nearest(w_lng, w_lat, k, radius_m=radius_m, flt=flt, when=when)
    log.debug("nearest near %s k=%d", coarse_point(w_lng, w_lat), k)

    def render(hit):
        return station_json(
            hit.station,
            when=when,
            crs=crs,
            distance_m=hit.distance_m,
            district_name=roster.districts.name(hit.station.district),
        )

    body = {
        "query": {
            "coord": crs.value,
            "k": k,
            "radius_m": radius_m,
            "distance": "great-circle (haversine, sphere R=6371008.8 m)",
            "at": when.isoformat(),
        },
        "count": len(result.hits),
        "stations": [render(h) for h in result.hits],
        "sample_data": roster.is_sample(),
    }
    if radius_m is not None and not result.hits:
        body["message"] = f"no station within {radius_m:g} m"
        body["nearest_outside_radius"] = render(result.outside_radius) if result.outside_radius else None
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
