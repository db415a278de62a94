"""What every roster file format shares: the Format object, the columns and their header spellings.

A format reads a file into raw rows (row number as the user sees it, {header: value}) and writes
stations into a file. Coordinates in a file are in the coordinate system the user declares;
readers never convert them (locator.importing does, once), writers get WGS-84 stations and a
target system.
"""

from __future__ import annotations

import codecs
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from locator.coords import CRS, from_wgs84
from locator.errors import LocatorError
from locator.stations import EDITABLE_FIELDS, Station

RawRow = tuple[int, dict[str, Any]]  # (row number as the user sees it, {header as written: value})
ROSTER_COLUMNS = EDITABLE_FIELDS  # the columns of every export, in this order

# -- limits on what a file may make the server do ---------------------------------------------------
# Every reader stops at these while reading, before anything is validated or written, and refuses
# the file with a FileInvalid naming the limit. Legitimate rosters are bounded by MAX_ROWS only;
# the others cap what a hostile file could make the server parse or hold per row or per value.
MAX_ROWS = 200_000  # data rows (row numbers: blank rows count), features or placemarks
MAX_CELL_CHARS = 32_767  # one cell, property or text: Excel's own limit for a cell
MAX_CSV_FIELD = 128 * 1024  # one CSV field (Python's csv default, now a clear 400)
MAX_CSV_LINE = 1024 * 1024  # characters of one physical line of a CSV file
MAX_COLUMNS = 16_384  # columns of a sheet or CSV file, fields of a placemark: Excel's last column is XFD
MAX_JSON_DEPTH = 32  # nesting of objects and lists (a roster feature needs 5)
MAX_JSON_NUMBER = 100  # characters of one JSON number (coordinates need about 20)
MAX_JSON_VALUE = 1_000_000  # characters of one GeoJSON feature (or other member), read one at a time
MAX_BODY_CONTAINERS = 10_000  # objects and lists in one JSON request body (a station needs 2)

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
    "verified_at": "verified_at",
    "核实时间": "verified_at",
    "核实日期": "verified_at",
    "信息核实时间": "verified_at",
    "最后核实": "verified_at",
    # One cell holding both coordinates (120.65,27.99): the header says the order when it can.
    "经纬度": "lnglat",
    "经纬度坐标": "lnglat",
    "lnglat": "lnglat",
    "lng_lat": "lnglat",
    "lonlat": "lnglat",
    "纬经度": "latlng",
    "latlng": "latlng",
    "lat_lng": "latlng",
    "latlon": "latlng",
    "坐标": "coordinates",
    "位置坐标": "coordinates",
    "coordinates": "coordinates",
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
    "周一至周日 08:00-20:00",
    "0577-88888888",
    "舒心歇脚点、微波加热、免费茶饮、手机充电",
    "娄桥街道",
    "正常开放",
)


# What the readers say (English, for developers) and what an organizer reads instead. Matched by a
# part of the message; tests/test_errors_zh.py checks that every message a reader can give has one.
READER_MESSAGES_ZH: tuple[tuple[str, str], ...] = (
    # a row of the file
    ("hold a formula", "单元格里是公式：请复制这些单元格，用「选择性粘贴 → 数值」只保留数值后再上传。"),
    ("is not a WKT POINT", "几何列的内容不是点坐标：请改用「经度」「纬度」两列。"),
    ("feature is not an object", "这一要素无法读取：请用地理信息软件重新导出文件。"),
    ("geometry must be a Point", "几何类型不是点：名册只能导入点要素（每个站点一个点）。"),
    ("Point coordinates must be", "点坐标不完整：应有经度和纬度两个数。"),
    ("the Placemark has no Point", "这个地标没有点坐标：名册只能导入点（每个站点一个点）。"),
    # the file as a whole
    ("password-protected", "工作簿设置了密码，或是旧的 .xls 文件：请在 Excel 中取消密码（文件 → 信息 → 保护工作簿），"
     "再「另存为」Excel 工作簿（.xlsx）后上传。"),
    ("not a readable .xlsx workbook", "无法读取这个 Excel 工作簿：文件可能已损坏，或并非 .xlsx 格式。"
     "请在 Excel 中打开，「另存为」Excel 工作簿（.xlsx）后再上传。"),
    ("the workbook has no sheet", "工作簿里没有工作表。"),
    ("the sheet is empty", "第一个工作表是空的：第一行应是表头（名称、经度、纬度……），下面每行一个站点。"),
    ("must hold the column headers", "第一个工作表的第一行应是表头（名称、经度、纬度……）。"),
    ("has no header row", "CSV 文件没有表头：第一行应是列名（名称、经度、纬度……）。"),
    ("needs a name column", "文件缺少「名称」列。"),
    ("needs longitude and latitude columns", "文件需要「经度」「纬度」两列（或一列「经纬度」，如 120.6994,27.9939）。"),
    ("not valid JSON", "不是有效的 GeoJSON 文件：文件内容不完整或格式有误。"),
    ("must be a FeatureCollection", "GeoJSON 文件里没有要素集合：请用地理信息软件重新导出。"),
    ("DOCTYPE or entities", "KML 文件含有不安全的声明，无法读取：请用地图软件重新导出。"),
    ("not valid KML", "不是有效的 KML 文件：文件内容不完整或格式有误。"),
    ("holds no Placemark", "KML 文件中没有地标。"),
    ("old .xls workbooks", "不支持旧的 .xls 工作簿：请在 Excel 中「另存为」Excel 工作簿（.xlsx）。"),
    ("unsupported file type", "不支持这种文件：请上传 .xlsx、.csv、.geojson、.kml 或 .gpkg 文件。"),
)  # fmt: skip


def reader_message_zh(message: str) -> str | None:
    """The Chinese text for a reader's message, or None when there is none."""
    for english, chinese in READER_MESSAGES_ZH:
        if english in message:
            return chinese
    return None


class FileInvalid(LocatorError, ValueError):
    """The file as a whole cannot be read (format, encoding, structure)."""

    http_status = 400
    title = "Invalid file"
    detail_zh = "文件无法读取：请确认它是完整的 Excel 工作簿（.xlsx）、CSV、GeoJSON、KML 或 GeoPackage 文件。"

    def __init__(self, message: str, detail_zh: str | None = None):
        super().__init__(message)
        found = detail_zh or reader_message_zh(message)
        if found:
            self.detail_zh = found


def over_limit(what: str, limit: str, what_zh: str, limit_zh: str) -> FileInvalid:
    """A FileInvalid for a file beyond one of the limits above: says what, and the limit, in both languages."""
    return FileInvalid(
        f"{what}: the limit is {limit}; nothing was imported",
        f"{what_zh}：上限为{limit_zh}，未导入任何数据。",
    )


def too_many_rows(number: int) -> FileInvalid:
    """The file reaches row (or feature) `number`, beyond MAX_ROWS."""
    return over_limit(
        f"the file has more than {MAX_ROWS:,} rows (it reaches row {number:,}; blank rows count)",
        f"{MAX_ROWS:,} rows",
        f"文件超过 {MAX_ROWS:,} 行（已到第 {number:,} 行，空行也计算在内）",
        f" {MAX_ROWS:,} 行",
    )


def text_too_long(where: str, where_zh: str) -> FileInvalid:
    """A cell or text longer than MAX_CELL_CHARS."""
    return over_limit(
        f"{where} holds more than {MAX_CELL_CHARS:,} characters",
        f"{MAX_CELL_CHARS:,} characters per cell",
        f"{where_zh}超过 {MAX_CELL_CHARS:,} 个字符",
        f"每个单元格 {MAX_CELL_CHARS:,} 个字符",
    )


class LayerChoiceNeeded(FileInvalid):
    """A file with several layers and no obvious roster layer: the user must name one."""

    def __init__(self, layers: Sequence[str], message: str, detail_zh: str):
        self.layers = list(layers)
        super().__init__(message, detail_zh)

    def problem(self) -> dict[str, Any]:
        """The layers to choose from."""
        return {"parameter": "layer", "layers": self.layers}


class ExportSystemUnsupported(LocatorError, ValueError):
    """An export asked for a coordinate system its format cannot declare (GeoJSON, KML, GeoPackage)."""

    http_status = 400
    title = "Invalid parameter"

    def __init__(self, fmt: Format, crs: CRS, alternatives: Sequence[str]):
        names = " or ".join(alternatives)
        super().__init__(
            f"crs: {fmt.label} files are WGS-84 by their standard; export {crs_label(crs)} coordinates as {names}, "
            f"or export {fmt.label} in WGS-84"
        )
        self.detail_zh = (
            f"{fmt.label} 文件按标准只能使用 WGS-84 坐标；如需 {crs_label(crs)} 坐标，请导出为 "
            f"{'、'.join(alternatives)}，或以 WGS-84 导出 {fmt.label}。"
        )

    def problem(self) -> dict[str, Any]:
        """The parameter at fault."""
        return {"parameter": "crs"}


@dataclass(frozen=True)
class Format:
    """One roster file format: how to recognise, read and write it (pygeoapi's formatter, for files)."""

    name: str
    label: str
    suffixes: tuple[str, ...]  # the first is the one exports use
    mime: str
    read_rows: Callable[..., Iterable[RawRow]]  # (data) or, for formats with layers, (data, layer=None)
    write: Callable[[Sequence[Station], CRS], bytes]
    template: Callable[[], bytes] | None = None
    any_crs: bool = False  # may hold GCJ-02/BD-09 coordinates (named in its headers); else WGS-84 only
    layers: Callable[[bytes], list[tuple[str, str | None]]] | None = None  # (name, geometry type) per layer
    # A quick pass that refuses a file beyond the row limit (and the format's other limits) before any
    # row is validated: formats read as a stream only know their rows' count at the end.
    precheck: Callable[[bytes], object] | None = None

    @property
    def suffix(self) -> str:
        """The file-name suffix of exports, e.g. '.xlsx'."""
        return self.suffixes[0]

    def read(self, data: bytes, layer: str | None = None) -> Iterable[RawRow]:
        """The file's rows (of `layer`, for formats with layers)."""
        if self.layers is not None:
            return self.read_rows(data, layer=layer)
        if layer:
            raise FileInvalid(
                f"{self.label} files have no layers: leave the layer empty",
                f"{self.label} 文件没有图层，请不要指定图层。",
            )
        return self.read_rows(data)


def clean_header(name: str) -> str:
    """A header as matched against HEADER_ALIASES: trimmed, BOM removed, lower case."""
    return name.strip().lstrip("\ufeff").strip().lower()


# A coordinate header that names its system: 经度(GCJ-02), lat（BD-09）, lng_gcj02, 纬度 [WGS-84].
_SYSTEM_SUFFIX = re.compile(r"(wgs[\s_-]?84|gcj[\s_-]?02|bd[\s_-]?09)\s*[)）\]]?$")
MAX_HEADER = 60  # longer headers name no field (and keep the header match linear in the worst case)
CRS_HEADER_NAMES = {CRS.WGS84: "WGS-84", CRS.GCJ02: "GCJ-02", CRS.BD09: "BD-09"}


def crs_label(crs: CRS) -> str:
    """The system as written in coordinate column headers: WGS-84, GCJ-02, BD-09."""
    return CRS_HEADER_NAMES[crs]


def coordinate_headers(crs: CRS) -> tuple[str, str]:
    """The longitude and latitude headers of an export in `crs` (lng, lat in WGS-84: the API's names)."""
    if crs is CRS.WGS84:
        return ("lng", "lat")
    return (f"经度({crs_label(crs)})", f"纬度({crs_label(crs)})")


@lru_cache(maxsize=1024)
def header_field(header: str) -> tuple[str | None, CRS | None]:
    """The station field a column header names, and the coordinate system it names (if any).

    Cached: a file's rows repeat the same headers (10,000 rows, one lookup per header).
    """
    clean = clean_header(header)
    found = HEADER_ALIASES.get(clean)
    if found is not None or len(clean) > MAX_HEADER:
        return found, None
    match = _SYSTEM_SUFFIX.search(clean)
    if match:
        found = HEADER_ALIASES.get(clean[: match.start()].rstrip(" \t_(（[").strip())
        if found in ("lng", "lat"):
            return found, CRS.parse(match.group(1).replace(" ", ""))
    return None, None


def field_of(header: str) -> str | None:
    """The station field a column header names, or None."""
    return header_field(header)[0]


