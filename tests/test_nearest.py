"""The nearest index equals a brute-force geodesic ranking (WGS-84, Karney) on every query."""

from datetime import datetime

import numpy as np
import pytest
from pyproj import Geod

from locator.coords import geodesic_m, great_circle_m
from locator.nearest import Snapshot, StationFilter, meridional_radius_m, sphere_ratio
from locator.stations import AMENITIES, TZ, Station

GEOD = Geod(ellps="WGS84")

pytestmark = pytest.mark.read_only


def _synthetic(n, seed, duplicates=0):
    rng = np.random.default_rng(seed)
    lng = rng.uniform(119.6, 121.3, n)
    lat = rng.uniform(27.0, 28.6, n)
    if duplicates:  # exact ties: several stations at one spot
        lng[:duplicates] = 120.65
        lat[:duplicates] = 28.0
    return lng, lat, [f"s{i:07d}" for i in range(n)]


@pytest.mark.parametrize(("n", "duplicates"), [(1, 0), (7, 3), (145, 20), (5000, 40), (60_000, 0)])
def test_nearest_equals_brute_force_on_random_queries(n, duplicates):
    lng, lat, ids = _synthetic(n, seed=n, duplicates=duplicates)
    snap = Snapshot(lng, lat, ids)
    rng = np.random.default_rng(1000 + n)
    for j in range(300):
        x, y = (120.65, 28.0) if j % 5 == 0 else (rng.uniform(119.5, 121.4), rng.uniform(26.9, 28.7))
        k = int(rng.integers(1, 30))
        radius = None if j % 2 else float(rng.uniform(50, 30_000))
        mask = None if j % 3 else rng.random(n) < rng.choice([0.01, 0.3, 0.9])
        got = snap.nearest_indices(x, y, k, radius_m=radius, mask=mask)
        want = snap.brute_force(x, y, k, radius_m=radius, mask=mask)
        assert got == want, (x, y, k, radius)  # same stations, same geodesic distances


def test_ties_are_broken_by_id():
    lng, lat, ids = _synthetic(10, seed=1, duplicates=10)
    snap = Snapshot(lng, lat, ids)
    idx, dist = snap.nearest_indices(120.66, 28.0, 4)
    assert [snap.ids[i] for i in idx] == ["s0000000", "s0000001", "s0000002", "s0000003"]
    assert len(set(dist)) == 1


def test_unsorted_ids_are_refused():
    with pytest.raises(ValueError, match="ascending"):
        Snapshot(np.array([120.0, 120.1]), np.array([28.0, 28.0]), ["b", "a"])


def _station(i, lng, lat, **kw):
    base = dict(id=f"st-{i:03d}", name=f"站{i}", type="rider_station", district="330302", address="", lng=lng, lat=lat)
    base.update(kw)
    return Station(**base)


def test_filters_on_stations():
    stations = [
        _station(1, 120.650, 28.000, amenities=("water",), hours="24/7"),
        _station(2, 120.651, 28.000, amenities=("water", "microwave"), hours="Mo-Fr 09:00-17:00"),
        _station(3, 120.652, 28.000, type="party_home", amenities=("microwave",), hours="24/7"),
        _station(4, 120.6505, 28.000, status="closed", hours="24/7"),
        _station(5, 120.653, 28.000, status="temporarily_closed", hours="24/7", closed_until=None),
    ]
    snap = Snapshot.from_stations(stations)
    saturday_noon = datetime(2026, 11, 28, 12, 0, tzinfo=TZ)

    def ids(**kw):
        when = kw.pop("when", saturday_noon)
        return [h.station.id for h in snap.nearest(120.65, 28.0, 10, flt=StationFilter(**kw), when=when)]

    assert ids() == ["st-001", "st-002", "st-003", "st-005"]  # closed station hidden
    assert ids(include_closed=True)[:2] == ["st-001", "st-004"]
    assert ids(types=("party_home",)) == ["st-003"]
    assert ids(amenities=("water", "microwave")) == ["st-002"]
    assert ids(open_now=True) == ["st-001", "st-003"]  # 2 is weekday-only, 5 temporarily closed
    assert ids(open_now=True, when=datetime(2026, 11, 27, 12, 0, tzinfo=TZ)) == ["st-001", "st-002", "st-003"]
    assert ids(districts=("330303",)) == []


def test_amenity_bits_cover_the_vocabulary():
    assert len(AMENITIES) <= 32  # the snapshot keeps amenities as uint32 bit sets


