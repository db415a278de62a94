"""A forged Host or X-Forwarded-Host never reaches a page, link, QR code, cache or WeChat signature."""

from __future__ import annotations

import io

import pytest
import segno

from locator.config import ConfigError
from locator.wechat_client import TicketCache

EVIL = "evil.example"


def _fake_wechat(url: str) -> dict:
    """WeChat's token and ticket answers, without the network."""
    if "/token" in url:
        return {"access_token": "token", "expires_in": 7200}
    return {"errcode": 0, "errmsg": "ok", "ticket": "ticket", "expires_in": 7200}


def _qr_svg(url: str) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=10, border=2, xmldecl=False)
    return buf.getvalue()


def _wechat(app):
    app.extensions["wechat_tickets"] = TicketCache("wx-app", "s3cret", fetch=_fake_wechat)
    return app


@pytest.mark.parametrize("path", ["/", "/stations/{id}", "/stations/{id}/qr.svg", "/ogc/collections", "/map"])
def test_a_forged_host_is_refused_before_any_view(client, roster, path):
    """Without LOCATOR_PUBLIC_URL, `Host: evil.example` used to give a QR code for evil.example, cached an hour."""
    station_id = roster.store.list()[0].id
    resp = client.get(path.format(id=station_id), headers={"Host": EVIL})
    assert resp.status_code == 400
    assert EVIL not in resp.get_data(as_text=True)
    assert resp.headers["Cache-Control"] == "no-store"


def test_a_forged_host_gets_problem_json_on_data_paths(client):
    resp = client.get("/api/v1/stations", headers={"Host": f"{EVIL}:443"})
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    assert "LOCATOR_ALLOWED_HOSTS" in resp.get_json()["detail"]
    assert resp.get_json()["detail_zh"]


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "127.0.0.1:8000", "[::1]:5000", "192.168.1.23:5000",
                                  "10.0.0.7", "172.20.1.2:8000", "[fd00::5]:5000"])  # fmt: skip
def test_out_of_the_box_the_machine_and_phones_on_the_lan_are_served(client, roster, host):
    """`make run HOST=0.0.0.0`, opened from a phone at http://192.168.1.23:5000/, still works."""
    station_id = roster.store.list()[0].id
    resp = client.get(f"/stations/{station_id}/qr.svg", headers={"Host": host})
    assert resp.status_code == 200
    assert resp.data == _qr_svg(f"http://{host}/stations/{station_id}")


@pytest.mark.parametrize("host", ["8.8.8.8", "yizhan.example.cn", "a/b", "", "evil.example:80:80", "[::1"])
def test_out_of_the_box_public_addresses_names_and_garbage_are_refused(client, host):
    assert client.get("/", headers={"Host": host}).status_code == 400


def test_configured_hosts_replace_the_lan_default(app_factory):
    app = app_factory(ALLOWED_HOSTS="yizhan.example.cn,.wenzhou.example")
    client = app.test_client()
    for host, status in [
        ("yizhan.example.cn", 200),
        ("YIZHAN.example.cn:8443", 200),
        ("m.wenzhou.example", 200),
        ("wenzhou.example", 200),
        ("evilwenzhou.example", 400),
        ("192.168.1.23:5000", 400),
        ("127.0.0.1:5000", 200),
    ]:
        assert client.get("/", headers={"Host": host}).status_code == status, host


def test_health_checks_answer_any_host(client):
    """Load balancers poll by address; these answers hold no URL."""
    assert client.get("/healthz", headers={"Host": "10.9.8.7:8000"}).status_code == 200
    assert client.get("/readyz", headers={"Host": EVIL}).status_code == 200


def test_behind_nginx_x_forwarded_host_poisons_nothing(app_factory):
    """With LOCATOR_PROXY_COUNT=1 a client's X-Forwarded-Host passed through nginx used to become the page's host."""
    app = _wechat(
        app_factory(
            PROXY_COUNT="1",
            PUBLIC_URL="https://yizhan.example.cn/",
            WECHAT_APPID="wx-app",
            WECHAT_SECRET="s3cret",
        )
    )
    station_id = app.extensions["roster"].store.list()[0].id
    client = app.test_client()
    headers = {"Host": "yizhan.example.cn", "X-Forwarded-Host": EVIL, "X-Forwarded-For": "203.0.113.5"}
    for path in (f"/stations/{station_id}", "/ogc/collections", "/ogc/collections/stations/items?limit=2", "/"):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 200, path
        assert EVIL not in resp.get_data(as_text=True), path
    qr = client.get(f"/stations/{station_id}/qr.svg", headers=headers)
    assert qr.data == _qr_svg(f"https://yizhan.example.cn/stations/{station_id}")
    signed = client.get("/api/v1/wechat/jssdk-config", query_string={"url": f"http://{EVIL}/"}, headers=headers)
    assert signed.status_code == 400 and signed.get_json()["parameter"] == "url"
    ok = client.get("/api/v1/wechat/jssdk-config", query_string={"url": "https://yizhan.example.cn/"}, headers=headers)
    assert ok.status_code == 200


def test_ogc_links_use_the_allowed_host(app_factory):
    app = app_factory(ALLOWED_HOSTS="yizhan.example.cn")
    body = app.test_client().get("/ogc/collections", headers={"Host": "yizhan.example.cn"}).get_json()
    hrefs = [link["href"] for link in body["links"]]
    assert hrefs and all(h.startswith("http://yizhan.example.cn/") for h in hrefs)


def test_wechat_signs_pages_of_allowed_hosts_only(app_factory):
    """The old LOCATOR_WECHAT_ALLOWED_HOSTS still works: its names join the allow-list."""
    app = _wechat(app_factory(WECHAT_APPID="wx-app", WECHAT_SECRET="s3cret", WECHAT_ALLOWED_HOSTS="m.example.cn"))
    client = app.test_client()
    assert client.get("/", headers={"Host": "m.example.cn"}).status_code == 200
    sign = "/api/v1/wechat/jssdk-config"
    assert client.get(sign, query_string={"url": "https://m.example.cn/s/1"}).status_code == 200
    assert client.get(sign, query_string={"url": "http://localhost/"}).status_code == 200
    refused = client.get(sign, query_string={"url": f"https://{EVIL}/"}, headers={"Host": "m.example.cn"})
    assert refused.status_code == 400 and refused.get_json()["parameter"] == "url"
    # Before, the request's own Host was trusted for signing: a forged one got its URL signed.
    assert client.get(sign, query_string={"url": f"https://{EVIL}/"}, headers={"Host": EVIL}).status_code == 400


@pytest.mark.parametrize("value", ["https://yizhan.example.cn", "yizhan.example.cn:443", "a b", "x/y"])
def test_allowed_hosts_must_be_host_names(app_factory, value):
    with pytest.raises(ConfigError, match="ALLOWED_HOSTS"):
        app_factory(ALLOWED_HOSTS=value)
