"""Riders' locations are personal information (PIPL 行踪轨迹): never log them at full precision.

A log-record factory coarsens every coordinate-like query parameter in log messages to
two decimals (about 1 km) as the record is made, before any filter or handler sees it:
werkzeug's and gunicorn's access lines, our own messages, and exceptions' request lines.

Riders' anonymous feedback (a report, a "这里可用" tap: /api/v1/stations/<id>/reports and
…/confirmations) is logged without the client: the address, user agent and referrer of those
requests are dropped from werkzeug's and gunicorn's access lines (issue 16).

However the client spelled it: the parameter name and value are read as the server would read
them (percent-decoding, `+`, full-width digits, exponents such as `280123450e-7`, several numbers
separated by commas), and a value that cannot be read as numbers but holds digits is replaced
altogether, so no spelling carries a precise position into a log.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import unicodedata
from urllib.parse import unquote_plus

# Parameters that hold one number, and those that hold several (how many, comma-separated).
SINGLE_COORD_PARAMS = ("lat", "lng", "lon", "long", "latitude", "longitude", "x", "y")
MULTI_COORD_PARAMS = {"bbox": 4, "point": 2, "center": 2, "centre": 2, "location": 2, "ll": 2}
COORD_PARAMS = SINGLE_COORD_PARAMS + tuple(MULTI_COORD_PARAMS)
# key=value pairs: a key is whatever stands between a separator and '=', a value runs to the next
# separator. Keys may be percent-encoded ('%6Cat'), so they are decoded before they are compared.
_PAIR_RE = re.compile(r"(?P<key>(?<![^\s?&;\"'(/\[])[^\s?&;=\"']+)=(?P<value>[^&;\s\"']*)")
_DIGIT_RE = re.compile(r"\d")
_PLAIN_INT_RE = re.compile(r"^\s*[+-]?\d{1,3}\s*$")
MAX_COORDINATE = 360.0  # no longitude or latitude is larger: a bigger number is a fragment of one
REDACTED = "[redacted]"


def _key(raw: str) -> str:
    key = unicodedata.normalize("NFKC", unquote_plus(raw)).strip().lower()
    return key.removesuffix("[]")


def _coarse_number(piece: str) -> str | None:
    """One number cut to two decimals (a small whole number stays as written); None if it is not one."""
    try:
        number = float(piece.replace("_", "x"))  # float() would read '2_8.1' as 28.1: not a spelling we keep
    except ValueError:
        return None
    if not math.isfinite(number) or abs(number) > MAX_COORDINATE:
        return None
    return piece.strip() if _PLAIN_INT_RE.match(piece) else f"{number:.2f}"


def _coarse_value(key: str, raw: str) -> str:
    """The value as the server would read it, cut to two decimals; redacted if it cannot be read so."""
    value = unicodedata.normalize("NFKC", unquote_plus(raw))
    if not _DIGIT_RE.search(value):
        return raw
    pieces = value.split(",") if key in MULTI_COORD_PARAMS else [value]
    if len(pieces) > MULTI_COORD_PARAMS.get(key, 1):
        return REDACTED  # e.g. lat=28,012345: decimal commas would leak the digits as a second number
    coarse = [_coarse_number(p) for p in pieces]
    return REDACTED if None in coarse else ",".join(coarse)  # type: ignore[arg-type]


def coarsen(text: str) -> str:
    """Text with coordinate query parameters cut to two decimals (or redacted when unreadable)."""
    if "=" not in text:
        return text

    def pair(m: re.Match[str]) -> str:
        key = _key(m.group("key"))
        if key not in COORD_PARAMS:
            return m.group(0)
        return f"{m.group('key')}={_coarse_value(key, m.group('value'))}"

    return _PAIR_RE.sub(pair, text)


ANONYMOUS_PATHS = re.compile(r"/api/v1/stations/[^/\s?#\"]+/(?:reports|confirmations)(?![\w/-])")
# gunicorn access-log atoms that identify a client: address, remote user, user agent, referrer, port,
# and any request header or environ value ({…}i, {…}e).
_CLIENT_ATOMS = ("h", "l", "u", "a", "f", "p")
_WERKZEUG_CLIENT = re.compile(r"^\S+ - - \[")


def drop_client(record: logging.LogRecord) -> None:
    """An access line of anonymous feedback without who sent it (werkzeug's and gunicorn's formats)."""
    if record.name == "gunicorn.access" and isinstance(record.args, dict):
        if ANONYMOUS_PATHS.search(str(record.args.get("U", ""))):
            record.args = {k: ("-" if k in _CLIENT_ATOMS or k.startswith("{") else v) for k, v in record.args.items()}
    elif record.name == "werkzeug" and isinstance(record.msg, str) and isinstance(record.args, tuple):
        if any(isinstance(a, str) and ANONYMOUS_PATHS.search(a) for a in record.args):
            record.msg = _WERKZEUG_CLIENT.sub("- - - [", record.msg, count=1)


_NAMED_FIELD = re.compile(r"%\((\w+)\)")


@functools.lru_cache(maxsize=256)
def _named_fields(msg: str) -> frozenset[str]:
    """The `%(name)s` fields a log format uses (access-log formats: a handful, remembered)."""
    return frozenset(_NAMED_FIELD.findall(msg))


class CoarsenCoordinates(logging.Filter):
    """Rewrites log records so that no coordinate parameter keeps more than two decimals."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Coarsen the message and its arguments (and drop the client of anonymous feedback); never drop the record.

        Named arguments the message does not use are dropped, not coarsened: Granian's access record
        carries the query string (a nearest query: the rider's position) whatever the format prints,
        and coarsening it cost more than the rest of the access line (bench/access_log.py).
        """
        drop_client(record)
        if isinstance(record.msg, str):
            record.msg = coarsen(record.msg)
        if record.args:
            if isinstance(record.args, dict):
                used = _named_fields(record.msg) if isinstance(record.msg, str) else frozenset()
                record.args = {
                    k: coarsen(v) if isinstance(v, str) else v
                    for k, v in record.args.items()
                    if not used or k in used  # "%s" % {...} (no named field) prints the whole dict
                }
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
