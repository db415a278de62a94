"""Where accounts, login sessions and API tokens live: an interface, and its SQL implementation.

The same SQL runs on both backends, in the station store's database (store/demand.py's pattern):
with SQLite the tables come from migrations 2 (users, tokens), 3 (sessions), 8 (station keepers'
stations) and 10 (the account audit trail) of locator/store/sqlite.py; with PostgreSQL from the
accounts migration of locator/store/postgis.py, so every app server of a deployment sees the same
accounts, sessions and tokens. Times are ISO-8601 UTC text on both. Sessions and tokens are read
from the database on every request that presents one: a logout or a revoked token holds on every
app server at once (there is no cache to invalidate). A rider's request never reaches this module.

Every change to an account writes its audit record in the same transaction: who did what to which
account, when; never a password. The interface speaks in digests and datetimes, never in cookies.
`copy_accounts()` copies an SQLite accounts file (the per-server `instance/accounts.sqlite3` of
PostGIS deployments before issue 18) into a store: `flask migrate-accounts`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from locator.accounts import TOKEN_USE_INTERVAL_S, AccountError, AccountEvent, Token, User
from locator.errors import LocatorError
from locator.store.base import StationStore
from locator.store.sql import SQLStationStore


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
        id=int(row[0]),
        name=row[1],
        role=row[2],
        districts=tuple(json.loads(row[3])),
        active=bool(row[4]),
        created_at=datetime.fromisoformat(row[5]),
    )


def _token(row) -> Token:
    return Token(
        id=int(row[0]),
        user_id=int(row[1]),
        label=row[2],
        created_at=datetime.fromisoformat(row[3]),
        revoked_at=datetime.fromisoformat(row[4]) if row[4] else None,
        last_used_at=datetime.fromisoformat(row[5]) if row[5] else None,
    )


class SQLAccountStore(AccountStore):
    """Accounts in the tables of the station store's database (same connections), SQLite or PostgreSQL."""

    USER_COLUMNS = "id, name, role, districts, active, created_at"

    def __init__(self, store: SQLStationStore):
        self.store = store
        self.postgres = store.PLACEHOLDER == "%s"
        self._token_use_lock = threading.Lock()
        self._token_noted: dict[int, float] = {}  # token id -> monotonic time of the last write attempt

    def _conn(self):
        return self.store._conn()

    def _sql(self, text: str) -> str:
        """SQL written with SQLite's `?` placeholders, in the store's dialect."""
        return text.replace("?", "%s") if self.postgres else text

    def _run(self, conn, text: str, params: Sequence[Any] = ()):
        return conn.execute(self._sql(text), params)

    def _query(self, text: str, params: Sequence[Any] = ()):
        return self._run(self._conn(), text, params)

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """One transaction. With PostgreSQL it does not queue behind station writes (no data-version lock):
        a login must not wait for an import."""
        if not self.postgres:
            with self.store._write() as conn:
                yield conn
            return
        import psycopg  # noqa: PLC0415 - optional backend

        conn = self._conn()
        try:
            with conn.transaction():
                yield conn
        except psycopg.OperationalError as exc:  # e.g. the commit on a lost connection
            raise self.store._unavailable(exc) from exc

    def _name_taken_errors(self) -> tuple[type[BaseException], ...]:
        if self.postgres:
            import psycopg  # noqa: PLC0415 - optional backend

            return (psycopg.errors.UniqueViolation,)
        return (sqlite3.IntegrityError,)

    def _audit(self, conn, actor: str, action: str, target: str, detail: dict | None = None) -> None:
        self._run(
            conn,
            "INSERT INTO account_audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (_now(), actor, action, target, json.dumps(detail or {}, ensure_ascii=False)),
        )

    def _name_of(self, conn, user_id: int) -> str:
        row = self._run(conn, "SELECT name FROM users WHERE id = ?", (user_id,)).fetchone()
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
            with self._write() as conn:
                user_id = self._run(
                    conn,
                    "INSERT INTO users (name, role, districts, password_hash, active, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    (name, role, json.dumps(list(districts)), password_hash, True, _now()),
                ).fetchone()[0]
                self._bind(conn, user_id, stations)
                detail = {"role": role, "districts": list(districts)}
                if stations:
                    detail["stations"] = list(stations)
                self._audit(conn, actor, "create", name, detail)
        except self._name_taken_errors():
            raise AccountError(
                f"a user named {name!r} already exists", f"已有名为“{name}”的账号，请换一个用户名。"
            ) from None
        user = self.get_user(user_id)
        assert user is not None
        return user

    def _bind(self, conn, user_id: int, stations: tuple[str, ...]) -> None:
        self._run(conn, "DELETE FROM station_keepers WHERE user_id = ?", (user_id,))
        for station_id in dict.fromkeys(stations):
            self._run(conn, "INSERT INTO station_keepers (user_id, station_id) VALUES (?, ?)", (user_id, station_id))

    def set_stations(self, user_id: int, stations: tuple[str, ...], *, actor: str = "system") -> None:
        """Bind a station keeper to exactly these stations (one transaction, audited)."""
        with self._write() as conn:
            name = self._name_of(conn, user_id)
            self._bind(conn, user_id, stations)
            self._audit(conn, actor, "set_stations", name, {"stations": list(dict.fromkeys(stations))})

    def _stations_of(self, user_id: int) -> tuple[str, ...]:
        rows = self._query("SELECT station_id FROM station_keepers WHERE user_id = ? ORDER BY station_id", (user_id,))
        return tuple(r[0] for r in rows.fetchall())

    def _with_stations(self, user: User) -> User:
        """A station keeper with their stations (other roles have none)."""
        if user.role != "station_keeper":
            return user
        return replace(user, stations=self._stations_of(user.id))

    def _user_columns(self, alias: str) -> str:
        return ", ".join(f"{alias}.{c}" for c in self.USER_COLUMNS.split(", "))

    def keepers_of(self, station_id: str) -> list[User]:
        """The active station keepers of a station, by name."""
        rows = self._query(
            f"SELECT {self._user_columns('u')} FROM station_keepers k "
            "JOIN users u ON u.id = k.user_id WHERE k.station_id = ? AND u.active ORDER BY u.name",
            (station_id,),
        )
        return [self._with_stations(_user(r)) for r in rows.fetchall()]

    def get_user(self, user_id: int) -> User | None:
        """A user by id."""
        row = self._query(f"SELECT {self.USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
        return self._with_stations(_user(row)) if row else None

    def find_user(self, name: str) -> tuple[User, str] | None:
        """(user, password hash) by name."""
        row = self._query(f"SELECT {self.USER_COLUMNS}, password_hash FROM users WHERE name = ?", (name,)).fetchone()
        return (self._with_stations(_user(row[:6])), row[6]) if row else None

    def list_users(self) -> list[User]:
        """Every user, by name."""
        rows = self._query(f"SELECT {self.USER_COLUMNS} FROM users ORDER BY name").fetchall()
        return [self._with_stations(_user(r)) for r in rows]

    def create_token(self, user_id: int, label: str, digest: str) -> Token:
        """Store a token's digest."""
        with self._write() as conn:
            token_id = self._run(
                conn,
                "INSERT INTO api_tokens (user_id, label, digest, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                (user_id, label, digest, _now()),
            ).fetchone()[0]
        return next(t for t in self.list_tokens(user_id) if t.id == token_id)

    def set_password(self, user_id: int, password_hash: str, *, actor: str = "system") -> None:
        """Store a new password hash and end every session of the user (one transaction, audited)."""
        with self._write() as conn:
            name = self._name_of(conn, user_id)
            self._run(conn, "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
            self._run(conn, "DELETE FROM sessions WHERE user_id = ?", (user_id,))
            self._audit(conn, actor, "change_password" if actor == name else "reset_password", name)

    def set_active(self, user_id: int, active: bool, *, actor: str = "system") -> None:
        """Enable or disable an account; disabling ends every session (one transaction, audited)."""
        with self._write() as conn:
            name = self._name_of(conn, user_id)
            self._run(conn, "UPDATE users SET active = ? WHERE id = ?", (bool(active), user_id))
            if not active:
                self._run(conn, "DELETE FROM sessions WHERE user_id = ?", (user_id,))
            self._audit(conn, actor, "enable" if active else "disable", name)

    def account_audit(self, target: str | None = None, limit: int = 200) -> list[AccountEvent]:
        """The account audit trail, newest first."""
        sql = "SELECT id, at, actor, action, target, detail FROM account_audit"
        params: list = []
        if target is not None:
            sql += " WHERE target = ?"
            params.append(target)
        rows = self._query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit]).fetchall()
        return [
            AccountEvent(int(r[0]), datetime.fromisoformat(r[1]), r[2], r[3], r[4], json.loads(r[5] or "{}"))
            for r in rows
        ]

    def create_session(self, user_id: int, digest: str, expires_at: datetime) -> None:
        """Remember a new login session (and forget expired ones)."""
        with self._write() as conn:
            self._run(conn, "DELETE FROM sessions WHERE expires_at < ?", (_now(),))
            self._run(
                conn,
                "INSERT INTO sessions (digest, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (digest, user_id, _now(), _iso(expires_at)),
            )

    def user_for_session(self, digest: str, now: datetime) -> User | None:
        """The active owner of an unexpired session."""
        row = self._query(
            f"SELECT {self._user_columns('u')} FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.digest = ? AND s.expires_at > ? AND u.active",
            (digest, _iso(now)),
        ).fetchone()
        return self._with_stations(_user(row)) if row else None

    def end_session(self, digest: str) -> None:
        """End one session."""
        with self._write() as conn:
            self._run(conn, "DELETE FROM sessions WHERE digest = ?", (digest,))

    def end_sessions(self, user_id: int) -> int:
        """End every session of a user."""
        with self._write() as conn:
            return self._run(conn, "DELETE FROM sessions WHERE user_id = ?", (user_id,)).rowcount

    def user_for_token(self, digest: str) -> User | None:
        """The active owner of an unrevoked token (its use noted at most once a minute, never waiting)."""
        row = self._query(
            "SELECT t.id, u.id, t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.digest = ? AND t.revoked_at IS NULL AND u.active",
            (digest,),
        ).fetchone()
        if row is None:
            return None
        self._note_token_use(int(row[0]), row[2])
        return self.get_user(int(row[1]))

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
        if self.postgres:
            # A row another transaction holds is skipped, not waited for; the use is noted on a later call.
            conn.execute(
                "UPDATE api_tokens SET last_used_at = %s "
                "WHERE id = (SELECT id FROM api_tokens WHERE id = %s FOR UPDATE SKIP LOCKED)",
                (_iso(now), token_id),
            )
            return
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
        with self._write() as conn:
            cur = self._run(
                conn, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (_now(), token_id)
            )
            return cur.rowcount == 1

    def list_tokens(self, user_id: int | None = None) -> list[Token]:
        """Tokens, newest first."""
        sql = "SELECT id, user_id, label, created_at, revoked_at, last_used_at FROM api_tokens"
        params: list = []
        if user_id is not None:
            sql += " WHERE user_id = ?"
            params.append(user_id)
        return [_token(r) for r in self._query(sql + " ORDER BY id DESC", params).fetchall()]


