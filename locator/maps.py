"""Maps: folium maps of the roster on a Chinese or OSM basemap, and tile-free map pictures. No Flask.

Every map is a `folium.Map` whose asset lists point at this service's vendored copies (set
per map object, never on folium's shared class lists), so a page makes no request to a CDN.
Stations are not folium Markers: the map loads them as one compact JSON array (see
`station_rows`) and `locator/static/maps/locator-map.js` clusters it with supercluster and
draws only the clusters and markers in view, so 100,000 stations cost one small HTML page, one
gzip-compressed data file and a few hundred DOM markers.

Coordinates: the roster is WGS-84. AMap tiles are GCJ-02, so for the AMap basemap every
station, ring centre and boundary is shifted once, here, with `wgs84_to_gcj02`; Tianditu
(CGCS2000, within centimetres of WGS-84) and OSM take WGS-84 unchanged.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import shapely

from locator.coords import CRS, wgs84_to_gcj02
from locator.districts import DistrictIndex
from locator.nearest import NearestFilter, Snapshot
from locator.stations import STATION_TYPES

LEAFLET = "leaflet-1.9.4"
SUPERCLUSTER = "supercluster-8.0.1"
WENZHOU_CENTER = (27.9938, 120.6994)  # WGS-84, lat/lng: 温州市政府 area
RING_RADII_M = (500, 1000, 3000)
MIN_ZOOM, MAX_ZOOM = 7, 18
# One Chinese character per type on the markers: every phone (and Debian's fonts-noto-cjk) draws
# these, while emoji need a colour-emoji font that headless and older Android WebViews may lack.
TYPE_GLYPHS = {"rider_station": "驿", "party_home": "党", "demo_site": "示", "finance_station": "金"}
TYPE_COLORS = {
    "rider_station": "#c62828",
    "party_home": "#ad1457",
    "demo_site": "#ef6c00",
    "finance_station": "#1565c0",
}


class BasemapUnavailable(ValueError):
    """A basemap that cannot be drawn with the current settings (e.g. Tianditu without a key)."""


@dataclass(frozen=True)
class TileSource:
    """One raster tile layer of a basemap."""

    url: str
    subdomains: str
    attribution: str
    max_zoom: int = 18


@dataclass(frozen=True)
class Basemap:
    """A basemap: its tile layers and the coordinate system its tiles are drawn in."""

    key: str
    label: str
    crs: CRS
    layers: tuple[TileSource, ...]

    @property
    def hosts(self) -> frozenset[str]:
        """Every tile host the basemap's layers may request."""
        out = set()
        for layer in self.layers:
            host = layer.url.split("/")[2]
            for s in layer.subdomains or "":
                out.add(host.replace("{s}", s))
            if "{s}" not in host:
                out.add(host)
        return frozenset(out)

    def to_wgs(self) -> bool:
        """True when drawing on this basemap needs no coordinate shift."""
        return self.crs is CRS.WGS84


BASEMAP_KEYS = ("amap", "tianditu", "osm")
AMAP_TILES = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
TIANDITU_TILES = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
)
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def basemap(key: str, *, tianditu_key: str = "", amap_approval: str = "") -> Basemap:
    """The basemap for `key` (amap, tianditu, osm); BasemapUnavailable if it cannot be drawn."""
    if key == "amap":
        attribution = "© 高德地图" + (f" {amap_approval}" if amap_approval else " · 审图号见高德地图官网")
        return Basemap("amap", "高德地图", CRS.GCJ02, (TileSource(AMAP_TILES, "1234", attribution),))
    if key == "tianditu":
        if not tianditu_key:
            raise BasemapUnavailable(
                "天地图需要密钥 tk：请设置 LOCATOR_TIANDITU_KEY (the Tianditu basemap needs a key)"
            )
        layers = tuple(
            TileSource(TIANDITU_TILES.replace("{layer}", name).replace("{key}", tianditu_key), "01234567", "© 天地图")
            for name in ("vec", "cva")
        )
        return Basemap("tianditu", "天地图", CRS.WGS84, layers)
    if key == "osm":
        return Basemap(
            "osm", "OpenStreetMap", CRS.WGS84, (TileSource(OSM_TILES, "", "© OpenStreetMap contributors", 19),)
        )
    raise BasemapUnavailable(f"unknown basemap {key!r}: use amap, tianditu or osm")


def project(lng, lat, crs: CRS):
    """WGS-84 points as the basemap needs them (GCJ-02 for AMap, unchanged otherwise)."""
    if crs is CRS.GCJ02:
        return wgs84_to_gcj02(lng, lat)
    return lng, lat


