"""The scale-out store: PostgreSQL + PostGIS, shared by any number of app servers.

Same semantics as SQLiteStore (the reference): every write is one transaction that first
locks the data-version row (writers queue like SQLite's BEGIN IMMEDIATE, so the version
check cannot race), leaves its audit records in that transaction and bumps the version.
Locations are a geography(Point, 4326) column with a GiST index; `nearest_ids` answers
k-NN with `<->` (distance on PostGIS's sphere) and re-ranks the candidates by WGS-84 geodesic
distance (locator.coords.geodesic_m, ties by id), fetching every candidate the sphere/ellipsoid
bound of locator.nearest allows, so it returns what the embedded index returns.

Coherence without polling: every transaction that moves the data version also sends
`NOTIFY locator_data_version, '<schema> <version>'` (delivered when it commits). Each process
runs one `VersionListener` thread on a connection of its own that LISTENs for it; while that
connection is up, `data_version()` answers from memory and asks the database only after a
notification (or the listener's reconnection, or its slow check every LISTEN_POLL_S seconds).
While the listener is down, every call asks the database again (or every
`version_check_interval` seconds): the old behaviour is the fallback.

Outage: a lost or refused connection becomes `StoreUnavailable` (503). Once a connection attempt
has failed, the store is "down": with a listener, only the listener tries to reconnect (in the
background, backing off to 2 s) and requests fail at once instead of waiting for a timeout;
without one, at most one request per second tries. The roster then serves its last snapshot
where that is allowed (locator/roster.py).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from locator.coords import geodesic_m
from locator.nearest import sphere_ratio
from locator.station_table import FILTER_FIELDS, NULLABLE, PACKED_FIELDS, UnexpectedText
from locator.store.base import ALL_STATIONS, ReplacePlan, StationQuery, StoreUnavailable
from locator.store.sql import VERSION_SQL, SQLStationStore, where_clause

log = logging.getLogger(__name__)

CHANNEL = "locator_data_version"  # one channel for every schema; the payload names the schema
LISTEN_POLL_S = 10.0  # the listener also reads the version this often: a change made without NOTIFY shows too
LISTEN_WAIT_S = 0.5  # the listener wakes this often (to stop, and to say the database is reachable)
RETRY_S = 1.0  # while down and without a listener: at most one connection attempt per second
CONNECT_TIMEOUT_S = 5
# A dead peer (a host or network gone, no RST) is noticed within seconds, not after the kernel's
# two hours: keepalives on idle connections, tcp_user_timeout on unacknowledged writes.
_TCP = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
    "tcp_user_timeout": 5000,
}
_UNAVAILABLE = "the database cannot be reached right now; try again shortly"


class _Cursor(psycopg.Cursor):
    """A cursor whose lost or refused connection is a StoreUnavailable (503), counted per store."""

    def execute(self, query, params=None, **kwargs):
        self.connection.locator_store.queries += 1
        try:
            return super().execute(query, params, **kwargs)
        except psycopg.OperationalError as exc:
            raise self.connection.locator_store._unavailable(exc) from exc

    def executemany(self, query, params_seq, **kwargs):
        self.connection.locator_store.queries += 1
        try:
            return super().executemany(query, params_seq, **kwargs)
        except psycopg.OperationalError as exc:
            raise self.connection.locator_store._unavailable(exc) from exc


def _pg_text(field: str, row: str) -> str:
    """SQL for one field's canonical text (station_table), whatever the session's DateStyle and TimeZone."""
    value = f"{row}{field}"
    if field == "amenities":
        expr = f"array_to_json({value})::text"
    elif field in ("approximate", "location_confirmed"):
        expr = f"{value}::int::text"
    elif field == "closed_until":
        expr = f"to_char({value}, 'YYYY-MM-DD')"
    elif field in ("verified_at", "created_at", "updated_at"):
        expr = f"to_char({value} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00'"
    elif field == "version":
        expr = f"{value}::text"
    else:
        expr = value
    return f"coalesce({expr}, E'\\x1d')" if field in NULLABLE else expr


def _pg_packed(fields: tuple[str, ...], row: str) -> str:
    """SQL for the canonical text of these fields of `row` (e.g. NEW.), joined by FIELD_SEP."""
    return "concat_ws(E'\\x1f', " + ", ".join(_pg_text(f, row) for f in fields) + ")"


MIGRATIONS: list[str | tuple[str, ...]] = [
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
    # 2: the restore epoch, part of the data version (store/sql.py VERSION_SQL)
    """
    INSERT INTO meta VALUES ('epoch', 0);
    """,
    # 3: an organizer's confirmation of a location the shoreline questions (issue 11)
    """
    ALTER TABLE stations ADD COLUMN location_confirmed BOOLEAN NOT NULL DEFAULT false;
    """,
    # 4: coverage analysis (locator/store/demand.py): demand layers, the search log, background jobs.
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
    # 5: when each station's information was last vouched for (issue 16: freshness, 待核实)
    """
    ALTER TABLE stations ADD COLUMN verified_at TIMESTAMPTZ;
    """,
    # 6: riders' reports and "这里可用" confirmations (locator/store/reports.py; issue 16): beside the
    # roster, never in station records. Times are ISO-8601 UTC text and days ISO dates, as in SQLite.
    """
    CREATE TABLE station_reports (
        id BIGSERIAL PRIMARY KEY,
        station_id TEXT NOT NULL,
        district TEXT,
        kind TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open',
        resolved_at TEXT,
        resolved_by TEXT,
        resolution_note TEXT,
        audit_id BIGINT
    );
    CREATE INDEX station_reports_open ON station_reports (status, district);
    CREATE INDEX station_reports_station ON station_reports (station_id, kind);
    CREATE TABLE station_confirmations (
        day TEXT NOT NULL,
        station_id TEXT NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (station_id, day)
    );
    CREATE INDEX station_confirmations_day ON station_confirmations (day);
    """,
    # 7: accounts, login sessions, API tokens, station keepers' stations and the account audit trail
    # (locator/store/accounts.py; issue 18): one set for every app server. The same columns as
    # SQLite's migrations 2, 3, 8 and 10; times are ISO-8601 UTC text, districts a JSON list.
    """
    CREATE TABLE users (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        districts TEXT NOT NULL DEFAULT '[]',
        password_hash TEXT NOT NULL,
        active BOOLEAN NOT NULL DEFAULT true,
        created_at TEXT NOT NULL
    );
    CREATE TABLE api_tokens (
        id BIGSERIAL PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users(id),
        label TEXT NOT NULL DEFAULT '',
        digest TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        last_used_at TEXT
    );
    CREATE INDEX api_tokens_user ON api_tokens (user_id);
    CREATE TABLE sessions (
        digest TEXT PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user_id);
    CREATE INDEX sessions_expires ON sessions (expires_at);
    CREATE TABLE station_keepers (
        user_id BIGINT NOT NULL REFERENCES users(id),
        station_id TEXT NOT NULL,
        PRIMARY KEY (user_id, station_id)
    );
    CREATE INDEX station_keepers_station ON station_keepers (station_id);
    CREATE TABLE account_audit (
        id BIGSERIAL PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX account_audit_target ON account_audit (target, id);
    """,
    # 8: what each app server used to keep in its instance folder (locator/store/shared.py; issue 18):
    # the generated secret key, when LOCATOR_SECRET_KEY is not set, and uploaded files between an
    # import preview and its commit, so that a preview made through one server commits through another
    """
    CREATE TABLE instance_secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE upload_staging (
        digest TEXT NOT NULL,
        format TEXT NOT NULL,
        data BYTEA NOT NULL,
        size BIGINT NOT NULL,
        saved_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (digest, format)
    );
    CREATE INDEX upload_staging_saved ON upload_staging (saved_at);
    """,
    # 9: station_table's canonical texts kept beside each row by a trigger (so rows written by any
    # client are packed too), so the nearest snapshot reads a million stations as four stored texts
    # instead of formatting three timestamps a row per read (issue 18). A tuple: statements as
    # written (the trigger's body holds semicolons).
    (
        "ALTER TABLE stations ADD COLUMN lnglat TEXT, ADD COLUMN filter_key TEXT, ADD COLUMN packed TEXT",
        f"""
        CREATE FUNCTION stations_pack() RETURNS trigger LANGUAGE plpgsql AS $pack$
        BEGIN
            NEW.lnglat := encode(float8send(NEW.lng), 'hex') || encode(float8send(NEW.lat), 'hex');
            NEW.filter_key := {_pg_packed(FILTER_FIELDS, "NEW.")};
            NEW.packed := {_pg_packed(PACKED_FIELDS, "NEW.")};
            RETURN NEW;
        END
        $pack$
        """,
        "CREATE TRIGGER stations_pack BEFORE INSERT OR UPDATE ON stations"
        " FOR EACH ROW EXECUTE FUNCTION stations_pack()",
        "UPDATE stations SET lnglat = NULL",  # runs the trigger on the rows already there
    ),
]

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_TIE_REL = 1e-6  # sphere bounds are widened by this (relative) ...
_TIE_ABS_M = 1e-3  # ... and by a millimetre: covers PostGIS's own rounding of `<->`
# PostGIS measures `<->` and ST_DWithin(..., false) on a sphere of the mean radius (2a + b) / 3 =
# 6,371,008.77 m, a hair smaller than the embedded index's R, so the embedded index's bound
# R / M(phi_lo) holds for it too. The stations' latitudes are not known before the query, so
# phi_lo is the equator: a 0.56 % wider net than the embedded index casts around Wenzhou.
_RATIO = sphere_ratio(0.0)


def pg_where(query: StationQuery) -> tuple[str, list[Any]]:
    """WHERE text and parameters in PostgreSQL's dialect, with SQLite's semantics."""
    return where_clause(query, placeholder="%s", amenity_sql="%s = ANY(amenities)")


# One pass in id order over the columns the trigger of migration 9 keeps: every aggregate sees the
# rows in the subquery's order (the ids read back ascending is checked by station_table, which reads
# rows instead if they are not, or if a NULL left a station out).
_PACKED_READ_SQL = """
SELECT count(*),
       convert_to(coalesce(string_agg(id, E'\\x1f'), ''), 'UTF8'),
       coalesce(string_agg(lnglat, ''), ''),
       convert_to(coalesce(string_agg(filter_key, E'\\x1e'), ''), 'UTF8'),
       convert_to(coalesce(string_agg(packed, E'\\x1e'), ''), 'UTF8')
FROM (SELECT id, lnglat, filter_key, packed FROM stations ORDER BY id) AS s
"""


class PostGISStore(SQLStationStore):
    """Stations in PostgreSQL+PostGIS, in `schema`; one connection per thread (autocommit reads)."""

    PLACEHOLDER = "%s"
    ENCODE = {"amenities": list, "lng": float, "lat": float, "approximate": bool, "location_confirmed": bool}
    DECODE = {
        "amenities": tuple,
        "approximate": bool,
        "location_confirmed": bool,
        "verified_at": lambda v: v.astimezone(UTC),
        "created_at": lambda v: v.astimezone(UTC),
        "updated_at": lambda v: v.astimezone(UTC),
    }

    def __init__(self, url: str, schema: str = "public", *, version_check_interval: float = 0.0, listen: bool = True):
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"schema {schema!r}: use letters, digits and underscores (at most 63)")
        self.url = url
        self.schema = schema
        # Seconds a read data version is trusted before asking the database again (0: every call),
        # while no listener vouches for it.
        self.version_check_interval = version_check_interval
        # (listener changes seen, monotonic time, value) of the last version read from the database.
        self._version_cache: tuple[int, float, int] | None = None
        self.queries = 0  # statements sent (tests and benchmarks count them; approximate across threads)
        # Called with False when the database becomes unreachable and True when it answers again.
        self.on_availability: Callable[[bool], None] | None = None
        self._local = threading.local()
        self._all: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._down_since: float | None = None  # time.time() of the failed connection attempt
        self._last_attempt = 0.0
        self._generation = 0  # moves at every outage: connections from before it are replaced
        self._inherited: list[Any] = []  # a forked child's copies of the parent's connections: never closed here
        self.listener = VersionListener(self) if listen else None
        _STORES.add(self)

    # -- connections -----------------------------------------------------------------
    def _connect(self, *, name: str = "locator") -> psycopg.Connection:
        """A new autocommit connection in this store's schema (psycopg errors pass through).

        `name` is its application_name in pg_stat_activity (locator, locator-listener).
        """
        conn = psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            cursor_factory=_Cursor,
            application_name=name,
            **_TCP,
        )
        conn.locator_store = self
        conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(self.schema)))
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    def _conn(self) -> psycopg.Connection:
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is not None and not conn.broken and not conn.closed and local.generation == self._generation:
            return conn
        if conn is not None:
            conn.close()  # broken, or from before an outage (its server process may be gone)
            local.conn = None
        if self._down_since is not None and not self._may_try():
            raise StoreUnavailable(_UNAVAILABLE)
        generation = self._generation
        self._last_attempt = time.monotonic()
        try:
            conn = self._connect()
        except StoreUnavailable as exc:
            self._mark_down(exc)
            raise
        except psycopg.OperationalError as exc:
            self._mark_down(exc)
            raise self._unavailable(exc) from exc
        self._mark_up()
        local.conn, local.generation = conn, generation
        with self._lock:
            self._all = [c for c in self._all if not c.closed]
            self._all.append(conn)
        return conn

    def _may_try(self) -> bool:
        """While down: may this call try to connect? (The listener tries, if there is one.)"""
        listener = self.listener
        if listener is not None and listener.running():
            return False
        return time.monotonic() - self._last_attempt >= RETRY_S

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        # The reason goes to the log, not to the client (it names hosts and ports).
        log.warning("PostgreSQL (schema %s): %s", self.schema, str(exc).strip().splitlines()[0] if str(exc) else exc)
        return StoreUnavailable(_UNAVAILABLE)

    def _mark_down(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.time()
            self._generation += 1
            log.error("PostgreSQL unreachable (schema %s): %s; serving the last snapshot", self.schema, exc)
            if self.on_availability is not None:
                self.on_availability(False)

    def _mark_up(self) -> None:
        if self._down_since is not None:
            self._down_since = None
            log.warning("PostgreSQL reachable again (schema %s)", self.schema)
            if self.on_availability is not None:
                self.on_availability(True)

    @property
    def down_since(self) -> float | None:
        """When (time.time()) the database stopped answering; None while it answers."""
        return self._down_since

    @property
    def listening(self) -> bool:
        """True while this process's listener holds its LISTEN connection."""
        return self.listener is not None and self.listener.connected

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection]:
        conn = self._conn()
        try:
            with conn.transaction():
                # One writer at a time, as in SQLite: the version checks below cannot race.
                conn.execute("SELECT value FROM meta WHERE key = 'data_version' FOR UPDATE")
                yield conn
        except psycopg.OperationalError as exc:  # e.g. the commit, or a COPY, on a lost connection
            raise self._unavailable(exc) from exc
        self._version_cache = None  # this process sees its own writes at once

    def _announce(self, conn: psycopg.Connection) -> None:
        """NOTIFY every instance's listener (sent at commit; nothing if the transaction rolls back)."""
        conn.execute(f"SELECT pg_notify(%s, %s || ' ' || ({VERSION_SQL}))", (CHANNEL, self.schema))

    def close(self) -> None:
        """Stop the listener and close every connection this store opened."""
        if self.listener is not None:
            self.listener.stop()
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def _after_fork(self) -> None:
        # The parent's connections belong to the parent: closing them here would end its sessions
        # (libpq sends Terminate). Keep them referenced, unused; open new ones on first use.
        self._inherited.extend(self._all)
        self._all = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._version_cache = None
        if self.listener is not None:
            self.listener._after_fork()

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
                    statements = script if isinstance(script, tuple) else filter(str.strip, script.split(";"))
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_version VALUES (%s)", (number,))

    def drop_schema(self) -> None:
        """Remove this store's schema and everything in it (tests; never `public`)."""
        if self.schema == "public":
            raise ValueError("refusing to drop the public schema")
        self._conn().execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    def data_version(self) -> int:
        """The data version (epoch and write counter, store/sql.py): from memory while the listener vouches for it.

        Asks the database after a notification or a reconnection of the listener; without a
        listening connection, on every call (or once per `version_check_interval` seconds).
        StoreUnavailable while the database cannot be reached.
        """
        listener = self.listener
        if listener is not None:
            listener.ensure_running()
        cached = self._version_cache
        if self._down_since is None and cached is not None:
            if listener is not None and listener.connected and cached[0] == listener.changes:
                return cached[2]
            if self.version_check_interval > 0 and time.monotonic() - cached[1] < self.version_check_interval:
                return cached[2]
        # Read the listener's count before asking: a change notified meanwhile makes the next call ask again.
        changes = listener.changes if listener is not None else 0
        value = self._conn().execute(VERSION_SQL).fetchone()[0]
        self._version_cache = (changes, time.monotonic(), value)
        return value

    # -- the roster in columns ------------------------------------------------------------
    def _packed_read(self) -> tuple[int, bytes, np.ndarray, bytes, bytes]:
        """station_table's canonical texts, made by the server in one pass over the table in id order;
        coordinates as their IEEE bytes in hex (exact whatever extra_float_digits says)."""
        # A connection of its own, closed after: libpq keeps its input buffer as large as the largest
        # answer it has read, and this answer is the whole roster (~250 MB kept per worker at 1M).
        try:
            conn = self._connect(name="locator-snapshot")
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from exc
        try:
            count, ids, lnglat, filters, packed = conn.execute(
                _PACKED_READ_SQL, binary=True
            ).fetchone()  # bytea as bytes, not hex text
        except (psycopg.errors.ProgramLimitExceeded, psycopg.errors.OutOfMemory) as exc:  # a text over 1 GB
            raise UnexpectedText(str(exc)) from exc
        finally:
            conn.close()
        coords = np.frombuffer(bytes.fromhex(lnglat), ">f8").astype(float) if count else np.zeros(0)
        return count, bytes(ids), coords, bytes(filters), bytes(packed)

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
        """Ids and WGS-84 geodesic distances (m) of the k nearest stations, ordered by (distance, id).

        `<->` on the GiST index fetches candidates by sphere distance; the k nearest of them bound
        the k-th geodesic distance from above, every station within that bound (times the
        sphere/ellipsoid ratio) on the sphere is fetched too, and all are ranked by geodesic distance.
        """
        if k <= 0:
            return [], []
        where, params = pg_where(query)
        point = "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography"
        conditions = [where[len(" WHERE ") :]] if where else []
        if radius_m is not None:
            # Every station within the geodesic radius is within this sphere distance.
            conditions.append(f"ST_DWithin(geog, {point}, %s, false)")
            params = params + [lng, lat, radius_m * _RATIO * (1 + _TIE_REL) + _TIE_ABS_M]
        cond = (" WHERE " + " AND ".join(conditions)) if conditions else ""
        text = f"SELECT id, lng, lat, geog <-> {point} AS d FROM stations{cond} ORDER BY d LIMIT %s"
        conn = self._conn()
        fetch = k + 4
        while True:
            rows = conn.execute(text, [lng, lat, *params, fetch]).fetchall()
            ranked = [(geodesic_m(lng, lat, r[1], r[2]), r[0], r[3]) for r in rows]
            if len(rows) < fetch:
                break  # every station within the radius (or the whole roster) is here
            cap = max(g for g, _, _ in ranked[:k])
            if radius_m is not None:
                cap = min(cap, radius_m)
            if rows[-1][3] > cap * _RATIO * (1 + _TIE_REL) + _TIE_ABS_M:
                break  # the rest are farther on the sphere than any station of the answer can be
            fetch *= 4
        ranked.sort()
        if radius_m is not None:
            ranked = [r for r in ranked if r[0] <= radius_m]
        ranked = ranked[:k]
        return [i for _, i, _ in ranked], [g for g, _, _ in ranked]


