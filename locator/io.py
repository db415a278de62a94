"""Roster files in and out: parse -> validated stations + row errors; stations -> files.

Parsing never touches the store: it returns an ImportPlan (stations and every row's
errors) that the caller applies in one transaction only when it holds no errors.
Coordinates are converted from the file's declared system to WGS-84 here, once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locator.coords import CRS, from_wgs84, to_wgs84
from locator.serialize import roster_record
from locator.stations import STATUSES, FieldError, Station, StationInvalid

# Column headers organizers use (Chinese and English) -> field names.
HEADER_ALIASES: dict[str, str] = {
    "id": "id",
    "编号": "id",
    "站点编号": "id",
    "name": "name",
    "名称": "name",
    "站点名称": "name",
    "type": "type",
    "类型": "type",
    "district": "district",
    "区县": "district",
    "区县代码": "district",
    "address": "address",
    "地址": "address",
    "lng": "lng",
    "lon": "lng",
    "longitude": "lng",
    "x": "lng",
    "经度": "lng",
    "lat": "lat",
    "latitude": "lat",
    "y": "lat",
    "纬度": "lat",
    "hours": "hours",
    "opening_hours": "hours",
    "开放时间": "hours",
    "contact": "contact",
    "phone": "contact",
    "联系电话": "contact",
    "amenities": "amenities",
    "服务设施": "amenities",
    "operator": "operator",
    "运营单位": "operator",
    "status": "status",
    "状态": "status",
    "closed_until": "closed_until",
    "暂停至": "closed_until",
    "provenance": "provenance",
    "来源": "provenance",
    "approximate": "approximate",
    "位置为示意": "approximate",
    "note": "note",
    "备注": "note",
    # more spellings seen in organizers' sheets
    "驿站名称": "name",
    "站点类型": "type",
    "所属区县": "district",
    "区县名称": "district",
    "详细地址": "address",
    "东经": "lng",
    "北纬": "lat",
    "营业时间": "hours",
    "电话": "contact",
    "设施": "amenities",
    "服务项目": "amenities",
    "运营方": "operator",
    "phone_number": "contact",
    "facilities": "amenities",
}
CSV_COLUMNS = (
    "id",
    "name",
    "type",
    "district",
    "address",
    "lng",
    "lat",
    "amenities",
    "hours",
    "contact",
    "operator",
    "status",
    "closed_until",
    "provenance",
    "approximate",
    "note",
)
MAX_ROWS = 200_000


class FileInvalid(ValueError):
    """The file as a whole cannot be read (format, encoding, structure)."""


@dataclass
class ImportPlan:
    """What a file holds: valid stations, and every error by row and field."""

    stations: list[Station] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    rows: int = 0

    @property
    def ok(self) -> bool:
        """True when every row is valid."""
        return not self.errors

    def report(self) -> list[str]:
        """One line per error: row, field, message."""
        return [f"row {e.row}: {e.field}: {e.message}" for e in self.errors]


def _clean_header(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip().lower()


def _canonical_row(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    row: dict[str, Any] = {}
    unknown = []
    for key, value in raw.items():
        if key is None:
            continue
        target = HEADER_ALIASES.get(_clean_header(str(key)))
        if target is None:
            unknown.append(str(key))
        else:
            if isinstance(value, str):
                value = value.strip()
                if len(value) > 1 and value[0] == "'" and value[1] in "=+-@":
                    value = value[1:]  # undo export_csv's formula neutralisation
            row[target] = value
    return row, unknown


def _float_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK, what Excel in China writes)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise FileInvalid("the file is neither UTF-8 nor GBK/GB18030 text") from None


def read_csv_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """(spreadsheet row number, row dict) for each data row of a CSV file."""
    text = decode_text(data)
    try:
        delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    # Only the delimiter is sniffed: the sniffer guesses quoting wrong on cells with doubled quotes.
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=csv.excel, delimiter=delimiter)
    if not reader.fieldnames:
        raise FileInvalid("the CSV file has no header row")
    names = [_clean_header(n) for n in reader.fieldnames]
    if "lng" not in {HEADER_ALIASES.get(n) for n in names} or "lat" not in {HEADER_ALIASES.get(n) for n in names}:
        raise FileInvalid("the CSV file needs longitude and latitude columns (经度, 纬度 or lng, lat)")
    if "name" not in {HEADER_ALIASES.get(n) for n in names}:
        raise FileInvalid("the CSV file needs a name column (名称 or name)")
    for number, row in enumerate(reader, start=2):
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # blank line
        yield number, row


def read_geojson_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """(feature number, properties + lng/lat) for each feature of a GeoJSON FeatureCollection."""
    try:
        doc = json.loads(decode_text(data), parse_constant=lambda c: float("nan"))
    except json.JSONDecodeError as exc:
        raise FileInvalid(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise FileInvalid("GeoJSON must be a FeatureCollection with a features list")
    for number, feature in enumerate(doc["features"], start=1):
        row: dict[str, Any] = {}
        if not isinstance(feature, dict):
            yield number, {"__error__": "feature is not an object"}
            continue
        props = feature.get("properties") or {}
        if isinstance(props, dict):
            row.update(props)
        if "id" not in row and feature.get("id") is not None:
            row["id"] = str(feature["id"])
        geom = feature.get("geometry")
        if not isinstance(geom, dict) or geom.get("type") != "Point":
            row["__error__"] = "geometry must be a Point"
        else:
            coords = geom.get("coordinates")
            if not isinstance(coords, list) or len(coords) < 2:
                row["__error__"] = "Point coordinates must be [longitude, latitude]"
            else:
                row["lng"], row["lat"] = coords[0], coords[1]
        yield number, row


FORMATS = ("xlsx", "csv", "geojson", "kml", "gpkg")
SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".geojson": "geojson",
    ".json": "geojson",
    ".xlsx": "xlsx",
    ".kml": "kml",
    ".gpkg": "gpkg",
}


def detect_format(filename: str) -> str:
    """The import format from a file name's suffix."""
    suffix = Path(filename).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if suffix == ".xls":
        raise FileInvalid("old .xls workbooks are not supported: in Excel use 另存为 → Excel 工作簿 (.xlsx)")
    raise FileInvalid(f"unsupported file type {suffix or filename!r}: use .xlsx, .csv, .geojson, .kml or .gpkg")


