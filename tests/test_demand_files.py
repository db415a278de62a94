"""Demand and hosts files: read through locator/formats, validated row by row, errors in Chinese."""

from __future__ import annotations

import io
import json

import h3
import pytest
from openpyxl import Workbook

from locator.coords import CRS, wgs84_to_gcj02
from locator.demand import DemandFileInvalid, DemandHasErrors, layer_bounds, read_layer_file
from locator.districts import load_districts
from locator.formats import FORMATS

BOUNDS = layer_bounds(load_districts())


def read(data: bytes, fmt: str = "csv", crs: str = "wgs84", purpose: str = "demand"):
    return read_layer_file(data, FORMATS[fmt], CRS(crs), bounds=BOUNDS, purpose=purpose)


def csv_bytes(text: str, encoding: str = "utf-8-sig") -> bytes:
    return text.encode(encoding)


def xlsx_bytes(rows: list[list]) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_points_with_weights_in_gcj02_are_stored_in_wgs84():
    x, y = wgs84_to_gcj02(120.70, 28.00)
    result = read(csv_bytes(f'经度,纬度,订单数\n{x},{y},12\n120.65,27.99,"1,234"\n'), crs="gcj02")
    assert result.kind == "points" and result.weighted and result.rows == 2
    assert result.items.lng[0] == pytest.approx(120.70, abs=1e-8) and result.items.lat[0] == pytest.approx(28.0)
    assert result.items.weight.tolist() == [12.0, 1234.0]
    assert result.items.cell[0] == h3.api.basic_int.latlng_to_cell(28.0, 120.70, 8)


def test_without_a_weight_column_every_row_counts_one_and_gbk_and_full_width_digits_are_read():
    result = read(csv_bytes("lng,lat,备注\n１２０.７,２８.０,甲\n120.71,28.01,乙\n", "gb18030"))
    assert not result.weighted and result.items.weight.tolist() == [1.0, 1.0]
    assert result.items.lng[0] == pytest.approx(120.7)


def test_h3_cells_coarse_ones_spread_over_their_children_fine_ones_at_their_centre():
    coarse = h3.latlng_to_cell(28.0, 120.7, 7)
    fine = h3.latlng_to_cell(27.95, 120.65, 10)
    result = read(csv_bytes(f"h3,人口\n{coarse},700\n{fine.upper()},3\n"))
    assert result.kind == "cells" and len(result.items.weight) == 8
    assert result.items.weight[:7].tolist() == pytest.approx([100.0] * 7)
    assert {h3.int_to_str(int(c)) for c in result.items.cell[:7]} == set(h3.cell_to_children(coarse, 8))
    lat, lng = h3.cell_to_latlng(fine)
    assert (result.items.lng[7], result.items.lat[7]) == pytest.approx((lng, lat))
    assert h3.int_to_str(int(result.items.cell[7])) == h3.cell_to_parent(fine, 8)


def test_xlsx_and_geojson_layers():
    result = read(xlsx_bytes([["经度", "纬度", "权重"], [120.7, 28.0, 2], [120.71, 28.01, 3.5]]), fmt="xlsx")
    assert result.items.weight.tolist() == [2.0, 3.5]
    point = {"type": "Point", "coordinates": [120.7, 28.0]}
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": point, "properties": {"权重": 4}}]}
    result = read(json.dumps(doc).encode(), fmt="geojson")
    assert result.items.weight.tolist() == [4.0] and result.kind == "points"


def test_hosts_keep_their_names():
    result = read(csv_bytes("名称,经度,纬度\n某银行网点,120.70,28.00\n=恶意公式,120.71,28.01\n"), purpose="hosts")
    assert result.items.label == ["某银行网点", "=恶意公式"] and not result.weighted


