"""Who is asking: session login with CSRF for the pages, bearer tokens for scripts; roles and districts.

Sessions live on the server (AccountStore): the signed cookie holds only a random session id,
so logging out ends the session for every copy of the cookie, and a password change or a
disabled account ends all of that user's sessions. Logging in is throttled per client and per
account (web/limits.LoginThrottle) before any password hash is computed, and an unknown name
costs the same scrypt as a wrong password.
"""

from __future__ import annotations

import hmac
import math
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, session, url_for

from locator.accounts import ROLE_LABELS, User, check_no_password, check_password, new_session_id, token_digest
from locator.context import current_accounts, current_roster
from locator.stations import FIELD_LABELS, Station
from locator.web.limits import login_throttle
from locator.web.problems import Problem, problem_response

bp = Blueprint("auth", __name__)
PUBLIC_ENDPOINTS = {"admin.auth.login"}
# All a station keeper's account reaches: logging out, their own pages, their stations in the token API.
KEEPER_ENDPOINTS = (
    "admin.auth.",
    "admin.keeper.",
    "admin_api.api_get_station",
    "admin_api.api_update_station",
    "admin_api.api_verify_station",
)
MAX_NEXT_LEN = 1024


def _authenticate() -> User | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        g.via = "api"
        g.bearer = True
        return current_accounts().user_for_token(token_digest(auth[7:].strip()))
    g.bearer = False
    g.via = "edit"
    sid = session.get("sid")
    if isinstance(sid, str) and sid:
        return current_accounts().user_for_session(token_digest(sid), datetime.now(UTC))
    return None


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _check_csrf() -> None:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf", "")
    # Compared as bytes: compare_digest refuses non-ASCII text (a hostile form would make it a 500).
    if not sent or not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Problem(
            400,
            "CSRF check failed",
            "the form is stale or was not sent by this site: reload the page",
            detail_zh="表单已过期或不是从本站提交的，请刷新页面后重试。",
        )


def guard() -> Response | None:
    """Before every admin request: authenticate, check CSRF on form posts, send anonymous people to log in."""
    user = _authenticate()
    g.user = user
    if request.endpoint in PUBLIC_ENDPOINTS:
        if request.method == "POST":
            _check_csrf()
        return None
    if user is None:
        if not g.bearer and "admin" in request.blueprints:
            try:
                back = safe_next(request.path)
            except Problem:
                back = ""  # a path no login should lead back to (control characters…): the admin's start page
            page = render_template("admin/login.html", next=back, error=None, csrf=csrf_token())
            return Response(page, status=401, mimetype="text/html")
        return problem_response(
            401,
            "Unauthorized",
            "log in, or send Authorization: Bearer TOKEN",
            headers={"WWW-Authenticate": "Bearer"},
            detail_zh="请先登录，或在请求头中提供有效的访问令牌（Authorization: Bearer …）。",
        )
    if request.method not in ("GET", "HEAD", "OPTIONS") and not g.bearer:
        _check_csrf()
    if user.is_keeper and not (request.endpoint or "").startswith(KEEPER_ENDPOINTS):
        raise Problem(
            403,
            "Forbidden",
            "a station keeper's account reaches only its own stations (/admin/keeper)",
            detail_zh="站长账号只能管理自己的驿站，请打开「我的驿站」（/admin/keeper）。",
        )
    return None


def require_writer() -> User:
    """The caller, if they may change data (403 for viewers)."""
    user: User = g.user
    if not user.can_write:
        raise Problem(403, "Forbidden", "this account may only view", detail_zh="这个账号只能查看，不能修改。")
    return user


def require_district(district: str | None) -> User:
    """The caller, if they may change stations of `district`."""
    user = require_writer()
    if not user.may_edit_district(district):
        raise Problem(
            403,
            "Forbidden",
            f"district {district} is outside your districts",
            detail_zh="这个站点不在您负责的区县内，不能修改。",
        )
    return user


def require_station(station: Station) -> User:
    """The caller, if they may change `station` (a keeper: one of theirs; an organizer: in their districts)."""
    user: User = g.user
    if not user.may_edit(station):
        if user.is_keeper:
            raise Problem(
                403,
                "Forbidden",
                f"station {station.id} is not one of your stations",
                detail_zh="这不是您负责的驿站。",
            )
        if not user.can_write:
            raise Problem(403, "Forbidden", "this account may only view", detail_zh="此账号只能查看。")
        raise Problem(
            403,
            "Forbidden",
            f"district {station.district} is outside your districts",
            detail_zh=f"{current_roster().districts.name(station.district) or station.district}不在您负责的区县内。",
        )
    return user


