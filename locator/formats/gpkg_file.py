"""GeoPackage rosters (GDAL through pyogrio, imported only when a file is read or written).

Exports are one point layer `stations` in EPSG:4326 (GeoPackage is WGS-84 here: other systems are
refused by Format.export), with typed columns (dates as Date, flags as Boolean) and GeoPackage
version 1.3, which GDAL 3.6 and older QGIS read without a warning (GDAL ≥ 3.9 writes 1.4 by default).

Imports read one layer: the one the user names, else a layer called `stations`, else the only
point layer; otherwise the user is asked to choose (LayerChoiceNeeded lists the layers).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from locator.coords import CRS
from locator.formats.base import (
    MAX_CELL_CHARS,
    MAX_ROWS,
    ROSTER_COLUMNS,
    FileInvalid,
    Format,
    LayerChoiceNeeded,
    RawRow,
    text_too_long,
    too_many_rows,
)
from locator.stations import Station

SQLITE_MAGIC = b"SQLite format 3\x00"
LAYER = "stations"
GPKG_VERSION = "1.3"
POINT_TYPES = ("Point", "MultiPoint")  # QGIS writes single points as MultiPoint when the source was a shapefile


def write(stations: Sequence[Station], crs: CRS = CRS.WGS84) -> bytes:
    """A GeoPackage 1.3 with one point layer 'stations' (EPSG:4326), typed columns."""
    import numpy as np
    import pyogrio.raw
    import shapely

    columns = [c for c in ROSTER_COLUMNS if c not in ("lng", "lat")]
    records = [s.record() for s in stations]
    data: list[Any] = []
    for name in columns:
        values = [r[name] for r in records]
        if name == "closed_until":
            data.append(np.array([v or "NaT" for v in values], dtype="datetime64[D]"))
        elif name == "approximate":
            data.append(np.array(values, dtype=bool))
        elif name == "amenities":
            data.append(np.array([";".join(v) for v in values], dtype=object))
        else:
            data.append(np.array(values, dtype=object))
    points = shapely.points(np.array([[s.lng, s.lat] for s in stations], dtype=float).reshape(-1, 2))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "stations.gpkg")
        pyogrio.raw.write(
            path,
            shapely.to_wkb(points),
            data,
            columns,
            layer=LAYER,
            driver="GPKG",
            geometry_type="Point",
            crs="EPSG:4326",
            VERSION=GPKG_VERSION,
        )
        with open(path, "rb") as fh:
            return fh.read()


@contextmanager
def _as_file(data: bytes) -> Iterator[str]:
    if not data.startswith(SQLITE_MAGIC):
        raise FileInvalid("not a GeoPackage (an SQLite database file)", "不是 GeoPackage 文件（应为 SQLite 数据库）。")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "upload.gpkg")
        with open(path, "wb") as fh:
            fh.write(data)
        yield path


def _list_layers(path: str) -> list[tuple[str, str | None]]:
    import pyogrio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # GDAL's notes on odd files: errors still raise
            found = pyogrio.list_layers(path)
    except Exception as exc:  # noqa: BLE001 - GDAL raises many types for broken files
        raise FileInvalid(f"not a readable GeoPackage: {exc}", "无法读取该 GeoPackage 文件。") from None
    return [(str(name), None if kind is None else str(kind)) for name, kind in found]


def layers(data: bytes) -> list[tuple[str, str | None]]:
    """The file's layers: (name, geometry type or None for attribute tables)."""
    with _as_file(data) as path:
        return _list_layers(path)


def _describe(found: list[tuple[str, str | None]]) -> str:
    return ", ".join(f"{name} ({kind or 'no geometry'})" for name, kind in found)


