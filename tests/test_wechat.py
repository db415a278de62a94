"""WeChat: the JS-SDK signature, the jsapi_ticket cache (fake clock, fake fetcher) and the verification files."""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from locator.wechat_client import TicketCache, WeChatError, find_verify_file, is_verify_name, signature


def test_signature_matches_wechat_documented_example():
    """JS-SDK docs, appendix 1 (签名算法)."""
    sig = signature(
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
        "Wm3WZYTPz0wzccnW",
        1414587457,
        "http://mp.weixin.qq.com?params=value",
    )
    assert sig == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeWeChat:
    """Answers token and getticket URLs like WeChat; counts calls; optionally slow or failing."""

    def __init__(self, expires_in: int = 7200, delay_s: float = 0.0):
        self.calls: list[str] = []
        self.expires_in = expires_in
        self.delay_s = delay_s
        self.ticket_errcode = 0
        self._lock = threading.Lock()

    def __call__(self, url: str) -> dict:
        with self._lock:
            self.calls.append(url)
            n = len(self.calls)
        if self.delay_s:
            time.sleep(self.delay_s)
        parts = urlsplit(url)
        q = parse_qs(parts.query)
        if parts.path.endswith("/token"):
            assert q["grant_type"] == ["client_credential"]
            assert q["appid"] == ["wx-app"] and q["secret"] == ["s3cret"]
            return {"access_token": f"token-{n}", "expires_in": 7200}
        assert parts.path.endswith("/ticket/getticket") and q["type"] == ["jsapi"]
        if self.ticket_errcode:
            return {"errcode": self.ticket_errcode, "errmsg": "invalid credential"}
        return {"errcode": 0, "errmsg": "ok", "ticket": f"ticket-{n}", "expires_in": self.expires_in}

    def ticket_fetches(self) -> int:
        return sum(1 for c in self.calls if "getticket" in c)


def make_cache(fake: FakeWeChat, clock: FakeClock) -> TicketCache:
    return TicketCache("wx-app", "s3cret", fetch=fake, clock=clock, margin_s=300)


def test_ticket_is_fetched_once_for_many_calls():
    fake, clock = FakeWeChat(), FakeClock()
    cache = make_cache(fake, clock)
    tickets = {cache.ticket() for _ in range(50)}
    assert tickets == {"ticket-2"}
    assert len(fake.calls) == 2  # one access_token, one getticket
    assert "access_token=token-1" in fake.calls[1]


def test_ticket_is_fetched_once_from_many_threads():
    fake, clock = FakeWeChat(delay_s=0.05), FakeClock()
    cache = make_cache(fake, clock)
    barrier = threading.Barrier(16)
    got: list[str] = []

    def worker():
        barrier.wait()
        got.append(cache.ticket())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(got) == 16 and set(got) == {"ticket-2"}
    assert fake.ticket_fetches() == 1


def test_ticket_is_refetched_after_expiry_minus_margin():
    fake, clock = FakeWeChat(expires_in=7200), FakeClock(1000.0)
    cache = make_cache(fake, clock)
    assert cache.ticket() == "ticket-2"
    clock.now = 1000.0 + 7200 - 300 - 1  # just before the margin: still cached
    assert cache.ticket() == "ticket-2"
    assert fake.ticket_fetches() == 1
    clock.now = 1000.0 + 7200 - 300  # inside the margin: refetch
    assert cache.ticket() == "ticket-4"
    assert fake.ticket_fetches() == 2


def test_ticket_error_from_wechat_raises_and_is_not_cached():
    fake, clock = FakeWeChat(), FakeClock()
    fake.ticket_errcode = 40001
    cache = make_cache(fake, clock)
    with pytest.raises(WeChatError, match="40001"):
        cache.ticket()
    fake.ticket_errcode = 0
    assert cache.ticket() == "ticket-4"


@pytest.mark.parametrize(
    "answer",
    [{}, {"access_token": "", "expires_in": 7200}, {"access_token": "t"}, ["not", "an", "object"]],
)
def test_malformed_token_answer_raises(answer):
    cache = TicketCache("wx-app", "s3cret", fetch=lambda url: answer, clock=FakeClock())
    with pytest.raises(WeChatError):
        cache.ticket()


def test_config_signs_with_the_cached_ticket():
    fake, clock = FakeWeChat(), FakeClock()
    cache = make_cache(fake, clock)
    cfg = cache.config("https://example.cn/?a=1", timestamp=1414587457, nonce="Wm3WZYTPz0wzccnW")
    assert cfg["appId"] == "wx-app"
    assert cfg["signature"] == signature("ticket-2", "Wm3WZYTPz0wzccnW", 1414587457, "https://example.cn/?a=1")


# -- the endpoint ----------------------------------------------------------------------------------


@pytest.fixture
def wechat_app(app_factory, tmp_path):
    """An app with WeChat configured and a ticket cache over the fake WeChat (no network)."""
    app = app_factory(WECHAT_APPID="wx-app", WECHAT_SECRET="s3cret", WECHAT_ALLOWED_HOSTS="yizhan.example.cn")
    fake, clock = FakeWeChat(), FakeClock()
    app.extensions["wechat_tickets"] = make_cache(fake, clock)
    app.extensions["fake_wechat"] = fake
    return app


