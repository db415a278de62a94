"""Maps: folium maps of the roster for the organizers' page and the embed. No Flask.

Every map is a `folium.Map` whose asset lists point at this service's vendored copies (set
per map object, never on folium's shared class lists), so a page makes no request to a CDN.
Stations are not folium Markers: the map loads them as one compact JSON array (see
`station_rows`) and `locator/static/maps/locator-map.js` clusters it with supercluster and
draws only the clusters and markers in view, so 100,000 stations cost one small HTML page, one
gzip-compressed data file and a few hundred DOM markers. The map's own script is handed its
configuration by `StationLayers`, a MacroElement (folium's way of adding JavaScript).

Coordinates: the roster is WGS-84; `basemaps.project` shifts stations, ring centres and
boundaries once, here, for basemaps drawn in GCJ-02 (AMap).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from branca.element import MacroElement
from jinja2 import Template

from locator.basemaps import MAX_ZOOM, MIN_ZOOM, Basemap, project
from locator.coords import CRS, wgs84_to_gcj02
from locator.districts import DistrictIndex
from locator.nearest import Snapshot, StationFilter
from locator.stations import STATION_TYPES

LEAFLET = "leaflet-1.9.4"
SUPERCLUSTER = "supercluster-8.0.1"
WENZHOU_CENTER = (27.9938, 120.6994)  # WGS-84, lat/lng: 温州市政府 area
RING_RADII_M = (500, 1000, 3000)
# One Chinese character per type on the markers: every phone (and Debian's fonts-noto-cjk) draws
# these, while emoji need a colour-emoji font that headless and older Android WebViews may lack.
TYPE_GLYPHS = {"rider_station": "驿", "party_home": "党", "demo_site": "示", "finance_station": "金"}
TYPE_COLORS = {
    "rider_station": "#c62828",
    "party_home": "#ad1457",
    "demo_site": "#ef6c00",
    "finance_station": "#1565c0",
}
ALL_LIVE = StationFilter()  # every station that is not permanently closed
# Up to this many stations travel inside the map page itself, so the first markers are drawn before
# Leaflet arrives (locator-first.js); beyond it (about 60 KB of gzip) the page fetches its data file.
FIRST_VIEW_MAX_STATIONS = 3000


# -- data ------------------------------------------------------------------------------------


def station_rows(snapshot: Snapshot, crs: CRS, flt: StationFilter = ALL_LIVE) -> list[list[Any]]:
    """[lat, lng, type index, name, id] per station, coordinates in `crs`, 6 decimals (~0.1 m)."""
    if not len(snapshot):
        return []
    idx = snapshot.matching(flt)
    lng, lat = project(snapshot.lng[idx], snapshot.lat[idx], crs)
    type_index = {key: i for i, key in enumerate(STATION_TYPES)}
    lat_r = np.round(np.asarray(lat, float), 6).tolist()
    lng_r = np.round(np.asarray(lng, float), 6).tolist()
    stations = snapshot.stations or []
    return [
        [lat_r[j], lng_r[j], type_index.get(stations[i].type, 0), stations[i].name, snapshot.ids[i]]
        for j, i in enumerate(idx.tolist())
    ]


def view_bounds(snapshot: Snapshot, crs: CRS, flt: StationFilter = ALL_LIVE) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the stations a map shows, in `crs`: the map opens on them
    at once instead of moving there when the data arrives (one layout less on a slow phone)."""
    if not len(snapshot):
        return None
    idx = snapshot.matching(flt)
    if not len(idx):
        return None
    lng, lat = project(snapshot.lng[idx], snapshot.lat[idx], crs)
    lng, lat = np.asarray(lng, float), np.asarray(lat, float)
    south, west, north, east = (round(float(v), 6) for v in (lat.min(), lng.min(), lat.max(), lng.max()))
    return [[south, west], [north, east]]


def stations_payload(snapshot: Snapshot, base: Basemap, flt: StationFilter = ALL_LIVE) -> dict[str, Any]:
    """The data file a map loads: version, coordinate system and station rows."""
    return {
        "version": snapshot.version,
        "crs": base.crs.value,
        "columns": ["lat", "lng", "type", "name", "id"],
        "stations": station_rows(snapshot, base.crs, flt),
    }


