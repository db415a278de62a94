"""The Station model: validation per field, vocabulary labels, opening hours in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from locator.districts import load_districts
from locator.stations import (
    TZ,
    HoursError,
    ServiceArea,
    Station,
    StationInvalid,
    parse_hours,
    validate_station,
)

OUHAI_POINT = {"lng": 120.62, "lat": 27.975}  # 红骑瓯创·骑手驿站 (sample roster), in 瓯海 330304
HANGZHOU = {"lng": 120.155, "lat": 30.274}


@pytest.fixture(scope="module")
def area() -> ServiceArea:
    """Wenzhou's districts only."""
    districts = load_districts()
    return ServiceArea(districts.district_of, districts.codes)


def _raw(**overrides):
    raw = {"name": "红骑瓯创·骑手驿站", "type": "rider_station", **OUHAI_POINT}
    raw.update(overrides)
    return {k: v for k, v in raw.items() if v is not ...}


def _errors(raw, area) -> dict[str, str]:
    with pytest.raises(StationInvalid) as info:
        validate_station(raw, area)
    return {e.field: e.message for e in info.value.errors}


def test_valid_station_gets_district_from_location(area):
    station = validate_station(_raw(amenities=["water", "microwave"], hours="24/7"), area)
    assert station.district == "330304"
    assert station.amenities == ("water", "microwave")
    assert station.id.startswith("st-")
    assert station.status == "open"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ...}, "name", "is required"),
        ({"name": "   "}, "name", "is required"),
        ({"type": "teahouse"}, "type", "unknown type 'teahouse'"),
        ({"type": ...}, "type", "is required"),
        ({"amenities": ["water", "sauna"]}, "amenities", "unknown amenity 'sauna'"),
        ({"amenities": [1, 2]}, "amenities", "must be a list"),
        ({"lng": "east"}, "lng", "is not a number"),
        ({"lat": "abc"}, "lat", "is not a number"),
        ({"lng": float("nan")}, "lng", "finite"),
        ({"lat": "NaN"}, "lat", "finite"),
        ({"lng": float("inf")}, "lng", "finite"),
        ({"lat": "-Infinity"}, "lat", "finite"),
        ({"lng": 181}, "lng", "outside -180.0..180.0"),
        ({"lat": -91}, "lat", "outside -90.0..90.0"),
        ({"lng": ...}, "lng", "is required"),
        ({"lat": True}, "lat", "must be a number"),
        (HANGZHOU, "location", "outside Wenzhou's districts"),
        ({"lng": 121.5, "lat": 27.8}, "location", "outside Wenzhou's districts"),  # at sea
        ({"district": "330302"}, "district", "lies in district 330304, not 330302"),
        ({"district": "999999"}, "district", "unknown district code '999999'"),
        ({"hours": "Mo-Fr"}, "hours", "needs days and times"),
        ({"hours": "Xy 08:00-09:00"}, "hours", "unknown day"),
        ({"hours": "Mo 25:00-26:00"}, "hours", "impossible time"),
        ({"hours": "Mo 8:00"}, "hours", "is not HH:MM-HH:MM"),
        ({"hours": "Mo 09:00-09:00"}, "hours", "is empty"),
        ({"hours": 9}, "hours", "must be text"),
        ({"status": "temporarily_closed", "closed_until": "next week"}, "closed_until", "is not a date"),
        ({"closed_until": "2026-05-01"}, "closed_until", "applies only to status temporarily_closed"),
        ({"status": "gone"}, "status", "unknown status 'gone'"),
        ({"name": "驿站\x00"}, "name", "control characters"),
        ({"address": "a\nb"}, "address", "control characters"),
        ({"name": "驿" * 121}, "name", "longer than 120"),
        ({"note": "x" * 501}, "note", "longer than 500"),
        ({"id": "bad id!"}, "id", "may hold only"),
        ({"provenance": "rumour"}, "provenance", "unknown provenance"),
    ],
)
def test_validation_names_the_field(area, overrides, field, message):
    errors = _errors(_raw(**overrides), area)
    assert field in errors, errors
    assert message in errors[field]


