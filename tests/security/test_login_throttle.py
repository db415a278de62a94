"""Logging in is throttled per client and per account before any password is hashed; unknown names cost the same."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

import locator.accounts


@pytest.fixture
def scrypt_calls(monkeypatch):
    """Counts every password hash check (werkzeug's check_password_hash, which runs scrypt)."""
    calls = []
    real = locator.accounts.check_password_hash

    def counting(stored, password):
        calls.append(stored)
        return real(stored, password)

    monkeypatch.setattr(locator.accounts, "check_password_hash", counting)
    return calls


def _attempt(app, name, password, addr="198.51.100.7"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = addr
    client.get("/admin/login")
    with client.session_transaction() as sess:
        csrf = sess["csrf"]
    return client.post("/admin/login", data={"name": name, "password": password, "csrf_token": csrf})


@pytest.fixture
def throttled_app(app_factory):
    """Small limits, so that a test reaches them quickly."""
    from locator.accounts import hash_password

    app = app_factory(RATELIMIT_LOGIN_CLIENT="5/minute", RATELIMIT_LOGIN_ACCOUNT="3/minute")
    app.extensions["accounts"].create_user("boss", "city_admin", (), hash_password("password123"))
    return app


def test_a_client_over_its_limit_gets_429_with_retry_after_and_a_chinese_message(throttled_app):
    for n in range(5):
        assert _attempt(throttled_app, f"guess{n}", "wrong-password").status_code == 401
    resp = _attempt(throttled_app, "guess9", "wrong-password")
    assert resp.status_code == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    error = BeautifulSoup(resp.data, "html.parser").select_one(".error").get_text()
    assert error == "登录尝试过于频繁，请 1 分钟后再试"
    # Even the right password waits: the throttle answers before anything is checked.
    assert _attempt(throttled_app, "boss", "password123").status_code == 429
    # Another client is not affected.
    assert _attempt(throttled_app, "boss", "password123", addr="203.0.113.9").status_code == 302


def test_an_account_is_throttled_whatever_address_the_attempts_come_from(throttled_app):
    for n in range(3):
        assert _attempt(throttled_app, "boss", "wrong-password", addr=f"192.0.2.{n}").status_code == 401
    assert _attempt(throttled_app, "Boss ", "wrong-password", addr="192.0.2.50").status_code == 429
    assert _attempt(throttled_app, "other", "wrong-password", addr="192.0.2.51").status_code == 401


def test_refused_attempts_run_no_password_hash(throttled_app, scrypt_calls):
    """A login flood beyond the limit costs no scrypt: it cannot slow the riders' requests."""
    for n in range(5):
        _attempt(throttled_app, f"x{n}", "wrong-password")
    assert len(scrypt_calls) == 5
    for n in range(20):
        assert _attempt(throttled_app, f"y{n}", "wrong-password").status_code == 429
    assert len(scrypt_calls) == 5


def test_successful_logins_are_not_counted(throttled_app):
    for _ in range(8):
        assert _attempt(throttled_app, "boss", "password123").status_code == 302


@pytest.mark.parametrize("who", ["unknown", "wrong-password", "disabled", "right"])
def test_every_login_costs_exactly_one_password_hash(app, make_user, scrypt_calls, who):
    """Unknown and disabled names run the same scrypt as a wrong password: timing does not tell names apart."""
    user = make_user("boss", "city_admin")
    if who == "disabled":
        app.extensions["accounts"].set_active(user.id, False)
    name = "nobody" if who == "unknown" else "boss"
    password = "password123" if who in ("disabled", "right") else "wrong-password"
    resp = _attempt(app, name, password)
    assert resp.status_code == (302 if who == "right" else 401)
    assert len(scrypt_calls) == 1
    assert scrypt_calls[0].startswith("scrypt:32768:8:1$")  # the same cost parameters as a real hash


def test_the_throttle_is_on_in_tests_and_production_alike(app):
    """Unlike the public rate limits, the login throttle does not switch off with RATELIMIT_ENABLED."""
    for n in range(5):
        _attempt(app, "boss", "wrong-password", addr=f"192.0.2.{n}")
    assert _attempt(app, "boss", "wrong-password", addr="192.0.2.99").status_code == 429


@pytest.mark.parametrize("value", ["often", "10/fortnight"])
def test_bad_login_limits_stop_the_start(app_factory, value):
    from locator.config import ConfigError

    with pytest.raises(ConfigError, match="RATELIMIT_LOGIN_CLIENT"):
        app_factory(RATELIMIT_LOGIN_CLIENT=value)
