"""The OpenAPI 3.0 document, generated from the views' declarations and the pydantic models.

Views declare themselves with @operation(...): summary, query model, response models. The
document is built from the app's URL map, so a route without a declaration is missing from it
(tests/test_api_docs.py checks that every /api and /ogc route is declared).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from locator.web.models import EmptyQuery, ProblemOut

JSON = "application/json"
GEOJSON = "application/geo+json"
PROBLEM = "application/problem+json"
REF = "#/components/schemas/{model}"


@dataclass
class Operation:
    """What the OpenAPI document says about one view."""

    summary: str
    tag: str
    query: type[BaseModel] = EmptyQuery
    ok: dict[str, type[BaseModel]] = field(default_factory=dict)
    description: str = ""
    path_params: dict[str, str] = field(default_factory=dict)
    cacheable: bool = False
    extra_statuses: dict[int, str] = field(default_factory=dict)
    extra_responses: dict[int, tuple[str, dict[str, type[BaseModel]]]] = field(default_factory=dict)


def operation(
    summary: str,
    *,
    tag: str,
    ok: type[BaseModel] | dict[str, type[BaseModel]],
    query: type[BaseModel] = EmptyQuery,
    description: str = "",
    path_params: dict[str, str] | None = None,
    cacheable: bool = False,
    extra_statuses: dict[int, str] | None = None,
    extra_responses: dict[int, tuple[str, dict[str, type[BaseModel]]]] | None = None,
) -> Callable[[Callable], Callable]:
    """Declare a view for the OpenAPI document (it is not wrapped: behaviour is unchanged)."""

    def mark(view: Callable) -> Callable:
        view.__openapi__ = Operation(  # type: ignore[attr-defined]
            summary=summary,
            tag=tag,
            query=query,
            ok=ok if isinstance(ok, dict) else {JSON: ok},
            description=description or (view.__doc__ or "").strip(),
            path_params=path_params or {},
            cacheable=cacheable,
            extra_statuses=extra_statuses or {},
            extra_responses=extra_responses or {},
        )
        return view

    return mark


def to_oas30(schema: Any) -> Any:
    """JSON Schema 2020-12 (pydantic) -> the OpenAPI 3.0 dialect: nullable, enum for const."""
    if isinstance(schema, list):
        return [to_oas30(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        k: ({name: to_oas30(sub) for name, sub in v.items()} if k in ("properties", "$defs") else to_oas30(v))
        for k, v in schema.items()
        if k != "title"  # the keyword (a property named title is under "properties")
    }
    any_of = out.get("anyOf")
    if isinstance(any_of, list) and {"type": "null"} in any_of:
        rest = [s for s in any_of if s != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            out = {**rest[0], **out, "nullable": True}
        else:
            out.update({("allOf" if len(rest) == 1 else "anyOf"): rest, "nullable": True})
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if out.get("default", 0) is None and not out.get("nullable"):
        out.pop("default")
    return out


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = to_oas30(prop)
        description = prop.pop("description", "")
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": description,
            "schema": prop,
        }
        if prop.get("type") == "array":
            param.update({"style": "form", "explode": True})
        params.append(param)
    return params


def _path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def build_openapi(app: Flask, *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document for every declared view of `app`."""
    ops: list[tuple[str, str, Operation]] = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        op = getattr(view, "__openapi__", None)
        if op is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            ops.append((_path(rule.rule), method.lower(), op))

    models: dict[str, type[BaseModel]] = {"Problem": ProblemOut}
    for _, _, op in ops:
        for model in op.ok.values():
            models[model.__name__] = model
        for _, content in op.extra_responses.values():
            for model in content.values():
                models[model.__name__] = model
    _, defs = models_json_schema([(m, "serialization") for m in models.values()], ref_template=REF)
    schemas = {name: to_oas30(s) for name, s in defs.get("$defs", {}).items()}
    schemas["Problem"] = schemas.pop("ProblemOut")

    def ref(model: type[BaseModel]) -> dict[str, str]:
        name = "Problem" if model is ProblemOut else model.__name__
        return {"$ref": REF.format(model=name)}

    problem = {"content": {PROBLEM: {"schema": ref(ProblemOut)}}}
    paths: dict[str, dict[str, Any]] = {}
    for path, method, op in sorted(ops, key=lambda o: (o[0], o[1])):
        responses: dict[str, Any] = {
            "200": {"description": "OK", "content": {mt: {"schema": ref(m)} for mt, m in op.ok.items()}},
        }
        if op.cacheable:
            responses["200"]["headers"] = {
                "ETag": {"schema": {"type": "string"}, "description": "data version + request"},
                "Cache-Control": {"schema": {"type": "string"}},
            }
            responses["304"] = {"description": "Not Modified (If-None-Match matched the ETag)"}
        responses["400"] = {"description": "Bad request: `parameter` names the query parameter at fault", **problem}
        if op.path_params:
            responses["404"] = {"description": "Not found", **problem}
        responses["405"] = {"description": "Method not allowed (see the Allow header)", **problem}
        for status, text in op.extra_statuses.items():
            responses[str(status)] = {"description": text, **problem}
        for status, (text, content) in op.extra_responses.items():
            responses[str(status)] = {
                "description": text,
                "content": {mt: {"schema": ref(m)} for mt, m in content.items()},
            }
        parameters = [
            {"name": name, "in": "path", "required": True, "description": text, "schema": {"type": "string"}}
            for name, text in op.path_params.items()
        ] + _query_parameters(op.query)
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": _operation_id(path, method),
            "tags": [op.tag],
            "parameters": parameters,
            "responses": responses,
        }
        if op.description and op.description != op.summary:
            entry["description"] = op.description
        paths.setdefault(path, {})[method] = entry

    return {
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "version": version,
            "description": "温州骑手驿站地图的开放接口。Coordinates: WGS-84 unless `coord` says otherwise. "
            "Errors are RFC 9457 problem details (application/problem+json).",
            "license": {"name": "Data: sample roster is illustrative"},
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in sorted({op.tag for _, _, op in ops})],
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _operation_id(path: str, method: str) -> str:
    words = re.sub(r"[{}]", "", path).strip("/").replace("/", "_").replace(".", "_").replace("-", "_")
    return f"{method}_{words or 'root'}"