def test_jssdk_config_unconfigured_is_503_problem(client):
    resp = client.get("/api/v1/wechat/jssdk-config", query_string={"url": "http://localhost/"})
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    assert "LOCATOR_WECHAT_APPID" in resp.get_json()["detail"]


def test_jssdk_config_signs_the_url_without_fragment(wechat_app):
    client = wechat_app.test_client()
    resp = client.get("/api/v1/wechat/jssdk-config", query_string={"url": "http://localhost/?district=330304#top"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) >= {"appId", "timestamp", "nonceStr", "signature"}
    assert body["appId"] == "wx-app"
    assert body["url"] == "http://localhost/?district=330304"
    assert body["signature"] == signature("ticket-2", body["nonceStr"], body["timestamp"], body["url"])
    assert resp.headers["Cache-Control"] == "no-store"
    for _ in range(5):
        assert (
            client.get("/api/v1/wechat/jssdk-config", query_string={"url": "https://yizhan.example.cn/"}).status_code
            == 200
        )
    assert wechat_app.extensions["fake_wechat"].ticket_fetches() == 1


@pytest.mark.parametrize(
    "url",
    [None, "", "/relative", "ftp://localhost/", "javascript:alert(1)", "http://evil.example.com/",
     "http://user:pw@localhost/", "http://localhost/" + "a" * 2100],
)  # fmt: skip
def test_jssdk_config_rejects_bad_urls(wechat_app, url):
    qs = {} if url is None else {"url": url}
    resp = wechat_app.test_client().get("/api/v1/wechat/jssdk-config", query_string=qs)
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["parameter"] == "url"


def test_jssdk_config_wechat_error_is_502_problem(wechat_app):
    wechat_app.extensions["fake_wechat"].ticket_errcode = 40164
    resp = wechat_app.test_client().get("/api/v1/wechat/jssdk-config", query_string={"url": "http://localhost/"})
    assert resp.status_code == 502
    assert resp.mimetype == "application/problem+json"
    assert "40164" in resp.get_json()["detail"]


# -- verification files ------------------------------------------------------------------------------


@pytest.fixture
def verify_dir(tmp_path):
    d = tmp_path / "wechat-verify"
    d.mkdir()
    (d / "MP_verify_AbC123xyz.txt").write_bytes(b"AbC123xyz")  # no trailing newline: exact bytes matter
    (d / "a1B2c3D4e5.txt").write_bytes(b"7f3e\r\n")
    (d / "notes.md").write_text("private")
    (d / "MP_verify_fake.txt.bak").write_text("backup")
    (tmp_path / "MP_verify_outside.txt").write_text("outside")
    (d / "MP_verify_link.txt").symlink_to(tmp_path / "MP_verify_outside.txt")
    return d


@pytest.fixture
def verify_client(app_factory, verify_dir):
    return app_factory(WECHAT_VERIFY_FILES=str(verify_dir)).test_client()


@pytest.mark.parametrize(
    ("path", "content"),
    [("/MP_verify_AbC123xyz.txt", b"AbC123xyz"), ("/a1B2c3D4e5.txt", b"7f3e\r\n")],
)
def test_verification_file_served_with_exact_bytes(verify_client, path, content):
    resp = verify_client.get(path)
    assert resp.status_code == 200
    assert resp.data == content
    assert resp.mimetype == "text/plain"


@pytest.mark.parametrize(
    "path",
    [
        "/MP_verify_missing.txt",
        "/notes.md",
        "/MP_verify_fake.txt.bak",
        "/MP_verify_link.txt",  # a symlink leading out of the directory
        "/MP_verify_..%2Fsecret.txt",
        "/..%2FMP_verify_outside.txt",
        "/%2e%2e/MP_verify_outside.txt",
        "/robots.txt",  # too short for a check-file name
        "/MP_verify_AbC123xyz.TXT",
        "/sub/MP_verify_AbC123xyz.txt",
    ],
)
def test_verification_route_serves_nothing_else(verify_client, path):
    assert verify_client.get(path).status_code == 404


def test_verification_route_without_directory_is_404(client):
    assert client.get("/MP_verify_AbC123xyz.txt").status_code == 404


@pytest.mark.parametrize(
    ("name", "ok"),
    [("MP_verify_abc.txt", True), ("abcdef.txt", True), ("../x.txt", False), ("MP_verify_a b.txt", False),
     ("a.txt", False), ("MP_verify_.txt", False), (".htaccess", False)],
)  # fmt: skip
def test_verify_name_pattern(name, ok):
    assert is_verify_name(name) is ok


def test_find_verify_file_refuses_traversal(verify_dir):
    assert find_verify_file(verify_dir, "../MP_verify_outside.txt") is None
    assert find_verify_file(verify_dir, "MP_verify_AbC123xyz.txt").content == b"AbC123xyz"
    assert find_verify_file(None, "MP_verify_AbC123xyz.txt") is None
