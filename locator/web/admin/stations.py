"""The organizers' roster pages: the station list, the edit form with its location picker, close, reopen,
delete (asked first, undone from the list), all in Chinese.

A form that fails validation comes back with everything the organizer typed, and the errors
name the fields as the form does. Hours are shown and typed the way offices write them
(周一至周五 9:00-18:00); coordinates may be pasted as one pair (120.65,27.99) from a map's picker.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from typing import Any

import numpy as np
from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for

from locator.basemaps import BasemapUnavailable, basemap
from locator.catalogue import STALE_AFTER_DAYS, stale_mask, status_masks
from locator.context import current_roster
from locator.coords import CRS, to_wgs84
from locator.formats import FORMATS, FileInvalid
from locator.formats.base import load_json
from locator.hours import TZ, HoursError, parse_hours, read_hours
from locator.nearest import StationFilter
from locator.stations import (
    AMENITIES,
    EDITABLE_FIELDS,
    STATION_TYPES,
    STATUSES,
    AmbiguousPair,
    CoordinateError,
    FieldError,
    Station,
    StationInvalid,
    crs_hint_zh,
    read_coordinate,
    read_pair,
)
from locator.store.base import Conflict, NotFound
from locator.web import security
from locator.web.admin import reports
from locator.web.admin.auth import require_district, require_writer
from locator.web.admin.labels import CRS_CHOICES
from locator.web.problems import Problem

bp = Blueprint("stations", __name__)
LIST_LIMIT = 1000  # rows on one list page (the filters narrow it down)


@dataclasses.dataclass(frozen=True)
class ListFilters:
    """What the station list shows: ?district= ?type= ?status= ?stale=1 ?sample=1 ?imported=<time> ?q="""

    districts: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    status: str = ""
    stale: bool = False
    sample: bool = False
    imported: datetime | None = None
    q: str = ""

    def args(self, **change: Any) -> dict[str, Any]:
        """The query string of these filters (with changes), for links."""
        f = dataclasses.replace(self, **change)
        out: dict[str, Any] = {}
        if f.districts:
            out["district"] = list(f.districts)
        if f.types:
            out["type"] = list(f.types)
        if f.status:
            out["status"] = f.status
        if f.stale:
            out["stale"] = "1"
        if f.sample:
            out["sample"] = "1"
        if f.imported:
            out["imported"] = f.imported.isoformat()
        if f.q:
            out["q"] = f.q
        return out


def list_filters() -> ListFilters:
    """The list's filters from the query string (unknown values are ignored: a list, not an API)."""
    roster = current_roster()
    districts = tuple(d for d in request.args.getlist("district") if d in roster.districts.codes)
    types = tuple(t for t in request.args.getlist("type") if t in STATION_TYPES)
    status = request.args.get("status", "")
    imported = None
    try:
        imported = datetime.fromisoformat(request.args.get("imported", "")) if request.args.get("imported") else None
    except ValueError:
        imported = None
    return ListFilters(
        districts=districts,
        types=types,
        status=status if status in STATUSES else "",
        stale=request.args.get("stale") == "1",
        sample=request.args.get("sample") == "1",
        imported=imported,
        q=request.args.get("q", "").strip()[:60],
    )


def station_filters():
    """?district= and ?type= of the exports (unknown values are ignored here)."""
    from locator.store.base import StationQuery

    f = list_filters()
    return StationQuery(districts=f.districts, types=f.types)


def _scope() -> tuple[str, ...] | None:
    user = g.user
    return tuple(user.districts) if user.role != "city_admin" and user.districts else None


def matching(f: ListFilters) -> list[Station]:
    """The stations the list shows, by name (the dashboard's counts link here with the same masks)."""
    roster = current_roster()
    snap = roster.snapshot()
    when = datetime.now(TZ)
    flt = StationFilter(types=f.types, districts=f.districts, include_closed=True, q=f.q or None)
    mask = snap.mask(flt, when)
    keep = np.ones(len(snap), bool) if mask is None else mask.copy()
    scope = _scope()
    if scope is not None and not f.districts:
        keep &= np.isin(snap.district, list(scope))
    if f.status:
        keep &= status_masks(snap, when)[f.status]
    if f.stale:
        keep &= stale_mask(snap, when) & ~status_masks(snap, when)["closed"]
    stations = snap.stations or []
    if f.sample:
        keep &= np.fromiter((s.provenance == "sample" for s in stations), bool, len(snap))
    chosen = [stations[i] for i in np.flatnonzero(keep).tolist()]
    if f.imported is not None:
        chosen = [s for s in chosen if s.updated_at == f.imported]
    return sorted(chosen, key=lambda s: (s.name, s.id))


