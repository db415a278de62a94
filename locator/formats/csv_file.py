"""CSV rosters: UTF-8 (with BOM, as Excel needs) or GBK in, UTF-8 with BOM out; formulas neutralised."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence

from locator.coords import CRS
from locator.formats.base import (
    TEMPLATE_EXAMPLE,
    TEMPLATE_HEADERS,
    FileInvalid,
    Format,
    RawRow,
    decode_text,
    export_headers,
    field_of,
    neutralise_formula,
    record_cells,
)
from locator.stations import Station

WKT_HEADERS = ("wkt", "geometry", "geom", "the_geom")  # ogr2ogr -lco GEOMETRY=AS_WKT, QGIS
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
    """(spreadsheet row number, row dict) for each data row of a CSV roster (WKT POINT columns read too)."""
    header, rows = read_table(data)
    fields = {field_of(n) for n in header}
    wkt = None
    if ("lng" not in fields or "lat" not in fields) and not fields & {"lnglat", "latlng", "coordinates"}:
        wkt = next((n for n in header if n.strip().lstrip("\ufeff").lower() in WKT_HEADERS), None)
        if wkt is None:
            raise FileInvalid(
                "the CSV file needs longitude and latitude columns (经度, 纬度 or lng, lat) or a WKT column",
                "CSV 文件需要「经度」「纬度」两列（或一列「经纬度」，如 120.6994,27.9939）。",
            )
    if "name" not in fields:
        raise FileInvalid("the CSV file needs a name column (名称 or name)")
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


FORMAT = Format("csv", "CSV", (".csv", ".txt"), "text/csv; charset=utf-8", read_rows, write, template, any_crs=True)
