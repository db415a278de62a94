"""District lookup: a WGS-84 point's county-level district from the bundled boundaries."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from locator.districts import load_districts

# Points checked against the boundaries (WGS-84, lng/lat).
KNOWN = [
    (120.62, 27.975, "330304"),  # 红骑瓯创·骑手驿站, 瓯海中央商务区 (sample roster)
    (120.6993, 28.0216, "330302"),  # 鹿城 centre near 五马街
    (120.814164, 27.936494, "330303"),  # 龙湾 永中街道
    (121.159959, 27.842261, "330305"),  # 洞头 北岙街道
    (120.645626, 27.784201, "330381"),  # 瑞安 锦湖街道
    (120.879144, 28.042694, "330382"),  # 乐清 柳市镇
    (119.721436, 27.552536, "330329"),  # 泰顺 罗阳镇
]


@pytest.fixture(scope="module")
def districts():
    """The bundled boundaries."""
    return load_districts()


def test_twelve_districts_are_loaded(districts):
    assert len(districts.codes) == 12
    assert districts.name("330304") == "瓯海区"
    assert districts.name("999999") is None


@pytest.mark.parametrize(("lng", "lat", "code"), KNOWN)
def test_district_of_known_points(districts, lng, lat, code):
    assert districts.district_of(lng, lat) == code


@pytest.mark.parametrize(
    ("lng", "lat"),
    [
        (121.5, 27.8),  # East China Sea, beyond 洞头
        (120.155, 30.274),  # Hangzhou, West Lake
        (0.0, 0.0),
    ],
)
def test_points_outside_wenzhou_have_no_district(districts, lng, lat):
    assert districts.district_of(lng, lat) is None


def test_vectorised_lookup_equals_scalar(districts):
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = districts.bounds
    lng = np.concatenate([rng.uniform(x0 - 0.2, x1 + 0.2, 2000), [k[0] for k in KNOWN]])
    lat = np.concatenate([rng.uniform(y0 - 0.2, y1 + 0.2, 2000), [k[1] for k in KNOWN]])
    vector = districts.districts_of(lng, lat)
    scalar = [districts.district_of(x, y) for x, y in zip(lng.tolist(), lat.tolist(), strict=True)]
    assert vector.tolist() == scalar
    assert sum(c is None for c in scalar) > 100  # the sample covers sea and neighbours too
    assert len({c for c in scalar if c}) == 12


def _shared_vertices(districts) -> tuple[np.ndarray, list[set[str]]]:
    """Every vertex that lies on the outlines of two or more districts, and those districts."""
    owners: dict[tuple[float, float], set[str]] = {}
    for d in districts.districts:
        for x, y in shapely.get_coordinates(d.geometry.boundary).tolist():
            owners.setdefault((x, y), set()).add(d.code)
    shared = [(xy, codes) for xy, codes in owners.items() if len(codes) > 1]
    return np.array([xy for xy, _ in shared]), [codes for _, codes in shared]


def test_every_shared_border_vertex_goes_to_the_lowest_code_in_both_lookups(districts):
    points, owners = _shared_vertices(districts)
    assert len(points) > 2000  # the bundled outlines share borders vertex for vertex
    assert any(len(codes) > 2 for codes in owners)  # and junctions of three districts
    vector = districts.districts_of(points[:, 0], points[:, 1]).tolist()
    scalar = [districts.district_of(x, y) for x, y in points.tolist()]
    assert scalar == [min(codes) for codes in owners]
    assert vector == scalar
