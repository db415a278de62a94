"""The app for the HTTP bench, with the roster snapshot built before gunicorn forks (--preload).

Every worker then starts with the same snapshot (copy-on-write) instead of each building its
own at the first request. The store's connections are closed before the fork; each worker
opens its own.
"""

from __future__ import annotations

from locator import create_app

app = create_app()
_roster = app.extensions["roster"]
_roster.snapshot()
_roster.store.close()
