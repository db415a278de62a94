"""The embedded store: one SQLite file in WAL mode. Zero setup; one machine."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from locator.stations import Station
from locator.store.base import (
    ALL_STATIONS,
    AuditRecord,
    Conflict,
    ReplaceSummary,
    SQLStationStore,
    StationQuery,
    audit_values,
    dumps,
    plan_replacement,
)
from locator.store.base import (
    now_ms as _now,
)

MIGRATIONS: list[str] = [
    # 1: stations, meta, audit
    """
    CREATE TABLE stations (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        district TEXT,
        address TEXT NOT NULL DEFAULT '',
        lng REAL NOT NULL,
        lat REAL NOT NULL,
        amenities TEXT NOT NULL DEFAULT '[]',
        hours TEXT NOT NULL DEFAULT '',
        contact TEXT,
        operator TEXT,
        status TEXT NOT NULL DEFAULT 'open',
        closed_until TEXT,
        provenance TEXT NOT NULL DEFAULT 'manual',
        approximate INTEGER NOT NULL DEFAULT 0,
        note TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX stations_district ON stations(district);
    CREATE INDEX stations_type ON stations(type);
    CREATE INDEX stations_lat ON stations(lat);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta VALUES ('data_version', 0);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        station_id TEXT NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        via TEXT NOT NULL,
        at TEXT NOT NULL,
        before TEXT,
        after TEXT
    );
    CREATE INDEX audit_station ON audit(station_id, id);
    """,
    # 2: organizer accounts and API tokens (locator/store/accounts.py)
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        districts TEXT NOT NULL DEFAULT '[]',
        password_hash TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
    );
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users(id),
        label TEXT NOT NULL DEFAULT '',
        digest TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        last_used_at TEXT
    );
    """,
]

COLUMNS = SQLStationStore.COLUMNS


_AUDIT_SQL = "INSERT INTO audit (station_id, action, actor, via, at, before, after) VALUES (?, ?, ?, ?, ?, ?, ?)"


def _test_pause_in_transaction() -> None:
    """Test hook: with LOCATOR_TEST_PAUSE_IN_TRANSACTION=PATH, touch PATH and sleep inside the open
    transaction, so a test can kill the process mid-commit (tests/test_admin_import.py)."""
    marker = os.environ.get("LOCATOR_TEST_PAUSE_IN_TRANSACTION")
    if marker:
        Path(marker).write_text("in transaction")
        time.sleep(60)


def _row_to_station(row: Sequence[Any]) -> Station:
    (
        sid,
        name,
        stype,
        district,
        address,
        lng,
        lat,
        amenities,
        hours,
        contact,
        operator,
        status,
        closed_until,
        provenance,
        approximate,
        note,
        created_at,
        updated_at,
        version,
    ) = row
    return Station(
        id=sid,
        name=name,
        type=stype,
        district=district,
        address=address,
        lng=lng,
        lat=lat,
        amenities=tuple(json.loads(amenities)),
        hours=hours,
        contact=contact,
        operator=operator,
        status=status,
        closed_until=date.fromisoformat(closed_until) if closed_until else None,
        provenance=provenance,
        approximate=bool(approximate),
        note=note,
        created_at=datetime.fromisoformat(created_at),
        updated_at=datetime.fromisoformat(updated_at),
        version=version,
    )


def _station_params(s: Station) -> tuple[Any, ...]:
    return (
        s.id,
        s.name,
        s.type,
        s.district,
        s.address,
        s.lng,
        s.lat,
        dumps(list(s.amenities)),
        s.hours,
        s.contact,
        s.operator,
        s.status,
        s.closed_until.isoformat() if s.closed_until else None,
        s.provenance,
        int(s.approximate),
        s.note,
        s.created_at.isoformat() if s.created_at else None,
        s.updated_at.isoformat() if s.updated_at else None,
        s.version,
    )


