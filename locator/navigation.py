"""One-tap navigation targets for a station: WeChat openLocation and map-app links.

Each target carries coordinates in the system its provider expects: GCJ-02 for
WeChat, AMap and Tencent; BD-09 for Baidu (declared with coord_type=bd09ll).
"""

from __future__ import annotations

from typing import Any

from locator.coords import gcj02_to_bd09, wgs84_to_gcj02

APP_SOURCE = "wenzhou-rider-stations"  # the 'src'/'referer' the map apps ask callers to name

# Percent-encoding of every UTF-8 byte but the unreserved ones, as urllib.parse.quote(text, safe="")
# writes it (tests/test_navigation.py compares them), by one str.translate: quote() spends a few µs
# per call in Python, twice per station in a nearest answer's links.
_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_PERCENT = {byte: f"%{byte:02X}" for byte in range(256) if byte not in _UNRESERVED}


def quote_all(text: str) -> str:
    """`text` percent-encoded as UTF-8 with nothing but unreserved characters left (quote(text, safe=""))."""
    return quote_utf8(text.encode())


def quote_utf8(data: bytes) -> str:
    """quote_all() of a text given as its UTF-8 bytes (the packed roster's stored texts)."""
    return data.decode("latin-1").translate(_PERCENT)


def navigation_targets(lng: float, lat: float, name: str, address: str = "") -> dict[str, Any]:
    """WeChat openLocation parameters and AMap/Baidu/Tencent links for a WGS-84 point."""
    g_lng, g_lat = wgs84_to_gcj02(lng, lat)
    return navigation_from(g_lng, g_lat, *gcj02_to_bd09(g_lng, g_lat), name, address)


def navigation_from(g_lng: float, g_lat: float, b_lng: float, b_lat: float, name: str, address: str) -> dict[str, Any]:
    """navigation_targets() from the point's GCJ-02 and BD-09 coordinates (already converted)."""
    g_lng, g_lat, b_lng, b_lat = (
        round(float(g_lng), 6),
        round(float(g_lat), 6),
        round(float(b_lng), 6),
        round(float(b_lat), 6),
    )
    q_name = quote_all(name)
    amap, baidu, tencent = map_links(
        repr(g_lng), repr(g_lat), repr(b_lng), repr(b_lat), q_name, quote_all(address) if address else q_name
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


def map_links(g_lng: str, g_lat: str, b_lng: str, b_lat: str, q_name: str, q_addr: str) -> tuple[str, str, str]:
    """The AMap, Baidu and Tencent links: coordinates as text (rounded to 6 decimals), name and address percent-encoded.

    The texts are spliced in as they are (urlencode() re-quoted every value and was the largest cost
    of a nearest answer); separators (, ; :) stay literal, as the providers' URI documentation writes
    them. A link holds ASCII only, no quote or backslash: serialize.py writes it into JSON as it is.
    """
    return (
        f"https://uri.amap.com/navigation?to={g_lng},{g_lat},{q_name}&mode=ride&coordinate=gaode"
        f"&callnative=1&src={APP_SOURCE}",
        f"https://api.map.baidu.com/marker?location={b_lat},{b_lng}&title={q_name}&content={q_addr}"
        f"&coord_type=bd09ll&output=html&src={APP_SOURCE}",
        f"https://apis.map.qq.com/uri/v1/marker?marker=coord:{g_lat},{g_lng};title:{q_name};addr:{q_addr}"
        f"&referer={APP_SOURCE}",
    )