@bp.get("/stations")
def index():
    """The roster, filterable by district, type, status, 待核实, sample data or one import."""
    roster = current_roster()
    f = list_filters()
    stations = matching(f)
    deleted = None
    record_id = request.args.get("deleted", "")
    if record_id.isdigit() and int(record_id) < 2**63:
        record = roster.store.audit_record(int(record_id))
        if record is not None and record.action == "delete" and record.before:
            exists = roster.snapshot().get(record.station_id) is not None
            deleted = {"id": record.id, "name": record.before.get("name", ""), "restorable": not exists}
    return render_template(
        "admin/stations.html",
        stations=stations[:LIST_LIMIT],
        total=len(stations),
        limit=LIST_LIMIT,
        districts=[d for d in roster.districts.districts if _scope() is None or d.code in _scope()],
        district_names={d.code: d.name for d in roster.districts.districts},
        types=STATION_TYPES,
        statuses=STATUSES,
        filters=f,
        stale_days=STALE_AFTER_DAYS,
        export_formats={name: FORMATS[name].label for name in FORMATS},
        sample_data=roster.is_sample(),
        deleted=deleted,
    )


# -- the form -------------------------------------------------------------------------------------

TEXT_FIELDS = ("name", "type", "district", "address", "hours", "contact", "operator", "status", "closed_until", "note")


def _basemap_config(station: Station | None) -> dict[str, Any]:
    """The picker's basemap (the configured one, as the maps use it) and the station's place on it."""
    try:
        base = basemap(
            current_app.config.get("BASEMAP", "amap"),
            tianditu_key=current_app.config.get("TIANDITU_KEY", ""),
            amap_approval=current_app.config.get("AMAP_APPROVAL", ""),
        )
    except BasemapUnavailable:
        base = basemap("osm")
    security.allow(security.basemap_sources(base))  # the page's Content-Security-Policy: the picker's tiles
    return {
        "crs": base.crs.value,
        "label": base.label,
        "tiles": [
            {"url": t.url, "subdomains": t.subdomains, "attribution": t.attribution, "maxZoom": t.max_zoom}
            for t in base.layers
        ],
        # WGS-84: the page shifts it to the basemap's system itself (the same formulas as locator.coords).
        "station": [station.lng, station.lat] if station else None,
        "start": [120.6994, 27.9939],  # 温州市区 (WGS-84)
    }


def form_values(station: Station | None, form=None) -> dict[str, Any]:
    """What the form's inputs show: what was typed (after an error), else the station, hours in Chinese."""
    if form is not None:
        values: dict[str, Any] = {k: form.get(k, "") for k in (*TEXT_FIELDS, "lng", "lat", "crs", "pair", "pair_first")}
        values["amenities"] = form.getlist("amenities")
        values["location_confirmed"] = bool(form.get("location_confirmed"))
        return values
    if station is None:
        return {"type": "rider_station", "status": "open", "crs": CRS.WGS84.value, "amenities": [], "hours": ""}
    values = {k: getattr(station, k) or "" for k in TEXT_FIELDS}
    values["hours"] = parse_hours(station.hours).describe_zh() if station.hours else ""
    values["closed_until"] = station.closed_until.isoformat() if station.closed_until else ""
    values.update(lng=station.lng, lat=station.lat, crs=CRS.WGS84.value, pair="", pair_first="")
    values["amenities"] = list(station.amenities)
    values["location_confirmed"] = station.location_confirmed
    return values


def _same_hours(typed: str, stored: str) -> bool:
    """True if what the form shows (or the organizer typed) means the stored hours: keep the stored text."""
    try:
        a, b = parse_hours(read_hours(typed)), parse_hours(stored)
    except HoursError:
        return False
    return a.intervals == b.intervals and a.holidays_off == b.holidays_off


