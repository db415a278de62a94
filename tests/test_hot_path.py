"""The rider's nearest search in front of Flask (web/hot_path.py) answers as the view does, and hands on any doubt."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path

import pytest
from flask import Response
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder

from locator.hours import TZ
from locator.web.api import plain_nearest_query
from locator.web.models import NearestQuery

PLAIN = "/api/v1/stations/nearest?lat=28.012345&lng=120.654321&k=3"
# The same search through the view: an empty radius_m is "absent" to parse_query, but not plain.
VIEW = PLAIN + "&radius_m="


@pytest.fixture
def counted(app_factory):
    """An app whose Flask hooks count the requests they see (the fast path never runs them)."""
    app = app_factory()
    seen = []
    app.before_request_funcs.setdefault(None, []).insert(0, lambda: seen.append(1) and None)  # first of all
    return app, seen


def _comparable(resp) -> tuple:
    body = json.loads(resp.get_data())
    body["query"].pop("at")
    headers = sorted((k, v) for k, v in resp.headers.items() if k != "Date")
    return resp.status_code, headers, body


def test_the_plain_search_skips_flask_and_answers_what_the_view_answers(counted):
    app, seen = counted
    client = app.test_client()
    fast = client.get(PLAIN)
    assert seen == []  # answered in front of Flask
    view = client.get(VIEW)
    assert seen == [1]
    assert _comparable(fast) == _comparable(view)
    assert fast.status_code == 200 and fast.mimetype == "application/json"
    assert fast.headers["Cache-Control"] == "private, no-store"
    assert fast.headers["Vary"] == "Accept-Encoding"
    assert [s["distance_m"] for s in fast.get_json()["stations"]] == sorted(
        s["distance_m"] for s in fast.get_json()["stations"]
    )


def test_the_answer_time_is_written_as_isoformat_writes_it(counted):
    app, _ = counted
    client = app.test_client()
    before = datetime.now(TZ)
    for url in (PLAIN, VIEW):
        at = client.get(url).get_json()["query"]["at"]
        when = datetime.fromisoformat(at)
        assert when.isoformat() == at and at.endswith("+08:00")  # microseconds, the offset: as isoformat()
        assert before <= when <= datetime.now(TZ)


@pytest.mark.parametrize("coord", ["gcj02", "bd09"])
def test_other_coordinate_systems_answer_alike(counted, coord):
    app, seen = counted
    client = app.test_client()
    fast = client.get(f"{PLAIN}&coord={coord}")
    view = client.get(f"{VIEW}&coord={coord}")
    assert seen == [1]
    assert _comparable(fast) == _comparable(view)
    assert fast.get_json()["stations"][0]["location"]["crs"] == coord


@pytest.mark.parametrize(
    ("headers", "check"),
    [
        ({"Origin": "https://example.org"}, lambda r: "Origin" in r.headers["Vary"]),
        ({"Accept-Encoding": "gzip"}, lambda r: json.loads(gzip.decompress(r.get_data()))["count"] == 3),
    ],
    ids=["cors", "gzip"],
)
def test_requests_the_hooks_must_see_go_to_flask(counted, headers, check):
    app, seen = counted
    resp = app.test_client().get(PLAIN, headers=headers)
    assert check(resp)
    assert seen == [1]


def test_a_foreign_host_is_refused_before_any_view_or_hook(counted):
    """The fast path does not answer it, and web/http.py's Edge refuses it before Flask dispatches."""
    app, seen = counted
    resp = app.test_client().get(PLAIN, headers={"Host": "evil.example"})
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    assert "主机名" in resp.get_json()["detail_zh"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert seen == []


def test_host_verdicts_are_remembered_but_a_flood_of_forged_hosts_is_not(app_factory):
    """Edge and the fast path remember the verdict per Host value (a server sees a handful), never more than
    MAX_REMEMBERED of them, and a remembered refusal still refuses."""
    from locator.web.http import HostPolicy, host_name

    policy = HostPolicy(["yizhan.example.cn", ".wz.example"])
    hosts = [
        "yizhan.example.cn",
        "YIZHAN.example.cn:8443",
        "a.wz.example",
        "wz.example",
        "evil.example",
        "[::1]:80",
        "",
    ]
    hosts += [f"forged-{i}.example" for i in range(2 * HostPolicy.MAX_REMEMBERED)]
    for _ in range(2):  # the second time from memory, where remembered
        assert [policy.allows_header(h) for h in hosts] == [policy.allows(host_name(h)) for h in hosts]
    assert len(policy._headers) == HostPolicy.MAX_REMEMBERED
    client = app_factory().test_client()
    for _ in range(2):
        assert client.get(PLAIN, headers={"Host": "evil.example"}).status_code == 400
        assert client.get(PLAIN, headers={"Host": "127.0.0.1:8000"}).status_code == 200


def test_a_point_outside_the_service_area_gets_the_views_422(counted):
    app, seen = counted
    resp = app.test_client().get("/api/v1/stations/nearest?lat=39.9&lng=116.4")  # Beijing
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert "不在服务范围内" in resp.get_json()["detail_zh"]
    assert seen == [1]


@pytest.mark.parametrize(
    "query",
    [
        "lat=28&lng=120.65",
        "lat=28.0&lng=120.65&k=50",
        "lng=-120.5&lat=-28.25&coord=gcj02",
        "lat=90&lng=180&k=1&coord=bd09",
        "lat=-90.000000000000001&lng=0",
    ],
)
def test_what_the_short_reader_accepts_pydantic_accepts_alike(query):
    plain = plain_nearest_query(query)
    assert plain is not None
    full = NearestQuery.model_validate(dict(MultiDict([p.split("=") for p in query.split("&")])))
    assert (plain.lat, plain.lng, plain.k, plain.coord) == (full.lat, full.lng, full.k, full.coord)
    assert (plain.radius_m, plain.type, plain.amenity, plain.district, plain.open_now) == (None, (), (), (), False)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "lat=28.0",
        "lat=28.0&lng=120.65&lat=28.1",  # repeated
        "lat=28.0&lng=120.65&k=0",
        "lat=28.0&lng=120.65&k=51",
        "lat=91&lng=120",
        "lat=28.0&lng=181",
        "lat=1e1&lng=120",
        "lat=nan&lng=120",
        "lat=28.0&lng=%20120.65",
        "lat=28.0&lng=120.65&coord=GCJ02",
        "lat=28.0&lng=120.65&radius_m=500",
        "lat=28.0&lng=120.65&type=rider_station",
        "lat=28.0&lng=120.65&zoom=3",
        "lat=28.0&&lng=120.65",
        "lat=+28.0&lng=120.65",
    ],
)
def test_anything_else_is_left_to_pydantic(query):
    assert plain_nearest_query(query) is None


