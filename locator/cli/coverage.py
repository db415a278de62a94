"""`flask --app locator coverage …`: the coverage analysis as JSON, and the demand layers it reads."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from locator import coverage, demand
from locator.context import current_demand, current_roster
from locator.coords import CRS
from locator.errors import LocatorError
from locator.formats import FORMATS, FileInvalid, detect_format
from locator.nearest import StationFilter
from locator.stations import STATION_TYPES

CRS_CHOICE = click.Choice([c.value for c in CRS])


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


def _read_file(path: Path, fmt: str | None, crs: str, purpose: str) -> demand.DemandFile:
    """A layer file validated; row errors printed in Chinese (exit 1)."""
    roster = current_roster()
    try:
        fmt_obj = FORMATS[fmt] if fmt else detect_format(path.name)
        return demand.read_layer_file(
            path.read_bytes(), fmt_obj, CRS(crs), bounds=demand.layer_bounds(roster.districts), purpose=purpose
        )
    except demand.DemandHasErrors as exc:
        for error in exc.errors:
            click.echo(str(error), err=True)
        _fail(f"{path.name}：{exc.detail_zh}")
    except (demand.DemandFileInvalid, FileInvalid) as exc:
        _fail(f"{path.name}：{getattr(exc, 'detail_zh', None) or exc}")
    raise AssertionError("unreachable")


def _demand(spec: str | None, fmt: str | None, crs: str, days: int) -> demand.Demand:
    """The demand named on the command line: a file, 'searches', a stored layer, or none (area)."""
    store = current_demand()
    roster = current_roster()
    if spec is None or spec == "area":
        return demand.area_demand(roster.districts)
    if spec == "searches":
        return demand.search_demand(store, days=days)
    path = Path(spec)
    if path.is_file():
        read = _read_file(path, fmt, crs, "demand")
        label = f"需求文件「{path.name}」"
        return demand.demand_from_items(read.items, kind=read.kind, label=label, info={"file": path.name})
    try:
        return demand.load_demand(store, roster.districts, spec, days=days)
    except demand.UnknownDemand as exc:
        _fail(f"--demand：没有文件或图层「{spec}」（{exc.detail_zh}）")
    raise AssertionError("unreachable")


def _candidates(spec: str | None, fmt: str | None, crs: str) -> coverage.Candidates | None:
    if spec is None:
        return None
    path = Path(spec)
    if path.is_file():
        items = _read_file(path, fmt, crs, "hosts").items
    else:
        layer = demand.find_layer(current_demand(), spec)
        if layer is None or layer.purpose != "hosts":
            _fail(f"--candidates：没有候选点文件或图层「{spec}」")
        items = current_demand().layer_items(layer.id)
    return coverage.Candidates(items.lng, items.lat, items.label)


def _radii(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter("use metres separated by commas, e.g. 500,1000,3000") from None
    if not values or any(not 10 <= v <= 100_000 for v in values):
        raise click.BadParameter("each radius must lie in 10..100000 m")
    return values


@click.command("coverage")
@with_appcontext
@click.option("--demand", "demand_spec", help="A demand file (CSV, XLSX, GeoJSON …), 'searches', or a stored layer.")
@click.option("--crs", type=CRS_CHOICE, default="wgs84", show_default=True, help="Coordinate system of the files.")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), help="File format (default: from the name).")
@click.option("--radius-m", type=click.FloatRange(10, 100_000), default=1000.0, show_default=True)
@click.option("--radii", default="500,1000,3000", show_default=True, help="Rings reported besides --radius-m.")
@click.option("--detour", type=click.FloatRange(1.0, 3.0), default=1.0, show_default=True, help="Street/straight.")
@click.option("--type", "types", multiple=True, type=click.Choice(list(STATION_TYPES)), help="Station types.")
@click.option("--open", "open_", type=click.Choice(["all", "now"]), default="all", show_default=True)
@click.option("--suggest", type=click.IntRange(0, 200), default=0, show_default=True, help="New sites to suggest.")
@click.option("--candidates", help="Candidate sites: a hosts file or stored hosts layer (default: demand cells).")
@click.option("--method", type=click.Choice(["auto", "exact", "greedy"]), default="auto", show_default=True)
@click.option("--time-budget", type=click.FloatRange(0, 3600), default=30.0, show_default=True, help="Exact solve, s.")
@click.option("--days", type=click.IntRange(1, 180), default=30, show_default=True, help="Search-log period.")
@click.option("--details", is_flag=True, help="Add rings, distances, solver, redundancy and labels to the JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: standard output.")
def coverage_command(
    demand_spec, crs, fmt, radius_m, radii, detour, types, open_, suggest, candidates, method, time_budget, days,
    details, output,
) -> None:  # fmt: skip
    """Coverage of demand by stations: shares per district, blind spots, suggested sites (JSON, WGS-84).

    Without --demand the measure is area coverage (面积覆盖率) of each district.
    """
    roster = current_roster()
    wanted = _demand(demand_spec, fmt, crs, days)
    options = coverage.CoverageOptions(
        radius_m=radius_m,
        radii=_radii(radii),
        detour=detour,
        flt=StationFilter(types=tuple(types), open_now=open_ == "now"),
        suggest=suggest,
        candidates=_candidates(candidates, fmt, crs),
        exact_budget_s=time_budget,
        method=method,
    )
    report = coverage.analyse(roster.snapshot(), roster.districts, wanted, options)
    body = report.as_json(with_cells=False) if details else report.contract()
    text = json.dumps(body, ensure_ascii=False, indent=1)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n", encoding="utf-8")
    share = body["covered_share"]
    measure = "面积覆盖率" if report.is_area else "需求覆盖率"
    click.echo(
        f"{measure}（{radius_m:g} 米内）：{share * 100:.1f}%；需求：{wanted.label}；"
        f"建议选址 {len(report.suggested_sites)} 处（{report.method}）",
        err=True,
    )


@click.group("demand")
def demand_group() -> None:
    """Demand layers and candidate hosts for the coverage analysis."""


@demand_group.command("import")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The layer's name (unique).")
@click.option("--source", default="", help="Where the data comes from (shown with every analysis).")
@click.option("--crs", type=CRS_CHOICE, required=True, help="Coordinate system of the file's coordinates.")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), help="Default: from the file name.")
@click.option("--hosts", is_flag=True, help="The file lists willing hosts (candidate sites), not demand.")
@click.option("--actor", default="cli", show_default=True)
def demand_import(path: Path, name: str, source: str, crs: str, fmt: str | None, hosts: bool, actor: str) -> None:
    """Store a demand layer (lng/lat/weight points or h3/weight cells) or a hosts list: all or nothing."""
    purpose = "hosts" if hosts else "demand"
    try:
        name, source = demand.check_layer_name(name, source)
    except demand.DemandFileInvalid as exc:
        _fail(f"--name：{exc.detail_zh}")
    read = _read_file(path, fmt, crs, purpose)
    try:
        info = current_demand().create_layer(
            name=name, source=source, purpose=purpose, kind=read.kind, crs=crs, created_by=actor, items=read.items
        )
    except LocatorError as exc:
        _fail(f"{path.name}：{exc.detail_zh or exc}")
    weighted = "" if read.weighted or hosts else "（文件没有权重列：每行计 1）"
    click.echo(f"已导入图层「{info.name}」（编号 {info.id}）：{info.items} 条，总权重 {info.total_weight:g}{weighted}")


@demand_group.command("list")
@with_appcontext
def demand_list() -> None:
    """List the stored layers and the search log's stored days."""
    for layer in current_demand().layers():
        click.echo(
            f"{layer.id}\t{layer.name}\t{layer.purpose}\t{layer.kind}\t{layer.items}\t{layer.total_weight:g}\t"
            f"{layer.source}\t{layer.created_by}\t{layer.created_at}"
        )
    days = current_demand().search_days()
    if days:
        click.echo(f"search log: {len(days)} days, {days[0][0]} .. {days[-1][0]}, {sum(n for _, n in days)} searches")


@demand_group.command("delete")
@with_appcontext
@click.argument("name")
def demand_delete(name: str) -> None:
    """Delete a stored layer by name or id."""
    layer = demand.find_layer(current_demand(), name)
    if layer is None or not current_demand().delete_layer(layer.id):
        _fail(f"没有图层「{name}」")
    click.echo(f"已删除图层「{layer.name}」")


COMMANDS = (coverage_command, demand_group)
