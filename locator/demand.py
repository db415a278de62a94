"""Demand for the coverage analysis: imported layers, the search log, or the districts' area. No Flask.

Three sources, one shape (`Demand`: WGS-84 positions, weights, H3 resolution-8 cells):

- **layers** organizers import (CSV, XLSX, GeoJSON … through `locator.formats`): weighted points
  (`lng`, `lat`, `weight`, coordinates in a declared system like station imports) or H3 cells
  (`h3`, `weight`); validated row by row, errors in Chinese naming the column as the file's header
  writes it, and all or nothing. A layer of **hosts** (shops, Party organisations, bank branches
  willing to host a station) is read the same way and used as candidate sites.
- **the search log** (locator/searchlog.py): searches per cell over a period, cells with fewer
  than MIN_SEARCHES suppressed before anything else sees them.
- **area**, when there is no demand layer: each district filled with H3 resolution-9 cells weighted
  by their area (km²): the analysis then reports 面积覆盖率, the share of the district's
  administrative area (water included) within reach.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import h3
import numpy as np
from h3.api.basic_int import latlng_to_cell

from locator.coords import CRS, to_wgs84
from locator.districts import DistrictIndex
from locator.errors import LocatorError
from locator.formats import FileInvalid, Format
from locator.formats.base import clean_header, field_of
from locator.searchlog import MIN_SEARCHES, RESOLUTION, period
from locator.store.demand import DemandStore, LayerInfo, LayerItems

MAX_ITEMS = 2_000_000
AREA_RESOLUTION = 9  # ≈ 0.1 km² cells: the districts' area as demand
BOUNDS_MARGIN_DEG = 0.3  # demand may lie a little outside the district outlines (sea, neighbours)
MIN_H3_RESOLUTION = 5  # coarser cells are spread over too many children to mean a place

WEIGHT_HEADERS = {
    "weight",
    "权重",
    "需求",
    "需求量",
    "数量",
    "订单",
    "订单数",
    "订单量",
    "count",
    "value",
    "population",
    "人口",
    "人数",
    "骑手数",
}
H3_HEADERS = {"h3", "h3_index", "h3index", "h3编号", "h3网格", "cell", "网格"}

# Known reader messages (locator/formats) and how a Chinese reader sees them.
_READER_MESSAGES_ZH = (
    ("hold a formula", "单元格是公式：请只粘贴数值（选择性粘贴 → 数值）"),
    ("geometry must be a Point", "几何类型必须是点（Point）"),
    ("Point coordinates must be", "点坐标必须是 [经度, 纬度]"),
    ("feature is not an object", "要素不是对象"),
)


class DemandFileInvalid(LocatorError, ValueError):
    """The file as a whole cannot be used as a demand or hosts layer."""

    http_status = 400
    title = "Invalid file"

    def __init__(self, detail: str, detail_zh: str):
        super().__init__(detail)
        self.detail_zh = detail_zh


@dataclass(frozen=True)
class RowError:
    """One bad row: its number as the user sees it, the column as the file names it, a Chinese message."""

    row: int
    column: str
    message: str

    def as_json(self) -> dict[str, Any]:
        """For the API and the admin page."""
        return {"row": self.row, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        return f"第 {self.row} 行「{self.column}」：{self.message}"


class DemandHasErrors(LocatorError):
    """Some rows are bad: nothing is stored."""

    http_status = 422
    title = "Invalid file"

    def __init__(self, errors: list[RowError], rows: int):
        self.errors = errors
        self.rows = rows
        super().__init__(f"{len(errors)} row error(s) in {rows} rows: nothing was stored")
        self.detail_zh = f"文件有 {len(errors)} 处错误（共 {rows} 行），未保存任何数据。"

    def problem(self) -> dict[str, Any]:
        """Every row error (the first 1,000)."""
        return {"errors": [e.as_json() for e in self.errors[:1000]]}


@dataclass
class DemandFile:
    """A validated layer file: its items in WGS-84 and how it was read."""

    kind: str  # points | cells
    items: LayerItems
    rows: int
    weighted: bool  # False: the file had no weight column, every row counts 1


# -- reading files ----------------------------------------------------------------------------


def _role(header: str) -> str | None:
    key = clean_header(header)
    if key in WEIGHT_HEADERS:
        return "weight"
    if key in H3_HEADERS:
        return "h3"
    found = field_of(header)
    return found if found in ("lng", "lat", "name") else None


def _number(value: Any) -> float | None:
    """A finite number from a cell: numbers, or text with full-width digits or thousands separators."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip().replace(" ", "")
        if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", text):
            text = text.replace(",", "")
        try:
            number = float(text)
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def _reader_message_zh(message: str) -> str:
    for english, chinese in _READER_MESSAGES_ZH:
        if english in message:
            return chinese
    return f"无法读取（{message}）"


