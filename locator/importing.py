"""Roster import: plan → preview → commit. Plain Python (no Flask).

Every way in (the CLI `import`, the admin pages, the token API) takes the same three steps:

1. **plan**: read the file with its Format, convert coordinates from the declared system to
   WGS-84 (once, here), validate every row; nothing is written.
2. **preview**: compare the plan with the roster: what would be added, changed, closed, removed,
   every row error, and every row warning (a location on the water: worth checking, but it
   imports). A preview is bound to the exact file (SHA-256 of its bytes), its options and the
   roster's data version (its token).
3. **commit**: apply a preview in one transaction, all or nothing, and only while the roster is
   still at the previewed version.

The admin pages keep an uploaded file between preview and commit in an UploadStaging folder (one
machine, SQLite), or in PostgreSQL for every app server (store/shared.py `SharedUploadStaging`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from locator.accounts import User
from locator.coords import CRS, to_wgs84
from locator.errors import LocatorError
from locator.formats import FORMATS, FileInvalid, Format
from locator.formats.base import MAX_ROWS, canonical_row, field_of, reader_message_zh, too_many_rows
from locator.roster import Roster
from locator.stations import (
    PAIR_FIELDS,
    CoordinateError,
    FieldError,
    FieldWarning,
    ServiceArea,
    Station,
    StationInvalid,
    crs_hint_zh,
    read_coordinate,
    split_pair,
    validate_station,
)
from locator.store.base import Conflict, ReplaceSummary, StationQuery, unclaimed
from locator.store.shared import STAGING_KEEP_S, STAGING_MAX_BYTES, is_digest


class StaleImport(LocatorError):
    """The file or the roster changed since the preview: preview again."""

    http_status = 409
    title = "Conflict"
    detail_zh = "预览之后名册已被修改（或文件不同）：请重新预览后再确认导入。"


class ImportHasErrors(LocatorError):
    """The file has row errors: nothing is imported."""

    http_status = 422
    title = "Invalid file"

    def __init__(self, result: Preview):
        self.preview = result
        super().__init__(f"the file has {len(result.errors)} error(s): nothing was imported")
        self.detail_zh = f"文件中有 {len(result.errors)} 处错误，没有导入任何数据：请按逐行说明修改后重新上传。"

    def problem(self) -> dict[str, Any]:
        """Every row error."""
        return {"errors": self.preview.as_json()["errors"]}


Progress = Callable[[str, int, int | None], None]  # (stage, done, total or None)
PROGRESS_EVERY = 500  # rows between progress reports


def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


# -- plan ---------------------------------------------------------------------------------------


@dataclass
class ImportPlan:
    """What a file holds: valid stations, and every error by row and field."""

    stations: list[Station] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    rows: int = 0
    row_of: dict[str, int] = field(default_factory=dict)  # station id -> its row in the file
    # Ids of the rows that say whether their location is confirmed (the column may be absent).
    confirmation_given: set[str] = field(default_factory=set)
    columns: dict[str, str] = field(default_factory=dict)  # field -> its header as written in the file

    def column_of(self, field_name: str) -> str | None:
        """The column(s) of the file that hold a field, as the user wrote them (None: not a column)."""
        pair = next((self.columns[k] for k in PAIR_FIELDS if k in self.columns), None)
        if field_name == "location":
            if "lng" in self.columns and "lat" in self.columns:
                return f"{self.columns['lng']}、{self.columns['lat']}"
            return pair
        if field_name in ("lng", "lat", "coordinates") and field_name not in self.columns:
            return pair
        return self.columns.get(field_name)


def station_id_for_name(name: str) -> str:
    """A stable id for a row that has none: the same name always gives the same id."""
    return "n-" + hashlib.sha256(name.strip().encode("utf-8")).hexdigest()[:12]


def _coordinate_or_none(value: Any) -> float | None:
    """A coordinate cell as a finite number if it reads as one (full-width, degrees-minutes-seconds…)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number, _ = read_coordinate(value)
    except CoordinateError:
        return None
    return number if math.isfinite(number) else None


def crs_labels_zh() -> dict[CRS, str]:
    """The coordinate systems as organizers know them (where their coordinates were copied from)."""
    return {
        CRS.WGS84: "WGS-84（卫星定位、天地图）",
        CRS.GCJ02: "GCJ-02（高德地图、腾讯地图）",
        CRS.BD09: "BD-09（百度地图）",
    }


