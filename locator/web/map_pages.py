"""Map pages for organizers and embedders: /map, /embed, /embed/builder, their data files and pictures.

Views parse and validate the query, ask locator.maps / locator.pictures (which import folium and
geopandas lazily, never on the rider's path) and cache what they build per roster data version.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template, request, url_for
from markupsafe import escape

from locator.basemaps import BASEMAP_KEYS, MAX_ZOOM, MIN_ZOOM, Basemap, BasemapUnavailable, basemap
from locator.catalogue import district_counts
from locator.context import current_roster
from locator.hours import TZ
from locator.nearest import Snapshot, StationFilter
from locator.stations import AMENITIES, STATION_TYPES
from locator.web import security
from locator.web.assets import IMMUTABLE, LEAFLET_JS, asset_url, inline_script, send_bytes
from locator.web.params import get_choices, get_int
from locator.web.problems import Problem, bad_parameter, parameter_zh

bp = Blueprint("map_pages", __name__)


class VersionedCache:
    """Built artefacts (pages, data files, pictures) for the current data version only; thread-safe.

    A change of version empties the cache, so a roster change shows on the next request.
    """

    def __init__(self, max_entries: int = 256):
        self._max = max_entries
        self._version: int | None = None
        self._entries: dict[tuple, Any] = {}
        self._lock = threading.Lock()
        self.builds = 0

    def get(self, version: int, key: tuple, build: Callable[[], Any]) -> Any:
        """The cached value for (version, key), building it with `build()` on a miss."""
        with self._lock:
            if self._version != version:
                self._version = version
                self._entries = {}
            if key in self._entries:
                return self._entries[key]
        value = build()
        with self._lock:
            if self._version == version:
                if len(self._entries) >= self._max:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[key] = value
            self.builds += 1
        return value


# -- shared parsing -------------------------------------------------------------------------------


def _cache() -> VersionedCache:
    return current_app.extensions.setdefault("maps_cache", VersionedCache())


def _basemap() -> Basemap:
    """The basemap from ?basemap= or the LOCATOR_BASEMAP setting (Tianditu without a key: OSM)."""
    key = request.args.get("basemap", "").strip()
    options = {
        "tianditu_key": current_app.config.get("TIANDITU_KEY", ""),
        "amap_approval": current_app.config.get("AMAP_APPROVAL", ""),
    }
    if key:
        if key not in BASEMAP_KEYS:
            raise bad_parameter(
                "basemap",
                f"unknown value {key!r}; allowed: {', '.join(BASEMAP_KEYS)}",
                f"参数{parameter_zh('basemap')}没有这种底图："
                "可选 amap（高德地图）、tianditu（天地图）、osm（开放街道地图）。",
            )
        return basemap(key, **options)  # BasemapUnavailable is a 400 naming the parameter
    default = current_app.config.get("BASEMAP", "amap")
    try:
        return basemap(default, **options)
    except BasemapUnavailable:
        current_app.logger.warning("LOCATOR_BASEMAP=%s needs LOCATOR_TIANDITU_KEY; using osm", default)
        return basemap("osm", **options)


def _filter() -> StationFilter:
    district = request.args.get("district", "").strip() or None
    if district is not None and district not in current_roster().districts.codes:
        raise bad_parameter(
            "district",
            f"unknown district code {district!r}; use a code such as 330302",
            f"参数{parameter_zh('district')}：没有编号为 {district} 的区县，请用 330302（鹿城区）这样的区县编号。",
        )
    return StationFilter(
        types=get_choices("type", STATION_TYPES),
        districts=(district,) if district else (),
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
        raise bad_parameter(
            "center",
            f"{raw!r} is not lat,lng (e.g. 27.99,120.70)",
            f"参数{parameter_zh('center')}应写成“纬度,经度”，例如 27.99,120.70。",
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise bad_parameter(
            "center",
            "lat must be within -90..90 and lng within -180..180 (WGS-84)",
            f"参数{parameter_zh('center')}的纬度应在 -90～90 之间，经度应在 -180～180 之间（WGS-84）。",
        )
    return (lat, lng)


def _filter_args(flt: StationFilter) -> dict[str, str]:
    out = {}
    if flt.types:
        out["type"] = ",".join(flt.types)
    if flt.districts:
        out["district"] = flt.districts[0]
    if flt.amenities:
        out["amenity"] = ",".join(flt.amenities)
    return out


@dataclass(frozen=True)
class BuiltPage:
    """A map page as built once per data version: its bytes, their gzip, ETag and inline scripts' hashes."""

    html: bytes
    gz: bytes
    etag: str
    script_hashes: frozenset[str]


