"""The organizers' roster pages: the station list, the edit form with its location picker, close, reopen, delete."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for

from locator.context import current_roster
from locator.coords import CRS, CRS_LABELS, to_wgs84
from locator.formats import NAMES as FORMAT_NAMES
from locator.stations import AMENITIES, EDITABLE_FIELDS, STATION_TYPES, STATUSES, Station, StationInvalid
from locator.store.base import Conflict, NotFound, StationQuery
from locator.web.admin.auth import require_district, require_writer
from locator.web.problems import Problem

bp = Blueprint("stations", __name__)


def station_filters() -> StationQuery:
    """?district= and ?type= of the list and the exports (unknown values are ignored here)."""
    roster = current_roster()
    districts = tuple(d for d in request.args.getlist("district") if d in roster.districts.codes)
    types = tuple(t for t in request.args.getlist("type") if t in STATION_TYPES)
    return StationQuery(districts=districts, types=types)


@bp.get("/")
def index():
    """The roster, filterable by district and type, with links to edit, import and export."""
    roster = current_roster()
    query = station_filters()
    return render_template(
        "admin/index.html",
        stations=roster.store.list(query, limit=2000),
        total=roster.store.count(query),
        districts=roster.districts.districts,
        district_names={d.code: d.name for d in roster.districts.districts},
        types=STATION_TYPES,
        statuses=STATUSES,
        query=query,
        export_formats=FORMAT_NAMES,
        sample_data=roster.is_sample(),
    )


def _form_raw(form, base: Station | None) -> dict[str, Any]:
    raw: dict[str, Any] = {k: form.get(k, "").strip() for k in ("name", "type", "address", "hours", "status")}
    for k in ("contact", "operator", "note", "closed_until", "district"):
        raw[k] = form.get(k, "").strip() or None
    raw["amenities"] = form.getlist("amenities")
    crs = CRS(form.get("crs")) if form.get("crs") in CRS._value2member_map_ else CRS.WGS84
    lng, lat = form.get("lng", "").strip(), form.get("lat", "").strip()
    raw["lng"], raw["lat"] = lng, lat
    try:
        x, y = float(lng), float(lat)
        if crs is not CRS.WGS84:
            raw["lng"], raw["lat"] = to_wgs84(x, y, crs)
    except ValueError:
        pass
    if base is not None:
        raw["id"] = base.id
        raw["provenance"] = base.provenance if base.provenance != "sample" else "manual"
    if raw["status"] != "temporarily_closed":
        raw["closed_until"] = None
    return raw


def _confirmed_here(form, station: Station) -> bool:
    """True if the form's confirmation box was ticked for exactly the station's (new) location.

    The box carries the coordinates it was shown for: moving a station drops its confirmation,
    and the shoreline asks again about the new place.
    """
    try:
        lng, lat = (float(v) for v in form.get("location_confirmed", "").split(","))
    except ValueError:
        return False
    return abs(lng - station.lng) < 5e-8 and abs(lat - station.lat) < 5e-8


def _render_form(station: Station | None, *, errors=None, form=None, conflict=None, status=200):
    roster = current_roster()
    page = render_template(
        "admin/station_form.html",
        station=station,
        form=form,
        errors=errors or [],
        warnings=roster.warnings(station) if station is not None else [],
        conflict=conflict,
        types=STATION_TYPES,
        amenities=AMENITIES,
        statuses=STATUSES,
        districts=roster.districts.districts,
        crs_labels={c.value: zh for c, (zh, _) in CRS_LABELS.items()},
        base_json=json.dumps(station.record(), ensure_ascii=False) if station else "",
    )
    return Response(page, status=status, mimetype="text/html")


@bp.route("/stations/new", methods=["GET", "POST"])
def new_station():
    """Create a station (form with a location picker)."""
    if request.method == "GET":
        require_writer()
        return _render_form(None)
    require_writer()
    raw = _form_raw(request.form, None)
    raw["provenance"] = "manual"
    try:
        station = current_roster().validate(raw)
    except StationInvalid as exc:
        return _render_form(None, errors=exc.errors, form=request.form, status=422)
    # Saved even if the shoreline questions the location: the edit page then shows the warning.
    require_district(station.district)
    current_roster().store.create(station, actor=g.user.name, via="edit")
    return redirect(url_for("admin.stations.edit_station", station_id=station.id, saved=1))


def _get_station(station_id: str) -> Station:
    try:
        return current_roster().store.get(station_id)
    except NotFound:
        abort(404)


def _form_version() -> int:
    try:
        return int(request.form.get("version", ""))
    except ValueError:
        raise Problem(
            400,
            "Invalid parameter",
            "version: required (the version the form was loaded at)",
            detail_zh="表单缺少版本信息：请刷新页面后重新填写。",
            parameter="version",
        ) from None


def _conflict_diffs(current: Station, mine: dict[str, Any] | None) -> list[dict[str, Any]]:
    try:
        base = json.loads(request.form.get("base", "") or "{}")
    except ValueError:
        base = {}
    now = current.record()
    rows = []
    for name in EDITABLE_FIELDS:
        if isinstance(base, dict) and name in base and base[name] != now[name]:
            rows.append({"field": name, "was": base[name], "now": now[name], "mine": (mine or {}).get(name)})
    return rows


@bp.route("/stations/<station_id>", methods=["GET", "POST"])
def edit_station(station_id: str):
    """Edit a station; a stale form (older version) gets 409 and the field-by-field changes."""
    station = _get_station(station_id)
    if request.method == "GET":
        return _render_form(station)
    require_district(station.district)
    version = _form_version()
    raw = _form_raw(request.form, station)
    try:
        updated = current_roster().validate(raw)
    except StationInvalid as exc:
        return _render_form(station, errors=exc.errors, form=request.form, status=422)
    updated = dataclasses.replace(updated, location_confirmed=_confirmed_here(request.form, updated))
    require_district(updated.district)
    try:
        current_roster().store.update(updated, expected_version=version, actor=g.user.name, via="edit")
    except Conflict as exc:
        current = exc.current or _get_station(station_id)
        diffs = _conflict_diffs(current, updated.record())
        return _render_form(current, form=request.form, conflict=diffs, status=409)
    return redirect(url_for("admin.stations.edit_station", station_id=station_id, saved=1))


def _set_status(station_id: str, status: str, until: date | None):
    station = _get_station(station_id)
    require_district(station.district)
    version = _form_version()
    fields = station.record()
    fields.update(status=status, closed_until=until.isoformat() if until else None)
    updated = current_roster().validate(fields)
    try:
        current_roster().store.update(updated, expected_version=version, actor=g.user.name, via="edit")
    except Conflict as exc:
        current = exc.current or _get_station(station_id)
        return _render_form(current, conflict=_conflict_diffs(current, None), status=409)
    return redirect(url_for("admin.stations.edit_station", station_id=station_id, saved=1))


@bp.post("/stations/<station_id>/close")
def close_station(station_id: str):
    """Temporarily close a station until a date (it reopens by itself after it)."""
    until_text = request.form.get("until", "").strip()
    try:
        until = date.fromisoformat(until_text) if until_text else None
    except ValueError:
        raise Problem(
            400,
            "Invalid parameter",
            "until: use YYYY-MM-DD",
            detail_zh="暂停至的日期应写成 2027-01-31 这样的格式。",
            parameter="until",
        ) from None
    return _set_status(station_id, "temporarily_closed", until)


@bp.post("/stations/<station_id>/reopen")
def reopen_station(station_id: str):
    """Reopen a closed station."""
    return _set_status(station_id, "open", None)


@bp.post("/stations/<station_id>/delete")
def delete_station(station_id: str):
    """Delete a station (restorable from its audit trail)."""
    station = _get_station(station_id)
    require_district(station.district)
    try:
        current_roster().store.delete(station_id, expected_version=_form_version(), actor=g.user.name, via="edit")
    except Conflict as exc:
        current = exc.current or _get_station(station_id)
        return _render_form(current, conflict=_conflict_diffs(current, None), status=409)
    return redirect(url_for("admin.audit.station_audit", station_id=station_id))
