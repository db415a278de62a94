"""Roster files in the admin: import with a preview (locator.importing), the templates, exports.

The page keeps the organizer's choices (format, coordinate system, replace, layer) through a
preview: only the file must be chosen again. After a commit it links to what was imported: the
station list of this import and the map of its districts.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for

from locator import importing
from locator.accounts import User
from locator.context import current_roster, current_staging
from locator.coords import CRS
from locator.formats import FORMATS, NAMES, FileInvalid, Format, LayerChoiceNeeded, check_export, detect_format
from locator.stations import STATION_TYPES
from locator.store.base import ReplaceSummary
from locator.store.shared import SharedUploadStaging
from locator.web.admin.auth import require_writer
from locator.web.admin.labels import CRS_CHOICES
from locator.web.admin.stations import station_filters
from locator.web.problems import Problem

bp = Blueprint("files", __name__)


def staging() -> importing.UploadStaging | SharedUploadStaging:
    """Where uploaded files wait between preview and commit (the instance folder, or PostgreSQL for every server)."""
    return current_staging()


def uploaded() -> tuple[bytes, Format]:
    """The uploaded file and its format (?format= or from its name)."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Problem(
            400,
            "Invalid parameter",
            "file: choose a roster file to upload",
            detail_zh="请选择要上传的名册文件。",
            parameter="file",
        )
    data = upload.read()
    name = request.form.get("format")
    if name and name not in FORMATS:
        raise _bad_format()
    return data, FORMATS[name] if name else detect_format(upload.filename)


def _bad_format() -> Problem:
    return Problem(
        400,
        "Invalid parameter",
        f"format: use one of {', '.join(NAMES)}",
        detail_zh=f"文件格式只能是 {'、'.join(f.label for f in FORMATS.values())}。",
        parameter="format",
    )


def staged_or_uploaded() -> tuple[bytes, Format]:
    """The uploaded file, or the one kept by a previous preview (digest + format: choosing a layer)."""
    if "file" not in request.files and request.form.get("digest"):
        name, digest = request.form.get("format", ""), request.form.get("digest", "")
        data = staging().load(digest, name)
        if data is None:
            raise FileInvalid("the uploaded file expired: upload it again", "上传的文件已过期，请重新上传。")
        return data, FORMATS[name]
    return uploaded()


def _discard_kept() -> None:
    """Forget a file kept for a layer choice once its preview is refused."""
    digest, name = request.form.get("digest", ""), request.form.get("format", "")
    if "file" not in request.files and digest:
        staging().discard(digest, name)


def layer_param(source) -> str | None:
    """The layer to read from a GeoPackage (None: the default choice)."""
    value = (source.get("layer") or "").strip()
    if len(value) > 200:
        raise Problem(
            400,
            "Invalid parameter",
            "layer: at most 200 characters",
            detail_zh="图层名称最多 200 个字。",
            parameter="layer",
        )
    return value or None


def crs_param(source) -> CRS:
    """The declared coordinate system of a form or query."""
    value = (source.get("crs") or "").strip().lower()
    if value not in CRS._value2member_map_:
        raise Problem(
            400,
            "Invalid parameter",
            "crs: choose wgs84, gcj02 or bd09",
            detail_zh="请选择坐标系：WGS-84（wgs84）、GCJ-02（gcj02）或 BD-09（bd09）。",
            parameter="crs",
        )
    return CRS(value)


def choices(source=None) -> dict[str, Any]:
    """The organizer's import choices (from the posted form): kept through the preview."""
    source = source if source is not None else request.form
    fmt = source.get("format", "")
    crs = (source.get("crs") or "").strip().lower()
    return {
        "format": fmt if fmt in FORMATS else "",
        "crs": crs if crs in CRS._value2member_map_ else "",
        "replace": source.get("replace") in ("1", "true"),
        "layer": (source.get("layer") or "").strip()[:200],
    }


def _import_page(status: int = 200, **kw):
    kw.setdefault("choice", choices() if request.method == "POST" else choices({}))
    page = render_template(
        "admin/import.html",
        crs_labels=CRS_CHOICES,
        formats={name: f.label for name, f in FORMATS.items()},
        sample_data=current_roster().is_sample(),
        **kw,
    )
    return Response(page, status=status, mimetype="text/html")


def imported_links(summary: ReplaceSummary) -> dict[str, Any] | None:
    """Where to see what a commit added or changed: the list of this import, the map of its districts."""
    roster = current_roster()
    ids = summary.added + summary.changed
    if not ids:
        return None
    at = roster.store.audit(ids[0], limit=1)[0].at
    snap = roster.snapshot()
    codes = sorted({s.district for s in snap.stations or () if s.updated_at == at and s.district})
    names = [roster.districts.name(c) or c for c in codes]
    return {
        "count": len(ids),
        "list": url_for("admin.stations.index", imported=at.isoformat()),
        "map": url_for("map_pages.coverage_map", district=codes[0])
        if len(codes) == 1
        else url_for("map_pages.coverage_map"),
        "districts": names,
    }


@bp.get("/import")
def import_page():
    """Upload a roster file and choose its coordinate system."""
    return _import_page()


