"""Hostile files: every one gets a clear 4xx naming the limit it crossed, quickly, and nothing is written.

Each case used to answer 500, cost a timeout's worth of CPU or memory, or was accepted. The files
here are small versions; `bench/hostile_files.py` builds the full-size corpus (20 MB uploads) from
the same builders and measures memory and CPU per request.
"""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile

import pytest

from locator.accounts import User
from locator.coords import CRS
from locator.formats import FORMATS, FileInvalid
from locator.formats import xlsx_file as xlsx_module
from locator.formats.base import MAX_ROWS
from locator.importing import preview
from locator.roster import Roster

ADMIN = User(0, "tester", "city_admin")
HEADER = ("名称", "经度", "纬度")
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"

# -- builders (also used by bench/hostile_files.py at full size) ----------------------------------------


def _inline(col: str, row: int, text: str) -> str:
    return f'<c r="{col}{row}" t="inlineStr"><is><t>{text}</t></is></c>'


def sheet_row(number: int, name: str = "某驿站", lng: float = 120.65, lat: float = 28.01) -> bytes:
    """One data row (名称, 经度, 纬度) of a sheet's XML."""
    return f'<row r="{number}">{_inline("A", number, name)}<c r="B{number}"><v>{lng}</v></c><c r="C{number}"><v>{lat}</v></c></row>'.encode()  # noqa: E501


def header_row() -> bytes:
    """Row 1: the column headers."""
    return ('<row r="1">' + "".join(_inline("ABC"[i], 1, h) for i, h in enumerate(HEADER)) + "</row>").encode()


def xlsx(rows, *, shared=None, prolog: bytes = b"", extra_parts: int = 0, level: int = 6, out=None) -> bytes:
    """A minimal workbook (one sheet, inline strings) whose sheet data are `rows` (bytes or chunks of bytes).

    `shared`: chunks of sharedStrings.xml's <si> elements; `prolog`: written before the sheet's root
    element (a DTD); `extra_parts`: empty parts added to the zip; `out`: the buffer to write to.
    """
    buf = io.BytesIO() if out is None else out
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
            "</Types>",
        )
        zf.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" '
            f'Type="{DOC_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        zf.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{MAIN}" xmlns:r="{DOC_REL}"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        shared_rel = f'<Relationship Id="rId2" Type="{DOC_REL}/sharedStrings" Target="sharedStrings.xml"/>'
        zf.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" Type="{DOC_REL}/worksheet" '
            f'Target="worksheets/sheet1.xml"/>{shared_rel if shared is not None else ""}</Relationships>',
        )
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(prolog + f'<worksheet xmlns="{MAIN}"><sheetData>'.encode())
            for chunk in [rows] if isinstance(rows, bytes) else rows:
                fh.write(chunk)
            fh.write(b"</sheetData></worksheet>")
        if shared is not None:
            with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
                fh.write(f'<sst xmlns="{MAIN}">'.encode())
                for chunk in shared:
                    fh.write(chunk)
                fh.write(b"</sst>")
        for n in range(extra_parts):
            zf.writestr(f"customXml/item{n}.xml", b"<a/>")
    return buf.getvalue()


def geojson(features: str, prefix: str = "") -> bytes:
    """A FeatureCollection whose features list is the given JSON text."""
    return f'{prefix}{{"type": "FeatureCollection", "features": [{features}]}}'.encode()


def point_feature(name: str = "某驿站", coordinates: str = "[120.65, 28.01]") -> str:
    """One Point feature as JSON text (coordinates as written)."""
    return f'{{"type": "Feature", "geometry": {{"type": "Point", "coordinates": {coordinates}}}, "properties": {{"名称": "{name}"}}}}'  # noqa: E501


KML_HEAD = '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
KML_PLACEMARK = "<Placemark><name>{name}</name><Point><coordinates>120.65,28.01</coordinates></Point></Placemark>"


def kml(body: str, prolog: str = "", encoding: str = "utf-8") -> bytes:
    """A KML document (placemarks in `body`, `prolog` before the root element) in `encoding`."""
    declaration = f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n'
    return (declaration + prolog + KML_HEAD + body + "</Document></kml>").encode(encoding)