class VersionListener:
    """One thread per process: LISTEN on a connection of its own and count this schema's changes.

    `changes` moves on every notification for the schema, on every (re)connection (a change may
    have been missed while disconnected) and when the slow check finds another version. The thread
    starts on first use in each process (after gunicorn forks a worker, in the worker), never
    in a process that only imported the app.
    """

    def __init__(self, store: PostGISStore, *, poll_s: float = LISTEN_POLL_S):
        self._store = weakref.ref(store)
        self.schema = store.schema
        self.poll_s = poll_s
        self.changes = 0
        self.notifications = 0  # notifications received for this schema
        self.reconnections = 0
        self.connected = False
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._start_lock = threading.Lock()
        self._conn: psycopg.Connection | None = None

    def running(self) -> bool:
        """True while the thread runs in this process."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def ensure_running(self) -> None:
        """Start the thread in this process if it is not running (cheap when it is)."""
        if self._thread is not None or self._closed:
            return
        with self._start_lock:
            if self._thread is not None or self._closed:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"pg-listen-{self.schema}", daemon=True)
        self._thread.start()

    def stop(self, *, wait: float = 0.0) -> None:
        """Stop the thread: it closes its connection and ends within LISTEN_WAIT_S (or `wait` for it)."""
        self._closed = True
        self._stop.set()
        self.connected = False
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(wait)

    def _after_fork(self) -> None:
        if self._conn is not None:
            store = self._store()
            if store is not None:
                store._inherited.append(self._conn)
        self.connected = False
        self.changes += 1
        self._reset()

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            store = self._store()
            if store is None:
                return
            try:
                conn = store._connect(name="locator-listener")
            except Exception as exc:  # noqa: BLE001 - any failure to connect: down, try again
                store._mark_down(exc)
                del store
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if self._stop.is_set():
                conn.close()
                return
            self._conn = conn
            listened = False
            try:
                self._listen(conn, store)
            except Exception as exc:  # noqa: BLE001 - a lost connection: reconnect at once
                listened = self.connected
                if not self._stop.is_set():
                    log.warning("PostgreSQL listener (schema %s) stopped: %s", self.schema, exc)
                    if listened:  # other connections of this process are likely dead too (a restart)
                        store._generation += 1
            finally:
                self.connected = False
                self._conn = None
                try:
                    conn.close()
                except Exception:  # noqa: BLE001, S110 - closing a dead connection
                    pass
            del store
            if listened:
                backoff = 0.1
            else:  # it failed before listening (no schema yet, LISTEN refused): do not spin
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)

    def _listen(self, conn: psycopg.Connection, store: PostGISStore) -> None:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
        version = conn.execute(VERSION_SQL).fetchone()[0]
        self.changes += 1  # a change may have come and gone while nobody listened
        self.reconnections += 1
        self.connected = True
        store._mark_up()
        next_check = time.monotonic() + self.poll_s
        prefix = self.schema + " "
        while not self._stop.is_set():
            mine = False
            for note in conn.notifies(timeout=LISTEN_WAIT_S, stop_after=1):
                if note.payload.startswith(prefix):
                    mine = True
            if mine:
                self.notifications += 1
                self.changes += 1
                next_check = time.monotonic() + self.poll_s
            elif time.monotonic() >= next_check:
                current = conn.execute(VERSION_SQL).fetchone()[0]
                if current != version:
                    self.changes += 1
                version = current
                next_check = time.monotonic() + self.poll_s
            store._mark_up()


_STORES: weakref.WeakSet[PostGISStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        store._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
