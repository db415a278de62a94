"""The riders' pages: near me (/), one station (/stations/<id>) and its door QR code, and /about."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, render_template, request

from locator.catalogue import by_name, district_counts
from locator.context import current_roster
from locator.hours import TZ
from locator.nearest import StationFilter
from locator.serialize import station_json
from locator.stations import AMENITIES, Station
from locator.web.params import get_bool, get_choices
from locator.web.problems import bad_parameter
from locator.web.wechat import wechat_configured
from locator.wechat_client import JSSDK_SCRIPT

bp = Blueprint("pages", __name__)
RIDER_AMENITIES = ("water", "microwave", "charging", "toilet")  # the filters riders need most
MAX_QUERY_LEN = 60


@dataclass(frozen=True)
class Figure:
    """One city-level figure of the 温州日报 report (2023-08-25), and whether the map shows such places."""

    key: str
    label: str
    figure: str
    station_type: str | None = None  # the map's type for these places; None: not on the map
    note: str = ""


# What the report says about the whole city (shared/source-article.txt). Organisations are not places
# a rider can go to: they are listed here, not drawn on the map (README, "Scope").
ARTICLE_FIGURES = (
    Figure("rider_stations", "“骑手驿站”", "145 个", "rider_station"),
    Figure("rider_branches", "外卖骑手党支部", "5 个", note="组织，不在地图上"),
    Figure("xgz_organisations", "“小个专”党组织", "1158 个", note="组织，不在地图上"),
    Figure("xgz_members", "“小个专”党员", "1.47 万名", note="不在地图上"),
    Figure("joint_organisations", "“小个专”党建联建组织", "13 个", note="组织，不在地图上"),
    Figure("demo_sites", "党建示范创建点", "12 个", "demo_site"),
    Figure("finance_stations", "金融服务站", "40 个", "finance_station"),
    Figure(
        "party_homes",
        "“小个专”党建之家",
        "未报总数",
        "party_home",
        note="报道点名瞿溪真皮大世界、新桥所直属支部、皮城红帆",
    ),
)


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


def _districts(when: datetime) -> list[dict[str, Any]]:
    """Every district with its station count (catalogue.district_counts), in code order."""
    roster = current_roster()
    counts = district_counts(roster.snapshot(), roster.districts, when)
    return [{"code": c.code, "name": c.name, "count": c.total, "paused": c.paused} for c in counts.districts]


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
    when = datetime.now(TZ)
    if district or q:
        flt = StationFilter(amenities=amenities, districts=(district,) if district else (), open_now=open_now, q=q)
        snap = roster.snapshot()
        listed = [_station(s, when) for s in by_name(snap, snap.matching(flt, when))]
    return render_template(
        "pages/near_me.html",
        districts=_districts(when),
        district=district,
        district_name=roster.districts.name(district) if district else None,
        q=q,
        amenities=amenities,
        open_now=open_now,
        filters=[AMENITIES[a] for a in RIDER_AMENITIES],
        listed=listed,
        **_page_context(),
    )


@bp.get("/about")
def about():
    """关于: what the map shows and what it leaves out, the city's figures from the report, the source."""
    roster = current_roster()
    counts = district_counts(roster.snapshot(), roster.districts, datetime.now(TZ))
    figures = [
        {
            "key": f.key,
            "label": f.label,
            "figure": f.figure,
            "note": f.note,
            "on_map": counts.by_type.get(f.station_type, 0) if f.station_type else None,
        }
        for f in ARTICLE_FIGURES
    ]
    return render_template("pages/about.html", figures=figures, **_page_context())


def _not_found():
    return render_template("pages/not_found.html", **_page_context()), 404


def station_url(station_id: str) -> str:
    """The station page's absolute URL: LOCATOR_PUBLIC_URL when set, else the request's root.

    The request's host has passed the allow-list of web/http.py, so a forged Host never gets here.
    """
    base = current_app.config.get("PUBLIC_URL") or request.url_root
    return base.rstrip("/") + "/stations/" + quote(station_id, safe="")


@bp.get("/stations/<station_id>")
def station_page(station_id: str):
    """Everything about one station, with the navigation button and its printable door QR code."""
    station = current_roster().snapshot().get(station_id)
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

    station = current_roster().snapshot().get(station_id)
    if station is None:
        return _not_found()
    buf = io.BytesIO()
    segno.make(station_url(station.id), error="m").save(buf, kind="svg", scale=10, border=2, xmldecl=False)
    resp = Response(buf.getvalue(), mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp
