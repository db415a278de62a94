"""Opening hours and coordinates as street offices write them, each with the value it must become.

The spellings are the ones found in real rosters (docs of the domain: 周一至周日 08:00-22:00,
full-width digits, one cell "120.65,27.99", 120°39′12″E …). Hours are stored in the controlled
grammar of locator.hours and shown back in Chinese; coordinates become decimal degrees.
"""

from __future__ import annotations

import pytest

from locator.districts import load_districts
from locator.hours import HoursError, parse_hours, read_hours
from locator.stations import (
    AmbiguousPair,
    CoordinateError,
    ServiceArea,
    StationInvalid,
    read_coordinate,
    read_pair,
    validate_station,
)

HOURS = [
    # as written, stored, shown back
    ("周一至周日 08:00-22:00", "Mo-Su 08:00-22:00", "周一至周日 08:00-22:00"),
    (
        "周一至周五 9:00-18:00，周六 9:00-12:00",
        "Mo-Fr 09:00-18:00; Sa 09:00-12:00",
        "周一至周五 09:00-18:00；周六 09:00-12:00",
    ),
    ("工作日 9:00-17:00", "Mo-Fr 09:00-17:00", "周一至周五 09:00-17:00"),
    ("周末 10:00-16:00", "Sa,Su 10:00-16:00", "周六、周日 10:00-16:00"),
    ("每天 8:00-20:00", "Mo-Su 08:00-20:00", "周一至周日 08:00-20:00"),
    ("每日8时至20时", "Mo-Su 08:00-20:00", "周一至周日 08:00-20:00"),
    ("全天", "24/7", "24小时开放"),
    ("24小时", "24/7", "24小时开放"),
    ("全天24小时", "24/7", "24小时开放"),
    ("一周7天 24小时营业", "24/7", "24小时开放"),
    ("8:00—20:00", "Mo-Su 08:00-20:00", "周一至周日 08:00-20:00"),
    ("8：00-20：00", "Mo-Su 08:00-20:00", "周一至周日 08:00-20:00"),
    ("０８：００－２０：００", "Mo-Su 08:00-20:00", "周一至周日 08:00-20:00"),
    ("9:00～18:00", "Mo-Su 09:00-18:00", "周一至周日 09:00-18:00"),
    ("08:00-12:00,14:00-18:00", "Mo-Su 08:00-12:00,14:00-18:00", "周一至周日 08:00-12:00，14:00-18:00"),
    ("每天 08:00-12:00，14:00-18:00", "Mo-Su 08:00-12:00,14:00-18:00", "周一至周日 08:00-12:00，14:00-18:00"),
    ("周一至周五 8:30-12:00 14:00-17:30", "Mo-Fr 08:30-12:00,14:00-17:30", "周一至周五 08:30-12:00，14:00-17:30"),
    ("8:00-18:00（午休12:00-13:30）", "Mo-Su 08:00-12:00,13:30-18:00", "周一至周日 08:00-12:00，13:30-18:00"),
    ("周一至周日 08:00-22:00，节假日休息", "Mo-Su 08:00-22:00; PH off", "周一至周日 08:00-22:00；节假日休息"),
    ("周一至周五 9:00-17:00；法定节假日休息", "Mo-Fr 09:00-17:00; PH off", "周一至周五 09:00-17:00；节假日休息"),
    ("周末及节假日休息，工作日 8:30-17:00", "Mo-Fr 08:30-17:00; PH off", "周一至周五 08:30-17:00；节假日休息"),
    ("全天，节假日休息", "24/7; PH off", "24小时开放；节假日休息"),
    ("周一至五 9:00-17:00", "Mo-Fr 09:00-17:00", "周一至周五 09:00-17:00"),
    (
        "星期一至星期五 上午9:00-12:00 下午2:00-5:30",
        "Mo-Fr 09:00-12:00,14:00-17:30",
        "周一至周五 09:00-12:00，14:00-17:30",
    ),
    ("早8点到晚8点", "Mo-Su 08:00-20:00", "周一至周日 08:00-20:00"),
    ("8点半-17点半", "Mo-Su 08:30-17:30", "周一至周日 08:30-17:30"),
    ("9:00-次日2:00", "Mo-Su 09:00-02:00", "周一至周日 09:00-02:00"),
    ("每天 9:00-17:00，周一休息", "Tu-Su 09:00-17:00", "周二至周日 09:00-17:00"),
    ("周一休息，其余时间 9:00-17:00", "Tu-Su 09:00-17:00", "周二至周日 09:00-17:00"),
    ("周一、周三、周五 9:00-11:00", "Mo,We,Fr 09:00-11:00", "周一、周三、周五 09:00-11:00"),
    ("全年无休 9:00-21:00", "Mo-Su 09:00-21:00", "周一至周日 09:00-21:00"),
    ("9:00-17:00（周一至周五）", "Mo-Fr 09:00-17:00", "周一至周五 09:00-17:00"),
    ("周一至周五 全天", "Mo-Fr 00:00-24:00", "周一至周五 00:00-24:00"),
    ("Mo-Fr 09:00-17:00", "Mo-Fr 09:00-17:00", "周一至周五 09:00-17:00"),
    ("Mo 8-9", "Mo 08:00-09:00", "周一 08:00-09:00"),
    ("", "", "开放时间未知"),
]


