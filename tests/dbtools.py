"""Reaching into an app's database the same way on SQLite and PostGIS (tests that check what is stored)."""

from __future__ import annotations


def run_sql(app, text: str, params=()) -> list[tuple]:
    """Run SQL (written with `?` placeholders) on an app's database, SQLite or PostGIS; the rows it returns."""
    accounts = app.extensions["accounts"]
    with accounts._write() as conn:
        cur = accounts._run(conn, text, params)
        return cur.fetchall() if cur.description else []
