"""Roster files beyond CSV/GeoJSON: XLSX (openpyxl), KML (standard-library XML), GeoPackage (GDAL).

Readers yield (row number, raw row dict) like locator.io's; writers take stations and give bytes.
Heavy libraries are imported inside the functions: this module is never on a rider's request path.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any
from xml.etree import ElementTree as ET

from locator.coords import CRS, from_wgs84
from locator.io import CSV_COLUMNS, FileInvalid, neutralise_formula
from locator.serialize import roster_record
from locator.stations import Station

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .xlsx and old .xls are OLE compound files
KML_NS = "http://www.opengis.net/kml/2.2"
TEMPLATE_HEADERS = (
    "名称",
    "类型",
    "区县",
    "地址",
    "经度",
    "纬度",
    "开放时间",
    "联系电话",
    "服务设施",
    "运营单位",
    "状态",
)
TEMPLATE_EXAMPLE = (
    "红骑瓯创·骑手驿站",
    "骑手驿站",
    "瓯海区",
    "温州市瓯海区娄桥街道中央商务区",
    120.6398,
    27.9552,
    "Mo-Su 08:00-20:00",
    "0577-88888888",
    "舒心歇脚点、微波加热、免费茶饮、手机充电",
    "娄桥街道",
    "正常开放",
)


def _record_cells(station: Station, crs: CRS) -> list[Any]:
    rec = roster_record(station)
    rec["lng"], rec["lat"] = (round(v, 7) for v in from_wgs84(rec["lng"], rec["lat"], crs))
    rec["amenities"] = ";".join(rec["amenities"])
    rec["approximate"] = "true" if rec["approximate"] else "false"
    return [rec[c] for c in CSV_COLUMNS]


# -- XLSX ------------------------------------------------------------------------------------


def _cell_text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) > 1000:
        return str(int(value))  # phone numbers typed as numbers
    if isinstance(value, int | float):
        return value
    return str(value)


def read_xlsx_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of the first sheet; a cell holding a formula makes that row an error (values, not formulas)."""
    if data.startswith(OLE_MAGIC):
        raise FileInvalid(
            "the workbook is password-protected (encrypted) or an old .xls file: remove the password "
            "(文件 → 信息 → 保护工作簿) and save as .xlsx"
        )
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise FileInvalid(f"not a readable .xlsx workbook ({exc.__class__.__name__})") from None
    try:
        ws = wb.worksheets[0] if wb.worksheets else None
        if ws is None:
            raise FileInvalid("the workbook has no sheet")
        rows = ws.iter_rows()
        header_row = next(rows, None)
        if header_row is None:
            raise FileInvalid("the sheet is empty: the first row must hold the column headers")
        headers = [str(c.value).strip() if c.value is not None else "" for c in header_row]
        if not any(headers):
            raise FileInvalid("the first row of the sheet must hold the column headers (名称, 经度, 纬度 …)")
        for number, cells in enumerate(rows, start=2):
            raw: dict[str, Any] = {}
            formulas = []
            for header, cell in zip(headers, cells, strict=False):
                if not header:
                    continue
                value = cell.value
                if cell.data_type == "f" or (isinstance(value, str) and value.startswith("=") and len(value) > 1):
                    formulas.append(header)
                    continue
                raw[header] = _cell_text(value)
            if not any(v not in (None, "") for v in raw.values()) and not formulas:
                continue  # blank row
            if formulas:
                raw["__error__"] = (
                    f"cell(s) {', '.join(formulas)} hold a formula: paste values only (选择性粘贴 → 数值)"
                )
                raw["__field__"] = formulas[0]
            yield number, raw
    finally:
        wb.close()


def _write_sheet(ws, header: Iterable[str], rows: Iterable[list[Any]]) -> None:
    ws.append(list(header))
    for row in rows:
        ws.append([neutralise_formula(v) if isinstance(v, str) else v for v in row])


def export_xlsx(stations: Iterable[Station], crs: CRS = CRS.WGS84) -> bytes:
    """One sheet, one row per station, the same columns as the CSV export; formulas neutralised."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "驿站名册"
    _write_sheet(ws, CSV_COLUMNS, (_record_cells(s, crs) for s in stations))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def template_xlsx() -> bytes:
    """The import template: Chinese headers and one example row."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "驿站名册"
    _write_sheet(ws, TEMPLATE_HEADERS, [list(TEMPLATE_EXAMPLE)])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def template_csv() -> bytes:
    """The import template as UTF-8 CSV with BOM."""
    import csv

    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(TEMPLATE_HEADERS)
    writer.writerow(TEMPLATE_EXAMPLE)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


# -- KML -------------------------------------------------------------------------------------