def _raw_rows(data: bytes, fmt: Format) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    """The header (as written) and raw rows of any registered format."""
    if fmt.name == "csv":
        from locator.formats.csv_file import read_table

        return read_table(data)
    rows = iter(fmt.read_rows(data))
    first = next(rows, None)
    if first is None:
        return [], iter(())
    header = [k for k in first[1] if not str(k).startswith("__")]

    def chained() -> Iterator[tuple[int, dict[str, Any]]]:
        yield first
        yield from rows

    return header, chained()


def read_layer_file(
    data: bytes,
    fmt: Format,
    crs: CRS,
    *,
    bounds: tuple[float, float, float, float],
    purpose: str = "demand",
) -> DemandFile:
    """Read and validate a demand (or hosts) layer file; DemandHasErrors lists every bad row.

    `bounds` (WGS-84) is where demand may lie: the districts' extent plus a margin.
    """
    if not data.strip():
        raise DemandFileInvalid("the file is empty", "文件是空的。")
    try:
        header, rows = _raw_rows(data, fmt)
        roles: dict[str, str] = {}
        for name in header:
            role = _role(str(name))
            if role and role not in roles.values():
                roles[str(name)] = role
        column = {role: name for name, role in roles.items()}
        return _validate_rows(rows, column, fmt, crs, bounds, purpose)
    except FileInvalid as exc:
        zh = getattr(exc, "detail_zh", None) or f"无法读取文件（{exc}）"
        raise DemandFileInvalid(str(exc), zh) from None


