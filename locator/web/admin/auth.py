"""Who is asking: session login with CSRF for the pages, bearer tokens for scripts; roles and districts."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, session, url_for

from locator.accounts import ROLE_LABELS, User, check_password, token_digest
from locator.context import current_accounts
from locator.web.problems import Problem, problem_response

bp = Blueprint("auth", __name__)
PUBLIC_ENDPOINTS = {"admin.auth.login"}


def _authenticate() -> User | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        g.via = "api"
        g.bearer = True
        return current_accounts().user_for_token(token_digest(auth[7:].strip()))
    g.bearer = False
    g.via = "edit"
    uid = session.get("uid")
    if isinstance(uid, int):
        user = current_accounts().get_user(uid)
        if user is not None and user.active:
            return user
    return None


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _check_csrf() -> None:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not hmac.compare_digest(sent, session.get("csrf", "")) or not sent:
        raise Problem(400, "CSRF check failed", "the form is stale or was not sent by this site: reload the page")


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
            page = render_template("admin/login.html", next=request.path, error=None, csrf=csrf_token())
            return Response(page, status=401, mimetype="text/html")
        return problem_response(
            401, "Unauthorized", "log in, or send Authorization: Bearer TOKEN", headers={"WWW-Authenticate": "Bearer"}
        )
    if request.method not in ("GET", "HEAD", "OPTIONS") and not g.bearer:
        _check_csrf()
    return None


def require_writer() -> User:
    """The caller, if they may change data (403 for viewers)."""
    user: User = g.user
    if not user.can_write:
        raise Problem(403, "Forbidden", "this account may only view")
    return user


def require_district(district: str | None) -> User:
    """The caller, if they may change stations of `district`."""
    user = require_writer()
    if not user.may_edit_district(district):
        raise Problem(403, "Forbidden", f"district {district} is outside your districts")
    return user


@bp.app_context_processor
def _admin_context() -> dict[str, Any]:
    return {"current_user": g.get("user"), "role_labels": ROLE_LABELS, "csrf_token": csrf_token}


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with name and password."""
    error = None
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        found = current_accounts().find_user(name)
        if found and found[0].active and check_password(found[1], request.form.get("password", "")):
            session.clear()
            session["uid"] = found[0].id
            csrf_token()
            target = request.form.get("next") or ""
            return redirect(target if target.startswith("/admin") else url_for("admin.stations.index"))
        error = "用户名或密码错误"
    status = 401 if error else 200
    page = render_template("admin/login.html", next=request.args.get("next", ""), error=error)
    return Response(page, status=status, mimetype="text/html")


@bp.post("/logout")
def logout():
    """End the session."""
    session.clear()
    return redirect(url_for("admin.auth.login"))
