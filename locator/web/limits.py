"""Rate limits on public endpoints (Flask-Limiter), keyed by the client's address.

/ogc (OGC API – Features) has a budget of its own (LOCATOR_RATELIMIT_OGC) that fits GIS paging.
Counters live in memory per process by default; several instances share them through
Redis (LOCATOR_RATELIMIT_STORAGE_URI=redis://…). Behind N trusted proxies
(LOCATOR_PROXY_COUNT=N) the client is the N-th address from the right of X-Forwarded-For.
A breach answers 429 problem+json with Retry-After.

Riders' anonymous feedback (reports, "这里可用" confirmations) has limits of its own
(LOCATOR_RATELIMIT_REPORTS per client, LOCATOR_RATELIMIT_CONFIRMATIONS per client and station)
whose keys are keyed digests (HMAC with the secret key) of the client's address: the limiter's
counters, and its log line on a breach, never hold the address of someone who sent a report.

Logging in has its own throttle (LoginThrottle), always on: failed attempts are counted per
client address and per account name, and a caller over either limit is refused before any
password hash is computed (scrypt is what made a login flood slow every other request).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from locator.web.problems import problem_response

log = logging.getLogger(__name__)


class LoginThrottle:
    """Failed logins counted per client and per account (moving windows); refuse before the hash runs."""

    def __init__(self, storage_uri: str, per_client: str, per_account: str):
        self._per_client = parse_many(per_client)
        self._per_account = parse_many(per_account)
        try:
            storage: Storage = storage_from_string(storage_uri)
        except Exception:  # a broken Redis URI or driver must not stop logins: count locally
            log.warning("login throttle: cannot use %s, counting in process memory", storage_uri.split("@")[-1])
            storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(storage)
        self._fallback: MovingWindowRateLimiter | None = None
        self._lock = threading.Lock()

    def _keys(self, client: str, account: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        keys = [(item, ("login-client", client)) for item in self._per_client]
        return keys + [(item, ("login-account", account.strip().lower())) for item in self._per_account]

    def _strategy(self) -> MovingWindowRateLimiter:
        return self._fallback or self._limiter

    def _fail_over(self, exc: Exception) -> MovingWindowRateLimiter:
        with self._lock:
            if self._fallback is None:
                log.warning("login throttle: storage unreachable (%s); counting in process memory", exc)
                self._fallback = MovingWindowRateLimiter(MemoryStorage())
        return self._fallback

    def wait_s(self, client: str, account: str) -> int:
        """Seconds until `client` may try to log in as `account` again; 0 if it may now."""
        try:
            return self._wait_s(self._strategy(), client, account)
        except Exception as exc:  # e.g. Redis went away: keep throttling in memory
            return self._wait_s(self._fail_over(exc), client, account)

    def _wait_s(self, strategy: MovingWindowRateLimiter, client: str, account: str) -> int:
        wait = 0.0
        for item, ids in self._keys(client, account):
            if not strategy.test(item, *ids):
                reset_at, _ = strategy.get_window_stats(item, *ids)
                wait = max(wait, reset_at - time.time(), 1.0)
        return math.ceil(wait)

    def failed(self, client: str, account: str) -> None:
        """Count one failed attempt against the client and the account."""
        try:
            strategy = self._strategy()
            for item, ids in self._keys(client, account):
                strategy.hit(item, *ids)
        except Exception as exc:
            strategy = self._fail_over(exc)
            for item, ids in self._keys(client, account):
                strategy.hit(item, *ids)


def anonymous_key(*parts: str) -> str:
    """A rate-limit key for anonymous feedback: an HMAC of the client's address (and `parts`), not the address."""
    secret = str(current_app.config.get("SECRET_KEY") or "").encode()
    text = "|".join((get_remote_address() or "-", *parts)).encode()
    return "anon:" + hmac.new(secret, text, hashlib.sha256).hexdigest()[:24]


def _limit_feedback(app: Flask, limiter: Limiter) -> None:
    """Reports per client, confirmations per client and station (and per client at the default rate)."""
    report = app.view_functions.get("api.report_station")
    if report is not None:
        app.view_functions["api.report_station"] = limiter.limit(
            app.config.get("RATELIMIT_REPORTS", "10/hour;30/day"), key_func=anonymous_key, override_defaults=True
        )(report)
    confirm = app.view_functions.get("api.confirm_station")
    if confirm is not None:
        per_station = limiter.limit(
            app.config.get("RATELIMIT_CONFIRMATIONS", "3/hour;6/day"),
            key_func=lambda: anonymous_key((request.view_args or {}).get("station_id", "")),
            override_defaults=True,
        )
        per_client = limiter.limit(
            app.config.get("RATELIMIT_DEFAULT", "600/minute"), key_func=anonymous_key, override_defaults=True
        )
        app.view_functions["api.confirm_station"] = per_station(per_client(confirm))


