"""Coverage analysis as files for reports: a PNG picture, an XLSX workbook, a GeoJSON file. No Flask.

Everything here works from the analysis' JSON (`CoverageReport.as_json()`), so a report can be
downloaded again from a finished job without recomputing it. matplotlib and openpyxl are imported
only when a file is made (never on the rider's path). Coordinates are WGS-84.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import h3
import numpy as np

from locator.districts import DistrictIndex
from locator.formats import neutralise_formula

COVERED_COLOR = "#2e7d32"
UNCOVERED_COLOR = "#c62828"
SITE_COLOR = "#1565c0"
STATION_COLOR = "#6d4c41"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _metres(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.1f} 公里" if value >= 1000 else f"{value:.0f} 米"


def title_of(report: dict[str, Any]) -> str:
    """The one-line Chinese summary used as a title."""
    key = f"{report['radius_m']:g}"
    measure = report.get("measure", "需求覆盖率")
    area = "全市" if not report.get("scope") else "负责区县"
    return f"{area}{measure}（{key} 米内）：{_pct(report['city']['covered_share'][key])}"


def cell_polygons(cells: list[list[Any]]) -> list[list[tuple[float, float]]]:
    """Each cell's boundary as (lng, lat) vertices."""
    out = []
    for cell in cells:
        boundary = h3.cell_to_boundary(cell[0])
        out.append([(lng, lat) for lat, lng in boundary])
    return out


# -- PNG ----------------------------------------------------------------------------------------


def coverage_png(report: dict[str, Any], districts: DistrictIndex, *, width_px: int = 1200, credits: str = "") -> bytes:
    """A tile-free PNG: districts, demand cells (covered / uncovered), rings, blind spots, suggested sites.

    `credits` is pictures.map_credits(...) of the configured 审图号; empty: the line for an unset one.
    """
    from locator.pictures import figure_png, map_credits

    credits = credits or map_credits()
    return figure_png(coverage_figure(report, districts, width_px=width_px, credits=credits), credits)


