"""Roster import: XLSX/CSV/GeoJSON with Chinese headers, preview, all-or-nothing commit, bad input."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from openpyxl import Workbook

from locator.accounts import User
from locator.coords import CRS, from_wgs84
from locator.formats import FORMATS, FileInvalid
from locator.importing import ImportHasErrors, StaleImport, commit, preview
from locator.store.base import StationQuery

HEADERS = ["名称", "类型", "区县", "地址", "经度", "纬度", "开放时间", "联系电话", "服务设施", "运营单位", "状态"]
ADMIN = User(0, "tester", "city_admin")
ROOT = Path(__file__).resolve().parent.parent

# Points inside districts (from the sample roster): 鹿城 330302, 瓯海 330304
LUCHENG = (120.661195, 28.019967)
OUHAI = [(120.6398, 27.9552)]


def rows_for(n: int, district: str = "鹿城区", point=LUCHENG, prefix: str = "驿站") -> list[list]:
    """n valid roster rows spread a little around `point`."""
    out = []
    for i in range(n):
        lng, lat = point[0] + (i % 100) * 0.00005, point[1] + (i // 100) * 0.00005
        out.append(
            [
                f"{prefix}{i}",
                "骑手驿站",
                district,
                f"温州市某路{i}号",
                lng,
                lat,
                "Mo-Su 08:00-20:00",
                "0577-88880000",
                "微波加热、免费茶饮",
                "某街道",
                "正常开放",
            ]
        )
    return out


def xlsx_bytes(rows: list[list], headers=HEADERS) -> bytes:
    """A real workbook made with openpyxl."""
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_bytes(rows: list[list], encoding: str = "utf-8-sig") -> bytes:
    """CSV text in the given encoding (GBK is what Excel in China writes)."""
    lines = [",".join(HEADERS)] + [",".join(str(v) for v in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def test_xlsx_with_chinese_headers_imports(roster):
    """An XLSX with the Chinese template headers previews as 3 additions and commits them."""
    data = xlsx_bytes(rows_for(3))
    result = preview(roster, data, FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False)
    assert result.ok, result.errors
    assert [s.name for s in result.added] == ["驿站0", "驿站1", "驿站2"]
    assert result.added[0].district == "330302" and result.added[0].amenities == ("microwave", "water")
    summary = commit(roster, data, FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False, token=result.token)
    assert len(summary.added) == 3
    audit = roster.store.audit(result.added[0].id)
    assert audit[0].via == "import" and audit[0].actor == "tester"


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_csv_in_chinese_encodings_imports(roster, encoding):
    """CSV bytes in GBK, GB18030 and UTF-8 (with or without BOM) all read the same names."""
    result = preview(roster, csv_bytes(rows_for(2), encoding), FORMATS["csv"], CRS.WGS84, user=ADMIN, replace=False)
    assert result.ok, result.errors
    assert [s.name for s in result.added] == ["驿站0", "驿站1"]


def test_same_file_twice_changes_nothing(roster):
    """Importing the same file again: all unchanged and the data version stays the same."""
    data = xlsx_bytes(rows_for(5))
    commit(roster, data, FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False, token=None)
    version = roster.store.data_version()
    again = preview(roster, data, FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False)
    assert len(again.unchanged) == 5 and not again.added and not again.changed
    summary = commit(roster, data, FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False, token=again.token)
    assert len(summary.unchanged) == 5 and not (summary.added or summary.changed or summary.removed)
    assert roster.store.data_version() == version


def test_preview_lists_changes_with_field_diffs_closures_and_removals(roster):
    """Preview: a changed address shows old → new; a closed station is listed as closed; replace lists removals."""
    rows = rows_for(3)
    commit(roster, xlsx_bytes(rows), FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False, token=None)
    rows[0][3] = "新地址1号"
    rows[1][10] = "暂停开放"
    result = preview(roster, xlsx_bytes(rows[:2]), FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=True)
    assert [c.name for c in result.changed] == ["驿站0"]
    assert result.changed[0].diffs == {"address": ("温州市某路0号", "新地址1号")}
    assert [c.name for c in result.closed] == ["驿站1"]
    assert "驿站2" in {s.name for s in result.removed}
    assert len(result.removed) == 200 + 1  # the sample roster too: replace makes the roster exactly the file


def test_gcj02_coordinates_are_converted(roster):
    """Coordinates from AMap's picker (GCJ-02) are stored as WGS-84."""
    gx, gy = from_wgs84(*LUCHENG, CRS.GCJ02)
    rows = rows_for(1, point=(gx, gy))
    result = preview(roster, xlsx_bytes(rows), FORMATS["xlsx"], CRS.GCJ02, user=ADMIN, replace=False)
    station = result.added[0]
    assert abs(station.lng - LUCHENG[0]) < 1e-5 and abs(station.lat - LUCHENG[1]) < 1e-5