def canonical_row(raw: Mapping[str, Any], headers: dict[str, str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """A raw row keyed by station field (values normalised), and the headers that name no field.

    A coordinate header naming its system (经度(GCJ-02)) puts that system under the key "crs".
    `headers`, when given, is filled with field -> the header as written in the file (so errors
    can name the column the way the user wrote it).
    """
    row: dict[str, Any] = {}
    unknown = []
    systems: dict[str, CRS] = {}
    for key, value in raw.items():
        if key is None or str(key).startswith("__"):
            continue
        target, system = header_field(str(key))
        if target is None:
            unknown.append(str(key))
            continue
        if system is not None:
            systems[str(key)] = system
        if headers is not None and target not in headers:
            headers[target] = str(key).strip().lstrip("\ufeff").strip()
        row[target] = normalise_value(target, value)
    if systems:
        if len(set(systems.values())) > 1:
            named = ", ".join(systems)
            raise FileInvalid(
                f"the coordinate columns name different coordinate systems: {named}",
                f"坐标列标明的坐标系不一致：{named}",
            )
        row["crs"] = next(iter(systems.values()))
    return row, unknown


# -- values as GIS tools, pandas and spreadsheets write them --------------------------------------

MAX_LIST_TEXT = 10_000
_STRINGLIST = re.compile(r"^\((\d+):(.*)\)$", re.S)  # GDAL's StringList as text: (2:water,aed)
_NUMPY_REPR = re.compile(r"^(?:array\()?\[(.*)\](?:\s*,\s*dtype=\w+)?\)?$", re.S)  # ['water' 'aed']
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")  # the quoted items of a numpy repr
_SLASHED_DATE = re.compile(  # 2027/01/31 (GDAL), 2027.1.31, 2027年1月31日, with a midnight time (Excel)
    r"^(\d{4})\s*[/.年-]\s*(\d{1,2})\s*[/.月-]\s*(\d{1,2})\s*日?(?:[ T]00:00(?::00(?:\.0+)?)?)?$"
)


def is_missing(value: Any) -> bool:
    """None, NaN, pandas NaT/NA: what GDAL and pandas use for an empty cell."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and NaT are the values not equal to themselves
    except (TypeError, ValueError):
        return False  # arrays, pandas.NA


def plain_value(value: Any) -> Any:
    """numpy/pandas scalars and arrays as plain Python values (lists, int, float, bool, date, str)."""
    if type(value).__module__.split(".")[0] in ("numpy", "pandas"):
        if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
            value = value.to_pydatetime()
        elif hasattr(value, "tolist"):  # numpy scalars and arrays
            value = value.tolist()
        elif str(value) == "<NA>":
            return None
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        return [plain_value(v) for v in value if not is_missing(v)]
    return None if is_missing(value) else value


def parse_list_text(text: str) -> list[str] | None:
    """A list written as text by GDAL `(2:a,b)`, as JSON `[ "a", "b" ]` or by numpy `['a' 'b']`; None otherwise."""
    text = text.strip()
    if len(text) > MAX_LIST_TEXT:
        return None  # no amenity list is this long: validation reports the cell as it is
    match = _STRINGLIST.match(text)
    if match:
        items = [p.strip() for p in match.group(2).split(",")] if match.group(2).strip() else []
        return [p for p in items if p]
    if not (text.startswith("[") or text.startswith("array(")):
        return None
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: '[[[[…' thousands deep
            parsed = None
        if isinstance(parsed, list):
            return [str(v).strip() for v in parsed if v is not None and str(v).strip()]
    match = _NUMPY_REPR.match(text)
    if match:
        inner = match.group(1)
        quoted = [a or b for a, b in _QUOTED.findall(inner)]
        if quoted or not inner.strip():
            return [q.strip() for q in quoted if q.strip()]
    return None


def parse_date_text(text: str) -> str | None:
    """An ISO date for 2027/01/31, 2027.1.31, 2027年1月31日 or 2027-01-31 00:00:00 (GDAL, Excel); else None."""
    match = _SLASHED_DATE.match(text.strip())
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3))).isoformat()
    except ValueError:
        return None


def normalise_value(name: str, value: Any) -> Any:
    """A cell as validation expects it, whatever tool wrote the file (GDAL, QGIS, geopandas, Excel)."""
    if name in ("lng", "lat") and isinstance(value, float):
        return float(value)  # NaN and Infinity stay, for validation to name them
    if type(value) is not str:  # text (every CSV cell) needs none of this
        value = plain_value(value)
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if len(value) > 1 and value[0] == "'" and value[1] in "=+-@":
            value = value[1:]  # undo neutralise_formula() of our own exports
        if name == "amenities":
            listed = parse_list_text(value)
            return listed if listed is not None else value
        if name in ("closed_until", "verified_at"):
            return parse_date_text(value) or value
        return value
    if name == "closed_until" and isinstance(value, datetime):
        return value.date() if value.time() == datetime.min.time() else value.isoformat()
    if name == "verified_at" and isinstance(value, date):
        return value  # validation reads dates and date-times (without a zone: Asia/Shanghai)
    if isinstance(value, float) and name not in ("lng", "lat") and math.isfinite(value) and value.is_integer():
        return int(value)  # district codes and phone numbers that a spreadsheet or pandas stored as numbers
    return value


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


def export_headers(crs: CRS) -> list[str]:
    """The header row of CSV and XLSX exports: ROSTER_COLUMNS, coordinate headers naming a non-WGS-84 system."""
    lng, lat = coordinate_headers(crs)
    return [{"lng": lng, "lat": lat}.get(c, c) for c in ROSTER_COLUMNS]


def record_cells(station: Station, crs: CRS) -> list[Any]:
    """A station as the cells of one export row (ROSTER_COLUMNS), coordinates in `crs`."""
    rec = station.record()
    rec["lng"], rec["lat"] = (round(v, 7) for v in from_wgs84(rec["lng"], rec["lat"], crs))
    rec["amenities"] = ";".join(rec["amenities"])
    rec["approximate"] = "true" if rec["approximate"] else "false"
    rec["location_confirmed"] = "true" if rec["location_confirmed"] else "false"
    return [rec[c] for c in ROSTER_COLUMNS]


_CHUNK = 1 << 20


def drain(read_rows: Callable[[bytes], Iterable[RawRow]]) -> Callable[[bytes], int]:
    """A precheck that reads the whole file once, without validating (its reader meets every limit)."""

    def precheck(data: bytes) -> int:
        return sum(1 for _ in read_rows(data))

    return precheck


def text_encoding(data: bytes) -> str:
    """'utf-8-sig' or 'gb18030', checked chunk by chunk (no copy of the whole file as text), else FileInvalid."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            for start in range(0, len(data), _CHUNK):
                decoder.decode(data[start : start + _CHUNK])
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise FileInvalid(
        "the file is neither UTF-8 nor GBK/GB18030 text",
        "无法识别文件的文字编码：请在 Excel 中「另存为」CSV UTF-8，或直接上传 Excel 工作簿（.xlsx）。",
    )


# -- JSON within limits (GeoJSON files and the API's request bodies) -------------------------------------

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
# A number where a JSON value starts, longer than the limit (found on the bytes, before any text is decoded:
# the parser would first copy the whole number out).
_LONG_NUMBER = re.compile(rb"[:,\[]\s*-?[0-9.eE+-]{%d}" % (MAX_JSON_NUMBER + 1))


class _NumberTooLong(Exception):
    pass


def _int(text: str) -> int:
    if len(text) > MAX_JSON_NUMBER:
        raise _NumberTooLong
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_JSON_NUMBER:
        raise _NumberTooLong
    return float(text)


def _nan(_constant: str) -> float:
    return float("nan")


def json_too_deep() -> FileInvalid:
    """JSON nested deeper than MAX_JSON_DEPTH."""
    return over_limit(
        f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep",
        f"{MAX_JSON_DEPTH} levels of nesting",
        f"JSON 嵌套超过 {MAX_JSON_DEPTH} 层",
        f" {MAX_JSON_DEPTH} 层",
    )


def _number_too_long() -> FileInvalid:
    return over_limit(
        f"the JSON holds a number longer than {MAX_JSON_NUMBER} characters",
        f"{MAX_JSON_NUMBER} characters per number",
        f"JSON 中有超过 {MAX_JSON_NUMBER} 个字符的数字",
        f"每个数字 {MAX_JSON_NUMBER} 个字符",
    )


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _lone_surrogate() -> FileInvalid:
    return FileInvalid(
        "the JSON holds a lone surrogate escape (such as \\ud800), which is no character",
        "JSON 中含有不成对的代理项转义（如 \\ud800），它不表示任何字符。",
    )


def json_prescan(raw: bytes, max_containers: int | None = None) -> bool:
    """Checks on the JSON's bytes before it is parsed: numbers within MAX_JSON_NUMBER, at most `max_containers`
    objects and lists; True if it holds surrogate escapes (each parsed value must then be checked)."""
    if _LONG_NUMBER.search(raw):
        raise _number_too_long()
    if max_containers is not None and raw.count(b"{") + raw.count(b"[") > max_containers:
        raise over_limit(
            f"the JSON holds more than {max_containers:,} objects and lists",
            f"{max_containers:,}",
            f"JSON 含有超过 {max_containers:,} 个对象和数组",
            f" {max_containers:,} 个",
        )
    return _SURROGATE_ESCAPE.search(raw) is not None


def check_json_value(doc: Any, surrogates: bool, depth: int = 1) -> None:
    """Depth within MAX_JSON_DEPTH (`depth`: where `doc` sits) and, if `surrogates`, no lone surrogate; no recursion."""
    stack = [(doc, depth)]
    while stack:
        node, level = stack.pop()
        if level > MAX_JSON_DEPTH:
            raise json_too_deep()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
            if surrogates and any(_has_lone_surrogate(k) for k in node):
                raise _lone_surrogate()
        elif isinstance(node, list):
            children = node
        else:
            if surrogates and isinstance(node, str) and _has_lone_surrogate(node):
                raise _lone_surrogate()
            continue
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, level + 1))
            elif surrogates and isinstance(child, str) and _has_lone_surrogate(child):
                raise _lone_surrogate()


