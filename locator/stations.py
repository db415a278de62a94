"""Stations: the model, its vocabulary and validation. No Flask here.

A station is any service point on the map: a 骑手驿站, a 党建之家, a 示范点 or a
金融服务站. Its location is stored in WGS-84; other systems exist only at the edges
(see coords.py). Opening hours have their own module (hours.py).
"""

from __future__ import annotations

import math
import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from locator.coords import CRS, geodesic_m, to_wgs84
from locator.errors import LocatorError
from locator.hours import TZ, HoursError, OpeningHours, parse_hours, read_hours


@dataclass(frozen=True)
class Term:
    """One entry of a controlled vocabulary, with its labels."""

    key: str
    zh: str
    en: str
    icon: str = ""

    def as_json(self) -> dict[str, str]:
        """The term as the API shows it."""
        return {"key": self.key, "zh": self.zh, "en": self.en, "icon": self.icon}


def _vocabulary(*terms: Term) -> dict[str, Term]:
    return {t.key: t for t in terms}


STATION_TYPES: dict[str, Term] = _vocabulary(
    Term("rider_station", "骑手驿站", "Rider station", "🛵"),
    Term("party_home", "党建之家", "Party-building home", "🏠"),
    Term("demo_site", "示范点", "Demonstration site", "⭐"),
    Term("finance_station", "金融服务站", "Financial service station", "💴"),
)

AMENITIES: dict[str, Term] = _vocabulary(
    Term("rest_seats", "舒心歇脚点", "Rest seats", "🪑"),
    Term("care_point", "暖心关爱点", "Care point", "❤"),
    Term("breakfast", "爱心早餐", "Free breakfast", "🥟"),
    Term("microwave", "微波加热", "Microwave", "♨"),
    Term("fridge", "冰箱储存", "Fridge", "🧊"),
    Term("water", "免费茶饮", "Free water and tea", "🍵"),
    Term("charging", "手机充电", "Phone charging", "🔌"),
    Term("first_aid", "急救药箱", "First-aid kit", "⛑"),
    Term("labour_rights", "维权服务", "Labour-rights help", "⚖"),
    Term("toilet", "卫生间", "Toilet", "🚻"),
    Term("wifi", "无线网络", "Wi-Fi", "📶"),
    Term("rain_gear", "雨具借用", "Rain gear", "☂"),
    Term("battery_swap", "电瓶换电", "Battery swap", "🔋"),
    Term("aed", "AED除颤仪", "AED defibrillator", "💓"),
    Term("legal_aid", "公共法律服务", "Public legal service", "📜"),
    Term("finance_service", "金融服务", "Financial services", "🏦"),
)

STATUSES: dict[str, Term] = _vocabulary(
    Term("open", "正常开放", "Open"),
    Term("temporarily_closed", "暂停开放", "Temporarily closed"),
    Term("closed", "已关闭", "Closed"),
)

PROVENANCES = ("sample", "import", "manual", "api")
PROVENANCE_LABELS = {"sample": "示例数据", "import": "导入", "manual": "手工录入", "api": "接口"}

# What organizers call each field (pages, row errors, the audit trail).
FIELD_LABELS: dict[str, str] = {
    "id": "编号",
    "name": "名称",
    "type": "类型",
    "district": "区县",
    "address": "地址",
    "lng": "经度",
    "lat": "纬度",
    "location": "位置",
    "amenities": "服务设施",
    "hours": "开放时间",
    "contact": "联系电话",
    "operator": "运营单位",
    "status": "状态",
    "closed_until": "暂停至",
    "provenance": "来源",
    "approximate": "位置为示意",
    "note": "备注",
    "location_confirmed": "位置已核对",
    "coordinates": "坐标",
    "geometry": "几何",
    "verified_at": "核实时间",
}

# -- the station -----------------------------------------------------------------------


