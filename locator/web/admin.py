"""The organizer admin: login, station editing, roster import with preview, audit, exports (/admin),
and the same operations for scripts under /api/v1/admin (Authorization: Bearer TOKEN)."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import secrets
import time
from datetime import date
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from locator import current_roster
from locator.accounts import ROLE_LABELS, User, check_password, token_digest
from locator.coords import CRS, to_wgs84
from locator.formats import EXPORT_FORMATS, export_bytes
from locator.importer import ImportHasErrors, StaleImport, commit, preview
from locator.io import FORMATS, FileInvalid, detect_format
from locator.stations import AMENITIES, EDITABLE_FIELDS, STATION_TYPES, STATUSES, Station, StationInvalid
from locator.store.accounts import AccountStore
from locator.store.base import AuditRecord, Conflict, NotFound, StationQuery, station_fields_json
from locator.web.problems import Problem, problem_response

bp = Blueprint("admin", __name__, url_prefix="/admin")
api_bp = Blueprint("admin_api", __name__, url_prefix="/api/v1/admin")
PUBLIC_ENDPOINTS = {"admin.login"}
MIME = {
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "kml": "application/vnd.google-earth.kml+xml",
    "gpkg": "application/geopackage+sqlite3",
    "json": "application/json",
}
CRS_LABELS = {
    "wgs84": "WGS-84（GPS、天地图、OpenStreetMap）",
    "gcj02": "GCJ-02（高德地图坐标拾取器、腾讯地图）",
    "bd09": "BD-09（百度地图坐标拾取器）",
}


def accounts() -> AccountStore:
    """The app's account store."""
    return current_app.extensions["accounts"]


# -- authentication -----------------------------------------------------------------------------


def _authenticate() -> User | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        g.via = "api"
        g.bearer = True
        return accounts().user_for_token(token_digest(auth[7:].strip()))
    g.bearer = False
    g.via = "edit"
    uid = session.get("uid")
    if isinstance(uid, int):
        user = accounts().get_user(uid)
        if user is not None and user.active:
            return user
    return None


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _check_csrf() -> None:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not hmac.compare_digest(sent, session.get("csrf", "")) or not sent:
        raise Problem(400, "CSRF check failed", "the form is stale or was not sent by this site: reload the page")


def _guard() -> Response | None:
    user = _authenticate()
    g.user = user
    if request.endpoint in PUBLIC_ENDPOINTS:
        if request.method == "POST":
            _check_csrf()
        return None
    if user is None:
        if request.blueprint == "admin" and not g.bearer:
            page = render_template("admin/login.html", next=request.path, error=None, csrf=csrf_token())
            return Response(page, status=401, mimetype="text/html")
        return problem_response(
            401, "Unauthorized", "log in, or send Authorization: Bearer TOKEN", headers={"WWW-Authenticate": "Bearer"}
        )
    if request.method not in ("GET", "HEAD", "OPTIONS") and not g.bearer:
        _check_csrf()
    return None


bp.before_request(_guard)
api_bp.before_request(_guard)


def require_writer() -> User:
    """The caller, if they may change data (403 for viewers)."""
    user: User = g.user
    if not user.can_write:
        raise Problem(403, "Forbidden", "this account may only view")
    return user


def require_district(district: str | None) -> User:
    """The caller, if they may change stations of `district`."""
    user = require_writer()
    if not user.may_edit_district(district):
        raise Problem(403, "Forbidden", f"district {district} is outside your districts")
    return user


@bp.app_context_processor
def _admin_context() -> dict[str, Any]:
    return {"current_user": g.get("user"), "role_labels": ROLE_LABELS, "csrf_token": csrf_token}


# -- login ---------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with name and password."""
    error = None
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        found = accounts().find_user(name)
        if found and found[0].active and check_password(found[1], request.form.get("password", "")):
            session.clear()
            session["uid"] = found[0].id
            csrf_token()
            target = request.form.get("next") or ""
            return redirect(target if target.startswith("/admin") else url_for("admin.index"))
        error = "用户名或密码错误"
    status = 401 if error else 200
    page = render_template("admin/login.html", next=request.args.get("next", ""), error=error)
    return Response(page, status=status, mimetype="text/html")


