"""Station keepers' pages (站长, role station_keeper): their own stations, from a phone.

A keeper changes only the status (正常开放 / 暂停开放 until a date), the opening hours and the
amenities of their own stations, and confirms that the information is right (信息无误). Every
change goes through `User.refused_fields()` (the same rule as the token API), is one audited store
write (via "keeper") and shows on the district organizer's review page (/admin/reports).
Plain HTML forms: no script, so the pages work in any phone browser (and under a strict CSP).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for

from locator.accounts import KEEPER_STATUSES, User
from locator.context import current_roster
from locator.hours import TZ, HoursError, parse_hours
from locator.stations import AMENITIES, STATUSES, Station, StationInvalid
from locator.store.base import Conflict, NotFound
from locator.web.admin.auth import require_changes, require_station

bp = Blueprint("keeper", __name__)

HOURS_HINT = "例如 Mo-Su 08:00-20:00（每天 8:00-20:00）、Mo-Fr 09:00-18:00; Sa 09:00-12:00、24/7（全天）"


def _today() -> date:
    return datetime.now(TZ).date()


def verify_station(station: Station, expected_version: int, user: User, via: str) -> Station:
    """Record that `user` checked `station` as it stands: verified_at becomes now (a new, audited version)."""
    unclaimed = dataclasses.replace(station, verified_at=None)  # a write without a date of its own is stamped now
    return current_roster().store.update(unclaimed, expected_version=expected_version, actor=user.name, via=via)


def _mine(user: User) -> list[Station]:
    store = current_roster().store
    found = []
    for station_id in user.stations:
        try:
            found.append(store.get(station_id))
        except NotFound:
            continue  # deleted since (restorable): nothing to keep
    return found


def _station(station_id: str) -> Station:
    try:
        station = current_roster().store.get(station_id)
    except NotFound:
        abort(404)
    require_station(station)
    return station


@bp.get("/keeper")
def index():
    """A keeper's stations, each with its state and a link to change it."""
    user: User = g.user
    return render_template("admin/keeper_index.html", stations=_mine(user), statuses=STATUSES)


def _render(station: Station, *, errors: list[str] | None = None, form: Any = None, status: int = 200) -> Response:
    page = render_template(
        "admin/keeper_station.html",
        s=station,
        form=form,
        errors=errors or [],
        amenities=AMENITIES,
        statuses={k: STATUSES[k] for k in KEEPER_STATUSES},
        hours_text=_hours_text(station.hours),
        hint=HOURS_HINT,
        today=_today().isoformat(),
    )
    return Response(page, status=status, mimetype="text/html")


def _hours_text(hours: str) -> str:
    try:
        return parse_hours(hours).describe_zh()
    except HoursError:
        return hours


@bp.get("/keeper/stations/<station_id>")
def station_page(station_id: str):
    """The phone form: status (and until when), hours, amenities; 信息无误 to confirm as it stands."""
    return _render(_station(station_id))


def _version() -> int:
    try:
        return int(request.form.get("version", ""))
    except ValueError:
        abort(400)


@bp.post("/keeper/stations/<station_id>")
def save(station_id: str):
    """Save a keeper's change (only their fields: the same rule as the token API), or confirm as it stands."""
    old = _station(station_id)
    version = _version()
    user: User = g.user
    if request.form.get("action") == "verify":
        try:
            verify_station(old, version, user, "keeper")
        except Conflict:
            return _stale(old)
        return redirect(url_for("admin.keeper.station_page", station_id=station_id, saved="verified"))
    status = request.form.get("status", "")
    errors = []
    if status not in KEEPER_STATUSES:
        errors.append("请选择开放状态：正常开放或暂停开放。")
    until = request.form.get("closed_until", "").strip() if status == "temporarily_closed" else ""
    if until:
        try:
            if date.fromisoformat(until) < _today():
                errors.append("暂停至的日期已经过去，请选择今天或以后的日期。")
        except ValueError:
            errors.append("暂停至的日期无法识别，请用日期选择器选择。")
    hours = request.form.get("hours", "").strip()
    try:
        parse_hours(hours)
    except HoursError:
        errors.append(f"开放时间的写法无法识别：{HOURS_HINT}")
    amenities = [a for a in request.form.getlist("amenities") if a in AMENITIES]
    if errors:
        return _render(old, errors=errors, form=request.form, status=422)
    fields = old.record() | {
        "status": status,
        "closed_until": until or None,
        "hours": hours,
        "amenities": amenities,
        "verified_at": None,  # a keeper's change is their check: now
    }
    try:
        new = current_roster().validate(fields, provenance=old.provenance)
    except StationInvalid as exc:
        return _render(old, errors=[f"{e.field}：{e.message}" for e in exc.errors], form=request.form, status=422)
    require_changes(old, new)
    try:
        current_roster().store.update(new, expected_version=version, actor=user.name, via="keeper")
    except Conflict:
        return _stale(old)
    return redirect(url_for("admin.keeper.station_page", station_id=station_id, saved="1"))


def _stale(old: Station) -> Response:
    current = current_roster().store.get(old.id)
    return _render(
        current, errors=["保存失败：这个驿站刚被其他人修改过。下面是最新信息，请重新修改后保存。"], status=409
    )
