"""Security headers: a Content-Security-Policy on every page (scripts ours or by hash), nosniff and a
Referrer-Policy on every answer, /admin never framed while /embed is framed anywhere; in real Chromium.

Before: no answer carried any of these headers, and a same-site page could frame a logged-in
organizer's /admin pages.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from locator.config import ConfigError
from tests.browser_tools import Phone, phone_context

ROOT = Path(__file__).resolve().parent.parent.parent
STATION = "rs-330304-001"
AMAP = {f"https://webrd0{i}.is.autonavi.com" for i in "1234"}
OSM = {"https://tile.openstreetmap.org"}
TIANDITU = {f"https://t{i}.tianditu.gov.cn" for i in "01234567"}
WECHAT_SCRIPT = "https://res.wx.qq.com"
REFERRER = "strict-origin-when-cross-origin"
# The pages people open, public and (logged in) the organizers' ones.
PUBLIC_PAGES = [
    "/",
    "/?district=330302",
    f"/stations/{STATION}",
    "/about",
    "/map",
    "/embed",
    "/embed?basemap=osm&district=330304",
    "/embed/builder",
    "/api/docs",
    "/no-such-page",
]
ADMIN_PAGES = [
    "/admin/",
    f"/admin/stations/{STATION}",
    "/admin/stations/new",
    f"/admin/stations/{STATION}/audit",
    "/admin/import",
    "/admin/coverage",
    "/admin/coverage/layers",
    "/admin/no-such-page",
]
JS_TYPES = {"", "text/javascript", "application/javascript", "module"}


def csp(resp, header: str = "Content-Security-Policy") -> dict[str, list[str]]:
    """The policy of an answer as {directive: [sources]}; fails when the answer has none."""
    text = resp.headers.get(header)
    assert text, f"{resp.request.path if hasattr(resp, 'request') else ''}: no {header}"
    out: dict[str, list[str]] = {}
    for part in text.split(";"):
        words = part.split()
        if words:
            assert words[0] not in out, f"directive {words[0]} given twice"
            out[words[0]] = words[1:]
    return out


def inline_scripts(html: str) -> list[str]:
    """The text of every inline script a browser runs (JSON data blocks are not scripts)."""
    page = BeautifulSoup(html, "html.parser")
    return [
        s.string or ""
        for s in page.find_all("script")
        if not s.get("src") and (s.get("type") or "").strip().lower() in JS_TYPES
    ]


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def assert_page_policy(resp) -> dict[str, list[str]]:
    """The base policy holds, and every inline script of the page is allowed by its hash (and nothing else is)."""
    policy = csp(resp)
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["style-src-elem"] == ["'self'"]
    assert policy["style-src-attr"] == ["'unsafe-inline'"]
    scripts = policy["script-src"]
    assert scripts[0] == "'self'"
    assert not [s for s in scripts if s in ("'unsafe-inline'", "'unsafe-eval'", "*") or s.startswith("'nonce-")]
    html = resp.get_data(as_text=True)
    hashes = {sha256_source(s) for s in inline_scripts(html)}
    assert {s for s in scripts if s.startswith("'sha256-")} == hashes
    page = BeautifulSoup(html, "html.parser")
    assert page.find("style") is None, "a <style> element: the policy allows stylesheets from this origin only"
    handlers = [(t.name, a) for t in page.find_all(True) for a in t.attrs if a.lower().startswith("on")]
    assert handlers == [], "inline event handlers never run under the policy"
    assert not page.find_all(href=re.compile(r"^\s*javascript:", re.I))
    return policy


def images(policy: dict[str, list[str]]) -> set[str]:
    """The foreign image origins a policy allows."""
    return set(policy["img-src"]) - {"'self'", "data:"}


@pytest.fixture
def organizer(app, make_user, login):
    """A logged-in city administrator's test client."""
    make_user("boss", "city_admin")
    return login("boss")


# -- every answer ----------------------------------------------------------------------------------


