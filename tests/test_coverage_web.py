"""/admin/coverage, its layers and downloads, the token API, background jobs; both stores."""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
import uuid

import numpy as np
import pytest
from bs4 import BeautifulSoup
from openpyxl import load_workbook
from PIL import Image

from locator.jobs import JobRunner, job_id
from locator.pictures import map_credits
from locator.store.demand import DemandStore
from tests.test_coverage_cli import CLUSTERS, CONTRACT, check_contract, demand_csv


def wait_for(client, page_url: str, timeout_s: float = 120) -> BeautifulSoup:
    """Open the page, follow the job's progress until it has finished, return the finished page."""
    resp = client.get(page_url)
    assert resp.status_code == 200, resp.data[:500]
    soup = BeautifulSoup(resp.data, "html.parser")
    progress = soup.select_one("#progress")
    if progress is not None:
        status_url = progress["data-status-url"]
        deadline = time.time() + timeout_s
        while True:
            job = client.get(status_url).get_json()
            assert 0 <= job["progress"] <= 1 and job["message"]
            if job["status"] != "running":
                break
            assert time.time() < deadline, job
            time.sleep(0.2)
        assert job["status"] == "done", job
        resp = client.get(page_url)
        soup = BeautifulSoup(resp.data, "html.parser")
    assert soup.select_one("#progress") is None
    return soup


def upload(client, path, *, name="十月订单", purpose="demand", crs="wgs84", source="某平台"):
    with open(path, "rb") as fh:
        data = {"file": (fh, path.name), "name": name, "source": source, "crs": crs, "purpose": purpose}
        return client.post(
            "/admin/coverage/layers", data={**data, "csrf_token": client.csrf}, content_type="multipart/form-data"
        )


def test_the_page_shows_coverage_blind_spots_sites_and_downloads(make_user, login, roster, tmp_path):
    make_user("boss", "city_admin")
    client = login("boss")
    resp = upload(client, demand_csv(tmp_path / "orders.csv", roster))
    assert resp.status_code == 201 and "已保存图层「十月订单」" in resp.text
    layer_id = BeautifulSoup(resp.data, "html.parser").select_one("#layers tbody tr")["data-id"]
    soup = wait_for(client, f"/admin/coverage?demand={layer_id}&radius_m=1000&suggest=2")
    assert soup.html["lang"] == "zh-CN"
    rows = soup.select("#districts tbody tr")
    assert len(rows) == 13 and rows[-1].td.text == "全市"
    assert soup.select_one("#city-share").text.endswith("%")
    spots = soup.select("#blind-spots li")
    assert len(spots) >= 2 and "瑞安市" in spots[0].text
    assert len(soup.select("#sites li")) == 2 and "精确求解" in soup.select_one("#method-note").text
    links = {a.text: a["href"] for a in soup.select("#downloads a")}
    png = client.get(links["图片 PNG"])
    assert png.status_code == 200 and png.mimetype == "image/png"
    image = Image.open(io.BytesIO(png.data))
    assert image.width > 600 and len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 50
    assert image.text["Copyright"] == map_credits()  # 审图号 (unset here) and the boundaries' source
    xlsx = client.get(links["Excel"])
    wb = load_workbook(io.BytesIO(xlsx.data))
    assert wb.sheetnames == ["概况", "各区县", "覆盖盲区", "建议选址", "冗余站点", "网格"]
    assert wb["各区县"].max_row == 14 and wb["建议选址"].max_row == 3
    report = client.get(links["JSON"]).get_json()
    check_contract({k: report[k] for k in CONTRACT}, roster)
    assert report["demand"]["layer"] == "十月订单" and report["demand"]["source"] == "某平台"
    geo = client.get(links["GeoJSON"])
    path = tmp_path / "coverage.geojson"
    path.write_bytes(geo.data)
    info = subprocess.run(["ogrinfo", "-ro", "-al", "-so", str(path)], capture_output=True, text=True, check=True)
    count = int(re.search(r"Feature Count: (\d+)", info.stdout).group(1))
    assert count == len(report["cells"]) + len(report["blind_spots_detail"]) + 2 + len(report["redundancy"])
    assert "WGS 84" in info.stdout
    config = json.loads(soup.select_one("#coverage-config").text)
    body = client.get(config["mapUrl"]).get_json()
    assert body["crs"] == "gcj02" and len(body["sites"]) == 2 and body["cells"]


def test_page_defaults_to_area_coverage_and_says_so(make_user, login):
    make_user("boss", "city_admin")
    soup = wait_for(login("boss"), "/admin/coverage?radius_m=3000")
    assert "面积覆盖率" in soup.select_one("#summary").text and soup.select_one("#area-note")