def export_kml(stations: Iterable[Station], crs: CRS = CRS.WGS84) -> bytes:
    """KML 2.2: a Placemark per station, fields in ExtendedData (KML itself means WGS-84)."""
    ET.register_namespace("", KML_NS)
    root = ET.Element(f"{{{KML_NS}}}kml")
    doc = ET.SubElement(root, f"{{{KML_NS}}}Document")
    ET.SubElement(doc, f"{{{KML_NS}}}name").text = "驿站名册"
    for s in stations:
        cells = dict(zip(CSV_COLUMNS, _record_cells(s, crs), strict=True))
        pm = ET.SubElement(doc, f"{{{KML_NS}}}Placemark", id=s.id)
        ET.SubElement(pm, f"{{{KML_NS}}}name").text = s.name
        ext = ET.SubElement(pm, f"{{{KML_NS}}}ExtendedData")
        for key, value in cells.items():
            if key in ("lng", "lat") or value is None:
                continue
            data = ET.SubElement(ext, f"{{{KML_NS}}}Data", name=key)
            ET.SubElement(data, f"{{{KML_NS}}}value").text = str(value)
        point = ET.SubElement(pm, f"{{{KML_NS}}}Point")
        ET.SubElement(point, f"{{{KML_NS}}}coordinates").text = f"{cells['lng']},{cells['lat']}"
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def read_kml_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """Placemarks with a Point: name, ExtendedData fields, coordinates."""
    if b"<!DOCTYPE" in data[:2048] or b"<!ENTITY" in data[:4096]:
        raise FileInvalid("KML with a DOCTYPE or entities is not accepted")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise FileInvalid(f"not valid KML/XML: {exc}") from None
    placemarks = [el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Placemark"]
    if not placemarks:
        raise FileInvalid("the KML file holds no Placemark")
    for number, pm in enumerate(placemarks, start=1):
        row: dict[str, Any] = {}
        if pm.get("id"):
            row["id"] = pm.get("id")
        for el in pm:
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "name":
                row["name"] = (el.text or "").strip()
        for el in pm.iter():
            if el.tag.rsplit("}", 1)[-1] == "Data" and el.get("name"):
                value = next((v.text for v in el if v.tag.rsplit("}", 1)[-1] == "value"), None)
                row[el.get("name")] = value
        coords = next((el.text for el in pm.iter() if el.tag.rsplit("}", 1)[-1] == "coordinates"), None)
        if not coords or not next((el for el in pm.iter() if el.tag.rsplit("}", 1)[-1] == "Point"), None):
            row["__error__"] = "the Placemark has no Point"
        else:
            parts = coords.strip().split(",")
            if len(parts) < 2:
                row["__error__"] = "Point coordinates must be longitude,latitude"
            else:
                row["lng"], row["lat"] = parts[0].strip(), parts[1].strip()
        yield number, row


# -- GeoPackage ------------------------------------------------------------------------------


def export_gpkg(stations: Iterable[Station], crs: CRS = CRS.WGS84) -> bytes:
    """A GeoPackage with one point layer 'stations' (EPSG:4326; text attributes)."""
    import geopandas as gpd
    from shapely.geometry import Point

    records = []
    geoms = []
    for s in stations:
        cells = dict(zip(CSV_COLUMNS, _record_cells(s, crs), strict=True))
        geoms.append(Point(cells["lng"], cells["lat"]))
        records.append({k: (None if v is None else str(v)) for k, v in cells.items() if k not in ("lng", "lat")})
    columns = [c for c in CSV_COLUMNS if c not in ("lng", "lat")]
    frame = gpd.GeoDataFrame(records, columns=columns, geometry=geoms, crs="EPSG:4326")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "stations.gpkg")
        frame.to_file(path, layer="stations", driver="GPKG", engine="pyogrio")
        with open(path, "rb") as fh:
            return fh.read()


def read_gpkg_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """Point features of the first layer of a GeoPackage."""
    if not data.startswith(b"SQLite format 3\x00"):
        raise FileInvalid("not a GeoPackage (an SQLite database file)")
    import pyogrio

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "upload.gpkg")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            frame = pyogrio.read_dataframe(path)
        except Exception as exc:  # noqa: BLE001 - GDAL raises many types for broken files
            raise FileInvalid(f"not a readable GeoPackage: {exc}") from None
    for number, (_, rec) in enumerate(frame.iterrows(), start=1):
        row: dict[str, Any] = {}
        for key, value in rec.items():
            if key == "geometry":
                continue
            row[key] = None if value is None or (isinstance(value, float) and value != value) else value
        geom = rec.get("geometry")
        if geom is None or geom.geom_type != "Point":
            row["__error__"] = "geometry must be a Point"
        else:
            row["lng"], row["lat"] = geom.x, geom.y
        yield number, row


EXPORT_FORMATS = ("geojson", "csv", "xlsx", "kml", "gpkg")


def export_bytes(stations: list[Station], fmt: str, crs: CRS = CRS.WGS84) -> bytes:
    """Stations in one of EXPORT_FORMATS."""
    from locator.io import export_csv, export_geojson

    writers = {
        "geojson": export_geojson,
        "csv": export_csv,
        "xlsx": export_xlsx,
        "kml": export_kml,
        "gpkg": export_gpkg,
    }
    return writers[fmt](stations, crs)