def _asset_url(app, name: str) -> str:
    from locator.web.assets import asset_url

    with app.test_request_context():
        return asset_url(name)


@pytest.mark.read_only
@pytest.mark.parametrize(
    "kind",
    ["page", "map page", "json", "asset", "vendored", "favicon", "map data", "qr svg", "problem+json", "html 404",
     "forged host", "405", "413"],
)  # fmt: skip
def test_every_answer_says_nosniff_and_its_referrer_policy(app, client, kind):
    version = app.extensions["roster"].snapshot().version
    requests = {
        "page": lambda: client.get("/"),
        "map page": lambda: client.get("/map"),
        "json": lambda: client.get("/api/v1/districts"),
        "asset": lambda: client.get(_asset_url(app, "css/base.css")),
        "vendored": lambda: client.get("/static/vendor/leaflet-1.9.4/leaflet.js"),
        "favicon": lambda: client.get("/favicon.ico"),
        "map data": lambda: client.get(f"/maps/data/{version}.json"),
        "qr svg": lambda: client.get(f"/stations/{STATION}/qr.svg"),
        "problem+json": lambda: client.get("/api/v1/stations/no-such-station"),
        "html 404": lambda: client.get("/no-such-page"),
        "forged host": lambda: client.get("/", headers={"Host": "evil.example"}),
        "405": lambda: client.delete("/api/v1/districts"),
        "413": lambda: client.post("/admin/import/preview", data=b"x", headers={"Content-Length": str(2**31)}),
    }
    resp = requests[kind]()
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", (kind, resp.status_code)
    assert resp.headers.get("Referrer-Policy") == REFERRER


@pytest.mark.read_only
@pytest.mark.parametrize("path", ["/", "/map", "/embed", f"/stations/{STATION}", "/api/v1/districts", "asset"])
def test_304s_keep_the_headers_and_a_page_keeps_its_policy(app, client, path):
    """A 304 refreshes the headers the browser stored with the page: the same policy, byte for byte."""
    if path == "asset":
        path = _asset_url(app, "bundles/map.js")
    first = client.get(path)
    tag = first.headers["ETag"]
    again = client.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.headers.get("X-Content-Type-Options") == "nosniff"
    assert again.headers.get("Referrer-Policy") == REFERRER
    if first.mimetype == "text/html":
        assert again.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]


# -- the policy of every page ---------------------------------------------------------------------


@pytest.mark.read_only
@pytest.mark.parametrize("path", PUBLIC_PAGES + ["/admin/login", "/admin/"])
def test_every_public_page_has_the_policy(client, path):
    resp = client.get(path)
    assert resp.mimetype == "text/html"
    assert_page_policy(resp)


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_every_organizer_page_has_the_policy(organizer, path):
    resp = organizer.get(path)
    assert resp.mimetype == "text/html", resp.status_code
    assert_page_policy(resp)


def test_every_html_answer_of_every_route_has_the_policy(app, organizer):
    """Walks every GET route without arguments (pages added later are held to the policy too)."""
    pages = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.rule.startswith("/static"):
            continue
        resp = organizer.get(rule.rule)
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", rule.rule
        if resp.mimetype == "text/html":
            assert_page_policy(resp)
            pages += 1
    assert pages >= 12


@pytest.mark.read_only
@pytest.mark.parametrize("path", ["/map", "/embed", "/embed?basemap=osm&type=rider_station&center=28.0,120.7&zoom=12"])
def test_a_map_pages_inline_scripts_are_allowed_by_the_hashes_of_their_text(client, path):
    """The pages' two inline scripts (the first markers: supercluster + locator-first.js; folium's map script) are
    allowed by the hashes of their text, and nothing else is; the stations' JSON is data, never run."""
    resp = client.get(path)
    scripts = inline_scripts(resp.get_data(as_text=True))
    assert len(scripts) == 2 and "LocatorFirst" in scripts[0] and "LocatorMap.init(" in scripts[1]
    hashes = sorted(s for s in csp(resp)["script-src"] if s.startswith("'sha"))
    assert hashes == sorted(sha256_source(s) for s in scripts)


