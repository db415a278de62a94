"""Roster import speed: preview of a 10,000-row XLSX and CSV, against parsing the CSV alone (baseline).

Run: .venv/bin/python bench/import_roster.py   (prints seconds and ratios measured in this run)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_admin_import import ADMIN, csv_bytes, rows_for, xlsx_bytes  # noqa: E402

from locator import create_app  # noqa: E402
from locator.coords import CRS  # noqa: E402
from locator.formats import FORMATS  # noqa: E402
from locator.importing import preview  # noqa: E402

N = 10_000


def timed(fn) -> float:
    """Seconds for one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    """Print the figures."""
    rows = rows_for(N)
    csv_data, xlsx_data = csv_bytes(rows), xlsx_bytes(rows)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/b.sqlite3", "SECRET_KEY": "b"})
        roster = app.extensions["roster"]
        csv_format, xlsx_format = FORMATS["csv"], FORMATS["xlsx"]
        base = timed(lambda: list(csv_format.read_rows(csv_data)))
        csv_preview = timed(lambda: preview(roster, csv_data, csv_format, CRS.WGS84, user=ADMIN, replace=False))
        xlsx_preview = timed(lambda: preview(roster, xlsx_data, xlsx_format, CRS.WGS84, user=ADMIN, replace=False))
        roster.store.close()
    print(f"{N} rows: parse CSV only (baseline) {base:.2f} s")
    print(f"preview CSV  {csv_preview:.2f} s  ({csv_preview / base:.1f}x baseline)")
    print(f"preview XLSX {xlsx_preview:.2f} s  ({xlsx_preview / base:.1f}x baseline)")


if __name__ == "__main__":
    main()