def _form_raw(form, base: Station | None) -> tuple[dict[str, Any], list[FieldError], tuple[float, float, CRS] | None]:
    """The posted form as a raw record (WGS-84), the coordinate errors found on the way, the point as typed."""
    raw: dict[str, Any] = {k: form.get(k, "").strip() for k in ("name", "type", "address", "hours", "status")}
    for k in ("contact", "operator", "note", "closed_until", "district"):
        raw[k] = form.get(k, "").strip() or None
    raw["amenities"] = form.getlist("amenities")
    errors: list[FieldError] = []
    crs = CRS(form.get("crs")) if form.get("crs") in CRS._value2member_map_ else CRS.WGS84
    lng_text, lat_text, pair = form.get("lng", "").strip(), form.get("lat", "").strip(), form.get("pair", "").strip()
    written = None
    if pair:
        first = form.get("pair_first") if form.get("pair_first") in ("lng", "lat") else None
        try:
            x, y = read_pair(pair, first)
            written = (x, y, crs)
        except AmbiguousPair as exc:
            which = exc.zh.split("：")[0] + "：请在下面选择哪个数是经度。"
            errors.append(FieldError("coordinates", str(exc), message_zh=which))
        except CoordinateError as exc:
            errors.append(FieldError("coordinates", str(exc), message_zh=exc.zh))
    else:
        try:
            if lng_text and lat_text:
                written = (read_coordinate(lng_text)[0], read_coordinate(lat_text)[0], crs)
        except CoordinateError:
            written = None  # validation names the field
    raw["lng"], raw["lat"] = lng_text, lat_text
    if written is not None:
        x, y, crs = written
        if -180 <= x <= 180 and -90 <= y <= 90:
            raw["lng"], raw["lat"] = (float(v) for v in to_wgs84(x, y, crs)) if crs is not CRS.WGS84 else (x, y)
        else:
            raw["lng"], raw["lat"] = x, y
    elif pair:
        raw["lng"], raw["lat"] = base.lng if base else "", base.lat if base else ""
    if base is not None:
        raw["id"] = base.id
        raw["provenance"] = base.provenance if base.provenance != "sample" else "manual"
        if _same_hours(raw["hours"], base.hours):
            raw["hours"] = base.hours  # shown in Chinese, saved unchanged: no change in the audit trail
    if raw["status"] != "temporarily_closed":
        raw["closed_until"] = None
    return raw, errors, written


def _validated(form, base: Station | None) -> Station:
    """The station the form describes (StationInvalid with every error, coordinate hints included)."""
    raw, errors, written = _form_raw(form, base)
    roster = current_roster()
    try:
        station = roster.validate(raw)
    except StationInvalid as exc:
        for error in exc.errors:
            if error.field == "location" and written is not None:
                labels = {CRS(k): v for k, v in CRS_CHOICES.items()}
                hint = crs_hint_zh(roster.area, written[0], written[1], written[2], labels)
                if hint:
                    error.message_zh = error.message_zh.removesuffix("请核对坐标。") + hint
        raise StationInvalid(errors + exc.errors) from None
    if errors:
        raise StationInvalid(errors)
    return station


def _render_form(
    station: Station | None,
    *,
    errors=None,
    form=None,
    conflict=None,
    status=200,
    saved=None,
    report=None,
    prefill=None,
):
    from locator.maps import script_json  # branca: kept off the rider's import path

    roster = current_roster()
    shown = station if conflict is None else station  # a conflict shows the latest values
    ambiguous = any(e.field == "coordinates" and "哪个数是经度" in e.message_zh for e in errors or [])
    page = render_template(
        "admin/station_form.html",
        station=station,
        values={**form_values(shown, form if conflict is None else None), **(prefill or {})},
        report=report,  # 处理 from the review queue: the report group this edit resolves (issue 16)
        errors=errors or [],
        warnings=roster.warnings(station) if station is not None and not errors else [],
        conflict=conflict,
        types=STATION_TYPES,
        amenities=AMENITIES,
        statuses=STATUSES,
        districts=roster.districts.districts,
        district_names={d.code: d.name for d in roster.districts.districts},
        crs_labels=CRS_CHOICES,
        base_json=json.dumps(station.record(), ensure_ascii=False) if station else "",
        picker_config=script_json(_basemap_config(station)),
        ambiguous=ambiguous,
        saved=saved,
    )
    return Response(page, status=status, mimetype="text/html")


