"""Riders' coordinates never reach a log line beyond two decimals (PIPL: 行踪轨迹)."""

from __future__ import annotations

import logging
import re
import time
import urllib.request

import pytest

pytestmark = pytest.mark.read_only

LAT, LNG = "28.012345", "120.654321"
PRECISE = re.compile(r"28\.01[0-9]*[1-9]|28\.012|120\.654|120\.65[0-9]*[1-9]")
PATH = f"/api/v1/stations/nearest?lat={LAT}&lng={LNG}&k=3&radius_m=5000"


def _assert_coarse(lines: list[str]) -> None:
    for line in lines:
        assert not PRECISE.search(line), f"log line holds a precise coordinate: {line!r}"


def test_nearest_logs_hold_no_precise_coordinates(app, caplog):
    """Our own log records (debug level included) and error records coarsen query coordinates."""
    caplog.set_level(logging.DEBUG)
    app.logger.setLevel(logging.DEBUG)
    logging.getLogger("locator").setLevel(logging.DEBUG)
    client = app.test_client()
    assert client.get(PATH).status_code == 200
    assert client.get(PATH + "&k=999").status_code == 400
    app.logger.info("request %s", PATH)  # what an access-log style line would carry
    lines = [r.getMessage() for r in caplog.records]
    assert any("nearest near" in line for line in lines)
    assert any("28.01" in line for line in lines)  # coarse coordinates may appear
    _assert_coarse(lines)
    _assert_coarse(caplog.text.splitlines())


def test_werkzeug_request_log_of_a_live_request_is_coarse(live_server, caplog):
    """werkzeug's access line for a real socket request shows the coordinates cut to 2 decimals."""
    caplog.set_level(logging.INFO)
    with urllib.request.urlopen(live_server.url + PATH, timeout=10) as resp:
        assert resp.status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("/api/v1/stations/nearest" in r.getMessage() for r in caplog.records):
        time.sleep(0.05)
    access = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("lat=28.01&lng=120.65" in line for line in access), access
    _assert_coarse([r.getMessage() for r in caplog.records])
    _assert_coarse(caplog.text.splitlines())


def test_an_access_record_keeps_only_the_fields_its_format_prints_coarse(app, caplog):
    """Granian's access record carries the query string whatever the format prints (locator.serve's never
    prints it): a named argument the message does not use is dropped, the ones it uses are coarsened."""
    from locator.serve import ACCESS_LOG_FORMAT

    caplog.set_level(logging.INFO)
    atoms = {
        "addr": "127.0.0.1",
        "method": "GET",
        "path": "/api/v1/stations/nearest",
        "query_string": f"lat={LAT}&lng={LNG}&k=5",
        "protocol": "HTTP/1.1",
        "status": 200,
        "dt_ms": 0.4,
    }
    logging.getLogger("granian.access").info(ACCESS_LOG_FORMAT, atoms)
    logging.getLogger("granian.access").info("%(path)s?%(query_string)s", atoms)  # a format that prints it
    logging.getLogger("locator.test").info("%s", {"q": f"lat={LAT}"})  # one dict printed whole: kept, coarse
    plain, printed, whole = caplog.records[-3:]
    assert "query_string" not in plain.args and plain.getMessage() == (
        '127.0.0.1 "GET /api/v1/stations/nearest HTTP/1.1" 200 0.4ms'
    )
    assert printed.getMessage() == "/api/v1/stations/nearest?lat=28.01&lng=120.65&k=5"
    assert whole.getMessage() == "{'q': 'lat=28.01'}"
    _assert_coarse([repr(r.__dict__) for r in (plain, printed, whole)])
