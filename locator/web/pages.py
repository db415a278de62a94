"""The riders' pages: near me (/), one station (/stations/<id>) and its door QR code, and /about."""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, render_template, request, url_for

from locator.catalogue import by_name, district_counts, is_stale
from locator.context import current_roster
from locator.hours import TZ
from locator.nearest import StationFilter
from locator.serialize import station_json
from locator.stations import AMENITIES, STATION_TYPES, Station
from locator.web import security
from locator.web.assets import LEAFLET_CSS, LEAFLET_JS, asset_url, built, send_bytes
from locator.web.http import stale_ok
from locator.web.map_pages import all_sample, share_info
from locator.web.params import get_bool, get_choices
from locator.web.problems import bad_parameter
from locator.web.wechat import wechat_configured
from locator.wechat_client import JSSDK_SCRIPT

bp = Blueprint("pages", __name__)
RIDER_AMENITIES = ("water", "microwave", "charging", "toilet")  # the filters riders need most
MAX_QUERY_LEN = 60
PHONE = re.compile(r"\+?\d[\d\- ]{5,}\d")


# -- wording shared with station-card.js (the same rules, tested in Chromium) -----------------------


@bp.app_template_filter("when_zh")
def when_zh(iso: str, today: date | None = None) -> str:
    """'今天 08:30', '明天 08:30' or '12月3日 08:30' for an ISO time (Asia/Shanghai)."""
    at = datetime.fromisoformat(iso).astimezone(TZ)
    today = today or datetime.now(TZ).date()
    clock = at.strftime("%H:%M")
    if at.date() == today:
        return f"今天 {clock}"
    if at.date() == today + timedelta(days=1):
        return f"明天 {clock}"
    return f"{at.month}月{at.day}日 {clock}"


@bp.app_template_filter("date_zh")
def date_zh(iso: str) -> str:
    """'12月31日' for an ISO date."""
    d = date.fromisoformat(iso[:10])
    return f"{d.month}月{d.day}日"


@bp.app_template_filter("checked_zh")
def checked_zh(value: str | datetime | None, today: date | None = None) -> str:
    """'11月30日' this year, '2025年3月1日' before, for when a station's information was last checked (信息更新于)."""
    if not value:
        return "未知"
    at = (datetime.fromisoformat(value) if isinstance(value, str) else value).astimezone(TZ)
    today = today or datetime.now(TZ).date()
    return f"{at.month}月{at.day}日" if at.year == today.year else f"{at.year}年{at.month}月{at.day}日"


@bp.app_template_filter("phone_parts")
def phone_parts(text: str) -> list[tuple[str, bool]]:
    """A contact text cut into (part, is_phone_number) pieces, for tel: links."""
    out, last = [], 0
    for m in PHONE.finditer(text or ""):
        if m.start() > last:
            out.append((text[last : m.start()], False))
        out.append((m.group(0), True))
        last = m.end()
    if last < len(text or ""):
        out.append((text[last:], False))
    return out


@bp.app_template_filter("tel_digits")
def tel_digits(number: str) -> str:
    """The dialable form of a phone number (digits and a leading +)."""
    return re.sub(r"[^\d+]", "", number)


# -- helpers -----------------------------------------------------------------------------------------


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
        "sample_data": all_sample(current_roster().snapshot()),
        "wechat_enabled": wechat_configured(),
        "jssdk_script": JSSDK_SCRIPT,
        "tile_url": cfg.get("RIDER_TILE_URL") or "",
        "tile_crs": cfg.get("RIDER_TILE_CRS") or "gcj02",
        "leaflet_js": asset_url(LEAFLET_JS),
        "leaflet_css": asset_url(LEAFLET_CSS),
    }


def _districts(when: datetime) -> list[dict[str, Any]]:
    """Every district with its station count (catalogue.district_counts), in code order."""
    roster = current_roster()
    counts = district_counts(roster.snapshot(), roster.districts, when)
    return [{"code": c.code, "name": c.name, "count": c.total, "paused": c.paused} for c in counts.districts]


def _assets_digest() -> str:
    """A digest of the assets the pages link: a deploy that changes one changes every page's ETag."""
    names = ("bundles/rider.css", "bundles/rider.js", LEAFLET_JS, LEAFLET_CSS, "img/icon.svg", "img/share.png")
    return hashlib.sha1("|".join(built(n)[2] for n in names).encode()).hexdigest()[:12]


