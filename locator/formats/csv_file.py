"""CSV rosters: UTF-8 (with BOM, as Excel needs) or GBK in, UTF-8 with BOM out; formulas neutralised."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence

from locator.coords import CRS
from locator.formats.base import (
    MAX_COLUMNS,
    MAX_CSV_FIELD,
    MAX_CSV_LINE,
    MAX_ROWS,
    TEMPLATE_EXAMPLE,
    TEMPLATE_HEADERS,
    FileInvalid,
    Format,
    RawRow,
    export_headers,
    field_of,
    neutralise_formula,
    over_limit,
    record_cells,
    stream_lines,
    text_encoding,
    too_many_rows,
)
from locator.stations import Station

WKT_HEADERS = ("wkt", "geometry", "geom", "the_geom")  # ogr2ogr -lco GEOMETRY=AS_WKT, QGIS
csv.field_size_limit(MAX_CSV_FIELD)  # the module's default too; set here because the message names it
_WKT_POINT = re.compile(r"^\s*POINT\s*Z?M?\s*\(\s*(\S+)\s+(\S+)(?:\s+\S+)*\s*\)\s*$", re.I)


def _wkt_point(row: dict, header: str) -> None:
    """Longitude and latitude from a WKT POINT column (an error for the row otherwise)."""
    text = (row.get(header) or "").strip()
    match = _WKT_POINT.match(text)
    if match:
        row["lng"], row["lat"] = match.group(1), match.group(2)
    else:
        row["__error__"] = f"{header}: {text[:40]!r} is not a WKT POINT"
        row["__field__"] = header


def _field_too_large(number: int) -> FileInvalid:
    kb = MAX_CSV_FIELD // 1024
    return over_limit(
        f"row {number}: a field (cell) is larger than {kb} KB",
        f"{kb} KB per field",
        f"第 {number} 行：某个单元格超过 {kb} KB",
        f"每个单元格 {kb} KB",
    )


def _too_wide(number: int) -> FileInvalid:
    return over_limit(
        f"row {number} has more than {MAX_COLUMNS:,} columns",
        f"{MAX_COLUMNS:,} columns",
        f"第 {number} 行超过 {MAX_COLUMNS:,} 列",
        f" {MAX_COLUMNS:,} 列",
    )


def _bounded_lines(text: Iterator[str]) -> Iterator[str]:
    """The file's physical lines, each within MAX_CSV_LINE characters (one line is never read whole beyond it)."""
    number = 0
    while line := text.readline(MAX_CSV_LINE + 1):  # type: ignore[attr-defined]
        number += 1
        if len(line) > MAX_CSV_LINE:
            mb = MAX_CSV_LINE // (1024 * 1024)
            raise over_limit(
                f"line {number} of the file is longer than {MAX_CSV_LINE:,} characters",
                f"{mb} MB per line",
                f"文件第 {number} 行超过 {MAX_CSV_LINE:,} 个字符",
                f"每行 {mb} MB",
            )
        yield line


def _records(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """(spreadsheet row number, cells) of every record, the header first, within the limits.

    The text is decoded and parsed as it is read: a line over MAX_CSV_LINE, a field over MAX_CSV_FIELD,
    a row over MAX_COLUMNS or a row number beyond MAX_ROWS + 1 (blank lines count) stops the file there.
    """
    text = stream_lines(data, text_encoding(data))
    sample = text.read(4096)
    text.seek(0)
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    # Only the delimiter is sniffed: the sniffer guesses quoting wrong on cells with doubled quotes.
    reader = csv.reader(_bounded_lines(text), dialect=csv.excel, delimiter=delimiter)
    number = 0
    try:
        for number, values in enumerate(reader, start=1):
            if number > MAX_ROWS + 1:
                raise too_many_rows(number)
            if len(values) > MAX_COLUMNS:
                raise _too_wide(number)
            yield number, values
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise _field_too_large(number + 1) from None
        raise FileInvalid(f"not a readable CSV file: {exc}", "无法读取该 CSV 文件。") from None


def count_rows(data: bytes) -> int:
    """The number of records (the header included), read without building rows: an import's first pass."""
    return sum(1 for _ in _records(data))


def _dict_rows(fieldnames: list[str], records: Iterator[tuple[int, list[str]]]) -> Iterator[RawRow]:
    width = len(fieldnames)
    for number, values in records:
        if not any(v.strip() for v in values):
            continue  # blank line (it still counts as a row)
        # As csv.DictReader builds rows: extra cells under None, missing ones None.
        row: dict = dict(zip(fieldnames, values, strict=False))
        if len(values) > width:
            row[None] = values[width:]
        elif len(values) < width:
            for name in fieldnames[len(values) :]:
                row.setdefault(name, None)
        yield number, row


def read_table(data: bytes) -> tuple[list[str], Iterator[RawRow]]:
    """The header and (spreadsheet row number, row dict) of each data row, whatever the columns, within the limits.

    read_rows checks a roster's columns on top of this; other tables (demand layers) check their own.
    """
    records = _records(data)
    _, fieldnames = next(records, (1, []))
    if not fieldnames:
        raise FileInvalid("the CSV file has no header row", "CSV 文件没有标题行。")
    return fieldnames, _dict_rows(fieldnames, records)


def read_rows(data: bytes) -> Iterator[RawRow]:
    """(spreadsheet row number, row dict) for each data row of a CSV file (WKT POINT columns read too)."""
    fieldnames, rows = read_table(data)
    fields = {field_of(n) for n in fieldnames}
    wkt = None
    if ("lng" not in fields or "lat" not in fields) and not fields & {"lnglat", "latlng", "coordinates"}:
        wkt = next((n for n in fieldnames if n.strip().lstrip("\ufeff").lower() in WKT_HEADERS), None)
        if wkt is None:
            raise FileInvalid(
                "the CSV file needs longitude and latitude columns (经度, 纬度 or lng, lat) or a WKT column",
                "CSV 文件需要「经度」「纬度」两列（或一列「经纬度」，如 120.6994,27.9939）。",
            )
    if "name" not in fields:
        raise FileInvalid("the CSV file needs a name column (名称 or name)", "CSV 文件缺少「名称」列。")
    for number, row in rows:
        if wkt is not None:
            _wkt_point(row, wkt)
        yield number, row


def _csv_bytes(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise_formula("" if v is None else str(v)) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def write(stations: Sequence[Station], crs: CRS = CRS.WGS84) -> bytes:
    """UTF-8 CSV with BOM (Excel opens it right), one row per station; a non-WGS-84 system named in the headers."""
    return _csv_bytes(export_headers(crs), [record_cells(s, crs) for s in stations])


def template() -> bytes:
    """The import template as UTF-8 CSV with BOM."""
    return _csv_bytes(TEMPLATE_HEADERS, [TEMPLATE_EXAMPLE])


FORMAT = Format(
    "csv",
    "CSV",
    (".csv", ".txt"),
    "text/csv; charset=utf-8",
    read_rows,
    write,
    template,
    any_crs=True,
    precheck=count_rows,
)