ENTITY_PROLOG = '<!DOCTYPE kml [<!ENTITY trick "伪造的站名">]>'


def gpkg_with_view(path, roster: Roster, view_sql: str) -> bytes:
    """A GeoPackage whose only point layer `stations` is an SQL view (over a renamed real table)."""
    path.write_bytes(FORMATS["gpkg"].write(roster.store.list()[:3], CRS.WGS84))
    db = sqlite3.connect(path)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f'DROP TRIGGER "{name}"')
    db.execute("ALTER TABLE stations RENAME TO real_stations")
    db.execute("UPDATE gpkg_contents SET table_name = 'real_stations' WHERE table_name = 'stations'")
    db.execute("UPDATE gpkg_geometry_columns SET table_name = 'real_stations' WHERE table_name = 'stations'")
    db.execute(f"CREATE VIEW stations AS {view_sql}")
    db.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
        "VALUES ('stations', 'features', 'v', 4326)"
    )
    db.execute("INSERT INTO gpkg_geometry_columns VALUES ('stations', 'geom', 'POINT', 4326, 0, 0)")
    db.execute("DELETE FROM gpkg_contents WHERE table_name = 'real_stations'")
    db.execute("DELETE FROM gpkg_geometry_columns WHERE table_name = 'real_stations'")
    db.commit()
    db.close()
    return path.read_bytes()


RECURSIVE_VIEW = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
    "SELECT n.x AS fid, s.geom AS geom, s.name || n.x AS name FROM n, real_stations AS s"
)


# -- how a file is refused, through every way in --------------------------------------------------------


def multipart(fields: dict) -> dict:
    """Test-client arguments for a multipart body encoded in memory (the client's own encoding spills
    bodies over 500 KB into a temporary file that it never closes)."""
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import stream_encode_multipart

    fields = {k: FileStorage(v[0], filename=v[1]) if isinstance(v, tuple) else v for k, v in fields.items()}
    stream, length, boundary = stream_encode_multipart(fields, use_tempfile=False)
    return {
        "input_stream": stream,
        "content_length": length,
        "content_type": f"multipart/form-data; boundary={boundary}",
    }


@pytest.fixture
def refused(app, roster, make_user, login, api_token, tmp_path):
    """refused(data, filename, *words): the CLI, the token API and the admin page all refuse the file with a
    4xx naming the limit (English `detail` with every word, Chinese `detail_zh`), and nothing is written."""
    admin = make_user("boss", "city_admin")
    token = api_token(admin)
    web = login("boss")

    def check(data: bytes, filename: str, *words: str, paths=("cli", "api", "page")) -> dict:
        version = roster.store.data_version()
        answer: dict = {}
        if "cli" in paths:
            path = tmp_path / filename
            path.write_bytes(data)
            result = app.test_cli_runner().invoke(args=["import", str(path), "--crs", "wgs84"])
            assert result.exit_code == 1, result.output
            assert all(w in result.output for w in words), result.output
        if "api" in paths:
            resp = app.test_client().post(
                "/api/v1/admin/import",
                headers={"Authorization": f"Bearer {token}"},
                **multipart({"crs": "wgs84", "file": (io.BytesIO(data), filename)}),
            )
            assert resp.status_code == 400, resp.data[:500]
            assert resp.mimetype == "application/problem+json"
            answer = resp.get_json()
            assert all(w in answer["detail"] for w in words), answer
            assert answer["detail_zh"] and answer["detail_zh"] != answer["detail"]
        if "page" in paths:
            page = web.post(
                "/admin/import/preview",
                **multipart({"csrf_token": web.csrf, "crs": "wgs84", "file": (io.BytesIO(data), filename)}),
            )
            assert page.status_code == 400, page.data[:500]
            if answer:
                assert answer["detail_zh"] in page.get_data(as_text=True)
        assert roster.store.data_version() == version
        return answer

    return check


@pytest.fixture
def validations(monkeypatch):
    """Counts rows validated: a file beyond the row limit must be refused before any is."""
    counted = {"rows": 0}
    original = Roster.validate

    def counting(self, *args, **kwargs):
        counted["rows"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Roster, "validate", counting)
    return counted


# -- XLSX ---------------------------------------------------------------------------------------------------


def test_a_sparse_row_number_is_refused_at_once(refused):
    """A 4.7 KB workbook with a row numbered 20,000,000 burned 25 s of CPU (then was accepted)."""
    data = xlsx(header_row() + sheet_row(2) + sheet_row(20_000_000))
    answer = refused(data, "sparse.xlsx", "200,000 rows", "20,000,000")
    assert "200,000" in answer["detail_zh"]


def test_blank_rows_count_towards_the_row_limit(refused, validations):
    """The 200,000-row cap did not count blank rows: 200,001 of them and one station passed."""
    blank = b"".join(f'<row r="{n}"/>'.encode() for n in range(2, MAX_ROWS + 3))
    data = xlsx([header_row(), blank, sheet_row(MAX_ROWS + 3)])
    refused(data, "blank.xlsx", "200,000 rows", "blank rows count", paths=("api",))
    assert validations["rows"] == 0


def test_a_workbook_with_a_dtd_is_400(refused):
    """An XLSX with a DTD (here entities, as in a billion-laughs file) answered 500."""
    dtd = b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    data = xlsx(header_row() + sheet_row(2, name="&b;"), prolog=dtd)
    answer = refused(data, "dtd.xlsx", "DTD", "xl/worksheets/sheet1.xml")
    assert "DTD" in answer["detail_zh"]


def test_a_dtd_before_the_shared_strings_is_refused():
    """The shared strings part with a DTD in its prolog: refused by defusedxml (before: expanded by openpyxl)."""
    buf = io.BytesIO(xlsx(header_row() + sheet_row(2), shared=[b"<si><t>x</t></si>"]))
    parts = {}
    with zipfile.ZipFile(buf) as zf:
        for info in zf.infolist():
            parts[info.filename] = zf.read(info)
    parts["xl/sharedStrings.xml"] = (
        b'<!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa">]>' + b'<sst xmlns="' + MAIN.encode() + b'"><si><t>&a;</t></si></sst>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in parts.items():
            zf.writestr(name, content)
    with pytest.raises(FileInvalid, match="DTD"):
        list(FORMATS["xlsx"].read(out.getvalue()))


def test_a_zip_bomb_is_refused_before_it_is_inflated(refused):
    """Parts that inflate more than 100 times are refused from the zip's directory, before any XML is parsed."""
    filler = b'<row r="2"><c r="D2"><v>0</v></c></row>' * 600_000  # 24 MB of sheet in about 50 KB
    data = xlsx([header_row(), filler], level=9)
    assert len(data) < 200_000
    refused(data, "bomb.xlsx", "compressed", "100 times", "xl/worksheets/sheet1.xml")


def test_a_part_beyond_its_uncompressed_size_is_refused(monkeypatch):
    """The declared uncompressed size is checked first (zipfile never inflates a part beyond it)."""
    monkeypatch.setattr(xlsx_module, "MAX_SHEET_BYTES", 1024 * 1024)
    data = xlsx([header_row()] + [sheet_row(n) for n in range(2, 20_000)])
    with pytest.raises(FileInvalid, match="bytes uncompressed") as exc:
        list(FORMATS["xlsx"].read(data))
    assert "1 MB" in str(exc.value) and "解压后" in exc.value.detail_zh


def test_huge_shared_strings_are_refused_by_ratio(refused):
    """1,000,000 strings of 1,000 characters in 2.2 MB took 1.2 GB of RSS; a small version is refused unread."""
    strings = [b"<si><t>" + b"a" * 1000 + b"</t></si>"] * 20_000
    data = xlsx(header_row() + sheet_row(2), shared=strings, level=9)
    refused(data, "strings.xlsx", "sharedStrings.xml", "compressed")


def test_shared_strings_beyond_the_text_limit_are_refused(monkeypatch):
    """Shared strings that do not compress well are read up to MAX_SHARED_TEXT, then the file is refused."""
    import random

    monkeypatch.setattr(xlsx_module, "MAX_SHARED_TEXT", 256 * 1024)
    rng = random.Random(5)
    strings = [
        "<si><t>" + "".join(rng.choices("驿站骑手温州鹿城瓯海龙湾abcdef", k=500)) + "</t></si>" for _ in range(400)
    ]
    data = xlsx(header_row() + sheet_row(2), shared=[s.encode() for s in strings])
    with pytest.raises(FileInvalid, match="shared strings hold more than") as exc:
        list(FORMATS["xlsx"].read(data))
    assert "共享字符串" in exc.value.detail_zh


def test_a_workbook_of_too_many_parts_is_refused(refused):
    """A zip of thousands of parts would make zipfile build an object per part before anything is checked."""
    data = xlsx(header_row() + sheet_row(2), extra_parts=1_200)
    refused(data, "parts.xlsx", "1,000 parts", paths=("api",))


def test_a_row_wider_than_excel_is_refused(refused):
    """A row of more cells than Excel has columns (16,384) is refused at the first cell beyond."""
    cells = b"".join(b"<c><v>1</v></c>" for _ in range(17_000))
    data = xlsx(header_row() + b'<row r="2">' + cells + b"</row>")
    refused(data, "wide.xlsx", "16,384", "row 2", paths=("api",))


def test_a_cell_longer_than_excel_allows_is_refused(refused):
    """Excel cells hold at most 32,767 characters: a longer one is refused before it is kept whole."""
    data = xlsx(header_row() + sheet_row(2, name="驿" * 40_000))
    refused(data, "cell.xlsx", "32,767 characters", "row 2", paths=("api",))


def _as_openpyxl_reads(data: bytes) -> list:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True)
    rows = list(book.worksheets[0].iter_rows())
    headers = [c.value for c in rows[0]]
    found = []
    for number, cells in enumerate(rows[1:], start=2):
        raw = {h: xlsx_module._cell_text(c.value) for h, c in zip(headers, cells, strict=False)}
        if any(v not in (None, "") for v in raw.values()):
            found.append((number, raw))
    book.close()
    return found


