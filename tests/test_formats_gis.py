"""Roster files as GIS tools, pandas and spreadsheets write them (issue 13, findings 1–4 and 9).

The files here are written the way GDAL/QGIS/geopandas write them, without the tools themselves
(tests/test_interop.py runs the real ogr2ogr, ogrinfo and OWSLib): GDAL StringList text, JSON and
numpy list spellings, NaT dates, KML SchemaData, ogr2ogr CSV conventions, several GeoPackage layers,
coordinate headers that name their system, and the GeoPackage export's version and column types.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import date

import numpy as np
import pandas as pd
import pytest

from locator import importing
from locator.accounts import User
from locator.coords import CRS, from_wgs84
from locator.formats import FORMATS, ExportSystemUnsupported, LayerChoiceNeeded, export
from locator.formats.base import canonical_row, parse_list_text

ADMIN = User(0, "test", "city_admin")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("(2:water,aed)", ["water", "aed"]),  # GDAL StringList as text (GPKG, KML, CSV)
        ("(0:)", []),
        ('[ "water", "aed" ]', ["water", "aed"]),  # ogr2ogr CSV, GeoJSON-in-a-cell
        ("['water' 'aed']", ["water", "aed"]),  # str(numpy array)
        ("array(['water', 'aed'], dtype=object)", ["water", "aed"]),  # repr(numpy array)
        ("['微波加热', '免费茶饮']", ["微波加热", "免费茶饮"]),  # str(list)
        (np.array(["water", "aed"], dtype=object), ["water", "aed"]),  # pyogrio list columns
        ("water;aed", "water;aed"),  # our own spelling: left to validation, which splits it
    ],
)
def test_amenity_list_spellings(written, expected):
    row, _ = canonical_row({"amenities": written})
    assert row["amenities"] == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (pd.NaT, None),
        (None, None),
        (float("nan"), None),
        (pd.Timestamp("2027-01-31"), date(2027, 1, 31)),
        (np.datetime64("2027-01-31"), date(2027, 1, 31)),
        ("2027/01/31", "2027-01-31"),  # ogr2ogr CSV and KML
        ("2027/1/3", "2027-01-03"),
        ("2027年1月31日", "2027-01-31"),
        ("2027-01-31 00:00:00", "2027-01-31"),  # Excel dates typed as text
        ("2027-01-31", "2027-01-31"),
        ("31/01/2027", "31/01/2027"),  # ambiguous: validation names it
    ],
)
def test_date_spellings(written, expected):
    row, _ = canonical_row({"closed_until": written})
    assert row["closed_until"] == expected


def test_pandas_and_numpy_values_become_plain():
    row, _ = canonical_row(
        {"district": 330304.0, "approximate": np.True_, "contact": pd.NA, "lng": np.float64(120.6), "lat": "28"}
    )
    assert row == {"district": 330304, "approximate": True, "contact": None, "lng": 120.6, "lat": "28"}
    assert isinstance(row["lng"], float) and type(row["approximate"]) is bool
    assert parse_list_text("[not json") is None


@pytest.mark.parametrize(
    "hostile",
    [
        "经度" + " " * 100_000 + "x",  # a header that once took seconds per thousand characters
        " " * 100_000 + "gcj02",
        "a" * 100_000 + "(GCJ-02)",
    ],
)
def test_hostile_headers_name_nothing_quickly(hostile):
    row, unknown = canonical_row({hostile: "1", "name": "x"})
    assert row == {"name": "x"} and unknown == [hostile]


@pytest.mark.parametrize(
    "hostile",
    [
        "[" * 100_000,
        "array(" + "[" * 100_000,
        "(" + "9" * 100_000 + ":a)",
        "['" + "a" * 100_000,
        "(2:" + "a," * 50_000 + ")",
    ],
)
def test_hostile_list_cells_are_left_to_validation(hostile):
    row, _ = canonical_row({"amenities": hostile})
    assert row["amenities"] == hostile


def test_hostile_and_odd_geopackages(roster, tmp_path):
    import sqlite3

    import pyogrio

    plain = tmp_path / "plain.sqlite"
    with sqlite3.connect(plain) as db:
        db.execute("CREATE TABLE t (a)")
    with pytest.raises(importing.FileInvalid, match="GeoPackage"):
        _preview(roster, plain.read_bytes(), "gpkg")
    with pytest.raises(importing.FileInvalid, match="not a GeoPackage"):
        _preview(roster, b"PK\x03\x04 not sqlite", "gpkg")
    # An attribute table (no geometry) is read like a sheet, from its 经度/纬度 columns.
    table = tmp_path / "table.gpkg"
    frame = pd.DataFrame({"名称": ["瓯海驿站"], "类型": ["骑手驿站"], "经度": [120.6398], "纬度": [27.9552]})
    pyogrio.write_dataframe(frame, table, layer="名册", driver="GPKG")
    (station,) = _preview(roster, table.read_bytes(), "gpkg").stations
    assert station.district == "330304"


def _preview(roster, data: bytes, fmt: str, crs: CRS = CRS.WGS84, layer: str | None = None):
    return importing.preview(roster, data, FORMATS[fmt], crs, user=ADMIN, replace=True, layer=layer)


def _unchanged(result, roster) -> None:
    assert result.report() == []
    assert (len(result.added), len(result.changed), len(result.closed), len(result.removed)) == (0, 0, 0, 0)
    assert len(result.unchanged) == roster.store.count()


def _gdal_kml(roster) -> bytes:
    """KML as ogr2ogr and QGIS write it: SchemaData/SimpleData, lists as StringList, dates with slashes."""
    marks = []
    for s in roster.store.list():
        rec = s.record()
        cells = "".join(
            f'<SimpleData name="{k}">{v}</SimpleData>'
            for k, v in (
                ("id", rec["id"]),
                ("type", rec["type"]),
                ("district", rec["district"]),
                ("address", rec["address"]),
                ("amenities", f"({len(rec['amenities'])}:{','.join(rec['amenities'])})"),
                ("hours", rec["hours"]),
                ("contact", rec["contact"]),
                ("operator", rec["operator"]),
                ("status", rec["status"]),
                ("closed_until", rec["closed_until"] and rec["closed_until"].replace("-", "/")),
                ("provenance", rec["provenance"]),
                ("approximate", int(rec["approximate"])),
                ("note", rec["note"]),
            )
            if v is not None and v != ""
        )
        marks.append(
            f'<Placemark><name>{rec["name"]}</name><ExtendedData><SchemaData schemaUrl="#stations">{cells}'
            f"</SchemaData></ExtendedData><Point><coordinates>{rec['lng']},{rec['lat']}</coordinates></Point>"
            "</Placemark>"
        )
    body = "".join(marks)
    return (
        '<?xml version="1.0" encoding="utf-8" ?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f"<Folder><name>stations</name>{body}</Folder></Document></kml>"
    ).encode()


def test_kml_as_gdal_writes_it_imports_unchanged(roster):
    """Finding 2: <SchemaData><SimpleData> is read (it was refused: 'type: is required' on every row)."""
    _unchanged(_preview(roster, _gdal_kml(roster), "kml"), roster)


def _ogr2ogr_csv(roster) -> bytes:
    """CSV as ogr2ogr -lco GEOMETRY=AS_XY writes it: X,Y first, JSON lists, dates with slashes, 1/0 flags."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    columns = ["id", "name", "type", "district", "address", "amenities", "hours", "contact", "operator"]
    columns += ["status", "closed_until", "provenance", "approximate", "note"]
    writer.writerow(["X", "Y", *columns])
    for s in roster.store.list():
        rec = s.record()
        rec["amenities"] = "[ " + ", ".join(json.dumps(a) for a in rec["amenities"]) + " ]"
        rec["closed_until"] = rec["closed_until"] and rec["closed_until"].replace("-", "/")
        rec["approximate"] = int(rec["approximate"])
        writer.writerow([rec["lng"], rec["lat"], *("" if rec[c] is None else rec[c] for c in columns)])
    return buf.getvalue().encode("utf-8")


