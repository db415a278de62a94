"""Build geodata/land.geojson: the land around Wenzhou from the GSHHG shoreline, for water warnings.

How to run (from the repository root, after geodata/districts.geojson exists):

    apt-get install gmt gmt-gshhg-full        # Debian: GMT 6 and the full-resolution GSHHG
    .venv/bin/python geodata/build_land.py

It is re-runnable and deterministic: the same GSHHG files give byte-identical land.geojson
(only the "built" date in land.meta.json changes).

Why: the district outlines are administrative and include bays, tidal flats and sea (乐清湾,
around 洞头), so "inside a district" does not mean "on land". The service warns (never refuses)
when a station lies more than ~300 m from this land (locator/shoreline.py).

Steps:
1. Source: GSHHG 2.3.7 at full resolution, as Debian's `gmt-gshhg-full` ships it
   (/usr/share/gmt-gshhg/binned_GSHHS_f.nc: GMT's "binned" netCDF, the shorelines cut into
   bins and stored as offsets from bin corners). GMT itself reads that format best, so the
   script asks GMT rather than decoding the bins: `gmt coast -Df -M -W` dumps every shoreline
   (levels 1-4: sea/land, lake, island in lake, pond) inside REGION as line segments, clipped
   at the region's edges and cut at bin edges, the pieces meeting exactly.
2. The segments and the region's outline are noded and polygonized (shapely): every face of
   that planar map is either land or water. One interior point of each face is given to
   `gmt select -Df -Ns/k/s/k/s` (keep land and islands-in-lakes, skip sea, lakes and ponds),
   which decides with the same GSHHG polygons; the kept faces are unioned: the land.
3. Simplify in UTM 51N (EPSG:32651) with Douglas-Peucker at TOLERANCE_M, drop land parts
   smaller than MIN_AREA_M2 (rocks, which GSHHG full resolution has by the hundred), round
   to 6 decimals, orient rings per RFC 7946 and write one MultiPolygon feature, plus
   land.meta.json (package version, file sha256, GMT version, region, tolerance, counts).

REGION is the districts' bounding box widened by MARGIN_DEG on every side: the mask answers
only inside it (points outside are "unknown" and never warned about).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, MultiPolygon, Polygon, box, mapping, shape
from shapely.geometry.polygon import orient
from shapely.ops import polygonize, unary_union

HERE = Path(__file__).resolve().parent
DISTRICTS_PATH = HERE / "districts.geojson"
OUT_PATH = HERE / "land.geojson"
META_PATH = HERE / "land.meta.json"
GSHHG_FILE = Path("/usr/share/gmt-gshhg/binned_GSHHS_f.nc")
PACKAGE = "gmt-gshhg-full"

MARGIN_DEG = 0.15  # about 15 km around the districts' bounding box
TOLERANCE_M = 50.0  # Douglas-Peucker: a sixth of the 300 m warning distance, below GSHHG's own accuracy
MIN_AREA_M2 = 2_000.0  # land parts smaller than this (rocks at sea) are dropped
METRIC_CRS = "EPSG:32651"
DECIMALS = 6


def region(districts_path: Path = DISTRICTS_PATH) -> tuple[float, float, float, float]:
    """The districts' bounding box widened by MARGIN_DEG, rounded outwards to 0.05 degrees."""
    fc = json.loads(Path(districts_path).read_text(encoding="utf-8"))
    x0, y0, x1, y1 = shapely.total_bounds([shape(f["geometry"]) for f in fc["features"]]).tolist()

    def down(v: float) -> float:
        return round(np.floor((v - MARGIN_DEG) * 20) / 20, 2)

    def up(v: float) -> float:
        return round(np.ceil((v + MARGIN_DEG) * 20) / 20, 2)

    return down(x0), down(y0), up(x1), up(y1)


def _gmt(*args: str, stdin: str | None = None) -> str:
    try:
        # In a scratch directory: GMT leaves a gmt.history file in its working directory.
        with tempfile.TemporaryDirectory() as scratch:
            done = subprocess.run(["gmt", *args], input=stdin, capture_output=True, text=True, check=True, cwd=scratch)
    except FileNotFoundError:
        raise SystemExit("GMT is not installed: apt-get install gmt gmt-gshhg-full") from None
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"gmt {' '.join(args)} failed: {exc.stderr.strip()}") from None
    return done.stdout


def shoreline_segments(bounds: tuple[float, float, float, float]) -> list[LineString]:
    """Every GSHHG shoreline piece inside the region, as GMT dumps it."""
    r = f"-R{bounds[0]}/{bounds[2]}/{bounds[1]}/{bounds[3]}"
    text = _gmt("coast", r, "-Df", "-M", "-W")
    segments, current = [], []
    for line in text.splitlines():
        if line.startswith(">"):
            if len(current) > 1:
                segments.append(LineString(current))
            current = []
        elif line.strip():
            x, y = line.split()[:2]
            current.append((float(x), float(y)))
    if len(current) > 1:
        segments.append(LineString(current))
    return segments


def land_faces(bounds: tuple[float, float, float, float], segments: list[LineString]) -> list[Polygon]:
    """The faces of the shoreline map that GSHHG says are land."""
    frame = box(*bounds)
    faces = list(polygonize(unary_union([*segments, frame.boundary])))
    points = [f.representative_point() for f in faces]
    r = f"-R{bounds[0]}/{bounds[2]}/{bounds[1]}/{bounds[3]}"
    stdin = "".join(f"{p.x:.12f} {p.y:.12f} {i}\n" for i, p in enumerate(points))
    kept = _gmt("select", r, "-Df", "-Ns/k/s/k/s", stdin=stdin)
    land = {int(line.split()[2]) for line in kept.splitlines() if line.strip()}
    return [faces[i] for i in sorted(land)]


