"""GeoJSON rosters (RFC 7946 FeatureCollections of Points)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from locator.coords import CRS
from locator.formats.base import (
    MAX_JSON_CONTAINERS,
    MAX_ROWS,
    FileInvalid,
    Format,
    RawRow,
    decode_text,
    load_json,
    over_limit,
    too_many_rows,
)
from locator.stations import Station


def read_rows(data: bytes) -> Iterator[RawRow]:
    """(feature number, properties + lng/lat) for each feature of a GeoJSON FeatureCollection.

    Before parsing, the file's objects and lists are counted (a file of millions of empty features
    would take gigabytes as Python objects); JSON is read within the depth and number-length limits,
    and the features are counted before any is handed on.
    """
    containers = data.count(b"{") + data.count(b"[")  # an upper bound: braces inside strings count too
    if containers > MAX_JSON_CONTAINERS:
        raise over_limit(
            f"the GeoJSON file holds more than {MAX_JSON_CONTAINERS:,} objects and lists",
            f"{MAX_JSON_CONTAINERS:,} (at most {MAX_ROWS:,} features)",
            f"GeoJSON 文件含有超过 {MAX_JSON_CONTAINERS:,} 个对象和数组",
            f" {MAX_JSON_CONTAINERS:,} 个（至多 {MAX_ROWS:,} 个要素）",
        )
    doc = load_json(decode_text(data), nan=True)
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise FileInvalid(
            "GeoJSON must be a FeatureCollection with a features list",
            "GeoJSON 应为含 features 列表的 FeatureCollection。",
        )
    if len(doc["features"]) > MAX_ROWS:
        raise too_many_rows(len(doc["features"]))
    for number, feature in enumerate(doc["features"], start=1):
        row: dict[str, Any] = {}
        if not isinstance(feature, dict):
            yield number, {"__error__": "feature is not an object"}
            continue
        props = feature.get("properties") or {}
        if isinstance(props, dict):
            row.update(props)
        if "id" not in row and feature.get("id") is not None:
            row["id"] = str(feature["id"])
        geom = feature.get("geometry")
        if not isinstance(geom, dict) or geom.get("type") != "Point":
            row["__error__"] = "geometry must be a Point"
        else:
            coords = geom.get("coordinates")
            if not isinstance(coords, list) or len(coords) < 2:
                row["__error__"] = "Point coordinates must be [longitude, latitude]"
            else:
                row["lng"], row["lat"] = coords[0], coords[1]
        yield number, row


def write(stations: Sequence[Station], crs: CRS = CRS.WGS84) -> bytes:
    """An RFC 7946 FeatureCollection: WGS-84 by the standard (Format.export refuses other systems)."""
    features = []
    for s in stations:
        props = s.record()
        x, y = props.pop("lng"), props.pop("lat")
        features.append(
            {
                "type": "Feature",
                "id": s.id,
                "geometry": {"type": "Point", "coordinates": [round(x, 7), round(y, 7)]},
                "properties": props,
            }
        )
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


FORMAT = Format("geojson", "GeoJSON", (".geojson", ".json"), "application/geo+json", read_rows, write)
