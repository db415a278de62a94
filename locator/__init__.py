"""驿站地图: the Wenzhou rider-station locator. create_app() builds the Flask app."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from locator.config import SETTINGS, ConfigError, load_settings, settings_by_name

ROOT = Path(__file__).resolve().parent.parent


def _apply_overrides(app: Flask, overrides: dict[str, Any]) -> None:
    known = settings_by_name()
    problems = []
    for key, value in overrides.items():
        if key in known and isinstance(value, str):
            try:
                value = known[key].parse(value)
            except (ValueError, TypeError) as exc:
                problems.append(f"{key}={value!r}: {exc}")
                continue
        app.config[key] = value
    if problems:
        raise ConfigError("bad configuration:\n  " + "\n  ".join(problems))


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then LOCATOR_* environment and instance/config.py, then `test_config`."""
    from locator import cli, logs, privacy
    from locator.roster import Roster
    from locator.searchlog import SearchLog
    from locator.store import open_store
    from locator.store.accounts import open_accounts
    from locator.store.demand import DemandStore
    from locator.web import limits, problems

    privacy.install()
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
    )
    app.config.update(load_settings())
    app.config.from_pyfile("config.py", silent=True)
    if test_config:
        _apply_overrides(app, test_config)
    # Flask refuses larger bodies with 413 (checked early for every path in web/http.py).
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_UPLOAD_MB"]) * 1024 * 1024
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    logs.init_app(app)
    os.makedirs(app.instance_path, exist_ok=True)

    store = open_store(
        app.config["DATABASE_URL"],
        app.instance_path,
        schema=app.config.get("DATABASE_SCHEMA", "public"),
        version_check_interval=app.config.get("VERSION_CHECK_INTERVAL_MS", 0) / 1000.0,
    )
    store.init_schema()
    roster = Roster.open(
        store,
        app.config.get("DISTRICTS_FILE") or None,
        app.config.get("SERVICE_AREA_BBOX"),
    )
    if app.config.get("SEED_SAMPLE") and store.count() == 0:
        sample = app.config.get("SAMPLE_FILE") or None
        summary = roster.seed_sample(sample) if sample else roster.seed_sample()
        logging.getLogger(__name__).info("seeded the sample roster: %d stations", len(summary.added))
    app.extensions["roster"] = roster
    app.extensions["accounts"] = open_accounts(store, app.instance_path)
    demand = DemandStore(store)
    app.extensions["demand"] = demand
    if app.config.get("DEMAND_LOG"):
        # Counted per cell and day in memory, written by a background thread (locator/searchlog.py).
        app.extensions["search_log"] = SearchLog(demand.add_search_counts, prune=demand.prune_search_counts)

    problems.init_app(app)
    cli.init_app(app)
    _register_blueprints(app)
    limits.init_app(app)  # after the blueprints: it attaches limits to their views
    return app


def _register_blueprints(app: Flask) -> None:
    from locator.web import admin, api, apidocs, assets, health, http, map_pages, ogc, pages, wechat

    for module in (health, api, apidocs, ogc, pages, wechat, map_pages, assets):
        app.register_blueprint(module.bp)
    admin.init_app(app)
    http.init_app(app)


__all__ = ["SETTINGS", "create_app"]
