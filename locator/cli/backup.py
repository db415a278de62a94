"""Backup commands: backup and restore of the SQLite database while the service runs.

A restore moves the database to a new epoch (store/sql.py), so the data version that running
servers compare never returns to a number they have seen: they reload the restored roster
within LOCATOR_VERSION_CHECK_INTERVAL_MS (0.1 s by default), without a restart.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from locator.context import current_roster


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


ACCOUNT_TABLES = ("users", "api_tokens", "sessions", "station_keepers")  # parents first


def _copy(source: str | Path, target: str | Path, *, source_read_only: bool = False) -> None:
    """Copy one SQLite database over another with the backup API (readers of `target` never see half of it)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True) if source_read_only else sqlite3.connect(source)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _keep_accounts(staged: sqlite3.Connection, live: str) -> None:
    """Put the live database's accounts, API tokens and sessions into the staged copy."""
    staged.execute("ATTACH DATABASE ? AS live", (live,))
    try:
        staged.execute("BEGIN IMMEDIATE")
        for table in reversed(ACCOUNT_TABLES):
            staged.execute(f"DELETE FROM main.{table}")
        for table in ACCOUNT_TABLES:
            staged.execute(f"INSERT INTO main.{table} SELECT * FROM live.{table}")
        staged.execute("COMMIT")
    finally:
        staged.execute("DETACH DATABASE live")


@click.command("restore")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Confirm: the current database is replaced by the backup.")
@click.option(
    "--keep-accounts",
    is_flag=True,
    help="Keep today's accounts, API tokens and logins instead of the backup's (tokens revoked since stay revoked).",
)
def restore(path: Path, yes: bool, keep_accounts: bool) -> None:
    """Replace the SQLite database with a backup; running servers reload it within 0.1 s (by default).

    Without --keep-accounts the accounts and API tokens are the backup's: a token revoked or an
    account disabled after the backup works again, and everyone logs in again.
    """
    from locator.store.sqlite import SQLiteStore

    try:
        count = check_backup(path)
    except ValueError as exc:
        click.echo(f"error: {path}: {exc}", err=True)
        sys.exit(1)
    if not yes:
        click.echo(
            f"refusing: this replaces the whole database with {path} ({count} stations), accounts and API tokens "
            "included (add --keep-accounts to keep today's); add --yes",
            err=True,
        )
        sys.exit(2)
    live = _sqlite_path()
    live_epoch = current_roster().store.epoch()
    # Prepared in a copy beside the live file (same disk), then copied over it in one go.
    staged_path = Path(live).with_name(f".restore-{os.getpid()}.sqlite3")
    for leftover in (staged_path, Path(f"{staged_path}-wal"), Path(f"{staged_path}-shm")):
        leftover.unlink(missing_ok=True)
    try:
        _copy(path, staged_path, source_read_only=True)
        staged = SQLiteStore(staged_path)
        try:
            staged.init_schema()  # a backup made by an older release gets today's tables
            epoch = staged.start_epoch(at_least=live_epoch + 1)
            if keep_accounts:
                _keep_accounts(staged._conn(), live)
            else:
                with staged._write() as conn:
                    conn.execute("DELETE FROM sessions")
        finally:
            staged.close()
        _copy(staged_path, live)
    finally:
        for leftover in (staged_path, Path(f"{staged_path}-wal"), Path(f"{staged_path}-shm")):
            leftover.unlink(missing_ok=True)
    click.echo(f"restored {path}: {count} stations; running servers reload it within 0.1 s by default (epoch {epoch})")
    if keep_accounts:
        click.echo("kept today's accounts, API tokens and logins")
    else:
        click.echo(
            "accounts and API tokens are now those of the backup: tokens revoked and accounts disabled since then "
            "work again, ones created since are gone, and everyone must log in again "
            "(restore with --keep-accounts to keep today's)"
        )


COMMANDS = (backup, restore)
