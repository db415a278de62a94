"""Roster import speed: preview of a 10,000-row XLSX and CSV, against parsing the CSV alone (baseline).

Run: .venv/bin/python bench/import_roster.py   (prints seconds and ratios measured in this run)

Two ways for each format: `locator.importing.preview` itself, and the whole answer of
POST /admin/import/preview (a logged-in city administrator, multipart upload, the page rendered)
through the Flask test client. Goal (issue 14): each answers in at most 5 s.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_admin_import import ADMIN, csv_bytes, rows_for, xlsx_bytes  # noqa: E402

from locator import create_app  # noqa: E402
from locator.accounts import hash_password  # noqa: E402
from locator.coords import CRS  # noqa: E402
from locator.formats import FORMATS  # noqa: E402
from locator.importing import preview  # noqa: E402

N = 10_000
GOAL_S = 5.0


def timed(fn) -> float:
    """Seconds for one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    """Print the figures; 1 when a preview misses the goal."""
    rows = rows_for(N)
    csv_data, xlsx_data = csv_bytes(rows), xlsx_bytes(rows)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/b.sqlite3", "SECRET_KEY": "b"})
        roster = app.extensions["roster"]
        csv_format, xlsx_format = FORMATS["csv"], FORMATS["xlsx"]
        base = timed(lambda: list(csv_format.read_rows(csv_data)))
        csv_preview = timed(lambda: preview(roster, csv_data, csv_format, CRS.WGS84, user=ADMIN, replace=False))
        xlsx_preview = timed(lambda: preview(roster, xlsx_data, xlsx_format, CRS.WGS84, user=ADMIN, replace=False))
        accounts = app.extensions["accounts"]
        accounts.create_user("bench", "city_admin", (), hash_password("password123"))
        web = app.test_client()
        web.get("/admin/login")
        with web.session_transaction() as sess:
            csrf = sess["csrf"]
        web.post("/admin/login", data={"name": "bench", "password": "password123", "csrf_token": csrf})
        with web.session_transaction() as sess:
            csrf = sess["csrf"]

        def http_preview(data: bytes, name: str) -> None:
            form = {"csrf_token": csrf, "crs": "wgs84", "file": (io.BytesIO(data), name)}
            resp = web.post("/admin/import/preview", data=form, content_type="multipart/form-data")
            assert resp.status_code == 200 and f"预览（共 {N} 行）" in resp.text, resp.text[:500]

        csv_http = timed(lambda: http_preview(csv_data, "名册.csv"))
        xlsx_http = timed(lambda: http_preview(xlsx_data, "名册.xlsx"))
        roster.store.close()
    print(f"{N} rows: parse CSV only (baseline) {base:.2f} s")
    for label, seconds in (
        ("preview CSV           ", csv_preview),
        ("preview XLSX          ", xlsx_preview),
        ("POST preview CSV page ", csv_http),
        ("POST preview XLSX page", xlsx_http),
    ):
        print(f"{label} {seconds:.2f} s  ({seconds / base:.1f}x baseline)")
    worst = max(csv_preview, xlsx_preview, csv_http, xlsx_http)
    print(f"goal: each preview ≤ {GOAL_S:g} s: {'met' if worst <= GOAL_S else 'missed'} (slowest {worst:.2f} s)")
    return 0 if worst <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
