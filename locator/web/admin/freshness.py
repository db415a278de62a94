"""What is stale in the roster, for organizers: 待核实 stations, stations with open reports, visits, a map.

- `roster_health()` (a template global): counts and the first stations of each list for the user's
  districts; `templates/admin/_roster_health.html` shows it (the dashboard includes that partial),
  and /admin/health shows it alone.
- /admin/visits: "这里可用" confirmations per district and day (a table and a small SVG chart each).
- /admin/map?show=stale|reports: those stations on a map (LocatorMap, locator-map.js), district-scoped.
- POST /admin/stations/<id>/verify: 信息无误 (an organizer confirms a station as it stands).

待核实 is `catalogue.stale_mask`, the one definition (not checked for 180 days).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for

from locator.accounts import User
from locator.catalogue import STALE_AFTER_DAYS, stale_mask
from locator.context import current_feedback, current_roster
from locator.hours import TZ
from locator.nearest import StationFilter
from locator.reports import district_visits
from locator.stations import Station
from locator.store.base import Conflict, NotFound
from locator.web.admin.auth import require_station
from locator.web.admin.keeper import verify_station
from locator.web.admin.reports import keeper_changes, visible_districts
from locator.web.map_pages import map_basemap, subset_map_config
from locator.web.problems import bad_parameter

bp = Blueprint("freshness", __name__)

SHOW = {"stale": f"待核实（{STALE_AFTER_DAYS} 天未核实）", "reports": "有未处理的骑手报告"}
VISIT_PERIODS = (7, 30, 90)
LIST_LIMIT = 20


@dataclass
class RosterHealth:
    """The stale parts of the roster in a user's districts."""

    stale: list[Station]  # oldest check first (the first LIST_LIMIT)
    stale_count: int
    reported: list[tuple[Station | None, str, int]]  # (station, id, open reports), most reports first
    reported_count: int
    keeper_changes: int  # in the last 7 days
    last_confirmed: dict[str, str]
    live: int  # stations in scope that are not permanently closed
    days: int = STALE_AFTER_DAYS


def _scope_mask(user: User) -> tuple[np.ndarray, tuple[str, ...] | None]:
    snap = current_roster().snapshot()
    scope = visible_districts(user)
    mask = snap.live_mask()
    if scope is not None:
        mask = mask & np.isin(snap.district, list(scope))
    return mask, scope


def stale_ids(user: User, when: datetime | None = None) -> list[str]:
    """Ids of the 待核实 stations in `user`'s districts (permanently closed ones left out), oldest check first."""
    snap = current_roster().snapshot()
    mask, _ = _scope_mask(user)
    idx = np.flatnonzero(stale_mask(snap, when or datetime.now(TZ)) & mask)
    stations = snap.stations or []
    return [s.id for s in sorted((stations[i] for i in idx.tolist()), key=lambda s: (s.checked_at, s.id))]


def reported_ids(user: User) -> dict[str, int]:
    """Stations of `user`'s districts with open reports, and how many."""
    scope = visible_districts(user)
    counts: dict[str, int] = {}
    for r in current_feedback().reports(status="open", districts=scope):
        counts[r.station_id] = counts.get(r.station_id, 0) + 1
    return counts


def roster_health(user: User | None = None, *, limit: int = LIST_LIMIT) -> RosterHealth:
    """The stale parts of the roster for `user` (default: the logged-in one)."""
    user = user or g.user
    snap = current_roster().snapshot()
    stale = stale_ids(user)
    reported = reported_ids(user)
    order = sorted(reported.items(), key=lambda kv: (-kv[1], kv[0]))
    mask, _ = _scope_mask(user)
    since = 7
    return RosterHealth(
        stale=[snap.get(i) for i in stale[:limit]],
        stale_count=len(stale),
        reported=[(snap.get(i), i, n) for i, n in order[:limit]],
        reported_count=len(reported),
        keeper_changes=len(keeper_changes(user, days=since)),
        last_confirmed=current_feedback().last_confirmed(),
        live=int(np.count_nonzero(mask)),
    )


@bp.app_context_processor
def _health_context() -> dict[str, Any]:
    # `_roster_health.html` calls roster_health() itself, so any admin page (the dashboard) can include it.
    return {"roster_health": roster_health, "stale_days": STALE_AFTER_DAYS}


