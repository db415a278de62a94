"""Coordinate systems of Chinese web maps: WGS-84, GCJ-02 and BD-09.

Everything inside the service is WGS-84 (EPSG:4326). Points arrive and leave in
GCJ-02 (AMap, Tencent, WeChat) or BD-09 (Baidu) only at the edges, converted here.
All functions are vectorised: they take floats or numpy arrays (longitude first,
as in GeoJSON) and return the same shapes.

WGS-84 -> GCJ-02 is the published closed formula on the Krasovsky ellipsoid. The
inverses have no closed form; they iterate the forward transform to below 1e-9
degrees (about 0.1 mm), far inside the 0.01 m the product promises.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
from pyproj import Geod

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 obfuscation.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-9
_MAX_ITERATIONS = 40


class CRS(StrEnum):
    """The coordinate systems a point may come in or go out as."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"

    @classmethod
    def parse(cls, value: str) -> CRS:
        """Return the CRS for a name like 'wgs84', 'GCJ-02' or 'bd09ll'; ValueError otherwise."""
        key = str(value).strip().lower().replace("-", "").replace("_", "")
        aliases = {
            "wgs84": cls.WGS84,
            "epsg4326": cls.WGS84,
            "gps": cls.WGS84,
            "cgcs2000": cls.WGS84,
            "gcj02": cls.GCJ02,
            "amap": cls.GCJ02,
            "mars": cls.GCJ02,
            "bd09": cls.BD09,
            "bd09ll": cls.BD09,
            "baidu": cls.BD09,
        }
        try:
            return aliases[key]
        except KeyError:
            raise ValueError(f"unknown coordinate system {value!r}: use wgs84, gcj02 or bd09") from None


# How people know each system: where its coordinates come from (Chinese, English).
CRS_LABELS: dict[CRS, tuple[str, str]] = {
    CRS.WGS84: ("WGS-84（GPS、天地图、OpenStreetMap）", "WGS-84 (GPS, Tianditu, OSM)"),
    CRS.GCJ02: ("GCJ-02（高德、腾讯、微信；高德地图坐标拾取器）", "GCJ-02 (AMap, Tencent, WeChat)"),
    CRS.BD09: ("BD-09（百度地图坐标拾取器）", "BD-09 (Baidu)"),
}


