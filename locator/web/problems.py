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
    """An HTTP error decided in the web layer, with a problem-details body (give it a `detail_zh`)."""

    def __init__(self, status: int, title: str, detail: str = "", *, detail_zh: str | None = None, **extra: Any):
        super().__init__(detail or title)
        self.http_status = status
        self.title = title
        self.detail_zh = detail_zh
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        """Whatever the view added."""
        return self.extra


# Query parameters as people call them, for the Chinese text of a 400 that names one.
PARAMETER_NAMES_ZH = {
    "lat": "纬度",
    "lng": "经度",
    "k": "数量",
    "radius": "半径",
    "type": "类型",
    "amenity": "服务设施",
    "district": "区县",
    "q": "搜索词",
    "limit": "条数",
    "offset": "起始位置",
    "cursor": "翻页位置",
    "bbox": "范围",
    "basemap": "底图",
    "center": "中心点",
    "crs": "坐标系",
    "format": "文件格式",
    "open": "开放状态",
    "open_now": "此刻开放",
    "datetime": "时间",
    "status": "状态",
    "zoom": "缩放级别",
    "file": "文件",
    "layer": "图层",
    "version": "版本",
    "until": "暂停至",
    "next": "登录后打开的页面",
    "digest": "预览",
    "url": "页面地址",
}


def parameter_zh(name: str) -> str:
    """A parameter as people call it: 「纬度」（lat）."""
    label = PARAMETER_NAMES_ZH.get(name)
    return f"「{label}」（{name}）" if label else f"「{name}」"


def bad_parameter(name: str, detail: str, detail_zh: str | None = None) -> BadParameter:
    """400 naming the query parameter at fault (a Chinese text is made from the name when none is given)."""
    return BadParameter(name, detail, detail_zh or f"参数{parameter_zh(name)}有误，请检查。")


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


# What a Chinese reader is told when nothing more specific is known (HTTP errors of the framework).
DETAIL_ZH = {
    400: "请求有误，请检查后重试。",
    401: "请先登录，或在请求中提供有效的访问令牌。",
    403: "没有权限进行这项操作。",
    404: "没有找到这个页面或数据，请检查网址。",
    405: "不支持这种请求方式。",
    406: "无法提供所要求的格式。",
    409: "数据已被他人修改，请刷新后重试。",
    410: "这项内容已不存在。",
    412: "数据已被他人修改（版本不符），请重新读取后再修改。",
    413: "上传的内容太大。",
    414: "请求地址过长",
    415: "不支持这种内容类型。",
    422: "提交的数据有误。",
    428: "缺少版本信息，请先读取数据后再修改。",
    429: "请求过于频繁，请稍后再试。",
    431: "请求头过大。",
    500: "服务器出错了，已记录，请稍后再试。",
    502: "上游服务暂不可用，请稍后再试。",
    503: "服务暂不可用，请稍后再试。",
}


def detail_zh_for(status: int) -> str:
    """The Chinese text of an HTTP status when no error said more."""
    return DETAIL_ZH.get(status) or f"请求未能完成（{status}）。"


def problem_body(
    status: int, title: str, detail: str = "", *, detail_zh: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The members of a problem+json answer (also used by gunicorn.conf.py for gunicorn's own errors).

    Every answer carries `detail_zh`: the error's own Chinese text, else the status's.
    """
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["detail_zh"] = detail_zh or detail_zh_for(status)
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

    problem+json keeps the English `detail` for developers and always adds `detail_zh`.
    """
    if wants_json(request):
        resp = current_app.json.response(problem_body(status, title, detail, detail_zh=detail_zh, **extra))
        resp.mimetype = PROBLEM_JSON
    else:
        page = render_template(
            "error.html",
            status=status,
            message=_ZH.get(status, "请求未能完成"),
            detail=detail_zh or detail_zh_for(status),
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
        zh = detail_zh_for(exc.code or 500)
        if exc.code == 413:
            limit = app.config.get("MAX_UPLOAD_MB")
            zh = f"上传的内容超过 {limit} MB 的上限：请把文件拆成几个后再上传。" if limit else zh
        return problem_response(exc.code or 500, exc.name, exc.description or "", headers=headers, detail_zh=zh)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(
            500, "Internal Server Error", "an unexpected error occurred; it has been logged", detail_zh=DETAIL_ZH[500]
        )
