"""The organizer dashboard (/admin/) and accounts in the browser (/admin/users, own password)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup

from locator.accounts import ROLE_LABELS, ROLES
from locator.catalogue import district_counts
from locator.hours import TZ


@pytest.fixture
def app(app_on_both):
    """Accounts behave the same on SQLite and on PostGIS."""
    return app_on_both


@pytest.fixture
def boss(make_user, login):
    """A logged-in city administrator."""
    make_user("boss", "city_admin")
    return login("boss")


def _cells(row) -> list[str]:
    return [td.get_text(strip=True) for td in row.select("td")]


def test_dashboard_counts_agree_with_district_counts_and_link_to_the_same_stations(boss, roster):
    """Per district: open + paused = district_counts' total, paused = its paused; each number's link lists that many."""
    first = roster.store.list()[0]
    roster.store.update(
        dataclasses.replace(first, status="closed"), expected_version=first.version, actor="t", via="edit"
    )
    page = BeautifulSoup(boss.get("/admin/").data, "html.parser")
    counts = district_counts(roster.snapshot(), roster.districts, datetime.now(TZ)).by_code()
    checked = 0
    for row in page.select("#by-district tbody tr"):
        code = row["data-code"]
        open_, paused, closed, stale = (int(c) for c in _cells(row))
        assert open_ + paused == counts[code].total and paused == counts[code].paused
        for link in row.select("td a"):
            listed = BeautifulSoup(boss.get(link["href"]).data, "html.parser")
            assert int(listed.select_one("#total").get_text()) == int(link.get_text())
            checked += 1
    assert checked >= 12
    assert int(page.select_one("#n-closed").get_text()) == 1
    assert int(page.select_one("#n-sample").get_text()) == 200  # every sample station, the closed one too


@pytest.mark.parametrize("app_on_both", ["sqlite"], indirect=True)  # it writes the SQLite file behind the store
def test_stale_stations_are_counted_from_stale_mask(boss, roster):
    """A station last changed and vouched for 200 days ago is 待核实 on the dashboard and in the list it links to."""
    import sqlite3

    station = roster.store.list()[5]
    old = (datetime.now(UTC) - timedelta(days=200)).isoformat()
    db = sqlite3.connect(roster.store.path)
    db.execute("UPDATE stations SET updated_at = ?, verified_at = ? WHERE id = ?", (old, old, station.id))
    db.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")
    db.commit()
    db.close()
    page = BeautifulSoup(boss.get("/admin/").data, "html.parser")
    assert page.select_one("#n-stale").get_text() == "1"
    listed = BeautifulSoup(boss.get("/admin/stations?stale=1").data, "html.parser")
    assert [tr["data-id"] for tr in listed.select("table.stations tbody tr[data-id]")] == [station.id]


def test_district_organizer_sees_their_districts(make_user, login, roster):
    """鹿城's organizer: one district row, the list limited to 鹿城."""
    make_user("lucheng", "district_organizer", ["330302"])
    web = login("lucheng")
    page = BeautifulSoup(web.get("/admin/").data, "html.parser")
    assert [tr["data-code"] for tr in page.select("#by-district tbody tr")] == ["330302"]
    assert "鹿城区" in page.h1.get_text()
    listed = BeautifulSoup(web.get("/admin/stations").data, "html.parser")
    ids = {tr["data-id"] for tr in listed.select("table.stations tbody tr[data-id]")}
    assert ids == {s.id for s in roster.store.list() if s.district == "330302"}


def test_old_list_links_still_work(boss):
    """/admin/?district=… (the old list's address) moves to /admin/stations with the same filters."""
    resp = boss.get("/admin/?district=330302&type=rider_station")
    assert resp.status_code == 301
    assert resp.headers["Location"].endswith("/admin/stations?district=330302&type=rider_station")


# -- accounts -------------------------------------------------------------------------------------


def test_the_role_choice_offers_every_role(boss):
    """Roles come from locator.accounts.ROLES and ROLE_LABELS (a role added there appears here)."""
    page = BeautifulSoup(boss.get("/admin/users").data, "html.parser")
    offered = [i["value"] for i in page.select("#create-user-form input[name=role]")]
    assert offered == list(ROLES)
    labels = page.select_one("#create-user-form").get_text()
    assert all(ROLE_LABELS[r] in labels for r in ROLES)