@bp.post("/logout")
def logout():
    """End the session."""
    session.clear()
    return redirect(url_for("admin.login"))


# -- station list and editing -------------------------------------------------------------------


def _filters() -> StationQuery:
    roster = current_roster()
    districts = tuple(d for d in request.args.getlist("district") if d in roster.districts.codes)
    types = tuple(t for t in request.args.getlist("type") if t in STATION_TYPES)
    return StationQuery(districts=districts, types=types)


@bp.get("/")
def index():
    """The roster, filterable by district and type, with links to edit, import and export."""
    roster = current_roster()
    query = _filters()
    return render_template(
        "admin/index.html",
        stations=roster.store.list(query, limit=2000),
        total=roster.store.count(query),
        districts=roster.districts.districts,
        district_names={d.code: d.name for d in roster.districts.districts},
        types=STATION_TYPES,
        statuses=STATUSES,
        query=query,
        export_formats=EXPORT_FORMATS,
        sample_data=roster.is_sample(),
    )


def _form_raw(form, base: Station | None) -> dict[str, Any]:
    raw: dict[str, Any] = {k: form.get(k, "").strip() for k in ("name", "type", "address", "hours", "status")}
    for k in ("contact", "operator", "note", "closed_until", "district"):
        raw[k] = form.get(k, "").strip() or None
    raw["amenities"] = form.getlist("amenities")
    crs = CRS.parse(form.get("crs", "wgs84")) if form.get("crs", "wgs84") in CRS._value2member_map_ else CRS.WGS84
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


def _render_form(station: Station | None, *, errors=None, form=None, conflict=None, status=200):
    roster = current_roster()
    page = render_template(
        "admin/station_form.html",
        station=station,
        form=form,
        errors=errors or [],
        conflict=conflict,
        types=STATION_TYPES,
        amenities=AMENITIES,
        statuses=STATUSES,
        districts=roster.districts.districts,
        crs_labels=CRS_LABELS,
        base_json=json.dumps(station_fields_json(station), ensure_ascii=False) if station else "",
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
    require_district(station.district)
    current_roster().store.create(station, actor=g.user.name, via="edit")
    return redirect(url_for("admin.edit_station", station_id=station.id, saved=1))


def _get_station(station_id: str) -> Station:
    try:
        return current_roster().store.get(station_id)
    except NotFound:
        abort(404)


def _form_version() -> int:
    try:
        return int(request.form.get("version", ""))
    except ValueError:
        raise Problem(400, "Invalid parameter", "version: required (the version the form was loaded at)") from None


def _conflict_diffs(current: Station, mine: dict[str, Any] | None) -> list[dict[str, Any]]:
    try:
        base = json.loads(request.form.get("base", "") or "{}")
    except ValueError:
        base = {}
    now = station_fields_json(current)
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
    require_district(updated.district)
    try:
        current_roster().store.update(updated, expected_version=version, actor=g.user.name, via="edit")
    except Conflict as exc:
        current = exc.current or _get_station(station_id)
        diffs = _conflict_diffs(current, station_fields_json(updated))
        return _render_form(current, form=request.form, conflict=diffs, status=409)
    return redirect(url_for("admin.edit_station", station_id=station_id, saved=1))


def _set_status(station_id: str, status: str, until: date | None):
    station = _get_station(station_id)
    require_district(station.district)
    version = _form_version()
    fields = station_fields_json(station)
    fields.update(status=status, closed_until=until.isoformat() if until else None)
    updated = current_roster().validate(fields)
    try:
        current_roster().store.update(updated, expected_version=version, actor=g.user.name, via="edit")
    except Conflict as exc:
        current = exc.current or _get_station(station_id)
        return _render_form(current, conflict=_conflict_diffs(current, None), status=409)
    return redirect(url_for("admin.edit_station", station_id=station_id, saved=1))


@bp.post("/stations/<station_id>/close")
def close_station(station_id: str):
    """Temporarily close a station until a date (it reopens by itself after it)."""
    until_text = request.form.get("until", "").strip()
    try:
        until = date.fromisoformat(until_text) if until_text else None
    except ValueError:
        raise Problem(400, "Invalid parameter", "until: use YYYY-MM-DD", parameter="until") from None
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
    return redirect(url_for("admin.station_audit", station_id=station_id))


# -- audit ---------------------------------------------------------------------------------------


def _audit_rows(records: list[AuditRecord]) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "station_id": r.station_id,
            "action": r.action,
            "actor": r.actor,
            "via": r.via,
            "at": r.at.isoformat(),
            "before": r.before,
            "after": r.after,
        }
        for r in records
    ]