BAD_ROWS = [
    ("经度,纬度,权重\n120.7,28.0,\n", "权重", "权重为空"),
    ("经度,纬度,权重\n120.7,28.0,-3\n", "权重", "不是 0 或正数"),
    ("经度,纬度,权重\n120.7,28.0,很多\n", "权重", "「很多」不是 0 或正数"),
    ("经度,纬度,权重\n120.7,28.0,NaN\n", "权重", "不是 0 或正数"),
    ("经度,纬度,权重\n,28.0,1\n", "经度", "坐标为空"),
    ("经度,纬度,权重\n东经120度,28.0,1\n", "经度", "不是数字"),
    ("经度,纬度,权重\n120.7,95,1\n", "纬度", "超出有效范围"),
    ("经度,纬度,权重\n28.0,120.7,1\n", "经度", "经度和纬度写反"),
    ("经度,纬度,权重\n116.4,39.9,1\n", "经度", "不在温州范围内"),
    ("LNG,LAT,Weight\ninf,28.0,1\n", "LNG", "不是数字"),
    ("h3,权重\nnot-a-cell,1\n", "h3", "不是有效的 H3 网格编号"),
    ("h3,权重\n,1\n", "h3", "H3 编号为空"),
    (f"h3,权重\n{h3.latlng_to_cell(28.0, 120.7, 3)},1\n", "h3", "网格太粗"),
    (f"h3,权重\n{h3.latlng_to_cell(39.9, 116.4, 8)},1\n", "h3", "不在温州范围内"),
]


@pytest.mark.parametrize(("text", "column", "message"), BAD_ROWS)
def test_bad_rows_are_reported_in_chinese_naming_the_header_as_written(text, column, message):
    with pytest.raises(DemandHasErrors) as exc:
        read(csv_bytes(text + ("120.70,28.00,1\n" if text.startswith(("经度", "LNG")) else "")))
    errors = exc.value.errors
    assert errors[0].row == 2 and errors[0].column == column and message in errors[0].message, errors
    assert exc.value.http_status == 422 and "未保存任何数据" in exc.value.detail_zh
    assert str(errors[0]).startswith(f"第 2 行「{column}」")


def test_every_bad_row_is_listed_and_nothing_is_kept():
    text = "经度,纬度,权重\n120.7,28.0,1\n120.7,,1\n120.7,28.0,x\n" + "120.7,28.0,1\n" * 3 + "abc,28,1\n"
    with pytest.raises(DemandHasErrors) as exc:
        read(csv_bytes(text))
    assert [(e.row, e.column) for e in exc.value.errors] == [(3, "纬度"), (4, "权重"), (8, "经度")]
    assert exc.value.problem()["errors"][0] == {"row": 3, "column": "纬度", "message": "坐标为空"}


def test_formula_cells_and_non_point_features_are_row_errors():
    wb = Workbook()
    wb.active.append(["经度", "纬度", "权重"])
    wb.active.append([120.7, 28.0, "=A2*2"])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(DemandHasErrors) as exc:
        read(buf.getvalue(), fmt="xlsx")
    assert exc.value.errors[0].column == "权重" and "公式" in exc.value.errors[0].message
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None, "properties": {"w": 1}}]}
    with pytest.raises((DemandHasErrors, DemandFileInvalid)):
        read(json.dumps(doc).encode(), fmt="geojson")


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"", "csv", "文件是空的"),
        (b"   \n", "csv", "文件是空的"),
        ("名称,地址\n甲,乙\n".encode(), "csv", "需要「经度」「纬度」两列"),
        ("经度,纬度\n".encode(), "csv", "没有数据行"),
        (b"\x00\x01\x02\xff\xfe binary", "csv", "无法识别文件的文字编码"),
        (b"PK\x03\x04 not really a workbook", "xlsx", "无法读取该 .xlsx 工作簿"),
        (b"{not json", "geojson", "不是有效的 JSON"),
        (b'{"type": "Feature"}', "geojson", "要素集合"),
    ],
)
def test_unusable_files_are_refused_as_a_whole(data, fmt, message):
    with pytest.raises(DemandFileInvalid) as exc:
        read(data, fmt=fmt)
    assert message in exc.value.detail_zh and exc.value.http_status == 400


def test_a_hosts_file_needs_coordinates():
    with pytest.raises(DemandFileInvalid) as exc:
        read(csv_bytes(f"h3,名称\n{h3.latlng_to_cell(28.0, 120.7, 8)},甲\n"), purpose="hosts")
    assert "候选点文件需要" in exc.value.detail_zh
