"""The hot path's CPU per request in process, without HTTP (issue 18): ours and the naive anchor, WSGI calls.

Builds the sample (200) or a synthetic roster in SQLite, makes our app and the naive anchor
(bench/naive_anchor.py) over it, and calls each WSGI app directly (werkzeug EnvironBuilder, no
socket) with /healthz and with nearest at random Wenzhou points; prints process CPU µs per request
for 3 passes and their minimum. "ours nearest, cold" starts each pass with the snapshot's fragment
cache emptied (locator/serialize.py), as a worker starts or a new roster version arrives: at 100,000
stations most of a run's stations are then encoded for the first time. `--profile` adds a cProfile of
ours by internal time.

    .venv/bin/python bench/hot_path_inprocess.py 200
    .venv/bin/python bench/hot_path_inprocess.py 100000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import os
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.test import EnvironBuilder  # noqa: E402

from bench.hot_path import sqlite_db  # noqa: E402


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("size", type=int, nargs="?", default=200)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="locator-inproc-"))
    os.environ.update(
        {
            "LOCATOR_DATABASE_URL": sqlite_db(args.size, tmp),
            "LOCATOR_SEED_SAMPLE": "false",
            "LOCATOR_SECRET_KEY": "x" * 32,
            "LOCATOR_RATELIMIT_ENABLED": "false",
            "LOCATOR_LOG_LEVEL": "warning",
            "LOCATOR_INSTANCE_PATH": str(tmp / "instance"),
        }
    )
    from locator import create_app, serialize

    ours = create_app()
    anchor = importlib.import_module("bench.naive_anchor").app
    rng = random.Random(1)

    def environ(path: str) -> dict:
        return EnvironBuilder(path=path, base_url="http://127.0.0.1:8000").get_environ()

    def call(app, env: dict) -> bytes:
        body = app(dict(env), lambda *a: None)
        out = b"".join(body)
        if hasattr(body, "close"):
            body.close()
        return out

    n = args.requests
    nearest = "/api/v1/stations/nearest?lat={:.6f}&lng={:.6f}&k=5"
    points = [environ(nearest.format(27.6 + rng.random() * 0.6, 120.3 + rng.random() * 0.8)) for _ in range(n)]
    health = [environ("/healthz")] * n
    for app in (ours, anchor):
        for env in points[:200]:
            call(app, env)
    results: dict[str, list[float]] = {}
    for _ in range(3):
        for name, app, envs in (
            ("ours /healthz", ours, health),
            ("ours nearest", ours, points),
            ("ours nearest, cold", ours, points),
            ("anchor /healthz", anchor, health),
            ("anchor nearest", anchor, points),
        ):
            if name.endswith("cold"):
                serialize._CACHES.clear()
            t = time.process_time()
            for env in envs:
                call(app, env)
            results.setdefault(name, []).append((time.process_time() - t) / n * 1e6)
    print(f"{args.size:,} stations, {n} requests a pass, load {os.getloadavg()[0]:.1f}")
    for name, values in results.items():
        print(f"{name:18s} CPU µs/request: {' '.join(f'{v:.0f}' for v in values)}  min {min(values):.0f}")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for env in points:
            call(ours, env)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())


if __name__ == "__main__":
    main()
