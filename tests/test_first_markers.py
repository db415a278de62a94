"""The first markers (issue 15, slow phones): /map and /embed draw their stations before Leaflet arrives, as
buttons a thumb can tap and Tab can reach, at the very pixels where Leaflet's markers then stand; Leaflet takes
over without a duplicate or a move, and carries out a tap made before it came. Leaflet is held back or refused
with request routing (the page's own scripts are untouched); taps are real (`locator.tap()`), keys real.
"""

from __future__ import annotations

import pytest

from tests.browser_tools import OVERLAPS_JS, Phone, phone_context

pytestmark = pytest.mark.browser
MAPS = ["/map", "/embed"]
LEAFLET = "**/leaflet-1.9.4/leaflet.js"

BOXES_JS = """
(sel) => Object.fromEntries([...document.querySelectorAll(sel)].map(e => {
  const b = e.getBoundingClientRect();
  return [e.dataset.key, [Math.round(b.x), Math.round(b.y), Math.round(b.width), Math.round(b.height)]];
}))
"""


def held_phone(chromium, live_server, **context_options):
    """A phone page whose request for Leaflet waits until the test lets it through (`release()`)."""
    context = phone_context(chromium, **context_options)
    ph = Phone(context, live_server.url)
    held = []

    def hold(route):
        held.append(route)

    ph.page.route(LEAFLET, hold)

    def release():
        assert held, "Leaflet was never asked for"
        for route in held:
            route.continue_()

    return context, ph, release


def open_held(ph: Phone, path: str) -> None:
    """Navigate without waiting for the load event (a held Leaflet holds it back)."""
    ph.page.goto(ph.base_url + path, wait_until="commit")


@pytest.mark.parametrize("path", MAPS)
def test_first_markers_stand_before_leaflet_and_leaflet_takes_over_in_place(chromium, live_server, roster, path):
    context, ph, release = held_phone(chromium, live_server)
    try:
        page = ph.page
        open_held(ph, path)
        page.wait_for_selector(".lm-first-marker")
        assert page.evaluate("typeof L") == "undefined"  # Leaflet has not run
        first = page.evaluate(BOXES_JS, ".lm-first-marker")
        assert len(first) >= 3
        # Every station counted once, clusters show the type mix, nothing lies under another.
        shown = sum(int(t) for t in page.locator(".lm-first .lm-count").all_inner_texts())
        shown += page.locator(".lm-first .lm-marker").count()
        assert shown == len(roster.snapshot())
        assert page.evaluate(OVERLAPS_JS)["bad"] == []
        labels = page.locator(".lm-first-marker").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
        assert all(label and ("个站点" in label or "（" in label) for label in labels), labels
        # The basemap's credit line is there from the first paint.
        assert "Leaflet" in page.locator(".leaflet-control-attribution").inner_text()
        credit = page.locator(".leaflet-control-attribution").bounding_box()

        release()
        page.wait_for_selector(".folium-map[data-state=ready]", timeout=20000)
        after = page.evaluate(BOXES_JS, ".leaflet-marker-icon")
        assert page.locator(".lm-first, .lm-first-marker").count() == 0  # no duplicates
        assert after == first  # same markers, same keys, same pixels
        assert page.locator(".leaflet-control-attribution").count() == 1
        assert page.locator(".leaflet-control-attribution").bounding_box() == credit
        assert ph.errors == [] and ph.foreign == []
    finally:
        context.close()


def test_first_markers_match_leaflet_on_a_desktop_and_at_a_given_centre(chromium, live_server):
    for viewport, path in (
        ({"width": 1280, "height": 800}, "/map"),
        ({"width": 375, "height": 812}, "/embed?center=27.99,120.70&zoom=13"),
    ):
        context, ph, release = held_phone(chromium, live_server, viewport=viewport)
        try:
            page = ph.page
            open_held(ph, path)
            page.wait_for_selector(".lm-first-marker")
            first = page.evaluate(BOXES_JS, ".lm-first-marker")
            release()
            page.wait_for_selector(".folium-map[data-state=ready]", timeout=20000)
            assert page.evaluate(BOXES_JS, ".leaflet-marker-icon") == first, path
        finally:
            context.close()


def test_a_tap_on_a_first_cluster_before_leaflet_zooms_in_once_it_arrives(chromium, live_server):
    context, ph, release = held_phone(chromium, live_server)
    try:
        page = ph.page
        open_held(ph, "/embed")
        badge = page.locator(".lm-first .lm-cluster").first
        badge.tap()
        assert badge.get_attribute("aria-busy") == "true"  # the tap is acknowledged at once
        before = page.evaluate("() => LocatorFirst.state.zoom")
        release()
        page.wait_for_function(f"() => +document.querySelector('.folium-map').dataset.zoom > {before}", timeout=20000)
        assert ph.errors == []
    finally:
        context.close()


def test_a_tap_on_a_first_station_before_leaflet_opens_its_card_once_it_arrives(chromium, live_server):
    context, ph, release = held_phone(chromium, live_server)
    try:
        page = ph.page
        open_held(ph, "/embed?center=27.99,120.70&zoom=14")
        page.wait_for_selector(".lm-first .lm-marker")  # drawn once the stylesheet is in (slow under load)
        markers = page.locator(".lm-first .lm-marker")
        area = page.locator(".folium-map").bounding_box()
        marker = next(
            markers.nth(i)
            for i in range(markers.count())
            if (box := markers.nth(i).bounding_box())
            and area["y"] + 120 < box["y"] < area["y"] + area["height"] - 120
            and area["x"] + 60 < box["x"] < area["x"] + area["width"] - 110
        )
        name = marker.get_attribute("aria-label").rsplit("（", 1)[0]
        marker.tap()
        release()
        page.wait_for_selector(".sc-sheet .sc-state .status", timeout=20000)
        assert page.locator(".sc-sheet .sc-name").inner_text() == name
        assert ph.errors == []
    finally:
        context.close()


def test_first_markers_are_reached_by_the_keyboard_and_keep_focus_through_the_hand_over(chromium, live_server):
    context, ph, release = held_phone(chromium, live_server)
    try:
        page = ph.page
        open_held(ph, "/embed")
        page.wait_for_selector(".lm-first-marker")
        for _ in range(20):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.classList.contains('lm-first-marker')"):
                break
        key = page.evaluate("() => document.activeElement.dataset.key")
        assert key, "Tab never reached a first marker"
        release()
        page.wait_for_selector(".folium-map[data-state=ready]", timeout=20000)
        focused = page.evaluate(
            "() => { const a = document.activeElement;"
            " return [a.dataset.key, a.classList.contains('leaflet-marker-icon')]; }"
        )
        assert focused == [key, True]
    finally:
        context.close()


def test_without_leaflet_the_first_markers_stay_and_say_what_they_are(chromium, live_server):
    context = phone_context(chromium)
    try:
        ph = Phone(context, live_server.url)
        ph.page.route(LEAFLET, lambda route: route.abort())
        ph.goto("/map")
        page = ph.page
        page.wait_for_selector(".lm-first-marker")
        page.wait_for_selector(".folium-map[data-state=error]", timeout=20000)
        assert page.locator(".lm-first-marker").count() >= 3
        assert page.locator(".lm-first-marker").first.is_visible()
    finally:
        context.close()