def audit_csv(records: list[AuditRecord]) -> bytes:
    """The audit trail as UTF-8 CSV with BOM (before/after as JSON cells)."""
    from locator.io import neutralise_formula

    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["id", "station_id", "action", "actor", "via", "at", "before", "after"])
    for row in _audit_rows(records):
        row["before"] = json.dumps(row["before"], ensure_ascii=False) if row["before"] else ""
        row["after"] = json.dumps(row["after"], ensure_ascii=False) if row["after"] else ""
        writer.writerow([neutralise_formula(str(v)) for v in row.values()])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


@bp.get("/stations/<station_id>/audit")
def station_audit(station_id: str):
    """A station's change history, with restore for deletions."""
    records = current_roster().store.audit(station_id)
    if not records:
        abort(404)
    exists = current_roster().store.count(StationQuery(ids=(station_id,))) > 0
    return render_template("admin/audit.html", station_id=station_id, records=records, exists=exists)


def _audit_download(station_id: str | None, fmt: str) -> Response:
    records = current_roster().store.audit(station_id, limit=100_000)
    name = f"audit-{station_id or 'all'}"
    if fmt == "csv":
        body, mime = audit_csv(records), MIME["csv"]
    elif fmt == "json":
        body, mime = json.dumps(_audit_rows(records), ensure_ascii=False, indent=1).encode(), MIME["json"]
    else:
        raise Problem(400, "Invalid parameter", "format: use csv or json", parameter="format")
    return Response(body, mimetype=mime, headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


@bp.get("/audit/export")
def audit_export():
    """Download the audit trail (all, or ?station_id=) as CSV or JSON."""
    return _audit_download(request.args.get("station_id") or None, request.args.get("format", "csv"))


def restore_from_audit(record_id: int, user: User) -> Station:
    """Recreate a deleted station from the 'before' values of its delete record (audited as via=restore)."""
    roster = current_roster()
    record = roster.store.audit_record(record_id)
    if record is None or record.action != "delete" or not record.before:
        raise Problem(404, "Not Found", f"no deletion record {record_id}")
    if not user.may_edit_district(record.before.get("district")):
        raise Problem(403, "Forbidden", "the station lies outside your districts")
    station = roster.validate(record.before, provenance=record.before.get("provenance", "manual"))
    return roster.store.create(station, actor=user.name, via="restore")


@bp.post("/audit/<int:record_id>/restore")
def restore(record_id: int):
    """Restore a deleted station."""
    station = restore_from_audit(record_id, require_writer())
    return redirect(url_for("admin.edit_station", station_id=station.id, saved=1))


# -- import -----------------------------------------------------------------------------------------


UPLOAD_KEEP_S = 24 * 3600


def _upload_dir() -> Path:
    path = Path(current_app.instance_path) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - UPLOAD_KEEP_S
    for old in path.iterdir():  # previews never committed are kept for a day
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    return path


def _uploaded() -> tuple[bytes, str]:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Problem(400, "Invalid parameter", "file: choose a roster file to upload", parameter="file")
    data = upload.read()
    fmt = request.form.get("format") or detect_format(upload.filename)
    if fmt not in FORMATS:
        raise Problem(400, "Invalid parameter", f"format: use one of {', '.join(FORMATS)}", parameter="format")
    return data, fmt


def _crs_param(source) -> CRS:
    value = (source.get("crs") or "").strip().lower()
    if value not in CRS._value2member_map_:
        raise Problem(400, "Invalid parameter", "crs: choose wgs84, gcj02 or bd09", parameter="crs")
    return CRS(value)


def _import_page(status: int = 200, **kw):
    page = render_template("admin/import.html", crs_labels=CRS_LABELS, formats=FORMATS, **kw)
    return Response(page, status=status, mimetype="text/html")


@bp.get("/import")
def import_page():
    """Upload a roster file and choose its coordinate system."""
    return _import_page()


@bp.post("/import/preview")
def import_preview():
    """Show what the uploaded file would add, change, close or remove, and every row error."""
    user = require_writer()
    try:
        data, fmt = _uploaded()
        crs = _crs_param(request.form)
        replace = request.form.get("replace") == "1"
        result = preview(current_roster(), data, fmt, crs, user=user, replace=replace)
    except FileInvalid as exc:
        return _import_page(400, file_error=str(exc))
    digest = hashlib.sha256(data).hexdigest()
    (_upload_dir() / f"{digest}.{fmt}").write_bytes(data)
    return _import_page(
        200 if result.ok else 422,
        preview=result,
        digest=digest,
        fmt=fmt,
        crs=crs.value,
        replace=replace,
    )


@bp.post("/import/commit")
def import_commit():
    """Apply a previewed file, all or nothing, if neither the file nor the roster changed since."""
    user = require_writer()
    digest = request.form.get("digest", "")
    fmt = request.form.get("format", "")
    if fmt not in FORMATS or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise Problem(400, "Invalid parameter", "digest: preview the file first", parameter="digest")
    path = _upload_dir() / f"{digest}.{fmt}"
    if not path.exists():
        return _import_page(409, file_error="预览已过期，请重新上传并预览。")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        return _import_page(409, file_error="文件已变化，请重新预览。")
    try:
        summary = commit(
            current_roster(),
            data,
            fmt,
            _crs_param(request.form),
            user=user,
            replace=request.form.get("replace") == "1",
            token=request.form.get("token", ""),
        )
    except StaleImport:
        return _import_page(409, file_error="预览之后名册已被修改（或文件不同），请重新预览后再确认导入。")
    except ImportHasErrors as exc:
        return _import_page(422, preview=exc.preview, file_error="文件有错误，未导入任何数据。")
    path.unlink(missing_ok=True)
    return _import_page(summary=summary)


@bp.get("/import/template.<fmt>")
def import_template(fmt: str):
    """The import template (XLSX or CSV) with Chinese headers and one example row."""
    from locator.formats import template_csv, template_xlsx

    if fmt == "xlsx":
        body = template_xlsx()
    elif fmt == "csv":
        body = template_csv()
    else:
        abort(404)
    return Response(
        body, mimetype=MIME[fmt], headers={"Content-Disposition": f'attachment; filename="roster-template.{fmt}"'}
    )


# -- exports ----------------------------------------------------------------------------------------


def _export_response() -> Response:
    fmt = request.args.get("format", "geojson")
    if fmt not in EXPORT_FORMATS:
        raise Problem(400, "Invalid parameter", f"format: use one of {', '.join(EXPORT_FORMATS)}", parameter="format")
    roster = current_roster()
    for name, allowed in (("district", roster.districts.codes), ("type", STATION_TYPES)):
        bad = [v for v in request.args.getlist(name) if v not in allowed]
        if bad:
            raise Problem(400, "Invalid parameter", f"{name}: unknown value {bad[0]!r}", parameter=name)
    stations = roster.store.list(_filters())
    return Response(
        export_bytes(stations, fmt),
        mimetype=MIME[fmt],
        headers={"Content-Disposition": f'attachment; filename="stations.{fmt}"'},
    )


@bp.get("/export")
def export():
    """Download the roster (filtered by ?district= and ?type=) as GeoJSON, CSV, XLSX, KML or GeoPackage."""
    return _export_response()


# -- JSON API for scripts ------------------------------------------------------------------------------


def _etag(station: Station) -> str:
    return f'"{station.version}"'


def _station_response(station: Station, status: int = 200) -> Response:
    body = station_fields_json(station)
    body["version"] = station.version
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["ETag"] = _etag(station)
    return resp


def _if_match() -> int:
    header = request.headers.get("If-Match")
    if not header:
        raise Problem(428, "Precondition Required", 'send If-Match: "<version>" (the ETag you read)')
    try:
        return int(header.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise Problem(412, "Precondition Failed", f"If-Match {header!r} is not a station version") from None


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(400, "Invalid request", "the body must be a JSON object describing the station")
    return body


@api_bp.get("/stations/<station_id>")
def api_get_station(station_id: str):
    """One station's stored fields, with its version as ETag."""
    return _station_response(current_roster().store.get(station_id))


@api_bp.post("/stations")
def api_create_station():
    """Create a station (lng/lat in WGS-84, or in ?crs=gcj02|bd09)."""
    require_writer()
    raw = _json_body()
    if "crs" in request.args:
        crs = _crs_param(request.args)
        try:
            raw["lng"], raw["lat"] = to_wgs84(float(raw["lng"]), float(raw["lat"]), crs)
        except (KeyError, TypeError, ValueError):
            pass  # validation below names the bad coordinate
    raw.setdefault("provenance", "api")
    station = current_roster().validate(raw, provenance="api")
    require_district(station.district)
    return _station_response(current_roster().store.create(station, actor=g.user.name, via="api"), 201)


@api_bp.put("/stations/<station_id>")
def api_update_station(station_id: str):
    """Replace a station's fields; If-Match required (428), stale version 412."""
    store = current_roster().store
    old = store.get(station_id)
    require_district(old.district)
    expected = _if_match()
    raw = _json_body()
    raw["id"] = station_id
    raw.setdefault("provenance", old.provenance)
    station = current_roster().validate(raw)
    require_district(station.district)
    if expected != old.version:
        raise Problem(
            412, "Precondition Failed", f"the station is at version {old.version}", current_version=old.version
        )
    try:
        return _station_response(store.update(station, expected_version=expected, actor=g.user.name, via="api"))
    except Conflict as exc:
        cur = exc.current.version if exc.current else None
        raise Problem(412, "Precondition Failed", str(exc), current_version=cur) from None


@api_bp.delete("/stations/<station_id>")
def api_delete_station(station_id: str):
    """Delete a station; If-Match required."""
    store = current_roster().store
    old = store.get(station_id)
    require_district(old.district)
    expected = _if_match()
    if expected != old.version:
        raise Problem(
            412, "Precondition Failed", f"the station is at version {old.version}", current_version=old.version
        )
    store.delete(station_id, expected_version=expected, actor=g.user.name, via="api")
    return Response(status=204)


@api_bp.post("/audit/<int:record_id>/restore")
def api_restore(record_id: int):
    """Restore a deleted station from its deletion record."""
    return _station_response(restore_from_audit(record_id, require_writer()), 201)


@api_bp.get("/audit")
def api_audit():
    """The audit trail (?station_id=, ?format=json|csv)."""
    return _audit_download(request.args.get("station_id") or None, request.args.get("format", "json"))


@api_bp.get("/export")
def api_export():
    """The roster as a file (?format=, ?district=, ?type=)."""
    return _export_response()


@api_bp.post("/import")
def api_import():
    """Import a roster file (multipart 'file'; crs, replace, dry_run, preview_token): preview or commit."""
    user = require_writer()
    data, fmt = _uploaded()
    crs = _crs_param(request.form)
    replace = request.form.get("replace") in ("1", "true")
    dry_run = request.form.get("dry_run") in ("1", "true")
    roster = current_roster()
    if dry_run:
        result = preview(roster, data, fmt, crs, user=user, replace=replace)
        resp = jsonify(result.as_json())
        resp.status_code = 200 if result.ok else 422
        return resp
    try:
        summary = commit(
            roster, data, fmt, crs, user=user, replace=replace, token=request.form.get("preview_token") or None
        )
    except StaleImport as exc:
        raise Problem(409, "Conflict", str(exc)) from None
    except ImportHasErrors as exc:
        body = exc.preview.as_json()
        return problem_response(422, "Invalid file", str(exc), errors=body["errors"])
    return jsonify({"ok": True, "summary": summary.as_json(), "data_version": roster.store.data_version()})


def init_app(app: Flask) -> None:
    """Register the admin blueprints, the account store, cookie settings and upload limit."""
    from locator import admin_cli
    from locator.store.accounts import open_accounts

    app.extensions["accounts"] = open_accounts(current_roster_store(app), app.instance_path)
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("SECURE_COOKIES"))
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    admin_cli.init_app(app)


def current_roster_store(app: Flask):
    """The station store of `app` (outside a request)."""
    return app.extensions["roster"].store
