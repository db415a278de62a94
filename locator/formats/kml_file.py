"""KML rosters (standard-library XML; KML is WGS-84 by definition)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from xml.etree import ElementTree as ET

from locator.coords import CRS
from locator.formats.base import ROSTER_COLUMNS, FileInvalid, Format, RawRow, record_cells
from locator.stations import Station

KML_NS = "http://www.opengis.net/kml/2.2"


def write(stations: Sequence[Station], crs: CRS = CRS.WGS84) -> bytes:
    """KML 2.2: a Placemark per station, fields in ExtendedData (WGS-84: KML has no other system)."""
    ET.register_namespace("", KML_NS)
    root = ET.Element(f"{{{KML_NS}}}kml")
    doc = ET.SubElement(root, f"{{{KML_NS}}}Document")
    ET.SubElement(doc, f"{{{KML_NS}}}name").text = "驿站名册"
    for s in stations:
        cells = dict(zip(ROSTER_COLUMNS, record_cells(s, CRS.WGS84), strict=True))
        pm = ET.SubElement(doc, f"{{{KML_NS}}}Placemark", id=s.id)
        ET.SubElement(pm, f"{{{KML_NS}}}name").text = s.name
        ext = ET.SubElement(pm, f"{{{KML_NS}}}ExtendedData")
        for key, value in cells.items():
            if key in ("lng", "lat") or value is None:
                continue
            data = ET.SubElement(ext, f"{{{KML_NS}}}Data", name=key)
            ET.SubElement(data, f"{{{KML_NS}}}value").text = str(value)
        point = ET.SubElement(pm, f"{{{KML_NS}}}Point")
        ET.SubElement(point, f"{{{KML_NS}}}coordinates").text = f"{cells['lng']},{cells['lat']}"
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_rows(data: bytes) -> Iterator[RawRow]:
    """Placemarks with a Point: name, ExtendedData fields (Data/value and SchemaData/SimpleData), coordinates.

    Google Earth and our exports write `<Data name><value>`; GDAL (ogr2ogr, QGIS) writes
    `<SchemaData><SimpleData name>`.
    """
    if b"<!DOCTYPE" in data[:2048] or b"<!ENTITY" in data[:4096]:
        raise FileInvalid("KML with a DOCTYPE or entities is not accepted")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise FileInvalid(f"not valid KML/XML: {exc}") from None
    placemarks = [el for el in root.iter() if _local(el.tag) == "Placemark"]
    if not placemarks:
        raise FileInvalid("the KML file holds no Placemark")
    for number, pm in enumerate(placemarks, start=1):
        row: dict[str, Any] = {}
        if pm.get("id"):
            row["id"] = pm.get("id")
        for el in pm:
            if _local(el.tag) == "name":
                row["name"] = (el.text or "").strip()
        for el in pm.iter():
            tag = _local(el.tag)
            if tag == "Data" and el.get("name"):
                row[el.get("name")] = next((v.text for v in el if _local(v.tag) == "value"), None)
            elif tag == "SimpleData" and el.get("name"):
                row[el.get("name")] = el.text
        coords = next((el.text for el in pm.iter() if _local(el.tag) == "coordinates"), None)
        if not coords or not next((el for el in pm.iter() if _local(el.tag) == "Point"), None):
            row["__error__"] = "the Placemark has no Point"
        else:
            parts = coords.strip().split(",")
            if len(parts) < 2:
                row["__error__"] = "Point coordinates must be longitude,latitude"
            else:
                row["lng"], row["lat"] = parts[0].strip(), parts[1].strip()
        yield number, row


FORMAT = Format("kml", "KML", (".kml",), "application/vnd.google-earth.kml+xml", read_rows, write)  # WGS-84 only