def test_the_streaming_reader_reads_what_openpyxl_reads():
    """Dates (date styles), booleans, numbers, formulas, blank rows: as openpyxl reads them."""
    from datetime import date, datetime

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["名称", "经度", "纬度", "暂停至", "位置为示意", "备注", "电话"])
    ws.append(["甲站", 120.65, 28.01, date(2027, 1, 31), True, None, 57788880000])
    ws.append(["乙站", 120.7, 28.1, datetime(2027, 2, 1, 12, 30), False, "=1+1", "0577-1"])
    ws.append([None] * 7)
    ws.append(["丙站", "120.8", "28.2", None, None, "多行\n备注", 3.5])
    buf = io.BytesIO()
    wb.save(buf)
    ours, theirs = list(FORMATS["xlsx"].read(buf.getvalue())), _as_openpyxl_reads(buf.getvalue())
    assert [n for n, _ in ours] == [n for n, _ in theirs] == [2, 3, 5]
    assert ours[0] == theirs[0] and ours[2] == theirs[2]
    assert ours[0][1]["暂停至"] == "2027-01-31"
    assert ours[1][1]["__error__"].startswith("cell(s) 备注 hold a formula")  # not the formula's text


def test_shared_strings_rich_text_and_phonetic_guides_read_as_openpyxl_reads():
    shared = [b"<si><t>\xe7\x94\xb2\xe7\xab\x99</t></si>", "<si><r><t>乙</t></r><r><t>站</t></r></si>".encode()]
    shared.append('<si><t>丙站</t><rPh sb="0" eb="1"><t>へい</t></rPh></si>'.encode())
    rows = b"".join(
        f'<row r="{n}"><c r="A{n}" t="s"><v>{n - 2}</v></c><c r="B{n}"><v>120.6{n}</v></c>'
        f'<c r="C{n}"><v>28.0{n}</v></c></row>'.encode()
        for n in (2, 3, 4)
    )
    data = xlsx(header_row() + rows, shared=shared)
    ours = list(FORMATS["xlsx"].read(data))
    assert [r["名称"] for _, r in ours] == ["甲站", "乙站", "丙站"]
    assert ours == _as_openpyxl_reads(data)