def _page_response(kind: str, key: tuple, build: Callable[[Snapshot], str], base: Basemap) -> Response:
    """A map page from the per-version cache (HTML, gzip and its script hashes built once).

    The page's Content-Security-Policy allows its inline script by hash, computed here from the
    page's text and cached with it. The ETag is a digest of those bytes: a 304 (which refreshes the
    policy the browser keeps) only ever confirms the very page whose script the hash names, even
    when another worker or a restarted one built the page again (folium names elements at random).
    """
    snapshot = current_roster().snapshot()

    def make() -> BuiltPage:
        text = build(snapshot)
        html = text.encode("utf-8")
        etag = f"{kind}-{snapshot.version}-{hashlib.sha256(html).hexdigest()[:20]}"
        return BuiltPage(html, gzip.compress(html, 6, mtime=0), etag, security.inline_script_hashes(text))

    page = _cache().get(snapshot.version, (kind, *key), make)
    security.allow(
        security.Sources(scripts=page.script_hashes) | security.basemap_sources(base) | security.wechat_sources()
    )
    return send_bytes(page.html, page.gz, "text/html; charset=utf-8", "no-cache", page.etag)


def all_sample(snapshot: Snapshot) -> bool:
    """Every station is sample data: the page says so once (otherwise each sample station carries a mark)."""
    return len(snapshot) > 0 and snapshot.sample_count == len(snapshot)


def share_info(title: str, desc: str, path: str, image: str | None = None) -> dict[str, str]:
    """Title, description, absolute link and thumbnail for og: tags and WeChat's share menu."""
    base = (current_app.config.get("PUBLIC_URL") or request.url_root).rstrip("/")
    return {
        "title": title,
        "desc": desc,
        "link": base + path,
        "imgUrl": base + (image or asset_url("img/share.png")),
    }


def _map_parts(
    snapshot: Snapshot,
    base: Basemap,
    flt: StationFilter,
    *,
    embed: bool,
    center,
    zoom: int,
    share: dict[str, str],
    counts=None,
):
    from locator import maps
    from locator.web.wechat import wechat_configured
    from locator.wechat_client import JSSDK_SCRIPT

    data_url = url_for("map_pages.data", version=snapshot.version, basemap=base.key, **_filter_args(flt))
    # The card shows the API's own station JSON (locator.serialize), in the basemap's coordinates.
    detail_url = url_for("api.station", station_id="__ID__", coord=base.crs.value)
    totals = breaks = None
    if counts is not None:
        totals = {c.code: c.total for c in counts.districts}
        breaks = maps.choropleth_breaks(totals.values())
    config = maps.MapConfig(
        data_url=data_url,
        detail_url=detail_url,
        districts_url=url_for("map_pages.districts", digest=_districts_file(base.crs)[2], basemap=base.key),
        station_page_url=url_for("pages.station_page", station_id="__ID__"),
        embed=embed,
        counts=totals,
        breaks=breaks or [],
        fit_data=center is None,
        bounds=maps.view_bounds(snapshot, base.crs, flt),
        all_sample=all_sample(snapshot),
        wechat=wechat_configured(),
        jssdk=JSSDK_SCRIPT,
        share=share,
    )
    assets = maps.MapAssets(
        leaflet_js=asset_url(LEAFLET_JS),
        map_js=asset_url("bundles/map-page.js"),
        map_css=asset_url("bundles/map.css"),
        first_js=inline_script("bundles/map-first.js"),
    )
    m = maps.build_map(base, assets, config, center=center, zoom=zoom)
    # The stations travel in the page (first markers before Leaflet); a very large roster's page
    # preloads its data file instead, so it downloads while the scripts do.
    first = maps.first_view(m, base, config, maps.stations_payload(snapshot, base, flt), zoom)
    credits = list(dict.fromkeys(t.attribution for t in base.layers if t.attribution))  # as Leaflet lists them
    return {**maps.map_parts(m, assets, first), "data_url": data_url, "breaks": breaks or [], "credits": credits}


