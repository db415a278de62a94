"""Where accounts, login sessions and API tokens live: an interface, and its SQLite implementation.

The tables come from migrations 2 (users, tokens), 3 (sessions), 8 (station keepers' stations) and
10 (the account audit trail) in locator/store/sqlite.py. Every change to an account writes its audit
record in the same transaction: who did what to which account, when; never a password.
Accounts are SQLite-only for now: with a PostGIS station store they live in an SQLite file in
the instance folder. The interface is what a PostgreSQL implementation will have to offer: it
speaks in digests and datetimes, never in cookies or SQL.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from locator.accounts import TOKEN_USE_INTERVAL_S, AccountError, AccountEvent, Token, User
from locator.store.base import StationStore


class AccountStore(ABC):
    """Users, their login sessions and their API tokens."""

    @abstractmethod
    def create_user(
        self,
        name: str,
        role: str,
        districts: tuple[str, ...],
        password_hash: str,
        stations: tuple[str, ...] = (),
        *,
        actor: str = "system",
    ) -> User:
        """Add a user (a station keeper with their `stations`; audited as done by `actor`); AccountError if taken."""

    @abstractmethod
    def set_stations(self, user_id: int, stations: tuple[str, ...], *, actor: str = "system") -> None:
        """Bind a station keeper to exactly these stations (audited as done by `actor`)."""

    @abstractmethod
    def keepers_of(self, station_id: str) -> list[User]:
        """The active station keepers of a station."""

    @abstractmethod
    def get_user(self, user_id: int) -> User | None:
        """A user by id."""

    @abstractmethod
    def find_user(self, name: str) -> tuple[User, str] | None:
        """(user, password hash) by name."""

    @abstractmethod
    def list_users(self) -> list[User]:
        """Every user, by name."""

    @abstractmethod
    def set_password(self, user_id: int, password_hash: str, *, actor: str = "system") -> None:
        """Store a new password hash and end every session of the user (audited: reset, or changed by the user)."""

    @abstractmethod
    def set_active(self, user_id: int, active: bool, *, actor: str = "system") -> None:
        """Enable or disable an account (audited); disabling ends every session of the user."""

    @abstractmethod
    def account_audit(self, target: str | None = None, limit: int = 200) -> list[AccountEvent]:
        """The account audit trail, newest first (of one account, or all)."""

    # -- login sessions: the cookie holds a random id, the store only its digest -------------
    @abstractmethod
    def create_session(self, user_id: int, digest: str, expires_at: datetime) -> None:
        """Remember a new login session (and forget expired ones)."""

    @abstractmethod
    def user_for_session(self, digest: str, now: datetime) -> User | None:
        """The active owner of an unexpired session; None once it has ended."""

    @abstractmethod
    def end_session(self, digest: str) -> None:
        """End one session (logout): a copy of its cookie no longer logs anyone in."""

    @abstractmethod
    def end_sessions(self, user_id: int) -> int:
        """End every session of a user; the number ended."""

    @abstractmethod
    def create_token(self, user_id: int, label: str, digest: str) -> Token:
        """Store a token's digest for a user."""

    @abstractmethod
    def user_for_token(self, digest: str) -> User | None:
        """The active owner of an unrevoked token.

        Notes its use in last_used_at at most once a minute, and never waits for a lock to do
        so: a read-only token call must not fail or stall while an import holds the write lock.
        """

    @abstractmethod
    def revoke_token(self, token_id: int) -> bool:
        """Revoke a token; False if there is no such unrevoked token."""

    @abstractmethod
    def list_tokens(self, user_id: int | None = None) -> list[Token]:
        """Tokens (never their digests), newest first."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")


def _user(row) -> User:
    return User(
        id=row[0],
        name=row[1],
        role=row[2],
        districts=tuple(json.loads(row[3])),
        active=bool(row[4]),
        created_at=datetime.fromisoformat(row[5]),
    )


def _token(row) -> Token:
    return Token(
        id=row[0],
        user_id=row[1],
        label=row[2],
        created_at=datetime.fromisoformat(row[3]),
        revoked_at=datetime.fromisoformat(row[4]) if row[4] else None,
        last_used_at=datetime.fromisoformat(row[5]) if row[5] else None,
    )


class SQLiteAccountStore(AccountStore):
    """Accounts in the tables of an SQLiteStore's database (same file, same connections)."""

    USER_COLUMNS = "id, name, role, districts, active, created_at"

    def __init__(self, store):
        self.store = store
        self._token_use_lock = threading.Lock()
        self._token_noted: dict[int, float] = {}  # token id -> monotonic time of the last write attempt

    def _conn(self) -> sqlite3.Connection:
        return self.store._conn()

    def _audit(
        self, conn: sqlite3.Connection, actor: str, action: str, target: str, detail: dict | None = None
    ) -> None:
        conn.execute(
            "INSERT INTO account_audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (_now(), actor, action, target, json.dumps(detail or {}, ensure_ascii=False)),
        )

    def _name_of(self, conn: sqlite3.Connection, user_id: int) -> str:
        row = conn.execute("SELECT name FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            raise AccountError(f"no user with id {user_id}", "没有这个账号。")
        return row[0]

    def create_user(
        self,
        name: str,
        role: str,
        districts: tuple[str, ...],
        password_hash: str,
        stations: tuple[str, ...] = (),
        *,
        actor: str = "system",
    ) -> User:
        """Add a user (and a keeper's stations) in one transaction, audited; AccountError if the name is taken."""
        try:
            with self.store._write() as conn:
                cur = conn.execute(
                    "INSERT INTO users (name, role, districts, password_hash, active, created_at) "
                    "VALUES (?, ?, ?, ?, 1, ?)",
                    (name, role, json.dumps(list(districts)), password_hash, _now()),
                )
                user_id = cur.lastrowid
                self._bind(conn, user_id, stations)
                detail = {"role": role, "districts": list(districts)}
                if stations:
                    detail["stations"] = list(stations)
                self._audit(conn, actor, "create", name, detail)
        except sqlite3.IntegrityError:
            raise AccountError(
                f"a user named {name!r} already exists", f"已有名为“{name}”的账号，请换一个用户名。"
            ) from None
        user = self.get_user(user_id)
        assert user is not None
        return user

    @staticmethod
    def _bind(conn: sqlite3.Connection, user_id: int, stations: tuple[str, ...]) -> None:
        conn.execute("DELETE FROM station_keepers WHERE user_id = ?", (user_id,))
        conn.executemany(
            "INSERT INTO station_keepers (user_id, station_id) VALUES (?, ?)",
            [(user_id, s) for s in dict.fromkeys(stations)],
        )

    def set_stations(self, user_id: int, stations: tuple[str, ...], *, actor: str = "system") -> None:
        """Bind a station keeper to exactly these stations (one transaction, audited)."""
        with self.store._write() as conn:
            name = self._name_of(conn, user_id)
            self._bind(conn, user_id, stations)
            self._audit(conn, actor, "set_stations", name, {"stations": list(dict.fromkeys(stations))})

    def _with_stations(self, user: User) -> User:
        """A station keeper with their stations (other roles have none)."""
        if user.role != "station_keeper":
            return user
        rows = self._conn().execute(
            "SELECT station_id FROM station_keepers WHERE user_id = ? ORDER BY station_id", (user.id,)
        )
        return replace(user, stations=tuple(r[0] for r in rows))

    def keepers_of(self, station_id: str) -> list[User]:
        """The active station keepers of a station, by name."""
        rows = self._conn().execute(
            f"SELECT {', '.join('u.' + c for c in self.USER_COLUMNS.split(', '))} FROM station_keepers k "
            "JOIN users u ON u.id = k.user_id WHERE k.station_id = ? AND u.active = 1 ORDER BY u.name",
            (station_id,),
        )
        return [self._with_stations(_user(r)) for r in rows.fetchall()]

    def get_user(self, user_id: int) -> User | None:
        """A user by id."""
        row = self._conn().execute(f"SELECT {self.USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
        return self._with_stations(_user(row)) if row else None

    def find_user(self, name: str) -> tuple[User, str] | None:
        """(user, password hash) by name."""
        row = (
            self._conn()
            .execute(f"SELECT {self.USER_COLUMNS}, password_hash FROM users WHERE name = ?", (name,))
            .fetchone()
        )
        return (self._with_stations(_user(row[:6])), row[6]) if row else None

    def list_users(self) -> list[User]:
        """Every user, by name."""
        rows = self._conn().execute(f"SELECT {self.USER_COLUMNS} FROM users ORDER BY name").fetchall()
        return [self._with_stations(_user(r)) for r in rows]

    def create_token(self, user_id: int, label: str, digest: str) -> Token:
        """Store a token's digest."""
        with self.store._write() as conn:
            cur = conn.execute(
                "INSERT INTO api_tokens (user_id, label, digest, created_at) VALUES (?, ?, ?, ?)",
                (user_id, label, digest, _now()),
            )
            token_id = cur.lastrowid
        return next(t for t in self.list_tokens(user_id) if t.id == token_id)

    def set_password(self, user_id: int, password_hash: str, *, actor: str = "system") -> None:
        """Store a new password hash and end every session of the user (one transaction, audited)."""
        with self.store._write() as conn:
            name = self._name_of(conn, user_id)
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            self._audit(conn, actor, "change_password" if actor == name else "reset_password", name)

    def set_active(self, user_id: int, active: bool, *, actor: str = "system") -> None:
        """Enable or disable an account; disabling ends every session (one transaction, audited)."""
        with self.store._write() as conn:
            name = self._name_of(conn, user_id)
            conn.execute("UPDATE users SET active = ? WHERE id = ?", (int(active), user_id))
            if not active:
                conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            self._audit(conn, actor, "enable" if active else "disable", name)

    def account_audit(self, target: str | None = None, limit: int = 200) -> list[AccountEvent]:
        """The account audit trail, newest first."""
        sql = "SELECT id, at, actor, action, target, detail FROM account_audit"
        params: list = []
        if target is not None:
            sql += " WHERE target = ?"
            params.append(target)
        rows = self._conn().execute(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        return [
            AccountEvent(r[0], datetime.fromisoformat(r[1]), r[2], r[3], r[4], json.loads(r[5] or "{}")) for r in rows
        ]

    def create_session(self, user_id: int, digest: str, expires_at: datetime) -> None:
        """Remember a new login session (and forget expired ones)."""
        with self.store._write() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (_now(),))
            conn.execute(
                "INSERT INTO sessions (digest, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (digest, user_id, _now(), _iso(expires_at)),
            )

    def user_for_session(self, digest: str, now: datetime) -> User | None:
        """The active owner of an unexpired session."""
        row = (
            self._conn()
            .execute(
                f"SELECT {', '.join('u.' + c for c in self.USER_COLUMNS.split(', '))} FROM sessions s "
                "JOIN users u ON u.id = s.user_id WHERE s.digest = ? AND s.expires_at > ? AND u.active = 1",
                (digest, _iso(now)),
            )
            .fetchone()
        )
        return self._with_stations(_user(row)) if row else None

    def end_session(self, digest: str) -> None:
        """End one session."""
        with self.store._write() as conn:
            conn.execute("DELETE FROM sessions WHERE digest = ?", (digest,))

    def end_sessions(self, user_id: int) -> int:
        """End every session of a user."""
        with self.store._write() as conn:
            return conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,)).rowcount

    def user_for_token(self, digest: str) -> User | None:
        """The active owner of an unrevoked token (its use noted at most once a minute, never waiting)."""
        row = (
            self._conn()
            .execute(
                "SELECT t.id, u.id, t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id "
                "WHERE t.digest = ? AND t.revoked_at IS NULL AND u.active = 1",
                (digest,),
            )
            .fetchone()
        )
        if row is None:
            return None
        self._note_token_use(row[0], row[2])
        return self.get_user(row[1])

    def _note_token_use(self, token_id: int, last_used_at: str | None) -> None:
        now = datetime.now(UTC)
        if last_used_at and (now - datetime.fromisoformat(last_used_at)).total_seconds() < TOKEN_USE_INTERVAL_S:
            return
        with self._token_use_lock:
            tried = self._token_noted.get(token_id)
            if tried is not None and time.monotonic() - tried < TOKEN_USE_INTERVAL_S:
                return  # another request of this process tried within the minute (perhaps blocked)
            self._token_noted[token_id] = time.monotonic()
        conn = self._conn()
        # A write while an import holds the lock would wait (busy_timeout) and then fail: skip it instead.
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (_iso(now), token_id))
        except sqlite3.OperationalError:
            pass  # locked: the use is noted on a later call
        finally:
            conn.execute(f"PRAGMA busy_timeout = {self.store.BUSY_TIMEOUT_MS}")

    def revoke_token(self, token_id: int) -> bool:
        """Revoke a token."""
        with self.store._write() as conn:
            cur = conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (_now(), token_id)
            )
            return cur.rowcount == 1

    def list_tokens(self, user_id: int | None = None) -> list[Token]:
        """Tokens, newest first."""
        sql = "SELECT id, user_id, label, created_at, revoked_at, last_used_at FROM api_tokens"
        params: list = []
        if user_id is not None:
            sql += " WHERE user_id = ?"
            params.append(user_id)
        return [_token(r) for r in self._conn().execute(sql + " ORDER BY id DESC", params)]


def open_accounts(store: StationStore, instance_path: str) -> AccountStore:
    """Accounts beside the stations for SQLite; a separate SQLite file for other stores."""
    from locator.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        return SQLiteAccountStore(store)
    own = SQLiteStore(Path(instance_path) / "accounts.sqlite3")
    own.init_schema()
    return SQLiteAccountStore(own)