def open_accounts(store: StationStore) -> AccountStore:
    """Accounts in the station store's database: SQLite beside the stations, PostgreSQL for every app server."""
    if not isinstance(store, SQLStationStore):
        raise TypeError(f"accounts need an SQL station store, not {type(store).__name__}")
    return SQLAccountStore(store)


# -- copying an SQLite accounts file into a store (flask migrate-accounts) --------------------------


class AccountsConflict(LocatorError):
    """The accounts file and the store disagree about an account or a token: nothing was copied."""

    http_status = 409
    title = "Conflict"

    def __init__(self, conflicts: list[tuple[str, str]]):
        super().__init__("; ".join(en for en, _ in conflicts))
        self.conflicts = conflicts
        self.detail_zh = "；".join(zh for _, zh in conflicts)


@dataclass
class AccountsCopied:
    """What copy_accounts() did: names copied and found already there, and the rows copied."""

    users: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    tokens: int = 0
    tokens_already: int = 0
    sessions: int = 0
    audit: int = 0
    renumbered_tokens: dict[int, int] = field(default_factory=dict)  # old id -> new id (the old one was taken)


def _read_accounts_file(path: Path) -> dict[str, list[tuple]]:
    """Every account row of an SQLite accounts file, read-only (tables an old file lacks are empty)."""
    if not path.is_file():
        raise AccountError(f"{path}: no such file", f"找不到账号文件 {path}。")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise AccountError(f"{path}: cannot open it ({exc})", f"无法打开账号文件 {path}。") from None
    try:
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError:
            raise AccountError(
                f"{path} is not an SQLite database", f"{path} 不是 SQLite 数据库文件（应为 accounts.sqlite3）。"
            ) from None
        if "users" not in tables:
            raise AccountError(f"{path} holds no accounts (no users table)", f"{path} 里没有账号（缺少 users 表）。")
        queries = {
            "users": "SELECT id, name, role, districts, password_hash, active, created_at FROM users ORDER BY id",
            "api_tokens": "SELECT id, user_id, label, digest, created_at, revoked_at, last_used_at FROM api_tokens "
            "ORDER BY id",
            "sessions": "SELECT digest, user_id, created_at, expires_at FROM sessions",
            "station_keepers": "SELECT user_id, station_id FROM station_keepers ORDER BY user_id, station_id",
            "account_audit": "SELECT id, at, actor, action, target, detail FROM account_audit ORDER BY id",
        }
        return {name: conn.execute(sql).fetchall() if name in tables else [] for name, sql in queries.items()}
    finally:
        conn.close()


