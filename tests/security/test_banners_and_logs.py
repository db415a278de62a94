"""No version banners; coordinates cut in every access log, however the client spelled them."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from locator.privacy import coarsen

ROOT = Path(__file__).resolve().parents[2]
PRECISE = re.compile(r"\d\.\d{3,}|\d{5,}")  # 3+ decimals, or a long run of digits (280123450e-7)

HOSTILE = [
    "lat=280123450e-7&lng=1206543210e-7",
    "lat=28.012345&lng=120.654321",
    "%6Cat=28.012345&%6c%6e%67=120.654321",
    "lat=28%2E012345&lng=120%2e654321",
    "lat=%2B28.012345&lng=+120.654321",
    "lat=%EF%BC%92%EF%BC%98.012345&lng=120.654321",  # full-width digits
    "LAT=28.012345&Lng=120.654321",
    "lat=28,012345&lng=120,654321",
    "lat=2.8012345E1&lng=1.20654321e%2B2",
    "lat=28.012345abc&lng=0x78.a7",
    "center=28.012345%2C120.654321",
    "bbox=120.612345,27.912345,120.712345,28.012345",
    "lat=28.012345;lng=120.654321",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_coarsen_cuts_every_spelling(query):
    line = f'127.0.0.1 - - "GET /api/v1/stations/nearest?{query} HTTP/1.1" 400 -'
    assert not PRECISE.search(coarsen(line)), coarsen(line)


def test_coarsen_leaves_other_parameters_alone():
    line = "GET /api/v1/stations?district=330304&limit=100&cursor=abc123&k=5&radius_m=1500.5"
    assert coarsen(line) == line
    assert coarsen("GET /?lat=28.01&lng=120.65") == "GET /?lat=28.01&lng=120.65"


@pytest.mark.parametrize("query", HOSTILE)
def test_development_server_access_log_is_coarse(live_server, caplog, query):
    """The werkzeug access line of `make run` (a real socket request), whatever the spelling."""
    caplog.set_level(logging.INFO)
    try:
        urllib.request.urlopen(f"{live_server.url}/api/v1/stations/nearest?{query}", timeout=10).close()
    except urllib.error.HTTPError:
        pass  # many spellings are refused with 400: the log line still must not hold them
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(r.name == "werkzeug" for r in caplog.records):
        time.sleep(0.05)
    access = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert access
    for line in access:
        assert not PRECISE.search(line.split("HTTP/")[0]), line


def test_development_server_names_no_versions(live_server):
    with urllib.request.urlopen(live_server.url + "/healthz", timeout=10) as resp:
        server = resp.headers["Server"]
    assert "/" not in server and "Python" not in server and not re.search(r"\d", server), server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_gunicorn_names_no_version_and_answers_its_own_errors_as_problem_json(tmp_path):
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
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                        server = resp.headers["Server"]
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        pytest.fail("gunicorn did not start:\n" + log.read_text())
                    time.sleep(0.2)
            assert not re.search(r"\d", server), server
            long_path = "/api/v1/stations/nearest?lat=28.012345&lng=120.654321&pad=" + "x" * 5000
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(f"GET {long_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                raw = b""
                while chunk := sock.recv(65536):
                    raw += chunk
        finally:
            proc.terminate()
            proc.wait(10)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414 ")
    assert b"Content-Type: application/problem+json" in head
    problem = json.loads(body)
    assert problem["status"] == 414 and problem["title"] == "URI Too Long" and problem["detail_zh"] == "请求地址过长"
    text = log.read_text()
    assert "28.0123" not in text and "120.6543" not in text
