"""Login timing: a wrong password, an unknown name and a disabled account must cost the same (no enumeration).

Runs the app in-process (Flask test client, SQLite in a temporary folder) and times POST /admin/login
for each case; prints medians and their ratios to the wrong-password baseline of the same run. Also
times a refused (throttled) attempt, which must cost no scrypt at all.

    .venv/bin/python bench/login_timing.py [--attempts 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locator import create_app  # noqa: E402
from locator.accounts import hash_password  # noqa: E402


def _client(app, addr: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = addr
    client.get("/admin/login")
    with client.session_transaction() as sess:
        return client, sess["csrf"]


def time_logins(app, name: str, password: str, attempts: int, expect: int, *, same_client: bool = False) -> float:
    """Median ms of `attempts` logins as `name` (each from its own address unless `same_client`)."""
    times = []
    fixed = _client(app, "198.51.100.200") if same_client else None
    for n in range(attempts):
        client, csrf = fixed or _client(app, f"10.{n // 250}.{n % 250}.{7 if name == 'nobody' else 8}")
        t0 = time.perf_counter()
        resp = client.post("/admin/login", data={"name": name, "password": password, "csrf_token": csrf})
        times.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == expect, (name, resp.status_code)
    return statistics.median(times)


def main() -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp}/b.sqlite3",
                "SECRET_KEY": "bench",
                "SEED_SAMPLE": False,
                "INSTANCE_PATH": tmp,
                # Per-account limits high enough for the timing runs; the per-client one stays low to time a refusal.
                "RATELIMIT_LOGIN_ACCOUNT": "100000/minute",
                "RATELIMIT_LOGIN_CLIENT": "3/minute",
            }
        )
        accounts = app.extensions["accounts"]
        accounts.create_user("boss", "city_admin", (), hash_password("Lucheng-river-2027"))
        off = accounts.create_user("gone", "city_admin", (), hash_password("Lucheng-river-2027"))
        accounts.set_active(off.id, False)
        time_logins(app, "boss", "wrong-password", 2, 401)  # warm-up (the decoy hash is made once)
        time_logins(app, "nobody", "wrong-password", 2, 401)
        rows = [
            ("wrong password (baseline)", time_logins(app, "boss", "wrong-password", args.attempts, 401)),
            ("unknown user name", time_logins(app, "nobody", "wrong-password", args.attempts, 401)),
            ("disabled account, right password", time_logins(app, "gone", "Lucheng-river-2027", args.attempts, 401)),
        ]
        time_logins(app, "boss", "wrong-password", 3, 401, same_client=True)  # fill the client's window
        refused = time_logins(app, "boss", "x", args.attempts, 429, same_client=True)
        rows.append(("refused by the throttle (429)", refused))
        app.extensions["roster"].store.close()
    base = rows[0][1]
    print(f"{'case':<36} {'median ms':>10} {'ratio':>8}")
    for label, ms in rows:
        print(f"{label:<36} {ms:>10.1f} {ms / base:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