# -- data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapFilter:
    """Which stations a map shows (embed URL parameters); empty means every station."""

    types: tuple[str, ...] = ()
    district: str | None = None
    amenities: tuple[str, ...] = ()

    def nearest_filter(self) -> NearestFilter:
        """The same filter in the nearest-search vocabulary (one truth for both)."""
        return NearestFilter(
            types=self.types,
            amenities=self.amenities,
            districts=(self.district,) if self.district else (),
            include_closed=True,
        )

    def key(self) -> tuple:
        """A hashable cache key."""
        return (self.types, self.district, self.amenities)


def station_rows(snapshot: Snapshot, crs: CRS, flt: MapFilter = MapFilter()) -> list[list[Any]]:
    """[lat, lng, type index, name, id] per station, coordinates in `crs`, 6 decimals (~0.1 m)."""
    if not len(snapshot):
        return []
    mask = snapshot.mask(flt.nearest_filter())
    idx = np.arange(len(snapshot)) if mask is None else np.flatnonzero(mask)
    lng, lat = project(snapshot.lng[idx], snapshot.lat[idx], crs)
    type_index = {key: i for i, key in enumerate(STATION_TYPES)}
    lat_r = np.round(np.asarray(lat, float), 6).tolist()
    lng_r = np.round(np.asarray(lng, float), 6).tolist()
    return [
        [lat_r[j], lng_r[j], type_index.get(snapshot.stations[i].type, 0), snapshot.stations[i].name, snapshot.ids[i]]
        for j, i in enumerate(idx.tolist())
    ]


def stations_payload(snapshot: Snapshot, base: Basemap, flt: MapFilter = MapFilter()) -> dict[str, Any]:
    """The data file a map loads: version, coordinate system and station rows."""
    return {
        "version": snapshot.version,
        "crs": base.crs.value,
        "columns": ["lat", "lng", "type", "name", "id"],
        "stations": station_rows(snapshot, base.crs, flt),
    }


def district_counts(snapshot: Snapshot, districts: DistrictIndex) -> dict[str, int]:
    """Stations per district code (every district present, zero included)."""
    counts = dict.fromkeys(districts.by_code, 0)
    for code in snapshot.district.tolist():
        if code in counts:
            counts[code] += 1
    return counts


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


def districts_geojson(districts: DistrictIndex, counts: Mapping[str, int], crs: CRS) -> dict[str, Any]:
    """District boundaries (simplified to ~150 m, shifted to `crs`) with their station counts."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": code, "name": name, "count": counts.get(code, 0)},
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
    """URLs of the scripts and stylesheets a map page loads (all served by this service)."""

    vendor_base: str  # e.g. "/static/vendor"
    own_js: str  # locator-map.js, content-versioned URL
    own_css: str

    def js(self) -> list[tuple[str, str]]:
        """folium's default_js for our maps: Leaflet, supercluster, our code. No jQuery/Bootstrap."""
        return [
            ("leaflet", f"{self.vendor_base}/{LEAFLET}/leaflet.js"),
            ("supercluster", f"{self.vendor_base}/{SUPERCLUSTER}/supercluster.min.js"),
            ("locator_map", self.own_js),
        ]

    def css(self) -> list[tuple[str, str]]:
        """folium's default_css for our maps."""
        return [
            ("leaflet_css", f"{self.vendor_base}/{LEAFLET}/leaflet.css"),
            ("locator_map_css", self.own_css),
        ]


@dataclass
class MapConfig:
    """What the page script needs besides the map: data URL, vocabulary, districts, controls."""

    data_url: str
    detail_url: str  # with "__ID__" where the station id goes
    embed: bool = False
    districts: dict[str, Any] | None = None
    breaks: list[int] = field(default_factory=list)
    rings: Sequence[int] = RING_RADII_M
    fit_data: bool = True

    def as_json(self, crs: CRS) -> dict[str, Any]:
        """The configuration object handed to LocatorMap.init."""
        return {
            "dataUrl": self.data_url,
            "detailUrl": self.detail_url,
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
            "districts": self.districts,
            "breaks": self.breaks,
            "rings": list(self.rings),
            "fitData": self.fit_data,
        }


