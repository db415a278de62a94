"""Prometheus metrics at /metrics (prometheus_client): requests, the snapshot, stale mode, database and Redis.

Requests are counted and timed per endpoint, labelled with the URL rule (`/api/v1/stations/<station_id>`),
never the path or the query: no station id, no rider's position. A request only appends to a queue;
a thread per process adds the counts to the Prometheus values once a second (see _Pending). The
snapshot (built when, how long it took, how many stations, which data version), stale mode
(answers from a snapshot the database could not confirm) and the database's reachability are set
by the roster and the store when they change, not per request. The database and Redis are also
asked once per scrape by the process that answers it.

Under gunicorn, gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh folder before any worker
imports this module: every worker writes its values there, /metrics (answered by any one worker) adds
them up, and gunicorn's child_exit hook drops a dead worker's gauges. Without it (the development
server, tests) the numbers are the one process's.

Who may read it: a request with `Authorization: Bearer <LOCATOR_METRICS_TOKEN>` (when that is set), or a
direct request from this host (loopback peer, no X-Forwarded-For or Forwarded header, so nothing relayed
by nginx). Everyone else gets 403. deploy/nginx.conf also refuses /metrics outright.
"""

from __future__ import annotations

import atexit
import bisect
import glob
import hmac
import ipaddress
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Blueprint, Flask, current_app, request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from locator.context import current_roster
from locator.web.problems import Problem

bp = Blueprint("metrics", __name__)
disable_created_metrics()  # no *_created series: half the lines, nothing an alert needs

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_UNMATCHED = "(unmatched)"  # 404s and 405s: no URL rule, and the raw path must not become a label

