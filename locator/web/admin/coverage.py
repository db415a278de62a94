"""The organizers' coverage analysis: /admin/coverage (map, tables, downloads) and its demand layers.

The page parses the choices, and asks the job runner (locator/jobs.py) for the analysis: a finished
result is shown at once; otherwise the analysis runs in a background thread of this worker and the
page shows its progress (state in the database: any worker can answer). District organizers see
their own districts: the analysis counts every station (riders cross district lines) but tables,
blind spots, suggestions and redundancy are limited to their districts.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for
from pydantic import BaseModel, ConfigDict, Field

from locator import coverage, demand
from locator.accounts import User
from locator.basemaps import Basemap, BasemapUnavailable, basemap, project
from locator.context import current_demand, current_roster
from locator.coords import CRS
from locator.formats import FORMATS, NAMES, FileInvalid, detect_format
from locator.hours import TZ
from locator.jobs import JobRunner, job_id
from locator.nearest import StationFilter
from locator.searchlog import MIN_SEARCHES, today_text
from locator.stations import STATION_TYPES
from locator.store.demand import JobRecord, LayerNameTaken
from locator.web import security
from locator.web.admin.auth import require_writer
from locator.web.assets import send_bytes
from locator.web.models import TypeKey
from locator.web.problems import Problem, bad_parameter

bp = Blueprint("coverage", __name__)

RADIUS_CHOICES = (500, 1000, 3000)
DETOUR_CHOICES = (1.0, 1.2, 1.4)
DAYS_CHOICES = (7, 30, 90, 180)
MAX_SUGGEST = 50
PAGE_BUDGET_S = 60.0  # the exact solve's time budget in the background
API_BUDGET_S = 10.0  # …and inside one API request (then greedy)
MAP_MAX_CELLS = 4000  # beyond this the map draws resolution-7 cells (the files keep resolution 8)


# -- choices ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """What the organizer asked for."""

    demand: str = "area"  # area | searches | a layer id
    radius_m: float = 1000.0
    types: tuple[str, ...] = ()
    open: str = "all"  # all | now
    detour: float = 1.0
    suggest: int = 0
    candidates: str = ""  # "" (demand cells) or a hosts layer id
    days: int = 30
    method: str = "auto"


def scope_of(user: User) -> tuple[str, ...] | None:
    """The districts a user's analysis covers: a district organizer's own, everyone else's the city."""
    return tuple(sorted(user.districts)) if user.role == "district_organizer" else None


def _float_arg(name: str, default: float, lo: float, hi: float, zh: str) -> float:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad_parameter(name, f"{raw!r} is not a number", f"「{zh}」应是数字。") from None
    if not (math.isfinite(value) and lo <= value <= hi):
        raise bad_parameter(name, f"must lie in {lo:g}..{hi:g}", f"「{zh}」应在 {lo:g}～{hi:g} 之间。")
    return value


def _default_demand() -> str:
    """The newest demand layer; else the search log if it has any cell to show; else the area."""
    store = current_demand()
    layers = store.layers("demand")
    if layers:
        return str(layers[0].id)
    from locator.searchlog import period

    first, last = period(30)
    return "searches" if store.search_counts(first, last, at_least=MIN_SEARCHES) else "area"


def parse_choice() -> Choice:
    """The page's query string as a Choice (400 naming the parameter, in Chinese, when bad)."""
    store = current_demand()
    wanted = (request.args.get("demand") or "").strip() or _default_demand()
    if wanted not in ("area", "searches"):
        layer = demand.find_layer(store, wanted)
        if layer is None or layer.purpose != "demand":
            raise bad_parameter("demand", f"unknown demand layer {wanted!r}", "没有这个需求图层（可能已被删除）。")
        wanted = str(layer.id)
    types = tuple(t for t in request.args.getlist("type") if t)
    for t in types:
        if t not in STATION_TYPES:
            raise bad_parameter("type", f"unknown type {t!r}", "未知的站点类型。")
    open_ = (request.args.get("open") or "all").strip()
    if open_ not in ("all", "now"):
        raise bad_parameter("open", "use all or now", "「开放」应为 all（全部在册）或 now（此刻开放）。")
    candidates = (request.args.get("candidates") or "").strip()
    if candidates:
        layer = demand.find_layer(store, candidates)
        if layer is None or layer.purpose != "hosts":
            raise bad_parameter("candidates", f"unknown hosts layer {candidates!r}", "没有这个候选点图层。")
        candidates = str(layer.id)
    days = int(_float_arg("days", 30, 1, 180, "时段（天）"))
    return Choice(
        demand=wanted,
        radius_m=_float_arg("radius_m", 1000, 50, 20_000, "服务半径（米）"),
        types=types,
        open=open_,
        detour=_float_arg("detour", 1.0, 1.0, 3.0, "绕行系数"),
        suggest=int(_float_arg("suggest", 0, 0, MAX_SUGGEST, "建议新站数")),
        candidates=candidates,
        days=days,
    )