@bp.get("/health")
def health_page():
    """名册核实: the roster-health partial on a page of its own."""
    return render_template("admin/health.html")


@bp.post("/stations/<station_id>/verify")
def verify(station_id: str):
    """信息无误: the organizer (or keeper) confirms the station as it stands; verified_at becomes now."""
    try:
        station = current_roster().store.get(station_id)
    except NotFound:
        abort(404)
    user = require_station(station)
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        abort(400)
    try:
        verify_station(station, version, user, "keeper" if user.is_keeper else "edit")
    except Conflict:
        return redirect(url_for("admin.stations.edit_station", station_id=station_id))
    return redirect(url_for("admin.stations.edit_station", station_id=station_id, saved="verified"))


# -- visit statistics ("这里可用") ------------------------------------------------------------------------


@bp.get("/visits")
def visits_page():
    """骑手确认（这里可用）: per district and day over 7, 30 or 90 days, a table and a small chart each."""
    user: User = g.user
    try:
        days = int(request.args.get("days", "30"))
    except ValueError:
        days = 0
    if days not in VISIT_PERIODS:
        raise bad_parameter("days", "use 7, 30 or 90", "统计天数只能是 7、30 或 90")
    roster = current_roster()
    snap = roster.snapshot()
    scope = visible_districts(user)
    district = request.args.get("district", "").strip() or None
    if district is not None and (
        district not in roster.districts.codes or (scope is not None and district not in scope)
    ):
        raise bad_parameter("district", f"unknown or not yours: {district!r}", "没有这个区县，或不在您负责的范围内")
    last = datetime.now(TZ).date()
    first = last - timedelta(days=days - 1)
    rows = current_feedback().confirmations(first.isoformat(), last.isoformat())
    district_of = {s.id: s.district for s in snap.stations or ()}
    shown = [(d.code, d.name) for d in roster.districts.districts if scope is None or d.code in scope]
    per_district = district_visits(rows, district_of, shown, first, last)
    chosen = next((v for v in per_district if v.code == district), None)
    station_rows = []
    if chosen is not None:
        last_seen = current_feedback().last_confirmed()
        for station in sorted(
            (s for s in snap.stations or () if s.district == district),
            key=lambda s: (-chosen.by_station.get(s.id, 0), s.name),
        ):
            station_rows.append((station, chosen.by_station.get(station.id, 0), last_seen.get(station.id)))
    return render_template(
        "admin/visits.html",
        visits=per_district,
        days=days,
        periods=VISIT_PERIODS,
        chosen=chosen,
        station_rows=station_rows,
        first=first,
        last=last,
    )


# -- the map of what needs checking ------------------------------------------------------------------------


def _show() -> str:
    show = request.args.get("show", "stale")
    if show not in SHOW:
        raise bad_parameter("show", "use stale or reports", "show 只能是 stale（待核实）或 reports（有报告）")
    return show


def _subset(user: User, show: str) -> StationFilter:
    ids = stale_ids(user) if show == "stale" else list(reported_ids(user))
    scope = visible_districts(user)
    return StationFilter(ids=frozenset(ids), districts=scope or (), include_closed=show == "reports")


@bp.get("/map")
def map_page():
    """The stations that need checking on a map: 待核实 or with open reports (?show=), district-scoped."""
    user: User = g.user
    show = _show()
    base = map_basemap()
    snap = current_roster().snapshot()
    flt = _subset(user, show)
    data_url = url_for("admin.freshness.map_data", show=show, basemap=base.key)
    config = subset_map_config(snap, base, flt, data_url)
    return render_template(
        "admin/map.html",
        show=show,
        choices=SHOW,
        count=len(flt.ids or ()),
        config=json.dumps(config, ensure_ascii=False),
        basemap=base,
    )


@bp.get("/map/data.json")
def map_data():
    """The stations of the organizers' map (the public map data's shape), for this user only: never cached."""
    from locator import maps

    user: User = g.user
    base = map_basemap()
    body = maps.stations_payload(current_roster().snapshot(), base, _subset(user, _show()))
    resp = Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), mimetype="application/json")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