def _validate_rows(rows, column, fmt, crs, bounds, purpose) -> DemandFile:
    has_point = "lng" in column and "lat" in column
    has_cell = "h3" in column
    if purpose == "hosts" and not has_point:
        raise DemandFileInvalid(
            "a hosts file needs longitude and latitude columns",
            "候选点文件需要「经度」「纬度」两列（或 lng、lat），每行一个愿意设站的地点。",
        )
    if not has_point and not has_cell:
        raise DemandFileInvalid(
            "the file needs lng and lat columns, or an h3 column",
            "文件需要「经度」「纬度」两列（或 lng、lat），或一列「h3」（H3 网格编号）；可另加一列「权重」。",
        )
    kind = "points" if has_point else "cells"
    weighted = "weight" in column and purpose == "demand"
    x0, y0, x1, y1 = bounds
    errors: list[RowError] = []
    lng: list[float] = []
    lat: list[float] = []
    weight: list[float] = []
    label: list[str | None] = []
    count = 0
    for number, raw in rows:
        count += 1
        if count > MAX_ITEMS:
            raise DemandFileInvalid(
                f"the file has more than {MAX_ITEMS} rows", f"文件超过 {MAX_ITEMS:,} 行：请按区域拆分或先按网格汇总。"
            )
        if "__error__" in raw and not (kind == "cells" and fmt.name == "geojson"):
            col = str(raw.get("__field__") or ("经度" if fmt.name == "geojson" else column.get("lng", "")))
            errors.append(RowError(number, col, _reader_message_zh(str(raw["__error__"]))))
            continue
        w = 1.0
        if weighted:
            w_raw = raw.get(column["weight"])
            w_num = _number(w_raw)
            if w_raw is None or w_raw == "":
                errors.append(RowError(number, column["weight"], "权重为空"))
                continue
            if w_num is None or w_num < 0:
                errors.append(RowError(number, column["weight"], f"「{w_raw}」不是 0 或正数"))
                continue
            w = w_num
        if kind == "points":
            x_raw, y_raw = raw.get(column["lng"]), raw.get(column["lat"])
            x, y = _number(x_raw), _number(y_raw)
            if x is not None and y is not None and x0 <= y <= x1 and y0 <= x <= y1:
                errors.append(RowError(number, column["lng"], f"（{x}, {y}）像是纬度在前：是否把经度和纬度写反了？"))
                continue
            bad = False
            for value, num, col, lo, hi in ((x_raw, x, column["lng"], -180, 180), (y_raw, y, column["lat"], -90, 90)):
                if value is None or value == "":
                    errors.append(RowError(number, col, "坐标为空"))
                    bad = True
                elif num is None:
                    errors.append(RowError(number, col, f"「{value}」不是数字"))
                    bad = True
                elif not lo <= num <= hi:
                    errors.append(RowError(number, col, f"{num} 超出有效范围 {lo}～{hi}"))
                    bad = True
            if bad:
                continue
            wx, wy = to_wgs84(x, y, crs)
            if not (x0 <= wx <= x1 and y0 <= wy <= y1):
                errors.append(
                    RowError(
                        number,
                        column["lng"],
                        f"位置（{x}, {y}）不在温州范围内（经度 {x0:.1f}～{x1:.1f}，纬度 {y0:.1f}～{y1:.1f}）",
                    )
                )
                continue
            lng.append(wx)
            lat.append(wy)
            weight.append(w)
            name = raw.get(column["name"]) if "name" in column else None
            label.append(str(name).strip()[:120] if name not in (None, "") else None)
        else:
            cell_raw = raw.get(column["h3"])
            text = str(cell_raw).strip().lower() if cell_raw not in (None, "") else ""
            if not text:
                errors.append(RowError(number, column["h3"], "H3 编号为空"))
                continue
            if not h3.is_valid_cell(text):
                errors.append(RowError(number, column["h3"], f"「{cell_raw}」不是有效的 H3 网格编号"))
                continue
            res = h3.get_resolution(text)
            if res < MIN_H3_RESOLUTION:
                errors.append(
                    RowError(number, column["h3"], f"网格太粗（分辨率 {res}）：请用 {MIN_H3_RESOLUTION}～15 级网格")
                )
                continue
            c_lat, c_lng = h3.cell_to_latlng(text)
            if not (x0 <= c_lng <= x1 and y0 <= c_lat <= y1):
                errors.append(RowError(number, column["h3"], f"网格「{text}」不在温州范围内"))
                continue
            if res >= RESOLUTION:
                lng.append(c_lng)
                lat.append(c_lat)
                weight.append(w)
                label.append(None)
            else:
                # A coarser cell: its demand spread evenly over its resolution-8 children.
                children = h3.cell_to_children(text, RESOLUTION)
                share = w / len(children)
                for child in children:
                    ch_lat, ch_lng = h3.cell_to_latlng(child)
                    lng.append(ch_lng)
                    lat.append(ch_lat)
                    weight.append(share)
                    label.append(None)
    if count == 0:
        raise DemandFileInvalid("the file has no data rows", "文件没有数据行（第一行应是表头，如：经度、纬度、权重）。")
    if errors:
        errors.sort(key=lambda e: (e.row, e.column))
        raise DemandHasErrors(errors, count)
    lng_a, lat_a = np.asarray(lng, float), np.asarray(lat, float)
    items = LayerItems(lng_a, lat_a, cells_of(lng_a, lat_a), np.asarray(weight, float), label)
    return DemandFile(kind, items, count, weighted)


