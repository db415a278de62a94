"""HTTP behaviour shared by every path: the Host allow-list, ETag/304, Cache-Control, gzip, CORS, 413.

Host names: a request whose `Host` is not one this service answers to is refused (400) before
any view runs, so a forged host can never reach a page, a link, a QR code, a cached answer or a
WeChat signature. Allowed: LOCATOR_ALLOWED_HOSTS (and its old alias LOCATOR_WECHAT_ALLOWED_HOSTS),
the host of LOCATOR_PUBLIC_URL, the loopback names and, while LOCATOR_ALLOWED_HOSTS is empty,
private-network IP addresses (a phone on the LAN tries `make run HOST=0.0.0.0`). X-Forwarded-Host
is never trusted (web/limits.py sets up ProxyFix without it).

Catalogue-like responses are cacheable: their ETag hashes the roster's data version, the
request (path, query, negotiated format) and the current minute (answers carry open_now).
Nearest answers depend on a rider's position: `private, no-store`.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import re
import time
from collections.abc import Callable, Iterable
from functools import wraps
from types import FunctionType
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.serving import WSGIRequestHandler

from locator.roster import allow_stale, end_stale_permission, served_stale
from locator.web import security
from locator.web.problems import problem_response

API_PREFIXES = ("/api/", "/ogc")
COMPRESSIBLE = ("application/json", "application/geo+json", "application/problem+json", "text/html")
MIN_GZIP_BYTES = 1024
CORS_METHODS = "GET, HEAD, OPTIONS"
CORS_HEADERS = "Accept, Accept-Language, If-None-Match, Content-Type"
CORS_EXPOSE = "ETag, Link, Content-Length"


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
HOST_CHECK_EXEMPT = ("/healthz", "/readyz", "/metrics")  # polled by address; these answers hold no URL
# While the database is unreachable the views marked `stale_ok` answer from the last snapshot, marked
# with STALE_HEADER; everything else that needs the roster answers 503 (locator.store.StoreUnavailable).
STALE_HEADER = "X-Locator-Stale"
_HOST_HEADER = re.compile(r"^(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>\d{1,5}))?$")


def host_name(header: str) -> str | None:
    """The lower-case host name of a Host header value ('example.cn:8000' -> 'example.cn'); None if malformed."""
    m = _HOST_HEADER.match(header or "")
    if m is None:
        return None
    return (m.group("ip6") or m.group("name")).lower().rstrip(".")


class HostPolicy:
    """Which host names this service answers to (see the module's docstring)."""

    MAX_REMEMBERED = 256  # Host values whose verdict is remembered; beyond (forged ones, say) checked each time

    def __init__(self, names: Iterable[str], public_url: str = "", *, private_networks: bool = False):
        self.names = {n.lower() for n in names} | set(LOOPBACK_HOSTS)
        public = urlsplit(public_url).hostname if public_url else None
        if public:
            self.names.add(public.lower())
        self.suffixes = tuple(n for n in self.names if n.startswith("."))
        self.private_networks = private_networks
        self._headers: dict[str, bool] = {}  # Host header value -> allowed; a server sees a handful

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HostPolicy:
        """The policy of LOCATOR_ALLOWED_HOSTS, LOCATOR_WECHAT_ALLOWED_HOSTS and LOCATOR_PUBLIC_URL."""
        configured = tuple(config.get("ALLOWED_HOSTS") or ())
        alias = tuple(config.get("WECHAT_ALLOWED_HOSTS") or ())
        return cls(configured + alias, config.get("PUBLIC_URL") or "", private_networks=not configured)

    def allows_header(self, header: str) -> bool:
        """allows(host_name(header)) for a Host header value, remembered (the policy never changes)."""
        allowed = self._headers.get(header)
        if allowed is None:
            allowed = self.allows(host_name(header))
            if len(self._headers) < self.MAX_REMEMBERED:
                self._headers[header] = allowed
        return allowed

    def allows(self, host: str | None) -> bool:
        """True if `host` (a bare host name or IP address) is one this service answers to."""
        if not host:
            return False
        host = host.lower().strip("[]").rstrip(".")
        if host in self.names or any(host.endswith(s) or host == s[1:] for s in self.suffixes):
            return True
        if self.private_networks:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                return False
            return address.is_private or address.is_loopback
        return False


def host_policy() -> HostPolicy:
    """The running app's host policy."""
    return current_app.extensions["host_policy"]


def _hide_server_version() -> None:
    """The development server names itself without versions (`Server: Werkzeug`, not `Werkzeug/3.1 Python/3.11`)."""
    WSGIRequestHandler.version_string = lambda self: "Werkzeug"  # type: ignore[method-assign]


def etag_for(version: int, *parts: str) -> str:
    """A weak ETag for data `version` and the request parts (weak: gzip does not change it)."""
    h = hashlib.sha1(f"{version}|{'|'.join(parts)}".encode()).hexdigest()[:20]
    return f'W/"v{version}-{h}"'


def cacheable(version_of: Callable[[], int], fmt_of: Callable[[], str] | None = None) -> Callable:
    """Wrap a GET view: answer 304 when If-None-Match holds the ETag, else stamp ETag + Cache-Control."""

    def wrap(view: Callable) -> Callable:
        @wraps(view)
        def inner(*args: Any, **kwargs: Any):
            minute = str(int(time.time() // 60))
            fmt = fmt_of() if fmt_of else ""
            query = "&".join(sorted(f"{k}={v}" for k, v in request.args.items(multi=True)))
            tag = etag_for(version_of(), request.path, query, fmt, minute)
            max_age = current_app.config.get("API_CACHE_MAX_AGE", 60)
            headers = {"ETag": tag, "Cache-Control": f"public, max-age={max_age}", "Vary": "Accept"}
            if tag.removeprefix("W/") in {t.strip().removeprefix("W/") for t in _if_none_match()}:
                return Response(status=304, headers=headers)
            resp = current_app.make_response(view(*args, **kwargs))
            # A view that marked its answer private (it depends on the asker) keeps that.
            if resp.status_code == 200 and "private" not in (resp.headers.get("Cache-Control") or ""):
                for k, v in headers.items():
                    resp.headers[k] = v
            return resp

        return inner

    return wrap


def _if_none_match() -> list[str]:
    raw = request.headers.get("If-None-Match", "")
    if raw.strip() == "*":
        return ["*"]
    return [t for t in raw.split(",") if t.strip()]


def _allowed_origin(origin: str, config: dict[str, Any]) -> str | None:
    allowed = config.get("CORS_ORIGINS") or ()
    if "*" in allowed:
        return "*"
    return origin if origin in allowed else None


class WholeResponse(Response):
    """Flask's Response, handed to the server as a list when its body is already whole in memory.

    werkzeug hands every answer to the server as an iterator (a ClosingIterator over a generator),
    which a server must step through one chunk at a time. Granian sends a list in one call instead:
    under it, a `/healthz` answer as an iterator cost ~10 % more server CPU than as a list
    (bench/README.md, Run 9). So an answer whose body is a list or tuple (jsonify, render_template,
    bytes and str bodies) goes as a list of its encoded chunks; streamed bodies, files
    (direct_passthrough) and answers with call_on_close() callbacks go as werkzeug sends them.
    Flask makes every answer of a view, a hook or an error handler this class (`App.response_class`;
    a plain flask.Response returned by a view is converted by make_response()).
    """

    def get_app_iter(self, environ: dict[str, Any]) -> Iterable[bytes]:
        """The body as a list when it is whole (see the class); werkzeug's iterator otherwise."""
        if self.direct_passthrough or not self.is_sequence or self._on_close:
            return super().get_app_iter(environ)
        if not _has_body(self.status_code, environ["REQUEST_METHOD"]):
            return []
        return list(self.iter_encoded())


class App(Flask):
    """Flask, asking once per function (view, hook, error handler) whether it is a coroutine, and
    answering with WholeResponse.

    Flask's ensure_sync() asks `inspect.iscoroutinefunction` on every call, for the view and for each
    hook of every request (~1.5 µs each here); the answer for a registered function never changes.
    """

    response_class = WholeResponse
    _MAX_REMEMBERED = 4096  # registered functions are a few hundred; anything beyond is asked each time

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable, Callable] = {}

    def ensure_sync(self, func: Callable) -> Callable:
        """Flask's ensure_sync(), remembered for plain functions."""
        found = self._sync.get(func)
        if found is None:
            found = super().ensure_sync(func)
            if isinstance(func, FunctionType) and len(self._sync) < self._MAX_REMEMBERED:
                self._sync[func] = found
        return found


def init_app(app: Flask) -> None:
    """Install the request/response hooks: the Host check first, then body size, CORS and gzip."""
    app.extensions["host_policy"] = HostPolicy.from_config(app.config)
    _hide_server_version()
    if app.config.get("PROXY_COUNT") and not (app.config.get("ALLOWED_HOSTS") or app.config.get("PUBLIC_URL")):
        app.logger.warning(
            "behind a proxy (LOCATOR_PROXY_COUNT) without LOCATOR_PUBLIC_URL or LOCATOR_ALLOWED_HOSTS: "
            "requests for the public host name will be refused with 400"
        )

    app.session_interface = LazyCookieSessions()
    app.wsgi_app = app.extensions["edge"] = Edge(app, app.wsgi_app)

    # What needs no Flask request (the Host and body-size checks, the answers' headers, the metrics
    # count) is done by Edge, before or around Flask: a hook Flask calls costs a few µs, every request.
    # gzip needs the body: a hook of the blueprints that answer under API_PREFIXES only (an unmatched
    # path's answer is a short problem, never worth compressing); everything else an answer's headers
    # need is added by Edge to the header list.
    def _compress(resp: Response) -> Response:
        if request.environ.get("PATH_INFO", "").startswith(API_PREFIXES):
            _gzip(resp)
        return resp

    for name in sorted(_blueprints_under(app, API_PREFIXES)):
        app.after_request_funcs.setdefault(name, []).append(_compress)

    @app.context_processor
    def _stale_notice() -> dict[str, str]:
        if not served_stale():
            return {}
        since = current_app.extensions["roster"].snapshots.stale_since or time.time()
        local = time.strftime("%H:%M", time.gmtime(since + 8 * 3600))  # Asia/Shanghai, no daylight saving
        return {"stale_notice": f"数据库暂时无法连接：以下是 {local} 以前的数据，可能已有变动，请以现场为准。"}


def stale_ok(view: Callable) -> Callable:
    """Let a view answer from the last snapshot while the database is unreachable (its answer is marked
    with STALE_HEADER); every other view answers 503. Put it right under the route, above any decorator
    that reads the roster. The permission ends with the request (Edge ends it)."""

    @wraps(view)
    def inner(*args: Any, **kwargs: Any):
        allow_stale(True)
        return view(*args, **kwargs)

    return inner


class Edge:
    """WSGI middleware around the Flask app: the per-request work that needs no Flask request, done once.

    A Flask hook costs a few µs before it does anything (Flask looks it up per blueprint and calls it
    through ensure_sync), and a header set through `Response.headers` costs more than appending to
    the list the server gets. So every request passes here, in this order:
    - the path answered in front of Flask (web/hot_path.py's nearest search, set by `answer_first()`),
      when it can answer;
    - the Host check (400 for a host this service does not answer to, see the module's docstring) and
      the declared body size (413 from Content-Length, before a body is read or spooled to disk;
      LOCATOR_MAX_UPLOAD_MB sets MAX_CONTENT_LENGTH): their answers are made by Flask, as a hook's;
    - then Flask, and every answer it writes gets its header list completed (`stamp`: nosniff, the
      Referrer-Policy, framing, CSP, the stale mark, CORS, Vary), is counted and timed by URL rule
      (web/metrics.py; from here to the answer's start, so the whole of Flask's work), and ends the
      stale-snapshot permission a view took (`stale_ok`; the test client and the CLI run in the
      thread that handled the request).
    """

    def __init__(self, app: Flask, wsgi_app: Callable):
        self.app = app
        self.wsgi_app = wsgi_app
        self.policy: HostPolicy = app.extensions["host_policy"]
        self.first_path: str | None = None
        self.first: Callable[[dict[str, Any], Callable], Iterable[bytes] | None] | None = None

    def answer_first(self, path: str, answer: Callable[[dict[str, Any], Callable], Iterable[bytes] | None]) -> None:
        """Let `answer(environ, start_response)` answer requests for `path` before Flask (None: Flask answers)."""
        self.first_path, self.first = path, answer

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        """Answer, or refuse, or call Flask; stamp the headers of its answer, count it, end the stale permission."""
        path = environ.get("PATH_INFO")
        if path == self.first_path:
            answered = self.first(environ, start_response)  # type: ignore[misc]
            if answered is not None:
                return answered
        # An empty Host header is refused; none at all (HTTP/1.0) is the server's own name, as werkzeug's.
        host = environ["HTTP_HOST"] if "HTTP_HOST" in environ else environ.get("SERVER_NAME", "")
        if path not in HOST_CHECK_EXEMPT and not self.policy.allows_header(host):
            return self._refuse(environ, start_response, _bad_host)
        if environ.get("CONTENT_LENGTH"):
            limit = self.app.config.get("MAX_CONTENT_LENGTH")
            if limit and _declared_length(environ) > limit:
                return self._refuse(environ, start_response, _too_large)
        started = time.perf_counter()
        answered = []  # the status and the URL rule, once the answer starts

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            self.stamp(environ, status, headers)
            # Called by the answer inside Flask's request context (which forgets its request when it
            # ends): the URL rule, never the path (no station id or position in a label).
            answered.append((status, getattr(environ.get("werkzeug.request"), "url_rule", None)))
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, start)
        finally:
            end_stale_permission()
            if answered:
                status, rule = answered[-1]
                # None: no rule matched (404, 405)
                self._count(environ, status, rule.rule if rule is not None else None, time.perf_counter() - started)

    def _count(self, environ: dict[str, Any], status: str, rule: str | None, seconds: float) -> None:
        """Count and time one answer by URL rule (web/metrics.py), when metrics are on."""
        count = self.app.extensions.get("metrics_count")
        if count is not None:
            count(rule, environ.get("REQUEST_METHOD", "GET").upper(), int(status[:3]), seconds)

    def _refuse(self, environ: dict[str, Any], start_response: Callable, refusal: Callable[[Flask], Any]) -> Any:
        """Flask's answer to a request refused before it reaches a view, made as a before-request hook's
        would be (error handlers, after-request hooks, headers), and counted as not matched."""
        app = self.app
        with app.request_context(environ):
            try:
                answer = refusal(app)
            except HTTPException as exc:
                answer = app.handle_user_exception(exc)
            response = app.finalize_request(answer, from_error_handler=True)

            def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
                self.stamp(environ, status, headers)
                self._count(environ, status, None, 0.0)
                return start_response(status, headers, exc_info)

            return response(environ, start)

    def stamp(self, environ: dict[str, Any], status: str, headers: list[tuple[str, str]]) -> None:
        """Add what every answer, pages, stale answers and API answers carry to the header list of an answer
        Flask writes (called inside its request context): nosniff and the Referrer-Policy; framing and the
        Content-Security-Policy (web/security.py); STALE_HEADER; CORS and Vary for API paths."""
        present = dict(headers)
        security.add_every_answer_headers(headers, present)
        path = environ.get("PATH_INFO") or "/"
        content_type = present.get("Content-Type", "").partition(";")[0].strip().lower()
        deny = security.unframeable(path)
        # A 304 refreshes the stored headers of the page the browser holds: it carries the policy too.
        page = content_type == "text/html" or status.startswith("304")
        if deny or page:
            security.page_headers(headers, deny=deny, page=page)
        if served_stale():
            since = self.app.extensions["roster"].snapshots.stale_since or time.time()
            # Never cached as if current, and never revalidated into a later, fresh answer's place.
            security.remove_headers(headers, "Cache-Control", "ETag")
            headers.append((STALE_HEADER, "database-unreachable; since=" + _iso_utc(since)))
            headers.append(("Cache-Control", "no-store"))
        if path.startswith(API_PREFIXES):
            self._api_headers(environ, status, headers, content_type)

    def _api_headers(self, environ: dict[str, Any], status: str, headers: list[tuple[str, str]], content_type: str):
        """CORS for an allowed Origin; Vary: Origin, Accept-Encoding (a compressible answer may be gzipped)."""
        vary = []
        origin = environ.get("HTTP_ORIGIN")
        if origin:
            allow = _allowed_origin(origin, self.app.config)
            if allow:
                headers.append(("Access-Control-Allow-Origin", allow))
                headers.append(("Access-Control-Expose-Headers", CORS_EXPOSE))
                if environ.get("REQUEST_METHOD") == "OPTIONS" and environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"):
                    headers.append(("Access-Control-Allow-Methods", CORS_METHODS))
                    headers.append(("Access-Control-Allow-Headers", CORS_HEADERS))
                    headers.append(("Access-Control-Max-Age", "600"))
            vary.append("Origin")
        if _compressible(int(status[:3]), content_type, environ.get("REQUEST_METHOD")):
            vary.append("Accept-Encoding")
        if vary:
            add_vary(headers, vary)


def _blueprints_under(app: Flask, prefixes: tuple[str, ...]) -> set[str | None]:
    """The names of the blueprints with a URL rule under `prefixes` (None: the app's own rules)."""
    return {
        rule.endpoint.rpartition(".")[0] or None for rule in app.url_map.iter_rules() if rule.rule.startswith(prefixes)
    }


def _declared_length(environ: dict[str, Any]) -> int:
    try:
        return max(0, int(environ["CONTENT_LENGTH"]))
    except (KeyError, ValueError):
        return 0


def _bad_host(app: Flask) -> Response:
    return problem_response(
        400,
        "Bad Request",
        "the Host header names a host this service does not answer to (see LOCATOR_ALLOWED_HOSTS)",
        headers={"Cache-Control": "no-store"},
        detail_zh="请求的主机名不属于本服务（管理员可在 LOCATOR_ALLOWED_HOSTS 中设置）。",
    )


def _too_large(app: Flask) -> Response:
    limit = app.config["MAX_CONTENT_LENGTH"]
    raise RequestEntityTooLarge(f"request bodies (uploads) are limited to {limit // (1024 * 1024)} MB")


class LazyCookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus the signer for the requests that carry no cookie at all.

    Only organizers' admin pages use the session; riders' and API requests carry no cookie, and
    Flask would still build an itsdangerous signer for each of them (tens of µs). A request without
    a Cookie header gets an empty session; one that sets something is signed and saved as usual.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session when the request has no cookies, else Flask's."""
        if "HTTP_COOKIE" not in request.environ and app.secret_key:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Nothing to do for an empty session nobody touched; else Flask's."""
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)


