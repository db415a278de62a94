"""Lighthouse on the rider and map pages (issue 15): mobile preset, tiles blocked, median of 3 runs.

    .venv/bin/python bench/lighthouse.py                 # installs bench/js (npm ci) on first use
    .venv/bin/python bench/lighthouse.py --runs 1 --pages /map

Lighthouse comes from npm (`bench/js/package.json` pins lighthouse 12.8.2; `npm ci --prefix bench/js`,
which `make bench-tools` also runs) and drives Debian's Chromium (CHROME_PATH=/usr/bin/chromium,
headless). Its default mobile preset: Moto G-class screen, simulated slow 4G (150 ms RTT, 1.6 Mbps),
CPU 4× slower. Map tiles and WeChat's script are blocked (`--blocked-url-patterns`), so scores do not
depend on foreign hosts. The app runs as a werkzeug threaded server over a fresh SQLite file seeded with
the sample roster, warmed up once (the per-version page cache is built before the first run).
Goals: Performance ≥ 98, Accessibility 100, Best Practices ≥ 98, SEO ≥ 98 on each page.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.phone import Server, warm_up  # noqa: E402

TOOLS = ROOT / "bench" / "js"
LIGHTHOUSE = TOOLS / "node_modules" / "lighthouse" / "cli" / "index.js"
PAGES = ["/?district=330302", "/stations/rs-330304-001", "/map", "/embed"]
CATEGORIES = {"performance": 98, "accessibility": 100, "best-practices": 98, "seo": 98}
BLOCKED = ["*.is.autonavi.com*", "*tile.openstreetmap.org*", "*tianditu.gov.cn*", "*res.wx.qq.com*"]
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --no-first-run --disable-background-networking"


def install_tools() -> None:
    """npm ci into bench/js (pinned by its package-lock.json) when Lighthouse is missing."""
    if not LIGHTHOUSE.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(TOOLS)], check=True)


def lighthouse(url: str, out: Path) -> dict[str, float]:
    """One Lighthouse run: category scores 0–100 and the failing audits' ids."""
    cmd = [
        "node", str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}", f"--chrome-flags={CHROME_FLAGS}",
        *[f"--blocked-url-patterns={p}" for p in BLOCKED],
    ]  # fmt: skip
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    subprocess.run(cmd, check=True, env=env, timeout=300)
    report = json.loads(out.read_text(encoding="utf-8"))
    scores = {k: round((report["categories"][k]["score"] or 0) * 100) for k in CATEGORIES}
    failing = sorted(
        a["id"]
        for a in report["audits"].values()
        if a.get("score") is not None and a["score"] < 0.9 and a.get("scoreDisplayMode") in ("binary", "numeric")
    )
    metrics = report["audits"]
    scores["_failing"] = failing
    scores["_fcp_ms"] = metrics["first-contentful-paint"].get("numericValue")
    scores["_lcp_ms"] = metrics["largest-contentful-paint"].get("numericValue")
    scores["_tbt_ms"] = metrics["total-blocking-time"].get("numericValue")
    scores["_cls"] = metrics["cumulative-layout-shift"].get("numericValue")
    return scores


def main() -> int:
    """Run Lighthouse on each page, print medians against the goals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pages", nargs="*", default=PAGES)
    args = parser.parse_args()
    install_tools()
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="lighthouse-") as tmp_name:
        tmp = Path(tmp_name)
        server = Server(ROOT, tmp)
        try:
            warm_up(server.url)
            for page in args.pages:
                results[page] = [lighthouse(server.url + page, tmp / f"r{i}.json") for i in range(args.runs)]
        finally:
            server.stop()
    print(f"Lighthouse (npm lighthouse, mobile preset, tiles blocked), median of {args.runs} runs")
    print(f"{'page':28} {'perf':>5} {'a11y':>5} {'best':>5} {'seo':>5}  FCP ms  LCP ms  TBT ms    CLS  below goal")
    all_met = True
    for page, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in CATEGORIES}
        met = {k: med[k] >= goal for k, goal in CATEGORIES.items()}
        all_met &= all(met.values())
        timing = [statistics.median(r[k] or 0 for r in runs) for k in ("_fcp_ms", "_lcp_ms", "_tbt_ms", "_cls")]
        below = ", ".join(k for k, ok in met.items() if not ok) or "-"
        print(
            f"{page:28} {med['performance']:5.0f} {med['accessibility']:5.0f} {med['best-practices']:5.0f} "
            f"{med['seo']:5.0f} {timing[0]:7.0f} {timing[1]:7.0f} {timing[2]:7.0f} {timing[3]:6.3f}  {below}"
        )
        failing = sorted({a for r in runs for a in r["_failing"]})
        if failing:
            print(f"{'':28} audits under 0.9 in some run: {', '.join(failing)}")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "lighthouse.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print("all goals met" if all_met else "some goals not met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
