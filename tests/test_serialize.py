"""The pre-encoded nearest answer parses to exactly what station_json() returns."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime

import pytest

from locator.coords import CRS
from locator.nearest import Snapshot
from locator.serialize import station_json, station_json_bytes
from locator.stations import TZ

WHENS = [
    datetime(2026, 11, 30, 10, 0, tzinfo=TZ),  # Monday morning
    datetime(2026, 12, 5, 23, 30, tzinfo=TZ),  # Saturday night
    datetime(2026, 12, 6, 6, 59, tzinfo=TZ),  # Sunday early
]


@pytest.mark.parametrize("crs", list(CRS))
@pytest.mark.parametrize("when", WHENS)
def test_fragment_text_equals_station_json(roster, crs, when):
    snap = roster.snapshot()
    stations = list(snap.stations)
    # Add the statuses the sample lacks: closed, and a temporary closure ending before/after `when`.
    stations[0] = replace(stations[0], status="closed")
    stations[1] = replace(stations[1], status="temporarily_closed", closed_until=date(2026, 12, 1))
    stations[2] = replace(stations[2], status="temporarily_closed", closed_until=None)
    test_snap = Snapshot.from_stations(stations, version=snap.version)
    for i, station in enumerate(test_snap.stations):
        name = roster.districts.name(station.district)
        distance = None if i % 3 == 0 else 1234.5678 * i
        expected = station_json(station, when=when, crs=crs, distance_m=distance, district_name=name)
        text = station_json_bytes(test_snap, i, when=when, crs=crs, distance_m=distance, district_name=name)
        assert json.loads(text) == expected, station.id


def test_fragments_follow_the_snapshot(roster):
    """A new roster version gets new fragments (an edited name shows at once)."""
    when = WHENS[0]
    snap = roster.snapshot()
    station = snap.stations[0]
    before = json.loads(station_json_bytes(snap, 0, when=when, crs=CRS.WGS84, distance_m=1.0, district_name=None))
    edited = replace(station, name="改名后的驿站")
    roster.store.update(edited, expected_version=station.version, actor="test", via="cli")
    new_snap = roster.snapshot()
    assert new_snap is not snap
    index = new_snap.index_of(station.id)
    after = json.loads(station_json_bytes(new_snap, index, when=when, crs=CRS.WGS84, distance_m=1, district_name=None))
    assert before["name"] != after["name"] == "改名后的驿站"
