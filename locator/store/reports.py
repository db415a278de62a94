"""Where riders' reports and "这里可用" confirmations live, beside the roster (SQLite and PostGIS).

The tables come from the feedback migration of both backends (`station_reports`,
`station_confirmations`); the same SQL runs on both, through the station store's own connections
and write transactions (store/demand.py's pattern). None of these writes touches the stations
table or the data version: a report or a confirmation never rebuilds a snapshot. Nothing here
identifies a rider: a report row holds the station, its district, the kind, the (already cleaned)
note and the hour it came in; a confirmation row holds a day, a station and a count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from locator.errors import LocatorError
from locator.store.base import dumps
from locator.store.sql import SQLStationStore


class ReportNotOpen(LocatorError):
    """A report that was resolved already (or never existed)."""

    http_status = 409
    title = "Conflict"

    def __init__(self, report_id: int):
        super().__init__(f"report {report_id} is not open (resolved already)")
        self.detail_zh = "这条报告已经处理过了，请刷新页面。"


def report_hour(now: datetime | None = None) -> datetime:
    """The time a report is stored with: the hour it came in (UTC), nothing finer."""
    return (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Report:
    """One rider's report as stored (locator/reports.py groups them and names their kinds)."""

    id: int
    station_id: str
    district: str | None
    kind: str
    note: str
    created_at: datetime
    status: str = "open"  # open | applied | dismissed
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_note: str | None = None
    audit_id: int | None = None  # the edit that applied it, when one did


MAX_ID = 2**63 - 1  # the largest id either database holds: a larger one names no report (and must not overflow)
_REPORT_COLUMNS = (
    "id, station_id, district, kind, note, created_at, status, resolved_at, resolved_by, resolution_note, audit_id"
)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    return (datetime.fromisoformat(value) if isinstance(value, str) else value).astimezone(UTC)


