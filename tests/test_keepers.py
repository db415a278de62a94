"""Station keepers (驿站站长, issue 16): bound to their stations, they change only status, hours and amenities.

Every path asks `User.may_edit()` / `User.refused_fields()`: the token API (own station yes, another
station 403, other fields 403), the phone pages, the CLI that makes the accounts. Every change is
audited as the keeper's.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup

from locator.accounts import ROLE_LABELS, ROLES, AccountError, User, check_new_user, hash_password

MINE = "rs-330304-001"  # 瓯海
OTHER = "rs-330302-001"  # 鹿城


@pytest.fixture
def app(app_on_both):
    """Accounts behave the same on SQLite and on PostGIS."""
    return app_on_both


@pytest.fixture
def keeper(app):
    """A station keeper of MINE (password password123)."""
    return app.extensions["accounts"].create_user(
        "keeper1", "station_keeper", (), hash_password("password123"), (MINE,)
    )


@pytest.fixture
def keeper_api(app, keeper, api_token):
    """Headers of the keeper's API token."""
    return {"Authorization": f"Bearer {api_token(keeper)}"}


def _get(client, station_id, headers):
    resp = client.get(f"/api/v1/admin/stations/{station_id}", headers=headers)
    return resp, resp.get_json()


def _put(client, station_id, body, headers, version):
    return client.put(
        f"/api/v1/admin/stations/{station_id}", json=body, headers={**headers, "If-Match": f'"{version}"'}
    )


# -- the role ----------------------------------------------------------------------------------------


def test_the_role_is_declared_with_a_chinese_label():
    """The account pages build their role choice from ROLES and ROLE_LABELS."""
    assert "station_keeper" in ROLES and ROLE_LABELS["station_keeper"] == "驿站站长"


def test_a_keeper_may_edit_only_their_stations_and_only_their_fields(roster):
    mine, other = roster.store.get(MINE), roster.store.get(OTHER)
    keeper = User(9, "k", "station_keeper", stations=(MINE,))
    organizer = User(8, "o", "district_organizer", districts=("330304",))
    assert keeper.may_edit(mine) and not keeper.may_edit(other)
    assert keeper.may_edit(mine, "hours") and not keeper.may_edit(mine, "name")
    assert organizer.may_edit(mine, "name") and not organizer.may_edit(other)
    assert not keeper.can_write and not keeper.may_edit_district("330304")
    assert keeper.refused_fields(mine, replace(mine, hours="24/7", status="temporarily_closed")) == []
    assert keeper.refused_fields(mine, replace(mine, name="改名", lng=mine.lng + 0.01)) == ["name", "lng"]
    assert keeper.refused_fields(mine, replace(mine, status="closed")) == ["status"]  # for good: the organizer's
    assert keeper.refused_fields(other, replace(other, hours="24/7")) == ["hours"]


@pytest.mark.parametrize(
    ("role", "districts", "stations", "message"),
    [
        ("station_keeper", (), (), "at least one --station"),
        ("station_keeper", ("330304",), (MINE,), "not districts"),
        ("station_keeper", (), ("no-such-station",), "unknown station"),
        ("district_organizer", ("330304",), (MINE,), "only a station keeper"),
    ],
)
def test_bad_keeper_accounts_are_refused(roster, role, districts, stations, message):
    known = {s.id for s in roster.store.list()}
    with pytest.raises(AccountError, match=message):
        check_new_user("k", role, districts, set(roster.districts.codes), stations, known)


def test_the_cli_creates_a_keeper_bound_to_stations(app, runner):
    result = runner.invoke(
        args=["create-user", "shop1", "--role", "station_keeper", "--station", MINE, "--password-stdin"],
        input="long-enough-password\n",
    )
    assert result.exit_code == 0, result.output
    assert f"stations: {MINE}" in result.output
    user, _ = app.extensions["accounts"].find_user("shop1")
    assert user.stations == (MINE,)
    assert f"shop1\tstation_keeper\t{MINE}" in runner.invoke(args=["list-users"]).output
    result = runner.invoke(args=["set-stations", "shop1", "--station", MINE, "--station", OTHER])
    assert result.exit_code == 0, result.output
    assert app.extensions["accounts"].get_user(user.id).stations == tuple(sorted((MINE, OTHER)))
    bad = runner.invoke(
        args=["create-user", "shop2", "--role", "station_keeper", "--station", "nope", "--password-stdin"],
        input="long-enough-password\n",
    )
    assert bad.exit_code == 1 and "unknown station" in bad.output


# -- the token API --------------------------------------------------------------------------------------


def test_a_keeper_pauses_their_own_station_through_the_api(app, roster, keeper, keeper_api):
    client = app.test_client()
    resp, body = _get(client, MINE, keeper_api)
    assert resp.status_code == 200
    body.update(status="temporarily_closed", closed_until="2099-01-31", hours="Mo-Fr 09:00-18:00")
    version = body.pop("version")
    resp = _put(client, MINE, body, keeper_api, version)
    assert resp.status_code == 200, resp.get_json()
    stored = roster.store.get(MINE)
    assert stored.status == "temporarily_closed" and stored.hours == "Mo-Fr 09:00-18:00"
    record = roster.store.audit(MINE, limit=1)[0]
    assert record.actor == "keeper1" and record.via == "keeper"
    assert record.after["status"] == "temporarily_closed" and record.before["status"] == "open"