@pytest.mark.parametrize(("written", "stored", "shown"), HOURS)
def test_hours_as_offices_write_them(written, stored, shown):
    """Each spelling is stored in the controlled grammar and shown back in Chinese."""
    assert read_hours(written) == stored
    assert parse_hours(stored).describe_zh() == shown


@pytest.mark.parametrize(("written", "stored", "shown"), HOURS)
def test_hours_shown_in_chinese_read_back_the_same(written, stored, shown):
    """What the edit form shows (the Chinese description) saves back to the same hours."""
    back = read_hours(shown)
    assert parse_hours(back).intervals == parse_hours(stored).intervals
    assert parse_hours(back).holidays_off == parse_hours(stored).holidays_off


def test_holidays_off_is_stored_but_open_now_is_weekly():
    """节假日休息 is kept as the PH rule; open-now has no holiday calendar and answers by the week."""
    hours = parse_hours("Mo-Su 08:00-22:00; PH off")
    assert hours.holidays_off and hours.text == "Mo-Su 08:00-22:00; PH off"
    assert len(hours.intervals) == 7


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("周一至周五", "缺少时间"),
        ("周八 9:00-17:00", "“周八”无法识别"),
        ("9:00-9:00", "开始和结束相同"),
        ("25:00-26:00", "不存在"),
        ("周一至周五 9点", "不是完整的时间段"),
        ("营业中", "无法识别"),
        ("休息", "哪几天休息"),
    ],
)
def test_unreadable_hours_say_why_in_chinese_with_examples(written, says):
    """What cannot be understood gets a Chinese reason (and examples where the writing is unknown)."""
    with pytest.raises(HoursError) as info:
        read_hours(written)
    assert says in info.value.zh
    assert info.value.zh.isascii() is False


COORDINATES = [
    # as written, axis of its column, decimal degrees
    ("120.6994", "lng", 120.6994),
    (120.6994, "lng", 120.6994),
    ("１２０．６９９４", "lng", 120.6994),
    (" 27.9939 ", "lat", 27.9939),
    ("120°39′12″E", "lng", 120 + 39 / 60 + 12 / 3600),
    ("120°39'12\"E", "lng", 120 + 39 / 60 + 12 / 3600),
    ("E120°39′12″", "lng", 120 + 39 / 60 + 12 / 3600),
    ("东经120°39′12″", "lng", 120 + 39 / 60 + 12 / 3600),
    ("120度39分12秒", "lng", 120 + 39 / 60 + 12 / 3600),
    ("27°59′24″N", "lat", 27 + 59 / 60 + 24 / 3600),
    ("北纬27°59′24″", "lat", 27 + 59 / 60 + 24 / 3600),
    ("27°59.4′", "lat", 27 + 59.4 / 60),
    ("120.6994°", "lng", 120.6994),
    ("１２０°３９′１２″", "lng", 120 + 39 / 60 + 12 / 3600),
]


@pytest.mark.parametrize(("written", "axis", "expected"), COORDINATES)
def test_coordinates_as_offices_paste_them(written, axis, expected):
    """Full-width digits, degrees-minutes-seconds and hemisphere letters all read as decimal degrees."""
    value, named = read_coordinate(written, axis)
    assert value == pytest.approx(expected, abs=1e-9)
    assert named in (None, axis)


