"""Riders' locations are personal information (PIPL 行踪轨迹): never log them at full precision.

A log-record factory coarsens every coordinate-like query parameter in log messages to
two decimals (about 1 km) as the record is made, before any filter or handler sees it:
werkzeug's and gunicorn's access lines, our own messages, and exceptions' request lines.
"""

from __future__ import annotations

import logging
import re

COORD_PARAMS = ("lat", "lng", "lon", "latitude", "longitude", "x", "y", "bbox", "point", "center")
_PARAM_RE = re.compile(
    r"(?P<key>(?<![A-Za-z0-9_])(?:" + "|".join(COORD_PARAMS) + r")=)(?P<value>[^&\s\"']*)", re.IGNORECASE
)
_NUMBER_RE = re.compile(r"-?\d+\.\d+")


def coarsen_number(match: re.Match[str]) -> str:
    """A decimal number cut to two decimals."""
    return f"{float(match.group(0)):.2f}"


def coarsen(text: str) -> str:
    """Text with coordinate query parameters cut to two decimals."""
    if "=" not in text:
        return text
    return _PARAM_RE.sub(lambda m: m.group("key") + _NUMBER_RE.sub(coarsen_number, m.group("value")), text)


class CoarsenCoordinates(logging.Filter):
    """Rewrites log records so that no coordinate parameter keeps more than two decimals."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Coarsen the message and its arguments; never drop the record."""
        if isinstance(record.msg, str):
            record.msg = coarsen(record.msg)
        if record.args:
            if isinstance(record.args, dict):
                record.args = {k: coarsen(v) if isinstance(v, str) else v for k, v in record.args.items()}
            else:
                record.args = tuple(coarsen(a) if isinstance(a, str) else a for a in record.args)
        return True


_FILTER = CoarsenCoordinates()
_installed = False


def install() -> None:
    """Coarsen every log record at creation, whatever logger or handler it later goes through."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _FILTER.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def coarse_point(lng: float, lat: float) -> str:
    """A point as we may log it: two decimals."""
    return f"{lng:.2f},{lat:.2f}"
