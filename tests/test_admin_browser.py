"""The import page in real headless Chromium: log in, upload an XLSX, preview, commit."""

from __future__ import annotations

import pytest

from tests.test_admin_import import rows_for, xlsx_bytes


def _preview_three_stations(browser_page, make_user, tmp_path):
    """An organizer logs in on the phone-sized page and previews an XLSX of three new stations (taps)."""
    make_user("boss", "city_admin")
    path = tmp_path / "名册.xlsx"
    path.write_bytes(xlsx_bytes(rows_for(3)))
    page = browser_page.page
    page.goto(browser_page.base_url + "/admin/login?next=/admin/import")
    page.fill("input[name=name]", "boss")
    page.fill("input[name=password]", "password123")
    page.tap("#login-form button[type=submit]")
    page.wait_for_url("**/admin/import")
    page.set_input_files("#file", str(path))
    page.select_option("#crs", "wgs84")
    page.tap("#preview-button")
    page.wait_for_selector("#preview")
    return page


@pytest.mark.browser
def test_import_page_upload_preview_commit(browser_page, make_user, roster, tmp_path):
    """An organizer logs in on a phone-sized page, uploads a roster, sees the preview and commits it."""
    page = _preview_three_stations(browser_page, make_user, tmp_path)
    assert page.text_content("#n-added") == "3"
    assert roster.store.count() == 200
    browser_page.screenshot("admin-import-preview")
    page.tap("#commit")
    page.wait_for_selector("#import-done")
    assert "新增 3" in page.text_content("#import-done")
    assert roster.store.count() == 203
    assert browser_page.foreign_requests == []
    assert browser_page.console_errors == []


@pytest.mark.browser
def test_a_double_tap_on_commit_imports_once_and_says_so(browser_page, make_user, roster, tmp_path):
    """Two taps on 确认导入 send two commits: the page says the roster has the file, never "preview expired".

    The double tap on a slow connection: the second tap comes once the first commit is on its way, and
    the commits are held until both were sent, then reach the server in order, the first answered before
    the second is sent. (Two taps before the first is sent made one request in 2 of 5 tries: Chromium
    replaces a form submission it has not started; without the hold, the first answer may arrive
    between the taps.)
    """
    page = _preview_three_stations(browser_page, make_user, tmp_path)
    held = []
    page.route("**/admin/import/commit", lambda route: held.append(route))
    page.locator("#commit").scroll_into_view_if_needed()
    button = page.locator("#commit").bounding_box()
    x, y = button["x"] + button["width"] / 2, button["y"] + button["height"] / 2
    for taps in (1, 2):  # the second tap once the first commit is on its way
        page.touchscreen.tap(x, y)
        for _ in range(50):
            if len(held) == taps:
                break
            page.wait_for_timeout(100)
    assert [route.request.method for route in held] == ["POST", "POST"]
    for route in held:
        answer = route.fetch()  # the server answers this commit before the next is sent
        if route is held[-1]:  # Chromium dropped the first navigation for the second: its answer goes nowhere
            route.fulfill(response=answer)
    page.wait_for_selector("#import-already")
    assert page.locator("#file-error").count() == 0
    assert roster.store.count() == 203
    assert len([r for r in roster.store.audit() if r.via == "import"]) == 3  # one record per station, once
    assert browser_page.console_errors == []
