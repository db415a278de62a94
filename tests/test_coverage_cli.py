"""`flask --app locator coverage`: the JSON contract of issue 17, and `flask demand …` for stored layers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from locator.coords import geodesic_m, wgs84_to_gcj02

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = {
    "radius_m",
    "demand_total",
    "covered_share",
    "districts",
    "blind_spots",
    "suggested_sites",
    "method",
}
BLIND_SPOT = {"lng", "lat", "district", "uncovered_demand", "nearest_station_id", "nearest_distance_m"}
# Two clusters of orders far from every sample station (WGS-84), and orders near the stations.
CLUSTERS = [(120.25, 27.75, 500), (120.95, 28.32, 300)]


def demand_csv(path: Path, roster, *, crs: str = "wgs84") -> Path:
    """Orders: 1,000 near stations (weight 1) and the clusters; coordinates written in `crs`."""
    rng = np.random.default_rng(17)
    snap = roster.snapshot()
    near = rng.integers(0, len(snap), 1000)
    lng = list(snap.lng[near] + rng.normal(0, 0.002, 1000))
    lat = list(snap.lat[near] + rng.normal(0, 0.002, 1000))
    weight = [1.0] * 1000
    for x, y, total in CLUSTERS:
        lng += list(x + rng.normal(0, 0.001, 100))
        lat += list(y + rng.normal(0, 0.001, 100))
        weight += [total / 100] * 100
    if crs == "gcj02":
        lng, lat = wgs84_to_gcj02(np.array(lng), np.array(lat))
    lines = ["经度,纬度,订单数"] + [f"{x:.7f},{y:.7f},{w:g}" for x, y, w in zip(lng, lat, weight, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def check_contract(body: dict, roster) -> None:
    """The contract's shape: exactly its keys, the 12 districts, WGS-84 coordinates, shares in 0..1."""
    assert set(body) == CONTRACT
    assert body["method"] in ("exact", "greedy")
    assert 0 <= body["covered_share"] <= 1
    codes = [d.code for d in roster.districts.districts]
    assert [d["code"] for d in body["districts"]] == codes and len(codes) == 12
    for d in body["districts"]:
        assert set(d) == {"code", "name", "demand", "covered_share"}
        assert d["covered_share"] is None or 0 <= d["covered_share"] <= 1
    assert body["demand_total"] == pytest.approx(sum(d["demand"] for d in body["districts"]), rel=1e-6)
    for spot in body["blind_spots"]:
        assert set(spot) == BLIND_SPOT
        assert 119 < spot["lng"] < 122 and 26.5 < spot["lat"] < 29
    for site in body["suggested_sites"]:
        assert set(site) == {"lng", "lat", "gain"}


def test_contract_with_a_gcj02_demand_file(runner, roster, tmp_path):
    path = demand_csv(tmp_path / "订单.csv", roster, crs="gcj02")
    out = tmp_path / "report.json"
    args = ["coverage", "--demand", str(path), "--crs", "gcj02", "--radius-m", "1000"]
    result = runner.invoke(args=[*args, "--type", "rider_station", "--suggest", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text(encoding="utf-8"))
    check_contract(body, roster)
    assert body["radius_m"] == 1000 and body["demand_total"] == pytest.approx(1800)
    assert body["method"] == "exact"
    # Coordinates are WGS-84: the clusters (placed in WGS-84, written in GCJ-02) are found where they are.
    for spot, (x, y, total) in zip(body["blind_spots"][:2], CLUSTERS, strict=True):
        assert geodesic_m(spot["lng"], spot["lat"], x, y) < 150
        assert spot["uncovered_demand"] == pytest.approx(total)
    for site, (x, y, total) in zip(body["suggested_sites"][:2], CLUSTERS, strict=True):
        assert geodesic_m(site["lng"], site["lat"], x, y) < 300 and site["gain"] == pytest.approx(total)
    assert "需求覆盖率" in result.output  # the summary line goes to stderr


def test_without_demand_the_measure_is_area_coverage(runner, roster, tmp_path):
    out = tmp_path / "area.json"
    result = runner.invoke(args=["coverage", "--radius-m", "3000", "-o", str(out)])
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text(encoding="utf-8"))
    check_contract(body, roster)
    assert "面积覆盖率" in result.output
    assert 10_000 < body["demand_total"] < 14_000  # km² of Wenzhou's districts, water included
    assert all(0 < d["covered_share"] < 1 for d in body["districts"])
    detailed = runner.invoke(args=["coverage", "--radius-m", "3000", "--details"])
    assert json.loads(detailed.stdout)["measure"] == "面积覆盖率"


