"""Scale out (issue 7): embedded index vs PostGIS k-NN vs a geopandas scan, HTTP throughput, RSS.

One run, one machine, ratios against baselines measured in the same run:
  per query  k=5 nearest at 145, 10,000 and 1,000,000 stations: Snapshot.nearest_indices
             (baseline), PostGISStore.nearest_ids, geopandas GeoSeries.distance (UTM 51N) + nsmallest
  HTTP       /api/v1/stations/nearest under gunicorn + wrk, as a share of /healthz, per store
  RSS        VmRSS of a warmed gunicorn worker serving 1,000,000 stations from PostGIS

Usage:
  LOCATOR_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:55433/locator_test \
      .venv/bin/python bench/postgis.py [--sizes 145,10000,1000000] [--http-seconds 8]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

# One OpenMP thread for pykdtree, as gunicorn.conf.py sets for the workers: a single-point
# query gains nothing from threads, and on a busy machine their start-up costs milliseconds.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from locator.nearest import Snapshot  # noqa: E402
from locator.stations import Station  # noqa: E402
from locator.store.postgis import PostGISStore  # noqa: E402
from locator.store.sqlite import SQLiteStore  # noqa: E402

BBOX = (119.6, 27.0, 121.3, 28.6)  # Wenzhou, WGS-84


def synthetic(n: int, seed: int = 1) -> list[Station]:
    """n stations spread over Wenzhou's bounding box (ids in ascending order)."""
    rng = np.random.default_rng(seed)
    lng = rng.uniform(BBOX[0], BBOX[2], n)
    lat = rng.uniform(BBOX[1], BBOX[3], n)
    now = datetime.now(UTC)
    return [
        Station(
            id=f"b{i:07d}",
            name=f"驿站 {i}",
            type="rider_station",
            district="330302",
            address="",
            lng=float(lng[i]),
            lat=float(lat[i]),
            amenities=("water", "charging"),
            hours="24/7",
            provenance="import",
            created_at=now,
            updated_at=now,
        )
        for i in range(n)
    ]


def queries(count: int, seed: int = 2) -> list[tuple[float, float]]:
    """Random query points in the same box."""
    rng = np.random.default_rng(seed)
    return list(zip(rng.uniform(BBOX[0], BBOX[2], count), rng.uniform(BBOX[1], BBOX[3], count), strict=True))


def per_query_us(fn, points, batches: int = 5) -> float:
    """Microseconds per call of fn(lng, lat): the best of `batches` passes over the points.

    The best pass, not the mean: on a shared machine other processes only ever add time.
    """
    fn(*points[0])
    best = float("inf")
    for _ in range(batches):
        start = time.perf_counter()
        for x, y in points:
            fn(x, y)
        best = min(best, (time.perf_counter() - start) / len(points))
    return best * 1e6


def snap_query(snap: Snapshot, k: int):
    """The embedded index's k-NN as fn(lng, lat)."""
    return lambda x, y: snap.nearest_indices(x, y, k)


def store_query(store: PostGISStore, k: int):
    """PostGIS k-NN as fn(lng, lat)."""
    return lambda x, y: store.nearest_ids(x, y, k)


def geopandas_query(gdf, k: int, point_type):
    """A full distance scan in UTM zone 51N (metres) as fn(lng, lat)."""
    from pyproj import Transformer

    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)

    def query(x: float, y: float):
        px, py = to_utm.transform(x, y)
        return gdf.geometry.distance(point_type(px, py)).nsmallest(k).index

    return query