def test_csv_as_ogr2ogr_writes_it_imports_unchanged(roster):
    """Finding 3: amenities as [ "water", "aed" ] and dates as 2027/01/31 are read."""
    _unchanged(_preview(roster, _ogr2ogr_csv(roster), "csv"), roster)


def test_csv_with_a_wkt_column_imports_unchanged(roster):
    rows = list(csv.reader(io.StringIO(_ogr2ogr_csv(roster).decode())))
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["WKT", *rows[0][2:]])
    for row in rows[1:]:
        writer.writerow([f"POINT ({row[0]} {row[1]})", *row[2:]])
    _unchanged(_preview(roster, text.getvalue().encode(), "csv"), roster)


def _gpkg(path, layers: dict) -> bytes:
    """A GeoPackage with the given layers {name: GeoDataFrame}, written by geopandas (pyogrio)."""
    for name, frame in layers.items():
        frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    return path.read_bytes()


def _roster_frame(roster, *, dates_as_datetime: bool = True, lists: str = "stringlist"):
    """The roster as geopandas holds it after reading a GIS file: NaT dates, lists in some spelling."""
    import geopandas as gpd
    from shapely.geometry import Point

    records = [s.record() for s in roster.store.list()]
    frame = pd.DataFrame(records).drop(columns=["lng", "lat"])
    if dates_as_datetime:
        frame["closed_until"] = pd.to_datetime(frame["closed_until"])  # empty cells become NaT
    spell = {
        "stringlist": lambda v: f"({len(v)}:{','.join(v)})",
        "json": lambda v: json.dumps(v),
        "numpy": lambda v: str(np.array(v)),
    }[lists]
    frame["amenities"] = frame["amenities"].map(spell)
    geometry = [Point(r["lng"], r["lat"]) for r in records]
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


