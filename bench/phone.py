"""A throttled phone (issue 15): first station name on /, first markers on /embed, bytes of a repeat visit.

    .venv/bin/python bench/phone.py                  # this tree and the baseline ref, 5 runs each
    .venv/bin/python bench/phone.py --baseline none  # this tree only

Headless Debian Chromium driven by Playwright, a 375×812 phone context with touch, DevTools throttling
through CDP: 400 kbps down and up, 400 ms round trip (Network.emulateNetworkConditions), CPU 4× slower
(Emulation.setCPUThrottlingRate), a fresh context per run (empty cache). Map tiles are refused (not counted).

1. `/` with geolocation granted near 红骑瓯创·骑手驿站: time from the moment the page's geolocation callback
   receives the position until the first station name is in the list (a MutationObserver records it).
2. `/embed`: time from navigation start until a station marker or cluster badge (`.lm-marker`, `.lm-cluster`:
   the first markers drawn before Leaflet, or Leaflet's) can be seen: a MutationObserver notes the first one in
   the DOM, and the time is taken after the next animation frame (which a pending stylesheet or render-blocking
   holds back), provided a marker then has a size and lies inside the window.
3. Repeat visit of `/` (same context, unthrottled): bytes on the wire (CDP encodedDataLength: headers
   and body) of every response except the nearest answer and tiles, and how many requests went out.

The baseline is the same measurement of another commit (default: the commit the issue was filed against),
exported with `git archive` and served the same way from the same virtualenv, in the same run.
Each server is a werkzeug threaded server over a fresh SQLite file seeded with the sample roster.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser_tools import WECHAT_UA  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

BASELINE = "8449085"  # the commit issue 15 was measured against ("today" in the issue)
HERE = {"latitude": 27.9772, "longitude": 120.6236}
KBPS = 400
RTT_MS = 400
CPU = 4
SERVE = """
import sys, logging
sys.path.insert(0, sys.argv[1])
logging.disable(logging.INFO)
from werkzeug.serving import make_server
from locator import create_app
app = create_app({"DATABASE_URL": "sqlite:///" + sys.argv[3], "SECRET_KEY": "bench", "SEED_SAMPLE": True,
                  "RATELIMIT_ENABLED": "false"})
make_server("127.0.0.1", int(sys.argv[2]), app, threaded=True).serve_forever()
"""
PROBE = """
window.__t = {};
(function () {
  if (navigator.geolocation) {
    const g = navigator.geolocation.getCurrentPosition.bind(navigator.geolocation);
    navigator.geolocation.getCurrentPosition = function (ok, err, o) {
      return g(function (p) { window.__t.position = performance.now(); ok(p); }, err, o);
    };
  }
  new MutationObserver(function () {
    if (!window.__t.name && document.querySelector('#results .station-name')) window.__t.name = performance.now();
    if (!window.__t.marker && !window.__t.markerDom && document.querySelector('.lm-cluster, .lm-marker')) {
      // In the DOM is not yet seen: the time is taken after the next frame (rendering, which a pending
      // stylesheet holds back), and only if a marker then has a size and lies inside the window.
      window.__t.markerDom = performance.now();
      requestAnimationFrame(function () {
        setTimeout(function () {
          const seen = [...document.querySelectorAll('.lm-cluster, .lm-marker')].some(function (e) {
            const b = e.getBoundingClientRect();
            return b.width > 0 && b.height > 0 && b.right > 0 && b.bottom > 0 &&
              b.left < innerWidth && b.top < innerHeight;
          });
          if (seen) window.__t.marker = performance.now(); else delete window.__t.markerDom;
        }, 0);
      });
    }
  }).observe(document, {childList: true, subtree: true});
})();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The app of one source tree on a free port, in a subprocess."""

    def __init__(self, tree: Path, tmp: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        db = tmp / f"bench-{self.port}.sqlite3"
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(tree), str(self.port), str(db)], cwd=tree, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the server of {tree} did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def export(ref: str, tmp: Path) -> Path:
    """The tree of a git ref, exported to a folder."""
    out = tmp / f"tree-{ref}"
    out.mkdir()
    archive = tmp / f"{ref}.tar"
    subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), ref], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="data")
    return out


def phone(browser, **extra):
    return browser.new_context(
        viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True, has_touch=True,
        user_agent=WECHAT_UA, locale="zh-CN", timezone_id="Asia/Shanghai", **extra,
    )  # fmt: skip


BLOCKED = ["*.is.autonavi.com*", "*tile.openstreetmap.org*", "*tianditu.gov.cn*", "*res.wx.qq.com*"]


def refuse_tiles(page):
    """Tiles (and WeChat's script) refused by the browser itself: no request interception, which would
    turn Chromium's HTTP cache off."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setBlockedURLs", {"urls": BLOCKED})
    return cdp


def throttle(page) -> None:
    cdp = refuse_tiles(page)
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    rate = KBPS * 1000 / 8
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": RTT_MS, "downloadThroughput": rate, "uploadThroughput": rate},
    )
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU})