def test_radius_limits_results():
    snap = Snapshot.from_stations([_station(1, 120.65, 28.0), _station(2, 120.70, 28.0)])
    hits = snap.nearest(120.65, 28.0, 5, radius_m=1000)
    assert [h.station.id for h in hits] == ["st-001"]
    assert hits[0].distance_m == pytest.approx(0.0, abs=1e-6)


def test_distance_is_the_wgs84_geodesic():
    snap = Snapshot.from_stations([_station(1, 120.65, 28.01)])
    (hit,) = snap.nearest(120.65, 28.0, 1)
    # Along a meridian the geodesic is the meridian arc: the integral of the meridional radius of
    # curvature M(phi) = a(1-e^2)/(1-e^2 sin^2 phi)^1.5, computed here independently of pyproj.
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    phi = np.radians(np.linspace(28.0, 28.01, 2001))
    m = a * (1 - e2) / (1 - e2 * np.sin(phi) ** 2) ** 1.5
    arc = float(np.sum((m[1:] + m[:-1]) / 2 * np.diff(phi)))
    assert hit.distance_m == pytest.approx(arc, abs=1e-6)
    # ... which is not the great-circle distance on the mean sphere (0.34 % more here)
    assert abs(hit.distance_m - 6371008.8 * np.radians(0.01)) > 3.0


def test_empty_snapshot_answers_nothing():
    assert Snapshot.from_stations([]).nearest(120.65, 28.0, 5) == []


def test_sample_roster_nearest_matches_brute_force(roster):
    snap = roster.snapshot()
    assert len(snap) == 200
    rng = np.random.default_rng(3)
    for _ in range(200):
        x, y = rng.uniform(119.8, 121.2), rng.uniform(27.2, 28.5)
        k = int(rng.integers(1, 20))
        mask = snap.mask(StationFilter())
        got, want = snap.nearest_indices(x, y, k, mask=mask), snap.brute_force(x, y, k, mask=mask)
        assert got[0] == want[0]
        assert got[1] == want[1]  # the same geodesic distances, bit for bit


def test_default_filter_narrows_only_when_a_station_is_closed():
    from locator.nearest import NO_FILTER

    open_only = Snapshot.from_stations([_station(1, 120.65, 28.0), _station(2, 120.66, 28.0)])
    assert open_only.mask(NO_FILTER) is None  # nothing to hide: the plain tree query runs
    with_closed = Snapshot.from_stations([_station(1, 120.65, 28.0), _station(2, 120.651, 28.0, status="closed")])
    assert with_closed.mask(NO_FILTER).tolist() == [True, False]
    assert [h.station.id for h in with_closed.nearest(120.651, 28.0, 2)] == ["st-001"]


def test_the_tree_is_handed_masks_it_does_not_copy():
    """pykdtree copies any mask that is not uint8 into a new array on every query: O(roster) per answer."""
    from locator.nearest import NO_FILTER, STATUS_CLOSED

    n = 5000  # above the scan's limit: the tree answers
    lng, lat, ids = _synthetic(n, seed=3)
    status = np.zeros(n, np.int8)
    status[::7] = STATUS_CLOSED
    snap = Snapshot(lng, lat, ids, status=status)
    seen = []
    tree = snap.tree

    class Spy:
        def query(self, *args, mask=None, **kwargs):
            seen.append(mask)
            return tree.query(*args, mask=mask, **kwargs)

    snap.tree = Spy()
    got = snap.nearest_indices(120.65, 28.0, 5, mask=snap.mask(NO_FILTER))[0]  # as Snapshot.nearest asks
    snap.nearest_indices(120.9, 27.9, 5, mask=snap.mask(NO_FILTER))
    filtered = snap.nearest_indices(120.65, 28.0, 5, mask=np.arange(n) % 2 == 0)[0]
    assert [m.dtype for m in seen] == [np.uint8, np.uint8, np.uint8]
    assert seen[0] is seen[1]  # the default filter's: made once per snapshot
    snap.tree = tree
    assert got == snap.brute_force(120.65, 28.0, 5, mask=status != STATUS_CLOSED)[0]
    assert all(i % 7 for i in got)
    assert filtered == snap.brute_force(120.65, 28.0, 5, mask=np.arange(n) % 2 == 0)[0]


