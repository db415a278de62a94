"""The audit trail: each station's history in Chinese and Beijing time, restore of deleted stations, downloads.

Each record shows before → after for every field it changed (the old value included); times are
Asia/Shanghai, labelled; the heading is the station's name. Downloads give times with their offset
(+08:00) and the stored values as they are.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from locator.accounts import User
from locator.context import current_roster
from locator.formats import neutralise_formula
from locator.hours import TZ
from locator.stations import EDITABLE_FIELDS, Station
from locator.store.base import AuditRecord, StationQuery
from locator.web.admin.auth import require_writer
from locator.web.problems import Problem

bp = Blueprint("audit", __name__)
MAX_RECORD_ID = 2**63 - 1  # the largest id either database can hold; larger ones cannot exist


def _audit_rows(records: list[AuditRecord]) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "station_id": r.station_id,
            "action": r.action,
            "actor": r.actor,
            "via": r.via,
            "at": r.at.astimezone(TZ).isoformat(),  # Beijing time, with its offset
            "before": r.before,
            "after": r.after,
        }
        for r in records
    ]


def audit_csv(records: list[AuditRecord]) -> bytes:
    """The audit trail as UTF-8 CSV with BOM (before/after as JSON cells)."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["id", "station_id", "action", "actor", "via", "at", "before", "after"])
    for row in _audit_rows(records):
        row["before"] = json.dumps(row["before"], ensure_ascii=False) if row["before"] else ""
        row["after"] = json.dumps(row["after"], ensure_ascii=False) if row["after"] else ""
        writer.writerow([neutralise_formula(str(v)) for v in row.values()])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def changes(record: AuditRecord) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for every field a record changed; every field it held for a create or delete."""
    before, after = record.before or {}, record.after or {}
    shown = [f for f in EDITABLE_FIELDS if f != "id"]
    if not before or not after:
        values = after or before
        return [(f, before.get(f), after.get(f)) for f in shown if values.get(f) not in (None, "", [], False)]
    return [(f, before.get(f), after.get(f)) for f in shown if before.get(f) != after.get(f)]


@bp.get("/stations/<station_id>/audit")
def station_audit(station_id: str):
    """A station's change history (名称 in the heading, 北京时间, before → after), with restore for deletions."""
    roster = current_roster()
    records = roster.store.audit(station_id)
    if not records:
        abort(404)
    exists = roster.store.count(StationQuery(ids=(station_id,))) > 0
    name = next(((r.after or r.before or {}).get("name") for r in records if (r.after or r.before)), station_id)
    return render_template(
        "admin/audit.html",
        station_id=station_id,
        station_name=name,
        records=[(r, changes(r)) for r in records],
        exists=exists,
        district_names={d.code: d.name for d in roster.districts.districts},
    )


def download_name(stem: str, suffix: str) -> str:
    """A Content-Disposition value for any station id: an ASCII name plus the exact one (RFC 6266 filename*)."""
    printable = "".join(c for c in stem if c.isprintable())[:100]
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", printable) or "download"
    exact = quote(f"{printable}.{suffix}", safe="")
    return f"attachment; filename=\"{ascii_name}.{suffix}\"; filename*=UTF-8''{exact}"


def audit_download(station_id: str | None, fmt: str) -> Response:
    """The audit trail (all, or one station's) as a CSV or JSON download."""
    records = current_roster().store.audit(station_id, limit=100_000)
    name = f"audit-{station_id or 'all'}"
    if fmt == "csv":
        body, mime = audit_csv(records), "text/csv; charset=utf-8"
    elif fmt == "json":
        body, mime = json.dumps(_audit_rows(records), ensure_ascii=False, indent=1).encode(), "application/json"
    else:
        raise Problem(
            400,
            "Invalid parameter",
            "format: use csv or json",
            detail_zh="格式只能是 CSV 或 JSON。",
            parameter="format",
        )
    return Response(body, mimetype=mime, headers={"Content-Disposition": download_name(name, fmt)})


@bp.get("/audit/export")
def audit_export():
    """Download the audit trail (all, or ?station_id=) as CSV or JSON."""
    return audit_download(request.args.get("station_id") or None, request.args.get("format", "csv"))


def restore_from_audit(record_id: int, user: User) -> Station:
    """Recreate a deleted station from the 'before' values of its delete record (audited as via=restore)."""
    roster = current_roster()
    record = roster.store.audit_record(record_id) if 0 < record_id <= MAX_RECORD_ID else None
    if record is None or record.action != "delete" or not record.before:
        raise Problem(
            404,
            "Not Found",
            f"no deletion record {record_id}",
            detail_zh="没有这条删除记录，无法恢复（可能已经恢复过）。",
        )
    if not user.may_edit_district(record.before.get("district")):
        raise Problem(
            403,
            "Forbidden",
            "the station lies outside your districts",
            detail_zh="这个站点不在您负责的区县内，不能恢复。",
        )
    station = roster.validate(record.before, provenance=record.before.get("provenance", "manual"))
    return roster.store.create(station, actor=user.name, via="restore")


@bp.post("/audit/<int:record_id>/restore")
def restore(record_id: int):
    """Restore a deleted station."""
    station = restore_from_audit(record_id, require_writer())
    return redirect(url_for("admin.stations.edit_station", station_id=station.id, restored=1))
