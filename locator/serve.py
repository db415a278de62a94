"""The production server: `python -m locator.serve` runs the app under Granian (a Rust HTTP server, WSGI).

Chosen by measurement (bench/hot_path.py, bench/README.md "The production server"): on the rider's
nearest answer Granian's workers spent about half the CPU per request of gunicorn's sync or
gthread workers, whose HTTP handling in Python cost more than the answer itself. gunicorn with
`gunicorn.conf.py` still works and is documented as the alternative (docs/deployment.md).

Settings (locator/config.py): LOCATOR_BIND (host:port), LOCATOR_WORKERS (processes),
LOCATOR_THREADS (threads per worker for blocking WSGI calls), LOCATOR_ACCESS_LOG, LOCATOR_LOG_LEVEL,
LOCATOR_LOG_FORMAT. As gunicorn.conf.py does: one OpenMP thread (pykdtree answers one point),
a folder for every worker's Prometheus metrics (PROMETHEUS_MULTIPROC_DIR, made here before any
worker imports the app, removed at exit), an access log that names the path without the query
string (a nearest query holds the rider's position). Workers that die are started again.

This module imports neither Flask nor prometheus_client: the workers must import them after
PROMETHEUS_MULTIPROC_DIR is set.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import tempfile

from locator.config import settings_by_name

APP = "locator:create_app"
# %(path)s is the path without the query string; never %(query_string)s.
ACCESS_LOG_FORMAT = '%(addr)s "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms'


def setting(name: str):
    """The parsed value of one LOCATOR_* setting from the environment (or its default)."""
    s = settings_by_name()[name]
    return s.parse(os.environ.get(s.env, s.default))


def metrics_dir() -> tuple[str, bool]:
    """(folder, made here): where the workers' metric files go; emptied of old files, or made."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        os.makedirs(given, exist_ok=True)
        for stale in glob.glob(os.path.join(given, "*.db")):  # only prometheus_client's files
            os.unlink(stale)
        return given, False
    made = tempfile.mkdtemp(prefix="locator-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made, True


def log_config(json_format: bool, level: str) -> dict | None:
    """Granian's logging as the app's: one JSON object per line on stderr with LOCATOR_LOG_FORMAT=json."""
    if not json_format:
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "locator.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "locator.logs.StderrHandler", "formatter": "json"}},
        "loggers": {
            "_granian": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "granian.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
    }


def main(argv: list[str] | None = None) -> None:
    """Serve the app (or another WSGI target, for benchmarks) until stopped."""
    parser = argparse.ArgumentParser(prog="python -m locator.serve", description=__doc__.split("\n")[0])
    parser.add_argument("target", nargs="?", default=APP, help="module:factory (default locator:create_app)")
    parser.add_argument("--not-factory", action="store_true", help="the target is a WSGI app, not a factory")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    host, _, port = str(setting("BIND")).rpartition(":")
    folder, made = metrics_dir()
    from granian import Granian
    from granian.constants import Interfaces

    level = str(setting("LOG_LEVEL")).lower()
    try:
        Granian(
            args.target,
            address=host.strip("[]") or "127.0.0.1",
            port=int(port),
            interface=Interfaces.WSGI,
            factory=not args.not_factory,
            workers=setting("WORKERS"),
            blocking_threads=setting("THREADS"),
            log_level=level,
            log_dictconfig=log_config(setting("LOG_FORMAT") == "json", level),
            log_access=bool(setting("ACCESS_LOG")),
            log_access_format=ACCESS_LOG_FORMAT,
            respawn_failed_workers=True,
            workers_kill_timeout=30,
        ).serve()
    finally:
        if made:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
