"""One definition of a district's station count: the API, the OGC feed, /map and the rider page agree.

Every station that is not permanently closed counts; temporarily closed ones count and are also
shown as paused (暂停) where a page has room.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

from bs4 import BeautifulSoup

from locator.hours import TZ

CODE = "330302"


def shown_counts(client) -> dict[str, tuple[int, int | None]]:
    """(count, paused) of CODE as each view shows it."""
    api = next(d for d in client.get("/api/v1/districts").get_json()["districts"] if d["code"] == CODE)
    ogc = client.get(f"/ogc/collections/districts/items/{CODE}").get_json()["properties"]
    row = BeautifulSoup(client.get("/map").data, "html.parser").select_one(f"tr[data-code='{CODE}']")
    cells = [td.get_text(strip=True) for td in row.select("td.num")]
    rider = BeautifulSoup(client.get("/").data, "html.parser").select_one(f"#districts a[href*='district={CODE}']")
    rider_count = int(re.search(r"(\d+) 个", rider.get_text()).group(1))
    return {
        "api": (api["stations"], api["paused"]),
        "ogc": (ogc["stations"], ogc["paused"]),
        "map": (int(cells[0]), int(cells[1])),
        "rider": (rider_count, None),
    }


def expected(store) -> tuple[int, int]:
    today = date.today()
    here = [s for s in store.list() if s.district == CODE and s.status != "closed"]
    paused = [
        s for s in here if s.status == "temporarily_closed" and (s.closed_until is None or s.closed_until >= today)
    ]
    return len(here), len(paused)


def assert_agree(client, store) -> None:
    total, paused = expected(store)
    for view, (count, shown_paused) in shown_counts(client).items():
        assert count == total, (view, count, total)
        assert shown_paused in (None, paused), (view, shown_paused, paused)


def test_every_view_shows_the_same_count_through_closing_reopening_and_deleting(app, roster):
    client = app.test_client()
    store = roster.store
    assert_agree(client, store)
    a, b, c, d = [s for s in store.list() if s.district == CODE][:4]
    store.update(replace(a, status="closed"), expected_version=a.version, actor="t", via="edit")
    assert_agree(client, store)
    until = date.today() + timedelta(days=3)
    store.update(
        replace(b, status="temporarily_closed", closed_until=until), expected_version=b.version, actor="t", via="edit"
    )
    store.update(
        replace(c, status="temporarily_closed", closed_until=None), expected_version=c.version, actor="t", via="edit"
    )
    assert_agree(client, store)
    assert expected(store)[1] == 2
    # A closure that ended yesterday is no longer paused (the station reopened by itself).
    b = store.get(b.id)
    store.update(
        replace(b, closed_until=date.today() - timedelta(days=1)), expected_version=b.version, actor="t", via="edit"
    )
    assert_agree(client, store)
    a = store.get(a.id)
    store.update(replace(a, status="open"), expected_version=a.version, actor="t", via="edit")
    store.delete(d.id, expected_version=d.version, actor="t", via="edit")
    assert_agree(client, store)


def test_picture_legend_counts_come_from_the_same_definition(roster):
    from locator.catalogue import district_counts

    snap = roster.snapshot()
    from datetime import datetime

    counts = district_counts(snap, roster.districts, datetime.now(TZ))
    assert counts.total == sum(1 for s in snap.stations if s.status != "closed")
    assert sum(counts.by_type.values()) == counts.total
    assert counts.total == sum(d.total for d in counts.districts) + counts.outside
