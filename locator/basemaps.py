"""Basemaps: tile providers, the coordinate system their tiles are drawn in, their attributions. No Flask.

AMap (高德) tiles are GCJ-02: every point drawn on them is shifted once with `project`. Tianditu
(天地图, CGCS2000, within centimetres of WGS-84) and OpenStreetMap take WGS-84 unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from locator.coords import CRS, wgs84_to_gcj02
from locator.errors import BadParameter

MIN_ZOOM, MAX_ZOOM = 7, 18  # a city map needs no world view; street level is 18


class BasemapUnavailable(BadParameter):
    """A basemap that cannot be drawn with the current settings (e.g. Tianditu without a key)."""

    def __init__(self, detail: str, detail_zh: str = "这种底图当前无法使用：请换用高德地图或开放街道地图。"):
        super().__init__("basemap", detail, detail_zh)


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


def project(lng: Any, lat: Any, crs: CRS) -> tuple[Any, Any]:
    """WGS-84 points as the basemap needs them (GCJ-02 for AMap, unchanged otherwise)."""
    if crs is CRS.GCJ02:
        return wgs84_to_gcj02(lng, lat)
    return lng, lat
