"""The OpenAPI 3.0 document, generated from the views' declarations and the pydantic models.

Views declare themselves with @operation(...): summary, query model, request body, response models,
whether they need the bearer token. The document is built from the app's URL map, so a route
without a declaration is missing from it (tests/test_api_docs.py checks that every /api and /ogc
route is declared). Problem answers are listed where they can occur: 400 everywhere (strict
query parsing), 404 with path parameters, 413 with a request body, 429 under a rate limit,
401/403 with the token, and whatever the view adds.

Media types keep their declared order (the default answer first): the document is served
without sorting its keys (generated clients read the first 200 content type as the default).
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
MULTIPART = "multipart/form-data"
REF = "#/components/schemas/{model}"
BEARER = "bearerAuth"
Content = dict[str, type[BaseModel] | dict[str, Any]]  # media type -> model, or a raw schema (files, CSV)
TAGS = {
    "stations": "驿站：最近驿站与目录 Stations: nearest and catalogue",
    "districts": "区县与站点数 Districts and station counts",
    "vocabulary": "词表 Vocabularies with Chinese and English labels",
    "ogc": "OGC API – Features (Core, GeoJSON, OpenAPI 3.0) for QGIS, GDAL and other GIS tools",
    "wechat": "微信 JS-SDK 配置 WeChat JS-SDK configuration",
    "health": "存活与就绪 Liveness and readiness for load balancers",
    "docs": "本文档 This document",
    "admin": "管理接口（需令牌） Organizer API: `Authorization: Bearer TOKEN` (flask --app locator create-token)",
}


@dataclass
class Operation:
    """What the OpenAPI document says about one view."""

    summary: str
    tag: str
    query: type[BaseModel] = EmptyQuery
    ok: Content = field(default_factory=dict)
    description: str = ""
    path_params: dict[str, str | tuple[str, dict[str, Any]]] = field(default_factory=dict)
    cacheable: bool = False
    extra_statuses: dict[int, str] = field(default_factory=dict)
    extra_responses: dict[int, tuple[str, Content]] = field(default_factory=dict)
    body: Content = field(default_factory=dict)
    auth: bool = False
    ok_status: int = 200


def operation(
    summary: str,
    *,
    tag: str,
    ok: type[BaseModel] | Content,
    query: type[BaseModel] = EmptyQuery,
    description: str = "",
    path_params: dict[str, str | tuple[str, dict[str, Any]]] | None = None,
    cacheable: bool = False,
    extra_statuses: dict[int, str] | None = None,
    extra_responses: dict[int, tuple[str, Content]] | None = None,
    body: type[BaseModel] | Content | None = None,
    auth: bool = False,
    ok_status: int = 200,
) -> Callable[[Callable], Callable]:
    """Declare a view for the OpenAPI document (it is not wrapped: behaviour is unchanged).

    `ok` and `body` are a model (JSON) or {media type: model or raw schema}; `path_params` values
    are a description or (description, schema); `auth` means the bearer token; `ok_status` is 200,
    201, 202 or 204 (no content).
    """

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
            body=(body if isinstance(body, dict) else {JSON: body}) if body is not None else {},
            auth=auth,
            ok_status=ok_status,
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
            # OpenAPI 3.0 ignores `nullable` without a sibling `type`; the members here are models.
            types = {"object" if "$ref" in r else r.get("type") for r in rest}
            if len(types) == 1 and None not in types:
                out["type"] = types.pop()
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "default" in out and out["default"] is None:
        out.pop("default")  # absent means null; a null default would also have to be in an enum
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


def build_openapi(app: Flask, *, title: str, version: str, unlimited: tuple[str, ...] = ()) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document for every declared view of `app` (`unlimited`: endpoints without a rate limit)."""
    ops: list[tuple[str, str, Operation, bool]] = []
    rules = list(app.url_map.iter_rules())
    paths_seen = {_path(r.rule) for r in rules}
    for rule in rules:
        view = app.view_functions.get(rule.endpoint)
        op = getattr(view, "__openapi__", None)
        path = _path(rule.rule)
        # /ogc/ answers as /ogc does: one operation in the document (unique ids, no trailing slash).
        if op is None or (path.endswith("/") and len(path) > 1 and path.rstrip("/") in paths_seen):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            ops.append((path, method.lower(), op, rule.endpoint not in unlimited))

    models: dict[str, type[BaseModel]] = {"Problem": ProblemOut}
    for _, _, op, _ in ops:
        contents = [op.ok, op.body, *(content for _, content in op.extra_responses.values())]
        for content in contents:
            for model in content.values():
                if isinstance(model, type):
                    models[model.__name__] = model
    _, defs = models_json_schema(
        [(m, "validation" if _is_input(m, ops) else "serialization") for m in models.values()], ref_template=REF
    )
    schemas = {name: to_oas30(s) for name, s in defs.get("$defs", {}).items()}
    schemas["Problem"] = schemas.pop("ProblemOut")

    def ref(model: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
        if isinstance(model, dict):
            return model
        name = "Problem" if model is ProblemOut else model.__name__
        return {"$ref": REF.format(model=name)}

    def content_of(content: Content) -> dict[str, Any]:
        return {mt: {"schema": ref(m)} for mt, m in content.items()}

    def problem(text: str) -> dict[str, Any]:
        return {"description": text, "content": {PROBLEM: {"schema": ref(ProblemOut)}}}

    paths: dict[str, dict[str, Any]] = {}
    for path, method, op, limited in sorted(ops, key=lambda o: (o[0], o[1])):
        ok_text = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}[op.ok_status]
        responses: dict[str, Any] = {str(op.ok_status): {"description": ok_text}}
        if op.ok:
            responses[str(op.ok_status)]["content"] = content_of(op.ok)
        if op.cacheable:
            responses["200"]["headers"] = {
                "ETag": {"schema": {"type": "string"}, "description": "data version + request"},
                "Cache-Control": {"schema": {"type": "string"}},
            }
            responses["304"] = {"description": "Not Modified (If-None-Match matched the ETag)"}
        responses["400"] = problem("Bad request: `parameter` names the query parameter at fault")
        if op.auth:
            responses["401"] = problem("No valid bearer token (WWW-Authenticate: Bearer)")
            responses["403"] = problem("The token's account may not do this (a viewer, or another district)")
        if op.path_params:
            responses["404"] = problem("Not found")
        responses["405"] = problem("Method not allowed (see the Allow header)")
        if op.body:
            responses["413"] = problem("Request body larger than LOCATOR_MAX_UPLOAD_MB (a station's JSON: 1 MB)")
        if limited:
            responses["429"] = {
                **problem("Too many requests from this client: wait Retry-After seconds"),
                "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
            }
        for status, text in op.extra_statuses.items():
            responses[str(status)] = problem(text)
        for status, (text, content) in op.extra_responses.items():
            responses[str(status)] = {"description": text, "content": content_of(content)}
        responses = dict(sorted(responses.items()))
        parameters = [_path_parameter(name, spec) for name, spec in op.path_params.items()]
        parameters += _query_parameters(op.query)
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": _operation_id(path, method),
            "tags": [op.tag],
            "parameters": parameters,
            "responses": responses,
            "security": [{BEARER: []}] if op.auth else [],
        }
        if op.body:
            entry["requestBody"] = {"required": True, "content": content_of(op.body)}
        if op.description and op.description != op.summary:
            entry["description"] = op.description
        paths.setdefault(path, {})[method] = entry

    used_tags = {op.tag for _, _, op, _ in ops}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "version": version,
            "description": "温州骑手驿站地图的开放接口。Coordinates: WGS-84 unless `coord` says otherwise. "
            "Errors are RFC 9457 problem details (application/problem+json). The sample roster is illustrative.",
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": t, "description": TAGS.get(t, t)} for t in sorted(used_tags)],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An organizer's API token (flask --app locator create-token NAME)",
                }
            },
        },
    }


def _is_input(model: type[BaseModel], ops: list) -> bool:
    """True for models that only describe request bodies (their schema is the validation one)."""
    return any(model in op.body.values() for _, _, op, _ in ops)


def _path_parameter(name: str, spec: str | tuple[str, dict[str, Any]]) -> dict[str, Any]:
    text, schema = (spec, {"type": "string"}) if isinstance(spec, str) else spec
    return {"name": name, "in": "path", "required": True, "description": text, "schema": schema}


def _operation_id(path: str, method: str) -> str:
    words = re.sub(r"[{}]", "", path).strip("/").replace("/", "_").replace(".", "_").replace("-", "_")
    return f"{method}_{words or 'root'}"