def test_a_new_data_version_gives_a_new_page_and_a_new_hash(app, client, roster):
    before = client.get("/embed")
    import dataclasses

    station = roster.store.list()[0]
    renamed = dataclasses.replace(station, name=station.name + "（新）")
    roster.store.update(renamed, expected_version=station.version, actor="test", via="test")
    after = client.get("/embed")
    assert after.headers["ETag"] != before.headers["ETag"]
    assert csp(after)["script-src"] != csp(before)["script-src"]
    assert_page_policy(after)


def test_a_page_built_by_another_worker_is_never_confirmed_under_its_own_hash(app_factory):
    """Two apps over one database stand for two gunicorn workers (or one restarted): folium names the
    map's elements at random, so each builds other bytes. A 304 must only confirm the very bytes the
    browser holds, or it would refresh the stored policy with a hash that does not name their script."""
    one, two = app_factory(), app_factory(SEED_SAMPLE=False)
    first = one.test_client().get("/embed")
    other = two.test_client().get("/embed", headers={"If-None-Match": first.headers["ETag"]})
    if other.status_code == 304:
        assert other.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]
    else:
        assert other.status_code == 200
        assert_page_policy(other)


# -- where maps are drawn: their tile hosts; WeChat's script where it is used ------------------------


@pytest.mark.parametrize(
    ("path", "settings", "expected"),
    [
        ("/map", {}, AMAP),
        ("/embed", {}, AMAP),
        ("/embed?basemap=osm", {}, OSM),
        ("/map", {"BASEMAP": "osm"}, OSM),
        ("/embed?basemap=tianditu", {"TIANDITU_KEY": "k-test"}, TIANDITU),
        ("/", {}, AMAP),
        ("/", {"RIDER_TILE_URL": ""}, set()),
        ("/", {"RIDER_TILE_URL": "/tiles/{z}/{x}/{y}.png"}, set()),
        ("/", {"RIDER_TILE_URL": "https://t{s}.tianditu.gov.cn/vec_w/wmts?x={x}&y={y}&z={z}&tk=k"},
         {f"https://t{i}.tianditu.gov.cn" for i in "1234"}),
        (f"/stations/{STATION}", {}, set()),
        ("/about", {}, set()),
        ("/embed/builder", {}, set()),  # its preview is an iframe: /embed's own policy
        ("/api/docs", {}, set()),
    ],
)  # fmt: skip
def test_pages_that_draw_maps_allow_their_tile_hosts_and_only_those(app_factory, path, settings, expected):
    resp = app_factory(**settings).test_client().get(path)
    assert images(csp(resp)) == expected


@pytest.mark.parametrize(
    ("path", "settings", "expected"),
    [
        (f"/admin/stations/{STATION}", {}, AMAP),  # the location picker draws the configured basemap
        ("/admin/stations/new", {"BASEMAP": "osm"}, OSM),
        ("/admin/coverage", {}, AMAP),
        ("/admin/coverage", {"BASEMAP": "osm"}, OSM),
        ("/admin/", {}, set()),
        ("/admin/import", {}, set()),
    ],
)
def test_organizer_pages_allow_the_tiles_they_draw(app_factory, make_user, path, settings, expected):
    from locator.accounts import hash_password

    app = app_factory(**settings)
    app.extensions["accounts"].create_user("boss", "city_admin", (), hash_password("password123"))
    client = app.test_client()
    client.get("/admin/login")
    with client.session_transaction() as sess:
        token = sess["csrf"]
    client.post("/admin/login", data={"name": "boss", "password": "password123", "csrf_token": token})
    assert images(csp(client.get(path))) == expected


WECHAT = {"WECHAT_APPID": "wx-app", "WECHAT_SECRET": "s3cret"}


