"""WeChat JS-SDK support, no Flask: the config signature and a thread-safe jsapi_ticket cache.

The ticket comes from WeChat's API in two steps (access_token, then getticket). It is cached
until shortly before it expires; the clock and the HTTP fetcher are injected so tests run
with a fake clock and a fake fetcher instead of the network.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from locator.errors import LocatorError

TOKEN_URL = "https://api.weixin.qq.com/cgi-bin/token"
TICKET_URL = "https://api.weixin.qq.com/cgi-bin/ticket/getticket"
EXPIRY_MARGIN_S = 300  # refetch five minutes before WeChat says the ticket expires
JSSDK_SCRIPT = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"

Fetcher = Callable[[str], dict[str, Any]]


class WeChatError(LocatorError):
    """WeChat's API failed or answered with an error code."""

    http_status = 502
    title = "Bad Gateway"
    detail_zh = "微信接口暂时无法使用，请稍后再试。"


def configured(config: Mapping[str, Any]) -> bool:
    """True when the app's settings give an AppID and an AppSecret (the JS-SDK can be used)."""
    return bool(config.get("WECHAT_APPID") and config.get("WECHAT_SECRET"))


def signature(jsapi_ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """The JS-SDK config signature: SHA-1 over the sorted key=value pairs joined with '&'."""
    fields = {"jsapi_ticket": jsapi_ticket, "noncestr": noncestr, "timestamp": str(timestamp), "url": url}
    text = "&".join(f"{k}={fields[k]}" for k in sorted(fields))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def http_fetch_json(url: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """GET a WeChat API URL and decode its JSON body (WeChatError on any failure)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - fixed https hosts
            return json.loads(resp.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise WeChatError(f"WeChat API unreachable or not JSON: {exc.__class__.__name__}") from None


def _checked(body: Any, field: str) -> tuple[str, int]:
    if not isinstance(body, dict):
        raise WeChatError("WeChat API answered with something other than a JSON object")
    if body.get("errcode"):
        raise WeChatError(f"WeChat API error {body.get('errcode')}: {body.get('errmsg', '')}")
    value, expires = body.get(field), body.get("expires_in")
    if not isinstance(value, str) or not value or not isinstance(expires, int) or expires <= 0:
        raise WeChatError(f"WeChat API answer lacks {field} or expires_in")
    return value, expires


class TicketCache:
    """One jsapi_ticket for many requests: fetched once, under a lock, until it nearly expires."""

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        fetch: Fetcher = http_fetch_json,
        clock: Callable[[], float] = time.monotonic,
        margin_s: float = EXPIRY_MARGIN_S,
    ):
        self.appid = appid
        self._secret = secret
        self._fetch = fetch
        self._clock = clock
        self._margin = margin_s
        self._lock = threading.Lock()
        self._ticket: str | None = None
        self._expires_at = 0.0

    def ticket(self) -> str:
        """The current jsapi_ticket, fetching a new one only when the cached one is (nearly) expired."""
        with self._lock:
            now = self._clock()
            if self._ticket is None or now >= self._expires_at:
                self._ticket, self._expires_at = None, 0.0
                token, _ = _checked(
                    self._fetch(
                        TOKEN_URL
                        + "?"
                        + urlencode({"grant_type": "client_credential", "appid": self.appid, "secret": self._secret})
                    ),
                    "access_token",
                )
                ticket, expires = _checked(
                    self._fetch(TICKET_URL + "?" + urlencode({"access_token": token, "type": "jsapi"})), "ticket"
                )
                self._ticket = ticket
                self._expires_at = now + max(0.0, expires - self._margin)
            return self._ticket

    def config(self, url: str, *, timestamp: int | None = None, nonce: str | None = None) -> dict[str, Any]:
        """The wx.config() parameters for a page URL (fragment already removed)."""
        ts = int(time.time()) if timestamp is None else timestamp
        nonce = nonce or secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")
        return {
            "appId": self.appid,
            "timestamp": ts,
            "nonceStr": nonce,
            "signature": signature(self.ticket(), nonce, ts, url),
            "url": url,
        }


# MP_verify_<code>.txt (official accounts: JS interface domain) and the mini-program
# 业务域名 check file, a random alphanumeric name such as "a1B2c3D4e5.txt".
_VERIFY_NAME = re.compile(r"^(MP_verify_[A-Za-z0-9]{1,64}|[A-Za-z0-9]{6,64})\.txt$")


def is_verify_name(name: str) -> bool:
    """True for names WeChat's domain checks use; anything else is never served."""
    return bool(_VERIFY_NAME.fullmatch(name))


@dataclass(frozen=True)
class VerifyFile:
    """A domain-verification file: its exact bytes."""

    name: str
    content: bytes


def find_verify_file(directory: str | Path | None, name: str) -> VerifyFile | None:
    """The verification file `name` directly inside `directory`, or None (bad name, missing, outside)."""
    if not directory or not is_verify_name(name):
        return None
    base = Path(directory).resolve()
    path = (base / name).resolve()
    if path.parent != base or not path.is_file():
        return None
    return VerifyFile(name, path.read_bytes())
