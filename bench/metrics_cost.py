"""What the /metrics request hooks cost the rider's request: the same server with LOCATOR_METRICS on and off (issue 18).

bench/http_nearest.py's set-up (gunicorn sync workers, --preload, the 145 sample rider stations, wrk
with a random Wenzhou point per request; gunicorn.conf.py is read from the checkout, so metrics run
in multi-process mode as in production), once with the hooks (LOCATOR_METRICS=true, the default) and
once without, the two servers measured in alternation, `--rounds` times each, /healthz and nearest.
Prints requests/s of each and the ratio on/off.

    .venv/bin/python bench/metrics_cost.py [--duration 5] [--rounds 3] [--connections 4] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_nearest import LUA, free_port, make_sample_db, run_wrk, start_gunicorn, warm  # noqa: E402


def main() -> None:
    """Start both servers, alternate wrk runs between them, print the medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="locator-bench-metrics-") as tmpdir:
        tmp = Path(tmpdir)
        script = tmp / "nearest.lua"
        script.write_text(LUA)
        servers = {}
        try:
            for label, flag in (("on", "true"), ("off", "false")):
                db = tmp / f"{label}.sqlite3"
                make_sample_db(db)
                port = free_port()
                servers[label] = (start_gunicorn(db, port, args.workers, tmp, {"LOCATOR_METRICS": flag}), port)
                warm(port, args.workers)
            runs: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.rounds):
                for label, (_, port) in servers.items():
                    base = f"http://127.0.0.1:{port}"
                    for kind, url, lua in (("healthz", base + "/healthz", None), ("nearest", base + "/", script)):
                        r = run_wrk(url, args.duration, args.connections, lua)
                        if r["non2xx"]:
                            sys.exit(f"{r['non2xx']} non-2xx answers from {label}/{kind}: figures invalid")
                        runs.setdefault((label, kind), []).append(r["rps"])
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(60)
    print(
        f"gunicorn sync workers={args.workers}, wrk -t2 -c{args.connections} -d{args.duration}s, "
        f"{args.rounds} alternating rounds, 145 stations, cpus={os.cpu_count()}"
    )
    for kind in ("healthz", "nearest"):
        on, off = statistics.median(runs[("on", kind)]), statistics.median(runs[("off", kind)])
        print(
            f"{kind:>8}: metrics on {on:,.0f} req/s, off {off:,.0f} req/s (medians), on/off {on / off:.3f}; "
            f"runs on {[round(x) for x in runs[('on', kind)]]}, off {[round(x) for x in runs[('off', kind)]]}"
        )


if __name__ == "__main__":
    main()
