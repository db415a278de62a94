"""Shared fixtures: an app over a real SQLite file in tmp_path, its clients, a live server and Chromium.

Browser tests need Debian's chromium (/usr/bin/chromium) and the playwright package; without
them they skip with a message (set LOCATOR_REQUIRE_BROWSER=1, as .ci/run does, to make that
a failure). PostGIS tests read LOCATOR_TEST_POSTGRES_URL (LOCATOR_REQUIRE_POSTGIS=1 likewise);
the land-mask build check needs GMT (LOCATOR_REQUIRE_GMT=1 likewise).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from werkzeug.serving import make_server

from locator import create_app

CHROMIUM = os.environ.get("LOCATOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def skip_or_fail(reason: str, require_env: str) -> None:
    """Skip with instructions, or fail where the environment demands the dependency (CI)."""
    if os.environ.get(require_env) == "1":
        pytest.fail(f"{reason} (required here because {require_env}=1)")
    pytest.skip(reason)


@pytest.fixture
def app_factory(tmp_path):
    """Build apps over SQLite files in tmp_path; extra settings override the defaults."""
    made = []

    def make(**overrides):
        config = {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'locator.sqlite3'}",
            "SEED_SAMPLE": True,
            "SECRET_KEY": "test-secret",
        }
        config.update(overrides)
        app = create_app(config)
        made.append(app)
        return app

    yield make
    for app in made:
        close_app(app)


def close_app(app) -> None:
    """Write the app's pending search and confirmation counts, stop their threads, close the store."""
    for name in ("search_log", "confirmations"):
        counts = app.extensions.get(name)
        if counts is not None:
            counts.close(quiet=True)
    app.extensions["roster"].store.close()


@pytest.fixture(scope="session")
def shared_app(tmp_path_factory):
    """One seeded app for every test marked read_only (datasette's pattern: built once per session).

    At the end its roster must be unchanged: a read_only test that writes fails here.
    """
    path = tmp_path_factory.mktemp("shared") / "locator.sqlite3"
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "test-secret"})
    store = app.extensions["roster"].store
    version = store.data_version()
    yield app
    assert store.data_version() == version, "a test marked read_only changed the shared app's roster"
    close_app(app)


@pytest.fixture
def app(request, app_factory):
    """The app over a fresh SQLite file seeded with the sample roster (the shared one for read_only tests)."""
    if request.node.get_closest_marker("read_only"):
        return request.getfixturevalue("shared_app")
    return app_factory()


@pytest.fixture
def empty_app(app_factory):
    """The app over a fresh, empty SQLite file."""
    return app_factory(SEED_SAMPLE=False)


@pytest.fixture
def client(app):
    """A Flask test client (real HTTP semantics, no socket)."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Runs `flask --app locator …` commands against the app."""
    return app.test_cli_runner()


@pytest.fixture
def roster(app):
    """The app's Roster."""
    return app.extensions["roster"]


class LiveServer:
    """The app served over a real socket on 127.0.0.1 in a background thread."""

    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._thread.join(5)


