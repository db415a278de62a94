"""The organizers' review queue of riders' reports: /admin/reports and the token API /api/v1/admin/reports.

Open reports grouped by station (newest first), each station's reports grouped by kind, only
the stations of the organizer's districts. 处理 opens the station's edit form prefilled (已关闭:
status 暂停开放); saving it resolves the group as applied, linked to that edit. 不予处理 dismisses
it. Every resolution is one transaction with an audit record. Beside the queue: the station
keepers' recent changes in the same districts (every keeper change is shown to its organizer).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, g, jsonify, redirect, render_template, request, url_for

from locator.accounts import User
from locator.context import current_accounts, current_feedback, current_roster
from locator.hours import TZ
from locator.reports import PREFILL, RESOLUTIONS, ReportGroup, StationReports, check_resolution, group_reports
from locator.stations import FIELD_LABELS
from locator.store.base import AuditRecord
from locator.web.admin.auth import guard, require_writer
from locator.web.admin.labels import value_text
from locator.web.models import ReportQueue, ReportsQuery, ResolutionInput, ResolutionOut
from locator.web.openapi import operation
from locator.web.params import parse_query
from locator.web.problems import Problem

bp = Blueprint("reports", __name__)
api_bp = Blueprint("admin_reports_api", __name__, url_prefix="/api/v1/admin")
api_bp.before_request(guard)

KEEPER_DAYS = 30  # how far back the keepers' changes are listed


def visible_districts(user: User) -> tuple[str, ...] | None:
    """The districts whose reports (and health) `user` sees: None for every district (city admins, and viewers
    without districts of their own)."""
    if user.role == "city_admin" or (user.role == "viewer" and not user.districts):
        return None
    return user.districts


def queue(user: User, only: tuple[str, ...] = ()) -> list[StationReports]:
    """The open reports `user` may see (within `only`, when given), grouped by station, newest first."""
    scope = visible_districts(user)
    if only:
        scope = tuple(d for d in only if scope is None or d in scope)
    return group_reports(current_feedback().reports(status="open", districts=scope))


def _station_json(row: StationReports) -> dict[str, Any]:
    roster = current_roster()
    station = roster.snapshot().get(row.station_id)
    return {
        "station_id": row.station_id,
        "name": station.name if station else None,
        "district": row.district,
        "district_name": roster.districts.name(row.district) if row.district else None,
        "open_reports": row.count,
        "last_reported": row.newest.isoformat(),
        "groups": [grp.as_json() for grp in row.groups],
    }


def resolve(report_id: int, action: str, note: str, user: User, via: str, audit_id: int | None = None) -> list:
    """Resolve a report's group for `user` (403 outside their districts; 404 unknown; 409 not open)."""
    require_writer()
    report = current_feedback().report(report_id)
    if report is None:
        raise Problem(404, "Not Found", f"no report {report_id}", detail_zh="没有这条报告。")
    if not user.may_edit_district(report.district):
        raise Problem(
            403,
            "Forbidden",
            f"district {report.district} is outside your districts",
            detail_zh="该驿站不在您负责的区县。",
        )
    return current_feedback().resolve(report_id, action=action, note=note, actor=user.name, via=via, audit_id=audit_id)


def keeper_changes(user: User, days: int = KEEPER_DAYS) -> list[dict[str, Any]]:
    """The station keepers' changes of the last `days` days in `user`'s districts, newest first, with their diffs."""
    keepers = [u.name for u in current_accounts().list_users() if u.is_keeper]
    if not keepers:
        return []
    scope = visible_districts(user)
    since = datetime.now(UTC) - timedelta(days=days)
    out = []
    for record in current_roster().store.audit(limit=500, actors=keepers):
        if record.at < since:
            break
        district = (record.after or record.before or {}).get("district")
        if scope is not None and district not in scope:
            continue
        out.append(
            {"record": record, "name": (record.after or record.before or {}).get("name"), "diffs": _diffs(record)}
        )
    return out


def _diffs(record: AuditRecord) -> list[tuple[str, str, str]]:
    before, after = record.before or {}, record.after or {}
    return [
        (FIELD_LABELS.get(k, k), value_text(k, before.get(k)), value_text(k, v))
        for k, v in after.items()
        if before.get(k) != v and k != "verified_at"
    ]


def handle_link(group: ReportGroup) -> str:
    """处理: the station's edit form, prefilled for the kind of report, carrying the report to resolve on save."""
    return url_for(
        "admin.stations.edit_station", station_id=group.station_id, report=group.id, **PREFILL.get(group.kind, {})
    )