def _demand_version(choice: Choice) -> Any:
    """What the demand's answer depends on besides the choice (a layer's identity, the day)."""
    if choice.demand == "searches":
        # Counts grow through the day: a result is reused for at most an hour.
        return {"day": today_text(), "hour": datetime.now(TZ).hour}
    if choice.demand == "area":
        return None
    layer = current_demand().layer(int(choice.demand))
    return {"layer": layer.id, "created_at": layer.created_at} if layer else None


def job_params(choice: Choice, scope: tuple[str, ...] | None) -> dict[str, Any]:
    """Everything a job's answer depends on: the choice, the scope, the data versions."""
    now = datetime.now(TZ)
    params: dict[str, Any] = {
        **asdict(choice),
        "scope": list(scope) if scope else None,
        "roster_version": current_roster().snapshot().version,
        "demand_version": _demand_version(choice),
    }
    if choice.open == "now":
        params["minute"] = now.strftime("%Y-%m-%dT%H:") + f"{now.minute // 10}0"
    if choice.candidates:
        layer = current_demand().layer(int(choice.candidates))
        params["candidates_version"] = layer.created_at if layer else None
    return params


def analysis_work(choice: Choice, scope: tuple[str, ...] | None, budget_s: float):
    """A function that runs the analysis without the request (in a job thread) and returns its JSON."""
    roster = current_roster()
    store = current_demand()
    snapshot = roster.snapshot()
    districts = roster.districts

    def work(progress) -> str:
        progress(0.01, "读取需求数据")
        wanted = demand.load_demand(store, districts, choice.demand, days=choice.days)
        hosts = None
        if choice.candidates:
            items = store.layer_items(int(choice.candidates))
            hosts = coverage.Candidates(items.lng, items.lat, items.label)
        options = coverage.CoverageOptions(
            radius_m=choice.radius_m,
            detour=choice.detour,
            flt=StationFilter(types=choice.types, open_now=choice.open == "now"),
            suggest=choice.suggest,
            candidates=hosts,
            scope=scope,
            exact_budget_s=budget_s,
            method=choice.method,
        )
        report = coverage.analyse(snapshot, districts, wanted, options, progress)
        return json.dumps(report.as_json(), ensure_ascii=False, separators=(",", ":"))

    return work


def runner() -> JobRunner:
    """This app's job runner (one per process)."""
    return current_app.extensions.setdefault("coverage_jobs", JobRunner(current_demand()))


def _job_for_user(jid: str) -> JobRecord:
    job = current_demand().job(jid)
    if job is None or job.params.get("scope") != (list(scope_of(g.user)) if scope_of(g.user) else None):
        raise Problem(404, "Not Found", "no such analysis", detail_zh="没有这项分析（可能已过期），请重新分析。")
    return job


def _result(job: JobRecord) -> dict[str, Any]:
    if job.status != "done" or job.result is None:
        raise Problem(409, "Conflict", "the analysis has not finished", detail_zh="分析尚未完成。")
    return json.loads(job.result)


# -- the page -------------------------------------------------------------------------------------


def _basemap() -> Basemap:
    try:
        return basemap(
            current_app.config.get("BASEMAP", "amap"),
            tianditu_key=current_app.config.get("TIANDITU_KEY", ""),
            amap_approval=current_app.config.get("AMAP_APPROVAL", ""),
        )
    except BasemapUnavailable:
        return basemap("osm")