def _districts_lookup(area: ServiceArea, points: list[tuple[float, float]], roster: Roster):
    """district_of for these points answered from one vectorised lookup (10,000 rows: one STRtree query)."""
    if not points:
        return area
    xs = np.fromiter((p[0] for p in points), float, len(points))
    ys = np.fromiter((p[1] for p in points), float, len(points))
    found = dict(zip(points, roster.districts.districts_of(xs, ys).tolist(), strict=True))
    slow = area.district_of

    def district_of(lng: float, lat: float) -> str | None:
        key = (lng, lat)
        return found[key] if key in found else slow(lng, lat)

    return dataclasses.replace(area, district_of=district_of)


def plan(
    roster: Roster,
    data: bytes,
    fmt: Format,
    crs: CRS,
    layer: str | None = None,
    progress: Progress = _no_progress,
) -> ImportPlan:
    """Read and validate a roster file (coordinates in `crs`; `layer` of a GeoPackage); nothing is written.

    Coordinate headers that name their system (经度(GCJ-02), as CSV/XLSX exports write them) win over `crs`.
    Every error names the column as written in the file's header and the row as the user sees it.
    """
    result = ImportPlan()
    names_to_code = {d.name: d.code for d in roster.districts.districts}
    pending: list[tuple[int, dict[str, Any], tuple[float, float, CRS] | None]] = []
    points: list[tuple[float, float]] = []
    if fmt.precheck is not None:
        # A file beyond the row limit is refused in a second, not after minutes of validating 200,000 rows.
        fmt.precheck(data)
    for number, raw in fmt.read(data, layer):
        result.rows += 1
        if result.rows > MAX_ROWS:
            raise too_many_rows(number)
        if result.rows % PROGRESS_EVERY == 0:
            progress("read", result.rows, None)
        if "__error__" in raw:
            message = str(raw["__error__"])
            header = raw.get("__field__")
            target = field_of(str(header)) if header else None
            result.errors.append(
                FieldError(
                    target or "geometry",
                    message,
                    row=number,
                    message_zh=reader_message_zh(message) or "这一行无法读取：请检查这一行的内容。",
                    column=str(header) if header else None,
                )
            )
            continue
        row, _unknown = canonical_row(raw, result.columns)
        row_crs = row.pop("crs", None) or crs
        if isinstance(row.get("district"), str) and row["district"].strip() in names_to_code:
            row["district"] = names_to_code[row["district"].strip()]
        if not row.get("id") and isinstance(row.get("name"), str) and row["name"].strip():
            # A row without an id gets one derived from its name: importing the file again
            # matches the same stations instead of adding copies.
            row["id"] = station_id_for_name(row["name"])
        split_pair(row)
        x, y = _coordinate_or_none(row.get("lng")), _coordinate_or_none(row.get("lat"))
        written = None
        if x is not None and y is not None and -180 <= x <= 180 and -90 <= y <= 90:
            written = (x, y, row_crs)
            if row_crs is not CRS.WGS84:
                x, y = (float(v) for v in to_wgs84(x, y, row_crs))
            row["lng"], row["lat"] = x, y
            points.append((round(x, 7), round(y, 7)))
        pending.append((number, row, written))
    if result.rows == 0:
        raise FileInvalid("the file holds no stations", "文件里没有站点：第一行应是表头，下面每行一个站点。")
    progress("read", result.rows, result.rows)
    if fmt.name not in ("csv", "xlsx"):  # coordinates from the geometry: no column of that name
        for key in ("lng", "lat"):
            if result.columns.get(key) in ("lng", "lat"):
                del result.columns[key]
    area = _districts_lookup(roster.area, points, roster)
    labels = crs_labels_zh()
    seen: dict[str, int] = {}
    for done, (number, row, written) in enumerate(pending, start=1):
        if done % PROGRESS_EVERY == 0:
            progress("check", done, len(pending))
        if written is not None:
            row["lng"], row["lat"] = round(row["lng"], 7), round(row["lat"], 7)
        try:
            station = validate_station(row, area, row=number, default_provenance="import")
        except StationInvalid as exc:
            for error in exc.errors:
                error.column = result.column_of(error.field)
                if error.field == "location" and written is not None:
                    hint = crs_hint_zh(area, written[0], written[1], written[2], labels)
                    if hint:
                        error.message_zh = error.message_zh.removesuffix("请核对坐标。") + hint
            result.errors.extend(exc.errors)
            continue
        if station.id in seen:
            message = f"duplicate station {station.id!r} ({station.name}): first on row {seen[station.id]}"
            result.errors.append(
                FieldError(
                    "id",
                    message,
                    row=number,
                    message_zh=f"与第 {seen[station.id]} 行是同一个站点（同一编号或同一名称）：请删除重复的一行。",
                    column=result.column_of("id") or result.column_of("name"),
                )
            )
            continue
        seen[station.id] = number
        result.row_of[station.id] = number
        if row.get("location_confirmed") not in (None, ""):
            result.confirmation_given.add(station.id)
        result.stations.append(station)
    progress("check", len(pending), len(pending))
    return result


