"""Shared pieces of the phone tests: a WeChat phone context, tiles answered or failing, axe-core, overlap checks.

The phone is 375×812 with touch, `is_mobile` and a MicroMessenger user agent (a rider inside WeChat).
Every request to a host other than the app's is recorded; map tiles are answered with a grey PNG
(or refused, to test the tiles-failed notice); anything else foreign is blocked.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import ARTIFACTS

WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 12; V2118A Build/SP1A.210812.003; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 MicroMessenger/8.0.47.2560"
    "(0x28002F35) WeChat/arm64 Weixin NetType/4G Language/zh_CN ABI/arm64"
)
PHONE = {"width": 375, "height": 812}
TILE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC"
)
TILE_HOSTS = (".is.autonavi.com", "tile.openstreetmap.org", ".tianditu.gov.cn")
AXE = Path(__file__).resolve().parent / "js" / "node_modules" / "axe-core" / "axe.min.js"


class Phone:
    """A page in a phone context against the live server; foreign requests recorded, tiles answered or refused."""

    def __init__(self, context, base_url: str, tiles: str = "grey"):
        self.context = context
        self.base_url = base_url
        self.tiles = tiles
        self.foreign: list[str] = []
        self.tile_requests: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        context.route("**/*", self._route)
        self.page = context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda req: self.requests.append(req.url))

    def _route(self, route):
        url = route.request.url
        host = urlparse(url).hostname or ""
        if host == "127.0.0.1" or url.startswith(("data:", "blob:")):
            route.continue_()
        elif host.endswith(TILE_HOSTS):
            self.tile_requests.append(url)
            if self.tiles == "grey":
                route.fulfill(status=200, content_type="image/png", body=TILE_PNG)
            else:
                route.abort()
        else:
            self.foreign.append(url)
            route.abort()

    def goto(self, path: str) -> None:
        """Open a path of the live server."""
        self.page.goto(self.base_url + path)

    def open_map(self, path: str) -> None:
        """Open a map page and wait until its stations are drawn."""
        self.goto(path)
        self.page.wait_for_selector(".folium-map[data-state=ready]", timeout=20000)
        # and Leaflet has taken over from the markers drawn before it (they answer taps, not the layer list)
        self.page.wait_for_selector(".lm-first-marker", state="detached", timeout=20000)

    def screenshot(self, name: str) -> Path:
        """Save a screenshot under test-artifacts/."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


def phone_context(chromium, *, user_agent: str = WECHAT_UA, viewport=PHONE, touch: bool = True, **extra):
    """A zh-CN phone context in Asia/Shanghai (375×812, touch, mobile, WeChat's user agent by default)."""
    return chromium.new_context(
        viewport=viewport,
        device_scale_factor=2,
        is_mobile=touch,
        has_touch=touch,
        user_agent=user_agent,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        **extra,
    )


def phone_page(chromium, live_server, **context_options):
    """Yield a WeChat phone page against the live server (tiles answered with a grey PNG); for fixtures."""
    context = phone_context(chromium, **context_options)
    yield Phone(context, live_server.url)
    context.close()


def axe_violations(page, *, impacts=("serious", "critical")) -> list[dict]:
    """Run axe-core (npm, installed into tests/js by .ci/run) in the page; violations of the given impacts."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci --prefix tests/js` (as .ci/run does)")
    # Evaluated through the DevTools protocol: a <script> tag of it would be refused by the page's
    # Content-Security-Policy (scripts from the service or by hash only).
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})); }"
    )
    return [v for v in result if v["impact"] in impacts]


def describe(violations: list[dict]) -> str:
    """Violations as readable text for an assertion message."""
    return json.dumps(violations, ensure_ascii=False, indent=1)


# Centres of drawn markers and badges that lie under another one (inside its box), as JS.
OVERLAPS_JS = """
() => {
  const map = document.querySelector('.folium-map').getBoundingClientRect();
  const boxes = [...document.querySelectorAll('.lm-marker, .lm-cluster')].map(e => e.getBoundingClientRect())
    .filter(b => b.right > map.left && b.left < map.right && b.bottom > map.top && b.top < map.bottom);
  const bad = [];
  for (let i = 0; i < boxes.length; i++) for (let j = 0; j < boxes.length; j++) {
    if (i === j) continue;
    const a = boxes[i], b = boxes[j], cx = a.left + a.width / 2, cy = a.top + a.height / 2;
    if (cx > b.left && cx < b.right && cy > b.top && cy < b.bottom) bad.push([i, j, Math.round(cx), Math.round(cy)]);
  }
  return {count: boxes.length, bad: bad};
}
"""


def too_small_targets(page, selector: str = "a[href], button, summary, select, input:not([type=hidden]), label.chip"):
    """Visible touch targets smaller than 44×44 CSS px (their text and size)."""
    return page.evaluate(
        """(sel) => [...document.querySelectorAll(sel)].filter(e => {
             const r = e.getBoundingClientRect();
             const t0 = e.closest('label') || e;
             if (!t0.checkVisibility({visibilityProperty: true, opacityProperty: true})) return false;
             if (!r.width || !r.height) return false;
             if (e.closest('.leaflet-control-attribution')) return false;   // the map's required credit line
             if (e.matches('input[type=checkbox], input[type=radio]') && e.closest('label')) return false;
             const t = e.closest('label') || e;
             const b = t.getBoundingClientRect();
             return b.width < 44 || b.height < 44;
           }).map(e => [e.tagName, (e.textContent || e.value || '').trim().slice(0, 20),
                        Math.round(e.getBoundingClientRect().width), Math.round(e.getBoundingClientRect().height)])""",
        selector,
    )
