"""Exports: import(export(x)) gives x back for every format; formula cells are neutralised."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from locator.coords import CRS
from locator.formats import EXPORT_FORMATS, export_bytes
from locator.io import plan_import
from locator.stations import Station
from locator.store.base import StationQuery, station_fields_json


def _tricky(roster) -> list[Station]:
    """The sample roster plus a station whose text would run as a spreadsheet formula."""
    stations = roster.store.list()
    first = stations[0]
    evil = Station(
        **{
            **first.__dict__,
            "id": "evil-1",
            "name": '=HYPERLINK("http://x")',
            "address": "+1 路, 'quoted'",
            "contact": "@admin",
            "note": "-2+3 第二行",
            "status": "temporarily_closed",
            "closed_until": __import__("datetime").date(2026, 12, 31),
        }
    )
    return [*stations, evil]


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_import_of_export_gives_the_stations_back(roster, fmt):
    """Every export format reads back to the same editable fields, station by station."""
    stations = _tricky(roster)
    data = export_bytes(stations, fmt)
    districts = {d.code: d.name for d in roster.districts.districts}
    plan = plan_import(data, fmt, CRS.WGS84, roster.validate, districts)
    assert plan.ok, plan.report()[:5]
    back = {s.id: station_fields_json(s) for s in plan.stations}
    assert back == {s.id: station_fields_json(s) for s in stations}


def test_export_filtered_by_district_and_type(roster, make_user, login):
    """The admin export honours ?district= and ?type=."""
    make_user("boss", "city_admin")
    web = login("boss")
    resp = web.get("/admin/export?format=geojson&district=330304&type=rider_station")
    assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
    features = resp.json["features"]
    expected = roster.store.count(StationQuery(districts=("330304",), types=("rider_station",)))
    assert len(features) == expected > 0
    assert {f["properties"]["district"] for f in features} == {"330304"}
    bad = web.get("/admin/export?format=docx")
    assert bad.status_code == 400


def test_csv_export_has_bom_and_neutralised_formulas(roster):
    """CSV: UTF-8 with BOM; cells beginning with =, +, -, @ are prefixed with a quote."""
    data = export_bytes(_tricky(roster), "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'@admin" in text and "'+1 路" in text


def test_xlsx_export_holds_no_formulas(roster):
    """XLSX: a name beginning with = is stored as text, not as a formula."""
    data = export_bytes(_tricky(roster), "xlsx")
    ws = load_workbook(io.BytesIO(data)).active
    types = {c.data_type for row in ws.iter_rows() for c in row}
    assert "f" not in types
    names = [row[1] for row in ws.iter_rows(values_only=True)]
    assert '\'=HYPERLINK("http://x")' in names