def copy_accounts(path: str | Path, target: SQLAccountStore) -> AccountsCopied:
    """Copy the accounts, keepers' stations, tokens, unexpired sessions and account audit of an SQLite file.

    Idempotent: an account already in the store with the same role, districts, stations, password
    and state is left as it is, and so is a token or session already there; ids are kept where they
    are free. One transaction: on any conflict (a name or a token digest the store holds with
    different contents) AccountsConflict names each one and nothing is written.
    """
    source = _read_accounts_file(Path(path))
    done = AccountsCopied()
    now = _now()
    keepers: dict[int, tuple[str, ...]] = {}
    for user_id, station_id in source["station_keepers"]:
        keepers[user_id] = (*keepers.get(user_id, ()), station_id)
    with target._write() as conn:
        run = target._run
        existing = {
            r[1]: r
            for r in run(
                conn, "SELECT id, name, role, districts, password_hash, active, created_at FROM users"
            ).fetchall()
        }
        conflicts: list[tuple[str, str]] = []
        new_id: dict[int, int | None] = {}  # source user id -> target id (None: still to insert)
        for row in source["users"]:
            old_id, name, role, districts, password_hash, active = row[:6]
            there = existing.get(name)
            if there is None:
                new_id[old_id] = None
                continue
            same = (
                there[2] == role
                and json.loads(there[3]) == json.loads(districts)
                and there[4] == password_hash
                and bool(there[5]) == bool(active)
                and set(target._stations_of(int(there[0]))) == set(keepers.get(old_id, ()))
            )
            if not same:
                conflicts.append(
                    (
                        f"user {name!r} exists with a different role, districts, stations, password or state",
                        f"账号“{name}”已存在，但角色、区县、驿站、密码或启用状态不同",
                    )
                )
            new_id[old_id] = int(there[0])
        tokens = {
            r[0]: (int(r[1]), int(r[2])) for r in run(conn, "SELECT digest, id, user_id FROM api_tokens").fetchall()
        }
        for token_id, user_id, _, digest, *_ in source["api_tokens"]:
            if digest in tokens and (new_id.get(user_id) is None or tokens[digest][1] != new_id[user_id]):
                conflicts.append(
                    (
                        f"token {token_id}: the store holds the same token for another account",
                        f"令牌 {token_id} 在数据库中属于另一个账号",
                    )
                )
        if conflicts:
            raise AccountsConflict(conflicts)

        def free(table: str, wanted: int) -> bool:
            return run(conn, f"SELECT 1 FROM {table} WHERE id = ?", (wanted,)).fetchone() is None

        for old_id, name, role, districts, password_hash, active, created_at in source["users"]:
            if new_id[old_id] is not None:
                done.already.append(name)
                continue
            values = (name, role, districts, password_hash, bool(active), created_at)
            if free("users", old_id):
                run(
                    conn,
                    "INSERT INTO users (id, name, role, districts, password_hash, active, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (old_id, *values),
                )
                new_id[old_id] = old_id
            else:
                new_id[old_id] = int(
                    run(
                        conn,
                        "INSERT INTO users (name, role, districts, password_hash, active, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                        values,
                    ).fetchone()[0]
                )
            target._bind(conn, new_id[old_id], keepers.get(old_id, ()))
            done.users.append(name)
        for token_id, user_id, label, digest, created_at, revoked_at, last_used_at in source["api_tokens"]:
            if digest in tokens:
                done.tokens_already += 1
                continue
            values = (new_id[user_id], label, digest, created_at, revoked_at, last_used_at)
            if free("api_tokens", token_id):
                run(
                    conn,
                    "INSERT INTO api_tokens (id, user_id, label, digest, created_at, revoked_at, last_used_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (token_id, *values),
                )
            else:
                done.renumbered_tokens[token_id] = int(
                    run(
                        conn,
                        "INSERT INTO api_tokens (user_id, label, digest, created_at, revoked_at, last_used_at) "
                        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                        values,
                    ).fetchone()[0]
                )
            done.tokens += 1
        sessions = {r[0] for r in run(conn, "SELECT digest FROM sessions").fetchall()}
        for digest, user_id, created_at, expires_at in source["sessions"]:
            if digest not in sessions and expires_at > now and user_id in new_id:
                run(
                    conn,
                    "INSERT INTO sessions (digest, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                    (digest, new_id[user_id], created_at, expires_at),
                )
                done.sessions += 1
        seen = {
            (r[0], r[1], r[2], r[3], json.dumps(json.loads(r[4] or "{}"), sort_keys=True))
            for r in run(conn, "SELECT at, actor, action, target, detail FROM account_audit").fetchall()
        }
        for event_id, at, actor, action, name, detail in source["account_audit"]:
            key = (at, actor, action, name, json.dumps(json.loads(detail or "{}"), sort_keys=True))
            if key in seen:
                continue
            values = (at, actor, action, name, detail or "{}")
            if free("account_audit", event_id):
                run(
                    conn,
                    "INSERT INTO account_audit (id, at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
                    (event_id, *values),
                )
            else:
                sql = "INSERT INTO account_audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)"
                run(conn, sql, values)
            done.audit += 1
        if target.postgres:
            # Rows inserted with their own ids do not move the sequences: the next new row must not collide.
            for table in ("users", "api_tokens", "account_audit"):
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                )
    return done