@dataclass(frozen=True)
class Station:
    """A service point on the map, as stored: location in WGS-84, timestamps in UTC."""

    id: str
    name: str
    type: str
    district: str | None
    address: str
    lng: float
    lat: float
    amenities: tuple[str, ...] = ()
    hours: str = ""
    contact: str | None = None
    operator: str | None = None
    status: str = "open"
    closed_until: date | None = None
    provenance: str = "manual"
    approximate: bool = False
    note: str | None = None
    # An organizer checked a location the shoreline questions (e.g. reclaimed land): no more warnings.
    location_confirmed: bool = False
    # When someone last vouched for this information: an organizer's or keeper's confirmation, an
    # edit, an import row (UTC, whole seconds). None: not since the field existed (see checked_at).
    verified_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def opening_hours(self) -> OpeningHours:
        """The parsed weekly hours."""
        return parse_hours(self.hours)

    def effective_status(self, when: datetime) -> str:
        """The status at `when`: a temporary closure ends after its until-date."""
        if self.status == "temporarily_closed" and self.closed_until is not None:
            if when.astimezone(TZ).date() > self.closed_until:
                return "open"
        return self.status

    def open_now(self, when: datetime) -> bool:
        """Open at `when`: status allows it and the hours cover it."""
        return self.effective_status(when) == "open" and self.opening_hours.is_open(when)

    def next_open(self, when: datetime) -> datetime | None:
        """When the station next opens, or None if it is open now or has no known reopening."""
        status = self.effective_status(when)
        if status == "closed":
            return None
        if status == "temporarily_closed":
            if self.closed_until is None:
                return None
            reopen = datetime.combine(self.closed_until + timedelta(days=1), datetime.min.time(), TZ)
            return reopen if self.opening_hours.is_open(reopen) else self.opening_hours.next_open(reopen)
        return self.opening_hours.next_open(when)

    @property
    def checked_at(self) -> datetime | None:
        """When this information was last vouched for: verified_at, else the record's last change."""
        return self.verified_at or self.updated_at

    def record(self) -> dict[str, Any]:
        """The editable fields as JSON-ready values: the shape of roster files, audit records and diffs."""
        out: dict[str, Any] = {}
        for name in EDITABLE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, datetime):
                value = verified_text(value)
            elif isinstance(value, date):
                value = value.isoformat()
            out[name] = value
        return out

    def same_content(self, other: Station) -> bool:
        """True if both hold the same editable values (versions and timestamps aside)."""
        return self.record() == other.record()


EDITABLE_FIELDS = (
    "id",
    "name",
    "type",
    "district",
    "address",
    "lng",
    "lat",
    "amenities",
    "hours",
    "contact",
    "operator",
    "status",
    "closed_until",
    "provenance",
    "approximate",
    "note",
    "location_confirmed",
    "verified_at",
)


# -- validation ------------------------------------------------------------------------


@dataclass
class FieldError:
    """One problem with one field of one record.

    `message` is English, for developers; `message_zh` says in Chinese what is wrong and how to fix
    it; `column` is the column as written in the header of the file the record came from.
    """

    field: str
    message: str
    row: int | None = None
    message_zh: str = ""
    column: str | None = None

    @property
    def label(self) -> str:
        """The column as the user wrote it, else the field's Chinese name."""
        return self.column or FIELD_LABELS.get(self.field, self.field)

    def text_zh(self) -> str:
        """One Chinese line: 第 5 行「纬度」120.8102 不在 -90～90 之间：经度和纬度是否填反了？"""
        where = f"第 {self.row} 行" if self.row is not None else ""
        return f"{where}「{self.label}」{self.message_zh or self.message}"

    def as_json(self) -> dict[str, Any]:
        """As the API and reports show it."""
        out: dict[str, Any] = {"field": self.field, "message": self.message, "message_zh": self.message_zh}
        if self.row is not None:
            out["row"] = self.row
        if self.column is not None:
            out["column"] = self.column
        return out