def simplify(land: MultiPolygon) -> MultiPolygon:
    """Douglas-Peucker in UTM 51N, small parts dropped, back to WGS-84 at 6 decimals, RFC 7946 rings."""
    fwd = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    inv = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)

    def through(t: Transformer):
        def project(coords: np.ndarray) -> np.ndarray:
            x, y = t.transform(coords[:, 0], coords[:, 1])
            return np.column_stack((x, y))

        return project

    metric = shapely.transform(land, through(fwd))
    metric = shapely.simplify(metric, TOLERANCE_M, preserve_topology=True)
    parts = [p for p in getattr(metric, "geoms", [metric]) if p.area >= MIN_AREA_M2]
    back = shapely.transform(MultiPolygon(parts), through(inv))
    back = shapely.set_precision(back, 10.0**-DECIMALS)
    back = shapely.make_valid(back)
    polys = [p for p in getattr(back, "geoms", [back]) if isinstance(p, Polygon) and not p.is_empty]
    polys.sort(key=lambda p: (-p.area, p.bounds))
    return MultiPolygon([orient(p, sign=1.0) for p in polys])


def _rounded(value):
    if isinstance(value, float):
        return round(value, DECIMALS)
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def build(districts_path: Path = DISTRICTS_PATH) -> tuple[dict, dict]:
    """The land FeatureCollection and its provenance record (pure apart from calling GMT)."""
    if not GSHHG_FILE.exists():
        raise SystemExit(f"{GSHHG_FILE} is missing: apt-get install {PACKAGE}")
    bounds = region(districts_path)
    segments = shoreline_segments(bounds)
    faces = land_faces(bounds, segments)
    raw = unary_union(faces)
    raw = MultiPolygon(list(getattr(raw, "geoms", [raw])))
    land = simplify(raw)
    if not land.is_valid:
        raise SystemExit(f"the land is not valid: {shapely.is_valid_reason(land)}")
    geometry = mapping(land)
    geometry["coordinates"] = _rounded(geometry["coordinates"])
    feature = {
        "type": "Feature",
        "properties": {
            "what": "land (GSHHG shoreline level 1 land, islands in lakes), WGS-84",
            "extent": list(bounds),
            "source": f"GSHHG {gshhg_version()} full resolution ({PACKAGE}), LGPL-3.0-or-later",
        },
        "geometry": geometry,
    }
    fc = {"type": "FeatureCollection", "features": [feature]}
    meta = {
        "source": {
            "dataset": "GSHHG (Global Self-consistent Hierarchical High-resolution Geography)",
            "version": gshhg_version(),
            "resolution": "full",
            "debian_package": f"{PACKAGE} {_dpkg_version(PACKAGE)}",
            "file": str(GSHHG_FILE),
            "file_sha256": hashlib.sha256(GSHHG_FILE.read_bytes()).hexdigest(),
            "reader": f"GMT {_gmt('--version').strip()} (gmt coast -Df -M -W; gmt select -Df -Ns/k/s/k/s)",
            "licence": "LGPL-3.0-or-later",
            "upstream": "Wessel and Smith; shorelines from the World Vector Shoreline (WVS), lakes from CIA WDB-II",
        },
        "built": dt.date.today().isoformat(),
        "region": list(bounds),
        "simplification": {"method": "Douglas-Peucker", "crs": METRIC_CRS, "tolerance_m": TOLERANCE_M},
        "min_part_area_m2": MIN_AREA_M2,
        "coordinate_decimals": DECIMALS,
        "counts": {
            "shoreline_segments": len(segments),
            "land_faces": len(faces),
            "parts_before": len(raw.geoms),
            "parts_after": len(land.geoms),
            "vertices_before": int(shapely.get_num_coordinates(raw)),
            "vertices_after": int(shapely.get_num_coordinates(land)),
        },
    }
    return fc, meta


def gshhg_version() -> str:
    """The GSHHG version GMT reports for the installed files."""
    with tempfile.TemporaryDirectory() as scratch:
        info = subprocess.run(
            ["gmt", "coast", "-R120/121/27/28", "-Df", "-M", "-W", "-Vi"], capture_output=True, text=True, cwd=scratch
        ).stderr
    for line in info.splitlines():
        if "GSHHG version" in line:
            return line.rsplit("GSHHG version", 1)[1].strip()
    raise SystemExit("GMT did not report the GSHHG version")


def _dpkg_version(package: str) -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def dumps(fc: dict) -> str:
    """Compact JSON, one polygon per line (readable diffs)."""
    feature = fc["features"][0]
    polys = [json.dumps(p, separators=(",", ":")) for p in feature["geometry"]["coordinates"]]
    head = json.dumps({k: v for k, v in feature.items() if k != "geometry"}, ensure_ascii=False, separators=(",", ":"))
    return (
        '{"type":"FeatureCollection","features":[\n'
        + head[:-1]
        + ',"geometry":{"type":"MultiPolygon","coordinates":[\n'
        + ",\n".join(polys)
        + "\n]}}\n]}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--districts", type=Path, default=DISTRICTS_PATH)
    parser.add_argument("--out", type=Path, default=OUT_PATH)
    parser.add_argument("--meta", type=Path, default=META_PATH)
    args = parser.parse_args(argv)
    fc, meta = build(args.districts)
    args.out.write_text(dumps(fc), encoding="utf-8")
    args.meta.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes): {meta['counts']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
