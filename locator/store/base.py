"""The station store: one interface, typed errors, implemented on SQLite and PostGIS.

Callers (views, CLI, importers) see only this module. Every write runs in one
transaction, bumps the data version and leaves an audit record in that transaction.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from locator.errors import LocatorError
from locator.station_table import StationTable
from locator.stations import EDITABLE_FIELDS, Station

# The columns of the stations table, in the order of Station's fields (a row maps to Station(*row)).
STATION_COLUMNS = (*EDITABLE_FIELDS, "created_at", "updated_at", "version")


class StoreError(LocatorError):
    """Base of the store's typed errors."""

    detail_zh = "数据保存或读取出错，请稍后再试。"


class NotFound(StoreError):
    """No station with that id."""

    http_status = 404
    title = "Not Found"

    def __init__(self, station_id: str):
        self.station_id = station_id
        super().__init__(f"no station with id {station_id!r}")
        self.detail_zh = f"没有编号为“{station_id}”的站点（可能已被删除）。"


class Conflict(StoreError):
    """The write conflicts with what is stored (duplicate id, or a stale version)."""

    http_status = 409
    title = "Conflict"
    detail_zh = "数据已被他人修改，或编号已被占用：请刷新后重试。"

    def __init__(self, message: str, current: Station | None = None):
        self.current = current
        super().__init__(message)

    def problem(self) -> dict[str, Any]:
        """The stored version, when known."""
        return {"current_version": self.current.version} if self.current is not None else {}


class Invalid(StoreError):
    """The request to the store itself is malformed (e.g. duplicate ids in a bulk replace)."""

    http_status = 400
    title = "Invalid request"
    detail_zh = "请求有误：同一批数据中有重复或无效的站点。"


class StoreUnavailable(StoreError):
    """The database cannot be reached now (stopped, restarting, network down); nothing was written."""

    http_status = 503
    title = "Service Unavailable"
    detail_zh = "数据库暂时无法连接，请稍后再试。附近驿站查询和驿站页面仍可使用（显示最近一次的数据）。"


@dataclass(frozen=True)
class StationQuery:
    """Filters for listing stations; empty means no filter. bbox is WGS-84 (minx, miny, maxx, maxy)."""

    types: tuple[str, ...] = ()
    amenities: tuple[str, ...] = ()  # all required
    districts: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    ids: tuple[str, ...] = ()


ALL_STATIONS = StationQuery()


@dataclass(frozen=True)
class AuditRecord:
    """One change to one station: who, when, how, and the values before and after."""

    id: int
    station_id: str
    action: str  # create | update | delete | restore
    actor: str
    via: str  # cli | import | edit | api | seed
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass
class ReplaceSummary:
    """What a bulk replace did."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Counts and ids, for reports."""
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "removed": len(self.removed),
            "unchanged": len(self.unchanged),
            "ids": {"added": self.added, "changed": self.changed, "removed": self.removed},
        }


def dumps(value: Any) -> str:
    """Compact JSON with Chinese kept readable."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


class StationStore(ABC):
    """Where stations live. Implementations: SQLiteStore, PostGISStore."""

    @abstractmethod
    def init_schema(self) -> None:
        """Create or migrate the schema to the current version (idempotent)."""

    @abstractmethod
    def schema_version(self) -> int:
        """The schema version of the database."""

    @abstractmethod
    def data_version(self) -> int:
        """A number that changes with every committed write; cheap to read."""

    @abstractmethod
    def count(self, query: StationQuery = ALL_STATIONS) -> int:
        """How many stations match."""

    @abstractmethod
    def list(self, query: StationQuery = ALL_STATIONS, limit: int | None = None, offset: int = 0) -> list[Station]:
        """Stations matching `query`, ordered by id."""

    def read_table(self) -> StationTable:
        """The whole roster in columns, for the nearest snapshot (stores override this with one read
        that makes no Station objects; this default makes them)."""
        return StationTable.from_stations(self.list())

    @abstractmethod
    def get(self, station_id: str) -> Station:
        """One station; NotFound if absent."""

    @abstractmethod
    def create(self, station: Station, *, actor: str, via: str) -> Station:
        """Add a station; Conflict if the id exists. Returns it with version 1 and timestamps."""

    @abstractmethod
    def update(self, station: Station, *, expected_version: int, actor: str, via: str) -> Station:
        """Replace a station's fields if its stored version is `expected_version`; Conflict otherwise."""

    @abstractmethod
    def delete(self, station_id: str, *, expected_version: int | None, actor: str, via: str) -> Station:
        """Remove a station (kept in the audit trail); returns what was removed."""

    @abstractmethod
    def replace_all(
        self,
        stations: Sequence[Station],
        *,
        actor: str,
        via: str,
        scope: StationQuery | None = None,
        expected_data_version: int | None = None,
    ) -> ReplaceSummary:
        """Make the roster (or the part matching `scope`) exactly `stations`, in one transaction.

        With `expected_data_version`, Conflict if any write landed since that version was read
        (checked inside the transaction, so a preview can never be applied over newer data).
        """

    @abstractmethod
    def audit(
        self, station_id: str | None = None, limit: int = 1000, *, actors: Sequence[str] | None = None
    ) -> list[AuditRecord]:
        """The audit trail, newest first, for one station or all (only `actors`' records, when given)."""

    @abstractmethod
    def audit_record(self, record_id: int) -> AuditRecord | None:
        """One audit record by id."""

    @abstractmethod
    def ping(self) -> None:
        """Raise if the database cannot answer."""

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold connections
        """Release connections."""

    @staticmethod
    def check_unique_ids(stations: Iterable[Station]) -> None:
        """Invalid if a bulk write names an id twice."""
        seen: set[str] = set()
        dupes = []
        for s in stations:
            if s.id in seen:
                dupes.append(s.id)
            seen.add(s.id)
        if dupes:
            raise Invalid(f"duplicate ids: {', '.join(sorted(set(dupes))[:10])}")


