"""The scale-out store: PostgreSQL + PostGIS, shared by any number of app servers.

Same semantics as SQLiteStore (the reference): every write is one transaction that first
locks the data-version row (writers queue like SQLite's BEGIN IMMEDIATE, so the version
check cannot race), leaves its audit records in that transaction and bumps the version.
Locations are a geography(Point, 4326) column with a GiST index; `nearest_ids` answers
k-NN with `<->` and re-ranks the candidates exactly (haversine, R = 6,371,008.8 m, ties
by id), so it returns what the embedded index returns.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from locator.coords import EARTH_RADIUS_M
from locator.store.base import ALL_STATIONS, ReplacePlan, StationQuery
from locator.store.sql import SQLStationStore, where_clause

MIGRATIONS: list[str] = [
    # 1: stations (with a generated geography point), meta (data version), audit
    """
    CREATE TABLE stations (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        district TEXT,
        address TEXT NOT NULL DEFAULT '',
        lng DOUBLE PRECISION NOT NULL,
        lat DOUBLE PRECISION NOT NULL,
        geog geography(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lng, lat), 4326)::geography) STORED,
        amenities TEXT[] NOT NULL DEFAULT '{}',
        hours TEXT NOT NULL DEFAULT '',
        contact TEXT,
        operator TEXT,
        status TEXT NOT NULL DEFAULT 'open',
        closed_until DATE,
        provenance TEXT NOT NULL DEFAULT 'manual',
        approximate BOOLEAN NOT NULL DEFAULT false,
        note TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        version INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX stations_geog ON stations USING gist (geog);
    CREATE INDEX stations_district ON stations (district);
    CREATE INDEX stations_type ON stations (type);
    CREATE INDEX stations_amenities ON stations USING gin (amenities);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
    INSERT INTO meta VALUES ('data_version', 0);
    CREATE TABLE audit (
        id BIGSERIAL PRIMARY KEY,
        station_id TEXT NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        via TEXT NOT NULL,
        at TIMESTAMPTZ NOT NULL,
        before JSONB,
        after JSONB
    );
    CREATE INDEX audit_station ON audit (station_id, id);
    """,
    # 2: coverage analysis (locator/store/demand.py): demand layers, the search log, background jobs.
    # Times are ISO-8601 UTC text and days ISO dates, as in SQLite: one code path reads both.
    """
    CREATE TABLE demand_layers (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL DEFAULT '',
        purpose TEXT NOT NULL,
        kind TEXT NOT NULL,
        crs TEXT NOT NULL,
        items BIGINT NOT NULL,
        total_weight DOUBLE PRECISION NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE demand_items (
        layer_id BIGINT NOT NULL REFERENCES demand_layers(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        lng DOUBLE PRECISION NOT NULL,
        lat DOUBLE PRECISION NOT NULL,
        cell BIGINT NOT NULL,
        weight DOUBLE PRECISION NOT NULL,
        label TEXT,
        PRIMARY KEY (layer_id, seq)
    );
    CREATE TABLE search_counts (
        day TEXT NOT NULL,
        cell BIGINT NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (day, cell)
    );
    CREATE TABLE coverage_jobs (
        id TEXT PRIMARY KEY,
        params TEXT NOT NULL,
        status TEXT NOT NULL,
        progress DOUBLE PRECISION NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        result TEXT,
        error TEXT,
        owner TEXT NOT NULL DEFAULT '',
        created_by TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX coverage_jobs_updated ON coverage_jobs (updated_at);
    """,
]

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_TIE_REL = 1e-9  # candidates within this (relative) of the k-th distance are re-ranked together
_TIE_ABS_M = 1e-3  # and within a millimetre: covers PostGIS's own rounding of `<->`


def haversine_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance on the R = 6,371,008.8 m sphere (the embedded index's metric)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2.0) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(max(h, 0.0), 1.0)))


def pg_where(query: StationQuery) -> tuple[str, list[Any]]:
    """WHERE text and parameters in PostgreSQL's dialect, with SQLite's semantics."""
    return where_clause(query, placeholder="%s", amenity_sql="%s = ANY(amenities)")


class PostGISStore(SQLStationStore):
    """Stations in PostgreSQL+PostGIS, in `schema`; one connection per thread (autocommit reads)."""

    PLACEHOLDER = "%s"
    ENCODE = {"amenities": list, "lng": float, "lat": float, "approximate": bool}
    DECODE = {
        "amenities": tuple,
        "approximate": bool,
        "created_at": lambda v: v.astimezone(UTC),
        "updated_at": lambda v: v.astimezone(UTC),
    }

    def __init__(self, url: str, schema: str = "public", *, version_check_interval: float = 0.0):
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"schema {schema!r}: use letters, digits and underscores (at most 63)")
        self.url = url
        self.schema = schema
        # Seconds a read data version is trusted before asking the database again (0: every call).
        self.version_check_interval = version_check_interval
        self._version_cache: tuple[float, int] | None = None
        self._local = threading.local()
        self._all: list[psycopg.Connection] = []
        self._lock = threading.Lock()

    # -- connections -----------------------------------------------------------------
    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            conn.execute(
                sql.SQL("SET search_path TO {}, public").format(sql.Identifier(self.schema)),
            )
            conn.execute("SET TIME ZONE 'UTC'")
            self._local.conn = conn
            with self._lock:
                self._all = [c for c in self._all if not c.closed]
                self._all.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection]:
        conn = self._conn()
        with conn.transaction():
            # One writer at a time, as in SQLite: the version checks below cannot race.
            conn.execute("SELECT value FROM meta WHERE key = 'data_version' FOR UPDATE")
            yield conn
        self._version_cache = None  # this process sees its own writes at once

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # -- schema ------------------------------------------------------------------------
    def _ensure_schema(self, conn: psycopg.Connection) -> None:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone() is None:
            conn.execute("CREATE EXTENSION postgis")
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")

    def schema_version(self) -> int:
        """The number of migrations applied (0 for an empty schema)."""
        conn = self._conn()
        exists = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'schema_version'",
            (self.schema,),
        ).fetchone()
        if exists is None:
            return 0
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        return row[0] or 0

    def init_schema(self) -> None:
        """Create the schema and apply pending migrations, each in one transaction (several servers may race)."""
        conn = self._conn()
        with conn.transaction():
            # Serialise concurrent start-ups of several app servers on one database.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"locator-migrate:{self.schema}",))
            self._ensure_schema(conn)
            current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
                with conn.transaction():
                    for statement in filter(str.strip, script.split(";")):
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_version VALUES (%s)", (number,))

    def drop_schema(self) -> None:
        """Remove this store's schema and everything in it (tests; never `public`)."""
        if self.schema == "public":
            raise ValueError("refusing to drop the public schema")
        self._conn().execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    def data_version(self) -> int:
        """The counter that every committed write bumps: one tiny SELECT (or the cached value, if configured)."""
        cached = self._version_cache
        if (
            cached is not None
            and self.version_check_interval > 0
            and time.monotonic() - cached[0] < (self.version_check_interval)
        ):
            return cached[1]
        value = self._conn().execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()[0]
        self._version_cache = (time.monotonic(), value)
        return value

    # -- dialect -----------------------------------------------------------------------
    def _where(self, query: StationQuery) -> tuple[str, list[Any]]:
        return pg_where(query)

    def _lock_row_sql(self) -> str:
        return " FOR UPDATE"

    def _audit_at(self, at: datetime) -> datetime:
        return at

    def _audit_time(self, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def _first_taken(self, conn: psycopg.Connection, ids: Sequence[str]) -> str | None:
        row = conn.execute("SELECT id FROM stations WHERE id = ANY(%s) ORDER BY id LIMIT 1", (list(ids),)).fetchone()
        return row[0] if row else None

    def _write_replacement(self, conn: psycopg.Connection, plan: ReplacePlan, audit_rows: list) -> None:
        """Bulk writes: one DELETE, executemany UPDATE, COPY for new rows and audit records."""
        if plan.removals:
            conn.execute("DELETE FROM stations WHERE id = ANY(%s)", ([old.id for old in plan.removals],))
        if plan.updates:
            with conn.cursor() as cur:
                cur.executemany(self._update_sql, [self._update_params(new) for _, new in plan.updates])
        if plan.inserts:
            with conn.cursor() as cur, cur.copy(f"COPY stations ({self.COLUMNS}) FROM STDIN") as copy:
                for stored in plan.inserts:
                    copy.write_row(self._params(stored))
        if audit_rows:
            with (
                conn.cursor() as cur,
                cur.copy("COPY audit (station_id, action, actor, via, at, before, after) FROM STDIN") as copy,
            ):
                for row in audit_rows:
                    copy.write_row(row)

    def nearest_ids(
        self,
        lng: float,
        lat: float,
        k: int,
        *,
        radius_m: float | None = None,
        query: StationQuery = ALL_STATIONS,
    ) -> tuple[list[str], list[float]]:
        """Ids and great-circle distances (m) of the k nearest stations, ordered by (distance, id).

        `<->` on the GiST index fetches candidates; they are re-ranked with the embedded index's
        haversine, and every candidate tied (within a millimetre) with the k-th is fetched too.
        """
        if k <= 0:
            return [], []
        where, params = pg_where(query)
        point = "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography"
        conditions = [where[len(" WHERE ") :]] if where else []
        if radius_m is not None:
            # A slightly wider radius: the exact cut is made below with the same formula as the index.
            conditions.append(f"ST_DWithin(geog, {point}, %s, false)")
            params = params + [lng, lat, radius_m * (1 + 1e-6) + _TIE_ABS_M]
        cond = (" WHERE " + " AND ".join(conditions)) if conditions else ""
        text = f"SELECT id, lng, lat, geog <-> {point} AS d FROM stations{cond} ORDER BY d LIMIT %s"
        conn = self._conn()
        fetch = k + 4
        while True:
            rows = conn.execute(text, [lng, lat, *params, fetch]).fetchall()
            if len(rows) < fetch:
                break
            edge = rows[k - 1][3] * (1 + 1e-6) + _TIE_ABS_M
            if rows[-1][3] > edge:
                break
            fetch *= 4
        ranked = sorted((haversine_m(lng, lat, r[1], r[2]), r[0]) for r in rows)
        if radius_m is not None:
            ranked = [(d, i) for d, i in ranked if d <= radius_m]
        ranked = ranked[:k]
        return [i for _, i in ranked], [d for d, _ in ranked]
