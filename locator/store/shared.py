"""What each app server used to keep in its instance folder, in PostgreSQL for all of them (issue 18).

- The secret key, when LOCATOR_SECRET_KEY is not set: generated once by whichever app server asks
  first, then the same for every server and worker on this database (`shared_secret_key`).
- Uploaded files between an import preview and its commit (`SharedUploadStaging`): the same
  digest-keyed semantics, expiry and size cap as the instance folder's `importing.UploadStaging`,
  so a preview made through one server commits through another.

Tables from the PostGIS migration "instance_secrets, upload_staging" (locator/store/postgis.py).
With SQLite (one machine) both stay in the instance folder.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importing.py reads the constants here without the optional PostgreSQL driver
    from locator.formats import Format
    from locator.store.postgis import PostGISStore

STAGING_KEEP_S = 24 * 3600  # previews never committed are kept for a day
STAGING_MAX_BYTES = 200 * 1024 * 1024  # all kept files together, oldest evicted first
SECRET_KEY_NAME = "secret_key"


def is_digest(digest: str) -> bool:
    """A SHA-256 in lower-case hex: the only names kept files have."""
    return len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)


def shared_secret_key(store: PostGISStore) -> str:
    """The secret key every app server on this database signs with: made once (64 hex digits), then read.

    Two servers starting together both try to insert; the primary key keeps the first, and both read it.
    """
    conn = store._conn()
    conn.execute(
        "INSERT INTO instance_secrets (name, value, created_at) VALUES (%s, %s, %s) ON CONFLICT (name) DO NOTHING",
        (SECRET_KEY_NAME, secrets.token_hex(32), datetime.now(UTC).isoformat(timespec="seconds")),
    )
    return conn.execute("SELECT value FROM instance_secrets WHERE name = %s", (SECRET_KEY_NAME,)).fetchone()[0]


class SharedUploadStaging:
    """Uploaded files kept between a preview and its commit, in PostgreSQL, named by SHA-256 and format.

    Previews that may be committed are kept, and files once committed (as importing.UploadStaging).
    Files older than a day go, and the table never holds more than `max_bytes`: the oldest files are
    evicted first (their preview then asks for the file again). A file is read back only if its bytes
    still hash to its name.
    """

    KEEP_S = STAGING_KEEP_S
    MAX_BYTES = STAGING_MAX_BYTES

    def __init__(self, store: PostGISStore, max_bytes: int | None = None):
        self.store = store
        self.max_bytes = self.MAX_BYTES if max_bytes is None else max_bytes

    def save(self, data: bytes, fmt: Format) -> str:
        """Keep an uploaded file (`fmt`: its Format); its digest. Expired files go, then the oldest beyond the cap."""
        digest = hashlib.sha256(data).hexdigest()
        now = time.time()
        import psycopg  # noqa: PLC0415 - optional backend

        conn = self.store._conn()
        try:
            self._save(conn, data, digest, fmt.name, now)
        except psycopg.OperationalError as exc:  # the commit on a lost connection
            raise self.store._unavailable(exc) from exc
        return digest

    def _save(self, conn: Any, data: bytes, digest: str, fmt: str, now: float) -> None:
        with conn.transaction():
            # One saver at a time: the cap is checked against what the others saved.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"locator-upload-staging:{self.store.schema}",))
            conn.execute("DELETE FROM upload_staging WHERE saved_at < %s", (now - self.KEEP_S,))
            conn.execute("DELETE FROM upload_staging WHERE digest = %s AND format = %s", (digest, fmt))
            kept = conn.execute("SELECT digest, format, size FROM upload_staging ORDER BY saved_at").fetchall()
            total = sum(size for _, _, size in kept) + len(data)
            for old_digest, old_format, size in kept:  # oldest first
                if total <= self.max_bytes:
                    break
                conn.execute("DELETE FROM upload_staging WHERE digest = %s AND format = %s", (old_digest, old_format))
                total -= size
            conn.execute(
                "INSERT INTO upload_staging (digest, format, data, size, saved_at) VALUES (%s, %s, %s, %s, %s)",
                (digest, fmt, data, len(data), now),
            )

    def load(self, digest: str, fmt: str) -> bytes | None:
        """The kept file, or None if it expired, was evicted, never existed or changed."""
        if not is_digest(digest):
            return None
        row = (
            self.store._conn()
            .execute(
                "SELECT data FROM upload_staging WHERE digest = %s AND format = %s AND saved_at >= %s",
                (digest, fmt, time.time() - self.KEEP_S),
            )
            .fetchone()
        )
        if row is None:
            return None
        data = bytes(row[0])
        return data if hashlib.sha256(data).hexdigest() == digest else None

    def discard(self, digest: str, fmt: str) -> None:
        """Forget a kept file (a refused preview's: it cannot be committed)."""
        self.store._conn().execute("DELETE FROM upload_staging WHERE digest = %s AND format = %s", (digest, fmt))
