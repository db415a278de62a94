"""Log output: plain text (development) or one JSON object per line (production log shippers).

Either way every record has gone through privacy.install()'s record factory first, so a
rider's coordinates appear with two decimals at most, whatever logger wrote them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from flask import Flask, has_request_context, request
from flask.logging import default_handler

from locator.privacy import coarsen


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the request's method and path."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON (no query string: it may hold a rider's position)."""
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": coarsen(record.getMessage()),
        }
        if has_request_context():
            out["method"] = request.method
            out["path"] = request.path
        if record.exc_info:
            out["exc"] = coarsen(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of writing (gunicorn and pytest swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        """The current sys.stderr."""
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


_JSON_HANDLER_NAME = "locator-json"


def init_app(app: Flask) -> None:
    """Set the app's log level, and with LOG_FORMAT=json send every logger's records through JsonFormatter."""
    level = str(app.config.get("LOG_LEVEL", "info")).upper()
    app.logger.setLevel(level)
    if app.config.get("LOG_FORMAT", "text") != "json":
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _JSON_HANDLER_NAME:
            root.removeHandler(handler)
    handler = StderrHandler()
    handler.set_name(_JSON_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    if root.level > logging.getLevelName(level):
        root.setLevel(level)
    app.logger.removeHandler(default_handler)  # records reach the root's JSON handler instead