# -- preview ------------------------------------------------------------------------------------


@dataclass
class Change:
    """One station the import would change, with its field differences (old, new)."""

    station_id: str
    name: str
    diffs: dict[str, tuple[Any, Any]]

    def as_json(self) -> dict[str, Any]:
        """For the JSON API."""
        return {
            "id": self.station_id,
            "name": self.name,
            "diffs": {k: {"old": o, "new": n} for k, (o, n) in self.diffs.items()},
        }


@dataclass
class Preview:
    """What committing the file would do, and every row error."""

    token: str
    data_version: int
    rows: int
    replace: bool
    added: list[Station] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    closed: list[Change] = field(default_factory=list)
    removed: list[Station] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldWarning] = field(default_factory=list)  # worth checking; they do not stop the import
    stations: list[Station] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file can be committed (warnings do not stop it)."""
        return not self.errors

    @property
    def changes_anything(self) -> bool:
        """False when committing would write nothing: the roster already holds the file as it is."""
        return bool(self.added or self.changed or self.closed or self.removed)

    def report(self) -> list[str]:
        """One Chinese line per error: 第 5 行「纬度」120.8102 不在 -90～90 之间：经度和纬度是否填反了？"""
        return [e.text_zh() for e in self.errors]

    def warning_report(self) -> list[str]:
        """One Chinese line per warning: row, column, message."""
        return [(f"第 {w.row} 行" if w.row is not None else "") + f"「{w.label}」{w.message}" for w in self.warnings]

    def as_json(self) -> dict[str, Any]:
        """The preview as the API returns it."""
        return {
            "ok": self.ok,
            "preview_token": self.token,
            "data_version": self.data_version,
            "rows": self.rows,
            "counts": {
                "added": len(self.added),
                "changed": len(self.changed),
                "closed": len(self.closed),
                "removed": len(self.removed),
                "unchanged": len(self.unchanged),
                "errors": len(self.errors),
                "warnings": len(self.warnings),
            },
            "added": [{"id": s.id, "name": s.name, "district": s.district} for s in self.added],
            "changed": [c.as_json() for c in self.changed],
            "closed": [c.as_json() for c in self.closed],
            "removed": [{"id": s.id, "name": s.name, "district": s.district} for s in self.removed],
            "errors": [
                {"row": e.row, "column": e.column, "field": e.field, "message": e.message, "message_zh": e.message_zh}
                for e in self.errors
            ],
            "warnings": [
                {"row": w.row, "column": w.column, "field": w.field, "message": w.message, "code": w.code}
                for w in self.warnings
            ],
        }


def preview_token(
    data: bytes, fmt: Format, crs: CRS, replace: bool, data_version: int, layer: str | None = None
) -> str:
    """Binds a preview to the file's bytes, the options (layer included) and the roster version."""
    digest = hashlib.sha256(data).hexdigest()
    token = f"{digest}.{fmt.name}.{crs.value}.{int(replace)}.{data_version}"
    if layer:
        token += "." + hashlib.sha256(layer.encode("utf-8")).hexdigest()[:12]
    return token


def _user_scope(user: User) -> StationQuery | None:
    """The part of the roster a replacing import by `user` covers (None: all of it)."""
    districts = user.scope_districts
    return None if districts is None else StationQuery(districts=districts)


def _diffs(old: Station, new: Station) -> dict[str, tuple[Any, Any]]:
    a, b = old.record(), new.record()
    return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