def _iso_utc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def add_vary(headers: list[tuple[str, str]], names: list[str]) -> None:
    """Merge `names` into the Vary header of a WSGI header list, each once (one Vary header after)."""
    present = [v.strip() for k, header in headers if k.lower() == "vary" for v in header.split(",") if v.strip()]
    lower = {v.lower() for v in present}
    merged = present + [n for n in names if n.lower() not in lower]
    if merged != present or not present:
        security.set_header(headers, "Vary", ", ".join(merged))


def _has_body(code: int, method: str | None) -> bool:
    """Whether an answer carries a body: not to HEAD, nor with 1xx, 204 or 304 (HTTP's rule, as werkzeug's)."""
    return code >= 200 and code not in (204, 304) and method != "HEAD"


def _compressible(code: int, content_type: str, method: str | None) -> bool:
    """Whether an answer may be gzipped (its body a COMPRESSIBLE type): then it varies by Accept-Encoding."""
    return _has_body(code, method) and content_type.partition(";")[0].strip().lower() in COMPRESSIBLE


def _gzip(resp: Response) -> None:
    environ = request.environ
    if resp.direct_passthrough or not _compressible(
        resp.status_code, resp.content_type or "", environ.get("REQUEST_METHOD")
    ):
        return
    # Vary: Accept-Encoding is added by Edge (for every compressible API answer, gzipped or not).
    # Cheap test first: most API clients (and every benchmark request) send no Accept-Encoding at all.
    if "gzip" not in environ.get("HTTP_ACCEPT_ENCODING", "") or request.accept_encodings["gzip"] <= 0:
        return
    if resp.headers.getlist("Content-Encoding"):
        return
    data = resp.get_data()
    if len(data) < MIN_GZIP_BYTES:
        return
    resp.set_data(gzip.compress(data, compresslevel=5, mtime=0))
    resp.headers["Content-Encoding"] = "gzip"
