"""GeoPackage rosters (GDAL through pyogrio/geopandas, imported only when a file is read or written)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

from locator.coords import CRS
from locator.formats.base import ROSTER_COLUMNS, FileInvalid, Format, RawRow, record_cells
from locator.stations import Station

SQLITE_MAGIC = b"SQLite format 3\x00"


def write(stations: Sequence[Station], crs: CRS = CRS.WGS84) -> bytes:
    """A GeoPackage with one point layer 'stations' (EPSG:4326; text attributes)."""
    import geopandas as gpd
    from shapely.geometry import Point

    records = []
    geoms = []
    for s in stations:
        cells = dict(zip(ROSTER_COLUMNS, record_cells(s, crs), strict=True))
        geoms.append(Point(cells["lng"], cells["lat"]))
        records.append({k: (None if v is None else str(v)) for k, v in cells.items() if k not in ("lng", "lat")})
    columns = [c for c in ROSTER_COLUMNS if c not in ("lng", "lat")]
    frame = gpd.GeoDataFrame(records, columns=columns, geometry=geoms, crs="EPSG:4326")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "stations.gpkg")
        frame.to_file(path, layer="stations", driver="GPKG", engine="pyogrio")
        with open(path, "rb") as fh:
            return fh.read()


def read_rows(data: bytes) -> Iterator[RawRow]:
    """Point features of the first layer of a GeoPackage."""
    if not data.startswith(SQLITE_MAGIC):
        raise FileInvalid("not a GeoPackage (an SQLite database file)")
    import pyogrio

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "upload.gpkg")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            frame = pyogrio.read_dataframe(path)
        except Exception as exc:  # noqa: BLE001 - GDAL raises many types for broken files
            raise FileInvalid(f"not a readable GeoPackage: {exc}") from None
    for number, (_, rec) in enumerate(frame.iterrows(), start=1):
        row: dict[str, Any] = {}
        for key, value in rec.items():
            if key == "geometry":
                continue
            row[key] = None if value is None or (isinstance(value, float) and value != value) else value
        geom = rec.get("geometry")
        if geom is None or geom.geom_type != "Point":
            row["__error__"] = "geometry must be a Point"
        else:
            row["lng"], row["lat"] = geom.x, geom.y
        yield number, row


FORMAT = Format("gpkg", "GeoPackage", (".gpkg",), "application/geopackage+sqlite3", read_rows, write)