def _saved_message() -> str | None:
    if request.args.get("restored"):
        return "已撤销删除，站点已恢复。"
    if request.args.get("saved"):
        return "已保存。"
    return None


@bp.route("/stations/new", methods=["GET", "POST"])
def new_station():
    """Create a station (form with a location picker)."""
    require_writer()
    if request.method != "POST":  # GET and HEAD
        return _render_form(None)
    try:
        station = _validated(request.form, None)
    except StationInvalid as exc:
        return _render_form(None, errors=exc.errors, form=request.form, status=422)
    station = dataclasses.replace(station, provenance="manual")
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
    try:  # the form's own hidden copy of the station, but from outside: parsed within the JSON limits
        base = load_json((request.form.get("base", "") or "{}").encode("utf-8", "replace"))
    except FileInvalid:
        base = {}
    now = current.record()
    rows = []
    for name in EDITABLE_FIELDS:
        if isinstance(base, dict) and name in base and base[name] != now[name]:
            rows.append({"field": name, "was": base[name], "now": now[name], "mine": (mine or {}).get(name)})
    return rows


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


@bp.route("/stations/<station_id>", methods=["GET", "POST"])
def edit_station(station_id: str):
    """Edit a station; a stale form (older version) gets 409 and the field-by-field changes."""
    station = _get_station(station_id)
    if request.method != "POST":  # GET and HEAD: never a write (HEAD passes no CSRF check)
        group = reports.group_named(station_id, request.args.get("report", ""))
        prefill = {"status": request.args["status"]} if request.args.get("status") in STATUSES else {}
        return _render_form(station, saved=_saved_message(), report=group, prefill=prefill)
    require_district(station.district)
    version = _form_version()
    try:
        updated = _validated(request.form, station)
    except StationInvalid as exc:
        return _render_form(
            station, errors=exc.errors, form=request.form, status=422, report=_report_in_form(station_id)
        )
    updated = dataclasses.replace(updated, location_confirmed=_confirmed_here(request.form, updated))
    require_district(updated.district)
    try:
        current_roster().store.update(updated, expected_version=version, actor=g.user.name, via="edit")
    except Conflict as exc:
        current = exc.current or _get_station(station_id)
        diffs = _conflict_diffs(current, updated.record())
        return _render_form(current, form=request.form, conflict=diffs, status=409, report=_report_in_form(station_id))
    reports.resolve_after_edit(station_id, request.form, g.user)  # 处理: the edit resolves its report group
    return redirect(url_for("admin.stations.edit_station", station_id=station_id, saved=1))


def _report_in_form(station_id: str):
    """The report group a form opened from 处理 answers (kept through an error), or None."""
    return reports.group_named(station_id, request.form.get("resolve_report", ""))


def _set_status(station_id: str, status: str, until: date | None):
    station = _get_station(station_id)
    require_district(station.district)
    version = _form_version()
    fields = station.record()
    fields.update(status=status, closed_until=until.isoformat() if until else None)
    try:
        updated = current_roster().validate(fields)
    except StationInvalid as exc:
        return _render_form(station, errors=exc.errors, status=422)
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


@bp.get("/stations/<station_id>/delete")
def confirm_delete(station_id: str):
    """Ask before deleting: the station's name, what deleting does, how to undo it."""
    station = _get_station(station_id)
    require_district(station.district)
    names = {d.code: d.name for d in current_roster().districts.districts}
    district = names.get(station.district or "")
    return render_template("admin/confirm_delete.html", station=station, district_name=district)


@bp.post("/stations/<station_id>/delete")
def delete_station(station_id: str):
    """Delete a station; the list then says 已删除 with a link that restores it."""
    station = _get_station(station_id)
    require_district(station.district)
    store = current_roster().store
    try:
        store.delete(station_id, expected_version=_form_version(), actor=g.user.name, via="edit")
    except Conflict as exc:
        current = exc.current or _get_station(station_id)
        return _render_form(current, conflict=_conflict_diffs(current, None), status=409)
    record = store.audit(station_id, limit=1)[0]
    return redirect(url_for("admin.stations.index", deleted=record.id))
