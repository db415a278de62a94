"""Hostile files: memory and CPU of each file of a corpus, sent through the real upload endpoints.

Goal (issue 12): for every file, per-request memory growth ≤ 64 MB and CPU ≤ 5 s, and a 4xx answer.

The corpus is built in a temporary folder, each file as large as the upload limit allows where the
attack scales (`--size-mb`, default 20). Each file is measured in a fresh server process (werkzeug,
one thread, SQLite, the sample roster, rate limits off): after warm-up imports of every format, the
parent reads the server's RSS from /proc, resets its peak (`clear_refs`), sends the upload with
http.client and reads the peak (VmHWM) and CPU time (utime + stime) once the answer is in.
"peak" is the high-water mark of RSS during the request minus RSS before it; "kept" is RSS after
minus RSS before (measured after gc and malloc_trim, so freed memory left by the warm-up does not hide
growth). The upload body itself (up to 20 MB held by the server) is part of both.

Run: .venv/bin/python bench/hostile_files.py            # the whole corpus at 20 MB
     .venv/bin/python bench/hostile_files.py --only csv  # names containing 'csv'
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import http.client
import io
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "security"))

from test_hostile_files import (  # noqa: E402
    ENTITY_PROLOG,
    KML_PLACEMARK,
    RECURSIVE_VIEW,
    geojson,
    gpkg_with_view,
    header_row,
    kml,
    point_feature,
    sheet_row,
    xlsx,
)

MB = 1024 * 1024
GOAL_MB, GOAL_CPU_S = 64, 5.0
TICK = os.sysconf("SC_CLK_TCK")
rng = random.Random(12)


def letters(n: int, alphabet: bytes = b"abcdefghijklmnop") -> bytes:
    """n pseudo-random letters (4 bits each: they compress about 2x, never like a zip bomb)."""
    table = bytes(alphabet[i % len(alphabet)] for i in range(256))
    return rng.randbytes(n).translate(table)


# -- the corpus -----------------------------------------------------------------------------------------------


class Limited:
    """Chunks from `make(i)` until about `limit` compressed bytes: the caller checks `done()` through `size`."""

    def __init__(self, make: Callable[[int], bytes], size: Callable[[], int], limit: int, max_raw: int = 1 << 62):
        self.make, self.size, self.limit, self.max_raw = make, size, limit, max_raw

    def __iter__(self) -> Iterator[bytes]:
        raw, i = 0, 0
        while self.size() < self.limit and raw < self.max_raw:
            chunk = self.make(i)
            raw += len(chunk)
            i += 1
            yield chunk


def workbook_to_size(limit: int, rows=None, shared=None, level: int = 6, max_raw: int = 250 * MB) -> bytes:
    """A workbook (tests' xlsx()) whose sheet rows or shared strings are drawn until the zip nears `limit`."""
    out = io.BytesIO()
    until = limit - 2 * MB  # the compressor holds back some output: stop early enough
    sheet = itertools.chain([header_row()], Limited(rows, out.tell, until, max_raw)) if rows else [header_row()]
    strings = Limited(shared, out.tell, until, max_raw) if shared else None
    return xlsx(sheet if rows else [header_row(), sheet_row(2)], shared=strings, level=level, out=out)


def zip_of_parts(count: int) -> bytes:
    """A workbook zip with `count` extra one-byte parts (its directory alone makes zipfile build `count` objects)."""
    return xlsx(header_row() + sheet_row(2), extra_parts=count, level=1)


def bomb(declared: int, level: int = 9) -> bytes:
    """A workbook whose sheet inflates to `declared` bytes of one repeated empty row."""
    unit = b'<row r="2"><c r="D2"><v>0</v></c></row>' * 25_000
    chunks = [unit] * (declared // len(unit))
    return xlsx([header_row(), *chunks], level=level)


def gpkg_many_rows(path: Path, n: int) -> bytes:
    """A GeoPackage of n point features (one name column)."""
    import numpy as np
    import pyogrio.raw
    import shapely

    points = shapely.points(np.full((n, 2), (120.65, 28.01)))
    names = np.array([f"站{i}" for i in range(n)], dtype=object)
    pyogrio.raw.write(
        str(path), shapely.to_wkb(points), [names], ["name"], layer="stations", driver="GPKG",
        geometry_type="Point", crs="EPSG:4326",
    )  # fmt: skip
    return path.read_bytes()


def gpkg_null_geometry(path: Path, roster) -> bytes:
    """Three stations, the second without geometry."""
    import sqlite3

    from locator.coords import CRS
    from locator.formats import FORMATS

    path.write_bytes(FORMATS["gpkg"].write(roster.store.list()[:3], CRS.WGS84))
    db = sqlite3.connect(path)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f'DROP TRIGGER "{name}"')
    db.execute("UPDATE stations SET geom = NULL WHERE fid = 2")
    db.commit()
    db.close()
    return path.read_bytes()


LAUGHS = (
    b"<!DOCTYPE worksheet ["
    + b"".join(
        b'<!ENTITY %s "%s">' % (bytes([97 + k]), (b"&%s;" % bytes([96 + k])) * 10 if k else b"lol") for k in range(5)
    )
    + b"]>"
)


def corpus(limit: int, tmp: Path) -> list[tuple[str, str, str, Callable[[], bytes]]]:
    """(name, file name or 'station' for a JSON body, what it is, builder) for every hostile file."""
    from locator import create_app
    from locator.coords import CRS
    from locator.formats import FORMATS

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/corpus.sqlite3", "SECRET_KEY": "x", "SEED_SAMPLE": True})
    roster = app.extensions["roster"]
    WARMUP["w.gpkg"] = FORMATS["gpkg"].write(roster.store.list()[:3], CRS.WGS84)  # loads GDAL, pandas, shapely
    rows_200001 = "".join(f"站{n},120.65,28.01\n" for n in range(200_001))
    deep = limit // 2 - 100
    digits = limit - 200
    blank = b'<row r="%d"/>'
    items = [
        ("xlsx-sparse-row", "sparse.xlsx", "row numbered 20,000,000 (issue: 25 s CPU)",
         lambda: xlsx(header_row() + sheet_row(2) + sheet_row(20_000_000))),
        ("xlsx-blank-rows", "blank.xlsx", "millions of blank rows <row r=N/>",
         lambda: workbook_to_size(limit, rows=lambda i: b"".join(blank % n for n in range(2 + i * 10_000, 2 + (i + 1) * 10_000)))),  # noqa: E501
        ("xlsx-zip-bomb", "bomb.xlsx", "sheet inflating to 2 GB",
         lambda: bomb(2_000_000_000)),
        ("xlsx-ratio-bomb", "ratio.xlsx", "sheet of 240 MB, compressed > 100x",
         lambda: bomb(240 * MB)),
        ("xlsx-shared-strings", "strings.xlsx", "1,000,000 strings of 1,000 chars (issue: 1.2 GB RSS)",
         lambda: xlsx(header_row() + sheet_row(2), shared=[b"<si><t>" + b"a" * 1000 + b"</t></si>"] * 1_000_000, level=9)),  # noqa: E501
        ("xlsx-shared-strings-dense", "dense.xlsx", "shared strings that compress 2x, to the upload limit",
         lambda: workbook_to_size(limit, shared=lambda i: b"".join(b"<si><t>" + letters(1000) + b"</t></si>" for _ in range(100)))),  # noqa: E501
        ("xlsx-dtd", "dtd.xlsx", "billion laughs DTD in the sheet (issue: 500)",
         lambda: xlsx(header_row() + sheet_row(2, name="&e;"), prolog=LAUGHS)),
        ("xlsx-many-parts", "parts.xlsx", "zip of ~100,000 parts",
         lambda: zip_of_parts(min(120_000, limit // 160))),
        ("xlsx-wide-row", "wide.xlsx", "one row of millions of cells",
         lambda: workbook_to_size(limit, rows=lambda i: (b'<row r="2">' if i == 0 else b"") + b"".join(b"<c><v>%d</v></c>" % rng.randrange(10**9) for _ in range(10_000)))),  # noqa: E501
        ("xlsx-huge-cell", "cell.xlsx", "one cell of ~30 M characters",
         lambda: workbook_to_size(limit, rows=lambda i: (b'<row r="2"><c r="A2" t="inlineStr"><is><t>' if i == 0 else b"") + letters(MB))),  # noqa: E501
        ("xlsx-200001-rows", "many.xlsx", "200,001 valid rows",
         lambda: xlsx([header_row()] + [b"".join(sheet_row(n, name=f"站{n}") for n in range(a, min(a + 10_000, 200_003))) for a in range(2, 200_003, 10_000)])),  # noqa: E501
        ("csv-huge-field", "field.csv", "one field of ~20 MB",
         lambda: b'name,lng,lat\n"' + letters(limit - 100) + b'",120.65,28.01\n'),
        ("csv-long-line", "line.csv", "one line of 20 M commas",
         lambda: b"name,lng,lat\n" + b"," * (limit - 100) + b"\n"),
        ("csv-blank-lines", "blank.csv", "20 M blank lines",
         lambda: b"name,lng,lat\n" + b"\n" * (limit - 100)),
        ("csv-200001-rows", "many.csv", "200,001 valid rows (issue: 37.7 s to refuse)",
         lambda: ("名称,经度,纬度\n" + rows_200001).encode()),
        ("geojson-deep", "deep.geojson", "nesting ~10,000,000 deep",
         lambda: geojson(point_feature(coordinates="[" * deep + "]" * deep))),
        ("geojson-long-number", "number.geojson", "a ~20 MB number",
         lambda: geojson(point_feature(coordinates="[1" + "0" * digits + ", 28.01]"))),
        ("geojson-400-digits", "digits.geojson", "a 400-digit integer (issue: 500)",
         lambda: geojson(point_feature(coordinates="[1" + "0" * 400 + ", 28.01]"))),
        ("geojson-surrogate", "surrogate.geojson", 'a lone surrogate "\\ud800" (issue: 500)',
         lambda: geojson(point_feature(name="\\ud800"))),
        ("geojson-empty-features", "empty.geojson", "millions of empty features {} (blank rows)",
         lambda: geojson(",".join(["{}"] * (limit // 3 - 30)))),
        ("geojson-200001", "many.geojson", "200,001 minimal features",
         lambda: geojson(",".join(['{"geometry":{"type":"Point","coordinates":[120.65,28.01]}}'] * 200_001))),
        ("api-deep", "station", "POST /api/v1/admin/stations, nesting ~10,000,000 deep",
         lambda: b'{"name": "x", "note": ' + b"[" * deep + b"]" * deep + b"}"),
        ("api-long-number", "station", "POST /api/v1/admin/stations, a ~20 MB number",
         lambda: b'{"name": "x", "lng": 1' + b"0" * digits + b"}"),
        ("api-huge-string", "station", "POST /api/v1/admin/stations, a 20 MB name with one emoji",
         lambda: '{"name": "😀'.encode() + b"a" * (limit - 100) + b'"}'),
        ("geojson-huge-emoji-text", "emoji.geojson", "a 20 MB ASCII name with one emoji (4 bytes a character)",
         lambda: geojson(point_feature(name="😀" + "a" * (limit - 300)))),
        ("api-400-digits", "station", "POST /api/v1/admin/stations, 400-digit lng (issue: 500)",
         lambda: b'{"name": "x", "type": "rider_station", "lat": 28.01, "lng": 1' + b"0" * 400 + b"}"),
        ("api-surrogate", "station", 'POST /api/v1/admin/stations, "\\ud800" (issue: 500)',
         lambda: b'{"name": "\\ud800", "type": "rider_station", "lng": 120.65, "lat": 28.01}'),
        ("kml-doctype-padding", "padded.kml", "DOCTYPE + entity after 6 KB of comments (issue: accepted)",
         lambda: kml(KML_PLACEMARK.format(name="&trick;"), "<!--" + "x" * 6000 + "-->" + ENTITY_PROLOG)),
        ("kml-utf16", "utf16.kml", "DOCTYPE + entity in UTF-16 (issue: accepted)",
         lambda: kml(KML_PLACEMARK.format(name="&trick;"), ENTITY_PROLOG, encoding="utf-16")),
        ("kml-many-placemarks", "many.kml", "placemarks to the upload limit",
         lambda: kml(KML_PLACEMARK.format(name="站") * (limit // 100 - 10))),
        ("kml-huge-text", "text.kml", "a name of ~20 MB",
         lambda: kml(KML_PLACEMARK.format(name=letters(limit - 1000).decode()))),
        ("gpkg-recursive-view", "view.gpkg", "layer = recursive SQL view (issue: 300,000 rows, 34.7 s)",
         lambda: gpkg_with_view(tmp / "view.gpkg", roster, RECURSIVE_VIEW)),
        ("gpkg-null-geometry", "null.gpkg", "a feature without geometry (a row error, 422)",
         lambda: gpkg_null_geometry(tmp / "null.gpkg", roster)),
        ("gpkg-200010-rows", "many.gpkg", "200,010 point features",
         lambda: gpkg_many_rows(tmp / "many.gpkg", 200_010)),
    ]  # fmt: skip
    try:
        return [(name, filename, what, build) for name, filename, what, build in items]
    finally:
        app.extensions["roster"].store.close()


# -- the server, one per file -----------------------------------------------------------------------------------


def serve(workdir: str) -> None:
    """Run the app on a free port (printed on stdout), one request at a time."""
    from werkzeug.serving import make_server

    from locator import create_app
    from locator.accounts import hash_password, new_token

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{workdir}/bench.sqlite3",
            "SECRET_KEY": "bench",
            "SEED_SAMPLE": True,
            "INSTANCE_PATH": f"{workdir}/instance",
            "RATELIMIT_ENABLED": False,
        }
    )
    user = app.extensions["accounts"].create_user(f"b{uuid.uuid4().hex[:8]}", "city_admin", (), hash_password("x" * 12))
    plain, digest = new_token()
    app.extensions["accounts"].create_token(user.id, "bench", digest)

    def wrapped(environ, start_response):
        if environ["PATH_INFO"] == "/__bench/gc":
            gc.collect()
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # freed heap back to the system: growth is measured from here
            start_response("204 No Content", [])
            return [b""]
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, wrapped, threaded=False)
    print(json.dumps({"port": server.server_port, "token": plain}), flush=True)
    server.serve_forever()


def _multipart(filename: str, data: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
    parts.append(head.encode() + b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _send(port: int, token: str, filename: str, data: bytes, timeout: float) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"}
    if filename == "station":
        headers["Content-Type"] = "application/json"
        conn.request("POST", "/api/v1/admin/stations", body=data, headers=headers)
    else:
        body, ctype = _multipart(filename, data, {"crs": "wgs84", "dry_run": "1"})
        conn.request("POST", "/api/v1/admin/import", body=body, headers={**headers, "Content-Type": ctype})
    resp = conn.getresponse()
    text = resp.read().decode("utf-8", "replace")
    conn.close()
    try:
        detail = json.loads(text).get("detail", "")
    except ValueError:
        detail = text[:200]
    return resp.status, detail


def _status(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


WARMUP = {
    "w.csv": "名称,经度,纬度\n暖身站,120.65,28.01\n".encode(),
    "w.geojson": geojson(point_feature()),
    "w.kml": kml(KML_PLACEMARK.format(name="暖身站")),
    "w.xlsx": xlsx(header_row() + sheet_row(2)),
}


def measure(filename: str, data: bytes, timeout: float, workdir: str) -> dict:
    """Start a fresh server, warm it up, send the file once and read its RSS peak and CPU time."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", workdir],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        hello = json.loads(server.stdout.readline())
        port, token = hello["port"], hello["token"]
        for _ in range(2):
            for name, content in WARMUP.items():
                _send(port, token, name, content, 60)
            _send(port, token, "station", b'{"name": "x"}', 60)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/__bench/gc")
        conn.getresponse().read()
        conn.close()
        time.sleep(0.3)
        before = _status(server.pid)["VmRSS"]
        Path(f"/proc/{server.pid}/clear_refs").write_text("5")
        cpu0 = _cpu(server.pid)
        killed = {"why": ""}

        def watchdog():
            while server.poll() is None and not killed.get("done"):
                if _status(server.pid).get("VmRSS", 0) > 3 * 1024 * MB:
                    killed["why"] = "killed at 3 GB RSS"
                    os.killpg(server.pid, signal.SIGKILL)
                time.sleep(0.05)

        guard = threading.Thread(target=watchdog, daemon=True)
        guard.start()
        start = time.perf_counter()
        try:
            status, detail = _send(port, token, filename, data, timeout)
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            status, detail = 0, killed["why"] or f"no answer within {timeout:.0f} s ({exc.__class__.__name__})"
        wall = time.perf_counter() - start
        killed["done"] = True
        if server.poll() is None:
            after = _status(server.pid)
            cpu = _cpu(server.pid) - cpu0
            peak, kept = (after["VmHWM"] - before) / MB, (after["VmRSS"] - before) / MB
        else:
            cpu, peak, kept = float("nan"), float("nan"), float("nan")
        return {"status": status, "detail": detail, "cpu": cpu, "peak": peak, "kept": kept, "wall": wall}
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def main() -> None:
    """Build the corpus, measure each file, print the table (exit 1 if a file misses the goal)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=20, help="upload limit the large files fill (default 20)")
    parser.add_argument("--only", default="", help="comma-separated parts of names to run")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a request counts as unanswered")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    limit = int(args.size_mb * MB) - 4096  # the multipart envelope fits in the rest
    wanted = [w for w in args.only.split(",") if w]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, filename, what, build in corpus(limit, Path(tmp)):
            if wanted and not any(w in name for w in wanted):
                continue
            started = time.perf_counter()
            data = build()
            made = time.perf_counter() - started
            if len(data) > limit:
                print(f"{name}: {len(data):,} bytes is over the upload limit; skipped", file=sys.stderr)
                continue
            work = Path(tmp) / name
            work.mkdir()
            result = measure(filename, data, args.timeout, str(work))
            ok = 400 <= result["status"] < 500 and result["peak"] <= GOAL_MB and result["cpu"] <= GOAL_CPU_S
            rows.append((name, what, len(data), result, ok))
            print(
                f"{name:27} {len(data) / MB:6.2f} MB  {result['status']:3}  cpu {result['cpu']:6.2f} s  "
                f"peak {result['peak']:7.1f} MB  kept {result['kept']:6.1f} MB  {'ok' if ok else 'MISSED'}"
                f"  (built in {made:.1f} s) {result['detail'][:90]}",
                flush=True,
            )
    print()
    print(f"| file | what | size | answer | CPU s | peak MB | kept MB | goal (≤ {GOAL_MB} MB, ≤ {GOAL_CPU_S:.0f} s) |")
    print("|---|---|---:|---|---:|---:|---:|---|")
    for name, what, size, r, ok in rows:
        size_text = f"{size / MB:.1f} MB" if size >= 100_000 else f"{size / 1024:.1f} KB"
        print(
            f"| {name} | {what} | {size_text} | {r['status']} | {r['cpu']:.2f} | {r['peak']:.1f} | {r['kept']:.1f} "
            f"| {'met' if ok else '**missed**'} |"
        )
    sys.exit(0 if all(ok for *_, ok in rows) else 1)


if __name__ == "__main__":
    main()
