"""What every SQL store shares, written once: reads, single-station writes, the bulk replace, the audit trail.

SQLiteStore and PostGISStore subclass SQLStationStore and supply only their dialect: connections
and transactions, the placeholder, how a column's value is stored, and the fastest bulk writes.
"""

from __future__ import annotations

import json
import logging
import warnings
from abc import abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import numpy as np

from locator.station_table import StationTable, UnexpectedText
from locator.stations import Station
from locator.store.base import (
    ALL_STATIONS,
    STATION_COLUMNS,
    AuditRecord,
    Conflict,
    NotFound,
    ReplacePlan,
    ReplaceSummary,
    StationQuery,
    StationStore,
    audit_values,
    now_ms,
    plan_replacement,
    stamped_new,
    stamped_replacement,
    with_verification,
)

log = logging.getLogger(__name__)

# A restore moves the database to a new epoch; the data version every instance compares is
# epoch * EPOCH_STRIDE + the write counter, so it never repeats even though a restored counter
# goes back (running servers see a new version at once and reload).
EPOCH_STRIDE = 1_000_000_000
VERSION_SQL = (
    f"SELECT (SELECT value FROM meta WHERE key = 'epoch') * {EPOCH_STRIDE} "
    "+ (SELECT value FROM meta WHERE key = 'data_version')"
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
    if query.bbox:
        x0, y0, x1, y1 = query.bbox
        parts.append(f"lng >= {placeholder} AND lng <= {placeholder} AND lat >= {placeholder} AND lat <= {placeholder}")
        params.extend([x0, x1, y0, y1])
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


class SQLStationStore(StationStore):
    """Everything an SQL store does, written once: reads, single-station writes and the bulk replace.

    Each write is one transaction that checks versions, writes rows, leaves audit records and bumps
    the data version. Backends (SQLite, PostGIS) supply the connection and transaction, the
    placeholder and WHERE clause of their dialect, how a column's value is stored (ENCODE/DECODE),
    and how a bulk replace's rows are written fastest.
    """

    PLACEHOLDER = "?"
    COLUMNS = ", ".join(STATION_COLUMNS)
    # Column name -> conversion between Station values and the dialect's values (identity if absent).
    ENCODE: dict[str, Callable[[Any], Any]] = {}
    DECODE: dict[str, Callable[[Any], Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._decoders = [(STATION_COLUMNS.index(c), f) for c, f in cls.DECODE.items()]
        cls._encoders = [(STATION_COLUMNS.index(c), f) for c, f in cls.ENCODE.items()]

    @classmethod
    def _station(cls, row: Sequence[Any]) -> Station:
        """A row of COLUMNS as a Station."""
        values = list(row)
        for i, decode in cls._decoders:
            if values[i] is not None:
                values[i] = decode(values[i])
        return Station(*values)

    @classmethod
    def _params(cls, station: Station) -> list[Any]:
        """A station as the dialect's parameters, in COLUMNS order."""
        values = [getattr(station, c) for c in STATION_COLUMNS]
        for i, encode in cls._encoders:
            if values[i] is not None:
                values[i] = encode(values[i])
        return values

    @abstractmethod
    def _conn(self) -> Any:
        """This thread's connection (reads outside a write transaction)."""

    @abstractmethod
    def _where(self, query: StationQuery) -> tuple[str, list[Any]]:
        """' WHERE …' text (or '') and parameters for a query."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Any]:
        """A write transaction (serialised against other writers), yielding the connection."""

    def write_many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Run one statement for every row in a single write transaction (counters beside the roster)."""
        if not rows:
            return
        with self._write() as conn:
            if self.PLACEHOLDER == "%s":  # psycopg: statements run on a cursor
                with conn.cursor() as cur:
                    cur.executemany(sql, rows)
            else:
                conn.executemany(sql, rows)

    @abstractmethod
    def _lock_row_sql(self) -> str:
        """The suffix that locks a row read inside a write transaction ('' where the transaction does)."""

    @abstractmethod
    def _audit_at(self, at: datetime) -> Any:
        """An audit timestamp as the dialect stores it."""

    @abstractmethod
    def _write_replacement(self, conn: Any, plan: ReplacePlan, audit_rows: list[tuple[Any, ...]]) -> None:
        """Write a bulk replace's removals, updates, inserts and audit records (in that order)."""

    def _bump(self, conn: Any) -> None:
        """Move the data version on (and tell the other instances, where the dialect can)."""
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")
        self._announce(conn)

    def _announce(self, conn: Any) -> None:  # noqa: B027 - a hook: SQLite has nobody to tell
        """Inside a write transaction that moved the data version: tell every instance (delivered at commit)."""

    # -- reads ---------------------------------------------------------------------------
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

    def read_table(self) -> StationTable:
        """The whole roster in columns from one query that makes no Station objects (station_table);
        row by row if its text does not split as it should."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # numpy warns (not raises) about a number it cannot read
                count, ids, coords, filters, packed = self._packed_read()
            if coords.size != 2 * count:
                raise UnexpectedText("the coordinates do not match the count")
            return StationTable.from_packed(count, ids, coords.reshape(count, 2), filters, packed)
        except (UnexpectedText, ValueError) as exc:
            log.warning("reading the roster in columns failed (%s): reading it row by row", exc)
            return super().read_table()

    @abstractmethod
    def _packed_read(self) -> tuple[int, bytes, np.ndarray, bytes, bytes]:
        """count, ids joined by FIELD_SEP, coordinates (2 × count floats), filter texts and packed
        texts joined by ROW_SEP (station_table's canonical form), all in id order, in one read."""

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

    def data_version(self) -> int:
        """epoch * EPOCH_STRIDE + the counter that every committed write bumps: it never repeats."""
        return self._conn().execute(VERSION_SQL).fetchone()[0]

    def epoch(self) -> int:
        """How many times this database has moved to a new epoch (each restore does)."""
        return self._conn().execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]

    def start_epoch(self, at_least: int = 0) -> int:
        """Move to a new epoch (at least `at_least`): every data version from now on differs from all before."""
        with self._write() as conn:
            current = conn.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]
            epoch = max(current + 1, at_least)
            conn.execute(f"UPDATE meta SET value = {self.PLACEHOLDER} WHERE key = 'epoch'", (epoch,))
            self._announce(conn)
        return epoch

    def ping(self) -> None:
        """Raise if the database cannot be read (always asks the database, never a cache)."""
        self._conn().execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()

    # -- statements ----------------------------------------------------------------------
    @property
    def _insert_sql(self) -> str:
        marks = ", ".join([self.PLACEHOLDER] * len(STATION_COLUMNS))
        return f"INSERT INTO stations ({self.COLUMNS}) VALUES ({marks})"

    @property
    def _update_sql(self) -> str:
        sets = ", ".join(f"{c}={self.PLACEHOLDER}" for c in STATION_COLUMNS[1:])  # all but id
        return f"UPDATE stations SET {sets} WHERE id={self.PLACEHOLDER}"

    @property
    def _audit_sql(self) -> str:
        marks = ", ".join([self.PLACEHOLDER] * 7)
        return f"INSERT INTO audit (station_id, action, actor, via, at, before, after) VALUES ({marks})"

    def _update_params(self, stored: Station) -> list[Any]:
        params = self._params(stored)
        return params[1:] + params[:1]

    def _get_in(self, conn: Any, station_id: str) -> Station | None:
        """The station inside the write transaction (locked where the dialect needs it), or None."""
        sql = f"SELECT {self.COLUMNS} FROM stations WHERE id = {self.PLACEHOLDER}{self._lock_row_sql()}"
        row = conn.execute(sql, (station_id,)).fetchone()
        return self._station(row) if row else None

    def _audit(self, conn: Any, action: str, actor: str, via: str, at: datetime, before, after) -> None:
        station_id = (after or before).id
        conn.execute(self._audit_sql, audit_values(station_id, action, actor, via, self._audit_at(at), before, after))

    @staticmethod
    def _now() -> datetime:
        return now_ms()

    @staticmethod
    def _check_data_version(conn: Any, expected: int | None) -> None:
        """Inside a write transaction: Conflict if the data version is no longer `expected`."""
        if expected is None:
            return
        current = conn.execute(VERSION_SQL).fetchone()[0]
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

    # -- writes --------------------------------------------------------------------------
    def create(self, station: Station, *, actor: str, via: str) -> Station:
        """Insert a new station; Conflict if the id is taken."""
        at = self._now()
        with self._write() as conn:
            if self._get_in(conn, station.id) is not None:
                raise Conflict(f"a station with id {station.id!r} already exists")
            stored = stamped_new(station, at)
            conn.execute(self._insert_sql, self._params(stored))
            self._audit(conn, "create", actor, via, at, None, stored)
            self._bump(conn)
        return stored

    def update(self, station: Station, *, expected_version: int, actor: str, via: str) -> Station:
        """Replace the fields of a station whose stored version is `expected_version`."""
        at = self._now()
        with self._write() as conn:
            old = self._locked_current(conn, station.id, expected_version)
            # An edit is a check, unless it names a verification time of its own (with_verification).
            stored = stamped_replacement(old, with_verification(station, old), at)
            conn.execute(self._update_sql, self._update_params(stored))
            self._audit(conn, "update", actor, via, at, old, stored)
            self._bump(conn)
        return stored

    def delete(self, station_id: str, *, expected_version: int | None, actor: str, via: str) -> Station:
        """Delete a station (its last values stay in the audit trail)."""
        at = self._now()
        with self._write() as conn:
            old = self._locked_current(conn, station_id, expected_version)
            conn.execute(f"DELETE FROM stations WHERE id = {self.PLACEHOLDER}", (station_id,))
            self._audit(conn, "delete", actor, via, at, old, None)
            self._bump(conn)
        return old

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
        at = self._now()
        with self._write() as conn:
            self._check_data_version(conn, expected_data_version)
            where, params = self._where(scope or ALL_STATIONS)
            rows = conn.execute(f"SELECT {self.COLUMNS} FROM stations{where} ORDER BY id", params)
            existing = {s.id: s for s in map(self._station, rows)}
            plan = plan_replacement(existing, stations, at)
            if plan.inserts and scope is not None:
                taken = self._first_taken(conn, [s.id for s in plan.inserts])
                if taken is not None:
                    raise Conflict(f"station {taken!r} exists outside the scope of this import")
            self._write_replacement(conn, plan, plan.audit_rows(actor, via, self._audit_at(at)))
            if plan.changes_anything:
                self._bump(conn)
        return plan.summary

    # -- the audit trail -----------------------------------------------------------------
    @abstractmethod
    def _audit_time(self, value: Any) -> datetime:
        """A stored audit timestamp as an aware UTC datetime."""

    def _audit_records(self, where: str, params: list[Any], limit: int) -> list[AuditRecord]:
        sql = f"SELECT id, station_id, action, actor, via, at, before, after FROM audit{where} ORDER BY id DESC"
        rows = self._conn().execute(f"{sql} LIMIT {self.PLACEHOLDER}", [*params, limit])

        def doc(value: Any) -> dict[str, Any] | None:
            return json.loads(value) if isinstance(value, str) else value

        return [AuditRecord(*r[:5], self._audit_time(r[5]), doc(r[6]), doc(r[7])) for r in rows]

    def audit(
        self, station_id: str | None = None, limit: int = 1000, *, actors: Sequence[str] | None = None
    ) -> list[AuditRecord]:
        """The audit trail, newest first, for one station or all (only `actors`' records, when given)."""
        parts: list[str] = []
        params: list[Any] = []
        if station_id is not None:
            parts.append(f"station_id = {self.PLACEHOLDER}")
            params.append(station_id)
        if actors is not None:
            if not actors:
                return []
            parts.append(f"actor IN ({', '.join([self.PLACEHOLDER] * len(actors))})")
            params.extend(actors)
        return self._audit_records((" WHERE " + " AND ".join(parts)) if parts else "", params, limit)

    def audit_record(self, record_id: int) -> AuditRecord | None:
        """One audit record by id."""
        found = self._audit_records(f" WHERE id = {self.PLACEHOLDER}", [record_id], 1)
        return found[0] if found else None

    def _first_taken(self, conn: Any, ids: Sequence[str]) -> str | None:
        """The first of `ids` (new to the scope) that a station outside the scope already holds."""
        for station_id in ids:
            if conn.execute(f"SELECT 1 FROM stations WHERE id = {self.PLACEHOLDER}", (station_id,)).fetchone():
                return station_id
        return None
