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


def _seconds(milliseconds: int | None) -> float | None:
    """A setting in ms as seconds; None (`auto`) stays None: the store's own default."""
    return None if milliseconds is None else milliseconds / 1000.0


SECRET_KEY_FILE = "secret_key"


def _instance_secret_key(app: Flask) -> str:
    """The secret key kept in the instance folder (made once, mode 0600), shared by every worker of this machine.

    SQLite only: with PostgreSQL the generated key lives in the database, for every app server
    (`_shared_secret_key`).
    """
    path = Path(app.instance_path) / SECRET_KEY_FILE
    if not path.exists():
        # Written to a private temporary file, then linked into place: link() fails if another worker
        # got there first, and nobody ever reads a half-written key.
        tmp = path.with_name(f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
            try:
                os.link(tmp, path)
                logging.getLogger(__name__).info("generated a secret key in %s", path)
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        logging.getLogger(__name__).warning("%s was readable by others (mode %o): now 0600", path, mode)
        path.chmod(0o600)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ConfigError(f"{path} holds no usable secret key: delete it (a new one is made) or set LOCATOR_SECRET_KEY")
    return key


def _shared_secret_key(app: Flask, store) -> None:
    """With PostgreSQL and no LOCATOR_SECRET_KEY: the key generated once in the database, the same for every server.

    A server that starts while the database is down starts without it (riders' pages need none);
    its first request after the database returns reads it. Until then the organizers' pages,
    which need the database anyway, answer 503.
    """
    from flask import request

    from locator.store import StoreUnavailable
    from locator.store.shared import shared_secret_key

    try:
        app.config["SECRET_KEY"] = shared_secret_key(store)
        return
    except StoreUnavailable:
        logging.getLogger(__name__).error("database unreachable at start-up: the secret key is read when it returns")

    @app.before_request
    def _secret_key_when_the_database_returns() -> None:
        if app.config.get("SECRET_KEY"):
            return
        try:
            app.config["SECRET_KEY"] = shared_secret_key(store)
        except StoreUnavailable:
            if request.path.startswith(("/admin", "/api/v1/admin")):
                raise


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then LOCATOR_* environment and instance/config.py, then `test_config`."""
    from locator import cli, logs, privacy
    from locator.reports import ConfirmationLog
    from locator.roster import Roster
    from locator.searchlog import SearchLog
    from locator.store import StoreUnavailable, open_store
    from locator.store.accounts import open_accounts
    from locator.store.demand import DemandStore
    from locator.store.reports import FeedbackStore
    from locator.web import hot_path, http, limits, problems

    privacy.install()
    settings = load_settings()
    # Tests give each app an instance folder of its own (secret key, uploads, PostGIS accounts), and so
    # does LOCATOR_INSTANCE_PATH for app servers sharing a checkout.
    instance_path = str((test_config or {}).get("INSTANCE_PATH") or "") or settings["INSTANCE_PATH"]
    app = http.App(
        __name__,
        instance_relative_config=True,
        instance_path=os.path.abspath(instance_path) if instance_path else None,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
    )
    app.config.update(settings)
    app.config.from_pyfile("config.py", silent=True)
    if test_config:
        _apply_overrides(app, test_config)
    # Flask refuses larger bodies with 413 (checked early for every path in web/http.py).
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_UPLOAD_MB"]) * 1024 * 1024
    logs.init_app(app)
    os.makedirs(app.instance_path, exist_ok=True)
    shared = not str(app.config["DATABASE_URL"]).startswith("sqlite:")
    if not app.config.get("SECRET_KEY") and not shared:
        app.config["SECRET_KEY"] = _instance_secret_key(app)

    store = open_store(
        app.config["DATABASE_URL"],
        app.instance_path,
        schema=app.config.get("DATABASE_SCHEMA", "public"),
        version_check_interval=_seconds(app.config.get("VERSION_CHECK_INTERVAL_MS")),
        listen=bool(app.config.get("VERSION_LISTEN", True)),
    )
    roster = Roster.open(
        store,
        app.config.get("DISTRICTS_FILE") or None,
        app.config.get("SERVICE_AREA_BBOX"),
        max_query_distance_m=float(app.config.get("MAX_QUERY_DISTANCE_KM", 100)) * 1000.0,
    )
    try:
        store.init_schema()
        if app.config.get("SEED_SAMPLE") and store.count() == 0:
            sample = app.config.get("SAMPLE_FILE") or None
            summary = roster.seed_sample(sample) if sample else roster.seed_sample()
            logging.getLogger(__name__).info("seeded the sample roster: %d stations", len(summary.added))
    except StoreUnavailable:
        # A worker that gunicorn starts (or recycles) while PostgreSQL is down must still start: a
        # worker that fails to boot makes gunicorn stop every worker. It answers 503 until the
        # database returns (migrations run at deploy time with `flask init-db`).
        logging.getLogger(__name__).error("database unreachable at start-up: schema not checked; 503 until it returns")
    if not app.config.get("SECRET_KEY"):
        _shared_secret_key(app, store)
    app.extensions["roster"] = roster
    # Accounts, sessions, tokens and import previews: in the station store's database, so with
    # PostgreSQL every app server shares them; with SQLite previews wait in the instance folder.
    app.extensions["accounts"] = open_accounts(store)
    if shared:
        from locator.store.shared import SharedUploadStaging

        app.extensions["staging"] = SharedUploadStaging(store)
        if (Path(app.instance_path) / "accounts.sqlite3").exists():
            logging.getLogger(__name__).warning(
                "%s/accounts.sqlite3 is no longer read: accounts live in PostgreSQL. Copy them once with "
                "`flask --app locator migrate-accounts %s/accounts.sqlite3`",
                app.instance_path,
                app.instance_path,
            )
    else:
        from locator.importing import UploadStaging

        app.extensions["staging"] = UploadStaging(Path(app.instance_path) / "imports")
    demand = DemandStore(store)
    app.extensions["demand"] = demand
    if app.config.get("DEMAND_LOG"):
        # Counted per cell and day in memory, written by a background thread (locator/searchlog.py).
        app.extensions["search_log"] = SearchLog(demand.add_search_counts, prune=demand.prune_search_counts)
    feedback = FeedbackStore(store)
    app.extensions["feedback"] = feedback
    # "这里可用" taps: counted per station and day in memory, written in batches (locator/reports.py).
    app.extensions["confirmations"] = ConfirmationLog(feedback.add_confirmations, prune=feedback.prune_confirmations)

    problems.init_app(app)
    cli.init_app(app)
    _register_blueprints(app)
    hot_path.init_app(app)  # the rider's nearest search in front of Flask; inside ProxyFix (next line)
    limits.init_app(app)  # after the blueprints: it attaches limits to their views
    if app.config.get("METRICS", True):
        from locator.web import metrics

        metrics.init_app(app)  # last: its first hook times everything the others do
    return app


def _register_blueprints(app: Flask) -> None:
    from locator.web import admin, api, apidocs, assets, health, http, map_pages, ogc, pages, wechat

    for module in (health, api, apidocs, ogc, pages, wechat, map_pages, assets):
        app.register_blueprint(module.bp)
    admin.init_app(app)
    http.init_app(app)  # also stamps web/security.py's headers


__all__ = ["SETTINGS", "create_app"]
