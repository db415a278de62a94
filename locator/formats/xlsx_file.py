"""XLSX rosters (openpyxl, imported only when a workbook is read or written)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from locator.coords import CRS
from locator.formats import xlsx_fast
from locator.formats.base import (
    TEMPLATE_EXAMPLE,
    TEMPLATE_HEADERS,
    FileInvalid,
    Format,
    RawRow,
    export_headers,
    neutralise_formula,
    record_cells,
)
from locator.stations import Station

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .xlsx and old .xls are OLE compound files
SHEET_TITLE = "驿站名册"


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


def read_rows(data: bytes) -> Iterator[RawRow]:
    """Rows of the first sheet; a cell holding a formula makes that row an error (values, not formulas)."""
    if data.startswith(OLE_MAGIC):
        raise FileInvalid(
            "the workbook is password-protected (encrypted) or an old .xls file: remove the password "
            "(文件 → 信息 → 保护工作簿) and save as .xlsx"
        )
    fast = xlsx_fast.rows(data, _cell_text)  # calamine; None: formulas (or no zip), read below with openpyxl
    if fast is not None:
        yield from fast
        return
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


def _workbook_bytes(header: Iterable[str], rows: Iterable[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_TITLE
    ws.append(list(header))
    for row in rows:
        ws.append([neutralise_formula(v) if isinstance(v, str) else v for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write(stations: Sequence[Station], crs: CRS = CRS.WGS84) -> bytes:
    """One sheet, one row per station, the same columns as the CSV export; formulas neutralised."""
    return _workbook_bytes(export_headers(crs), (record_cells(s, crs) for s in stations))


def template() -> bytes:
    """The import template: Chinese headers and one example row."""
    return _workbook_bytes(TEMPLATE_HEADERS, [TEMPLATE_EXAMPLE])


FORMAT = Format(
    "xlsx",
    "Excel 工作簿",
    (".xlsx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    read_rows,
    write,
    template,
    any_crs=True,
)
