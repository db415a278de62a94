"""The station store: one interface, typed errors, implemented on SQLite and PostGIS.

Callers (views, CLI, importers) see only this module. Every write runs in one
transaction, bumps the data version and leaves an audit record in that transaction.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from locator.stations import EDITABLE_FIELDS, Station


class StoreError(Exception):
    """Base of the store's typed errors."""


class NotFound(StoreError):
    """No station with that id."""

    def __init__(self, station_id: str):
        self.station_id = station_id
        super().__init__(f"no station with id {station_id!r}")


class Conflict(StoreError):
    """The write conflicts with what is stored (duplicate id, or a stale version)."""

    def __init__(self, message: str, current: Station | None = None):
        self.current = current
        super().__init__(message)


class Invalid(StoreError):
    """The request to the store itself is malformed (e.g. duplicate ids in a bulk replace)."""


@dataclass(frozen=True)
class StationQuery:
    """Filters for listing stations; empty means no filter. bbox is WGS-84 (minx, miny, maxx, maxy)."""

    types: tuple[str, ...] = ()
    amenities: tuple[str, ...] = ()  # all required
    districts: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    q: str | None = None
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


def station_fields_json(station: Station) -> dict[str, Any]:
    """A station's editable fields as JSON-ready values (for audit records and diffs)."""
    out: dict[str, Any] = {}
    for name in EDITABLE_FIELDS:
        value = getattr(station, name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, date):
            value = value.isoformat()
        out[name] = value
    return out


def same_content(a: Station, b: Station) -> bool:
    """True if two stations hold the same editable values."""
    return station_fields_json(a) == station_fields_json(b)


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
    def audit(self, station_id: str | None = None, limit: int = 1000) -> list[AuditRecord]:
        """The audit trail, newest first, for one station or all."""

    def audit_record(self, record_id: int) -> AuditRecord | None:
        """One audit record by id (stores may override this scan with a direct lookup)."""
        return next((r for r in self.audit(limit=10_000_000) if r.id == record_id), None)

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
        dumps(station_fields_json(before)) if before else None,
        dumps(station_fields_json(after)) if after else None,
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
        elif same_content(old, station):
            plan.summary.unchanged.append(station.id)
        else:
            stored = stamped_replacement(old, station, at)
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


def stamped_new(station: Station, at: datetime) -> Station:
    """A station as first stored: version 1, created and updated at `at`."""
    return Station(**{**station.__dict__, "created_at": at, "updated_at": at, "version": 1})


def stamped_replacement(old: Station, new: Station, at: datetime) -> Station:
    """`new` stored over `old`: the next version, created when `old` was."""
    return Station(**{**new.__dict__, "created_at": old.created_at, "updated_at": at, "version": old.version + 1})