@dataclass
class FieldWarning:
    """Something to check in a record that is still valid: it saves and imports (unlike a FieldError)."""

    field: str
    message: str
    row: int | None = None
    code: str = ""  # what kind, for programs: "water"
    column: str | None = None  # the column(s) as written in the file's header

    @property
    def label(self) -> str:
        """The column as the user wrote it, else the field's Chinese name."""
        return self.column or FIELD_LABELS.get(self.field, self.field)

    def as_json(self) -> dict[str, Any]:
        """As the API and reports show it (the message is Chinese: it is written for organizers)."""
        out: dict[str, Any] = {"field": self.field, "message": self.message, "code": self.code}
        if self.row is not None:
            out["row"] = self.row
        if self.column is not None:
            out["column"] = self.column
        return out


class StationInvalid(LocatorError, ValueError):
    """A station record that fails validation; `errors` lists every field at fault."""

    http_status = 422
    title = "Invalid station"

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.detail_zh = "；".join(e.text_zh() for e in errors) or "站点信息有误。"

    def problem(self) -> dict[str, Any]:
        """Every field at fault."""
        return {"errors": [e.as_json() for e in self.errors]}


@dataclass(frozen=True)
class ServiceArea:
    """Where stations may lie: Wenzhou's districts, optionally widened by a bounding box."""

    district_of: Callable[[float, float], str | None]
    known_districts: frozenset[str] = field(default_factory=frozenset)
    extra_bbox: tuple[float, float, float, float] | None = None  # min_lng, min_lat, max_lng, max_lat
    # Metres from a point to the nearest district (0 inside one); None: distances unknown.
    distance_to_districts: Callable[[float, float], float] | None = None
    district_names: Mapping[str, str] = field(default_factory=dict)  # code -> 鹿城区, for messages

    def name(self, code: str | None) -> str:
        """A district's Chinese name for messages (the code when unknown)."""
        return self.district_names.get(code or "", code or "")

    def allows_outside(self, lng: float, lat: float) -> bool:
        """True if a point outside every district is still inside the configured service area."""
        if self.extra_bbox is None:
            return False
        x0, y0, x1, y1 = self.extra_bbox
        return x0 <= lng <= x1 and y0 <= lat <= y1

    def distance_m(self, lng: float, lat: float) -> float:
        """About how far (geodesic metres) a WGS-84 point lies from the service area; 0 inside it."""
        if self.distance_to_districts is None:
            return 0.0
        if self.allows_outside(lng, lat):
            return 0.0
        distance = self.distance_to_districts(lng, lat)
        if distance > 0.0 and self.extra_bbox is not None:
            # The nearest point of a small longitude/latitude box is (nearly) the clamped point.
            x0, y0, x1, y1 = self.extra_bbox
            near = geodesic_m(lng, lat, min(max(lng, x0), x1), min(max(lat, y0), y1))
            distance = min(distance, float(near))
        return distance


VERIFIED_SKEW = timedelta(days=1)  # a verified_at this far ahead of now is a mistake, not a clock difference


def verified_text(value: datetime) -> str:
    """A verification time as files and records write it: Asia/Shanghai, whole seconds, with its offset."""
    return value.astimezone(TZ).replace(microsecond=0).isoformat()


def parse_verified(value: Any, now: datetime | None = None) -> datetime:
    """A verification time from a file cell or JSON: an ISO date or date-time (no offset: Asia/Shanghai),
    2026/11/30, a date or datetime object; returned in UTC, whole seconds. ValueError otherwise."""
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, date):
        at = datetime.combine(value, datetime.min.time())
    else:
        text = str(value).strip().replace("/", "-")
        try:
            if len(text) > 40:
                raise ValueError
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{str(value)[:40]!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS+08:00)") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=TZ)
    at = at.astimezone(UTC).replace(microsecond=0)
    if at > (now or datetime.now(UTC)) + VERIFIED_SKEW:
        raise ValueError(f"{verified_text(at)} lies in the future")
    return at


MAX_TEXT = {"name": 120, "address": 300, "contact": 80, "operator": 120, "note": 500, "id": 64}
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def new_station_id() -> str:
    """A fresh, URL-safe station id."""
    return "st-" + secrets.token_hex(5)


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")


