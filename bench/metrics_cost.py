"""What the /metrics request hooks cost the rider's request: the same server with LOCATOR_METRICS on and off (issue 18).

bench/http_nearest.py's set-up (gunicorn sync workers, --preload, the 145 sample rider stations, wrk
with a random Wenzhou point per request; gunicorn.conf.py is read from the checkout, so metrics run
in multi-process mode as in production), once with the hooks (LOCATOR_METRICS=true, the default) and
once without, the two servers measured in alternation, `--rounds` times each, /healthz and nearest.
Prints requests/s of each and the ratio on/off. On a busy machine that ratio drowns in noise, so it
also times the per-request metrics work itself in this process (multi-process mode, as under
gunicorn): the count web/http.py's Edge makes per answer, median of `--micro` calls.

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
    parser.add_argument("--micro", type=int, default=20000, help="hook calls timed in this process")
    parser.add_argument("--micro-only", action="store_true")
    args = parser.parse_args()
    if args.micro_only:
        micro(args.micro)
        return
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
    micro(args.micro)


def micro(calls: int) -> None:
    """Time the metrics work of one nearest request (the count Edge makes per answer), in multi-process mode."""
    import time

    with tempfile.TemporaryDirectory(prefix="locator-bench-prom-") as prom:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prom  # before prometheus_client is imported
        from locator import create_app
        from locator.web import metrics

        assert metrics.MULTIPROCESS
        with tempfile.TemporaryDirectory(prefix="locator-bench-micro-") as tmp:
            app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/m.sqlite3", "SECRET_KEY": "bench", "DEMAND_LOG": False})
            count = app.extensions["metrics_count"]
            samples = []
            for _ in range(calls):
                t0 = time.perf_counter()
                count("/api/v1/stations/nearest", "GET", 200, time.perf_counter() - t0)
                samples.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            metrics._pending.flush()  # what the background thread does once a second
            flush_s = time.perf_counter() - t0
            app.extensions["roster"].store.close()
        samples.sort()
        print(
            f"   count: {samples[len(samples) // 2] * 1e6:.1f} µs per request (median of {calls}, "
            f"p90 {samples[int(len(samples) * 0.9)] * 1e6:.1f} µs), multi-process mode; "
            f"the flush of those {calls} requests (one endpoint) took {flush_s * 1e3:.2f} ms"
        )


if __name__ == "__main__":
    main()
