"""Cross-instance visibility: how long after a write commits does another app server answer with it? (issue 18)

One app server (gunicorn -c gunicorn.conf.py, 1 worker, 4 threads) over a PostGIS schema of its own
is polled as fast as one client can (GET /api/v1/stations/<id> on a kept-alive connection) while this
script, standing for a second app server, makes 100 writes through the same store code
(PostGISStore.update: one transaction, NOTIFY at commit), 50-150 ms apart. Latency = time from the
write's commit to the first answer carrying it. Modes, one server each, in one run:

  notify     LOCATOR_VERSION_LISTEN=true  (the default): a LISTEN thread; no query per request
  poll-0     LOCATOR_VERSION_LISTEN=false, LOCATOR_VERSION_CHECK_INTERVAL_MS=0: one version query per request
  poll-500   LOCATOR_VERSION_LISTEN=false, LOCATOR_VERSION_CHECK_INTERVAL_MS=500

It also reports the database work per request: reads of the `meta` table (where the data version
lives) from pg_stat_user_tables, minus what the writes themselves read (calibrated first, without a
server), halved (the version query reads `meta` twice), divided by the requests the server answered.

    LOCATOR_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:55433/locator_test \\
        .venv/bin/python bench/visibility.py [--writes 100]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_nearest import free_port  # noqa: E402

MODES = {
    "notify": {"LOCATOR_VERSION_LISTEN": "true"},
    "poll-0": {"LOCATOR_VERSION_LISTEN": "false", "LOCATOR_VERSION_CHECK_INTERVAL_MS": "0"},
    "poll-500": {"LOCATOR_VERSION_LISTEN": "false", "LOCATOR_VERSION_CHECK_INTERVAL_MS": "500"},
}
STATS_FLUSH_S = 11.5  # PostgreSQL 15 backends publish table statistics within 10 s of going idle


def meta_reads(url: str, schema: str) -> int:
    """seq_scan + idx_scan of schema.meta so far (as published by the backends)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
            "WHERE schemaname = %s AND relname = 'meta'",
            (schema,),
        ).fetchone()
    return int(row[0]) if row else 0


def seeded_store(url: str, schema: str):
    """A store in a new schema holding the sample roster (no listener: this process only writes)."""
    from locator.roster import Roster
    from locator.store.postgis import PostGISStore

    store = PostGISStore(url, schema=schema, listen=False)
    store.init_schema()
    Roster.open(store).seed_sample()
    return store


def start_server(url: str, schema: str, mode_env: dict[str, str], tmp: Path) -> tuple[subprocess.Popen, int]:
    """gunicorn -c gunicorn.conf.py with one worker over the schema; (process, port) once it answers."""
    port = free_port()
    env = {
        **os.environ,
        "LOCATOR_DATABASE_URL": url,
        "LOCATOR_DATABASE_SCHEMA": schema,
        "LOCATOR_SECRET_KEY": "bench-visibility",
        "LOCATOR_SEED_SAMPLE": "false",
        "LOCATOR_RATELIMIT_ENABLED": "false",
        "LOCATOR_LOG_LEVEL": "warning",
        "LOCATOR_BIND": f"127.0.0.1:{port}",
        "LOCATOR_WORKERS": "1",
        "LOCATOR_THREADS": "4",
        "LOCATOR_INSTANCE_PATH": str(tmp / f"instance-{schema}"),
        **mode_env,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp / f"{schema}.log").open("wb")
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start: " + (tmp / f"{schema}.log").read_text()[-2000:])