def test_upload_errors_are_listed_row_by_row_in_chinese(make_user, login, tmp_path):
    make_user("boss", "city_admin")
    client = login("boss")
    bad = tmp_path / "bad.csv"
    bad.write_text("经度,纬度,订单数\n120.7,28.0,3\n120.7,,2\n120.7,28.0,很多\n", encoding="utf-8")
    resp = upload(client, bad)
    assert resp.status_code == 422
    soup = BeautifulSoup(resp.data, "html.parser")
    rows = [[td.text for td in tr.select("td")] for tr in soup.select("#row-errors tbody tr")]
    assert rows == [["3", "纬度", "坐标为空"], ["4", "订单数", "「很多」不是 0 或正数"]]
    assert "未保存任何数据" in soup.select_one("#file-error").text
    assert soup.select_one("#layer-name")["value"] == "十月订单"  # the form keeps what was typed
    assert DemandStore(client.application.extensions["roster"].store).layers() == []
    no_crs = upload(client, bad, crs="")
    assert no_crs.status_code == 400 and "坐标系" in no_crs.text


def test_layers_are_deleted_by_their_uploader_or_a_city_admin(make_user, login, roster, tmp_path):
    make_user("boss", "city_admin")
    make_user("ouhai", "district_organizer", ["330304"])
    make_user("reader", "viewer")
    path = demand_csv(tmp_path / "o.csv", roster)
    assert upload(login("boss"), path, name="市级").status_code == 201
    organizer = login("ouhai")
    assert upload(organizer, path, name="瓯海").status_code == 201
    assert login("reader").get("/admin/coverage/layers").status_code == 200
    assert upload(login("reader"), path, name="只读").status_code == 403
    ids = {layer.name: layer.id for layer in DemandStore(roster.store).layers()}
    csrf = {"csrf_token": organizer.csrf}
    assert organizer.post(f"/admin/coverage/layers/{ids['市级']}/delete", data=csrf).status_code == 403
    assert organizer.post(f"/admin/coverage/layers/{ids['瓯海']}/delete", data=csrf).status_code == 302
    boss = login("boss")
    assert boss.post(f"/admin/coverage/layers/{ids['市级']}/delete", data={"csrf_token": boss.csrf}).status_code == 302
    assert DemandStore(roster.store).layers() == []


def test_district_organizers_see_their_districts(make_user, login):
    make_user("boss", "city_admin")
    make_user("ouhai", "district_organizer", ["330304"])
    organizer = login("ouhai")
    soup = wait_for(organizer, "/admin/coverage?radius_m=1000")
    rows = [tr.td.text for tr in soup.select("#districts tbody tr")]
    assert rows == ["瓯海区", "负责区县合计"]
    assert all(li.strong.text == "瓯海区" for li in soup.select("#blind-spots li"))
    boss_page = wait_for(login("boss"), "/admin/coverage?radius_m=1000")
    city_png = boss_page.select_one("#downloads a")["href"]
    assert organizer.get(city_png).status_code == 404  # the city's analysis is not theirs to read
    job_url = city_png.rsplit("/", 1)[0] + ".json"
    assert organizer.get(job_url).status_code == 404 and organizer.get(job_url).mimetype == "application/problem+json"


def test_bad_choices_answer_400_naming_the_parameter_in_chinese(make_user, login):
    make_user("boss", "city_admin")
    client = login("boss")
    for query, text in [
        ("radius_m=abc", "服务半径"),
        ("radius_m=1e9", "服务半径"),
        ("detour=0.5", "绕行系数"),
        ("demand=999", "需求图层"),
        ("type=spaceport", "站点类型"),
        ("open=sometimes", "开放"),
    ]:
        resp = client.get(f"/admin/coverage?{query}")
        assert resp.status_code == 400 and resp.mimetype == "text/html" and text in resp.text, query