def _station_layers_element(config_json: str):
    from branca.element import MacroElement
    from jinja2 import Template

    class StationLayers(MacroElement):
        """Hands the map and its configuration to locator-map.js, which draws the stations."""

        _template = Template(
            "{% macro script(this, kwargs) %}"
            "LocatorMap.init({{ this._parent.get_name() }}, {{ this.config_json }});"
            "{% endmacro %}"
        )

        def __init__(self, config_json: str):
            super().__init__()
            self._name = "StationLayers"
            self.config_json = config_json

    return StationLayers(config_json)


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
        control_scale=True,
        prefer_canvas=False,
        zoom_control=not config.embed,
    )
    # Per map object: folium's class lists (CDN URLs, jQuery, Bootstrap, Font Awesome) stay untouched.
    m.default_js = assets.js()
    m.default_css = assets.css()
    for i, layer in enumerate(base.layers):
        folium.TileLayer(
            tiles=layer.url,
            attr=layer.attribution,
            name=base.label if i == 0 else f"{base.label}注记",
            subdomains=layer.subdomains or "abc",
            max_zoom=layer.max_zoom,
            overlay=i > 0,
            control=False,
        ).add_to(m)
    _station_layers_element(script_json(config.as_json(base.crs))).add_to(m)
    return m


def map_parts(m) -> dict[str, str]:
    """The rendered header (asset links), body (map div) and script of a folium map, for our templates."""
    figure = m.get_root()
    figure.render()
    return {
        "header": figure.header.render(),
        "html": figure.html.render(),
        "script": figure.script.render(),
    }


# -- pictures ------------------------------------------------------------------------------------

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "Source Han Sans SC")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed font that draws Chinese (Debian: fonts-noto-cjk), or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in names:
            return name
    return None


def coverage_png(
    snapshot: Snapshot,
    districts: DistrictIndex,
    *,
    district: str | None = None,
    title: str = "温州市驿站分布",
    sample: bool = False,
    width_px: int = 1200,
) -> bytes:
    """A PNG of districts and stations by type (WGS-84, no tiles) with title, legend and scale bar."""
    import geopandas as gpd
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = cjk_font()
    rc = {"font.family": [font, "sans-serif"] if font else ["sans-serif"], "axes.unicode_minus": False}
    shown = [d for d in districts.districts if district is None or d.code == district]
    frame = gpd.GeoDataFrame(
        {"code": [d.code for d in shown], "name": [d.name for d in shown]},
        geometry=[d.geometry for d in shown],
        crs="EPSG:4326",
    )
    mask = np.ones(len(snapshot), bool) if district is None else snapshot.district == district
    with plt.rc_context(rc):
        fig, ax = plt.subplots(figsize=(width_px / 100, width_px / 100 * 0.8), dpi=100)
        frame.plot(ax=ax, facecolor="#f5f5f0", edgecolor="#777", linewidth=0.8)
        for geom, name in zip(frame.geometry, frame.name, strict=True):
            p = geom.representative_point()
            ax.annotate(name, (p.x, p.y), ha="center", fontsize=11, color="#333")
        for i, t in enumerate(STATION_TYPES.values()):
            sel = mask & (snapshot.type_code == i)
            count = int(sel.sum())
            ax.scatter(
                snapshot.lng[sel],
                snapshot.lat[sel],
                s=22,
                c=TYPE_COLORS.get(t.key, "#555"),
                edgecolors="white",
                linewidths=0.5,
                label=f"{t.zh}（{count}）",
                zorder=3,
            )
        name = districts.name(district) if district else None
        heading = f"{name}驿站分布" if name else title
        ax.set_title(heading + ("（示例数据，位置为示意）" if sample else ""), fontsize=16)
        ax.legend(loc="lower right", fontsize=10, frameon=True, title="站点类型")
        _scale_bar(ax)
        ax.set_aspect(1 / np.cos(np.radians(np.mean(ax.get_ylim()))))
        ax.set_axis_off()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        plt.close(fig)
    return buf.getvalue()


def _scale_bar(ax) -> None:
    """A round-number scale bar in the lower left, sized from the map's latitude."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    metres_per_deg = 111_320 * np.cos(np.radians((y0 + y1) / 2))
    target = (x1 - x0) * metres_per_deg / 5
    length = next(v for v in (500, 1000, 2000, 5000, 10000, 20000, 50000, 100000) if v >= target * 0.5)
    deg = length / metres_per_deg
    x, y = x0 + (x1 - x0) * 0.05, y0 + (y1 - y0) * 0.05
    ax.plot([x, x + deg], [y, y], color="black", linewidth=3, solid_capstyle="butt", zorder=4)
    label = f"{length // 1000} 公里" if length >= 1000 else f"{length} 米"
    ax.text(x + deg / 2, y + (y1 - y0) * 0.015, label, ha="center", fontsize=10, zorder=4)


class VersionedCache:
    """Built artefacts (pages, data files, pictures) for the current data version only; thread-safe.

    A change of version empties the cache, so a roster change shows on the next request.
    """

    def __init__(self, max_entries: int = 256):
        import threading

        self._max = max_entries
        self._version: int | None = None
        self._entries: dict[tuple, Any] = {}
        self._lock = threading.Lock()
        self.builds = 0

    def get(self, version: int, key: tuple, build):
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
