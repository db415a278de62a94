"""Map pages for organizers and embedders: /map, /embed, /embed/builder, data files and pictures.

Views parse and validate the query, ask locator.maps (which imports folium/geopandas lazily,
never on the rider's path) and cache what they build per roster data version.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template, request, url_for
from markupsafe import escape
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.security import safe_join

from locator.maps import MAX_ZOOM, MIN_ZOOM
from locator.stations import AMENITIES, STATION_TYPES, TZ
from locator.web.params import get_choices, get_int
from locator.web.problems import Problem, bad_parameter, problem_response, wants_json

bp = Blueprint("maps", __name__)

STATIC = Path(__file__).resolve().parent.parent / "static"
VENDOR = STATIC / "vendor"
OWN = STATIC / "maps"
IMMUTABLE = "public, max-age=31536000, immutable"


# -- compressed, immutable static files ------------------------------------------------------------


@lru_cache(maxsize=64)
def _compressed(path: str, mtime: float) -> tuple[bytes, bytes, str]:
    raw = Path(path).read_bytes()
    return raw, gzip.compress(raw, 9, mtime=0), hashlib.sha256(raw).hexdigest()[:16]


def _send_bytes(raw: bytes, gz: bytes | None, mimetype: str, cache_control: str, etag: str | None = None) -> Response:
    """Bytes with gzip when the client accepts it, and the given caching."""
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
    return _send_bytes(raw, gz if compressible else None, mimetype, IMMUTABLE, digest)


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
    return url_for("maps.asset", digest=digest, filename=filename)


# -- shared parsing -------------------------------------------------------------------------------


def _roster():
    return current_app.extensions["roster"]


def _cache():
    from locator.maps import VersionedCache

    return current_app.extensions.setdefault("maps_cache", VersionedCache())


def _basemap():
    """The basemap from ?basemap= or the LOCATOR_BASEMAP setting (Tianditu without a key: OSM)."""
    from locator.maps import BASEMAP_KEYS, BasemapUnavailable, basemap

    key = request.args.get("basemap", "").strip()
    options = {
        "tianditu_key": current_app.config.get("TIANDITU_KEY", ""),
        "amap_approval": current_app.config.get("AMAP_APPROVAL", ""),
    }
    if key:
        if key not in BASEMAP_KEYS:
            raise bad_parameter("basemap", f"unknown value {key!r}; allowed: {', '.join(BASEMAP_KEYS)}")
        try:
            return basemap(key, **options)
        except BasemapUnavailable as exc:
            raise bad_parameter("basemap", str(exc)) from None
    default = current_app.config.get("BASEMAP", "amap")
    try:
        return basemap(default, **options)
    except BasemapUnavailable:
        current_app.logger.warning("LOCATOR_BASEMAP=%s needs LOCATOR_TIANDITU_KEY; using osm", default)
        return basemap("osm", **options)


def _filter():
    from locator.maps import MapFilter

    district = request.args.get("district", "").strip() or None
    if district is not None and district not in _roster().districts.codes:
        raise bad_parameter("district", f"unknown district code {district!r}; use a code such as 330302")
    return MapFilter(
        types=get_choices("type", STATION_TYPES),
        district=district,
        amenities=get_choices("amenity", AMENITIES),
    )


def _center() -> tuple[float, float] | None:
    raw = request.args.get("center", "").strip()
    if not raw:
        return None
    parts = raw.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        lat, lng = float(parts[0]), float(parts[1])
    except ValueError:
        raise bad_parameter("center", f"{raw!r} is not lat,lng (e.g. 27.99,120.70)") from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise bad_parameter("center", "lat must be within -90..90 and lng within -180..180 (WGS-84)")
    return (lat, lng)


def _filter_args(flt) -> dict[str, str]:
    out = {}
    if flt.types:
        out["type"] = ",".join(flt.types)
    if flt.district:
        out["district"] = flt.district
    if flt.amenities:
        out["amenity"] = ",".join(flt.amenities)
    return out


def _page_response(kind: str, key: tuple, build) -> Response:
    """A map page from the per-version cache (HTML and its gzip built once)."""
    snapshot = _roster().snapshot()

    def make():
        html = build(snapshot).encode("utf-8")
        return html, gzip.compress(html, 6, mtime=0)

    html, gz = _cache().get(snapshot.version, (kind, *key), make)
    return _send_bytes(html, gz, "text/html; charset=utf-8", "no-cache", f"{kind}-{snapshot.version}-{hash(key)}")


def _map_parts(snapshot, base, flt, *, embed: bool, center, zoom: int, with_districts: bool) -> dict[str, str]:
    from locator import maps

    data_url = url_for("maps.data", version=snapshot.version, basemap=base.key, **_filter_args(flt))
    detail_url = url_for("maps.station", station_id="__ID__")
    districts = breaks = None
    if with_districts:
        counts = maps.district_counts(snapshot, _roster().districts)
        districts = maps.districts_geojson(_roster().districts, counts, base.crs)
        breaks = maps.choropleth_breaks(counts.values())
    config = maps.MapConfig(
        data_url=data_url,
        detail_url=detail_url,
        embed=embed,
        districts=districts,
        breaks=breaks or [],
        fit_data=center is None,
    )
    assets = maps.MapAssets(
        vendor_base=url_for("maps.vendor", filename="x")[:-2],  # "/static/vendor" under any prefix
        own_js=own_asset_url("locator-map.js"),
        own_css=own_asset_url("locator-map.css"),
    )
    m = maps.build_map(base, assets, config, center=center, zoom=zoom)
    # The page preloads the station data so it downloads while the scripts do.
    return {**maps.map_parts(m), "data_url": data_url}


@bp.errorhandler(Problem)
def _problem(exc: Problem):
    """Bad parameters: problem+json for API clients, a page that names the parameter for people."""
    if wants_json(request) or request.path.endswith((".json", ".png")):
        if wants_json(request):
            return problem_response(exc.status, exc.title, exc.detail, **exc.extra)
        body = {"type": "about:blank", "title": exc.title, "status": exc.status, "detail": exc.detail, **exc.extra}
        resp = current_app.json.response(body)
        resp.status_code = exc.status
        resp.mimetype = "application/problem+json"
        return resp
    html = render_template(
        "maps/error.html", status=exc.status, detail=exc.detail, parameter=exc.extra.get("parameter")
    )
    return Response(html, status=exc.status, mimetype="text/html")


# -- pages --------------------------------------------------------------------------------------


@bp.get("/map")
def coverage_map():
    """The organizers' coverage map: every station, layers per type, districts, rings, table."""
    base = _basemap()
    center = _center()
    zoom = get_int("zoom", MIN_ZOOM, MAX_ZOOM, default=9)

    def build(snapshot):
        from locator import maps

        counts = maps.district_counts(snapshot, _roster().districts)
        total = sum(counts.values())
        rows = [
            {"code": d.code, "name": d.name, "count": counts[d.code], "share": counts[d.code] / total if total else 0}
            for d in _roster().districts.districts
        ]
        parts = _map_parts(snapshot, base, maps.MapFilter(), embed=False, center=center, zoom=zoom, with_districts=True)
        return render_template(
            "maps/map.html",
            parts=parts,
            districts=rows,
            total=len(snapshot),
            basemap=base,
            sample_data=snapshot.sample_count > 0,
            breaks=maps.choropleth_breaks(counts.values()),
        )

    return _page_response("map", (base.key, center, zoom), build)


