"""What every roster file format shares: the Format object, the columns and their header spellings.

A format reads a file into raw rows (row number as the user sees it, {header: value}) and writes
stations into a file. Coordinates in a file are in the coordinate system the user declares;
readers never convert them (locator.importing does, once), writers get WGS-84 stations and a
target system.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from locator.coords import CRS, from_wgs84
from locator.errors import LocatorError
from locator.stations import EDITABLE_FIELDS, Station

RawRow = tuple[int, dict[str, Any]]  # (row number as the user sees it, {header as written: value})
ROSTER_COLUMNS = EDITABLE_FIELDS  # the columns of every export, in this order

# Column headers organizers use (Chinese and English) -> field names.
HEADER_ALIASES: dict[str, str] = {
    "id": "id",
    "编号": "id",
    "站点编号": "id",
    "name": "name",
    "名称": "name",
    "站点名称": "name",
    "驿站名称": "name",
    "type": "type",
    "类型": "type",
    "站点类型": "type",
    "district": "district",
    "区县": "district",
    "区县代码": "district",
    "所属区县": "district",
    "区县名称": "district",
    "address": "address",
    "地址": "address",
    "详细地址": "address",
    "lng": "lng",
    "lon": "lng",
    "longitude": "lng",
    "x": "lng",
    "经度": "lng",
    "东经": "lng",
    "lat": "lat",
    "latitude": "lat",
    "y": "lat",
    "纬度": "lat",
    "北纬": "lat",
    "hours": "hours",
    "opening_hours": "hours",
    "开放时间": "hours",
    "营业时间": "hours",
    "contact": "contact",
    "phone": "contact",
    "phone_number": "contact",
    "联系电话": "contact",
    "电话": "contact",
    "amenities": "amenities",
    "facilities": "amenities",
    "服务设施": "amenities",
    "设施": "amenities",
    "服务项目": "amenities",
    "operator": "operator",
    "运营单位": "operator",
    "运营方": "operator",
    "status": "status",
    "状态": "status",
    "closed_until": "closed_until",
    "暂停至": "closed_until",
    "provenance": "provenance",
    "来源": "provenance",
    "approximate": "approximate",
    "位置为示意": "approximate",
    "location_confirmed": "location_confirmed",
    "位置已核对": "location_confirmed",
    "note": "note",
    "备注": "note",
}

# The import template: Chinese headers and one example row (XLSX and CSV).
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


class FileInvalid(LocatorError, ValueError):
    """The file as a whole cannot be read (format, encoding, structure)."""

    http_status = 400
    title = "Invalid file"


@dataclass(frozen=True)
class Format:
    """One roster file format: how to recognise, read and write it (pygeoapi's formatter, for files)."""

    name: str
    label: str
    suffixes: tuple[str, ...]  # the first is the one exports use
    mime: str
    read_rows: Callable[[bytes], Iterable[RawRow]]
    write: Callable[[Sequence[Station], CRS], bytes]
    template: Callable[[], bytes] | None = None

    @property
    def suffix(self) -> str:
        """The file-name suffix of exports, e.g. '.xlsx'."""
        return self.suffixes[0]


def clean_header(name: str) -> str:
    """A header as matched against HEADER_ALIASES: trimmed, BOM removed, lower case."""
    return name.strip().lstrip("\ufeff").strip().lower()


def field_of(header: str) -> str | None:
    """The station field a column header names, or None."""
    return HEADER_ALIASES.get(clean_header(header))


def canonical_row(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A raw row keyed by station field, and the headers that name no field."""
    row: dict[str, Any] = {}
    unknown = []
    for key, value in raw.items():
        if key is None:
            continue
        target = field_of(str(key))
        if target is None:
            unknown.append(str(key))
            continue
        if isinstance(value, str):
            value = value.strip()
            if len(value) > 1 and value[0] == "'" and value[1] in "=+-@":
                value = value[1:]  # undo neutralise_formula() of our own exports
        row[target] = value
    return row, unknown


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


def record_cells(station: Station, crs: CRS) -> list[Any]:
    """A station as the cells of one export row (ROSTER_COLUMNS), coordinates in `crs`."""
    rec = station.record()
    rec["lng"], rec["lat"] = (round(v, 7) for v in from_wgs84(rec["lng"], rec["lat"], crs))
    rec["amenities"] = ";".join(rec["amenities"])
    rec["approximate"] = "true" if rec["approximate"] else "false"
    rec["location_confirmed"] = "true" if rec["location_confirmed"] else "false"
    return [rec[c] for c in ROSTER_COLUMNS]


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
