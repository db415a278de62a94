"""Weekly opening hours: the stored grammar, its parser, open-now and next-opening. No Flask.

Everything is evaluated in Asia/Shanghai, whatever the server's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
DAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
WEEK_MIN = 7 * 24 * 60
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class HoursError(ValueError):
    """An opening-hours string that does not follow the grammar."""


@dataclass(frozen=True)
class OpeningHours:
    """Weekly opening hours: half-open intervals in minutes of the week (Monday 00:00 = 0).

    Grammar: "24/7", or rules separated by ";", each "<days> <HH:MM-HH:MM>[,<HH:MM-HH:MM>…]".
    Days are Mo..Su as ranges ("Mo-Fr") or lists ("Sa,Su"). An end of "24:00" is midnight; an
    end earlier than the start runs overnight into the next day (Sunday wraps to Monday).
    The empty string means "hours unknown" (never reported open by hours).
    """

    text: str
    intervals: tuple[tuple[int, int], ...]

    @property
    def always(self) -> bool:
        """True for 24/7."""
        return self.intervals == ((0, WEEK_MIN),)

    def is_open(self, when: datetime) -> bool:
        """Whether the hours cover `when` (any timezone; evaluated in Asia/Shanghai)."""
        m = minute_of_week(when)
        return any(a <= m < b for a, b in self.intervals)

    def next_open(self, when: datetime) -> datetime | None:
        """The next opening at or after `when` while closed; None if open now or never opens."""
        if not self.intervals or self.is_open(when):
            return None
        local = when.astimezone(TZ)
        m = minute_of_week(local)
        starts = sorted(a for a, _ in self.intervals)
        ahead = [a for a in starts if a > m]
        delta = (ahead[0] - m) if ahead else (WEEK_MIN - m + starts[0])
        base = local.replace(second=0, microsecond=0)
        return base + timedelta(minutes=delta)

    def describe_zh(self) -> str:
        """A short Chinese description for pages."""
        if self.always:
            return "24小时开放"
        if not self.intervals:
            return "开放时间未知"
        return _describe_zh(self.text)


def minute_of_week(when: datetime) -> int:
    """Minutes since Monday 00:00 in Asia/Shanghai (naive datetimes are taken as local)."""
    local = when.replace(tzinfo=TZ) if when.tzinfo is None else when.astimezone(TZ)
    return local.weekday() * 1440 + local.hour * 60 + local.minute


def _parse_days(text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, _, b = part.partition("-")
            if a not in DAYS or b not in DAYS:
                raise HoursError(f"unknown day in {part!r}: use Mo Tu We Th Fr Sa Su")
            i, j = DAYS.index(a), DAYS.index(b)
            days.extend((i + k) % 7 for k in range((j - i) % 7 + 1))
        elif part in DAYS:
            days.append(DAYS.index(part))
        else:
            raise HoursError(f"unknown day {part!r}: use Mo Tu We Th Fr Sa Su")
    return days


def _parse_span(text: str) -> tuple[int, int]:
    m = _SPAN.match(text.strip())
    if not m:
        raise HoursError(f"time span {text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise HoursError(f"time span {text!r} has an impossible time")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise HoursError(f"time span {text!r} is empty")
    return start, end


def _merge(intervals: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[list[int]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return tuple((a, b) for a, b in merged)


@lru_cache(maxsize=4096)
def parse_hours(text: str | None) -> OpeningHours:
    """Parse an opening-hours string (see OpeningHours); HoursError with a reason if invalid."""
    text = (text or "").strip()
    if not text:
        return OpeningHours("", ())
    if text.lower() in ("24/7", "24h", "00:00-24:00"):
        return OpeningHours("24/7", ((0, WEEK_MIN),))
    raw: list[tuple[int, int]] = []
    for rule in filter(None, (r.strip() for r in text.split(";"))):
        days_text, _, spans_text = rule.partition(" ")
        if not spans_text.strip():
            raise HoursError(f"rule {rule!r} needs days and times, e.g. 'Mo-Fr 08:00-20:00'")
        days = _parse_days(days_text)
        for span in spans_text.split(","):
            start, end = _parse_span(span)
            for d in days:
                a = d * 1440 + start
                b = d * 1440 + end if end > start else (d + 1) * 1440 + end
                if b <= WEEK_MIN:
                    raw.append((a, b))
                else:  # Sunday overnight wraps into Monday morning
                    raw.append((a, WEEK_MIN))
                    raw.append((0, b - WEEK_MIN))
    return OpeningHours(text, _merge(raw))


def _describe_zh(text: str) -> str:
    out = text
    for en, zh in zip(DAYS, DAYS_ZH, strict=True):
        out = out.replace(en, zh)
    out = re.sub(r"(周.)-(周.)", r"\1至\2", out)  # day ranges read 周一至周五; time spans keep their dash
    out = re.sub(r"(?<=周.),(?=周)", "、", out)  # day lists read 周六、周日
    out = re.sub(r"(?<=\d),(?=\d)", "，", out)  # several spans: 09:00-12:00，14:00-18:00
    return re.sub(r"\s*;\s*", "；", out)
