"""Stations: the model, its vocabulary and validation. No Flask here.

A station is any service point on the map: a 骑手驿站, a 党建之家, a 示范点 or a
金融服务站. Its location is stored in WGS-84; other systems exist only at the edges
(see coords.py). Opening hours have their own module (hours.py).
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from locator.coords import geodesic_m
from locator.errors import LocatorError
from locator.hours import TZ, HoursError, OpeningHours, parse_hours


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
    """One problem with one field of one record."""

    field: str
    message: str
    row: int | None = None

    def as_json(self) -> dict[str, Any]:
        """As the API and reports show it."""
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.row is not None:
            out["row"] = self.row
        return out


@dataclass
class FieldWarning:
    """Something to check in a record that is still valid: it saves and imports (unlike a FieldError)."""

    field: str
    message: str
    row: int | None = None
    code: str = ""  # what kind, for programs: "water"

    def as_json(self) -> dict[str, Any]:
        """As the API and reports show it."""
        out: dict[str, Any] = {"field": self.field, "message": self.message, "code": self.code}
        if self.row is not None:
            out["row"] = self.row
        return out


class StationInvalid(LocatorError, ValueError):
    """A station record that fails validation; `errors` lists every field at fault."""

    http_status = 422
    title = "Invalid station"

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))

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


def _text(raw: Mapping[str, Any], name: str, errors: list[FieldError], required: bool) -> str | None:
    value = raw.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        errors.append(FieldError(name, "must be text"))
        return None
    value = str(value).strip()
    if not value:
        if required:
            errors.append(FieldError(name, "is required"))
        return None
    if len(value) > MAX_TEXT.get(name, 300):
        errors.append(FieldError(name, f"is longer than {MAX_TEXT.get(name, 300)} characters"))
    if any(ord(c) < 32 and c not in "\t" for c in value):
        errors.append(FieldError(name, "contains control characters"))
    return value


def _coordinate(raw: Mapping[str, Any], name: str, lo: float, hi: float, errors: list[FieldError]):
    value = raw.get(name)
    if value is None or value == "":
        errors.append(FieldError(name, "is required"))
        return None
    if isinstance(value, bool):
        errors.append(FieldError(name, "must be a number"))
        return None
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        errors.append(FieldError(name, f"{value!r} is not a number"))
        return None
    if not math.isfinite(number):
        errors.append(FieldError(name, "must be a finite number (not NaN or Infinity)"))
        return None
    if not lo <= number <= hi:
        errors.append(FieldError(name, f"{number} is outside {lo}..{hi}"))
        return None
    return number


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
    return str(value).strip().lower() in ("1", "1.0", "true", "yes", "是")


def amenity_key(label: str) -> str | None:
    """The amenity key for a key, a Chinese or an English label (case-insensitive)."""
    needle = label.strip().lower()
    for term in AMENITIES.values():
        if needle in (term.key, term.zh.lower(), term.en.lower()):
            return term.key
    return None


def type_key(label: str) -> str | None:
    """The station-type key for a key, a Chinese or an English label."""
    needle = label.strip().lower()
    for term in STATION_TYPES.values():
        if needle in (term.key, term.zh.lower(), term.en.lower()):
            return term.key
    return None


def validate_station(
    raw: Mapping[str, Any],
    area: ServiceArea,
    *,
    row: int | None = None,
    default_provenance: str = "manual",
) -> Station:
    """Check a record (from JSON, a form or a file row; WGS-84) and return the Station it describes.

    Raises StationInvalid listing every field at fault. The district is derived from the
    location when missing, and must agree with it when given.
    """
    errors: list[FieldError] = []
    sid = _text(raw, "id", errors, required=False)
    if sid is not None and not _ID_RE.match(sid):
        errors.append(FieldError("id", "may hold only letters, digits, '.', '_' and '-' (max 64)"))
    name = _text(raw, "name", errors, required=True)
    address = _text(raw, "address", errors, required=False) or ""
    contact = _text(raw, "contact", errors, required=False)
    operator = _text(raw, "operator", errors, required=False)
    note = _text(raw, "note", errors, required=False)

    type_raw = raw.get("type")
    stype = type_key(str(type_raw)) if isinstance(type_raw, str) and type_raw.strip() else None
    if not type_raw:
        errors.append(FieldError("type", "is required"))
    elif stype is None:
        errors.append(FieldError("type", f"unknown type {type_raw!r}: use one of {', '.join(STATION_TYPES)}"))

    amenity_names = _list_of_keys(raw.get("amenities"))
    amenities: list[str] = []
    if amenity_names is None:
        errors.append(FieldError("amenities", "must be a list of amenity keys"))
    else:
        for a in amenity_names:
            key = amenity_key(a)
            if key is None:
                errors.append(FieldError("amenities", f"unknown amenity {a!r}"))
            elif key not in amenities:
                amenities.append(key)

    hours_raw = raw.get("hours") or ""
    hours = ""
    if not isinstance(hours_raw, str):
        errors.append(FieldError("hours", "must be text like 'Mo-Su 08:00-22:00' or '24/7'"))
    else:
        try:
            hours = parse_hours(hours_raw).text
        except HoursError as exc:
            errors.append(FieldError("hours", str(exc)))

    status = str(raw.get("status") or "open").strip()
    if status not in STATUSES:
        errors.append(FieldError("status", f"unknown status {status!r}: use {', '.join(STATUSES)}"))
    closed_until = None
    cu = raw.get("closed_until")
    if cu not in (None, ""):
        if isinstance(cu, date):
            closed_until = cu
        else:
            try:
                closed_until = date.fromisoformat(str(cu).strip())
            except ValueError:
                errors.append(FieldError("closed_until", f"{cu!r} is not a date (YYYY-MM-DD)"))
    if closed_until is not None and status != "temporarily_closed":
        errors.append(FieldError("closed_until", "applies only to status temporarily_closed"))

    provenance = str(raw.get("provenance") or default_provenance)
    if provenance not in PROVENANCES:
        errors.append(FieldError("provenance", f"unknown provenance {provenance!r}"))
    approximate = _flag(raw.get("approximate", False))
    location_confirmed = _flag(raw.get("location_confirmed", False))
    verified_at = None
    va = raw.get("verified_at")
    if va not in (None, "") and not (isinstance(va, float) and math.isnan(va)):
        try:
            verified_at = parse_verified(va)
        except ValueError as exc:
            errors.append(FieldError("verified_at", str(exc)))

    lng = _coordinate(raw, "lng", -180.0, 180.0, errors)
    lat = _coordinate(raw, "lat", -90.0, 90.0, errors)
    district = _text(raw, "district", errors, required=False)
    district_known = not (district and area.known_districts and district not in area.known_districts)
    if not district_known:
        errors.append(FieldError("district", f"unknown district code {district!r}"))
    if lng is not None and lat is not None:
        found = area.district_of(lng, lat)
        if found is None:
            if not area.allows_outside(lng, lat):
                errors.append(FieldError("location", f"({lng:.6f}, {lat:.6f}) lies outside Wenzhou's districts"))
        elif district and district != found:
            if district_known:  # an unknown code is reported once, above
                errors.append(FieldError("district", f"the location lies in district {found}, not {district}"))
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