def test_validation_lists_every_field_at_fault(area):
    errors = _errors(_raw(name="", type="x", lat="y", amenities=["sauna"]), area)
    assert set(errors) == {"name", "type", "lat", "amenities"}


def test_row_number_is_carried(area):
    with pytest.raises(StationInvalid) as info:
        validate_station(_raw(name=""), area, row=7)
    assert [e.as_json() for e in info.value.errors] == [
        {"field": "name", "message": "is required", "message_zh": "不能为空：请填写名称。", "row": 7}
    ]
    assert info.value.errors[0].text_zh() == "第 7 行「名称」不能为空：请填写名称。"


def test_point_outside_is_accepted_when_service_area_is_widened():
    districts = load_districts()
    wide = ServiceArea(districts.district_of, districts.codes, (119.0, 27.0, 121.0, 31.0))
    station = validate_station(_raw(**HANGZHOU), wide)
    assert station.district is None
    beyond = ServiceArea(districts.district_of, districts.codes, (119.0, 27.0, 121.0, 29.0))
    with pytest.raises(StationInvalid, match="outside Wenzhou"):
        validate_station(_raw(**HANGZHOU), beyond)


@pytest.mark.parametrize(
    ("type_label", "key"),
    [("骑手驿站", "rider_station"), ("党建之家", "party_home"), ("Demonstration site", "demo_site")],
)
def test_type_labels_are_accepted(area, type_label, key):
    assert validate_station(_raw(type=type_label), area).type == key


def test_chinese_amenity_labels_are_accepted(area):
    station = validate_station(_raw(amenities="微波加热、免费茶饮，急救药箱;WI-FI;water"), area)
    assert station.amenities == ("microwave", "water", "first_aid", "wifi")


def test_temporarily_closed_with_date_is_valid(area):
    station = validate_station(_raw(status="temporarily_closed", closed_until="2026-05-01"), area)
    assert station.closed_until == date(2026, 5, 1)


# -- opening hours -----------------------------------------------------------------------

# 2026-06-01 is a Monday.
MON = date(2026, 6, 1)


def at(day_offset: int, hh: int, mm: int = 0, tz=TZ) -> datetime:
    """A datetime `day_offset` days after Monday 2026-06-01, in `tz`."""
    d = MON + timedelta(days=day_offset)
    return datetime(d.year, d.month, d.day, hh, mm, tzinfo=tz)


def test_24_7_is_always_open():
    hours = parse_hours("24/7")
    assert hours.always
    assert all(hours.is_open(at(d, h)) for d in range(7) for h in (0, 12, 23))
    assert hours.next_open(at(3, 3)) is None
    assert hours.describe_zh() == "24小时开放"


def test_weekday_rule():
    hours = parse_hours("Mo-Fr 09:00-17:00")
    assert hours.is_open(at(0, 9))
    assert hours.is_open(at(4, 16, 59))
    assert not hours.is_open(at(4, 17))  # end is exclusive
    assert not hours.is_open(at(5, 12))  # Saturday
    assert hours.next_open(at(4, 18)) == at(7, 9)  # Friday evening -> next Monday 09:00
    assert hours.next_open(at(2, 7, 30)) == at(2, 9)


def test_lists_of_days_and_spans():
    hours = parse_hours("Mo,We 08:00-11:30,13:30-17:00; Sa-Su 10:00-12:00")
    assert hours.is_open(at(0, 8))
    assert not hours.is_open(at(0, 12))
    assert hours.next_open(at(0, 12)) == at(0, 13, 30)
    assert not hours.is_open(at(1, 9))  # Tuesday
    assert hours.is_open(at(2, 14))
    assert hours.is_open(at(6, 11))
    assert not hours.is_open(at(6, 12))


def test_overnight_span_runs_into_next_day():
    hours = parse_hours("Fr 20:00-02:00")
    assert hours.is_open(at(4, 23))
    assert hours.is_open(at(5, 1, 59))
    assert not hours.is_open(at(5, 2))
    assert not hours.is_open(at(3, 1))  # Friday's span does not cover Thursday night