def bench_queries(url: str, sizes: list[int], k: int = 5) -> dict[int, PostGISStore]:
    """Per-query timings at each size; returns the loaded PostGIS stores (schema bench_<n>)."""
    import geopandas as gpd
    from shapely.geometry import Point

    stores = {}
    print(f"\n## per query, k={k}")
    print("| stations | embedded µs | PostGIS µs | geopandas µs | PostGIS / embedded | geopandas / embedded |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        stations = synthetic(n)
        snap = Snapshot.from_stations(stations)
        store = PostGISStore(url, schema=f"bench_{n}")
        store.init_schema()
        if store.count() != n:
            t0 = time.perf_counter()
            store.replace_all(stations, actor="bench", via="seed")
            store._conn().execute("VACUUM ANALYZE stations")
            print(f"(loaded {n} stations into PostGIS with COPY in {time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        stores[n] = store
        pts = queries(2000)
        emb = per_query_us(snap_query(snap, k), pts)
        pg = per_query_us(store_query(store, k), pts[:500])
        # Parity on the way: the two answers must agree.
        for x, y in pts[:200]:
            idx, _ = snap.nearest_indices(x, y, k)
            assert store.nearest_ids(x, y, k)[0] == [snap.ids[i] for i in idx]
        gdf = gpd.GeoDataFrame(
            {"id": snap.ids}, geometry=gpd.points_from_xy(snap.lng, snap.lat), crs="EPSG:4326"
        ).to_crs("EPSG:32651")
        gq = 100 if n <= 10_000 else 5
        geo = per_query_us(geopandas_query(gdf, k, Point), pts[:gq], batches=3)
        print(f"| {n:,} | {emb:.1f} | {pg:.1f} | {geo:.0f} | {pg / emb:.1f}× | {geo / emb:.0f}× |")
        del stations, gdf
    return stores


def bench_version_check(url: str, sqlite_path: Path, schema: str) -> None:
    """What the per-request data-version check costs each store (the only per-request store work)."""
    lite = SQLiteStore(sqlite_path)
    pg = PostGISStore(url, schema=schema)
    cached = PostGISStore(url, schema=schema, version_check_interval=0.5)
    pts = [(0.0, 0.0)] * 2000
    figures = [
        (label, per_query_us(lambda _x, _y, s=s: s.data_version(), pts))
        for label, s in (
            ("SQLite", lite),
            ("PostGIS, every request", pg),
            ("PostGIS, cached 500 ms", cached),
        )
    ]
    for s in (lite, pg, cached):
        s.close()
    print("\n## data version check per request")
    print(" | ".join(f"{label}: {us:.1f} µs" for label, us in figures))


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn -c gunicorn.conf.py with the given settings, until stopped."""

    def __init__(self, env: dict[str, str], workers: int = 1, threads: int = 4):
        self.port = free_port()
        self.env = {
            **os.environ,
            **env,
            "LOCATOR_BIND": f"127.0.0.1:{self.port}",
            "LOCATOR_WORKERS": str(workers),
            "LOCATOR_THREADS": str(threads),
            "LOCATOR_SEED_SAMPLE": "false",
            "LOCATOR_RATELIMIT_ENABLED": "false",
            "LOCATOR_LOG_LEVEL": "warning",
        }
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2).read()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start: " + Path(self.log.name).read_text()) from None
                time.sleep(0.3)

    def warm(self, path: str, times: int = 50) -> None:
        """Send requests until every worker has built its snapshot."""
        for _ in range(times):
            urllib.request.urlopen(self.url + path, timeout=600).read()

    def worker_rss_mb(self) -> list[float]:
        """VmRSS of each worker process (children of the master)."""
        out = []
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        for pid in children:
            status = Path(f"/proc/{pid}/status").read_text()
            kb = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
            out.append(kb / 1024)
        return out

    def stop(self) -> None:
        """Stop the master and its workers."""
        self.proc.terminate()
        self.proc.wait(30)
        os.unlink(self.log.name)


def wrk(url: str, seconds: int, connections: int = 16) -> float:
    """Requests per second that wrk measured (2 threads)."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url], capture_output=True, text=True, check=True
    ).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


NEAREST = "/api/v1/stations/nearest?lat=28.0&lng=120.65&k=5"


def bench_http(url: str, seconds: int, sqlite_path: Path, n: int) -> None:
    """Throughput of nearest as a share of /healthz, per store and version-check interval."""
    print(f"\n## HTTP, gunicorn 1 worker × 4 threads, wrk -t2 -c16 -d{seconds}s, {n:,} stations")
    print("| store | /healthz req/s | nearest req/s | nearest / healthz |")
    print("|---|---:|---:|---:|")
    setups = [
        ("SQLite", {"LOCATOR_DATABASE_URL": f"sqlite:///{sqlite_path}"}),
        (
            "PostGIS, version check every request",
            {"LOCATOR_DATABASE_URL": url, "LOCATOR_DATABASE_SCHEMA": f"bench_{n}"},
        ),
        (
            "PostGIS, version check every 500 ms",
            {
                "LOCATOR_DATABASE_URL": url,
                "LOCATOR_DATABASE_SCHEMA": f"bench_{n}",
                "LOCATOR_VERSION_CHECK_INTERVAL_MS": "500",
            },
        ),
    ]
    for label, env in setups:
        server = Gunicorn(env)
        try:
            server.warm(NEAREST)
            health = wrk(server.url + "/healthz", seconds)
            nearest = wrk(server.url + NEAREST, seconds)
        finally:
            server.stop()
        print(f"| {label} | {health:,.0f} | {nearest:,.0f} | {nearest / health:.0%} |")


def bench_rss(url: str, n: int) -> None:
    """RSS of each warmed worker serving n stations from PostGIS."""
    server = Gunicorn({"LOCATOR_DATABASE_URL": url, "LOCATOR_DATABASE_SCHEMA": f"bench_{n}"}, workers=2, threads=2)
    try:
        server.warm(NEAREST, times=40)
        rss = server.worker_rss_mb()
    finally:
        server.stop()
    print(f"\n## RSS per worker at {n:,} stations (PostGIS, 2 workers, warmed)")
    print(" | ".join(f"worker {i + 1}: {mb:,.0f} MB" for i, mb in enumerate(rss)))


def main() -> None:
    """Run everything once and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="145,10000,1000000")
    parser.add_argument("--http-seconds", type=int, default=8)
    parser.add_argument("--http-size", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench_<n> schemas for another run")
    args = parser.parse_args()
    url = os.environ.get("LOCATOR_BENCH_POSTGRES_URL") or os.environ.get("LOCATOR_TEST_POSTGRES_URL")
    if not url:
        sys.exit("set LOCATOR_TEST_POSTGRES_URL (or LOCATOR_BENCH_POSTGRES_URL) to a PostGIS database")
    if not shutil.which("wrk"):
        sys.exit("wrk is needed for the HTTP figures (apt-get install wrk)")
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"# bench/postgis.py  ({os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    stores = bench_queries(url, sizes + ([args.http_size] if args.http_size not in sizes else []))
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_path = Path(tmp) / "bench.sqlite3"
        lite = SQLiteStore(sqlite_path)
        lite.init_schema()
        lite.replace_all(synthetic(args.http_size), actor="bench", via="seed")
        lite.close()
        bench_version_check(url, sqlite_path, f"bench_{args.http_size}")
        bench_http(url, args.http_seconds, sqlite_path, args.http_size)
    if max(sizes) >= 1_000_000:
        bench_rss(url, max(sizes))
    for store in stores.values():
        if not args.keep:
            store.drop_schema()
        store.close()


if __name__ == "__main__":
    main()
