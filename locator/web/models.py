"""Pydantic models of the API's query parameters and responses.

The query models validate every request (web/params.parse_query) and, with the response
models, generate the OpenAPI document (web/openapi.py): one source, no drift.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from locator.stations import AMENITIES, STATION_TYPES, STATUSES

TypeKey = Literal[tuple(STATION_TYPES)]  # type: ignore[valid-type]
AmenityKey = Literal[tuple(AMENITIES)]  # type: ignore[valid-type]
StatusKey = Literal[tuple(STATUSES)]  # type: ignore[valid-type]
Coord = Literal["wgs84", "gcj02", "bd09"]
DistrictCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="行政区划代码 (6 digits)")]
Finite = {"allow_inf_nan": False}

MAX_K = 50
MAX_RADIUS_M = 200_000
MAX_PAGE = 1000
OGC_MAX_LIMIT = 10_000


class Query(BaseModel):
    """Base of query-parameter models: unknown parameters are refused (400)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FilterQuery(Query):
    """Filters shared by the nearest search and the catalogue."""

    type: list[TypeKey] = Field(
        default_factory=list, description="站点类型 station type; repeatable or comma-separated (any of)"
    )
    amenity: list[AmenityKey] = Field(
        default_factory=list, description="服务设施 amenity; repeatable or comma-separated (all required)"
    )
    district: list[DistrictCode] = Field(
        default_factory=list, description="区县代码 district code; repeatable or comma-separated (any of)"
    )
    open_now: bool = Field(False, description="只看现在开放的 only stations open now (Asia/Shanghai)")
    coord: Coord = Field("wgs84", description="坐标系 coordinate system of `lat`/`lng` and of returned locations")


class NearestQuery(FilterQuery):
    """GET /api/v1/stations/nearest."""

    lat: float = Field(..., ge=-90, le=90, description="纬度 latitude, in the system named by `coord`", **Finite)
    lng: float = Field(..., ge=-180, le=180, description="经度 longitude, in the system named by `coord`", **Finite)
    k: int = Field(5, ge=1, le=MAX_K, description="返回数量 how many stations")
    radius_m: float | None = Field(
        None, ge=1, le=MAX_RADIUS_M, description="搜索半径（米） search radius in metres", **Finite
    )


BBOX_DESCRIPTION = "范围 bounding box `minLng,minLat,maxLng,maxLat` (WGS-84; 6 numbers with heights also accepted)"


class StationsQuery(FilterQuery):
    """GET /api/v1/stations."""

    bbox: str | None = Field(None, description=BBOX_DESCRIPTION, pattern=r"^[^,]*(,[^,]*){3}(,[^,]*){0,2}$")
    q: str | None = Field(None, max_length=100, description="搜索名称或地址 search in name and address")
    status: list[StatusKey] = Field(default_factory=list, description="状态 status; repeatable (default: all)")
    limit: int = Field(50, ge=1, le=MAX_PAGE, description="每页数量 page size")
    offset: int | None = Field(None, ge=0, le=2**31, description="跳过条数 skip this many (exclusive with `cursor`)")
    cursor: str | None = Field(None, max_length=200, description="翻页游标 opaque cursor from a `next` link")
    f: Literal["json", "geojson"] | None = Field(
        None, description="格式 format: json (default) or geojson (also via Accept: application/geo+json)"
    )


class DistrictsQuery(Query):
    """GET /api/v1/districts."""

    boundaries: bool = Field(False, description="附带边界 include boundaries (the answer is then GeoJSON)")


class EmptyQuery(Query):
    """Operations without query parameters (still refusing unknown ones)."""


class FormatQuery(Query):
    """OGC resources: f=json only."""

    f: Literal["json"] | None = Field(None, description="格式 format (JSON only)")


class FeatureQuery(Query):
    """GET /ogc/collections/{collectionId}/items/{featureId}: GeoJSON, asked as json or geojson (as the list)."""

    f: Literal["json", "geojson"] | None = Field(None, description="格式 format: GeoJSON either way")


