"""Report pictures carry their 审图号 and the boundary data's source, as published maps in China must (issue 14)."""

from __future__ import annotations

import io
import json
from datetime import datetime

import numpy as np
import pytest
from PIL import Image

from locator import create_app, pictures
from locator.config import ConfigError
from locator.districts import GEODATA, load_districts
from locator.hours import TZ

APPROVAL = "浙S(2027)012号"
WHEN = datetime(2026, 11, 30, 10, 0, tzinfo=TZ)


def _credit_texts(fig) -> list[str]:
    return [t.get_text() for t in fig.texts if t.get_gid() == pictures.CREDITS_GID]


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def test_the_credit_line_names_the_approval_or_says_there_is_none():
    assert pictures.map_credits(APPROVAL).startswith(f"审图号：{APPROVAL}　")
    assert pictures.map_credits("  ").startswith(pictures.NO_APPROVAL)
    assert pictures.map_credits(APPROVAL).endswith(pictures.BOUNDARY_SOURCE)
    assert pictures.map_credits(APPROVAL, "边界：浙江省天地图").endswith("边界：浙江省天地图")


def test_the_boundary_source_is_the_shipped_boundaries_provenance():
    meta = json.loads((GEODATA / "districts.meta.json").read_text(encoding="utf-8"))["source"]
    assert f"{meta['package']} {meta['version']}" in pictures.BOUNDARY_SOURCE
    assert meta["licence"] in pictures.BOUNDARY_SOURCE and "高德" in meta["upstream"]
    assert "高德" in pictures.BOUNDARY_SOURCE and "WGS-84" in pictures.BOUNDARY_SOURCE


def test_the_station_picture_draws_the_credit_line(roster):
    import matplotlib.pyplot as plt

    credits = pictures.map_credits(APPROVAL)
    fig = pictures.coverage_figure(roster.snapshot(), roster.districts, WHEN, district="330304", credits=credits)
    try:
        assert _credit_texts(fig) == [credits]
    finally:
        plt.close(fig)


def test_the_coverage_report_picture_draws_the_credit_line():
    import matplotlib.pyplot as plt

    from locator.coverage import CoverageOptions, analyse
    from locator.coverage_report import coverage_figure
    from locator.demand import Demand, cells_of
    from locator.nearest import Snapshot

    districts = load_districts()
    lng, lat = np.array([120.70, 120.80]), np.array([28.00, 28.05])
    demand = Demand("points", "test", "权重", lng, lat, np.ones(2), cells_of(lng, lat))
    report = analyse(Snapshot.from_stations([]), districts, demand, CoverageOptions(radius_m=500, when=WHEN))
    fig = coverage_figure(report.as_json(), districts)  # no credits given: the line for an unset number
    try:
        assert _credit_texts(fig) == [pictures.map_credits()]
        assert pictures.NO_APPROVAL in _credit_texts(fig)[0]
    finally:
        plt.close(fig)


def test_the_credit_line_is_drawn_under_the_map_and_written_into_the_png(roster):
    args = (roster.snapshot(), roster.districts, WHEN)
    with_number = pictures.coverage_png(*args, district="330305", credits=pictures.map_credits(APPROVAL))
    without = pictures.coverage_png(*args, district="330305")
    a, b = _pixels(with_number), _pixels(without)
    assert a.shape == b.shape
    rows = np.flatnonzero(np.abs(a - b).sum(axis=(1, 2)))
    assert rows.size > 0, "the approval number is not drawn"
    assert rows.min() > 0.93 * a.shape[0], "only the line under the map may differ"
    assert APPROVAL in Image.open(io.BytesIO(with_number)).text["Copyright"]
    assert pictures.NO_APPROVAL in Image.open(io.BytesIO(without)).text["Copyright"]


def test_the_published_picture_carries_the_configured_approval_over_http(app_factory):
    configured = app_factory(MAP_APPROVAL=APPROVAL, MAP_SOURCE="边界：某市自然资源局提供").test_client()
    resp = configured.get("/maps/coverage.png?district=330304")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    text = Image.open(io.BytesIO(resp.data)).text["Copyright"]
    assert text == f"审图号：{APPROVAL}　边界：某市自然资源局提供"
    whole_city = Image.open(io.BytesIO(configured.get("/maps/coverage.png").data)).text["Copyright"]
    assert whole_city == text
    default = app_factory().test_client().get("/maps/coverage.png?district=330304")
    assert Image.open(io.BytesIO(default.data)).text["Copyright"] == pictures.map_credits()
    assert _pixels(default.data).shape == _pixels(resp.data).shape
    assert not np.array_equal(_pixels(default.data), _pixels(resp.data))


@pytest.mark.parametrize("value", ["GS(2024)1234号\n再一行", "号" * 81])
def test_a_bad_approval_stops_the_start(monkeypatch, tmp_path, value):
    monkeypatch.setenv("LOCATOR_MAP_APPROVAL", value)
    with pytest.raises(ConfigError) as info:
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    assert "LOCATOR_MAP_APPROVAL" in str(info.value)


def test_the_map_tables_district_names_open_the_map_there_and_the_picture_is_a_link_of_its_own(client, roster):
    from urllib.parse import parse_qs, urlparse

    from bs4 import BeautifulSoup

    rows = BeautifulSoup(client.get("/map").data, "html.parser").select("table.lm-districts tbody tr")
    assert len(rows) == 12
    for row in rows:
        district = roster.districts.by_code[row["data-code"]]
        name = row.select_one("a.lm-district-link")
        assert name.get_text() == district.name
        url = urlparse(name["href"])
        query = parse_qs(url.query)
        assert url.path == "/map" and set(query) == {"center", "zoom"}
        lat, lng = map(float, query["center"][0].split(","))
        x0, y0, x1, y1 = district.geometry.bounds
        assert x0 < lng < x1 and y0 < lat < y1
        assert 8 <= int(query["zoom"][0]) <= 12  # a whole county in about 360 px
        assert client.get(name["href"]).status_code == 200
        picture = row.select_one("a.lm-png")
        assert picture["href"] == f"/maps/coverage.png?district={district.code}"
    assert client.get(picture["href"]).mimetype == "image/png"