@pytest.mark.parametrize(
    ("path", "uses_wechat"),
    [("/", True), (f"/stations/{STATION}", True), ("/map", True), ("/embed", True), ("/about", False),
     ("/embed/builder", False), ("/api/docs", False), ("/admin/login", False)],
)  # fmt: skip
def test_wechats_script_host_only_where_the_js_sdk_is_used(app_factory, path, uses_wechat):
    policy = csp(app_factory(**WECHAT).test_client().get(path))
    assert (WECHAT_SCRIPT in policy["script-src"]) is uses_wechat
    assert ("https://open.weixin.qq.com" in policy["img-src"]) is uses_wechat
    # Not configured: no page names WeChat.
    plain = csp(app_factory().test_client().get(path))
    assert WECHAT_SCRIPT not in plain["script-src"]


# -- framing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ADMIN_PAGES + ["/admin/login", "/admin/export"])
def test_organizer_answers_may_not_be_framed(organizer, path):
    resp = organizer.get(path)
    assert resp.headers.get("X-Frame-Options") == "DENY", (path, resp.status_code)
    if resp.mimetype == "text/html":
        assert csp(resp)["frame-ancestors"] == ["'none'"]


@pytest.mark.read_only
@pytest.mark.parametrize("path", ["/admin/", "/admin/login?next=/admin/coverage", "/admin/stations/new"])
def test_anonymous_organizer_pages_may_not_be_framed_either(client, path):
    resp = client.get(path)
    assert resp.headers.get("X-Frame-Options") == "DENY"
    assert csp(resp)["frame-ancestors"] == ["'none'"]


@pytest.mark.read_only
@pytest.mark.parametrize("path", [p for p in PUBLIC_PAGES if p != "/no-such-page"])
def test_public_pages_may_be_framed(client, path):
    """/embed is made for iframes, and its card's 详情 opens /stations/<id> (and on) inside that frame."""
    resp = client.get(path)
    assert "X-Frame-Options" not in resp.headers
    assert "frame-ancestors" not in csp(resp)


# -- settings ----------------------------------------------------------------------------------------


def test_report_only_mode_reports_the_same_policy_and_still_denies_framing_admin(app_factory):
    app = app_factory(CSP_REPORT_ONLY="true", CSP_REPORT_URI="/csp-reports")
    client = app.test_client()
    page = client.get("/map")
    assert "Content-Security-Policy" not in page.headers
    policy = csp(page, "Content-Security-Policy-Report-Only")
    assert policy["report-uri"] == ["/csp-reports"]
    assert [s for s in policy["script-src"] if s.startswith("'sha256-")]
    admin = client.get("/admin/login")
    assert csp(admin, "Content-Security-Policy-Report-Only")["frame-ancestors"] == ["'none'"]
    # Browsers ignore frame-ancestors in a report-only policy: that one stays enforced.
    assert admin.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert admin.headers["X-Frame-Options"] == "DENY"


def test_a_report_uri_is_named_in_the_enforced_policy(app_factory):
    resp = app_factory(CSP_REPORT_URI="https://csp.example.cn/report").test_client().get("/")
    assert csp(resp)["report-uri"] == ["https://csp.example.cn/report"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RIDER_TILE_URL", "https://{r}.tiles.example.cn/{z}/{x}/{y}.png"),
        ("RIDER_TILE_URL", "ftp://tiles.example.cn/{z}/{x}/{y}.png"),
        ("RIDER_TILE_URL", "//tiles.example.cn/{z}/{x}/{y}.png"),
        ("RIDER_TILE_URL", "https://tiles.example.cn;script-src */{z}/{x}/{y}.png"),
        ("CSP_REPORT_URI", "https://csp.example.cn/r; script-src *"),
        ("CSP_REPORT_URI", "csp-reports"),
        ("CSP_REPORT_ONLY", "maybe"),
    ],
)
def test_bad_values_stop_the_start(app_factory, name, value):
    with pytest.raises(ConfigError, match=name):
        app_factory(**{name: value})