def _near_ties(rng, n_groups, per_group, centre=(120.65, 28.0), spread=0.6):
    """Groups of stations at almost the same geodesic distance from a group centre, in all directions.

    Within a group the geodesic distances differ by less than the sphere/ellipsoid difference
    (about 0.35 % here), so the great-circle order and the geodesic order disagree often.
    """
    lng, lat, centres = [], [], []
    for _ in range(n_groups):
        cx, cy = centre[0] + rng.uniform(-spread, spread), centre[1] + rng.uniform(-spread, spread)
        radius = rng.uniform(30, 5000)
        az = rng.uniform(-180, 180, per_group)
        dist = radius * (1 + rng.choice([0.0, 1e-12, 1e-6, 1e-4, 2e-3], per_group) * rng.uniform(-1, 1, per_group))
        x, y, _ = GEOD.fwd(np.full(per_group, cx), np.full(per_group, cy), az, dist)
        lng.extend(np.round(x, 7))
        lat.extend(np.round(y, 7))
        centres.append((cx, cy))
    order = rng.permutation(len(lng))
    lng, lat = np.asarray(lng)[order], np.asarray(lat)[order]
    return lng, lat, [f"s{i:07d}" for i in range(len(lng))], centres


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nearest_equals_brute_force_geodesic_on_near_ties(seed):
    rng = np.random.default_rng(seed)
    lng, lat, ids, centres = _near_ties(rng, n_groups=400, per_group=12)
    snap = Snapshot(lng, lat, ids)
    sphere_disagrees = 0
    for j in range(1500):
        x, y = centres[j % len(centres)] if j % 2 == 0 else (rng.uniform(120.0, 121.3), rng.uniform(27.4, 28.6))
        k = int(rng.integers(1, 13))
        radius = None if j % 3 else float(rng.uniform(30, 6000))
        mask = None if j % 4 else rng.random(len(snap)) < rng.choice([0.05, 0.5, 0.95])
        got = snap.nearest_indices(x, y, k, radius_m=radius, mask=mask)
        want = snap.brute_force(x, y, k, radius_m=radius, mask=mask)
        assert got == want, (seed, j, x, y, k, radius)
        # what the old great-circle ranking would have said
        idx = np.arange(len(snap)) if mask is None else np.flatnonzero(mask)
        gc = great_circle_m(x, y, snap.lng[idx], snap.lat[idx])
        if radius is not None:
            idx, gc = idx[gc <= radius], gc[gc <= radius]
        sphere_disagrees += idx[np.lexsort((idx, gc))[:k]].tolist() != want[0]
    # the test means something: the sphere's order is wrong on a good share of these queries
    assert sphere_disagrees > 100


def test_brute_force_is_the_geodesic_ranking():
    lng, lat, ids = _synthetic(3000, seed=7)
    snap = Snapshot(lng, lat, ids)
    idx, dist = snap.brute_force(120.7, 28.0, 20)
    expect = sorted((geodesic_m(120.7, 28.0, float(lng[i]), float(lat[i])), i) for i in range(len(ids)))[:20]
    assert idx == [i for _, i in expect]
    assert dist == [d for d, _ in expect]


def test_the_sphere_bound_holds_for_random_pairs():
    rng = np.random.default_rng(11)
    for lat_band in ((27.0, 29.0), (0.0, 10.0), (-60.0, -20.0), (60.0, 89.0)):
        y1 = rng.uniform(*lat_band, 20_000)
        y2 = np.clip(y1 + rng.normal(0, 2, 20_000), *lat_band)
        x1 = rng.uniform(-180, 180, 20_000)
        x2 = x1 + rng.normal(0, 3, 20_000)
        s = great_circle_m(x1, y1, x2, y2)
        g = geodesic_m(x1, y1, x2, y2)
        lo = np.minimum(np.abs(y1), np.abs(y2))
        bound = np.array([sphere_ratio(v) for v in lo])
        ok = g > 0
        assert np.all(s[ok] <= g[ok] * bound[ok] * (1 + 1e-12))
    # the bound is tight: along a meridian at the equator the ratio approaches R / M(0)
    near = great_circle_m(0.0, 0.0, 0.0, 0.001) / geodesic_m(0.0, 0.0, 0.0, 0.001)
    assert near == pytest.approx(sphere_ratio(0.0), rel=1e-6)
    assert sphere_ratio(27.0) == pytest.approx(6371008.8 / meridional_radius_m(27.0))
    assert 1.0035 < sphere_ratio(27.0) < 1.0036


def test_queries_in_the_other_hemisphere_use_the_equators_bound():
    lng, lat, ids = _synthetic(2000, seed=5)
    snap = Snapshot(lng, lat, ids)
    assert snap.ratio_at(-10.0) == sphere_ratio(0.0)
    assert snap.ratio_at(28.0) == sphere_ratio(27.0 + (lat.min() - 27.0))
    for x, y in ((0.0, 0.0), (120.65, -28.0), (-60.0, 40.0), (121.0, 89.9)):
        assert snap.nearest_indices(x, y, 7) == snap.brute_force(x, y, 7)
