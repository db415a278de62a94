"""Account commands: create-user, set-stations, set-password, disable-user, enable-user, create-token, revoke-token,
list-users, migrate-accounts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click
from flask.cli import with_appcontext

from locator.accounts import (
    ROLES,
    AccountError,
    User,
    check_keeper_stations,
    check_new_user,
    check_password_policy,
    hash_password,
    new_token,
)
from locator.context import current_accounts, current_roster
from locator.store.accounts import AccountsConflict, SQLAccountStore, copy_accounts
from locator.store.base import StationQuery


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


CLI_ACTOR = "cli"  # who the account audit trail names for changes made on the server's command line


def _fail(message: str, zh: str | None = None) -> NoReturn:
    click.echo(f"error: {message}" + (f"\n{zh}" if zh else ""), err=True)
    sys.exit(1)


def _user_named(name: str) -> User:
    found = current_accounts().find_user(name)
    if found is None:
        _fail(f"no user named {name!r}", f"没有名为“{name}”的账号。")
    return found[0]


@click.command("create-user")
@with_appcontext
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--district", "districts", multiple=True, help="District code (repeat); district organizers need one.")
@click.option(
    "--station", "stations", multiple=True, help="Station id (repeat); station keepers need one, others take none."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
def create_user(
    name: str, role: str, districts: tuple[str, ...], stations: tuple[str, ...], password_stdin: bool
) -> None:
    """Create an account (password: at least 10 characters, not only digits, not a common one)."""
    password = _read_password(password_stdin)
    try:
        check_new_user(name, role, districts, set(current_roster().districts.codes), stations, _known(stations))
        check_password_policy(password, name)
        user = current_accounts().create_user(name, role, districts, hash_password(password), stations, actor=CLI_ACTOR)
    except AccountError as exc:
        _fail(str(exc), exc.detail_zh)
    if user.is_keeper:
        click.echo(f"created user {user.name} (id {user.id}, {user.role}, stations: {','.join(user.stations)})")
    else:
        scope = ",".join(user.districts) or "all"
        click.echo(f"created user {user.name} (id {user.id}, {user.role}, districts: {scope})")


def _known(stations: tuple[str, ...]) -> set[str]:
    """Which of these station ids exist in the roster."""
    if not stations:
        return set()
    return {s.id for s in current_roster().store.list(StationQuery(ids=tuple(stations)))}


@click.command("set-stations")
@with_appcontext
@click.argument("name")
@click.option("--station", "stations", multiple=True, required=True, help="Station id (repeat): the keeper's stations.")
def set_stations(name: str, stations: tuple[str, ...]) -> None:
    """Bind the station keeper NAME to exactly these stations."""
    user = _user_named(name)
    try:
        check_keeper_stations(user.role, (), stations, _known(stations))
    except AccountError as exc:
        _fail(str(exc), exc.detail_zh)
    current_accounts().set_stations(user.id, stations, actor=CLI_ACTOR)
    click.echo(f"{name} now keeps: {','.join(dict.fromkeys(stations))}")


@click.command("set-password")
@with_appcontext
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
def set_password(name: str, password_stdin: bool) -> None:
    """Set NAME's password; every session of NAME ends (API tokens stay valid)."""
    user = _user_named(name)
    password = _read_password(password_stdin)
    try:
        check_password_policy(password, name)
    except AccountError as exc:
        _fail(str(exc), exc.detail_zh)
    current_accounts().set_password(user.id, hash_password(password), actor=CLI_ACTOR)
    click.echo(f"password of {name} changed; their login sessions have ended")


@click.command("disable-user")
@with_appcontext
@click.argument("name")
def disable_user(name: str) -> None:
    """Disable NAME: their sessions end now, logins and API tokens are refused until enable-user."""
    user = _user_named(name)
    current_accounts().set_active(user.id, False, actor=CLI_ACTOR)
    click.echo(f"disabled {name}: sessions ended, logins and API tokens refused")


@click.command("enable-user")
@with_appcontext
@click.argument("name")
def enable_user(name: str) -> None:
    """Enable NAME again (their API tokens that were not revoked work again)."""
    user = _user_named(name)
    current_accounts().set_active(user.id, True, actor=CLI_ACTOR)
    click.echo(f"enabled {name}")


@click.command("create-token")
@with_appcontext
@click.argument("user")
@click.option("--label", default="", help="What the token is for (shown in list-users).")
def create_token(user: str, label: str) -> None:
    """Create an API token for USER; it is printed once and stored only as a hash."""
    owner = _user_named(user)
    plain, digest = new_token()
    token = current_accounts().create_token(owner.id, label, digest)
    click.echo(f"token {token.id} for {user} (shown once, keep it secret):", err=True)
    click.echo(plain)


@click.command("revoke-token")
@with_appcontext
@click.argument("token_id", type=int)
def revoke_token(token_id: int) -> None:
    """Revoke an API token by id."""
    if not current_accounts().revoke_token(token_id):
        click.echo(f"error: no active token {token_id}", err=True)
        sys.exit(1)
    click.echo(f"revoked token {token_id}")


@click.command("list-users")
@with_appcontext
def list_users() -> None:
    """List users and their tokens (never the tokens themselves)."""
    for user in current_accounts().list_users():
        state = "" if user.active else "\tdisabled"
        scope = ",".join(user.stations) if user.is_keeper else (",".join(user.districts) or "*")
        click.echo(f"{user.id}\t{user.name}\t{user.role}\t{scope}{state}")
        for t in current_accounts().list_tokens(user.id):
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            click.echo(f"\ttoken {t.id}\t{t.label or '-'}\t{state}")


@click.command("migrate-accounts")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def migrate_accounts(path: Path) -> None:
    """Copy the accounts, tokens, sessions and account audit of an SQLite file (instance/accounts.sqlite3).

    For PostGIS deployments from before accounts moved into PostgreSQL: run it once, on one server.
    Running it again copies nothing new; an account or token the database holds differently stops it
    before anything is written.
    """
    accounts = current_accounts()
    if not isinstance(accounts, SQLAccountStore):
        _fail("this account store cannot take copies")
    try:
        done = copy_accounts(path, accounts)
    except AccountsConflict as exc:
        lines = "\n".join(f"  {en}" for en, _ in exc.conflicts)
        lines_zh = "\n".join(f"  {zh}" for _, zh in exc.conflicts)
        _fail(
            f"nothing copied: {len(exc.conflicts)} conflict(s) with the accounts already in the database "
            f"(rename or remove them on one side, then run this again):\n{lines}",
            f"未复制任何数据：与数据库中已有账号冲突（请在一方改名或删除后重新运行）：\n{lines_zh}",
        )
    except AccountError as exc:
        _fail(str(exc), exc.detail_zh)
    click.echo(f"copied {len(done.users)} account(s): {', '.join(done.users) or '-'}")
    if done.already:
        click.echo(f"already there, unchanged: {', '.join(done.already)}")
    click.echo(
        f"copied {done.tokens} token(s) ({done.tokens_already} already there), "
        f"{done.sessions} unexpired session(s), {done.audit} account audit record(s)"
    )
    for old, new in sorted(done.renumbered_tokens.items()):
        click.echo(f"token {old} is now token {new} (its number was taken)")
    click.echo(
        f"已复制 {len(done.users)} 个账号、{done.tokens} 个令牌、{done.sessions} 个登录会话、{done.audit} 条账号记录。"
    )


COMMANDS = (
    create_user,
    set_stations,
    set_password,
    disable_user,
    enable_user,
    create_token,
    revoke_token,
    list_users,
    migrate_accounts,
)
