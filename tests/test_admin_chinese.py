"""No English on the organizers' pages: every admin page's own visible text, and every preview error.

The scan reads what a person sees: text (headings, labels, buttons, table headers, messages,
options), and the attributes people read (placeholder, title, aria-label, alt). Data values are
not the page's words: elements marked translate="no" (station ids, account names, layer names),
form values, scripts, and quoted values inside messages (“…”, 「…」: what the user wrote). Words
left must be on the allow-list of format and standard names.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import time

import pytest
from bs4 import BeautifulSoup

from locator.accounts import User
from locator.coords import CRS
from locator.formats import FORMATS
from locator.importing import preview
from tests.test_admin_import import LUCHENG, rows_for, xlsx_bytes

# The list, and the few other format and standard names the pages need.
ALLOWED = {
    # from the issue
    "CSV", "XLSX", "GeoJSON", "KML", "GeoPackage", "API", "GCJ-02", "WGS-84", "BD-09", "Excel", "ID",
    # file formats and standards named on the pages
    "JSON", "PNG", "XLS", "SQLite", "UTF-8", "UTC", "AED", "H3", "HiGHS",
}  # fmt: skip
WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")
QUOTED = re.compile(r"“[^”]*”|「[^」]*」|『[^』]*』")
SEEN_ATTRS = ("placeholder", "title", "aria-label", "alt")


def visible_words(html: bytes | str) -> set[str]:
    """ASCII words of a page's own visible text (data values excluded, see the module's docstring)."""
    soup = BeautifulSoup(html, "html.parser")
    for el in soup.select("script, style, template, noscript, [translate=no]"):
        el.decompose()
    texts = [soup.get_text(" ")]
    for el in soup.find_all(True):
        texts += [str(el[a]) for a in SEEN_ATTRS if el.has_attr(a)]
        if el.name == "input" and el.get("type") in ("submit", "button") and el.has_attr("value"):
            texts.append(str(el["value"]))
    return {w for t in texts for w in WORD.findall(QUOTED.sub("", t)) if not _allowed(w)}


def _allowed(word: str) -> bool:
    """On the allow-list (a file suffix in lower case, .xlsx, is the same name as XLSX)."""
    return word in ALLOWED or word.upper() in {a.upper() for a in ALLOWED}


def message_words(text: str) -> set[str]:
    """ASCII words of a message, the user's own quoted values left out."""
    return {w for w in WORD.findall(QUOTED.sub("", text)) if not _allowed(w)}


@pytest.fixture
def people(make_user, login):
    """Logged-in clients of each role."""
    make_user("boss", "city_admin")
    make_user("lucheng", "district_organizer", ["330302"])
    make_user("eyes", "viewer")
    return {"boss": login("boss"), "lucheng": login("lucheng"), "eyes": login("eyes")}


def _post_file(web, data: bytes, name: str, **fields):
    form = {"csrf_token": web.csrf, "crs": "wgs84", "file": (io.BytesIO(data), name), **fields}
    return web.post("/admin/import/preview", data=form, content_type="multipart/form-data")


def _gpkg_with_two_layers(tmp_path) -> bytes:
    import geopandas as gpd
    from shapely.geometry import Point

    path = tmp_path / "two.gpkg"
    for layer in ("points_a", "points_b"):
        frame = gpd.GeoDataFrame({"name": ["甲"]}, geometry=[Point(*LUCHENG)], crs="EPSG:4326")
        frame.to_file(path, layer=layer, driver="GPKG")
    return path.read_bytes()


def _coverage_done(web, url: str) -> bytes:
    deadline = time.monotonic() + 120
    while True:
        resp = web.get(url)
        soup = BeautifulSoup(resp.data, "html.parser")
        if soup.select_one("#progress") is None or time.monotonic() > deadline:
            return resp.data
        time.sleep(0.3)