# -- CSV ------------------------------------------------------------------------------------------------------


def test_a_csv_field_over_128_kb_is_a_clear_400(refused):
    """csv.field_size_limit's error answered 500."""
    data = ("名称,经度,纬度\n" + '"' + "站" * 140_000 + '",120.65,28.01\n').encode()
    answer = refused(data, "field.csv", "128 KB", "row 2")
    assert "128 KB" in answer["detail_zh"]


def test_a_csv_line_of_millions_of_fields_is_refused():
    """One 2 MB line of commas would be a list of two million fields: lines are read at most 1 MB at a time."""
    with pytest.raises(FileInvalid, match="longer than 1,048,576 characters"):
        list(FORMATS["csv"].read(b"name,lng,lat\n" + b"," * 2_000_000 + b"\n"))


def test_a_csv_of_200001_rows_is_refused_before_any_row_is_validated(refused, validations):
    """A 200,001-row file took 37.7 s to be refused (after validating 200,000 rows)."""
    rows = "".join(f"站{n},120.65,28.01\n" for n in range(MAX_ROWS + 1))
    refused(("名称,经度,纬度\n" + rows).encode(), "many.csv", "200,000 rows", "200,002", paths=("api",))
    assert validations["rows"] == 0


def test_blank_csv_lines_count_towards_the_row_limit(refused, validations):
    """Blank lines were skipped without counting: 300,000 of them cost time and were never refused."""
    data = ("名称,经度,纬度\n" + "\n" * 300_000 + "站,120.65,28.01\n").encode()
    refused(data, "blank.csv", "200,000 rows", "blank rows count", paths=("cli", "api"))
    assert validations["rows"] == 0


# -- JSON: GeoJSON files and the API's request bodies ------------------------------------------------------------

HOSTILE_JSON = {
    "400-digit integer": ("[1" + "0" * 400 + ", 28.01]", "100 characters"),
    "100,000-deep nesting": ("[120.65, 28.01, " + "[" * 100_000 + "]" * 100_000 + "]", "32 levels"),
    "1,000-deep nesting": ("[120.65, 28.01, " + "[" * 1_000 + "]" * 1_000 + "]", "32 levels"),
    "lone surrogate": ("[120.65, 28.01]", "lone surrogate"),
}


@pytest.mark.parametrize("case", list(HOSTILE_JSON))
def test_hostile_geojson_is_400(refused, case):
    """A 400-digit coordinate, 100,000-deep nesting or a lone surrogate in a GeoJSON file answered 500."""
    coordinates, words = HOSTILE_JSON[case]
    data = geojson(point_feature(name="\\ud800" if case == "lone surrogate" else "某驿站", coordinates=coordinates))
    refused(data, "hostile.geojson", words)


def test_a_geojson_of_a_million_empty_features_is_refused_at_the_row_limit(refused, validations):
    """1,000,001 empty features were a million dicts before any row was counted: now read one at a time."""
    data = geojson(",".join(["{}"] * 1_000_001))
    refused(data, "empty.geojson", "200,000 rows", paths=("api",))
    assert validations["rows"] == 0


def test_a_geojson_feature_beyond_a_million_characters_is_refused():
    """One feature of millions of empty objects would be held whole: a feature is at most 1,000,000 characters."""
    data = geojson('{"properties": {"x": [' + ",".join(["{}"] * 400_000) + "]}}")
    with pytest.raises(FileInvalid, match="longer than 1,000,000 characters"):
        list(FORMATS["geojson"].read(data))


