"""Liveness and readiness for load balancers."""

from __future__ import annotations

from flask import Blueprint, jsonify

from locator.context import current_roster
from locator.store import StoreUnavailable
from locator.web.models import EmptyQuery, Health, Ready
from locator.web.openapi import operation
from locator.web.problems import Problem

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@operation("存活检查 Liveness", tag="health", ok=Health, query=EmptyQuery)
def healthz():
    """Liveness: the process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@operation(
    "就绪检查 Readiness",
    tag="health",
    ok=Ready,
    query=EmptyQuery,
    extra_statuses={503: "Not ready: the store does not answer (nearest and station pages may still answer, stale)"},
)
def readyz():
    """Readiness: the store answers and the roster snapshot is built (confirmed current, never stale)."""
    roster = current_roster()
    try:
        roster.store.ping()
        snap = roster.snapshot(stale_ok=False)
    except StoreUnavailable:
        stale = roster.snapshots.built_at is not None
        raise Problem(
            503,
            "Service Unavailable",
            "the database cannot be reached"
            + ("; nearest answers and station pages come from the last snapshot" if stale else ""),
            detail_zh="数据库暂时无法连接" + ("，附近驿站查询和驿站页面使用最近一次的数据。" if stale else "。"),
            stale=stale,
        ) from None
    except Exception as exc:  # any store failure means: not ready
        raise Problem(
            503,
            "Service Unavailable",
            f"the store does not answer ({type(exc).__name__})",
            detail_zh="数据库没有响应，服务暂不可用。",
        ) from None
    return jsonify({"status": "ready", "stations": len(snap), "data_version": snap.version})
