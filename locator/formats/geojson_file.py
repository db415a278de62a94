"""GeoJSON rosters (RFC 7946 FeatureCollections of Points)."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from locator.coords import CRS
from locator.formats.base import (
    JSON_SPACE,
    MAX_JSON_VALUE,
    MAX_ROWS,
    FileInvalid,
    Format,
    JSONValues,
    RawRow,
    check_json_value,
    drain,
    json_prescan,
    over_limit,
    text_encoding,
    too_many_rows,
)
from locator.stations import Station

WINDOW = 1024 * 1024  # bytes decoded at a time


def _not_a_collection() -> FileInvalid:
    return FileInvalid(
        "GeoJSON must be a FeatureCollection with a features list",
        "GeoJSON 文件里没有要素集合：请从地理信息软件重新导出为 GeoJSON 要素集合（每个站点一个点要素）。",
    )


class _Text:
    """The file's text, decoded a window at a time: only the value being read is held, never the whole file."""

    def __init__(self, data: bytes):
        self.data, self.offset = data, 0
        self.decoder = codecs.getincrementaldecoder(text_encoding(data))()
        self.buf, self.pos, self.dropped = "", 0, 0

    def more(self) -> bool:
        """Decode the next window (False at the end of the file)."""
        if self.offset >= len(self.data):
            return False
        if self.pos > WINDOW:
            self.buf, self.dropped, self.pos = self.buf[self.pos :], self.dropped + self.pos, 0
        chunk = self.data[self.offset : self.offset + WINDOW]
        self.offset += len(chunk)
        self.buf += self.decoder.decode(chunk, final=self.offset >= len(self.data))
        return True

    def peek(self) -> str:
        """The next character that is not white space ('' at the end)."""
        while True:
            self.pos = JSON_SPACE.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or not self.more():
                return self.buf[self.pos : self.pos + 1]

    def expect(self, chars: str) -> str:
        """The next character, which must be one of `chars`."""
        found = self.peek()
        if not found or found not in chars:
            self.invalid(f"expected {' or '.join(repr(c) for c in chars)}")
        self.pos += 1
        return found

    def value(self, values: JSONValues) -> Any:
        """The next JSON value, decoding more of the file until it is whole (at most MAX_JSON_VALUE characters)."""
        self.peek()
        while True:
            try:
                found, end = values.at(self.buf, self.pos)
                if end < len(self.buf) or self.offset >= len(self.data):  # a number may go on in the next window
                    self.pos = end
                    return found
            except json.JSONDecodeError as exc:
                if self.offset >= len(self.data):
                    self.invalid(exc.msg, exc.pos)
                if len(self.buf) - self.pos > MAX_JSON_VALUE:
                    raise over_limit(
                        f"a GeoJSON feature (or member) is longer than {MAX_JSON_VALUE:,} characters",
                        f"{MAX_JSON_VALUE:,} characters per feature",
                        f"GeoJSON 中某个要素超过 {MAX_JSON_VALUE:,} 个字符",
                        f"每个要素 {MAX_JSON_VALUE:,} 个字符",
                    ) from None
            self.more()

    def invalid(self, message: str, pos: int | None = None) -> NoReturn:
        at = self.dropped + (self.pos if pos is None else pos)
        raise FileInvalid(
            f"not valid JSON: {message} (character {at + 1:,})", f"不是有效的 JSON：第 {at + 1:,} 个字符附近有误。"
        )


def _features(data: bytes) -> Iterator[Any]:
    """Each feature of a FeatureCollection, parsed one at a time within the JSON limits."""
    surrogates = json_prescan(data)
    values = JSONValues(nan=True)
    text = _Text(data)
    if text.peek() != "{":
        raise _not_a_collection()
    text.pos += 1
    kind, listed = None, False
    if text.peek() == "}":
        text.pos += 1
    else:
        while True:
            key = text.value(values)
            if not isinstance(key, str):
                text.invalid("expected a member name")
            text.expect(":")
            if key == "features":
                if text.peek() != "[":
                    raise _not_a_collection()
                text.pos += 1
                listed = True
                if text.peek() == "]":
                    text.pos += 1
                else:
                    while True:
                        feature = text.value(values)
                        check_json_value(feature, surrogates, depth=3)
                        yield feature
                        if text.expect(",]") == "]":
                            break
            else:
                member = text.value(values)
                check_json_value(member, surrogates, depth=2)
                if key == "type":
                    kind = member
            if text.expect(",}") == "}":
                break
    if text.peek():
        text.invalid("extra data after the FeatureCollection")
    if kind != "FeatureCollection" or not listed:
        raise _not_a_collection()


def read_rows(data: bytes) -> Iterator[RawRow]:
    """(feature number, properties + lng/lat) for each feature of a GeoJSON FeatureCollection.

    Read as a stream, one feature at a time (a file of millions of tiny features never becomes
    millions of objects at once), within the JSON limits and the row limit.
    """
    for number, feature in enumerate(_features(data), start=1):
        if number > MAX_ROWS:
            raise too_many_rows(number)
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


FORMAT = Format(
    "geojson", "GeoJSON", (".geojson", ".json"), "application/geo+json", read_rows, write, precheck=drain(read_rows)
)
