"""Every problem answer of the service keeps its English `detail` and carries a Chinese `detail_zh`.

Three nets: the source (every Problem, bad_parameter, AccountError and problem_response call
gives a Chinese text; every reader message has one), the error classes (each has a Chinese
text of its own), and the running service (error paths walked through the OpenAPI document's
operations and the admin API; any problem+json without detail_zh fails).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import pkgutil
import re
from pathlib import Path

import pytest

import locator
from locator.errors import LocatorError
from locator.formats.base import reader_message_zh
from locator.web.problems import DETAIL_ZH, PROBLEM_JSON

ROOT = Path(locator.__file__).resolve().parent
HAN = re.compile(r"[\u4e00-\u9fff]")


def _calls():
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "click":
                    continue  # the command line's own errors (click.BadParameter)
                yield path.relative_to(ROOT.parent), node, name


def _literal_text(node: ast.AST) -> str | None:
    """The constant text of a str or f-string argument (formatted parts left out), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    return None


def _keywords(node: ast.Call) -> set[str | None]:
    return {k.arg for k in node.keywords}


def test_every_raise_site_gives_a_chinese_text():
    """Problem(…, detail_zh=…), bad_parameter(name, en, zh), AccountError(en, zh), FileInvalid with a known text."""
    missing = []
    for where, node, name in _calls():
        line = f"{where}:{node.lineno} {name}"
        kw = _keywords(node)
        if name in ("Problem", "problem_response") and "detail_zh" not in kw and None not in kw:
            missing.append(line)
        elif name in ("bad_parameter", "BadParameter") and len(node.args) < 3 and "detail_zh" not in kw:
            missing.append(line)
        elif name in ("AccountError", "DemandFileInvalid") and len(node.args) < 2 and "detail_zh" not in kw:
            missing.append(line)
        elif name == "FileInvalid" and len(node.args) < 2 and "detail_zh" not in kw:
            text = _literal_text(node.args[0]) if node.args else None
            if text is None or reader_message_zh(text) is None:
                missing.append(line)
    assert missing == [], "raise sites without a Chinese text:\n" + "\n".join(missing)


def test_every_reader_row_error_has_a_chinese_text():
    """Each `__error__` a reader writes into a row maps to a Chinese text (formats/base.READER_MESSAGES_ZH)."""
    missing = []
    for path in sorted((ROOT / "formats").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            values = []
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Subscript) and _literal_text(t.slice) == "__error__" for t in node.targets
            ):
                values.append(node.value)
            if isinstance(node, ast.Dict):
                values += [
                    v
                    for k, v in zip(node.keys, node.values, strict=True)
                    if k is not None and _literal_text(k) == "__error__"
                ]
            for value in values:
                text = _literal_text(value) or "".join(
                    _literal_text(v) or "" for v in ast.walk(value) if isinstance(v, ast.Constant | ast.JoinedStr)
                )
                if reader_message_zh(text) is None:
                    missing.append(f"{path.name}:{node.lineno} {text!r}")
    assert missing == []


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_error_class_has_a_chinese_text():
    """Each LocatorError subclass sets detail_zh (as a class text, or from what it was raised with)."""
    for info in pkgutil.walk_packages(locator.__path__, "locator."):
        importlib.import_module(info.name)
    missing = []
    for cls in set(_subclasses(LocatorError)):
        if cls.__module__.startswith("locator.web.problems"):
            continue  # Problem: each call is checked above
        own = any("detail_zh" in vars(c) and vars(c)["detail_zh"] for c in cls.__mro__ if c is not LocatorError)
        init = "detail_zh" in inspect.getsource(cls) or bool(HAN.search(inspect.getsource(cls)))
        if not (own or init):
            missing.append(f"{cls.__module__}.{cls.__qualname__}")
    assert missing == []


# -- the running service --------------------------------------------------------------------------


def _check(resp, seen: list):
    if resp.mimetype == PROBLEM_JSON:
        body = resp.get_json()
        assert body.get("detail_zh") and HAN.search(body["detail_zh"]), (resp.request.path, body)
        assert body.get("title") and body.get("status") == resp.status_code
        seen.append((resp.status_code, body["detail_zh"]))
    return resp


def _bad_value(schema: dict) -> str:
    if schema.get("type") in ("integer", "number"):
        return "not-a-number"
    if schema.get("enum") or (schema.get("items") or {}).get("enum"):
        return "no-such-value"
    if schema.get("type") == "boolean":
        return "maybe"
    return "x" * 3000