def test_every_admin_page_speaks_chinese(app, roster, people, tmp_path):
    """Every page an organizer can reach, in every state we can put it in, has no English word of its own."""
    boss, organizer, viewer = people["boss"], people["lucheng"], people["eyes"]
    station = roster.store.list()[0]
    pages: dict[str, bytes] = {"login": app.test_client().get("/admin/login").data}
    for who, web in people.items():
        pages[f"{who}: dashboard"] = web.get("/admin/").data
        pages[f"{who}: stations"] = web.get("/admin/stations").data
        pages[f"{who}: station"] = web.get(f"/admin/stations/{station.id}").data
        pages[f"{who}: own password"] = web.get("/admin/account/password").data
        pages[f"{who}: coverage layers"] = web.get("/admin/coverage/layers").data
    pages["filtered list"] = boss.get("/admin/stations?district=330302&status=open&stale=1&sample=1&q=驿").data
    pages["new station"] = boss.get("/admin/stations/new").data
    bad = {"csrf_token": boss.csrf, "name": "", "type": "rider_station", "pair": "20.5,30.5", "crs": "bd09"}
    pages["new station with errors"] = boss.post("/admin/stations/new", data=bad).data
    bad = {
        "csrf_token": boss.csrf,
        "name": "甲",
        "type": "rider_station",
        "lng": "abc",
        "lat": "120.8",
        "hours": "周八",
    }
    pages["new station, more errors"] = boss.post("/admin/stations/new", data=bad).data
    pages["delete confirmation"] = boss.get(f"/admin/stations/{station.id}/delete").data
    pages["audit"] = boss.get(f"/admin/stations/{station.id}/audit").data
    resp = boss.post(f"/admin/stations/{station.id}/delete", data={"csrf_token": boss.csrf, "version": station.version})
    pages["deleted, with undo"] = boss.get(resp.headers["Location"]).data
    pages["audit of a deleted station"] = boss.get(f"/admin/stations/{station.id}/audit").data
    pages["import"] = boss.get("/admin/import").data
    rows = rows_for(3)
    rows[0][5], rows[1][8], rows[2][6] = 120.8, "空调", "周八 9:00"
    pages["import preview with errors"] = _post_file(boss, xlsx_bytes(rows), "r.xlsx").data
    pages["import, a bad file"] = _post_file(boss, b"PK\x03\x04 broken", "r.xlsx").data
    pages["import, layer choice"] = _post_file(boss, _gpkg_with_two_layers(tmp_path), "two.gpkg").data
    good = _post_file(boss, xlsx_bytes(rows_for(3)), "ok.xlsx", replace="1")
    pages["import preview"] = good.data
    form = {i["name"]: i.get("value", "") for i in BeautifulSoup(good.data, "html.parser").select("#commit-form input")}
    done = boss.post("/admin/import/commit", data=form)
    pages["import done"] = done.data
    link = BeautifulSoup(done.data, "html.parser").select_one("#imported-list")["href"]
    pages["imported stations"] = boss.get(link).data
    pages["users"] = boss.get("/admin/users").data
    weak = {"csrf_token": boss.csrf, "name": "new one", "role": "district_organizer", "password": "1234567890"}
    pages["users, refused"] = boss.post("/admin/users", data=weak).data
    pages["own password, refused"] = boss.post("/admin/account/password", data={"csrf_token": boss.csrf}).data
    pages["viewer's 403"] = viewer.post("/admin/stations/new", data={"csrf_token": viewer.csrf}).data
    pages["organizer's 403"] = organizer.get("/admin/users").data
    pages["404"] = boss.get("/admin/stations/no-such-station").data
    pages["coverage"] = _coverage_done(boss, "/admin/coverage?radius_m=1000&suggest=1")
    pages["coverage, organizer"] = _coverage_done(organizer, "/admin/coverage?radius_m=1000")
    found = {name: sorted(visible_words(html)) for name, html in pages.items()}
    bad = {name: words for name, words in found.items() if words}
    assert not bad, json.dumps(bad, ensure_ascii=False, indent=1)
    assert len(pages) > 30