def _error_rows(result):
    return {(e.row, e.field) for e in result.errors}


def test_row_errors_are_listed_with_row_and_column(roster):
    """Missing coordinates, outside Wenzhou, unknown amenity, duplicate, district disagreeing with location."""
    rows = rows_for(6)
    rows[0][4] = ""  # no longitude
    rows[1][4], rows[1][5] = 116.4, 39.9  # Beijing
    rows[2][8] = "按摩椅"  # unknown amenity
    rows[4][0] = rows[3][0]  # duplicate name
    rows[5][2] = "瓯海区"  # the point lies in 鹿城
    result = preview(roster, xlsx_bytes(rows), FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False)
    assert not result.ok
    found = _error_rows(result)
    assert (2, "lng") in found
    assert (3, "location") in found
    assert (4, "amenities") in found
    assert (6, "id") in found
    assert (7, "district") in found
    messages = " ".join(e.message for e in result.errors)
    assert "按摩椅" in messages and "outside Wenzhou" in messages and "duplicate" in messages
    with pytest.raises(ImportHasErrors):
        commit(roster, xlsx_bytes(rows), FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False, token=None)
    assert roster.store.count() == 200


def test_formula_cell_is_an_error_for_its_row(roster):
    """A cell holding a formula makes its row an error naming the column."""
    rows = rows_for(2)
    rows[1][4] = "=120.6+0.01"
    result = preview(roster, xlsx_bytes(rows), FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False)
    assert [(e.row, e.field, e.column) for e in result.errors] == [(3, "lng", "经度")]
    assert "formula" in result.errors[0].message
    assert "选择性粘贴" in result.errors[0].message_zh


def _encrypted_like() -> bytes:
    # Excel saves password-protected workbooks as OLE compound files (msoffcrypto), not zip.
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"", "xlsx", "empty"),
        (b"   \n", "csv", "empty"),
        (b"PK\x03\x04 not really a zip", "xlsx", "not a readable .xlsx"),
        (_encrypted_like(), "xlsx", "password-protected"),
        (b"\xff\xfe\x00\xd8garbage\x81", "csv", "neither UTF-8 nor GBK"),
        ("名称,地址\n某站,某路\n".encode("gbk"), "csv", "longitude and latitude"),
        (b'{"type": "Feature"', "geojson", "not valid JSON"),
        (b"<kml><Document></Document></kml>", "kml", "no Placemark"),
        (b'<!DOCTYPE kml [<!ENTITY a "aaaa">]><kml>&a;</kml>', "kml", "DOCTYPE"),
        (b"<kml><Placemark>", "kml", "not valid KML"),
        (b"not sqlite", "gpkg", "not a GeoPackage"),
    ],
)
def test_bad_files_get_clear_messages_and_nothing_is_written(roster, data, fmt, message):
    """Malformed, empty, encrypted or wrongly encoded files: FileInvalid with a clear message."""
    version = roster.store.data_version()
    with pytest.raises(FileInvalid, match=message):
        preview(roster, data, FORMATS[fmt], CRS.WGS84, user=ADMIN, replace=False)
    assert roster.store.data_version() == version