def _zh_list(labels) -> str:
    return "、".join(labels)


def _text(raw: Mapping[str, Any], name: str, errors: list[FieldError], required: bool) -> str | None:
    value = raw.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        errors.append(FieldError(name, "must be text", message_zh="应填写文字。"))
        return None
    value = str(value).strip()
    if not value:
        if required:
            errors.append(FieldError(name, "is required", message_zh=f"不能为空：请填写{FIELD_LABELS.get(name, '')}。"))
        return None
    limit = MAX_TEXT.get(name, 300)
    if len(value) > limit:
        errors.append(
            FieldError(
                name,
                f"is longer than {limit} characters",
                message_zh=f"太长：有 {len(value)} 个字，最多 {limit} 个字。",
            )
        )
    if _CONTROL.search(value):
        errors.append(
            FieldError(
                name,
                "contains control characters",
                message_zh="含有换行等看不见的控制字符（常见于从网页或聊天中复制）：请删除后重新输入。",
            )
        )
    return value


# -- coordinates as offices paste them ------------------------------------------------------------


class CoordinateError(ValueError):
    """A coordinate that cannot be read; `zh` says why in Chinese."""

    def __init__(self, message: str, zh: str):
        super().__init__(message)
        self.zh = zh


class AmbiguousPair(CoordinateError):
    """Two numbers that could each be the longitude: the user must say which comes first."""

    def __init__(self, first: float, second: float):
        self.first, self.second = first, second
        super().__init__(
            f"cannot tell which of {first} and {second} is the longitude",
            f"无法判断 {_num(first)} 和 {_num(second)} 哪个是经度：请分别填入「经度」「纬度」两列，"
            "或在表头写明顺序（「经纬度」表示经度在前，「纬经度」表示纬度在前）。",
        )


COORDINATE_EXAMPLES_ZH = "请填写 120.6994 这样的小数，或 120°41′58″ 这样的度分秒"
_HEMISPHERES = {
    "E": "lng",
    "W": "lng",
    "N": "lat",
    "S": "lat",
    "东经": "lng",
    "西经": "lng",
    "北纬": "lat",
    "南纬": "lat",
}
_DMS = re.compile(
    r"""^(?P<h1>[NSEW]|东经|西经|北纬|南纬)?\s*
    (?P<deg>[+-]?\d+(?:\.\d+)?)\s*(?P<dsym>°|度|º|˚)?\s*
    (?:(?P<min>\d+(?:\.\d+)?)\s*(?:′|'|’|‘|分)\s*)?
    (?:(?P<sec>\d+(?:\.\d+)?)\s*(?:″|"|”|“|''|′′|秒)\s*)?
    (?P<h2>[NSEW])?$""",
    re.X | re.I,
)
MAX_COORDINATE_TEXT = 60