def too_many_requests(limit: str, retry: int) -> Response:
    """The 429 problem+json answer naming the limit that was passed, with Retry-After."""
    return problem_response(
        429,
        "Too Many Requests",
        f"rate limit exceeded ({limit}); retry in {retry} s",
        headers={"Retry-After": str(retry)},
        detail_zh=f"请求过于频繁，请 {retry} 秒后再试。",
    )


class NearestBudget:
    """The nearest search's own limit per client (LOCATOR_RATELIMIT_NEAREST), counted in fixed windows.

    Counted here rather than by a Flask-Limiter decorator so that the view and the hot path
    (web/hot_path.py, which answers without Flask) spend one budget, on the same storage as the other
    limits (shared through Redis by several instances); an unreachable store fails over to memory.
    """

    PREFIX = "locator-nearest"

    def __init__(self, storage_uri: str, limits: str):
        self.items = parse_many(limits)
        try:
            storage: Storage = storage_from_string(storage_uri)
        except Exception:  # a broken Redis URI or driver must not stop the service: count locally
            log.warning("nearest limit: cannot use %s, counting in process memory", storage_uri.split("@")[-1])
            storage = MemoryStorage()
        self._limiter = FixedWindowRateLimiter(storage)
        self._fallback: FixedWindowRateLimiter | None = None
        self._lock = threading.Lock()

    def spend(self, client: str) -> bool:
        """Count one search by `client`; False if that went beyond a limit."""
        try:
            return self._spend(self._fallback or self._limiter, client)
        except Exception as exc:  # e.g. Redis went away: keep limiting in memory
            with self._lock:
                if self._fallback is None:
                    log.warning("nearest limit: storage unreachable (%s); counting in process memory", exc)
                    self._fallback = FixedWindowRateLimiter(MemoryStorage())
            return self._spend(self._fallback, client)

    def _spend(self, strategy: FixedWindowRateLimiter, client: str) -> bool:
        return all([strategy.hit(item, self.PREFIX, client) for item in self.items])  # a list: hit every limit

    def refusal(self, client: str) -> Response:
        """The 429 problem+json answer for a client beyond its limit, with Retry-After."""
        strategy = self._fallback or self._limiter
        retry, over = 1, self.items[0]
        for item in self.items:
            try:
                reset_at, remaining = strategy.get_window_stats(item, self.PREFIX, client)
            except Exception:  # noqa: BLE001 - the store went away meanwhile: a minute is a safe answer
                reset_at, remaining = time.time() + 60, 0
            if remaining <= 0 and reset_at - time.time() >= retry:
                retry, over = max(1, math.ceil(reset_at - time.time())), item
        return too_many_requests(str(over), retry)


def nearest_budget() -> NearestBudget | None:
    """The app's nearest limit, or None while rate limits are off."""
    return current_app.extensions.get("nearest_budget")


def login_throttle() -> LoginThrottle:
    """The app's login throttle."""
    return current_app.extensions["login_throttle"]


EXEMPT_ENDPOINTS = ("health.healthz", "health.readyz", "static")  # load balancers poll these
OWN_LIMIT_ENDPOINTS = ("api.nearest",)  # limited by NearestBudget, not by Flask-Limiter's default limit


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
        # X-Forwarded-Host is never trusted: the proxy passes the client's Host (checked against
        # LOCATOR_ALLOWED_HOSTS in web/http.py), and a client could add the header through it.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=0)
    app.extensions["login_throttle"] = LoginThrottle(
        app.config.get("RATELIMIT_STORAGE_URI", "memory://"),
        app.config.get("RATELIMIT_LOGIN_CLIENT", "10/minute;100/hour"),
        app.config.get("RATELIMIT_LOGIN_ACCOUNT", "5/minute;30/hour"),
    )
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
    # Nearest has a budget of its own (NearestBudget, spent by the view and the hot path), in place of the default.
    storage = app.config.get("RATELIMIT_STORAGE_URI", "memory://")
    nearest_limit = app.config.get("RATELIMIT_NEAREST", "60/minute")
    app.extensions["nearest_budget"] = NearestBudget(storage, nearest_limit) if enabled else None
    _limit_feedback(app, limiter)
    ogc = app.blueprints.get("ogc")
    if ogc is not None:
        # GIS clients page through features (GDAL 3.6: 10 a request): /ogc has a budget of its own,
        # shared by all its endpoints, in place of the default one.
        limiter.limit(app.config.get("RATELIMIT_OGC", "3000/minute"), override_defaults=True)(ogc)
    for endpoint in (*EXEMPT_ENDPOINTS, *OWN_LIMIT_ENDPOINTS):
        view = app.view_functions.get(endpoint)
        if view is not None:
            limiter.exempt(view)
    app.extensions["locator_limiter"] = limiter

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded):
        current = limiter.current_limit
        retry = max(1, int(current.reset_at - time.time())) if current is not None else 60
        return too_many_requests(exc.description, retry)

    return limiter