def test_empty_sheet_is_refused(roster):
    """A workbook with headers only holds no stations."""
    with pytest.raises(FileInvalid, match="no stations"):
        preview(roster, xlsx_bytes([]), FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False)


def test_district_organizer_import_is_scoped_to_their_districts(roster):
    """A 鹿城 organizer's file with a 瓯海 station is refused; with replace, only 鹿城 stations are removed."""
    organizer = User(5, "lucheng", "district_organizer", ("330302",))
    bad = rows_for(1) + rows_for(1, district="瓯海区", point=OUHAI[0], prefix="瓯海站")
    result = preview(roster, xlsx_bytes(bad), FORMATS["xlsx"], CRS.WGS84, user=organizer, replace=False)
    assert any("outside your districts" in e.message for e in result.errors)
    good = xlsx_bytes(rows_for(2))
    result = preview(roster, good, FORMATS["xlsx"], CRS.WGS84, user=organizer, replace=True)
    assert result.ok
    assert {s.district for s in result.removed} == {"330302"}
    before_other = roster.store.count(StationQuery(districts=("330304",)))
    commit(roster, good, FORMATS["xlsx"], CRS.WGS84, user=organizer, replace=True, token=result.token)
    assert roster.store.count(StationQuery(districts=("330302",))) == 2
    assert roster.store.count(StationQuery(districts=("330304",))) == before_other


def test_commit_refuses_when_roster_changed_since_preview(roster):
    """A preview token is bound to the data version: an edit in between makes commit refuse."""
    data = xlsx_bytes(rows_for(2))
    result = preview(roster, data, FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False)
    first = roster.store.list()[0]
    roster.store.delete(first.id, expected_version=None, actor="someone", via="edit")
    with pytest.raises(StaleImport):
        commit(roster, data, FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False, token=result.token)
    with pytest.raises(StaleImport):  # a different file under the old token
        commit(
            roster, xlsx_bytes(rows_for(3)), FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False, token=result.token
        )
    assert roster.store.count() == 199


@pytest.mark.slow
def test_ten_thousand_rows_import(roster):
    """A 10,000-row sheet previews and commits (time is measured in bench/, this checks it completes)."""
    data = xlsx_bytes(rows_for(10_000))
    result = preview(roster, data, FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False)
    assert result.ok and len(result.added) == 10_000
    summary = commit(roster, data, FORMATS["xlsx"], CRS.WGS84, user=ADMIN, replace=False, token=result.token)
    assert len(summary.added) == 10_000
    assert roster.store.count() == 10_200


# -- through the web --------------------------------------------------------------------------------