def test_every_preview_error_speaks_chinese(roster):
    """Each kind of row error (and warning) an import can give: no English outside the user's own quoted values."""
    headers = ["名称", "类型", "区县", "经度", "纬度", "开放时间", "服务设施", "状态", "暂停至", "编号"]
    lng, lat = LUCHENG
    rows = [
        ["", "骑手驿站", "", lng, lat, "", "", "", "", ""],  # name missing
        ["甲", "奶茶店", "", lng, lat, "", "", "", "", ""],  # unknown type
        ["乙", "", "", lng, lat, "", "", "", "", ""],  # type missing
        ["丙", "骑手驿站", "", "", lat, "", "", "", "", ""],  # longitude missing
        ["丁", "骑手驿站", "", "abc", lat, "", "", "", "", ""],  # not a coordinate
        ["戊", "骑手驿站", "", lat, 120.8, "", "", "", "", ""],  # swapped
        ["己", "骑手驿站", "", 200, lat, "", "", "", "", ""],  # out of range
        ["庚", "骑手驿站", "", 116.4, 39.9, "", "", "", "", ""],  # Beijing
        ["辛", "骑手驿站", "瓯海区", lng, lat, "", "", "", "", ""],  # district disagrees
        ["壬", "骑手驿站", "温州区", lng, lat, "", "", "", "", ""],  # no such district
        ["癸", "骑手驿站", "", lng, lat, "周八 9:00-17:00", "", "", "", ""],  # hours
        ["子", "骑手驿站", "", lng, lat, "周一至周五", "按摩椅", "", "", ""],  # hours without times, amenity
        ["丑", "骑手驿站", "", lng, lat, "", "", "营业", "", ""],  # status
        ["寅", "骑手驿站", "", lng, lat, "", "", "正常开放", "下周", ""],  # date, and not paused
        ["卯", "骑手驿站", "", lng, lat, "", "", "", "", "bad id!"],  # id
        ["辰", "骑手驿站", "", lng, lat, "", "", "", "", ""],
        ["辰", "骑手驿站", "", lng, lat, "", "", "", "", ""],  # duplicate
        ["巳", "骑手驿站", "", lng, lat, "", "", "", "", "x" * 70],  # id too long
        ["午", "骑手驿站", "", "120°75′", lat, "", "", "", "", ""],  # impossible minutes
        ["未", "骑手驿站", "", 121.5, 27.8, "", "", "", "", ""],  # at sea, outside
        ["申", "骑手驿站", "", "=1+1", lat, "", "", "", "", ""],  # formula
    ]
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for row in rows:
        ws.append(row)
    ws["D23"] = "=120+0.5"
    buf = io.BytesIO()
    wb.save(buf)
    organizer = User(9, "lucheng", "district_organizer", ("330304",))
    result = preview(roster, buf.getvalue(), FORMATS["xlsx"], CRS.WGS84, user=organizer, replace=False)
    assert len(result.errors) >= 20
    texts = [e.text_zh() for e in result.errors] + result.warning_report()
    bad = {t: sorted(message_words(t)) for t in texts if message_words(t)}
    assert bad == {}
    kinds = {e.field for e in result.errors}
    assert {
        "name",
        "type",
        "lng",
        "lat",
        "location",
        "district",
        "hours",
        "amenities",
        "status",
        "closed_until",
    } <= kinds


def test_file_level_errors_speak_chinese(roster):
    """Files that cannot be read at all: the message an organizer sees is Chinese."""
    from locator.formats import FileInvalid

    admin = User(0, "boss", "city_admin")
    broken = [
        (b"", "xlsx"),
        (b"PK\x03\x04 broken", "xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "xlsx"),
        (b"\xff\xfe\x00\xd8garbage\x81", "csv"),
        ("名称,地址\n某站,某路\n".encode("gbk"), "csv"),
        ("经度,纬度\n120,28\n".encode(), "csv"),
        (b"", "csv"),
        (b'{"type": "Feature"', "geojson"),
        (b'{"type": "Feature"}', "geojson"),
        (b"<kml><Document></Document></kml>", "kml"),
        (b'<!DOCTYPE kml [<!ENTITY a "aaaa">]><kml>&a;</kml>', "kml"),
        (b"<kml><Placemark>", "kml"),
        (b"not sqlite", "gpkg"),
        (xlsx_bytes([]), "xlsx"),
    ]
    for data, fmt in broken:
        with pytest.raises(FileInvalid) as info:
            preview(roster, data, FORMATS[fmt], CRS.WGS84, user=admin, replace=False)
        assert info.value.detail_zh and not message_words(info.value.detail_zh), (fmt, data[:30], info.value.detail_zh)


def test_scanner_catches_english(app):
    """The scan itself: an English word in a page's text is found, a data value marked translate=no is not."""
    assert visible_words("<p>Save <span translate='no'>st-123</span> 保存</p>") == {"Save"}
    assert visible_words("<input placeholder='Mo-Fr 08:00'><button>确定</button>") == {"Mo-Fr"}
    assert message_words("「lat」“abc”不是坐标：请填写 120.6994") == set()
    # accounts exist only in SQLite: nothing here needs the file itself
    assert sqlite3.sqlite_version