def subset_map_config(snapshot: Snapshot, base: Basemap, flt: StationFilter, data_url: str) -> dict[str, Any]:
    """LocatorMap's configuration for a map of some stations drawn by a page of our own (no folium, no inline
    script): the organizers' 待核实 / reported views (web/admin/freshness.py). Its tiles come with it."""
    from locator import maps

    lat, lng = maps.WENZHOU_CENTER
    config = maps.MapConfig(
        data_url=data_url,
        detail_url=url_for("api.station", station_id="__ID__", coord=base.crs.value),
        districts_url=url_for("map_pages.districts", digest=_districts_file(base.crs)[2], basemap=base.key),
        station_page_url=url_for("pages.station_page", station_id="__ID__"),
        embed=True,
        fit_data=True,
        bounds=maps.view_bounds(snapshot, base.crs, flt),
        all_sample=all_sample(snapshot),
    ).as_json(base.crs)
    config["tiles"] = [
        {"url": t.url, "subdomains": t.subdomains or "abc", "attribution": t.attribution, "maxZoom": t.max_zoom}
        for t in base.layers
    ]
    config["center"] = [lat, lng]
    config["minZoom"] = MIN_ZOOM
    return config


def map_basemap() -> Basemap:
    """The basemap of a map page (?basemap= or LOCATOR_BASEMAP)."""
    return _basemap()


# -- pages --------------------------------------------------------------------------------------


@bp.get("/map")
def coverage_map():
    """The organizers' coverage map: every station, layers per type, districts, rings, table."""
    base = _basemap()
    center = _center()
    zoom = get_int("zoom", MIN_ZOOM, MAX_ZOOM, default=9)

    def build(snapshot: Snapshot) -> str:
        counts = district_counts(snapshot, current_roster().districts, datetime.now(TZ))
        share = share_info(
            "温州驿站覆盖地图",
            f"全市 {counts.total} 个骑手驿站、党建之家、示范点和金融服务站的分布",
            url_for("map_pages.coverage_map"),
            url_for("map_pages.coverage_png"),
        )
        parts = _map_parts(
            snapshot, base, StationFilter(), embed=False, center=center, zoom=zoom, counts=counts, share=share
        )
        return render_template(
            "maps/map.html",
            parts=parts,
            counts=counts,
            district_views=_district_views(),
            basemap=base,
            sample_data=all_sample(snapshot),
            breaks=parts["breaks"],
            share=share,
        )

    # Counts include "paused" stations, which change with the date: the day is part of the key.
    today = datetime.now(TZ).date().isoformat()
    return _page_response("map", (base.key, center, zoom, today), build, base)


def _district_views() -> dict[str, dict[str, str | int]]:
    """For each district, the /map query that shows it whole: its centre (lat,lng, WGS-84) and a zoom that fits it."""
    views = {}
    for d in current_roster().districts.districts:
        x0, y0, x1, y1 = d.geometry.bounds
        lat = (y0 + y1) / 2
        span = max(x1 - x0, (y1 - y0) / math.cos(math.radians(lat)), 1e-6)
        zoom = int(math.floor(math.log2(360 * 360 / (256 * span))))  # the span in about 360 px
        views[d.code] = {"center": f"{lat:.4f},{(x0 + x1) / 2:.4f}", "zoom": max(MIN_ZOOM, min(MAX_ZOOM, zoom))}
    return views