@pytest.mark.parametrize("lists", ["stringlist", "json", "numpy"])
def test_geopackage_with_nat_dates_and_list_spellings_imports_unchanged(roster, tmp_path, lists):
    """Finding 1: empty dates (NaT) are empty, not 'closed_until: applies only to status temporarily_closed'."""
    data = _gpkg(tmp_path / "roster.gpkg", {"stations": _roster_frame(roster, lists=lists)})
    _unchanged(_preview(roster, data, "gpkg"), roster)


def _polygons(roster):
    import geopandas as gpd

    rows = [{"code": d.code, "name": d.name} for d in roster.districts.districts]
    geoms = [d.geometry for d in roster.districts.districts]
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")


def test_geopackage_layer_choice(roster, tmp_path):
    """Finding 4: a named layer, else 'stations', else the only point layer, else a choice listing the layers."""
    points = _roster_frame(roster)
    named = _gpkg(tmp_path / "a.gpkg", {"districts": _polygons(roster), "stations": points, "more": points.head(3)})
    _unchanged(_preview(roster, named, "gpkg"), roster)
    only_points = _gpkg(tmp_path / "b.gpkg", {"districts": _polygons(roster), "驿站": points})
    _unchanged(_preview(roster, only_points, "gpkg"), roster)
    two = _gpkg(tmp_path / "c.gpkg", {"districts": _polygons(roster), "old": points.head(3), "new": points})
    with pytest.raises(LayerChoiceNeeded) as caught:
        _preview(roster, two, "gpkg")
    assert caught.value.layers == ["districts", "old", "new"]
    assert "old" in str(caught.value) and "new" in caught.value.detail_zh
    _unchanged(_preview(roster, two, "gpkg", layer="new"), roster)
    assert len(_preview(roster, two, "gpkg", layer="old").removed) == roster.store.count() - 3
    with pytest.raises(LayerChoiceNeeded, match="no layer 'nope'"):
        _preview(roster, two, "gpkg", layer="nope")
    with pytest.raises(importing.FileInvalid, match="no layers"):
        _preview(roster, _gdal_kml(roster), "kml", layer="stations")


