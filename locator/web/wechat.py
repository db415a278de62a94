"""WeChat integration for pages opened inside WeChat: the JS-SDK config and domain-verification files."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, abort, current_app, jsonify

from locator.web.http import host_policy
from locator.web.models import JssdkConfig, JssdkConfigQuery
from locator.web.openapi import operation
from locator.web.params import parse_query
from locator.web.problems import Problem, bad_parameter
from locator.wechat_client import TicketCache, configured, find_verify_file

bp = Blueprint("wechat", __name__)
MAX_URL_LEN = 2048


def wechat_configured(app: Flask | None = None) -> bool:
    """True when an AppID and AppSecret are configured."""
    return configured((app or current_app).config)


def ticket_cache() -> TicketCache:
    """The app's one ticket cache (tests may put their own, with a fake clock and fetcher, in extensions)."""
    app = current_app._get_current_object()
    cache = app.extensions.get("wechat_tickets")
    if cache is None:
        cache = app.extensions.setdefault(
            "wechat_tickets", TicketCache(app.config["WECHAT_APPID"], app.config["WECHAT_SECRET"])
        )
    return cache


def _page_url(raw: str | None) -> str:
    """The page URL to sign: http(s), an allowed host (web/http.HostPolicy), without its fragment (as WeChat signs)."""
    if raw is None or not raw.strip():
        raise bad_parameter("url", "is required (the page URL, location.href without '#…')", "缺少页面地址 url")
    url = raw.strip().split("#", 1)[0]
    if len(url) > MAX_URL_LEN:
        raise bad_parameter("url", f"is longer than {MAX_URL_LEN} characters", f"页面地址超过 {MAX_URL_LEN} 个字符")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # e.g. http://[::1 (an unclosed IPv6 bracket)
        raise bad_parameter("url", "is not a valid URL", "页面地址不是有效的网址") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise bad_parameter("url", "must be an absolute http(s) URL", "页面地址必须是完整的 http(s) 网址")
    if parts.username or parts.password:
        raise bad_parameter("url", "must not carry credentials", "页面地址不能包含用户名或密码")
    if not host_policy().allows(hostname):
        raise bad_parameter(
            "url",
            f"host {hostname!r} is not one this service answers to (see LOCATOR_ALLOWED_HOSTS)",
            "页面地址的主机名不属于本服务",
        )
    return url


@bp.get("/api/v1/wechat/jssdk-config")
@operation(
    "微信 JS-SDK 配置 WeChat JS-SDK configuration",
    tag="wechat",
    query=JssdkConfigQuery,
    ok=JssdkConfig,
    extra_statuses={502: "WeChat did not issue a jsapi_ticket", 503: "the JS-SDK is not configured"},
)
def jssdk_config():
    """wx.config() parameters (appId, timestamp, nonceStr, signature) for the page at ?url=."""
    url = _page_url(parse_query(JssdkConfigQuery).url)
    if not wechat_configured():
        raise Problem(
            503,
            "WeChat JS-SDK not configured",
            "set LOCATOR_WECHAT_APPID and LOCATOR_WECHAT_SECRET",
            detail_zh="微信分享功能尚未配置。",
        )
    resp = jsonify(ticket_cache().config(url))  # WeChatError: 502
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/<string:stem>.txt")
def verify_file(stem: str):
    """A WeChat domain-verification file from LOCATOR_WECHAT_VERIFY_FILES, exact bytes; 404 otherwise."""
    found = find_verify_file(current_app.config.get("WECHAT_VERIFY_FILES"), stem + ".txt")
    if found is None:
        abort(404)
    resp = Response(found.content, mimetype="text/plain")
    resp.headers["Cache-Control"] = "no-cache"
    return resp