class Poller(threading.Thread):
    """Asks one station's name over and over; records (monotonic time the answer arrived, name)."""

    def __init__(self, port: int, station_id: str):
        super().__init__(daemon=True)
        self.port, self.station_id = port, station_id
        self.seen: list[tuple[float, str]] = []
        self.requests = 0
        self.stop = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.is_set():
            conn.request("GET", f"/api/v1/stations/{self.station_id}")
            resp = conn.getresponse()
            name = json.loads(resp.read())["name"]
            self.requests += 1
            self.seen.append((time.monotonic(), name))


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def write_names(store, station, writes: int, rng: random.Random, tag: str) -> list[tuple[float, str]]:
    """`writes` renames of `station`, 50-150 ms apart; (monotonic commit time, name) of each."""
    done = []
    current = station
    for n in range(writes):
        time.sleep(rng.uniform(0.05, 0.15))
        name = f"可见性 {tag} {n}"
        current = store.update(
            replace(current, name=name), expected_version=current.version, actor="bench", via="bench"
        )
        done.append((time.monotonic(), name))
    return done


def run_mode(url: str, mode: str, writes: int, tmp: Path, per_write_reads: float) -> dict:
    """One server in `mode`, polled while this process writes; latencies and database reads per request."""
    schema = f"bench_vis_{uuid.uuid4().hex[:10]}"
    store = seeded_store(url, schema)
    try:
        station = store.list()[0]
        proc, port = start_server(url, schema, MODES[mode], tmp)
        try:
            poller = Poller(port, station.id)
            poller.start()
            time.sleep(1.0)  # the listener connects, the snapshot is built
            time.sleep(STATS_FLUSH_S)
            reads0, requests0 = meta_reads(url, schema), poller.requests
            commits = write_names(store, station, writes, random.Random(1), mode)
            time.sleep(1.0)
            poller.stop.set()
            poller.join(10)
            requests = poller.requests - requests0
            time.sleep(STATS_FLUSH_S)
            reads = meta_reads(url, schema) - reads0
        finally:
            proc.terminate()
            proc.wait(30)
        order = {name: n for n, (_, name) in enumerate(commits)}
        latencies = []
        for n, (committed, _) in enumerate(commits):
            # The first answer that carries this write or a later one (a write overtaken by the next
            # before anyone saw it is visible when its successor is).
            first = next((t for t, seen in poller.seen if t >= committed and order.get(seen, -1) >= n), None)
            latencies.append((first - committed) * 1000 if first is not None else float("nan"))
        # VERSION_SQL reads meta twice (epoch, counter): two reads are one version query.
        server_queries = max(0.0, reads - per_write_reads * writes) / 2
        return {
            "mode": mode,
            "writes": writes,
            "p50_ms": statistics.median(latencies),
            "p99_ms": percentile(latencies, 99),
            "max_ms": max(latencies),
            "requests": requests,
            "version_queries_per_request": server_queries / requests if requests else float("nan"),
        }
    finally:
        store.drop_schema()
        store.close()


def calibrate(url: str, writes: int = 20) -> float:
    """Reads of `meta` that one write itself makes (so that they can be taken off the server's)."""
    schema = f"bench_vis_{uuid.uuid4().hex[:10]}"
    store = seeded_store(url, schema)
    try:
        time.sleep(STATS_FLUSH_S)
        before = meta_reads(url, schema)
        write_names(store, store.list()[0], writes, random.Random(2), "calibrate")
        store.close()  # its backend publishes its statistics when it ends
        time.sleep(1.0)
        return (meta_reads(url, schema) - before) / writes
    finally:
        store.drop_schema()
        store.close()


def main() -> None:
    """Measure every mode once; print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--database-url", default=os.environ.get("LOCATOR_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    if not args.database_url:
        sys.exit("set LOCATOR_TEST_POSTGRES_URL (or --database-url) to a PostGIS database")
    per_write = calibrate(args.database_url)
    print(f"each write itself reads meta {per_write:.1f} times; {args.writes} writes per mode, cpus={os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="locator-bench-vis-") as tmpdir:
        for mode in args.modes.split(","):
            r = run_mode(args.database_url, mode, args.writes, Path(tmpdir), per_write)
            print(
                f"{r['mode']:>9}: visible after p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms "
                f"(max {r['max_ms']:.1f} ms); {r['requests']} requests, "
                f"{r['version_queries_per_request']:.3f} version queries per request",
                flush=True,
            )


if __name__ == "__main__":
    main()
