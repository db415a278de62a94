"""Production serving: gunicorn's configuration, run for real, and its access log's privacy."""

from __future__ import annotations

import json
import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "gunicorn.conf.py"


def test_gunicorn_settings_come_from_the_environment(monkeypatch, tmp_path):
    # The config sets PROMETHEUS_MULTIPROC_DIR when it runs: keep that out of this test process.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    monkeypatch.setenv("LOCATOR_BIND", "0.0.0.0:9000")
    monkeypatch.setenv("LOCATOR_WORKERS", "3")
    monkeypatch.setenv("LOCATOR_THREADS", "8")
    conf = runpy.run_path(str(CONF))
    assert conf["bind"] == ["0.0.0.0:9000"]
    assert (conf["workers"], conf["threads"]) == (3, 8)
    assert conf["preload_app"] is False
    assert "%(U)s" in conf["access_log_format"]
    assert not any(atom in conf["access_log_format"] for atom in ("%(r)s", "%(q)s", "%(f)s"))
    assert callable(conf["child_exit"]) and callable(conf["on_exit"])  # multi-process metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_gunicorn_serves_and_logs_no_query_string(tmp_path, log_format):
    port = _free_port()
    env = {
        **os.environ,
        "LOCATOR_BIND": f"127.0.0.1:{port}",
        "LOCATOR_WORKERS": "1",
        "LOCATOR_THREADS": "2",
        "LOCATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}",
        "LOCATOR_LOG_FORMAT": log_format,
        "LOCATOR_RATELIMIT_ENABLED": "false",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(CONF)], cwd=ROOT, env=env, stdout=out, stderr=out
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                        assert json.load(resp)["status"] == "ready"
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        pytest.fail("gunicorn did not start:\n" + log.read_text())
                    time.sleep(0.2)
            url = f"http://127.0.0.1:{port}/api/v1/stations/nearest?lat=28.012345&lng=120.654321"
            with urllib.request.urlopen(url, timeout=5) as resp:
                assert resp.status == 200
                assert json.load(resp)["count"] == 5
        finally:
            proc.terminate()
            proc.wait(10)
    text = log.read_text()
    assert "/api/v1/stations/nearest" in text
    assert "28.0123" not in text and "120.6543" not in text
    if log_format == "json":
        access = [json.loads(line) for line in text.splitlines() if "/api/v1/stations/nearest" in line]
        assert access and all(r["logger"] == "gunicorn.access" for r in access)


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_documented_server_serves_and_logs_no_query_string(tmp_path, log_format):
    """`python -m locator.serve` (Granian): answers, logs the path without the rider's position, cleans up."""
    port = _free_port()
    metrics = tmp_path / "metrics"
    env = {
        **os.environ,
        "LOCATOR_BIND": f"127.0.0.1:{port}",
        "LOCATOR_WORKERS": "2",
        "LOCATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}",
        "LOCATOR_LOG_FORMAT": log_format,
        "LOCATOR_RATELIMIT_ENABLED": "false",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "locator.serve"], cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                        assert json.load(resp)["status"] == "ready"
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        pytest.fail("locator.serve did not start:\n" + log.read_text())
                    time.sleep(0.2)
            for query in ("lat=28.012345&lng=120.654321", "lat=28.012345&lng=120.654321&type=rider_station"):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/stations/nearest?{query}", timeout=5) as r:
                    assert r.status == 200 and r.headers["Cache-Control"] == "private, no-store"
                    assert json.load(r)["count"] == 5

            def counted() -> bool:  # another worker's counts reach the files within a second
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                    return 'endpoint="/api/v1/stations/nearest"' in resp.read().decode()

            deadline = time.monotonic() + 5
            while not counted():
                assert time.monotonic() < deadline, "the nearest requests were never counted"
                time.sleep(0.2)
            assert list(metrics.glob("*.db"))  # every worker's metrics in the folder the server was given
            # Stop only once both workers run: Granian kills a worker that is told to stop while still
            # starting only after its 30 s timeout (the test would then time out on the wait below).
            deadline = time.monotonic() + 30
            while not all(f"Started worker-{n}" in log.read_text() for n in (1, 2)):
                assert time.monotonic() < deadline, "a worker never started"
                time.sleep(0.2)
        finally:
            proc.terminate()
            proc.wait(30)
    text = log.read_text()
    assert "/api/v1/stations/nearest" in text
    assert "28.0123" not in text and "120.6543" not in text
    if log_format == "json":
        access = [json.loads(line) for line in text.splitlines() if "/api/v1/stations/nearest" in line]
        assert access and all(r["logger"] == "granian.access" for r in access)