def require_changes(old: Station, new: Station) -> User:
    """The caller, if they may make every change from `old` to `new` (403 naming the fields they may not)."""
    user = require_station(old)
    refused = user.refused_fields(old, new)
    if refused:
        names = "、".join(FIELD_LABELS.get(f, f) for f in refused)
        raise Problem(
            403,
            "Forbidden",
            f"this account may not change: {', '.join(refused)}"
            + (" (a station keeper changes only status, closed_until, hours, amenities)" if user.is_keeper else ""),
            detail_zh=f"您不能修改：{names}。"
            + ("站长只能修改开放状态（正常开放/暂停开放）、暂停至、开放时间和服务设施。" if user.is_keeper else ""),
            fields=refused,
        )
    return user


def home_url(user: User) -> str:
    """Where an account lands after logging in: a keeper's own stations, else the dashboard."""
    return url_for("admin.keeper.index") if user.is_keeper else url_for("admin.dashboard.index")


@bp.app_context_processor
def _admin_context() -> dict[str, Any]:
    return {"current_user": g.get("user"), "role_labels": ROLE_LABELS, "csrf_token": csrf_token}


def safe_next(raw: str | None) -> str:
    """The page to open after logging in: '' or a path under /admin on this site (400 for anything else)."""
    target = (raw or "").strip()
    if not target:
        return ""
    parts = None
    if len(target) <= MAX_NEXT_LEN and target.isprintable() and "\\" not in target:
        try:
            parts = urlsplit(target)
        except ValueError:
            parts = None
    if (
        parts is None
        or parts.scheme
        or parts.netloc
        or not (parts.path == "/admin" or parts.path.startswith("/admin/"))
        or ".." in parts.path.split("/")
    ):
        raise Problem(
            400,
            "Invalid parameter",
            "next: must be a page under /admin on this site",
            detail_zh="登录后要打开的页面（next）只能是本站 /admin 下的页面。",
            parameter="next",
        )
    return target


def login_page_url(**args: object) -> str:
    """The login page's URL (with ?changed=1 after a password change)."""
    return url_for("admin.auth.login", **args)


def _login_page(status: int, error: str | None, next_url: str, headers: dict[str, str] | None = None) -> Response:
    notice = "密码已修改，请用新密码重新登录。" if request.args.get("changed") else None
    page = render_template("admin/login.html", next=next_url, error=error, notice=notice)
    return Response(page, status=status, mimetype="text/html", headers=headers)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with name and password (throttled per client and per account)."""
    if request.method != "POST":  # GET, and the HEAD Flask adds (a link checker's): never a failed login
        return _login_page(200, None, safe_next(request.args.get("next")))
    next_url = safe_next(request.form.get("next"))
    name = request.form.get("name", "").strip()
    client = request.remote_addr or "-"
    throttle = login_throttle()
    wait = throttle.wait_s(client, name)
    if wait:
        message = f"登录尝试过于频繁，请 {math.ceil(wait / 60)} 分钟后再试"
        return _login_page(429, message, next_url, headers={"Retry-After": str(wait)})
    password = request.form.get("password", "")
    found = current_accounts().find_user(name)
    # The same scrypt runs whether the name exists, is disabled or not: timing tells nothing.
    ok = check_password(found[1], password) if found else check_no_password(password)
    if not (ok and found and found[0].active):
        throttle.failed(client, name)
        return _login_page(401, "用户名或密码错误", next_url)
    session.clear()  # a new session id at every login: nothing planted before it survives
    plain, digest = new_session_id()
    hours = int(current_app.config.get("SESSION_HOURS", 12))
    current_accounts().create_session(found[0].id, digest, datetime.now(UTC) + timedelta(hours=hours))
    session["sid"] = plain
    csrf_token()
    return redirect(next_url or home_url(found[0]))


@bp.post("/logout")
def logout():
    """End the session on the server (every copy of its cookie) and in this browser."""
    sid = session.get("sid")
    if isinstance(sid, str) and sid:
        current_accounts().end_session(token_digest(sid))
    session.clear()
    return redirect(url_for("admin.auth.login"))