def test_another_station_is_403_before_anything_else(app, roster, keeper, keeper_api):
    client = app.test_client()
    version = roster.store.get(OTHER).version
    assert _get(client, OTHER, keeper_api)[0].status_code == 403
    body = roster.store.get(OTHER).record() | {"hours": "24/7"}
    resp = _put(client, OTHER, body, keeper_api, version)
    assert resp.status_code == 403 and resp.mimetype == "application/problem+json"
    assert "不是您负责的驿站" in resp.get_json()["detail_zh"]
    verify = client.post(f"/api/v1/admin/stations/{OTHER}/verify", headers={**keeper_api, "If-Match": f'"{version}"'})
    assert verify.status_code == 403
    assert roster.store.get(OTHER).version == version


@pytest.mark.parametrize(
    "change",
    [{"name": "改个名字"}, {"lng": 120.7}, {"contact": "13800000000"}, {"status": "closed"}, {"note": "x"}],
)
def test_any_other_field_is_403_naming_it(app, roster, keeper, keeper_api, change):
    client = app.test_client()
    _, body = _get(client, MINE, keeper_api)
    version = body.pop("version")
    body.update(hours="24/7", **change)
    resp = _put(client, MINE, body, keeper_api, version)
    assert resp.status_code == 403, resp.get_json()
    problem = resp.get_json()
    assert problem["fields"] == [next(iter(change))] and "站长只能修改" in problem["detail_zh"]
    assert roster.store.get(MINE).version == version  # nothing written, not even the allowed hours


def test_a_keeper_reaches_nothing_else_of_the_admin(app, keeper, keeper_api):
    client = app.test_client()
    for path in ("/api/v1/admin/audit", "/api/v1/admin/export", "/api/v1/admin/reports"):
        assert client.get(path, headers=keeper_api).status_code == 403, path
    assert client.post("/api/v1/admin/stations", json={}, headers=keeper_api).status_code == 403


def test_a_keeper_confirms_their_station_as_it_stands(app, roster, keeper, keeper_api):
    seeded = roster.store.get(MINE)
    long_ago = datetime(2025, 1, 1, tzinfo=UTC)
    before = roster.store.update(replace(seeded, verified_at=long_ago), expected_version=1, actor="t", via="import")
    client = app.test_client()
    assert client.post(f"/api/v1/admin/stations/{MINE}/verify", headers=keeper_api).status_code == 428
    headers = {**keeper_api, "If-Match": f'"{before.version}"'}
    assert client.post(f"/api/v1/admin/stations/{MINE}/verify", headers=headers).status_code == 200
    after = roster.store.get(MINE)
    assert after.verified_at > long_ago and after.version == before.version + 1
    assert after.same_content(replace(before, verified_at=after.verified_at))  # nothing else changed
    record = roster.store.audit(MINE, limit=1)[0]
    assert record.via == "keeper" and record.actor == "keeper1"


# -- the phone pages ------------------------------------------------------------------------------------


def _form_data(html: bytes) -> dict:
    form = BeautifulSoup(html, "html.parser").select_one("#keeper-form")
    data: dict = {}
    for el in form.select("input"):
        if el.get("type") in ("radio", "checkbox"):
            if el.has_attr("checked"):
                data.setdefault(el["name"], []).append(el["value"])
        elif el.get("name"):
            data[el["name"]] = el.get("value", "")
    data["status"] = data["status"][0]
    return data


def test_the_keeper_logs_in_to_their_stations_and_pauses_one(app, roster, keeper, login):
    web = login("keeper1")
    home = web.get("/admin/keeper")
    assert home.status_code == 200
    links = BeautifulSoup(home.data, "html.parser").select(".kp-item")
    assert [li["data-id"] for li in links] == [MINE]
    page = web.get(f"/admin/keeper/stations/{MINE}")
    data = _form_data(page.data)
    data.update(status="temporarily_closed", closed_until="2099-03-01", action="save")
    resp = web.post(f"/admin/keeper/stations/{MINE}", data=data)
    assert resp.status_code == 302
    stored = roster.store.get(MINE)
    assert stored.status == "temporarily_closed" and str(stored.closed_until) == "2099-03-01"
    assert roster.store.audit(MINE, limit=1)[0].actor == "keeper1"


def test_the_keeper_pages_refuse_other_stations_and_the_organizer_pages(app, roster, keeper, login):
    web = login("keeper1")
    assert web.get(f"/admin/keeper/stations/{OTHER}").status_code == 403
    data = {"csrf_token": web.csrf, "version": "1", "status": "open", "hours": "24/7", "action": "save"}
    assert web.post(f"/admin/keeper/stations/{OTHER}", data=data).status_code == 403
    assert web.get("/admin/", headers={"Accept": "text/html"}).status_code == 403
    refused = web.get("/admin/", headers={"Accept": "application/json"})
    assert refused.status_code == 403 and "站长账号只能管理自己的驿站" in refused.get_json()["detail_zh"]
    assert roster.store.get(OTHER).version == 1


def test_bad_keeper_input_is_explained_in_chinese_and_nothing_is_written(app, roster, keeper, login):
    web = login("keeper1")
    data = _form_data(web.get(f"/admin/keeper/stations/{MINE}").data)
    data.update(hours="每天早八点", action="save")
    resp = web.post(f"/admin/keeper/stations/{MINE}", data=data)
    assert resp.status_code == 422 and "开放时间的写法无法识别" in resp.get_data(as_text=True)
    data.update(hours="24/7", status="closed")
    assert web.post(f"/admin/keeper/stations/{MINE}", data=data).status_code == 422
    assert roster.store.get(MINE).version == 1
