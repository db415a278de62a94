"""gunicorn settings: `gunicorn -c gunicorn.conf.py`, the alternative to `python -m locator.serve` (docs/deployment.md).

Bind address, workers and threads come from LOCATOR_BIND, LOCATOR_WORKERS and
LOCATOR_THREADS. The app is built in each worker (no preload): every worker opens its
own database connections and builds its own nearest snapshot. The access log writes the
path without the query string: a nearest request's query holds the rider's position.

Prometheus metrics (/metrics, locator/web/metrics.py) from every worker: PROMETHEUS_MULTIPROC_DIR is
set here, in the master, before any worker imports the app (a fresh folder per start, removed at
exit; or the operator's own, emptied at start), and `child_exit` drops a dead worker's live gauges.
Threads (the PostgreSQL listener, the search log's writer) start in each worker on first use, after
the fork, also with `--preload`.

gunicorn answers some malformed requests itself, before the app sees them (a request line over
4094 bytes: 414; bad request lines or headers: 400; headers too large: 431). Those answers are
problem+json too (`_problem_error` below), with the security headers of every answer
(`X-Content-Type-Options`, `Referrer-Policy`), and gunicorn's `Server` header names no version.
"""

import json
import os
import shutil

from gunicorn import util

from locator.config import settings_by_name
from locator.serve import metrics_dir
from locator.web.problems import PROBLEM_JSON, problem_body
from locator.web.security import EVERY_ANSWER

_settings = settings_by_name()
# pykdtree answers one point per request; OpenMP threads only add start-up cost to it (on a busy
# host, milliseconds). gthread workers already run requests in parallel. Set before workers load it.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _setting(name: str):
    s = _settings[name]
    return s.parse(os.environ.get(s.env, s.default))


_GUNICORN_ZH = {
    400: "请求格式有误",
    403: "禁止访问",
    414: "请求地址过长",
    417: "无法满足 Expect 请求头",
    431: "请求头过大",
    500: "服务器配置有误",
    501: "不支持的传输编码",
}


def _problem_error(sock, status_int, reason, mesg):
    """gunicorn's own error answers (util.write_error) as problem+json instead of an HTML page."""
    body = json.dumps(
        problem_body(status_int, reason, mesg, detail_zh=_GUNICORN_ZH.get(status_int)), ensure_ascii=False
    ).encode("utf-8")
    # The headers every answer carries (locator/web/security.py), gunicorn's own answers too.
    security = "".join(f"{name}: {value}\r\n" for name, value in EVERY_ANSWER.items())
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: {PROBLEM_JSON}\r\n"
        f"{security}Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = _problem_error


_METRICS_DIR, _METRICS_DIR_MADE = metrics_dir()


def child_exit(server, worker):
    """A worker is gone: its live gauges (stale mode, snapshot, database reachability) no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """The master stops: remove the metrics folder it made."""
    if _METRICS_DIR_MADE:
        shutil.rmtree(_METRICS_DIR, ignore_errors=True)


wsgi_app = "locator:create_app()"
bind = [_setting("BIND")]
workers = _setting("WORKERS")
threads = _setting("THREADS")
worker_class = "gthread"
preload_app = False
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (jitter keeps them from restarting together), but rarely: a new worker
# builds its nearest snapshot (seconds at 100,000 stations and more), and at the few thousand
# requests a second one server answers, 10,000 requests recycled each worker every few seconds.
max_requests = 1_000_000
max_requests_jitter = 100_000
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-" if _setting("ACCESS_LOG") else None
errorlog = "-"
loglevel = _setting("LOG_LEVEL")
# %(U)s is the path without the query string; never %(r)s, %(q)s or %(a)s-style full request lines.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

if _setting("LOG_FORMAT") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "locator.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "locator.logs.StderrHandler", "formatter": "json"}},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": loglevel.upper(), "propagate": False},
            "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": loglevel.upper()},
    }