def test_admin_import_flow_preview_then_commit(app, roster, make_user, login):
    """Upload → preview page (counts, nothing written) → commit → summary; the template downloads."""
    make_user("boss", "city_admin")
    web = login("boss")
    assert web.get("/admin/import/template.xlsx").status_code == 200
    resp = web.post(
        "/admin/import/preview",
        data={"csrf_token": web.csrf, "crs": "wgs84", "file": (io.BytesIO(xlsx_bytes(rows_for(4))), "名册.xlsx")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200
    page = BeautifulSoup(resp.data, "html.parser")
    assert page.select_one("#n-added").get_text() == "4"
    assert roster.store.count() == 200
    form = {i["name"]: i.get("value", "") for i in page.select("#commit-form input")}
    resp = web.post("/admin/import/commit", data=form)
    assert resp.status_code == 200
    assert "新增 4" in BeautifulSoup(resp.data, "html.parser").select_one("#import-done").get_text()
    assert roster.store.count() == 204
    imports = len([r for r in roster.store.audit() if r.via == "import"])
    # The same 确认导入 again (a double tap, a reload that posts again): told it landed, nothing written twice.
    resp = web.post("/admin/import/commit", data=form)
    assert resp.status_code == 200
    page = BeautifulSoup(resp.data, "html.parser")
    assert "名册已与这份文件一致" in page.select_one("#import-already").get_text()
    assert page.select_one("#file-error") is None and page.select_one("#commit-form") is None
    assert roster.store.count() == 204
    assert len([r for r in roster.store.audit() if r.via == "import"]) == imports


def test_a_commit_after_someone_else_saved_shows_the_fresh_preview_to_confirm(app, roster, make_user, login):
    """An edit lands between preview and 确认导入: the file is previewed again against the roster now, not lost."""
    make_user("boss", "city_admin")
    web = login("boss")
    resp = web.post(
        "/admin/import/preview",
        data={"csrf_token": web.csrf, "crs": "wgs84", "file": (io.BytesIO(xlsx_bytes(rows_for(3))), "名册.xlsx")},
        content_type="multipart/form-data",
    )
    form = {i["name"]: i.get("value", "") for i in BeautifulSoup(resp.data, "html.parser").select("#commit-form input")}
    first = roster.store.list()[0]
    roster.store.delete(first.id, expected_version=None, actor="someone", via="edit")
    resp = web.post("/admin/import/commit", data=form)
    assert resp.status_code == 409
    page = BeautifulSoup(resp.data, "html.parser")
    assert "重新生成的预览" in page.select_one("#file-error").get_text()
    assert page.select_one("#n-added").get_text() == "3"
    assert roster.store.count() == 199  # nothing written by the refused commit
    fresh = {i["name"]: i.get("value", "") for i in page.select("#commit-form input")}
    assert fresh["token"] != form["token"] and fresh["digest"] == form["digest"]
    resp = web.post("/admin/import/commit", data=fresh)
    assert resp.status_code == 200
    assert "新增 3" in BeautifulSoup(resp.data, "html.parser").select_one("#import-done").get_text()
    assert roster.store.count() == 202


def test_admin_preview_shows_row_errors(make_user, login, roster):
    """The preview page lists row errors (row, column, message) and offers no commit button."""
    make_user("boss", "city_admin")
    web = login("boss")
    rows = rows_for(2)
    rows[1][5] = ""
    resp = web.post(
        "/admin/import/preview",
        data={"csrf_token": web.csrf, "crs": "wgs84", "file": (io.BytesIO(xlsx_bytes(rows)), "r.xlsx")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422
    page = BeautifulSoup(resp.data, "html.parser")
    cells = [td.get_text() for td in page.select(".row-error td")]
    assert cells[:2] == ["3", "纬度"]
    assert cells[2] == "不能为空：请填写纬度，例如 27.9939。"
    assert page.select_one("#commit-form") is None


def test_upload_over_limit_gets_413(app_factory, tmp_path):
    """A file bigger than LOCATOR_MAX_UPLOAD_MB is refused with 413 problem+json before parsing."""
    from locator.accounts import hash_password, new_token

    app = app_factory(MAX_UPLOAD_MB="1")
    user = app.extensions["accounts"].create_user("boss", "city_admin", (), hash_password("password123"))
    plain, digest = new_token()
    app.extensions["accounts"].create_token(user.id, "", digest)
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
    body += b"x" * (1024 * 1024) + b"\r\n--b--\r\n"
    resp = app.test_client().post(
        "/api/v1/admin/import?crs=wgs84",
        data=body,
        headers={"Authorization": f"Bearer {plain}"},
        content_type="multipart/form-data; boundary=b",
    )
    assert resp.status_code == 413
    assert resp.mimetype == "application/problem+json"


def test_api_import_dry_run_then_commit(app, roster, make_user, api_token):
    """API: dry_run returns the preview and writes nothing; commit with the token applies it."""
    token = api_token(make_user("bot", "city_admin"))
    headers = {"Authorization": f"Bearer {token}"}
    data = csv_bytes(rows_for(3), "gbk")
    client = app.test_client()

    def post(**fields):
        form = {"crs": "wgs84", "file": (io.BytesIO(data), "r.csv"), **fields}
        return client.post("/api/v1/admin/import", data=form, headers=headers, content_type="multipart/form-data")

    resp = post(dry_run="1")
    assert resp.status_code == 200 and resp.json["counts"]["added"] == 3
    assert roster.store.count() == 200
    resp = post(preview_token=resp.json["preview_token"])
    assert resp.status_code == 200 and resp.json["summary"]["added"] == 3
    assert roster.store.count() == 203
    resp = post(crs="mars")
    assert resp.status_code == 400 and resp.json["parameter"] == "crs"


# -- killed mid-commit --------------------------------------------------------------------------------

# Runs a CLI command in a process of its own that stops inside the write transaction: SQLite's trace
# callback (set on the store's connection from outside) touches a marker and sleeps when the first
# audit record is written, so the test can kill the process mid-commit.
PAUSE_IN_TRANSACTION = """
import pathlib, sys, time
from locator import create_app
app = create_app()
marker = pathlib.Path(sys.argv[1])
def pause(statement):
    if statement.startswith("INSERT INTO audit"):
        marker.write_text("in transaction")
        time.sleep(60)
with app.app_context():
    app.extensions["roster"].store._conn().set_trace_callback(pause)
    result = app.test_cli_runner().invoke(args=sys.argv[2:])
sys.exit(result.exit_code)
"""


def test_killed_import_leaves_previous_roster_intact(tmp_path):
    """SIGKILL the CLI import while its transaction is open: the previous roster is intact afterwards."""
    db = tmp_path / "kill.sqlite3"
    env = dict(os.environ, LOCATOR_DATABASE_URL=f"sqlite:///{db}", LOCATOR_SECRET_KEY="k", PYTHONPATH=str(ROOT))
    flask = [sys.executable, "-m", "flask", "--app", "locator"]
    subprocess.run([*flask, "init-db"], env=env, cwd=tmp_path, check=True, capture_output=True)
    from locator.store.sqlite import SQLiteStore

    store = SQLiteStore(db)
    before = store.list()
    version = store.data_version()
    store.close()
    path = tmp_path / "big.xlsx"
    path.write_bytes(xlsx_bytes(rows_for(2000)))
    marker = tmp_path / "in-transaction"
    errlog = (tmp_path / "stderr.txt").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSE_IN_TRANSACTION, str(marker), "import", str(path), "--crs", "wgs84", "--replace"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=errlog,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    errlog.close()
    assert proc.returncode == -signal.SIGKILL
    store = SQLiteStore(db)
    try:
        assert store.data_version() == version
        assert store.list() == before
        assert len(before) == 200
    finally:
        store.close()


def test_cli_dry_run_writes_nothing(runner, roster, tmp_path):
    """`import --dry-run` on an XLSX reports and writes nothing."""
    path = tmp_path / "r.xlsx"
    path.write_bytes(xlsx_bytes(rows_for(3)))
    result = runner.invoke(args=["import", str(path), "--crs", "wgs84", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "3 valid stations would give 3 added" in result.output
    assert roster.store.count() == 200


def test_geojson_import_matches_json_of_export(roster):
    """GeoJSON import works with the io module's FeatureCollection."""
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": list(LUCHENG)},
                "properties": {"名称": "一号站", "类型": "骑手驿站"},
            }
        ],
    }
    result = preview(roster, json.dumps(doc).encode(), FORMATS["geojson"], CRS.WGS84, user=ADMIN, replace=False)
    assert result.ok and result.added[0].name == "一号站"


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_downloaded_template_has_chinese_headers_and_imports(roster, make_user, login, fmt):
    """The template's headers are the Chinese ones, and its example row previews as one valid addition."""
    make_user("boss", "city_admin")
    web = login("boss")
    resp = web.get(f"/admin/import/template.{fmt}")
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    if fmt == "xlsx":
        from openpyxl import load_workbook

        header = next(load_workbook(io.BytesIO(resp.data)).active.iter_rows(values_only=True))
    else:
        header = resp.data.decode("utf-8-sig").splitlines()[0].split(",")
    assert list(header) == HEADERS
    result = preview(roster, resp.data, FORMATS[fmt], CRS.GCJ02, user=ADMIN, replace=False)
    assert result.ok, result.errors
    assert [s.district for s in result.added] == ["330304"]
