"""Roster file formats: one Format object per format, listed once in FORMATS.

To add a format, write a module with `read_rows`, `write` and a `FORMAT`, and add it here: the
CLI, the admin pages, the token API and the exports all take their lists from FORMATS.
"""

from __future__ import annotations

from pathlib import Path

from locator.formats import csv_file, geojson_file, gpkg_file, kml_file, xlsx_file
from locator.formats.base import FileInvalid, Format, RawRow, neutralise_formula

FORMATS: dict[str, Format] = {
    f.name: f for f in (xlsx_file.FORMAT, csv_file.FORMAT, geojson_file.FORMAT, kml_file.FORMAT, gpkg_file.FORMAT)
}
NAMES = tuple(FORMATS)


def detect_format(filename: str) -> Format:
    """The format of a file from its name's suffix (FileInvalid for anything else)."""
    suffix = Path(filename).suffix.lower()
    for fmt in FORMATS.values():
        if suffix in fmt.suffixes:
            return fmt
    if suffix == ".xls":
        raise FileInvalid("old .xls workbooks are not supported: in Excel use 另存为 → Excel 工作簿 (.xlsx)")
    raise FileInvalid(f"unsupported file type {suffix or filename!r}: use .xlsx, .csv, .geojson, .kml or .gpkg")


__all__ = ["FORMATS", "NAMES", "FileInvalid", "Format", "RawRow", "detect_format", "neutralise_formula"]
