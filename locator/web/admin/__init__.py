"""The organizer admin: pages under /admin (one blueprint per room) and the token API under /api/v1/admin.

Every admin request passes `auth.guard` first: who is asking, CSRF on form posts, the login page
for anonymous people, 401 problem+json for scripts.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from locator.web.admin import (
    api,
    audit,
    auth,
    coverage,
    dashboard,
    files,
    freshness,
    keeper,
    labels,
    reports,
    stations,
    users,
)

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(auth.guard)
for child in (
    auth.bp,
    dashboard.bp,
    stations.bp,
    audit.bp,
    files.bp,
    coverage.bp,
    users.bp,
    labels.bp,
    keeper.bp,
    reports.bp,
    freshness.bp,
):
    bp.register_blueprint(child)


def init_app(app: Flask) -> None:
    """Register the admin blueprints and the session cookie's settings."""
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("SECURE_COOKIES"))
    app.register_blueprint(bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(reports.api_bp)
