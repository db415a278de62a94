"""`flask --app locator …`: init-db, seed, import (all or nothing, row-by-row report) and export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from locator.coords import from_wgs84, great_circle_m

OUHAI = (120.62, 27.975)  # 红骑瓯创·骑手驿站, in 瓯海 330304
LUCHENG = (120.6993, 28.0216)  # 鹿城 centre, 330302


def feature(sid, lng, lat, **props):
    """A GeoJSON Point feature for a station."""
    base = {"id": sid, "name": f"驿站 {sid}", "type": "rider_station", **props}
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lng, lat]}, "properties": base}


def collection(*features) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False)


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return str(path)


def state(app) -> tuple[int, bytes, int]:
    """Everything a failed command must leave untouched: data version, full export, audit length."""
    from locator.formats.geojson_file import write as export_geojson

    store = app.extensions["roster"].store
    return store.data_version(), export_geojson(store.list()), len(store.audit(limit=10**6))


def test_init_db_creates_and_seeds(empty_app):
    runner = empty_app.test_cli_runner()
    store = empty_app.extensions["roster"].store
    assert store.count() == 0
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "seeded" in result.output
    seeded = store.count()
    assert seeded >= 145
    again = runner.invoke(args=["init-db"])
    assert again.exit_code == 0
    assert "seeded" not in again.output
    assert store.count() == seeded


def test_init_db_no_seed(empty_app):
    result = empty_app.test_cli_runner().invoke(args=["init-db", "--no-seed"])
    assert result.exit_code == 0
    assert empty_app.extensions["roster"].store.count() == 0


def test_seed_refuses_over_real_data_without_force(app, runner, tmp_path):
    path = write(tmp_path, "one.geojson", collection(feature("real-1", *OUHAI)))
    assert runner.invoke(args=["import", path, "--crs", "wgs84"]).exit_code == 0
    before = state(app)
    refused = runner.invoke(args=["seed"])
    assert refused.exit_code != 0
    assert "non-sample" in refused.output
    assert state(app) == before
    forced = runner.invoke(args=["seed", "--force"])
    assert forced.exit_code == 0, forced.output
    store = app.extensions["roster"].store
    assert all(s.provenance == "sample" for s in store.list())


def test_import_geojson_wgs84(empty_app, tmp_path):
    runner = empty_app.test_cli_runner()
    path = write(
        tmp_path,
        "in.geojson",
        collection(
            feature("a-1", *OUHAI, amenities=["water", "微波加热"], hours="Mo-Fr 08:00-20:00"),
            feature("a-2", *LUCHENG, district="鹿城区", type="党建之家"),
        ),
    )
    result = runner.invoke(args=["import", path, "--crs", "wgs84"])
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output
    store = empty_app.extensions["roster"].store
    a1, a2 = store.list()
    assert (a1.lng, a1.lat, a1.district, a1.amenities) == (*OUHAI, "330304", ("water", "microwave"))
    assert (a2.district, a2.type, a2.provenance) == ("330302", "party_home", "import")
    assert [r.via for r in store.audit()] == ["import", "import"]


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
@pytest.mark.parametrize("fmt", ["geojson", "csv"])
def test_import_converts_coordinates_to_wgs84(empty_app, tmp_path, crs, fmt):
    """A file of points in GCJ-02/BD-09 (as AMap's or Baidu's picker gives them) lands on the WGS-84 spot."""
    x, y = from_wgs84(*OUHAI, crs)
    assert great_circle_m(x, y, *OUHAI) > 300  # the offset the import must undo
    if fmt == "geojson":
        content = collection(feature("c-1", round(x, 7), round(y, 7)))
    else:
        content = f"id,name,type,lng,lat\nc-1,驿站,rider_station,{x:.7f},{y:.7f}\n"
    path = write(tmp_path, f"in.{fmt}", content)
    result = empty_app.test_cli_runner().invoke(args=["import", path, "--crs", crs])
    assert result.exit_code == 0, result.output
    station = empty_app.extensions["roster"].store.get("c-1")
    assert great_circle_m(station.lng, station.lat, *OUHAI) < 0.05
    assert station.district == "330304"


def test_dry_run_writes_nothing(app, runner, tmp_path):
    before = state(app)
    path = write(tmp_path, "in.geojson", collection(feature("d-1", *OUHAI)))
    result = runner.invoke(args=["import", path, "--crs", "wgs84", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "dry run: 1 valid" in result.output
    assert state(app) == before


def test_import_adds_and_updates_without_replace_and_replace_makes_the_roster_exact(app, runner, tmp_path):
    store = app.extensions["roster"].store
    total = store.count()
    first = store.list()[0]
    path = write(
        tmp_path,
        "in.geojson",
        collection(
            feature(first.id, first.lng, first.lat, name="改过的名字", type=first.type),
            feature("new-1", *OUHAI),
        ),
    )
    result = runner.invoke(args=["import", path, "--crs", "wgs84"])
    assert result.exit_code == 0, result.output
    assert "1 added, 1 changed, 0 removed" in result.output
    assert store.count() == total + 1
    assert store.get(first.id).name == "改过的名字"
    replaced = runner.invoke(args=["import", path, "--crs", "wgs84", "--replace"])
    assert replaced.exit_code == 0, replaced.output
    assert f"0 added, 0 changed, {total - 1} removed, 2 unchanged" in replaced.output
    assert [s.id for s in store.list()] == sorted([first.id, "new-1"])


@pytest.mark.parametrize("fmt", ["geojson", "csv"])
def test_export_import_round_trip(app, runner, empty_app, tmp_path, fmt):
    out = tmp_path / f"roster.{fmt}"
    result = runner.invoke(args=["export", "-f", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    target = empty_app.test_cli_runner()
    imported = target.invoke(args=["import", str(out), "--crs", "wgs84"])
    assert imported.exit_code == 0, imported.output
    original = [s.record() for s in app.extensions["roster"].store.list()]
    copy = [s.record() for s in empty_app.extensions["roster"].store.list()]
    assert copy == original
    again = tmp_path / f"again.{fmt}"
    assert target.invoke(args=["export", "-f", fmt, "-o", str(again)]).exit_code == 0
    assert again.read_bytes() == out.read_bytes()


def test_export_in_gcj02_is_csv_with_the_system_in_its_headers(app, runner):
    result = runner.invoke(args=["export", "-f", "csv", "--crs", "gcj02", "--district", "330304"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout.lstrip("\ufeff"))))
    assert {r["district"] for r in rows} == {"330304"}
    hit = next(r for r in rows if r["id"] == "rs-330304-001")
    assert "lng" not in hit and "lat" not in hit
    x, y = float(hit["经度(GCJ-02)"]), float(hit["纬度(GCJ-02)"])
    assert abs(x - from_wgs84(*OUHAI, "gcj02")[0]) < 1e-6 and abs(y - from_wgs84(*OUHAI, "gcj02")[1]) < 1e-6


@pytest.mark.parametrize("fmt", ["geojson", "kml", "gpkg"])
@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_export_refuses_gcj02_and_bd09_for_wgs84_only_formats(runner, fmt, crs, tmp_path):
    """Finding 9: GeoJSON (RFC 7946), KML and GeoPackage (EPSG:4326) would mislabel GCJ-02 coordinates."""
    out = tmp_path / f"out.{fmt}"
    result = runner.invoke(args=["export", "-f", fmt, "--crs", crs, "-o", str(out)])
    assert result.exit_code == 2
    assert "CSV (.csv)" in result.output and "Excel 工作簿 (.xlsx)" in result.output
    assert "WGS-84" in result.output and not out.exists()


def test_gbk_csv_with_chinese_headers_imports(empty_app, tmp_path):
    text = (
        "名称,类型,区县,地址,经度,纬度,开放时间,服务设施\n"
        "红骑瓯创·骑手驿站,骑手驿站,瓯海区,瓯海区娄桥街道,120.62,27.975,"
        "Mo-Su 08:00-22:00,微波加热、免费茶饮、手机充电\n"
        "鹿城驿站,党建之家,330302,鹿城区,120.6993,28.0216,24/7,\n"
    )
    path = write(tmp_path, "名册.csv", text.encode("gbk"))
    result = empty_app.test_cli_runner().invoke(args=["import", path, "--crs", "wgs84"])
    assert result.exit_code == 0, result.output
    stations = {s.name: s for s in empty_app.extensions["roster"].store.list()}
    ouchuang = stations["红骑瓯创·骑手驿站"]
    assert ouchuang.district == "330304"
    assert ouchuang.amenities == ("microwave", "water", "charging")
    assert ouchuang.hours == "Mo-Su 08:00-22:00"
    assert stations["鹿城驿站"].type == "party_home"


CSV_HEAD = "id,name,type,district,lng,lat,amenities\n"
GOOD_ROW = "ok-1,驿站,rider_station,330304,120.62,27.975,water\n"

BAD_FILES = [
    # (file name, content, expected fragments of the report)
    ("bad.geojson", '{"type": "FeatureCollection", "features": [', ["not valid JSON"]),
    ("bad.geojson", '{"type": "Feature"}', ["must be a FeatureCollection"]),
    ("bad.geojson", "[1, 2]", ["must be a FeatureCollection"]),
    ("empty.geojson", "", ["the file is empty"]),
    ("empty.csv", "", ["the file is empty"]),
    ("none.geojson", collection(), ["holds no stations"]),
    (
        "line.geojson",
        collection(
            feature("ok-1", *OUHAI),
            {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[120.6, 28], [120.7, 28]]}},
        ),
        ["row 2: geometry: geometry must be a Point"],
    ),
    ("nocoords.csv", "id,name,type\nx,驿站,rider_station\n", ["needs longitude and latitude columns"]),
    ("noname.csv", "id,type,lng,lat\nx,rider_station,120.62,27.975\n", ["needs a name column"]),
    ("text.csv", CSV_HEAD + GOOD_ROW + "b-1,驿站,rider_station,,东经,27.9,\n", ["row 3: lng: '东经' is not a number"]),
    ("range.csv", CSV_HEAD + GOOD_ROW + "b-1,驿站,rider_station,,120.6,95,\n", ["row 3: lat: 95.0 is outside"]),
    ("nan.csv", CSV_HEAD + GOOD_ROW + "b-1,驿站,rider_station,,NaN,27.9,\n", ["row 3: lng: must be a finite number"]),
    (
        "inf.geojson",
        '{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point",'
        '"coordinates":[Infinity,27.9]},"properties":{"name":"x","type":"rider_station"}}]}',
        ["row 1: lng: must be a finite number"],
    ),
    (
        "dup.csv",
        CSV_HEAD + GOOD_ROW + GOOD_ROW.replace("驿站", "另一个"),
        ["row 3: id: duplicate station 'ok-1'", "first on row 2"],
    ),
    ("district.csv", CSV_HEAD + GOOD_ROW + "b-1,驿站,rider_station,330999,120.6,27.9,\n", ["row 3: district"]),
    (
        "amenity.csv",
        CSV_HEAD + GOOD_ROW + "b-1,驿站,rider_station,,120.6,27.9,water;sauna\n",
        ["row 3: amenities: unknown amenity 'sauna'"],
    ),
    (
        "outside.geojson",
        collection(feature("ok-1", *OUHAI), feature("hz-1", 120.155, 30.274)),
        ["row 2: location:", "outside Wenzhou"],
    ),
    (
        "several.csv",
        CSV_HEAD + "b-1,,teahouse,,120.6,27.9,\nb-2,驿站,rider_station,,120.6,abc,\n",
        ["row 2: name: is required", "row 2: type: unknown type", "row 3: lat:"],
    ),
    ("file.txt.xlsx", "x", ["not a readable .xlsx workbook"]),
    ("file.docx", "x", ["unsupported file type"]),
]


@pytest.mark.parametrize(
    ("name", "content", "expected"), BAD_FILES, ids=[f"{i}-{b[0]}" for i, b in enumerate(BAD_FILES)]
)
def test_bad_file_is_rejected_whole_with_a_report(app, runner, tmp_path, name, content, expected):
    before = state(app)
    path = write(tmp_path, name, content)
    result = runner.invoke(args=["import", path, "--crs", "wgs84"])
    assert result.exit_code != 0
    for fragment in expected:
        assert fragment in result.output
    assert state(app) == before


def test_bad_file_with_replace_changes_nothing(app, runner, tmp_path):
    before = state(app)
    path = write(tmp_path, "bad.csv", CSV_HEAD + GOOD_ROW + "b-1,驿站,rider_station,,120.6,NaN,\n")
    result = runner.invoke(args=["import", path, "--crs", "wgs84", "--replace"])
    assert result.exit_code == 1
    assert "nothing was imported" in result.output
    assert state(app) == before


def test_import_progress_is_plain_lines_off_a_terminal(runner, roster, tmp_path):
    """Not on a terminal (logs, cron): one plain line per stage, no bar, no carriage returns."""
    from tests.test_admin_import import rows_for, xlsx_bytes

    path = write(tmp_path, "r.xlsx", xlsx_bytes(rows_for(1200)))
    result = runner.invoke(args=["import", str(path), "--crs", "wgs84", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "读取并检查：500 行" in result.output and "读取并检查：1200 行 / 1200" in result.output
    assert "核对：1200 行 / 1200" in result.output and "\r" not in result.output


def test_import_progress_is_a_bar_on_a_terminal(tmp_path):
    """On a terminal the import draws a tqdm bar (carriage returns, the stage's name and the row count)."""
    import os
    import pty
    import subprocess
    import sys

    from tests.test_admin_import import ROOT, rows_for, xlsx_bytes

    path = write(tmp_path, "r.xlsx", xlsx_bytes(rows_for(3000)))
    env = dict(os.environ, LOCATOR_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", LOCATOR_SECRET_KEY="k")
    env["PYTHONPATH"] = str(ROOT)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "locator", "import", str(path), "--crs", "wgs84", "--dry-run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(leader)
    assert proc.returncode == 0, seen.decode("utf-8", "replace")
    text = seen.decode("utf-8", "replace")
    assert "\r" in text and "读取并检查" in text and "行/s" in text
    assert "3000 valid stations would give 3000 added" in out.decode()