def test_the_nearest_limit_is_one_budget_for_both_paths(app_factory):
    app = app_factory(RATELIMIT_ENABLED="true", RATELIMIT_NEAREST="2/minute")
    client = app.test_client()
    assert client.get(PLAIN).status_code == 200  # fast path
    assert client.get(VIEW).status_code == 200  # the view
    refused = client.get(PLAIN)
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_the_fast_path_counts_the_search_in_the_search_log(app_factory):
    app = app_factory(DEMAND_LOG="true")
    client = app.test_client()
    log = app.extensions["search_log"]
    before = log.pending()
    assert client.get(PLAIN).status_code == 200
    assert log.pending() == before + 1


def test_a_request_without_cookies_gets_no_session_cookie(client):
    for path in ("/healthz", PLAIN, "/api/v1/vocabulary", "/"):
        resp = client.get(path)
        assert "Set-Cookie" not in resp.headers, path


def test_the_reach_check_remembered_per_cell_agrees_with_the_exact_distance(app_factory):
    """check_reach() trusts a 0.01° cell's centre only well inside the limit: every verdict equals the exact one."""
    roster = app_factory(MAX_QUERY_DISTANCE_KM="30").extensions["roster"]
    # Eastwards out to sea across the 30 km line, twice: the second pass hits the cells.
    points = [(120.9 + (step % 200) * 0.004, 27.95 + (step % 7) * 0.0013) for step in range(400)]
    assert _reach_verdicts(roster, points, roster.area.distance_m) == {True, False}


def _reach_verdicts(roster, points, exact_distance) -> set[bool]:
    """check_reach()'s verdict (refused or not) at each point, each asserted equal to the exact distance's."""
    from locator.roster import OutsideServiceArea

    limit = roster.max_query_distance_m
    verdicts = set()
    for lng, lat in points:
        try:
            roster.check_reach(lng, lat)
            refused = False
        except OutsideServiceArea:
            refused = True
        assert refused == (exact_distance(lng, lat) > limit), (lng, lat)
        verdicts.add(refused)
    return verdicts


def test_the_reach_check_at_the_default_limit_agrees_and_measures_once_per_coarse_cell(app_factory, monkeypatch):
    """With the 100 km default a 0.5° cell's centre vouches for a whole town and its sea: random rider points
    cost a handful of distance computations, and out at sea across the 100 km line every verdict is exact."""
    import dataclasses
    import random

    roster = app_factory().extensions["roster"]
    assert roster.max_query_distance_m == 100_000
    exact_distance = roster.area.distance_m
    calls = []

    def counted(lng, lat):
        calls.append((lng, lat))
        return exact_distance(lng, lat)

    monkeypatch.setattr(roster, "area", dataclasses.replace(roster.area, distance_to_districts=counted))
    rng = random.Random(7)
    for _ in range(2000):  # the bench's rider points: 120.3-121.1 E, 27.6-28.2 N, land and sea
        roster.check_reach(120.3 + rng.random() * 0.8, 27.6 + rng.random() * 0.6)
    assert len(calls) <= 6, len(calls)
    # Eastwards from the coast to 2.5° out, across the 100 km line.
    points = [(121.0 + step * 0.0085, 27.9 + (step % 5) * 0.003) for step in range(300)]
    assert _reach_verdicts(roster, points, exact_distance) == {True, False}