def coverage_figure(report: dict[str, Any], districts: DistrictIndex, *, width_px: int = 1200, credits: str = ""):
    """The matplotlib Figure behind coverage_png (the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection, PolyCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Ellipse

    from locator.pictures import _scale_bar, cjk_font, draw_credits, map_credits

    font = cjk_font()
    rc = {"font.family": [font, "sans-serif"] if font else ["sans-serif"], "axes.unicode_minus": False}
    scope = report.get("scope")
    shown = [d for d in districts.districts if not scope or d.code in scope]
    cells = report.get("cells") or []
    with plt.rc_context(rc):
        fig, ax = plt.subplots(figsize=(width_px / 100, width_px / 100 * 0.85), dpi=100)
        for d in shown:
            geoms = getattr(d.geometry, "geoms", [d.geometry])
            for g in geoms:
                x, y = g.exterior.xy
                ax.fill(x, y, facecolor="#f5f5f0", edgecolor="#777", linewidth=0.8, zorder=1)
            p = d.geometry.representative_point()
            ax.annotate(d.name, (p.x, p.y), ha="center", fontsize=11, color="#333", zorder=6)
        if cells:
            weights = np.array([c[1] for c in cells], float)
            uncovered = np.array([c[2] for c in cells], float)
            top = max(float(weights.max()), 1e-9)
            alpha = 0.25 + 0.65 * np.sqrt(weights / top)
            colors = [
                matplotlib.colors.to_rgba(UNCOVERED_COLOR if u > 0.5 * w else COVERED_COLOR, a)
                for w, u, a in zip(weights.tolist(), uncovered.tolist(), alpha.tolist(), strict=True)
            ]
            ax.add_collection(PolyCollection(cell_polygons(cells), facecolors=colors, edgecolors="none", zorder=2))
        stations = report.get("station_points") or []
        radius = float(report["radius_m"]) / float(report.get("detour_factor") or 1.0)
        if stations and len(stations) <= 3000:
            rings = [
                Ellipse(
                    (s[0], s[1]),
                    2 * radius / (111_320 * math.cos(math.radians(s[1]))),
                    2 * radius / 110_574,
                )
                for s in stations
            ]
            ax.add_collection(
                PatchCollection(rings, facecolor="none", edgecolor=COVERED_COLOR, linewidth=0.5, alpha=0.6, zorder=3)
            )
        if stations:
            ax.scatter([s[0] for s in stations], [s[1] for s in stations], s=8, c=STATION_COLOR, zorder=4)
        for spot in report.get("blind_spots_detail", [])[:10]:
            ax.scatter(spot["lng"], spot["lat"], s=160, facecolors="none", edgecolors=UNCOVERED_COLOR, linewidths=2)
            ax.annotate(str(spot["rank"]), (spot["lng"], spot["lat"]), ha="center", va="center", fontsize=8, zorder=7)
        for site in report.get("suggested_sites_detail", []):
            ax.scatter(site["lng"], site["lat"], s=220, marker="*", c=SITE_COLOR, edgecolors="white", zorder=8)
            ax.annotate(
                str(site["rank"]), (site["lng"], site["lat"]), xytext=(6, 6), textcoords="offset points", fontsize=10,
                color=SITE_COLOR, zorder=8,
            )  # fmt: skip
        key = f"{report['radius_m']:g}"
        legend = [
            Line2D([], [], marker="h", linestyle="", markersize=10, color=COVERED_COLOR, label="已覆盖的需求"),
            Line2D([], [], marker="h", linestyle="", markersize=10, color=UNCOVERED_COLOR, label="未覆盖的需求"),
            Line2D([], [], marker="o", linestyle="", markersize=5, color=STATION_COLOR, label="现有站点"),
            Line2D([], [], marker="o", linestyle="", markersize=10, markerfacecolor="none", color=UNCOVERED_COLOR,
                   label="覆盖盲区（编号为排名）"),
            Line2D([], [], marker="*", linestyle="", markersize=12, color=SITE_COLOR, label="建议新址"),
        ]  # fmt: skip
        ax.legend(handles=legend, loc="lower right", fontsize=10, frameon=True, title=f"服务半径 {key} 米")
        ax.set_title(title_of(report), fontsize=16)
        demand = report.get("demand", {})
        note = f"需求：{demand.get('label', '')}"
        if report.get("measure") == "面积覆盖率":
            note += "；无需求图层，按面积计算"
        ax.text(0.01, 0.99, note, transform=ax.transAxes, fontsize=9, va="top", color="#555")
        xs = [x for d in shown for x in (d.geometry.bounds[0], d.geometry.bounds[2])]
        ys = [y for d in shown for y in (d.geometry.bounds[1], d.geometry.bounds[3])]
        ax.set_xlim(min(xs), max(xs))
        ax.set_ylim(min(ys), max(ys))
        _scale_bar(ax)
        ax.set_aspect(1 / np.cos(np.radians(np.mean(ax.get_ylim()))))
        ax.set_axis_off()
        draw_credits(fig, credits or map_credits())
    return fig


# -- XLSX ---------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    return neutralise_formula(value) if isinstance(value, str) else value


def coverage_xlsx(report: dict[str, Any]) -> bytes:
    """A workbook: summary, districts (every ring), blind spots, suggested sites, redundancy, cells."""
    from openpyxl import Workbook

    radii = sorted(report["city"]["covered_share"], key=float)
    wb = Workbook()
    ws = wb.active
    ws.title = "概况"
    solver = report.get("solver", {})
    for row in [
        ("指标", report.get("measure")),
        ("结论", title_of(report)),
        ("需求", report["demand"].get("label")),
        ("需求总量", report["demand_total"]),
        ("需求单位", report["demand"].get("unit")),
        ("服务半径（米）", report["radius_m"]),
        ("绕行系数", report.get("detour_factor")),
        ("计入站点数", report["stations"]["count"]),
        ("站点类型", "、".join(report["stations"]["types"]) or "全部"),
        ("只计此刻开放", "是" if report["stations"]["open_now"] else "否"),
        ("加权平均距离（米）", report["city"]["mean_distance_m"]),
        ("90% 需求的距离在（米）以内", report["city"]["p90_distance_m"]),
        ("选址方法", report["method"]),
        ("选址说明", solver.get("note") or solver.get("model")),
        ("贪心算法保证", solver.get("greedy_bound")),
        ("距离", report.get("distance")),
        ("分析时间", report.get("at")),
    ]:
        ws.append([_cell(v) for v in row])
    ws = wb.create_sheet("各区县")
    ws.append(["区县代码", "区县", "需求", *[f"{r} 米内覆盖率" for r in radii], "平均距离（米）", "90%距离（米）"])
    for d in [*report["districts_detail"], report["city"]]:
        ws.append(
            [
                d["code"] or "",
                d["name"],
                d["demand"],
                *[d["covered_share"][r] for r in radii],
                d["mean_distance_m"],
                d["p90_distance_m"],
            ]
        )
    ws = wb.create_sheet("覆盖盲区")
    ws.append(["排名", "经度", "纬度", "区县", "未覆盖需求", "网格数", "最近站点编号", "最近站点", "距离（米）"])
    for b in report["blind_spots_detail"]:
        ws.append(
            [
                b["rank"],
                b["lng"],
                b["lat"],
                b["district_name"] or "",
                b["uncovered_demand"],
                b["cells"],
                _cell(b["nearest_station_id"] or ""),
                _cell(b["nearest_station_name"] or ""),
                b["nearest_distance_m"],
            ]  # fmt: skip
        )
    ws = wb.create_sheet("建议选址")
    ws.append(["顺序", "经度", "纬度", "区县", "新增覆盖需求", "占总需求", "累计新增", "候选点", "距现有站点（米）"])
    for s in report["suggested_sites_detail"]:
        ws.append(
            [
                s["rank"],
                s["lng"],
                s["lat"],
                s["district_name"] or "",
                s["gain"],
                s["gain_share"],
                s["cumulative_gain"],
                _cell(s["host"] or ""),
                s["nearest_existing_m"],
            ]  # fmt: skip
        )
    ws = wb.create_sheet("冗余站点")
    ws.append(["站点编号", "名称", "区县", "经度", "纬度", "撤除后失去的覆盖需求", "占总需求"])
    for r in report["redundancy"]:
        ws.append(
            [
                _cell(r["id"]),
                _cell(r["name"] or ""),
                r["district_name"] or "",
                r["lng"],
                r["lat"],
                r["lost_demand"],
                r["lost_share"],
            ]  # fmt: skip
        )
    ws = wb.create_sheet("网格")
    ws.append(["H3 网格（8 级）", "需求", "未覆盖需求", "盲区排名"])
    for c in report.get("cells") or []:
        ws.append(list(c))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- GeoJSON -------------------------------------------------------------------------------------


def coverage_geojson(report: dict[str, Any]) -> bytes:
    """An RFC 7946 FeatureCollection: demand cells, blind spots, suggested sites, redundant stations."""
    features: list[dict[str, Any]] = []
    for cell, ring in zip(report.get("cells") or [], cell_polygons(report.get("cells") or []), strict=True):
        coords = [[round(x, 6), round(y, 6)] for x, y in ring]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [coords + [coords[0]]]},
                "properties": {
                    "kind": "demand_cell",
                    "h3": cell[0],
                    "demand": cell[1],
                    "uncovered_demand": cell[2],
                    "blind_spot": cell[3] or None,
                },
            }
        )
    for kind, rows in (
        ("blind_spot", report["blind_spots_detail"]),
        ("suggested_site", report["suggested_sites_detail"]),
        ("redundant_station", report["redundancy"]),
    ):
        for row in rows:
            props = {k: v for k, v in row.items() if k not in ("lng", "lat")}
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [row["lng"], row["lat"]]},
                    "properties": {"kind": kind, **props},
                }
            )
    summary = {k: v for k, v in report.items() if k not in ("cells", "station_points")}
    doc = {"type": "FeatureCollection", "features": features, "coverage": summary}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