def preview(
    roster: Roster,
    data: bytes,
    fmt: Format,
    crs: CRS,
    *,
    user: User,
    replace: bool,
    layer: str | None = None,
    progress: Progress = _no_progress,
) -> Preview:
    """Plan the file and compare it with the roster (within the user's scope); writes nothing."""
    if not data.strip():
        raise FileInvalid("the file is empty", "文件是空的。")
    version = roster.store.data_version()
    planned = plan(roster, data, fmt, crs, layer, progress)
    progress("compare", len(planned.stations), None)
    result = Preview(preview_token(data, fmt, crs, replace, version, layer), version, planned.rows, replace)
    result.errors.extend(planned.errors)
    names = {d.code: d.name for d in roster.districts.districts}
    yours = "、".join(names.get(c, c) for c in user.districts) or "无"
    rows_by_id = {}
    for s in planned.stations:
        if not user.may_edit_district(s.district):
            result.errors.append(
                FieldError(
                    "district",
                    f"station {s.name!r} lies in district {s.district}, outside your districts",
                    row=planned.row_of.get(s.id),
                    message_zh=f"“{s.name}”位于{names.get(s.district or '', '温州市区县以外')}，"
                    f"不在您负责的区县（{yours}）内：请删除这一行，或请市级管理员导入。",
                    column=planned.column_of("district") or planned.column_of("location"),
                )
            )
        rows_by_id[s.id] = s
    ids = tuple(rows_by_id)
    existing = {s.id: s for s in roster.store.list(StationQuery(ids=ids))} if ids else {}
    # A file without the confirmation column keeps an organizer's confirmation of an unmoved station.
    result.stations = [_keep_confirmation(s, existing.get(s.id), planned.confirmation_given) for s in planned.stations]
    _add_warnings(roster, result, planned)
    for sid, old in existing.items():
        if not user.may_edit_district(old.district):
            result.errors.append(
                FieldError(
                    "id",
                    f"station {sid!r} ({old.name}) belongs to district {old.district}, outside your scope",
                    row=planned.row_of.get(sid),
                    message_zh=f"名册中的“{old.name}”属于{names.get(old.district or '', '其他区县')}，"
                    f"不在您负责的区县（{yours}）内，不能修改：请删除这一行。",
                    column=planned.column_of("id") or planned.column_of("name"),
                )
            )
    for s in result.stations:
        old = existing.get(s.id)
        if old is None:
            result.added.append(s)
            continue
        # A row that claims no check (no 核实时间, or the exported one untouched) is compared on its other
        # fields; committed, a change is stamped with the import's time (store/base.py).
        diffs = _diffs(old, unclaimed(s, old))
        if not diffs:
            result.unchanged.append(s.id)
        elif s.status != "open" and old.status == "open":
            result.closed.append(Change(s.id, s.name, diffs))
        else:
            result.changed.append(Change(s.id, s.name, diffs))
    if replace:
        for old in roster.store.list(_user_scope(user) or StationQuery()):
            if old.id not in rows_by_id:
                result.removed.append(old)
    result.errors.sort(key=lambda e: (e.row or 0, e.field))
    result.warnings.sort(key=lambda w: (w.row or 0, w.field))
    _remember((result.token, user), result)
    return result


def _add_warnings(roster: Roster, result: Preview, planned: ImportPlan) -> None:
    """Roster.warnings for the stations the land mask questions (one vectorised test for all of them)."""
    unconfirmed = [s for s in result.stations if not s.location_confirmed]
    if not unconfirmed:
        return
    lng = np.fromiter((s.lng for s in unconfirmed), float, len(unconfirmed))
    lat = np.fromiter((s.lat for s in unconfirmed), float, len(unconfirmed))
    for i in np.flatnonzero(roster.land.offshore_many(lng, lat)).tolist():
        station = unconfirmed[i]
        for warning in roster.warnings(station, row=planned.row_of.get(station.id)):
            warning.column = planned.column_of(warning.field)
            result.warnings.append(warning)


def _keep_confirmation(new: Station, old: Station | None, given: set[str]) -> Station:
    """`new`, confirmed if the file is silent about it and `old` was confirmed at the same place."""
    if old is None or new.id in given or new.location_confirmed or not old.location_confirmed:
        return new
    if (old.lng, old.lat) != (new.lng, new.lat):
        return new  # moved: the confirmation was for the old place
    return dataclasses.replace(new, location_confirmed=True)


_RECENT: OrderedDict[tuple, Preview] = OrderedDict()  # last previews, so a commit need not re-validate
_RECENT_MAX = 4
_RECENT_LOCK = threading.Lock()


def _remember(key: tuple, result: Preview) -> None:
    with _RECENT_LOCK:
        _RECENT[key] = result
        while len(_RECENT) > _RECENT_MAX:
            _RECENT.popitem(last=False)


def _recall(key: tuple) -> Preview | None:
    with _RECENT_LOCK:
        return _RECENT.get(key)


# -- commit -------------------------------------------------------------------------------------


def apply(roster: Roster, checked: Preview, *, user: User, bound: bool = True) -> ReplaceSummary:
    """Write a preview in one transaction (ImportHasErrors if it has errors).

    With `bound`, the write refuses (StaleImport) if the roster moved past the previewed version.
    """
    if not checked.ok:
        raise ImportHasErrors(checked)
    stations = checked.stations
    scope = _user_scope(user) if checked.replace else StationQuery(ids=tuple(s.id for s in stations))
    try:
        return roster.store.replace_all(
            stations,
            actor=user.name,
            via="import",
            scope=scope,
            # Checked inside the write transaction: a save landing after the preview makes the
            # commit refuse rather than overwrite it.
            expected_data_version=checked.data_version if bound else None,
        )
    except Conflict as exc:
        raise StaleImport(str(exc)) from None