def test_inline_script_hashes_hash_what_browsers_hash():
    from locator.web.security import inline_script_hashes

    page = (
        '<script src="/a.js"></script><script type="application/json">{"a": 1}</script>'
        "<script>\r\nvar a = '</div>';\r\n</script><SCRIPT type=module>b()</SCRIPT>"
    )
    assert inline_script_hashes(page) == {sha256_source("\nvar a = '</div>';\n"), sha256_source("b()")}
    with pytest.raises(ValueError):
        inline_script_hashes("<script>var s = '<!--';</script>")


# -- gunicorn ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _headers(url: str):
    """The headers of the answer to GET `url`, whatever its status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.headers
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.headers


@pytest.mark.slow
def test_gunicorn_serves_the_headers_on_its_own_answers_too(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "LOCATOR_BIND": f"127.0.0.1:{port}",
        "LOCATOR_WORKERS": "1",
        "LOCATOR_THREADS": "2",
        "LOCATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}",
        "LOCATOR_SECRET_KEY": "test-secret",
    }
    log = tmp_path / "gunicorn.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        pytest.fail("gunicorn did not start:\n" + log.read_text())
                    time.sleep(0.2)
            answers = {path: _headers(base + path) for path in ("/map", "/", "/api/v1/districts", "/no-such-page")}
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(f"GET /{'x' * 5000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                raw = b""
                while chunk := sock.recv(65536):
                    raw += chunk
        finally:
            proc.terminate()
            proc.wait(10)
    for path, headers in answers.items():
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == REFERRER, path
    assert "'sha256-" in answers["/map"]["Content-Security-Policy"]
    assert "object-src 'none'" in answers["/no-such-page"]["Content-Security-Policy"]
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 414 ")
    assert "\r\nX-Content-Type-Options: nosniff\r\n" in head
    assert f"\r\nReferrer-Policy: {REFERRER}\r\n" in head


# -- in Chromium --------------------------------------------------------------------------------------

HERE = {"latitude": 27.9772, "longitude": 120.6236}
WATCH_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => window.__cspViolation({
  directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample, page: location.pathname,
  disposition: e.disposition}));
"""


class Watched(Phone):
    """A phone page (tiles answered, other foreign hosts refused) that records every CSP violation."""

    def __init__(self, context, base_url: str):
        self.violations: list[dict] = []
        self.csp_console: list[str] = []
        self.documents: list[tuple[str, str | None]] = []  # (url, its enforced policy) of every page and frame
        context.expose_binding("__cspViolation", lambda source, v: self.violations.append(v))
        context.add_init_script(WATCH_VIOLATIONS)
        super().__init__(context, base_url)
        self.page.on("console", self._console)
        self.page.on("response", self._document)

    def _document(self, resp) -> None:
        if resp.request.resource_type == "document" and resp.status == 200:
            self.documents.append((resp.url, resp.headers.get("content-security-policy")))

    def _console(self, msg) -> None:
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            self.csp_console.append(msg.text)

    def assert_clean(self) -> None:
        """Every page and frame came with an enforced policy; no violation reported, no policy complaint
        in the console, no script error."""
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_timeout(200)  # violation events are queued as tasks
        ours = [(url, policy) for url, policy in self.documents if url.startswith(self.base_url)]
        assert ours and all(policy and "script-src 'self'" in policy for _, policy in ours), ours
        assert self.violations == []
        assert self.csp_console == []
        assert self.errors == []

    def log_in(self, name: str = "boss") -> None:
        """Log in through the login form, with taps and the keyboard."""
        page = self.page
        self.goto("/admin/login")
        page.locator("input[name=name]").tap()
        page.keyboard.type(name)
        page.locator("input[name=password]").tap()
        page.keyboard.type("password123")
        page.locator("#login-form button[type=submit]").tap()
        page.wait_for_url("**/admin/")


@pytest.fixture
def watched(chromium, live_server):
    context = phone_context(chromium)
    yield Watched(context, live_server.url)
    context.close()