REQUESTS = Counter(
    "locator_http_requests",
    "HTTP requests answered, by endpoint (the URL rule), method and status.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "locator_http_request_duration_seconds",
    "Time the app spent on a request (until its answer starts), by endpoint (the URL rule).",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SNAPSHOT_BUILT = Gauge(
    "locator_snapshot_built_timestamp_seconds",
    "When the nearest snapshot in use was built (Unix time; the oldest over live workers).",
    multiprocess_mode="livemin",
)
SNAPSHOT_BUILD = Histogram(
    "locator_snapshot_build_seconds",
    "Time to read the roster from the store and build a nearest snapshot.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
SNAPSHOT_STATIONS = Gauge(
    "locator_snapshot_stations",
    "Stations in the nearest snapshot in use (largest over live workers).",
    multiprocess_mode="livemax",
)
DATA_VERSION = Gauge(
    "locator_data_version",
    "Data version of the snapshot in use, per worker (epoch * 1e9 + writes).",
    multiprocess_mode="liveall",
)
STALE = Gauge(
    "locator_stale_snapshot",
    "1 while a worker answers from a snapshot it cannot confirm because the database is unreachable.",
    multiprocess_mode="livemax",
)
DB_REACHABLE = Gauge(
    "locator_database_reachable",
    "0 while a worker finds the database unreachable (smallest over live workers).",
    multiprocess_mode="livemin",
)


BUCKETS = LATENCY._upper_bounds  # the histogram's bounds, +Inf last
FLUSH_EVERY_S = 1.0


class _Pending:
    """Requests noted in a queue per process, added to the Prometheus values about once a second.

    A multi-process counter or histogram update costs microseconds (a lock, a pid check, a write to
    a memory-mapped file): done per request it was about 15 µs of a nearest request. Here a request
    appends one tuple to a deque (atomic, no lock: ~9,000 fewer instructions a request than a dict
    update under a lock with its bucket found by bisection); a thread of this process (started on
    first use, so after gunicorn's fork) and every scrape in this process sum the queue into the files.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.lock = threading.Lock()  # one flush at a time (the thread, a scrape, exit)
        self.queue: deque[tuple[str | None, str, int, float]] = deque()
        self.thread: threading.Thread | None = None

    def add(self, rule: str | None, method: str, status: int, seconds: float) -> None:
        """Count one request by URL rule (None: no rule matched), called by web/http.py's Edge and web/hot_path.py."""
        self.queue.append((rule, method, status, seconds))
        if self.thread is None:
            self._start()

    def _start(self) -> None:
        with self.lock:
            if self.thread is not None:
                return
            self.thread = threading.Thread(target=self._run, name="metrics-flush", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_EVERY_S)
            self.flush()

    def flush(self) -> None:
        """Add what was counted since the last flush to the Prometheus values (the files, under gunicorn)."""
        with self.lock:
            counts: dict[tuple[str, str, int], int] = {}
            times: dict[str, list[float]] = {}  # rule -> [count per bucket..., sum of seconds]
            queue = self.queue
            # popleft() takes what is there, and what request threads append meanwhile waits for the
            # next flush: len() bounds the loop, so a busy server cannot keep it going.
            for _ in range(len(queue)):
                rule, method, status, seconds = queue.popleft()
                if rule is None:
                    rule = _UNMATCHED
                key = (rule, method if method in _METHODS else "other", status)
                counts[key] = counts.get(key, 0) + 1
                row = times.get(rule)
                if row is None:
                    row = times[rule] = [0.0] * (len(BUCKETS) + 1)
                row[bisect.bisect_left(BUCKETS, seconds)] += 1
                row[-1] += seconds
            for (rule, method, status), n in counts.items():
                REQUESTS.labels(rule, method, str(status)).inc(n)
            for rule, row in times.items():
                child = LATENCY.labels(rule)
                # prometheus_client has no bulk observe(): its bucket and sum values take the sums
                # (non-cumulative buckets, as observe() keeps them; tests/test_metrics.py checks them).
                for i, n in enumerate(row[:-1]):
                    if n:
                        child._buckets[i].inc(n)
                child._sum.inc(row[-1])


_pending = _Pending()
os.register_at_fork(after_in_child=_pending._reset)  # the parent's counts are the parent's to write
atexit.register(_pending.flush)


def _set_snapshot(snapshot, seconds: float) -> None:
    SNAPSHOT_BUILT.set(time.time())
    SNAPSHOT_BUILD.observe(seconds)
    SNAPSHOT_STATIONS.set(len(snapshot))
    DATA_VERSION.set(snapshot.version)


def _set_stale(stale: bool) -> None:
    STALE.set(1 if stale else 0)


def _set_reachable(up: bool) -> None:
    DB_REACHABLE.set(1 if up else 0)


def forget_dead_workers(folder: str) -> list[int]:
    """Drop the live gauges of worker processes that are gone; the pids dropped.

    gunicorn tells its master when a worker dies (gunicorn.conf.py's child_exit); Granian restarts a
    dead worker without a hook, so each worker sweeps the folder when it starts: a crashed worker's
    stale-snapshot or database gauges must not outlive it.
    """
    gone = []
    for path in glob.glob(os.path.join(folder, "gauge_live*_*.db")):
        try:
            pid = int(os.path.basename(path).rsplit("_", 1)[1].removesuffix(".db"))
            os.kill(pid, 0)
        except ValueError:
            continue
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, folder)
            gone.append(pid)
        except PermissionError:
            continue  # alive, someone else's
    return gone


def init_app(app: Flask) -> None:
    """Serve /metrics, count and time every request, observe the roster and the store."""
    app.register_blueprint(bp)
    if MULTIPROCESS:
        forget_dead_workers(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    # Called per request by web/http.py's Edge (every answer Flask writes) and web/hot_path.py (its own).
    app.extensions["metrics_count"] = _pending.add
    roster = app.extensions["roster"]
    roster.snapshots.on_build = _set_snapshot
    roster.snapshots.on_stale = _set_stale
    if hasattr(roster.store, "on_availability"):
        roster.store.on_availability = _set_reachable
    DB_REACHABLE.set(1)
    STALE.set(0)


def _peer_is_this_host() -> bool:
    """A direct request from loopback: the socket's peer (before ProxyFix) and no proxy header."""
    environ = request.environ
    peer = (environ.get("werkzeug.proxy_fix.orig") or {}).get("REMOTE_ADDR") or environ.get("REMOTE_ADDR") or ""
    if any(h in request.headers for h in ("X-Forwarded-For", "Forwarded", "X-Real-IP")):
        return False
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


def may_read() -> bool:
    """True if this request may read the metrics (token, or a direct request from this host)."""
    token = current_app.config.get("METRICS_TOKEN") or ""
    given = request.headers.get("Authorization", "")
    if token and given[:7].lower() == "bearer ":
        return hmac.compare_digest(given[7:].strip().encode(), token.encode())
    return _peer_is_this_host()


class _NowCollector:
    """What the answering process asks at scrape time: the database and Redis, now."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("locator_database_up", "1 if the database answered a ping during this scrape.")
        try:
            current_roster().store.ping()
            up.add_metric([], 1)
        except Exception:  # noqa: BLE001 - any failure is "down"
            up.add_metric([], 0)
        yield up
        client = _redis_client(self.app)
        if client is not None:
            redis_up = GaugeMetricFamily(
                "locator_redis_up", "1 if Redis (shared rate-limit counters) answered a ping during this scrape."
            )
            try:
                redis_up.add_metric([], 1 if client.ping() else 0)
            except Exception:  # noqa: BLE001
                redis_up.add_metric([], 0)
            yield redis_up


def _redis_client(app: Flask):
    uri = str(app.config.get("RATELIMIT_STORAGE_URI") or "")
    if not uri.startswith(("redis://", "rediss://")):
        return None
    client = app.extensions.get("metrics_redis")
    if client is None:
        import redis

        # Short timeouts: a scrape must not hang on an unreachable Redis.
        client = redis.Redis.from_url(uri, socket_timeout=1, socket_connect_timeout=1)
        app.extensions["metrics_redis"] = client
    return client


class _Scrape:
    """The metrics of one scrape: every worker's (multi-process) or this process's, then the live checks."""

    def __init__(self, sources: Iterable[Any]):
        self.sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            for metric in source.collect():
                yield metric
                if metric.name == "locator_snapshot_built_timestamp_seconds":
                    built = [s.value for s in metric.samples if s.value > 0]
                    if built:
                        age = GaugeMetricFamily(
                            "locator_snapshot_age_seconds", "Age of the oldest nearest snapshot in use (seconds)."
                        )
                        age.add_metric([], max(0.0, time.time() - min(built)))
                        yield age


@bp.get("/metrics")
def metrics():
    """Prometheus metrics (text exposition format), for scrapers allowed by may_read()."""
    if not may_read():
        raise Problem(
            403,
            "Forbidden",
            "metrics are for this host's scraper, or a scraper sending Authorization: Bearer <LOCATOR_METRICS_TOKEN>",
            detail_zh="监控指标仅供本机或持有令牌的监控系统读取。",
        )
    _pending.flush()  # this worker's own counts are exact; the others' lag by at most FLUSH_EVERY_S
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        sources: list[Any] = [registry]
    else:
        sources = [REGISTRY]
    body = generate_latest(_Scrape([*sources, _NowCollector(current_app._get_current_object())]))
    resp = current_app.response_class(body, mimetype=None)
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    resp.headers["Cache-Control"] = "no-store"
    return resp
