"""What encoding a whole roster's nearest-answer fragments costs a worker, once per roster version (issue 18).

serialize.FragmentCache.encode_all() runs when a version's first nearest answer is written, if every
station's WGS-84 fragment fits in serialize.WHOLE_ROSTER_BYTES. This measures it in one process, as a
worker does it: the CPU time of the process until the cache holds every station, the wall time, and
what the resident memory grew by. Synthetic stations (bench/hot_path.py), SQLite.

    .venv/bin/python bench/whole_roster.py --size 100000 --folder /tmp/b1m/bench
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    """This process's resident memory, MB."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    """Build the roster's snapshot, then time its whole-roster encoding."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--folder", default="", help="where the synthetic SQLite roster is kept (made if missing)")
    args = parser.parse_args()
    from bench.hot_path import sqlite_db

    folder = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="locator-whole-"))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "LOCATOR_DATABASE_URL": sqlite_db(args.size, folder),
            "LOCATOR_SEED_SAMPLE": "false",
            "LOCATOR_SECRET_KEY": "bench-" + "x" * 32,
            "LOCATOR_LOG_LEVEL": "warning",
            "LOCATOR_INSTANCE_PATH": str(folder / "instance"),
        }
    )
    from locator import create_app
    from locator.serialize import fragments

    roster = create_app().extensions["roster"]
    snap = roster.snapshot()
    rss, cpu, wall = rss_mb(), time.process_time(), time.perf_counter()
    cache = fragments(snap, roster.districts.name)
    if cache.whole is None:
        sys.exit(f"{len(snap):,} stations do not fit in serialize.WHOLE_ROSTER_BYTES: encoded on demand")
    while len(cache.whole) < len(snap):
        if time.perf_counter() - wall > 600:
            sys.exit(f"not encoded whole after 10 minutes ({len(cache.whole):,} of {len(snap):,})")
        time.sleep(0.01)
    print(
        f"{len(snap):,} stations encoded whole: {time.process_time() - cpu:.2f} s CPU, "
        f"{time.perf_counter() - wall:.2f} s wall, RSS +{rss_mb() - rss:.0f} MB "
        f"({sum(map(len, cache.whole.values())) / 2**20:.0f} MB of fragment text)"
    )


if __name__ == "__main__":
    main()
