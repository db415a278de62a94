"""The documented scale-out deployment, for real: nginx (deploy/nginx.conf) in front of two app servers
(`python -m locator.serve`: Granian, two workers each) on one PostgreSQL+PostGIS and one Redis.

Everything runs from the Debian packages .ci/run installs, on free ports of 127.0.0.1. The nginx file
is the repository's, with only its lines marked SITE changed (addresses, ports, certificate, paths).
Checks: a write through one server shows on the other within a second (NOTIFY), the rate limit is
one budget for every worker of every server (Redis), metrics add up every worker and are not served
through nginx, a login, a revoked token and an import preview hold on both servers (accounts,
sessions, tokens and previews in PostgreSQL), and a database outage through nginx (stale answers,
503 elsewhere, recovery by itself).
"""

from __future__ import annotations

import gzip
import http.client
import itertools
import json
import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from bs4 import BeautifulSoup
from prometheus_client.parser import text_string_to_metric_families

from tests.services import ROOT, AppServer, PgCluster, RedisServer, free_port, require_binary, wait_for

pytestmark = [pytest.mark.postgis, pytest.mark.slow]

HOST = "stations.example.cn"
NEAREST = "/api/v1/stations/nearest?lat=28.0&lng=120.65&k=3"
METRICS_TOKEN = "deployment-test-metrics-token"
NEAREST_LIMIT = 20
PASSWORD = "correct horse battery staple"