def _page(html: str, *parts: str) -> Response:
    """A page, gzip-compressed, revalidated by ETag (a repeat visit gets a 304 of a few hundred bytes).

    `no-cache`, not `no-store`: the browser may keep the page in its back-forward cache, so Back from
    a station page shows the list as it was, without locating the rider again.
    """
    raw = html.encode("utf-8")
    # The process's start too: settings (WeChat, public URL) are read once per process.
    boot = current_app.extensions.setdefault("pages_boot", secrets.token_hex(4))
    tag = hashlib.sha1("|".join((boot, _assets_digest(), *parts)).encode()).hexdigest()[:20]
    return send_bytes(raw, gzip.compress(raw, 6, mtime=0), "text/html; charset=utf-8", "no-cache", tag)


# -- views -------------------------------------------------------------------------------------------


@bp.get("/")
@stale_ok
def near_me():
    """Near-me page: locates the rider in the browser; ?district= or ?q= lists stations server-side."""
    roster = current_roster()
    codes = sorted(roster.districts.codes)
    district = request.args.get("district", "").strip() or None
    if district is not None and district not in codes:
        raise bad_parameter("district", f"unknown district code {district!r}", f"没有编号为 {district} 的区县")
    q = request.args.get("q", "").strip() or None
    if q is not None and len(q) > MAX_QUERY_LEN:
        raise bad_parameter("q", f"is longer than {MAX_QUERY_LEN} characters", f"搜索词不能超过 {MAX_QUERY_LEN} 个字")
    amenities = get_choices("amenity", AMENITIES)
    types = get_choices("type", STATION_TYPES)
    open_now = get_bool("open_now")
    listed = None
    when = datetime.now(TZ)
    snap = roster.snapshot()
    if district or q:
        flt = StationFilter(
            types=types, amenities=amenities, districts=(district,) if district else (), open_now=open_now, q=q
        )
        listed = [_station(s, when) for s in by_name(snap, snap.matching(flt, when))]
    share = share_info(
        "附近的骑手驿站 · 温州驿站地图",
        "找到离你最近的骑手驿站：开放时间、歇脚、充电、热饭，一键导航。",
        url_for("pages.near_me"),
    )
    html = render_template(
        "pages/near_me.html",
        districts=_districts(when),
        district=district,
        district_name=roster.districts.name(district) if district else None,
        q=q,
        amenities=amenities,
        types=types,
        open_now=open_now,
        filters=[AMENITIES[a] for a in RIDER_AMENITIES],
        station_types=list(STATION_TYPES.values()),
        listed=listed,
        share=share,
        **_page_context(),
    )
    # The small map's tiles and, inside WeChat, the JS-SDK (web/security.py).
    security.allow(
        security.tile_sources(current_app.config.get("RIDER_TILE_URL") or "", security.RIDER_TILE_SUBDOMAINS)
        | security.wechat_sources()
    )
    # Lists carry open-now (to the minute); the district counts carry paused stations (to the day).
    minute = when.strftime("%Y-%m-%dT%H:%M") if listed is not None else when.date().isoformat()
    return _page(html, "near_me", str(snap.version), request.query_string.decode("latin-1"), minute)


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
@stale_ok
def station_page(station_id: str):
    """Everything about one station, with the navigation button and its printable door QR code."""
    snap = current_roster().snapshot()
    station = snap.get(station_id)
    if station is None:
        return _not_found()
    when = datetime.now(TZ)
    s = _station(station, when)
    kind = s["type_label"]["zh"] if s["type_label"] else ""
    desc = f"{kind} · {s['address'] or s['district_name'] or '温州'} · {s['hours_text']}"
    share = share_info(s["name"], desc, url_for("pages.station_page", station_id=station.id))
    stale = is_stale(station, when)  # 待核实: the catalogue's one definition
    html = render_template(
        "pages/station.html", s=s, stale=stale, page_url=station_url(station.id), share=share, **_page_context()
    )
    security.allow(security.wechat_sources())  # navigation and sharing inside WeChat
    return _page(html, "station", str(snap.version), station.id, when.strftime("%Y-%m-%dT%H:%M"))


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
