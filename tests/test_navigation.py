"""Navigation targets carry each provider's coordinate system and survive any station name."""

from urllib.parse import parse_qs, urlsplit

import pytest

from locator.coords import wgs84_to_bd09, wgs84_to_gcj02
from locator.navigation import navigation_targets

NAME = "红骑驿站 A&B #1 = 50%"
ADDRESS = "温州市瓯海区娄桥街道;路:1号"


@pytest.fixture
def nav():
    return navigation_targets(120.62, 27.975, NAME, ADDRESS)


def test_wechat_open_location_is_gcj02(nav):
    g = wgs84_to_gcj02(120.62, 27.975)
    wx = nav["wechat_open_location"]
    assert (wx["longitude"], wx["latitude"]) == pytest.approx(g, abs=1e-6)
    assert wx["name"] == NAME and wx["address"] == ADDRESS and wx["crs"] == "gcj02"


def test_amap_link_is_gcj02_with_the_name(nav):
    q = parse_qs(urlsplit(nav["amap"]).query)
    lng, lat, name = q["to"][0].split(",", 2)
    assert (float(lng), float(lat)) == pytest.approx(wgs84_to_gcj02(120.62, 27.975), abs=1e-6)
    assert name == NAME and q["coordinate"] == ["gaode"]


def test_baidu_link_is_bd09_and_says_so(nav):
    q = parse_qs(urlsplit(nav["baidu"]).query)
    lat, lng = (float(v) for v in q["location"][0].split(","))
    assert (lng, lat) == pytest.approx(wgs84_to_bd09(120.62, 27.975), abs=1e-6)
    assert q["coord_type"] == ["bd09ll"] and q["title"] == [NAME] and q["content"] == [ADDRESS]


def test_tencent_link_is_gcj02(nav):
    q = parse_qs(urlsplit(nav["tencent"]).query)
    coord, title, addr = q["marker"][0].split(";", 2)
    lat, lng = (float(v) for v in coord.removeprefix("coord:").split(","))
    assert (lng, lat) == pytest.approx(wgs84_to_gcj02(120.62, 27.975), abs=1e-6)
    assert title == f"title:{NAME}"
    assert addr == f"addr:{ADDRESS}"


def test_quote_all_writes_what_urllib_quote_writes():
    """navigation.quote_all (one str.translate) percent-encodes exactly as quote(text, safe="")."""
    import random
    from urllib.parse import quote

    from locator.navigation import quote_all

    rng = random.Random(18)
    texts = [
        NAME,
        ADDRESS,
        "",
        "~_.-azAZ09",
        " /?#[]@!$&'()*+,;=%",
        '\x00\n\t"\\',
        "🚲 骑手驿站",
        chr(0x7F) + chr(0x80),
    ]
    texts.append("".join(chr(c) for c in range(0x300)))
    for _ in range(500):
        texts.append(
            "".join(
                chr(rng.choice((rng.randrange(0x80), rng.randrange(0x80, 0x800), rng.randrange(0x800, 0xD800))))
                + chr(rng.randrange(0x10000, 0x110000)) * rng.randrange(2)
                for _ in range(rng.randrange(12))
            )
        )
    for text in texts:
        assert quote_all(text) == quote(text, safe=""), text