@lru_cache(maxsize=8)
def _simplified(districts: DistrictIndex, crs: CRS) -> tuple[tuple[str, str, dict], ...]:
    out = []
    for d in districts.districts:
        geom = shapely.simplify(d.geometry, 0.0015, preserve_topology=True)
        if crs is CRS.GCJ02:
            geom = shapely.transform(geom, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
        geom = shapely.set_precision(geom, 1e-5)
        out.append((d.code, d.name, shapely.geometry.mapping(geom)))
    return tuple(out)


def districts_geojson(districts: DistrictIndex, crs: CRS, counts: Mapping[str, int] | None = None) -> dict[str, Any]:
    """District boundaries (simplified to ~150 m, shifted to `crs`), with their station counts if given."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": code, "name": name}
                | ({"count": counts.get(code, 0)} if counts is not None else {}),
                "geometry": geom,
            }
            for code, name, geom in _simplified(districts, crs)
        ],
    }


def choropleth_breaks(counts: Iterable[int]) -> list[int]:
    """Four class limits for the station-count choropleth (quantiles, strictly increasing)."""
    values = sorted(counts)
    if not values or values[-1] == 0:
        return [1, 2, 3, 4]
    qs = np.quantile(values, [0.25, 0.5, 0.75, 1.0])
    out: list[int] = []
    for q in qs:
        v = max(int(np.ceil(q)), (out[-1] + 1) if out else 1)
        out.append(v)
    return out


def script_json(value: Any) -> str:
    """JSON safe to place inside <script>: no '<', '>', '&' or line separators survive literally."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


# -- the folium map -----------------------------------------------------------------------------


@dataclass
class MapAssets:
    """URLs of the scripts and stylesheets a map page loads (all served by this service, content-addressed)."""

    leaflet_js: str
    map_js: str  # the station card + locator-map.js, one bundle
    map_css: str  # leaflet.css + our styles, one bundle
    first_js: str = ""  # the text of supercluster + locator-first.js, inline: the first markers, before Leaflet

    def js(self) -> list[str]:
        """Scripts in execution order: locator-first.js loads them after the first markers."""
        return [self.leaflet_js, self.map_js]

    def css(self) -> list[str]:
        """Stylesheets."""
        return [self.map_css]


@dataclass
class MapConfig:
    """What the page script needs besides the map: data URL, vocabulary, districts, controls."""

    data_url: str
    detail_url: str  # the API's one-station URL with "__ID__" where the station id goes
    districts_url: str  # district outlines in the basemap's coordinates (our own data)
    station_page_url: str  # "/stations/__ID__"
    embed: bool = False
    counts: dict[str, int] | None = None  # per-district station counts: the choropleth (organizers' map)
    breaks: list[int] = field(default_factory=list)
    rings: Sequence[int] = RING_RADII_M
    fit_data: bool = True
    bounds: list[list[float]] | None = None  # the stations' extent, in the basemap's coordinates
    all_sample: bool = False  # every station is sample data: the page says so once, cards need not
    wechat: bool = False  # the WeChat JS-SDK is configured (navigation and sharing inside WeChat)
    jssdk: str = ""
    share: dict[str, str] | None = None
    base: Basemap | None = None  # its tiles are added by locator-map.js, after the first markers

    def as_json(self, crs: CRS) -> dict[str, Any]:
        """The configuration object handed to LocatorMap.init."""
        return {
            "dataUrl": self.data_url,
            "detailUrl": self.detail_url,
            "districtsUrl": self.districts_url,
            "stationPage": self.station_page_url,
            "embed": self.embed,
            "crs": crs.value,
            "types": [
                {
                    "key": t.key,
                    "label": t.zh,
                    "icon": TYPE_GLYPHS.get(t.key, t.zh[:1]),
                    "color": TYPE_COLORS.get(t.key, "#555"),
                }
                for t in STATION_TYPES.values()
            ],
            "counts": self.counts,
            "breaks": self.breaks,
            "rings": list(self.rings),
            "fitData": self.fit_data,
            "bounds": self.bounds,
            "allSample": self.all_sample,
            "wechat": self.wechat,
            "jssdk": self.jssdk,
            "share": self.share,
        } | (self._base_json() if self.base else {})

    def _base_json(self) -> dict[str, Any]:
        assert self.base is not None
        return {
            "baseLayers": [
                {"url": t.url, "subdomains": t.subdomains or "abc", "attribution": t.attribution, "maxZoom": t.max_zoom}
                for t in self.base.layers
            ],
            "minZoom": MIN_ZOOM,
            "maxZoom": max_zoom(self.base),
        }


def max_zoom(base: Basemap) -> int:
    """The deepest zoom of a basemap's layers (what Leaflet would take from its tile layers)."""
    return max((t.max_zoom for t in base.layers), default=MAX_ZOOM)


class StationLayers(MacroElement):
    """Hands the map and its configuration to locator-map.js, which draws the stations."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "LocatorMap.init({{ this._parent.get_name() }}, {{ this.config_json }});"
        "{% endmacro %}"
    )

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self._name = "StationLayers"
        self.config_json = script_json(config)


def build_map(
    base: Basemap,
    assets: MapAssets,
    config: MapConfig,
    *,
    center: tuple[float, float] | None = None,
    zoom: int = 10,
):
    """A folium Map over `base` whose stations come from `config.data_url`; center is WGS-84 (lat, lng)."""
    import folium

    lat, lng = center or WENZHOU_CENTER
    x, y = project(lng, lat, base.crs)
    m = folium.Map(
        location=[round(float(y), 6), round(float(x), 6)],
        zoom_start=zoom,
        # A city map needs no world view; fewer zoom levels also mean a smaller cluster index.
        min_zoom=MIN_ZOOM,
        tiles=None,
        # locator-map.js adds a metric-only scale where the attribution cannot cover it.
        control_scale=False,
        prefer_canvas=False,
        zoom_control=True,
        # The page draws the basemap's credit line itself, from the first paint (templates/maps/_credit.html).
        attribution_control=False,
    )
    # Per map object: folium's class lists (CDN URLs, jQuery, Bootstrap, Font Awesome) stay untouched.
    # The page template links our assets itself: see map_parts().
    m.default_js = []
    m.default_css = []
    # No folium TileLayer: locator-map.js adds the basemap's tiles (config.base) after the first markers.
    config.base = base
    StationLayers(config.as_json(base.crs)).add_to(m)
    return m


def first_view(m, base: Basemap, config: MapConfig, payload: Mapping[str, Any], zoom: int) -> dict[str, Any] | None:
    """What locator-first.js needs to draw the first markers before Leaflet: the map element, its view
    (the stations' extent, or folium's centre and zoom), zoom range, types and the station rows.
    None when there are too many stations to carry in the page (the map then loads its data file)."""
    rows = payload["stations"]
    if not rows or len(rows) > FIRST_VIEW_MAX_STATIONS:
        return None
    cfg = config.as_json(base.crs)
    return {
        "mapId": m.get_name(),
        "center": list(m.location),
        "zoom": zoom,
        "bounds": config.bounds if config.fit_data else None,
        "minZoom": cfg["minZoom"],
        "maxZoom": cfg["maxZoom"],
        "types": [{k: t[k] for k in ("key", "label", "icon", "color")} for t in cfg["types"]],
        "rows": rows,
    }


def map_parts(m, assets: MapAssets, first: dict[str, Any] | None = None) -> dict[str, Any]:
    """The map div and script of a folium map, and our asset URLs, for our own page templates.

    folium's header is not used: it carries a second viewport tag that turns pinch-zoom off, and
    blocking script tags. Our templates inline the first markers' script, which loads Leaflet and
    the map bundle, and run folium's script once they have (LocatorFirst.whenReady).
    """
    figure = m.get_root()
    figure.render()
    return {
        "html": figure.html.render(),
        "script": figure.script.render(),
        "js": assets.js(),
        "css": assets.css(),
        "first_inline": assets.first_js,
        # Inside <script type="application/json">: never run, escaped so no "</script>" can end it.
        "first_json": script_json(first) if first else "",
    }
