"""The admin operations for scripts: /api/v1/admin, authenticated by `Authorization: Bearer TOKEN`.

Documented in the OpenAPI document under the tag `admin` with the bearer scheme (@operation).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from locator import importing
from locator.context import current_roster
from locator.coords import to_wgs84
from locator.formats import FORMATS, FileInvalid
from locator.formats.base import MAX_BODY_CONTAINERS, load_json
from locator.stations import Station
from locator.store.base import Conflict
from locator.web.admin import coverage as coverage_pages
from locator.web.admin.audit import audit_download, restore_from_audit
from locator.web.admin.auth import guard, require_changes, require_district, require_station, require_writer
from locator.web.admin.files import crs_param, export_response, layer_param, uploaded
from locator.web.admin.keeper import verify_station
from locator.web.models import (
    AdminCreateQuery,
    AuditQuery,
    AuditTrail,
    ExportQuery,
    ImportAnswer,
    ImportForm,
    ImportPreviewOut,
    StationInput,
    StationRecord,
)
from locator.web.openapi import JSON, MULTIPART, PROBLEM, operation
from locator.web.params import parse_query
from locator.web.problems import Problem

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1/admin")
bp.before_request(guard)


STATION_ID = {"station_id": "站点编号 station id"}
VERSION_CHECK = {
    412: "If-Match does not hold the station's current version (`current_version` says which)",
    428: 'If-Match is missing: send If-Match: "<version>" (the ETag you read)',
}
BINARY = {"type": "string", "format": "binary"}
MAX_BODY_BYTES = 1024 * 1024  # a station's JSON (every text field at its longest fits many times over)
EXPORT_TYPES = {FORMATS["geojson"].mime: BINARY, **{f.mime: BINARY for f in FORMATS.values()}}


def _etag(station: Station) -> str:
    return f'"{station.version}"'


def _station_response(station: Station, status: int = 200) -> Response:
    body = station.record()
    body["version"] = station.version
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["ETag"] = _etag(station)
    return resp


def _if_match(old: Station) -> int:
    """The version the caller read (If-Match): 428 without it, 412 unless it is `old`'s."""
    header = request.headers.get("If-Match")
    if not header:
        raise Problem(
            428,
            "Precondition Required",
            'send If-Match: "<version>" (the ETag you read)',
            detail_zh="缺少版本信息：请先读取站点，在 If-Match 中带上读取时的版本（ETag）。",
        )
    try:
        expected = int(header.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise Problem(
            412,
            "Precondition Failed",
            f"If-Match {header!r} is not a station version",
            detail_zh="If-Match 中的版本格式不对：请使用读取站点时得到的 ETag。",
        ) from None
    if expected != old.version:
        raise Problem(
            412,
            "Precondition Failed",
            f"the station is at version {old.version}",
            detail_zh=f"站点已被他人修改（当前版本 {old.version}）：请重新读取后再修改。",
            current_version=old.version,
        )
    return expected


def _changed_meanwhile(exc: Conflict) -> Problem:
    """412 for a write that found the station changed after the If-Match check (another writer won)."""
    return Problem(
        412,
        "Precondition Failed",
        str(exc),
        detail_zh="站点在您读取之后已被修改：请重新读取最新版本后再提交。",
        current_version=exc.current.version if exc.current else None,
    )


def _body_too_large() -> Problem:
    mb = MAX_BODY_BYTES // (1024 * 1024)
    return Problem(
        413,
        "Request Entity Too Large",
        f"body: a station's JSON is at most {mb} MB",
        detail_zh=f"请求体过大：一个驿站的 JSON 最多 {mb} MB。",
    )


def _json_body() -> dict[str, Any]:
    """The request's JSON object, read within the JSON limits (depth, number length, no lone surrogates)."""
    body = None
    if request.is_json:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise _body_too_large()
        data = request.get_data(cache=False)
        if len(data) > MAX_BODY_BYTES:
            raise _body_too_large()
        try:
            body = load_json(data, max_containers=MAX_BODY_CONTAINERS)
        except FileInvalid as exc:
            raise Problem(400, "Invalid request", f"body: {exc}", detail_zh=exc.detail_zh) from None
    if not isinstance(body, dict):
        raise Problem(
            400,
            "Invalid request",
            "the body must be a JSON object describing the station",
            detail_zh="请求内容应是描述站点的 JSON 对象。",
        )
    return body


@bp.get("/stations/<station_id>")
@operation("读取驿站 Read a station", tag="admin", ok=StationRecord, path_params=STATION_ID, auth=True)
def api_get_station(station_id: str):
    """One station's stored fields, with its version as ETag."""
    station = current_roster().store.get(station_id)
    if g.user.is_keeper:
        require_station(station)  # a keeper reads their own stations only
    return _station_response(station)


@bp.post("/stations")
@operation(
    "新增驿站 Create a station",
    tag="admin",
    ok=StationRecord,
    ok_status=201,
    query=AdminCreateQuery,
    body=StationInput,
    auth=True,
    extra_statuses={409: "A station with this id exists", 422: "Invalid station: `errors` lists every field"},
)
def api_create_station():
    """Create a station (lng/lat in WGS-84, or in ?crs=gcj02|bd09)."""
    require_writer()
    raw = _json_body()
    if "crs" in request.args:
        crs = crs_param(request.args)
        try:
            raw["lng"], raw["lat"] = to_wgs84(float(raw["lng"]), float(raw["lat"]), crs)
        except (KeyError, TypeError, ValueError):
            pass  # validation below names the bad coordinate
    raw.setdefault("provenance", "api")
    station = current_roster().validate(raw, provenance="api")
    require_district(station.district)
    return _station_response(current_roster().store.create(station, actor=g.user.name, via="api"), 201)


@bp.put("/stations/<station_id>")
@operation(
    "修改驿站 Replace a station's fields",
    tag="admin",
    ok=StationRecord,
    path_params=STATION_ID,
    body=StationInput,
    auth=True,
    extra_statuses={**VERSION_CHECK, 422: "Invalid station: `errors` lists every field"},
    description="Replace a station's fields; If-Match required (428), stale version 412. The write is the "
    "station's check (`verified_at` = now) unless the body names another `verified_at`. A station keeper "
    "(role station_keeper) may change only their own stations (403 otherwise) and only status (open / "
    "temporarily_closed), closed_until, hours and amenities: any other changed field is a 403 whose `fields` "
    "lists them.",
)
def api_update_station(station_id: str):
    """Replace a station's fields; If-Match required (428), stale version 412."""
    store = current_roster().store
    old = store.get(station_id)
    user = require_station(old)
    expected = _if_match(old)
    raw = _json_body()
    raw["id"] = station_id
    raw.setdefault("provenance", old.provenance)
    if user.is_keeper:
        raw.pop("verified_at", None)  # a keeper's write is their check: now, never a date they name
    station = current_roster().validate(raw)
    require_changes(old, station)
    if not user.is_keeper:
        require_district(station.district)
    via = "keeper" if user.is_keeper else "api"
    try:
        return _station_response(store.update(station, expected_version=expected, actor=user.name, via=via))
    except Conflict as exc:
        raise _changed_meanwhile(exc) from None


@bp.post("/stations/<station_id>/verify")
@operation(
    "确认驿站信息无误 Confirm a station's information",
    tag="admin",
    ok=StationRecord,
    path_params=STATION_ID,
    auth=True,
    extra_statuses=VERSION_CHECK,
    description="The caller checked the station and its information is right: `verified_at` becomes now (a new "
    "version, audited; 待核实 ends). Organizers for their districts, station keepers for their own stations. "
    "If-Match required (the version the caller checked).",
)
def api_verify_station(station_id: str):
    """Confirm a station's information as it stands (verified_at = now)."""
    store = current_roster().store
    old = store.get(station_id)
    user = require_station(old)
    expected = _if_match(old)
    via = "keeper" if user.is_keeper else "api"
    try:
        return _station_response(verify_station(old, expected, user, via))
    except Conflict as exc:
        raise _changed_meanwhile(exc) from None


@bp.delete("/stations/<station_id>")
@operation(
    "删除驿站 Delete a station",
    tag="admin",
    ok={},
    ok_status=204,
    path_params=STATION_ID,
    auth=True,
    extra_statuses=VERSION_CHECK,
)
def api_delete_station(station_id: str):
    """Delete a station; If-Match required."""
    store = current_roster().store
    old = store.get(station_id)
    require_district(old.district)
    expected = _if_match(old)
    store.delete(station_id, expected_version=expected, actor=g.user.name, via="api")
    return Response(status=204)


@bp.post("/audit/<int:record_id>/restore")
@operation(
    "恢复已删除的驿站 Restore a deleted station",
    tag="admin",
    ok=StationRecord,
    ok_status=201,
    path_params={"record_id": ("删除记录编号 id of the deletion's audit record", {"type": "integer"})},
    auth=True,
    extra_statuses={409: "A station with this id exists again", 422: "The deleted station no longer validates"},
)
def api_restore(record_id: int):
    """Restore a deleted station from its deletion record."""
    return _station_response(restore_from_audit(record_id, require_writer()), 201)


@bp.get("/audit")
@operation(
    "修改记录 The audit trail",
    tag="admin",
    query=AuditQuery,
    ok={JSON: AuditTrail, "text/csv": {"type": "string"}},
    auth=True,
)
def api_audit():
    """The audit trail (?station_id=, ?format=json|csv)."""
    return audit_download(request.args.get("station_id") or None, request.args.get("format", "json"))


@bp.get("/export")
@operation("导出名册 Export the roster as a file", tag="admin", query=ExportQuery, ok=EXPORT_TYPES, auth=True)
def api_export():
    """The roster as a file (?format=, ?district=, ?type=)."""
    return export_response()


@bp.post("/import")
@operation(
    "导入名册 Import a roster file (preview or commit)",
    tag="admin",
    ok=ImportAnswer,
    body={MULTIPART: ImportForm},
    auth=True,
    extra_statuses={409: "The file or the roster changed since the preview (preview_token): preview again"},
    extra_responses={
        422: ("The file has row errors: nothing was imported", {JSON: ImportPreviewOut, PROBLEM: ImportPreviewOut})
    },
)
def api_import():
    """Import a roster file (multipart 'file'; crs, layer, replace, dry_run, preview_token): preview or commit."""
    user = require_writer()
    data, fmt = uploaded()
    crs = crs_param(request.form)
    layer = layer_param(request.form)
    replace = request.form.get("replace") in ("1", "true")
    dry_run = request.form.get("dry_run") in ("1", "true")
    roster = current_roster()
    if dry_run:
        result = importing.preview(roster, data, fmt, crs, user=user, replace=replace, layer=layer)
        resp = jsonify(result.as_json())
        resp.status_code = 200 if result.ok else 422
        return resp
    token = request.form.get("preview_token") or None
    # StaleImport (409) and ImportHasErrors (422 with the row errors) answer as problem+json.
    summary, checked = importing.commit_checked(
        roster, data, fmt, crs, user=user, replace=replace, token=token, layer=layer
    )
    return jsonify(
        {
            "ok": True,
            "summary": summary.as_json(),
            "data_version": roster.store.data_version(),
            "warnings": checked.as_json()["warnings"],  # imported all the same: worth checking
        }
    )


@bp.get("/coverage")
@operation(
    "覆盖分析 Coverage analysis (organizers, token)",
    tag="admin",
    query=coverage_pages.CoverageQuery,
    ok=coverage_pages.CoverageReportOut,
    extra_statuses={
        401: "Unauthorized: send Authorization: Bearer TOKEN",
        404: "Unknown demand layer",
    },
    description="Covered share of demand within `radius_m` of a station of the chosen types, per district and "
    "for the city; blind spots; `suggest` new sites (maximal covering: exact within 10 s, else greedy, see "
    "`method`); redundancy. `demand`: `area` (面积覆盖率, no demand data), `searches` (the search log, cells under "
    "5 searches left out) or a stored layer. District organizers get their districts. Coordinates WGS-84. "
    "The first members are the CLI's contract (docs/coverage.md).",
    auth=True,
)
def api_coverage():
    """The coverage analysis as JSON (the CLI's contract plus details)."""
    query = parse_query(coverage_pages.CoverageQuery)
    resp = jsonify(coverage_pages.api_report(g.user, query))
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
