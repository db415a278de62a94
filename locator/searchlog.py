"""The search log: how many nearest searches fell in each H3 cell per day. Privacy first; no Flask.

Each nearest request adds 1 to an in-memory counter of (day, H3 resolution-8 cell): about
0.7 km², coarse enough to publish per-period counts without locating a person. Nothing else of
the request is kept: no point, no IP, no id, no time of day. Each process writes its counters in
one transaction about once a minute from a background thread (never on the request's path) and
on shutdown; the stored counts add up across processes and servers. Views and exports read
period totals with cells under MIN_SEARCHES suppressed (locator/demand.py); counts older than
KEEP_DAYS are deleted. LOCATOR_DEMAND_LOG=false switches it off.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from h3.api.basic_int import latlng_to_cell

RESOLUTION = 8  # ≈ 0.74 km² per cell on average (≈ 0.6 km² at Wenzhou's latitude)
MIN_SEARCHES = 5  # cells with fewer searches in a period are never shown or exported
KEEP_DAYS = 180
FLUSH_EVERY_S = 60.0
MAX_CELLS_IN_MEMORY = 500_000  # a flush that keeps failing must not grow without bound
_CHINA_OFFSET_S = 8 * 3600  # Asia/Shanghai has no daylight saving: a day is a fixed offset from UTC
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

log = logging.getLogger(__name__)
Writer = Callable[[Sequence[tuple[str, Any, int]]], None]


def day_number(now: float | None = None) -> int:
    """Days since 1970-01-01 in Asia/Shanghai (cheap: one time() call and a division)."""
    return int(((time.time() if now is None else now) + _CHINA_OFFSET_S) // 86400)


def day_text(number: int) -> str:
    """A day number as an ISO date."""
    return date.fromordinal(number + _EPOCH_ORDINAL).isoformat()


def today_text() -> str:
    """Today in Asia/Shanghai as an ISO date."""
    return day_text(day_number())


def period(days: int, last: str | None = None) -> tuple[str, str]:
    """(first day, last day) of the `days` days ending with `last` (default: today), ISO dates."""
    end = date.fromisoformat(last) if last else date.fromisoformat(today_text())
    return (end - timedelta(days=days - 1)).isoformat(), end.isoformat()


class DailyCounts:
    """Per-process counters of events per (day, key), written in batches by a background thread.

    `_count(key)` is all a request pays: one dict update under an uncontended lock. The thread starts
    on the first event in each process (after a fork too); it writes every `interval_s` (with jitter)
    and at exit, in one transaction, rows (ISO day, key, count) that add up across processes. Counts
    of days older than `keep_days` are deleted once a day through `prune`. SearchLog (cells) and the
    "这里可用" confirmations (locator/reports.py, station ids) are the two kinds.
    """

    label = "daily counts"  # how log lines name it
    keep_days = KEEP_DAYS

    def __init__(
        self, write: Writer, *, interval_s: float = FLUSH_EVERY_S, prune: Callable[[str], object] | None = None
    ):
        self._write = write
        self._prune = prune
        self._interval = interval_s
        self._counts: dict[tuple[int, object], int] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._pruned_day = -1
        self._jitter = random.Random()  # its own: the global random state belongs to the program (and tests)
        self.flushes = 0
        _LOGS.add(self)

    def _count(self, key: object) -> None:
        """Add 1 to today's counter of `key`."""
        day_key = (day_number(), key)
        with self._lock:
            self._counts[day_key] = self._counts.get(day_key, 0) + 1
        if self._thread is None:
            self._start()

    def pending(self) -> int:
        """Events counted in memory and not yet written."""
        with self._lock:
            return sum(self._counts.values())

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            thread = threading.Thread(target=self._run, name=self.label.replace(" ", "-"), daemon=True)
            self._thread = thread
        thread.start()

    def _run(self) -> None:
        # Jitter: the workers of one server (started together) do not all write in the same second.
        while not self._stop.wait(self._interval * self._jitter.uniform(0.9, 1.1)):
            self.flush()

    def flush(self, *, quiet: bool = False) -> int:
        """Write the counters in one transaction; returns how many events were written.

        On failure the counts go back into memory (to be tried again) and a warning is logged
        (a debug line when `quiet`: at exit, where a closed database is expected in tests).
        """
        with self._flush_lock:
            with self._lock:
                counts, self._counts = self._counts, {}
            if counts:
                rows = [(day_text(day), key, n) for (day, key), n in sorted(counts.items())]
                try:
                    self._write(rows)
                except Exception as exc:  # noqa: BLE001 - the log must never take the service down
                    self._restore(counts)
                    (log.debug if quiet else log.warning)(
                        "%s: could not write %d counts (%s); will retry", self.label, len(counts), exc
                    )
                    return 0
                self.flushes += 1
                self._prune_daily(quiet)  # only where events are written: a CLI command's exit writes nothing
            return sum(counts.values())

    def _restore(self, counts: dict[tuple[int, object], int]) -> None:
        with self._lock:
            for key, n in counts.items():
                self._counts[key] = self._counts.get(key, 0) + n
            if len(self._counts) > MAX_CELLS_IN_MEMORY:
                log.warning("%s: dropping %d unwritten counts", self.label, len(self._counts))
                self._counts.clear()

    def _prune_daily(self, quiet: bool) -> None:
        today = day_number()
        if self._prune is None or self._pruned_day == today:
            return
        try:
            self._prune(day_text(today - self.keep_days + 1))
            self._pruned_day = today
        except Exception as exc:  # noqa: BLE001
            (log.debug if quiet else log.warning)("%s: could not delete old counts (%s)", self.label, exc)

    def close(self, *, quiet: bool = False) -> None:
        """Stop the thread and write what is left (at shutdown)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)
        self._thread = None
        self.flush(quiet=quiet)

    def _after_fork(self) -> None:
        # A forked child inherits the parent's counts (the parent writes them) but not its thread.
        self._counts = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._thread = None
        self._stop = threading.Event()


class SearchLog(DailyCounts):
    """Per-process counters of searches per (day, H3 cell), written by a background thread.

    `add` is the only thing the request path calls: one H3 lookup, one dict update under an
    uncontended lock.
    """

    label = "search log"

    def add(self, lng: float, lat: float) -> None:
        """Count one search at a WGS-84 point: only its cell and day are kept."""
        self._count(latlng_to_cell(lat, lng, RESOLUTION))


_LOGS: weakref.WeakSet[DailyCounts] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for search_log in list(_LOGS):
        search_log._after_fork()


def _close_all() -> None:
    for search_log in list(_LOGS):
        try:
            search_log.close(quiet=True)
        except Exception:  # noqa: BLE001, S110 - at exit, a closed database is not worth a traceback
            pass


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all)
