"""KML rosters (written with the standard library, read through defusedxml; KML is WGS-84 by definition)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from xml.etree import ElementTree as ET

from locator.coords import CRS
from locator.formats.base import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_ROWS,
    ROSTER_COLUMNS,
    FileInvalid,
    Format,
    RawRow,
    drain,
    over_limit,
    record_cells,
    text_too_long,
    too_many_rows,
)
from locator.stations import Station

KML_NS = "http://www.opengis.net/kml/2.2"
CHUNK = 64 * 1024
MAX_FIELDS = MAX_COLUMNS  # named fields of one Placemark (as many as a sheet has columns)


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


MAX_COORDINATES_TEXT = 1_000  # of a <coordinates> text, only the first point is read


class _Placemarks:
    """The parse target: each Placemark becomes a row when it ends; nothing else of the file is kept."""

    def __init__(self) -> None:
        self.ready: list[RawRow] = []
        self.count = 0
        self.depth = 0  # depth inside the current Placemark (0: outside any)
        self.row: dict[str, Any] = {}
        self.coords: str | None = None
        self.point = False
        self.data_name: str | None = None  # the open <Data name="…">, whose first <value> is read
        self.capture: tuple[str, str | None] | None = None  # (what, field name) of the text being read
        self.capture_depth = 0
        self.pieces: list[str] = []
        self.chars = 0

    def start(self, tag: str, attrib: dict) -> None:
        local = _local(tag)
        if self.depth == 0:
            if local == "Placemark":
                self.count += 1
                if self.count > MAX_ROWS:
                    raise too_many_rows(self.count)
                self.depth, self.row, self.coords, self.point, self.data_name = 1, {}, None, False, None
                if attrib.get("id"):
                    self.row["id"] = attrib["id"]
            return
        self.depth += 1
        if self.capture is not None:
            return
        if local == "name" and self.depth == 2:
            self._capture("name", None)
        elif local == "Data" and attrib.get("name"):
            self.data_name = attrib["name"]
            self._field(self.data_name, None)
        elif local == "value" and self.data_name is not None:
            self._capture("value", self.data_name)
            self.data_name = None  # only its first value
        elif local == "SimpleData" and attrib.get("name"):
            self._capture("value", attrib["name"])
        elif local == "coordinates" and self.coords is None:
            self._capture("coordinates", None)
        elif local == "Point":
            self.point = True

    def data(self, text: str) -> None:
        if self.capture is None:
            return
        self.chars += len(text)
        if self.capture[0] == "coordinates":
            if self.chars - len(text) < MAX_COORDINATES_TEXT:
                self.pieces.append(text)
        elif self.chars > MAX_CELL_CHARS:
            raise text_too_long(f"placemark {self.count}", f"第 {self.count} 个地标的某个字段")
        else:
            self.pieces.append(text)

    def end(self, tag: str) -> None:
        if self.depth == 0:
            return
        if self.capture is not None and self.depth == self.capture_depth:
            what, name = self.capture
            text = "".join(self.pieces)
            if what == "name":
                self.row["name"] = text.strip()
            elif what == "coordinates":
                self.coords = text
            else:
                self._field(name or "", text)
            self.capture = None
        elif _local(tag) == "Data":
            self.data_name = None
        self.depth -= 1
        if self.depth == 0:
            self._finish()

    def close(self) -> None:
        pass

    def _capture(self, what: str, name: str | None) -> None:
        self.capture, self.capture_depth, self.pieces, self.chars = (what, name), self.depth, [], 0

    def _field(self, name: str, value: str | None) -> None:
        if name not in self.row and len(self.row) >= MAX_FIELDS:
            raise over_limit(
                f"placemark {self.count} has more than {MAX_FIELDS:,} fields",
                f"{MAX_FIELDS:,} fields",
                f"第 {self.count} 个地标的字段超过 {MAX_FIELDS:,} 个",
                f" {MAX_FIELDS:,} 个字段",
            )
        self.row[name] = value

    def _finish(self) -> None:
        row = self.row
        if not self.coords or not self.point:
            row["__error__"] = "the Placemark has no Point"
        else:
            parts = self.coords.strip().split(",")
            if len(parts) < 2:
                row["__error__"] = "Point coordinates must be longitude,latitude"
            else:
                row["lng"], row["lat"] = parts[0].strip(), parts[1].strip()
        self.ready.append((self.count, row))
        self.row = {}


def read_rows(data: bytes) -> Iterator[RawRow]:
    """Placemarks with a Point: name, ExtendedData fields (Data/value and SchemaData/SimpleData), coordinates.

    Google Earth and our exports write `<Data name><value>`; GDAL (ogr2ogr, QGIS) writes
    `<SchemaData><SimpleData name>`. Read as a stream through defusedxml: a DOCTYPE or entity
    declaration anywhere (whatever the padding or the encoding) refuses the file, and only one
    Placemark at a time is held.
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser

    target = _Placemarks()
    parser = DefusedXMLParser(target=target, forbid_dtd=True)
    try:
        for start in range(0, len(data), CHUNK):
            parser.feed(data[start : start + CHUNK])
            yield from target.ready
            target.ready.clear()
        parser.close()
    except DefusedXmlException:
        raise FileInvalid(
            "KML with a DOCTYPE or entities is not accepted",
            "KML 文件含有文档类型或实体声明，出于安全原因不予接受：请用地理信息软件重新导出。",
        ) from None
    except ET.ParseError as exc:
        raise FileInvalid(
            f"not valid KML/XML: {exc}", "不是有效的 KML 文件（内容不完整或格式有误）：请用地理信息软件重新导出。"
        ) from None
    yield from target.ready
    if target.count == 0:
        raise FileInvalid("the KML file holds no Placemark", "KML 文件中没有地标（点要素）：请确认导出的是站点图层。")


FORMAT = Format(  # WGS-84 only
    "kml", "KML", (".kml",), "application/vnd.google-earth.kml+xml", read_rows, write, precheck=drain(read_rows)
)