def group_named(station_id: str, raw: str) -> ReportGroup | None:
    """open_group() for a report id as a page sends it (query or form text); None for anything else."""
    return open_group(station_id, int(raw)) if raw.isdigit() else None


def open_group(station_id: str, report_id: int) -> ReportGroup | None:
    """The open group (station, kind) that `report_id` belongs to, for the edit form's banner."""
    report = current_feedback().report(report_id)
    if report is None or report.status != "open" or report.station_id != station_id:
        return None
    for row in group_reports(current_feedback().reports(status="open", station_id=station_id)):
        for grp in row.groups:
            if grp.kind == report.kind:
                return grp
    return None


def resolve_after_edit(station_id: str, form, user: User) -> None:
    """After a saved edit opened from 处理: resolve its report group as applied, linked to that edit's audit record."""
    group = group_named(station_id, form.get("resolve_report", ""))
    if group is None:
        return
    audit_id = next(
        (r.id for r in current_roster().store.audit(station_id, limit=5) if r.actor == user.name),
        None,
    )
    resolve(group.id, "applied", "", user, "edit", audit_id)


# -- pages ------------------------------------------------------------------------------------------------


@bp.get("/reports")
def queue_page():
    """骑手报告: the open reports of the organizer's districts, grouped by station, and the keepers' changes."""
    user: User = g.user
    roster = current_roster()
    snap = roster.snapshot()
    rows = queue(user)
    return render_template(
        "admin/reports.html",
        rows=rows,
        stations={r.station_id: snap.get(r.station_id) for r in rows},
        district_names={d.code: d.name for d in roster.districts.districts},
        handle_link=handle_link,
        resolutions=RESOLUTIONS,
        keeper_changes=keeper_changes(user),
        keeper_days=KEEPER_DAYS,
        done=request.args.get("done"),
        tz=TZ,
    )


@bp.post("/reports/<int:report_id>/resolve")
def resolve_page(report_id: int):
    """Resolve a group from the queue page (applied or dismissed, with an optional note)."""
    action, note = check_resolution({"action": request.form.get("action"), "note": request.form.get("note") or None})
    closed = resolve(report_id, action, note, g.user, "edit")
    return redirect(url_for("admin.reports.queue_page", done=len(closed)))


# -- the token API ------------------------------------------------------------------------------------------


@api_bp.get("/reports")
@operation(
    "骑手报告 Open reports (review queue)",
    tag="admin",
    query=ReportsQuery,
    ok=ReportQueue,
    auth=True,
    description="Open reports of the caller's districts, grouped by station (the most recently reported first) and, "
    "within a station, by kind: several riders reporting one station closed are one group. A group's `id` is its "
    "newest report's; resolving it closes the group. Times are to the hour; nothing about the senders is kept.",
)
def api_queue():
    """The open reports, grouped by station, newest first (district-scoped)."""
    args = parse_query(ReportsQuery)
    known = current_roster().districts.codes
    for code in args.district:
        if code not in known:
            raise Problem(
                400,
                "Invalid parameter",
                f"district: unknown code {code!r}",
                detail_zh=f"没有代码为 {code} 的区县。",
                parameter="district",
            )
    rows = queue(g.user, tuple(args.district))
    resp = jsonify({"count": len(rows), "stations": [_station_json(r) for r in rows]})
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@api_bp.post("/reports/<int:report_id>/resolve")
@operation(
    "处理骑手报告 Resolve a report group",
    tag="admin",
    ok=ResolutionOut,
    body=ResolutionInput,
    path_params={"report_id": ("报告编号 a report's id (a group's `id`)", {"type": "integer"})},
    auth=True,
    extra_statuses={
        409: "The report is not open (resolved already)",
        422: "Unknown action or a note too long: `parameter` names it",
    },
    description="Close the report and every open report of the same station and kind up to it: `applied` (the "
    "station was changed: make that change with PUT /api/v1/admin/stations/{id}, an ordinary audited edit) or "
    "`dismissed`. Audited (action `resolve_report`). Organizers of the station's district and city admins only.",
)
def api_resolve(report_id: int):
    """Resolve a report group (applied or dismissed)."""
    body = request.get_json(silent=True)
    action, note = check_resolution(body)
    user: User = g.user
    closed = resolve(report_id, action, note, user, "api")
    first = closed[0]
    resp = jsonify(
        {"station_id": first.station_id, "kind": first.kind, "action": action, "resolved": [r.id for r in closed]}
    )
    return resp
