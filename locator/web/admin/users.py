"""Accounts in the browser: /admin/users for city administrators, /admin/account/password for everyone.

A city administrator creates organizer accounts (any role of locator.accounts.ROLES), disables and
re-enables them and resets their passwords; every user changes their own password. The store
ends the sessions a disable or a new password must end, and writes the account audit trail (who
did what to which account, when) in the same transaction. Passwords follow the one policy
(accounts.check_password_policy) and are never shown or logged.
"""

from __future__ import annotations

import math

from flask import Blueprint, Response, g, redirect, render_template, request, session, url_for

from locator.accounts import (
    ROLES,
    AccountError,
    User,
    check_new_user,
    check_password,
    check_password_policy,
    hash_password,
)
from locator.context import current_accounts, current_roster
from locator.web.admin.auth import login_page_url
from locator.web.limits import login_throttle
from locator.web.problems import Problem

bp = Blueprint("users", __name__)


def require_city_admin() -> User:
    """The caller, if a city administrator (403 otherwise)."""
    user: User = g.user
    if user.role != "city_admin":
        raise Problem(
            403, "Forbidden", "only city administrators manage accounts", detail_zh="只有市级管理员可以管理账号。"
        )
    return user


def _page(status: int = 200, **kw) -> Response:
    roster = current_roster()
    accounts = current_accounts()
    page = render_template(
        "admin/users.html",
        users=accounts.list_users(),
        events=accounts.account_audit(limit=100),
        roles=ROLES,
        districts=roster.districts.districts,
        district_names={d.code: d.name for d in roster.districts.districts},
        form=kw.pop("form", None) or {"role": "district_organizer", "districts": []},
        **kw,
    )
    return Response(page, status=status, mimetype="text/html")


def _target(user_id: int) -> User:
    user = current_accounts().get_user(user_id)
    if user is None:
        raise Problem(404, "Not Found", f"no user with id {user_id}", detail_zh="没有这个账号。")
    return user


@bp.get("/users")
def users_page():
    """Every account, a form to create one, and the account audit trail."""
    require_city_admin()
    return _page(done=request.args.get("done"))


@bp.post("/users")
def create_user():
    """Create an account (role from ROLES, districts for district roles, a password that passes the policy)."""
    admin = require_city_admin()
    form = {
        "name": request.form.get("name", "").strip(),
        "role": request.form.get("role", ""),
        "districts": request.form.getlist("districts"),
    }
    password = request.form.get("password", "")
    try:
        check_new_user(form["name"], form["role"], tuple(form["districts"]), set(current_roster().districts.codes))
        check_password_policy(password, form["name"])
        if password != request.form.get("password2", ""):
            raise AccountError("the two passwords differ", "两次输入的密码不一致。")
        current_accounts().create_user(
            form["name"], form["role"], tuple(form["districts"]), hash_password(password), actor=admin.name
        )
    except AccountError as exc:
        return _page(422, form=form, error=exc.detail_zh)
    return redirect(url_for("admin.users.users_page", done=f"已创建账号“{form['name']}”。"))


@bp.post("/users/<int:user_id>/disable")
def disable_user(user_id: int):
    """Disable an account: its sessions end now, logins and its API tokens are refused."""
    admin = require_city_admin()
    target = _target(user_id)
    if target.id == admin.id:
        return _page(422, error="不能停用自己正在使用的账号。")
    current_accounts().set_active(target.id, False, actor=admin.name)
    return redirect(url_for("admin.users.users_page", done=f"已停用账号“{target.name}”，其登录已全部退出。"))


@bp.post("/users/<int:user_id>/enable")
def enable_user(user_id: int):
    """Enable an account again."""
    admin = require_city_admin()
    target = _target(user_id)
    current_accounts().set_active(target.id, True, actor=admin.name)
    return redirect(url_for("admin.users.users_page", done=f"已重新启用账号“{target.name}”。"))


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id: int):
    """Set a new password for an account (its sessions end; tell the owner the new password in person)."""
    admin = require_city_admin()
    target = _target(user_id)
    password = request.form.get("password", "")
    try:
        check_password_policy(password, target.name)
    except AccountError as exc:
        return _page(422, error=f"“{target.name}”的新密码不符合要求：{exc.detail_zh}")
    current_accounts().set_password(target.id, hash_password(password), actor=admin.name)
    if target.id == admin.id:
        session.clear()
        return redirect(login_page_url(changed=1))
    return redirect(url_for("admin.users.users_page", done=f"已重设“{target.name}”的密码，其登录已全部退出。"))


@bp.route("/account/password", methods=["GET", "POST"])
def own_password():
    """Change one's own password (the current one first); every session ends, log in again."""
    user: User = g.user
    if request.method != "POST":  # GET and HEAD
        return render_template("admin/own_password.html", error=None)
    client = request.remote_addr or "-"
    throttle = login_throttle()
    wait = throttle.wait_s(client, user.name)
    if wait:  # the current password is a password guess like a login's
        message = f"尝试过于频繁，请 {math.ceil(wait / 60)} 分钟后再试。"
        page = render_template("admin/own_password.html", error=message)
        return Response(page, status=429, mimetype="text/html", headers={"Retry-After": str(wait)})
    found = current_accounts().find_user(user.name)
    current = request.form.get("current", "")
    new = request.form.get("password", "")
    error = None
    if found is None or not check_password(found[1], current):
        throttle.failed(client, user.name)
        error = "当前密码不对。"
    elif new != request.form.get("password2", ""):
        error = "两次输入的新密码不一致。"
    elif new == current:
        error = "新密码不能与当前密码相同。"
    else:
        try:
            check_password_policy(new, user.name)
        except AccountError as exc:
            error = exc.detail_zh
    if error:
        return Response(render_template("admin/own_password.html", error=error), status=422, mimetype="text/html")
    current_accounts().set_password(user.id, hash_password(new), actor=user.name)
    session.clear()
    return redirect(login_page_url(changed=1))