PAIRS = [
    # one cell, the order its header gives (None: no header order), (lng, lat)
    ("120.65,27.99", None, (120.65, 27.99)),
    ("120.65，27.99", None, (120.65, 27.99)),
    ("120.65, 27.99", None, (120.65, 27.99)),
    ("27.99,120.65", None, (120.65, 27.99)),
    ("120.65 27.99", None, (120.65, 27.99)),
    ("１２０．６５，２７．９９", None, (120.65, 27.99)),
    ("E120°39′12″ N27°59′24″", None, (120 + 39 / 60 + 12 / 3600, 27 + 59 / 60 + 24 / 3600)),
    ("27°59′24″N, 120°39′12″E", None, (120 + 39 / 60 + 12 / 3600, 27 + 59 / 60 + 24 / 3600)),
    ("20.5,30.5", "lng", (20.5, 30.5)),
    ("20.5,30.5", "lat", (30.5, 20.5)),
]


@pytest.mark.parametrize(("written", "first", "expected"), PAIRS)
def test_one_cell_pairs(written, first, expected):
    """A pair in one cell: hemisphere letters, then the header's order, then the magnitudes decide."""
    lng, lat = read_pair(written, first)
    assert (lng, lat) == pytest.approx(expected, abs=1e-9)


def test_ambiguous_pair_asks_which_comes_first():
    """Two numbers that could each be the longitude: the user must say (no guess)."""
    with pytest.raises(AmbiguousPair) as info:
        read_pair("20.5,30.5")
    assert "哪个是经度" in info.value.zh


@pytest.mark.parametrize("written", ["东边", "120°75′", "120.6.5", "E120 N27 W3", "1" * 80, "120°39′12″E N"])
def test_unreadable_coordinates_say_why(written):
    """Text that is no coordinate gets a Chinese reason with an example."""
    with pytest.raises(CoordinateError) as info:
        read_coordinate(written)
    assert info.value.zh


@pytest.fixture(scope="module")
def area() -> ServiceArea:
    """Wenzhou's districts with their names (as the roster builds it)."""
    districts = load_districts()
    names = {d.code: d.name for d in districts.districts}
    return ServiceArea(districts.district_of, districts.codes, district_names=names)


def test_a_station_saves_with_office_spellings(area):
    """A record written the office way validates into the stored forms."""
    station = validate_station(
        {
            "name": "红骑瓯创·骑手驿站",
            "type": "骑手驿站",
            "lnglat": "１２０．６２，２７．９７５",
            "hours": "周一至周五 9:00-18:00，周六 9:00-12:00；节假日休息",
            "status": "正常开放",
            "district": "瓯海区",
        },
        area,
    )
    assert (station.lng, station.lat) == (120.62, 27.975)
    assert station.hours == "Mo-Fr 09:00-18:00; Sa 09:00-12:00; PH off"
    assert station.district == "330304" and station.status == "open"


def test_swapped_latitude_is_named_as_the_likely_mistake(area):
    """第 5 行「纬度」120.8102 不在 -90～90 之间：经度和纬度是否填反了？"""
    with pytest.raises(StationInvalid) as info:
        validate_station({"name": "x", "type": "骑手驿站", "lng": 27.99, "lat": 120.8102}, area, row=5)
    lat = next(e for e in info.value.errors if e.field == "lat")
    assert lat.text_zh() == "第 5 行「纬度」120.8102 不在 -90～90 之间：经度和纬度是否填反了？"


def test_district_that_disagrees_names_both_districts(area):
    """The district column says 鹿城区, the point lies in 瓯海区: both are named in Chinese."""
    with pytest.raises(StationInvalid) as info:
        validate_station({"name": "x", "type": "骑手驿站", "lng": 120.62, "lat": 27.975, "district": "鹿城区"}, area)
    district = next(e for e in info.value.errors if e.field == "district")
    assert "鹿城区" in district.message_zh and "瓯海区" in district.message_zh


def test_unknown_values_list_the_allowed_ones(area):
    """Unknown type, amenity and status list what is allowed, in Chinese."""
    raw = {"name": "x", "type": "驿站", "lng": 120.62, "lat": 27.975, "amenities": "空调", "status": "营业"}
    with pytest.raises(StationInvalid) as info:
        validate_station(raw, area)
    by_field = {e.field: e.message_zh for e in info.value.errors}
    assert "骑手驿站、党建之家、示范点、金融服务站" in by_field["type"]
    assert "“空调”" in by_field["amenities"] and "微波加热" in by_field["amenities"]
    assert "正常开放、暂停开放、已关闭" in by_field["status"]