def _map_drawn(page) -> None:
    page.wait_for_selector(".folium-map[data-state=ready]", timeout=20000)
    assert page.locator(".lm-marker, .lm-cluster").count() > 0


def _works(w: Watched, path: str) -> None:
    """Open `path` and check the page does what it is for (the scripts the policy allows have run)."""
    page = w.page
    if path == "/":
        w.context.grant_permissions(["geolocation"], origin=w.base_url)
        w.context.set_geolocation(HERE)
        w.goto(path)
        page.wait_for_selector("#results li.station", timeout=15000)
        assert page.locator("#results li.station").count() == 10
        page.wait_for_selector("#map[data-ready='1']", timeout=15000)
        assert page.locator("#map .rm-marker").count() == 10
        assert w.tile_requests, "the small map asked for its tiles"
    elif path.startswith("/?district="):
        w.goto(path)
        assert page.locator("#server-results li.station").count() > 0
        page.wait_for_function("() => window.LocatorCard !== undefined")
    elif path.startswith("/stations/"):
        w.goto(path)
        assert page.locator("h1.station-name").is_visible()
        page.wait_for_function("() => window.LocatorCard !== undefined")
    elif path in ("/map", "/embed"):
        w.goto(path)
        _map_drawn(page)
        assert w.tile_requests
    elif path == "/embed/builder":
        w.goto(path)
        frame = page.frame_locator("iframe")
        frame.locator(".folium-map[data-state=ready]").wait_for(timeout=20000)
        assert frame.locator(".lm-marker, .lm-cluster").count() > 0
    elif path == "/api/docs":
        w.goto(path)
        color = page.eval_on_selector(".apidocs .method", "e => getComputedStyle(e).color")
        assert color == "rgb(183, 28, 28)", "the page's stylesheet applies"
    elif path in (f"/admin/stations/{STATION}", "/admin/stations/new"):
        w.log_in()
        w.goto(path)
        page.wait_for_selector("#picker .leaflet-marker-icon", timeout=15000)
        page.wait_for_function("() => document.querySelectorAll('#picker img.leaflet-tile-loaded').length > 0")
        assert any("autonavi.com" in u for u in w.tile_requests)  # the configured basemap (AMap)
    elif path == "/admin/coverage":
        w.log_in()
        w.goto(path)
        page.wait_for_selector("#coverage-map[data-state=ready]", timeout=120_000)
        assert page.locator(".leaflet-overlay-pane canvas, .leaflet-overlay-pane svg").count() >= 1
    elif path.startswith("/admin"):
        w.log_in()
        w.goto(path)
        assert page.locator(".admin-bar").is_visible()
    else:
        w.goto(path)
        assert page.locator("h1").first.is_visible()


@pytest.mark.browser
@pytest.mark.parametrize(
    "path",
    ["/", "/?district=330302", f"/stations/{STATION}", "/about", "/map", "/embed", "/embed/builder", "/api/docs",
     "/admin/login", "/admin/", f"/admin/stations/{STATION}", "/admin/stations/new", "/admin/import",
     f"/admin/stations/{STATION}/audit", "/admin/coverage", "/admin/coverage/layers"],
)  # fmt: skip
def test_every_page_works_under_its_policy_without_a_violation(watched, make_user, path):
    make_user("boss", "city_admin")
    _works(watched, path)
    watched.assert_clean()


@pytest.mark.browser
@pytest.mark.parametrize("path", ["/", f"/stations/{STATION}", "/map", "/embed"])
def test_inside_wechat_the_js_sdk_loads_under_the_policy(app, watched, path):
    """WeChat's JS-SDK (a fake served at its real address) loads and is configured, with no violation."""
    from tests.test_rider_browser import FAKE_JWEIXIN
    from tests.test_wechat import FakeClock, FakeWeChat, make_cache

    app.config.update(**WECHAT)
    app.extensions["wechat_tickets"] = make_cache(FakeWeChat(), FakeClock())
    page = watched.page
    gcj = {"latitude": 27.974, "longitude": 120.628}
    page.add_init_script(f"window.__fakeGcj = {{latitude: {gcj['latitude']}, longitude: {gcj['longitude']}}};")
    page.route(
        "https://res.wx.qq.com/open/js/jweixin-1.6.0.js",
        lambda r: r.fulfill(body=FAKE_JWEIXIN, content_type="application/javascript"),
    )
    watched.goto(path)
    if path in ("/map", "/embed"):
        _map_drawn(page)
    page.wait_for_function("() => (window.__wxCalls || []).some(c => c[0] === 'config')", timeout=15000)
    watched.assert_clean()
    assert all(WECHAT_SCRIPT in policy for _, policy in watched.documents)