class JSONValues:
    """Parses one JSON value at a time within the limits (numbers, depth): FileInvalid beyond them."""

    def __init__(self, nan: bool = False):
        self.decoder = json.JSONDecoder(parse_int=_int, parse_float=_float, parse_constant=_nan if nan else float)

    def at(self, text: str, pos: int) -> tuple[Any, int]:
        """The value starting at text[pos] and where it ends (json.JSONDecodeError if it is not one)."""
        try:
            return self.decoder.raw_decode(text, pos)
        except _NumberTooLong:
            raise _number_too_long() from None
        except RecursionError:
            raise json_too_deep() from None


def load_json(data: bytes, *, nan: bool = False, max_containers: int | None = None) -> Any:
    """Parse JSON within the limits: depth (MAX_JSON_DEPTH), number length (MAX_JSON_NUMBER), no lone surrogates,
    at most `max_containers` objects and lists. FileInvalid (a 400) for anything else.

    `nan`: NaN and Infinity both become NaN; otherwise they are read as Python reads them, for validation to name.
    """
    surrogates = json_prescan(data, max_containers)
    try:
        text = data.decode(json.detect_encoding(data))  # strict: encoded surrogates are not text either
    except UnicodeDecodeError:
        raise FileInvalid("the JSON is not UTF-8 text", "JSON 不是 UTF-8 编码的文本。") from None
    try:
        doc, end = JSONValues(nan).at(text, JSON_SPACE.match(text, 0).end())
        if JSON_SPACE.match(text, end).end() != len(text):
            raise json.JSONDecodeError("Extra data", text, end)
    except ValueError as exc:
        if isinstance(exc, FileInvalid):
            raise
        where = f"第 {exc.pos + 1:,} 个字符附近有误" if isinstance(exc, json.JSONDecodeError) else "无法解析"
        raise FileInvalid(f"not valid JSON: {exc}", f"不是有效的 JSON：{where}。") from None
    check_json_value(doc, surrogates)
    return doc


JSON_SPACE = re.compile(r"[ \t\n\r]*")


def stream_lines(data: bytes, encoding: str) -> Iterator[str]:
    """The text of `data`, decoded piece by piece (CSV readers take it line by line)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")
