"""Rate limits on public endpoints (Flask-Limiter), keyed by the client's address.

/ogc (OGC API – Features) has a budget of its own (LOCATOR_RATELIMIT_OGC) that fits GIS paging.
Counters live in memory per process by default; several instances share them through
Redis (LOCATOR_RATELIMIT_STORAGE_URI=redis://…). Behind N trusted proxies
(LOCATOR_PROXY_COUNT=N) the client is the N-th address from the right of X-Forwarded-For.
A breach answers 429 problem+json with Retry-After.
"""

from __future__ import annotations

import time

from flask import Flask
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from locator.web.problems import problem_response

EXEMPT_ENDPOINTS = ("health.healthz", "health.readyz", "static")  # load balancers poll these


def limits_enabled(app: Flask) -> bool:
    """RATELIMIT_ENABLED: auto means on, except in tests (which turn it on explicitly when they test it)."""
    mode = str(app.config.get("RATELIMIT_ENABLED", "auto")).lower()
    if mode == "auto":
        return not app.config.get("TESTING", False)
    return mode in ("true", "1", "yes", "on")


def init_app(app: Flask) -> Limiter:
    """Wrap the app in ProxyFix (if configured), attach the limiter and its 429 handler."""
    proxies = int(app.config.get("PROXY_COUNT", 0) or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    enabled = limits_enabled(app)
    app.config["RATELIMIT_ENABLED"] = enabled  # Flask-Limiter reads this key
    limiter = Limiter(
        get_remote_address,
        app=None,
        default_limits=[app.config.get("RATELIMIT_DEFAULT", "600/minute")],
        storage_uri=app.config.get("RATELIMIT_STORAGE_URI", "memory://"),
        headers_enabled=False,
        # A Redis outage must not take the API down: count in memory meanwhile, and log it.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        key_prefix="locator",
        enabled=enabled,
    )
    limiter.init_app(app)
    nearest = app.view_functions.get("api.nearest")
    if nearest is not None:
        # The wrapped view checks its own limit (Flask-Limiter's middleware leaves decorated views to it).
        app.view_functions["api.nearest"] = limiter.limit(
            app.config.get("RATELIMIT_NEAREST", "60/minute"), override_defaults=True
        )(nearest)
    ogc = app.blueprints.get("ogc")
    if ogc is not None:
        # GIS clients page through features (GDAL 3.6: 10 a request): /ogc has a budget of its own,
        # shared by all its endpoints, in place of the default one.
        limiter.limit(app.config.get("RATELIMIT_OGC", "3000/minute"), override_defaults=True)(ogc)
    for endpoint in EXEMPT_ENDPOINTS:
        view = app.view_functions.get(endpoint)
        if view is not None:
            limiter.exempt(view)
    app.extensions["locator_limiter"] = limiter

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded):
        current = limiter.current_limit
        retry = max(1, int(current.reset_at - time.time())) if current is not None else 60
        return problem_response(
            429,
            "Too Many Requests",
            f"rate limit exceeded ({exc.description}); retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )

    return limiter
