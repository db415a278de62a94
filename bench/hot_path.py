"""The rider's hot path under HTTP load (issue 18): nearest vs /healthz, ours vs the naive anchor, one run.

For each store (SQLite file, PostGIS schema), roster (the 200-station sample, synthetic rosters of
100,000 or 1,000,000 stations) and server set-up, it serves the same database twice — our app
(`locator:create_app()`) and the naive anchor (bench/naive_anchor.py: bare Flask, pykdtree,
json.dumps of id/name/distance) — and loads each with wrk (-t2 -c4, a random 6-decimal point in
Wenzhou per nearest request), /healthz and nearest in turn, for --rounds rounds (ours and the
anchor next to each other; every other round in the opposite order; with --slices N each load runs
as N shorter wrk runs interleaved with the others', order and reverse in turn). It prints req/s per round
and the ratios of the issue: ours nearest ÷ ours /healthz, ours nearest ÷ anchor nearest, ours
/healthz ÷ anchor /healthz (a bare Flask app's); then their mean over the rounds and the median
of the rounds' own ratios (with min–max), which a slow spell of the machine moves less. On a shared machine wrk's req/s
swing with other jobs' load, so it also prints the server's own CPU time per request (user +
system of the server's processes over the run, from /proc, ÷ requests answered) and the same
ratios computed from it (capacity: the inverse of CPU per request); these move much less. With --rss it also prints each
of our workers' resident memory after the load, and the snapshot build time measured in this
process with the same store code.

Set-ups (--setups, comma-separated):
  A        gunicorn, one sync worker, no access log, no config file
  B        python -m locator.serve, the documented production server (Granian; before issue 18 part C
           it was gunicorn -c gunicorn.conf.py with gthread workers), access log on
  sync     gunicorn -c gunicorn.conf.py --worker-class sync (LOCATOR_WORKERS workers, access log on)
  gthread  gunicorn -c gunicorn.conf.py --worker-class gthread (LOCATOR_THREADS threads per worker)
  granian  granian --interface wsgi, LOCATOR_WORKERS workers, one blocking thread, no access log

    .venv/bin/python bench/hot_path.py --sizes 200,100000 --setups A,B --stores sqlite,postgis --duration 3 --slices 3
    LOCATOR_TEST_POSTGRES_URL=postgresql://… (or --postgres-url) for PostGIS; its schemas
    bench18_<n> are kept between runs (loading 1,000,000 stations takes minutes).

The rate limiter is off in both servers (LOCATOR_RATELIMIT_ENABLED=false): wrk is one client, and
nearest's 60/minute would answer 429s; the script refuses to print figures if any answer was not 2xx.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_nearest import LUA, free_port  # noqa: E402

BIN = Path(sys.executable).parent
TYPES = ["rider_station", "party_home", "demo_site", "finance_station"]
AMENITIES = [("water", "charging"), ("rest_seats", "microwave", "toilet"), (), ("first_aid",)]
HOURS = ["24/7", "Mo-Fr 09:00-18:00", "Mo-Su 07:00-22:00", ""]


def synthetic_rows(n: int, seed: int = 7):
    """n synthetic stations over Wenzhou as Station objects (ids ascending), lazily."""
    from locator.stations import Station

    rng = random.Random(seed)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(n):
        yield Station(
            id=f"syn-{i:07d}",
            name=f"合成驿站 {i}",
            type=TYPES[i % 4],
            district=None,
            address=f"合成地址 {i}",
            lng=round(rng.uniform(119.6, 121.2), 6),
            lat=round(rng.uniform(27.0, 28.5), 6),
            amenities=AMENITIES[i % 4],
            hours=HOURS[i % 4],
            provenance="import",
            created_at=now,
            updated_at=now,
        )


def sqlite_db(size: int, folder: Path) -> str:
    """A SQLite file with the sample (size 200) or `size` synthetic stations; its URL."""
    from locator.roster import Roster
    from locator.store.sqlite import SQLiteStore

    path = folder / f"roster-{size}.sqlite3"
    store = SQLiteStore(path)
    store.init_schema()
    if store.count() == size:  # kept from an earlier run with the same --folder
        store.close()
        return f"sqlite:///{path}"
    if size == 200:
        Roster.open(store).seed_sample()
    else:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        marks = ", ".join("?" * len(store.COLUMNS.split(",")))
        conn.executemany(
            f"INSERT INTO stations ({store.COLUMNS}) VALUES ({marks})", (store._params(s) for s in synthetic_rows(size))
        )
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")
        conn.execute("COMMIT")
        conn.close()
    store.close()
    return f"sqlite:///{path}"


def postgis_schema(url: str, size: int) -> str:
    """Schema bench18_<size> holding the sample or `size` synthetic stations (kept between runs)."""
    from locator.roster import Roster
    from locator.store.postgis import PostGISStore

    schema = f"bench18_{size}"
    store = PostGISStore(url, schema=schema, listen=False)
    store.init_schema()
    if store.count() != size:
        t0 = time.perf_counter()
        if size == 200:
            Roster.open(store).seed_sample()
        else:
            conn = store._conn()
            with conn.transaction():
                conn.execute("DELETE FROM stations")
                with conn.cursor() as cur, cur.copy(f"COPY stations ({store.COLUMNS}) FROM STDIN") as copy:
                    for s in synthetic_rows(size):
                        copy.write_row(store._params(s))
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'data_version'")
            conn.execute("VACUUM ANALYZE stations")
        print(f"(loaded {size:,} stations into {schema} in {time.perf_counter() - t0:.1f} s)", flush=True)
    store.close()
    return schema


class Server:
    """One server process (gunicorn or granian) on a free port of 127.0.0.1."""

    def __init__(self, setup: str, app: str, env: dict[str, str], log: Path):
        self.port = free_port()
        env = {**env, "LOCATOR_BIND": f"127.0.0.1:{self.port}", "OMP_NUM_THREADS": "1"}
        if setup == "A":
            cmd = [str(BIN / "gunicorn"), "-c", "/dev/null", "--workers", "1", "--worker-class", "sync"]
            cmd += ["--bind", f"127.0.0.1:{self.port}", "--timeout", "900", app]
        elif setup == "granian":
            workers = env.get("LOCATOR_WORKERS", "2")
            cmd = [str(BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(self.port)]
            cmd += ["--workers", workers, "--blocking-threads", "1", "--no-access-log", "--log-level", "warning"]
            cmd += ["--factory", app.removesuffix("()")] if app.endswith("()") else [app]
        elif setup == "B":  # the documented production server, as docs/deployment.md runs it
            cmd = [sys.executable, "-m", "locator.serve"]
            cmd += [app.removesuffix("()")] if app.endswith("()") else [app, "--not-factory"]
        else:  # sync, gthread: the checkout's gunicorn.conf.py
            cmd = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--timeout", "900"]
            cmd += ["--worker-class", setup] if setup in ("sync", "gthread") else []
            cmd += [app]
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=self.log, start_new_session=True)

    def warm(self, deadline_s: float = 1800) -> float:
        """Wait until nearest answers fast a few times in a row (each worker built its snapshot), then idle."""
        t0 = time.perf_counter()
        url = f"http://127.0.0.1:{self.port}/api/v1/stations/nearest?lat=28.0&lng=120.7&k=5"
        fast = 0
        while fast < 20:
            if time.perf_counter() - t0 > deadline_s or self.proc.poll() is not None:
                raise RuntimeError(f"server did not become ready (see {self.log.name})")
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(url, timeout=deadline_s) as resp:
                    resp.read()
                fast = fast + 1 if time.perf_counter() - t < 0.2 else 0
            except OSError:
                time.sleep(0.3)
        # Then until the server is idle: what it does once per roster version in the background (encoding
        # a roster that fits, serialize.encode_all) is not a request's cost and must not land in the figures.
        while time.perf_counter() - t0 < deadline_s:
            used = self.cpu_seconds()
            time.sleep(0.5)
            if self.cpu_seconds() - used < 0.05:
                break
        return time.perf_counter() - t0

    def worker_rss_mb(self) -> list[float]:
        """Resident memory of each worker process (the master's children), MB."""
        out = subprocess.run(
            ["ps", "-o", "pid=,rss=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(line.split()[1]) / 1024 for line in out.splitlines() if line.strip()]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server: its main process, its workers and reaped workers."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True).stdout
        total = 0
        for pid in [self.proc.pid, *(int(p) for p in out.split())]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # a worker that just exited: its time is in the parent's cutime from now on
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """Stop the server and its workers."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()


def wrk(url: str, seconds: int, script: Path | None = None) -> tuple[float, int, int]:
    """(requests/s, requests, non-2xx answers) of wrk -t2 -c4 for `seconds`."""
    cmd = ["wrk", "-t2", "-c4", f"-d{seconds}s"] + (["-s", str(script)] if script else []) + [url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    n_bad = int(bad.group(1)) if bad else 0
    if errors:
        n_bad += sum(int(g) for g in errors.groups() if g) - int(errors.group(2))  # read errors: sync closes
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rps, int(re.search(r"(\d+) requests in", out).group(1)), n_bad


def snapshot_build_s(env: dict[str, str], cpu: bool = False) -> float | tuple[float, float]:
    """Seconds to build the nearest snapshot of this database in a fresh Roster (this process);
    with `cpu`, (wall seconds, this process's CPU seconds)."""
    from locator.roster import Roster
    from locator.store import open_store

    store = open_store(
        env["LOCATOR_DATABASE_URL"], tempfile.gettempdir(), schema=env.get("LOCATOR_DATABASE_SCHEMA", "public")
    )
    store.init_schema()  # a file or schema made by an older version: migrate first, not inside the timing
    roster = Roster.open(store)
    t0, c0 = time.perf_counter(), time.process_time()
    roster.snapshot()
    took, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    store.close()
    return (took, cpu_s) if cpu else took


def main() -> None:
    """Run every combination asked for and print one table row per round and a summary per combination."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="200,100000")
    parser.add_argument("--setups", default="A,B")
    parser.add_argument("--stores", default="sqlite")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--slices",
        type=int,
        default=1,
        help="run each load of a round as this many interleaved wrk runs (divides --duration)",
    )
    parser.add_argument("--rss", action="store_true", help="also report worker RSS and the snapshot build time")
    parser.add_argument("--folder", help="where the SQLite rosters are made (kept and reused; default: a new temp dir)")
    parser.add_argument(
        "--build-only", type=int, metavar="N", default=0, help="only time N snapshot builds per store and size (no wrk)"
    )
    parser.add_argument("--postgres-url", default=os.environ.get("LOCATOR_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    if args.slices < 1 or args.duration % args.slices:
        parser.error("--slices must divide --duration (wrk runs whole seconds)")
    tmp = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="locator-hot-"))
    tmp.mkdir(parents=True, exist_ok=True)
    script = tmp / "nearest.lua"
    script.write_text(LUA)
    print(
        f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} wrk -t2 -c4 -d{args.duration}s"
        f" ({args.slices} interleaved slice{'s' if args.slices > 1 else ''}), {args.rounds} rounds"
    )
    print(
        "| store | roster | set-up | round | ours /healthz | ours nearest | anchor /healthz | anchor nearest | "
        "nearest ÷ healthz | nearest ÷ anchor nearest | healthz ÷ bare healthz | "
        "CPU µs/request: ours healthz / nearest / anchor healthz / nearest | by CPU: nearest ÷ healthz | "
        "nearest ÷ anchor nearest | healthz ÷ bare healthz |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for store in args.stores.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            base = {
                **os.environ,
                "LOCATOR_SEED_SAMPLE": "false",
                "LOCATOR_SECRET_KEY": "bench-" + "x" * 32,
                "LOCATOR_RATELIMIT_ENABLED": "false",
                "LOCATOR_LOG_LEVEL": "warning",
                "LOCATOR_INSTANCE_PATH": str(tmp / "instance"),
            }
            if store == "sqlite":
                base["LOCATOR_DATABASE_URL"] = sqlite_db(size, tmp)
            else:
                if not args.postgres_url:
                    sys.exit("PostGIS needs --postgres-url or LOCATOR_TEST_POSTGRES_URL")
                base["LOCATOR_DATABASE_URL"] = args.postgres_url
                base["LOCATOR_DATABASE_SCHEMA"] = postgis_schema(args.postgres_url, size)
            if args.build_only:
                for _ in range(args.build_only):
                    wall, cpu = snapshot_build_s(base, cpu=True)
                    print(
                        f"snapshot build, {store}, {size:,} stations: {wall:.2f} s (this process's CPU {cpu:.2f} s;"
                        f" load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
                continue
            if args.rss:
                print(f"snapshot build, {store}, {size:,} stations: {snapshot_build_s(base):.2f} s", flush=True)
            for setup in args.setups.split(","):
                run_setup(store, size, setup, base, args, script, tmp)


def run_setup(store: str, size: int, setup: str, env: dict[str, str], args, script: Path, tmp: Path) -> None:
    """Serve ours and the anchor in one set-up and load each in turn."""
    ours = Server(setup, "locator:create_app()", env, tmp / f"ours-{setup}.log")
    anchor = Server(setup, "bench.naive_anchor:app", env, tmp / f"anchor-{setup}.log")
    try:
        ours.warm()
        anchor.warm()
        sums: dict[str, float] = {}
        per_round: list[list[float]] = []
        loads = [
            ("oh", ours, "/healthz", None),
            ("ah", anchor, "/healthz", None),
            ("on", ours, "/", script),
            ("an", anchor, "/", script),
        ]
        for r in range(1, args.rounds + 1):
            # Every ratio compares loads run next to each other, and every other round runs them in the
            # opposite order: a machine slowing down or speeding up over a round does not favour one side.
            got = measure_round(loads if r % 2 else loads[::-1], args.duration, args.slices, f"{store} {size} {setup}")
            for key, value in got.items():
                sums[key] = sums.get(key, 0.0) + value
            per_round.append(ratios(got))
            print(row(store, size, setup, str(r), got), flush=True)
        mean = {k: v / args.rounds for k, v in sums.items()}
        print(row(store, size, setup, "mean", mean), flush=True)
        # The median of the rounds' own ratios: a round that fell in a slow spell of the machine (every
        # server's CPU per request up by half, seen on this shared VM) moves it less than it moves the mean.
        cells = [f"{statistics.median(c):.2f} ({min(c):.2f}–{max(c):.2f})" for c in zip(*per_round, strict=True)]
        print(
            f"| {store} | {size:,} | {setup} | median of rounds (min–max) | | | | | {' | '.join(cells[:3])} | | "
            f"{' | '.join(cells[3:])} |",
            flush=True,
        )
        if args.rss:
            rss = ", ".join(f"{m:.0f}" for m in ours.worker_rss_mb())
            print(f"RSS per worker, ours, {store} {size:,} {setup}: {rss} MB", flush=True)
    finally:
        ours.stop()
        anchor.stop()


def measure_round(order: list, duration: int, slices: int, label: str) -> dict[str, float]:
    """One round: each load for `duration` seconds, as `slices` wrk runs interleaved with the other loads'.

    With one slice the loads run one after the other in `order`. With more, the round runs `order`, then
    its reverse, then `order` again…, each load for duration ÷ slices seconds at a time: a slow spell of
    the machine (seconds long on this shared VM) then falls on every load of the round alike, instead of
    on whichever load ran through it. Returns req/s and server CPU µs per request of each load.
    """
    requests: dict[str, int] = {}
    seconds: dict[str, float] = {}
    cpu_s: dict[str, float] = {}
    for i in range(slices):
        for key, server, path, lua in order if i % 2 == 0 else order[::-1]:
            cpu = server.cpu_seconds()
            rps, n, bad = wrk(f"http://127.0.0.1:{server.port}{path}", duration // slices, lua)
            if bad:
                sys.exit(f"{bad} answers were not 2xx ({label} {key}): figures invalid")
            cpu_s[key] = cpu_s.get(key, 0.0) + server.cpu_seconds() - cpu
            requests[key] = requests.get(key, 0) + n
            seconds[key] = seconds.get(key, 0.0) + n / rps
    got = {key: requests[key] / seconds[key] for key in requests}
    got.update({key + "_cpu": cpu_s[key] / requests[key] * 1e6 for key in requests})
    return got


def ratios(f: dict[str, float]) -> list[float]:
    """The issue's three ratios by req/s, then by server CPU per request (capacity), of one round or a mean."""
    return [
        f["on"] / f["oh"],
        f["on"] / f["an"],
        f["oh"] / f["ah"],
        f["oh_cpu"] / f["on_cpu"],
        f["an_cpu"] / f["on_cpu"],
        f["ah_cpu"] / f["oh_cpu"],
    ]


def row(store: str, size: int, setup: str, label: str, f: dict[str, float]) -> str:
    """One markdown table row: req/s and their ratios, then server CPU µs per request and the ratios they imply."""
    r = ratios(f)
    return (
        f"| {store} | {size:,} | {setup} | {label} | {f['oh']:,.0f} | {f['on']:,.0f} | {f['ah']:,.0f} | "
        f"{f['an']:,.0f} | {r[0]:.2f} | {r[1]:.2f} | {r[2]:.2f} | "
        f"{f['oh_cpu']:.0f} / {f['on_cpu']:.0f} / {f['ah_cpu']:.0f} / {f['an_cpu']:.0f} | "
        f"{r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} |"
    )


if __name__ == "__main__":
    main()
