"""Organizer accounts: roles, district scopes, password and API-token hashing. Plain Python, no Flask.

Roles: city_admin (every district), district_organizer (only the stations of their districts),
viewer (reads the admin pages, changes nothing). API tokens act with their owner's role and scope.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from werkzeug.security import check_password_hash, generate_password_hash

ROLES = ("city_admin", "district_organizer", "viewer")
ROLE_LABELS = {"city_admin": "市级管理员", "district_organizer": "区县组织者", "viewer": "只读查看"}
MIN_PASSWORD = 8
TOKEN_PREFIX = "lct_"


class AccountError(ValueError):
    """A bad account request (unknown role, short password, duplicate name…)."""


@dataclass(frozen=True)
class User:
    """An organizer account."""

    id: int
    name: str
    role: str
    districts: tuple[str, ...] = ()
    active: bool = True
    created_at: datetime | None = None

    @property
    def can_write(self) -> bool:
        """Viewers read only."""
        return self.role in ("city_admin", "district_organizer")

    def may_edit_district(self, district: str | None) -> bool:
        """True if this user may change a station in `district`."""
        if self.role == "city_admin":
            return True
        return self.role == "district_organizer" and district is not None and district in self.districts

    @property
    def scope_districts(self) -> tuple[str, ...] | None:
        """The districts whose stations this user's imports may replace (None: the whole roster)."""
        return None if self.role == "city_admin" else self.districts


@dataclass(frozen=True)
class Token:
    """An API token (only its SHA-256 is stored; the plain text is shown once)."""

    id: int
    user_id: int
    label: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    extra: dict = field(default_factory=dict)


def hash_password(password: str) -> str:
    """A salted scrypt hash (werkzeug.security)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    return generate_password_hash(password, method="scrypt")


def check_password(stored_hash: str, password: str) -> bool:
    """True if `password` matches the stored hash."""
    return check_password_hash(stored_hash, password)


def new_token() -> tuple[str, str]:
    """(plain token to show once, its SHA-256 hex digest to store)."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return plain, token_digest(plain)


def token_digest(plain: str) -> str:
    """The stored form of a token: tokens are long random strings, so a fast hash is enough."""
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def check_new_user(name: str, role: str, districts: tuple[str, ...], known_districts: set[str]) -> None:
    """AccountError unless name, role and districts make a valid account."""
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise AccountError("the user name must be 1-64 characters without spaces")
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: use {', '.join(ROLES)}")
    if role == "district_organizer" and not districts:
        raise AccountError("a district organizer needs at least one --district CODE")
    unknown = [d for d in districts if d not in known_districts]
    if unknown:
        raise AccountError(f"unknown district code(s): {', '.join(unknown)}")