def commit(
    roster: Roster,
    data: bytes,
    fmt: Format,
    crs: CRS,
    *,
    user: User,
    replace: bool,
    token: str | None,
    layer: str | None = None,
) -> ReplaceSummary:
    """Apply the file if it still matches the preview `token` (None: no preview was shown)."""
    return commit_checked(roster, data, fmt, crs, user=user, replace=replace, token=token, layer=layer)[0]


def commit_checked(
    roster: Roster,
    data: bytes,
    fmt: Format,
    crs: CRS,
    *,
    user: User,
    replace: bool,
    token: str | None,
    layer: str | None = None,
) -> tuple[ReplaceSummary, Preview]:
    """commit(), also returning the preview it applied (its warnings, for the answer)."""
    stale = "the file or the roster changed since the preview (someone else saved in between): preview again"
    if token is not None and token != preview_token(data, fmt, crs, replace, roster.store.data_version(), layer):
        raise StaleImport(stale)  # before any work: the roster moved since the preview
    checked = recent_preview(roster, data, fmt, crs, user=user, replace=replace, layer=layer)
    if token is not None and token != checked.token:
        raise StaleImport(stale)
    return apply(roster, checked, user=user, bound=token is not None), checked


def recent_preview(
    roster: Roster, data: bytes, fmt: Format, crs: CRS, *, user: User, replace: bool, layer: str | None = None
) -> Preview:
    """The file previewed against the roster now: the preview this process made of the same file, options,
    user and roster version if it is one of the last few (a commit need not validate the file again), else
    a new one."""
    current = preview_token(data, fmt, crs, replace, roster.store.data_version(), layer)
    return _recall((current, user)) or preview(roster, data, fmt, crs, user=user, replace=replace, layer=layer)


# -- upload staging -----------------------------------------------------------------------------


class UploadStaging:
    """Uploaded files kept between a preview page and its commit, named by their SHA-256.

    Previews that may be committed are kept, and so are files once committed (a 确认导入 sent again
    finds the file and is told the roster already matches it; its old token cannot apply twice).
    Files older than a day go, and the folder never holds more than MAX_BYTES: the oldest files are
    evicted first (their preview then asks for the file again).
    """

    KEEP_S = STAGING_KEEP_S  # previews never committed are kept for a day
    MAX_BYTES = STAGING_MAX_BYTES

    def __init__(self, directory: str | Path, max_bytes: int | None = None):
        self.directory = Path(directory)
        self.max_bytes = self.MAX_BYTES if max_bytes is None else max_bytes

    def _path(self, digest: str, fmt: str) -> Path | None:
        if fmt not in FORMATS or not is_digest(digest):
            return None
        return self.directory / f"{digest}.{fmt}"

    def _kept(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of every kept file, oldest first (files removed meanwhile are skipped)."""
        found = []
        for path in self.directory.iterdir():
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            found.append((st.st_mtime, st.st_size, path))
        return sorted(found)

    def save(self, data: bytes, fmt: Format) -> str:
        """Keep an uploaded file; returns its digest. Expired files go, then the oldest beyond the cap."""
        self.directory.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - self.KEEP_S
        kept = []
        for mtime, size, path in self._kept():
            if mtime < cutoff:
                path.unlink(missing_ok=True)
            else:
                kept.append((mtime, size, path))
        digest = hashlib.sha256(data).hexdigest()
        target = self.directory / f"{digest}.{fmt.name}"
        kept = [k for k in kept if k[2] != target]
        total = sum(size for _, size, _ in kept) + len(data)
        for _, size, path in kept:  # oldest first
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
        tmp = target.with_name(f".{target.name}.{threading.get_ident()}")
        tmp.write_bytes(data)
        tmp.replace(target)  # a concurrent load() never reads half a file
        return digest

    def load(self, digest: str, fmt: str) -> bytes | None:
        """The kept file, or None if it expired, was evicted, never existed or changed on disk."""
        path = self._path(digest, fmt)
        if path is None or not path.exists():
            return None
        data = path.read_bytes()
        return data if hashlib.sha256(data).hexdigest() == digest else None

    def discard(self, digest: str, fmt: str) -> None:
        """Forget a kept file (a refused preview's: it cannot be committed)."""
        path = self._path(digest, fmt)
        if path is not None:
            path.unlink(missing_ok=True)
