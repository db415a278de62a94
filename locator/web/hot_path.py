"""The rider's nearest search answered in front of Flask: the one request that must cost what /healthz costs.

A phone asks `GET /api/v1/stations/nearest?lat=…&lng=…[&k=…][&coord=…]` far more often than
anything else. Flask's machinery for one request (request context, URL matching, sessions, a
Response object, web/http.py's work on its header list) costs more than the nearest answer itself.
NearestFastPath, called first by web/http.py's Edge (inside ProxyFix), answers exactly that request
with the same bytes and headers as the view (`api.nearest_answer()` writes both bodies) and does
what Edge and the view would do for it: the Host check, the nearest rate limit, the search log,
the metrics count, Cache-Control and Vary. Anything else goes to Flask untouched, and so does any
doubt: another method or path, filters, a radius or any parameter that is not plain
(`api.plain_nearest_query`), an Origin (CORS), an Accept-Encoding that allows gzip, a host not
allowed, a client beyond its limit (Flask answers the 429), a point outside the service area (422),
an unreachable database (stale answers and 503s are decided in one place, web/http.py), debug
logging. tests/test_hot_path.py checks that both paths answer alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from locator.coords import CRS
from locator.errors import LocatorError
from locator.store import StoreUnavailable
from locator.web import api, security

PATH = "/api/v1/stations/nearest"
_CRS = {c.value: c for c in CRS}
_LOG = api.log


class NearestFastPath:
    """The plain nearest search answered directly; called by web/http.py's Edge for PATH, first."""

    def __init__(self, app: Flask):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes] | None:
        """Answer the plain nearest search, or None: Flask answers."""
        if environ.get("REQUEST_METHOD") != "GET":
            return None
        started = time.perf_counter()
        body = self._answer(environ)
        if body is None:
            return None
        start_response("200 OK", _headers(len(body)))
        counter = self.app.extensions.get("metrics_count")
        if counter is not None:
            counter(PATH, "GET", 200, time.perf_counter() - started)
        return [body]

    def _answer(self, environ: dict[str, Any]) -> bytes | None:
        """The answer's body, or None when Flask must answer this request."""
        if "HTTP_ORIGIN" in environ or "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            return None
        query = api.plain_nearest_query(environ.get("QUERY_STRING", ""))
        extensions = self.app.extensions
        if query is None or not extensions["host_policy"].allows_header(environ.get("HTTP_HOST", "")):
            return None
        crs = _CRS[query.coord]
        if crs is CRS.WGS84:
            w_lng, w_lat = query.lng, query.lat
        else:
            w_lng, w_lat = api.to_wgs84(query.lng, query.lat, crs)
            if not (-180 <= w_lng <= 180 and -90 <= w_lat <= 90):
                return None
        roster = extensions["roster"]
        try:
            snap, stale = roster.snapshots.current(stale_ok=False)
            body = api.nearest_answer(roster, snap, w_lng, w_lat, crs, query.k)
        except (LocatorError, StoreUnavailable):  # 422 outside the area, a store that is down: Flask's to answer
            return None
        # Spent once the answer is sure (a 422 or a 503 is the view's, which spends itself).
        budget = extensions.get("nearest_budget")
        if budget is not None and not budget.spend(environ.get("REMOTE_ADDR") or ""):
            return None  # the view spends again and answers 429
        api.count_nearest_search(self.app, w_lng, w_lat)
        return body


_FIXED_HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "private, no-store"),
    ("Vary", "Accept-Encoding"),
    *security.EVERY_ANSWER.items(),  # nosniff and Referrer-Policy, as web/security.py adds to every answer
]


def _headers(length: int) -> list[tuple[str, str]]:
    return [_FIXED_HEADERS[0], ("Content-Length", str(length)), *_FIXED_HEADERS[1:]]


def init_app(app: Flask) -> None:
    """Put the fast path first in web/http.py's Edge (inside ProxyFix, so that it sees the client's address)."""
    if not app.debug and not _LOG.isEnabledFor(logging.DEBUG):  # the view logs each search's coarse point
        app.extensions["edge"].answer_first(PATH, NearestFastPath(app))
