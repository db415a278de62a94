"""`flask --app locator …` commands for accounts, tokens, backups and restores."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from locator import current_roster
from locator.accounts import ROLES, AccountError, check_new_user, hash_password, new_token


def _accounts():
    return current_app.extensions["accounts"]


@click.command("create-user")
@with_appcontext
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--district", "districts", multiple=True, help="District code (repeat); district organizers need one.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
def create_user(name: str, role: str, districts: tuple[str, ...], password_stdin: bool) -> None:
    """Create an organizer account."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        check_new_user(name, role, districts, set(current_roster().districts.codes))
        user = _accounts().create_user(name, role, districts, hash_password(password))
    except AccountError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"created user {user.name} (id {user.id}, {user.role}, districts: {','.join(user.districts) or 'all'})")


@click.command("create-token")
@with_appcontext
@click.argument("user")
@click.option("--label", default="", help="What the token is for (shown in list-users).")
def create_token(user: str, label: str) -> None:
    """Create an API token for USER; it is printed once and stored only as a hash."""
    found = _accounts().find_user(user)
    if found is None:
        click.echo(f"error: no user named {user!r}", err=True)
        sys.exit(1)
    plain, digest = new_token()
    token = _accounts().create_token(found[0].id, label, digest)
    click.echo(f"token {token.id} for {user} (shown once, keep it secret):", err=True)
    click.echo(plain)


@click.command("revoke-token")
@with_appcontext
@click.argument("token_id", type=int)
def revoke_token(token_id: int) -> None:
    """Revoke an API token by id."""
    if not _accounts().revoke_token(token_id):
        click.echo(f"error: no active token {token_id}", err=True)
        sys.exit(1)
    click.echo(f"revoked token {token_id}")


@click.command("list-users")
@with_appcontext
def list_users() -> None:
    """List users and their tokens (never the tokens themselves)."""
    for user in _accounts().list_users():
        click.echo(f"{user.id}\t{user.name}\t{user.role}\t{','.join(user.districts) or '*'}")
        for t in _accounts().list_tokens(user.id):
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            click.echo(f"\ttoken {t.id}\t{t.label or '-'}\t{state}")


def _sqlite_path() -> str:
    store = current_roster().store
    path = getattr(store, "path", None)
    if path is None:
        click.echo("error: backup/restore here work on the SQLite store; for PostGIS use pg_dump", err=True)
        sys.exit(1)
    return path


def backup_database(source: str, target: Path) -> None:
    """A consistent copy of a live SQLite database (sqlite3 backup API: safe while others write)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    tmp.replace(target)


def check_backup(path: Path) -> int:
    """The number of stations in a backup; ValueError if it is not a sound locator database."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise ValueError("integrity check failed")
        return conn.execute("SELECT count(*) FROM stations").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"not a locator database: {exc}") from None
    finally:
        conn.close()


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path) -> None:
    """Write a consistent copy of the SQLite database to PATH (safe while the service runs)."""
    backup_database(_sqlite_path(), path)
    click.echo(f"backup written to {path}: {check_backup(path)} stations")


@click.command("restore")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Confirm: the current database is replaced by the backup.")
def restore(path: Path, yes: bool) -> None:
    """Replace the SQLite database with a backup (checked first; copied in with the backup API)."""
    try:
        count = check_backup(path)
    except ValueError as exc:
        click.echo(f"error: {path}: {exc}", err=True)
        sys.exit(1)
    if not yes:
        click.echo(f"refusing: this replaces the whole database with {path} ({count} stations); add --yes", err=True)
        sys.exit(2)
    live = _sqlite_path()
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    dst = sqlite3.connect(live, timeout=30)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    click.echo(f"restored {path}: {count} stations")


def init_app(app: Flask) -> None:
    """Register the commands."""
    for command in (create_user, create_token, revoke_token, list_users, backup, restore):
        app.cli.add_command(command)