OGC_BBOX_DESCRIPTION = (
    "范围 bounding box `west,south,east,north` (WGS-84; 6 numbers with heights also accepted); "
    "west > east crosses the antimeridian"
)


class ItemsQuery(Query):
    """GET /ogc/collections/{collectionId}/items."""

    bbox: str | None = Field(None, description=OGC_BBOX_DESCRIPTION, pattern=r"^[^,]*(,[^,]*){3}(,[^,]*){0,2}$")
    datetime: str | None = Field(
        None,
        max_length=100,
        description="时间 stations updated (`updated_at`) at an instant or in an interval: `2026-11-30T08:00:00Z`, "
        "`2026-11-30` (a day in Asia/Shanghai), `2026-11-01/..`, `../2026-11-30T12:00:00+08:00`, `../..`",
    )
    limit: int = Field(10, ge=1, le=2**31, description=f"每页数量 page size; values above {OGC_MAX_LIMIT} are clamped")
    offset: int = Field(0, ge=0, le=2**31, description="跳过条数 skip this many")
    f: Literal["json", "geojson"] | None = Field(None, description="格式 format: GeoJSON either way")


# -- responses ---------------------------------------------------------------------------


class Out(BaseModel):
    """Base of response models."""

    model_config = ConfigDict(extra="forbid")


class Label(Out):
    """Chinese and English labels."""

    zh: str
    en: str


class Term(Out):
    """A vocabulary entry."""

    key: str
    zh: str
    en: str
    icon: str


class Location(Out):
    """A point in the requested coordinate system."""

    lng: float
    lat: float
    crs: Coord


class LocationWGS84(Out):
    """A point in WGS-84."""

    lng: float
    lat: float


class WeChatOpenLocation(Out):
    """Parameters for wx.openLocation (GCJ-02)."""

    latitude: float
    longitude: float
    name: str
    address: str
    scale: int
    crs: Literal["gcj02"]


class Navigation(Out):
    """One-tap navigation targets."""

    wechat_open_location: WeChatOpenLocation
    amap: str = Field(description="AMap URI (GCJ-02)")
    baidu: str = Field(description="Baidu URI (BD-09, coord_type=bd09ll)")
    tencent: str = Field(description="Tencent URI (GCJ-02)")


class StationOut(Out):
    """A station as the API returns it (locator.serialize.station_json)."""

    id: str
    name: str
    type: str
    type_label: Label | None
    district: str | None
    district_name: str | None
    address: str
    location: Location
    location_wgs84: LocationWGS84
    amenities: list[Term]
    hours: str
    hours_text: str
    open_now: bool
    next_open: str | None = Field(description="ISO 8601 date-time of the next opening while closed")
    status: StatusKey
    status_label: str
    closed_until: str | None
    contact: str | None
    operator: str | None
    provenance: str
    approximate: bool
    note: str | None
    updated_at: str | None
    verified_at: str | None = Field(
        description="信息更新于: when the information was last checked (an organizer's or keeper's confirmation, an "
        "edit, an import row), else the last change (ISO 8601, UTC)"
    )
    version: int
    distance_m: float | None = Field(
        None,
        description="WGS-84 geodesic distance in metres from the query point (Karney's algorithm; "
        "nearest search, or one station with lat/lng)",
    )
    navigation: Navigation | None = None


class NearestEcho(Out):
    """The query as understood."""

    coord: Coord
    k: int
    radius_m: float | None
    distance: str
    at: str


class NearestResponse(Out):
    """Stations ordered by distance."""

    query: NearestEcho
    count: int
    stations: list[StationOut]
    sample_data: bool
    message: str | None = Field(None, description="present when nothing lies within `radius_m`")
    nearest_outside_radius: StationOut | None = None


