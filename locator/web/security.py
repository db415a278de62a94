"""Security headers on every answer: Content-Security-Policy, nosniff, Referrer-Policy, framing.

Every answer says `X-Content-Type-Options: nosniff` and `Referrer-Policy: strict-origin-when-cross-origin`
(tile servers see our origin, never a page's path or query: OpenStreetMap's and Tianditu's tile
servers want a Referer, and organizers' URLs carry names and filters).

Every HTML page (and every 304, which refreshes a cached page's headers) carries a
Content-Security-Policy. Scripts come from this origin, or are allowed by the SHA-256 of their exact
text (the map pages' one inline script, hashed where the page is built and cached with it: a nonce
would change on every answer and defeat that cache). A page widens the base policy only by what it
uses, through `allow()`: the tile hosts of the basemap it draws (`img-src`), WeChat's JS-SDK host
where the page loads it. Styles: stylesheets from this origin only; inline `style` attributes are
allowed (Leaflet and our markers position and colour elements with them), `<style>` elements are not.

Framing: pages under /admin may not be framed by anyone (`frame-ancestors 'none'` and
`X-Frame-Options: DENY`): a logged-in organizer's page inside another site is a clickjacking target.
The public pages may be framed: /embed is made for iframes (WeChat articles' hosts, other sites, the
builder's preview), and a tap on its card's 详情 opens /stations/<id> inside that same frame.

LOCATOR_CSP_REPORT_ONLY sends the policy as Content-Security-Policy-Report-Only (browsers report
violations, block nothing) while operators try a change; /admin stays unframeable even then.
LOCATOR_CSP_REPORT_URI names where browsers send their reports. docs/deployment.md, "Security".

Where they are stamped: web/http.py's WSGI edge adds them to the header list of every answer Flask
writes: nosniff and the Referrer-Policy (add_every_answer_headers), framing and the policy
(page_headers); web/hot_path.py writes them into the nearest answer it makes itself.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from flask import current_app, g

from locator.wechat_client import configured

REFERRER_POLICY = "strict-origin-when-cross-origin"
# Headers of every answer, the app's and gunicorn's own (gunicorn.conf.py).
EVERY_ANSWER = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": REFERRER_POLICY}
UNFRAMEABLE_PREFIXES = ("/admin",)
# The rider page's small map asks its tiles from these subdomains (rider.js: `subdomains: "1234"`).
RIDER_TILE_SUBDOMAINS = "1234"
WECHAT_SCRIPT_ORIGIN = "https://res.wx.qq.com"  # jweixin-1.6.0.js (wechat_client.JSSDK_SCRIPT)
# jweixin reports its start-up time to WeChat with an image request (`new Image().src = …/sdk/report`).
WECHAT_REPORT_ORIGIN = "https://open.weixin.qq.com"
# The MIME types under which a <script> runs (HTML's "JavaScript MIME type essence match", and modules);
# any other type (application/json, application/ld+json) is a data block, which no policy governs.
_JS_TYPES = {
    "",
    "module",
    "application/ecmascript",
    "application/javascript",
    "application/x-ecmascript",
    "application/x-javascript",
    "text/ecmascript",
    "text/javascript",
    "text/javascript1.0",
    "text/javascript1.1",
    "text/javascript1.2",
    "text/javascript1.3",
    "text/javascript1.4",
    "text/javascript1.5",
    "text/jscript",
    "text/livescript",
    "text/x-ecmascript",
    "text/x-javascript",
}


@dataclass(frozen=True)
class Sources:
    """What one answer's policy allows beyond the base policy: script sources (hashes, hosts), image hosts."""

    scripts: frozenset[str] = field(default_factory=frozenset)
    images: frozenset[str] = field(default_factory=frozenset)

    def __or__(self, other: Sources) -> Sources:
        return Sources(self.scripts | other.scripts, self.images | other.images)


NOTHING = Sources()


def tile_sources(template: str, subdomains: str = "abc") -> Sources:
    """The image origins a Leaflet tile URL template asks ({s} over `subdomains`); a relative URL is our own."""
    if not template or template.startswith("/"):
        return NOTHING
    parts = urlsplit(template)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{template!r} is not an http(s) tile URL template")
    netloc = parts.netloc.lower()
    if "{s}" in netloc:
        hosts = {netloc.replace("{s}", s) for s in subdomains}
    else:
        hosts = {netloc}
    if any(re.search(r"[{}\s;,'\"]", h) for h in hosts):
        raise ValueError(f"{template!r}: only {{s}} may vary in a tile host name")
    return Sources(images=frozenset(f"{parts.scheme}://{h}" for h in hosts))


def basemap_sources(base) -> Sources:
    """The tile origins of a basemap (locator.basemaps.Basemap), every layer and subdomain."""
    out = NOTHING
    for layer in base.layers:
        out |= tile_sources(layer.url, layer.subdomains or "abc")
    return out


def wechat_sources() -> Sources:
    """WeChat's JS-SDK script (and its start-up report) when the JS-SDK is configured; else nothing."""
    if not configured(current_app.config):
        return NOTHING
    return Sources(scripts=frozenset({WECHAT_SCRIPT_ORIGIN}), images=frozenset({WECHAT_REPORT_ORIGIN}))