class SQLStationStore(StationStore):
    """The single-station writes, once for every SQL store: each is one transaction that checks
    the version, writes the row, leaves an audit record and bumps the data version.

    The reads (count, list, get) are written once too. Implementations supply the connection,
    the transaction, the placeholder, the WHERE clause and the row mapping of their dialect.
    """

    PLACEHOLDER = "?"
    COLUMNS = (
        "id, name, type, district, address, lng, lat, amenities, hours, contact, operator, status, "
        "closed_until, provenance, approximate, note, created_at, updated_at, version"
    )

    @abstractmethod
    def _conn(self) -> Any:
        """This thread's connection (reads outside a write transaction)."""

    @abstractmethod
    def _where(self, query: StationQuery) -> tuple[str, list[Any]]:
        """' WHERE …' text (or '') and parameters for a query."""

    @staticmethod
    @abstractmethod
    def _station(row: Sequence[Any]) -> Station:
        """A row of COLUMNS as a Station."""

    def count(self, query: StationQuery = ALL_STATIONS) -> int:
        """How many stations match."""
        where, params = self._where(query)
        return self._conn().execute(f"SELECT count(*) FROM stations{where}", params).fetchone()[0]

    def list(self, query: StationQuery = ALL_STATIONS, limit: int | None = None, offset: int = 0) -> list[Station]:
        """Stations matching `query`, ordered by id (byte order in every backend)."""
        where, params = self._where(query)
        sql = f"SELECT {self.COLUMNS} FROM stations{where} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {self.PLACEHOLDER} OFFSET {self.PLACEHOLDER}"
            params = [*params, limit, offset]
        return [self._station(r) for r in self._conn().execute(sql, params)]

    def get(self, station_id: str) -> Station:
        """One station by id."""
        row = (
            self._conn()
            .execute(f"SELECT {self.COLUMNS} FROM stations WHERE id = {self.PLACEHOLDER}", (station_id,))
            .fetchone()
        )
        if row is None:
            raise NotFound(station_id)
        return self._station(row)

    @abstractmethod
    def _write(self) -> AbstractContextManager[Any]:
        """A write transaction (serialised against other writers), yielding the connection."""

    @abstractmethod
    def _get_in(self, conn: Any, station_id: str) -> Station | None:
        """The station inside the transaction, or None."""

    @staticmethod
    @abstractmethod
    def _params(station: Station) -> tuple[Any, ...]:
        """A station as the dialect's parameters, in COLUMNS order."""

    @property
    def _insert_sql(self) -> str:
        return f"INSERT INTO stations ({self.COLUMNS}) VALUES ({', '.join([self.PLACEHOLDER] * 19)})"

    @property
    def _update_sql(self) -> str:
        columns = [c.strip() for c in self.COLUMNS.split(",")][1:]  # all but id
        sets = ", ".join(f"{c}={self.PLACEHOLDER}" for c in columns)
        return f"UPDATE stations SET {sets} WHERE id={self.PLACEHOLDER}"

    def _update_params(self, stored: Station) -> tuple[Any, ...]:
        return self._params(stored)[1:] + (stored.id,)

    def _insert(self, conn: Any, station: Station, at: datetime) -> Station:
        """Insert a new row; return it as stored."""
        stored = stamped_new(station, at)
        conn.execute(self._insert_sql, self._params(stored))
        return stored

    def _replace_row(self, conn: Any, old: Station, new: Station, at: datetime) -> Station:
        """Overwrite `old`'s row with `new`; return it as stored."""
        stored = stamped_replacement(old, new, at)
        conn.execute(self._update_sql, self._update_params(stored))
        return stored

    def _delete_row(self, conn: Any, station_id: str) -> None:
        """Remove the row."""
        conn.execute(f"DELETE FROM stations WHERE id = {self.PLACEHOLDER}", (station_id,))

    @abstractmethod
    def _audit(
        self,
        conn: Any,
        station_id: str,
        action: str,
        actor: str,
        via: str,
        at: datetime,
        before: Station | None,
        after: Station | None,
    ) -> None:
        """Add an audit record."""

    @abstractmethod
    def _bump(self, conn: Any) -> None:
        """Move the data version on."""

    @staticmethod
    def _now() -> datetime:
        return now_ms()

    @staticmethod
    def _check_data_version(conn: Any, expected: int | None) -> None:
        """Inside a write transaction: Conflict if the data version is no longer `expected`."""
        if expected is None:
            return
        current = conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()[0]
        if current != expected:
            raise Conflict(f"the roster changed (data version {current}, not {expected}): preview again")

    def _locked_current(self, conn: Any, station_id: str, expected_version: int | None) -> Station:
        old = self._get_in(conn, station_id)
        if old is None:
            raise NotFound(station_id)
        if expected_version is not None and old.version != expected_version:
            raise Conflict(
                f"station {station_id!r} is at version {old.version}, not {expected_version}: "
                "someone else changed it; reload and apply your edit again",
                current=old,
            )
        return old

    def create(self, station: Station, *, actor: str, via: str) -> Station:
        """Insert a new station; Conflict if the id is taken."""
        at = self._now()
        with self._write() as conn:
            if self._get_in(conn, station.id) is not None:
                raise Conflict(f"a station with id {station.id!r} already exists")
            stored = self._insert(conn, station, at)
            self._audit(conn, station.id, "create", actor, via, at, None, stored)
            self._bump(conn)
        return stored

    def update(self, station: Station, *, expected_version: int, actor: str, via: str) -> Station:
        """Replace the fields of a station whose stored version is `expected_version`."""
        at = self._now()
        with self._write() as conn:
            old = self._locked_current(conn, station.id, expected_version)
            stored = self._replace_row(conn, old, station, at)
            self._audit(conn, station.id, "update", actor, via, at, old, stored)
            self._bump(conn)
        return stored

    def delete(self, station_id: str, *, expected_version: int | None, actor: str, via: str) -> Station:
        """Delete a station (its last values stay in the audit trail)."""
        at = self._now()
        with self._write() as conn:
            old = self._locked_current(conn, station_id, expected_version)
            self._delete_row(conn, station_id)
            self._audit(conn, station_id, "delete", actor, via, at, old, None)
            self._bump(conn)
        return old