def test_another_worker_sees_progress_and_result_and_takes_over_a_dead_job(app_factory, tmp_path):
    """Two apps over one database stand for two gunicorn workers: the job's state is shared."""
    first, second = app_factory(), app_factory()
    store = DemandStore(first.extensions["roster"].store)
    params = {"demo": 1}
    started = []

    def slow(progress):
        started.append(time.time())
        progress(0.5, "半程")
        time.sleep(1.0)
        return '{"ok": true}'

    job = JobRunner(store, heartbeat_s=0.2).submit(params, slow, created_by="t")
    other = DemandStore(second.extensions["roster"].store)
    deadline = time.time() + 30
    while other.job(job.id).progress < 0.5:
        assert time.time() < deadline
        time.sleep(0.05)
    assert other.job(job.id).message == "半程"
    while other.job(job.id).status == "running":
        assert time.time() < deadline
        time.sleep(0.05)
    assert other.job(job.id).result == '{"ok": true}'
    # A job whose heartbeat stopped (its worker died) is claimed again by whoever asks next.
    jid = job_id({"x": 1})
    store.claim_job(jid, {"x": 1}, owner="gone:1", created_by="t", stale_before="2000-01-01")
    assert JobRunner(other).submit({"x": 1}, lambda p: "{}", created_by="t").owner == "gone:1"  # still fresh
    time.sleep(0.05)
    taken = JobRunner(other, heartbeat_s=0.1, stale_s=0.01).submit({"x": 1}, lambda p: "[1]", created_by="t")
    assert taken.owner != "gone:1"
    while other.job(jid).status == "running":
        assert time.time() < deadline
        time.sleep(0.05)
    assert other.job(jid).result == "[1]"


def test_token_api_returns_the_contract_and_details(app, make_user, api_token, roster, tmp_path):
    user = make_user("script", "city_admin")
    token = api_token(user)
    client = app.test_client()
    runner = app.test_cli_runner()
    path = demand_csv(tmp_path / "o.csv", roster)
    assert runner.invoke(args=["demand", "import", str(path), "--name", "orders", "--crs", "wgs84"]).exit_code == 0
    headers = {"Authorization": f"Bearer {token}"}
    resp = client.get(
        "/api/v1/admin/coverage?radius_m=1000&type=rider_station&suggest=2&demand=orders", headers=headers
    )
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    body = resp.get_json()
    check_contract({k: body[k] for k in CONTRACT}, roster)
    assert body["method"] == "exact" and len(body["suggested_sites"]) == 2
    assert body["measure"] == "需求覆盖率" and "cells" not in body
    for site, cluster in zip(body["suggested_sites"], CLUSTERS, strict=True):
        assert site["gain"] == pytest.approx(cluster[2])
    assert "cells" in client.get("/api/v1/admin/coverage?cells=true", headers=headers).get_json()
    assert client.get("/api/v1/admin/coverage").status_code == 401
    unknown = client.get("/api/v1/admin/coverage?demand=nope", headers=headers)
    assert unknown.status_code == 404 and unknown.mimetype == "application/problem+json"
    assert "没有名为「nope」的需求图层" in unknown.get_json()["detail_zh"]
    bad = client.get("/api/v1/admin/coverage?radius_m=-5", headers=headers)
    assert bad.status_code == 400 and bad.get_json()["parameter"] == "radius_m"
    typo = client.get("/api/v1/admin/coverage?radius=5", headers=headers)
    assert typo.status_code == 400 and typo.get_json()["parameter"] == "radius"


def test_the_admin_operation_is_in_the_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    op = doc["paths"]["/api/v1/admin/coverage"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"radius_m", "type", "suggest", "demand", "open", "detour"} <= names
    assert "401" in op["responses"] and "CoverageReportOut" in doc["components"]["schemas"]


def test_sqlite_and_postgis_give_the_same_analysis(app_factory, postgres_url, tmp_path):
    """The same layer, the same choices: the same JSON from both stores (layers and search log stored on each)."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    apps = [app_factory(), app_factory(DATABASE_URL=postgres_url, DATABASE_SCHEMA=schema)]
    try:
        outputs = []
        for app in apps:
            roster = app.extensions["roster"]
            path = demand_csv(tmp_path / "o.csv", roster, crs="gcj02")
            runner = app.test_cli_runner()
            imported = runner.invoke(args=["demand", "import", str(path), "--name", "订单", "--crs", "gcj02"])
            assert imported.exit_code == 0, imported.output
            client = app.test_client()
            for _ in range(5):
                client.get("/api/v1/stations/nearest?lat=28.0&lng=120.7")
            app.extensions["search_log"].flush()
            report = runner.invoke(args=["coverage", "--demand", "订单", "--suggest", "2", "--details"])
            searches = runner.invoke(args=["coverage", "--demand", "searches"])
            assert report.exit_code == 0 and searches.exit_code == 0, report.output + searches.output
            body = json.loads(report.stdout)
            body.pop("seconds")
            body["solver"].pop("seconds")
            body["demand"].pop("layer_id")
            body["stations"].pop("data_version")
            body.pop("at")
            outputs.append((body, json.loads(searches.stdout)))
        assert outputs[0] == outputs[1]
        assert outputs[0][1]["demand_total"] == 5
    finally:
        apps[1].extensions["roster"].store.drop_schema()