def _labels() -> dict[str, Any]:
    store = current_demand()
    return {
        "layers": store.layers("demand"),
        "hosts": store.layers("hosts"),
        "types": STATION_TYPES,
        "radius_choices": RADIUS_CHOICES,
        "detour_choices": DETOUR_CHOICES,
        "days_choices": DAYS_CHOICES,
        "district_names": {d.code: d.name for d in current_roster().districts.districts},
    }


def _analysed_at(report: dict[str, Any] | None) -> str:
    """When the analysis ran, in Beijing time (the report keeps an ISO time)."""
    from locator.web.admin.labels import time_text

    try:
        return time_text(datetime.fromisoformat(str((report or {}).get("at", ""))))
    except ValueError:
        return ""


@bp.get("/coverage")
def coverage_page():
    """Coverage per district, blind spots and suggested sites on a map; the analysis runs in the background."""
    choice = parse_choice()
    scope = scope_of(g.user)
    job = runner().submit(
        job_params(choice, scope), analysis_work(choice, scope, PAGE_BUDGET_S), created_by=g.user.name
    )
    report = json.loads(job.result) if job.status == "done" and job.result else None
    base = _basemap()
    security.allow(security.basemap_sources(base))  # the page's Content-Security-Policy: its tiles
    config = {
        "mapUrl": url_for("admin.coverage.job_map", jid=job.id),
        "crs": base.crs.value,
        "tiles": [
            {"url": t.url, "subdomains": t.subdomains, "attribution": t.attribution, "maxZoom": t.max_zoom}
            for t in base.layers
        ],
    }
    from locator.maps import script_json

    page = render_template(
        "admin/coverage.html",
        choice=choice,
        job=job,
        report=report,
        analysed_at=_analysed_at(report),
        scope=scope,
        basemap=base,
        map_config=script_json(config),
        status_url=url_for("admin.coverage.job_status", jid=job.id),
        sample_data=current_roster().is_sample(),
        **_labels(),
    )
    return Response(page, mimetype="text/html")


@bp.get("/coverage/jobs/<jid>.json")
def job_status(jid: str):
    """How far an analysis is: status, progress (0..1), message; an error if it failed."""
    job = _job_for_user(jid)
    body = {"id": job.id, "status": job.status, "progress": job.progress, "message": job.message}
    if job.status == "failed":
        body["error"] = job.error
    resp = current_app.json.response(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _display_cells(cells: list[list[Any]]) -> list[list[Any]]:
    """The cells a phone map draws: resolution 8, or their resolution-7 parents when there are many."""
    if len(cells) <= MAP_MAX_CELLS:
        return cells
    import h3

    merged: dict[str, list[Any]] = {}
    for cell, weight, uncovered, rank in cells:
        parent = h3.cell_to_parent(cell, 7)
        row = merged.setdefault(parent, [parent, 0.0, 0.0, 0])
        row[1] += weight
        row[2] += uncovered
        row[3] = rank if not row[3] or (rank and rank < row[3]) else row[3]
    return list(merged.values())


def _spot_text(spot: dict[str, Any], unit: str) -> str:
    return f"盲区 {spot['rank']}：{spot['district_name'] or '区县外'} 未覆盖 {spot['uncovered_demand']:g} {unit}"


def _site_text(site: dict[str, Any], unit: str) -> str:
    host = f"（{site['host']}）" if site["host"] else ""
    return f"建议新址 {site['rank']}：新增覆盖 {site['gain']:g} {unit}{host}"


@bp.get("/coverage/jobs/<jid>/map.json")
def job_map(jid: str):
    """What the page's map draws, in the basemap's coordinate system: cells, stations, spots, sites."""
    import h3

    from locator.maps import districts_geojson

    report = _result(_job_for_user(jid))
    base = _basemap()
    crs = base.crs

    def pt(lng: float, lat: float) -> list[float]:
        x, y = project(lng, lat, crs)
        return [round(float(y), 6), round(float(x), 6)]

    cells = []
    for cell, weight, uncovered, rank in _display_cells(report.get("cells") or []):
        ring = [pt(lng, lat) for lat, lng in h3.cell_to_boundary(cell)]
        cells.append([ring, round(weight, 3), round(uncovered, 3), rank])
    unit = report["demand"].get("unit", "")
    body = {
        "crs": crs.value,
        "radius": report["radius_m"] / (report.get("detour_factor") or 1.0),
        "unit": unit,
        "districts": districts_geojson(current_roster().districts, crs),
        "scope": report.get("scope"),
        "cells": cells,
        "stations": [[*pt(s[0], s[1]), s[3], s[2]] for s in report.get("station_points") or []],
        "blindSpots": [[*pt(b["lng"], b["lat"]), b["rank"], _spot_text(b, unit)] for b in report["blind_spots_detail"]],
        "sites": [[*pt(s["lng"], s["lat"]), s["rank"], _site_text(s, unit)] for s in report["suggested_sites_detail"]],
    }
    resp = current_app.json.response(body)
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


@bp.get("/coverage/jobs/<jid>/report.<ext>")
def job_report(jid: str, ext: str):
    """The whole analysis as a file: PNG (for reports), XLSX, GeoJSON or JSON."""
    from locator import coverage_report

    report = _result(_job_for_user(jid))
    stamp = datetime.now(TZ).strftime("%Y%m%d")
    name = f"coverage-{stamp}"
    if ext == "png":
        from locator.pictures import map_credits

        credits = map_credits(current_app.config.get("MAP_APPROVAL", ""), current_app.config.get("MAP_SOURCE", ""))
        body, mime = coverage_report.coverage_png(report, current_roster().districts, credits=credits), "image/png"
    elif ext == "xlsx":
        body, mime = coverage_report.coverage_xlsx(report), FORMATS["xlsx"].mime
    elif ext == "geojson":
        body, mime = coverage_report.coverage_geojson(report), "application/geo+json"
    elif ext == "json":
        body, mime = json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8"), "application/json"
    else:
        abort(404)
    resp = send_bytes(body, None, mime, "private, no-store")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}.{ext}"'
    return resp


