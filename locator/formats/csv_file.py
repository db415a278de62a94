"""CSV rosters: UTF-8 (with BOM, as Excel needs) or GBK in, UTF-8 with BOM out; formulas neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

from locator.coords import CRS
from locator.formats.base import (
    ROSTER_COLUMNS,
    TEMPLATE_EXAMPLE,
    TEMPLATE_HEADERS,
    FileInvalid,
    Format,
    RawRow,
    decode_text,
    field_of,
    neutralise_formula,
    record_cells,
)
from locator.stations import Station


def read_table(data: bytes) -> tuple[list[str], Iterator[RawRow]]:
    """The header and (spreadsheet row number, row dict) of each data row, whatever the columns.

    read_rows checks a roster's columns on top of this; other tables (demand layers) check their own.
    """
    text = decode_text(data)
    try:
        delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    # Only the delimiter is sniffed: the sniffer guesses quoting wrong on cells with doubled quotes.
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=csv.excel, delimiter=delimiter)
    if not reader.fieldnames:
        raise FileInvalid("the CSV file has no header row")

    def rows() -> Iterator[RawRow]:
        for number, row in enumerate(reader, start=2):
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue  # blank line
            yield number, row

    return list(reader.fieldnames), rows()


def read_rows(data: bytes) -> Iterator[RawRow]:
    """(spreadsheet row number, row dict) for each data row of a CSV roster."""
    header, rows = read_table(data)
    fields = {field_of(n) for n in header}
    if "lng" not in fields or "lat" not in fields:
        raise FileInvalid("the CSV file needs longitude and latitude columns (经度, 纬度 or lng, lat)")
    if "name" not in fields:
        raise FileInvalid("the CSV file needs a name column (名称 or name)")
    yield from rows


def _csv_bytes(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise_formula("" if v is None else str(v)) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def write(stations: Sequence[Station], crs: CRS = CRS.WGS84) -> bytes:
    """UTF-8 CSV with BOM (Excel opens it right), one row per station, formulas neutralised."""
    return _csv_bytes(ROSTER_COLUMNS, [record_cells(s, crs) for s in stations])


def template() -> bytes:
    """The import template as UTF-8 CSV with BOM."""
    return _csv_bytes(TEMPLATE_HEADERS, [TEMPLATE_EXAMPLE])


FORMAT = Format("csv", "CSV", (".csv", ".txt"), "text/csv; charset=utf-8", read_rows, write, template)
