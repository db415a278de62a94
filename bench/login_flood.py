"""Login flood vs riders: nearest-answer latency while one client floods POST /admin/login with wrong passwords.

Starts gunicorn with the production settings (gunicorn.conf.py: 2 gthread workers x 4 threads) over
the seeded sample roster, then measures the median latency of sequential nearest requests
  1. with no flood (the baseline of this run),
  2. during a flood, with the login throttle as configured by default,
  3. during a flood, with the throttle raised out of reach (what the service did before it had one).
Every phase is bounded in requests and seconds; all traffic goes to 127.0.0.1.

    .venv/bin/python bench/login_flood.py [--requests 300] [--flooders 8]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEAREST = "/api/v1/stations/nearest?lat=28.00&lng=120.65&k=5"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp: Path, port: int, throttle: bool) -> subprocess.Popen:
    """gunicorn -c gunicorn.conf.py over a fresh seeded SQLite file; waits until /readyz answers."""
    env = {
        **os.environ,
        "LOCATOR_BIND": f"127.0.0.1:{port}",
        "LOCATOR_DATABASE_URL": f"sqlite:///{tmp / f'flood-{port}.sqlite3'}",
        "LOCATOR_SECRET_KEY": "bench",
        "LOCATOR_LOG_LEVEL": "warning",
        "LOCATOR_RATELIMIT_ENABLED": "false",  # the public limits would answer the rider's loop with 429
    }
    if not throttle:
        env["LOCATOR_RATELIMIT_LOGIN_CLIENT"] = env["LOCATOR_RATELIMIT_LOGIN_ACCOUNT"] = "1000000/minute"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--access-logfile", "/dev/null"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("gunicorn did not start")


def nearest_median_ms(base: str, requests: int, gap_s: float = 0.01) -> float:
    """Median latency of sequential nearest requests, `gap_s` apart (a few riders, not a load test)."""
    times = []
    for _ in range(requests):
        time.sleep(gap_s)
        t0 = time.perf_counter()
        with urllib.request.urlopen(base + NEAREST, timeout=30) as resp:
            resp.read()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def flood(base: str, stop: threading.Event, counts: dict[int, int], lock: threading.Lock, deadline: float) -> None:
    """One flooder: get a CSRF token, then wrong passwords as fast as the server answers."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/admin/login", timeout=30).read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    n = 0
    while not stop.is_set() and time.monotonic() < deadline:
        n += 1
        body = urllib.parse.urlencode({"name": f"user{n % 50}", "password": "wrong-password", "csrf_token": csrf})
        try:
            opener.open(base + "/admin/login", data=body.encode(), timeout=30).read()
            status = 200
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.read()
        with lock:
            counts[status] = counts.get(status, 0) + 1


def phase(base: str, requests: int, flooders: int) -> tuple[float, dict[int, int], float]:
    """Nearest median during a flood; the flood's answer counts and attempts per second."""
    stop, lock, counts = threading.Event(), threading.Lock(), {}
    deadline = time.monotonic() + 120
    threads = [threading.Thread(target=flood, args=(base, stop, counts, lock, deadline)) for _ in range(flooders)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(5.0)  # let the flood build up (and fill the throttle's window)
    median = nearest_median_ms(base, requests)
    stop.set()
    for t in threads:
        t.join()
    return median, counts, sum(counts.values()) / (time.perf_counter() - t0)


def main() -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--flooders", type=int, default=8)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for throttle in (True, False):
            port = _free_port()
            proc = start(Path(tmp), port, throttle)
            base = f"http://127.0.0.1:{port}"
            try:
                nearest_median_ms(base, 20)  # warm-up
                if throttle:
                    rows.append(("no flood (baseline)", nearest_median_ms(base, args.requests), {}, 0.0))
                median, counts, rate = phase(base, args.requests, args.flooders)
                label = "flood, login throttle on (default)" if throttle else "flood, throttle out of reach"
                rows.append((label, median, counts, rate))
            finally:
                proc.terminate()
                proc.wait(30)
    base_ms = rows[0][1]
    print(f"{'phase':<36} {'nearest p50 ms':>15} {'ratio':>7} {'logins/s':>9}  answers")
    for label, ms, counts, rate in rows:
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "-"
        print(f"{label:<36} {ms:>15.1f} {ms / base_ms:>7.1f} {rate:>9.1f}  {answers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