def first_name(browser, url: str) -> float:
    """Seconds from the position reaching the page to the first station name in the list."""
    context = phone(browser, geolocation=HERE, permissions=["geolocation"])
    try:
        page = context.new_page()
        page.add_init_script(PROBE)
        throttle(page)
        page.goto(url + "/", wait_until="commit")
        page.wait_for_function("() => window.__t && window.__t.name", timeout=60000)
        t = page.evaluate("window.__t")
        return (t["name"] - t["position"]) / 1000
    finally:
        context.close()


def first_markers(browser, url: str) -> float:
    """Seconds from navigation start to the first badge or marker on /embed."""
    context = phone(browser)
    try:
        page = context.new_page()
        page.add_init_script(PROBE)
        throttle(page)
        page.goto(url + "/embed", wait_until="commit")
        page.wait_for_function("() => window.__t && window.__t.marker", timeout=60000)
        return page.evaluate("window.__t.marker") / 1000
    finally:
        context.close()


def repeat_visit(browser, url: str) -> dict:
    """Bytes and requests of a second visit to / (after a first one), nearest answer and tiles excluded."""
    context = phone(browser, geolocation=HERE, permissions=["geolocation"])
    try:
        page = context.new_page()
        cdp = refuse_tiles(page)
        seen: dict[str, dict] = {}
        cdp.on("Network.requestWillBeSent", lambda e: seen.setdefault(e["requestId"], {"url": e["request"]["url"]}))
        cdp.on(
            "Network.responseReceived",
            lambda e: seen.setdefault(e["requestId"], {}).update(
                status=e["response"]["status"], cached=e["response"].get("fromDiskCache") or False
            ),
        )
        cdp.on(
            "Network.requestServedFromCache", lambda e: seen.setdefault(e["requestId"], {}).update(memory=True)
        )  # fmt: skip
        cdp.on(
            "Network.loadingFinished",
            lambda e: seen.setdefault(e["requestId"], {}).update(bytes=e["encodedDataLength"]),
        )
        page.goto(url + "/")
        page.wait_for_selector("#results li.station", timeout=30000)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(500)
        seen.clear()
        page.goto(url + "/")
        page.wait_for_selector("#results li.station", timeout=30000)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(500)
        rows = []
        for r in seen.values():
            u = r.get("url", "")
            if "/stations/nearest" in u or not u.startswith("http://127.0.0.1"):
                continue
            rows.append(
                {
                    "path": u.split(str(url), 1)[-1][:70],
                    "status": r.get("status"),
                    "from_cache": bool(r.get("cached") or r.get("memory")),
                    "bytes": 0 if (r.get("cached") or r.get("memory")) else r.get("bytes", 0),
                }
            )
        return {"rows": rows, "bytes": sum(r["bytes"] for r in rows), "network": sum(not r["from_cache"] for r in rows)}
    finally:
        context.close()


def warm_up(url: str) -> None:
    """Build the server's per-version pages once: a phone should not pay for the first visitor's folium import."""
    import urllib.request

    for path in ("/", "/embed", "/map"):
        urllib.request.urlopen(url + path, timeout=60).read()


def measure(browser, url: str, runs: int) -> dict:
    warm_up(url)
    names = [first_name(browser, url) for _ in range(runs)]
    markers = [first_markers(browser, url) for _ in range(runs)]
    return {
        "first_name_s": names,
        "first_markers_s": markers,
        "repeat": repeat_visit(browser, url),
    }


def main() -> int:
    """Measure this tree (and the baseline ref) and print medians and ratios against the goals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", default=BASELINE, help="git ref to compare with, or 'none'")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="phone-bench-") as tmp_name:
        tmp = Path(tmp_name)
        trees = {"this tree": ROOT}
        if args.baseline != "none":
            trees[f"baseline {args.baseline}"] = export(args.baseline, tmp)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            for label, tree in trees.items():
                server = Server(tree, tmp)
                try:
                    results[label] = measure(browser, server.url, args.runs)
                finally:
                    server.stop()
            browser.close()
    print(f"throttled phone: {KBPS} kbps, {RTT_MS} ms RTT, CPU {CPU}x slower; median of {args.runs} runs")
    goals = {"first_name_s": 1.5, "first_markers_s": 2.0}
    for label, r in results.items():
        print(f"== {label}")
        for key, goal in goals.items():
            med = statistics.median(r[key])
            runs = ", ".join(f"{v:.2f}" for v in r[key])
            print(
                f"  {key:16} median {med:.2f} s (goal <= {goal} s: {'met' if med <= goal else 'NOT met'}); runs {runs}"
            )
        rep = r["repeat"]
        verdict = "met" if rep["bytes"] <= 3 * 1024 else "NOT met"
        print(
            f"  repeat visit of /: {rep['bytes']:,d} B on the wire, {rep['network']} requests (goal <= 3 KB: {verdict})"
        )
        for row in rep["rows"]:
            where = "cache" if row["from_cache"] else f"HTTP {row['status']}"
            print(f"    {row['bytes']:>6,d} B  {where:9}  {row['path']}")
    if len(results) == 2:
        (a, ra), (b, rb) = results.items()
        for key in goals:
            print(f"  {key}: {statistics.median(rb[key]) / statistics.median(ra[key]):.2f}x faster than {b}")
        print(f"  repeat visit bytes: {rb['repeat']['bytes'] / max(1, ra['repeat']['bytes']):.1f}x fewer than {b}")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "phone.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
