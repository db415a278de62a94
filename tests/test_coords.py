"""Coordinate conversion against published test vectors and round trips."""

import numpy as np
import pytest

from locator.coords import (
    CRS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    great_circle_m,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# (wgs_lat, wgs_lng, gcj_lat, gcj_lng) from googollee/eviltransform, python/test.py (TESTS).
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


@pytest.mark.parametrize(("wlat", "wlng", "glat", "glng"), EVILTRANSFORM)
def test_wgs84_to_gcj02_matches_eviltransform(wlat, wlng, glat, glng):
    lng, lat = wgs84_to_gcj02(wlng, wlat)
    assert lng == pytest.approx(glng, abs=1e-9)
    assert lat == pytest.approx(glat, abs=1e-9)


@pytest.mark.parametrize(("wlat", "wlng", "glat", "glng"), EVILTRANSFORM)
def test_gcj02_to_wgs84_inverts_to_a_centimetre(wlat, wlng, glat, glng):
    lng, lat = gcj02_to_wgs84(glng, glat)
    assert great_circle_m(lng, lat, wlng, wlat) < 0.01


def test_wgs84_to_gcj02_matches_coordtransform_vector():
    # hutool (dromara/hutool) hutool-core/src/test/java/cn/hutool/core/util/CoordinateUtilTest.java
    # and coordtransform_rs tests: WGS-84 (116.404, 39.915) -> GCJ-02 (116.41024449916938, 39.91640428150164)
    lng, lat = wgs84_to_gcj02(116.404, 39.915)
    assert (lng, lat) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-9)


def test_gcj02_to_bd09_matches_published_vector():
    # hutool CoordinateUtilTest.gcj02ToBd09Test (from wandergis/coordtransform):
    # GCJ-02 (116.404, 39.915) -> BD-09 (116.41036949371029, 39.92133699351021)
    lng, lat = gcj02_to_bd09(116.404, 39.915)
    assert (lng, lat) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-9)


def test_bd09_to_gcj02_close_to_published_closed_form_and_exact_inverse():
    # The closed-form inverse in hutool/coordtransform gives (116.39762729119315, 39.90865673957631);
    # ours iterates further, so it lies within 10 cm of it (4.8 cm here) and re-encodes to the input exactly.
    lng, lat = bd09_to_gcj02(116.404, 39.915)
    assert great_circle_m(lng, lat, 116.39762729119315, 39.90865673957631) < 0.1
    back = gcj02_to_bd09(lng, lat)
    assert back == pytest.approx((116.404, 39.915), abs=1e-9)


def test_round_trips_are_sub_centimetre_over_wenzhou():
    rng = np.random.default_rng(7)
    lng = rng.uniform(119.6, 121.3, 2000)
    lat = rng.uniform(27.0, 28.6, 2000)
    for fwd, inv in ((wgs84_to_gcj02, gcj02_to_wgs84), (wgs84_to_bd09, bd09_to_wgs84)):
        x, y = fwd(lng, lat)
        bx, by = inv(x, y)
        assert np.max(great_circle_m(lng, lat, bx, by)) < 0.01


def test_offset_in_wenzhou_is_about_half_a_kilometre():
    x, y = wgs84_to_gcj02(120.65, 28.0)
    assert 400 < great_circle_m(120.65, 28.0, x, y) < 700
    assert x > 120.65 and y < 28.0  # east and south, as DOMAIN.md says


@pytest.mark.parametrize("point", [(-0.1276, 51.5072), (139.6917, 35.6895), (0.0, 0.0)])
def test_points_outside_china_are_unchanged(point):
    for fn in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84):
        assert fn(*point) == pytest.approx(point, abs=0)


def test_vectorised_equals_scalar():
    lng = np.array([120.1, 120.7, 121.0])
    lat = np.array([27.5, 28.0, 28.4])
    x, y = wgs84_to_gcj02(lng, lat)
    for i in range(3):
        # floats run on math, arrays on numpy: they agree to rounding (1e-12 degrees is 0.1 micrometre)
        assert wgs84_to_gcj02(float(lng[i]), float(lat[i])) == pytest.approx((x[i], y[i]), abs=1e-12)
        assert bd09_to_wgs84(float(lng[i]), float(lat[i])) == pytest.approx(
            tuple(a[i] for a in bd09_to_wgs84(lng, lat)), abs=1e-9
        )


@pytest.mark.parametrize("name", ["wgs84", "gcj02", "bd09"])
def test_to_and_from_wgs84_by_name(name):
    x, y = from_wgs84(120.65, 28.0, name)
    assert great_circle_m(*to_wgs84(x, y, name), 120.65, 28.0) < 0.01


@pytest.mark.parametrize(("alias", "crs"), [("WGS-84", CRS.WGS84), ("GCJ-02", CRS.GCJ02), ("bd09ll", CRS.BD09)])
def test_crs_aliases(alias, crs):
    assert CRS.parse(alias) is crs


def test_unknown_crs_is_rejected():
    with pytest.raises(ValueError, match="unknown coordinate system"):
        CRS.parse("utm51")
