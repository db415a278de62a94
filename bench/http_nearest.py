"""HTTP benchmark of the nearest endpoint: gunicorn on 127.0.0.1, loaded by wrk (issue 3).

For each roster size (the 145 sample rider stations, and 1,000,000 synthetic stations) it
starts gunicorn (sync workers) over a fresh SQLite file, warms every worker, and runs wrk for a
bounded time against /healthz and against /api/v1/stations/nearest?k=5 (a random 6-decimal
point in Wenzhou per request), alternating twice. It prints requests/s, p50/p99 latency and
the ratio nearest/healthz on the same server in the same run.

    .venv/bin/python bench/http_nearest.py [--duration 10] [--connections 8] [--workers 2] [--sizes 145,1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LUA = """
math.randomseed(42)
request = function()
  local lat = 27.60 + math.random() * 0.60
  local lng = 120.30 + math.random() * 0.80
  return wrk.format("GET", string.format("/api/v1/stations/nearest?lat=%.6f&lng=%.6f&k=5", lat, lng))
end
"""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_sample_db(path: Path) -> int:
    """The sample roster's 145 rider stations, stored through the store (validated)."""
    from locator.roster import SAMPLE_FILE, Roster
    from locator.store.sqlite import SQLiteStore

    store = SQLiteStore(path)
    store.init_schema()
    roster = Roster.open(store)
    data = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))
    stations = []
    for n, f in enumerate(data["features"], start=1):
        if f["properties"]["type"] != "rider_station":
            continue
        props = dict(f["properties"])
        props["lng"], props["lat"] = f["geometry"]["coordinates"][:2]
        stations.append(roster.validate(props, row=n, provenance="sample"))
    store.replace_all(stations, actor="bench", via="seed")
    store.close()
    return len(stations)


def make_synthetic_db(path: Path, n: int) -> float:
    """n synthetic stations inserted straight into the store's schema; returns seconds taken."""
    from locator.store.sqlite import SQLiteStore

    COLUMNS = SQLiteStore.COLUMNS

    store = SQLiteStore(path)
    store.init_schema()
    store.close()
    t0 = time.perf_counter()
    rng = random.Random(7)
    types = ["rider_station", "party_home", "demo_site", "finance_station"]
    amenities = ['["water","charging"]', '["rest_seats","microwave","toilet"]', "[]", '["first_aid"]']
    hours = ["24/7", "Mo-Fr 09:00-18:00", "Mo-Su 07:00-22:00", ""]
    now = "2026-01-01T00:00:00+00:00"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")

    def rows():
        for i in range(n):
            yield (
                f"syn-{i:07d}",
                f"合成驿站 {i}",
                types[i % 4],
                None,
                f"合成地址 {i}",
                round(rng.uniform(119.6, 121.2), 6),
                round(rng.uniform(27.0, 28.5), 6),
                amenities[i % 4],
                hours[i % 4],
                None,
                None,
                "open",
                None,
                "import",
                0,
                None,
                0,  # location_confirmed
                now,
                now,
                1,
            )

    conn.executemany(f"INSERT INTO stations ({COLUMNS}) VALUES ({', '.join('?' * 20)})", rows())
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - t0


