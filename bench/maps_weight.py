"""Maps (issue 4): page weight against folium's default output, 100,000 stations on /map, cached HTML.

One run:  .venv/bin/python bench/maps_weight.py            (needs /usr/bin/chromium and npm)
          .venv/bin/python bench/maps_weight.py --stations 20000   (a quicker large-roster run)

1. /embed with the sample roster, in headless Chromium: every response the page needs (HTML,
   scripts, stylesheets, images, the station data), tiles excluded (answered locally, not counted).
   "Transferred" is the gzip body each one arrives as (what our server sends with
   Accept-Encoding: gzip). Baseline, measured in the same run: folium's default output of the same
   map (a folium.Map with its default CDN assets, one folium.Marker with a popup per station inside
   folium's MarkerCluster, as folium's docs do it): its HTML plus each CDN file, fetched as the same
   package versions from the npm registry (`npm pack`) and gzip-compressed at level 6 like ours.
   Two of folium's ten files are not on npm and are counted as 0 bytes (bootstrap-glyphicons.css
   of Bootstrap 3.0.0-rc and folium's leaflet.awesome.rotate.min.css), so the ratio is conservative.
2. /map with N random stations (default 100,000): HTML bytes, data-file bytes, and the time from
   navigation start until the first clusters are in the DOM in headless Chromium.
3. /map served from the per-version cache with the Flask test client: median of 200 GETs after the
   first build, against the first build.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from locator import create_app  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer  # noqa: E402

OUT = ROOT / "bench" / "out"
TILE_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478"
    "9c63f8ffff3f0005fe02fe0def46b80000000049454e44ae426082"
)


def gz(data: bytes) -> int:
    """Bytes after gzip level 6 (what a CDN or our server sends)."""
    return len(gzip.compress(data, 6, mtime=0))


def npm_file(spec: str, path: str) -> bytes:
    """One file of an npm package, via `npm pack` into bench/out/npm (cached between runs)."""
    cache = OUT / "npm" / spec.replace("/", "_")
    if not cache.exists():
        cache.mkdir(parents=True)
        subprocess.run(["npm", "pack", spec, "--silent"], cwd=cache, check=True, capture_output=True)
        (tgz,) = cache.glob("*.tgz")
        with tarfile.open(tgz) as tar:
            tar.extractall(cache, filter="data")
    return (cache / "package" / path).read_bytes()


def make_app(tmp: Path, **config):
    """An app over a fresh SQLite file."""
    base = {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}", "SECRET_KEY": "bench"}
    base.update(config)
    return create_app(base)


def folium_default_html(roster) -> bytes:
    """The same map as folium's defaults make it: CDN assets, a layer per type with its own marker
    (folium.Icon, folium's way of giving each type its own marker), clustered, a popup per station."""
    import folium
    from folium.plugins import MarkerCluster

    from locator.stations import STATION_TYPES

    colors = {"rider_station": "red", "party_home": "purple", "demo_site": "orange", "finance_station": "blue"}
    icons = {"rider_station": "motorcycle", "party_home": "house", "demo_site": "star", "finance_station": "yen-sign"}
    m = folium.Map(location=[27.9938, 120.6994], zoom_start=10)
    clusters = {
        key: MarkerCluster(name=t.zh).add_to(folium.FeatureGroup(name=t.zh).add_to(m))
        for key, t in STATION_TYPES.items()
    }
    for s in roster.snapshot().stations:
        text = f"<b>{html.escape(s.name)}</b><br>{html.escape(s.address or '')}<br>{html.escape(s.hours)}"
        folium.Marker(
            [s.lat, s.lng],
            popup=folium.Popup(text, max_width=260),
            tooltip=html.escape(s.name),
            icon=folium.Icon(color=colors.get(s.type, "gray"), icon=icons.get(s.type, "circle"), prefix="fa"),
        ).add_to(clusters[s.type])
    folium.LayerControl().add_to(m)
    return m.get_root().render().encode("utf-8")


def cdn_to_npm(url: str) -> tuple[str, str] | None:
    """(npm spec, file path) holding the same file as one of folium's CDN URLs, or None."""
    if url.startswith("https://cdn.jsdelivr.net/npm/"):
        rest = url.removeprefix("https://cdn.jsdelivr.net/npm/")
        parts = rest.split("/")
        n = 2 if rest.startswith("@") else 1
        return "/".join(parts[:n]), "/".join(parts[n:])
    if url.startswith("https://code.jquery.com/jquery-"):
        version = url.removeprefix("https://code.jquery.com/jquery-").removesuffix(".min.js")
        return f"jquery@{version}", "dist/jquery.min.js"
    prefix = "https://cdnjs.cloudflare.com/ajax/libs/"
    if url.startswith(prefix + "Leaflet.awesome-markers/2.0.2/"):
        name = url.rsplit("/2.0.2/", 1)[1]
        folder = "js/" if name.endswith(".js") else "css/"
        return "drmonty-leaflet-awesome-markers@2.0.2", folder + name
    if url.startswith(prefix + "leaflet.markercluster/"):
        version, name = url.removeprefix(prefix + "leaflet.markercluster/").split("/", 1)
        return f"leaflet.markercluster@{version}", "dist/" + name
    return None


def transfer_size(path: str, body: bytes) -> int:
    """gzip-6 size for text, the file itself for already-compressed images and fonts."""
    if path.rsplit(".", 1)[-1].split("?")[0] in ("png", "woff2", "woff", "ttf", "eot", "jpg", "gif"):
        return len(body)
    return gz(body)


def browse_folium(chromium, page_html: bytes) -> dict[str, int]:
    """Load folium's page in Chromium with every CDN URL answered from the npm package; sizes per file."""
    context = chromium.new_context(viewport={"width": 375, "height": 667})
    page = context.new_page()
    sizes: dict[str, int] = {"(folium HTML)": gz(page_html)}

    def route(r):
        url = r.request.url
        if url == "http://folium.test/":
            r.fulfill(status=200, content_type="text/html; charset=utf-8", body=page_html)
            return
        if "tile.openstreetmap.org" in url:
            r.fulfill(status=200, content_type="image/png", body=TILE_PNG)
            return
        target = cdn_to_npm(url.split("?")[0])
        try:
            body = npm_file(*target) if target else None
        except (FileNotFoundError, subprocess.CalledProcessError):
            body = None
        if body is None:
            sizes[f"(not on npm, counted 0) {url}"] = 0
            r.fulfill(status=404, body=b"")
            return
        sizes[f"{target[0]}/{target[1]}"] = transfer_size(target[1], body)
        ctype = "text/css" if target[1].endswith(".css") else "application/javascript"
        if target[1].endswith(".png"):
            ctype = "image/png"
        elif target[1].endswith((".woff2", ".woff", ".ttf")):
            ctype = "font/" + target[1].rsplit(".", 1)[1]
        r.fulfill(status=200, content_type=ctype, body=body)

    context.route("**/*", route)
    page.goto("http://folium.test/", wait_until="load")
    page.wait_for_selector(".marker-cluster", timeout=30000)
    page.wait_for_timeout(1000)
    context.close()
    return sizes


def browse(chromium, url: str, ready_selector: str, read: str | None = None):
    """Open url at 375x667; returns (responses [(url, transferred bytes)], seconds to ready_selector)."""
    context = chromium.new_context(viewport={"width": 375, "height": 667})
    page = context.new_page()
    seen: list[str] = []

    def route(r):
        if r.request.url.startswith("http://127.0.0.1"):
            r.continue_()
        else:  # tiles: answered locally, not counted
            r.fulfill(status=200, content_type="image/png", body=TILE_PNG)

    context.route("**/*", route)
    page.on("requestfinished", lambda req: seen.append(req.url) if req.url.startswith("http://127.0.0.1") else None)
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_selector(ready_selector, timeout=60000)
    elapsed = time.perf_counter() - t0
    page.wait_for_load_state("load")
    extra = page.locator(".folium-map").get_attribute(read) if read else None
    context.close()
    return (seen, elapsed, extra) if read else (seen, elapsed)


def transferred(client, url: str) -> int:
    """Body bytes our server sends for url to a gzip-accepting client."""
    path = url.split("://", 1)[1].split("/", 1)[1]
    return len(client.get("/" + path, headers={"Accept-Encoding": "gzip"}).data)


def weight(chromium, tmp: Path) -> dict:
    """Part 1: /embed with the sample roster vs folium's default output, both loaded in Chromium."""
    app = make_app(tmp / "w")
    server = LiveServer(app).start()
    try:
        urls, _ = browse(chromium, server.url + "/embed", ".folium-map[data-state=ready]")
        # The popup data of one station (fetched when a rider taps a marker) is not counted.
        client = app.test_client()
        ours = {u.split("127.0.0.1", 1)[1].split("/", 1)[1]: transferred(client, u) for u in dict.fromkeys(urls)}
    finally:
        server.stop()
    theirs = browse_folium(chromium, folium_default_html(app.extensions["roster"]))
    app.extensions["roster"].store.close()
    return {"ours": ours, "folium": theirs}


def large_roster(chromium, tmp: Path, n: int) -> dict:
    """Part 2 and 3: n random stations inside Wenzhou's districts on /map."""
    app = make_app(tmp / "big", SEED_SAMPLE=False)
    roster = app.extensions["roster"]
    rng = np.random.default_rng(4)
    x0, y0, x1, y1 = roster.districts.bounds
    lng, lat = rng.uniform(x0, x1, n * 3), rng.uniform(y0, y1, n * 3)
    inside = np.flatnonzero(roster.districts.districts_of(lng, lat) != None)[:n]  # noqa: E711
    types = ["rider_station", "party_home", "demo_site", "finance_station"]
    stations = [
        roster.validate(
            {
                "id": f"b-{i:06d}",
                "name": f"测试驿站{i:06d}",
                "type": types[i % 4],
                "lng": float(lng[j]),
                "lat": float(lat[j]),
                "address": f"温州市测试路{i}号",
                "hours": "Mo-Su 08:00-20:00",
                "amenities": ["water", "charging"],
            }
        )
        for i, j in enumerate(inside)
    ]
    roster.store.replace_all(stations, actor="bench", via="bench")
    client = app.test_client()
    t = time.perf_counter()
    first = client.get("/map")
    first_build = time.perf_counter() - t
    html_raw = first.data
    html_gz = client.get("/map", headers={"Accept-Encoding": "gzip"}).data
    data_path = json.loads(html_raw.decode().split('"dataUrl":', 1)[1].split(",", 1)[0]).replace("\\u0026", "&")
    data_raw = client.get(data_path).data
    data_gz = client.get(data_path, headers={"Accept-Encoding": "gzip"}).data
    times = []
    for _ in range(200):
        t = time.perf_counter()
        client.get("/map")
        times.append(time.perf_counter() - t)
    server = LiveServer(app).start()
    try:
        _, render = browse(chromium, server.url + "/map", ".lm-cluster")
        _, render2, draw_ms = browse(chromium, server.url + "/map", ".lm-cluster", read="data-draw-ms")
    finally:
        server.stop()
    roster.store.close()
    return {
        "stations": len(stations),
        "html_bytes": len(html_raw),
        "html_gzip_bytes": len(html_gz),
        "data_bytes": len(data_raw),
        "data_gzip_bytes": len(data_gz),
        "first_render_s": render,
        "second_render_s": render2,
        "draw_ms": draw_ms,
        "first_build_ms": first_build * 1000,
        "cached_median_ms": statistics.median(times) * 1000,
    }


def main() -> None:
    """Run the three measurements once and print them with their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=100_000)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="maps-bench-"))
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            w = weight(chromium, tmp)
            big = large_roster(chromium, tmp, args.stations)
            chromium.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ours, theirs = sum(w["ours"].values()), sum(w["folium"].values())
    print("== /embed, sample roster: bytes transferred (gzip, no tiles)")
    for name, size in w["ours"].items():
        print(f"  ours    {size:>8,d}  {name}")
    for name, size in w["folium"].items():
        print(f"  folium  {size:>8,d}  {name}")
    print(f"  total: ours {ours / 1024:.1f} KB, folium default {theirs / 1024:.1f} KB, {theirs / ours:.1f}x lighter")
    print(f"== /map with {big['stations']:,d} stations")
    print(f"  HTML {big['html_bytes'] / 1024:.1f} KB ({big['html_gzip_bytes'] / 1024:.1f} KB gzip)")
    print(f"  station data {big['data_bytes'] / 1e6:.2f} MB ({big['data_gzip_bytes'] / 1e6:.2f} MB gzip)")
    print(
        f"  first render (navigation -> clusters in DOM): {big['first_render_s']:.2f} s, "
        f"again {big['second_render_s']:.2f} s; drawing after the data arrived {big['draw_ms']} ms"
    )
    print(
        f"  map HTML: first build {big['first_build_ms']:.0f} ms, from cache median {big['cached_median_ms']:.2f} ms "
        f"({big['first_build_ms'] / big['cached_median_ms']:.0f}x faster)"
    )
    (OUT / "maps_weight.json").write_text(json.dumps({"weight": w, "large": big}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
