"""Static files under content-addressed URLs: gzip-compressed and cached for a year (immutable).

Vendored libraries live under versioned paths (/static/vendor/leaflet-1.9.4/…); our own map
script and stylesheet under a digest of their content (/maps/assets/<digest>/…), so a changed
file gets a new URL and an old URL never serves new bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, request, url_for
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.security import safe_join

bp = Blueprint("assets", __name__)

STATIC = Path(__file__).resolve().parent.parent / "static"
VENDOR = STATIC / "vendor"
OWN = STATIC / "maps"
IMMUTABLE = "public, max-age=31536000, immutable"


@lru_cache(maxsize=64)
def _compressed(path: str, mtime: float) -> tuple[bytes, bytes, str]:
    raw = Path(path).read_bytes()
    return raw, gzip.compress(raw, 9, mtime=0), hashlib.sha256(raw).hexdigest()[:16]


def send_bytes(raw: bytes, gz: bytes | None, mimetype: str, cache_control: str, etag: str | None = None) -> Response:
    """Bytes with gzip when the client accepts it, and the given caching (and ETag, answered with 304)."""
    use_gzip = gz is not None and "gzip" in request.headers.get("Accept-Encoding", "").lower()
    resp = Response(gz if use_gzip else raw, content_type=mimetype)
    if use_gzip:
        resp.headers["Content-Encoding"] = "gzip"
    if gz is not None:
        resp.headers["Vary"] = "Accept-Encoding"
    resp.headers["Cache-Control"] = cache_control
    if etag:
        resp.set_etag(etag)
        resp.make_conditional(request)
    return resp


def _send_static(root: Path, filename: str, expect_digest: str | None = None) -> Response:
    path = safe_join(str(root), filename)
    if path is None or not Path(path).is_file():
        raise HTTPNotFound()
    raw, gz, digest = _compressed(path, Path(path).stat().st_mtime)
    if expect_digest is not None and expect_digest != digest:
        raise HTTPNotFound()  # an old digest must not cache today's file for a year under its name
    mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if mimetype.startswith(("text/", "application/javascript")):
        mimetype += "; charset=utf-8"
    compressible = not mimetype.startswith("image/png")
    return send_bytes(raw, gz if compressible else None, mimetype, IMMUTABLE, digest)


@bp.get("/static/vendor/<path:filename>")
def vendor(filename: str):
    """Vendored libraries under versioned paths (leaflet-1.9.4/…): gzip, cached for a year."""
    return _send_static(VENDOR, filename)


@bp.get("/maps/assets/<digest>/<path:filename>")
def asset(digest: str, filename: str):
    """Our own map script and stylesheet, under a content digest so they can be cached immutably."""
    return _send_static(OWN, filename, expect_digest=digest)


def own_asset_url(filename: str) -> str:
    """The content-versioned URL of one of our map assets."""
    path = OWN / filename
    _, _, digest = _compressed(str(path), path.stat().st_mtime)
    return url_for("assets.asset", digest=digest, filename=filename)


def vendor_base() -> str:
    """The URL prefix of the vendored libraries ("/static/vendor" under any mount point)."""
    return url_for("assets.vendor", filename="x")[:-2]
