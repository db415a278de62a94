"""The nearest index equals a brute-force scan on every query."""

from datetime import datetime

import numpy as np
import pytest

from locator.nearest import Snapshot, StationFilter
from locator.stations import AMENITIES, TZ, Station

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
        assert got[0] == want[0], (x, y, k, radius)
        assert np.allclose(got[1], want[1], rtol=1e-9, atol=1e-6)


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


def test_distance_is_great_circle_metres():
    snap = Snapshot.from_stations([_station(1, 120.65, 28.01)])
    (hit,) = snap.nearest(120.65, 28.0, 1)
    # 0.01 degree of latitude on the R = 6371008.8 m sphere
    assert hit.distance_m == pytest.approx(6371008.8 * np.radians(0.01), rel=1e-9)


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
        # The tree path converts chords to metres, the scan uses haversine: equal to rounding.
        assert np.allclose(got[1], want[1], rtol=1e-9, atol=1e-6)


def test_default_filter_narrows_only_when_a_station_is_closed():
    from locator.nearest import NO_FILTER

    open_only = Snapshot.from_stations([_station(1, 120.65, 28.0), _station(2, 120.66, 28.0)])
    assert open_only.mask(NO_FILTER) is None  # nothing to hide: the plain tree query runs
    with_closed = Snapshot.from_stations([_station(1, 120.65, 28.0), _station(2, 120.651, 28.0, status="closed")])
    assert with_closed.mask(NO_FILTER).tolist() == [True, False]
    assert [h.station.id for h in with_closed.nearest(120.651, 28.0, 2)] == ["st-001"]
