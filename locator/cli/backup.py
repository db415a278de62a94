"""Backup commands: backup and restore of the SQLite database while the service runs."""

from __future__ import annotations

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


COMMANDS = (backup, restore)
