"""Where coverage analysis keeps its data, beside the roster: demand layers, the search log, jobs.

The tables come from the coverage migration of both backends (SQLite migration 3, PostGIS 2):
the same SQL runs on both, through the station store's own connections and write transactions.
Times are ISO-8601 UTC text and days ISO dates on both backends. Nothing here holds a rider's
position: the search log keeps only (day, H3 resolution-8 cell, count).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from locator.errors import LocatorError
from locator.store.sql import SQLStationStore


class LayerNameTaken(LocatorError):
    """A demand layer with this name exists already."""

    http_status = 409
    title = "Conflict"

    def __init__(self, name: str):
        super().__init__(f"a demand layer named {name!r} exists already")
        self.detail_zh = f"已有名为「{name}」的图层：请换一个名称，或先删除旧图层。"


@dataclass(frozen=True)
class LayerInfo:
    """A stored layer: demand (weighted points or cells) or candidate hosts for new stations."""

    id: int
    name: str
    source: str
    purpose: str  # demand | hosts
    kind: str  # points | cells
    crs: str  # the coordinate system the file was in (stored in WGS-84)
    items: int
    total_weight: float
    created_by: str
    created_at: str

    def as_json(self) -> dict[str, Any]:
        """For the API and the admin page."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class LayerItems:
    """A layer's items as arrays: WGS-84 position, H3 resolution-8 cell, weight, label."""

    lng: np.ndarray
    lat: np.ndarray
    cell: np.ndarray  # uint64 H3 indexes
    weight: np.ndarray
    label: list[str | None]


@dataclass(frozen=True)
class JobRecord:
    """A background coverage job as every worker process sees it."""

    id: str
    params: dict[str, Any]
    status: str  # running | done | failed
    progress: float
    message: str
    result: str | None
    error: str | None
    owner: str
    created_by: str
    created_at: str
    updated_at: str


