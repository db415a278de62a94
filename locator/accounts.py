"""Organizer accounts: roles, district scopes, password and API-token hashing. Plain Python, no Flask.

Roles: city_admin (every district), district_organizer (only the stations of their districts),
viewer (reads the admin pages, changes nothing), station_keeper (the shop or office hosting one or
more stations: only those stations' status, hours and amenities). API tokens act with their owner's
role and scope. `User.may_edit()` is the one answer to "may this user change station X (field F)".
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from locator.errors import LocatorError
from locator.stations import Station

ROLES = ("city_admin", "district_organizer", "viewer", "station_keeper")
ROLE_LABELS = {
    "city_admin": "市级管理员",
    "district_organizer": "区县组织者",
    "viewer": "只读查看",
    "station_keeper": "驿站站长",
}
# What a station keeper may change of their own stations (暂停开放 until a date / 正常开放, hours, amenities).
KEEPER_FIELDS = ("status", "closed_until", "hours", "amenities")
KEEPER_STATUSES = ("open", "temporarily_closed")
# Set by the system on every write (an edit is a check): never a field anyone is refused for.
SYSTEM_FIELDS = ("verified_at",)
MIN_PASSWORD = 10
TOKEN_PREFIX = "lct_"
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt"
TOKEN_USE_INTERVAL_S = 60  # a token's last_used_at is written at most this often


class AccountError(LocatorError, ValueError):
    """A bad account request (unknown role, weak password, duplicate name…)."""

    http_status = 400
    title = "Invalid account"

    def __init__(self, message: str, detail_zh: str | None = None):
        super().__init__(message)
        self.detail_zh = detail_zh or "账号信息有误。"


@dataclass(frozen=True)
class User:
    """An organizer account."""

    id: int
    name: str
    role: str
    districts: tuple[str, ...] = ()
    active: bool = True
    created_at: datetime | None = None
    stations: tuple[str, ...] = ()  # a station keeper's stations

    @property
    def can_write(self) -> bool:
        """May create, import, delete and restore stations (viewers read only; keepers only edit their own)."""
        return self.role in ("city_admin", "district_organizer")

    @property
    def is_keeper(self) -> bool:
        """A station keeper (站长): edits only the status, hours and amenities of their own stations."""
        return self.role == "station_keeper"

    def may_edit_district(self, district: str | None) -> bool:
        """True if this user may change any station in `district` (and add or remove stations there)."""
        if self.role == "city_admin":
            return True
        return self.role == "district_organizer" and district is not None and district in self.districts

    def may_edit(self, station: Station, field: str | None = None) -> bool:
        """True if this user may change `station` (its `field`, when named): the one question every path asks."""
        if self.is_keeper:
            return station.id in self.stations and (field is None or field in KEEPER_FIELDS)
        return self.may_edit_district(station.district)

    def refused_fields(self, old: Station, new: Station) -> list[str]:
        """The fields `new` would change in `old` that this user may not change (every changed one, for a
        station that is not theirs); empty when the write is allowed."""
        before, after = old.record(), new.record()
        changed = [name for name in before if name not in SYSTEM_FIELDS and before[name] != after[name]]
        refused = [name for name in changed if not self.may_edit(old, name)]
        if self.is_keeper and "status" in changed and "status" not in refused:
            # 暂停开放 and 正常开放 only: closing a station for good (or reopening one) is the organizer's call.
            if old.status not in KEEPER_STATUSES or new.status not in KEEPER_STATUSES:
                refused.append("status")
        return refused

    @property
    def scope_districts(self) -> tuple[str, ...] | None:
        """The districts whose stations this user's imports may replace (None: the whole roster)."""
        return None if self.role == "city_admin" else self.districts


ACCOUNT_ACTIONS = {
    "create": "创建账号",
    "disable": "停用账号",
    "enable": "重新启用",
    "reset_password": "重设密码",
    "change_password": "修改了自己的密码",
    "set_stations": "设定站长负责的驿站",
}


@dataclass(frozen=True)
class AccountEvent:
    """One change to an account: who did what to which account, when (passwords never recorded)."""

    id: int
    at: datetime
    actor: str
    action: str  # a key of ACCOUNT_ACTIONS
    target: str  # the account's name
    detail: dict = field(default_factory=dict)  # role and districts of a new account

    @property
    def action_zh(self) -> str:
        """The action as organizers read it."""
        return ACCOUNT_ACTIONS.get(self.action, self.action)


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


