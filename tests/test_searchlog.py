"""The search log: counts per H3 cell and day only, written in the background, suppressed below 5, kept 180 days."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import h3
import numpy as np
import pytest

from locator.demand import search_demand
from locator.searchlog import KEEP_DAYS, MIN_SEARCHES, SearchLog, day_number, day_text, period, today_text
from locator.store.demand import DemandStore

ROOT = Path(__file__).resolve().parent.parent


def _random_points(n: int, seed: int = 1) -> list[tuple[float, float]]:
    """Points with exactly six decimals, the last one never 0 (so no shorter text stands for them)."""
    rng = np.random.default_rng(seed)

    def micro(lo: float, hi: float) -> np.ndarray:
        whole = rng.integers(int(lo * 1e5), int(hi * 1e5), n) * 10 + rng.integers(1, 10, n)
        return whole / 1e6

    return list(zip(micro(120.55, 120.85).tolist(), micro(27.90, 28.10).tolist(), strict=True))


def test_counts_go_to_cells_and_days_and_add_up_across_processes(store):
    demand = DemandStore(store)
    first, second = SearchLog(demand.add_search_counts), SearchLog(demand.add_search_counts)
    for _ in range(3):
        first.add(120.70, 28.00)
    second.add(120.70, 28.00)
    second.add(120.80, 28.05)
    assert first.pending() == 3 and first.flush() == 3 and first.pending() == 0
    assert second.flush() == 2 and second.flush() == 0
    today = today_text()
    cell_a = h3.api.basic_int.latlng_to_cell(28.00, 120.70, 8)
    cell_b = h3.api.basic_int.latlng_to_cell(28.05, 120.80, 8)
    assert demand.search_counts(today, today) == {cell_a: 4, cell_b: 1}
    first.close()
    second.close()


def test_a_failed_write_keeps_the_counts_for_the_next_flush(caplog):
    written = []
    fail = [True]

    def write(rows):
        if fail[0]:
            raise OSError("database is locked")
        written.extend(rows)

    log = SearchLog(write)
    log.add(120.7, 28.0)
    log.add(120.7, 28.0)
    with caplog.at_level(logging.WARNING, logger="locator.searchlog"):
        assert log.flush() == 0
    assert "will retry" in caplog.text and log.pending() == 2
    fail[0] = False
    assert log.flush() == 2 and written[0][2] == 2


def test_old_days_are_deleted_once_a_day(store):
    demand = DemandStore(store)
    today = day_number()
    demand.add_search_counts(
        [(day_text(today - KEEP_DAYS), 1, 9), (day_text(today - KEEP_DAYS + 1), 1, 3), (day_text(today), 2, 1)]
    )
    log = SearchLog(demand.add_search_counts, prune=demand.prune_search_counts)
    assert log.flush() == 0 and len(demand.search_days()) == 3  # nothing written, nothing pruned
    log.add(120.7, 28.0)
    assert log.flush() == 1
    assert demand.search_days() == [(day_text(today - KEEP_DAYS + 1), 3), (day_text(today), 2)]


def test_cells_with_fewer_than_five_searches_are_never_shown(store):
    demand = DemandStore(store)
    first, last = period(30)
    a, b, c = (h3.api.basic_int.latlng_to_cell(28.0, 120.6 + i / 50, 8) for i in range(3))
    rows = [(last, a, MIN_SEARCHES - 1), (last, b, 2), (first, b, MIN_SEARCHES - 2), (last, c, 7)]
    # Outside the period: counts from 31 days ago never reach a view of the last 30.
    rows.append((period(31)[0], a, 50))
    demand.add_search_counts(rows)
    shown = search_demand(demand, days=30)
    cells = dict(zip(shown.cell.tolist(), shown.weight.tolist(), strict=True))
    assert cells == {b: 5.0, c: 7.0}
    assert shown.info["min_searches"] == 5 and shown.info["period"] == [first, last]
    assert search_demand(demand, days=1).cell.tolist() == [c]
    lat, lng = h3.api.basic_int.cell_to_latlng(c)
    assert (shown.lng[shown.cell == c][0], shown.lat[shown.cell == c][0]) == pytest.approx((lng, lat))


def test_nearest_requests_are_counted_after_validation_only(app_factory):
    app = app_factory()
    client = app.test_client()
    for lng, lat in _random_points(20):
        assert client.get(f"/api/v1/stations/nearest?lat={lat}&lng={lng}&k=3").status_code == 200
    assert client.get("/api/v1/stations/nearest?lat=95&lng=120.7").status_code == 400
    assert client.get("/api/v1/stations/nearest?lat=28.0&lng=120.7&ammenity=x").status_code == 400
    search_log = app.extensions["search_log"]
    assert search_log.pending() == 20
    assert search_log.flush() == 20
    assert sum(n for _, n in app.extensions["demand"].search_days()) == 20


def test_the_log_can_be_switched_off(app_factory):
    app = app_factory(DEMAND_LOG="false")
    assert "search_log" not in app.extensions
    client = app.test_client()
    assert client.get("/api/v1/stations/nearest?lat=28.0&lng=120.7").status_code == 200
    assert app.extensions["demand"].search_days() == []


def _coordinate_texts(points):
    """Every way a query coordinate could be written at more than two decimals."""
    out = set()
    for lng, lat in points:
        for v in (lng, lat):
            out.update({f"{v:.3f}", f"{v:.4f}", f"{v:.6f}", repr(v)})
    return out


def test_no_raw_coordinate_in_the_database_or_logs_after_1000_searches(app_factory, tmp_path, caplog):
    """1,000 searches at 6-decimal points: the SQLite file holds only cells, counts and days."""
    app = app_factory()
    client = app.test_client()
    # The file also holds the roster: query values that equal a station's coordinate are left out.
    snap = app.extensions["roster"].snapshot()
    taken = {round(v, 6) for v in [*snap.lng.tolist(), *snap.lat.tolist()]}
    points = [p for p in _random_points(1100, seed=9) if p[0] not in taken and p[1] not in taken][:1000]
    assert len(points) == 1000
    with caplog.at_level(logging.DEBUG):
        for lng, lat in points:
            assert client.get(f"/api/v1/stations/nearest?lat={lat}&lng={lng}&k=5").status_code == 200
        assert app.extensions["search_log"].flush() == 1000
    db = tmp_path / "locator.sqlite3"
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT day, cell, n FROM search_counts").fetchall()
    assert sum(n for _, _, n in rows) == 1000
    assert all(isinstance(c, int) and h3.api.basic_int.is_valid_cell(c) for _, c, _ in rows)
    assert all(h3.api.basic_int.get_resolution(c) == 8 for _, c, _ in rows)
    assert {d for d, _, _ in rows} == {today_text()}
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    # Nothing else grew: no table holds requests, and the bytes of the file (and its WAL) hold no query point,
    # neither as text nor as the 8-byte doubles SQLite stores REALs as.
    assert "search_counts" in tables and not any("request" in t or "query" in t for t in tables)
    # (Shorter forms such as 3 decimals are checked in the logs only: the file also holds the sample
    # roster's own coordinates, as text in its audit records, where 3-decimal prefixes collide by chance.)
    data = b"".join(p.read_bytes() for p in tmp_path.glob("locator.sqlite3*"))
    for lng, lat in points:
        for v in (lng, lat):
            assert struct.pack(">d", v) not in data and struct.pack("<d", v) not in data
            assert f"{v:.6f}".encode() not in data and repr(v).encode() not in data
    texts = _coordinate_texts(points)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged, "the nearest view logs (coarsely) at debug level"
    for text in texts:
        assert text not in logged
    assert not re.search(r"\d+\.\d{3,}", logged.replace("0.0", ""))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_gunicorn_workers_write_their_counts_when_stopped(tmp_path):
    """Two gunicorn workers count searches; SIGTERM: each writes what it holds before exiting."""
    db = tmp_path / "g.sqlite3"
    port = _free_port()
    env = {
        **os.environ,
        "LOCATOR_DATABASE_URL": f"sqlite:///{db}",
        "LOCATOR_SECRET_KEY": "test",
        "LOCATOR_RATELIMIT_ENABLED": "false",
        "LOCATOR_LOG_LEVEL": "warning",
    }
    cmd = [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "locator:create_app()"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        for lng, lat in _random_points(40, seed=3):
            url = f"http://127.0.0.1:{port}/api/v1/stations/nearest?lat={lat}&lng={lng}"
            assert urllib.request.urlopen(url, timeout=10).status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    conn = sqlite3.connect(db)
    total = conn.execute("SELECT coalesce(sum(n), 0) FROM search_counts").fetchone()[0]
    conn.close()
    assert total == 40, err.decode()[-2000:]