class FeedbackStore:
    """Reports and confirmation counts in the station store's database."""

    def __init__(self, store: SQLStationStore):
        self.store = store
        self.p = store.PLACEHOLDER
        self.postgres = store.PLACEHOLDER == "%s"

    # -- reports -------------------------------------------------------------------------------
    def add_report(self, station_id: str, district: str | None, kind: str, note: str) -> int:
        """Store a rider's report (kind and note already checked); its id."""
        p = self.p
        with self.store._write() as conn:
            cur = conn.execute(
                "INSERT INTO station_reports (station_id, district, kind, note, created_at, status) "
                f"VALUES ({p}, {p}, {p}, {p}, {p}, 'open') RETURNING id",
                (station_id, district, kind, note, report_hour().isoformat()),
            )
            return int(cur.fetchone()[0])

    @staticmethod
    def _report(row: Sequence[Any]) -> Report:
        v = list(row)
        v[0] = int(v[0])
        v[5], v[7] = _time(v[5]), _time(v[7])
        v[10] = int(v[10]) if v[10] is not None else None
        return Report(*v)

    def report(self, report_id: int) -> Report | None:
        """One report by id."""
        if not 0 < report_id <= MAX_ID:
            return None
        row = (
            self.store._conn()
            .execute(f"SELECT {_REPORT_COLUMNS} FROM station_reports WHERE id = {self.p}", (report_id,))
            .fetchone()
        )
        return self._report(row) if row else None

    def reports(
        self,
        *,
        status: str | None = "open",
        districts: Sequence[str] | None = None,
        station_id: str | None = None,
        limit: int = 5000,
    ) -> list[Report]:
        """Reports (open ones by default), newest first; only `districts` / one station when given."""
        p = self.p
        parts: list[str] = []
        params: list[Any] = []
        if status is not None:
            parts.append(f"status = {p}")
            params.append(status)
        if districts is not None:
            if not districts:
                return []
            parts.append(f"district IN ({', '.join([p] * len(districts))})")
            params.extend(districts)
        if station_id is not None:
            parts.append(f"station_id = {p}")
            params.append(station_id)
        where = (" WHERE " + " AND ".join(parts)) if parts else ""
        rows = self.store._conn().execute(
            f"SELECT {_REPORT_COLUMNS} FROM station_reports{where} ORDER BY id DESC LIMIT {p}", [*params, limit]
        )
        return [self._report(r) for r in rows.fetchall()]

    def open_counts(self) -> dict[str, int]:
        """Open reports per station."""
        rows = self.store._conn().execute(
            "SELECT station_id, count(*) FROM station_reports WHERE status = 'open' GROUP BY station_id"
        )
        return {str(s): int(n) for s, n in rows.fetchall()}

    def resolve(
        self,
        report_id: int,
        *,
        action: str,
        note: str,
        actor: str,
        via: str,
        audit_id: int | None = None,
    ) -> list[Report]:
        """Close a report and every open report of the same station and kind up to it, in one transaction
        with an audit record (action "resolve_report"); ReportNotOpen if it is not open. The closed reports."""
        p = self.p
        now = datetime.now(UTC).replace(microsecond=0)
        if not 0 < report_id <= MAX_ID:
            raise ReportNotOpen(report_id)
        with self.store._write() as conn:
            row = conn.execute(
                f"SELECT {_REPORT_COLUMNS} FROM station_reports WHERE id = {p}{self.store._lock_row_sql()}",
                (report_id,),
            ).fetchone()
            if row is None or row[6] != "open":
                raise ReportNotOpen(report_id)
            first = self._report(row)
            rows = conn.execute(
                f"SELECT {_REPORT_COLUMNS} FROM station_reports WHERE station_id = {p} AND kind = {p} "
                f"AND status = 'open' AND id <= {p} ORDER BY id DESC",
                (first.station_id, first.kind, report_id),
            ).fetchall()
            closed = [self._report(r) for r in rows]
            ids = [r.id for r in closed]
            conn.execute(
                f"UPDATE station_reports SET status = {p}, resolved_at = {p}, resolved_by = {p}, "
                f"resolution_note = {p}, audit_id = {p} "
                f"WHERE id IN ({', '.join([p] * len(ids))})",
                [action, now.isoformat(), actor, note or None, audit_id, *ids],
            )
            after = {
                "reports": ids,
                "kind": first.kind,
                "resolution": action,
                "note": note,
                "edit": audit_id,
            }
            conn.execute(
                self.store._audit_sql,
                (first.station_id, "resolve_report", actor, via, self.store._audit_at(now), None, dumps(after)),
            )
        return [Report(**{**r.__dict__, "status": action, "resolved_at": now, "resolved_by": actor}) for r in closed]

    # -- confirmations -------------------------------------------------------------------------
    def add_confirmations(self, rows: Sequence[tuple[str, str, int]]) -> None:
        """Add (day, station_id, count) rows to the stored counts in one transaction (additive across processes)."""
        if not rows:
            return
        p = self.p
        sql = (
            f"INSERT INTO station_confirmations (day, station_id, n) VALUES ({p}, {p}, {p}) "
            "ON CONFLICT (station_id, day) DO UPDATE SET n = station_confirmations.n + excluded.n"
        )
        self.store.write_many(sql, rows)

    def confirmations(self, first_day: str, last_day: str) -> list[tuple[str, str, int]]:
        """(day, station_id, count) rows of the days first_day..last_day (ISO dates), by day and station."""
        p = self.p
        rows = self.store._conn().execute(
            f"SELECT day, station_id, n FROM station_confirmations WHERE day >= {p} AND day <= {p} "
            "ORDER BY day, station_id",
            (first_day, last_day),
        )
        return [(str(d), str(s), int(n)) for d, s, n in rows.fetchall()]

    def last_confirmed(self) -> dict[str, str]:
        """The last day each station was confirmed (ISO date)."""
        rows = self.store._conn().execute("SELECT station_id, max(day) FROM station_confirmations GROUP BY station_id")
        return {str(s): str(d) for s, d in rows.fetchall()}

    def prune_confirmations(self, before_day: str) -> int:
        """Delete the counts of days before `before_day`; how many rows went."""
        with self.store._write() as conn:
            return conn.execute(f"DELETE FROM station_confirmations WHERE day < {self.p}", (before_day,)).rowcount