def test_layer_option_on_the_cli(app, roster, tmp_path):
    points = _roster_frame(roster)
    path = tmp_path / "two.gpkg"
    _gpkg(path, {"old": points.head(3), "new": points})
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["import", str(path), "--crs", "wgs84", "--dry-run"])
    assert refused.exit_code == 1 and "old" in refused.output and "new" in refused.output
    assert "请选择要导入的图层" in refused.output
    chosen = runner.invoke(args=["import", str(path), "--crs", "wgs84", "--dry-run", "--layer", "new"])
    assert chosen.exit_code == 0, chosen.output
    assert f"{roster.store.count()} unchanged" in chosen.output


def test_layer_choice_in_the_admin_and_the_token_api(app, roster, tmp_path, make_user, login, api_token):
    from bs4 import BeautifulSoup

    points = _roster_frame(roster)
    data = _gpkg(tmp_path / "two.gpkg", {"old": points.head(3), "new": points})
    admin = make_user("admin", "city_admin")
    web = login("admin")
    form = {"csrf_token": web.csrf, "crs": "wgs84", "replace": "1"}
    page = web.post("/admin/import/preview", data={**form, "file": (io.BytesIO(data), "two.gpkg")})
    assert page.status_code == 200  # a question: which layer?
    soup = BeautifulSoup(page.data, "html.parser")
    assert "2 个图层" in soup.select_one("#file-error").text  # the layers are offered in the choice below
    choice = soup.select_one("#layer-form")
    assert [o["value"] for o in choice.select("#layer-choice option")] == ["old", "new"]
    hidden = {i["name"]: i.get("value", "") for i in choice.select("input[type=hidden]")}
    preview = web.post("/admin/import/preview", data={**hidden, "layer": "new"})
    assert preview.status_code == 200
    soup = BeautifulSoup(preview.data, "html.parser")
    assert soup.select_one("#n-errors").text == "0" and soup.select_one("#n-removed").text == "0"
    commit = {i["name"]: i.get("value", "") for i in soup.select("#commit-form input")}
    assert commit["layer"] == "new"
    done = web.post("/admin/import/commit", data=commit)
    assert done.status_code == 200 and BeautifulSoup(done.data, "html.parser").select_one("#import-done")

    token = api_token(admin)
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    upload = {"crs": "wgs84", "dry_run": "1", "replace": "1"}
    refused = api.post("/api/v1/admin/import", headers=headers, data={**upload, "file": (io.BytesIO(data), "t.gpkg")})
    assert refused.status_code == 400 and refused.get_json()["layers"] == ["old", "new"]
    assert refused.get_json()["parameter"] == "layer"
    body = {**upload, "layer": "old", "file": (io.BytesIO(data), "t.gpkg")}
    chosen = api.post("/api/v1/admin/import", headers=headers, data=body)
    assert chosen.status_code == 200 and chosen.get_json()["counts"]["removed"] == roster.store.count() - 3


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("crs", [CRS.GCJ02, CRS.BD09])
def test_gcj02_and_bd09_exports_name_their_system_and_import_back(roster, fmt, crs):
    """Finding 9: CSV/XLSX name the system in the coordinate headers, and the import reads them back."""
    stations = roster.store.list()
    data = export(FORMATS[fmt], stations, crs)
    label = {CRS.GCJ02: "GCJ-02", CRS.BD09: "BD-09"}[crs]
    if fmt == "csv":
        header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    else:
        from openpyxl import load_workbook

        header = [c.value for c in next(load_workbook(io.BytesIO(data)).worksheets[0].iter_rows())]
    assert f"经度({label})" in header and f"纬度({label})" in header and "lng" not in header
    # The headers win over the declared system: declaring WGS-84 by mistake still reads GCJ-02/BD-09.
    for declared in (crs, CRS.WGS84):
        result = _preview(roster, data, fmt, declared)
        assert result.report() == [] and len(result.changed) == 0 and len(result.unchanged) == len(stations)