# -- demand layers ----------------------------------------------------------------------------------


def _layers_page(status: int = 200, **kw) -> Response:
    from locator.web.admin.labels import CRS_CHOICES

    labels = CRS_CHOICES
    page = render_template(
        "admin/coverage_layers.html",
        layers=current_demand().layers(),
        crs_labels=labels,
        formats=NAMES,
        sample_data=current_roster().is_sample(),
        **kw,
    )
    return Response(page, status=status, mimetype="text/html")


@bp.get("/coverage/layers")
def layers_page():
    """The stored demand layers and hosts lists, and a form to upload one."""
    return _layers_page()


@bp.post("/coverage/layers")
def upload_layer():
    """Store an uploaded layer (row-by-row errors in Chinese; nothing stored on any error)."""
    user = require_writer()
    form = {k: request.form.get(k, "") for k in ("name", "source", "crs", "purpose")}
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise demand.DemandFileInvalid("choose a file", "请选择要上传的文件。")
        fmt = detect_format(upload.filename)
        if form["crs"] not in CRS._value2member_map_:
            raise demand.DemandFileInvalid("choose the coordinate system", "请选择文件坐标所用的坐标系。")
        purpose = "hosts" if form["purpose"] == "hosts" else "demand"
        info, read = demand.import_layer(
            current_demand(),
            current_roster().districts,
            upload.read(),
            fmt,
            CRS(form["crs"]),
            name=form["name"],
            source=form["source"],
            purpose=purpose,
            actor=user.name,
        )
    except demand.DemandHasErrors as exc:
        return _layers_page(422, errors=exc.errors, file_error=exc.detail_zh, form=form)
    except (demand.DemandFileInvalid, FileInvalid, LayerNameTaken) as exc:
        return _layers_page(400, file_error=getattr(exc, "detail_zh", None) or str(exc), form=form)
    return _layers_page(201, saved=info, weighted=read.weighted)


