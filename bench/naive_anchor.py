"""The naive anchor of the hot-path benchmark (issue 18): the simplest Flask nearest service that works.

A bare Flask app with no hooks, no sessions, no settings: at start it reads every station's id,
name and WGS-84 position from the same database as the service under test (LOCATOR_DATABASE_URL,
and LOCATOR_DATABASE_SCHEMA for PostgreSQL), puts them on the unit sphere in a pykdtree k-d tree,
and answers

- GET /healthz: `jsonify({"status": "ok"})`, which is also "a bare Flask app's /healthz";
- GET /api/v1/stations/nearest?lat=…&lng=…&k=5: the k nearest by chord, `json.dumps` of
  id, name and the great-circle distance.

It never checks the data version, validates nothing beyond float()/int(), and knows nothing of
coordinate systems, filters, opening hours or navigation: it is the floor that the real answer,
which is richer, must still beat in absolute throughput. Served by gunicorn beside the service
under test, in the same set-up (bench/hot_path.py).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
from flask import Flask, Response, jsonify, request
from pykdtree.kdtree import KDTree

EARTH_RADIUS_M = 6_371_008.8


def _rows() -> list[tuple[str, str, float, float]]:
    url = os.environ["LOCATOR_DATABASE_URL"]
    sql = "SELECT id, name, lng, lat FROM stations WHERE status <> 'closed' ORDER BY id"
    if url.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    else:
        import psycopg

        conn = psycopg.connect(url, options=f"-c search_path={os.environ.get('LOCATOR_DATABASE_SCHEMA', 'public')}")
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def _unit(lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lam, phi = np.radians(lng), np.radians(lat)
    return np.column_stack((np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)))


rows = _rows()
ids = [r[0] for r in rows]
names = [r[1] for r in rows]
tree = KDTree(_unit(np.array([r[2] for r in rows], float), np.array([r[3] for r in rows], float)))
del rows

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    """Liveness, as a bare Flask app answers it."""
    return jsonify({"status": "ok"})


@app.get("/api/v1/stations/nearest")
def nearest():
    """The k nearest stations by chord: id, name and great-circle metres."""
    lat = float(request.args["lat"])
    lng = float(request.args["lng"])
    k = int(request.args.get("k", 5))
    chord, idx = tree.query(_unit(np.array([lng]), np.array([lat])), k=k)
    out = [
        {"id": ids[i], "name": names[i], "distance_m": round(2 * EARTH_RADIUS_M * math.asin(min(c / 2, 1.0)), 1)}
        for c, i in zip(chord.ravel().tolist(), idx.ravel().tolist(), strict=True)
    ]
    return Response(json.dumps(out, ensure_ascii=False), mimetype="application/json")
