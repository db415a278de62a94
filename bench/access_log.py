"""What one access-log line costs in Python (issue 18): Granian's record with and without our privacy filter.

With LOCATOR_ACCESS_LOG on (the default of `python -m locator.serve`), Granian makes one log record per
request through Python's logging, with every atom it knows as named arguments, the query string
included, whatever the format prints. locator.privacy installs a record factory that coarsens
coordinates in every record (a rider's position never reaches a log at full precision). This prints
µs per line for a `/healthz` line and a nearest line: Python's logging alone (the floor every app
pays), and with the privacy factory installed, formatted by locator.serve's ACCESS_LOG_FORMAT to
/dev/null. The baseline is measured in the same run.

    .venv/bin/python bench/access_log.py
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locator import privacy  # noqa: E402
from locator.serve import ACCESS_LOG_FORMAT  # noqa: E402

LINES = {
    "/healthz": ("/healthz", ""),
    "nearest": ("/api/v1/stations/nearest", "lat=28.012345&lng=120.654321&k=5"),
}


def atoms(path: str, query: str) -> dict:
    """The named arguments of Granian 2.x's access record (granian/log.py)."""
    return {
        "addr": "127.0.0.1",
        "time": "2026-11-30 17:00:00 +0800",
        "dt_ms": 0.41,
        "status": 200,
        "path": path,
        "query_string": query,
        "method": "GET",
        "scheme": "http",
        "protocol": "HTTP/1.1",
    }


def per_line_us(logger: logging.Logger, args: dict, n: int) -> float:
    """Best of five runs of n lines, µs per line."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            logger.info(ACCESS_LOG_FORMAT, dict(args))
        best = min(best, (time.perf_counter() - t0) / n * 1e6)
    return best


def main() -> None:
    """Print µs per access line without and with the privacy factory."""
    logger = logging.getLogger("granian.access")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    with open(os.devnull, "w") as sink:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
        logger.addHandler(handler)
        plain = {name: per_line_us(logger, atoms(*line), 20_000) for name, line in LINES.items()}
        privacy.install()
        coarse = {name: per_line_us(logger, atoms(*line), 20_000) for name, line in LINES.items()}
    for name in LINES:
        print(
            f"{name:9s} logging alone {plain[name]:6.1f} µs   with the privacy filter {coarse[name]:6.1f} µs"
            f"   ({coarse[name] / plain[name]:.2f}×)"
        )


if __name__ == "__main__":
    main()