@bp.get("/embed")
def embed():
    """The embeddable map: minimal chrome, filters and basemap from the URL (see docs/maps.md)."""
    base = _basemap()
    flt = _filter()
    center = _center()
    zoom = get_int("zoom", MIN_ZOOM, MAX_ZOOM, default=11 if center else 10)

    def build(snapshot: Snapshot) -> str:
        share = share_info("温州驿站地图", "点按地图上的站点，查看服务并一键导航", request.full_path.rstrip("?"))
        parts = _map_parts(snapshot, base, flt, embed=True, center=center, zoom=zoom, share=share)
        return render_template(
            "maps/embed.html", parts=parts, basemap=base, sample_data=all_sample(snapshot), share=share
        )

    return _page_response("embed", (base.key, flt, center, zoom), build, base)


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
    src = url_for("map_pages.embed", _external=True) + "?" + urlencode(args)
    snippet = (
        f'<iframe src="{escape(src)}" width="100%" height="480" style="border:0" '
        'loading="lazy" allowfullscreen referrerpolicy="no-referrer-when-downgrade"></iframe>'
    )
    roster = current_roster()
    return render_template(
        "maps/builder.html",
        src=src,
        snippet=snippet,
        flt=flt,
        district=flt.districts[0] if flt.districts else None,
        basemap=base,
        center=request.args.get("center", ""),
        zoom=zoom or "",
        types=STATION_TYPES,
        amenities=AMENITIES,
        districts=roster.districts.districts,
        sample_data=roster.is_sample(),
    )


# -- data -----------------------------------------------------------------------------------------


@bp.get("/maps/data/<int:version>.json")
def data(version: int):
    """Station rows for a map in the basemap's coordinates; immutable while `version` is current."""
    base = _basemap()
    flt = _filter()
    snapshot = current_roster().snapshot()

    def make():
        from locator import maps

        body = json.dumps(maps.stations_payload(snapshot, base, flt), ensure_ascii=False, separators=(",", ":"))
        raw = body.encode("utf-8")
        return raw, gzip.compress(raw, 6, mtime=0)

    raw, gz = _cache().get(snapshot.version, ("data", base.key, flt), make)
    cache = IMMUTABLE if version == snapshot.version else "no-store"
    return send_bytes(raw, gz, "application/json", cache)


@lru_cache(maxsize=4)
def _districts_body(districts, crs) -> tuple[bytes, bytes, str]:
    from locator import maps

    raw = json.dumps(maps.districts_geojson(districts, crs), ensure_ascii=False, separators=(",", ":")).encode()
    return raw, gzip.compress(raw, 9, mtime=0), hashlib.sha256(raw).hexdigest()[:16]


def _districts_file(crs) -> tuple[bytes, bytes, str]:
    return _districts_body(current_roster().districts, crs)


@bp.get("/maps/districts/<digest>.json")
def districts(digest: str):
    """District outlines from our own boundary data, in the basemap's coordinates; immutable under their digest."""
    raw, gz, current = _districts_file(_basemap().crs)
    if digest != current:
        raise Problem(
            404,
            "Not Found",
            "these district outlines are not current; reload the map",
            detail_zh="区县边界已更新：请刷新地图。",
        )
    return send_bytes(raw, gz, "application/geo+json", IMMUTABLE)


@bp.get("/maps/coverage.png")
def coverage_png():
    """A tile-free PNG of districts and stations by type, for reports and official-account posts."""
    flt = _filter()
    if flt.types or flt.amenities:
        raise bad_parameter(
            "type" if flt.types else "amenity",
            "the picture takes only ?district=",
            "分布图片只能按区县（district）筛选。",
        )
    snapshot = current_roster().snapshot()
    district = flt.districts[0] if flt.districts else None
    today = datetime.now(TZ)
    approval, source = current_app.config.get("MAP_APPROVAL", ""), current_app.config.get("MAP_SOURCE", "")

    def make():
        from locator import pictures

        return pictures.coverage_png(
            snapshot,
            current_roster().districts,
            today,
            district=district,
            sample=snapshot.sample_count > 0,
            credits=pictures.map_credits(approval, source),
        )

    key = ("png", district, today.date().isoformat())
    png = _cache().get(snapshot.version, key, make)
    return send_bytes(png, None, "image/png", "no-cache", f"png-{snapshot.version}-{district}-{key[2]}")
