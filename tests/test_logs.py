"""Structured logs: one JSON object per line, and riders' coordinates never beyond two decimals."""

from __future__ import annotations

import json
import logging

import pytest


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_logs_are_one_object_per_line_and_keep_coordinates_coarse(app_factory, capsys):
    app = app_factory(LOG_FORMAT="json", LOG_LEVEL="debug")
    capsys.readouterr()
    client = app.test_client()
    resp = client.get("/api/v1/stations/nearest?lat=28.012345&lng=120.654321&k=2")
    assert resp.status_code == 200
    # What werkzeug and gunicorn write for that request: the full query string.
    logging.getLogger("werkzeug").info('"GET /api/v1/stations/nearest?lat=28.012345&lng=120.654321&k=2 HTTP/1.1" 200')
    err = capsys.readouterr().err
    records = _json_lines(err)
    assert records, err
    assert all({"ts", "level", "logger", "message"} <= r.keys() for r in records)
    messages = " ".join(r["message"] for r in records)
    assert "120.65,28.01" in messages  # the view's own debug line, coarsened
    assert "lat=28.01&lng=120.65" in messages  # the access line, coarsened
    assert "28.012345" not in err and "120.654321" not in err
    assert "28.0123" not in err and "120.6543" not in err


def test_json_logs_carry_errors_with_the_request_path_but_no_query(app_factory, capsys):
    app = app_factory(LOG_FORMAT="json")

    @app.get("/boom")
    def boom():
        raise RuntimeError("lat=28.123456 went wrong")

    capsys.readouterr()
    resp = app.test_client().get("/boom?lat=28.123456&lng=120.654321")
    assert resp.status_code == 500
    err = capsys.readouterr().err
    (record,) = [r for r in _json_lines(err) if r["level"] == "error"]
    assert record["path"] == "/boom"
    assert "RuntimeError" in record["exc"]
    assert "28.123456" not in err and "120.654321" not in err


def test_text_logs_stay_the_default(app):
    assert app.config["LOG_FORMAT"] == "text"
    assert not [h for h in logging.getLogger().handlers if h.get_name() == "locator-json"]


@pytest.fixture(autouse=True)
def _remove_json_handler():
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "locator-json":
            root.removeHandler(handler)
