"""Row errors an organizer can act on: the column as written in the file, the row as Excel shows it, in Chinese.

Also: the fast XLSX reader gives exactly the rows openpyxl gives, and a workbook with formulas
still goes to openpyxl (which names the cells).
"""

from __future__ import annotations

import io

import numpy as np
from openpyxl import Workbook

from locator.accounts import User
from locator.coords import CRS, from_wgs84
from locator.formats import FORMATS, xlsx_file
from locator.importing import preview
from tests.test_admin_import import LUCHENG, rows_for, xlsx_bytes

ADMIN = User(0, "tester", "city_admin")


def _workbook(headers: list[str], rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _outside_unless_bd09(roster) -> tuple[float, float]:
    """BD-09 coordinates of a point inside Wenzhou that, read as WGS-84, fall outside every district."""
    districts = roster.districts
    outline = districts.outline.exterior if hasattr(districts.outline, "exterior") else None
    rings = [outline] if outline is not None else [g.exterior for g in districts.outline.geoms]
    for ring in rings:
        coords = np.asarray(ring.coords)[:: max(1, len(ring.coords) // 400)]
        for x, y in coords:
            for dx, dy in ((-0.004, 0), (0.004, 0), (0, -0.004), (0, 0.004)):
                inside = (float(x + dx), float(y + dy))
                if districts.district_of(*inside) is None:
                    continue
                bx, by = (float(v) for v in from_wgs84(*inside, CRS.BD09))
                gx, gy = (float(v) for v in from_wgs84(*inside, CRS.GCJ02))
                if districts.district_of(bx, by) is None and districts.district_of(gx, gy) is None:
                    return bx, by
    raise AssertionError("no such point on the outline")


def test_row_errors_name_the_column_as_written_in_chinese(roster):
    """Headers 北纬/东经/设施/营业时间: errors use those names, Excel's row numbers, and say how to fix."""
    headers = ["站点名称", "类型", "所属区县", "东经", "北纬", "营业时间", "设施"]
    lng, lat = LUCHENG
    rows = [
        ["一号站", "骑手驿站", "鹿城区", lng, lat, "周一至周日 08:00-22:00", "微波加热、免费茶饮"],  # row 2: fine
        ["二号站", "骑手驿站", "", lng, lat, "周一至周五 9:00-18:00，周六 9:00-12:00", "空调"],  # row 3
        ["三号站", "奶茶店", "", lng, lat, "", ""],  # row 4
        ["四号站", "骑手驿站", "", lat, 120.8102, "", ""],  # row 5: swapped
        ["五号站", "骑手驿站", "瓯海区", lng, lat, "", ""],  # row 6: lies in 鹿城区
        ["六号站", "骑手驿站", "", lng, lat, "全天营业到深夜", ""],  # row 7
    ]
    result = preview(roster, _workbook(headers, rows), FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False)
    lines = result.report()
    assert "第 3 行「设施」“空调”不在服务设施清单中：可填 舒心歇脚点、" in lines[0]
    assert lines[1].startswith("第 4 行「类型」“奶茶店”不是站点类型：可填 骑手驿站、党建之家、示范点、金融服务站")
    assert "第 5 行「北纬」120.8102 不在 -90～90 之间：经度和纬度是否填反了？" in lines
    district = next(line for line in lines if line.startswith("第 6 行"))
    assert district.startswith("第 6 行「所属区县」填的是瓯海区，但坐标位于鹿城区")
    assert next(line for line in lines if line.startswith("第 7 行")).startswith("第 7 行「营业时间」")
    body = result.as_json()["errors"]
    assert {"row": 5, "column": "北纬", "field": "lat"}.items() <= body[2].items()
    assert body[2]["message"] == "120.8102 is outside -90.0..90.0"  # English stays for developers


def test_point_outside_that_fits_another_system_says_which_to_choose(roster):
    """BD-09 coordinates declared as WGS-84 land outside Wenzhou: the error says to choose BD-09."""
    bx, by = _outside_unless_bd09(roster)
    rows = rows_for(1, district="", point=(bx, by))
    result = preview(roster, xlsx_bytes(rows), FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False)
    (error,) = result.errors
    assert error.field == "location" and error.column == "经度、纬度"
    assert "如按 BD-09（百度地图） 坐标换算，则位于" in error.message_zh
    assert "请改选「BD-09（百度地图）」" in error.message_zh
    fixed = preview(roster, xlsx_bytes(rows), FORMATS["xlsx"], CRS.BD09, user=ADMIN, replace=False)
    assert fixed.ok, fixed.report()


def test_one_cell_coordinates_column(roster):
    """A column 经纬度 holding "120.66,28.02" (as AMap's picker copies it) imports; full-width too."""
    lng, lat = LUCHENG
    rows = [["一号站", "骑手驿站", f"{lng},{lat}"], ["二号站", "骑手驿站", f"{lat}，{lng + 0.001}"]]
    for fmt, data in (("xlsx", _workbook(["名称", "类型", "经纬度"], rows)), ("csv", None)):
        if data is None:
            text = "名称,类型,经纬度\r\n" + "".join(f'{a},{b},"{c}"\r\n' for a, b, c in rows)
            data = text.encode("utf-8-sig")
        result = preview(roster, data, FORMATS[fmt], CRS.WGS84, user=ADMIN, replace=False)
        assert result.ok, result.report()
        assert [(s.lng, s.lat) for s in result.added] == [(lng, lat), (round(lng + 0.001, 7), lat)]


def test_reader_row_errors_are_chinese(roster):
    """A formula cell names its column and says how to paste values; a GeoJSON line that is no point too."""
    rows = rows_for(2)
    rows[1][4] = "=120.6+0.01"
    result = preview(roster, xlsx_bytes(rows), FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False)
    assert result.report() == [
        "第 3 行「经度」单元格里是公式：请复制这些单元格，用「选择性粘贴 → 数值」只保留数值后再上传。"
    ]
    doc = b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"LineString",' \
        b'"coordinates":[[120.6,28.0],[120.7,28.0]]},"properties":{"name":"x"}}]}'  # fmt: skip
    result = preview(roster, doc, FORMATS["geojson"], CRS.WGS84, user=ADMIN, replace=False)
    assert result.report() == ["第 1 行「几何」几何类型不是点：名册只能导入点要素（每个站点一个点）。"]


def test_a_formula_cell_is_named_not_read_as_its_cached_value():
    """A formula's cached value may be stale: the reader names the cell instead of importing it."""
    rows = rows_for(2)
    rows[0][5] = "=28+0.01"
    data = xlsx_bytes(rows)
    read = list(xlsx_file.read_rows(data))
    assert read[0][1]["__field__"] == "纬度"