@pytest.fixture
def live_server(app):
    """The seeded app on a real port."""
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium():
    """A headless Debian Chromium driven by playwright (skips, or fails in CI, when missing)."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        skip_or_fail(
            f"Chromium not found at {CHROMIUM}: install Debian's package (sudo apt-get install chromium) "
            "or set LOCATOR_CHROMIUM",
            "LOCATOR_REQUIRE_BROWSER",
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed: pip install -r requirements-test.txt", "LOCATOR_REQUIRE_BROWSER")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class BrowserPage:
    """A phone-sized page that records (and blocks) every request to a host other than the app's."""

    def __init__(self, context, page, allowed_hosts):
        self.context = context
        self.page = page
        self.allowed_hosts = set(allowed_hosts)
        self.foreign_requests: list[str] = []
        self.console_errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))

    def screenshot(self, name: str) -> Path:
        """Save a screenshot under test-artifacts/ and return its path."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path


@pytest.fixture
def browser_page(chromium, live_server):
    """A 375×667 phone page (zh-CN) against the live server; foreign requests are blocked and recorded."""
    context = chromium.new_context(
        viewport={"width": 375, "height": 667},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
    )
    page = context.new_page()
    wrapper = BrowserPage(context, page, {"127.0.0.1"})

    def route(route):
        host = urlparse(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in wrapper.allowed_hosts:
            route.continue_()
        else:
            wrapper.foreign_requests.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    wrapper.base_url = live_server.url
    yield wrapper
    context.close()


POSTGRES_URL = os.environ.get("LOCATOR_TEST_POSTGRES_URL", "")


@pytest.fixture
def postgres_url():
    """The PostGIS test database (skips with instructions, or fails where LOCATOR_REQUIRE_POSTGIS=1)."""
    if not POSTGRES_URL:
        skip_or_fail(
            "PostGIS tests need LOCATOR_TEST_POSTGRES_URL=postgresql://USER@HOST:PORT/DB "
            "(a database where CREATE EXTENSION postgis works); .ci/run starts one",
            "LOCATOR_REQUIRE_POSTGIS",
        )
    return POSTGRES_URL


def fresh_schema() -> str:
    """A schema name of its own for one test's PostGIS tables."""
    import uuid

    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_pg_store(postgres_url):
    """Build migrated PostGISStores, each in a schema of its own (dropped afterwards)."""
    from locator.store.postgis import PostGISStore

    made = []

    def make():
        store = PostGISStore(postgres_url, schema=fresh_schema())
        store.init_schema()
        made.append(store)
        return store

    yield make
    for store in made:
        store.drop_schema()
        store.close()


@pytest.fixture(params=["sqlite", "postgis"])
def make_store(request, tmp_path):
    """Build fresh, migrated stores: each store test runs on SQLite and on PostGIS."""
    if request.param == "postgis":
        yield request.getfixturevalue("make_pg_store")
        return
    from locator.store.sqlite import SQLiteStore

    made = []

    def make():
        store = SQLiteStore(tmp_path / f"store-{len(made)}.sqlite3")
        store.init_schema()
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture(params=["sqlite", "postgis"])
def app_on_both(request, app_factory):
    """The seeded app over SQLite and over PostGIS (a schema of its own): account modules run on both.

    A module opts in with `app = fixture returning app_on_both`; a test that only one backend can run
    narrows it with `pytest.mark.parametrize("app_on_both", ["sqlite"], indirect=True)`.
    """
    if request.param == "sqlite":
        return app_factory()
    made = app_factory(DATABASE_URL=request.getfixturevalue("postgres_url"), DATABASE_SCHEMA=fresh_schema())
    request.addfinalizer(made.extensions["roster"].store.drop_schema)  # before app_factory closes the store
    return made


@pytest.fixture
def store(make_store):
    """A fresh, migrated, empty store (SQLite and PostGIS)."""
    return make_store()


# -- organizer admin (issue 6) ---------------------------------------------------------------------


@pytest.fixture
def make_user(app):
    """Create an account: make_user(name, role, districts=(), password='password123') -> User."""
    from locator.accounts import hash_password

    def make(name, role, districts=(), password="password123"):
        return app.extensions["accounts"].create_user(name, role, tuple(districts), hash_password(password))

    return make


@pytest.fixture
def login(app):
    """A logged-in test client: login(name, password='password123') -> client with .csrf set."""

    def do(name, password="password123"):
        client = app.test_client()
        client.get("/admin/login")
        with client.session_transaction() as sess:
            token = sess["csrf"]
        resp = client.post("/admin/login", data={"name": name, "password": password, "csrf_token": token})
        assert resp.status_code == 302, resp.data
        with client.session_transaction() as sess:
            client.csrf = sess["csrf"]
        return client

    return do


@pytest.fixture
def api_token(app):
    """Create an API token for a user name and return the plain token."""
    from locator.accounts import new_token

    def make(user):
        plain, digest = new_token()
        app.extensions["accounts"].create_token(user.id, "test", digest)
        return plain

    return make
