"""The fast way through an XLSX roster: calamine (Rust) reads the first sheet in a tenth of openpyxl's time.

A 10,000-row workbook takes openpyxl 3-6 s on the production machines' class of CPU, most of a
preview's 5 s budget; calamine takes 0.2-0.4 s. calamine only ever sees what Python's zipfile has
already unpacked (within the declared sizes, CRC-checked) and packed again without compression,
so a lying archive cannot make it unpack more than the checks allowed. calamine returns a
formula's cached value, not the formula: a workbook with any formula goes to the openpyxl reader
(xlsx_file.read_rows), which names the cells. Both give the same rows.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from locator.formats.base import FileInvalid, RawRow

MAX_UNPACKED = 256 * 1024 * 1024  # bytes of all members together; 200,000 rows of a roster are far less
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")  # <f>, <f t="shared" …/>, <x:f>; not <formula1> or <fill>


def _repacked(data: bytes) -> io.BytesIO | None:
    """The archive unpacked by Python and packed again uncompressed; None if it holds a formula or is no zip."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None  # the openpyxl reader gives the usual message
    if sum(m.file_size for m in members) > MAX_UNPACKED:
        return None
    out = io.BytesIO()
    try:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as packed:
            for member in members:
                body = archive.read(member)
                if member.filename.startswith("xl/worksheets/") and _FORMULA.search(body):
                    return None
                packed.writestr(member.filename, body)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError, EOFError):
        return None
    out.seek(0)
    return out


def rows(data: bytes, cell_text) -> Iterator[RawRow] | None:
    """The first sheet's rows like xlsx_file.read_rows gives them, or None: use the openpyxl reader.

    `cell_text` turns a cell's value into the row's value (xlsx_file._cell_text).
    """
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:  # pragma: no cover - python-calamine is a requirement; openpyxl still works
        return None
    packed = _repacked(data)
    if packed is None:
        return None
    try:
        book = CalamineWorkbook.from_filelike(packed)
        if not book.sheet_names:
            raise FileInvalid("the workbook has no sheet")
        values = list(book.get_sheet_by_index(0).iter_rows())
    except FileInvalid:
        raise
    except Exception:  # noqa: BLE001 - calamine raises its own types for broken parts: openpyxl decides
        return None
    return _rows(values, cell_text)


def _rows(values: list[list[Any]], cell_text) -> Iterator[RawRow]:
    if not values:
        raise FileInvalid("the sheet is empty: the first row must hold the column headers")
    headers = [str(v).strip() if v not in (None, "") else "" for v in values[0]]
    if not any(headers):
        raise FileInvalid("the first row of the sheet must hold the column headers (名称, 经度, 纬度 …)")
    for number, cells in enumerate(values[1:], start=2):
        raw: dict[str, Any] = {}
        for header, value in zip(headers, cells, strict=False):
            if header:
                if type(value) is float and value.is_integer() and abs(value) < 2**53:
                    value = int(value)  # openpyxl gives whole numbers as int (phone numbers, codes)
                raw[header] = cell_text(None if value == "" else value)
        if any(v not in (None, "") for v in raw.values()):
            yield number, raw
