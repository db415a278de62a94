"""Issue 16 in real Chromium, in a WeChat phone context with real taps: a rider reports a closed station in two
taps (station page and map card) and confirms one in one; the district organizer sees the report in the queue
and resolves it through 处理; a station keeper pauses their own station from a 375 px phone; the organizers'
map of what needs checking draws. Taps, typing and clicks only: nothing is opened from a script.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from locator.accounts import hash_password
from tests.browser_tools import axe_violations, describe, phone_context, phone_page, too_small_targets
from tests.test_thumb_maps import first_marker_in_view, tap_clusters_until_a_station

pytestmark = pytest.mark.browser
STATION = "rs-330304-001"


@pytest.fixture
def phone(chromium, live_server):
    """A WeChat phone page against the seeded live server."""
    yield from phone_page(chromium, live_server)


def _reports(app, station=None):
    return app.extensions["feedback"].reports(status=None, station_id=station)


def test_a_rider_reports_a_closed_station_in_two_taps_on_its_page(phone, app, roster):
    page = phone.page
    phone.goto(f"/stations/{STATION}")
    assert page.locator("#checked").inner_text().startswith("信息更新于 ")
    page.locator("#feedback summary.sc-report-open").tap()  # 1: 报告问题
    page.locator("#feedback .sc-kind[data-kind=closed]").tap()  # 2: 已关闭 — sent
    status = page.locator("#feedback .sc-fb-status")
    status.filter(has_text="谢谢").wait_for(timeout=10000)
    assert page.locator("#feedback summary").inner_text() == "已报告：已关闭"
    (report,) = _reports(app, STATION)
    assert (report.kind, report.note, report.status) == ("closed", "", "open")
    assert phone.errors == [] and phone.foreign == []


def test_a_note_typed_first_goes_with_the_report_and_stays_text(phone, app):
    page = phone.page
    phone.goto(f"/stations/{STATION}")
    page.locator("#feedback summary.sc-report-open").tap()
    note = page.locator("#feedback input.sc-note")
    note.tap()
    page.keyboard.type("微波炉坏了 <b>x</b> 电话13812345678")
    page.locator("#feedback .sc-kind[data-kind=amenities]").tap()
    page.locator("#feedback .sc-fb-status").filter(has_text="谢谢").wait_for(timeout=10000)
    (report,) = _reports(app, STATION)
    assert report.kind == "amenities" and report.note == "微波炉坏了 <b>x</b> 电话〔已隐去〕"


def test_one_tap_confirms_a_station_without_touching_the_roster(phone, app, roster):
    version, snapshot = roster.store.data_version(), roster.snapshot()
    page = phone.page
    phone.goto(f"/stations/{STATION}")
    button = page.locator("#feedback button.sc-confirm")
    assert button.inner_text() == "这里可用"
    button.tap()
    page.locator("#feedback .sc-fb-status").filter(has_text="这里可用").wait_for(timeout=10000)
    assert button.inner_text() == "已确认" and button.is_disabled()
    app.extensions["confirmations"].flush()
    rows = app.extensions["feedback"].confirmations("2000-01-01", "2999-12-31")
    assert [(s, n) for _, s, n in rows] == [(STATION, 1)]
    assert roster.store.data_version() == version and roster.snapshot() is snapshot


def test_the_station_page_feedback_fits_a_phone_and_passes_axe(phone):
    page = phone.page
    phone.goto(f"/stations/{STATION}")
    page.locator("#feedback summary.sc-report-open").tap()
    page.locator("#feedback .sc-kind").first.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert too_small_targets(page, "#feedback button, #feedback summary, #feedback input") == []
    violations = axe_violations(page)
    assert violations == [], describe(violations)


def test_a_rider_reports_from_the_map_card_in_two_taps(phone, app):
    phone.open_map("/embed?type=rider_station&district=330304")
    tap_clusters_until_a_station(phone)
    first_marker_in_view(phone).tap()
    sheet = phone.page.locator(".sc-sheet")
    sheet.locator(".sc-checked").wait_for(timeout=10000)
    assert sheet.locator(".sc-checked").inner_text().startswith("信息更新于 ")
    sheet.locator("summary.sc-report-open").tap()  # 1
    sheet.locator(".sc-kind[data-kind=moved]").tap()  # 2
    sheet.locator(".sc-fb-status").filter(has_text="谢谢").wait_for(timeout=10000)
    (report,) = _reports(app)
    assert report.kind == "moved"
    assert phone.page.locator(".sc-sheet .sc-more").get_attribute("href") == f"/stations/{report.station_id}"
    assert phone.errors == [] and phone.foreign == []


def test_too_many_reports_are_explained_in_chinese(chromium, app_factory):
    from tests.conftest import LiveServer

    app = app_factory(RATELIMIT_ENABLED="true", RATELIMIT_REPORTS="1/hour")
    server = LiveServer(app).start()
    context = phone_context(chromium)
    try:
        page = context.new_page()
        for expected in ("谢谢", "提交太频繁"):
            page.goto(f"{server.url}/stations/{STATION}")
            page.locator("#feedback summary.sc-report-open").tap()
            page.locator("#feedback .sc-kind[data-kind=other]").tap()
            page.locator("#feedback .sc-fb-status").filter(has_text=expected).wait_for(timeout=10000)
    finally:
        context.close()
        server.stop()


# -- the organizer resolves it ---------------------------------------------------------------------------


def test_the_district_organizer_sees_the_report_in_the_queue_and_resolves_it_through_handle(
    chromium, live_server, app, roster, make_user
):
    make_user("ouhai", "district_organizer", ["330304"])
    context = phone_context(chromium)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/stations/{STATION}")
        page.locator("#feedback summary.sc-report-open").tap()
        page.locator("#feedback .sc-kind[data-kind=closed]").tap()
        page.locator("#feedback .sc-fb-status").filter(has_text="谢谢").wait_for(timeout=10000)
    finally:
        context.close()
    desk = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page = desk.new_page()
        page.goto(f"{live_server.url}/admin/reports")
        page.locator("input[name=name]").fill("ouhai")
        page.locator("input[name=password]").fill("password123")
        page.locator("#login-form button[type=submit]").click()
        group = page.locator(f"[data-station='{STATION}'] .report-group[data-kind=closed]")
        group.wait_for()
        assert group.locator(".kind").inner_text() == "已关闭"
        group.locator("a.handle").click()
        page.locator("#report-banner").wait_for()
        assert page.locator("select[name=status]").input_value() == "temporarily_closed"
        page.locator("#station-form button[type=submit]").click()
        page.locator("p.ok").wait_for()
    finally:
        desk.close()
    assert roster.store.get(STATION).status == "temporarily_closed"
    (report,) = _reports(app, STATION)
    assert report.status == "applied" and report.resolved_by == "ouhai" and report.audit_id


# -- a station keeper pauses their station from a phone --------------------------------------------------


def test_a_station_keeper_pauses_their_own_station_from_a_phone(chromium, live_server, app, roster):
    app.extensions["accounts"].create_user("shop1", "station_keeper", (), hash_password("password123"), (STATION,))
    context = phone_context(chromium)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/admin/login")
        page.locator("input[name=name]").tap()
        page.keyboard.type("shop1")
        page.locator("input[name=password]").tap()
        page.keyboard.type("password123")
        page.locator("#login-form button[type=submit]").tap()
        page.locator(".kp-item").first.wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.locator(f".kp-item[data-id='{STATION}'] a").tap()
        page.locator("#keeper-form").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert too_small_targets(page, "#keeper-form button, #keeper-form input:not([type=hidden]), .kp-bar a") == []
        page.locator("label.kp-radio", has_text="暂停开放").tap()
        page.locator("#closed-until").fill("2099-02-01")  # the date picker: typed, as a keyboard would
        page.locator("label.kp-check", has_text="微波加热").tap()
        page.locator("#kp-save").tap()
        page.locator("#kp-saved").wait_for()
        violations = axe_violations(page)
        assert violations == [], describe(violations)
    finally:
        context.close()
    stored = roster.store.get(STATION)
    assert stored.status == "temporarily_closed" and str(stored.closed_until) == "2099-02-01"
    record = roster.store.audit(STATION, limit=1)[0]
    assert (record.actor, record.via) == ("shop1", "keeper")


# -- the organizers' map of what needs checking -----------------------------------------------------------


def test_the_map_of_stale_stations_draws_them_without_inline_script(chromium, live_server, app, roster, make_user):
    station = roster.store.get(STATION)
    roster.store.update(
        replace(station, verified_at=datetime(2025, 1, 1, tzinfo=UTC)), expected_version=1, actor="t", via="import"
    )
    make_user("ouhai", "district_organizer", ["330304"])
    desk = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    errors = []
    try:
        page = desk.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.route("**/*", lambda r: r.continue_() if "127.0.0.1" in r.request.url else r.abort())
        page.goto(f"{live_server.url}/admin/map?show=stale")
        page.locator("input[name=name]").fill("ouhai")
        page.locator("input[name=password]").fill("password123")
        page.locator("#login-form button[type=submit]").click()
        page.wait_for_selector("#admin-map[data-state=ready]", timeout=20000)
        assert page.locator("#admin-map").get_attribute("data-stations") == "1"
        assert page.locator("script:not([src])").count() == 0
        page.locator(".lm-marker").first.click()
        page.locator(".sc-sheet .sc-checked").wait_for(timeout=10000)
        assert "待核实" in page.locator(".sc-sheet .sc-checked").inner_text()
    finally:
        desk.close()
    assert errors == []
