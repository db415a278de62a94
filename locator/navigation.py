"""One-tap navigation targets for a station: WeChat openLocation and map-app links.

Each target carries coordinates in the system its provider expects: GCJ-02 for
WeChat, AMap and Tencent; BD-09 for Baidu (declared with coord_type=bd09ll).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from locator.coords import gcj02_to_bd09, wgs84_to_gcj02

APP_SOURCE = "wenzhou-rider-stations"  # the 'src'/'referer' the map apps ask callers to name


def _r(value: float) -> float:
    return round(float(value), 6)


def navigation_targets(lng: float, lat: float, name: str, address: str = "") -> dict[str, Any]:
    """WeChat openLocation parameters and AMap/Baidu/Tencent links for a WGS-84 point."""
    g_lng, g_lat = wgs84_to_gcj02(lng, lat)
    return navigation_from(g_lng, g_lat, *gcj02_to_bd09(g_lng, g_lat), name, address)


def navigation_from(g_lng: float, g_lat: float, b_lng: float, b_lat: float, name: str, address: str) -> dict[str, Any]:
    """navigation_targets() from the point's GCJ-02 and BD-09 coordinates (already converted)."""
    g_lng, g_lat, b_lng, b_lat = _r(g_lng), _r(g_lat), _r(b_lng), _r(b_lat)
    # Each text is percent-encoded once and spliced in: urlencode() re-quoted every value and
    # was the largest cost of a nearest answer. Separators (, ; :) stay literal, as the
    # providers' URI documentation writes them.
    q_name = quote(name, safe="")
    q_addr = quote(address or name, safe="")
    amap = (
        f"https://uri.amap.com/navigation?to={g_lng},{g_lat},{q_name}&mode=ride&coordinate=gaode"
        f"&callnative=1&src={APP_SOURCE}"
    )
    baidu = (
        f"https://api.map.baidu.com/marker?location={b_lat},{b_lng}&title={q_name}&content={q_addr}"
        f"&coord_type=bd09ll&output=html&src={APP_SOURCE}"
    )
    tencent = (
        f"https://apis.map.qq.com/uri/v1/marker?marker=coord:{g_lat},{g_lng};title:{q_name};addr:{q_addr}"
        f"&referer={APP_SOURCE}"
    )
    return {
        "wechat_open_location": {
            "latitude": g_lat,
            "longitude": g_lng,
            "name": name,
            "address": address,
            "scale": 16,
            "crs": "gcj02",
        },
        "amap": amap,
        "baidu": baidu,
        "tencent": tencent,
    }