def test_sunday_overnight_wraps_to_monday():
    hours = parse_hours("Su 22:00-06:00")
    assert hours.is_open(at(6, 23))
    assert hours.is_open(at(0, 5))  # Monday morning, start of the week
    assert hours.is_open(at(7, 5))
    assert not hours.is_open(at(0, 6))
    assert hours.next_open(at(0, 6)) == at(6, 22)


def test_hours_are_evaluated_in_shanghai_whatever_the_timezone():
    hours = parse_hours("Mo-Fr 09:00-17:00")
    # Monday 01:30 UTC = Monday 09:30 in Shanghai: open.
    assert hours.is_open(datetime(2026, 6, 1, 1, 30, tzinfo=UTC))
    # Sunday 20:00 in New York (UTC-4) = Monday 08:00 in Shanghai: closed, opens in an hour.
    ny = timezone(timedelta(hours=-4))
    when = datetime(2026, 5, 31, 20, 0, tzinfo=ny)
    assert not hours.is_open(when)
    assert hours.next_open(when) == at(0, 9)
    assert hours.next_open(when).utcoffset() == timedelta(hours=8)
    # Friday 17:30 in Berlin (UTC+2) = Friday 23:30 in Shanghai: closed.
    assert not hours.is_open(datetime(2026, 6, 5, 17, 30, tzinfo=timezone(timedelta(hours=2))))


def test_empty_hours_mean_unknown():
    hours = parse_hours("")
    assert not hours.is_open(at(0, 12))
    assert hours.next_open(at(0, 12)) is None
    assert hours.describe_zh() == "开放时间未知"


def test_bad_hours_raise():
    with pytest.raises(HoursError):
        parse_hours("Mo-Fr 09:00-")


def _station(**kw) -> Station:
    base = dict(id="st-1", name="站", type="rider_station", district="330304", address="", lng=120.62, lat=27.975)
    base.update(kw)
    return Station(**base)


def test_open_station_follows_its_hours():
    s = _station(hours="Mo-Su 08:00-22:00")
    assert s.open_now(at(2, 12))
    assert not s.open_now(at(2, 23))
    assert s.next_open(at(2, 23)) == at(3, 8)


def test_temporarily_closed_reopens_the_day_after_its_until_date():
    until = MON + timedelta(days=2)  # Wednesday
    s = _station(hours="24/7", status="temporarily_closed", closed_until=until)
    assert s.effective_status(at(2, 23, 59)) == "temporarily_closed"
    assert not s.open_now(at(2, 12))
    assert s.next_open(at(1, 12)) == at(3, 0)
    assert s.effective_status(at(3, 0)) == "open"
    assert s.open_now(at(3, 0))
    # With hours, it reopens at the first opening after the closure.
    s2 = _station(hours="Mo-Fr 09:00-17:00", status="temporarily_closed", closed_until=until)
    assert s2.next_open(at(1, 12)) == at(3, 9)
    # The date boundary is Shanghai's: Wednesday 16:30 UTC is already Thursday 00:30 there.
    assert s.open_now(datetime(2026, 6, 3, 16, 30, tzinfo=UTC))


def test_temporarily_closed_without_date_has_no_reopening():
    s = _station(hours="24/7", status="temporarily_closed")
    assert not s.open_now(at(0, 12))
    assert s.next_open(at(0, 12)) is None


def test_closed_station_is_never_open():
    s = _station(hours="24/7", status="closed")
    assert not s.open_now(at(0, 12))
    assert s.next_open(at(0, 12)) is None


def test_unknown_district_is_reported_once(area):
    with pytest.raises(StationInvalid) as info:
        validate_station(_raw(district="999999"), area)
    assert [e.field for e in info.value.errors] == ["district"]


@pytest.mark.parametrize(
    ("text", "zh"),
    [
        ("Mo-Fr 09:00-17:00", "周一至周五 09:00-17:00"),
        ("Mo-Fr 08:00-20:00; Sa,Su 10:00-16:00", "周一至周五 08:00-20:00；周六、周日 10:00-16:00"),
        ("Mo,We,Fr 09:00-12:00,14:00-18:00", "周一、周三、周五 09:00-12:00，14:00-18:00"),
    ],
)
def test_hours_are_described_in_chinese(text, zh):
    assert parse_hours(text).describe_zh() == zh
