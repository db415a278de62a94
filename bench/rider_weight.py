"""Weigh the rider page (issue 5): every byte a phone downloads for / except map tiles, gzip-compressed.

Opens the page in headless Chromium (Debian's /usr/bin/chromium) with geolocation granted near
红骑瓯创·骑手驿站, waits until the list and the map are drawn, and records every response from the
service (HTML, CSS, JS, the nearest API answer, Leaflet). Foreign requests (the tiles) are blocked and
not counted. Each body is gzipped at level 6, as a typical nginx would. Prints each file and the
total against the 80 KB budget.

    /work/main/.venv/bin/python bench/rider_weight.py
"""

from __future__ import annotations

import gzip
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from locator import create_app  # noqa: E402

BUDGET = 80 * 1024
CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    """Serve a seeded app, load / in Chromium, and print the gzip weight of everything it fetched."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3", "SECRET_KEY": "bench"})
        server = make_server("127.0.0.1", 0, app, threaded=True)
        base = f"http://127.0.0.1:{server.server_port}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        rows: list[tuple[str, int, int]] = []
        blocked: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            ctx = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True, locale="zh-CN")
            ctx.grant_permissions(["geolocation"], origin=base)
            ctx.set_geolocation({"latitude": 27.9772, "longitude": 120.6236})

            def route(r):
                if urlsplit(r.request.url).hostname == "127.0.0.1":
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            ctx.route("**/*", route)
            page = ctx.new_page()
            responses = []
            page.on("response", lambda resp: responses.append(resp))
            page.goto(base + "/")
            page.wait_for_selector("#results li.station", timeout=20000)
            page.wait_for_selector("#map[data-ready='1']", timeout=20000)
            page.wait_for_load_state("networkidle")
            for resp in responses:
                body = resp.body()
                rows.append((urlsplit(resp.url).path, len(body), len(gzip.compress(body, 6))))
            browser.close()
        server.shutdown()
    total_raw = sum(r[1] for r in rows)
    total_gz = sum(r[2] for r in rows)
    print(f"{'path':48} {'raw B':>9} {'gzip B':>9}")
    for path, raw, gz in rows:
        print(f"{path:48} {raw:9d} {gz:9d}")
    print(f"{'total (' + str(len(rows)) + ' responses)':48} {total_raw:9d} {total_gz:9d}")
    print(f"budget {BUDGET} B gzip: used {total_gz / BUDGET:.2f} of it; tile requests blocked: {len(blocked)}")
    return 0 if total_gz <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
