"""Real servers the outage and deployment tests start and stop themselves: PostgreSQL, Redis, nginx, the app server.

Each runs from the Debian packages `.ci/run` installs, on a free port on 127.0.0.1, in a temporary
folder removed afterwards. PostgreSQL is a throwaway cluster (initdb, pg_ctl) so that a test may
stop it for real; as root, its commands run as the `postgres` user (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str, interval: float = 0.05):
    """Call `check()` until it returns a true value (returned) or `timeout` seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep trying until the deadline
            last = exc
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s (last error: {last!r})")


def _pg_bindir() -> str | None:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    return dirs[-1] if dirs and os.path.exists(os.path.join(dirs[-1], "initdb")) else None


class PgCluster:
    """A PostgreSQL+PostGIS cluster of the test's own, which the test may stop and start."""

    def __init__(self):
        bindir = _pg_bindir()
        if bindir is None:
            skip_or_fail(
                "PostgreSQL server binaries not found (apt-get install postgresql-15-postgis-3)",
                "LOCATOR_REQUIRE_POSTGIS",
            )
        self.bin = bindir
        self.root = tempfile.mkdtemp(prefix="locator-test-pg-")
        os.chmod(self.root, 0o755)
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/locator"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def create(self) -> PgCluster:
        """initdb, start, and a database `locator` with PostGIS."""
        self._run(
            f"{self.bin}/initdb",
            "-D",
            self.data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
        self.start()
        self._run(
            f"{self.bin}/psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-qc",
            "CREATE DATABASE locator",
            "postgres",
        )
        self._run(
            f"{self.bin}/psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-qc",
            "CREATE EXTENSION postgis",
            "locator",
        )
        return self

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
        self._run(
            f"{self.bin}/pg_ctl", "-D", self.data, "-o", opts, "-l", os.path.join(self.root, "log"), "-w", "start"
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are ended, as in a restart or a crash of the host's service)."""
        self._run(f"{self.bin}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        """True while the server runs."""
        return os.path.exists(os.path.join(self.data, "postmaster.pid"))

    def destroy(self) -> None:
        """Stop the server if it runs and remove its folder."""
        if self.running():
            try:
                self.stop()
            except subprocess.SubprocessError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def require_binary(name: str, package: str) -> str:
    """The path of a program the deployment tests need (skip, or fail under LOCATOR_REQUIRE_DEPLOYMENT=1)."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        skip_or_fail(f"{name} not found: apt-get install {package} (.ci/run does)", "LOCATOR_REQUIRE_DEPLOYMENT")
    return path


class RedisServer:
    """A Redis server on a free port, without persistence."""

    def __init__(self, root: Path):
        self.binary = require_binary("redis-server", "redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.root = root
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        """Start it and wait for PONG."""
        self.root.mkdir(parents=True, exist_ok=True)
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        cmd += ["--dir", str(self.root)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1)
        wait_for(client.ping, 10, "redis-server answering")
        client.close()
        return self

    def stop(self) -> None:
        """Stop it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class AppServer:
    """`python -m locator.serve` (Granian), as docs/deployment.md runs it, with its settings in the environment."""

    def __init__(self, name: str, root: Path, env: dict[str, str]):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = root / name
        self.root.mkdir(parents=True, exist_ok=True)
        self.log = self.root / "server.log"
        self.env = {
            **os.environ,
            **env,
            "LOCATOR_BIND": f"127.0.0.1:{self.port}",
            "LOCATOR_INSTANCE_PATH": str(self.root / "instance"),
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # locator.serve makes one per server
        self.proc: subprocess.Popen | None = None

    def flask(self, *args: str, stdin: str | None = None) -> str:
        """Run `flask --app locator …` with this server's settings; its standard output."""
        cmd = [str(Path(sys.executable).parent / "flask"), "--app", "locator", *args]
        done = subprocess.run(
            cmd, cwd=ROOT, env=self.env, input=stdin, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> AppServer:
        """Start the server (not waiting)."""
        out = self.log.open("ab")
        cmd = [sys.executable, "-m", "locator.serve"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=out, start_new_session=True)
        out.close()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        """Until /readyz answers 200 (or fail with the server's log)."""

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"app server {self.name} exited:\n{self.log.read_text()[-3000:]}")
            with urllib.request.urlopen(self.url + "/readyz", timeout=5) as resp:
                return resp.status == 200

        try:
            wait_for(ready, timeout, f"app server {self.name} ready", interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log.read_text()[-3000:]}") from None

    def stop(self) -> None:
        """Stop the server (SIGTERM to the main process, which stops its workers)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL+PostGIS cluster of this test session's own, which tests may stop (and must start again)."""
    cluster = PgCluster().create()
    yield cluster
    cluster.destroy()
