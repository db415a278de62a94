"""Riders' reports and "这里可用" confirmations through the API (issue 16): anonymous, rate-limited, beside the roster.

A report is stored with its kind, a cleaned and capped note, the station, its district and the hour;
nothing about the sender (inspected in the database file and the logs after 100 reports). A
confirmation is a count per station and day, written in batches; neither moves the roster's data
version nor rebuilds a snapshot.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from locator.reports import MAX_NOTE, clean_note, hide_personal

STATION = "rs-330304-001"
REPORTS = f"/api/v1/stations/{STATION}/reports"
CONFIRM = f"/api/v1/stations/{STATION}/confirmations"
RIDER_IP = "203.0.113.77"
FORWARDED_IP = "198.51.100.23"
RIDER_UA = "Mozilla/5.0 MicroMessenger/8.0.47 UA-MARKER-7f3a"
ROOT = Path(__file__).resolve().parent.parent


def _feedback(app):
    return app.extensions["feedback"]


# -- reports ------------------------------------------------------------------------------------------


def test_a_report_is_stored_with_its_kind_note_station_and_hour_only(app, client):
    resp = client.post(REPORTS, json={"kind": "closed", "note": "  门关了，贴了装修通知  "})
    assert resp.status_code == 201 and resp.mimetype == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert body["station_id"] == STATION and body["kind"] == "closed" and "谢谢" in body["message_zh"]
    report = _feedback(app).report(body["id"])
    assert (report.station_id, report.district, report.kind, report.status) == (STATION, "330304", "closed", "open")
    assert report.note == "门关了，贴了装修通知"
    assert report.created_at.minute == report.created_at.second == 0  # to the hour, nothing finer


@pytest.mark.parametrize(
    ("body", "status", "parameter"),
    [
        ({"kind": "exploded"}, 422, "kind"),
        ({"kind": ["closed"]}, 422, "kind"),
        ({"kind": {"closed": 1}}, 422, "kind"),
        ({"kind": 1}, 422, "kind"),
        ({"kind": ["closed"]}, 422, "kind"),
        ({"kind": {"closed": 1}}, 422, "kind"),
        ({"kind": 1}, 422, "kind"),
        ({}, 422, "kind"),
        ({"kind": "closed", "note": "长" * (MAX_NOTE + 1)}, 422, "note"),
        ({"kind": "closed", "note": 5}, 422, "note"),
        ({"kind": "closed", "note": "a\u0000b"}, 422, "note"),
        ({"kind": "closed", "phone": "138"}, 422, "phone"),
        (["closed"], 422, "body"),
    ],
)
def test_bad_reports_are_refused_in_chinese_and_nothing_is_stored(app, client, body, status, parameter):
    resp = client.post(REPORTS, json=body)
    assert resp.status_code == status and resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert problem["parameter"] == parameter and problem["detail_zh"]
    assert _feedback(app).reports(status=None) == []


def test_a_report_must_be_json_small_and_for_a_known_station(app, client):
    assert client.post(REPORTS, data="kind=closed").status_code == 400
    assert client.post(REPORTS, data="{", content_type="application/json").status_code == 400
    big = client.post(REPORTS, data=json.dumps({"kind": "other", "note": "x" * 5000}), content_type="application/json")
    assert big.status_code == 413
    missing = client.post("/api/v1/stations/no-such-station/reports", json={"kind": "closed"})
    assert missing.status_code == 404 and missing.get_json()["detail_zh"] == "没有这个驿站。"
    assert _feedback(app).reports(status=None) == []


def test_the_note_is_capped_at_200_characters_and_loses_personal_data():
    assert len(clean_note("好" * MAX_NOTE)) == MAX_NOTE
    assert hide_personal("联系 138 1234 5678 或 0577-88888888，身份证 33030219900101123X") == (
        "联系 〔已隐去〕 或 〔已隐去〕，身份证 〔已隐去〕"
    )
    assert (
        hide_personal("rider@example.cn 说 2026-11-30 起停业，门牌 12 号")
        == "〔已隐去〕 说 2026-11-30 起停业，门牌 12 号"
    )
    assert clean_note("１３８１２３４５６７８") == "〔已隐去〕"  # full-width digits are digits


def test_reports_and_confirmations_never_move_the_data_version_or_rebuild_a_snapshot(app, roster, client):
    snapshot, version = roster.snapshot(), roster.store.data_version()
    for kind in ("closed", "moved", "wrong_location", "amenities", "other"):
        assert client.post(REPORTS, json={"kind": kind}).status_code == 201
    for _ in range(5):
        assert client.post(CONFIRM).status_code == 202
    assert app.extensions["confirmations"].flush() == 5
    assert roster.store.data_version() == version
    assert roster.snapshot() is snapshot
    assert (
        client.get(f"/api/v1/stations/{STATION}").headers["ETag"]
        == client.get(f"/api/v1/stations/{STATION}").headers["ETag"]
    )


# -- confirmations ------------------------------------------------------------------------------------


def test_confirmations_are_counted_in_memory_and_written_in_batches(app, client):
    log = app.extensions["confirmations"]
    for _ in range(3):
        resp = client.post(CONFIRM)
        assert resp.status_code == 202 and "这里可用" in resp.get_json()["message_zh"]
    assert client.post("/api/v1/stations/rs-330302-001/confirmations").status_code == 202
    assert log.pending() == 4
    assert _feedback(app).confirmations("2000-01-01", "2999-12-31") == []  # nothing written on the request path
    assert log.flush() == 4
    rows = _feedback(app).confirmations("2000-01-01", "2999-12-31")
    today = rows[0][0]
    assert sorted(rows) == [(today, "rs-330302-001", 1), (today, STATION, 3)]
    assert _feedback(app).last_confirmed() == {STATION: today, "rs-330302-001": today}
    assert client.post("/api/v1/stations/nope/confirmations").status_code == 404


def test_a_confirmation_holds_no_body_and_no_time_of_day(app, client):
    client.post(CONFIRM, json={"who": "me"})  # anything sent is ignored
    app.extensions["confirmations"].flush()
    path = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(station_confirmations)")]
    conn.close()
    assert columns == ["day", "station_id", "n"]


# -- rate limits --------------------------------------------------------------------------------------


def test_reports_have_their_own_limit_per_client(app_factory):
    client = app_factory(RATELIMIT_ENABLED="true", RATELIMIT_REPORTS="2/hour").test_client()
    a, b = {"REMOTE_ADDR": "10.0.0.1"}, {"REMOTE_ADDR": "10.0.0.2"}
    assert [client.post(REPORTS, json={"kind": "closed"}, environ_base=a).status_code for _ in range(3)] == [
        201,
        201,
        429,
    ]
    limited = client.post(REPORTS, json={"kind": "closed"}, environ_base=a)
    assert limited.mimetype == "application/problem+json" and int(limited.headers["Retry-After"]) >= 1
    assert client.post(REPORTS, json={"kind": "closed"}, environ_base=b).status_code == 201


def test_confirmations_are_limited_per_client_and_station(app_factory):
    client = app_factory(RATELIMIT_ENABLED="true", RATELIMIT_CONFIRMATIONS="1/hour").test_client()
    a = {"REMOTE_ADDR": "10.0.0.1"}
    assert client.post(CONFIRM, environ_base=a).status_code == 202
    assert client.post(CONFIRM, environ_base=a).status_code == 429
    assert client.post("/api/v1/stations/rs-330302-001/confirmations", environ_base=a).status_code == 202
    assert client.post(CONFIRM, environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 202


def test_bad_feedback_limits_stop_the_start(app_factory):
    from locator.config import ConfigError

    with pytest.raises(ConfigError, match="RATELIMIT_REPORTS"):
        app_factory(RATELIMIT_REPORTS="often")


# -- nothing identifying, in the database or the logs ---------------------------------------------------


def _database_bytes(app) -> bytes:
    """The SQLite file and its WAL, as they are on disk."""
    path = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_a_hundred_reports_leave_no_address_or_agent_in_the_database_or_the_logs(app_factory, caplog):
    app = app_factory(RATELIMIT_ENABLED="true", RATELIMIT_REPORTS="1000/hour", PROXY_COUNT="1")
    client = app.test_client()
    headers = {"User-Agent": RIDER_UA, "X-Forwarded-For": FORWARDED_IP, "Referer": "https://example.cn/ref-marker"}
    caplog.set_level(logging.DEBUG)
    for i in range(100):
        kind = ("closed", "moved", "wrong_location", "amenities", "other")[i % 5]
        resp = client.post(
            REPORTS, json={"kind": kind, "note": f"第{i}次"}, headers=headers, environ_base={"REMOTE_ADDR": RIDER_IP}
        )
        assert resp.status_code == 201
        assert client.post(CONFIRM, headers=headers, environ_base={"REMOTE_ADDR": RIDER_IP}).status_code in (202, 429)
    app.extensions["confirmations"].flush()
    assert len(_feedback(app).reports()) == 100
    stored = _database_bytes(app)
    for marker in (RIDER_IP, FORWARDED_IP, "UA-MARKER", "ref-marker", "MicroMessenger"):
        assert marker.encode() not in stored, marker
    path = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
    conn = sqlite3.connect(path)
    text = json.dumps(
        [conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("station_reports", "station_confirmations")]
    )
    conn.close()
    assert RIDER_IP not in text and FORWARDED_IP not in text and "UA-MARKER" not in text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for marker in (RIDER_IP, FORWARDED_IP, "UA-MARKER", "ref-marker"):
        assert marker not in logged, marker


def test_the_development_servers_access_lines_of_feedback_name_no_client(live_server, caplog):
    """werkzeug writes the client's address first on every access line; not on a report's or a confirmation's."""
    caplog.set_level(logging.INFO, logger="werkzeug")
    for path, body in ((REPORTS, b'{"kind": "moved"}'), (CONFIRM, b"")):
        req = urllib.request.Request(live_server.url + path, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status in (201, 202)
    urllib.request.urlopen(live_server.url + "/healthz", timeout=5).close()
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    feedback = [line for line in lines if "/reports" in line or "/confirmations" in line]
    assert len(feedback) == 2 and not any("127.0.0.1" in line for line in feedback), feedback
    assert any("127.0.0.1" in line for line in lines if "/healthz" in line)  # other lines keep it: the test can fail


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_gunicorns_access_log_of_feedback_names_no_client(tmp_path):
    """The production server, run for real: report and confirmation lines carry no address or user agent."""
    port = _free_port()
    env = {
        **os.environ,
        "LOCATOR_BIND": f"127.0.0.1:{port}",
        "LOCATOR_WORKERS": "1",
        "LOCATOR_THREADS": "2",
        "LOCATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}",
        "LOCATOR_RATELIMIT_ENABLED": "true",
        "LOCATOR_SECRET_KEY": "k" * 40,
    }
    log = tmp_path / "gunicorn.log"
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
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        pytest.fail("gunicorn did not start:\n" + log.read_text())
                    time.sleep(0.2)
            base = f"http://127.0.0.1:{port}"
            for path, body in ((REPORTS, b'{"kind": "closed", "note": "test"}'), (CONFIRM, b"")):
                req = urllib.request.Request(
                    base + path, data=body, headers={"Content-Type": "application/json", "User-Agent": RIDER_UA}
                )
                with urllib.request.urlopen(req, timeout=5) as resp:
                    assert resp.status in (201, 202)
        finally:
            proc.terminate()
            proc.wait(10)
    lines = log.read_text().splitlines()
    feedback = [line for line in lines if "/reports" in line or "/confirmations" in line]
    assert len(feedback) == 2, lines
    assert not any("127.0.0.1" in line or "UA-MARKER" in line for line in feedback), feedback
    assert any("127.0.0.1" in line for line in lines if "/readyz" in line)