def test_a_station_body_of_many_objects_is_refused_unparsed(app, make_user, api_token):
    body = b'{"name": "x", "note": [' + b",".join([b"{}"] * 20_000) + b"]}"
    headers = {"Authorization": f"Bearer {api_token(make_user('boss', 'city_admin'))}"}
    resp = app.test_client().post("/api/v1/admin/stations", data=body, headers=headers, content_type="application/json")
    assert resp.status_code == 400 and "10,000 objects and lists" in resp.get_json()["detail"]


def test_a_geojson_of_200001_features_is_refused_before_any_is_validated(refused, validations):
    data = geojson(",".join(['{"geometry":{"type":"Point","coordinates":[120.65,28.01]}}'] * (MAX_ROWS + 1)))
    refused(data, "many.geojson", "200,000 rows", paths=("api",))
    assert validations["rows"] == 0


@pytest.mark.parametrize("case", list(HOSTILE_JSON))
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_hostile_json_bodies_are_400_on_the_station_api(app, roster, make_user, api_token, case, method):
    """The same JSON in `POST /api/v1/admin/stations` (and PUT) answered 500."""
    coordinates, words = HOSTILE_JSON[case]
    if case == "100,000-deep nesting":
        words = "10,000 objects and lists"  # a request body is refused on its bytes before it is parsed
    if case == "lone surrogate":
        body = '{"name": "\\ud800", "type": "rider_station", "lng": 120.65, "lat": 28.01}'
    else:
        body = f'{{"name": "某驿站", "type": "rider_station", "lng": 120.65, "lat": 28.01, "note": {coordinates}}}'
    station = roster.store.list()[0]
    headers = {
        "Authorization": f"Bearer {api_token(make_user('boss', 'city_admin'))}",
        "Content-Type": "application/json",
        "If-Match": f'"{station.version}"',
    }
    client = app.test_client()
    version = roster.store.data_version()
    if method == "POST":
        resp = client.post("/api/v1/admin/stations", data=body.encode(), headers=headers)
    else:
        resp = client.put(f"/api/v1/admin/stations/{station.id}", data=body.encode(), headers=headers)
    assert resp.status_code == 400, resp.data[:300]
    assert resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert words in problem["detail"] and problem["detail_zh"]
    assert roster.store.data_version() == version


def test_a_station_body_over_1_mb_is_413_before_it_is_decoded(app, make_user, api_token):
    """20 MB of ASCII with one emoji would decode to 80 MB of text (4 bytes a character) before parsing."""
    body = '{"name": "😀' + "a" * 2_000_000 + '"}'
    headers = {"Authorization": f"Bearer {api_token(make_user('boss', 'city_admin'))}"}
    resp = app.test_client().post(
        "/api/v1/admin/stations", data=body.encode(), headers=headers, content_type="application/json"
    )
    assert resp.status_code == 413 and "at most 1 MB" in resp.get_json()["detail"]
    assert resp.get_json()["detail_zh"]


def test_a_valid_station_body_still_creates_a_station(app, roster, make_user, api_token):
    headers = {"Authorization": f"Bearer {api_token(make_user('boss', 'city_admin'))}"}
    body = {"name": "新驿站", "type": "rider_station", "lng": 120.65, "lat": 28.01, "amenities": ["water"]}
    resp = app.test_client().post("/api/v1/admin/stations", json=body, headers=headers)
    assert resp.status_code == 201, resp.data
    assert resp.get_json()["amenities"] == ["water"]


# -- KML ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "data"),
    [
        ("comment padding", kml(KML_PLACEMARK.format(name="&trick;"), "<!--" + "x" * 6000 + "-->" + ENTITY_PROLOG)),
        ("UTF-16", kml(KML_PLACEMARK.format(name="&trick;"), ENTITY_PROLOG, encoding="utf-16")),
        ("late entity", kml(KML_PLACEMARK.format(name="x"), "<!--" + "y" * 5000 + "-->" + ENTITY_PROLOG)),
    ],
)
def test_a_kml_doctype_cannot_slip_through(refused, case, data):
    """6 KB of comments or UTF-16 hid the DOCTYPE from the old filter, and an entity expanded into a name."""
    refused(data, "trick.kml", "DOCTYPE")