def audit_values(
    station_id: str, action: str, actor: str, via: str, at: Any, before: Station | None, after: Station | None
) -> tuple[Any, ...]:
    """The columns of one audit record (station_id, action, actor, via, at, before, after)."""
    return (
        station_id,
        action,
        actor,
        via,
        at,
        dumps(before.record()) if before else None,
        dumps(after.record()) if after else None,
    )


@dataclass
class ReplacePlan:
    """What replace_all must write: decided once here, executed by each backend its own way."""

    inserts: list[Station] = field(default_factory=list)  # stamped, version 1
    updates: list[tuple[Station, Station]] = field(default_factory=list)  # (stored, stamped replacement)
    removals: list[Station] = field(default_factory=list)
    events: list[tuple[str, Station | None, Station | None]] = field(default_factory=list)  # audit order
    summary: ReplaceSummary = field(default_factory=ReplaceSummary)

    @property
    def changes_anything(self) -> bool:
        """False for a no-op (the data version must then stay put)."""
        return bool(self.inserts or self.updates or self.removals)

    def audit_rows(self, actor: str, via: str, at: Any) -> list[tuple[Any, ...]]:
        """One audit record per added, changed and removed station."""
        return [
            audit_values((after or before).id, action, actor, via, at, before, after)  # type: ignore[union-attr]
            for action, before, after in self.events
        ]


def plan_replacement(existing: dict[str, Station], stations: Sequence[Station], at: datetime) -> ReplacePlan:
    """Compare the stored stations in scope with the wanted ones: added, changed, unchanged, removed."""
    plan = ReplacePlan()
    remaining = dict(existing)
    for station in stations:
        old = remaining.pop(station.id, None)
        if old is None:
            stored = stamped_new(station, at)
            plan.inserts.append(stored)
            plan.events.append(("create", None, stored))
            plan.summary.added.append(station.id)
        elif old.same_content(unclaimed(station, old)):
            plan.summary.unchanged.append(station.id)
        else:
            stored = stamped_replacement(old, with_verification(station, old), at)
            plan.updates.append((old, stored))
            plan.events.append(("update", old, stored))
            plan.summary.changed.append(station.id)
    for old in remaining.values():
        plan.removals.append(old)
        plan.events.append(("delete", old, None))
        plan.summary.removed.append(old.id)
    return plan


def now_ms() -> datetime:
    """Now in UTC at millisecond precision, the same in every backend."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _claims_check(new: Station, old: Station) -> bool:
    """True if `new` says when it was checked: a verified_at of its own, not the stored one carried along
    (a file without the column, or an exported file whose column nobody touched)."""
    return new.verified_at is not None and new.verified_at != old.verified_at


def unclaimed(new: Station, old: Station) -> Station:
    """`new` as compared with the stored `old`: its verification time, if it claims one, else `old`'s.

    So a row that changes nothing else and claims no check is unchanged.
    """
    return new if _claims_check(new, old) else Station(**{**new.__dict__, "verified_at": old.verified_at})


def with_verification(new: Station, old: Station) -> Station:
    """`new` as written over `old`: its own verification time if it claims one, else none, so the write
    is stamped as the check (an edited row of an exported file is checked when it is imported)."""
    return new if _claims_check(new, old) else Station(**{**new.__dict__, "verified_at": None})


def _verified(station: Station, at: datetime) -> datetime:
    """A write that does not say when the information was checked is itself the check (an edit, a new row)."""
    return station.verified_at or at.replace(microsecond=0)


def stamped_new(station: Station, at: datetime) -> Station:
    """A station as first stored: version 1, created and updated (and, unless it says otherwise, verified) at `at`."""
    return Station(
        **{**station.__dict__, "verified_at": _verified(station, at), "created_at": at, "updated_at": at, "version": 1}
    )


def stamped_replacement(old: Station, new: Station, at: datetime) -> Station:
    """`new` stored over `old`: the next version, created when `old` was, verified at `at` unless it says when."""
    return Station(
        **{
            **new.__dict__,
            "verified_at": _verified(new, at),
            "created_at": old.created_at,
            "updated_at": at,
            "version": old.version + 1,
        }
    )