def cells_of(lng: np.ndarray, lat: np.ndarray, resolution: int = RESOLUTION) -> np.ndarray:
    """The H3 cell (uint64) of each WGS-84 point (about 0.8 µs a point)."""
    return np.fromiter(
        (latlng_to_cell(y, x, resolution) for x, y in zip(lng.tolist(), lat.tolist(), strict=True)),
        dtype=np.uint64,
        count=len(lng),
    )


def layer_bounds(districts: DistrictIndex) -> tuple[float, float, float, float]:
    """Where demand may lie: the districts' extent and a margin."""
    x0, y0, x1, y1 = districts.bounds
    m = BOUNDS_MARGIN_DEG
    return (x0 - m, y0 - m, x1 + m, y1 + m)


# -- demand as the analysis sees it -------------------------------------------------------------


@dataclass
class Demand:
    """Weighted WGS-84 positions with their H3 resolution-8 cell, and what they stand for."""

    kind: str  # points | cells | searches | area
    label: str  # Chinese, for pages and pictures
    unit: str  # Chinese unit of the weights
    lng: np.ndarray
    lat: np.ndarray
    weight: np.ndarray
    cell: np.ndarray  # uint64 H3 resolution 8
    district: np.ndarray | None = None  # district code per item (None outside every district)
    info: dict[str, Any] = field(default_factory=dict)  # layer, period, suppression … for reports

    def __len__(self) -> int:
        return len(self.weight)

    @property
    def total(self) -> float:
        """Total weight."""
        return float(self.weight.sum())

    @property
    def is_area(self) -> bool:
        """True for the no-demand fallback (面积覆盖率)."""
        return self.kind == "area"


def demand_from_items(
    items: LayerItems, *, kind: str, label: str, unit: str = "权重", info: dict | None = None
) -> Demand:
    """A Demand of a layer's items (or a file's)."""
    return Demand(kind, label, unit, items.lng, items.lat, items.weight, items.cell, info=dict(info or {}))


def demand_from_layer(store: DemandStore, layer: LayerInfo) -> Demand:
    """A stored demand layer as Demand."""
    items = store.layer_items(layer.id)
    info = {"layer": layer.name, "source": layer.source, "layer_id": layer.id, "items": layer.items}
    return demand_from_items(items, kind=layer.kind, label=f"需求图层「{layer.name}」", info=info)