def in_mainland_china(lng, lat):
    """True where the GCJ-02 offset applies (the customary rectangle around China)."""
    lng = np.asarray(lng, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lng >= 72.004) & (lng <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _offset(lng, lat, xp=np):
    """GCJ-02 minus WGS-84, in degrees, at a WGS-84 point. `xp` is numpy (arrays) or math (floats)."""
    sin, pi = xp.sin, math.pi
    x = lng - 105.0
    y = lat - 35.0
    common = 20.0 * sin(6.0 * x * pi) + 20.0 * sin(2.0 * x * pi)
    sqrt_abs_x = xp.sqrt(abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat = dlat + (common + 20.0 * sin(y * pi) + 40.0 * sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat = dlat + (160.0 * sin(y / 12.0 * pi) + 320.0 * sin(y * pi / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlng = dlng + (common + 20.0 * sin(x * pi) + 40.0 * sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlng = dlng + (150.0 * sin(x / 12.0 * pi) + 300.0 * sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _EE * sin(rad_lat) ** 2
    sqrt_magic = xp.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlng = (dlng * 180.0) / (_A / sqrt_magic * xp.cos(rad_lat) * pi)
    return dlng, dlat


def _scalar(lng, lat) -> bool:
    # One point (the common case on a request) runs on floats and math: numpy's per-call
    # overhead on scalars made one conversion cost ~0.2 ms.
    return isinstance(lng, int | float) and isinstance(lat, int | float)


def _inside(lng: float, lat: float) -> bool:
    return 72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271


def _gcj_scalar(lng: float, lat: float) -> tuple[float, float]:
    if not _inside(lng, lat):
        return lng, lat
    dlng, dlat = _offset(lng, lat, math)
    return lng + dlng, lat + dlat


def _bd_scalar(x: float, y: float) -> tuple[float, float]:
    if not _inside(x, y):
        return x, y
    z = math.hypot(x, y) + 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) + 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _invert_scalar(forward, lng: float, lat: float, start: tuple[float, float]) -> tuple[float, float]:
    if not _inside(lng, lat):
        return lng, lat
    x, y = start
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        ex, ey = fx - lng, fy - lat
        x, y = x - ex, y - ey
        if abs(ex) < _TOLERANCE_DEG and abs(ey) < _TOLERANCE_DEG:
            break
    return x, y


def _shape(values, *arrays):
    """Return scalars for scalar input, arrays otherwise."""
    if np.ndim(values) == 0:
        return tuple(float(a) for a in arrays)
    return arrays


def wgs84_to_gcj02(lng, lat):
    """WGS-84 -> GCJ-02 (closed formula); points outside mainland China are unchanged."""
    if _scalar(lng, lat):
        return _gcj_scalar(float(lng), float(lat))
    lng0 = np.asarray(lng, dtype=float)
    lat0 = np.asarray(lat, dtype=float)
    dlng, dlat = _offset(lng0, lat0)
    inside = in_mainland_china(lng0, lat0)
    out_lng = np.where(inside, lng0 + dlng, lng0)
    out_lat = np.where(inside, lat0 + dlat, lat0)
    return _shape(lng, out_lng, out_lat)


def gcj02_to_wgs84(lng, lat):
    """GCJ-02 -> WGS-84 by fixed-point iteration of the forward formula (error < 1e-9 deg)."""
    if _scalar(lng, lat):
        return _invert_scalar(_gcj_scalar, float(lng), float(lat), (float(lng), float(lat)))
    g_lng = np.asarray(lng, dtype=float)
    g_lat = np.asarray(lat, dtype=float)
    w_lng, w_lat = g_lng.copy(), g_lat.copy()
    for _ in range(_MAX_ITERATIONS):
        f_lng, f_lat = wgs84_to_gcj02(w_lng, w_lat)
        e_lng, e_lat = np.asarray(f_lng) - g_lng, np.asarray(f_lat) - g_lat
        w_lng, w_lat = w_lng - e_lng, w_lat - e_lat
        if np.all(np.abs(e_lng) < _TOLERANCE_DEG) and np.all(np.abs(e_lat) < _TOLERANCE_DEG):
            break
    inside = in_mainland_china(g_lng, g_lat)
    return _shape(lng, np.where(inside, w_lng, g_lng), np.where(inside, w_lat, g_lat))


def gcj02_to_bd09(lng, lat):
    """GCJ-02 -> BD-09 (Baidu's closed formula); points outside mainland China are unchanged."""
    if _scalar(lng, lat):
        return _bd_scalar(float(lng), float(lat))
    x = np.asarray(lng, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.hypot(x, y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    inside = in_mainland_china(x, y)
    out_lng = np.where(inside, z * np.cos(theta) + 0.0065, x)
    out_lat = np.where(inside, z * np.sin(theta) + 0.006, y)
    return _shape(lng, out_lng, out_lat)


def _bd_start(x, y, xp=np):
    """Baidu's published approximate inverse: the starting point of the iteration."""
    x, y = x - 0.0065, y - 0.006
    z = xp.hypot(x, y) - 0.00002 * xp.sin(y * _X_PI)
    theta = xp.atan2(y, x) if xp is math else np.arctan2(y, x)
    theta = theta - 0.000003 * xp.cos(x * _X_PI)
    return z * xp.cos(theta), z * xp.sin(theta)


def bd09_to_gcj02(lng, lat):
    """BD-09 -> GCJ-02: Baidu's approximate inverse, refined by iteration (error < 1e-9 deg)."""
    if _scalar(lng, lat):
        x, y = float(lng), float(lat)
        return _invert_scalar(_bd_scalar, x, y, _bd_start(x, y, math))
    b_lng = np.asarray(lng, dtype=float)
    b_lat = np.asarray(lat, dtype=float)
    g_lng, g_lat = _bd_start(b_lng, b_lat)
    for _ in range(_MAX_ITERATIONS):
        f_lng, f_lat = gcj02_to_bd09(g_lng, g_lat)
        e_lng, e_lat = np.asarray(f_lng) - b_lng, np.asarray(f_lat) - b_lat
        g_lng, g_lat = g_lng - e_lng, g_lat - e_lat
        if np.all(np.abs(e_lng) < _TOLERANCE_DEG) and np.all(np.abs(e_lat) < _TOLERANCE_DEG):
            break
    inside = in_mainland_china(b_lng, b_lat)
    return _shape(lng, np.where(inside, g_lng, b_lng), np.where(inside, g_lat, b_lat))


def wgs84_to_bd09(lng, lat):
    """WGS-84 -> BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lng, lat))


def bd09_to_wgs84(lng, lat):
    """BD-09 -> WGS-84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lng, lat))


def to_wgs84(lng, lat, crs: CRS | str):
    """Convert a point (or arrays) given in `crs` to WGS-84."""
    crs = CRS.parse(crs) if not isinstance(crs, CRS) else crs
    if crs is CRS.GCJ02:
        return gcj02_to_wgs84(lng, lat)
    if crs is CRS.BD09:
        return bd09_to_wgs84(lng, lat)
    return _shape(lng, np.asarray(lng, dtype=float), np.asarray(lat, dtype=float))


def from_wgs84(lng, lat, crs: CRS | str):
    """Convert a WGS-84 point (or arrays) to `crs`."""
    crs = CRS.parse(crs) if not isinstance(crs, CRS) else crs
    if crs is CRS.GCJ02:
        return wgs84_to_gcj02(lng, lat)
    if crs is CRS.BD09:
        return wgs84_to_bd09(lng, lat)
    return _shape(lng, np.asarray(lng, dtype=float), np.asarray(lat, dtype=float))


EARTH_RADIUS_M = 6371008.8  # IUGG mean radius of the sphere the k-d tree indexes on
_GEOD = Geod(ellps="WGS84")


def geodesic_m(lng1, lat1, lng2, lat2):
    """WGS-84 geodesic distance in metres (Karney's algorithm, pyproj); floats or numpy arrays."""
    return _GEOD.inv(lng1, lat1, lng2, lat2)[2]


def great_circle_m(lng1, lat1, lng2, lat2):
    """Great-circle (haversine) distance in metres on the mean-radius sphere; vectorised."""
    p1 = np.radians(np.asarray(lat1, dtype=float))
    p2 = np.radians(np.asarray(lat2, dtype=float))
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lng2, dtype=float) - np.asarray(lng1, dtype=float))
    h = np.sin(dphi / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
