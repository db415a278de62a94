"""The embedded store: one SQLite file in WAL mode. Zero setup; one machine."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from locator.station_table import FILTER_FIELDS, NULLABLE, PACKED_FIELDS, UnexpectedText
from locator.store.base import ReplacePlan, StationQuery, dumps
from locator.store.sql import SQLStationStore, where_clause

# The stations columns of migrations 1-10 (copied when migration 11 rebuilds the table).
_COPIED = (
    "id, name, type, district, address, lng, lat, amenities, hours, contact, operator, status, closed_until,"
    " provenance, approximate, note, created_at, updated_at, version, location_confirmed, verified_at"
)
# Coordinates as text that reads back to the same doubles (17 significant digits).
_LNGLAT_SQL = "printf('%!.17g,%!.17g', lng, lat)"


def _packed_sql(fields: tuple[str, ...]) -> str:
    """SQL for station_table's canonical text of these fields (SQLite stores every value in it already)."""
    parts = [f"coalesce({f}, char(29))" if f in NULLABLE else f for f in fields]
    return " || char(31) || ".join(parts)


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
    # 3: login sessions that the server can end (locator/store/accounts.py); the cookie holds the id,
    # this table its SHA-256
    """
    CREATE TABLE sessions (
        digest TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX sessions_user ON sessions(user_id);
    """,
    # 4: the restore epoch, part of the data version (store/sql.py VERSION_SQL)
    """
    INSERT INTO meta VALUES ('epoch', 0);
    """,
    # 5: an organizer's confirmation of a location the shoreline questions (issue 11)
    """
    ALTER TABLE stations ADD COLUMN location_confirmed INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: coverage analysis (locator/store/demand.py): demand layers, the search log, background jobs
    """
    CREATE TABLE demand_layers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL DEFAULT '',
        purpose TEXT NOT NULL,
        kind TEXT NOT NULL,
        crs TEXT NOT NULL,
        items INTEGER NOT NULL,
        total_weight REAL NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE demand_items (
        layer_id INTEGER NOT NULL REFERENCES demand_layers(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        lng REAL NOT NULL,
        lat REAL NOT NULL,
        cell INTEGER NOT NULL,
        weight REAL NOT NULL,
        label TEXT,
        PRIMARY KEY (layer_id, seq)
    );
    CREATE TABLE search_counts (
        day TEXT NOT NULL,
        cell INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (day, cell)
    );
    CREATE TABLE coverage_jobs (
        id TEXT PRIMARY KEY,
        params TEXT NOT NULL,
        status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        result TEXT,
        error TEXT,
        owner TEXT NOT NULL DEFAULT '',
        created_by TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX coverage_jobs_updated ON coverage_jobs(updated_at);
    """,
    # 7: when each station's information was last vouched for (issue 16: freshness, 待核实)
    """
    ALTER TABLE stations ADD COLUMN verified_at TEXT;
    """,
    # 8: station keepers' stations (locator/store/accounts.py; issue 16). No foreign key to stations: a
    # deleted (restorable) station keeps its keeper, and accounts may live in a file of their own.
    """
    CREATE TABLE station_keepers (
        user_id INTEGER NOT NULL REFERENCES users(id),
        station_id TEXT NOT NULL,
        PRIMARY KEY (user_id, station_id)
    );
    CREATE INDEX station_keepers_station ON station_keepers(station_id);
    """,
    # 9: riders' reports and "这里可用" confirmations (locator/store/reports.py; issue 16): beside the
    # roster, never in station records. No rider is identified: no address, no id, times to the hour.
    """
    CREATE TABLE station_reports (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        station_id TEXT NOT NULL,
        district TEXT,
        kind TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open',
        resolved_at TEXT,
        resolved_by TEXT,
        resolution_note TEXT,
        audit_id INTEGER
    );
    CREATE INDEX station_reports_open ON station_reports(status, district);
    CREATE INDEX station_reports_station ON station_reports(station_id, kind);
    CREATE TABLE station_confirmations (
        day TEXT NOT NULL,
        station_id TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (station_id, day)
    );
    CREATE INDEX station_confirmations_day ON station_confirmations(day);
    """,
    # 10: the account audit trail (locator/store/accounts.py): who created, disabled, enabled an
    # account or set its password, when (never the password)
    """
    CREATE TABLE account_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX account_audit_target ON account_audit(target, id);
    """,
    # 11: the roster in the canonical packed text of locator/station_table.py, kept by SQLite itself
    # (stored generated columns: true after any write, ours or a tool's), so the nearest snapshot
    # reads a million stations as four texts instead of a million rows (issue 18). SQLite cannot add
    # a stored column to a table: the table is rebuilt, in id order.
    f"""
    CREATE TABLE stations_packed (
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
        version INTEGER NOT NULL DEFAULT 1,
        location_confirmed INTEGER NOT NULL DEFAULT 0,
        verified_at TEXT,
        lnglat TEXT GENERATED ALWAYS AS ({_LNGLAT_SQL}) STORED,
        filter_key TEXT GENERATED ALWAYS AS ({_packed_sql(FILTER_FIELDS)}) STORED,
        packed TEXT GENERATED ALWAYS AS ({_packed_sql(PACKED_FIELDS)}) STORED
    );
    INSERT INTO stations_packed ({_COPIED}) SELECT {_COPIED} FROM stations ORDER BY id;
    DROP TABLE stations;
    ALTER TABLE stations_packed RENAME TO stations;
    CREATE INDEX stations_district ON stations(district);
    CREATE INDEX stations_type ON stations(type);
    CREATE INDEX stations_lat ON stations(lat);
    """,
]


def _iso(value: date | datetime) -> str:
    return value.isoformat()


class SQLiteStore(SQLStationStore):
    """Stations in one SQLite file; a connection per thread; writes are BEGIN IMMEDIATE transactions."""

    ENCODE = {
        "amenities": lambda v: dumps(list(v)),
        "closed_until": _iso,
        "approximate": int,
        "location_confirmed": int,
        "verified_at": _iso,
        "created_at": _iso,
        "updated_at": _iso,
    }
    DECODE = {
        "amenities": lambda v: tuple(json.loads(v)),
        "closed_until": date.fromisoformat,
        "approximate": bool,
        "location_confirmed": bool,
        "verified_at": datetime.fromisoformat,
        "created_at": datetime.fromisoformat,
        "updated_at": datetime.fromisoformat,
    }

    BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another's lock
    # How long a process trusts the data version it read last (LOCATOR_VERSION_CHECK_INTERVAL_MS `auto`).
    # Reading it is a statement taking file locks, ~5 % of a nearest request's instructions (bench/README.md);
    # SQLite has no NOTIFY, so other processes' writes (workers, tools, a restore) show within this delay.
    VERSION_CHECK_S = 0.1

    def __init__(self, path: str | Path, *, version_check_interval: float | None = None):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.version_check_interval = self.VERSION_CHECK_S if version_check_interval is None else version_check_interval
        self._commits = itertools.count(1)  # next() is atomic: each write transaction stores a number never seen
        self._writes = 0  # the last one stored: a cached version read before a write is not trusted
        self._version_cache: tuple[int, float, int] | None = None  # (writes, monotonic time, version)

    # -- connections -----------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={self.BUSY_TIMEOUT_MS}")
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
        finally:
            self._writes = next(self._commits)  # this process sees its own writes at once (data_version asks again)

    def data_version(self) -> int:
        """The data version; from memory for `version_check_interval` seconds after it was read (a write
        through this store is seen at once, another process's or tool's within that delay)."""
        cached = self._version_cache
        writes = self._writes
        if cached is not None and cached[0] == writes and time.monotonic() - cached[1] < self.version_check_interval:
            return cached[2]
        asked = time.monotonic()
        value = super().data_version()
        self._version_cache = (writes, asked, value)  # writes counted before asking: a commit meanwhile asks again
        return value

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
        """Apply pending migrations, each in its own transaction.

        Several workers may start on one fresh file at once: each migration is applied under the
        write lock after reading the schema version again, so a migration another process has just
        applied is skipped instead of failing ("table stations already exists").
        """
        conn = self._conn()
        current = self.schema_version()
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("PRAGMA user_version").fetchone()[0] >= number:
                    conn.execute("COMMIT")  # another process applied it while we waited for the lock
                    continue
                for statement in filter(str.strip, script.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._writes = next(self._commits)  # a migration may rewrite the roster (and bump its version)

    # -- the roster in columns ------------------------------------------------------------
    def _packed_read(self) -> tuple[int, bytes, np.ndarray, bytes, bytes]:
        """The generated columns of every station, each joined into one text, in id order."""
        conn = self._conn()
        conn.text_factory = bytes  # the arena stays UTF-8: no str of a few hundred MB in between
        try:
            count, ids, lnglat, filters, packed = conn.execute(
                "SELECT count(*), group_concat(id, char(31)), group_concat(lnglat, ','),"
                " group_concat(filter_key, char(30)), group_concat(packed, char(30))"
                " FROM (SELECT id, lnglat, filter_key, packed FROM stations ORDER BY id)"
            ).fetchone()
        except sqlite3.DataError as exc:  # "string or blob too big": a text over SQLite's 1 GB limit
            raise UnexpectedText(str(exc)) from exc
        finally:
            conn.text_factory = str
        coords = np.fromstring(lnglat, sep=",") if count else np.zeros(0)  # exact: 17 digits, strtod
        return count, ids or b"", coords, filters or b"", packed or b""

    # -- dialect -----------------------------------------------------------------------
    def _where(self, query: StationQuery) -> tuple[str, list[Any]]:
        return where_clause(query)

    def _lock_row_sql(self) -> str:
        return ""  # BEGIN IMMEDIATE already holds the write lock

    def _audit_at(self, at: datetime) -> str:
        return at.isoformat()

    def _audit_time(self, value: str) -> datetime:
        return datetime.fromisoformat(value)

    def _write_replacement(self, conn: sqlite3.Connection, plan: ReplacePlan, audit_rows: list) -> None:
        conn.executemany("DELETE FROM stations WHERE id = ?", [(old.id,) for old in plan.removals])
        conn.executemany(self._update_sql, [self._update_params(new) for _, new in plan.updates])
        conn.executemany(self._insert_sql, [self._params(s) for s in plan.inserts])
        conn.executemany(self._audit_sql, audit_rows)
