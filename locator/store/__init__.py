"""Pick the store for a database URL."""

from __future__ import annotations

import os

from locator.store.base import Conflict, Invalid, NotFound, StationQuery, StationStore, StoreError, StoreUnavailable

__all__ = [
    "Conflict",
    "Invalid",
    "NotFound",
    "StationQuery",
    "StationStore",
    "StoreError",
    "StoreUnavailable",
    "open_store",
]


def open_store(
    url: str,
    instance_path: str = ".",
    *,
    schema: str = "public",
    version_check_interval: float | None = None,
    listen: bool = True,
) -> StationStore:
    """SQLiteStore for sqlite:///PATH (relative to instance_path), PostGISStore for postgresql:// (in `schema`).

    `version_check_interval`: seconds a process trusts the data version it read last (None: the
    store's default, SQLiteStore.VERSION_CHECK_S or 0 for PostGIS, whose listener tells it of changes).
    `listen`: PostGIS learns of other instances' changes through LISTEN/NOTIFY (store/postgis.py).
    """
    if url.startswith("sqlite:///"):
        from locator.store.sqlite import SQLiteStore

        path = url[len("sqlite:///") :]
        if path != ":memory:" and not os.path.isabs(path):
            path = os.path.join(instance_path, path)
        return SQLiteStore(path, version_check_interval=version_check_interval)
    if url.startswith(("postgresql://", "postgres://")):
        from locator.store.postgis import PostGISStore  # noqa: PLC0415 - optional backend

        return PostGISStore(url, schema=schema, version_check_interval=version_check_interval or 0.0, listen=listen)
    raise ValueError(f"unsupported database URL {url!r}")
