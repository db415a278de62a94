"""Liveness and readiness for load balancers."""

from __future__ import annotations

from flask import Blueprint, jsonify

from locator.context import current_roster
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
    extra_statuses={503: "Not ready: the store does not answer"},
)
def readyz():
    """Readiness: the store answers and the roster snapshot is built."""
    roster = current_roster()
    try:
        roster.store.ping()
        snap = roster.snapshot()
    except Exception as exc:  # any store failure means: not ready
        raise Problem(
            503,
            "Service Unavailable",
            f"the store does not answer ({type(exc).__name__})",
            detail_zh="数据库没有响应，服务暂不可用。",
        ) from None
    return jsonify({"status": "ready", "stations": len(snap), "data_version": snap.version})