class _InlineScripts(HTMLParser):
    """Collects the text of every inline <script> a browser would run."""

    def __init__(self):
        super().__init__(convert_charrefs=False)  # script text is raw: no character references in it
        self.scripts: list[str] = []
        self._text: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag != "script":
            return
        names = dict(attrs)
        kind = (names.get("type") or "").strip().lower()
        self._text = [] if "src" not in names and kind in _JS_TYPES else None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._text is not None:
            self.scripts.append("".join(self._text))
            self._text = None


def inline_script_hashes(html: str) -> frozenset[str]:
    """The CSP sources ('sha256-…') of every inline script of a page, from the page's exact text.

    Browsers hash the script's text as parsed: line breaks normalised to LF, UTF-8. A script
    holding `<!--` is tokenised differently by browsers (escaped script data): refused, not guessed.
    """
    text = html.replace("\r\n", "\n").replace("\r", "\n")
    parser = _InlineScripts()
    parser.feed(text)
    parser.close()
    out = set()
    for script in parser.scripts:
        if "<!--" in script:
            raise ValueError("an inline script holds '<!--': escape it (as maps.script_json does) to hash it")
        digest = hashlib.sha256(script.encode("utf-8")).digest()
        out.add(f"'sha256-{base64.b64encode(digest).decode('ascii')}'")
    return frozenset(out)


def allow(sources: Sources) -> None:
    """Widen the policy of the answer being made by `sources` (the tiles it draws, the scripts it runs)."""
    g._csp_sources = g.get("_csp_sources", NOTHING) | sources


def content_security_policy(sources: Sources = NOTHING, *, frame_ancestors: str = "", report_uri: str = "") -> str:
    """The policy text for a page that uses `sources` (sorted: the same page always gets the same text)."""
    directives = [
        ("default-src", ["'self'"]),
        ("script-src", ["'self'", *sorted(sources.scripts)]),
        # Leaflet and our markers set style attributes (markup and element.style); stylesheets are ours.
        # Browsers without CSP 3's -elem/-attr split read style-src (inline styles allowed there too).
        ("style-src", ["'self'", "'unsafe-inline'"]),
        ("style-src-elem", ["'self'"]),
        ("style-src-attr", ["'unsafe-inline'"]),
        # data: Leaflet points a tile it abandons at an empty data: GIF (L.Util.emptyImageUrl).
        ("img-src", ["'self'", "data:", *sorted(sources.images)]),
        ("connect-src", ["'self'"]),
        ("object-src", ["'none'"]),
        ("base-uri", ["'self'"]),
        ("form-action", ["'self'"]),
    ]
    if frame_ancestors:
        directives.append(("frame-ancestors", [frame_ancestors]))
    if report_uri:
        directives.append(("report-uri", [report_uri]))
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives)


_UNFRAMEABLE_FOLDERS = tuple(p + "/" for p in UNFRAMEABLE_PREFIXES)


def unframeable(path: str) -> bool:
    """True for paths no other page may frame (the organizers' pages)."""
    return path.startswith(_UNFRAMEABLE_FOLDERS) or path in UNFRAMEABLE_PREFIXES


_EVERY_ANSWER_LIST = list(EVERY_ANSWER.items())


def add_every_answer_headers(headers: list[tuple[str, str]], present: dict[str, str]) -> None:
    """Append nosniff and the Referrer-Policy to a WSGI header list unless the answer set its own.

    Called by web/http.py's WSGI edge for every answer the app writes (pages, API, errors, even an
    exception's 500), at the cost of a dict of a short list instead of two Flask header look-ups.
    An answer setting its own spells the name as EVERY_ANSWER does (as every header here is spelled);
    `present`: dict(headers).
    """
    if "X-Content-Type-Options" in present or "Referrer-Policy" in present:
        headers.extend((name, value) for name, value in _EVERY_ANSWER_LIST if name not in present)
    else:
        headers.extend(_EVERY_ANSWER_LIST)


def page_headers(headers: list[tuple[str, str]], *, deny: bool, page: bool) -> None:
    """Framing (`deny`: unframeable()) and, for a page (or a 304), the Content-Security-Policy, set in
    the WSGI header list of one answer (called by web/http.py's Edge inside the request's context)."""
    if deny:
        set_header(headers, "X-Frame-Options", "DENY")
    if page:
        cfg = current_app.config
        policy = content_security_policy(
            g.get("_csp_sources", NOTHING),
            frame_ancestors="'none'" if deny else "",
            report_uri=cfg.get("CSP_REPORT_URI") or "",
        )
        if cfg.get("CSP_REPORT_ONLY"):
            set_header(headers, "Content-Security-Policy-Report-Only", policy)
            if deny:
                # Browsers ignore frame-ancestors in a report-only policy: keep that one enforced.
                set_header(headers, "Content-Security-Policy", "frame-ancestors 'none'")
        else:
            set_header(headers, "Content-Security-Policy", policy)


def set_header(headers: list[tuple[str, str]], name: str, value: str) -> None:
    """`headers[name] = value` on a WSGI header list: any header of that name (in any case) replaced."""
    remove_headers(headers, name)
    headers.append((name, value))


def remove_headers(headers: list[tuple[str, str]], *names: str) -> None:
    """Drop every header of these names (in any case) from a WSGI header list."""
    lower = {name.lower() for name in names}
    headers[:] = [h for h in headers if h[0].lower() not in lower]
