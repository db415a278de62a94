"""Liveness and readiness for load balancers."""

from __future__ import annotations

from flask import Blueprint, jsonify

from locator import current_roster

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Readiness: the store answers and the roster snapshot is built."""
    roster = current_roster()
    try:
        roster.store.ping()
        snap = roster.snapshot()
    except Exception as exc:  # any store failure means: not ready
        resp = jsonify({"status": "unavailable", "detail": type(exc).__name__})
        resp.status_code = 503
        resp.mimetype = "application/problem+json"
        return resp
    return jsonify({"status": "ready", "stations": len(snap), "data_version": snap.version})
