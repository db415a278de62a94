"""Import previews on disk: a refused preview leaves nothing behind; the staging folder is capped."""

from __future__ import annotations

import os
import time

from locator.formats import FORMATS
from locator.importing import UploadStaging

BAD_CSV = "名称,类型,经度,纬度\n驿站,rider_station,不是数字,28.0\n".encode()
GOOD_CSV = "名称,类型,经度,纬度\n新驿站,rider_station,120.65,28.01\n".encode()


def _preview(web, data: bytes):
    form = {"csrf_token": web.csrf, "crs": "wgs84", "file": (__import__("io").BytesIO(data), "roster.csv")}
    return web.post("/admin/import/preview", data=form, content_type="multipart/form-data")


def test_a_refused_preview_keeps_no_file(app_factory, tmp_path):
    from locator.accounts import hash_password

    app = app_factory(INSTANCE_PATH=str(tmp_path / "instance"))
    app.extensions["accounts"].create_user("boss", "city_admin", (), hash_password("password123"))
    web = app.test_client()
    web.get("/admin/login")
    with web.session_transaction() as sess:
        csrf = sess["csrf"]
    web.post("/admin/login", data={"name": "boss", "password": "password123", "csrf_token": csrf})
    with web.session_transaction() as sess:
        web.csrf = sess["csrf"]
    staging = tmp_path / "instance" / "imports"
    assert _preview(web, BAD_CSV).status_code == 422
    assert not staging.exists() or not any(staging.iterdir())  # nothing kept: it cannot be committed
    assert _preview(web, GOOD_CSV).status_code == 200
    assert len(list(staging.iterdir())) == 1


def test_the_staging_folder_evicts_the_oldest_files_beyond_its_cap(tmp_path):
    staging = UploadStaging(tmp_path / "imports", max_bytes=2500)
    fmt = FORMATS["csv"]
    digests = []
    for n in range(4):
        digests.append(staging.save(bytes([n]) * 1000, fmt))
        path = tmp_path / "imports" / f"{digests[-1]}.csv"
        os.utime(path, (time.time() - 100 + n, time.time() - 100 + n))  # strictly older to newer
    assert staging.load(digests[0], "csv") is None and staging.load(digests[1], "csv") is None
    assert staging.load(digests[2], "csv") == bytes([2]) * 1000
    assert staging.load(digests[3], "csv") == bytes([3]) * 1000
    assert sum(p.stat().st_size for p in (tmp_path / "imports").iterdir()) <= 2500


def test_the_default_cap_is_200_mb():
    assert UploadStaging("x").max_bytes == 200 * 1024 * 1024