def test_a_city_administrator_manages_accounts_and_it_is_audited(app, boss, login):
    """Create, log in, disable (sessions end), re-enable, reset the password: each in the account audit trail."""
    accounts = app.extensions["accounts"]
    form = {
        "csrf_token": boss.csrf,
        "name": "ouhai",
        "role": "district_organizer",
        "districts": ["330304"],
        "password": "ouhai-secret-1",
        "password2": "ouhai-secret-1",
    }
    resp = boss.post("/admin/users", data=form)
    assert resp.status_code == 302
    user = accounts.find_user("ouhai")[0]
    assert user.districts == ("330304",) and user.role == "district_organizer"
    organizer = login("ouhai", "ouhai-secret-1")
    assert organizer.get("/admin/").status_code == 200
    boss.post(f"/admin/users/{user.id}/disable", data={"csrf_token": boss.csrf})
    assert organizer.get("/admin/").status_code == 401  # the session ended
    boss.post(f"/admin/users/{user.id}/enable", data={"csrf_token": boss.csrf})
    resp = boss.post(f"/admin/users/{user.id}/password", data={"csrf_token": boss.csrf, "password": "new-secret-22"})
    assert resp.status_code == 302
    login("ouhai", "new-secret-22")
    events = [(e.actor, e.action, e.target) for e in accounts.account_audit()]
    assert events[:4] == [
        ("boss", "reset_password", "ouhai"),
        ("boss", "enable", "ouhai"),
        ("boss", "disable", "ouhai"),
        ("boss", "create", "ouhai"),
    ]
    page = BeautifulSoup(boss.get("/admin/users").data, "html.parser")
    rows = [[td.get_text(strip=True) for td in tr.select("td")] for tr in page.select("#account-audit tbody tr")]
    assert rows[0][1:4] == ["boss", "重设密码", "ouhai"] and rows[3][2:5] == ["创建账号", "ouhai", "区县组织者：瓯海区"]
    assert page.select_one("#account-audit time")["datetime"].endswith("+08:00")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"password": "1234567890", "password2": "1234567890"}, "不能只由数字组成"),
        ({"password": "short", "password2": "short"}, "至少需要 10 个字符"),
        ({"password2": "something-else"}, "两次输入的密码不一致"),
        ({"role": "district_organizer", "districts": []}, "至少要负责一个区县"),
        ({"name": "has space"}, "不能有空格"),
        ({"name": "boss"}, "已有名为“boss”的账号"),
    ],
)
def test_a_refused_account_says_why_and_keeps_the_form(boss, app, change, says):
    """Policy and name errors in Chinese; name, role and districts stay filled in (never the password)."""
    form = {
        "csrf_token": boss.csrf,
        "name": "newcomer",
        "role": "viewer",
        "districts": ["330302"],
        "password": "long-enough-pw",
        "password2": "long-enough-pw",
        **change,
    }
    resp = boss.post("/admin/users", data=form)
    assert resp.status_code == 422
    page = BeautifulSoup(resp.data, "html.parser")
    assert says in page.select_one("#users-error").get_text()
    assert page.select_one("#new-name")["value"] == form["name"]
    assert page.select_one(f"input[name=role][value={form['role']}]").has_attr("checked")
    assert not page.select_one("#new-password").get("value")


def test_only_city_administrators_manage_accounts(make_user, login, app):
    """A district organizer gets 403 (in Chinese) on every account route; no account changes."""
    make_user("lucheng", "district_organizer", ["330302"])
    target = make_user("other", "viewer")
    web = login("lucheng")
    for method, path in (
        ("get", "/admin/users"),
        ("post", "/admin/users"),
        ("post", f"/admin/users/{target.id}/disable"),
    ):
        resp = getattr(web, method)(path, data={"csrf_token": web.csrf, "password": "whatever-123"})
        assert resp.status_code == 403 and "只有市级管理员可以管理账号" in resp.get_data(as_text=True)
    assert app.extensions["accounts"].get_user(target.id).active


def test_everyone_changes_their_own_password(make_user, login, app):
    """The current password first; then every session ends and the new password logs in."""
    make_user("eyes", "viewer")
    web = login("eyes")
    other = login("eyes")
    bad = web.post(
        "/admin/account/password",
        data={"csrf_token": web.csrf, "current": "wrong", "password": "eyes-new-pw-1", "password2": "eyes-new-pw-1"},
    )
    assert bad.status_code == 422 and "当前密码不对" in bad.get_data(as_text=True)
    resp = web.post(
        "/admin/account/password",
        data={
            "csrf_token": web.csrf,
            "current": "password123",
            "password": "eyes-new-pw-1",
            "password2": "eyes-new-pw-1",
        },
    )
    assert resp.status_code == 302 and "changed=1" in resp.headers["Location"]
    assert "密码已修改" in web.get(resp.headers["Location"]).get_data(as_text=True)
    assert other.get("/admin/").status_code == 401
    login("eyes", "eyes-new-pw-1")
    event = app.extensions["accounts"].account_audit("eyes")[0]
    assert (event.actor, event.action) == ("eyes", "change_password")


def test_the_cli_is_named_in_the_account_audit(app, runner):
    """Accounts made on the server's command line are audited as done by the command line."""
    result = runner.invoke(
        args=["create-user", "cliuser", "--role", "viewer", "--password-stdin"], input="cli-pw-12345\n"
    )
    assert result.exit_code == 0, result.output
    (event,) = app.extensions["accounts"].account_audit("cliuser")
    assert (event.actor, event.action, event.detail["role"]) == ("cli", "create", "viewer")