def start_gunicorn(
    db: Path, port: int, workers: int, instance: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen:
    """gunicorn serving create_app() over `db` (extra_env: more LOCATOR_* settings, e.g. for bench/coverage.py)."""
    env = {
        **os.environ,
        "LOCATOR_DATABASE_URL": f"sqlite:///{db}",
        "LOCATOR_SEED_SAMPLE": "false",
        "LOCATOR_LOG_LEVEL": "warning",
        "LOCATOR_SECRET_KEY": "bench",
        # The benchmark measures the service, not the rate limiter (which would answer 429).
        "LOCATOR_RATELIMIT_ENABLED": "false",
        **(extra_env or {}),
    }
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--timeout",
        "900",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--preload",
        "--chdir",
        str(ROOT),
        "bench.wsgi_preloaded:app",
    ]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def warm(port: int, workers: int, deadline_s: float = 1800) -> float:
    """Wait until the server answers nearest queries fast, repeatedly (the snapshot is built before forking)."""
    t0 = time.perf_counter()
    url = f"http://127.0.0.1:{port}/api/v1/stations/nearest?lat=28.0&lng=120.7&k=5"
    fast_in_a_row = 0
    while fast_in_a_row < 4 * workers:
        if time.perf_counter() - t0 > deadline_s:
            raise RuntimeError("server did not become ready")
        t = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=deadline_s) as resp:
                resp.read()
            fast_in_a_row = fast_in_a_row + 1 if time.perf_counter() - t < 0.5 else 0
        except OSError:
            time.sleep(0.5)
    return time.perf_counter() - t0


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def run_wrk(url: str, duration: int, connections: int, script: Path | None = None) -> dict[str, float]:
    """wrk's requests/s and p50/p99 latency (ms)."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * _UNITS[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct("50"), "p99": pct("99"), "non2xx": int(errors.group(1)) if errors else 0}


def bench_size(size: int, args, tmp: Path, script: Path) -> dict:
    """Build the roster, serve it, load it; the figures for one size."""
    db = tmp / f"bench-{size}.sqlite3"
    t0 = time.perf_counter()
    n = make_sample_db(db) if size == 145 else (make_synthetic_db(db, size) and size)
    build_s = time.perf_counter() - t0
    port = free_port()
    proc = start_gunicorn(db, port, args.workers, tmp)
    try:
        warm_s = warm(port, args.workers)
        base = f"http://127.0.0.1:{port}"
        runs = {"healthz": [], "nearest": []}
        for _ in range(2):
            runs["healthz"].append(run_wrk(base + "/healthz", args.duration, args.connections))
            runs["nearest"].append(run_wrk(base + "/", args.duration, args.connections, script))
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def mean(kind: str, key: str) -> float:
        return sum(r[key] for r in runs[kind]) / len(runs[kind])

    result = {
        "stations": n,
        "db_build_s": round(build_s, 1),
        "warm_s": round(warm_s, 1),
        "healthz_rps": round(mean("healthz", "rps")),
        "nearest_rps": round(mean("nearest", "rps")),
        "ratio": round(mean("nearest", "rps") / mean("healthz", "rps"), 3),
        "healthz_p50_ms": round(mean("healthz", "p50"), 2),
        "healthz_p99_ms": round(mean("healthz", "p99"), 2),
        "nearest_p50_ms": round(mean("nearest", "p50"), 2),
        "nearest_p99_ms": round(mean("nearest", "p99"), 2),
        "non2xx": sum(r["non2xx"] for rs in runs.values() for r in rs),
    }
    return result


def main() -> None:
    """Run the benchmark and print one line of figures per roster size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sizes", default="145,1000000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="locator-bench-") as tmpdir:
        tmp = Path(tmpdir)
        script = tmp / "nearest.lua"
        script.write_text(LUA)
        setup = f"wrk -t2 -c{args.connections} -d{args.duration}s"
        print(f"gunicorn sync workers={args.workers}, {setup}, cpus={os.cpu_count()}")
        for size in (int(s) for s in args.sizes.split(",")):
            r = bench_size(size, args, tmp, script)
            print(
                f"{r['stations']:>9} stations: healthz {r['healthz_rps']:>6} req/s (p50 {r['healthz_p50_ms']} ms, "
                f"p99 {r['healthz_p99_ms']} ms); nearest k=5 {r['nearest_rps']:>6} req/s "
                f"(p50 {r['nearest_p50_ms']} ms, "
                f"p99 {r['nearest_p99_ms']} ms); ratio {r['ratio']:.3f}; non-2xx {r['non2xx']}; "
                f"db build {r['db_build_s']} s, warm-up {r['warm_s']} s",
                flush=True,
            )
            if r["non2xx"]:
                sys.exit(f"{r['non2xx']} responses were not 2xx: the figures above are not valid")


if __name__ == "__main__":
    main()