@pytest.mark.read_only
def test_openapi_operations_answer_errors_with_chinese(app):
    """Every public GET operation of the OpenAPI document, with a bad value for each parameter, a parameter it
    does not know and a missing path item: each problem+json carries detail_zh."""
    client = app.test_client()
    doc = client.get("/api/v1/openapi.json").get_json()
    seen: list = []
    for path, item in doc["paths"].items():
        op = item.get("get")
        if op is None or "admin" in op.get("tags", []):
            continue
        url = re.sub(r"\{[^}]+\}", "no-such-id", path)
        _check(client.get(url, query_string={"no_such_parameter": "1"}), seen)
        for param in op.get("parameters", []):
            if param.get("in") != "query":
                continue
            _check(client.get(url, query_string={param["name"]: _bad_value(param.get("schema", {}))}), seen)
        _check(client.delete(url), seen)  # 405
    _check(client.get("/api/v1/no-such-endpoint"), seen)
    statuses = {s for s, _ in seen}
    assert {400, 404, 405} <= statuses, statuses
    assert len(seen) > 40


def test_admin_api_errors_carry_chinese(app, roster, make_user, api_token):
    """401, 403, 404, 409, 412, 413, 422, 428 and 400 answers of the token API all carry detail_zh."""
    client = app.test_client()
    seen: list = []
    admin = {"Authorization": f"Bearer {api_token(make_user('bot', 'city_admin'))}"}
    viewer = {"Authorization": f"Bearer {api_token(make_user('eyes', 'viewer'))}"}
    station = roster.store.list()[0]
    url = f"/api/v1/admin/stations/{station.id}"
    _check(client.get(url), seen)  # 401
    _check(client.get(url, headers={"Authorization": "Bearer nope"}), seen)  # 401
    _check(client.post("/api/v1/admin/stations", json={}, headers=viewer), seen)  # 403
    _check(client.get("/api/v1/admin/stations/no-such-id", headers=admin), seen)  # 404
    _check(client.put(url, json=station.record(), headers=admin), seen)  # 428
    _check(client.put(url, json=station.record(), headers={**admin, "If-Match": '"x"'}), seen)  # 412
    _check(client.put(url, json=station.record(), headers={**admin, "If-Match": '"999"'}), seen)  # 412
    _check(client.post("/api/v1/admin/stations", data="[]", content_type="application/json", headers=admin), seen)
    _check(client.post("/api/v1/admin/stations", json={"name": "x", "lat": 120.8, "lng": 27.9}, headers=admin), seen)
    _check(client.post("/api/v1/admin/stations", json=station.record(), headers=admin), seen)  # 409
    _check(client.post("/api/v1/admin/audit/999999/restore", headers=admin), seen)  # 404
    _check(client.get("/api/v1/admin/audit?format=xml", headers=admin), seen)  # 400
    _check(client.get("/api/v1/admin/export?format=docx", headers=admin), seen)  # 400
    _check(client.get("/api/v1/admin/export?format=geojson&crs=gcj02", headers=admin), seen)  # 400
    form = {"crs": "wgs84", "file": (io.BytesIO(b"\x00\x01 not a file"), "r.xlsx")}
    _check(client.post("/api/v1/admin/import", data=form, headers=admin, content_type="multipart/form-data"), seen)
    form = {"crs": "mars", "file": (io.BytesIO(b"a,b\n"), "r.csv")}
    _check(client.post("/api/v1/admin/import", data=form, headers=admin, content_type="multipart/form-data"), seen)
    bad_rows = "名称,类型,经度,纬度\r\n甲,骑手驿站,27.9,120.8\r\n".encode()
    form = {"crs": "wgs84", "file": (io.BytesIO(bad_rows), "r.csv")}
    resp = _check(
        client.post("/api/v1/admin/import", data=form, headers=admin, content_type="multipart/form-data"), seen
    )
    assert resp.status_code == 422
    (error,) = resp.get_json()["errors"]
    assert error["column"] == "纬度" and error["field"] == "lat" and "填反" in error["message_zh"]
    assert {401, 403, 404, 409, 412, 422, 428, 400} <= {s for s, _ in seen}
    specific = [zh for s, zh in seen if zh != DETAIL_ZH.get(s)]
    assert len(specific) >= len(seen) - 2  # the framework's generic texts only for 401 without a token


def test_too_large_and_unexpected_errors_carry_chinese(app_factory):
    """413 names the limit in Chinese."""
    app = app_factory(MAX_UPLOAD_MB="1")
    resp = app.test_client().post(
        "/api/v1/admin/import", data=b"x" * (1024 * 1024 + 10), content_type="application/octet-stream"
    )
    assert resp.status_code == 413 and "1 MB" in resp.get_json()["detail_zh"]


def test_people_see_the_chinese_text_on_error_pages(app, make_user, login):
    """An organizer's 403 and 404 pages say in Chinese what happened (no English detail)."""
    make_user("eyes", "viewer")
    web = login("eyes")
    page = web.post("/admin/stations/new", data={"csrf_token": web.csrf, "name": "x"})
    assert page.status_code == 403 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "这个账号只能查看，不能修改。" in text and "may only view" not in text
    missing = web.get("/admin/no-such-page")
    assert missing.status_code == 404 and "没有找到这个页面" in missing.get_data(as_text=True)
