"""/metrics: who may read it, what it counts, and that no label holds a path, a query or a position."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
REMOTE = {"REMOTE_ADDR": "10.0.0.5"}


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_are_for_this_host_or_a_token_holder(app_factory):
    app = app_factory(METRICS_TOKEN="s3cret-scraper-token")
    client = app.test_client()
    assert client.get("/metrics", environ_base=LOCAL).status_code == 200
    for headers, environ in [
        ({"X-Forwarded-For": "203.0.113.9"}, LOCAL),  # relayed by a proxy on this host: a stranger
        ({"Forwarded": "for=203.0.113.9"}, LOCAL),
        ({}, REMOTE),
        ({"Authorization": "Bearer wrong"}, REMOTE),
        ({"Authorization": "Bearer wrong"}, LOCAL),
    ]:
        resp = client.get("/metrics", headers={**headers, "Accept": "application/json"}, environ_base=environ)
        assert resp.status_code == 403, headers
        assert resp.get_json()["detail_zh"]
    resp = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scraper-token"}, environ_base=REMOTE)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.headers["Cache-Control"] == "no-store"


def test_without_a_token_a_remote_scraper_is_refused(app_factory):
    client = app_factory().test_client()
    assert client.get("/metrics", environ_base=REMOTE).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer "}, environ_base=REMOTE).status_code == 403


def test_metrics_are_refused_behind_a_proxy_even_from_loopback(app_factory):
    """nginx on the same host relays everyone: with LOCATOR_PROXY_COUNT=1 the peer is still loopback."""
    client = app_factory(PROXY_COUNT=1, ALLOWED_HOSTS="yizhan.example.cn").test_client()
    resp = client.get(
        "/metrics", headers={"X-Forwarded-For": "127.0.0.1", "Host": "yizhan.example.cn"}, environ_base=LOCAL
    )
    assert resp.status_code == 403


def test_requests_are_counted_by_url_rule_never_by_path_or_query(app_factory):
    app = app_factory()
    client = app.test_client()
    station_id = client.get("/api/v1/stations?limit=1").get_json()["stations"][0]["id"]
    for _ in range(3):
        assert client.get("/api/v1/stations/nearest?lat=28.012345&lng=120.654321&k=2").status_code == 200
    assert client.get(f"/api/v1/stations/{station_id}").status_code == 200
    assert client.get("/no/such/place/28.012345").status_code == 404
    text = client.get("/metrics", environ_base=LOCAL).get_data(as_text=True)
    samples = _samples(text)
    nearest = (
        "locator_http_requests_total",
        (("endpoint", "/api/v1/stations/nearest"), ("method", "GET"), ("status", "200")),
    )
    assert samples[nearest] >= 3
    one = (
        "locator_http_requests_total",
        (("endpoint", "/api/v1/stations/<station_id>"), ("method", "GET"), ("status", "200")),
    )
    assert samples[one] >= 1
    assert (
        samples[("locator_http_requests_total", (("endpoint", "(unmatched)"), ("method", "GET"), ("status", "404")))]
        >= 1
    )
    timed = samples[("locator_http_request_duration_seconds_count", (("endpoint", "/api/v1/stations/nearest"),))]
    assert timed >= 3
    inf = ("locator_http_request_duration_seconds_bucket", (("endpoint", "/api/v1/stations/nearest"), ("le", "+Inf")))
    assert samples[inf] == timed  # buckets are cumulative in the exposition, whatever the flush added
    assert samples[("locator_http_request_duration_seconds_sum", (("endpoint", "/api/v1/stations/nearest"),))] > 0
    for secret in ("28.01", "120.65", station_id, "/no/such"):
        assert secret not in text


def test_snapshot_and_database_metrics(app_factory):
    client = app_factory().test_client()
    client.get("/api/v1/stations/nearest?lat=28.0&lng=120.65")
    samples = _samples(client.get("/metrics", environ_base=LOCAL).get_data(as_text=True))
    assert samples[("locator_snapshot_stations", ())] == 200
    assert samples[("locator_snapshot_build_seconds_count", ())] >= 1
    assert samples[("locator_snapshot_built_timestamp_seconds", ())] > 1.7e9
    assert 0 <= samples[("locator_snapshot_age_seconds", ())] < 600
    assert samples[("locator_data_version", ())] >= 1
    assert samples[("locator_stale_snapshot", ())] == 0
    assert samples[("locator_database_up", ())] == 1
    assert samples[("locator_database_reachable", ())] == 1


@pytest.mark.parametrize("path", ["/metrics"])
def test_metrics_can_be_switched_off(app_factory, path):
    client = app_factory(METRICS="false").test_client()
    assert client.get(path, environ_base=LOCAL).status_code == 404
