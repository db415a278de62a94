"""Roster file formats: one Format object per format, listed once in FORMATS.

To add a format, write a module with `read_rows`, `write` and a `FORMAT`, and add it here: the
CLI, the admin pages, the token API and the exports all take their lists from FORMATS.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from locator.coords import CRS
from locator.formats import csv_file, geojson_file, gpkg_file, kml_file, xlsx_file
from locator.formats.base import (
    ExportSystemUnsupported,
    FileInvalid,
    Format,
    LayerChoiceNeeded,
    RawRow,
    neutralise_formula,
)
from locator.stations import Station

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


def check_export(fmt: Format, crs: CRS) -> None:
    """Refuse GCJ-02/BD-09 for formats that are WGS-84 by their standard (GeoJSON, KML, GeoPackage)."""
    if crs is not CRS.WGS84 and not fmt.any_crs:
        raise ExportSystemUnsupported(fmt, crs, [f"{f.label} ({f.suffix})" for f in FORMATS.values() if f.any_crs])


def export(fmt: Format, stations: Sequence[Station], crs: CRS = CRS.WGS84) -> bytes:
    """The stations as a file of `fmt` with coordinates in `crs` (only CSV and XLSX take GCJ-02/BD-09)."""
    check_export(fmt, crs)
    return fmt.write(stations, crs)


__all__ = [
    "FORMATS",
    "NAMES",
    "ExportSystemUnsupported",
    "FileInvalid",
    "Format",
    "LayerChoiceNeeded",
    "RawRow",
    "check_export",
    "detect_format",
    "export",
    "neutralise_formula",
]
