"""Errors as RFC 9457 problem details (application/problem+json), for every API path.

Views raise Problem (or let a typed store/validation error escape); one handler per
error type turns it into JSON. HTML pages get the same status with a short Chinese page.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, jsonify, render_template_string, request
from werkzeug.exceptions import HTTPException

from locator.io import FileInvalid
from locator.stations import StationInvalid
from locator.store.base import Conflict, Invalid, NotFound

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An HTTP error with a problem-details body."""

    def __init__(self, status: int, title: str, detail: str = "", **extra: Any):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra


def bad_parameter(name: str, detail: str) -> Problem:
    """400 naming the query parameter at fault."""
    return Problem(400, "Invalid parameter", f"{name}: {detail}", parameter=name)


def wants_json(req: Request) -> bool:
    """API paths always get JSON; other paths when the client prefers it."""
    if req.path.startswith(("/api/", "/ogc", "/healthz", "/readyz")):
        return True
    best = req.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in ("application/json", PROBLEM_JSON)


_HTML = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{{ status }} {{ title }}</title>
<body style="font-family:sans-serif;padding:1rem"><h1>{{ status }}</h1><p>{{ message }}</p>
<p><a href="/">返回首页</a></p></body></html>"""
_ZH = {
    400: "请求有误",
    401: "请先登录",
    403: "无权访问",
    404: "页面不存在",
    405: "不支持此操作",
    409: "数据已被他人修改",
    413: "上传内容过大",
    422: "数据有误",
    429: "请求过于频繁，请稍后再试",
    500: "服务器内部错误",
    503: "服务暂不可用",
}


def problem_response(status: int, title: str, detail: str = "", headers: dict[str, str] | None = None, **extra: Any):
    """A problem+json (API) or short HTML (pages) response."""
    if wants_json(request):
        body = {"type": "about:blank", "title": title, "status": status}
        if detail:
            body["detail"] = detail
        body.update(extra)
        resp = jsonify(body)
        resp.status_code = status
        resp.mimetype = PROBLEM_JSON
    else:
        resp = render_template_string(_HTML, status=status, title=title, message=_ZH.get(status, detail or title))
        resp = Flask.response_class(resp, status=status, mimetype="text/html")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def init_app(app: Flask) -> None:
    """Register the handlers that turn errors into problem details."""

    @app.errorhandler(Problem)
    def _problem(exc: Problem):
        return problem_response(exc.status, exc.title, exc.detail, **exc.extra)

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound):
        return problem_response(404, "Not Found", str(exc))

    @app.errorhandler(Conflict)
    def _conflict(exc: Conflict):
        extra = {}
        if exc.current is not None:
            extra["current_version"] = exc.current.version
        return problem_response(409, "Conflict", str(exc), **extra)

    @app.errorhandler(Invalid)
    def _invalid(exc: Invalid):
        return problem_response(400, "Invalid request", str(exc))

    @app.errorhandler(FileInvalid)
    def _file_invalid(exc: FileInvalid):
        return problem_response(400, "Invalid file", str(exc))

    @app.errorhandler(StationInvalid)
    def _station_invalid(exc: StationInvalid):
        return problem_response(422, "Invalid station", str(exc), errors=[e.as_json() for e in exc.errors])

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        headers = {}
        if exc.code == 405 and exc.valid_methods:
            headers["Allow"] = ", ".join(exc.valid_methods)
        retry = getattr(exc, "retry_after", None)
        if retry:
            headers["Retry-After"] = str(retry)
        return problem_response(exc.code or 500, exc.name, exc.description or "", headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(500, "Internal Server Error", "an unexpected error occurred; it has been logged")
