"""Instructions per hot-path request under callgrind (issue 18): a load-proof before/after measure.

On a shared machine CPU times swing by ±50 %; the number of instructions a request executes does not.
For each kind it runs this script twice under `valgrind --tool=callgrind`, with N calls and with none
(start-up, imports and the app's creation cancel out), and prints (total_N − total_0) ÷ N. Kinds:
`healthz` (ours), `anchor_healthz` (bench/naive_anchor.py: a bare Flask app), `warm` (ours nearest,
10 points over and over: fragments cached), `cold` (ours nearest at N points not asked before, with
the whole-roster encoding off as for a roster too large for it: most stations encoded for the first
time), `anchor_nearest`, `miss` (serialize.FragmentCache.fixed_bytes of a station not yet encoded,
alone, as an answer asks for it: from the packed roster) and `miss_station` (the same from a Station
made for it: the path of a roster read row by row). In-process WSGI calls
(werkzeug EnvironBuilder), SQLite, synthetic stations (bench/hot_path.py), k = 5, PYTHONHASHSEED=0.
Only the main thread's instructions count (`--separate-threads=yes`): the app's background threads
(metrics, search log) tick with the wall clock, which valgrind stretches, and added up to ±20,000
instructions per call to the figures of runs before 2026-11-30 11:45. Needs valgrind (Debian package).

    .venv/bin/python bench/hot_path_instructions.py --size 5000 --calls 200 healthz anchor_healthz warm cold
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = ("healthz", "anchor_healthz", "warm", "cold", "anchor_nearest", "miss", "miss_station")


def main() -> None:
    """Run each kind under callgrind twice and print instructions per call."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kinds", nargs="*", default=list(KINDS[:5]))
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--inner", nargs=4, metavar=("KIND", "N", "CALLS", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args.inner[0], int(args.inner[1]), int(args.inner[2]), args.inner[3])
        return
    from bench.hot_path import sqlite_db

    folder = Path(tempfile.mkdtemp(prefix="locator-instr-"))
    db = sqlite_db(args.size, folder)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    for kind in args.kinds:
        totals = []
        for n in (0, args.calls):
            outs = Path(tempfile.mkdtemp(prefix="locator-callgrind-"))
            cmd = ["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={outs}/cg"]
            inner_args = ["--inner", kind, str(n), str(args.calls), db]
            out = subprocess.run([*cmd, sys.executable, __file__, *inner_args], env=env, capture_output=True, text=True)
            main_thread = outs / "cg-01"
            text = main_thread.read_text() if main_thread.exists() else ""
            found = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
            if out.returncode or not found:
                sys.exit(f"{kind}: callgrind failed\n{out.stderr[-2000:]}")
            totals.append(int(found.group(1)))
        print(f"{kind:15s} {(totals[1] - totals[0]) / args.calls:12,.0f} instructions per call", flush=True)


def inner(kind: str, n: int, calls: int, db: str) -> None:
    """The measured process: make the app, warm it, then make `n` calls of `kind` (the same set-up for any `n`)."""
    import importlib

    tmp = Path(tempfile.mkdtemp(prefix="locator-instr-app-"))
    os.environ.update(
        {
            "LOCATOR_DATABASE_URL": db,
            "LOCATOR_SEED_SAMPLE": "false",
            "LOCATOR_SECRET_KEY": "x" * 32,
            "LOCATOR_RATELIMIT_ENABLED": "false",
            "LOCATOR_LOG_LEVEL": "warning",
            "LOCATOR_INSTANCE_PATH": str(tmp / "instance"),
        }
    )
    from werkzeug.test import EnvironBuilder

    from locator import create_app

    if kind in ("cold", "miss", "miss_station"):
        from locator import serialize

        serialize.WHOLE_ROSTER_BYTES = 0  # a roster too large to encode whole: every first-seen station is a miss
    app = importlib.import_module("bench.naive_anchor").app if kind.startswith("anchor") else create_app()
    rng = random.Random(1)
    url = "/api/v1/stations/nearest?lat={:.6f}&lng={:.6f}&k=5"
    points = [
        EnvironBuilder(
            path=url.format(27.6 + rng.random() * 0.6, 120.3 + rng.random() * 0.8), base_url="http://127.0.0.1:8000"
        ).get_environ()
        for _ in range(50 + calls)
    ]
    health = EnvironBuilder(path="/healthz", base_url="http://127.0.0.1:8000").get_environ()

    def call(environ: dict) -> None:
        body = app(dict(environ), lambda *a: None)
        b"".join(body)
        if hasattr(body, "close"):
            body.close()

    # The first answer starts the whole-roster encoding (serialize.FragmentCache.encode_all) in a thread:
    # a once-per-version cost, not a request's. Waited for before the other warm answers, so how many of
    # them encode stations the thread has not reached yet, and where its allocations and interpreter
    # switches fall, no longer depends on timing (the main thread's total of one tree moved by 237 M
    # instructions between runs before).
    call(points[0])
    for thread in threading.enumerate():
        if thread.name == "locator-fragments":
            thread.join()
    for environ in points[1:50]:
        call(environ)
    call(health)
    # When a full collection comes is set by the allocations of every thread (the metrics thread ticks
    # with the wall clock): the objects made so far are set aside once, for both apps alike; the young
    # collections of the calls still count.
    gc.collect()
    gc.freeze()
    if kind.startswith("miss"):
        from locator.coords import CRS
        from locator.serialize import fragments

        snap = app.extensions["roster"].snapshot()
        cache = fragments(snap)
        size = len(snap)
        for i in range(n):
            cache.fixed = {}
            station = snap.stations[i % size] if kind == "miss_station" else None
            cache.fixed_bytes(i % size, station, CRS.WGS84, None)
        return
    for i in range(n):
        if kind.endswith("healthz"):
            call(health)
        elif kind == "cold":
            call(points[50 + i])
        else:
            call(points[i % 10])


if __name__ == "__main__":
    main()
