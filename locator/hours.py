"""Weekly opening hours: the stored grammar, its parser, open-now and next-opening, and the
reader of hours as offices write them (周一至周五 9:00-18:00，周六 9:00-12:00；节假日休息). No Flask.

Everything is evaluated in Asia/Shanghai, whatever the server's time zone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
DAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
WEEK_MIN = 7 * 24 * 60
HOLIDAYS_OFF = "PH off"  # the public-holiday rule of the stored grammar (opening_hours' PH)
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
HOURS_EXAMPLES_ZH = "「周一至周五 9:00-18:00，周六 9:00-12:00」「每天 8:00-20:00」「全天」「08:00-12:00,14:00-18:00」"


class HoursError(ValueError):
    """Opening hours that cannot be read; `zh` says why in Chinese, with examples."""

    def __init__(self, message: str, zh: str = ""):
        super().__init__(message)
        self.zh = zh or f"无法识别开放时间，请按 {HOURS_EXAMPLES_ZH} 这样的写法填写。"


@dataclass(frozen=True)
class OpeningHours:
    """Weekly opening hours: half-open intervals in minutes of the week (Monday 00:00 = 0).

    Grammar: "24/7", or rules separated by ";", each "<days> <HH:MM-HH:MM>[,<HH:MM-HH:MM>…]".
    Days are Mo..Su as ranges ("Mo-Fr") or lists ("Sa,Su"). An end of "24:00" is midnight; an
    end earlier than the start runs overnight into the next day (Sunday wraps to Monday).
    The rule "PH off" says the station closes on public holidays (节假日休息): it is stored and
    shown, but open-now knows no holiday calendar and does not apply it.
    The empty string means "hours unknown" (never reported open by hours).
    """

    text: str
    intervals: tuple[tuple[int, int], ...]
    holidays_off: bool = False

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
        """A short Chinese description for pages (read back by read_hours: the edit form shows it)."""
        holidays = "；节假日休息" if self.holidays_off else ""
        if self.always:
            return "24小时开放" + holidays
        if not self.intervals:
            return "节假日休息" if self.holidays_off else "开放时间未知"
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


def _check_span(text: str, h1: int, m1: int, h2: int, m2: int) -> tuple[int, int]:
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise HoursError(
            f"time span {text!r} has an impossible time", f"时间段“{text}”中的时间不存在（小时 0～24，分钟 0～59）。"
        )
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise HoursError(f"time span {text!r} is empty", f"时间段“{text}”的开始和结束相同。")
    return start, end


def _parse_span(text: str) -> tuple[int, int]:
    m = _SPAN.match(text.strip())
    if not m:
        raise HoursError(f"time span {text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    return _check_span(text, h1, m1, h2, m2)


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
    """Parse an opening-hours string of the stored grammar (see OpeningHours); HoursError if invalid."""
    text = (text or "").strip()
    if not text:
        return OpeningHours("", ())
    if text.lower() in ("24/7", "24h", "00:00-24:00"):
        return OpeningHours("24/7", ((0, WEEK_MIN),))
    raw: list[tuple[int, int]] = []
    holidays_off = False
    for rule in filter(None, (r.strip() for r in text.split(";"))):
        if rule == HOLIDAYS_OFF:
            holidays_off = True
            continue
        if rule.lower() == "24/7":
            raw.append((0, WEEK_MIN))
            continue
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
    return OpeningHours(text, _merge(raw), holidays_off)


def _describe_zh(text: str) -> str:
    out = text.replace(HOLIDAYS_OFF, "节假日休息").replace("24/7", "24小时开放")
    for en, zh in zip(DAYS, DAYS_ZH, strict=True):
        out = out.replace(en, zh)
    out = re.sub(r"(周.)-(周.)", r"\1至\2", out)  # day ranges read 周一至周五; time spans keep their dash
    out = re.sub(r"(?<=周.),(?=周)", "、", out)  # day lists read 周六、周日
    out = re.sub(r"(?<=\d),(?=\d)", "，", out)  # several spans: 09:00-12:00，14:00-18:00
    return re.sub(r"\s*;\s*", "；", out)


# -- hours as offices write them ------------------------------------------------------------------

_DAY_CHARS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_DAY_CHARS.update({str(i + 1): i for i in range(7)})
_EVERY_DAY = frozenset(range(7))
_GROUPS = {
    "工作日": frozenset(range(5)),
    "周末": frozenset({5, 6}),
    "双休日": frozenset({5, 6}),
    "每天": _EVERY_DAY,
    "每日": _EVERY_DAY,
    "天天": _EVERY_DAY,
    "全周": _EVERY_DAY,
    "全年无休": _EVERY_DAY,
    "全年": _EVERY_DAY,
    "一周七天": _EVERY_DAY,
    "七天": _EVERY_DAY,
    "7天": _EVERY_DAY,
}
_AM_PM = {"上午": 0, "早上": 0, "早晨": 0, "早": 0, "凌晨": 0, "次日": 0, "第二天": 0, "隔天": 0,
          "中午": 12, "下午": 12, "傍晚": 12, "晚上": 12, "晚": 12, "夜间": 12, "夜里": 12}  # fmt: skip
_TOKEN = re.compile(
    r"""
    (?P<allday>全天\s*24\s*小时|全天候|全天|24\s*小时|二十四小时|24h|通宵|00:00-24:00|0:00-24:00)
  | (?P<day>(?:周|星期|礼拜)[一二三四五六日天七1-7]|(?:Mo|Tu|We|Th|Fr|Sa|Su)(?![a-z]))
  | (?P<group>工作日|周末|双休日|每天|每日|天天|全周|全年无休|全年|(?:一周)?[7七]天)
  | (?P<ph>(?:法定|国定|国家法定)?(?:节假日|假日|节日|假期)|PH(?![a-z]))
  | (?P<off>休息|闭馆|休馆|不开放|不营业|停业|闭店|关闭|关门|歇业|不办公|off(?![a-z])|closed)
  | (?P<open>照常开放|正常开放|照常营业|正常营业|照常|正常|开放|营业|办公|服务|上班)
  | (?P<lunch>午休)
  | (?P<time>(?:(?P<ampm>上午|早上|早晨|早|凌晨|次日|第二天|隔天|中午|下午|傍晚|晚上|晚|夜间|夜里)\s*)?
        (?P<h>\d{1,2})(?:\s*(?::|\.|点|时)\s*(?P<m>\d{1,2}|半)?\s*分?)?)
  | (?P<range>-|至|到|~)
  | (?P<list>、|,|和|及|与|/|&)
  | (?P<sep>;|。|\n)
  | (?P<daynum>[一二三四五六日天])
  | (?P<noise>\s+|[()【】\[\]“”"'：:]|营业时间|开放时间|服务时间|办公时间|时间|均|为|是|其[他余](?:时间)?|另|等)
    """,
    re.X | re.I,
)


@dataclass
class _Rule:
    days: set[int]
    holidays: bool
    spans: list[tuple[int, int]]
    lunch: list[tuple[int, int]]
    off: bool = False
    implicit: bool = False  # times written without days: every day, unless days follow (9:00-17:00（周一至周五）)


def _plain(text: str) -> str:
    """Full-width digits and punctuation as ASCII, dashes and tildes as '-'."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[—–―‒−~〜]+", "-", text).replace("--", "-")


def _days_text(days: Iterable[int]) -> str:
    """Day indices in the stored grammar: runs of 3+ as ranges (Mo-Fr), others listed (Sa,Su)."""
    ordered = sorted(set(days))
    parts, i = [], 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{DAYS[ordered[i]]}-{DAYS[ordered[j]]}")
        else:
            parts.extend(DAYS[k] for k in ordered[i : j + 1])
        i = j + 1
    return ",".join(parts)


def _minus(spans: list[tuple[int, int]], gaps: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans without the lunch breaks (same-day spans only; overnight spans are kept whole)."""
    out = spans
    for g0, g1 in gaps:
        cut = []
        for a, b in out:
            if b <= a or g1 <= a or g0 >= b:
                cut.append((a, b))
                continue
            if a < g0:
                cut.append((a, g0))
            if g1 < b:
                cut.append((g1, b))
        out = cut
    return out


def _hm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def read_hours(text: str | None) -> str:
    """Opening hours as offices write them, in the stored grammar (HoursError, in Chinese, if unreadable).

    The stored grammar itself passes through unchanged; so do the Chinese descriptions that
    describe_zh() gives. E.g. 周一至周五 9:00-18:00，周六 9:00-12:00；节假日休息 →
    Mo-Fr 09:00-18:00; Sa 09:00-12:00; PH off.
    """
    text = (text or "").strip()
    if not text or text == "开放时间未知":
        return ""
    try:
        return parse_hours(text).text
    except HoursError as stored_error:
        first_error = stored_error
    plain = _plain(text)
    if len(plain) > 300:
        raise HoursError("opening hours are longer than 300 characters", "开放时间太长（最多 300 个字）。")
    try:
        rules = _rules(_tokenise(plain, text), text)
        if not rules:
            raise HoursError(f"no opening hours in {text!r}")
        return _stored(rules)
    except HoursError as exc:
        # Text in the stored grammar's alphabet: its own reason is the clearer English one.
        raise HoursError(str(first_error) if text.isascii() else str(exc), exc.zh) from None


def _tokenise(plain: str, original: str) -> list[tuple[str, str, re.Match]]:
    tokens = []
    pos = 0
    while pos < len(plain):
        m = _TOKEN.match(plain, pos)
        if m is None or m.end() == pos:
            bad = re.match(r"\S{1,6}|\s", plain[pos:]).group(0)
            raise HoursError(
                f"cannot read opening hours {original!r} at {bad!r}",
                f"开放时间“{original}”中的“{bad}”无法识别。请按 {HOURS_EXAMPLES_ZH} 这样的写法填写；"
                "节假日休息可写「节假日休息」。",
            )
        kind = m.lastgroup or ""
        if kind == "ampm":  # the time group's inner name wins lastgroup when it matched last
            kind = "time"
        if kind not in ("noise",):
            tokens.append((kind, m.group(0), m))
        pos = m.end()
    return tokens


def _time_of(m: re.Match, original: str) -> int:
    hour = int(m.group("h"))
    minute_text = m.group("m")
    minute = 30 if minute_text == "半" else int(minute_text or 0)
    shift = _AM_PM.get(m.group("ampm") or "", 0)
    if shift and hour < 12:
        hour += shift
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        raise HoursError(
            f"impossible time {m.group(0)!r} in {original!r}",
            f"开放时间“{original}”中的时间“{m.group(0).strip()}”不存在（小时 0～24，分钟 0～59）。",
        )
    return hour * 60 + minute


def _rules(tokens: list[tuple[str, str, re.Match]], original: str) -> list[_Rule]:
    rules: list[_Rule] = []
    current: _Rule | None = None
    lunch = False
    i = 0

    def start(days: set[int], holidays: bool) -> _Rule:
        rule = _Rule(days, holidays, [], [])
        rules.append(rule)
        return rule

    while i < len(tokens):
        kind, value, m = tokens[i]
        if kind in ("day", "group", "ph"):
            days, holidays, i = _day_expression(tokens, i, original)
            if current is not None and not current.spans and not current.off and not current.lunch:
                current.days |= days  # 周一、周三 9:00-11:00 written with a space: one set
                current.holidays |= holidays
            else:
                current = start(days, holidays)
            continue
        if kind in ("time", "allday"):
            if kind == "allday":
                span = (0, 1440)
                i += 1
            else:
                span, i = _span(tokens, i, original)
            if current is None or (current.off and not lunch):
                current = start(set(_EVERY_DAY), False)
                current.implicit = True
            (current.lunch if lunch else current.spans).append(span)
            lunch = False
            continue
        if kind == "off":
            if lunch:  # 午休 … 休息 says nothing more
                i += 1
                continue
            if current is None:
                raise HoursError(
                    f"{original!r}: which days are closed?",
                    f"开放时间“{original}”没有说明哪几天休息，例如「周一休息」。",
                )
            current.off = True
        elif kind == "open":
            if current is not None and current.holidays and not current.spans and not current.days:
                rules.remove(current)  # 节假日照常开放: nothing to record
                current = None
        elif kind == "lunch":
            lunch = True
        elif kind == "daynum":
            raise HoursError(
                f"{original!r}: {value!r} is not a day",
                f"开放时间“{original}”中的“{value}”不是完整的星期写法，例如应写「周一至周五」。",
            )
        elif kind == "range":
            raise HoursError(
                f"{original!r}: a range without its start",
                f"开放时间“{original}”中的“{value}”前后不完整，例如应写「9:00-18:00」或「周一至周五」。",
            )
        i += 1
    for before, rule in zip([None, *rules], list(rules), strict=False):
        if before is not None and before.implicit and not rule.spans and not rule.off and not rule.holidays:
            before.days, before.implicit = rule.days, False  # the days written after the times
            rules.remove(rule)
    for rule in rules:
        if not rule.spans and not rule.off:
            named = "节假日" if rule.holidays and not rule.days else _describe_zh(_days_text(rule.days))
            raise HoursError(
                f"{original!r}: days without times",
                f"开放时间“{original}”中{named}缺少时间，例如「周一至周五 9:00-18:00」；不开放请写「{named}休息」。",
            )
    return rules


def _day_expression(tokens, i: int, original: str) -> tuple[set[int], bool, int]:
    """Days joined by ranges (周一至周五) and lists (周六、周日, 周末及节假日) from token i."""
    days: set[int] = set()
    holidays = False
    while i < len(tokens):
        kind, value, m = tokens[i]
        if kind == "group":
            days |= _GROUPS.get(value, _EVERY_DAY)  # (一周)7天
        elif kind == "ph":
            holidays = True
        elif kind == "day":
            first = _day_index(value)
            if i + 2 < len(tokens) and tokens[i + 1][0] == "range" and tokens[i + 2][0] in ("day", "daynum"):
                last = _day_index(tokens[i + 2][1])
                days |= {(first + k) % 7 for k in range((last - first) % 7 + 1)}
                i += 2
            else:
                days.add(first)
        else:
            break
        i += 1
        joined = i + 1 < len(tokens) and tokens[i][0] == "list" and tokens[i + 1][0] in ("day", "group", "ph")
        if joined:
            i += 1  # 周六、周日 / 周末及节假日
            continue
        if i < len(tokens) and tokens[i][0] in ("day", "group", "ph"):
            continue  # 周六 周日
        break
    return days, holidays, i


def _day_index(token: str) -> int:
    if token[:2] in DAYS:
        return DAYS.index(token[:2])
    return _DAY_CHARS[token[-1]]


def _span(tokens, i: int, original: str) -> tuple[tuple[int, int], int]:
    kind, value, m = tokens[i]
    if not (i + 2 < len(tokens) and tokens[i + 1][0] == "range" and tokens[i + 2][0] == "time"):
        raise HoursError(
            f"{original!r}: {value!r} is not a time span",
            f"开放时间“{original}”中的“{value.strip()}”不是完整的时间段，例如应写「9:00-18:00」。",
        )
    start = _time_of(m, original)
    end_match = tokens[i + 2][2]
    end = _time_of(end_match, original)
    if _AM_PM.get(m.group("ampm") or "") and not end_match.group("ampm") and end < 12 * 60 and end + 720 > start:
        end += 12 * 60  # 下午2:00-5:30: the afternoon goes on to the end
    if start == 24 * 60:
        start = 0
    if start == end:
        raise HoursError(f"{original!r}: an empty time span", f"开放时间“{original}”中的时间段开始和结束相同。")
    if end == 0:
        end = 24 * 60  # …-0:00 and …-24:00 both close at midnight
    return (start, end), i + 3


def _stored(rules: list[_Rule]) -> str:
    """The rules in the stored grammar: closed days taken out of earlier rules, 午休 cut out."""
    closed = set().union(*(r.days for r in rules if r.off))  # 周一休息 wherever it is written
    holidays_off = any(r.off and r.holidays for r in rules)
    open_rules = [
        (set(r.days) - closed, _minus(r.spans, r.lunch)) for r in rules if not r.off and r.days
    ]  # hours for holidays only have no place in the weekly grammar
    parts = []
    for days, spans in open_rules:
        if not days or not spans:
            continue
        ordered = sorted(set(spans))
        if days == set(_EVERY_DAY) and ordered == [(0, 1440)] and len(open_rules) == 1:
            parts.append("24/7")
            continue
        parts.append(f"{_days_text(days)} " + ",".join(f"{_hm(a)}-{_hm(b)}" for a, b in ordered))
    if holidays_off:
        parts.append(HOLIDAYS_OFF)
    text = "; ".join(parts)
    try:
        return parse_hours(text).text
    except HoursError as exc:  # a span the stored grammar refuses (e.g. 25:00)
        raise HoursError(str(exc), exc.zh) from None