def test_gcj02_coordinates_are_converted_from_named_headers(empty_app):
    roster = empty_app.extensions["roster"]
    x, y = from_wgs84(120.6398, 27.9552, CRS.GCJ02)
    text = f"名称,类型,经度（GCJ-02）,纬度（GCJ-02）\n红骑瓯创,骑手驿站,{x},{y}\n".encode()
    (station,) = _preview(roster, text, "csv").stations
    assert abs(station.lng - 120.6398) < 1e-6 and abs(station.lat - 27.9552) < 1e-6
    mixed = f"名称,类型,经度(GCJ-02),纬度(BD-09)\n红骑瓯创,骑手驿站,{x},{y}\n".encode()
    with pytest.raises(importing.FileInvalid, match="different coordinate systems"):
        _preview(roster, mixed, "csv")


@pytest.mark.parametrize("fmt", ["geojson", "kml", "gpkg"])
def test_wgs84_only_formats_refuse_other_systems(roster, fmt):
    with pytest.raises(ExportSystemUnsupported) as caught:
        export(FORMATS[fmt], roster.store.list(), CRS.GCJ02)
    assert "CSV (.csv)" in str(caught.value) and "Excel 工作簿 (.xlsx)" in caught.value.detail_zh
    assert caught.value.http_status == 400


def test_geopackage_export_is_version_1_3_with_typed_columns(roster, tmp_path):
    """Finding 9: GeoPackage 1.3 (GDAL 3.6 warns on 1.4), dates as Date, flags as Boolean."""
    import pyogrio

    path = tmp_path / "stations.gpkg"
    path.write_bytes(export(FORMATS["gpkg"], roster.store.list()))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10300
        types = dict(db.execute("SELECT name, type FROM pragma_table_info('stations')").fetchall())
    assert types["closed_until"] == "DATE" and types["approximate"] == "BOOLEAN" and types["name"] == "TEXT"
    info = pyogrio.read_info(path, layer="stations")
    assert info["crs"] == "EPSG:4326" and info["geometry_type"] == "Point"
    assert info["features"] == roster.store.count()
    _unchanged(_preview(roster, path.read_bytes(), "gpkg"), roster)


@pytest.mark.browser
def test_layer_choice_on_the_import_page_in_chromium(browser_page, make_user, roster, tmp_path):
    """An organizer uploads a two-layer GeoPackage on a phone, picks the layer offered, previews and commits."""
    make_user("boss", "city_admin")
    path = tmp_path / "项目.gpkg"
    _gpkg(path, {"old": _roster_frame(roster).head(3), "new": _roster_frame(roster)})
    page = browser_page.page
    page.goto(browser_page.base_url + "/admin/login?next=/admin/import")
    page.fill("input[name=name]", "boss")
    page.fill("input[name=password]", "password123")
    page.locator("#login-form button[type=submit]").tap()
    page.wait_for_url("**/admin/import")
    page.set_input_files("#file", str(path))
    page.select_option("#crs", "wgs84")
    page.locator("#preview-button").tap()
    page.wait_for_selector("#layer-form")
    assert "请在下面选择要导入的图层" in page.text_content("#file-error")
    assert page.locator("#layer-choice option").all_text_contents() == ["old", "new"]
    browser_page.screenshot("admin-import-layer-question")
    page.select_option("#layer-choice", "new")
    page.locator("#layer-preview").tap()
    page.wait_for_selector("#preview")
    assert page.text_content("#n-errors") == "0" and page.text_content("#n-added") == "0"
    browser_page.screenshot("admin-import-layer-choice")
    page.locator("#commit").tap()
    page.wait_for_selector("#import-done")
    assert roster.store.count() == 200
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    assert browser_page.foreign_requests == [] and browser_page.console_errors == []
