"""Settings: every LOCATOR_* environment variable, its default, parser and documentation.

create_app() reads them once at start-up; a bad value stops the start with a message
naming the variable. The README's configuration table is checked against SETTINGS by a test.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """One or more settings have bad values."""


def parse_bool(text: str) -> bool:
    """'1/true/yes/on' or '0/false/no/off'."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


def parse_bbox(text: str) -> tuple[float, float, float, float] | None:
    """'min_lng,min_lat,max_lng,max_lat' in WGS-84, or empty for none."""
    if not text.strip():
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise ValueError("needs four numbers: min_lng,min_lat,max_lng,max_lat")
    x0, y0, x1, y1 = (float(p) for p in parts)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise ValueError("must be finite numbers")
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise ValueError("must satisfy -180 <= min_lng < max_lng <= 180 and -90 <= min_lat < max_lat <= 90")
    return (x0, y0, x1, y1)


def parse_list(text: str) -> tuple[str, ...]:
    """Comma-separated values."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


def parse_choice(*choices: str) -> Callable[[str], str]:
    """A parser that accepts one of `choices`."""

    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return value

    return parse


def parse_positive_int(text: str) -> int:
    """A whole number > 0."""
    value = int(text)
    if value <= 0:
        raise ValueError("must be a whole number greater than 0")
    return value


def parse_database_url(text: str) -> str:
    """sqlite:///path (relative paths are under the instance folder) or postgresql://…"""
    value = text.strip()
    if not (value.startswith("sqlite:///") or value.startswith(("postgresql://", "postgres://"))):
        raise ValueError("use sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB")
    return value


@dataclass(frozen=True)
class Setting:
    """One setting: app.config key NAME, environment variable LOCATOR_NAME."""

    name: str
    default: str
    parse: Callable[[str], Any]
    doc: str

    @property
    def env(self) -> str:
        """The environment variable."""
        return "LOCATOR_" + self.name


SETTINGS: list[Setting] = [
    Setting(
        "DATABASE_URL",
        "sqlite:///locator.sqlite3",
        parse_database_url,
        "Where stations are stored: `sqlite:///FILE` (relative to the instance folder) "
        "or `postgresql://…` for PostGIS.",
    ),
    Setting("SEED_SAMPLE", "true", parse_bool, "Load the bundled sample roster into an empty database at start-up."),
    Setting("DISTRICTS_FILE", "", str, "GeoJSON of district boundaries (default: `geodata/districts.geojson`)."),
    Setting(
        "SAMPLE_FILE", "", str, "GeoJSON sample roster used by seeding (default: `geodata/sample_stations.geojson`)."
    ),
    Setting(
        "SERVICE_AREA_BBOX",
        "",
        parse_bbox,
        "Widen the service area beyond Wenzhou's districts: `min_lng,min_lat,max_lng,max_lat` "
        "(WGS-84). Empty: districts only.",
    ),
    Setting(
        "SECRET_KEY",
        "",
        str,
        "Secret for session cookies and CSRF tokens. Set it in production (several processes "
        "must share it); empty: a random one per process.",
    ),
    Setting("LOG_LEVEL", "INFO", parse_choice("debug", "info", "warning", "error"), "Log level."),
]


def settings_by_name() -> dict[str, Setting]:
    """SETTINGS keyed by name."""
    return {s.name: s for s in SETTINGS}


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Parsed values for every setting: defaults overridden by LOCATOR_* variables."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for s in SETTINGS:
        raw = environ.get(s.env, s.default)
        try:
            values[s.name] = s.parse(raw)
        except (ValueError, TypeError) as exc:
            problems.append(f"{s.env}={raw!r}: {exc}")
    if problems:
        raise ConfigError("bad configuration:\n  " + "\n  ".join(problems))
    return values


def check_overrides(overrides: Mapping[str, Any]) -> None:
    """Reject test/instance overrides of known settings whose value the parser refuses."""
    known = settings_by_name()
    problems = []
    for key, value in overrides.items():
        if key in known and isinstance(value, str):
            try:
                known[key].parse(value)
            except (ValueError, TypeError) as exc:
                problems.append(f"{key}={value!r}: {exc}")
    if problems:
        raise ConfigError("bad configuration:\n  " + "\n  ".join(problems))


# -- maps (issue 4) -------------------------------------------------------------------------------
SETTINGS += [
    Setting(
        "BASEMAP",
        "amap",
        parse_choice("amap", "tianditu", "osm"),
        "Default basemap of /map and /embed: `amap` (高德, GCJ-02; stations are shifted to fit), "
        "`tianditu` (天地图, needs LOCATOR_TIANDITU_KEY; falls back to `osm` without one) or `osm`.",
    ),
    Setting("TIANDITU_KEY", "", str, "Tianditu (天地图) `tk` key; without it the tianditu basemap is refused."),
    Setting(
        "AMAP_APPROVAL",
        "",
        str,
        "审图号 text shown in the AMap attribution, e.g. `GS(2024)1234号`; empty: a pointer to AMap's site.",
    ),
]