def cell_centres(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 centres (lng, lat) of H3 cells."""
    if not len(cells):
        return np.zeros(0), np.zeros(0)
    pairs = np.array([h3.api.basic_int.cell_to_latlng(int(c)) for c in cells.tolist()], dtype=float)
    return pairs[:, 1].copy(), pairs[:, 0].copy()


def search_demand(store: DemandStore, *, days: int = 30, last_day: str | None = None) -> Demand:
    """Searches per cell over the last `days` days; cells with fewer than MIN_SEARCHES are left out."""
    first, last = period(days, last_day)
    counts = store.search_counts(first, last, at_least=MIN_SEARCHES)
    cells = np.fromiter(counts.keys(), dtype=np.uint64, count=len(counts))
    weight = np.fromiter(counts.values(), dtype=float, count=len(counts))
    lng, lat = cell_centres(cells)
    info = {"period": [first, last], "days": days, "min_searches": MIN_SEARCHES}
    label = f"附近搜索次数（{first} 至 {last}，少于 {MIN_SEARCHES} 次的网格不计）"
    return Demand("searches", label, "次搜索", lng, lat, weight, cells, info=info)


@lru_cache(maxsize=2)
def _area_arrays(districts: DistrictIndex) -> tuple[np.ndarray, ...]:
    """Resolution-9 cells filling each district: centres, area (km²), resolution-8 parent, district (cached)."""
    basic = h3.api.basic_int
    cells: list[int] = []
    codes: list[str] = []
    for d in districts.districts:
        found = basic.geo_to_cells(d.geometry.__geo_interface__, AREA_RESOLUTION)
        cells.extend(found)
        codes.extend([d.code] * len(found))
    fine = np.asarray(cells, dtype=np.uint64)
    lng, lat = cell_centres(fine)
    area = np.fromiter((basic.cell_area(c, "km^2") for c in cells), dtype=float, count=len(cells))
    parents = np.fromiter((basic.cell_to_parent(c, RESOLUTION) for c in cells), dtype=np.uint64, count=len(cells))
    out = (lng, lat, area, parents, np.asarray(codes, dtype=object))
    for array in out:
        array.setflags(write=False)  # shared by every analysis in this process
    return out


def area_demand(districts: DistrictIndex) -> Demand:
    """Each district's area as demand: resolution-9 cells inside it, weighted by their area in km²."""
    lng, lat, area, parents, codes = _area_arrays(districts)
    label = "行政区域面积（无需求图层时的替代：面积覆盖率，含水域、山地）"
    info = {"resolution": AREA_RESOLUTION}
    return Demand("area", label, "平方公里", lng, lat, area, parents, district=codes, info=info)


def as_mapping(demand: Demand) -> Mapping[str, Any]:
    """What a report says about its demand."""
    return {"kind": demand.kind, "label": demand.label, "unit": demand.unit, "total": demand.total, **demand.info}


# -- stored layers -------------------------------------------------------------------------------

MAX_NAME = 60
MAX_SOURCE = 200


class UnknownDemand(LocatorError):
    """No demand source or layer of that name."""

    http_status = 404
    title = "Not Found"

    def __init__(self, name: str):
        super().__init__(f"no demand layer {name!r}: use area, searches or a stored layer's name or id")
        self.detail_zh = f"没有名为「{name}」的需求图层：可选 area（面积）、searches（搜索记录）或已导入图层的名称。"


def check_layer_name(name: str, source: str) -> tuple[str, str]:
    """A layer's name and source, trimmed; DemandFileInvalid if unusable."""
    name, source = (name or "").strip(), (source or "").strip()
    if not name or len(name) > MAX_NAME or any(unicodedata.category(ch).startswith("C") for ch in name):
        raise DemandFileInvalid(
            f"the layer needs a name of 1-{MAX_NAME} characters", f"请为图层起一个 1～{MAX_NAME} 个字的名称。"
        )
    if name in ("area", "searches") or name.isdigit():
        raise DemandFileInvalid(f"{name!r} is reserved", f"「{name}」是保留名称，请换一个。")
    if len(source) > MAX_SOURCE or any(unicodedata.category(ch) == "Cc" for ch in source):
        raise DemandFileInvalid("the source is too long", f"「来源」最多 {MAX_SOURCE} 个字。")
    return name, source


def import_layer(
    store: DemandStore,
    districts: DistrictIndex,
    data: bytes,
    fmt: Format,
    crs: CRS,
    *,
    name: str,
    source: str,
    purpose: str,
    actor: str,
) -> tuple[LayerInfo, DemandFile]:
    """Validate a layer file and store it, all or nothing (DemandHasErrors lists the bad rows)."""
    name, source = check_layer_name(name, source)
    read = read_layer_file(data, fmt, crs, bounds=layer_bounds(districts), purpose=purpose)
    info = store.create_layer(
        name=name, source=source, purpose=purpose, kind=read.kind, crs=crs.value, created_by=actor, items=read.items
    )
    return info, read


def find_layer(store: DemandStore, name_or_id: str) -> LayerInfo | None:
    """A stored layer by name, or by id."""
    found = store.layer_named(name_or_id)
    if found is None and name_or_id.isdigit():
        found = store.layer(int(name_or_id))
    return found


def load_demand(store: DemandStore, districts: DistrictIndex, source: str, *, days: int = 30) -> Demand:
    """Demand by name: 'area', 'searches' (the last `days` days), or a stored demand layer's name or id."""
    if source in ("", "area"):
        return area_demand(districts)
    if source == "searches":
        return search_demand(store, days=days)
    layer = find_layer(store, source)
    if layer is None or layer.purpose != "demand":
        raise UnknownDemand(source)
    return demand_from_layer(store, layer)