@bp.post("/import/preview")
def import_preview():
    """Show what the uploaded file would add, change, close or remove, and every row error."""
    user = require_writer()
    replace = request.form.get("replace") == "1"
    try:
        data, fmt = staged_or_uploaded()
        crs = crs_param(request.form)
        layer = layer_param(request.form)
        result = importing.preview(current_roster(), data, fmt, crs, user=user, replace=replace, layer=layer)
    except LayerChoiceNeeded as exc:
        # Keep the file: the page offers its layers (a question, not a failure: 200), and the choice
        # is previewed without a new upload.
        return _import_page(
            200,
            file_error=f"这个 {fmt.label} 文件有 {len(exc.layers)} 个图层：请在下面选择要导入的图层。",
            layers=exc.layers,
            digest=staging().save(data, fmt),
            fmt=fmt.name,
            crs=crs.value,
            replace=replace,
        )
    except FileInvalid as exc:
        _discard_kept()
        return _import_page(400, file_error=exc.detail_zh or str(exc))
    if not result.ok:
        # A refused preview cannot be committed: its file is not kept at all.
        _discard_kept()
        return _import_page(422, preview=result, fmt=fmt.name, crs=crs.value, replace=replace)
    return _preview_page(200, result, staging().save(data, fmt), fmt.name, crs, replace, layer)


def _preview_page(
    status: int, result: importing.Preview, digest: str, fmt: str, crs: CRS, replace: bool, layer: str | None, **extra
) -> Response:
    """The import page with a preview that may be committed: its 确认导入 form carries the kept file and options."""
    return _import_page(
        status, preview=result, digest=digest, fmt=fmt, crs=crs.value, replace=replace, layer=layer or "", **extra
    )


@bp.post("/import/commit")
def import_commit():
    """Apply a previewed file, all or nothing, if neither the file nor the roster changed since."""
    user = require_writer()
    digest = request.form.get("digest", "")
    fmt = request.form.get("format", "")
    if fmt not in FORMATS or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise Problem(
            400,
            "Invalid parameter",
            "digest: preview the file first",
            detail_zh="请先上传文件并预览，再确认导入。",
            parameter="digest",
        )
    data = staging().load(digest, fmt)
    if data is None:
        return _import_page(409, file_error="预览已过期或文件已变化，请重新上传并预览。")
    crs, replace, layer = crs_param(request.form), request.form.get("replace") == "1", layer_param(request.form)
    try:
        summary = importing.commit(
            current_roster(),
            data,
            FORMATS[fmt],
            crs,
            user=user,
            replace=replace,
            token=request.form.get("token", ""),
            layer=layer,
        )
    except importing.StaleImport:
        return _stale_commit(data, digest, fmt, crs, replace, layer, user)
    except importing.ImportHasErrors as exc:
        return _import_page(422, preview=exc.preview, file_error="文件有错误，未导入任何数据。")
    # The file stays kept (until it expires or is evicted like any preview): a 确认导入 sent again, by a
    # double tap or a reload, finds it and is told the roster already matches it (_stale_commit), not
    # that its preview expired. Its old token can never be applied again: the roster version moved.
    return _import_page(summary=summary, links=imported_links(summary), choice=choices({}))


def _stale_commit(
    data: bytes, digest: str, fmt: str, crs: CRS, replace: bool, layer: str | None, user: User
) -> Response:
    """The answer to a commit whose preview is out of date: the file previewed again against the roster now.

    Nothing left to change (the same 确认导入 sent twice, or the file imported meanwhile): 200 and a
    notice. Otherwise 409 with the fresh preview and its own 确认导入, instead of "upload it again".
    """
    fresh = importing.recent_preview(current_roster(), data, FORMATS[fmt], crs, user=user, replace=replace, layer=layer)
    if fresh.ok and not fresh.changes_anything:
        return _import_page(already=fresh, choice=choices({}))
    return _preview_page(
        409,
        fresh,
        digest,
        fmt,
        crs,
        replace,
        layer,
        file_error="预览之后名册已被修改：下面是按现在的名册重新生成的预览，请核对后再确认导入。",
    )


@bp.get("/import/template.<fmt>")
def import_template(fmt: str):
    """The import template (XLSX or CSV) with Chinese headers and one example row."""
    found = FORMATS.get(fmt)
    if found is None or found.template is None:
        abort(404)
    return Response(
        found.template(),
        mimetype=found.mime,
        headers={"Content-Disposition": f'attachment; filename="roster-template{found.suffix}"'},
    )


def export_response() -> Response:
    """The roster (filtered by ?district= and ?type=) as a file in ?format= (default GeoJSON) and ?crs=.

    GCJ-02/BD-09 only as CSV or XLSX: GeoJSON, KML and GeoPackage are WGS-84 by their standards.
    """
    name = request.args.get("format", "geojson")
    if name not in FORMATS:
        raise _bad_format()
    fmt = FORMATS[name]
    crs = crs_param(request.args) if request.args.get("crs") else CRS.WGS84
    check_export(fmt, crs)  # ExportSystemUnsupported: 400 naming the formats that can
    roster = current_roster()
    for param, allowed in (("district", roster.districts.codes), ("type", STATION_TYPES)):
        bad = [v for v in request.args.getlist(param) if v not in allowed]
        if bad:
            raise Problem(
                400,
                "Invalid parameter",
                f"{param}: unknown value {bad[0]!r}",
                detail_zh=f"没有“{bad[0]}”这个{'区县' if param == 'district' else '站点类型'}。",
                parameter=param,
            )
    stations = roster.store.list(station_filters())
    return Response(
        fmt.write(stations, crs),
        mimetype=fmt.mime,
        headers={"Content-Disposition": f'attachment; filename="stations{fmt.suffix}"'},
    )


@bp.get("/export")
def export():
    """Download the roster (filtered by ?district= and ?type=) as GeoJSON, CSV, XLSX, KML or GeoPackage."""
    return export_response()