class Link(Out):
    """A web link (OGC / RFC 8288 style)."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class StationPage(Out):
    """One page of the catalogue."""

    count: int = Field(description="stations on this page")
    total: int = Field(description="stations matching the filters")
    limit: int
    offset: int
    stations: list[StationOut]
    next: str | None = Field(description="URL of the next page (cursor), null on the last page")
    links: list[Link]
    sample_data: bool


class PointGeometry(Out):
    """A GeoJSON Point."""

    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=3)


class AreaGeometry(Out):
    """A GeoJSON Polygon or MultiPolygon."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


class Feature(Out):
    """A GeoJSON Feature."""

    type: Literal["Feature"]
    id: str
    geometry: PointGeometry | AreaGeometry | None
    properties: dict[str, Any]
    links: list[Link] | None = None


class FeatureCollection(Out):
    """A GeoJSON FeatureCollection (with OGC paging members)."""

    type: Literal["FeatureCollection"]
    features: list[Feature]
    links: list[Link] | None = None
    numberMatched: int | None = None
    numberReturned: int | None = None
    timeStamp: str | None = None
    next: str | None = None
    sample_data: bool | None = None


class DistrictOut(Out):
    """A district with its station counts."""

    code: str
    name: str
    name_en: str
    stations: int = Field(description="stations not permanently closed (temporarily closed ones included)")
    paused: int = Field(description="of those, temporarily closed (暂停) today")
    by_type: dict[str, int]
    bbox: list[float] = Field(min_length=4, max_length=4)


class DistrictsResponse(Out):
    """Districts and counts."""

    count: int
    districts: list[DistrictOut]
    outside_districts: int = Field(description="stations outside every district")
    sample_data: bool


class Vocabulary(Out):
    """Controlled vocabularies with labels."""

    types: list[Term]
    amenities: list[Term]
    statuses: list[Term]
    coords: list[Term]