@bp.post("/coverage/layers/<int:layer_id>/delete")
def delete_layer(layer_id: int):
    """Delete a layer (city administrators, or the organizer who uploaded it)."""
    user = require_writer()
    layer = current_demand().layer(layer_id)
    if layer is None:
        abort(404)
    if user.role != "city_admin" and layer.created_by != user.name:
        raise Problem(403, "Forbidden", "only its uploader or a city administrator may delete a layer",
                      detail_zh="只有上传者或市级管理员可以删除此图层。")  # fmt: skip
    current_demand().delete_layer(layer_id)
    return redirect(url_for("admin.coverage.layers_page"))


# -- the token API ----------------------------------------------------------------------------------


class CoverageQuery(BaseModel):
    """GET /api/v1/admin/coverage."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    radius_m: float = Field(1000, ge=50, le=20_000, description="服务半径（米） radius in metres", allow_inf_nan=False)
    type: list[TypeKey] = Field(default_factory=list, description="站点类型 station types that count (any of)")
    open: Literal["all", "now"] = Field("all", description="all: every station not closed for good; now: open now")
    suggest: int = Field(0, ge=0, le=MAX_SUGGEST, description="建议新站数 how many new sites to suggest")
    demand: str = Field(
        "area", max_length=60, description="area (面积覆盖率), searches (the search log), or a demand layer's name/id"
    )
    candidates: str | None = Field(None, max_length=60, description="a hosts layer's name/id (default: demand cells)")
    detour: float = Field(1.0, ge=1, le=3, description="绕行系数 detour factor (street / straight line)")
    days: int = Field(30, ge=1, le=180, description="search-log period in days (demand=searches)")
    method: Literal["auto", "exact", "greedy"] = Field(
        "auto", description="site choice: exact within 10 s, else greedy"
    )
    cells: bool = Field(False, description="include the demand cells and station points (for maps)")


class DistrictShareOut(BaseModel):
    """One district of the contract."""

    code: str
    name: str
    demand: float
    covered_share: float | None


class BlindSpotOut(BaseModel):
    """One blind spot of the contract."""

    lng: float
    lat: float
    district: str | None
    uncovered_demand: float
    nearest_station_id: str | None
    nearest_distance_m: float | None


class SiteOut(BaseModel):
    """One suggested site of the contract."""

    lng: float
    lat: float
    gain: float


class CoverageReportOut(BaseModel):
    """The coverage analysis: the CLI's contract plus details (WGS-84)."""

    model_config = ConfigDict(extra="allow")

    radius_m: float
    demand_total: float
    covered_share: float | None
    districts: list[DistrictShareOut]
    blind_spots: list[BlindSpotOut]
    suggested_sites: list[SiteOut]
    method: Literal["exact", "greedy"]
    measure: str
    demand: dict[str, Any]
    city: dict[str, Any]
    solver: dict[str, Any]
    redundancy: list[dict[str, Any]]


def api_report(user: User, query: CoverageQuery) -> dict[str, Any]:
    """The analysis for the token API, computed in the request (exact solve budget API_BUDGET_S)."""
    store = current_demand()
    wanted = query.demand.strip() or "area"
    if wanted not in ("area", "searches"):
        layer = demand.find_layer(store, wanted)
        if layer is None or layer.purpose != "demand":
            raise demand.UnknownDemand(wanted)
        wanted = str(layer.id)
    candidates = ""
    if query.candidates:
        layer = demand.find_layer(store, query.candidates)
        if layer is None or layer.purpose != "hosts":
            raise bad_parameter("candidates", f"unknown hosts layer {query.candidates!r}", "没有这个候选点图层。")
        candidates = str(layer.id)
    choice = Choice(
        demand=wanted,
        radius_m=query.radius_m,
        types=tuple(query.type),
        open=query.open,
        detour=query.detour,
        suggest=query.suggest,
        candidates=candidates,
        days=query.days,
        method=query.method,
    )
    scope = scope_of(user)
    # A finished job with the same parameters (from the page) answers at once.
    done = store.job(job_id(job_params(choice, scope)))
    if done is not None and done.status == "done" and done.result and choice.method == "auto":
        body = json.loads(done.result)
    else:
        body = json.loads(analysis_work(choice, scope, API_BUDGET_S)(lambda f, m: None))
    if not query.cells:
        body.pop("cells", None)
        body.pop("station_points", None)
    return body
