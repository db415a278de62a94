"""How the admin pages name things for organizers: fields, actions, values, times (Asia/Shanghai).

Stored values stay as they are (keys, codes, UTC); these helpers only say them in Chinese, the
way the organizer knows them: 鹿城区 not 330302, 微波加热 not microwave, 08:17（北京时间） not 00:17 UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint

from locator.accounts import ROLE_LABELS
from locator.coords import CRS
from locator.hours import TZ, HoursError, parse_hours
from locator.stations import AMENITIES, FIELD_LABELS, PROVENANCE_LABELS, STATION_TYPES, STATUSES

ACTIONS = {"create": "新增", "update": "修改", "delete": "删除", "restore": "恢复"}
VIA = {
    "edit": "编辑页面",
    "import": "导入文件",
    "api": "接口",
    "cli": "服务器命令行",
    "seed": "示例数据",
    "restore": "撤销删除",
}
ACTORS = {"cli": "服务器命令行", "system": "系统"}
# What each role may do, for the account form (a role without a hint is still offered).
ROLE_HINTS = {
    "city_admin": "可修改全市站点、导入名册、管理账号",
    "district_organizer": "只能修改所负责区县的站点（需选择区县）",
    "viewer": "只能查看，不能修改",
}
EMPTY = "（空）"
# Where organizers copy coordinates from, per system (the import page, the edit form, the CLI).
CRS_CHOICES = {
    CRS.WGS84.value: "WGS-84（卫星定位、天地图）",
    CRS.GCJ02.value: "GCJ-02（高德地图、腾讯地图、微信）",
    CRS.BD09.value: "BD-09（百度地图）",
}

bp = Blueprint("labels", __name__)


def field_label(name: str) -> str:
    """A station field as organizers call it."""
    return FIELD_LABELS.get(name, name)


def shanghai(at: datetime | None) -> datetime | None:
    """A moment in Asia/Shanghai (naive values are taken as UTC, as the store writes them)."""
    if at is None:
        return None
    if at.tzinfo is None:
        from datetime import UTC

        at = at.replace(tzinfo=UTC)
    return at.astimezone(TZ)


def time_text(at: datetime | None) -> str:
    """2026-11-30 08:17 (Beijing time, the label is on the page)."""
    local = shanghai(at)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


def district_label(code: str | None) -> str:
    """A district's Chinese name (the code itself if unknown)."""
    from locator.context import current_roster

    return current_roster().districts.name(code) or (code or "")


def value_text(name: str, value: Any, district_names: dict[str, str] | None = None) -> str:
    """A stored value as an organizer reads it: labels for keys, names for codes, 是/否, （空）."""
    if value is None or value == "" or value == []:
        return "开放时间未知" if name == "hours" else EMPTY
    if name == "type":
        term = STATION_TYPES.get(str(value))
        return term.zh if term else str(value)
    if name == "status":
        term = STATUSES.get(str(value))
        return term.zh if term else str(value)
    if name == "amenities":
        items = value if isinstance(value, list | tuple) else [value]
        return "、".join(AMENITIES[a].zh if a in AMENITIES else str(a) for a in items)
    if name == "district":
        return district_names.get(str(value), str(value)) if district_names else district_label(str(value))
    if name == "hours":
        try:
            return parse_hours(str(value)).describe_zh()
        except HoursError:
            return str(value)
    if name == "verified_at":  # an ISO moment, stored in UTC: shown in Beijing time like every other time
        try:
            return time_text(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if name in ("approximate", "location_confirmed"):
        return "是" if value else "否"
    if name == "provenance":
        return PROVENANCE_LABELS.get(str(value), str(value))
    if isinstance(value, float):
        return f"{value:.7f}".rstrip("0").rstrip(".")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def role_label(role: str) -> str:
    """A role as organizers call it (ROLE_LABELS; the key itself for a role without a label yet)."""
    return ROLE_LABELS.get(role, role)


def actor_label(actor: str) -> str:
    """Who made a change: the account name, or what the command line and the system are called."""
    return ACTORS.get(actor, actor)


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "field_label": field_label,
        "district_label": district_label,
        "role_hints": ROLE_HINTS,
        "value_text": value_text,
        "time_text": time_text,
        "shanghai": shanghai,
        "role_label": role_label,
        "actor_label": actor_label,
        "action_labels": ACTIONS,
        "via_labels": VIA,
    }
