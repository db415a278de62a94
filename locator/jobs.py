"""A small runner for long analyses: in a background thread, with progress every worker can read. No Flask.

A job is known by an id derived from everything its answer depends on (parameters, data versions).
Its state (running, progress, message, result or error) lives in the database (store/demand.py),
so with several gunicorn workers or servers any of them answers "how far along is it?" and serves
the result. The job runs in the process that claimed it; that thread writes a heartbeat every few
seconds. If the process dies (restart, max_requests, a crash), the heartbeat stops, and the next
request for the same job after STALE_S seconds claims it again and starts it over. One analysis
runs at a time per process (the others wait, queued, with their heartbeats going).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from locator.errors import LocatorError
from locator.store.demand import DemandStore, JobRecord

HEARTBEAT_S = 3.0
STALE_S = 60.0
KEEP_DAYS = 7

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]
Work = Callable[[Progress], str]  # returns the result text (JSON)


def job_id(params: dict[str, Any]) -> str:
    """A stable id for a job's parameters (and the data versions among them)."""
    text = json.dumps(params, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


class JobRunner:
    """Starts jobs in background threads of this process; their state goes to the database."""

    def __init__(self, store: DemandStore, *, heartbeat_s: float = HEARTBEAT_S, stale_s: float = STALE_S):
        self.store = store
        self.heartbeat_s = heartbeat_s
        self.stale_s = stale_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._one_at_a_time = threading.Semaphore(1)

    def submit(self, params: dict[str, Any], work: Work, *, created_by: str) -> JobRecord:
        """The job for `params`: done, running (here or elsewhere), or started now in this process."""
        jid = job_id(params)
        now = datetime.now(UTC)
        stale_before = _iso(now - timedelta(seconds=self.stale_s))
        if self.store.claim_job(jid, params, owner=self.owner, created_by=created_by, stale_before=stale_before):
            try:
                self.store.prune_jobs(_iso(now - timedelta(days=KEEP_DAYS)))
            except Exception as exc:  # noqa: BLE001 - housekeeping must not stop the job
                log.warning("could not prune old coverage jobs: %s", exc)
            threading.Thread(target=self._run, args=(jid, work), name=f"job-{jid[:8]}", daemon=True).start()
        found = self.store.job(jid)
        assert found is not None
        return found

    def _run(self, jid: str, work: Work) -> None:
        latest = {"progress": 0.0, "message": "排队中（另一项分析正在进行）"}

        def progress(fraction: float, message: str) -> None:
            latest["progress"] = max(0.0, min(1.0, float(fraction)))
            latest["message"] = message

        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["result"] = work(progress)
            except LocatorError as exc:
                outcome["error"] = exc.detail_zh or str(exc)
            except Exception as exc:  # noqa: BLE001 - recorded on the job, logged with its traceback
                log.exception("coverage job %s failed", jid)
                outcome["error"] = f"分析出错：{exc.__class__.__name__}"

        try:
            while not self._one_at_a_time.acquire(timeout=self.heartbeat_s):
                self._beat(jid, latest)
            try:
                latest["message"] = "开始分析"
                worker = threading.Thread(target=target, name=f"job-work-{jid[:8]}", daemon=True)
                worker.start()
                while worker.is_alive():
                    self._beat(jid, latest)
                    worker.join(self.heartbeat_s)
            finally:
                self._one_at_a_time.release()
            if "result" in outcome:
                self.store.update_job(jid, status="done", progress=1.0, message="完成", result=outcome["result"])
            else:
                self.store.update_job(jid, status="failed", message="失败", error=outcome.get("error", "分析出错"))
        except Exception as exc:  # noqa: BLE001 - the database itself failed: the heartbeat stops, it is retried
            log.warning("coverage job %s could not record its state: %s", jid, exc)

    def _beat(self, jid: str, latest: dict[str, Any]) -> None:
        self.store.update_job(jid, progress=latest["progress"], message=latest["message"])
