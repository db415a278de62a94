"""Roster commands: init-db, seed, import (plan → preview → commit, as the admin pages do), export.

`import` reports in Chinese first (the organizer's words: 第 5 行「纬度」…) with the English after it,
and shows its progress: a bar on a terminal (tqdm), a plain line per stage otherwise (logs, cron).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from locator import importing
from locator.accounts import User
from locator.context import current_roster
from locator.coords import CRS
from locator.errors import LocatorError
from locator.formats import FORMATS, ExportSystemUnsupported, FileInvalid, check_export, detect_format
from locator.stations import STATION_TYPES
from locator.store.base import StationQuery, StoreError

CRS_CHOICE = click.Choice([c.value for c in CRS])
STAGES = {"read": "读取并检查", "check": "核对", "compare": "与名册比较"}


class Progress:
    """importing's progress callback: a tqdm bar on a terminal, plain lines (every 10,000 rows) otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = None
        self.stage = ""
        self.reported = 0

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        """One report from importing.preview (stage: read, check, compare)."""
        label = STAGES.get(stage, stage)
        if self.tty:
            from tqdm import tqdm

            if stage != self.stage:
                self.close()
                # A terminal that does not tell its size (0×0: some ssh and container consoles) would hide the bar.
                size = shutil.get_terminal_size((80, 24))
                self.bar = tqdm(
                    total=total,
                    desc=label,
                    unit="行",
                    file=self.stream,
                    leave=False,
                    ncols=size.columns or 80,
                    nrows=size.lines or 24,
                )
                self.stage = stage
            self.bar.update(done - self.bar.n)
            return
        if stage != self.stage or done - self.reported >= 10_000 or (total is not None and done == total):
            click.echo(f"{label}：{done} 行" + (f" / {total}" if total else ""), err=True)
            self.stage, self.reported = stage, done

    def close(self) -> None:
        """End the bar (nothing to do for plain lines)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _error(prefix: str, exc: LocatorError) -> str:
    """An error line for the terminal: the English detail, then the Chinese one when known."""
    return f"error: {prefix}{exc}" + (f"\n{exc.detail_zh}" if exc.detail_zh else "")


@click.command("init-db")
@with_appcontext
@click.option("--seed/--no-seed", default=True, help="Load the sample roster if the database is empty.")
def init_db(seed: bool) -> None:
    """Create or migrate the database schema (and seed the sample roster into an empty one)."""
    roster = current_roster()
    roster.store.init_schema()
    click.echo(f"schema version {roster.store.schema_version()}")
    if seed and roster.store.count() == 0:
        summary = roster.seed_sample()
        click.echo(f"seeded {len(summary.added)} sample stations")


@click.command("seed")
@with_appcontext
@click.option("--force", is_flag=True, help="Replace a roster that holds non-sample stations.")
def seed(force: bool) -> None:
    """Replace the roster with the bundled sample roster."""
    roster = current_roster()
    real = sum(1 for s in roster.store.list() if s.provenance != "sample")
    if real and not force:
        click.echo(f"refusing: the roster holds {real} non-sample stations (use --force)", err=True)
        sys.exit(2)
    summary = roster.seed_sample()
    click.echo(
        f"sample roster: {len(summary.added)} added, {len(summary.changed)} changed, {len(summary.removed)} removed"
    )


@click.command("import")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--crs", type=CRS_CHOICE, required=True, help="Coordinate system of the file's coordinates.")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), help="Default: from the file name.")
@click.option(
    "--layer",
    help="GeoPackage layer to read. Default: the layer named 'stations', else the only point layer.",
)
@click.option("--replace", is_flag=True, help="Make the roster exactly the file (stations not in it are removed).")
@click.option("--dry-run", is_flag=True, help="Check and report; write nothing.")
@click.option("--strict", is_flag=True, help="Treat warnings (e.g. a location on the water) as errors: import nothing.")
@click.option("--actor", default="cli", show_default=True, help="Who is importing (for the audit trail).")
def import_roster(
    path: Path, crs: str, fmt: str | None, layer: str | None, replace: bool, dry_run: bool, strict: bool, actor: str
) -> None:
    """Import stations from an XLSX, CSV, GeoJSON, KML or GeoPackage file: all or nothing, row-by-row errors.

    Warnings (a location that may be on the water) are printed and do not stop the import, unless --strict.
    """
    roster = current_roster()
    user = User(0, actor, "city_admin")
    progress = Progress()
    try:
        fmt_obj = FORMATS[fmt] if fmt else detect_format(path.name)
        result = importing.preview(
            roster, path.read_bytes(), fmt_obj, CRS(crs), user=user, replace=replace, layer=layer, progress=progress
        )
    except FileInvalid as exc:
        progress.close()
        click.echo(_error(f"{path.name}: ", exc), err=True)
        sys.exit(1)
    progress.close()
    if not result.ok:
        for error in result.errors:
            english = (f"row {error.row}: " if error.row else "") + f"{error.field}: {error.message}"
            click.echo(f"{error.text_zh()} ({english})", err=True)
        click.echo(
            f"{len(result.errors)} 处错误（共 {result.rows} 行），没有导入任何数据 "
            f"({len(result.errors)} error(s) in {result.rows} rows; nothing was imported)",
            err=True,
        )
        sys.exit(1)
    for line, w in zip(result.warning_report(), result.warnings, strict=True):
        english = "warning: " + (f"row {w.row}: " if w.row is not None else "") + f"{w.field}: {w.message}"
        click.echo(f"提示：{line} ({english})", err=True)  # Chinese, then the English form, as for errors
    if result.warnings and strict:
        click.echo(
            f"{len(result.warnings)} 条提示且用了 --strict：没有导入任何数据 "
            f"({len(result.warnings)} warning(s) and --strict: nothing was imported)",
            err=True,
        )
        sys.exit(1)
    if dry_run:
        click.echo(
            f"dry run: {len(result.stations)} valid stations would give {len(result.added)} added, "
            f"{len(result.changed)} changed, {len(result.closed)} closed, {len(result.removed)} removed, "
            f"{len(result.unchanged)} unchanged; nothing was written"
        )
        for change in result.changed + result.closed:
            diffs = "; ".join(f"{k}: {o!r} -> {n!r}" for k, (o, n) in change.diffs.items())
            click.echo(f"  {change.station_id} {change.name}: {diffs}")
        return
    try:
        summary = importing.apply(roster, result, user=user)
    except (StoreError, importing.StaleImport) as exc:
        click.echo(f"{exc.detail_zh}没有导入任何数据 (error: {exc}; nothing was imported)", err=True)
        sys.exit(1)
    click.echo(
        f"imported {path.name}: {len(summary.added)} added, {len(summary.changed)} changed, "
        f"{len(summary.removed)} removed, {len(summary.unchanged)} unchanged"
    )


@click.command("export")
@with_appcontext
@click.option("-f", "--format", "fmt", type=click.Choice(list(FORMATS)), default="geojson", show_default=True)
@click.option(
    "--crs",
    type=CRS_CHOICE,
    default="wgs84",
    show_default=True,
    help="Coordinate system of the file: gcj02/bd09 only for csv and xlsx (GeoJSON, KML, GeoPackage are WGS-84).",
)
@click.option("--district", "districts", multiple=True, help="Only these district codes.")
@click.option("--type", "types", multiple=True, type=click.Choice(list(STATION_TYPES)), help="Only these types.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: standard output.")
def export(fmt: str, crs: str, districts: tuple[str, ...], types: tuple[str, ...], output: Path | None) -> None:
    """Export the roster as GeoJSON, CSV, XLSX, KML or GeoPackage."""
    try:
        check_export(FORMATS[fmt], CRS(crs))
    except ExportSystemUnsupported as exc:
        click.echo(_error("", exc), err=True)
        sys.exit(2)
    stations = current_roster().store.list(StationQuery(types=types, districts=districts))
    data = FORMATS[fmt].write(stations, CRS(crs))
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)
        click.echo(f"wrote {len(stations)} stations to {output}", err=True)


COMMANDS = (init_db, seed, import_roster, export)
