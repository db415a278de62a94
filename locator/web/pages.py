"""The riders' pages: near me (/), one station (/stations/<id>) and its door QR code."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, render_template, request

from locator import current_roster
from locator.rider import MAX_QUERY_LEN, RIDER_AMENITIES, find_stations
from locator.serialize import station_json
from locator.stations import AMENITIES, TZ, Station
from locator.web.params import get_bool, get_choices
from locator.web.problems import bad_parameter
from locator.web.wechat import wechat_configured
from locator.wechat import JSSDK_SCRIPT

bp = Blueprint("pages", __name__)


def _station(station: Station, when: datetime) -> dict[str, Any]:
    roster = current_roster()
    return station_json(station, when=when, district_name=roster.districts.name(station.district))


def _page_context() -> dict[str, Any]:
    cfg = current_app.config
    return {
        "sample_data": current_roster().is_sample(),
        "wechat_enabled": wechat_configured(),
        "jssdk_script": JSSDK_SCRIPT,
        "tile_url": cfg.get("RIDER_TILE_URL") or "",
        "tile_crs": cfg.get("RIDER_TILE_CRS") or "gcj02",
    }


def _districts() -> list[dict[str, Any]]:
    """Every district with its number of (not permanently closed) stations, in code order."""
    snap = current_roster().snapshot()
    counts: dict[str, int] = {}
    for s in snap.stations or ():
        if s.status != "closed" and s.district:
            counts[s.district] = counts.get(s.district, 0) + 1
    districts = current_roster().districts
    return [{"code": c, "name": districts.name(c), "count": counts.get(c, 0)} for c in sorted(districts.codes)]


@bp.get("/")
def near_me():
    """Near-me page: locates the rider in the browser; ?district= or ?q= lists stations server-side."""
    roster = current_roster()
    codes = sorted(roster.districts.codes)
    district = request.args.get("district", "").strip() or None
    if district is not None and district not in codes:
        raise bad_parameter("district", f"unknown district code {district!r}")
    q = request.args.get("q", "").strip() or None
    if q is not None and len(q) > MAX_QUERY_LEN:
        raise bad_parameter("q", f"is longer than {MAX_QUERY_LEN} characters")
    amenities = get_choices("amenity", AMENITIES)
    open_now = get_bool("open_now")
    listed = None
    if district or q:
        when = datetime.now(TZ)
        found = find_stations(
            roster.snapshot().stations or (),
            q=q,
            district=district,
            amenities=amenities,
            open_at=when if open_now else None,
        )
        listed = [_station(s, when) for s in found]
    return render_template(
        "pages/near_me.html",
        districts=_districts(),
        district=district,
        district_name=roster.districts.name(district) if district else None,
        q=q,
        amenities=amenities,
        open_now=open_now,
        filters=[AMENITIES[a] for a in RIDER_AMENITIES],
        listed=listed,
        **_page_context(),
    )


def _find(station_id: str) -> Station | None:
    snap = current_roster().snapshot()
    i = snap.by_id.get(station_id)
    return snap.stations[i] if i is not None and snap.stations else None


def _not_found():
    return render_template("pages/not_found.html", **_page_context()), 404


def station_url(station_id: str) -> str:
    """The station page's absolute URL: LOCATOR_PUBLIC_URL when set (behind proxies), else the request's root."""
    base = current_app.config.get("PUBLIC_URL") or request.url_root
    return base.rstrip("/") + "/stations/" + quote(station_id, safe="")


@bp.get("/stations/<station_id>")
def station_page(station_id: str):
    """Everything about one station, with the navigation button and its printable door QR code."""
    station = _find(station_id)
    if station is None:
        return _not_found()
    when = datetime.now(TZ)
    return render_template(
        "pages/station.html",
        s=_station(station, when),
        page_url=station_url(station.id),
        **_page_context(),
    )


@bp.get("/stations/<station_id>/qr.svg")
def station_qr(station_id: str):
    """The QR code (SVG) that opens the station page, for printing on the station's door."""
    import segno  # only the QR route needs it

    station = _find(station_id)
    if station is None:
        return _not_found()
    buf = io.BytesIO()
    segno.make(station_url(station.id), error="m").save(buf, kind="svg", scale=10, border=2, xmldecl=False)
    resp = Response(buf.getvalue(), mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp
