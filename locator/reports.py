"""What riders tell us about a station: reports (已关闭, 搬走了 …) and "这里可用" confirmations. No Flask.

Reports are anonymous: a kind, an optional short note (phone numbers, ID numbers and e-mail
addresses in it are hidden before it is stored), the station and its district, the hour it came
in. Nothing identifies the rider: no address, no id, no device, no exact time. Reports of one kind
for one station form a group; organizers resolve a group (applied: the station was changed, by an
ordinary audited edit; dismissed) and the resolution is audited.

Confirmations ("这里可用" after a visit) are counts per station and day, kept beside the roster (not
in station records, so a tap never moves the data version or rebuilds a snapshot) and written in
batches by a background thread (`ConfirmationLog`, the search log's pattern).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from locator.errors import LocatorError
from locator.searchlog import DailyCounts
from locator.stations import Term
from locator.store.reports import Report, ReportNotOpen, report_hour

__all__ = ["Report", "ReportNotOpen", "report_hour"]  # the stored report, defined with its store

REPORT_KINDS: dict[str, Term] = {
    t.key: t
    for t in (
        Term("closed", "已关闭", "Closed"),
        Term("moved", "搬走了", "Moved away"),
        Term("wrong_location", "位置不对", "Wrong location"),
        Term("amenities", "设施不符", "Amenities differ"),
        Term("other", "其他", "Other"),
    )
}
RESOLUTIONS: dict[str, Term] = {
    t.key: t for t in (Term("applied", "已处理", "Applied"), Term("dismissed", "不予处理", "Dismissed"))
}
# What 处理 prefills in the station's edit form, per kind (the organizer still decides and saves).
PREFILL: dict[str, dict[str, str]] = {"closed": {"status": "temporarily_closed"}}
MAX_NOTE = 200  # characters: a short note, not a letter
MAX_RESOLUTION_NOTE = 500
CONFIRMATIONS_KEEP_DAYS = 3 * 366  # visit statistics for three years

_HIDDEN = "〔已隐去〕"
# Personal data a rider might type into a note: mainland mobile numbers, landlines, ID card numbers,
# e-mail addresses, any run of 7+ digits. Hidden before the note is stored.
_PERSONAL = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail
    r"|\d{17}[\dXx]"  # resident ID number
    r"|(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d){8}(?!\d)"  # mobile, with spaces or dashes
    r"|(?<!\d)(?!\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?!\d))\d(?:[\s-]?\d){6,}"  # landlines, long numbers (not dates)
)


# Full-width digits, letters and @ as ASCII (so ８８８８ is seen as a number); Chinese punctuation stays.
_HALF_WIDTH = {
    c: c - 0xFEE0 for r in ((0xFF10, 0xFF19), (0xFF20, 0xFF3A), (0xFF41, 0xFF5A)) for c in range(r[0], r[1] + 1)
}


class ReportInvalid(LocatorError, ValueError):
    """A report or resolution the service cannot take (unknown kind, note too long …)."""

    http_status = 422
    title = "Invalid report"

    def __init__(self, message: str, detail_zh: str, parameter: str):
        super().__init__(message)
        self.detail_zh = detail_zh
        self.parameter = parameter

    def problem(self) -> dict[str, Any]:
        """The member at fault."""
        return {"parameter": self.parameter}


def hide_personal(text: str) -> str:
    """`text` with phone numbers, ID numbers and e-mail addresses replaced by 〔已隐去〕."""
    return _PERSONAL.sub(_HIDDEN, text)


def clean_note(raw: Any, *, limit: int = MAX_NOTE, parameter: str = "note") -> str:
    """A note as stored: text, control characters refused, at most `limit` characters, personal data hidden."""
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ReportInvalid(f"{parameter}: must be text", "补充说明必须是文字。", parameter)
    text = raw.translate(_HALF_WIDTH).strip()
    if len(text) > limit:
        raise ReportInvalid(
            f"{parameter}: at most {limit} characters (got {len(text)})",
            f"补充说明最多 {limit} 个字（现在 {len(text)} 个字），请写短一些。",
            parameter,
        )
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs") and c not in "\n\t" for c in text):
        raise ReportInvalid(f"{parameter}: contains control characters", "补充说明含有无法显示的字符。", parameter)
    return hide_personal(" ".join(text.split()))


def check_report(body: Any) -> tuple[str, str]:
    """(kind, note) of a rider's report body {"kind": …, "note": …}; ReportInvalid naming the member at fault."""
    if not isinstance(body, Mapping):
        raise ReportInvalid('the body must be a JSON object {"kind": …, "note": …}', "请求内容应为 JSON 对象。", "body")
    unknown = sorted(set(body) - {"kind", "note"})
    if unknown:
        raise ReportInvalid(
            f"unknown member(s): {', '.join(map(str, unknown))[:100]}", "请求中有无法识别的内容。", unknown[0][:40]
        )
    kind = body.get("kind")
    if not isinstance(kind, str) or kind not in REPORT_KINDS:
        raise ReportInvalid(
            f"kind: use one of {', '.join(REPORT_KINDS)}",
            "请选择问题类型：" + "、".join(t.zh for t in REPORT_KINDS.values()) + "。",
            "kind",
        )
    return str(kind), clean_note(body.get("note"))


def check_resolution(body: Any) -> tuple[str, str]:
    """(action, note) of an organizer's resolution {"action": "applied"|"dismissed", "note": …}."""
    if not isinstance(body, Mapping):
        raise ReportInvalid(
            'the body must be a JSON object {"action": …, "note": …}', "请求内容应为 JSON 对象。", "body"
        )
    action = body.get("action")
    if not isinstance(action, str) or action not in RESOLUTIONS:
        raise ReportInvalid(
            "action: use applied or dismissed", "请选择处理结果：已处理（applied）或不予处理（dismissed）。", "action"
        )
    return str(action), clean_note(body.get("note"), limit=MAX_RESOLUTION_NOTE)


@dataclass
class ReportGroup:
    """The open reports of one kind for one station, newest first; `id` is the newest report's."""

    station_id: str
    district: str | None
    kind: str
    reports: list[Report] = field(default_factory=list)

    @property
    def id(self) -> int:
        """Resolving this id resolves the group (every report up to it)."""
        return self.reports[0].id

    @property
    def kind_zh(self) -> str:
        """已关闭, 搬走了 …"""
        return REPORT_KINDS[self.kind].zh if self.kind in REPORT_KINDS else self.kind

    @property
    def newest(self) -> datetime:
        """When the latest report came in (to the hour)."""
        return self.reports[0].created_at

    @property
    def oldest(self) -> datetime:
        """When the first report came in (to the hour)."""
        return self.reports[-1].created_at

    @property
    def notes(self) -> list[str]:
        """The reports' notes, newest first (empty ones left out)."""
        return [r.note for r in self.reports if r.note]

    def as_json(self) -> dict[str, Any]:
        """For the token API."""
        return {
            "id": self.id,
            "kind": self.kind,
            "kind_zh": self.kind_zh,
            "count": len(self.reports),
            "report_ids": [r.id for r in self.reports],
            "first_reported": self.oldest.isoformat(),
            "last_reported": self.newest.isoformat(),
            "notes": self.notes,
        }


@dataclass
class StationReports:
    """A station's open report groups (the queue's row), most recently reported first."""

    station_id: str
    district: str | None
    groups: list[ReportGroup]

    @property
    def newest(self) -> datetime:
        """When the latest report for this station came in."""
        return max(g.newest for g in self.groups)

    @property
    def count(self) -> int:
        """Open reports for this station."""
        return sum(len(g.reports) for g in self.groups)


def group_reports(reports: Iterable[Report]) -> list[StationReports]:
    """Open reports grouped by station (newest report first) and, within one, by kind (newest first)."""
    groups: dict[tuple[str, str], ReportGroup] = {}
    for r in sorted(reports, key=lambda r: r.id, reverse=True):
        key = (r.station_id, r.kind)
        if key not in groups:
            groups[key] = ReportGroup(r.station_id, r.district, r.kind)
        groups[key].reports.append(r)
    stations: dict[str, StationReports] = {}
    for g in groups.values():  # newest group first, so each station's groups are in that order too
        stations.setdefault(g.station_id, StationReports(g.station_id, g.district, [])).groups.append(g)
    return sorted(stations.values(), key=lambda s: (s.newest, s.groups[0].id), reverse=True)


# -- "这里可用" confirmations: counts per station and day ----------------------------------------------------


class ConfirmationLog(DailyCounts):
    """Per-process counters of "这里可用" taps per (day, station), written in batches (never on the request's path)."""

    label = "confirmations"
    keep_days = CONFIRMATIONS_KEEP_DAYS

    def add(self, station_id: str) -> None:
        """Count one confirmation of a station today (nothing about who)."""
        self._count(station_id)


@dataclass(frozen=True)
class DistrictVisits:
    """One district's confirmations over a period: per day (oldest first), in all, and per station."""

    code: str
    name: str
    days: list[tuple[str, int]]
    total: int
    stations: int  # how many of its stations were confirmed at least once
    by_station: dict[str, int]

    @property
    def peak(self) -> int:
        """The largest daily count (the chart's scale; at least 1)."""
        return max([n for _, n in self.days] + [1])


def visit_days(first: date, last: date) -> list[str]:
    """Every ISO day from first to last."""
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def district_visits(
    rows: Sequence[tuple[str, str, int]],
    district_of: Mapping[str, str | None],
    districts: Sequence[tuple[str, str]],
    first: date,
    last: date,
) -> list[DistrictVisits]:
    """Confirmations per district from (day, station_id, n) rows; `district_of` maps stations to district codes."""
    days = visit_days(first, last)
    out = []
    for code, name in districts:
        per_day = dict.fromkeys(days, 0)
        by_station: dict[str, int] = {}
        for day, station_id, n in rows:
            if district_of.get(station_id) != code or day not in per_day:
                continue
            per_day[day] += n
            by_station[station_id] = by_station.get(station_id, 0) + n
        out.append(
            DistrictVisits(code, name, list(per_day.items()), sum(per_day.values()), len(by_station), by_station)
        )
    return out
