"""Where accounts and API tokens live: an interface, and its SQLite implementation.

The tables come from migration 2 in locator/store/sqlite.py. Accounts are SQLite-only for
now: with a PostGIS station store they live in an SQLite file in the instance folder.
"""

from __future__ import annotations

import json
import sqlite3
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path

from locator.accounts import AccountError, Token, User
from locator.store.base import StationStore


class AccountStore(ABC):
    """Users and their API tokens."""

    @abstractmethod
    def create_user(self, name: str, role: str, districts: tuple[str, ...], password_hash: str) -> User:
        """Add a user; AccountError if the name is taken."""

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
    def create_token(self, user_id: int, label: str, digest: str) -> Token:
        """Store a token's digest for a user."""

    @abstractmethod
    def user_for_token(self, digest: str) -> User | None:
        """The active owner of an unrevoked token (and note its use)."""

    @abstractmethod
    def revoke_token(self, token_id: int) -> bool:
        """Revoke a token; False if there is no such unrevoked token."""

    @abstractmethod
    def list_tokens(self, user_id: int | None = None) -> list[Token]:
        """Tokens (never their digests), newest first."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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

    def _conn(self) -> sqlite3.Connection:
        return self.store._conn()

    def create_user(self, name: str, role: str, districts: tuple[str, ...], password_hash: str) -> User:
        """Add a user; AccountError if the name is taken."""
        try:
            with self.store._write() as conn:
                cur = conn.execute(
                    "INSERT INTO users (name, role, districts, password_hash, active, created_at) "
                    "VALUES (?, ?, ?, ?, 1, ?)",
                    (name, role, json.dumps(list(districts)), password_hash, _now()),
                )
                user_id = cur.lastrowid
        except sqlite3.IntegrityError:
            raise AccountError(f"a user named {name!r} already exists") from None
        user = self.get_user(user_id)
        assert user is not None
        return user

    def get_user(self, user_id: int) -> User | None:
        """A user by id."""
        row = self._conn().execute(f"SELECT {self.USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
        return _user(row) if row else None

    def find_user(self, name: str) -> tuple[User, str] | None:
        """(user, password hash) by name."""
        row = (
            self._conn()
            .execute(f"SELECT {self.USER_COLUMNS}, password_hash FROM users WHERE name = ?", (name,))
            .fetchone()
        )
        return (_user(row[:6]), row[6]) if row else None

    def list_users(self) -> list[User]:
        """Every user, by name."""
        return [_user(r) for r in self._conn().execute(f"SELECT {self.USER_COLUMNS} FROM users ORDER BY name")]

    def create_token(self, user_id: int, label: str, digest: str) -> Token:
        """Store a token's digest."""
        with self.store._write() as conn:
            cur = conn.execute(
                "INSERT INTO api_tokens (user_id, label, digest, created_at) VALUES (?, ?, ?, ?)",
                (user_id, label, digest, _now()),
            )
            token_id = cur.lastrowid
        return next(t for t in self.list_tokens(user_id) if t.id == token_id)

    def user_for_token(self, digest: str) -> User | None:
        """The active owner of an unrevoked token."""
        row = (
            self._conn()
            .execute(
                "SELECT t.id, u.id FROM api_tokens t JOIN users u ON u.id = t.user_id "
                "WHERE t.digest = ? AND t.revoked_at IS NULL AND u.active = 1",
                (digest,),
            )
            .fetchone()
        )
        if row is None:
            return None
        self._conn().execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (_now(), row[0]))
        return self.get_user(row[1])

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