def _num(value: float) -> str:
    """A number as the user would recognise it: 120.8102, not 120.81 or 1.208102e+02."""
    text = f"{value:.7f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _plain_number_text(text: str) -> str:
    """Full-width digits and punctuation as ASCII (NFKC), spaces trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def read_coordinate(value: Any, axis: str | None = None) -> tuple[float, str | None]:
    """A coordinate as written (120.65, "１２０．６５", "E120°39′12″", "北纬27.99") and the axis its
    hemisphere letter names ("lng"/"lat"/None). CoordinateError if unreadable.

    A west or south hemisphere makes the value negative.
    """
    if isinstance(value, bool):
        raise CoordinateError("must be a number", "应填写数字。")
    if isinstance(value, int | float):
        return float(value), None
    text = _plain_number_text(str(value))
    if len(text) > MAX_COORDINATE_TEXT:
        raise CoordinateError("is too long to be a coordinate", f"太长，不像坐标：{COORDINATE_EXAMPLES_ZH}。")
    try:
        return float(text), None
    except ValueError:
        pass
    m = _DMS.match(text)
    if not m or (m.group("h1") and m.group("h2")):
        raise CoordinateError(f"{str(value)!r} is not a number", f"“{value}”不是坐标：{COORDINATE_EXAMPLES_ZH}。")
    hemi = (m.group("h1") or m.group("h2") or "").upper()
    named = _HEMISPHERES.get(hemi) if hemi else None
    if named is None and hemi:
        named = _HEMISPHERES.get(m.group("h1") or "")
    degrees = float(m.group("deg"))
    minutes = float(m.group("min") or 0)
    seconds = float(m.group("sec") or 0)
    if (m.group("min") or m.group("sec")) and not m.group("dsym"):
        raise CoordinateError(f"{str(value)!r} is not a number", f"“{value}”不是坐标：{COORDINATE_EXAMPLES_ZH}。")
    if minutes >= 60 or seconds >= 60 or ((minutes or seconds) and degrees != int(degrees)):
        raise CoordinateError(
            f"{str(value)!r}: minutes and seconds must be below 60",
            f"“{value}”中的分、秒应小于 60，且有分秒时度数应为整数。",
        )
    number = abs(degrees) + minutes / 60 + seconds / 3600
    if degrees < 0 or hemi in ("W", "S", "西经", "南纬") or (m.group("h1") or "") in ("西经", "南纬"):
        number = -number
    return number, named


def read_pair(value: Any, first: str | None = None) -> tuple[float, float]:
    """(lng, lat) from one cell ("120.65,27.99", "27.99 120.65", "E120°39′ N27°59′").

    Hemisphere letters decide first, then the magnitudes (a value beyond ±90 is the longitude),
    then `first`: which comes first by the column's header ("lng" for 经纬度, "lat" for 纬经度).
    Otherwise AmbiguousPair: the user must choose.
    """
    text = _plain_number_text(str(value))
    parts = [p for p in re.split(r"\s*[,;/|]\s*", text) if p]
    if len(parts) != 2:
        parts = text.split()
    if len(parts) != 2:
        raise CoordinateError(
            f"{str(value)!r} is not a longitude and latitude pair",
            f"“{value}”不是一对坐标：请写成“120.6994,27.9939”（经度在前），或分别填入「经度」「纬度」两列。",
        )
    (a, axis_a), (b, axis_b) = (read_coordinate(p) for p in parts)
    if axis_a == "lat" or axis_b == "lng":
        return b, a
    if axis_a == "lng" or axis_b == "lat":
        return a, b
    if abs(a) > 90 >= abs(b):
        return a, b
    if abs(b) > 90 >= abs(a):
        return b, a
    if first == "lng":
        return a, b
    if first == "lat":
        return b, a
    raise AmbiguousPair(a, b)


PAIR_FIELDS = {"lnglat": "lng", "latlng": "lat", "coordinates": None}  # one-cell coordinates and their order


def split_pair(raw: dict[str, Any]) -> None:
    """Put a one-cell pair (经纬度 120.65,27.99) into lng and lat when those are empty (errors: left to validation)."""
    for key, first in PAIR_FIELDS.items():
        value = raw.get(key)
        if value in (None, "") or raw.get("lng") not in (None, "") or raw.get("lat") not in (None, ""):
            continue
        try:
            raw["lng"], raw["lat"] = read_pair(value, first)
        except CoordinateError:
            return


def _coordinate(raw: Mapping[str, Any], name: str, errors: list[FieldError]) -> float | None:
    """The number in a coordinate field (range checks come later, with both coordinates known)."""
    value = raw.get(name)
    if value is None or value == "" or (isinstance(value, str) and not value.strip()):
        example = "120.6994" if name == "lng" else "27.9939"
        errors.append(
            FieldError(name, "is required", message_zh=f"不能为空：请填写{FIELD_LABELS[name]}，例如 {example}。")
        )
        return None
    try:
        number, named = read_coordinate(value, name)
    except CoordinateError as exc:
        errors.append(FieldError(name, str(exc), message_zh=exc.zh))
        return None
    if not math.isfinite(number):
        errors.append(
            FieldError(
                name,
                "must be a finite number (not NaN or Infinity)",
                message_zh=f"不是有效的坐标：{COORDINATE_EXAMPLES_ZH}。",
            )
        )
        return None
    if named is not None and named != name:
        written = "经度（东经或西经）" if named == "lng" else "纬度（北纬或南纬）"
        errors.append(
            FieldError(
                name,
                f"{value!r} names the other axis",
                message_zh=f"“{value}”写明是{written}，却填在{FIELD_LABELS[name]}一栏：经度和纬度是否填反了？",
            )
        )
        return None
    return number


def _coordinates(raw: Mapping[str, Any], errors: list[FieldError]) -> tuple[float | None, float | None]:
    """Longitude and latitude from lng/lat or a one-cell pair, range-checked with a hint when swapped."""
    if raw.get("lng") in (None, "") and raw.get("lat") in (None, ""):
        for key, first in PAIR_FIELDS.items():
            if raw.get(key) not in (None, ""):
                try:
                    return read_pair(raw[key], first)
                except CoordinateError as exc:
                    errors.append(FieldError("coordinates", str(exc), message_zh=exc.zh))
                    return None, None
    lng = _coordinate(raw, "lng", errors)
    lat = _coordinate(raw, "lat", errors)
    swapped = lng is not None and lat is not None and -90 <= lng <= 90 and -180 <= lat <= 180
    hint = "：经度和纬度是否填反了？" if swapped else "。"
    if lng is not None and not -180 <= lng <= 180:
        errors.append(
            FieldError("lng", f"{lng} is outside -180.0..180.0", message_zh=f"{_num(lng)} 不在 -180～180 之间。")
        )
        lng = None
    if lat is not None and not -90 <= lat <= 90:
        errors.append(
            FieldError("lat", f"{lat} is outside -90.0..90.0", message_zh=f"{_num(lat)} 不在 -90～90 之间{hint}")
        )
        lat = None
    return lng, lat


def crs_hint_zh(area: ServiceArea, x: float, y: float, declared: CRS, labels: Mapping[CRS, str]) -> str:
    """Why a point (x, y as written, in `declared`) may lie outside the area: swapped, or another system.

    '' when no other reading falls inside a district either.
    """
    for crs in CRS:
        if crs is declared:
            continue
        lng, lat = (float(v) for v in to_wgs84(x, y, crs))
        found = area.district_of(lng, lat)
        if found is not None:
            label = labels.get(crs, crs.value)
            return f"如按 {label} 坐标换算，则位于{area.name(found)}：坐标系是否选错了？请改选「{label}」。"
    if -90 <= x <= 90 and -180 <= y <= 180:
        lng, lat = (float(v) for v in to_wgs84(y, x, declared))
        if area.district_of(lng, lat) is not None:
            return "经度和纬度是否填反了？"
    return ""


def _list_of_keys(value: Any) -> list[str] | None:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [p.strip() for p in re.split(r"[,，、;；|/\s]+", value) if p.strip()]
    if isinstance(value, list | tuple):
        if not all(isinstance(v, str) for v in value):
            return None
        return [v.strip() for v in value if v.strip()]
    return None


def _flag(value: Any) -> bool:
    """A yes/no cell: true/false, 1/0, yes/no, 是/否 (anything else, and empty, is no)."""
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return str(value).strip().lower() in ("1", "1.0", "true", "yes", "是", "已核对", "√", "✓")


def _lookup(vocabulary: dict[str, Term]) -> dict[str, str]:
    """Key, Chinese and English label (lower case) -> key."""
    return {name: t.key for t in vocabulary.values() for name in (t.key, t.zh.lower(), t.en.lower())}


_AMENITY_NAMES = _lookup(AMENITIES)
_TYPE_NAMES = _lookup(STATION_TYPES)
TYPE_LABELS_ZH = "、".join(t.zh for t in STATION_TYPES.values())
AMENITY_LABELS_ZH = "、".join(a.zh for a in AMENITIES.values())
STATUS_LABELS_ZH = "、".join(t.zh for t in STATUSES.values())


def amenity_key(label: str) -> str | None:
    """The amenity key for a key, a Chinese or an English label (case-insensitive)."""
    return _AMENITY_NAMES.get(label.strip().lower())


def type_key(label: str) -> str | None:
    """The station-type key for a key, a Chinese or an English label."""
    return _TYPE_NAMES.get(label.strip().lower())


def status_key(label: str) -> str | None:
    """The status key for a key or a Chinese/English label (正常开放, 暂停开放, 已关闭; also 开放/暂停/关闭)."""
    needle = label.strip().lower()
    short = {"开放": "open", "正常": "open", "暂停": "temporarily_closed", "关闭": "closed", "停用": "closed"}
    for term in STATUSES.values():
        if needle in (term.key, term.zh, term.en.lower()):
            return term.key
    return short.get(needle)


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    text = _plain_number_text(str(value))
    m = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", text)
    if not m:
        raise ValueError(text)
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def validate_station(
    raw: Mapping[str, Any],
    area: ServiceArea,
    *,
    row: int | None = None,
    default_provenance: str = "manual",
) -> Station:
    """Check a record (from JSON, a form or a file row; WGS-84) and return the Station it describes.

    Raises StationInvalid listing every field at fault, each with an English message for
    developers and a Chinese one that says how to fix it. The district is derived from the
    location when missing, and must agree with it when given.
    """
    errors: list[FieldError] = []
    sid = _text(raw, "id", errors, required=False)
    if sid is not None and not _ID_RE.match(sid):
        errors.append(
            FieldError(
                "id",
                "may hold only letters, digits, '.', '_' and '-' (max 64)",
                message_zh="只能由英文字母、数字和 . _ - 组成（最多 64 个）；也可以留空，系统按名称生成。",
            )
        )
    name = _text(raw, "name", errors, required=True)
    address = _text(raw, "address", errors, required=False) or ""
    contact = _text(raw, "contact", errors, required=False)
    operator = _text(raw, "operator", errors, required=False)
    note = _text(raw, "note", errors, required=False)

    type_labels = TYPE_LABELS_ZH
    type_raw = raw.get("type")
    stype = type_key(str(type_raw)) if isinstance(type_raw, str) and type_raw.strip() else None
    if not type_raw:
        errors.append(FieldError("type", "is required", message_zh=f"不能为空：可填 {type_labels}。"))
    elif stype is None:
        errors.append(
            FieldError(
                "type",
                f"unknown type {type_raw!r}: use one of {', '.join(STATION_TYPES)}",
                message_zh=f"“{type_raw}”不是站点类型：可填 {type_labels}。",
            )
        )

    amenity_names = _list_of_keys(raw.get("amenities"))
    amenities: list[str] = []
    amenity_labels = AMENITY_LABELS_ZH
    if amenity_names is None:
        errors.append(
            FieldError(
                "amenities",
                "must be a list of amenity keys",
                message_zh=f"应填写设施名称，多个用顿号分隔，例如“微波加热、免费茶饮”。可填：{amenity_labels}。",
            )
        )
    else:
        for a in amenity_names:
            key = amenity_key(a)
            if key is None:
                errors.append(
                    FieldError(
                        "amenities",
                        f"unknown amenity {a!r}",
                        message_zh=f"“{a}”不在服务设施清单中：可填 {amenity_labels}。",
                    )
                )
            elif key not in amenities:
                amenities.append(key)

    hours_raw = raw.get("hours") or ""
    hours = ""
    if not isinstance(hours_raw, str):
        errors.append(
            FieldError(
                "hours",
                "must be text like 'Mo-Su 08:00-22:00' or '24/7'",
                message_zh="应填写文字，例如“周一至周日 08:00-22:00”或“全天”。",
            )
        )
    else:
        try:
            hours = read_hours(hours_raw)
        except HoursError as exc:
            errors.append(FieldError("hours", str(exc), message_zh=exc.zh))

    status_labels = STATUS_LABELS_ZH
    status_raw = str(raw.get("status") or "open").strip()
    status = status_key(status_raw) or status_raw
    if status not in STATUSES:
        errors.append(
            FieldError(
                "status",
                f"unknown status {status_raw!r}: use {', '.join(STATUSES)}",
                message_zh=f"“{status_raw}”不是站点状态：可填 {status_labels}。",
            )
        )
    closed_until = None
    cu = raw.get("closed_until")
    if cu not in (None, ""):
        try:
            closed_until = _date(cu)
        except ValueError:
            errors.append(
                FieldError(
                    "closed_until",
                    f"{cu!r} is not a date (YYYY-MM-DD)",
                    message_zh=f"“{cu}”不是日期：请写成 2027-01-31 或 2027/1/31。",
                )
            )
    if closed_until is not None and status != "temporarily_closed":
        errors.append(
            FieldError(
                "closed_until",
                "applies only to status temporarily_closed",
                message_zh="只有状态为「暂停开放」时才填写暂停至哪天；正常开放的站点请留空。",
            )
        )

    provenance = str(raw.get("provenance") or default_provenance)
    if provenance not in PROVENANCES:
        errors.append(
            FieldError(
                "provenance",
                f"unknown provenance {provenance!r}",
                message_zh=f"“{provenance}”不是已知的来源：可填 {_zh_list(PROVENANCE_LABELS.values())}。",
            )
        )
    approximate = _flag(raw.get("approximate", False))
    location_confirmed = _flag(raw.get("location_confirmed", False))
    verified_at = None
    va = raw.get("verified_at")
    if va not in (None, "") and not (isinstance(va, float) and math.isnan(va)):
        try:
            verified_at = parse_verified(va)
        except ValueError as exc:
            errors.append(FieldError("verified_at", str(exc)))

    lng, lat = _coordinates(raw, errors)
    district = _text(raw, "district", errors, required=False)
    if district and district not in area.known_districts:
        district = next((c for c, n in area.district_names.items() if n == district), district)
    district_known = not (district and area.known_districts and district not in area.known_districts)
    if not district_known:
        names = _zh_list(area.district_names.values()) or _zh_list(sorted(area.known_districts))
        errors.append(
            FieldError(
                "district",
                f"unknown district code {district!r}",
                message_zh=f"“{district}”不是温州市的区县：可填 {names}，也可以留空（按位置判断）。",
            )
        )
    if lng is not None and lat is not None:
        found = area.district_of(lng, lat)
        if found is None:
            if not area.allows_outside(lng, lat):
                errors.append(
                    FieldError(
                        "location",
                        f"({lng:.6f}, {lat:.6f}) lies outside Wenzhou's districts",
                        message_zh=f"（{lng:.6f}，{lat:.6f}）不在温州市的区县范围内：请核对坐标。",
                    )
                )
        elif district and district != found:
            if district_known:  # an unknown code is reported once, above
                errors.append(
                    FieldError(
                        "district",
                        f"the location lies in district {found}, not {district}",
                        message_zh=f"填的是{area.name(district)}，但坐标位于{area.name(found)}：请核对区县或坐标。",
                    )
                )
        else:
            district = found

    if errors:
        for e in errors:
            e.row = row
        raise StationInvalid(errors)
    return Station(
        id=sid or new_station_id(),
        name=name or "",
        type=stype or "",
        district=district,
        address=address,
        lng=round(float(lng), 7),
        lat=round(float(lat), 7),
        amenities=tuple(amenities),
        hours=hours,
        contact=contact,
        operator=operator,
        status=status,
        closed_until=closed_until,
        provenance=provenance,
        approximate=approximate,
        note=note,
        location_confirmed=location_confirmed,
        verified_at=verified_at,
    )
