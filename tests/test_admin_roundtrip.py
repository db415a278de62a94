"""Exports: import(export(x)) gives x back for every format; formula cells are neutralised."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from locator.coords import CRS
from locator.formats import FORMATS
from locator.importing import plan
from locator.stations import Station
from locator.store.base import StationQuery


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


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_of_export_gives_the_stations_back(roster, fmt):
    """Every export format reads back to the same editable fields, station by station."""
    stations = _tricky(roster)
    data = FORMATS[fmt].write(stations, CRS.WGS84)
    planned = plan(roster, data, FORMATS[fmt], CRS.WGS84)
    assert not planned.errors, planned.errors[:5]
    back = {s.id: s.record() for s in planned.stations}
    assert back == {s.id: s.record() for s in stations}


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
    data = FORMATS["csv"].write(_tricky(roster), CRS.WGS84)
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'@admin" in text and "'+1 路" in text


def test_xlsx_export_holds_no_formulas(roster):
    """XLSX: a name beginning with = is stored as text, not as a formula."""
    data = FORMATS["xlsx"].write(_tricky(roster), CRS.WGS84)
    ws = load_workbook(io.BytesIO(data)).active
    types = {c.data_type for row in ws.iter_rows() for c in row}
    assert "f" not in types
    names = [row[1] for row in ws.iter_rows(values_only=True)]
    assert '\'=HYPERLINK("http://x")' in names
