"""Every CSS/JS file the pages load, from one mechanism: content-addressed, gzip-compressed, immutable.

`asset_url("css/rider.css")` (a Jinja global too) names a file under locator/static, or a bundle
(several files concatenated, one request), by a digest of its bytes: /assets/<digest>/<name>.
Those URLs are cached for a year as immutable, so a repeat visit asks nothing for them, and a
changed file gets a new URL; an old digest is a 404, never today's bytes under yesterday's name.
gzip (level 9) is computed once per file version. No nginx in front is needed for any of it.

Vendored libraries keep their versioned folders (/static/vendor/leaflet-1.9.4/…, also immutable)
for the admin pages and for Leaflet's relative image URLs; pages link through asset_url.
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
IMMUTABLE = "public, max-age=31536000, immutable"
LEAFLET_JS = "vendor/leaflet-1.9.4/leaflet.js"
LEAFLET_CSS = "vendor/leaflet-1.9.4/leaflet.css"
# Files a page always needs together travel as one response (fewer round trips on a slow phone
# network). Leaflet stays on its own: the rider page and the maps share its cached copy.
BUNDLES: dict[str, tuple[str, ...]] = {
    "bundles/rider.css": ("css/base.css", "css/rider.css"),
    "bundles/rider.js": ("js/station-card.js", "js/rider.js"),
    "bundles/map.css": (LEAFLET_CSS, "css/base.css", "maps/locator-map.css"),
    # The map pages: supercluster and the first markers (before Leaflet), then the card and the map.
    "bundles/map-first.js": ("vendor/supercluster-8.0.1/supercluster.min.js", "maps/locator-first.js"),
    "bundles/map-page.js": ("js/station-card.js", "maps/locator-map.js"),
    # Pages that draw a LocatorMap of their own (the organizers' 待核实 map): everything in one.
    "bundles/map.js": (
        "vendor/supercluster-8.0.1/supercluster.min.js",
        "maps/locator-first.js",
        "js/station-card.js",
        "maps/locator-map.js",
    ),
}
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def _file(name: str) -> Path:
    path = safe_join(str(STATIC), name)
    if path is None or not Path(path).is_file():
        raise HTTPNotFound()
    return Path(path)


def _mtimes(name: str) -> tuple[float, ...]:
    """Modification times of the files behind `name` (the cache key: an edited file is re-read)."""
    parts = BUNDLES.get(name, (name,))
    return tuple(_file(p).stat().st_mtime for p in parts)


@lru_cache(maxsize=128)
def _built(name: str, mtimes: tuple[float, ...]) -> tuple[bytes, bytes, str]:
    if name in BUNDLES:
        sep = b";\n" if name.endswith(".js") else b"\n"
        raw = sep.join(_file(p).read_bytes().rstrip() for p in BUNDLES[name]) + b"\n"
    else:
        raw = _file(name).read_bytes()
    return raw, gzip.compress(raw, 9, mtime=0), hashlib.sha256(raw).hexdigest()[:16]


def built(name: str) -> tuple[bytes, bytes, str]:
    """(bytes, gzip bytes, digest) of a static file or bundle, rebuilt when a source file changes."""
    return _built(name, _mtimes(name))


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


def _mimetype(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _send(name: str, expect_digest: str | None = None) -> Response:
    raw, gz, digest = built(name)
    # An old digest must not cache today's file for a year under its name. Vendored files are exempt:
    # their folder carries the version (leaflet-1.9.4/), and leaflet.css names its images relatively.
    if expect_digest is not None and expect_digest != digest and not name.startswith("vendor/"):
        raise HTTPNotFound()
    mimetype = _mimetype(name)
    compressible = mimetype.startswith(("text/", "image/svg", "application/json"))
    return send_bytes(raw, gz if compressible else None, mimetype, IMMUTABLE, digest)


@bp.get("/assets/<digest>/<path:name>")
def asset(digest: str, name: str):
    """A static file or bundle under its content digest: gzip, cached for a year as immutable."""
    if name not in BUNDLES and name.startswith("bundles/"):
        raise HTTPNotFound()
    return _send(name, expect_digest=digest)


@bp.get("/static/vendor/<path:filename>")
def vendor(filename: str):
    """Vendored libraries under versioned paths (leaflet-1.9.4/…): gzip, cached for a year."""
    return _send("vendor/" + filename)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page says: the same icon, cached for a day."""
    raw, gz, digest = built("img/icon.svg")
    return send_bytes(raw, gz, "image/svg+xml", "public, max-age=86400", digest)


def inline_script(name: str) -> str:
    """A JS file or bundle's text for an inline <script>: refused if it could end the element early
    ("</script") or change how browsers tokenise it ("<!--"), which would also break its CSP hash."""
    text = built(name)[0].decode("utf-8")
    lowered = text.lower()
    if "</script" in lowered or "<!--" in lowered:
        raise ValueError(f"{name} cannot be inlined: it holds '</script' or '<!--'")
    return text


@bp.app_template_global()
def asset_url(name: str) -> str:
    """The content-addressed URL of a static file or bundle ("css/rider.css", "bundles/map.js")."""
    return url_for("assets.asset", digest=built(name)[2], name=name)
