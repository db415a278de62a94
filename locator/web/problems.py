"""Errors as RFC 9457 problem details (application/problem+json): the only place errors become answers.

Domain errors carry their status (locator.errors.LocatorError); views raise them, or Problem for
an answer that only the web layer knows (403, 412, 428…). One handler turns any of them into
problem+json for API clients and into a short Chinese page for people.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from locator.errors import BadParameter, LocatorError

PROBLEM_JSON = "application/problem+json"
# Paths whose answers are data, never pages: they always get problem+json.
DATA_PATHS = ("/api/", "/ogc", "/healthz", "/readyz", "/maps/data/", "/maps/stations/")
DATA_SUFFIXES = (".json", ".png", ".svg")


class Problem(LocatorError):
    """An HTTP error decided in the web layer, with a problem-details body."""

    def __init__(self, status: int, title: str, detail: str = "", *, detail_zh: str | None = None, **extra: Any):
        super().__init__(detail or title)
        self.http_status = status
        self.title = title
        self.detail_zh = detail_zh
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        """Whatever the view added."""
        return self.extra


def bad_parameter(name: str, detail: str, detail_zh: str | None = None) -> BadParameter:
    """400 naming the query parameter at fault."""
    return BadParameter(name, detail, detail_zh)


def wants_json(req: Request) -> bool:
    """Data paths always get JSON; other paths when the client prefers it."""
    if req.path.startswith(DATA_PATHS) or req.path.endswith(DATA_SUFFIXES):
        return True
    best = req.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in ("application/json", PROBLEM_JSON)


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
    502: "上游服务暂不可用",
    503: "服务暂不可用",
}


def problem_body(
    status: int, title: str, detail: str = "", *, detail_zh: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The members of a problem+json answer (also used by gunicorn.conf.py for gunicorn's own errors)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if detail_zh:
        body["detail_zh"] = detail_zh
    body.update(extra)
    return body


def problem_response(
    status: int,
    title: str,
    detail: str = "",
    headers: dict[str, str] | None = None,
    *,
    detail_zh: str | None = None,
    **extra: Any,
):
    """A problem+json (data paths, API clients) or a short Chinese HTML page (people).

    problem+json keeps the English `detail` for developers and adds `detail_zh` when known.
    """
    if wants_json(request):
        resp = current_app.json.response(problem_body(status, title, detail, detail_zh=detail_zh, **extra))
        resp.mimetype = PROBLEM_JSON
    else:
        page = render_template(
            "error.html",
            status=status,
            message=_ZH.get(status, title),
            detail=detail_zh or detail,
            parameter=extra.get("parameter"),
        )
        resp = current_app.response_class(page, mimetype="text/html")
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def init_app(app: Flask) -> None:
    """Register the handlers that turn errors into problem details."""

    @app.errorhandler(LocatorError)
    def _locator_error(exc: LocatorError):
        if exc.http_status >= 500:
            app.logger.warning("%s on %s %s: %s", exc.title, request.method, request.path, exc)
        return problem_response(exc.http_status, exc.title, str(exc), detail_zh=exc.detail_zh, **exc.problem())

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