def station_id_for_name(name: str) -> str:
    """A stable id for a row that has none: the same name always gives the same id."""
    return "n-" + hashlib.sha256(name.strip().encode("utf-8")).hexdigest()[:12]


def _read_xlsx(data: bytes) -> Iterable[tuple[int, dict[str, Any]]]:
    from locator.formats import read_xlsx_rows

    return read_xlsx_rows(data)


def _read_kml(data: bytes) -> Iterable[tuple[int, dict[str, Any]]]:
    from locator.formats import read_kml_rows

    return read_kml_rows(data)


def _read_gpkg(data: bytes) -> Iterable[tuple[int, dict[str, Any]]]:
    from locator.formats import read_gpkg_rows

    return read_gpkg_rows(data)


READERS: dict[str, Callable[[bytes], Iterable[tuple[int, dict[str, Any]]]]] = {
    "csv": read_csv_rows,
    "geojson": read_geojson_rows,
    "xlsx": _read_xlsx,
    "kml": _read_kml,
    "gpkg": _read_gpkg,
}


def plan_import(
    data: bytes,
    fmt: str,
    crs: CRS,
    validate: Callable[..., Station],
    district_names: Mapping[str, str] | None = None,
) -> ImportPlan:
    """Parse and validate a roster file; nothing is written. `validate` is Roster.validate."""
    if fmt not in READERS:
        raise FileInvalid(f"unknown format {fmt!r}")
    plan = ImportPlan()
    seen: dict[str, int] = {}
    names_to_code = {v: k for k, v in (district_names or {}).items()}
    status_labels = {t.zh: t.key for t in STATUSES.values()}
    for number, raw in READERS[fmt](data):
        plan.rows += 1
        if plan.rows > MAX_ROWS:
            raise FileInvalid(f"the file has more than {MAX_ROWS} rows")
        if "__error__" in raw:
            plan.errors.append(FieldError(raw.get("__field__", "geometry"), raw["__error__"], row=number))
            continue
        row, _unknown = _canonical_row(raw)
        if isinstance(row.get("district"), str) and row["district"] in names_to_code:
            row["district"] = names_to_code[row["district"]]
        if isinstance(row.get("status"), str) and row["status"] in status_labels:
            row["status"] = status_labels[row["status"]]
        if not row.get("id") and isinstance(row.get("name"), str) and row["name"].strip():
            # A row without an id gets one derived from its name: importing the file again
            # matches the same stations instead of adding copies.
            row["id"] = station_id_for_name(row["name"])
        x, y = _float_or_none(row.get("lng")), _float_or_none(row.get("lat"))
        if x is not None and y is not None and crs is not CRS.WGS84 and -180 <= x <= 180 and -90 <= y <= 90:
            row["lng"], row["lat"] = to_wgs84(x, y, crs)
        try:
            station = validate(row, row=number, provenance="import")
        except StationInvalid as exc:
            plan.errors.extend(exc.errors)
            continue
        if station.id in seen:
            plan.errors.append(
                FieldError(
                    "id",
                    f"duplicate station {station.id!r} ({station.name}): first on row {seen[station.id]}",
                    row=number,
                )
            )
            continue
        seen[station.id] = number
        plan.stations.append(station)
    if plan.rows == 0:
        raise FileInvalid("the file holds no stations")
    return plan


def export_geojson(stations: Iterable[Station], crs: CRS = CRS.WGS84) -> bytes:
    """An RFC 7946 FeatureCollection (coordinates in `crs`; WGS-84 unless asked otherwise)."""
    features = []
    for s in stations:
        props = roster_record(s)
        lng, lat = props.pop("lng"), props.pop("lat")
        x, y = from_wgs84(lng, lat, crs)
        features.append(
            {
                "type": "Feature",
                "id": s.id,
                "geometry": {"type": "Point", "coordinates": [round(x, 7), round(y, 7)]},
                "properties": props,
            }
        )
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs is not CRS.WGS84:
        doc["coordinate_system"] = crs.value  # a foreign member: RFC 7946 readers assume WGS-84
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


def neutralise_formula(value: str) -> str:
    """Prefix a cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR) with a quote."""
    if value and value[0] in "=+-@\t\r" and not _is_number(value):
        return "'" + value
    return value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def export_csv(stations: Iterable[Station], crs: CRS = CRS.WGS84) -> bytes:
    """UTF-8 CSV with BOM (Excel opens it right), one row per station, formulas neutralised."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for s in stations:
        rec = roster_record(s)
        rec["lng"], rec["lat"] = (round(v, 7) for v in from_wgs84(rec["lng"], rec["lat"], crs))
        rec["amenities"] = ";".join(rec["amenities"])
        rec["approximate"] = "true" if rec["approximate"] else "false"
        writer.writerow([neutralise_formula("" if rec[c] is None else str(rec[c])) for c in CSV_COLUMNS])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