def test_search_log_as_demand(app, runner, roster):
    client = app.test_client()
    for _ in range(6):
        client.get("/api/v1/stations/nearest?lat=28.0&lng=120.7")
    client.get("/api/v1/stations/nearest?lat=27.5&lng=120.4")  # one search: suppressed
    app.extensions["search_log"].flush()
    result = runner.invoke(args=["coverage", "--demand", "searches", "--radius-m", "1000"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    check_contract(body, roster)
    assert body["demand_total"] == 6


def test_row_errors_are_printed_in_chinese_and_exit_1(runner, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("经度,纬度,订单数\n120.7,28.0,5\n120.7,28.0,很多\n", encoding="utf-8")
    result = runner.invoke(args=["coverage", "--demand", str(bad)])
    assert result.exit_code == 1
    assert "第 3 行「订单数」：「很多」不是 0 或正数" in result.output and "未保存任何数据" in result.output
    missing = runner.invoke(args=["coverage", "--demand", "no-such-layer"])
    assert missing.exit_code == 1 and "没有文件或图层" in missing.output


def test_demand_layers_are_stored_listed_used_and_deleted(runner, roster, tmp_path):
    path = demand_csv(tmp_path / "orders.csv", roster)
    hosts = tmp_path / "hosts.csv"
    hosts.write_text("名称,经度,纬度\n瑞安某网点,120.2502,27.7501\n远处,120.5,27.5\n", encoding="utf-8")
    args = ["demand", "import", str(path), "--name", "十月订单", "--source", "平台", "--crs", "wgs84"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0 and "已导入图层「十月订单」" in result.output, result.output
    result = runner.invoke(args=["demand", "import", str(hosts), "--name", "候选", "--crs", "wgs84", "--hosts"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["demand", "import", str(path), "--name", "十月订单", "--crs", "wgs84"])
    assert again.exit_code == 1 and "已有名为「十月订单」的图层" in again.output
    listing = runner.invoke(args=["demand", "list"])
    assert "十月订单" in listing.output and "候选" in listing.output
    used = runner.invoke(args=["coverage", "--demand", "十月订单", "--suggest", "1", "--candidates", "候选"])
    assert used.exit_code == 0, used.output
    body = json.loads(used.stdout)
    check_contract(body, roster)
    assert geodesic_m(body["suggested_sites"][0]["lng"], body["suggested_sites"][0]["lat"], 120.2502, 27.7501) < 1
    assert runner.invoke(args=["demand", "delete", "十月订单"]).exit_code == 0
    assert "十月订单" not in runner.invoke(args=["demand", "list"]).output


def test_stdout_is_only_the_json_in_a_real_process(tmp_path, roster):
    """The solver prints a banner from C++ on its first use: it must not reach the JSON on stdout."""
    path = demand_csv(tmp_path / "d.csv", roster)
    env = {**os.environ, "LOCATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}
    args = [sys.executable, "-m", "flask", "--app", "locator", "coverage", "--demand", str(path), "--suggest", "2"]
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    body = json.loads(proc.stdout.decode("utf-8"))
    assert set(body) == CONTRACT and len(body["suggested_sites"]) == 2 and body["method"] == "exact"
