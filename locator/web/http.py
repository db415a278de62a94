"""HTTP behaviour shared by the API and the OGC feed: ETag/304, Cache-Control, gzip, CORS, 413.

Catalogue-like responses are cacheable: their ETag hashes the roster's data version, the
request (path, query, negotiated format) and the current minute (answers carry open_now).
Nearest answers depend on a rider's position: `private, no-store`.
"""

from __future__ import annotations

import gzip
import hashlib
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

API_PREFIXES = ("/api/", "/ogc")
COMPRESSIBLE = ("application/json", "application/geo+json", "application/problem+json", "text/html")
MIN_GZIP_BYTES = 1024
CORS_METHODS = "GET, HEAD, OPTIONS"
CORS_HEADERS = "Accept, Accept-Language, If-None-Match, Content-Type"
CORS_EXPOSE = "ETag, Link, Content-Length"


def etag_for(version: int, *parts: str) -> str:
    """A weak ETag for data `version` and the request parts (weak: gzip does not change it)."""
    h = hashlib.sha1(f"{version}|{'|'.join(parts)}".encode()).hexdigest()[:20]
    return f'W/"v{version}-{h}"'


def cacheable(version_of: Callable[[], int], fmt_of: Callable[[], str] | None = None) -> Callable:
    """Wrap a GET view: answer 304 when If-None-Match holds the ETag, else stamp ETag + Cache-Control."""

    def wrap(view: Callable) -> Callable:
        @wraps(view)
        def inner(*args: Any, **kwargs: Any):
            minute = str(int(time.time() // 60))
            fmt = fmt_of() if fmt_of else ""
            query = "&".join(sorted(f"{k}={v}" for k, v in request.args.items(multi=True)))
            tag = etag_for(version_of(), request.path, query, fmt, minute)
            max_age = current_app.config.get("API_CACHE_MAX_AGE", 60)
            headers = {"ETag": tag, "Cache-Control": f"public, max-age={max_age}", "Vary": "Accept"}
            if tag.removeprefix("W/") in {t.strip().removeprefix("W/") for t in _if_none_match()}:
                return Response(status=304, headers=headers)
            resp = current_app.make_response(view(*args, **kwargs))
            # A view that marked its answer private (it depends on the asker) keeps that.
            if resp.status_code == 200 and "private" not in (resp.headers.get("Cache-Control") or ""):
                for k, v in headers.items():
                    resp.headers[k] = v
            return resp

        return inner

    return wrap


def _if_none_match() -> list[str]:
    raw = request.headers.get("If-None-Match", "")
    if raw.strip() == "*":
        return ["*"]
    return [t for t in raw.split(",") if t.strip()]


def _allowed_origin(origin: str) -> str | None:
    allowed = current_app.config.get("CORS_ORIGINS") or ()
    if "*" in allowed:
        return "*"
    return origin if origin in allowed else None


def init_app(app: Flask) -> None:
    """Install the request/response hooks for API paths."""

    @app.before_request
    def _refuse_large_bodies():
        # Every path (API, admin uploads): refused from the declared length, before the body is
        # read or spooled to disk. LOCATOR_MAX_UPLOAD_MB sets MAX_CONTENT_LENGTH.
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if limit and (request.content_length or 0) > limit:
            raise RequestEntityTooLarge(f"request bodies (uploads) are limited to {limit // (1024 * 1024)} MB")

    @app.after_request
    def _http(resp: Response) -> Response:
        path = request.path
        if not path.startswith(API_PREFIXES):
            return resp
        origin = request.headers.get("Origin")
        if origin:
            allow = _allowed_origin(origin)
            if allow:
                resp.headers["Access-Control-Allow-Origin"] = allow
                resp.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE
                if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
                    resp.headers["Access-Control-Allow-Methods"] = CORS_METHODS
                    resp.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
                    resp.headers["Access-Control-Max-Age"] = "600"
            resp.vary.add("Origin")
        _gzip(resp)
        return resp


def _gzip(resp: Response) -> None:
    if (
        resp.direct_passthrough
        or resp.status_code < 200
        or resp.status_code in (204, 304)
        or "Content-Encoding" in resp.headers
        or resp.mimetype not in COMPRESSIBLE
        or request.method == "HEAD"
    ):
        return
    resp.vary.add("Accept-Encoding")
    # Cheap test first: most requests (and all benchmark ones) carry no Accept-Encoding at all.
    if "gzip" not in request.headers.get("Accept-Encoding", "") or request.accept_encodings["gzip"] <= 0:
        return
    data = resp.get_data()
    if len(data) < MIN_GZIP_BYTES:
        return
    resp.set_data(gzip.compress(data, compresslevel=5, mtime=0))
    resp.headers["Content-Encoding"] = "gzip"