def test_a_kml_of_200001_placemarks_is_refused_before_any_is_validated(refused, validations):
    data = kml(KML_PLACEMARK.format(name="站") * (MAX_ROWS + 1))
    refused(data, "many.kml", "200,000 rows", paths=("api",))
    assert validations["rows"] == 0


def test_a_kml_text_longer_than_a_cell_is_refused(refused):
    refused(kml(KML_PLACEMARK.format(name="驿" * 40_000)), "long.kml", "32,767 characters", paths=("api",))


# -- GeoPackage -----------------------------------------------------------------------------------------------------


def test_a_recursive_view_layer_is_refused_unread(refused, roster, tmp_path):
    """A 96 KB GeoPackage whose layer is a recursive view was read to 300,000 rows (34.7 s)."""
    data = gpkg_with_view(tmp_path / "view.gpkg", roster, RECURSIVE_VIEW)
    answer = refused(data, "view.gpkg", "SQL view", paths=("api", "page"))
    assert "视图" in answer["detail_zh"]


def test_a_plain_view_layer_is_refused_too(roster, tmp_path):
    data = gpkg_with_view(tmp_path / "plain.gpkg", roster, "SELECT * FROM real_stations")
    with pytest.raises(FileInvalid, match="SQL view"):
        preview(roster, data, FORMATS["gpkg"], CRS.WGS84, user=ADMIN, replace=False)


def test_a_null_geometry_is_a_row_error(roster, tmp_path):
    path = tmp_path / "null.gpkg"
    path.write_bytes(FORMATS["gpkg"].write(roster.store.list()[:3], CRS.WGS84))
    db = sqlite3.connect(path)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f'DROP TRIGGER "{name}"')
    db.execute("UPDATE stations SET geom = NULL WHERE fid = 2")
    db.commit()
    db.close()
    result = preview(roster, path.read_bytes(), FORMATS["gpkg"], CRS.WGS84, user=ADMIN, replace=False)
    assert [(e.row, e.message) for e in result.errors] == [(2, "geometry must be a Point")]


def test_a_geopackage_beyond_the_row_limit_stops_at_the_driver(roster, tmp_path, validations):
    """pyogrio reads at most MAX_ROWS + 1 features; the file is refused before any row is validated."""
    import numpy as np
    import pyogrio.raw
    import shapely

    n = MAX_ROWS + 5
    points = shapely.points(np.full((n, 2), (120.65, 28.01)))
    path = tmp_path / "many.gpkg"
    names = np.array([f"站{i}" for i in range(n)], dtype=object)
    pyogrio.raw.write(
        str(path), shapely.to_wkb(points), [names], ["name"], layer="stations", driver="GPKG",
        geometry_type="Point", crs="EPSG:4326",
    )  # fmt: skip
    with pytest.raises(FileInvalid, match="200,000 rows") as exc:
        preview(roster, path.read_bytes(), FORMATS["gpkg"], CRS.WGS84, user=ADMIN, replace=False)
    assert "200,001" in str(exc.value)  # the driver stopped there
    assert validations["rows"] == 0


# -- legitimate rosters are bounded by the row limit only ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_a_legitimate_10000_row_roster_still_imports(roster, fmt):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from test_admin_import import csv_bytes, rows_for, xlsx_bytes

    data = (xlsx_bytes if fmt == "xlsx" else csv_bytes)(rows_for(10_000))
    result = preview(roster, data, FORMATS[fmt], CRS.WGS84, user=ADMIN, replace=False)
    assert result.ok and len(result.added) == 10_000


def test_json_limits_leave_ordinary_geojson_alone(roster):
    data = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [120.65, 28.01]},
                    "properties": {"名称": "某驿站 😀", "服务设施": ["water", "charging"], "lat_note": 1e-7},
                }
            ],
        }
    ).encode()
    rows = list(FORMATS["geojson"].read(data))
    assert rows[0][1]["名称"] == "某驿站 😀"