class ProblemOut(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = Field(None, description="what went wrong, in English, for developers")
    detail_zh: str = Field(description="同一问题的中文说明，可直接显示给用户 (always present: Chinese, for users)")
    parameter: str | None = Field(None, description="the query parameter at fault")


class OutsideServiceAreaProblem(ProblemOut):
    """422 from the nearest search: the point lies too far from the service area."""

    detail_zh: str = Field(description="为骑手显示的中文说明：不在服务范围内，距离多远")
    distance_km: float = Field(description="about how far the point lies from the service area (km)")
    max_distance_km: float = Field(description="the limit (LOCATOR_MAX_QUERY_DISTANCE_KM)")


class Health(Out):
    """Liveness."""

    status: str


class Ready(Out):
    """Readiness."""

    status: str
    stations: int
    data_version: int


class Landing(Out):
    """OGC landing page."""

    title: str
    description: str
    links: list[Link]


class Conformance(Out):
    """OGC conformance declaration."""

    conformsTo: list[str]


class Extent(Out):
    """OGC collection extent: spatial (bbox rounded outward) and, for stations, temporal (updated_at)."""

    spatial: dict[str, Any]
    temporal: dict[str, Any] | None = None


class Collection(Out):
    """OGC collection description."""

    id: str
    title: str
    description: str
    links: list[Link]
    extent: Extent
    itemType: Literal["feature"]
    crs: list[str]


class Collections(Out):
    """OGC collections."""

    links: list[Link]
    collections: list[Collection]


class StationQuery(Query):
    """GET /api/v1/stations/{id}."""

    coord: Coord = Field("wgs84", description="坐标系 coordinate system of the returned location (and of lat/lng)")
    lat: float | None = Field(
        None, ge=-90, le=90, description="你的纬度 your latitude (with lng): adds `distance_m`", **Finite
    )
    lng: float | None = Field(
        None, ge=-180, le=180, description="你的经度 your longitude (with lat): adds `distance_m`", **Finite
    )
    f: Literal["json", "geojson"] | None = Field(None, description="格式 format: json (default) or geojson")


class JssdkConfigQuery(Query):
    """Query of the WeChat JS-SDK configuration endpoint."""

    url: str = Field(
        ...,
        min_length=1,
        max_length=2048,
        description="页面地址 the page's own URL (http/https, this site's host; any #fragment is removed)",
    )


class JssdkConfig(Out):
    """The parameters of wx.config()."""

    appId: str
    timestamp: int
    nonceStr: str
    signature: str
    url: str


# -- the organizer API (/api/v1/admin, bearer token) -------------------------------------------

FormatName = Literal["xlsx", "csv", "geojson", "kml", "gpkg"]


class StationRecord(Out):
    """A station's stored fields and its version (the ETag); lng/lat in WGS-84."""

    id: str
    name: str
    type: str
    district: str | None
    address: str
    lng: float
    lat: float
    amenities: list[str]
    hours: str
    contact: str | None
    operator: str | None
    status: StatusKey
    closed_until: str | None = Field(description="YYYY-MM-DD, for temporarily_closed")
    provenance: str
    approximate: bool
    note: str | None
    location_confirmed: bool
    verified_at: str | None = Field(
        description="when the information was last checked, Asia/Shanghai with its offset; null: never since "
        "the field existed (the last change counts)"
    )
    version: int


class StationInput(BaseModel):
    """A station to create or replace: labels (Chinese or English) or keys; lng/lat in WGS-84 or ?crs=."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(None, max_length=64, description="omitted on create: a new id is made")
    name: str = Field(max_length=120)
    type: str = Field(description="station type key or label, e.g. rider_station or 骑手驿站")
    lng: float = Field(ge=-180, le=180, **Finite)
    lat: float = Field(ge=-90, le=90, **Finite)
    district: str | None = Field(None, description="district code; derived from the location when omitted")
    address: str | None = None
    amenities: list[str] | None = None
    hours: str | None = Field(None, description="e.g. Mo-Su 08:00-20:00 or 24/7")
    contact: str | None = None
    operator: str | None = None
    status: StatusKey | None = None
    closed_until: str | None = None
    approximate: bool | None = None
    note: str | None = None


class AdminCreateQuery(Query):
    """POST /api/v1/admin/stations."""

    crs: Coord | None = Field(None, description="坐标系 system of the body's lng/lat (default WGS-84)")


class AuditQuery(Query):
    """GET /api/v1/admin/audit."""

    station_id: str | None = Field(None, description="只看此站点 only this station's history")
    format: Literal["json", "csv"] | None = Field(None, description="json (default) or csv")


class AuditEntry(Out):
    """One change in the audit trail."""

    id: int
    station_id: str
    action: str
    actor: str
    via: str
    at: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditTrail(RootModel[list[AuditEntry]]):
    """The audit trail, newest first."""


class ExportQuery(Query):
    """GET /api/v1/admin/export."""

    format: FormatName | None = Field(None, description="文件格式 file format (default geojson)")
    district: list[DistrictCode] = Field(default_factory=list, description="区县代码 only these districts")
    type: list[TypeKey] = Field(default_factory=list, description="站点类型 only these types")
    crs: Coord | None = Field(
        None, description="坐标系 gcj02/bd09 only with csv or xlsx (GeoJSON, KML, GeoPackage are WGS-84): else 400"
    )


class ImportForm(BaseModel):
    """POST /api/v1/admin/import (multipart/form-data)."""

    file: bytes = Field(description="the roster file (.xlsx, .csv, .geojson, .kml, .gpkg)")
    crs: Coord = Field(description="坐标系 system of the file's coordinates (headers like 经度(GCJ-02) win)")
    format: FormatName | None = Field(None, description="default: from the file name")
    layer: str | None = Field(None, description="GeoPackage layer (default: 'stations', else the only point layer)")
    replace: Literal["0", "1", "true", "false"] | None = Field(None, description="make the roster exactly the file")
    dry_run: Literal["0", "1", "true", "false"] | None = Field(None, description="preview only; write nothing")
    preview_token: str | None = Field(None, description="commit only what this preview showed (409 otherwise)")


class ImportRowError(Out):
    """One row error: where (row as the spreadsheet shows it, column as written in the file) and what."""

    row: int | None = Field(description="the row as the file's program shows it (a spreadsheet's header is row 1)")
    column: str | None = Field(
        description="the column's header as written in the uploaded file (null: not a column, e.g. a GeoJSON geometry)"
    )
    field: str = Field(description="the station field at fault (name, lng, lat, location, district, …)")
    message: str = Field(description="English, for developers")
    message_zh: str = Field(description="中文：哪里不对、怎样改正 (Chinese: what is wrong and how to fix it)")


class ImportCounts(Out):
    """How many stations the import adds, changes, closes, removes, leaves; how many errors."""

    added: int
    changed: int
    closed: int
    removed: int
    unchanged: int
    errors: int


class ImportPreviewOut(Out):
    """What committing the file would do (dry_run), and every row error."""

    ok: bool
    preview_token: str
    data_version: int
    rows: int
    counts: ImportCounts
    added: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    closed: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    errors: list[ImportRowError]


class ImportSummary(Out):
    """What a committed import did."""

    added: int
    changed: int
    removed: int
    unchanged: int
    ids: dict[str, list[str]]


class ImportDone(Out):
    """A committed import."""

    ok: bool
    summary: ImportSummary
    data_version: int


class ImportAnswer(RootModel[ImportPreviewOut | ImportDone]):
    """A preview (dry_run) or a committed import."""


# -- riders' reports and confirmations (issue 16) -------------------------------------------------

ReportKind = Literal["closed", "moved", "wrong_location", "amenities", "other"]


class ReportInput(BaseModel):
    """POST /api/v1/stations/{station_id}/reports: what is wrong, and an optional short note."""

    model_config = ConfigDict(extra="forbid")

    kind: ReportKind = Field(
        description="问题类型: closed 已关闭, moved 搬走了, wrong_location 位置不对, amenities 设施不符, other 其他"
    )
    note: str | None = Field(
        None,
        max_length=200,
        description="补充说明 (optional, at most 200 characters; phone numbers, ID numbers and e-mail addresses "
        "are hidden before it is stored)",
    )


class ReportCreated(Out):
    """A stored report (anonymous: nothing about the sender is kept)."""

    id: int
    station_id: str
    kind: ReportKind
    message_zh: str = Field(description="为骑手显示的感谢语")


class ConfirmationAccepted(Out):
    """A counted "这里可用" confirmation (written to the station's daily count within a minute or so)."""

    station_id: str
    day: str = Field(description="the day it counts for (Asia/Shanghai)")
    message_zh: str = Field(description="为骑手显示的感谢语")


class ReportsQuery(Query):
    """GET /api/v1/admin/reports."""

    district: list[DistrictCode] = Field(
        default_factory=list, description="区县代码 only these districts (within the caller's own)"
    )


class ReportGroupOut(Out):
    """The open reports of one kind for one station."""

    id: int = Field(description="the newest report's id: resolving it closes the whole group")
    kind: ReportKind
    kind_zh: str
    count: int
    report_ids: list[int]
    first_reported: str = Field(description="ISO 8601, to the hour")
    last_reported: str = Field(description="ISO 8601, to the hour")
    notes: list[str]


class StationReportsOut(Out):
    """A station with open reports."""

    station_id: str
    name: str | None = Field(description="null when the station has been deleted since")
    district: str | None
    district_name: str | None
    open_reports: int
    last_reported: str
    groups: list[ReportGroupOut]


class ReportQueue(Out):
    """Open reports grouped by station, the most recently reported station first."""

    count: int = Field(description="stations with open reports")
    stations: list[StationReportsOut]


class ResolutionInput(BaseModel):
    """POST /api/v1/admin/reports/{report_id}/resolve."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["applied", "dismissed"] = Field(
        description="applied 已处理 (the station was changed: an ordinary edit), dismissed 不予处理"
    )
    note: str | None = Field(None, max_length=500, description="处理说明 (optional)")


class ResolutionOut(Out):
    """What a resolution closed."""

    station_id: str
    kind: ReportKind
    action: Literal["applied", "dismissed"]
    resolved: list[int] = Field(description="ids of the reports closed (the group, up to the given id)")