def choose_layer(found: list[tuple[str, str | None]], layer: str | None) -> str:
    """The layer to read: the one named, else 'stations', else the only point layer (else ask)."""
    names = [name for name, _ in found]
    if not found:
        raise FileInvalid("the GeoPackage has no layers", "该 GeoPackage 文件没有图层。")
    if layer:
        if layer in names:
            return layer
        raise LayerChoiceNeeded(
            names,
            f"the GeoPackage has no layer {layer!r}; its layers: {_describe(found)}",
            f"GeoPackage 中没有名为“{layer}”的图层；文件中的图层：{'、'.join(names)}。",
        )
    for name in names:
        if name.lower() == LAYER:
            return name
    points = [name for name, kind in found if kind and kind.split(" ")[0] in POINT_TYPES]
    if len(points) == 1:
        return points[0]
    if len(found) == 1:
        return names[0]  # not a point layer: each row then says its geometry must be a Point
    raise LayerChoiceNeeded(
        names,
        f"the GeoPackage has {len(found)} layers and none is called {LAYER!r}: choose one "
        f"(--layer on the command line, the layer field in the admin and the API): {_describe(found)}",
        f"该 GeoPackage 有 {len(found)} 个图层，且没有名为“{LAYER}”的图层，请选择要导入的图层：{'、'.join(names)}。",
    )


def _check_layer(path: str, layer: str) -> None:
    """Refuse a layer that is an SQL view or a virtual table (reading one runs the file's own SQL: a recursive
    view of a few lines yields rows without end), or a table of more than MAX_ROWS rows (counted by SQLite
    before GDAL reads a feature; the count GDAL keeps in gpkg_ogr_contents may lie)."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)) as db:
            found = db.execute(
                "SELECT type, sql FROM sqlite_master WHERE name = ? COLLATE NOCASE AND type IN ('table', 'view')",
                (layer,),
            ).fetchone()
            kind, sql = found if found else ("table", "")
            view = kind == "view" or (sql or "").lstrip().upper().startswith("CREATE VIRTUAL")
            count = 0
            if found and not view:
                table = '"' + str(found and layer).replace('"', '""') + '"'
                query = f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT ?)"
                (count,) = db.execute(query, (MAX_ROWS + 1,)).fetchone()
    except sqlite3.Error:
        raise FileInvalid("not a readable GeoPackage (SQLite) file", "无法读取该 GeoPackage 文件。") from None
    if view:
        raise FileInvalid(
            f"the GeoPackage layer {layer!r} is an SQL view, not a table: views are not imported "
            "(in QGIS, save the layer as a new GeoPackage, which writes a table)",
            f"GeoPackage 图层“{layer}”是 SQL 视图而不是数据表，不予导入（可在 QGIS 中将该图层另存为新的 GeoPackage）。",
        )
    if count > MAX_ROWS:
        raise too_many_rows(count)


def read_rows(data: bytes, layer: str | None = None) -> Iterator[RawRow]:
    """Point features of one layer of a GeoPackage (see choose_layer): a table, at most MAX_ROWS features."""
    import pyogrio

    with _as_file(data) as path:
        chosen = choose_layer(_list_layers(path), layer)
        _check_layer(path, chosen)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                # The driver stops after one feature more than the limit: never more is read.
                frame = pyogrio.read_dataframe(path, layer=chosen, max_features=MAX_ROWS + 1)
        except Exception as exc:  # noqa: BLE001 - GDAL raises many types for broken files
            raise FileInvalid(f"not a readable GeoPackage: {exc}", "无法读取该 GeoPackage 文件。") from None
    if len(frame) > MAX_ROWS:
        raise too_many_rows(len(frame))
    geometry = frame.geometry.name if hasattr(frame, "geometry") else None
    for number, (_, rec) in enumerate(frame.iterrows(), start=1):
        # Values stay as GDAL/pandas gives them (NaT, numpy arrays, Timestamps): canonical_row normalises.
        row: dict[str, Any] = {key: value for key, value in rec.items() if key != geometry}
        if any(isinstance(value, str) and len(value) > MAX_CELL_CHARS for value in row.values()):
            raise text_too_long(f"feature {number}", f"第 {number} 个要素的某个字段")
        if geometry is None:
            yield number, row  # an attribute table: its lng/lat (经度/纬度) columns are read like a sheet's
            continue
        geom = rec.get(geometry)
        if geom is not None and geom.geom_type == "MultiPoint" and len(geom.geoms) == 1:
            geom = geom.geoms[0]
        if geom is None or geom.is_empty or geom.geom_type != "Point":
            row["__error__"] = "geometry must be a Point"
        else:
            row["lng"], row["lat"] = geom.x, geom.y
        yield number, row


FORMAT = Format("gpkg", "GeoPackage", (".gpkg",), "application/geopackage+sqlite3", read_rows, write, layers=layers)