@cache
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords, lower case (locator/data/README.md says where they come from)."""
    text = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def check_password_policy(password: str, name: str = "") -> None:
    """AccountError unless `password` is at least 10 characters, not only digits, not common, not the name."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            f"the password must have at least {MIN_PASSWORD} characters", f"密码至少需要 {MIN_PASSWORD} 个字符"
        )
    if password.isdigit():
        raise AccountError("the password must not be only digits", "密码不能只由数字组成")
    if password.lower() in common_passwords():
        raise AccountError(
            "the password is one of the 10,000 most common passwords: choose another",
            "这个密码是最常见的一万个密码之一，请换一个",
        )
    if name and password.lower() == name.lower():
        raise AccountError("the password must not be the user name", "密码不能与用户名相同")


def hash_password(password: str) -> str:
    """A salted scrypt hash (werkzeug.security). The policy is checked by check_password_policy()."""
    return generate_password_hash(password, method="scrypt")


def check_password(stored_hash: str, password: str) -> bool:
    """True if `password` matches the stored hash."""
    return check_password_hash(stored_hash, password)


# The hash of a random password nobody knows, made with werkzeug's scrypt defaults (n=2**15, r=8, p=1) like
# every stored hash: checking a password against it costs exactly what checking a real one does.
DECOY_HASH = (
    "scrypt:32768:8:1$xYyR8qHQe7GavCBq$2fcd0429b019e236553b20995de1de0e0fd4cc7c637bbd6b526e9c25245bad3b"
    "0ee4f3ac5a32e3b4c4563a1b30d911ec43687c65ae2c21eb89a247e9b31539b4"
)


def check_no_password(password: str) -> bool:
    """The work of check_password() for a name with no usable hash (unknown user): always False.

    Logging in as an unknown user then costs the same scrypt as a wrong password, so response
    times do not tell which user names exist.
    """
    check_password_hash(DECOY_HASH, password)
    return False


def new_session_id() -> tuple[str, str]:
    """(random session id for the cookie, its SHA-256 hex digest to store)."""
    plain = secrets.token_urlsafe(32)
    return plain, token_digest(plain)


def new_token() -> tuple[str, str]:
    """(plain token to show once, its SHA-256 hex digest to store)."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return plain, token_digest(plain)


def token_digest(plain: str) -> str:
    """The stored form of a token: tokens are long random strings, so a fast hash is enough."""
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def check_new_user(
    name: str,
    role: str,
    districts: tuple[str, ...],
    known_districts: set[str],
    stations: tuple[str, ...] = (),
    known_stations: set[str] | None = None,
) -> None:
    """AccountError unless name, role, districts and (for a station keeper) stations make a valid account."""
    if not name or len(name) > 64 or any(c.isspace() or not c.isprintable() for c in name):
        raise AccountError(
            "the user name must be 1-64 characters without spaces", "用户名应为 1～64 个字符，不能有空格。"
        )
    if role not in ROLES:
        raise AccountError(
            f"unknown role {role!r}: use {', '.join(ROLES)}",
            f"没有这种角色：可选 {'、'.join(ROLE_LABELS.get(r, r) for r in ROLES)}。",
        )
    if role == "district_organizer" and not districts:
        raise AccountError(
            "a district organizer needs at least one --district CODE", "区县组织者至少要负责一个区县：请勾选区县。"
        )
    unknown = [d for d in districts if d not in known_districts]
    if unknown:
        raise AccountError(f"unknown district code(s): {', '.join(unknown)}", "选择的区县不存在。")
    check_keeper_stations(role, districts, stations, known_stations)


def check_keeper_stations(
    role: str, districts: tuple[str, ...], stations: tuple[str, ...], known_stations: set[str] | None
) -> None:
    """AccountError unless a station keeper has stations (that exist) and no districts, and nobody else has stations."""
    if role != "station_keeper":
        if stations:
            raise AccountError("only a station keeper is bound to stations (--station)", "只有驿站站长账号可以绑定驿站")
        return
    if not stations:
        raise AccountError("a station keeper needs at least one --station ID", "驿站站长账号至少需要绑定一个驿站")
    if districts:
        raise AccountError(
            "a station keeper has stations, not districts: leave out --district", "驿站站长账号只绑定驿站，不设区县"
        )
    unknown = [s for s in stations if known_stations is not None and s not in known_stations]
    if unknown:
        raise AccountError(f"unknown station id(s): {', '.join(unknown)}", f"没有这些编号的驿站：{'、'.join(unknown)}")