@pytest.mark.browser
def test_an_injected_inline_script_is_refused_and_reported(watched):
    """The policy is enforced: a script that got into the page some other way does not run."""
    watched.goto("/embed")
    _map_drawn(watched.page)
    ran = watched.page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__injected = 1';"
        " document.body.appendChild(s); return window.__injected === 1; }"
    )
    assert ran is False
    watched.page.wait_for_timeout(200)
    assert [v["directive"] for v in watched.violations] == ["script-src-elem"]


FRAMING_PAGE = """<!doctype html><title>framing</title>
<iframe id="admin" src="{base}/admin/" width="375" height="400"></iframe>
<iframe id="embed" src="{base}/embed" width="375" height="400"></iframe>"""


@pytest.fixture
def framer(live_server):
    """Another web server on this machine, serving a page that frames /admin/ and /embed of the app.

    A real server (not a routed answer): Chromium's local-network checks let a page framed from a
    loopback address load frames from loopback addresses only if it was itself served from one.
    """
    import threading

    from werkzeug.serving import make_server

    body = FRAMING_PAGE.format(base=live_server.url).encode()

    def site(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]

    server = make_server("127.0.0.1", 0, site, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    thread.join(5)


@pytest.mark.browser
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["same-site", "another-site"])
def test_another_site_cannot_frame_admin_but_can_frame_embed(chromium, live_server, make_user, framer, host):
    """A page elsewhere frames /admin/ of a logged-in organizer and /embed: on the same site (another
    port of 127.0.0.1, whose frames carry the Lax session cookie) or on another site (localhost)."""
    make_user("boss", "city_admin")
    context = phone_context(chromium)
    try:
        w = Watched(context, live_server.url)
        w.log_in()
        page = w.page
        page.route(f"http://{host}:{framer}/**", lambda r: r.continue_())  # the phone refuses other hosts
        page.goto(f"http://{host}:{framer}/frame.html")
        embed = page.frame_locator("#embed")
        embed.locator(".folium-map[data-state=ready]").wait_for(timeout=20000)
        assert embed.locator(".lm-marker, .lm-cluster").count() > 0
        page.wait_for_load_state("load")
        # A refused frame shows Chromium's error page: nothing of the organizer's page is in it.
        admin = page.query_selector("#admin").content_frame()
        assert not admin.url.startswith(live_server.url), admin.url
        assert page.frame_locator("#admin").locator(".admin-bar").count() == 0
        # The same page opened on its own is the logged-in organizer's (the frame was refused, not empty).
        w.goto("/admin/")
        assert page.locator(".admin-bar").is_visible()
    finally:
        context.close()


@pytest.mark.browser
def test_the_builder_previews_embed_in_its_own_frame(watched):
    """Same origin framing of /embed (the builder's preview) keeps working; covered per page above,
    here with another basemap and filters through the form."""
    page = watched.page
    watched.goto("/embed/builder")
    page.select_option("#f-basemap", "osm")
    page.select_option("#f-district", "330304")
    page.locator("form button[type=submit]").tap()
    page.wait_for_url("**/embed/builder?**")
    frame = page.frame_locator("iframe")
    frame.locator(".folium-map[data-state=ready]").wait_for(timeout=20000)
    assert any("tile.openstreetmap.org" in u for u in watched.tile_requests)
    watched.assert_clean()