def utc_now() -> str:
    """Now as ISO-8601 UTC text (milliseconds), the form every time in these tables takes."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_LAYER_COLUMNS = "id, name, source, purpose, kind, crs, items, total_weight, created_by, created_at"
_JOB_COLUMNS = "id, params, status, progress, message, result, error, owner, created_by, created_at, updated_at"


class DemandStore:
    """Demand layers, search counts and coverage jobs in the station store's database."""

    def __init__(self, store: SQLStationStore):
        self.store = store
        self.p = store.PLACEHOLDER
        self.postgres = store.PLACEHOLDER == "%s"

    # -- demand layers -------------------------------------------------------------------
    def create_layer(
        self,
        *,
        name: str,
        source: str,
        purpose: str,
        kind: str,
        crs: str,
        created_by: str,
        items: LayerItems,
    ) -> LayerInfo:
        """Store a layer and its items in one transaction (LayerNameTaken if the name is used)."""
        p = self.p
        n = len(items.weight)
        rows = zip(
            [0] * n,
            range(n),
            np.round(items.lng, 7).tolist(),
            np.round(items.lat, 7).tolist(),
            [int(c) for c in items.cell.tolist()],
            items.weight.astype(float).tolist(),
            items.label,
            strict=True,
        )
        with self.store._write() as conn:
            taken = conn.execute(f"SELECT 1 FROM demand_layers WHERE name = {p}", (name,)).fetchone()
            if taken:
                raise LayerNameTaken(name)
            values = (name, source, purpose, kind, crs, n, float(items.weight.sum()), created_by, utc_now())
            cur = conn.execute(
                "INSERT INTO demand_layers (name, source, purpose, kind, crs, items, total_weight, created_by, "
                f"created_at) VALUES ({', '.join([p] * 9)}) RETURNING id",
                values,
            )
            layer_id = int(cur.fetchone()[0])
            self._insert_items(conn, ((layer_id, *row[1:]) for row in rows))
        found = self.layer(layer_id)
        assert found is not None
        return found

    def _insert_items(self, conn: Any, rows: Iterable[tuple[Any, ...]]) -> None:
        columns = "layer_id, seq, lng, lat, cell, weight, label"
        if self.postgres:
            with conn.cursor() as cur, cur.copy(f"COPY demand_items ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            conn.executemany(f"INSERT INTO demand_items ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def layers(self, purpose: str | None = None) -> list[LayerInfo]:
        """Every layer (or those of one purpose), newest first."""
        sql = f"SELECT {_LAYER_COLUMNS} FROM demand_layers"
        params: list[Any] = []
        if purpose:
            sql += f" WHERE purpose = {self.p}"
            params.append(purpose)
        rows = self.store._conn().execute(sql + " ORDER BY id DESC", params).fetchall()
        return [self._layer(r) for r in rows]

    def layer(self, layer_id: int) -> LayerInfo | None:
        """One layer by id."""
        row = (
            self.store._conn()
            .execute(f"SELECT {_LAYER_COLUMNS} FROM demand_layers WHERE id = {self.p}", (layer_id,))
            .fetchone()
        )
        return self._layer(row) if row else None

    def layer_named(self, name: str) -> LayerInfo | None:
        """One layer by name."""
        row = (
            self.store._conn()
            .execute(f"SELECT {_LAYER_COLUMNS} FROM demand_layers WHERE name = {self.p}", (name,))
            .fetchone()
        )
        return self._layer(row) if row else None

    @staticmethod
    def _layer(row: Sequence[Any]) -> LayerInfo:
        values = list(row)
        values[0] = int(values[0])
        values[6] = int(values[6])
        values[7] = float(values[7])
        return LayerInfo(*values)

    def layer_items(self, layer_id: int) -> LayerItems:
        """A layer's items in their original order."""
        rows = (
            self.store._conn()
            .execute(
                f"SELECT lng, lat, cell, weight, label FROM demand_items WHERE layer_id = {self.p} ORDER BY seq",
                (layer_id,),
            )
            .fetchall()
        )
        if not rows:
            empty = np.zeros(0)
            return LayerItems(empty, empty, np.zeros(0, np.uint64), empty, [])
        lng, lat, cell, weight, label = zip(*rows, strict=True)
        return LayerItems(
            np.asarray(lng, float),
            np.asarray(lat, float),
            np.asarray(cell, dtype=np.int64).astype(np.uint64),
            np.asarray(weight, float),
            list(label),
        )

    def delete_layer(self, layer_id: int) -> bool:
        """Remove a layer and its items; False if there was none."""
        with self.store._write() as conn:
            conn.execute(f"DELETE FROM demand_items WHERE layer_id = {self.p}", (layer_id,))
            cur = conn.execute(f"DELETE FROM demand_layers WHERE id = {self.p}", (layer_id,))
            return cur.rowcount == 1

    # -- the search log ------------------------------------------------------------------
    def add_search_counts(self, rows: Sequence[tuple[str, int, int]]) -> None:
        """Add (day, cell, count) rows to the stored counts in one transaction (additive across processes)."""
        if not rows:
            return
        p = self.p
        sql = (
            f"INSERT INTO search_counts (day, cell, n) VALUES ({p}, {p}, {p}) "
            "ON CONFLICT (day, cell) DO UPDATE SET n = search_counts.n + excluded.n"
        )
        self.store.write_many(sql, rows)

    def search_counts(self, first_day: str, last_day: str, *, at_least: int = 1) -> dict[int, int]:
        """Searches per cell over the days first_day..last_day (ISO dates), only cells with >= at_least."""
        p = self.p
        rows = (
            self.store._conn()
            .execute(
                f"SELECT cell, sum(n) FROM search_counts WHERE day >= {p} AND day <= {p} "
                f"GROUP BY cell HAVING sum(n) >= {p} ORDER BY cell",
                (first_day, last_day, at_least),
            )
            .fetchall()
        )
        return {int(c): int(n) for c, n in rows}

    def search_days(self) -> list[tuple[str, int]]:
        """(day, total searches) per stored day, oldest first (no cells: for the retention check)."""
        rows = self.store._conn().execute("SELECT day, sum(n) FROM search_counts GROUP BY day ORDER BY day")
        return [(str(d), int(n)) for d, n in rows.fetchall()]

    def prune_search_counts(self, before_day: str) -> int:
        """Delete the counts of days before `before_day`; how many rows went."""
        with self.store._write() as conn:
            return conn.execute(f"DELETE FROM search_counts WHERE day < {self.p}", (before_day,)).rowcount

    # -- coverage jobs -------------------------------------------------------------------
    def job(self, job_id: str) -> JobRecord | None:
        """One job by id."""
        row = self.store._conn().execute(f"SELECT {_JOB_COLUMNS} FROM coverage_jobs WHERE id = {self.p}", (job_id,))
        found = row.fetchone()
        return self._job(found) if found else None

    @staticmethod
    def _job(row: Sequence[Any]) -> JobRecord:
        values = list(row)
        values[1] = json.loads(values[1])
        values[3] = float(values[3])
        return JobRecord(*values)

    def claim_job(self, job_id: str, params: dict[str, Any], *, owner: str, created_by: str, stale_before: str) -> bool:
        """Start (or take over) a job unless it is done or running with a fresh heartbeat; True if claimed.

        One transaction: of several worker processes asked for the same job at once, one claims it.
        """
        p = self.p
        now = utc_now()
        with self.store._write() as conn:
            row = conn.execute(f"SELECT status, updated_at FROM coverage_jobs WHERE id = {p}", (job_id,)).fetchone()
            if row is not None:
                status, updated = row
                if status == "done" or (status == "running" and updated >= stale_before):
                    return False
                conn.execute(f"DELETE FROM coverage_jobs WHERE id = {p}", (job_id,))
            conn.execute(
                "INSERT INTO coverage_jobs (id, params, status, progress, message, owner, created_by, created_at, "
                f"updated_at) VALUES ({p}, {p}, 'running', 0, '排队中', {p}, {p}, {p}, {p})",
                (job_id, json.dumps(params, ensure_ascii=False, sort_keys=True), owner, created_by, now, now),
            )
        return True

    def update_job(
        self,
        job_id: str,
        *,
        progress: float | None = None,
        message: str | None = None,
        status: str | None = None,
        result: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record progress (also the job's heartbeat), or its end with a result or an error."""
        p = self.p
        sets = [f"updated_at = {p}"]
        params: list[Any] = [utc_now()]
        for column, value in (
            ("progress", progress),
            ("message", message),
            ("status", status),
            ("result", result),
            ("error", error),
        ):
            if value is not None:
                sets.append(f"{column} = {p}")
                params.append(value)
        with self.store._write() as conn:
            conn.execute(f"UPDATE coverage_jobs SET {', '.join(sets)} WHERE id = {p}", [*params, job_id])

    def prune_jobs(self, before: str) -> int:
        """Forget jobs last touched before `before` (results are recomputed when asked again)."""
        with self.store._write() as conn:
            return conn.execute(f"DELETE FROM coverage_jobs WHERE updated_at < {self.p}", (before,)).rowcount