def where_clause(
    query: StationQuery, *, placeholder: str = "?", amenity_sql: str | None = None
) -> tuple[str, list[Any]]:
    """SQL WHERE text and parameters for a StationQuery (shared shape with PostGIS)."""
    parts: list[str] = []
    params: list[Any] = []

    def any_of(column: str, values: Sequence[str]) -> None:
        parts.append(f"{column} IN ({', '.join([placeholder] * len(values))})")
        params.extend(values)

    if query.types:
        any_of("type", query.types)
    if query.districts:
        any_of("district", query.districts)
    if query.statuses:
        any_of("status", query.statuses)
    if query.ids:
        any_of("id", query.ids)
    for amenity in query.amenities:
        parts.append(amenity_sql or f"EXISTS (SELECT 1 FROM json_each(stations.amenities) WHERE value = {placeholder})")
        params.append(amenity)
    if query.q:
        pattern = "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        parts.append(f"(name LIKE {placeholder} ESCAPE '\\' OR address LIKE {placeholder} ESCAPE '\\')")
        params.extend([pattern, pattern])
    if query.bbox:
        x0, y0, x1, y1 = query.bbox
        parts.append(f"lng >= {placeholder} AND lng <= {placeholder} AND lat >= {placeholder} AND lat <= {placeholder}")
        params.extend([x0, x1, y0, y1])
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


class SQLiteStore(SQLStationStore):
    """Stations in one SQLite file; a connection per thread; writes are BEGIN IMMEDIATE transactions."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    # -- connections -----------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _bump(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # -- schema ------------------------------------------------------------------------
    def schema_version(self) -> int:
        """PRAGMA user_version: the number of migrations applied."""
        return self._conn().execute("PRAGMA user_version").fetchone()[0]

    def init_schema(self) -> None:
        """Apply pending migrations, each in its own transaction."""
        conn = self._conn()
        current = self.schema_version()
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(str.strip, script.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def ping(self) -> None:
        """Raise if the database cannot be read."""
        self._conn().execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()

    def data_version(self) -> int:
        """The counter that every committed write bumps."""
        return self._conn().execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()[0]

    # -- reads -------------------------------------------------------------------------
    _station = staticmethod(_row_to_station)

    def _where(self, query: StationQuery) -> tuple[str, list[Any]]:
        return where_clause(query)

    def _get_in(self, conn: sqlite3.Connection, station_id: str) -> Station | None:
        row = conn.execute(f"SELECT {COLUMNS} FROM stations WHERE id = ?", (station_id,)).fetchone()
        return _row_to_station(row) if row else None

    # -- writes ------------------------------------------------------------------------
    def _audit(
        self,
        conn,
        station_id: str,
        action: str,
        actor: str,
        via: str,
        at: datetime,
        before: Station | None,
        after: Station | None,
    ) -> None:
        conn.execute(_AUDIT_SQL, audit_values(station_id, action, actor, via, at.isoformat(), before, after))

    _params = staticmethod(_station_params)

    def replace_all(
        self,
        stations: Sequence[Station],
        *,
        actor: str,
        via: str,
        scope: StationQuery | None = None,
        expected_data_version: int | None = None,
    ) -> ReplaceSummary:
        """Make the roster (within `scope`) exactly `stations`: one transaction, all or nothing."""
        self.check_unique_ids(stations)
        at = _now()
        with self._write() as conn:
            self._check_data_version(conn, expected_data_version)
            where, params = where_clause(scope or ALL_STATIONS)
            existing = {
                s.id: s for s in map(_row_to_station, conn.execute(f"SELECT {COLUMNS} FROM stations{where}", params))
            }
            plan = plan_replacement(existing, stations, at)
            for stored in plan.inserts:
                if self._get_in(conn, stored.id) is not None:
                    raise Conflict(f"station {stored.id!r} exists outside the scope of this import")
                conn.execute(self._insert_sql, _station_params(stored))
            conn.executemany(self._update_sql, [self._update_params(new) for _, new in plan.updates])
            conn.executemany("DELETE FROM stations WHERE id = ?", [(old.id,) for old in plan.removals])
            conn.executemany(_AUDIT_SQL, plan.audit_rows(actor, via, at.isoformat()))
            _test_pause_in_transaction()
            if plan.changes_anything:
                self._bump(conn)
        return plan.summary

    def audit_record(self, record_id: int) -> AuditRecord | None:
        """One audit record by id."""
        return next(iter(self.audit(limit=1, record_id=record_id)), None)

    def audit(
        self, station_id: str | None = None, limit: int = 1000, record_id: int | None = None
    ) -> list[AuditRecord]:
        """The audit trail, newest first."""
        sql = "SELECT id, station_id, action, actor, via, at, before, after FROM audit"
        params: list[Any] = []
        if record_id is not None:
            sql += " WHERE id = ?"
            params.append(record_id)
        elif station_id is not None:
            sql += " WHERE station_id = ?"
            params.append(station_id)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [
            AuditRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                datetime.fromisoformat(r[5]),
                json.loads(r[6]) if r[6] else None,
                json.loads(r[7]) if r[7] else None,
            )
            for r in self._conn().execute(sql, params)
        ]