@bp.get("/embed")
def embed():
    """The embeddable map: minimal chrome, filters and basemap from the URL (see docs/maps.md)."""
    base = _basemap()
    flt = _filter()
    center = _center()
    zoom = get_int("zoom", MIN_ZOOM, MAX_ZOOM, default=11 if center else 10)

    def build(snapshot):
        parts = _map_parts(snapshot, base, flt, embed=True, center=center, zoom=zoom, with_districts=False)
        return render_template("maps/embed.html", parts=parts, basemap=base, sample_data=snapshot.sample_count > 0)

    return _page_response("embed", (base.key, flt.key(), center, zoom), build)


@bp.get("/embed/builder")
def builder():
    """A form that builds the iframe snippet for the chosen filters, with a live preview."""
    base = _basemap()
    flt = _filter()
    center = _center()
    zoom = get_int("zoom", MIN_ZOOM, MAX_ZOOM, default=11) if center else None
    args = {"basemap": base.key, **_filter_args(flt)}
    if center:
        args["center"] = f"{center[0]},{center[1]}"
        args["zoom"] = str(zoom)
    src = url_for("maps.embed", _external=True) + "?" + urlencode(args)
    snippet = (
        f'<iframe src="{escape(src)}" width="100%" height="480" style="border:0" '
        'loading="lazy" allowfullscreen referrerpolicy="no-referrer-when-downgrade"></iframe>'
    )
    return render_template(
        "maps/builder.html",
        src=src,
        snippet=snippet,
        flt=flt,
        basemap=base,
        center=request.args.get("center", ""),
        zoom=zoom or "",
        types=STATION_TYPES,
        amenities=AMENITIES,
        districts=_roster().districts.districts,
        sample_data=_roster().is_sample(),
    )


# -- data -----------------------------------------------------------------------------------------


@bp.get("/maps/data/<int:version>.json")
def data(version: int):
    """Station rows for a map in the basemap's coordinates; immutable while `version` is current."""
    import json

    base = _basemap()
    flt = _filter()
    snapshot = _roster().snapshot()

    def make():
        from locator import maps

        body = json.dumps(maps.stations_payload(snapshot, base, flt), ensure_ascii=False, separators=(",", ":"))
        raw = body.encode("utf-8")
        return raw, gzip.compress(raw, 6, mtime=0)

    raw, gz = _cache().get(snapshot.version, ("data", base.key, flt.key()), make)
    cache = IMMUTABLE if version == snapshot.version else "no-store"
    return _send_bytes(raw, gz, "application/json", cache)


@bp.get("/maps/stations/<station_id>.json")
def station(station_id: str):
    """One station for a map popup (the API's station shape), open-now computed at this moment."""
    from locator.serialize import station_json

    snapshot = _roster().snapshot()
    i = snapshot.by_id.get(station_id)
    if i is None:
        raise Problem(404, "Not Found", f"no station with id {station_id!r}")
    s = snapshot.stations[i]
    body = station_json(s, when=datetime.now(TZ), district_name=_roster().districts.name(s.district), navigation=False)
    resp = current_app.json.response(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/maps/coverage.png")
def coverage_png():
    """A tile-free PNG of districts and stations by type, for reports and official-account posts."""
    flt = _filter()
    if flt.types or flt.amenities:
        raise bad_parameter("type" if flt.types else "amenity", "the picture takes only ?district=")
    snapshot = _roster().snapshot()

    def make():
        from locator import maps

        return maps.coverage_png(snapshot, _roster().districts, district=flt.district, sample=snapshot.sample_count > 0)

    png = _cache().get(snapshot.version, ("png", flt.district), make)
    return _send_bytes(png, None, "image/png", "no-cache", f"png-{snapshot.version}-{flt.district}")
