"""Rate limits on public endpoints: 429 problem+json with Retry-After, per client, off in tests by default."""

from __future__ import annotations

import pytest

from locator.config import ConfigError

NEAREST = "/api/v1/stations/nearest?lat=28.0&lng=120.65"


def test_nearest_beyond_its_limit_answers_429_problem_json_with_retry_after(app_factory):
    client = app_factory(RATELIMIT_ENABLED="true", RATELIMIT_NEAREST="3/minute").test_client()
    for _ in range(3):
        assert client.get(NEAREST).status_code == 200
    resp = client.get(NEAREST)
    assert resp.status_code == 429
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == 429
    assert body["title"] == "Too Many Requests"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


def test_the_default_limit_covers_other_endpoints_but_not_health_checks(app_factory):
    app = app_factory(RATELIMIT_ENABLED="true", RATELIMIT_DEFAULT="2/minute")

    @app.get("/some-page")
    def some_page():
        return "ok"

    client = app.test_client()
    assert [client.get("/some-page").status_code for _ in range(3)] == [200, 200, 429]
    assert all(client.get("/healthz").status_code == 200 for _ in range(5))
    assert all(client.get("/readyz").status_code == 200 for _ in range(5))
    assert client.get(NEAREST).status_code == 200  # nearest has its own limit, not the default one


def test_limits_are_per_client_address(app_factory):
    client = app_factory(RATELIMIT_ENABLED="true", RATELIMIT_NEAREST="1/minute").test_client()
    a = {"REMOTE_ADDR": "10.0.0.1"}
    b = {"REMOTE_ADDR": "10.0.0.2"}
    assert client.get(NEAREST, environ_base=a).status_code == 200
    assert client.get(NEAREST, environ_base=a).status_code == 429
    assert client.get(NEAREST, environ_base=b).status_code == 200


@pytest.mark.parametrize(("proxies", "separate"), [(0, False), (1, True)])
def test_x_forwarded_for_counts_only_behind_configured_proxies(app_factory, proxies, separate):
    client = app_factory(RATELIMIT_ENABLED="true", RATELIMIT_NEAREST="1/minute", PROXY_COUNT=str(proxies)).test_client()
    proxy = {"REMOTE_ADDR": "192.168.0.9"}
    first = client.get(NEAREST, environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.1"})
    second = client.get(NEAREST, environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.2"})
    assert first.status_code == 200
    assert second.status_code == (200 if separate else 429)


def test_limits_are_off_in_tests_unless_asked_for(client):
    assert all(client.get(NEAREST).status_code == 200 for _ in range(70))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RATELIMIT_NEAREST", "lots"),
        ("RATELIMIT_DEFAULT", "5 per fortnight"),
        ("RATELIMIT_STORAGE_URI", "mysql://x"),
        ("RATELIMIT_ENABLED", "maybe"),
        ("PROXY_COUNT", "-1"),
    ],
)
def test_bad_rate_limit_settings_stop_the_start_naming_the_setting(app_factory, name, value):
    with pytest.raises(ConfigError, match=name):
        app_factory(**{name: value})


def test_an_unreachable_redis_store_fails_open_to_per_process_counting(app_factory):
    app = app_factory(
        RATELIMIT_ENABLED="true",
        RATELIMIT_NEAREST="2/minute",
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:9/0",  # discard port: nothing listens
    )
    client = app.test_client()
    assert [client.get(NEAREST).status_code for _ in range(3)] == [200, 200, 429]