def test_a_change_made_elsewhere_reaches_riders_within_a_second_and_requests_read_no_version(app_factory):
    """SQLite has no NOTIFY: each process trusts the data version it read for LOCATOR_VERSION_CHECK_INTERVAL_MS
    (`auto`: 0.1 s), so a rider's request reads nothing, and a change made by another worker or a tool shows soon."""
    import sqlite3
    import time

    from locator.store.sql import VERSION_SQL

    app = app_factory()
    client = app.test_client()
    first = client.get(PLAIN).get_json()["stations"][0]
    path = app.extensions["roster"].store.path
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE stations SET name = '改过名的驿站' WHERE id = ?", (first["id"],))
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")
        conn.execute("COMMIT")
    finally:
        conn.close()
    changed, deadline = None, time.monotonic() + 1.0
    while changed is None and time.monotonic() < deadline:
        top = client.get(PLAIN).get_json()["stations"][0]
        changed = top["name"] if top["name"] == "改过名的驿站" else None
    assert changed == "改过名的驿站"

    trusting = app_factory(VERSION_CHECK_INTERVAL_MS="60000")
    client = trusting.test_client()
    client.get(PLAIN)
    reads = []
    trusting.extensions["roster"].store._conn().set_trace_callback(reads.append)
    for _ in range(20):
        assert client.get(PLAIN).status_code == 200
    assert [sql for sql in reads if sql == VERSION_SQL] == []


def _wsgi(app, path: str, method: str = "GET", **headers: str) -> tuple[str, dict[str, str], object]:
    """Call the app as a WSGI server does: (status, headers, the iterable it returned, unconsumed)."""
    environ = EnvironBuilder(path=path, method=method, headers=headers, base_url="http://127.0.0.1").get_environ()
    started = {}

    def start_response(status, header_list, exc_info=None):
        started.update(status=status, headers=dict(header_list))

    body = app(environ, start_response)
    return started["status"], started["headers"], body


@pytest.mark.parametrize(
    ("path", "begins"),
    [
        ("/healthz", b'{"status":"ok"}'),  # jsonify
        ("/admin/login", b"<!doctype html>"),  # a view's own flask.Response, converted by make_response
        ("/no/such/page", b"<!doctype html>"),  # an error handler's page
        ("/api/v1/stations?limit=1", b"{"),  # a cacheable answer, its gzip hook
    ],
)
def test_answers_whose_body_is_whole_go_to_the_server_as_a_list(app_factory, path, begins):
    app = app_factory()
    status, headers, body = _wsgi(app, path)
    assert type(body) is list and all(type(chunk) is bytes for chunk in body)
    assert int(headers["Content-Length"]) == len(b"".join(body))
    assert b"".join(body).lower().startswith(begins)
    head_status, head_headers, head_body = _wsgi(app, path, method="HEAD")
    assert head_body == [] and head_status == status
    assert head_headers["Content-Length"] == headers["Content-Length"]


def test_a_304_goes_as_an_empty_list(app_factory):
    app = app_factory()
    _, headers, _ = _wsgi(app, "/api/v1/stations?limit=1")
    status, _, body = _wsgi(app, "/api/v1/stations?limit=1", If_None_Match=headers["ETag"])
    assert status.startswith("304") and body == []


def test_files_streams_and_close_callbacks_go_as_werkzeug_sends_them(app_factory):
    app = app_factory()
    closed = []

    @app.get("/test-stream")
    def stream():
        return Response((part for part in (b"a", b"b")), mimetype="text/plain")

    @app.get("/test-on-close")
    def on_close():
        resp = Response(b"whole", mimetype="text/plain")
        resp.call_on_close(lambda: closed.append(1))
        return resp

    for path, expected in [("/test-stream", b"ab"), ("/test-on-close", b"whole")]:
        _, _, body = _wsgi(app, path)
        assert type(body) is not list
        assert b"".join(body) == expected
        body.close()
    assert closed == [1]  # the callback ran when the server closed the answer
    css = sorted((Path(app.static_folder) / "css").glob("*.css"))[0]
    _, _, body = _wsgi(app, f"/static/css/{css.name}")
    assert type(body) is not list and b"".join(body) == css.read_bytes()
    body.close()