class Nginx:
    """nginx running deploy/nginx.conf, its SITE lines pointed at this test's servers."""

    def __init__(self, root: Path, upstreams: list[int]):
        self.binary = require_binary("nginx", "nginx")
        self.openssl = require_binary("openssl", "openssl")
        self.root = root
        self.https_port = free_port()
        self.http_port = free_port()
        self.upstreams = upstreams
        self.proc: subprocess.Popen | None = None

    def site_config(self) -> str:
        """deploy/nginx.conf with every line marked SITE replaced (each exactly once)."""
        text = (ROOT / "deploy" / "nginx.conf").read_text()
        changes = {
            "server 10.0.0.11:8000 ": f"server 127.0.0.1:{self.upstreams[0]} ",
            "server 10.0.0.12:8000 ": f"server 127.0.0.1:{self.upstreams[1]} ",
            "proxy_cache_path /var/cache/nginx/locator ": f"proxy_cache_path {self.root}/cache ",
            "listen 80;": f"listen 127.0.0.1:{self.http_port};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{self.https_port} ssl http2;",
            "/etc/ssl/certs/stations.example.cn.pem": f"{self.root}/cert.pem",
            "/etc/ssl/private/stations.example.cn.key": f"{self.root}/key.pem",
            "access_log /var/log/nginx/locator.log locator ": f"access_log {self.root}/access.log locator ",
            "access_log /var/log/nginx/locator.log locator_anonymous ": (
                f"access_log {self.root}/access.log locator_anonymous "
            ),
        }
        for old, new in changes.items():
            assert text.count(old) == 1, f"deploy/nginx.conf changed: {old!r} is no longer there exactly once"
            text = text.replace(old, new)
        site_lines = [line for line in text.splitlines() if "# SITE" in line]
        assert len(site_lines) == 11, site_lines  # the two server_name lines keep the documented host
        return text

    def start(self) -> Nginx:
        """Write the configuration, check it (nginx -t) and start nginx in the foreground."""
        for sub in ("cache", "tmp"):
            (self.root / sub).mkdir(mode=0o777)
            (self.root / sub).chmod(0o777)  # nginx's workers run as nobody when the master is root
        subprocess.run(
            [self.openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={HOST}"]
            + ["-keyout", str(self.root / "key.pem"), "-out", str(self.root / "cert.pem")],
            check=True,
            capture_output=True,
        )
        (self.root / "locator.conf").write_text(self.site_config())
        tmp = self.root / "tmp"
        (self.root / "nginx.conf").write_text(
            f"""daemon off;
pid {self.root}/nginx.pid;
error_log {self.root}/error.log warn;
worker_processes 2;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {self.root}/locator.conf;
}}
"""
        )
        cmd = [self.binary, "-p", str(self.root), "-c", str(self.root / "nginx.conf")]
        checked = subprocess.run([*cmd, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.get("/healthz")[0] == 200, 10, "nginx answering")
        return self

    def stop(self) -> None:
        """Stop nginx."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def get(self, path: str, *, source: str = "127.0.0.1", headers: dict | None = None):
        """(status, headers, body) of a GET through nginx over TLS from a loopback `source` address."""
        return self.request("GET", path, source=source, headers=headers)

    def request(self, method: str, path: str, *, source: str = "127.0.0.1", headers: dict | None = None, body=None):
        """(status, headers, body) of a request through nginx over TLS from a loopback `source` address."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.https_port, context=context, timeout=10, source_address=(source, 0)
        )
        try:
            conn.request(method, path, body=body, headers={"Host": HOST, **(headers or {})})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def upstreams_that_served(self, path: str, since_line: int = 0) -> set[str]:
        """The app servers nginx's access log names for `path` (from line `since_line` on)."""
        lines = (self.root / "access.log").read_text().splitlines()[since_line:]
        return {line.rsplit(" ", 1)[-1] for line in lines if f" {path} " in line}

    def log_lines(self) -> int:
        """Lines in nginx's access log so far."""
        log = self.root / "access.log"
        return len(log.read_text().splitlines()) if log.exists() else 0


class Deployment:
    """The whole set-up; started once for this module."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="locator-deploy-"))
        self.root.chmod(0o755)
        self.db: PgCluster | None = None
        self.redis: RedisServer | None = None
        self.apps: list[AppServer] = []
        self.nginx: Nginx | None = None

    def start(self) -> Deployment:
        """PostgreSQL, Redis, the schema and an account, two app servers, nginx."""
        self.db = PgCluster().create()
        self.redis = RedisServer(self.root / "redis").start()
        env = {
            "LOCATOR_DATABASE_URL": self.db.url,
            "LOCATOR_SECRET_KEY": "deployment-test-secret-key-0123456789abcdef",
            "LOCATOR_WORKERS": "2",
            "LOCATOR_THREADS": "4",
            "LOCATOR_LOG_FORMAT": "json",
            "LOCATOR_PROXY_COUNT": "1",
            "LOCATOR_PUBLIC_URL": f"https://{HOST}/",
            "LOCATOR_SECURE_COOKIES": "true",
            "LOCATOR_RATELIMIT_STORAGE_URI": self.redis.url,
            "LOCATOR_RATELIMIT_NEAREST": f"{NEAREST_LIMIT}/minute",
            "LOCATOR_METRICS_TOKEN": METRICS_TOKEN,
        }
        self.apps = [AppServer(name, self.root, env) for name in ("a", "b")]
        one, two = self.apps
        one.flask("init-db")  # docs/deployment.md: migrate once before (re)starting the app servers
        # Once, through one server: accounts live in PostgreSQL, for both.
        one.flask("create-user", "ops", "--role", "city_admin", "--password-stdin", stdin=PASSWORD + "\n")
        self.token = one.flask("create-token", "ops").strip().splitlines()[-1]
        for app in self.apps:
            app.start()
        for app in self.apps:
            app.wait_ready()
        self.nginx = Nginx(self.root, [one.port, two.port]).start()
        return self

    def stop(self) -> None:
        """Everything down, folders removed."""
        if self.nginx is not None:
            self.nginx.stop()
        for app in self.apps:
            app.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.db is not None:
            self.db.destroy()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def deployment():
    """nginx, two app servers, PostgreSQL and Redis, as docs/deployment.md describes them."""
    made = Deployment()
    try:
        yield made.start()
    finally:
        made.stop()


# Client addresses of their own for polling loops (each loopback address is a rate-limit bucket).
_SOURCES = (f"127.0.{a}.{b}" for a, b in itertools.product(range(1, 250), range(1, 250)))


def _cookies_over_http(session: requests.Session) -> None:
    """LOCATOR_SECURE_COOKIES marks the session cookie Secure; these direct calls are plain HTTP."""
    for cookie in session.cookies:
        cookie.secure = False


def _direct(app: AppServer, client: str) -> requests.Session:
    """A session to one app server as nginx would call it: X-Forwarded-For names the client."""
    session = requests.Session()
    session.headers.update({"Host": HOST, "X-Forwarded-For": client, "X-Forwarded-Proto": "https"})
    session.base = app.url
    return session


def test_the_docs_point_at_the_tested_nginx_file():
    docs = (ROOT / "docs" / "deployment.md").read_text()
    assert "deploy/nginx.conf" in docs
    assert "upstream locator {" not in docs  # one copy of the configuration: the tested file


def test_nginx_redirects_http_and_hides_its_version(deployment):
    conn = http.client.HTTPConnection("127.0.0.1", deployment.nginx.http_port, timeout=5)
    conn.request("GET", "/stations/x", headers={"Host": HOST})
    resp = conn.getresponse()
    assert resp.status == 301 and resp.getheader("Location") == f"https://{HOST}/stations/x"
    assert resp.getheader("Server") == "nginx"
    conn.close()


def test_a_write_through_one_server_shows_on_the_other_within_a_second(deployment):
    one, two = deployment.apps
    a, b = _direct(one, "198.51.100.10"), _direct(two, "198.51.100.11")
    station_id = b.get(b.base + NEAREST).json()["stations"][0]["id"]
    stored = a.get(
        f"{one.url}/api/v1/admin/stations/{station_id}", headers={"Authorization": f"Bearer {deployment.token}"}
    )
    assert stored.status_code == 200, stored.text
    body = {k: v for k, v in stored.json().items() if k not in ("id", "version", "created_at", "updated_at")}
    for n in range(3):
        name = f"写入可见性测试 {n}"
        resp = a.put(
            f"{one.url}/api/v1/admin/stations/{station_id}",
            json={**body, "name": name},
            headers={"Authorization": f"Bearer {deployment.token}", "If-Match": stored.headers["ETag"]},
        )
        assert resp.status_code == 200, resp.text
        written = time.monotonic()
        stored = resp

        def shows(url: str, name: str = name) -> bool:
            return requests.get(url, headers={"Host": HOST, "X-Forwarded-For": "198.51.100.12"}).json()["name"] == name

        wait_for(lambda: shows(f"{two.url}/api/v1/stations/{station_id}"), 1.0, "the write shows on the other server")
        assert time.monotonic() - written < 1.0
        # Through nginx, whichever server answers.
        for _ in range(4):
            status, _, raw = deployment.nginx.get(f"/api/v1/stations/{station_id}", source="127.0.0.2")
            assert status == 200 and json.loads(raw)["name"] == name


def test_the_rate_limit_is_one_budget_for_every_worker_of_every_server(deployment):
    one, two = deployment.apps
    sessions = [_direct(one, "198.51.100.20"), _direct(two, "198.51.100.20")]
    statuses = [sessions[n % 2].get(sessions[n % 2].base + NEAREST).status_code for n in range(NEAREST_LIMIT + 1)]
    assert statuses == [200] * NEAREST_LIMIT + [429]
    # Through nginx, from a client address of its own: nginx spreads the requests over both servers.
    nginx = deployment.nginx
    first_line = nginx.log_lines()
    got = [nginx.get(NEAREST, source="127.0.0.3")[0] for _ in range(NEAREST_LIMIT + 1)]
    assert got == [200] * NEAREST_LIMIT + [429]
    wait_for(lambda: len(nginx.upstreams_that_served("/api/v1/stations/nearest", first_line)) == 2, 2, "log")


def test_a_phones_nearest_search_is_compressed_by_nginx(deployment):
    """Phones send Accept-Encoding: gzip; nginx compresses the nearest answer itself and asks the app
    without it (deploy/nginx.conf), so the app answers it on its fast path (web/hot_path.py)."""
    status, headers, raw = deployment.nginx.get(NEAREST, source="127.0.0.5", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("content-encoding") == "gzip"
    body = json.loads(gzip.decompress(raw))
    assert len(body["stations"]) == 3 and headers["cache-control"] == "private, no-store"


def test_riders_reports_are_logged_by_nginx_without_the_clients_address(deployment):
    nginx = deployment.nginx
    status, _, raw = nginx.get(NEAREST, source="127.0.0.4")
    station_id = json.loads(raw)["stations"][0]["id"]
    first_line = nginx.log_lines()
    status, _, _ = nginx.request(
        "POST",
        f"/api/v1/stations/{station_id}/reports",
        source="127.0.0.4",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"kind": "closed"}),
    )
    assert status == 201
    wait_for(lambda: nginx.log_lines() > first_line, 2, "the report in nginx's log")
    lines = (nginx.root / "access.log").read_text().splitlines()[first_line:]
    reports = [line for line in lines if "/reports " in line]
    assert len(reports) == 1 and reports[0].startswith("- ["), reports
    assert not any("127.0.0.4" in line for line in reports)


def _samples(text: str) -> dict:
    out: dict = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "pid")))
            out[key] = out.get(key, 0) + s.value
    return out


def test_metrics_add_up_every_worker_and_are_not_served_through_nginx(deployment):
    one, _ = deployment.apps
    assert deployment.nginx.get("/metrics")[0] == 404
    scrape = requests.get(one.url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scrape.status_code == 200
    assert requests.get(one.url + "/metrics", headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 403
    before = _samples(scrape.text)
    key = ("locator_http_requests_total", (("endpoint", "/readyz"), ("method", "GET"), ("status", "200")))
    for _ in range(12):  # new connections: the kernel spreads them over both workers
        requests.get(one.url + "/readyz")

    def scraped() -> dict:
        return _samples(requests.get(one.url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text)

    # Each worker adds its counts to the shared files once a second.
    after = wait_for(lambda: (got := scraped())[key] - before.get(key, 0) == 12 and got, 3, "every worker's count")
    assert after[("locator_redis_up", ())] == 1
    assert after[("locator_database_up", ())] == 1
    assert after[("locator_stale_snapshot", ())] == 0
    pids = {
        s.labels["pid"] for f in text_string_to_metric_families(scrape.text) for s in f.samples if "pid" in s.labels
    }
    assert len(pids) == 2  # both workers' snapshots (data_version per worker)


def test_a_login_on_one_server_works_on_the_other(deployment):
    one, two = deployment.apps
    a = _direct(one, "198.51.100.30")
    form = BeautifulSoup(a.get(one.url + "/admin/login").text, "html.parser")
    _cookies_over_http(a)
    csrf = form.select_one("input[name=csrf_token]")["value"]
    resp = a.post(
        one.url + "/admin/login",
        data={"name": "ops", "password": PASSWORD, "csrf_token": csrf, "next": "/admin/"},
        allow_redirects=False,
    )
    assert resp.status_code == 302
    _cookies_over_http(a)
    assert a.get(one.url + "/admin/", allow_redirects=False).status_code == 200
    b = _direct(two, "198.51.100.30")
    b.cookies.update(a.cookies)
    assert b.get(two.url + "/admin/", allow_redirects=False).status_code == 200


def test_a_revoked_token_stops_working_everywhere_within_a_second(deployment):
    one, two = deployment.apps
    a, b = _direct(one, "198.51.100.40"), _direct(two, "198.51.100.40")
    auth = {"Authorization": f"Bearer {deployment.token}"}
    assert b.get(two.url + "/api/v1/admin/audit?limit=1", headers=auth).status_code == 200
    one.flask("revoke-token", "1")
    wait_for(lambda: b.get(two.url + "/api/v1/admin/audit?limit=1", headers=auth).status_code == 401, 1.0, "revoked")
    assert a.get(one.url + "/api/v1/admin/audit?limit=1", headers=auth).status_code == 401


def _login(app: AppServer, client: str) -> tuple[requests.Session, str]:
    session = _direct(app, client)
    page = BeautifulSoup(session.get(app.url + "/admin/login").text, "html.parser")
    _cookies_over_http(session)
    csrf = page.select_one("input[name=csrf_token]")["value"]
    resp = session.post(
        app.url + "/admin/login",
        data={"name": "ops", "password": PASSWORD, "csrf_token": csrf, "next": "/admin/"},
        allow_redirects=False,
    )
    assert resp.status_code == 302, resp.text
    _cookies_over_http(session)
    page = BeautifulSoup(session.get(app.url + "/admin/import").text, "html.parser")
    return session, page.select_one("input[name=csrf_token]")["value"]


def test_a_preview_made_through_one_server_commits_through_the_other(deployment, tmp_path):
    one, two = deployment.apps
    exported = tmp_path / "roster.geojson"
    one.flask("export", "-o", str(exported))
    roster = json.loads(exported.read_text())
    roster["features"][0]["properties"]["name"] = "预览跨服务器提交"
    exported.write_text(json.dumps(roster, ensure_ascii=False))
    a, a_csrf = _login(one, "198.51.100.50")
    with exported.open("rb") as f:
        preview = a.post(
            one.url + "/admin/import/preview",
            data={"csrf_token": a_csrf, "crs": "wgs84"},
            files={"file": ("roster.geojson", f, "application/geo+json")},
        )
    assert preview.status_code == 200, preview.text[:500]
    form = BeautifulSoup(preview.text, "html.parser").select_one("#commit-form")
    fields = {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}
    # The same session, through the other server: its CSRF token is the session's, valid there too.
    b = _direct(two, "198.51.100.50")
    b.cookies.update(a.cookies)
    commit = b.post(two.url + "/admin/import/commit", data={**fields, "csrf_token": a_csrf})
    assert commit.status_code == 200, commit.text[:500]
    status, _, raw = deployment.nginx.get(f"/api/v1/stations/{roster['features'][0]['id']}", source="127.0.0.8")
    assert status == 200 and json.loads(raw)["name"] == "预览跨服务器提交"


def test_an_outage_through_nginx_serves_stale_answers_and_recovers_by_itself(deployment):
    """Last in this module: it stops PostgreSQL (and starts it again)."""
    nginx, db = deployment.nginx, deployment.db
    station_id = json.loads(nginx.get(NEAREST, source="127.0.0.4")[2])["stations"][0]["id"]
    db.stop()
    try:

        def all_stale() -> bool:
            answers = [nginx.get(NEAREST, source=next(_SOURCES)) for _ in range(6)]
            return all(s == 200 and "x-locator-stale" in h for s, h, _ in answers)

        wait_for(all_stale, 10, "every worker answers nearest from its last snapshot")
        status, headers, raw = nginx.get(f"/stations/{station_id}", source="127.0.0.7")
        assert status == 200 and "x-locator-stale" in headers
        assert "数据库暂时无法连接" in BeautifulSoup(raw, "html.parser").select_one(".stale-notice").get_text()
        for path in ("/api/v1/stations", "/api/v1/districts"):
            status, headers, raw = nginx.get(path, source="127.0.0.7")
            assert status == 503 and headers["content-type"] == "application/problem+json"
            assert "数据库" in json.loads(raw)["detail_zh"]
        for app in deployment.apps:
            assert requests.get(app.url + "/readyz").status_code == 503
            assert requests.get(app.url + "/healthz").status_code == 200
    finally:
        db.start()

    def all_fresh() -> bool:
        answers = [nginx.get(NEAREST, source=next(_SOURCES)) for _ in range(6)]
        return all(s == 200 and "x-locator-stale" not in h for s, h, _ in answers)

    wait_for(all_fresh, 15, "every worker answers fresh again, without a restart", interval=0.2)
    for app in deployment.apps:
        assert requests.get(app.url + "/readyz").status_code == 200
        assert app.proc.poll() is None
    assert nginx.get("/api/v1/stations", source="127.0.0.7")[0] == 200
